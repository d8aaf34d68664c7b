"""Point location among axis-aligned boxes with a kd-tree over the boxes.

A point ``x`` lies in box ``i`` when ``lo_i < x <= hi_i`` on every axis (half-open,
exact: no tolerance). :class:`BoxIndex` answers, for every point, the lowest-numbered
box holding it (-1 for none), the same as testing every point against every box, in
about ``O(log boxes + leaf size)`` per point instead of ``O(boxes)``.

The tree is built level by level. At a node holding ``k`` boxes the kernel looks, on
every axis, for a cut ``c`` among the boxes' own boundaries (from a strided sample of at
most ``sample`` boxes, or all of them when that cut turns out poor) minimising
``max(L, R) + 2 (L + R - k)``, where ``L`` boxes reach ``x <= c`` (``lo < c``) and ``R``
reach ``x > c`` (``hi > c``): balanced children, few boxes straddling the cut (a
straddler goes to both). A partition cut by a tree always has a cut with no straddler
(a split of the tree). A node becomes a leaf when it holds at most ``leaf_size`` boxes,
or when its best cut leaves a child as large as the node or straddles more than half of
it. A query goes left when ``x <= c`` and right otherwise, then tests its leaf's boxes
(sorted by number, so the first hit is the lowest) with the exact rule. Routing loses
nothing: a box holding ``x`` with ``x <= c`` has ``lo < x <= c`` and went left, one with
``x > c`` has ``hi >= x > c`` and went right; a NaN coordinate goes right and lies in no
box. Empty boxes (``lo >= hi`` on some axis, or NaN) hold no point and are left out.

All kernels live in this file: numba's disk cache checks a kernel against its own file.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["BoxIndex"]


class BoxIndex:
    """A kd-tree over boxes ``lo < x <= hi`` for exact point location.

    Parameters
    ----------
    lo, hi : float arrays of shape (m, n)
        The boxes' corners. ``lo = -inf`` closes a box below (e.g. on the domain's
        lower side); boxes may overlap (the lowest index wins, as in a dense test).
    leaf_size : int, default 8
        Nodes with at most this many boxes are leaves.
    sample : int, default 64
        Boxes per node (a strided sample) from which a cut is chosen; a node whose
        sampled cut is poor is cut from all its boxes.

    Attributes
    ----------
    n_boxes, dim : int
    n_nodes : int
        Nodes of the tree.
    n_entries : int
        Box entries over all leaves (the non-empty boxes, and again each box for every
        further leaf it reaches across a cut).
    depth : int
        Levels of the tree (1 for a single leaf).
    """

    def __init__(self, lo, hi, *, leaf_size: int = 8, sample: int = 64):
        lo = np.ascontiguousarray(lo, dtype=np.float64)
        hi = np.ascontiguousarray(hi, dtype=np.float64)
        if lo.ndim != 2 or lo.shape != hi.shape:
            raise ValueError(f"lo and hi must be arrays of the same shape (m, n), got "
                             f"{lo.shape} and {hi.shape}.")
        if leaf_size < 1 or sample < 2:
            raise ValueError("leaf_size must be >= 1 and sample >= 2.")
        self.lo, self.hi = lo, hi
        self.n_boxes, self.dim = lo.shape
        (self._axis, self._cut, self._child, self._start, self._count, self._items,
         self.depth) = _build(lo, hi, int(leaf_size), int(sample))
        self.n_nodes = int(self._axis.size)
        self.n_entries = int(self._items.size)

    def locate(self, X) -> np.ndarray:
        """Index of the lowest-numbered box with ``lo < x <= hi`` for each row of ``X``
        (int64, -1 where no box holds it)."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise ValueError(f"X must have shape (N, {self.dim}), got {X.shape}.")
        out = np.empty(X.shape[0], dtype=np.int64)
        _query(X, self._axis, self._cut, self._child, self._start, self._count,
               self._items, self.lo, self.hi, out)
        return out

    def __repr__(self) -> str:
        return (f"<BoxIndex: {self.n_boxes} boxes in {self.dim}-D, {self.n_nodes} nodes, "
                f"depth {self.depth}, {self.n_entries} leaf entries>")


