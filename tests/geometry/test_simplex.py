"""The compiled vertex walk (geometry/simplex.py, facet_walk.py) against HiGHS: one exact
LP per row for facets (``nonredundant_rows_lp``), HiGHS' Chebyshev LP, a k-d tree for duplicates."""
from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree

from cellgeom.geometry import (
    Box,
    chebyshev_center,
    chebyshev_centers,
    facet_walk,
    nonredundant_rows_lp,
)
from cellgeom.geometry.facets import facet_rows_simplex
from cellgeom.geometry.highdim import facet_rows_screened
from cellgeom.geometry.lp import normalize_rows, repeated_rows


def _random_cell(rng, n, k, spread=0.6):
    """Box [0, 1]^n cut by k random halfspaces at random distances from an inner point."""
    W = rng.standard_normal((k, n))
    x0 = 0.5 + 0.2 * (rng.random(n) - 0.5)
    b = W @ x0 + rng.uniform(0.02, spread, k) * np.linalg.norm(W, axis=1)
    A, bb = Box(np.zeros(n), np.ones(n)).halfspaces()
    return np.vstack([A, W]), np.concatenate([bb, b])


def _walk_and_oracle(A, b, method="simplex"):
    c, r = chebyshev_center(A, b)
    assert r > 0
    rows, _ = facet_rows_screened(A, b, c, method=method)
    return rows, nonredundant_rows_lp(A, b, c)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 16), k=st.integers(3, 90),
       spread=st.sampled_from([0.05, 0.6, 2.0]))
def test_walk_facets_equal_one_lp_per_row(seed, n, k, spread):
    rows, oracle = _walk_and_oracle(*_random_cell(np.random.default_rng(seed), n, k, spread))
    np.testing.assert_array_equal(rows, oracle)


def test_every_row_is_certified_on_generic_cells():
    """No fallback on generic cells: each answer is the walk's own certificate."""
    rng = np.random.default_rng(11)
    for n, k in [(8, 60), (24, 150)]:
        A, b = _random_cell(rng, n, k)
        A, b, _ = normalize_rows(A, b)
        c, _ = chebyshev_center(A, b)
        status, walks, pivots = facet_walk.facet_status(A, b, c, np.ones(len(b), bool))
        assert not np.any(status == facet_walk.FALLBACK) and walks > 0 and pivots > 0
        np.testing.assert_array_equal(np.flatnonzero(status == facet_walk.FACET),
                                      nonredundant_rows_lp(A, b, c))


def test_walk_that_refactorises_the_basis_still_equals_one_lp_per_row():
    """Oracle: one exact LP per row. A cell big enough that the walk takes several times
    REFACTOR pivots, so the basis inverse is rebuilt from scratch mid-walk (the small
    cells of the other tests stay below the interval)."""
    from cellgeom.geometry.simplex import REFACTOR

    A, b = _random_cell(np.random.default_rng(5), 40, 300)
    A, b, _ = normalize_rows(A, b)
    c, _ = chebyshev_center(A, b)
    status, walks, pivots = facet_walk.facet_status(A, b, c, np.ones(len(b), bool))
    assert pivots > 3 * REFACTOR
    assert not np.any(status == facet_walk.FALLBACK)
    np.testing.assert_array_equal(np.flatnonzero(status == facet_walk.FACET),
                                  nonredundant_rows_lp(A, b, c))


def test_duplicate_rows_count_once():
    """Exact and 1e-13-perturbed copies of facet rows, and of a redundant row."""
    rng = np.random.default_rng(2)
    A, b = _random_cell(rng, 6, 20)
    copies = np.array([2 * 6, 2 * 6 + 1, 2 * 6 + 5, 0])
    A2 = np.vstack([A, A[copies], A[copies] * (1 + 1e-13)])
    b2 = np.concatenate([b, b[copies], b[copies] * (1 + 1e-13)])
    rows, oracle = _walk_and_oracle(A2, b2)
    np.testing.assert_array_equal(rows, oracle)
    assert np.all(rows < len(b))  # the first copy is the one reported


@pytest.mark.parametrize("n", [3, 7, 12])
def test_vertex_where_more_than_n_rows_meet(n):
    """A pyramid: 2(n-1) sides meet at the apex (degenerate pivots, Bland's rule), plus
    rows that touch the polytope only at the apex (weakly redundant: not facets)."""
    A, b = Box(np.zeros(n), np.ones(n)).halfspaces()
    apex = np.full(n, 0.5)
    apex[-1] = 0.9
    sides, rhs = [], []
    for i in range(n - 1):
        for sign in (1.0, -1.0):
            a = np.zeros(n)
            a[i], a[-1] = 2 * sign, 1.0  # x_n <= 0.9 - 2 |x_i - 0.5|
            sides.append(a)
            rhs.append(a @ apex)
    rng = np.random.default_rng(n)
    touch = np.abs(rng.standard_normal((3, n))) * np.r_[np.zeros(n - 1), 1.0]
    touch[:, -1] += 1.0  # x_n <= 0.9 scaled: tight only at the apex
    A = np.vstack([A, sides, touch])
    b = np.concatenate([b, rhs, touch @ apex])
    rows, oracle = _walk_and_oracle(A, b)
    np.testing.assert_array_equal(rows, oracle)
    assert set(range(2 * n, 2 * n + len(sides))) <= set(rows.tolist())
    assert not set(range(len(b) - 3, len(b))) & set(rows.tolist())


