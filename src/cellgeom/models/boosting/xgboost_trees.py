"""XGBoost models (``XGBClassifier``, ``XGBRegressor``, ``Booster``) as exact box partitions.

Route
-----
Trees are read from XGBoost's own JSON model (``Booster.save_raw("json")``), not through
treelite nor ``trees_to_dataframe``: the JSON model is the serialisation XGBoost itself
loads, so it is the model it predicts with, and it needs no further dependency. Its
per-tree arrays (``left_children``, ``right_children``, ``split_indices``,
``split_conditions``, ``split_type``) are indexed by node id, the id that
``predict(..., pred_leaf=True)`` returns, so they are taken as they are, vectorised,
without re-numbering; ``iteration_indptr`` gives the trees of each boosting round.
``trees_to_dataframe`` parses the text dump line by line and cannot dump vector-leaf
(multi-target) trees. Thresholds are written as the shortest decimal that reads back
as the stored float32, and are read back to that float32 with correct rounding
(:func:`_float32_of`).

Split semantics
---------------
XGBoost stores features as float32 and a split ``(f, t)`` sends a point left iff
``float32(x_f) < t`` (strict; ``t`` a float32): ``TreeArrays(float32=True,
strict=True)``. A point exactly on a threshold goes right.

Trees used: those the model predicts with. A raw ``Booster`` predicts with all its
trees (``iteration_range=(0, 0)``), also after early stopping; the scikit-learn
wrappers stop at ``best_iteration`` when they have one, as their ``predict`` and
``apply`` do. ``pred_leaf`` has one column per tree in model order: round by round,
within a round output group by group (class, or target), ``num_parallel_tree`` trees
per group (``XGBRF*``); with ``multi_strategy="multi_output_tree"`` one vector-leaf
tree per round. ``leaves(X)`` is XGBoost's own ``predict(..., pred_leaf=True)`` over
those trees, with the wrapper's ``missing`` and the booster's feature names: what the
wrapper's ``apply`` computes.

Outputs per cell, at its Chebyshev centre, by XGBoost: ``margin`` (``margin_<k>`` per
class or target) is ``output_margin=True``, which includes ``base_score``; scikit-learn
wrappers add ``prediction`` (``predict``: class label or value) and, for classifiers,
``proba_<k>`` (``predict_proba``). A raw ``Booster`` has no classes: ``prediction`` is
its objective's transformed output (``proba_<k>`` for ``multi:softprob``, and
``proba_0``/``proba_1`` besides ``prediction`` for ``binary:logistic``).

Missing values
--------------
Each split also has a default direction (``default_left``) taken by a missing value.
The domain box holds no NaN and ``check_data`` rejects NaN in data, so default
directions never decide a cell. A wrapper built with a non-NaN ``missing`` (say
``missing=-999``) treats every value equal to it as missing; it is passed to XGBoost
as the wrapper's own ``predict`` does, and the partition is refused when the domain box
contains that value (points there would not follow the thresholds).

Refused (``ValueError`` naming the problem): unfitted models or boosters without trees
(scikit-learn's ``NotFittedError``), wrong feature counts, categorical features
(named: a categorical split sends a set of category codes left, not a half-line),
and linear boosters (``booster="gblinear"``, whose output is linear in ``x``): XGBoost's
only model whose pieces are not constant, since its tree leaves are constants (a
constant vector for vector-leaf trees), which the JSON model holds as values.
"""
from __future__ import annotations

import json
from decimal import Decimal

import numpy as np
from sklearn.exceptions import NotFittedError

from ..registry import register_adapter
from ..trees import TreeArrays
from . import BoostedModel, add_columns, partition_boosted

__all__ = ["read_xgboost"]


def _booster_of(model):
    """``(booster, wrapper)``: the fitted ``xgboost.Booster`` and the scikit-learn
    wrapper (None for a raw booster), refusing unfitted models."""
    import xgboost

    name = type(model).__name__
    if isinstance(model, xgboost.Booster):
        booster, wrapper = model, None
    else:
        try:
            booster = model.get_booster()
        except (NotFittedError, AttributeError, xgboost.core.XGBoostError):
            booster = None
        wrapper = model
    try:
        # an untrained Booster() raises here ("0 feature is supplied")
        rounds = -1 if booster is None else booster.num_boosted_rounds()
    except xgboost.core.XGBoostError:
        rounds = -1
    if rounds < 0:
        raise NotFittedError(f"This {name} instance is not fitted yet: call fit (or "
                             "xgboost.train / load_model) before cellgeom.partition.")
    if rounds == 0:
        raise NotFittedError(f"This {name} has no trees (trained for 0 rounds).")
    return booster, wrapper


