"""XGBoost models as box partitions, checked against XGBoost's own leaf indices and predictions.

Oracles: ``apply`` / ``predict(..., pred_leaf=True)`` for cells (which points share a
cell, and the cell's key), ``predict`` / ``predict_proba`` / ``output_margin=True`` for
the stored outputs, ``trees_to_dataframe`` (XGBoost's text dump, a route independent of
the JSON model the adapter reads) for thresholds and leaf values, and brute-force box
geometry for faces.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split

import cellgeom
from cellgeom.geometry import Box
from cellgeom.models.boosting.xgboost_trees import _float32_of, read_xgboost

from ..box_oracles import all_pairs_faces, faces_by_pair

xgb = pytest.importorskip("xgboost")

N_TREES = 200


# -- oracles ------------------------------------------------------------------------------------
def _library_leaves(model, X) -> np.ndarray:
    """XGBoost's own leaf index per tree: ``apply`` for wrappers, ``pred_leaf`` for a Booster."""
    if isinstance(model, xgb.Booster):
        out = model.predict(xgb.DMatrix(X, feature_names=model.feature_names), pred_leaf=True)
    else:
        out = model.apply(X)
    return np.asarray(out).astype(np.int64).reshape(len(X), -1)


def _keys(leaves: np.ndarray) -> np.ndarray:
    return np.array(["-".join(map(str, row)) for row in leaves.tolist()])


def _dump_splits(model) -> pd.DataFrame:
    """Internal nodes from XGBoost's JSON *dump* (``get_dump``, 9 significant digits, a
    route independent of the JSON model the adapter reads): tree, node, feature index,
    float32 threshold."""
    booster = model if isinstance(model, xgb.Booster) else model.get_booster()
    names = booster.feature_names or [f"f{j}" for j in range(booster.num_features())]
    rows = []

    def walk(t, node):
        if "children" in node:
            rows.append((t, node["nodeid"], names.index(node["split"]),
                         np.float32(node["split_condition"])))
            for child in node["children"]:
                walk(t, child)

    for t, text in enumerate(booster.get_dump(dump_format="json")):
        walk(t, json.loads(text))
    return pd.DataFrame(rows, columns=["tree", "node", "feature", "threshold"])


def _threshold_points(model, X, domain, rng, repeat=3) -> np.ndarray:
    """Data points with one coordinate set exactly on a split threshold of that feature, on
    its float32 neighbours, and on the float64 just below it (which rounds up to it);
    ``repeat`` data points per distinct (feature, threshold)."""
    splits = _dump_splits(model).drop_duplicates(["feature", "threshold"])
    f = np.repeat(splits["feature"].to_numpy(), repeat)
    t = np.repeat(splits["threshold"].to_numpy(), repeat)
    variants = [t.astype(float), np.nextafter(t, np.float32(-np.inf)).astype(float),
                np.nextafter(t, np.float32(np.inf)).astype(float),
                np.nextafter(t.astype(float), -np.inf)]
    out = []
    for v in variants:
        P = X[rng.integers(len(X), size=len(f))].copy()
        P[np.arange(len(f)), f] = v
        out.append(P)
    P = np.vstack(out)
    return P[domain.contains(P)]


def _check_cells_match_library(part, model, P):
    """locate groups ``P`` exactly as the library's leaf indices do, keys included."""
    leaves = _library_leaves(model, P)
    cell = part.locate(P)
    assert np.all(cell >= 0)
    assert np.array_equal(np.asarray(part.keys)[cell], _keys(leaves))
    # same grouping: equal leaf tuples <=> same cell
    _, tuple_id = np.unique(leaves, axis=0, return_inverse=True)
    pairs = np.unique(np.column_stack([cell, tuple_id.ravel()]), axis=0)
    assert len(pairs) == len(np.unique(cell)) == tuple_id.max() + 1
    # the boxes are XGBoost's comparison, exactly: inside the domain, a lower side is a
    # threshold the point went right of (float32(x) >= t), an upper side one it went left
    # of (float32(x) < t, strict)
    lo, hi, x32 = part.lo[cell], part.hi[cell], P.astype(np.float32).astype(float)
    inner_lo, inner_hi = lo > part.domain.lo, hi < part.domain.hi
    assert np.all(np.where(inner_lo, x32 >= lo, P >= lo))
    assert np.all(np.where(inner_hi, x32 < hi, P <= hi))
    return cell, leaves


