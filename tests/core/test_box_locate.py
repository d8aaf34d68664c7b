"""A box partition without its model (saved and loaded, or the locator dropped) locates
points with its kd-tree of boxes.

Oracle: the dense test every loaded box partition used before the index: each point
against every box, ``lo < x <= hi`` (closed on the domain's lower side), the lowest
index first, -1 outside the domain or outside every cell; and, on the data, the model's
own cells.
"""
from __future__ import annotations

import pickle

import numpy as np
import pytest

import cellgeom


def dense_locate(part, X):
    lo = np.where(part.lo <= part.domain.lo, -np.inf, part.lo)
    inside = np.all((X[:, None, :] > lo[None]) & (X[:, None, :] <= part.hi[None]), axis=2)
    out = np.where(inside.any(axis=1), inside.argmax(axis=1), -1)
    out[~part.domain.contains(X)] = -1
    return out


def _points(part, X, seed=0):
    """The data, every box corner and centre, all boxes' boundaries mixed across axes,
    and uniform points over a box a little larger than the domain."""
    rng = np.random.default_rng(seed)
    n = part.dim
    corners = np.vstack([part.lo, part.hi, (part.lo + part.hi) / 2])
    pick = rng.integers(0, len(corners), size=(500, n))
    mixed = corners[pick, np.arange(n)]
    span = part.domain.hi - part.domain.lo
    uniform = part.domain.lo - 0.1 * span + rng.random((500, n)) * 1.2 * span
    return np.vstack([X, corners, mixed, uniform])


def _model(library, X, y):
    if library == "tree":
        from sklearn.tree import DecisionTreeRegressor
        return DecisionTreeRegressor(max_leaf_nodes=60, random_state=0).fit(X, y)
    if library == "forest":
        from sklearn.ensemble import RandomForestRegressor
        return RandomForestRegressor(4, max_depth=3, random_state=0).fit(X, y)
    if library == "lightgbm":
        lgb = pytest.importorskip("lightgbm")
        return lgb.LGBMRegressor(n_estimators=4, num_leaves=6, min_child_samples=5,
                                 verbose=-1).fit(X, y)
    xgb = pytest.importorskip("xgboost")
    return xgb.XGBRegressor(n_estimators=4, max_depth=3).fit(X, y)


@pytest.mark.parametrize("cells", ["all", "data"])
@pytest.mark.parametrize("library", ["tree", "forest", "lightgbm", "xgboost"])
def test_loaded_box_partition_locates_as_the_dense_test(tmp_path, library, cells):
    """Integer features put points on thresholds (LightGBM cuts them at +-1e-35)."""
    rng = np.random.default_rng(1)
    X = rng.integers(-2, 3, size=(400, 3)).astype(float)
    X[:200] += rng.normal(scale=0.3, size=(200, 3))
    y = (X[:, 0] == 0) * 5.0 + X[:, 1] - X[:, 2] ** 2
    model = _model(library, X, y)
    part = cellgeom.partition(model, data=X, cells=cells, progress=False)
    cellgeom.build_complex(part, progress=False).save(tmp_path / "boxes.npz")
    loaded = cellgeom.load(tmp_path / "boxes.npz").partition
    assert isinstance(loaded, cellgeom.core.BoxPartition) and loaded.model is None
    points = _points(loaded, X)
    got = loaded.locate(points)
    np.testing.assert_array_equal(got, dense_locate(loaded, points))
    np.testing.assert_array_equal(got[:len(X)], part.locate(X))
    if cells == "all":
        assert np.all(got[loaded.domain.contains(points)] >= 0)


def test_the_index_is_built_once_rebuilt_for_new_boxes_and_not_pickled():
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    X = rng.random((300, 2))
    model = DecisionTreeClassifier(max_depth=5, random_state=0).fit(X, X[:, 0] > X[:, 1])
    part = cellgeom.partition(model, data=X, cells="all", progress=False)
    part._locator = None  # as loaded: no model to ask
    points = _points(part, X)
    expected = dense_locate(part, points)
    np.testing.assert_array_equal(part.locate(points), expected)
    index = part._box_index()
    assert part._box_index() is index
    again = pickle.loads(pickle.dumps(part))
    assert again._locate_index is None
    np.testing.assert_array_equal(again.locate(points), expected)
    assert part._box_index() is index  # pickling left the original's index alone
    # replacing the boxes (here: every box shrunk to its lower side on axis 0, empty but
    # for the boxes closed on the domain's lower side) rebuilds it
    part.hi = np.where(np.arange(2) == 0, part.lo, part.hi)
    assert part._box_index() is not index
    got = part.locate(points)
    np.testing.assert_array_equal(got, dense_locate(part, points))
    assert np.all((got == -1) | (points[:, 0] == part.domain.lo[0]))
