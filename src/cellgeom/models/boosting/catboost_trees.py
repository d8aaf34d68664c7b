"""CatBoost models (``CatBoostClassifier``, ``CatBoostRegressor``, ``CatBoost``) as box partitions.

Route
-----
Trees are read from CatBoost's own JSON export (``save_model(format="json")``,
written to a temporary directory), not through treelite: the export is CatBoost's
own description of the applied model, it carries the borders as the float32
values the model compares with (printed exactly as doubles), and it needs no
further dependency. ``get_borders`` / ``_get_tree_splits`` would not do: the
latter prints borders rounded to six digits.

Split semantics
---------------
A split ``(feature, border)`` sets the bit ``x > border`` with ``x`` cast to float32
(CatBoost stores features and borders as float), so a point exactly on a border
takes the 0 side: ``TreeArrays(strict=False, float32=True)``, left = bit 0.

- Symmetric (oblivious) trees, the default ``grow_policy="SymmetricTree"``: every
  level splits on one pair; CatBoost's leaf index is ``sum_i bit_i 2**i`` over the
  JSON ``splits`` list, so ``splits[0]`` is the least significant bit. Each tree is
  expanded into a complete binary tree in heap order whose root splits on the most
  significant bit, so leaf index ``l`` is node ``2**depth - 1 + l``.
- ``grow_policy="Depthwise"`` / ``"Lossguide"`` (non-symmetric trees): the JSON
  nests ``left`` (bit 0) / ``right`` (bit 1) nodes; CatBoost numbers their leaves in
  its internal node order, which the JSON does not show. That order is read from
  the model's step nodes and node-to-leaf table (walked together with the JSON,
  which lists the same nodes in the same pre-order; any disagreement is an error).

Either way ``leaves(X)`` is CatBoost's own ``calc_leaf_indexes``, mapped to node ids.

Missing values
--------------
The domain box holds no NaN, so ``nan_mode`` never decides a cell. For the record:
with ``nan_mode="Min"`` (default) CatBoost treats NaN as below every border (bit 0,
the left/<= side of every split, ``nan_value_treatment`` "AsFalse"), with ``"Max"``
as above every border (bit 1, "AsTrue"; such models carry a border at float32's
largest value, which lies outside any finite domain and cuts nothing), and with
``"Forbidden"`` a NaN is an error.

Refused (``ValueError`` naming the problem): unfitted models (scikit-learn's
``NotFittedError``), wrong feature counts, categorical features (named; their
one-hot and CTR splits are not thresholds on the input), text and embedding
features, and any leaf that is not a constant (or a constant per class).
"""
from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from ..registry import register_adapter
from ..trees import TreeArrays
from . import BoostedModel, add_columns, partition_boosted

__all__ = ["read_catboost"]

#: loss functions whose ``Probability`` prediction is the transformed output
_CLASSIFICATION_LOSSES = {"Logloss", "CrossEntropy", "MultiClass", "MultiClassOneVsAll",
                          "MultiLogloss", "MultiCrossEntropy"}


