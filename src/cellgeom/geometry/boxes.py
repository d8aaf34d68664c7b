"""Adjacency of axis-aligned boxes by sweeps, never by testing all pairs.

Two boxes share a face of positive (n-1)-volume iff ``hi_a[f] == lo_b[f]`` on one
axis f and their intervals overlap with positive length on every other axis; the
face's volume is the product of those overlaps. Adjacency is found by a
sort/sweep per axis (an interval join on integer keys).
"""
from __future__ import annotations

import numpy as np

__all__ = ["box_adjacency", "box_touching_pairs", "interval_join"]


def interval_join(a_lo, a_hi, b_lo, b_hi, closed: bool = False):
    """All pairs (i, j) whose intervals [a_lo_i, a_hi_i] and [b_lo_j, b_hi_j] overlap.

    Open overlap (positive length) by default, closed (touching counts) with
    ``closed=True``. Sort + ``searchsorted``: O((|A| + |B|) log + output).
    Case 1: b starts inside a (a_lo <= b_lo < a_hi); case 2: a starts strictly
    inside b (b_lo < a_lo < b_hi); the two cases are disjoint and cover all pairs.
    """
    ob = np.argsort(b_lo, kind="stable")
    oa = np.argsort(a_lo, kind="stable")
    bs, as_ = b_lo[ob], a_lo[oa]
    s1 = np.searchsorted(bs, a_lo, "left")
    e1 = np.searchsorted(bs, a_hi, "right" if closed else "left")
    s2 = np.searchsorted(as_, b_lo, "right")
    e2 = np.searchsorted(as_, b_hi, "right" if closed else "left")
    i1, j1 = _expand(s1, e1)
    j2, i2 = _expand(s2, e2)
    return (np.concatenate([i1, oa[i2]]), np.concatenate([ob[j1], j2]))


def _expand(start, end):
    """Rows ``(owner, position)`` for every position in ``[start_k, end_k)``."""
    counts = np.maximum(end - start, 0)
    owner = np.repeat(np.arange(start.size), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    pos = np.repeat(start, counts) + (np.arange(owner.size) - first)
    return owner, pos


def box_adjacency(lo: np.ndarray, hi: np.ndarray):
    """Pairs of boxes sharing a face of positive (n-1)-volume, by a sweep per axis.

    For each axis f the upper faces ``hi[a, f]`` and lower faces ``lo[b, f]`` are
    grouped by exact value; inside a group the intervals on a second axis g are
    joined by sorting, and the candidates are filtered on the remaining axes.

    Returns
    -------
    a, b, axis : int arrays
        Box ``a`` lies below box ``b`` on ``axis``: ``hi[a, axis] == lo[b, axis]``.
    volume : float array
        Face (n-1)-volume, ``prod_{g != axis} (min(hi_a, hi_b) - max(lo_a, lo_b))_g``.
    centroid : (k, n) array
        Face centroid: overlap midpoints, and the shared coordinate on ``axis``.
    """
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    m, n = lo.shape
    out_a, out_b, out_f = [], [], []
    lo_t, hi_t = np.ascontiguousarray(lo.T), np.ascontiguousarray(hi.T)  # column access
    distinct = np.array([np.unique(lo_t[h]).size for h in range(n)])
    ranks: dict[int, tuple] = {}  # per second axis g: cut-value ranks, computed once
    for f in range(n):
        if n > 1:
            # the most selective second axis: the one with the most distinct cut values
            g = int(np.argmax(np.where(np.arange(n) == f, -1, distinct)))
            if g not in ranks:
                coords, rank = np.unique(np.concatenate([lo_t[g], hi_t[g]]),
                                         return_inverse=True)
                ranks[g] = (rank[:m], rank[m:], coords.size + 1)
            r_lo, r_hi, width = ranks[g]
        else:
            r_lo, r_hi, width = np.zeros(m, np.int64), np.ones(m, np.int64), 2
        _, gid = np.unique(np.concatenate([hi[:, f], lo[:, f]]), return_inverse=True)
        ga, gb = gid[:m], gid[m:]
        i, j = interval_join(ga * width + r_lo, ga * width + r_hi,
                              gb * width + r_lo, gb * width + r_hi)
        for h in range(n):  # filter the candidates axis by axis (cheap, small temporaries)
            if h != f and i.size:
                lh, hh = lo_t[h], hi_t[h]
                ok = np.minimum(hh[i], hh[j]) > np.maximum(lh[i], lh[j])
                i, j = i[ok], j[ok]
        out_a.append(i)
        out_b.append(j)
        out_f.append(np.full(i.size, f, dtype=np.int64))
    a, b, axis = (np.concatenate(x) if x else np.zeros(0, np.int64)
                  for x in (out_a, out_b, out_f))
    # the axis-by-axis filter above already kept only positive overlaps off the shared axis
    ov_lo = np.maximum(lo[a], lo[b])
    ov_hi = np.minimum(hi[a], hi[b])
    rows = np.arange(a.size)
    centroid = (ov_lo + ov_hi) / 2
    ov_hi -= ov_lo  # the overlap widths, in place
    ov_hi[rows, axis] = 1.0
    centroid[rows, axis] = hi[a, axis]
    return a, b, axis, np.prod(ov_hi, axis=1), centroid


def box_touching_pairs(lo: np.ndarray, hi: np.ndarray):
    """Pairs ``a < b`` of closed boxes that intersect (touching counts), by a sweep
    on axis 0 and a filter on the others."""
    i, j = interval_join(lo[:, 0], hi[:, 0], lo[:, 0], hi[:, 0], closed=True)
    keep = i < j
    i, j = i[keep], j[keep]
    ok = np.all(np.minimum(hi[i], hi[j]) >= np.maximum(lo[i], lo[j]), axis=1)
    return i[ok], j[ok]


