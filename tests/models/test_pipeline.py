"""Voronoi models, linear classifiers, pipelines, decision regions and input errors."""
from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.tree import DecisionTreeClassifier

import cellgeom

from ..helpers import sklearn_data as _data


def test_pipelines_pull_back_to_raw_input():
    """Oracle: pipeline.predict on held-out raw points."""
    X, y = _data()
    Xt = _data(N=1000, seed=8)[0]
    for m in [make_pipeline(StandardScaler(), KMeans(5, n_init=2, random_state=0)).fit(X),
              make_pipeline(MinMaxScaler(), PCA(2, whiten=True), LogisticRegression()).fit(X, y),
              make_pipeline(StandardScaler(), DecisionTreeClassifier(max_depth=5)).fit(X, y)]:
        part = cellgeom.partition(m, data=X, cells="all", progress=False)
        cell = part.locate(Xt)
        assert np.all(cell >= 0)
        assert np.array_equal(part.cells["prediction"].to_numpy()[cell], m.predict(Xt))
        assert np.array_equal(part.cells["prediction"].to_numpy(), m.predict(part.centers))
        assert abs(part.volumes.sum() / part.domain.volume - 1) < 1e-9


def test_pipeline_partitions_with_polytope_cells_pickle_and_locate_as_before():
    """Oracle: the unpickled partition locates points as the original and as the pipeline's
    predict (#20: the pipeline's input transform was a closure)."""
    import pickle

    X, y = _data(2, 300, 8)
    for model in (make_pipeline(StandardScaler(), PCA(2), KMeans(5, n_init=1, random_state=0)),
                  make_pipeline(MinMaxScaler(), LogisticRegression())):
        model.fit(X, y)
        p = cellgeom.partition(model, data=X, cells="all", progress=False)
        q = pickle.loads(pickle.dumps(p))
        Xt = np.random.default_rng(9).random((300, 2)) * X.max(axis=0)
        cell = q.locate(Xt)
        np.testing.assert_array_equal(cell, p.locate(Xt))
        np.testing.assert_array_equal(q.cells["prediction"].to_numpy()[cell], model.predict(Xt))


def _boosters():
    import pytest

    xgb = pytest.importorskip("xgboost")
    lgb = pytest.importorskip("lightgbm")
    cb = pytest.importorskip("catboost")
    return [xgb.XGBClassifier(n_estimators=3, max_depth=3),
            lgb.LGBMClassifier(n_estimators=3, num_leaves=6, verbose=-1),
            cb.CatBoostClassifier(iterations=3, depth=3, verbose=0, thread_count=1)]


def test_boosters_and_every_scaler_in_a_pipeline_pull_back():
    """Oracle: pipeline.predict at random raw points (a pipeline ending in a booster was
    refused with a TypeError on a private argument), volumes add up to the domain, and the
    unpickled partition locates as the original."""
    import pickle

    from sklearn.preprocessing import MaxAbsScaler, RobustScaler

    X, y = _data(2, 300, 3)
    X = X * [3.0, 0.5] + [10.0, -4.0]
    Xt = X.min(axis=0) + np.random.default_rng(4).random((1500, 2)) * np.ptp(X, axis=0)
    scalers = [StandardScaler(), RobustScaler(), MaxAbsScaler(), MinMaxScaler(), "passthrough"]
    for final in _boosters() + [DecisionTreeClassifier(max_depth=4)]:
        for scaler in scalers:
            model = make_pipeline(scaler, final).fit(X, y)
            part = cellgeom.partition(model, data=X, cells="all", progress=False)
            cell = part.locate(Xt)
            assert np.all(cell >= 0)
            np.testing.assert_array_equal(part.cells["prediction"].to_numpy()[cell],
                                          model.predict(Xt).ravel())
            assert abs(part.volumes.sum() / part.domain.volume - 1) < 1e-12
            np.testing.assert_array_equal(pickle.loads(pickle.dumps(part)).locate(Xt), cell)


def test_pipeline_led_by_passthrough_gives_the_bare_model_cells():
    """Oracle: the bare tree (scikit-learn's Pipeline.n_features_in_ fails when the first
    step is "passthrough" or None, as grid searches over a scaler set it)."""
    from sklearn.pipeline import Pipeline

    X, y = _data(2, 300, 5)
    bare = cellgeom.partition(DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y),
                              data=X, progress=False)
    for first in ("passthrough", None):
        model = Pipeline([("scale", first),
                          ("tree", DecisionTreeClassifier(max_depth=3, random_state=0))])
        part = cellgeom.partition(model.fit(X, y), data=X, progress=False)
        assert part.keys == bare.keys
        np.testing.assert_array_equal(part.volumes, bare.volumes)


def test_robust_and_max_abs_scalers_are_affine_for_polytope_models():
    """Oracle: predict of a pipeline of RobustScaler / MaxAbsScaler and logistic regression
    at raw points (they were refused as 'not affine')."""
    from sklearn.preprocessing import MaxAbsScaler, RobustScaler

    X, y = _data(2, 300, 6)
    Xt = np.random.default_rng(2).random((500, 2)) * X.max(axis=0)
    for scaler in (RobustScaler(), RobustScaler(with_centering=False), MaxAbsScaler()):
        model = make_pipeline(scaler, LogisticRegression()).fit(X, y)
        part = cellgeom.partition(model, data=X, cells="all", progress=False)
        np.testing.assert_array_equal(part.cells["prediction"].to_numpy()[part.locate(Xt)],
                                      model.predict(Xt))


def test_decision_regions_refuses_multi_output_classifiers_by_name():
    import pytest

    X, y = _data(2, 200, 7)
    Y = np.column_stack([y, X[:, 0] > 0.5]).astype(int)
    with pytest.raises(ValueError, match="single-output classifier.*2 outputs"):
        cellgeom.decision_regions(DecisionTreeClassifier(max_depth=3).fit(X, Y), data=X,
                                  progress=False)


def test_tree_boxes_in_a_pipeline_end_where_the_scaler_and_the_tree_change_side():
    """Oracle: the model at one float64 step inside each face of every box, data 1e6 from
    the origin (the exact pull-back (t - shift) / scale missed the scaler's own rounding:
    18 of 98 such points fell in a neighbouring cell)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.preprocessing import RobustScaler

    X, y = _data(2, 300, 9)
    X = X + 1e6
    for final in (RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0),
                  DecisionTreeClassifier(max_depth=4, random_state=0),
                  HistGradientBoostingClassifier(max_iter=3, max_depth=3)):
        for scaler in (StandardScaler(), MinMaxScaler(), RobustScaler()):
            model = make_pipeline(scaler, final).fit(X, y)
            part = cellgeom.partition(model, data=X, cells="all", progress=False)
            middle = (part.lo + part.hi) / 2
            for j in range(2):
                for edge, way in ((part.lo[:, j], np.inf), (part.hi[:, j], -np.inf)):
                    inner = (edge > part.domain.lo[j]) & (edge < part.domain.hi[j])
                    probe = middle.copy()
                    probe[:, j] = np.nextafter(edge, way)
                    np.testing.assert_array_equal(part.locate(probe)[inner],
                                                  np.flatnonzero(inner))
            assert abs(part.volumes.sum() / part.domain.volume - 1) < 1e-12
