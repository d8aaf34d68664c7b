"""CatBoost models as box partitions, checked against CatBoost's own leaf indices and predictions.

Oracles: ``calc_leaf_indexes`` (which cell a point is in), ``predict`` /
``predict_proba`` (what a cell stores), ``get_borders`` (where the split borders
are, independently of the JSON export the adapter reads), all-pairs box overlaps
(faces).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split

import cellgeom
from cellgeom.core import BoxPartition
from cellgeom.models.boosting import catboost_trees
from cellgeom.models.boosting.catboost_trees import read_catboost

from ..box_oracles import all_pairs_faces, faces_by_pair

catboost = pytest.importorskip("catboost")
QUIET = dict(verbose=0, allow_writing_files=False, thread_count=2, random_seed=0)


def _split(loader):
    X, y = loader(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0)


@pytest.fixture(scope="module")
def breast_cancer():
    Xtr, Xte, ytr, _ = _split(load_breast_cancer)
    m = catboost.CatBoostClassifier(iterations=200, depth=4, **QUIET).fit(Xtr, ytr)
    return m, Xtr, Xte


@pytest.fixture(scope="module")
def wine():
    Xtr, Xte, ytr, _ = _split(load_wine)
    m = catboost.CatBoostClassifier(iterations=200, depth=3, loss_function="MultiClass",
                                    **QUIET).fit(Xtr, ytr)
    return m, Xtr, Xte


@pytest.fixture(scope="module")
def diabetes():
    Xtr, Xte, ytr, _ = _split(load_diabetes)
    m = catboost.CatBoostRegressor(iterations=200, depth=4, **QUIET).fit(Xtr, ytr)
    return m, Xtr, Xte


@pytest.fixture(scope="module")
def lossguide():
    """Non-symmetric trees: CatBoost numbers their leaves in its internal node order."""
    Xtr, Xte, ytr, _ = _split(load_wine)
    m = catboost.CatBoostClassifier(iterations=60, grow_policy="Lossguide", max_leaves=7,
                                    loss_function="MultiClass", **QUIET).fit(Xtr, ytr)
    return m, Xtr, Xte


@pytest.fixture(scope="module")
def depthwise():
    Xtr, Xte, ytr, _ = _split(load_diabetes)
    m = catboost.CatBoostRegressor(iterations=60, grow_policy="Depthwise", depth=4,
                                   **QUIET).fit(Xtr, ytr)
    return m, Xtr, Xte


def _border_points(model, X, rng):
    """Data points with one coordinate set to each split border (from ``get_borders``)
    and to its float64 and float32 neighbours on both sides."""
    rows = []
    for feature, borders in model.get_borders().items():
        for b in borders:
            b32 = np.float32(b)
            for v in (b, np.nextafter(b, np.inf), np.nextafter(b, -np.inf),
                      float(np.nextafter(b32, np.float32(np.inf))),
                      float(np.nextafter(b32, np.float32(-np.inf)))):
                x = X[rng.integers(len(X))].copy()
                x[int(feature)] = v
                rows.append(x)
    return np.array(rows)


def _check_grouping(part: BoxPartition, model, P: np.ndarray) -> int:
    """``locate`` groups ``P`` exactly as ``calc_leaf_indexes`` does; returns #located.

    Each cell's CatBoost leaf tuple is that of its Chebyshev centre; a located point
    must have its cell's tuple, an unlocated one inside the domain a tuple no cell has.
    The point also lies in its cell's closed box up to float32 rounding (CatBoost
    compares float32 values).
    """
    cell = part.locate(P)
    leaves = model.calc_leaf_indexes(P).astype(np.int64)
    cell_leaves = model.calc_leaf_indexes(part.centers).astype(np.int64)
    assert len(np.unique(cell_leaves, axis=0)) == part.n_cells  # one cell per leaf tuple
    ok = cell >= 0
    assert np.array_equal(leaves[ok], cell_leaves[cell[ok]])
    known = {r.tobytes() for r in cell_leaves}
    inside = part.domain.contains(P)
    assert not any(r.tobytes() in known for r in leaves[inside & ~ok])
    ulp = np.spacing(np.abs(P[ok]).astype(np.float32)).astype(float)
    assert np.all(P[ok] >= part.lo[cell[ok]] - ulp) and np.all(P[ok] <= part.hi[cell[ok]] + ulp)
    return int(ok.sum())


@pytest.mark.parametrize("name", ["breast_cancer", "wine", "diabetes", "lossguide",
                                  "depthwise"])
def test_locate_groups_points_as_calc_leaf_indexes(name, request):
    model, Xtr, Xte = request.getfixturevalue(name)
    part = cellgeom.partition(model, data=Xtr, progress=False)
    assert isinstance(part, BoxPartition)
    assert part.cells["n_points"].sum() == len(Xtr)
    assert np.all(part.locate(Xtr) >= 0)
    rng = np.random.default_rng(0)
    box = part.domain
    uniform = box.lo + rng.random((3000, box.dim)) * (box.hi - box.lo)
    border = _border_points(model, Xtr, rng)
    for P in (Xtr, Xte, uniform, border):
        _check_grouping(part, model, P)
    # in many dimensions new points rarely share a training cell: a partition of all the
    # points together locates every one of them, so the grouping is checked for each
    P = np.vstack([Xtr, Xte, uniform, border])
    everything = cellgeom.partition(model, domain=box, data=P, progress=False)
    assert _check_grouping(everything, model, P) == box.contains(P).sum() > len(uniform)
    # the adapter's own reading of the trees (TreeArrays.apply, float32, ties left)
    # agrees with CatBoost's leaf indices on every point, borders included
    booster = read_catboost(model)
    P = np.vstack([Xte, uniform, border])
    mine = np.column_stack([t.apply(P) for t in booster.trees])
    assert np.array_equal(mine, booster.leaves(P))


@pytest.mark.parametrize("name", ["breast_cancer", "wine", "diabetes", "lossguide"])
def test_cell_outputs_equal_catboost_predictions(name, request):
    model, Xtr, Xte = request.getfixturevalue(name)
    part = cellgeom.partition(model, data=Xtr, progress=False)
    c = part.cells
    centers = part.centers
    assert np.allclose(centers, (part.lo + part.hi) / 2)
    raw = np.asarray(model.predict(centers, prediction_type="RawFormulaVal"))
    margin = c[[k for k in c if k.startswith("margin")]].to_numpy()
    assert np.abs(margin - raw.reshape(len(c), -1)).max() < 1e-6
    if isinstance(model, catboost.CatBoostClassifier):
        proba = c[[f"proba_{k}" for k in range(len(model.classes_))]].to_numpy()
        assert np.abs(proba - model.predict_proba(centers)).max() < 1e-6
        assert np.array_equal(c["prediction"].to_numpy(), model.predict(centers).ravel())
    else:
        assert np.abs(c["prediction"].to_numpy() - model.predict(centers)).max() < 1e-6
    # the value is constant on each cell: points inside cells (random interior points of
    # every box, and held-out data) located there get their cell's value
    rng = np.random.default_rng(0)
    inner = part.lo + (0.05 + 0.9 * rng.random(part.lo.shape)) * (part.hi - part.lo)
    P = np.vstack([inner, Xte])
    cell = part.locate(P)
    ok = cell >= 0
    assert ok[: part.n_cells].mean() > 0.99  # only boxes a float32 ulp wide may round out
    raw_p = np.asarray(model.predict(P[ok], prediction_type="RawFormulaVal"))
    assert np.abs(margin[cell[ok]] - raw_p.reshape(ok.sum(), -1)).max() < 1e-6


def test_ties_go_to_the_zero_side_in_float32():
    """One split: x > border sets the bit; float32(x) decides (not the float64 value)."""
    rng = np.random.default_rng(0)
    X = rng.random((200, 1))
    m = catboost.CatBoostRegressor(iterations=1, depth=1, **QUIET).fit(X, (X[:, 0] > 0.5) * 1.0)
    (b,) = read_catboost(m).trees[0].threshold[:1]
    b32 = np.float32(b)
    assert float(b32) == b  # borders are float32 values
    up64, up32 = np.nextafter(b, np.inf), float(np.nextafter(b32, np.float32(np.inf)))
    down64 = np.nextafter(b, -np.inf)
    assert np.float32(up64) == b32  # the float64 neighbour rounds back onto the border
    P = np.array([[b], [up64], [up32], [down64]])
    assert m.calc_leaf_indexes(P).ravel().tolist() == [0, 0, 1, 0]
    part = cellgeom.partition(m, domain=([0.0], [1.0]), cells="all", progress=False)
    cell = part.locate(P)
    assert cell[0] == cell[1] == cell[3] != cell[2]
    # the boxes meet where float32 rounding changes side (issue #18: boxes contain the
    # points the model sends to them, so up64 > b lies in the zero side's box)
    mid = (b + up32) / 2
    assert part.hi[cell[0], 0] == mid == part.lo[cell[2], 0]
    assert np.all((part.lo[cell] <= P) & (P <= part.hi[cell]))


def _small(kind, n, seed):
    rng = np.random.default_rng(seed)
    X = rng.random((300, n))
    s = X @ rng.normal(size=n) + np.sin(4 * X[:, 0])
    if kind == "binary":
        y = (s > np.median(s)).astype(int)
        return catboost.CatBoostClassifier(iterations=5, depth=3, **QUIET).fit(X, y), X
    if kind == "multiclass":
        y = np.digitize(s, np.quantile(s, [1 / 3, 2 / 3]))
        return catboost.CatBoostClassifier(iterations=5, depth=3, loss_function="MultiClass",
                                           **QUIET).fit(X, y), X
    if kind == "base":
        return catboost.CatBoost(dict(iterations=4, depth=3, loss_function="RMSE",
                                      **QUIET)).fit(X, s), X
    if kind == "lossguide":
        return catboost.CatBoostRegressor(iterations=5, grow_policy="Lossguide", max_leaves=8,
                                          **QUIET).fit(X, s), X
    return catboost.CatBoostRegressor(iterations=5, depth=3, **QUIET).fit(X, s), X


@pytest.mark.parametrize("kind, n", [("regression", 2), ("binary", 3), ("multiclass", 4),
                                     ("base", 3), ("lossguide", 2)])
def test_all_cells_small_boosters(kind, n):
    model, X = _small(kind, n, seed=n)
    part = cellgeom.partition(model, data=X, cells="all", progress=False)
    assert abs(part.volumes.sum() / part.domain.volume - 1) < 1e-12
    # complete: every random point is in a cell, grouped as CatBoost does
    rng = np.random.default_rng(1)
    uniform = part.domain.lo + rng.random((4000, n)) * (part.domain.hi - part.domain.lo)
    assert _check_grouping(part, model, uniform) == len(uniform)
    assert _check_grouping(part, model, _border_points(model, X, rng)) > 0
    got, oracle = faces_by_pair(part), all_pairs_faces(part.lo, part.hi)
    assert got.keys() == oracle.keys() and len(oracle) > 0
    assert all(got[k] == pytest.approx(v, rel=1e-12) for k, v in oracle.items())
    cx = cellgeom.build_complex(part)
    assert cx.n_simplices(0) == part.n_cells
    assert np.all(part.hinges["angle"] == np.pi / 2)
    assert abs(cellgeom.build_complex(part, metric="dihedral").gram(1) - cx.gram(1)).max() == 0
    raw = np.asarray(model.predict(part.centers, prediction_type="RawFormulaVal"))
    margin = part.cells[[k for k in part.cells if k.startswith("margin")]].to_numpy()
    assert np.abs(margin - raw.reshape(part.n_cells, -1)).max() < 1e-6
    if kind == "base":  # CatBoost's base class: raw prediction, no probabilities
        assert "proba_0" not in part.cells
        assert np.abs(part.cells["prediction"] - model.predict(part.centers)).max() < 1e-6


def test_base_class_classifier_gets_probabilities():
    rng = np.random.default_rng(0)
    X = rng.random((300, 2))
    m = catboost.CatBoost(dict(iterations=3, depth=2, loss_function="Logloss", **QUIET))
    m.fit(X, (X.sum(axis=1) > 1).astype(int))
    part = cellgeom.partition(m, data=X, cells="all", progress=False)
    proba = m.predict(part.centers, prediction_type="Probability")
    assert np.abs(part.cells[["proba_0", "proba_1"]].to_numpy() - proba).max() < 1e-6


def test_all_cells_refused_with_estimated_count(breast_cancer):
    model, Xtr, _ = breast_cancer
    with pytest.raises(ValueError, match=r"would have about .* cells .*max_cells=500"):
        cellgeom.partition(model, data=Xtr, cells="all", progress=False, max_cells=500)


def test_supported_models_lists_catboost():
    names = cellgeom.models.supported_models()
    assert {"CatBoostClassifier", "CatBoostRegressor", "CatBoost"} <= set(names)


# -- errors -------------------------------------------------------------------------------------
def test_unfitted_model_is_refused():
    with pytest.raises(NotFittedError, match="CatBoostClassifier instance is not fitted"):
        cellgeom.partition(catboost.CatBoostClassifier(**QUIET), data=np.zeros((3, 2)))


def test_wrong_feature_count_is_refused(diabetes):
    model, Xtr, _ = diabetes
    with pytest.raises(ValueError, match="data has 5 features, but CatBoostRegressor is "
                                         "expecting 10 features"):
        cellgeom.partition(model, data=Xtr[:, :5], progress=False)
    part = cellgeom.partition(model, data=Xtr, progress=False)
    with pytest.raises(ValueError, match="X has 3 features"):
        part.locate(Xtr[:, :3])


def _frame(rng, n=120):
    return pd.DataFrame({"a": rng.random(n), "colour": rng.choice(list("abcdef"), n)})


def test_categorical_feature_is_refused_by_name():
    rng = np.random.default_rng(0)
    df = _frame(rng)
    m = catboost.CatBoostRegressor(iterations=3, depth=2, cat_features=["colour"],
                                   **QUIET).fit(df, rng.random(len(df)))
    with pytest.raises(ValueError, match=r"categorical feature\(s\) 'colour' \(column 1\)"):
        cellgeom.partition(m, domain=([0, 0], [1, 1]), cells="all", progress=False)


def test_text_and_embedding_features_are_refused_by_name():
    rng = np.random.default_rng(0)
    n = 120
    words = rng.choice(["good day", "bad day", "good night", "bad night"], n)
    y = np.char.startswith(words.astype(str), "good").astype(int)
    df = pd.DataFrame({"a": rng.random(n), "note": words})
    m = catboost.CatBoostClassifier(iterations=2, depth=2, text_features=["note"],
                                    **QUIET).fit(df, y)
    with pytest.raises(ValueError, match=r"text feature\(s\) 'note'"):
        read_catboost(m)
    df = pd.DataFrame({"a": rng.random(n), "vec": [rng.random(3) for _ in range(n)]})
    pool = catboost.Pool(df, y, embedding_features=["vec"])
    m = catboost.CatBoostClassifier(iterations=2, depth=2, **QUIET).fit(pool)
    with pytest.raises(ValueError, match=r"embedding feature\(s\) 'vec'"):
        read_catboost(m)


def _tampered(monkeypatch, model, edit):
    """The adapter reading a JSON export altered by ``edit`` (CatBoost itself never
    writes these; they stand for model formats the adapter cannot represent)."""
    real = catboost_trees._export_json

    def export(m):
        dump = real(m)
        edit(dump)
        return dump

    monkeypatch.setattr(catboost_trees, "_export_json", export)
    return lambda: read_catboost(model)


def test_non_constant_leaf_is_refused(monkeypatch):
    model, _ = _small("regression", 2, seed=0)

    def edit(dump):
        dump["oblivious_trees"][1]["leaf_values"][3] = {"linear": [0.1, 0.2], "bias": 1.0}

    with pytest.raises(ValueError, match="non-constant leaf"):
        _tampered(monkeypatch, model, edit)()


def test_non_symmetric_non_constant_leaf_is_refused(monkeypatch):
    model, _ = _small("lossguide", 2, seed=0)

    def edit(dump):
        node = dump["trees"][0]
        while "split" in node:
            node = node["left"]
        node["value"] = [0.1, 0.2, 0.3]

    with pytest.raises(ValueError, match="non-constant leaf"):
        _tampered(monkeypatch, model, edit)()


def test_non_float_split_is_refused(monkeypatch):
    model, _ = _small("regression", 2, seed=0)

    def edit(dump):
        dump["oblivious_trees"][0]["splits"][0]["split_type"] = "OnlineCtr"

    with pytest.raises(ValueError, match="split of type 'OnlineCtr'"):
        _tampered(monkeypatch, model, edit)()


def test_non_symmetric_tree_disagreeing_with_leaf_table_is_refused(monkeypatch):
    """The leaf numbering comes from CatBoost's step nodes; an export whose nodes do not
    line up with them (here: one node's children swapped) is an error, not a guess."""
    model, _ = _small("lossguide", 2, seed=0)

    def edit(dump):
        for tree in dump["trees"]:
            if ("split" in tree["left"]) != ("split" in tree["right"]):
                tree["left"], tree["right"] = tree["right"], tree["left"]
                return
        node = dump["trees"][0]
        node["split"]["border"] += 0.125

    with pytest.raises(ValueError, match="JSON export and its internal nodes disagree"):
        _tampered(monkeypatch, model, edit)()


def test_missing_leaf_numbering_api_refuses_naming_grow_policy(monkeypatch):
    model, _ = _small("lossguide", 2, seed=0)
    owner = next(c for c in type(model).__mro__ if "_get_tree_step_nodes" in vars(c))
    monkeypatch.delattr(owner, "_get_tree_step_nodes")
    with pytest.raises(ValueError, match="grow_policy 'Lossguide'"):
        read_catboost(model)