def _check_outputs(part, model, X=None):
    """Stored columns equal the library's predictions at the cell centres (to 1e-6), the
    centres lie in their own cells by the library, and, for points ``X``, the library's
    prediction at a point equals its cell's (the outputs are constant on cells)."""
    c = part.centers
    assert np.array_equal(_keys(_library_leaves(model, c)), np.asarray(part.keys))
    expected = _library_outputs(model, c)
    for column, values in expected.items():
        assert np.allclose(part.cells[column].to_numpy(), values, rtol=0, atol=1e-6), column
    if X is not None:
        cell = part.locate(X)
        at_points = _library_outputs(model, X[cell >= 0])
        for column, values in at_points.items():
            stored = part.cells[column].to_numpy()[cell[cell >= 0]]
            assert np.allclose(stored, values, rtol=0, atol=1e-6), column
    return expected


def _library_outputs(model, X) -> dict[str, np.ndarray]:
    if isinstance(model, xgb.Booster):
        dm = xgb.DMatrix(X, feature_names=model.feature_names)
        margin, value = model.predict(dm, output_margin=True), model.predict(dm)
        out = _split("margin", margin)
        objective = json.loads(model.save_config())["learner"]["objective"]["name"]
        out.update(_split("proba" if objective == "multi:softprob" else "prediction", value))
        if objective == "binary:logistic":
            out.update(proba_0=1 - value, proba_1=value)
        return out
    out = _split("margin", model.predict(X, output_margin=True))
    out.update(_split("prediction", model.predict(X)))
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(X)
        out.update({f"proba_{k}": proba[:, k] for k in range(proba.shape[1])})
    return out


def _split(name, values):
    values = np.asarray(values)
    if values.ndim == 1:
        return {name: values}
    return {f"{name}_{k}": values[:, k] for k in range(values.shape[1])}


# -- the three acceptance models (200 trees each), shared -----------------------------------------
def _fit(load, make):
    X, y = load(return_X_y=True)
    strat = y if load is not load_diabetes else None
    Xtr, Xte, ytr, _ = train_test_split(X, y, test_size=0.3, random_state=0, stratify=strat)
    return make().fit(Xtr, ytr), Xtr, Xte


@pytest.fixture(scope="module", params=["binary", "multiclass", "regression", "raw_booster"])
def case(request):
    if request.param == "binary":
        return _fit(load_breast_cancer, lambda: xgb.XGBClassifier(
            n_estimators=N_TREES, max_depth=3, base_score=0.3, n_jobs=1, random_state=0))
    if request.param == "multiclass":
        return _fit(load_wine, lambda: xgb.XGBClassifier(
            n_estimators=N_TREES, max_depth=3, n_jobs=1, random_state=0))
    if request.param == "regression":
        return _fit(load_diabetes, lambda: xgb.XGBRegressor(
            n_estimators=N_TREES, max_depth=3, base_score=100.0, n_jobs=1, random_state=0))
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, _ = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3, "nthread": 1},
                        xgb.DMatrix(Xtr, label=ytr), N_TREES)
    return booster, Xtr, Xte


def _n_outputs(model) -> int:
    if isinstance(model, xgb.XGBClassifier) and len(model.classes_) > 2:
        return len(model.classes_)
    return 1


def test_reader_trees_equal_the_text_dump_and_leaf_prediction(case):
    """Thresholds read from the JSON model equal the text dump's (float32); the trees'
    own comparison (float32, strict) reproduces pred_leaf on threshold points."""
    model, Xtr, Xte = case
    booster = read_xgboost(model)
    assert len(booster.trees) == N_TREES * _n_outputs(model)
    dump = _dump_splits(model)
    for (t, node, f, thr) in dump.itertuples(index=False):
        tree = booster.trees[t]
        assert tree.feature[node] == f and tree.threshold[node] == thr
    n_internal = sum(int((tree.left >= 0).sum()) for tree in booster.trees)
    assert n_internal == len(dump)
    rng = np.random.default_rng(0)
    P = np.vstack([Xte, _threshold_points(model, Xtr, Box.from_data(Xtr), rng)])
    mine = np.column_stack([tree.apply(P) for tree in booster.trees])
    assert np.array_equal(mine, _library_leaves(model, P))