def _build(lo, hi, leaf_size, sample, max_depth=64):
    """The tree's tables: per node ``axis`` (-1 at a leaf), ``cut``, ``child`` (the left
    child; the right one follows it), ``start`` and ``count`` of its boxes in ``items``
    (leaves); and the depth. Nodes are numbered level by level, children in pairs.

    Splitting stops at ``max_depth`` levels, or once a level holds more than 16 entries
    per box: boxes that overlap (not a partition) can straddle every cut, and leaves
    holding many boxes cost time rather than memory."""
    with np.errstate(invalid="ignore"):
        box = np.flatnonzero(np.all(lo < hi, axis=1)).astype(np.int64)
    budget = 16 * box.size + 1024
    seg = np.array([0, box.size], dtype=np.int64)  # the nodes' runs of ``box``
    axes, cuts, childs, starts, counts, items = [], [], [], [], [], []
    first, n_items, depth = 0, 0, 0
    while seg.size > 1:
        depth += 1
        k = np.diff(seg)
        n_level = k.size
        axis = np.full(n_level, -1, dtype=np.int64)
        cut = np.zeros(n_level)
        if depth < max_depth and box.size <= budget:
            tried = np.flatnonzero(k > leaf_size)
        else:
            tried = np.zeros(0, dtype=np.int64)
        if tried.size:
            _choose_cuts(lo, hi, box, seg, tried, sample, axis, cut)
        split = axis >= 0
        rank = np.cumsum(split) - 1
        child = np.where(split, first + n_level + 2 * rank, -1)
        # leaves: their runs of ``box``, in order, appended to ``items``
        node = np.repeat(np.arange(n_level), k)
        leaf_entry = ~split[node]
        start = np.full(n_level, -1, dtype=np.int64)
        k_leaf = k[~split]
        start[~split] = n_items + np.cumsum(k_leaf) - k_leaf
        items.append(box[leaf_entry])
        n_items += int(leaf_entry.sum())
        axes.append(axis)
        cuts.append(cut)
        childs.append(child)
        starts.append(start)
        counts.append(np.where(split, 0, k))
        first += n_level
        if not split.any():
            break
        # the split nodes' boxes to their children: left if lo < c, right if hi > c
        e = np.flatnonzero(~leaf_entry)
        b, j = box[e], node[e]
        a, c = axis[j], cut[j]
        left, right = lo[b, a] < c, hi[b, a] > c
        key = np.concatenate((2 * rank[j[left]], 2 * rank[j[right]] + 1))
        order = np.argsort(key, kind="stable")  # boxes stay sorted within a node
        box = np.concatenate((b[left], b[right]))[order]
        seg = np.zeros(2 * int(split.sum()) + 1, dtype=np.int64)
        np.cumsum(np.bincount(key, minlength=seg.size - 1), out=seg[1:])
    return (np.concatenate(axes), np.concatenate(cuts), np.concatenate(childs),
            np.concatenate(starts), np.concatenate(counts),
            np.concatenate(items).astype(np.int64), depth)


@njit(cache=True, nogil=True)
def _choose_cuts(lo, hi, box, seg, tried, sample, axis, cut):  # pragma: no cover - compiled
    """For each node ``j`` in ``tried`` (boxes ``box[seg[j]:seg[j + 1]]``), write the axis
    and cut of a worthwhile split to ``axis[j]``, ``cut[j]``; ``axis[j]`` stays -1 when
    none is. A cut chosen from a sample is counted on all the boxes, and the node is cut
    from all of them when it is poor."""
    for t in range(tried.size):
        j = tried[t]
        s, e = seg[j], seg[j + 1]
        k = e - s
        size = min(k, sample)
        while True:
            a, c = _best_cut(lo, hi, box, s, e, size)
            if a >= 0:
                n_left, n_right = 0, 0
                for i in range(s, e):
                    if lo[box[i], a] < c:
                        n_left += 1
                    if hi[box[i], a] > c:
                        n_right += 1
                if max(n_left, n_right) < k and n_left + n_right - k <= k // 2:
                    axis[j], cut[j] = a, c
                    break
            if size == k:
                break
            size = k


@njit(cache=True, nogil=True)
def _best_cut(lo, hi, box, s, e, size):  # pragma: no cover - compiled
    """The axis and cut (a box boundary) minimising ``max(L, R) + 2 (L + R - size)`` over
    ``size`` boxes spread evenly over ``box[s:e]``, among the cuts that leave both sides
    smaller than the node; axis -1 when there is none."""
    k = e - s
    n = lo.shape[1]
    vlo = np.empty(size)
    vhi = np.empty(size)
    best_a, best_c, best = -1, 0.0, 4 * size
    for a in range(n):
        same = True
        for i in range(size):
            b = box[s + (i * k) // size]
            vlo[i] = lo[b, a]
            vhi[i] = hi[b, a]
            same = same and vlo[i] == vlo[0] and vhi[i] == vhi[0]
        if same:
            continue  # every box spans the same interval on this axis: no cut
        vlo.sort()
        vhi.sort()
        # cuts at upper boundaries: L = #(lo < c), R = #(hi > c)
        p = 0
        for i in range(size):
            c = vhi[i]
            if i + 1 < size and vhi[i + 1] == c:
                continue  # the last of equal values counts them all
            while p < size and vlo[p] < c:
                p += 1
            n_left, n_right = p, size - 1 - i
            if 0 < n_left < size and 0 < n_right < size:
                cost = max(n_left, n_right) + 2 * (n_left + n_right - size)
                if cost < best:
                    best_a, best_c, best = a, c, cost
        # cuts at lower boundaries
        q = 0
        for i in range(size):
            c = vlo[i]
            if i > 0 and vlo[i - 1] == c:
                continue  # the first of equal values: L counts those below
            while q < size and vhi[q] <= c:
                q += 1
            n_left, n_right = i, size - q
            if 0 < n_left < size and 0 < n_right < size:
                cost = max(n_left, n_right) + 2 * (n_left + n_right - size)
                if cost < best:
                    best_a, best_c, best = a, c, cost
    return best_a, best_c


@njit(cache=True, nogil=True)
def _query(X, axis, cut, child, start, count, items, lo, hi, out):  # pragma: no cover
    """Descend to each point's leaf and write its first box with ``lo < x <= hi``."""
    n = X.shape[1]
    for p in range(X.shape[0]):
        j = 0
        while axis[j] >= 0:
            j = child[j] if X[p, axis[j]] <= cut[j] else child[j] + 1
        found = -1
        for t in range(start[j], start[j] + count[j]):
            b = items[t]
            inside = True
            for a in range(n):
                x = X[p, a]
                if not (lo[b, a] < x and x <= hi[b, a]):
                    inside = False
                    break
            if inside:
                found = b
                break
        out[p] = found
