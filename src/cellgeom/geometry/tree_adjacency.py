"""Faces between the leaves of one decision tree, from the tree's own structure.

Two leaves of a tree share a face of positive (n-1)-volume only on the split plane
``x_f = t`` of their lowest common ancestor v: below v they lie on opposite sides of
that plane, so their f-intervals meet in at most the point t, and a face on any other
axis would need a positive overlap on f. The faces across v are therefore the pairs
(a in v's left subtree, b in its right subtree) with ``hi_a[f] == t == lo_b[f]`` and a
positive open overlap on every other axis.

They are found by a dual-tree traversal per split node, starting from the pair of its
children: a pair of nodes (A, B) is kept iff both boxes are non-empty, A's box reaches
the plane (``hi_A[f] == t``), B's does (``lo_B[f] == t``) and the two overlap with
positive length on every axis other than f. A kept pair of leaves is a face; otherwise
the node with more leaves below it is replaced by its children (a child's box differs
from its parent's on one axis, so its test reads one interval). The leaves of A that
reach the plane tile A's side of it (the same for B), so every kept pair has a face
below it: the work is the output times a small factor, never the candidate pairs of a
sweep over the leaf boxes. Pairs of small subtrees (at most ``_SMALL`` leaves together)
test all pairs of their leaves on the plane in a tight loop instead, which costs less
than refining them pair by pair.

The nodes are renumbered in depth-first pre-order first, so a subtree is a contiguous
block in memory (its leaves too), and the split nodes are taken axis by axis in that
order, which lists the faces axis by axis as ``box_adjacency`` does. Pairs go to
buffers grown by doubling (16 bytes per face); one flat pass over them then writes the
faces' volumes and centroids with ``box_adjacency``'s own kernel, so the memory is the
output's plus O(nodes x n).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .boxes import _face_geometry

__all__ = ["tree_adjacency"]


def tree_adjacency(left: np.ndarray, right: np.ndarray, feature: np.ndarray,
                   node_lo: np.ndarray, node_hi: np.ndarray, leaf_id: np.ndarray, *,
                   _small: int | None = None):
    """Pairs of a tree's leaves sharing a face of positive (n-1)-volume, output-sensitive.

    Same result as :func:`cellgeom.geometry.boxes.box_adjacency` on the leaf boxes
    (the same faces, orientation, volumes and centroids, bit for bit), in time
    about proportional to the number of faces rather than to the candidate pairs.

    Parameters
    ----------
    left, right : int arrays of shape (k,)
        Children of each node; ``left[v] < 0`` marks a leaf.
    feature : int array of shape (k,)
        Split axis of each internal node (ignored at leaves).
    node_lo, node_hi : float arrays of shape (k, n)
        Box of every node (leaves and internal nodes), clipped to the domain, e.g. from
        :func:`cellgeom.models.trees.leaf_boxes`: a child's box is its parent's with
        ``hi[f]`` (left) or ``lo[f]`` (right) set to the split boundary t. A node whose
        box has ``hi <= lo`` on some axis is empty and meets nothing. The split plane of
        v is read from the boxes, ``t = hi[left[v], f] == lo[right[v], f]``, so a
        boundary clipped away by the domain leaves one child empty and v without faces.
    leaf_id : int array of shape (k,)
        Number of each leaf in the output (e.g. its row among the partition's cells);
        -1 for nodes that are not numbered leaves (their faces are left out).

    Returns
    -------
    a, b, axis : int64 arrays of shape (m,)
        Leaf ``a`` lies below leaf ``b`` on ``axis``: ``hi_a[axis] == lo_b[axis]``.
        Listed axis by axis (within an axis, by split node in depth-first pre-order).
    volume : float array of shape (m,)
        Face (n-1)-volume in input units^(n-1),
        ``prod_{g != axis} (min(hi_a, hi_b) - max(lo_a, lo_b))_g`` in axis order.
    centroid : float array of shape (m, n)
        Face centroid: the overlap midpoints, and the shared coordinate on ``axis``.

    Examples
    --------
    A root split at x0 = 0.5 whose right child splits at x1 = 0.25, in [0, 1]^2:

    >>> import numpy as np
    >>> left, right = np.array([1, -1, 3, -1, -1]), np.array([2, -1, 4, -1, -1])
    >>> feature = np.array([0, -2, 1, -2, -2])
    >>> lo = np.array([[0, 0], [0, 0], [.5, 0], [.5, 0], [.5, .25]])
    >>> hi = np.array([[1, 1], [.5, 1], [1, 1], [1, .25], [1, 1]])
    >>> a, b, axis, volume, centroid = tree_adjacency(
    ...     left, right, feature, lo, hi, np.array([-1, 0, -1, 1, 2]))
    >>> list(zip(a.tolist(), b.tolist(), axis.tolist(), volume.tolist()))
    [(0, 1, 0, 0.25), (0, 2, 0, 0.75), (1, 2, 1, 0.5)]
    """
    small = _SMALL if _small is None else int(_small)  # (tests set it: both paths)
    left = np.ascontiguousarray(left, dtype=np.int64)
    right = np.ascontiguousarray(right, dtype=np.int64)
    feature = np.ascontiguousarray(feature, dtype=np.int64)
    node_lo = np.ascontiguousarray(node_lo, dtype=float)
    node_hi = np.ascontiguousarray(node_hi, dtype=float)
    leaf_id = np.ascontiguousarray(leaf_id, dtype=np.int64)
    k = left.size
    if node_lo.ndim != 2 or node_lo.shape != node_hi.shape or node_lo.shape[0] != k:
        raise ValueError(f"node_lo and node_hi must have shape (n_nodes, n) = ({k}, n), got "
                         f"{node_lo.shape} and {node_hi.shape}.")
    if not (right.size == feature.size == leaf_id.size == k):
        raise ValueError("left, right, feature and leaf_id must have one entry per node; got "
                         f"{left.size}, {right.size}, {feature.size}, {leaf_id.size}.")
    n = node_lo.shape[1]
    inner = left >= 0
    if np.any(inner & ((feature < 0) | (feature >= n))):
        raise ValueError(f"feature of an internal node outside 0..{n - 1}.")
    if np.any(inner & ((left >= k) | (right < 0) | (right >= k))):
        raise ValueError(f"children of an internal node outside 0..{k - 1}.")
    # the nodes renumbered in depth-first pre-order: a subtree is a contiguous block (all
    # that a pair's refinement visits), and split nodes taken in that order reuse the
    # blocks their neighbours just visited. Every array the kernels fill is allocated
    # here by NumPy, which asks the OS for huge pages on large blocks: the first touch of
    # numba-allocated memory (4 KiB pages) was a fifth of the kernel's time at 100k leaves
    old = np.empty(k, np.int64)
    old = old[:_old_ids(left, right, old, np.zeros(k, np.uint8), np.empty(k + 2, np.int64))]
    if old.size and old[-1] < 0:
        raise ValueError("left and right do not describe a tree rooted at node 0 (a node "
                         "is reached twice).")
    m = old.size
    n_leaves = (m + 1) // 2  # every inner node has two children
    lo, hi = np.empty((m, n)), np.empty((m, n))
    kind, size, first = np.zeros(m, np.uint8), np.ones(m, np.int64), np.zeros(m, np.int64)
    row = np.zeros((m, 8))
    # the leaves in pre-order, numbered 0.. in that order: a subtree's leaves are the
    # block first[v] .. first[v] + size[v] - 1; their boxes by rows (face geometry) and
    # by axes (a scan of a block for the leaves on a plane, and the pair tests, read
    # contiguous runs)
    leaf_lo, leaf_hi = np.empty((n_leaves, n)), np.empty((n_leaves, n))
    axis_lo, axis_hi = np.empty((n, n_leaves)), np.empty((n, n_leaves))
    number = np.empty(n_leaves, np.int64)
    # the split nodes axis by axis, in pre-order within an axis (axis f's are
    # ``order[axis_start[f]:axis_start[f + 1]]``): a pass per axis reads only its own rows
    order, axis_start = np.empty(m - n_leaves, np.int64), np.zeros(n + 1, np.int64)
    depth = _preorder_tables(old, left, right, feature, node_lo, node_hi, leaf_id, lo, hi,
                             kind, size, row, first, leaf_lo, leaf_hi, axis_lo, axis_hi,
                             number, order, axis_start, np.full(m, -1, np.int64),
                             np.zeros(m, np.int64))
    # the stack holds at most one pending sibling per refinement step of the current pair
    stack = np.empty((2 * depth + 4, 2), np.int64)
    cap = max(1024, 4 * m)
    buf_a, buf_b = np.empty(cap, np.int64), np.empty(cap, np.int64)
    ends = np.zeros(n + 1, np.int64)
    # (axis, next split in ``order``, stack top, rows written, split started)
    state = np.zeros(5, np.int64)
    work_done = np.cumsum(size[order])
    while True:  # the kernel stops when the buffers are full: grow them and resume
        _tree_face_pairs(kind, size, row, first, lo, hi, axis_lo, axis_hi, leaf_lo, leaf_hi,
                         number, order, axis_start, stack, state, buf_a, buf_b, ends, small)
        if state[0] == n:
            break
        # room for the rest at the rate seen so far (a split yields faces about in
        # proportion to the leaves below it): few regrowths, each a copy of all rows
        i = state[1]
        share = work_done[i - 1] / work_done[-1] if i > 0 else 0.0
        need = max(2 * buf_a.size, int(1.2 * state[3] / max(share, 1e-3)) + 1024)
        buf_a, buf_b = _grown(buf_a, buf_b, int(state[3]), need)
    total = int(state[3])
    a, b = buf_a[:total], buf_b[:total]
    if 2 * total < buf_a.size:  # do not keep a mostly empty buffer alive
        a, b = a.copy(), b.copy()
    del buf_a, buf_b
    counts = np.diff(ends)
    axis = np.repeat(np.arange(n, dtype=np.int64), counts)
    volume = np.empty(total)
    centroid = np.empty((total, n))
    # the leaves' node boxes are the leaf boxes: the same arithmetic as box_adjacency
    _face_geometry(leaf_lo, leaf_hi, a, b, axis, volume, centroid)
    _renumber(a, number)
    _renumber(b, number)
    return a, b, axis, volume, centroid


def _grown(buf_a: np.ndarray, buf_b: np.ndarray, rows: int, need: int):
    """The pair buffers doubled until they hold ``need`` rows, their first ``rows`` kept
    (allocated by NumPy, see above)."""
    size = 2 * buf_a.size
    while size < need:
        size *= 2
    new_a, new_b = np.empty(size, np.int64), np.empty(size, np.int64)
    new_a[:rows], new_b[:rows] = buf_a[:rows], buf_b[:rows]
    return new_a, new_b


@njit(cache=True, nogil=True)
def _old_ids(left, right, old, seen, stack):  # pragma: no cover - compiled
    """Write the nodes reachable from the root 0 in depth-first pre-order (left child
    first) to ``old`` and return their count; ``old[0] = -1`` and 1 if a node is reached
    twice (not a tree). ``seen`` (zeros) and ``stack`` are work arrays of k and k + 2."""
    k = left.size
    if k == 0:
        return 0
    stack[0] = 0
    top = 1
    m = 0
    while top > 0:
        top -= 1
        v = stack[top]
        if seen[v]:
            old[0] = -1
            return 1
        seen[v] = 1
        old[m] = v
        m += 1
        if left[v] >= 0:
            stack[top] = right[v]
            stack[top + 1] = left[v]
            top += 2
    return m


@njit(cache=True, nogil=True)
def _preorder_tables(old, left, right, feature, node_lo, node_hi, leaf_id, lo, hi, kind,
                     size, row, first, leaf_lo, leaf_hi, axis_lo, axis_hi, number, order,
                     axis_start, split, level):  # pragma: no cover - compiled
    """The nodes renumbered in depth-first pre-order (``old[i]`` is node i's id), and what
    the traversal reads of them, in one pass over the old numbering; returns the depth.

    Fills the boxes ``lo, hi``; ``kind`` (given as zeros: 0 inner node, 1 numbered leaf,
    2 leaf left out); ``size`` (given as ones), the leaves below; ``row``, at an inner
    node: children, split axis h, and the children's intervals on h (``lo_h``, left
    child's ``hi_h``, right child's ``lo_h``, ``hi_h``; the rest of a child's box is its
    parent's), one 64-byte row read at once; ``first``, the pre-order number of the first
    leaf below each node; the leaves' boxes by rows (``leaf_lo``) and by axes
    (``axis_lo``) and their ``number`` from ``leaf_id``; the split nodes by axis,
    ``order`` and ``axis_start`` (given as zeros). ``split`` (-1s) and ``level`` (zeros)
    are work arrays.
    """
    m = old.size
    n = node_lo.shape[1]
    n_leaves = 0
    for i in range(m):  # the one pass over the old numbering (random access)
        v = old[i]
        for g in range(n):
            lo[i, g] = node_lo[v, g]
            hi[i, g] = node_hi[v, g]
        first[i] = n_leaves  # pre-order: the first leaf below comes next
        if left[v] < 0:
            kind[i] = 1 if leaf_id[v] >= 0 else 2
            for g in range(n):
                leaf_lo[n_leaves, g] = lo[i, g]
                leaf_hi[n_leaves, g] = hi[i, g]
                axis_lo[g, n_leaves] = lo[i, g]
                axis_hi[g, n_leaves] = hi[i, g]
            number[n_leaves] = leaf_id[v]
            n_leaves += 1
        else:
            split[i] = feature[v]
            axis_start[feature[v] + 1] += 1
    for g in range(n):  # counts to starts, then each axis's splits in pre-order
        axis_start[g + 1] += axis_start[g]
    at = axis_start[:n].copy()
    for i in range(m):
        if split[i] >= 0:
            order[at[split[i]]] = i
            at[split[i]] += 1
    # in pre-order the left child of i is i + 1 and the right one follows the left's
    # block of 2 size - 1 nodes: sizes bottom-up, all local
    depth = 0
    for i in range(m - 1, -1, -1):
        if split[i] >= 0:
            L = i + 1
            R = i + 2 * size[L]
            h = split[i]
            size[i] = size[L] + size[R]
            row[i, 0] = L
            row[i, 1] = R
            row[i, 2] = h
            row[i, 3] = lo[i, h]
            row[i, 4] = hi[L, h]
            row[i, 5] = lo[R, h]
            row[i, 6] = hi[i, h]
    for i in range(m):
        if split[i] >= 0:
            level[i + 1] = level[i] + 1
            level[i + 2 * size[i + 1]] = level[i] + 1
        else:
            depth = max(depth, level[i])
    return depth


@njit(cache=True, nogil=True)
def _renumber(ids, number):  # pragma: no cover - compiled
    """Node ids to leaf numbers, in place."""
    for i in range(ids.size):
        ids[i] = number[ids[i]]


#: pairs of subtrees with at most this many leaves together test all pairs of their
#: leaves on the plane (tight loops over contiguous blocks) instead of refining pair by
#: pair (branches, scattered nodes); measured on 8-D trees of 10k and 100k leaves, the
#: kernel's time falls from 8 to 256 and is flat up to 1024
_SMALL = 256


@njit(cache=True, nogil=True)
def _tree_face_pairs(kind, size, row, first, lo, hi, axis_lo, axis_hi, leaf_lo, leaf_hi,
                     number, order, axis_start, stack, state, buf_a, buf_b, ends,
                     small):  # pragma: no cover - compiled
    """Append the face pairs (pre-order leaf numbers), axis by axis and split node by split
    node in pre-order (the split nodes of axis f are ``order[axis_start[f]:axis_start[f +
    1]]``), from ``state`` = (axis, next index in ``order``, stack top, rows written, split
    started) on; ``ends[f + 1]`` is where axis f's rows end. Stops with the state saved
    when the buffers are full (growing them here would make numba count references on
    every access to them in the loop).

    A stack entry is a pair (A, B) that passed the test. A child's box is its parent's
    with the interval on the parent's split axis h changed, so testing the child against
    the pair's other node reads that one interval of both.
    """
    n = lo.shape[1]
    near_a = np.empty(small, np.int64)
    near_lo = np.empty((n, small))
    near_hi = np.empty((n, small))
    hit = np.empty(small, np.uint8)
    f, at, top, out, started = state[0], state[1], state[2], state[3], state[4]
    while f < n:
        while at < axis_start[f + 1]:
            v = order[at]
            L = int(row[v, 0])
            R = int(row[v, 1])
            t = row[v, 4]
            if not started:
                started = 1
                top = 0
                ok = t > row[v, 3] and row[v, 6] > row[v, 5] and row[v, 5] == t
                for g in range(n):
                    if g != f and min(hi[L, g], hi[R, g]) <= max(lo[L, g], lo[R, g]):
                        ok = False
                if ok:
                    stack[0, 0] = L
                    stack[0, 1] = R
                    top = 1
            while top > 0:
                top -= 1
                A = stack[top, 0]
                B = stack[top, 1]
                ka = kind[A]
                kb = kind[B]
                if ka and kb:  # two leaves: a face (unless one is left out)
                    if ka == 1 and kb == 1:
                        if out == buf_a.size:  # full: save the state, the caller grows them
                            state[0], state[1], state[2] = f, at, top + 1
                            state[3], state[4] = out, 1
                            return
                        buf_a[out] = first[A]
                        buf_b[out] = first[B]
                        out += 1
                    continue
                if size[A] + size[B] <= small and out + size[A] * size[B] <= buf_a.size:
                    # small subtrees: their leaves on the plane (a contiguous scan of each
                    # block along axis f), then every pair of those
                    na = 0
                    for u in range(first[A], first[A] + size[A]):
                        if axis_hi[f, u] == t and number[u] >= 0:
                            for g in range(n):  # by axes: the tests below run over P
                                near_lo[g, na] = leaf_lo[u, g]
                                near_hi[g, na] = leaf_hi[u, g]
                            near_a[na] = u
                            na += 1
                    for Q in range(first[B], first[B] + size[B]):
                        if axis_lo[f, Q] != t or number[Q] < 0:
                            continue
                        for i in range(na):
                            hit[i] = 1
                        for g in range(n):
                            if g != f:
                                q_lo = leaf_lo[Q, g]
                                q_hi = leaf_hi[Q, g]
                                for i in range(na):
                                    hit[i] &= (near_lo[g, i] < q_hi) & (near_hi[g, i] > q_lo)
                        # branch-free: write every candidate, advance over the hits
                        for i in range(na):
                            buf_a[out] = near_a[i]
                            buf_b[out] = Q
                            out += hit[i]
                    continue
                refine_a = kb != 0 or (ka == 0 and size[A] >= size[B])
                X, O = (A, B) if refine_a else (B, A)
                h = int(row[X, 2])
                o_lo = lo[O, h]
                o_hi = hi[O, h]
                for j in (1, 0):  # right child pushed first: the left one is popped first
                    C = int(row[X, j])
                    c_lo = row[X, 3 + 2 * j]
                    c_hi = row[X, 4 + 2 * j]
                    if c_hi <= c_lo:
                        continue  # empty child
                    if h == f:  # the child must still reach the plane
                        if (c_hi != t) if refine_a else (c_lo != t):
                            continue
                    elif min(c_hi, o_hi) <= max(c_lo, o_lo):
                        continue
                    P = C if refine_a else A
                    Q = B if refine_a else C
                    if kind[P] and kind[Q] and out < buf_a.size:
                        # a face found: written now rather than pushed and popped
                        if kind[P] == 1 and kind[Q] == 1:
                            buf_a[out] = first[P]
                            buf_b[out] = first[Q]
                            out += 1
                        continue
                    stack[top, 0] = P
                    stack[top, 1] = Q
                    top += 1
            at += 1
            started = 0
        ends[f + 1] = out
        f += 1
    state[0], state[1], state[2], state[3], state[4] = n, 0, 0, out, 0
