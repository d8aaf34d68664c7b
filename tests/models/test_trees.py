"""Trees and tree ensembles: box partitions checked against scikit-learn and brute force."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor, ExtraTreeRegressor

import cellgeom
from cellgeom.geometry import common_piece as lp_common_piece

from .box_oracles import all_pairs_faces, faces_by_pair


def _data(n=2, N=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((N, n))
    y = (X[:, 0] + X[:, 1 % n] > 1).astype(int) + (X[:, 0] > 0.7)
    return X, y


def test_tree_locate_equals_apply_including_points_on_thresholds():
    X, y = _data(3)
    m = DecisionTreeClassifier(max_depth=6, random_state=0).fit(X, y)
    part = cellgeom.partition(m, data=X, cells="all", progress=False)
    rng = np.random.default_rng(1)
    Xt = rng.random((3000, 3))
    # points exactly on thresholds (float32 comparison must match apply)
    inner = m.tree_.feature >= 0
    Xt[: inner.sum(), m.tree_.feature[inner]] = m.tree_.threshold[inner]
    cell = part.locate(Xt)
    assert np.all(cell >= 0)
    assert np.array_equal(part.cells["leaf"].to_numpy()[cell], m.apply(Xt))


def test_tree_volumes_sum_to_domain_and_faces_equal_all_pairs_products():
    X, y = _data(3)
    m = DecisionTreeRegressor(max_depth=7, random_state=0).fit(X, X[:, 0] * X[:, 1])
    part = cellgeom.partition(m, data=X, cells="all", progress=False)
    assert abs(part.volumes.sum() / part.domain.volume - 1) < 1e-12
    oracle = all_pairs_faces(part.lo, part.hi)
    got = faces_by_pair(part)
    assert got.keys() == oracle.keys()
    for k, v in oracle.items():
        assert got[k] == pytest.approx(v, rel=1e-12)
    assert part.minkowski_residuals().max() < 1e-12


def test_tree_prediction_equals_predict_at_chebyshev_centre():
    X, y = _data(2)
    m = DecisionTreeClassifier(max_depth=5, random_state=0).fit(X, y)
    part = cellgeom.partition(m, data=X, cells="all", progress=False)
    c = part.centers
    assert np.array_equal(part.cells["prediction"].to_numpy(), m.predict(c))
    proba = part.cells[[f"proba_{k}" for k in range(len(m.classes_))]].to_numpy()
    assert np.allclose(proba, m.predict_proba(c))
    # Chebyshev centre of a box is its midpoint, radius half its smallest width
    assert np.allclose(c, (part.lo + part.hi) / 2)
    assert np.allclose(part.cells["inradius"], (part.hi - part.lo).min(axis=1) / 2)


def test_dihedral_metric_equals_diagonal_for_trees():
    X, y = _data(3)
    m = ExtraTreeRegressor(max_depth=6, random_state=0).fit(X, X.sum(axis=1))
    part = cellgeom.partition(m, data=X, cells="all", progress=False)
    g_diag = cellgeom.build_complex(part, metric="diagonal").gram(1)
    g_dih = cellgeom.build_complex(part, metric="dihedral").gram(1)
    assert abs(g_dih - g_diag).max() == 0
    assert np.allclose(part.hinges["angle"], np.pi / 2)


def test_common_piece_closed_form_equals_lp_route():
    """Oracle: the core LP common_piece on the same boxes' halfspaces."""
    X, y = _data(2)
    m = DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, y)
    part = cellgeom.partition(m, data=X, cells="all", progress=False)
    cx = cellgeom.build_complex(part, rule="cech", max_dim=2)
    for p in (1, 2):
        for s in cx.simplices(p)[:30]:
            d1, v1, c1 = part.common_piece(s)
            d2, v2, c2 = lp_common_piece([part.halfspaces(i) for i in s], tol=1e-9)
            assert d1 == d2
            assert v1 == pytest.approx(v2, rel=1e-7, abs=1e-9)
            assert np.allclose(c1, c2, atol=1e-7)


