"""Models fitted on DataFrames: no "X does not have valid feature names" warning, names kept.

Oracle: scikit-learn's own warning (turned into an error here) and the model's
``feature_names_in_``.
"""
from __future__ import annotations

import warnings

import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris
from sklearn.ensemble import IsolationForest, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import cellgeom

IRIS = load_iris(as_frame=True)
FRAME = IRIS.data.iloc[:, 2:4]
NAMES = list(FRAME.columns)

MODELS = [
    lambda: DecisionTreeClassifier(max_depth=3, random_state=0).fit(FRAME, IRIS.target),
    lambda: RandomForestClassifier(5, max_depth=3, random_state=0).fit(FRAME, IRIS.target),
    lambda: IsolationForest(n_estimators=5, random_state=0).fit(FRAME),
    lambda: KMeans(3, n_init=2, random_state=0).fit(FRAME),
    lambda: KNeighborsClassifier(1).fit(FRAME, IRIS.target),
    lambda: LogisticRegression().fit(FRAME, IRIS.target),
    lambda: make_pipeline(StandardScaler(), LogisticRegression()).fit(FRAME, IRIS.target),
    lambda: make_pipeline(StandardScaler(), DecisionTreeClassifier(max_depth=3)).fit(
        FRAME, IRIS.target),
]


@pytest.mark.parametrize("make", MODELS, ids=["tree", "forest", "isolation", "kmeans", "1nn",
                                             "logistic", "scaler+logistic", "scaler+tree"])
def test_dataframe_fitted_models_raise_no_feature_name_warning_and_keep_the_names(make):
    model = make()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        for data in (FRAME, FRAME.to_numpy()):
            part = cellgeom.partition(model, data=data, cells="all", progress=False)
            part.locate(FRAME.to_numpy())
            part.locate(FRAME)
    assert part.info["feature_names"] == NAMES


def test_names_come_from_a_dataframe_when_the_model_has_none():
    """An arrangement has no feature_names_in_: the DataFrame's columns name the axes."""
    arr = cellgeom.HyperplaneArrangement([[1.0, 0.0], [0.0, 1.0]], [-3.0, -1.0])
    part = cellgeom.partition(arr, data=FRAME, progress=False)
    assert part.info["feature_names"] == NAMES
    assert "feature_names" not in cellgeom.partition(arr, data=FRAME.to_numpy(),
                                                     progress=False).info


def test_feature_names_survive_save_and_load(tmp_path):
    model = DecisionTreeClassifier(max_depth=2, random_state=0).fit(FRAME, IRIS.target)
    cx = cellgeom.build_complex(cellgeom.partition(model, data=FRAME, progress=False))
    cx.save(tmp_path / "cx.npz")
    assert cellgeom.load(tmp_path / "cx.npz").partition.info["feature_names"] == NAMES


def test_booster_placeholder_names_are_not_feature_names():
    """LightGBM's Column_<j> and CatBoost's '<j>' are placeholders, XGBoost's None is none."""
    lgb = pytest.importorskip("lightgbm")
    X = FRAME.to_numpy()
    frame = FRAME.set_axis(["petal_length", "petal_width"], axis=1)  # LightGBM keeps no spaces
    plain = lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, IRIS.target)
    named = lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(frame, IRIS.target)
    from cellgeom.models.registry import feature_names_of

    assert feature_names_of(plain) is None and feature_names_of(plain.booster_) is None
    names = list(frame.columns)
    assert feature_names_of(named) == names and feature_names_of(named.booster_) == names
    cb = pytest.importorskip("catboost")

    def catboost():
        return cb.CatBoostClassifier(iterations=2, verbose=0, allow_writing_files=False)

    assert feature_names_of(catboost().fit(X, IRIS.target)) is None
    assert feature_names_of(catboost().fit(frame, IRIS.target)) == names
    xgb = pytest.importorskip("xgboost")
    assert feature_names_of(xgb.XGBClassifier(n_estimators=2).fit(X, IRIS.target)) is None
    booster = xgb.XGBClassifier(n_estimators=2).fit(frame, IRIS.target).get_booster()
    assert feature_names_of(booster) == names


@pytest.mark.parametrize("library", ["catboost", "xgboost_booster"])
def test_boosters_fitted_on_a_dataframe_match_columns_by_name(library, tmp_path):
    """CatBoost and a native xgboost.Booster keep their feature names outside
    feature_names_in_: a DataFrame with the columns reordered is matched by name in
    partition(data=) and in locate(), also after save / load."""
    import numpy as np
    import pandas as pd

    import cellgeom

    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    y = 3 * df["a"] + 0.1 * df["b"]
    if library == "catboost":
        cb = pytest.importorskip("catboost")
        model = cb.CatBoostRegressor(iterations=3, depth=2, verbose=0, thread_count=1,
                                     allow_writing_files=False).fit(df, y)
        expected = model.predict(df)
    else:
        xgb = pytest.importorskip("xgboost")
        model = xgb.train({"max_depth": 2}, xgb.DMatrix(df, y), 3)
        expected = model.predict(xgb.DMatrix(df))
    reordered = df[["c", "b", "a"]]
    part = cellgeom.partition(model, data=df, cells="all", progress=False)
    np.testing.assert_allclose(part.cells["prediction"].to_numpy()[part.locate(reordered)],
                               expected, rtol=1e-6)
    again = cellgeom.partition(model, data=reordered, cells="all", progress=False)
    np.testing.assert_array_equal(again.domain.lo, part.domain.lo)
    cellgeom.build_complex(part, progress=False).save(tmp_path / "booster.npz")
    loaded = cellgeom.load(tmp_path / "booster.npz").partition
    np.testing.assert_array_equal(loaded.locate(reordered), part.locate(df))
