"""Compiled grouping of equal rows by hashing: what ``np.unique(rows, return_index=True,
return_inverse=True, return_counts=True)`` gives on byte-string keys, in linear time.

Kept in its own file with everything it calls: numba's disk cache checks a kernel
against its own source file only.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["group_rows"]


def group_rows(left: np.ndarray, right: np.ndarray, rows: np.ndarray):
    """Groups of the rows ``rows`` of ``[left | right]`` that are equal bit for bit.

    Parameters
    ----------
    left, right : 2-D arrays of shape (K, w1), (K, w2), 8 bytes per entry
        The rows' words (e.g. a box's ``lo`` and ``hi``); compared as their bytes, as
        ``np.unique`` compares ``np.void`` keys (so -0.0 and 0.0 differ).
    rows : int array of shape (R,)
        The rows to group.

    Returns
    -------
    inverse : int64 array of shape (R,)
        Group of each row, groups numbered by first appearance.
    first : int64 array of shape (G,)
        Position in ``rows`` of each group's first row.
    counts : int64 array of shape (G,)
        Rows in each group.

    Sorting millions of 128-byte keys (``np.unique``) took seconds in the dual complex of
    an 8-D tree; one hash per row with an exact comparison on a hit takes one pass.
    """
    left = np.ascontiguousarray(left).view(np.int64)
    right = np.ascontiguousarray(right).view(np.int64)
    return _group(left, right, np.ascontiguousarray(rows, dtype=np.int64))


@njit(cache=True)
def _hash(left, right, r):  # pragma: no cover - compiled
    h = np.uint64(0xCBF29CE484222325)
    mul = np.uint64(0x9E3779B97F4A7C15)
    for j in range(left.shape[1]):
        h = (h ^ np.uint64(left[r, j])) * mul
        h ^= h >> np.uint64(29)
    for j in range(right.shape[1]):
        h = (h ^ np.uint64(right[r, j])) * mul
        h ^= h >> np.uint64(29)
    return h


@njit(cache=True)
def _same(left, right, r, s):  # pragma: no cover - compiled
    for j in range(left.shape[1]):
        if left[r, j] != left[s, j]:
            return False
    for j in range(right.shape[1]):
        if right[r, j] != right[s, j]:
            return False
    return True


@njit(cache=True)
def _group(left, right, rows):  # pragma: no cover - compiled
    R = rows.size
    size = 16
    while size < 2 * R:
        size *= 2
    mask = np.uint64(size - 1)
    table = np.full(size, -1, np.int64)  # group id in each slot
    inverse = np.empty(R, np.int64)
    first = np.empty(R, np.int64)
    counts = np.zeros(R, np.int64)
    n_groups = 0
    for i in range(R):
        r = rows[i]
        slot = _hash(left, right, r) & mask
        while True:
            g = table[slot]
            if g < 0:  # a new group
                g = n_groups
                table[slot] = g
                first[g] = i
                n_groups += 1
                break
            if _same(left, right, rows[first[g]], r):
                break
            slot = (slot + np.uint64(1)) & mask
        inverse[i] = g
        counts[g] += 1
    return inverse, first[:n_groups].copy(), counts[:n_groups].copy()