def _rounds_used(booster, wrapper) -> int:
    """Boosting rounds the model predicts with (see the module docstring)."""
    if wrapper is not None:
        try:
            return int(wrapper.best_iteration) + 1
        except AttributeError:  # no early stopping
            pass
    return booster.num_boosted_rounds()


def _feature_label(booster, f: int) -> str:
    names = booster.feature_names
    return f"{names[f]!r} (index {f})" if names else f"f{f} (index {f})"


def _float32_of(decimals: list) -> np.ndarray:
    """The float32 nearest to each decimal (strings from the JSON), correctly rounded.

    XGBoost writes each float32 as its shortest round-trip decimal and reads it straight
    into float32. Parsing to float64 first and then to float32 rounds twice, which can
    only differ when the float64 lands exactly on a midpoint between two float32s; those
    few are decided from the decimal itself.
    """
    d = np.asarray(decimals, dtype=np.float64)  # correctly rounded to float64
    t = d.astype(np.float32)
    other = np.nextafter(t, np.where(d > t, np.float32(np.inf), np.float32(-np.inf)))
    midpoint = (d != t) & (d == (t.astype(np.float64) + other.astype(np.float64)) / 2)
    for i in np.flatnonzero(midpoint):
        exact, mid = Decimal(str(decimals[i])), Decimal(float(d[i]))
        if exact != mid and (exact > mid) == (other[i] > t[i]):
            t[i] = other[i]  # the decimal lies on the other float32's side of the midpoint
    return t


def _read_tree(tree: dict) -> TreeArrays:
    """One JSON tree as :class:`TreeArrays` (node ids as XGBoost numbers them)."""
    left = np.asarray(tree["left_children"], dtype=np.int64)
    right = np.asarray(tree["right_children"], dtype=np.int64)
    leaf = left < 0  # pruned (deleted) nodes are also marked -1; they are unreachable
    feature = np.where(leaf, -2, np.asarray(tree["split_indices"], dtype=np.int64))
    thr = np.where(leaf, np.nan, _float32_of(tree["split_conditions"]).astype(np.float64))
    return TreeArrays(np.where(leaf, -1, left), np.where(leaf, -1, right), feature, thr,
                      float32=True, strict=True)


def _check_categorical(booster, trees: list[dict], name: str) -> None:
    """Refuse categorical splits (and features declared categorical), naming them."""
    split_on = sorted({int(f) for tree in trees
                       for f, kind in zip(tree["split_indices"], tree["split_type"])
                       if kind != 0})
    if split_on:
        labels = ", ".join(_feature_label(booster, f) for f in split_on)
        raise ValueError(f"{name} has categorical splits on feature {labels}: a categorical "
                         "split sends a set of category codes left, not a half-line, so its "
                         "leaves are not boxes. Refit without enable_categorical (e.g. "
                         "one-hot encoded) to partition it.")
    declared = [f for f, kind in enumerate(booster.feature_types or []) if kind == "c"]
    if declared:
        labels = ", ".join(_feature_label(booster, f) for f in declared)
        raise ValueError(f"{name} declares categorical feature {labels} (enable_categorical): "
                         "XGBoost reads it as category codes, not numbers, so cells in "
                         "that feature would not be boxes.")