def test_thresholds_are_correctly_rounded_to_float32_without_double_rounding():
    """Oracle: exact rational arithmetic. Decimals a hair off a float32 midpoint parse to
    the midpoint in float64, and float64 -> float32 then rounds to even, the wrong side."""
    from fractions import Fraction

    one, up = np.float32(1), np.nextafter(np.float32(1), np.float32(2))
    # 1 + 2**-24 = 1.000000059604644775390625 is halfway between 1 and 1 + 2**-23
    cases = {"1.0000000596046447753906250000001": up, "1.0000000596046447753906249999999": one,
             "1.000000059604644775390625": one,  # the midpoint itself: ties to even
             "-1.0000000596046447753906250000001": -up, "2.87": np.float32(2.87), "760.0": 760}
    got = _float32_of(list(cases))
    assert np.array_equal(got, np.array(list(cases.values()), dtype=np.float32))
    for text, value in zip(cases, got):  # nearest float32 to the exact decimal
        exact = Fraction(text)
        for neighbour in (np.nextafter(value, np.float32(-np.inf)),
                          np.nextafter(value, np.float32(np.inf))):
            assert abs(Fraction(float(value)) - exact) <= abs(Fraction(float(neighbour)) - exact)
    assert np.float64("1.0000000596046447753906250000001").astype(np.float32) == one  # naive


def test_locate_groups_points_exactly_as_pred_leaf(case):
    """Held-out, uniform random and on-threshold points: cells and keys are pred_leaf's."""
    model, Xtr, Xte = case
    rng = np.random.default_rng(1)
    domain = Box.from_data(np.vstack([Xtr, Xte]))
    uniform = rng.uniform(domain.lo, domain.hi, size=(2000, domain.dim))
    on_thr = _threshold_points(model, Xtr, domain, rng)
    assert len(on_thr) > 500
    P = np.vstack([Xtr, Xte, uniform, on_thr])
    part = cellgeom.partition(model, domain=domain, data=P, progress=False)
    assert part.cells["n_points"].sum() == len(P)
    _check_cells_match_library(part, model, P)
    # a partition of the training data only: held-out points outside its cells are
    # exactly those whose leaf tuple no training point has
    train = cellgeom.partition(model, domain=domain, data=Xtr, progress=False)
    cell = train.locate(Xte)
    keys = _keys(_library_leaves(model, Xte))
    assert np.array_equal(cell < 0, ~np.isin(keys, train.keys))
    assert np.array_equal(np.asarray(train.keys)[cell[cell >= 0]], keys[cell >= 0])


def test_cell_outputs_equal_library_predictions(case):
    """Every stored output equals XGBoost's at the cell's Chebyshev centre (1e-6) and at
    every held-out point of the cell; margins are base_score plus the dump's leaf values."""
    model, Xtr, Xte = case
    part = cellgeom.partition(model, data=Xtr, progress=False)
    expected = _check_outputs(part, model, Xte)
    columns = set(part.cells.columns)
    assert set(expected) <= columns
    k = _n_outputs(model)
    assert ({f"proba_{j}" for j in range(k)} <= columns if k > 1 else "margin" in columns)
    # base_score, independently: margin = base margin + sum of the cell's leaf values
    booster = model if isinstance(model, xgb.Booster) else model.get_booster()
    df = booster.trees_to_dataframe()
    leaf_value = {(t, n): v for t, n, v, f in zip(df["Tree"], df["Node"], df["Gain"],
                                                  df["Feature"]) if f == "Leaf"}
    config = json.loads(booster.save_config())["learner"]
    base = np.array(json.loads(config["learner_model_param"]["base_score"]), dtype=float)
    if config["objective"]["name"] == "binary:logistic":
        base = np.log(base / (1 - base))  # stored as a probability
    leaves = np.array([[int(v) for v in key.split("-")] for key in part.keys])
    sums = np.array([[leaf_value[(t, n)] for t, n in enumerate(row)] for row in leaves])
    margins = sums.reshape(len(leaves), -1, k).sum(axis=1) + base[None, :]
    stored = part.cells[["margin"] if k == 1 else [f"margin_{j}" for j in range(k)]].to_numpy()
    assert np.allclose(stored, margins, rtol=1e-5, atol=1e-5)


