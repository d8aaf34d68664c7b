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
than refining them pair by pair; a leaf whose box misses the other subtree's box is
left out of those tests first (on 8-D trees the tests per face stay at ~1.7 from 10k to
100k leaves, against 2.9 -> 3.8 without).

The nodes are renumbered in depth-first pre-order first, so a subtree is a contiguous
block in memory (its leaves too), and the split nodes are taken axis by axis in that
order, which lists the faces axis by axis as ``box_adjacency`` does. The axes are cut
into runs of about equal work, one thread each (the kernels release the GIL; trees of
2,048 leaves or more): a run's faces are all its axes' faces, so the runs' rows joined
in axis order are one thread's. Pairs go to buffers grown 2-8 times at once, at the
rate of faces seen so far (16 bytes per face); one flat pass over them (per run, in its
thread) then writes the faces' volumes and centroids with ``box_adjacency``'s own
kernel, so the memory is the output's plus the buffers plus O(nodes x n).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

from ._tree_tables import old_ids as _old_ids
from ._tree_tables import preorder_tables as _preorder_tables
from .boxes import _face_geometry

__all__ = ["tree_adjacency"]


def tree_adjacency(left: np.ndarray, right: np.ndarray, feature: np.ndarray,
                   node_lo: np.ndarray, node_hi: np.ndarray, leaf_id: np.ndarray, *,
                   _small: int | None = None, _workers: int | None = None):
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
    tables = (kind, size, row, first, lo, hi, axis_lo, axis_hi, leaf_lo, leaf_hi, number,
              order, axis_start)
    # the axes in groups of about equal work, one thread each (the kernels release the
    # GIL); a group's faces are all its axes' faces, so the groups' rows joined in axis
    # order are the serial run's rows
    done = np.concatenate([[0], np.cumsum(size[order])])  # work before each split in order
    groups = _axis_groups(done, axis_start, _threads(n_leaves, _workers))
    run = lambda f0, f1: _axis_pairs(tables, axis_start, depth, f0, f1, done, small)  # noqa: E731
    if len(groups) == 2:
        parts = [run(groups[0], groups[1])]
    else:
        with ThreadPoolExecutor(len(groups) - 1) as pool:
            parts = list(pool.map(run, groups[:-1], groups[1:]))
    counts = np.sum([part[2] for part in parts], axis=0)
    total = int(counts.sum())
    axis = np.repeat(np.arange(n, dtype=np.int64), counts)
    volume = np.empty(total)
    centroid = np.empty((total, n))
    if len(parts) == 1:  # the pair buffers become the output, numbered in place
        a, b = parts[0][0], parts[0][1]
    else:
        a, b = np.empty(total, np.int64), np.empty(total, np.int64)
    starts = np.concatenate([[0], np.cumsum([part[0].size for part in parts])])

    def finish(i):  # each group's rows of the output, in its thread
        pre_a, pre_b, _ = parts[i]
        rows = slice(starts[i], starts[i + 1])
        # the leaves' node boxes are the leaf boxes: the same arithmetic as box_adjacency
        _face_geometry(leaf_lo, leaf_hi, pre_a, pre_b, axis[rows], volume[rows],
                       centroid[rows])
        _renumber(pre_a, a[rows], number)  # (in place when one group)
        _renumber(pre_b, b[rows], number)
        parts[i] = None  # the buffers are freed as soon as read

    if len(parts) == 1:
        finish(0)
    else:
        with ThreadPoolExecutor(len(parts)) as pool:
            list(pool.map(finish, range(len(parts))))
    return a, b, axis, volume, centroid


#: trees with fewer leaves are done on one thread: with 2,000 leaves in 8-D the kernels
#: take about 2 ms, against ~0.2 ms to start and join a thread pool
_PARALLEL_LEAVES = 2048


def _threads(n_leaves: int, workers: int | None) -> int:
    """Threads for a tree of ``n_leaves`` leaves: the CPUs this process may use (at most
    8), one below :data:`_PARALLEL_LEAVES` leaves; ``workers`` overrides."""
    if workers is not None:
        return max(1, int(workers))
    if n_leaves < _PARALLEL_LEAVES:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def _axis_groups(done: np.ndarray, axis_start: np.ndarray, threads: int) -> list[int]:
    """Axis bounds ``[0, f1, ..., n]`` cutting the axes into at most ``threads`` runs of
    about equal work (``done[i]``: leaves below the split nodes before ``order[i]``)."""
    n = axis_start.size - 1
    total = float(done[-1])
    before = done[axis_start]  # the work done before each axis starts
    bounds = [0]
    for j in range(1, min(threads, n)):
        f = int(np.argmin(np.abs(before - j * total / threads)))
        if bounds[-1] < f < n:
            bounds.append(f)
    return bounds + [n]


