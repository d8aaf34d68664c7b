"""Trees and tree ensembles: box partitions checked against scikit-learn and brute force."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor, ExtraTreeRegressor

import cellgeom
from cellgeom.geometry import common_piece as lp_common_piece
from cellgeom.models.trees import box_adjacency

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
    g_diag = part.complex(metric="diagonal").gram(1)
    g_dih = part.complex(metric="dihedral").gram(1)
    assert abs(g_dih - g_diag).max() == 0
    assert np.allclose(part.hinges["angle"], np.pi / 2)


def test_common_piece_closed_form_equals_lp_route():
    """Oracle: the core LP common_piece on the same boxes' halfspaces."""
    X, y = _data(2)
    m = DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, y)
    part = cellgeom.partition(m, data=X, cells="all", progress=False)
    cx = part.complex(rule="cech", max_dim=2)
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


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 4), st.integers(2, 7))
def test_box_adjacency_sweep_equals_all_pairs(seed, n, depth):
    """Property: the sweep finds exactly the all-pairs faces, with the same volumes."""
    rng = np.random.default_rng(seed)
    X = rng.random((200, n))
    m = DecisionTreeRegressor(max_depth=depth, random_state=seed).fit(X, rng.random(200))
    part = cellgeom.partition(m, data=X, cells="all", progress=False)
    a, b, axis, vol, _ = box_adjacency(part.lo, part.hi)
    got = {(min(i, j), max(i, j)): v for i, j, v in zip(a.tolist(), b.tolist(), vol)}
    oracle = all_pairs_faces(part.lo, part.hi)
    assert got.keys() == oracle.keys()
    assert np.allclose([got[k] for k in oracle], list(oracle.values()), rtol=1e-12)


def test_forest_all_volumes_locate_and_predictions():
    X, y = _data(2)
    m = RandomForestClassifier(n_estimators=4, max_depth=3, random_state=0).fit(X, y)
    part = cellgeom.partition(m, data=X, cells="all", progress=False)
    assert abs(part.volumes.sum() / part.domain.volume - 1) < 1e-12
    Xt = np.random.default_rng(2).random((2000, 2))
    cell = part.locate(Xt)
    leaves = m.apply(Xt)
    keys = np.array(part.keys)[cell]
    assert all(k == "-".join(map(str, r)) for k, r in zip(keys, leaves.tolist()))
    assert np.array_equal(part.cells["prediction"].to_numpy()[cell], m.predict(Xt))
    assert np.array_equal(part.cells["prediction"].to_numpy(), m.predict(part.centers))
    got, oracle = faces_by_pair(part), all_pairs_faces(part.lo, part.hi)
    assert got.keys() == oracle.keys()
    assert abs(part.complex(metric="dihedral").gram(1) - part.complex().gram(1)).max() == 0


@pytest.mark.parametrize("make", [
    lambda X, y: GradientBoostingClassifier(n_estimators=8, max_depth=2).fit(X, y),
    lambda X, y: HistGradientBoostingRegressor(max_iter=3, max_leaf_nodes=6).fit(X, X[:, 0]),
    lambda X, y: IsolationForest(n_estimators=5, max_features=1, random_state=0).fit(X),
    lambda X, y: ExtraTreesRegressor(n_estimators=4, max_depth=3, random_state=0).fit(X, y),
])
def test_ensembles_cell_prediction_equals_model_predict_on_held_out_points(make):
    X, y = _data(2)
    m = make(X, y)
    Xt = np.random.default_rng(3).random((1500, 2))
    for cells in ("all", "data"):
        part = cellgeom.partition(m, data=X, cells=cells, progress=False)
        cell = part.locate(Xt)
        ok = cell >= 0
        assert ok.all() or cells == "data"
        assert np.allclose(part.cells["prediction"].to_numpy()[cell[ok]], m.predict(Xt[ok]))
        if cells == "all":
            assert abs(part.volumes.sum() / part.domain.volume - 1) < 1e-12


def test_forest_all_refuses_with_estimated_count():
    X, y = _data(4, N=500)
    m = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"would have about .* cells .*max_cells=1000"):
        cellgeom.partition(m, data=X, cells="all", progress=False, max_cells=1000)


def test_breast_cancer_forest_data_partition_and_complex():
    """100-tree forest, 30-D: every point located in its own leaf-tuple cell."""
    X, y = load_breast_cancer(return_X_y=True)
    m = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)
    part = cellgeom.partition(m, data=X, progress=False)
    assert part.cells["n_points"].sum() == len(X)
    cell = part.locate(X)
    assert np.all(cell >= 0)
    assert np.array_equal(part.cells["prediction"].to_numpy()[cell], m.predict(X))
    cx = part.complex()
    assert cx.n_simplices(0) == part.n_cells


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
