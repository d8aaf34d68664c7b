"""HistGradientBoosting models as box partitions, checked against scikit-learn and brute force.

Oracles: the model's own ``predict`` / ``decision_function`` / ``predict_proba`` at points
inside each cell; a leaf tuple per point computed here from the predictors' ``nodes``
arrays with scikit-learn's rule (``_predictor.pyx``: NaN goes to ``missing_go_to_left``,
else ``x <= num_threshold`` goes left, in float64), and the raw score ``baseline + sum of
leaf values`` from the same arrays; a geometric location of points in the cells' boxes
(``lo < x <= hi``, or ``x`` on the domain's lower face).
"""
from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine, make_moons
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import cellgeom
from cellgeom.geometry import Box
from cellgeom.models.hist_gradient_boosting import read_hist_gradient_boosting
from cellgeom.models.registry import adapter_for

from .box_oracles import upper_closed_box_of as _box_oracle

#: (loader, the features used, estimator class, keyword arguments)
CASES = {
    "regressor": (load_diabetes, [2, 8, 3], HistGradientBoostingRegressor,
                  dict(max_iter=15, max_leaf_nodes=6)),
    "binary": (load_breast_cancer, [0, 1, 27], HistGradientBoostingClassifier,
               dict(max_iter=15, max_leaf_nodes=5)),
    "multiclass": (load_wine, [0, 6, 9], HistGradientBoostingClassifier,
                   dict(max_iter=10, max_leaf_nodes=4)),
}
KINDS = list(CASES)


@pytest.fixture(scope="module", autouse=True)
def _one_openmp_thread():
    """HistGradientBoosting's OpenMP loops spin-wait: on a loaded machine two threads made
    a 300-point fit take seconds instead of a tenth of one."""
    with threadpool_limits(1, user_api="openmp"):
        yield


def _fit(kind, n_features=3):
    loader, features, cls, kwargs = CASES[kind]
    X, y = loader(return_X_y=True)
    X = X[:, features[:n_features]]
    return cls(**kwargs, early_stopping=False, random_state=0).fit(X, y), X


@pytest.fixture(scope="module")
def fitted():
    return {kind: _fit(kind) for kind in KINDS}


@pytest.fixture(scope="module")
def partitions(fitted):
    return {kind: cellgeom.partition(m, data=X, progress=False) for kind, (m, X) in fitted.items()}


# -- brute-force oracles, from the nodes arrays ---------------------------------------------
def _oracle_leaves(model, X) -> np.ndarray:
    """(N, T) node id of each point's leaf in each tree, scikit-learn's rule, vectorised."""
    cols = []
    for per_iteration in model._predictors:
        for predictor in per_iteration:
            nodes = predictor.nodes
            node = np.zeros(len(X), dtype=np.int64)
            while True:
                active = np.flatnonzero(~nodes["is_leaf"][node].astype(bool))
                if active.size == 0:
                    break
                nd = node[active]
                v = X[active, nodes["feature_idx"][nd]]
                left = np.where(np.isnan(v), nodes["missing_go_to_left"][nd].astype(bool),
                                v <= nodes["num_threshold"][nd])
                node[active] = np.where(left, nodes["left"][nd], nodes["right"][nd])
            cols.append(node)
    return np.column_stack(cols)


def _oracle_raw(model, leaves) -> np.ndarray:
    """(N, K) raw score: the baseline plus the leaf values, summed in iteration order."""
    K = model.n_trees_per_iteration_
    raw = np.tile(np.asarray(model._baseline_prediction, dtype=float).reshape(1, K),
                  (len(leaves), 1))
    t = 0
    for per_iteration in model._predictors:
        for k, predictor in enumerate(per_iteration):
            raw[:, k] += predictor.nodes["value"][leaves[:, t]]
            t += 1
    return raw




def _splits(model) -> np.ndarray:
    """(feature, num_threshold) of every finite numerical split."""
    rows = []
    for per_iteration in model._predictors:
        for predictor in per_iteration:
            n = predictor.nodes[~predictor.nodes["is_leaf"].astype(bool)]
            rows.append(np.column_stack([n["feature_idx"], n["num_threshold"]]))
    s = np.unique(np.vstack(rows), axis=0)
    return s[np.isfinite(s[:, 1])]


def _threshold_points(model, base, copies=4, seed=0) -> np.ndarray:
    """Copies of ``base`` rows with one coordinate on a split threshold or an adjacent double."""
    rng = np.random.default_rng(seed)
    rows = []
    for f, thr in _splits(model):
        for v in (np.nextafter(thr, -np.inf), thr, np.nextafter(thr, np.inf)):
            for _ in range(copies):
                x = base[rng.integers(len(base))].copy()
                x[int(f)] = v
                rows.append(x)
    return np.array(rows)