def _axis_pairs(tables, axis_start: np.ndarray, depth: int, f0: int, f1: int,
                done: np.ndarray, small: int):
    """The face pairs (pre-order leaf numbers) across the split nodes of axes ``f0`` to
    ``f1 - 1``: ``(a, b, counts per axis)``, grown buffers trimmed (``tables``: the
    kernel's arguments before ``f_stop``; ``done`` as in :func:`_axis_groups`)."""
    # the stack holds at most one pending sibling per refinement step of the current pair
    stack = np.empty((2 * depth + 4, 2), np.int64)
    s0, s1 = axis_start[f0], axis_start[f1]
    cap = max(1024, 8 * (s1 - s0))
    buf_a, buf_b = np.empty(cap, np.int64), np.empty(cap, np.int64)
    ends = np.zeros(axis_start.size, np.int64)
    # (axis, next split in ``order``, stack top, rows written, split started)
    state = np.array([f0, s0, 0, 0, 0], np.int64)
    while True:  # the kernel stops when the buffers are full: grow them and resume
        _tree_face_pairs(*tables, f1, stack, state, buf_a, buf_b, ends, small)
        if state[0] == f1:
            break
        # room for the rest at the rate seen so far (a split yields faces about in
        # proportion to the leaves below it), the split under way counted as done (its
        # share is not known: counting it as none grew the buffers a thousandfold, to
        # 19 GB at 100k leaves); at least doubled, at most 8 times: few regrowths, each a
        # copy of all rows
        i = state[1]
        share = (done[i + 1] - done[s0]) / max(done[s1] - done[s0], 1)
        need = int(1.2 * state[3] / max(share, 1e-3)) + 1024
        need = min(max(2 * buf_a.size, need), 8 * buf_a.size)
        buf_a, buf_b = _grown(buf_a, buf_b, int(state[3]), need)
    total = int(state[3])
    a, b = buf_a[:total], buf_b[:total]
    if 2 * total < buf_a.size:  # do not keep a mostly empty buffer alive
        a, b = a.copy(), b.copy()
    counts = np.zeros(ends.size - 1, np.int64)
    counts[f0:f1] = np.diff(ends[f0:f1 + 1])
    return a, b, counts


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
def _renumber(ids, out, number):  # pragma: no cover - compiled
    """Pre-order leaf numbers to the caller's leaf numbers, ``out[i] = number[ids[i]]``
    (``out`` may be ``ids``)."""
    for i in range(ids.size):
        out[i] = number[ids[i]]


@njit(cache=True, nogil=True, inline="always")
def _apart(leaf_lo, leaf_hi, u, lo, hi, v, f):  # pragma: no cover - compiled
    """Whether leaf u's box and node v's box have no positive overlap on an axis other
    than f."""
    for g in range(leaf_lo.shape[1]):
        if g != f and (leaf_lo[u, g] >= hi[v, g] or leaf_hi[u, g] <= lo[v, g]):
            return True
    return False


#: pairs of subtrees with at most this many leaves together test all pairs of their
#: leaves on the plane (tight loops over contiguous blocks) instead of refining pair by
#: pair (branches, scattered nodes); measured on 8-D trees of 10k and 100k leaves, the
#: kernel's time falls from 8 to 256 and is flat up to 1024
_SMALL = 256


@njit(cache=True, nogil=True)
def _tree_face_pairs(kind, size, row, first, lo, hi, axis_lo, axis_hi, leaf_lo, leaf_hi,
                     number, order, axis_start, f_stop, stack, state, buf_a, buf_b, ends,
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
    while f < f_stop:
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
                            # a leaf apart from B's box meets no leaf of B: left out, the
                            # pair tests below then grow with the faces, not the blocks
                            if _apart(leaf_lo, leaf_hi, u, lo, hi, B, f):
                                continue
                            for g in range(n):  # by axes: the tests below run over P
                                near_lo[g, na] = leaf_lo[u, g]
                                near_hi[g, na] = leaf_hi[u, g]
                            near_a[na] = u
                            na += 1
                    for Q in range(first[B], first[B] + size[B]):
                        if axis_lo[f, Q] != t or number[Q] < 0:
                            continue
                        if _apart(leaf_lo, leaf_hi, Q, lo, hi, A, f):
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
    state[0], state[1], state[2], state[3], state[4] = f_stop, 0, 0, out, 0
