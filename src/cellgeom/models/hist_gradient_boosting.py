"""scikit-learn's ``HistGradientBoostingClassifier`` / ``HistGradientBoostingRegressor`` as
exact box partitions.

Route
-----
The trees are the model's own predictors, ``model._predictors``: one list per boosting
iteration holding one ``TreePredictor`` per tree of that iteration (one for regressors
and binary classifiers, one per class for multi-class ones; tree ``i * K + k`` adds to
class ``k``'s raw score). Each predictor's ``nodes`` structured array gives node ``j``'s
``left`` / ``right`` children, ``feature_idx``, ``num_threshold`` (in feature units) and
``value`` (at leaves), read into :class:`~cellgeom.models.trees.TreeArrays` with the
same node ids. The raw score is ``_baseline_prediction`` plus the sum of the leaf values,
in float64; ``decision_function`` is that raw score, ``predict`` its link's inverse
(the regressors' loss) or the arg-max class.

Split semantics
---------------
scikit-learn's ``_predict_from_raw_data`` (``_predictor.pyx``) takes the input as float64
(``X_DTYPE``) and sends a finite ``x`` left iff ``x <= num_threshold``, in double
precision, so the trees are ``TreeArrays(float32=False, strict=False)`` and a box owns its
upper faces (``lo < x <= hi``, as LightGBM's). A "split on NaN" (every finite value left,
only NaN right) has ``num_threshold = inf``: its right child holds no finite point and
gives no cell. Cells are keyed, and ``locate`` works, by the same comparisons: every point
walked down every tree at once (:class:`~cellgeom.models.forest_apply.ForestArrays`),
checked against scikit-learn's own predictions in the tests.

Missing values
--------------
NaN goes to the side ``missing_go_to_left`` names; the domain box is finite, so that rule
never decides a cell, and ``data`` or ``locate`` input holding NaN is refused (as for
every adapter).

Refused
-------
Categorical features (``categorical_features``, or pandas categorical columns): their
splits send a set of categories left, not a threshold, and the model reorders its
columns (categorical ones first) before its trees see them, so ``feature_idx`` no longer
names the input column. Unfitted models raise scikit-learn's ``NotFittedError``.

Pipelines of per-feature scalings (``StandardScaler``, ``MinMaxScaler``) in front of the
model are pulled back as for the other tree models: thresholds ``x = (t - c) / s``.

Outputs per cell (at its Chebyshev centre, by the model's own methods)
----------------------------------------------------------------------
``margin`` (``margin_<k>`` per class of a multi-class model): the raw score,
``decision_function`` for classifiers; ``prediction`` (``predict``); classifiers also
``proba_<k>`` (``predict_proba``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core import BoxPartition, vector_columns
from ._sklearn import check_fitted_model, model_name, named_input, prepare_inputs
from .boosting import BoostedModel, add_columns
from .ensembles import partition_trees
from .forest_apply import ForestArrays
from .pipeline import diagonal_affine
from .registry import register_adapter
from .trees import TreeArrays

__all__ = ["HistGradientBoostingLeaves", "HistGradientBoostingTrees",
           "read_hist_gradient_boosting"]


@dataclass
class HistGradientBoostingTrees(BoostedModel):
    """A :class:`~cellgeom.models.boosting.BoostedModel` read from a HistGradientBoosting
    model, with what its nodes say besides boxes.

    Attributes
    ----------
    leaf_values : list of arrays
        Per tree, the additive value of each leaf at its node id (0 at internal nodes).
    n_class : int
        Trees per iteration (``n_trees_per_iteration_``): the raw score of class ``k`` is
        ``baseline[k]`` plus the leaf values of the trees ``t % n_class == k``.
    baseline : array of shape (n_class,)
        The model's ``_baseline_prediction``, the raw score before any tree.
    """

    leaf_values: list[np.ndarray] = field(default_factory=list)
    n_class: int = 1
    baseline: np.ndarray = field(default_factory=lambda: np.zeros(1))


def _feature_label(model, f: int) -> str:
    names = getattr(model, "feature_names_in_", None)
    return f"feature {str(names[f])!r} (index {f})" if names is not None else f"feature {f}"


def _check_numerical(model) -> None:
    """Refuse a model fitted with categorical features, naming them."""
    name = model_name(model)
    is_cat = getattr(model, "is_categorical_", None)
    if is_cat is not None and np.any(is_cat):
        features = ", ".join(_feature_label(model, int(f)) for f in np.flatnonzero(is_cat))
        raise ValueError(
            f"{name} was fitted with categorical features ({features}): a categorical split "
            "sends a set of categories left, not a threshold, and the model reorders its "
            "columns before its trees see them, so its cells are not boxes over the input "
            "features. Fit it with categorical_features=None (every feature numerical).")


def _read_tree(nodes: np.ndarray, t: int, model) -> tuple[TreeArrays, np.ndarray]:
    """One predictor's ``nodes`` as :class:`TreeArrays` (same node ids) and leaf values."""
    leaf = nodes["is_leaf"].astype(bool)
    categorical = np.flatnonzero(nodes["is_categorical"].astype(bool) & ~leaf)
    if categorical.size:
        f = int(nodes["feature_idx"][categorical[0]])
        raise ValueError(
            f"{model_name(model)} has a categorical split on {_feature_label(model, f)} in "
            f"tree {t}: it does not map to a threshold, so its cells are not boxes. Fit it "
            "with categorical_features=None.")
    # the node fields are unsigned: cast before writing the -1 / -2 leaf markers
    tree = TreeArrays(np.where(leaf, -1, nodes["left"].astype(np.int64)),
                      np.where(leaf, -1, nodes["right"].astype(np.int64)),
                      np.where(leaf, -2, nodes["feature_idx"].astype(np.int64)),
                      np.where(leaf, -2.0, nodes["num_threshold"].astype(np.float64)),
                      float32=False, strict=False)
    return tree, np.where(leaf, nodes["value"], 0.0).astype(np.float64)