def _keys(leaves) -> np.ndarray:
    return np.array(["-".join(map(str, r)) for r in leaves.tolist()])


def _outputs(model, X) -> dict[str, np.ndarray]:
    raw = np.asarray(model._raw_predict(X))
    out = {"prediction": np.asarray(model.predict(X)).reshape(len(X), 1)}
    if hasattr(model, "classes_"):
        out["margin"] = np.asarray(model.decision_function(X)).reshape(len(X), -1)
        out["proba"] = np.asarray(model.predict_proba(X))
    else:
        out["margin"] = raw
    return out


def _columns(part, name, width):
    if name == "prediction" or (name == "margin" and width == 1):
        return part.cells[[name]].to_numpy()
    return part.cells[[f"{name}_{k}" for k in range(width)]].to_numpy()


def _inside_points(part, per_cell=4, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """``per_cell`` random points in each cell's box (upper faces included) and their cells."""
    rng = np.random.default_rng(seed)
    cell = np.repeat(np.arange(part.n_cells), per_cell)
    lo, hi = part.lo[cell], part.hi[cell]
    X = lo + rng.random(lo.shape) * (hi - lo)
    X[::per_cell] = hi[::per_cell]  # the upper corner belongs to the cell
    X = np.where(X > lo, X, hi)  # a draw rounding onto lo (the neighbour's face) moves to hi
    return X, cell


# -- tests ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_cell_outputs_equal_the_model_at_centres_and_inside_every_cell(fitted, partitions, kind):
    model, X = fitted[kind]
    part = partitions[kind]
    assert part.cells["n_points"].sum() == len(X)
    for points, cell in ((part.centers, np.arange(part.n_cells)), _inside_points(part)):
        for name, values in _outputs(model, points).items():
            # the same leaves give the same float sums: equality, not closeness
            assert np.array_equal(_columns(part, name, values.shape[1])[cell], values), name
    # independent of predict: margin = baseline + the cell's leaf values, from the nodes
    nodes = np.array([[int(v) for v in key.split("-")] for key in part.keys])
    margin = _columns(part, "margin", model.n_trees_per_iteration_)
    assert np.allclose(_oracle_raw(model, nodes), margin, rtol=0, atol=1e-12)
    read = read_hist_gradient_boosting(model)
    values = np.column_stack([read.leaf_values[t][nodes[:, t]] for t in range(nodes.shape[1])])
    by_class = np.column_stack([values[:, k::read.n_class].sum(axis=1)
                                for k in range(read.n_class)]) + read.baseline
    assert np.allclose(by_class, margin, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_locate_equals_the_oracle_leaves_and_predict_including_points_on_thresholds(
        fitted, partitions, kind):
    model, X = fitted[kind]
    part = partitions[kind]
    read = read_hist_gradient_boosting(model)
    K = model.n_trees_per_iteration_
    assert len(read.trees) == model.n_iter_ * K == CASES[kind][3]["max_iter"] * K
    on = _threshold_points(model, X)
    assert len(on) == 12 * len(_splits(model)) > 300
    keys = np.array(part.keys)
    for points in (X, on):
        oracle = _oracle_leaves(model, points)
        # the trees read and the library's leaf both equal the oracle, every tree, every point
        assert np.array_equal(read.leaves(points), oracle)
        assert np.array_equal(np.column_stack([t.apply(points) for t in read.trees]), oracle)
        assert np.allclose(_oracle_raw(model, oracle), model._raw_predict(points), rtol=0,
                           atol=1e-12)
        cell = part.locate(points)
        tuples = _keys(oracle)
        known = np.isin(tuples, keys) & part.domain.contains(points)
        assert np.array_equal(cell >= 0, known)
        assert np.array_equal(keys[cell[known]], tuples[known])
        assert np.array_equal(_box_oracle(part, points)[known], cell[known])
        assert np.array_equal(part.cells["prediction"].to_numpy()[cell[known]],
                              model.predict(points[known]))
    assert np.all(part.locate(X) >= 0)


@pytest.mark.parametrize("kind", KINDS)
def test_all_cells_fill_the_domain_and_the_dense_grid_oracle_agrees(kind):
    """cells="all" on two features. Oracle: on a grid through every threshold, its neighbour
    doubles, the midpoints and the domain's corners, the oracle leaf tuple is constant on
    each box, distinct boxes have distinct tuples, and every box holds a grid point."""
    model, X = _fit(kind, n_features=2)
    domain = Box(X.min(axis=0) - 0.1 * np.ptp(X, axis=0), X.max(axis=0) + 0.1 * np.ptp(X, axis=0))
    part = cellgeom.partition(model, domain=domain, data=X, cells="all", progress=False)
    assert part.n_cells > 20
    assert abs(part.volumes.sum() / domain.volume - 1) < 1e-12
    assert part.cells["n_points"].sum() == len(X)
    splits = _splits(model)
    axes = []
    for f in range(2):
        t = np.concatenate([[domain.lo[f], domain.hi[f]], splits[splits[:, 0] == f, 1]])
        t = np.unique(t[(t >= domain.lo[f]) & (t <= domain.hi[f])])
        axes.append(np.unique(np.concatenate([t, (t[1:] + t[:-1]) / 2, np.nextafter(t, np.inf),
                                              np.nextafter(t, -np.inf)])))
    grid = np.column_stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")])
    grid = grid[domain.contains(grid)]
    box = _box_oracle(part, grid)
    assert np.all(box >= 0)  # cells="all" covers the domain
    assert np.array_equal(np.unique(box), np.arange(part.n_cells))  # every box is reached
    tuples = _keys(_oracle_leaves(model, grid))
    assert np.array_equal(tuples, np.array(part.keys)[box])  # constant on each box, its key
    assert len(set(part.keys)) == part.n_cells  # distinct boxes, distinct tuples
    assert np.array_equal(part.locate(grid), box)
    assert np.array_equal(part.cells["prediction"].to_numpy()[box], model.predict(grid))
    # faces: a box partition's, right angles everywhere
    assert len(part.faces) > 0 and part.minkowski_residuals().max() < 1e-12
    assert np.all(part.hinges["angle"] == np.pi / 2)


def test_moons_binary_all_cells_decision_function_on_random_points():
    X, y = make_moons(300, noise=0.3, random_state=0)
    model = HistGradientBoostingClassifier(max_iter=20, max_leaf_nodes=5, random_state=0)
    model.fit(X, y)
    part = cellgeom.partition(model, data=X, cells="all", progress=False)
    rng = np.random.default_rng(1)
    Q = part.domain.lo + rng.random((5000, 2)) * part.domain.widths
    cell = part.locate(Q)
    assert np.all(cell >= 0)
    assert np.array_equal(part.cells["margin"].to_numpy()[cell], model.decision_function(Q))
    assert np.array_equal(part.cells[["proba_0", "proba_1"]].to_numpy()[cell],
                          model.predict_proba(Q))


def test_split_on_missing_values_has_an_infinite_threshold_and_no_cell_of_its_own():
    """A feature whose NaNs carry the signal gets a 'split on NaN' (num_threshold = inf):
    finite values all go left. Data with NaN is refused; the finite data partitions exactly."""
    rng = np.random.default_rng(0)
    X = rng.random((400, 2))
    y = X[:, 1].copy()
    nan = rng.random(400) < 0.3
    X[nan, 0] = np.nan
    y[nan] += 5.0
    model = HistGradientBoostingRegressor(max_iter=5, max_leaf_nodes=4, random_state=0)
    model.fit(X, y)
    read = read_hist_gradient_boosting(model)
    assert any(np.isinf(t.threshold).any() for t in read.trees)
    with pytest.raises(ValueError, match="NaN"):
        cellgeom.partition(model, data=X, progress=False)
    finite = X[~nan]
    part = cellgeom.partition(model, domain=([0, 0], [1, 1]), data=finite, cells="all",
                              progress=False)
    assert abs(part.volumes.sum() - 1) < 1e-12
    Q = rng.random((3000, 2))
    assert np.array_equal(part.cells["prediction"].to_numpy()[part.locate(Q)], model.predict(Q))
    assert np.array_equal(read.leaves(Q), _oracle_leaves(model, Q))


def test_single_leaf_trees_and_early_stopping():
    X = np.random.default_rng(0).random((60, 3))
    flat = HistGradientBoostingRegressor(max_iter=3, min_samples_leaf=50).fit(X, X[:, 0])
    assert all(t.left.size == 1 for t in read_hist_gradient_boosting(flat).trees)
    for cells in ("all", "data"):
        part = cellgeom.partition(flat, data=X, cells=cells, progress=False)
        assert part.n_cells == 1 and np.all(part.locate(X) == 0)
        assert part.cells["prediction"][0] == flat.predict(X[:1])[0]
    X, y = load_diabetes(return_X_y=True)
    stopped = HistGradientBoostingRegressor(max_iter=500, early_stopping=True,
                                            n_iter_no_change=3, random_state=0).fit(X[:, :3], y)
    assert stopped.n_iter_ < 500
    assert len(read_hist_gradient_boosting(stopped).trees) == stopped.n_iter_
    part = cellgeom.partition(stopped, data=X[:, :3], progress=False)
    assert np.array_equal(part.cells["prediction"].to_numpy()[part.locate(X[:, :3])],
                          stopped.predict(X[:, :3]))


def test_dataframe_names_pickle_and_save_load_round_trip(tmp_path):
    X, y = load_wine(return_X_y=True, as_frame=True)
    df = X[["alcohol", "flavanoids", "color_intensity"]]
    model = HistGradientBoostingClassifier(max_iter=8, max_leaf_nodes=4, random_state=0)
    model.fit(df, y)
    reordered = df[df.columns[::-1]]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # "X does not have valid feature names"
        part = cellgeom.partition(model, data=df, progress=False)
        cell = part.locate(reordered)
    assert part.info["feature_names"] == part.info["model_feature_names"] == list(df.columns)
    assert np.all(cell >= 0)
    assert np.array_equal(part.cells["prediction"].to_numpy()[cell], model.predict(df))
    with pytest.raises(ValueError, match="feature"):
        cellgeom.partition(model, data=df.rename(columns={"alcohol": "proline"}),
                           progress=False)
    again = pickle.loads(pickle.dumps(part))
    assert list(again.keys) == list(part.keys)
    assert np.array_equal(again.locate(reordered), cell)
    cellgeom.build_complex(part, progress=False).save(tmp_path / "hgb.npz")
    loaded = cellgeom.load(tmp_path / "hgb.npz").partition
    assert np.array_equal(loaded.locate(reordered), cell)


def test_pipeline_of_scalers_is_pulled_back_and_pca_refused():
    X, y = load_wine(return_X_y=True)
    X = X[:, [0, 6, 9]]
    pipe = make_pipeline(StandardScaler(), HistGradientBoostingClassifier(max_iter=5))
    pipe.fit(X, y)
    part = cellgeom.partition(pipe, data=X, progress=False)
    cell = part.locate(X)
    assert np.all(cell >= 0)
    assert np.array_equal(part.cells["prediction"].to_numpy()[cell], pipe.predict(X))
    rotated = make_pipeline(PCA(2), HistGradientBoostingRegressor(max_iter=3)).fit(X, y)
    with pytest.raises(ValueError, match="PCA step rotates"):
        cellgeom.partition(rotated, data=X, progress=False)


def test_categorical_features_are_refused_naming_them():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"size": rng.random(300),
                       "colour": pd.Categorical(rng.choice(list("rgb"), 300))})
    y = (df["colour"] == "g") + 0.1 * df["size"]
    model = HistGradientBoostingRegressor(max_iter=3).fit(df, y)  # from_dtype: categorical
    with pytest.raises(ValueError, match=r"categorical features \(feature 'colour' \(index 1\)\)"):
        cellgeom.partition(model, data=df[["size"]].assign(colour=0.0), progress=False)
    # declared by index: its columns are reordered even where no split uses it
    X = np.column_stack([rng.random(300), rng.integers(0, 3, 300), rng.random(300)])
    unused = HistGradientBoostingRegressor(max_iter=3, categorical_features=[1])
    unused.fit(X, X[:, 0] + X[:, 2])
    with pytest.raises(ValueError, match=r"categorical features \(feature 1\).*categorical_"
                                         r"features=None"):
        cellgeom.partition(unused, data=X, progress=False)


def test_unfitted_wrong_width_and_registration():
    X = np.random.default_rng(0).random((30, 2))
    for model in (HistGradientBoostingClassifier(), HistGradientBoostingRegressor()):
        with pytest.raises(NotFittedError, match="is not fitted yet"):
            cellgeom.partition(model, data=X, progress=False)
        fitted = model.fit(X, (X[:, 0] > 0.5).astype(int))
        with pytest.raises(ValueError, match="3 features, but .* is expecting 2 features"):
            cellgeom.partition(fitted, data=np.zeros((4, 3)), progress=False)
        assert adapter_for(fitted).func.__module__ == "cellgeom.models.hist_gradient_boosting"
    assert {"HistGradientBoostingClassifier",
            "HistGradientBoostingRegressor"} <= set(cellgeom.supported_models())
