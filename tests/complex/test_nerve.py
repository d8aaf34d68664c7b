"""Building the nerve dimension by dimension: the clique candidates, the estimate of a
dimension's size, and the refusal of a dimension that would not fit in memory.

Oracles: the candidates of the full run (a subset run yields exactly its rows); their
count (the estimate, exact or sampled); a build limited by ``max_dim`` (the refused
build's lower dimensions); which dimensions the strata oracle was asked to extend (none
above the dimension reached).
"""
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.tree import DecisionTreeClassifier

import cellgeom
from cellgeom.complex import dual, nerve
from cellgeom.complex.nerve import check_dimension, clique_chunks, estimate_rows

MiB = 2**20


@pytest.fixture(scope="module")
def digits_part():
    """A depth-5 tree on the 64 features of load_digits, its 30 data cells: its dual
    complex has simplices up to dimension 19 (2.9 million in all)."""
    X, y = load_digits(return_X_y=True)
    tree = DecisionTreeClassifier(max_depth=5, random_state=0).fit(X, y)
    return cellgeom.partition(tree, data=X, cells="data", progress=False)


@pytest.fixture(scope="module")
def digits_cx(digits_part):
    return cellgeom.build_complex(digits_part, max_dim=3, progress=False)


def _run(index, p, edges, subset=None):
    parts = list(clique_chunks(index, p, edges, subset))
    width = p + 1
    if not parts:
        return np.zeros((0, width), np.int64), np.zeros((0, width), np.int64)
    return np.concatenate([c for c, _ in parts]), np.concatenate([f for _, f in parts])


def test_clique_chunks_on_a_subset_yields_the_full_runs_rows_of_that_subset(digits_cx):
    index, edges = digits_cx.index, digits_cx.simplices(1)
    cand, faces = _run(index, 3, edges)
    assert len(cand) == 11853  # every 3-simplex is a candidate (here all are kept)
    subset = np.arange(1, digits_cx.n_simplices(2), 7)
    sub_cand, sub_faces = _run(index, 3, edges, subset)
    mine = np.isin(faces[:, 3], subset)  # the last column: the extended 2-simplex
    assert 0 < mine.sum() < len(cand)
    np.testing.assert_array_equal(sub_cand, cand[mine])
    np.testing.assert_array_equal(sub_faces, faces[mine])


def test_estimate_rows_counts_exactly_within_budget_and_samples_above(digits_cx):
    index, edges = digits_cx.index, digits_cx.simplices(1)
    exact = len(_run(index, 3, edges)[0])
    assert estimate_rows(index, 3, edges) == (exact, 1.0)
    # the 4-simplices' candidates: 40106 (the full build has 40106 4-simplices)
    assert estimate_rows(index, 4, edges) == (40106, 1.0)
    est, share = estimate_rows(index, 4, edges, budget=5000)
    assert 0.05 < share < 0.2
    assert est == pytest.approx(40106, rel=0.05)


def test_check_dimension_counts_nothing_when_even_the_upper_bound_fits(digits_cx,
                                                                     monkeypatch):
    index, edges = digits_cx.index, digits_cx.simplices(1)
    counted = []
    monkeypatch.setattr(nerve, "estimate_rows", lambda *a, **k: counted.append(a) or (0, 1))
    assert check_dimension(index, 3, edges, 2**40) is None
    assert check_dimension(index, 3, edges, None) is None  # memory unknown: no check
    assert not counted


def test_build_complex_refuses_a_dimension_that_would_not_fit_before_building_it(
        digits_part, digits_cx, monkeypatch):
    """With 200 MiB available, the 64-D tree's 3-simplices fit (about 80 MiB with their
    carriers) and its 4-simplices do not (about 280 MiB): the build stops before
    extending any 3-simplex, estimating their number from a sample, and names the
    max_dim that builds."""
    monkeypatch.setattr(nerve, "_available_bytes", lambda: 200 * MiB)
    monkeypatch.setattr(nerve, "ESTIMATE_ROWS", 5000)  # a sampled estimate
    extended = []
    original = dual._BoxStrata.extend

    def spy(self, cand, tau):
        extended.append(cand.shape[1] - 1)
        return original(self, cand, tau)

    monkeypatch.setattr(dual._BoxStrata, "extend", spy)
    with pytest.raises(MemoryError) as info:
        cellgeom.build_complex(digits_part, progress=False)
    msg = str(info.value)
    assert "its 4-simplices number about " in msg and "(estimated from" in msg
    assert "[30, 363, 2536, 11853]" in msg and "pass max_dim=3" in msg
    assert max(extended) == 3
    est = float(msg.split("number about ")[1].split(" ")[0])
    assert est == pytest.approx(40106, rel=0.1)
    # what the message says builds, builds, under the same memory
    cx = cellgeom.build_complex(digits_part, max_dim=3, progress=False)
    assert cx.n_simplices() == digits_cx.n_simplices() == [30, 363, 2536, 11853]


@pytest.mark.parametrize("rule", ["dual", "facet"])
def test_every_clique_rule_is_guarded(digits_part, monkeypatch, rule):
    monkeypatch.setattr(nerve, "_available_bytes", lambda: 1024)
    with pytest.raises(MemoryError, match=r"its 2-simplices number about .* pass max_dim=1 "):
        cellgeom.build_complex(digits_part, rule=rule, progress=False)
    assert cellgeom.build_complex(digits_part, rule=rule, max_dim=1, progress=False).dim == 1
