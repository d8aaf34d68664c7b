"""ForestArrays: every point down every tree at once, checked against each tree's own
traversal and against the models' own predictions, at points exactly on thresholds too."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor

from cellgeom.models.forest_apply import ForestArrays
from cellgeom.models.hist_gradient_boosting import read_hist_gradient_boosting
from cellgeom.models.trees import TreeArrays


def _on_thresholds(trees, X, rng):
    """Points of X with one coordinate moved exactly onto a split threshold (and one float
    step either side): where the comparison decides."""
    rows = []
    for tree in trees[:5]:
        inner = np.flatnonzero(tree.left >= 0)[:20]
        for node in inner:
            for step in (-1, 0, 1):
                x = X[rng.integers(len(X))].copy()
                t = tree.threshold[node]
                x[tree.feature[node]] = t if step == 0 else np.nextafter(t, step * np.inf)
                rows.append(x)
    return np.vstack([X, rows])


@pytest.mark.parametrize("strict", [False, True])
def test_leaves_equal_each_trees_own_traversal(strict):
    """Oracle: TreeArrays.apply, tree by tree (float32 sklearn trees, also compared
    strictly as XGBoost does)."""
    X, y = load_diabetes(return_X_y=True)
    forest = RandomForestRegressor(n_estimators=7, max_depth=6, random_state=0).fit(X, y)
    trees = [TreeArrays.from_sklearn(est) for est in forest.estimators_]
    for tree in trees:
        tree.strict = strict
    Z = _on_thresholds(trees, X, np.random.default_rng(0))
    got = ForestArrays(trees).leaves(Z)
    want = np.column_stack([tree.apply(Z) for tree in trees])
    np.testing.assert_array_equal(got, want)
    if not strict:  # and scikit-learn's own apply
        np.testing.assert_array_equal(got, forest.apply(Z.astype(np.float32)))


def test_hist_gradient_boosting_leaves_give_the_models_raw_score():
    """Oracle: baseline + the leaf values of the leaves found = the model's own raw score
    (``_raw_predict``), bit for bit up to summation order, at thresholds too."""
    X, y = load_diabetes(return_X_y=True)
    model = HistGradientBoostingRegressor(max_iter=40, random_state=0).fit(X, y)
    read = read_hist_gradient_boosting(model)
    Z = _on_thresholds(read.trees, X, np.random.default_rng(1))
    leaves = read.leaves(Z)
    assert leaves.shape == (len(Z), len(read.trees))
    score = read.baseline[0] + sum(values[leaves[:, t]]
                                   for t, values in enumerate(read.leaf_values))
    np.testing.assert_allclose(score, model._raw_predict(Z).ravel(), rtol=1e-12, atol=1e-9)


def test_mixed_comparisons_and_empty_inputs():
    stump = TreeArrays(np.array([1, -1, -1]), np.array([2, -1, -1]), np.array([0, -2, -2]),
                       np.array([0.5, -2.0, -2.0]), float32=False)
    strict = TreeArrays(stump.left, stump.right, stump.feature, stump.threshold,
                        float32=False, strict=True)
    with pytest.raises(ValueError, match="compare the same way"):
        ForestArrays([stump, strict])
    assert ForestArrays([stump]).leaves(np.zeros((0, 1))).shape == (0, 1)
    assert ForestArrays([]).leaves(np.zeros((3, 1))).shape == (3, 0)