def test_all_cells_refused_with_estimate_for_200_trees(case):
    model, Xtr, _ = case
    with pytest.raises(ValueError, match=r"would have about .* cells .*max_cells=1000"):
        cellgeom.partition(model, data=Xtr, cells="all", progress=False, max_cells=1000)


# -- cells="all" on small boosters ----------------------------------------------------------------
def _toy(n, N=400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((N, n))
    y = (X[:, 0] + X[:, 1 % n] > 1).astype(int) + (X[:, -1] > 0.6)
    return X, y


def _small(kind, n, seed=0):
    X, y = _toy(n, seed=seed)
    kw = dict(max_depth=3, n_jobs=1, random_state=seed)
    if kind == "binary":
        return xgb.XGBClassifier(n_estimators=5, **kw).fit(X, y > 0), X
    if kind == "multiclass":  # 1 round of 3 classes: 3 trees
        return xgb.XGBClassifier(n_estimators=1, **kw).fit(X, y), X
    if kind == "regression":
        return xgb.XGBRegressor(n_estimators=5, **kw).fit(X, X @ np.arange(1, n + 1)), X
    return xgb.train({"objective": "reg:squarederror", "max_depth": 3, "nthread": 1},
                     xgb.DMatrix(X, label=X[:, 0] * X[:, -1]), 5), X


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression", "raw_booster"])
@pytest.mark.parametrize("n", [2, 3, 4])
def test_all_cells_small_booster_volumes_faces_complex_angles(kind, n):
    model, X = _small(kind, n)
    domain = Box(np.zeros(n), np.ones(n))
    part = cellgeom.partition(model, domain=domain, data=X, cells="all", progress=False)
    assert part.info["n_trees"] <= 5
    assert abs(part.volumes.sum() / domain.volume - 1) < 1e-12
    rng = np.random.default_rng(n)
    P = np.vstack([rng.random((3000, n)), _threshold_points(model, X, domain, rng)])
    _check_cells_match_library(part, model, P)
    _check_outputs(part, model, P)
    # faces: exactly the all-pairs box adjacencies, with their volumes
    got, oracle = faces_by_pair(part), all_pairs_faces(part.lo, part.hi)
    assert got.keys() == oracle.keys() and len(oracle) > 0
    assert np.allclose([got[k] for k in oracle], list(oracle.values()), rtol=1e-12)
    assert part.minkowski_residuals().max() < 1e-12
    cx = cellgeom.build_complex(part, rule="facet")
    assert cx.n_simplices(0) == part.n_cells and cx.n_simplices(1) == len(oracle)
    # the default ("dual") complex of a full partition of the box is contractible
    betti = cellgeom.build_complex(part).betti_numbers()
    assert betti == [1] + [0] * (len(betti) - 1)
    # dihedral angles, from the facets table's normals: every hinge joins two facets of a
    # box whose outward normals are orthogonal, so every angle is pi/2 (and the dihedral
    # metric adds nothing to the diagonal one)
    h = part.hinges
    assert len(h) == part.n_cells * 4 * n * (n - 1) // 2
    assert np.all(h["angle"] == np.pi / 2)
    fl = part.facets["label"].to_numpy()
    facet_id = part.facets["cell"].to_numpy() * 2 * n + np.where(fl >= 0, fl, -1 - fl)
    normal_of = np.zeros((part.n_cells * 2 * n, n))
    normal_of[facet_id] = part.facets[[f"normal_{j}" for j in range(n)]].to_numpy()
    cell = h["cell"].to_numpy()
    ends = [normal_of[cell * 2 * n + np.where(h[c] >= 0, h[c], -1 - h[c])]
            for c in ("label_a", "label_b")]
    assert np.all(np.abs(ends[0]).sum(axis=1) == 1) and np.all(np.abs(ends[1]).sum(axis=1) == 1)
    dihedral = np.pi - np.arccos(np.einsum("ij,ij->i", ends[0], ends[1]))
    assert np.all(dihedral == np.pi / 2)
    diff = cx.gram(1) - cellgeom.build_complex(part, rule="facet", metric="dihedral").gram(1)
    assert abs(diff).max() == 0


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 3), st.integers(1, 5), st.integers(1, 3))
def test_all_cells_property_random_small_boosters(seed, n, rounds, depth):
    """Property: for any small booster, the cells="all" partition tiles the box and its
    cells are exactly XGBoost's leaf tuples."""
    rng = np.random.default_rng(seed)
    X = rng.random((200, n))
    model = xgb.XGBRegressor(n_estimators=rounds, max_depth=depth, n_jobs=1,
                             random_state=seed).fit(X, rng.random(200))
    domain = Box(np.zeros(n), np.ones(n))
    part = cellgeom.partition(model, domain=domain, cells="all", progress=False)
    assert abs(part.volumes.sum() - 1) < 1e-12
    P = np.vstack([rng.random((500, n)), _threshold_points(model, X, domain, rng)])
    _check_cells_match_library(part, model, P)