def test_unbounded_directions_clipped_by_the_box():
    """Rows whose normals lie in a half-space leave a cone open; the box rows close it, and
    box rows are decided with their own bound relaxed (redundancy certificate)."""
    rng = np.random.default_rng(5)
    n = 10
    W = rng.standard_normal((40, n))
    W[:, 0] = np.abs(W[:, 0])  # every normal has a_0 >= 0: -e_0 is an open direction
    A_box, b_box = Box(np.full(n, -1.0), np.full(n, 1.0)).halfspaces()
    A = np.vstack([A_box, W])
    b = np.concatenate([b_box, rng.uniform(0.1, 1.0, 40)])
    rows, oracle = _walk_and_oracle(A, b)
    np.testing.assert_array_equal(rows, oracle)
    assert 0 in rows  # x_0 >= -1 is the only thing closing the cone


def test_fallback_rows_go_to_highs(monkeypatch):
    """With no pivot allowed, rows the walk cannot certify are settled by HiGHS: the same
    facets, and more LPs."""
    rng = np.random.default_rng(9)
    A, b = _random_cell(rng, 12, 80)
    A, b, _ = normalize_rows(A, b)
    c, _ = chebyshev_center(A, b)
    cand = np.ones(len(b), bool)
    expected, (_, lps, _) = facet_rows_simplex(A, b, c, cand)
    monkeypatch.setattr(facet_walk, "facet_status",
                        functools.partial(facet_walk.facet_status, max_pivots=0))
    status, _, _ = facet_walk.facet_status(A, b, c, cand)
    assert np.any(status == facet_walk.FALLBACK)
    assert not np.any((status == facet_walk.FACET) & ~expected)  # what is certified is right
    got, (_, lps_fallback, _) = facet_rows_simplex(A, b, c, cand)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(np.flatnonzero(got), nonredundant_rows_lp(A, b, c))


def test_highs_route_is_selectable_and_equal():
    rng = np.random.default_rng(4)
    A, b = _random_cell(rng, 20, 120)
    a, oracle = _walk_and_oracle(A, b, "simplex")
    h, _ = _walk_and_oracle(A, b, "highs")
    np.testing.assert_array_equal(a, h)
    np.testing.assert_array_equal(a, oracle)
    with pytest.raises(ValueError, match="facet_method"):
        facet_rows_simplex(*normalize_rows(A, b)[:2], np.full(20, 0.5),
                           np.ones(len(b), bool), method="qhull")


def test_chebyshev_walk_equals_highs_in_high_dimension():
    """Radii to 1e-9 of HiGHS' on full, lower-dimensional and empty 20-D cells."""
    rng = np.random.default_rng(6)
    n = 20
    polys = [_random_cell(rng, n, k) for k in (5, 40, 200)]
    A, b = polys[0]
    flat = (np.vstack([A, A[2 * n + 1], -A[2 * n + 1]]),
            np.r_[b, b[2 * n + 1] - 0.1, -(b[2 * n + 1] - 0.1)])  # a hyperplane slice
    empty = (np.vstack([A, -A[2 * n]]), np.r_[b, -b[2 * n] - 0.05])  # opposite half-space
    polys += [flat, empty]
    c_walk, r_walk = chebyshev_centers(polys, method="simplex")
    c_highs, r_highs = chebyshev_centers(polys, method="highs")
    np.testing.assert_allclose(r_walk, r_highs, atol=1e-9)
    assert np.all(r_walk[:3] > 0) and abs(r_walk[3]) < 1e-9 and r_walk[4] < 0
    for (A, b), c, r in zip(polys[:3], c_walk, r_walk):  # the ball is inside
        A_unit, b_unit, _ = normalize_rows(A, b)
        assert np.all(A_unit @ c + r <= b_unit + 1e-12)


def test_chebyshev_walk_refuses_an_unbounded_polytope():
    rng = np.random.default_rng(0)
    A = np.abs(rng.standard_normal((30, 18)))  # no row bounds -x: unbounded
    with pytest.raises(ValueError, match="unbounded"):
        chebyshev_centers([(A, np.ones(30))])


def test_repeated_rows_equal_kdtree_pairs():
    """Sorting by a projection finds the same duplicate pairs as a k-d tree radius search."""
    rng = np.random.default_rng(3)
    A = rng.standard_normal((300, 12))
    b = rng.standard_normal(300)
    pick = rng.integers(0, 300, 80)
    noise = rng.choice([0.0, 1e-14, 1e-10, 1e-6], size=(80, 1))
    A = np.vstack([A, A[pick] + noise * rng.standard_normal((80, 12))])
    b = np.concatenate([b, b[pick]])
    A_unit, b_unit, _ = normalize_rows(A, b)
    for tol in (1e-12, 1e-9, 1e-5):
        rows = np.hstack([A_unit, b_unit[:, None]])
        pairs = cKDTree(rows).query_pairs(max(tol, 1e-12), output_type="ndarray")
        expected = np.zeros(len(b), bool)
        expected[pairs.max(axis=1)] = True
        np.testing.assert_array_equal(repeated_rows(A_unit, b_unit, tol), expected)