def read_hist_gradient_boosting(model) -> HistGradientBoostingTrees:
    """Read a fitted HistGradientBoosting model into a :class:`BoostedModel`.

    Parameters
    ----------
    model : HistGradientBoostingClassifier or HistGradientBoostingRegressor
        Fitted, all features numerical.

    Returns
    -------
    HistGradientBoostingTrees
        Its trees (all iterations, all classes), the library's leaf of every point in
        every tree (``leaves``), the outputs stored per cell (``outputs``), the leaf
        values and the baseline.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        For an unfitted model.
    ValueError
        For a model fitted with categorical features.
    """
    check_fitted_model(model)
    _check_numerical(model)
    name = model_name(model)
    trees, values = [], []
    for per_iteration in model._predictors:
        for predictor in per_iteration:
            tree, value = _read_tree(predictor.nodes, len(trees), model)
            trees.append(tree)
            values.append(value)
    forest = ForestArrays(trees)  # every tree in one compiled pass, not a predict per tree
    is_classifier = hasattr(model, "classes_")

    def leaves(X: np.ndarray) -> np.ndarray:
        return forest.leaves(X)  # X_DTYPE: the model compares in double, as the trees do

    def outputs(X: np.ndarray) -> dict[str, np.ndarray]:
        Xn = named_input(model, np.ascontiguousarray(X, dtype=np.float64))
        cols: dict[str, np.ndarray] = {}
        add_columns(cols, "margin", model._raw_predict(Xn))  # = decision_function
        prediction = np.asarray(model.predict(Xn))
        cols["prediction"] = prediction if prediction.dtype.kind in "biuf" else \
            prediction.astype(object)
        if is_classifier:
            add_columns(cols, "proba", model.predict_proba(Xn), always_split=True)
        return cols

    return HistGradientBoostingTrees(
        name=name, n_features=int(model.n_features_in_), trees=trees, leaves=leaves,
        outputs=outputs, leaf_values=values, n_class=int(model.n_trees_per_iteration_),
        baseline=np.asarray(model._baseline_prediction, dtype=np.float64).ravel())


class HistGradientBoostingLeaves:
    """``leaves_of`` of a HistGradientBoosting partition: the library's leaf of each point
    in each tree, after the pipeline's ``transform`` if any.

    Pickles as ``(model, transform)``; the trees are read again on first use.
    """

    def __init__(self, model, transform=None, trees: HistGradientBoostingTrees | None = None):
        self.model = model
        self.transform = transform
        self._trees = trees

    def __getstate__(self):
        return {"model": self.model, "transform": self.transform, "_trees": None}

    def __call__(self, X) -> np.ndarray:
        if self._trees is None:
            self._trees = read_hist_gradient_boosting(self.model)
        Z = X if self.transform is None else self.transform(X)
        return self._trees.leaves(np.asarray(Z, dtype=np.float64))


def _partition_hist_gradient_boosting(model, *, domain, data, cells, tol=None, n_jobs=None,
                                      executor=None, progress=True, max_cells: int = 200_000,
                                      _affine=None, _model=None,
                                      _transform=None) -> BoxPartition:
    """Cells of a HistGradientBoosting model (see the module docstring)."""
    record = model if _model is None else _model
    trees = read_hist_gradient_boosting(model)
    data, domain, n_outside = prepare_inputs(record, domain, data, cells)
    scale, shift = diagonal_affine(_affine, trees.name)
    leaves_of = HistGradientBoostingLeaves(model, _transform, trees)
    part = partition_trees(trees.trees, leaves_of, domain=domain, data=data, cells=cells,
                           record=record, n_outside=n_outside, progress=progress, tol=tol,
                           max_cells=max_cells, scale=scale, shift=shift, name=trees.name,
                           transform=_transform)
    centers = part.cells[vector_columns("center", domain.dim)].to_numpy()
    if len(centers):
        Z = centers if _transform is None else np.asarray(_transform(centers), dtype=float)
        for column, values in trees.outputs(Z).items():
            part.cells[column] = np.asarray(values)
    return part


for _name in ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor"):
    register_adapter("sklearn.ensemble._hist_gradient_boosting.gradient_boosting." + _name)(
        _partition_hist_gradient_boosting)
