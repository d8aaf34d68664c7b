"""LightGBM models as box partitions, checked against LightGBM's own leaf indices and predictions.

Oracles: ``predict(X, pred_leaf=True)`` (the library's leaf of every point in every
tree), ``predict`` / ``predict_proba`` / ``raw_score=True`` at points inside each cell,
the leaf values of the dump, and a geometric location of points in the cells' boxes
with LightGBM's comparison (``x <= threshold`` goes left, so a box owns its upper faces).
"""
from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split

import cellgeom
from cellgeom.geometry import Box
from cellgeom.models.boosting.lightgbm_trees import (
    ZERO_THRESHOLD,
    effective_threshold,
    read_lightgbm,
)

from ..box_oracles import upper_closed_box_of as _box_oracle

PARAMS = dict(n_estimators=200, num_leaves=8, min_child_samples=5, learning_rate=0.05,
              verbose=-1, random_state=0, n_jobs=1)


def _split(loader):
    X, y = loader(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, random_state=0)


@pytest.fixture(scope="module")
def fitted():
    """The acceptance models: 200 rounds each (and a raw Booster), with their data."""
    out = {}
    Xtr, Xte, ytr, _ = _split(load_breast_cancer)
    out["binary"] = (lgb.LGBMClassifier(**PARAMS).fit(Xtr, ytr), Xtr, Xte)
    Xtr, Xte, ytr, _ = _split(load_wine)
    out["multiclass"] = (lgb.LGBMClassifier(**PARAMS).fit(Xtr, ytr), Xtr, Xte)
    Xtr, Xte, ytr, _ = _split(load_diabetes)
    out["regressor"] = (lgb.LGBMRegressor(**{**PARAMS, "num_leaves": 15}).fit(Xtr, ytr),
                        Xtr, Xte)
    Xtr, Xte, ytr, _ = _split(load_wine)
    booster = lgb.train({"objective": "multiclass", "num_class": 3, "num_leaves": 8,
                         "min_data_in_leaf": 5, "learning_rate": 0.05, "verbose": -1,
                          "num_threads": 1},
                        lgb.Dataset(Xtr, ytr), num_boost_round=200)
    out["booster"] = (booster, Xtr, Xte)
    return out


@pytest.fixture(scope="module")
def partitions(fitted):
    return {k: cellgeom.partition(m, data=Xtr, progress=False)
            for k, (m, Xtr, _) in fitted.items()}


def _lib_leaves(model, X):
    return np.asarray(model.predict(X, pred_leaf=True)).reshape(len(X), -1)


def _threshold_points(trees, base, n_splits=300, seed=0):
    """Copies of ``base`` rows with one coordinate on a split threshold or an adjacent double."""
    rng = np.random.default_rng(seed)
    splits = np.unique(np.concatenate([
        np.column_stack([t.feature[t.left >= 0], t.threshold[t.left >= 0]]) for t in trees]),
        axis=0)
    pick = splits[rng.choice(len(splits), min(n_splits, len(splits)), replace=False)]
    rows = []
    for f, thr in pick:
        for v in (np.nextafter(thr, -np.inf), thr, np.nextafter(thr, np.inf)):
            x = base[rng.integers(len(base))].copy()
            x[int(f)] = v
            rows.append(x)
    return np.array(rows)


def _ties(trees, X):
    """Number of (point, tree) pairs whose path meets a node with x[feature] == threshold."""
    total = 0
    for t in trees:
        node = np.zeros(len(X), dtype=np.int64)
        active = np.flatnonzero(t.left[node] >= 0)
        while active.size:
            nd = node[active]
            z = X[active, t.feature[nd]]
            total += int(np.sum(z == t.threshold[nd]))
            node[active] = np.where(z <= t.threshold[nd], t.left[nd], t.right[nd])
            active = active[t.left[node[active]] >= 0]
    return total




def _test_points(part, trees, Xte, n_uniform=2000, seed=0):
    rng = np.random.default_rng(seed)
    uniform = part.domain.lo + rng.random((n_uniform, part.dim)) * (part.domain.hi
                                                                    - part.domain.lo)
    return {"held-out": Xte, "uniform": uniform,
            "thresholds": _threshold_points(trees, np.vstack([Xte, uniform]))}


