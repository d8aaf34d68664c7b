"""Decision trees: each leaf is an axis-aligned box (a :class:`~cellgeom.core.BoxPartition`).

A tree's leaves are boxes ``{lo <= x <= hi}`` (thresholds along the root-to-leaf
path, clipped to the domain); their geometry is closed form (see
:mod:`cellgeom.core.boxes`), and the faces between them come from the tree's own
structure (:func:`~cellgeom.geometry.tree_adjacency.tree_adjacency`: only leaves on
either side of a split plane can share a face, found in time about linear in the faces).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core import BoxPartition, build_box_partition
from ..geometry import Box
from ..geometry.tree_adjacency import tree_adjacency
from ._sklearn import (
    add_predictions,
    check_fitted_model,
    model_name,
    named_input,
    prepare_inputs,
)
from .pipeline import diagonal_affine
from .registry import register_adapter

__all__ = ["BoxPartition", "TreeArrays", "TreeLeafLocator", "TreeLeaves", "leaf_boxes",
           "pulled_back"]


# -- trees as arrays ----------------------------------------------------------------------------
@dataclass
class TreeArrays:
    """One tree as flat arrays: ``left[i] == -1`` marks a leaf; a point goes left iff
    ``x[feature] <= threshold`` (``<`` when ``strict``, as XGBoost compares), in float32
    when ``float32``.

    Boxes are bounded by :meth:`boundaries`, the float64 values where the model's own
    comparison changes side, so a box contains every point the model sends to it.
    """

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    float32: bool = True
    strict: bool = False

    @classmethod
    def from_sklearn(cls, tree, feature_map=None) -> TreeArrays:
        t = tree.tree_
        feature = t.feature.astype(np.int64)
        if feature_map is not None:
            feature = np.where(feature >= 0, np.asarray(feature_map)[np.maximum(feature, 0)], -2)
        return cls(t.children_left.astype(np.int64), t.children_right.astype(np.int64),
                   feature, t.threshold.astype(float), True)

    def boundaries(self) -> np.ndarray:
        """Where each split changes side, in float64 input units: the model sends ``x``
        left for ``x < e`` and right for ``x > e`` (at ``x == e`` its rounding decides).

        In float64 (``float32=False``) ``e`` is the threshold. In float32 the model
        compares ``float32(x)``: with ``G`` the largest float32 that goes left (``G <= t``,
        or ``G < t`` when ``strict``) and ``G+`` the next float32, every ``x`` below the
        midpoint ``e = (G + G+) / 2`` rounds to at most ``G`` and every ``x`` above it to
        at least ``G+``. ``e`` is exact in float64. Two thresholds between the same
        float32 neighbours get the same ``e``, so no box lies between them (such a box
        would hold no float32 value: no input reaches it).
        """
        t = np.asarray(self.threshold, dtype=np.float64)
        if not self.float32:
            return t.copy()
        with np.errstate(over="ignore", invalid="ignore"):
            g = t.astype(np.float32)  # nearest float32
            above = (g >= t) if self.strict else (g > t)
            g = np.where(above, np.nextafter(g, np.float32(-np.inf)), g)
            up = np.nextafter(g, np.float32(np.inf))
            return (g.astype(np.float64) + up.astype(np.float64)) / 2

    def apply(self, Z: np.ndarray) -> np.ndarray:
        """Leaf node id of each row of ``Z`` (the model's own input units)."""
        Z = Z.astype(np.float32) if self.float32 else Z
        node = np.zeros(Z.shape[0], dtype=np.int64)
        active = np.flatnonzero(self.left[node] >= 0)
        while active.size:
            nd = node[active]
            z, thr = Z[active, self.feature[nd]], self.threshold[nd]
            go_left = z < thr if self.strict else z <= thr
            node[active] = np.where(go_left, self.left[nd], self.right[nd])
            active = active[self.left[node[active]] >= 0]
        return node


def pulled_back(trees: list[TreeArrays], scale, shift, transform=None, fill=None,
                window: int = 16) -> list[TreeArrays]:
    """The trees in raw inputs ``x`` of a diagonal map ``z = scale * x + shift`` (scale > 0).

    Each split's boundary moves to ``x = (e - shift) / scale`` (``e``:
    :meth:`TreeArrays.boundaries`). That is the boundary of the exact map; the model reads
    ``transform(x)``, rounded by the scaler's own operations (``(x - mean) / scale``, ...),
    so its side can change a few float64 steps away. With ``transform``, each boundary is
    moved to the first ``x`` (within ``window`` steps) the model sends right, found by
    running the transform once on the candidates of every split of every tree, one column
    per feature (the other columns ``fill``). Returns float64 trees whose thresholds are
    these boundaries.
    """
    scale, shift = np.asarray(scale, dtype=float), np.asarray(shift, dtype=float)
    xs = []
    for tree in trees:
        f = np.maximum(tree.feature, 0)
        xs.append((tree.boundaries() - shift[f]) / scale[f])
    if transform is not None and trees:
        splits = [np.flatnonzero(tree.left >= 0) for tree in trees]
        cat = np.concatenate
        snapped = _snap(cat([x[s] for x, s in zip(xs, splits)]),
                        cat([tree.feature[s] for tree, s in zip(trees, splits)]),
                        cat([tree.threshold[s] for tree, s in zip(trees, splits)]),
                        trees[0], transform, np.asarray(fill, dtype=float), window)
        ends = np.cumsum([0] + [s.size for s in splits])
        for x, s, a, b in zip(xs, splits, ends[:-1], ends[1:]):
            x[s] = snapped[a:b]
    return [TreeArrays(tree.left, tree.right, tree.feature, x, float32=False, strict=False)
            for tree, x in zip(trees, xs)]


def _snap(x0, feature, threshold, tree, transform, fill, window):
    """First candidate ``x`` near ``x0`` that ``transform`` and the split send right
    (``tree``: the comparison of every split, float32 and strict alike in one model)."""
    if not len(x0):
        return x0
    cand = [x0]
    for direction in (-np.inf, np.inf):
        step = x0
        for _ in range(window):
            step = np.nextafter(step, direction)
            cand.append(step)
    cand = np.stack(cand, axis=1)
    cand.sort(axis=1)  # (m, 2 window + 1), increasing
    # one column per feature: the candidates of all splits on feature j share column j
    rank = np.zeros(len(x0), dtype=np.int64)
    for j in np.unique(feature):
        on = np.flatnonzero(feature == j)
        rank[on] = np.arange(on.size)
    width = cand.shape[1]
    rows = (rank.max() + 1) * width
    M = np.tile(fill, (rows, 1))
    row = rank[:, None] * width + np.arange(width)
    M[row, feature[:, None]] = cand
    Z = np.asarray(transform(M), dtype=np.float64)[row, feature[:, None]]
    Z = Z.astype(np.float32) if tree.float32 else Z
    t = threshold[:, None]
    right = ~(Z < t) if tree.strict else ~(Z <= t)
    first = np.argmax(right, axis=1)
    # a clean change of side inside the window; otherwise (no change, or not monotone) x0.
    # x0 stays where the steps on either side of it already go left and right (as without
    # a transform: x0 is then as good a boundary as the first step right)
    ok = right.any(axis=1) & ~right[:, 0] & (right.sum(axis=1) == width - first)
    moved = ok & ~(~right[:, window - 1] & right[:, window + 1])
    return np.where(moved, cand[np.arange(len(x0)), first], x0)


def leaf_boxes(tree: TreeArrays, domain: Box):
    """Box ``[lo, hi]`` of every node clipped to ``domain``, level by level. Thresholds are
    the split :meth:`TreeArrays.boundaries`, where the model's comparison changes side
    (behind a pipeline's scalers, :func:`pulled_back` trees).

    Returns ``(node_lo, node_hi)``, shape (n_nodes, n); an empty node has some
    ``hi <= lo``.
    """
    k, n = tree.left.size, domain.dim
    thr = tree.boundaries()
    node_lo = np.empty((k, n))
    node_hi = np.empty((k, n))
    node_lo[0], node_hi[0] = domain.lo, domain.hi
    frontier = np.array([0])
    while frontier.size:
        parent = frontier[tree.left[frontier] >= 0]
        f, t = tree.feature[parent], thr[parent]
        left, right = tree.left[parent], tree.right[parent]
        for child in (left, right):
            node_lo[child], node_hi[child] = node_lo[parent], node_hi[parent]
        node_hi[left, f] = np.minimum(node_hi[left, f], t)
        node_lo[right, f] = np.maximum(node_lo[right, f], t)
        frontier = np.concatenate([left, right])
    return node_lo, node_hi


# -- adapter -------------------------------------------------------------------------------------
_TREES = ["sklearn.tree._classes.DecisionTreeClassifier",
          "sklearn.tree._classes.DecisionTreeRegressor",
          "sklearn.tree._classes.ExtraTreeClassifier",
          "sklearn.tree._classes.ExtraTreeRegressor"]


class TreeLeaves:
    """``model.apply`` on float32 inputs (as scikit-learn compares), after the
    pipeline's ``transform`` if any. A plain object, so partitions holding it pickle."""

    def __init__(self, model, transform=None):
        self.model = model
        self.transform = transform

    def __call__(self, X) -> np.ndarray:
        Z = X if self.transform is None else self.transform(X)
        return self.model.apply(named_input(self.model,
                                            np.ascontiguousarray(Z, dtype=np.float32)))


class TreeLeafLocator:
    """``locate`` of a tree's partition: the leaf's cell index (-1 for leaves that are
    not cells)."""

    def __init__(self, leaf_of: TreeLeaves, index: np.ndarray):
        self.leaf_of = leaf_of
        self.index = index

    def __call__(self, X) -> np.ndarray:
        return self.index[self.leaf_of(X)]


def _partition_tree(model, *, domain, data, cells, tol=None, n_jobs=None, executor=None,
                    progress=True, _affine=None, _model=None, _transform=None):
    """Leaves of a single tree as a :class:`BoxPartition` (see module docstring)."""
    record = model if _model is None else _model
    check_fitted_model(model)
    data, domain, n_outside = prepare_inputs(record, domain, data, cells)
    tree = TreeArrays.from_sklearn(model)
    if _affine is not None:  # boundaries where the pipeline's own rounding changes side
        scale, shift = diagonal_affine(_affine, model_name(model))
        tree, = pulled_back([tree], scale, shift, _transform, domain.center)
    node_lo, node_hi = leaf_boxes(tree, domain)
    leaves = np.flatnonzero(tree.left < 0)
    nonempty = leaves[np.all(node_hi[leaves] > node_lo[leaves], axis=1)]
    leaf_of = TreeLeaves(model, _transform)
    counts = np.zeros(tree.left.size, dtype=np.int64)
    if data is not None:
        inside = data[domain.contains(data)]
        if len(inside):
            counts = np.bincount(leaf_of(inside), minlength=tree.left.size)
    if cells == "data":
        own = nonempty[counts[nonempty] > 0]
        if own.size == 0:
            raise ValueError("No data point lies inside the domain box.")
    else:
        own = nonempty
    rest = np.setdiff1d(nonempty, own)
    order = np.concatenate([own, rest])
    index = np.full(tree.left.size, -1, dtype=np.int64)
    index[own] = np.arange(own.size)
    # faces from the tree's own structure (output-sensitive), numbered as the rows below
    row_of = np.full(tree.left.size, -1, dtype=np.int64)
    row_of[order] = np.arange(order.size)
    faces = tree_adjacency(tree.left, tree.right, tree.feature, node_lo, node_hi, row_of)
    info = {"cells": cells, "n_dropped": int(leaves.size - nonempty.size),
            "n_points_outside": n_outside, "n_leaves": int(leaves.size)}
    if tol is not None:
        info["tol"] = float(tol)
    part = build_box_partition(
        domain=domain, keys=[str(v) for v in own], lo=node_lo[order], hi=node_hi[order],
        counts=counts[own], model=record, locator=TreeLeafLocator(leaf_of, index), info=info,
        outside_keys=[str(v) for v in rest], faces=faces)
    add_predictions(part.cells, record, domain.dim)
    part.cells["leaf"] = own
    return part


for _name in _TREES:
    register_adapter(_name)(_partition_tree)