def _export_json(model) -> dict:
    """CatBoost's own JSON export of the model, through a temporary file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.json")
        model.save_model(path, format="json")
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)


def _check_fitted(model) -> None:
    from sklearn.exceptions import NotFittedError

    if not model.is_fitted():
        raise NotFittedError(f"This {type(model).__name__} instance is not fitted yet. Call "
                             "'fit' with appropriate arguments before using this estimator.")


def _check_numerical(model) -> None:
    """Refuse categorical, text and embedding features, naming them (before the export,
    which cannot even write text or embedding features as JSON)."""
    names = list(model.feature_names_)
    for kind, getter in (("categorical", "get_cat_feature_indices"),
                         ("text", "get_text_feature_indices"),
                         ("embedding", "get_embedding_feature_indices")):
        found = list(getattr(model, getter)()) if hasattr(model, getter) else []
        if found:
            labels = ", ".join(f"{names[i]!r} (column {i})" for i in found)
            raise ValueError(f"{type(model).__name__} has {kind} feature(s) {labels}: cellgeom "
                             "supports only numerical features, whose splits are thresholds "
                             "on the input.")


def _float_columns(model, dump: dict) -> list[int]:
    """Input column of each float feature (``flat_feature_index``: the column in ``X``,
    whereas ``feature_index`` counts float features only)."""
    features = dump.get("features_info", {})
    for kind in ("categorical", "text", "embedding"):
        if features.get(f"{kind}_features"):
            raise ValueError(f"{type(model).__name__} has {kind} features: cellgeom supports "
                             "only numerical features, whose splits are thresholds on the input.")
    return [int(f["flat_feature_index"]) for f in features.get("float_features", [])]


def _split(split: dict, columns: list[int], name: str) -> tuple[int, float]:
    """Input column and border of one JSON split; only float-feature splits are boxes."""
    kind = split.get("split_type")
    if kind != "FloatFeature":
        raise ValueError(f"{name} has a split of type {kind!r} (not a numerical threshold); "
                         "categorical, text and embedding splits are not supported.")
    return columns[int(split["float_feature_index"])], float(split["border"])


def _check_constant(values, n_values: int, name: str) -> None:
    arr = np.asarray(values, dtype=object).ravel()
    if arr.size != n_values or not all(isinstance(v, (int, float)) for v in arr):
        raise ValueError(f"{name} has a non-constant leaf ({str(values)[:80]}): cellgeom needs "
                         "leaves holding one constant (per output dimension).")


def _oblivious_tree(tree: dict, columns: list[int], dim: int, name: str):
    """A symmetric tree as a complete binary tree; returns (TreeArrays, node of each leaf)."""
    splits = [_split(s, columns, name) for s in tree["splits"]]
    depth = len(splits)
    _check_constant(tree["leaf_values"], dim * 2 ** depth, name)
    n_inner, n_nodes = 2 ** depth - 1, 2 ** (depth + 1) - 1
    node = np.arange(n_nodes)
    inner = node < n_inner
    # heap order: node k's children are 2k+1 (bit 0) and 2k+2 (bit 1); level l of the
    # binary tree splits on splits[depth-1-l], so the root holds the most significant bit
    level = np.repeat(np.arange(depth + 1), 2 ** np.arange(depth + 1))
    feature = np.full(n_nodes, -2, dtype=np.int64)
    threshold = np.full(n_nodes, -2.0)
    for lev in range(depth):
        col, border = splits[depth - 1 - lev]
        feature[level == lev] = col
        threshold[level == lev] = border
    arrays = TreeArrays(np.where(inner, 2 * node + 1, -1), np.where(inner, 2 * node + 2, -1),
                        feature, threshold, float32=True, strict=False)
    return arrays, n_inner + np.arange(2 ** depth)


def _nonsymmetric_tree(model, t: int, tree: dict, columns: list[int], dim: int, name: str):
    """A Depthwise/Lossguide tree; CatBoost's leaf ids from its step nodes and leaf table."""
    steps = model._get_tree_step_nodes(t)
    to_leaf = model._get_tree_node_to_leaf(t)
    printed = model._get_tree_splits(t, None)  # "feature, bin=border" (rounded) per node
    left, right, feature, threshold, leaf_node = [], [], [], [], {}

    def new_node() -> int:
        for arr, value in ((left, -1), (right, -1), (feature, -2), (threshold, -2.0)):
            arr.append(value)
        return len(left) - 1

    def mismatch() -> ValueError:
        return ValueError(f"{name}: tree {t}'s JSON export and its internal nodes disagree; "
                          "cannot map CatBoost's leaf ids to the tree.")

    def walk(node: dict, i: int) -> int:
        me = new_node()
        if "split" not in node:  # a terminal internal node
            if tuple(steps[i]) != (0, 0):
                raise mismatch()
            _check_constant(node["value"], dim, name)
            leaf_node[int(to_leaf[i])] = me
            return me
        feature[me], threshold[me] = _split(node["split"], columns, name)
        # guard the pre-order correspondence: node i must print the same split
        col, _, border = printed[i].partition(", bin=")
        if int(col) != feature[me] or abs(float(border) - threshold[me]) > 1e-5 * max(
                1.0, abs(threshold[me])):
            raise mismatch()
        for side, diff, out in (("left", steps[i][0], left), ("right", steps[i][1], right)):
            child = node[side]
            if diff == 0:  # this side is a leaf stored on node i itself
                if "split" in child:
                    raise mismatch()
                _check_constant(child["value"], dim, name)
                out[me] = new_node()
                leaf_node[int(to_leaf[i])] = out[me]
            else:
                out[me] = walk(child, i + int(diff))
        return me

    walk(tree, 0)
    node_of = np.full(max(leaf_node) + 1, -1, dtype=np.int64)
    node_of[list(leaf_node)] = list(leaf_node.values())
    arrays = TreeArrays(np.asarray(left, np.int64), np.asarray(right, np.int64),
                        np.asarray(feature, np.int64), np.asarray(threshold, float),
                        float32=True, strict=False)
    return arrays, node_of


