"""LightGBM models (``LGBMClassifier``, ``LGBMRegressor``, ``Booster``) as exact box partitions.

Route
-----
The trees are read from LightGBM's own dump, ``Booster.dump_model()``: a JSON dict
whose ``tree_info`` holds one nested ``tree_structure`` per tree, internal nodes
numbered by ``split_index`` and leaves by ``leaf_index``, the same leaf numbering as
``predict(X, pred_leaf=True)``. LightGBM writes thresholds with 17 significant
digits, so the parsed doubles are the model's own thresholds bit for bit (the
tests place points on them and on the adjacent doubles). In a tree with ``L``
leaves, internal node ``split_index = s`` is node ``s`` (the root is 0) and leaf
``leaf_index = j`` is node ``L - 1 + j``, so a point's node ids are its
``pred_leaf`` row plus a per-tree offset.

Split semantics
---------------
LightGBM reads a dense input row through a filter that drops every entry with
``|x| <= 1e-35`` (``kZeroThreshold``, the float ``1e-35f``), so such a value is
predicted as exactly 0.0. A numerical split (``decision_type`` ``"<="``) then sends
that value left iff ``x <= threshold`` in double precision. LightGBM places
thresholds at ``+-1e-35`` around zero bins, where the filter matters: a split at
``-1e-35`` sends ``x = -1e-35`` right. Every split is therefore stored with the
threshold ``t'`` for which ``x <= t'`` gives LightGBM's side for every finite
``x``: ``t' = t`` when ``|t| >= 1e-35`` (except ``t = -1e-35``), ``1e-35`` when
zero goes left and ``t`` is in ``[-1e-35, 1e-35)``, and the double below
``-1e-35`` when zero goes right and ``t`` is in ``[-1e-35, 1e-35]``. The trees are
``TreeArrays(float32=False, strict=False)``. The trees used are those the model
predicts with: ``best_iteration`` rounds after early stopping, otherwise all of
them; a multi-class model has ``num_class`` trees per round (tree ``i * K + k``
adds to class ``k``'s margin), exactly the columns of ``pred_leaf``.

Missing values
--------------
The domain box holds no NaN, so NaN routing never applies to a cell; for the
record, each split stores ``missing_type`` and ``default_left``:

- ``"None"``: NaN is replaced by 0.0 and then compared with the threshold;
- ``"NaN"``: NaN goes to the default side (``default_left``), finite values are
  compared as usual;
- ``"Zero"`` (``zero_as_missing=True``): NaN *and every finite x with
  |x| <= 1e-35* go to the default side. Where the neighbours of zero on that side
  are all on the same side of the threshold the split is still a threshold (as
  above). Otherwise (e.g. threshold 5 with zero sent right) the zero band takes
  the other side than its neighbours, the split's sides are not intervals and
  the cells are not boxes: such a split is refused when the domain meets
  ``[-1e-35, 1e-35]`` on its feature (on a domain excluding that band it is the
  plain threshold, exactly).

Refused
-------
Categorical splits (``decision_type`` ``"=="``: the left side is a union of the
unit intervals that truncate to the chosen categories, not a threshold) and
linear trees (``linear_tree=True``: leaves with coefficients are not constant on
a box), each with a ``ValueError`` naming the feature or tree.

Outputs per cell (at its Chebyshev centre, by the library's own predict)
------------------------------------------------------------------------
``margin`` (``margin_<k>`` per class): ``raw_score=True``; classifiers:
``prediction`` (the label) and ``proba_<k>`` (``predict_proba``); regressors:
``prediction``; a raw ``Booster``: ``prediction`` (``prediction_<k>`` for
multi-class), its objective's transformed output.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.exceptions import NotFittedError

from ...core import BoxPartition
from ...geometry import Box
from ..registry import register_adapter
from ..trees import TreeArrays
from . import BoostedModel, add_columns, partition_boosted

__all__ = ["ZERO_THRESHOLD", "LightGBMTrees", "effective_threshold", "read_lightgbm"]

#: LightGBM's ``kZeroThreshold`` (``const double kZeroThreshold = 1e-35f``): a float
#: literal, so the double 1.0000000180025095e-35, also the threshold LightGBM places
#: between negative values and zero.
ZERO_THRESHOLD = float(np.float32(1e-35))
_BELOW_ZERO_BAND = float(np.nextafter(-ZERO_THRESHOLD, -np.inf))


def effective_threshold(threshold: float, zero_left: bool) -> float | None:
    """The ``t'`` with ``x <= t'`` iff LightGBM sends ``x`` left, for every finite ``x``.

    LightGBM sends ``x`` left iff ``x <= threshold``, except that the band
    ``|x| <= ZERO_THRESHOLD`` goes left iff ``zero_left`` (as zero: ``0 <= threshold``;
    or as missing, to the default side). ``None`` when the left side is not an
    interval (the band's side disagrees with a value of the threshold test beside it).
    """
    if zero_left:
        # left = {x <= t} joined with the band: an interval unless a gap (t, -kZ) remains
        if np.nextafter(threshold, np.inf) < -ZERO_THRESHOLD:
            return None
        return max(threshold, ZERO_THRESHOLD)
    # left = {x <= t} without the band: an interval unless (kZ, t] remains
    if threshold > ZERO_THRESHOLD:
        return None
    return threshold if threshold < -ZERO_THRESHOLD else _BELOW_ZERO_BAND


@dataclass
class LightGBMTrees(BoostedModel):
    """A :class:`BoostedModel` read from LightGBM, with what the dump says besides boxes.

    Attributes
    ----------
    leaf_values : list of arrays
        Per tree, the additive value of each leaf at its node id (0 at internal nodes):
        a cell's margin for class k is the sum over the trees ``t % n_class == k``.
    n_class : int
        Trees per boosting round (``num_tree_per_iteration``).
    """

    leaf_values: list[np.ndarray] = field(default_factory=list)
    n_class: int = 1


def _booster_and_name(model):
    """The ``lightgbm.Booster`` behind ``model`` and the model's class name."""
    import lightgbm

    name = type(model).__name__
    if isinstance(model, lightgbm.Booster):
        booster = model
    else:
        if not getattr(model, "fitted_", False):
            raise NotFittedError(f"This {name} instance is not fitted yet. Call 'fit' with "
                                 "appropriate arguments before partitioning it.")
        booster = model.booster_
    if booster.num_trees() == 0:
        raise NotFittedError(f"This {name} has no trees: train it before partitioning it.")
    return booster, name


def _n_iterations(booster) -> int:
    """Rounds the model predicts with by default: ``best_iteration`` if set, else all."""
    best = int(booster.best_iteration or 0)
    return best if best > 0 else int(booster.current_iteration())


def _read_tree(info: dict, t: int, names: list[str], model_name: str):
    """One ``tree_info`` entry as :class:`TreeArrays`; also its leaf values and the
    ``"Zero"``-missing splits that are not thresholds, as ``(feature, threshold, zero_left)``.
    """
    n_leaves = int(info["num_leaves"])
    size = 2 * n_leaves - 1
    left = np.full(size, -1, dtype=np.int64)
    right = np.full(size, -1, dtype=np.int64)
    feature = np.full(size, -2, dtype=np.int64)
    threshold = np.full(size, -2.0)
    value = np.zeros(size)
    gaps = []

    def node_id(node: dict) -> int:
        if "split_index" in node:
            return int(node["split_index"])
        return n_leaves - 1 + int(node.get("leaf_index", 0))  # a lone root leaf has no index

    stack = [info["tree_structure"]]  # explicit stack: trees can be deeper than recursion allows
    while stack:
        node = stack.pop()
        i = node_id(node)
        if "split_index" not in node:
            if len(node.get("leaf_coeff", ())):
                raise ValueError(
                    f"{model_name} is a linear tree model (linear_tree=True): tree {t} has a "
                    "leaf with coefficients, a non-constant leaf, so its cells are not "
                    "constant boxes. Train without linear_tree.")
            value[i] = float(node["leaf_value"])
            continue
        f = int(node["split_feature"])
        if node["decision_type"] != "<=":
            raise ValueError(
                f"{model_name} has a categorical split (decision_type "
                f"{node['decision_type']!r}) on feature {names[f]!r} (index {f}) in tree {t}: "
                "it does not map to a threshold, so its cells are not boxes. Train with that "
                "feature as numerical.")
        thr = float(node["threshold"])
        zero_left = node["default_left"] if node["missing_type"] == "Zero" else thr >= 0
        exact = effective_threshold(thr, bool(zero_left))
        if exact is None:  # only a "Zero" split: exact on domains without the zero band
            gaps.append((f, thr, bool(zero_left)))
        else:
            thr = exact
        left[i], right[i] = node_id(node["left_child"]), node_id(node["right_child"])
        feature[i], threshold[i] = f, thr
        stack += [node["left_child"], node["right_child"]]
    return (TreeArrays(left, right, feature, threshold, float32=False, strict=False),
            value, gaps)


def _check_zero_gaps(gaps, domain: Box | None, names: list[str], model_name: str) -> None:
    """Refuse a ``"Zero"``-missing split that is not a threshold where the domain meets zero."""
    for t, f, thr, zero_left in gaps:
        if domain is None or (domain.lo[f] <= ZERO_THRESHOLD and domain.hi[f] >= -ZERO_THRESHOLD):
            side = "left" if zero_left else "right"
            raise ValueError(
                f"{model_name} treats zero as missing (missing_type 'Zero', zero_as_missing=True):"
                f" tree {t} splits feature {names[f]!r} (index {f}) at {thr!r} but sends "
                f"|x| <= 1e-35 to the default side ({side}), against the threshold, so its cells "
                f"are not boxes where the domain contains 0 on that feature. Use a domain that "
                f"excludes [-1e-35, 1e-35] on feature {f}, or train with zero_as_missing=False.")


def _read(model) -> LightGBMTrees:
    import lightgbm

    booster, name = _booster_and_name(model)
    n_iter = _n_iterations(booster)
    dump = booster.dump_model(num_iteration=n_iter)
    names = list(dump["feature_names"])
    n_features = int(booster.num_feature())
    n_class = int(dump["num_tree_per_iteration"])
    trees, values, gaps = [], [], []
    for t, info in enumerate(dump["tree_info"]):
        tree, value, tree_gaps = _read_tree(info, t, names, name)
        trees.append(tree)
        values.append(value)
        gaps += [(t,) + g for g in tree_gaps]
    # leaf_index j of tree t is node L_t - 1 + j
    offset = np.array([(tree.left.size - 1) // 2 for tree in trees], dtype=np.int64)
    is_raw = isinstance(model, lightgbm.Booster)
    feature_names = getattr(model, "feature_names_in_", None)

    def frame(X):
        # a model fitted on a DataFrame warns when given an array; give it its columns
        if feature_names is None:
            return X
        return pd.DataFrame(X, columns=feature_names)

    def leaves(X: np.ndarray) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float64)  # LightGBM compares in double precision
        if len(X) == 0:
            return np.zeros((0, len(trees)), dtype=np.int64)
        leaf = np.asarray(model.predict(frame(X), pred_leaf=True, num_iteration=n_iter))
        return leaf.reshape(len(X), -1).astype(np.int64) + offset[None, :]

    def outputs(X: np.ndarray) -> dict[str, np.ndarray]:
        X = np.ascontiguousarray(X, dtype=np.float64)
        cols: dict[str, np.ndarray] = {}
        margin = np.asarray(model.predict(frame(X), raw_score=True, num_iteration=n_iter))
        add_columns(cols, "margin", margin)
        if is_raw:
            add_columns(cols, "prediction", np.asarray(model.predict(X, num_iteration=n_iter)))
        elif hasattr(model, "predict_proba") and not callable(model.objective):
            proba = np.asarray(model.predict_proba(frame(X), num_iteration=n_iter))
            # LGBMClassifier.predict is classes_[argmax(predict_proba)]: one pass, not two
            cols["prediction"] = np.asarray(model.classes_)[np.argmax(proba, axis=1)]
            add_columns(cols, "proba", proba, always_split=True)
        else:  # regressors, and custom objectives (whose predict gives raw scores)
            cols["prediction"] = np.asarray(model.predict(frame(X), num_iteration=n_iter))
        return cols

    def check_domain(box: Box | None) -> None:
        _check_zero_gaps(gaps, box, names, name)

    return LightGBMTrees(name=name, n_features=n_features, trees=trees, leaves=leaves,
                         outputs=outputs, check_domain=check_domain if gaps else None,
                         leaf_values=values, n_class=n_class)


def read_lightgbm(model, domain: Box | None = None) -> LightGBMTrees:
    """Read a fitted LightGBM model into a :class:`BoostedModel`.

    Parameters
    ----------
    model : lightgbm.LGBMClassifier, lightgbm.LGBMRegressor or lightgbm.Booster
        Fitted; the trees read are those it predicts with by default.
    domain : Box, optional
        Where the cells will live; a ``"Zero"``-missing split that is not a threshold
        is accepted only when the domain excludes ``[-1e-35, 1e-35]`` on its feature
        (without a domain, such a split is refused).

    Returns
    -------
    LightGBMTrees
        The :class:`BoostedModel`, with each leaf's value and the trees per round.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        For an unfitted model or a booster without trees.
    ValueError
        For a categorical split, a linear tree, or a zero-as-missing split that is
        not a threshold on the domain.
    """
    booster_model = _read(model)
    if booster_model.check_domain is not None:
        booster_model.check_domain(domain)  # without a domain, such a split is refused
    return booster_model


def _partition_lightgbm(model, *, domain, data, cells, tol=None, n_jobs=None, executor=None,
                        progress=True, max_cells: int = 200_000,
                        _affine=None, _model=None, _transform=None) -> BoxPartition:
    """Cells of a LightGBM model (see the module docstring and :func:`partition_boosted`)."""
    return partition_boosted(model, _read(model), domain=domain, data=data, cells=cells,
                             progress=progress, tol=tol, max_cells=max_cells,
                             reader=_read, pipeline=None if _affine is None else
                             (_model, _affine, _transform))


for _name in ("lightgbm.sklearn.LGBMClassifier", "lightgbm.sklearn.LGBMRegressor"):
    register_adapter(_name)(_partition_lightgbm)
register_adapter("lightgbm.basic.Booster", name="lightgbm.Booster")(_partition_lightgbm)