def test_tree_data_cells_report_leaf_neighbours_outside():
    X, y = _data(2)
    m = DecisionTreeClassifier(max_depth=6, random_state=0).fit(X, y)
    part = cellgeom.partition(m, data=X[:40], progress=False)
    assert part.cells["is_data"].all()
    out = part.facets[part.facets["neighbor"] == -2]
    full = cellgeom.partition(m, data=X[:40], cells="all", progress=False)
    assert set(out["neighbor_key"]) <= set(full.keys) - set(part.keys)
    assert part.minkowski_residuals().max() < 1e-12


def test_multi_output_tree_gets_one_prediction_column_per_output():
    # oracle: model.predict at the Chebyshev centres, column by column
    import cellgeom as cg

    rng = np.random.default_rng(0)
    X = rng.random((200, 2))
    Y = np.column_stack([X[:, 0] > 0.5, X[:, 1] + X[:, 0]]).astype(float)
    tree = DecisionTreeRegressor(max_depth=3, random_state=0).fit(X, Y)
    part = cg.partition(tree, domain=cg.Box([0, 0], [1, 1]), cells="all", progress=False)
    expected = tree.predict(part.centers)
    np.testing.assert_array_equal(part.cells[["prediction_0", "prediction_1"]].to_numpy(),
                                  expected)


# -- float32 comparisons (issue #18 item 6) ------------------------------------------------------
def _float32_neighbourhood(thresholds, k=6):
    """Points around each threshold at quarter float32 steps: the values float32 rounds to
    the threshold's float32 neighbours, where float64 and float32 comparisons disagree."""
    t = np.asarray(thresholds, dtype=np.float64)
    ulp = np.spacing(np.abs(t).astype(np.float32)).astype(np.float64)
    steps = np.arange(-k, k + 1) / 4.0
    return (t[:, None] + steps[None, :] * ulp[:, None]).ravel()


def test_tree_boxes_contain_their_points_as_float32_apply_sees_them():
    """Oracle: DecisionTreeClassifier.apply (float32 compare) and the box of the leaf each
    point is located in (a point 1.4e-8 above a threshold that float32 rounds down went to
    the left leaf, whose box excluded it)."""
    X, y = _data(2, N=400, seed=4)
    m = DecisionTreeClassifier(max_depth=6, random_state=0).fit(X, y)
    part = cellgeom.partition(m, data=X, cells="all", progress=False)
    inner = m.tree_.feature >= 0
    rng = np.random.default_rng(5)
    rows = []
    for f, t in zip(m.tree_.feature[inner], m.tree_.threshold[inner]):
        vals = _float32_neighbourhood([t])
        pts = rng.random((vals.size, 2))
        pts[:, f] = vals
        rows.append(pts)
    Xt = np.vstack(rows)
    cell = part.locate(Xt)
    assert np.all(cell >= 0)
    np.testing.assert_array_equal(part.cells["leaf"].to_numpy()[cell],
                                  m.apply(Xt.astype(np.float32)))
    lo, hi = part.lo[cell], part.hi[cell]
    assert np.all((lo <= Xt) & (Xt <= hi)), "a point outside the box of its own leaf"


def test_tree_threshold_between_float32_neighbours_point_above_it_in_the_left_box():
    """Oracle: the float32 comparison by hand. A threshold t between the float32 values F
    and F+; a point x with t < x < (F + F+) / 2 rounds to F <= t and goes left."""
    X = np.array([[0.1], [0.3]])
    m = DecisionTreeClassifier().fit(X, [0, 1])
    t = m.tree_.threshold[0]
    F = np.float32(t)
    F = F if F <= t else np.nextafter(F, np.float32(-np.inf))
    mid = (np.float64(F) + np.float64(np.nextafter(F, np.float32(np.inf)))) / 2
    x = (t + mid) / 2
    assert t < x < mid and np.float32(x) == F
    part = cellgeom.partition(m, domain=cellgeom.Box([0], [1]), cells="all", progress=False)
    left = part.locate([[x]])[0]
    assert part.cells["leaf"][left] == m.tree_.children_left[0]
    assert part.lo[left, 0] <= x <= part.hi[left, 0]
    assert part.hi[left, 0] == mid  # the left box ends where float32 rounding changes side