def _grow_policy(model) -> str:
    try:
        return str(model.get_all_params().get("grow_policy", "SymmetricTree"))
    except Exception:  # a model loaded from a file may not carry its training parameters
        return "non-symmetric"


def _is_classifier(model) -> bool:
    from catboost import CatBoostClassifier

    if isinstance(model, CatBoostClassifier):
        return True
    loss = str(model.get_all_params().get("loss_function", "")).split(":")[0]
    return loss in _CLASSIFICATION_LOSSES


def read_catboost(model) -> BoostedModel:
    """Read a fitted CatBoost model into a :class:`~cellgeom.models.boosting.BoostedModel`.

    Parameters
    ----------
    model : catboost.CatBoost
        A fitted ``CatBoostClassifier``, ``CatBoostRegressor`` or ``CatBoost``.

    Returns
    -------
    BoostedModel
        One :class:`TreeArrays` per tree (per boosting round: CatBoost's multi-class
        trees hold a vector per leaf), ``leaves`` from ``calc_leaf_indexes`` and
        ``outputs`` giving ``margin`` (``margin_<k>``; ``RawFormulaVal``) and
        ``prediction`` (the class label for classifiers, ``prediction_<j>`` for
        multi-target regression) and, for classifiers, ``proba_<k>``.

    Raises
    ------
    ValueError
        Unfitted model (``NotFittedError``), categorical, text or embedding features,
        or a leaf that is not constant.
    """
    _check_fitted(model)
    name = type(model).__name__
    _check_numerical(model)
    dump = _export_json(model)
    columns = _float_columns(model, dump)
    dim = len(dump["scale_and_bias"][1])
    trees, node_of = [], []
    if "oblivious_trees" in dump:
        for tree in dump["oblivious_trees"]:
            arrays, nodes = _oblivious_tree(tree, columns, dim, name)
            trees.append(arrays)
            node_of.append(nodes)
    else:
        if not hasattr(model, "_get_tree_step_nodes"):
            raise ValueError(f"{name} has non-symmetric trees (grow_policy "
                             f"{_grow_policy(model)!r}) and this catboost version does not "
                             "expose their leaf numbering; use grow_policy='SymmetricTree'.")
        for t, tree in enumerate(dump["trees"]):
            arrays, nodes = _nonsymmetric_tree(model, t, tree, columns, dim, name)
            trees.append(arrays)
            node_of.append(nodes)
    # one flat table: CatBoost leaf l of tree t is node table[base[t] + l]
    base = np.concatenate([[0], np.cumsum([len(n) for n in node_of])[:-1]]).astype(np.int64)
    table = np.concatenate(node_of) if node_of else np.zeros(0, np.int64)

    def leaves(X: np.ndarray) -> np.ndarray:
        ids = np.asarray(model.calc_leaf_indexes(np.asarray(X, dtype=float)), dtype=np.int64)
        return table[ids.reshape(len(X), len(trees)) + base[None, :]]

    classifier = _is_classifier(model)

    def outputs(X: np.ndarray) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        add_columns(out, "margin", model.predict(X, prediction_type="RawFormulaVal"))
        if not classifier or hasattr(model, "predict_proba"):
            # regression output, or the class label (CatBoost's base class predicts raw)
            add_columns(out, "prediction", model.predict(X))
        if classifier:
            proba = np.asarray(model.predict_proba(X) if hasattr(model, "predict_proba")
                               else model.predict(X, prediction_type="Probability"), float)
            add_columns(out, "proba", proba, always_split=True)
        return out

    return BoostedModel(name=name, n_features=len(model.feature_names_), trees=trees,
                        leaves=leaves, outputs=outputs)


@register_adapter("catboost.core.CatBoost")
@register_adapter("catboost.core.CatBoostRegressor")
@register_adapter("catboost.core.CatBoostClassifier")
def _partition_catboost(model, *, domain, data, cells, tol=None, n_jobs=None, executor=None,
                        progress=True, max_cells: int = 200_000,
                        _affine=None, _model=None, _transform=None):
    """Cells of a CatBoost model (see the module docstring and :func:`partition_boosted`)."""
    return partition_boosted(model, read_catboost(model), domain=domain, data=data, cells=cells,
                             progress=progress, tol=tol, max_cells=max_cells,
                             reader=read_catboost, pipeline=None if _affine is None else
                             (_model, _affine, _transform))
