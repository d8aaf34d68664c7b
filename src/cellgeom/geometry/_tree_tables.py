"""The tables :func:`cellgeom.geometry.tree_adjacency.tree_adjacency` reads: a tree's
nodes renumbered in depth-first pre-order, with their boxes, subtree sizes and leaves.

Compiled kernels in a file of their own (numba's disk cache checks a kernel against its
own file).
"""
from __future__ import annotations

from numba import njit

__all__ = ["old_ids", "preorder_tables"]


@njit(cache=True, nogil=True)
def old_ids(left, right, old, seen, stack):  # pragma: no cover - compiled
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
def preorder_tables(old, left, right, feature, node_lo, node_hi, leaf_id, lo, hi, kind,
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