# -- which trees, and model variants --------------------------------------------------------------
def test_early_stopping_wrapper_uses_best_iteration_and_raw_booster_all_trees():
    X, y = load_wine(return_X_y=True)
    Xtr, Xva, ytr, yva = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    model = xgb.XGBClassifier(n_estimators=60, max_depth=2, learning_rate=1.0, n_jobs=1,
                              early_stopping_rounds=2, random_state=0)
    model.fit(Xtr, ytr, eval_set=[(Xva, yva)], verbose=False)
    booster = model.get_booster()
    assert model.best_iteration + 1 < booster.num_boosted_rounds()
    part = cellgeom.partition(model, data=X, progress=False)
    assert part.info["n_trees"] == 3 * (model.best_iteration + 1)
    _check_cells_match_library(part, model, Xva)
    _check_outputs(part, model, Xva)
    # the raw booster predicts with every tree, also after early stopping
    raw = cellgeom.partition(booster, data=X, progress=False)
    assert raw.info["n_trees"] == 3 * booster.num_boosted_rounds()
    _check_cells_match_library(raw, booster, Xva)
    _check_outputs(raw, booster, Xva)


@pytest.mark.parametrize("make", [
    lambda: xgb.XGBRFClassifier(n_estimators=4, max_depth=3, n_jobs=1, random_state=0),
    lambda: xgb.XGBClassifier(n_estimators=4, max_depth=3, booster="dart", rate_drop=0.3,
                              n_jobs=1, random_state=0),
    lambda: xgb.XGBRegressor(n_estimators=4, max_depth=3, multi_strategy="multi_output_tree",
                             tree_method="hist", n_jobs=1, random_state=0),
    lambda: xgb.XGBRegressor(n_estimators=4, max_depth=3, n_jobs=1, random_state=0),
])
def test_variants_parallel_trees_dart_vector_leaves_multi_target(make):
    """num_parallel_tree (XGBRF), dart tree weights, vector-leaf trees and one tree per
    target: cells still follow pred_leaf, outputs XGBoost's."""
    X, y = _toy(3, N=300)
    model = make()
    target = np.column_stack([X.sum(axis=1), X[:, 0]]) if isinstance(model, xgb.XGBRegressor) \
        else y
    model.fit(X, target)
    domain = Box(np.zeros(3), np.ones(3))
    part = cellgeom.partition(model, domain=domain, data=X, cells="all", progress=False)
    assert part.info["n_trees"] == _library_leaves(model, X[:1]).shape[1]
    assert abs(part.volumes.sum() - 1) < 1e-12
    P = np.vstack([np.random.default_rng(0).random((1000, 3)),
                   _threshold_points(model, X, domain, np.random.default_rng(1))])
    _check_cells_match_library(part, model, P)
    expected = _check_outputs(part, model, P)
    assert len(expected) >= 2


@pytest.mark.parametrize("raw", [False, True])
def test_model_fitted_on_dataframe_with_feature_names(raw):
    X, y = _toy(3)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    if raw:
        model = xgb.train({"max_depth": 3, "nthread": 1}, xgb.DMatrix(df, label=y), 4)
    else:
        model = xgb.XGBRegressor(n_estimators=4, max_depth=3, n_jobs=1).fit(df, y)
    part = cellgeom.partition(model, domain=Box(np.zeros(3), np.ones(3)), data=df,
                              cells="all", progress=False)
    leaves = (model.predict(xgb.DMatrix(df), pred_leaf=True) if raw else model.apply(df))
    assert np.array_equal(np.asarray(part.keys)[part.locate(X)],
                          _keys(np.asarray(leaves).astype(np.int64)))


