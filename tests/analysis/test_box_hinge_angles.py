"""Hinge angle sums of box partitions, where T-junctions make them not face to face."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.ensemble import RandomForestRegressor
from sklearn.tree import DecisionTreeRegressor

import cellgeom
from cellgeom.analysis import hinge_deficits, vertex_curvature


def _t_junction_tree():
    """x0 <= 0.5, then x1 <= 0.5 on the left only: the corner (0.5, 0.5) of the two left
    boxes lies inside the left facet of the right box."""
    X = np.array([[0.25, 0.25], [0.25, 0.75], [0.75, 0.5]])
    return DecisionTreeRegressor(random_state=0).fit(X, [0.0, 1.0, 5.0])


def _angle_sum_by_boxes(part, row):
    """Independent oracle: at a point inside the hinge of ``row`` (away from its centroid),
    add up the cross-section angle of every box holding it: pi/2 per quadrant of the
    hinge's plane that the box covers."""
    h = part.hinges
    cell = int(h["cell"].iat[row])
    axes = [lab if lab >= 0 else -1 - lab for lab in (h["label_a"].iat[row], h["label_b"].iat[row])]
    point = part.lo[cell] + 0.3819 * (part.hi[cell] - part.lo[cell])
    for lab in axes:
        point[lab // 2] = part.hi[cell, lab // 2] if lab % 2 else part.lo[cell, lab // 2]
    holds = np.all((part.lo <= point) & (point <= part.hi), axis=1)
    total = 0.0
    for lo, hi in zip(part.lo[holds], part.hi[holds]):
        quadrants = 1
        for lab in axes:
            g = lab // 2
            quadrants *= 2 if lo[g] < point[g] < hi[g] else 1
        total += quadrants * np.pi / 2
    return total


def test_t_junction_is_flat():
    part = cellgeom.partition(_t_junction_tree(), domain=([0, 0], [1, 1]), cells="all",
                              progress=False)
    table = hinge_deficits(part)
    at = table[table["boundary"] == False]  # noqa: E712
    assert len(at) == 1  # the corner (0.5, 0.5) of the two left boxes
    assert at["n_cells"].iat[0] == 3  # the right box holds it inside its facet
    assert at["angle_sum"].iat[0] == pytest.approx(2 * np.pi)
    assert bool(at["complete"].iat[0]) and at["deficit"].iat[0] == pytest.approx(0, abs=1e-12)
    cx = cellgeom.build_complex(part, progress=False)
    np.testing.assert_allclose(vertex_curvature(cx, "angle"), 0, atol=1e-12)
    np.testing.assert_allclose(vertex_curvature(cx, "angle", share="angle"), 0, atol=1e-12)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(2, 3), seed=st.integers(0, 10_000))
def test_forest_hinge_angles_match_the_boxes_around_them(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.random((60, n))
    forest = RandomForestRegressor(3, max_leaf_nodes=6, random_state=seed).fit(X, rng.random(60))
    part = cellgeom.partition(forest, domain=(np.zeros(n), np.ones(n)), cells="all",
                              progress=False)
    table = hinge_deficits(part)
    assert table["complete"].all()  # every cell is in a cells="all" partition
    np.testing.assert_allclose(table["deficit"], 0, atol=1e-12)
    h = part.hinges
    first = h.drop_duplicates("hinge")
    for hinge, row in zip(first["hinge"], first.index):
        expected = _angle_sum_by_boxes(part, row)
        got = table.loc[table["hinge"] == hinge, "angle_sum"].iat[0]
        assert got == pytest.approx(expected, abs=1e-12)
    cx = cellgeom.build_complex(part, progress=False)
    np.testing.assert_allclose(vertex_curvature(cx, "angle"), 0, atol=1e-12)


def test_data_cells_leave_hinges_next_to_missing_cells_incomplete():
    rng = np.random.default_rng(0)
    X = rng.random((200, 2))
    tree = DecisionTreeRegressor(max_leaf_nodes=12, random_state=0).fit(X, rng.random(200))
    keep = X[X[:, 0] < 0.5]  # the data hold only the left half: cells on the right are missing
    part = cellgeom.partition(tree, domain=([0, 0], [1, 1]), data=keep, cells="data",
                              progress=False)
    table = hinge_deficits(part)
    full = hinge_deficits(cellgeom.partition(tree, domain=([0, 0], [1, 1]), cells="all",
                                             progress=False))
    assert (~table["complete"]).any() and table["complete"].any()
    assert np.isnan(table.loc[~table["complete"], "deficit"]).all()
    np.testing.assert_allclose(table.loc[table["complete"], "deficit"], 0, atol=1e-12)
    assert (table["angle_sum"] <= table["domain_angle"] + 1e-12).all()
    assert full["complete"].all()