def read_xgboost(model) -> BoostedModel:
    """Read a fitted XGBoost model into a :class:`~cellgeom.models.boosting.BoostedModel`.

    Parameters
    ----------
    model : xgboost.XGBClassifier, xgboost.XGBRegressor or xgboost.Booster
        Fitted, with a tree booster (``gbtree`` or ``dart``). Subclasses
        (``XGBRFClassifier``, ``XGBRFRegressor``) are read the same way.

    Returns
    -------
    BoostedModel
        Trees used for prediction (see the module docstring), ``leaves`` from XGBoost's
        own ``pred_leaf`` and ``outputs`` from its own predictions.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        The model is not fitted, or has no trees.
    ValueError
        A linear booster (non-constant output), a categorical split or feature.
    """
    import xgboost

    name = type(model).__name__
    booster, wrapper = _booster_of(model)
    # floats kept as their decimal strings, for exact float32 thresholds (_float32_of)
    learner = json.loads(bytes(booster.save_raw("json")), parse_float=str)["learner"]
    gbm = learner["gradient_booster"]
    if gbm["name"] == "gblinear":
        raise ValueError(f"{name} uses a linear booster (booster='gblinear'): its output is "
                         "a linear function of x, not constant on boxes; use "
                         "booster='gbtree'.")
    if gbm["name"] not in ("gbtree", "dart"):
        raise ValueError(f"{name} uses booster {gbm['name']!r}; only tree boosters "
                         "('gbtree', 'dart') are read as boxes.")
    # dart nests the tree model one level deeper; its tree weights change outputs only
    forest = gbm["model"] if gbm["name"] == "gbtree" else gbm["gbtree"]["model"]
    rounds = _rounds_used(booster, wrapper)
    raw_trees = forest["trees"][: forest["iteration_indptr"][rounds]]
    _check_categorical(booster, raw_trees, name)
    trees = [_read_tree(tree) for tree in raw_trees]
    n_features = int(wrapper.n_features_in_ if wrapper is not None else booster.num_features())
    objective = learner["objective"]["name"]
    missing = np.nan if wrapper is None or wrapper.missing is None else wrapper.missing

    def matrix(X: np.ndarray):
        # the booster's feature names (XGBoost refuses an unnamed matrix for a model fitted
        # on a DataFrame) and the wrapper's missing value, as its own apply does
        return xgboost.DMatrix(X, missing=missing, feature_names=booster.feature_names)

    def leaves(X: np.ndarray) -> np.ndarray:
        ids = booster.predict(matrix(X), pred_leaf=True, iteration_range=(0, rounds))
        return np.asarray(ids).reshape(len(X), -1)

    if wrapper is not None:
        def outputs(X: np.ndarray) -> dict[str, np.ndarray]:
            out: dict[str, np.ndarray] = {}
            add_columns(out, "margin", wrapper.predict(X, output_margin=True))
            add_columns(out, "prediction", wrapper.predict(X))
            if hasattr(wrapper, "predict_proba"):
                add_columns(out, "proba", wrapper.predict_proba(X), always_split=True)
            return out
    else:
        def outputs(X: np.ndarray) -> dict[str, np.ndarray]:
            out: dict[str, np.ndarray] = {}
            dm = matrix(X)
            add_columns(out, "margin", booster.predict(dm, output_margin=True))
            value = np.asarray(booster.predict(dm))
            if objective == "multi:softprob":
                add_columns(out, "proba", value, always_split=True)
            else:
                add_columns(out, "prediction", value)
            if objective == "binary:logistic":
                out["proba_0"], out["proba_1"] = 1.0 - value, value
            return out

    return BoostedModel(name=name, n_features=n_features, trees=trees, leaves=leaves,
                        outputs=outputs, check_domain=_missing_check(missing, name))


def _missing_check(missing, name: str):
    """``check_domain`` refusing a box that holds the wrapper's non-NaN ``missing``."""
    if missing is None or np.isnan(missing):
        return None

    def check(box) -> None:
        inside = np.flatnonzero((box.lo <= missing) & (missing <= box.hi))
        if inside.size:
            raise ValueError(f"{name} has missing={missing!r}, which lies inside the domain "
                             f"box on feature {int(inside[0])}: XGBoost sends every value "
                             "equal to it along the default direction, not by the thresholds."
                             " Use a domain box that excludes it, or missing=np.nan.")

    return check


@register_adapter("xgboost.core.Booster", name="xgboost.Booster")  # LightGBM has a Booster too
@register_adapter("xgboost.sklearn.XGBRegressor")
@register_adapter("xgboost.sklearn.XGBClassifier")
def _partition_xgboost(model, *, domain, data, cells, tol=None, n_jobs=None, executor=None,
                       progress=True, max_cells: int = 200_000,
                       _affine=None, _model=None, _transform=None):
    """Cells of an XGBoost model (see the module docstring and :func:`partition_boosted`)."""
    return partition_boosted(model, read_xgboost(model), domain=domain, data=data, cells=cells,
                             progress=progress, tol=tol, max_cells=max_cells,
                             reader=read_xgboost, pipeline=None if _affine is None else
                             (_model, _affine, _transform))