def test_non_nan_missing_value_outside_domain_is_accepted_inside_refused():
    X, y = _toy(2)
    model = xgb.XGBRegressor(n_estimators=4, max_depth=3, missing=-999.0, n_jobs=1).fit(X, y)
    part = cellgeom.partition(model, domain=Box([0, 0], [1, 1]), cells="all", progress=False)
    P = np.random.default_rng(0).random((2000, 2))
    _check_cells_match_library(part, model, P)
    with pytest.raises(ValueError, match=r"missing=-999.0.* inside the domain box on feature 0"):
        cellgeom.partition(model, domain=Box([-1000, 0], [1, 1]), cells="all", progress=False)
    zero = xgb.XGBRegressor(n_estimators=2, max_depth=2, missing=0.5, n_jobs=1).fit(X, y)
    with pytest.raises(ValueError, match=r"missing=0.5.*default direction"):
        cellgeom.partition(zero, data=X, progress=False)


def test_registered_for_the_three_classes():
    X, y = _toy(2)
    booster = xgb.train({"max_depth": 2}, xgb.DMatrix(X, label=y), 2)
    cellgeom.partition(booster, data=X, progress=False)
    names = set(cellgeom.supported_models())
    assert {"XGBClassifier", "XGBRegressor", "xgboost.Booster"} <= names


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", [xgb.XGBClassifier(), xgb.XGBRegressor(), xgb.Booster()],
                         ids=["classifier", "regressor", "booster"])
def test_unfitted_model_is_refused(model):
    with pytest.raises(NotFittedError, match="not fitted"):
        cellgeom.partition(model, data=np.zeros((3, 2)), progress=False)
    assert issubclass(NotFittedError, ValueError)


def test_booster_without_trees_is_refused():
    X, y = _toy(2)
    booster = xgb.train({}, xgb.DMatrix(X, label=y), 0)
    with pytest.raises(NotFittedError, match="no trees"):
        cellgeom.partition(booster, data=X, progress=False)


@pytest.mark.parametrize("raw", [False, True])
def test_wrong_feature_count_is_refused(raw):
    X, y = _toy(3)
    model = (xgb.train({"max_depth": 2}, xgb.DMatrix(X, label=y), 2) if raw
             else xgb.XGBClassifier(n_estimators=2, max_depth=2).fit(X, y))
    name = "Booster" if raw else "XGBClassifier"
    with pytest.raises(ValueError, match=rf"data has 4 features, but {name} is expecting 3"):
        cellgeom.partition(model, data=np.random.rand(10, 4), progress=False)
    part = cellgeom.partition(model, data=X, progress=False)
    with pytest.raises(ValueError, match="expecting 3 features"):
        part.locate(np.random.rand(5, 2))


def test_categorical_split_is_refused_naming_the_feature():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.random(300), "colour": pd.Categorical(rng.choice(list("rgb"), 300)),
                       "c": rng.random(300)})
    y = (df["a"] + (df["colour"] == "r")) > 1
    model = xgb.XGBClassifier(n_estimators=3, max_depth=2, enable_categorical=True).fit(df, y)
    with pytest.raises(ValueError, match=r"categorical splits on feature 'colour' \(index 1\)"):
        cellgeom.partition(model, data=rng.random((10, 3)), progress=False)
    with pytest.raises(ValueError, match="'colour'"):
        cellgeom.partition(model.get_booster(), data=rng.random((10, 3)), progress=False)
    # declared categorical but never split on: still refused, naming it
    unused = pd.DataFrame({"a": df["a"], "colour": pd.Categorical(rng.choice(list("rgb"), 300))})
    model = xgb.XGBRegressor(n_estimators=2, max_depth=2, enable_categorical=True)
    model.fit(unused, unused["a"] > 0.5)
    assert not any("colour" in str(s) for s in model.get_booster().get_dump())
    with pytest.raises(ValueError, match=r"declares categorical feature 'colour'"):
        cellgeom.partition(model, data=rng.random((10, 2)), progress=False)


@pytest.mark.parametrize("raw", [False, True])
def test_linear_booster_is_refused(raw):
    X, y = _toy(2)
    model = (xgb.train({"booster": "gblinear"}, xgb.DMatrix(X, label=y), 3) if raw
             else xgb.XGBRegressor(booster="gblinear", n_estimators=3).fit(X, y))
    with pytest.raises(ValueError, match=r"linear booster \(booster='gblinear'\).*not constant"):
        cellgeom.partition(model, data=X, progress=False)