def _check_locate(part, model, trees, points):
    """locate groups points as pred_leaf, agrees with the boxes, and trees read = pred_leaf."""
    keys = np.array(part.keys)
    for kind, X in points.items():
        lib = _lib_leaves(model, X)
        ours = np.column_stack([t.apply(X) for t in trees])
        offset = np.array([(t.left.size - 1) // 2 for t in trees])
        assert np.array_equal(ours, lib + offset), kind  # every tree, every point
        cell = part.locate(X)
        inside = part.domain.contains(X)
        tuples = np.array(["-".join(map(str, r)) for r in (lib + offset).tolist()])
        known = np.isin(tuples, keys) & inside
        assert np.array_equal(cell >= 0, known), kind
        assert np.array_equal(keys[cell[known]], tuples[known]), kind
        assert np.array_equal(_box_oracle(part, X)[inside], cell[inside]), kind


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regressor", "booster"])
def test_trees_and_locate_match_pred_leaf_including_points_on_thresholds(fitted, partitions,
                                                                          kind):
    model, Xtr, Xte = fitted[kind]
    part = partitions[kind]
    trees = read_lightgbm(model).trees
    n_class = 3 if kind in ("multiclass", "booster") else 1
    assert len(trees) == 200 * n_class
    if kind == "multiclass":  # single-leaf trees among splitting ones
        assert 0 < sum(t.left.size == 1 for t in trees) < len(trees)
    points = _test_points(part, trees, Xte)
    assert _ties(trees, points["thresholds"]) > 300  # ties really happen, many times
    assert part.cells["n_points"].sum() == len(Xtr)
    _check_locate(part, model, trees, points)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regressor", "booster"])
def test_cell_outputs_equal_library_at_centres_and_inside_cells(fitted, partitions, kind):
    model, Xtr, Xte = fitted[kind]
    part = partitions[kind]
    cells, c = part.cells, part.centers
    margin = np.asarray(model.predict(c, raw_score=True)).reshape(len(c), -1)
    names = ["margin"] if margin.shape[1] == 1 else [f"margin_{k}" for k in range(3)]
    assert np.allclose(cells[names].to_numpy(), margin, rtol=0, atol=1e-6)
    # independent of predict: the margin is the sum of the cell's leaf values in the dump
    read = read_lightgbm(model)
    nodes = np.array([[int(v) for v in key.split("-")] for key in part.keys])
    values = np.column_stack([read.leaf_values[t][nodes[:, t]] for t in range(nodes.shape[1])])
    by_class = np.column_stack([values[:, k::read.n_class].sum(axis=1)
                                for k in range(read.n_class)])
    assert np.allclose(by_class, cells[names].to_numpy(), rtol=0, atol=1e-9)
    if kind == "booster":
        cols = [f"prediction_{k}" for k in range(3)]
        assert np.allclose(cells[cols].to_numpy(), model.predict(c), rtol=0, atol=1e-6)
    else:
        assert np.array_equal(cells["prediction"].to_numpy(), model.predict(c))
    if kind in ("binary", "multiclass"):
        cols = [f"proba_{k}" for k in range(len(model.classes_))]
        assert np.allclose(cells[cols].to_numpy(), model.predict_proba(c), rtol=0, atol=1e-6)
    # a cell is a region of constant output: its data points (not its centre) see its values
    cell = part.locate(Xtr)
    assert np.all(cell >= 0)
    here = np.asarray(model.predict(Xtr, raw_score=True)).reshape(len(Xtr), -1)
    assert np.abs(cells[names].to_numpy()[cell] - here).max() < 1e-6


def _small(kind, n, n_trees, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((400, n))
    s = X[:, 0] + 0.7 * X[:, 1 % n] - 0.4 * X[:, -1]
    small = dict(n_estimators=n_trees, max_depth=3, num_leaves=8, min_child_samples=5,
                 learning_rate=0.3, verbose=-1, n_jobs=1)
    if kind == "binary":
        return lgb.LGBMClassifier(**small).fit(X, (s > 0.6).astype(int)), X
    if kind == "multiclass":  # one round, three trees
        return lgb.LGBMClassifier(**small).fit(X, np.digitize(s, [0.4, 0.8])), X
    if kind == "regressor":
        return lgb.LGBMRegressor(**small).fit(X, s + 0.1 * rng.normal(size=len(X))), X
    return lgb.train({"objective": "binary", "max_depth": 3, "num_leaves": 8, "verbose": -1,
                      "num_threads": 1, "min_data_in_leaf": 5},
                     lgb.Dataset(X, (s > 0.6).astype(int)),
                     num_boost_round=n_trees), X


@pytest.mark.parametrize("kind, n, n_trees", [("binary", 2, 5), ("multiclass", 3, 1),
                                              ("regressor", 4, 5), ("booster", 3, 4)])
def test_all_cells_of_small_boosters(kind, n, n_trees):
    model, X = _small(kind, n, n_trees)
    domain = Box(np.zeros(n), np.ones(n))
    part = cellgeom.partition(model, domain=domain, data=X, cells="all", progress=False)
    trees = read_lightgbm(model).trees
    assert all(t.left.size > 1 for t in trees)  # the trees do split
    assert abs(part.volumes.sum() / domain.volume - 1) < 1e-12
    assert part.cells["n_points"].sum() == len(X)
    assert len(part.faces) > 0 and part.minkowski_residuals().max() < 1e-12
    cx = cellgeom.build_complex(part)
    assert cx.n_simplices(0) == part.n_cells and cx.n_simplices(1) > 0
    assert np.all(part.hinges["angle"] == np.pi / 2)
    assert abs(cellgeom.build_complex(part, metric="dihedral").gram(1) - cx.gram(1)).max() == 0
    points = _test_points(part, trees, X[:200], n_uniform=3000)
    _check_locate(part, model, trees, points)
    assert np.all(part.locate(points["uniform"]) >= 0)  # cells="all" covers the domain


def test_single_leaf_trees():
    X = np.random.default_rng(0).random((50, 3))
    model = lgb.LGBMRegressor(n_estimators=3, min_child_samples=40, verbose=-1, n_jobs=1)
    model.fit(X, X[:, 0])
    trees = read_lightgbm(model).trees
    assert all(t.left.size == 1 for t in trees)
    for cells in ("all", "data"):
        part = cellgeom.partition(model, data=X, cells=cells, progress=False)
        assert part.n_cells == 1 and part.cells["n_points"][0] == len(X)
        assert part.volumes[0] == pytest.approx(part.domain.volume, rel=1e-12)
        assert part.cells["prediction"][0] == pytest.approx(model.predict(X[:1])[0], abs=1e-12)
        assert np.all(part.locate(X) == 0)


def test_trees_read_are_those_predicted_with_after_early_stopping():
    Xtr, Xte, ytr, yte = _split(load_diabetes)
    params = {"objective": "regression", "num_leaves": 8, "learning_rate": 0.3, "verbose": -1,
              "num_threads": 1}
    train = lgb.Dataset(Xtr, ytr)
    booster = lgb.train(params, train, num_boost_round=300, keep_training_booster=True,
                        valid_sets=[lgb.Dataset(Xte, yte, reference=train)],
                        callbacks=[lgb.early_stopping(5, verbose=False)])
    best = booster.best_iteration
    assert 0 < best < booster.current_iteration()  # the booster holds more trees than it uses
    read = read_lightgbm(booster)
    assert len(read.trees) == best == booster.predict(Xte, pred_leaf=True).shape[1]
    part = cellgeom.partition(booster, data=Xtr, progress=False)
    cell = part.locate(Xtr)
    assert np.allclose(part.cells["prediction"].to_numpy()[cell], booster.predict(Xtr),
                       atol=1e-6)


def test_dataframe_model_and_adapters_registered():
    X, y = load_wine(return_X_y=True, as_frame=True)
    model = lgb.LGBMClassifier(n_estimators=5, num_leaves=4, verbose=-1, n_jobs=1).fit(X, y)
    part = cellgeom.partition(model, data=X, progress=False)
    assert part.cells["n_points"].sum() == len(X)
    labels = set(cellgeom.supported_models())
    assert {"LGBMClassifier", "LGBMRegressor", "lightgbm.Booster"} <= labels


# -- missing values ----------------------------------------------------------------------------
def _zero_heavy(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(2000, 3))
    X[rng.random(2000) < 0.6, 0] = 0.0
    X[:, 2] = np.abs(X[:, 2]) + 0.5  # never zero
    # three classes: negative, zero and positive x0 (cuts at -1e-35 and 1e-35), shifted by x1
    y = ((X[:, 0] >= 0).astype(int) + (X[:, 0] > 0) + (X[:, 1] > 0)) % 3
    return X, y


def _missing_types(model):
    out = []
    stack = [t["tree_structure"] for t in model.booster_.dump_model()["tree_info"]]
    while stack:
        node = stack.pop()
        if "split_index" in node:
            out.append((node["split_feature"], node["missing_type"], node["threshold"]))
            stack += [node["left_child"], node["right_child"]]
    return out


def _near_zero(base, f):
    """Copies of ``base`` with x[f] in 0, +-kZeroThreshold and the doubles just outside."""
    values = [0.0, -0.0, ZERO_THRESHOLD, -ZERO_THRESHOLD, np.nextafter(ZERO_THRESHOLD, 1),
              np.nextafter(-ZERO_THRESHOLD, -1), 5e-324, 1e-30, -1e-30]
    X = np.repeat(base, len(values), axis=0)
    X[:, f] = np.tile(values, len(base))
    return X, len(values)


def test_features_with_many_zeros_are_plain_thresholds_by_default():
    """Without zero_as_missing, no split treats zero as missing, so the threshold reading is
    exact at 0 and around +-1e-35 (and for NaN-trained features, on finite inputs)."""
    X, y = _zero_heavy()
    Xn = X.copy()
    Xn[::7, 1] = np.nan  # missing_type "NaN" on feature 1
    model = lgb.LGBMClassifier(n_estimators=30, num_leaves=8, verbose=-1, n_jobs=1).fit(Xn, y)
    types = _missing_types(model)
    assert {m for _, m, _ in types} == {"None", "NaN"} and (1, "NaN") in {t[:2] for t in types}
    # LightGBM cuts at -1e-35 and 1e-35 around the zero bin, where its reading of |x| <= 1e-35
    # as 0 decides the side of x = -1e-35: the points below sit on both cuts
    assert {(0, -ZERO_THRESHOLD), (0, ZERO_THRESHOLD)} <= {(f, t) for f, _, t in types}
    trees = read_lightgbm(model).trees
    offset = np.array([(t.left.size - 1) // 2 for t in trees])
    for f in range(3):
        P, k = _near_zero(X[:50], f)
        lib = _lib_leaves(model, P)
        assert np.array_equal(np.column_stack([t.apply(P) for t in trees]), lib + offset)
        if f == 0:  # LightGBM reads x = -1e-35 as 0, unlike the double just below it
            lib = lib.reshape(50, k, -1)
            assert np.array_equal(lib[:, 3], lib[:, 0]) and np.any(lib[:, 5] != lib[:, 0])
    # so the cut at -1e-35 is stored as the double below it, the one at 1e-35 as is
    stored = {float(t.threshold[i]) for t in trees for i in np.flatnonzero(t.feature == 0)}
    assert np.nextafter(-ZERO_THRESHOLD, -1) in stored and -ZERO_THRESHOLD not in stored
    assert ZERO_THRESHOLD in stored
    part = cellgeom.partition(model, data=X, progress=False)
    assert part.cells["n_points"].sum() == len(X)


def _side(x, t, zero_left):
    """LightGBM's side (True = left) as the module docstring states it."""
    return np.where(np.abs(x) <= ZERO_THRESHOLD, zero_left, x <= t)


def test_effective_threshold_equals_the_side_rule_on_doubles_around_the_zero_band():
    kz = ZERO_THRESHOLD
    near = [-1.0, -2 * kz, np.nextafter(-kz, -1), -kz, np.nextafter(-kz, 0), -5e-324, 0.0,
            5e-324, np.nextafter(kz, 0), kz, np.nextafter(kz, 1), 2 * kz, 1.0]
    x = np.array(sorted(set(near + [v * s for v in (1e-40, 1e-36, 1e-30) for s in (1, -1)])))
    for t in near:
        for zero_left in (True, False):
            side = _side(x, t, zero_left)
            exact = effective_threshold(t, zero_left)
            # the left side is an interval (-inf, t'] iff it is a prefix of the sorted doubles
            prefix = np.all(side[:side.sum()]) if side.any() else True
            if exact is None:
                assert not prefix, (t, zero_left)
            else:
                assert prefix and np.array_equal(x <= exact, side), (t, zero_left)


def test_zero_as_missing_is_refused_where_the_domain_meets_zero():
    X, y = _zero_heavy()
    model = lgb.LGBMClassifier(n_estimators=30, num_leaves=8, verbose=-1, n_jobs=1,
                               zero_as_missing=True).fit(X, y)
    assert {m for _, m, _ in _missing_types(model)} == {"Zero"}
    # LightGBM's own leaves: |x| <= kZeroThreshold is missing, the next doubles are not,
    # and zero takes a side against the threshold in some tree (so cells are not boxes)
    P, k = _near_zero(X[:50], 0)
    lib = _lib_leaves(model, P).reshape(50, k, -1)
    for j in range(1, 4):
        assert np.array_equal(lib[:, j], lib[:, 0])
    assert np.array_equal(lib[:, 4], lib[:, 7]) and np.array_equal(lib[:, 5], lib[:, 8])
    trees = read_lightgbm(model, domain=Box([0.5, 0.5, 0.4], [5, 5, 5])).trees
    ours = np.column_stack([t.apply(P) for t in trees]).reshape(50, k, -1)
    offset = np.array([(t.left.size - 1) // 2 for t in trees])
    assert np.any(ours[:, 0] != lib[:, 0] + offset)
    with pytest.raises(ValueError, match=r"zero as missing.*feature 'Column_\d' \(index \d\)"):
        cellgeom.partition(model, data=X, progress=False)
    with pytest.raises(ValueError, match="zero as missing"):
        read_lightgbm(model)
    # a domain without zero on features 0 and 1 is exact (feature 2 is never near zero)
    domain = Box([0.05, 0.05, 0.5], [3.0, 3.0, 3.5])
    inside = X[domain.contains(X)]
    part = cellgeom.partition(model, domain=domain, data=inside, progress=False)
    Xt = domain.lo + np.random.default_rng(0).random((2000, 3)) * (domain.hi - domain.lo)
    on = _threshold_points(trees, inside)
    _check_locate(part, model, trees, {"uniform": Xt, "data": inside,
                                       "thresholds": on[domain.contains(on)]})


# -- errors ------------------------------------------------------------------------------------
def test_unfitted_models_are_refused():
    X = np.random.default_rng(0).random((30, 2))
    for model in (lgb.LGBMClassifier(), lgb.LGBMRegressor()):
        with pytest.raises(NotFittedError, match="not fitted"):
            cellgeom.partition(model, data=X, progress=False)
    empty = lgb.Booster(params={"objective": "binary", "verbose": -1, "num_threads": 1},
                        train_set=lgb.Dataset(X, (X[:, 0] > 0.5).astype(int)))
    with pytest.raises(NotFittedError, match="no trees"):
        cellgeom.partition(empty, data=X, progress=False)


def test_wrong_feature_count_is_refused(fitted, partitions):
    model, Xtr, _ = fitted["binary"]
    with pytest.raises(ValueError, match="5 features, but LGBMClassifier is expecting 30"):
        cellgeom.partition(model, data=Xtr[:, :5], progress=False)
    with pytest.raises(ValueError, match="expecting 30 features"):
        partitions["binary"].locate(Xtr[:, :5])


def test_categorical_split_is_refused_naming_the_feature():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"size": rng.random(300),
                      "colour": pd.Categorical(rng.integers(0, 5, 300))})
    y = X["colour"].cat.codes.isin([1, 3]).astype(int) + 0.1 * X["size"]
    model = lgb.LGBMRegressor(n_estimators=5, num_leaves=4, min_child_samples=5,
                              verbose=-1, n_jobs=1).fit(X, y)
    with pytest.raises(ValueError, match=r"categorical split .* on feature 'colour' \(index 1\)"):
        cellgeom.partition(model, data=X.to_numpy(float), progress=False)


def test_linear_trees_are_refused():
    X, y = load_diabetes(return_X_y=True)
    model = lgb.LGBMRegressor(n_estimators=5, num_leaves=4, linear_tree=True,
                              verbose=-1, n_jobs=1).fit(X, y)
    with pytest.raises(ValueError, match=r"linear tree .*non-constant leaf"):
        cellgeom.partition(model, data=X, progress=False)


def test_leaf_keys_table_route_equals_plain_join():
    """ensembles._leaf_keys (node ids rendered once through a table) = the plain join."""
    from cellgeom.models.ensembles import _leaf_keys

    rng = np.random.default_rng(0)
    for leaves in (rng.integers(0, 3000, (50, 7)), rng.integers(-2, 5, (20, 3)),
                   np.zeros((0, 4), np.int64), np.zeros((3, 0), np.int64),
                   np.array([[0], [10], [7]])):
        assert _leaf_keys(leaves) == ["-".join(map(str, r)) for r in leaves.tolist()]
