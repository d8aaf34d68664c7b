"""Trees and tree ensembles: box partitions checked against scikit-learn and brute force."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
)

import cellgeom

from .box_oracles import all_pairs_faces, faces_by_pair


def _data(n=2, N=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((N, n))
    y = (X[:, 0] + X[:, 1 % n] > 1).astype(int) + (X[:, 0] > 0.7)
    return X, y


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
    dihedral = cellgeom.build_complex(part, metric="dihedral").gram(1)
    assert abs(dihedral - cellgeom.build_complex(part).gram(1)).max() == 0


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
    cx = cellgeom.build_complex(part)
    assert cx.n_simplices(0) == part.n_cells


def test_iris_forest_has_no_phantom_cells_between_float32_neighbours():
    """Oracle: RandomForestClassifier.apply (float32 compare) at each cell's centre gives
    the cell's own leaf tuple, so every cell is reached by some input (issue #23: cells
    spanning (1.64999998, 1.65000004] held no float32 value)."""
    from sklearn.datasets import load_iris

    iris = load_iris()
    X, y = iris.data[:, 2:4], iris.target
    forest = RandomForestClassifier(n_estimators=25, max_depth=4, random_state=0).fit(X, y)
    part = cellgeom.partition(forest, data=X, cells="all", progress=False)
    np.testing.assert_array_equal(part.locate(part.centers), np.arange(part.n_cells))
    leaves = forest.apply(part.centers.astype(np.float32))
    assert part.keys == ["-".join(map(str, r)) for r in leaves.tolist()]
    assert abs(part.volumes.sum() / part.domain.volume - 1) < 1e-12
    # every box contains the points that apply puts in it, thresholds' float32 neighbours too
    inner = [(t.tree_.feature[i], t.tree_.threshold[i]) for t in forest.estimators_
             for i in np.flatnonzero(t.tree_.feature >= 0)]
    rng = np.random.default_rng(0)
    Xt = part.domain.lo + rng.random((len(inner) * 5, 2)) * part.domain.widths
    for r, (f, t) in enumerate(inner):
        Xt[5 * r: 5 * r + 5, f] = t + np.array([-1, -0.25, 0, 0.25, 1]) * np.spacing(
            np.float32(t))
    cell = part.locate(Xt)
    assert np.all(cell >= 0)
    assert np.all((part.lo[cell] <= Xt) & (Xt <= part.hi[cell]))


def test_gradient_boosting_with_a_fitted_init_estimator_is_refused():
    """Its output is init(x) plus the trees, not constant on the boxes; the constant inits
    (default and 'zero') partition as before, predictions equal to predict()."""
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (200, 2))
    y = 3 * X[:, 0] + np.sin(4 * X[:, 1])
    bad = GradientBoostingRegressor(n_estimators=5, init=LinearRegression()).fit(X, y)
    with pytest.raises(ValueError, match="init=LinearRegression"):
        cellgeom.partition(bad, data=X, cells="all", progress=False)
    for init in (None, "zero"):
        good = GradientBoostingRegressor(n_estimators=5, init=init, random_state=0).fit(X, y)
        part = cellgeom.partition(good, data=X, cells="all", progress=False)
        np.testing.assert_allclose(part.cells["prediction"].to_numpy()[part.locate(X)],
                                   good.predict(X), rtol=1e-12, atol=1e-12)
