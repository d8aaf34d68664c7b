"""Adjacency of axis-aligned boxes by sweeps, never by testing all pairs.

Two boxes share a face of positive (n-1)-volume iff ``hi_a[f] == lo_b[f]`` on one
axis f and their intervals overlap with positive length on every other axis; the
face's volume is the product of those overlaps.

For each axis f the boxes are grouped by the exact value of the shared coordinate
(upper faces ``hi[:, f]`` against lower faces ``lo[:, f]``). Inside a group a sweep
along a second axis g (the group's thinnest, relative to its extent) keeps each side's
boxes whose g-interval is open at the sweep position, in contiguous arrays; a box
entering the sweep is tested against the other side's open boxes on the remaining axes
in one vectorised pass. Where the boxes are too wide on every axis for a sweep to
prune (a deep tree in 8-D: most pairs of a group overlap on any one axis), the group's
pairs are all tested in vectorised passes instead, which costs less than the sweep's
bookkeeping. Candidate pairs are never stored: a compiled pass (numba) appends the
faces' pairs to buffers grown by doubling, and a second flat pass over those pairs writes
the faces' volumes and centroids, so the memory is the output's (``32 + 8 n`` bytes per
face, plus at most the pair buffers' slack) and O(m n) work arrays.
"""
from __future__ import annotations

import numpy as np
from numba import njit

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

    Time O(m n log m + candidates + faces), where the candidates are the pairs tested
    in a group (those overlapping on its sweep axis, or all of a group whose boxes are
    too wide for a sweep to prune; tested in vectorised passes, never stored); memory
    O(m n + faces).

    Parameters
    ----------
    lo, hi : arrays of shape (m, n)
        The boxes ``[lo_i, hi_i]``, with ``lo < hi`` on every axis.

    Returns
    -------
    a, b, axis : int64 arrays
        Box ``a`` lies below box ``b`` on ``axis``: ``hi[a, axis] == lo[b, axis]``.
        Listed axis by axis.
    volume : float array
        Face (n-1)-volume, ``prod_{g != axis} (min(hi_a, hi_b) - max(lo_a, lo_b))_g``.
    centroid : (k, n) array
        Face centroid: overlap midpoints, and the shared coordinate on ``axis``.

    Examples
    --------
    >>> import numpy as np
    >>> lo = np.array([[0., 0], [1, 0], [0, 1]]); hi = np.array([[1., 1], [2, 2], [1, 2]])
    >>> a, b, axis, volume, centroid = box_adjacency(lo, hi)
    >>> sorted(zip(a.tolist(), b.tolist(), axis.tolist(), volume.tolist()))
    [(0, 1, 0, 1.0), (0, 2, 1, 1.0), (2, 1, 0, 1.0)]
    """
    lo = np.ascontiguousarray(lo, dtype=float)
    hi = np.ascontiguousarray(hi, dtype=float)
    m, n = lo.shape
    work = _workspace(m, n)
    # one pass finds the pairs into buffers grown by doubling (16 bytes per face); a
    # second, flat pass over the pairs computes the faces' volumes and centroids, so the
    # sweep's inner loops only test and append
    cap = max(1024, 8 * m)
    buf_a, buf_b = np.empty(cap, np.int64), np.empty(cap, np.int64)
    ends = np.zeros(n + 1, dtype=np.int64)
    for f in range(n):
        if f:  # room for the remaining axes at the rate seen so far: few regrowths
            need = int(1.2 * ends[f] * n / f) + 1024
            if need > buf_a.size:
                buf_a, buf_b = _grown(buf_a, buf_b, ends[f], need)
        oa = np.argsort(hi[:, f], kind="stable")
        ob = np.argsort(lo[:, f], kind="stable")
        ends[f + 1], buf_a, buf_b = _pairs_on_axis(lo, hi, f, oa, ob, buf_a, buf_b,
                                                   ends[f], work)
    total = int(ends[-1])
    a, b = buf_a[:total], buf_b[:total]
    if 2 * total < buf_a.size:  # do not keep a mostly empty buffer alive
        a, b = a.copy(), b.copy()
    axis = np.repeat(np.arange(n, dtype=np.int64), np.diff(ends))
    volume = np.empty(total)
    centroid = np.empty((total, n))
    _face_geometry(lo, hi, a, b, axis, volume, centroid)
    return a, b, axis, volume, centroid


def _workspace(m, n):
    """Work arrays of the sweep, sized for the largest possible group (allocated here,
    once, so they are counted with the rest of the call's memory)."""
    d = max(n - 1, 1)
    return (np.empty(2 * m, np.int64),                                 # group's box ids
            np.empty((d, 2 * m)), np.empty((d, 2 * m)),               # its other axes
            np.empty(2 * m), np.empty(2 * m),                         # its sweep axis
            np.empty((2, d, m)), np.empty((2, d, m)),                 # open boxes
            np.empty((2, m)), np.empty((2, m), np.int64),             # their hi_g, ids
            np.empty(m, np.uint8), np.empty(m, np.uint8),             # hit / open masks
            np.empty(d, np.int64))                                    # the tested axes


#: groups with at most this many pairs test them all (no set-up)
_ALL_PAIRS = 256
#: a larger group is swept when its boxes' mean width on the sweep axis is below this
#: share of the group's extent there, else all its pairs are tested in vectorised passes
_SWEEP_BELOW = 0.25


@njit(cache=True, nogil=True)
def _grown(buf_a, buf_b, k, need):  # pragma: no cover - compiled
    """The pair buffers doubled until they hold ``need`` rows, their first k rows kept."""
    size = 2 * buf_a.size
    while size < need:
        size *= 2
    new_a = np.empty(size, np.int64)
    new_b = np.empty(size, np.int64)
    new_a[:k] = buf_a[:k]
    new_b[:k] = buf_b[:k]
    return new_a, new_b


@njit(cache=True, nogil=True)
def _face_geometry(lo, hi, a, b, axis, volume, centroid):  # pragma: no cover - compiled
    """Volume and centroid of each face: box a[k] below box b[k] on axis[k]."""
    n = lo.shape[1]
    for k in range(a.size):
        f = axis[k]
        s = a[k]
        t = b[k]
        vol = 1.0
        for h in range(n):
            if h == f:
                centroid[k, h] = hi[s, f]
            else:
                top = min(hi[s, h], hi[t, h])
                bottom = max(lo[s, h], lo[t, h])
                centroid[k, h] = (bottom + top) / 2
                vol *= top - bottom
        volume[k] = vol


@njit(cache=True, nogil=True)
def _pairs_on_axis(lo, hi, f, oa, ob, buf_a, buf_b, start,
                   work):  # pragma: no cover - compiled
    """Append the pairs sharing a face on axis f to the buffers from row ``start`` on.

    ``oa`` sorts the boxes by hi_f, ``ob`` by lo_f; merging the two finds the groups of
    equal shared coordinate (side 0: boxes below, side 1: boxes above). Small groups
    test all their pairs; the others are swept, or tested pair by pair in vectorised
    passes where their boxes are too wide for a sweep to prune. Returns the count.
    """
    gid, Llo, Lhi, glo, ghi, Olo, Ohi, Og, Oid, hit, alive, dims = work
    m, n = lo.shape
    D = n - 2
    k = start
    ia = 0
    ib = 0
    while ia < m and ib < m:
        va = hi[oa[ia], f]
        vb = lo[ob[ib], f]
        if va < vb:
            ia += 1
            continue
        if vb < va:
            ib += 1
            continue
        ja = ia
        while ja < m and hi[oa[ja], f] == va:
            ja += 1
        jb = ib
        while jb < m and lo[ob[jb], f] == va:
            jb += 1
        na = ja - ia
        N = na + jb - ib
        for t in range(na):
            gid[t] = oa[ia + t]
        for t in range(N - na):
            gid[na + t] = ob[ib + t]
        ia = ja
        ib = jb
        if n == 1 or na * (N - na) <= _ALL_PAIRS:  # small group (or 1-D): all pairs
            for s in range(na):
                a = gid[s]
                for t in range(na, N):
                    b = gid[t]
                    ok = True
                    for h in range(n):
                        if h != f and min(hi[a, h], hi[b, h]) <= max(lo[a, h], lo[b, h]):
                            ok = False
                            break
                    if ok:
                        if k >= buf_a.size:
                            buf_a, buf_b = _grown(buf_a, buf_b, k, k + 1)
                        buf_a[k] = a
                        buf_b[k] = b
                        k += 1
            continue
        # sweep axis: the thinnest relative to the group's extent (fewest open boxes)
        g = -1
        best = np.inf
        for h in range(n):
            if h == f:
                continue
            low = lo[gid[0], h]
            high = hi[gid[0], h]
            width = 0.0
            for t in range(N):
                width += hi[gid[t], h] - lo[gid[t], h]
                low = min(low, lo[gid[t], h])
                high = max(high, hi[gid[t], h])
            score = width / (high - low)
            if score < best:
                best = score
                g = h
        if score > _SWEEP_BELOW:  # the sweep would keep most pairs: test them all, vectorised
            e = 0
            for h in range(n):
                if h != f:
                    dims[e] = h
                    e += 1
            for t in range(na):
                for e in range(n - 1):
                    Llo[e, t] = lo[gid[t], dims[e]]
                    Lhi[e, t] = hi[gid[t], dims[e]]
            for t in range(na, N):
                b = gid[t]
                for u in range(na):
                    hit[u] = 1
                for e in range(n - 1):
                    bl = lo[b, dims[e]]
                    bh = hi[b, dims[e]]
                    ol = Llo[e]
                    oh = Lhi[e]
                    for u in range(na):
                        hit[u] &= (ol[u] < bh) & (oh[u] > bl)
                # branch-free compaction: write every candidate, advance over the hits
                if k + na > buf_a.size:
                    buf_a, buf_b = _grown(buf_a, buf_b, k, k + na)
                for u in range(na):
                    buf_a[k] = gid[u]
                    buf_b[k] = b
                    k += hit[u]
            continue
        e = 0
        for h in range(n):
            if h != f and h != g:
                dims[e] = h
                e += 1
        for t in range(N):
            r = gid[t]
            glo[t] = lo[r, g]
            ghi[t] = hi[r, g]
            for e in range(D):
                Llo[e, t] = lo[r, dims[e]]
                Lhi[e, t] = hi[r, dims[e]]
        order = np.argsort(glo[:N])
        n_open = np.zeros(2, np.int64)  # (a large group: once per group)
        for q in range(N):
            t = order[q]
            side = 0 if t < na else 1
            other = 1 - side
            no = n_open[other]
            x = glo[t]
            if ghi[t] > x:  # (a box of zero width on g meets nothing)
                for u in range(no):
                    alive[u] = Og[other, u] > x
                    hit[u] = alive[u]
                for e in range(D):  # vectorised over the open boxes
                    bl = Llo[e, t]
                    bh = Lhi[e, t]
                    ol = Olo[other, e]
                    oh = Ohi[other, e]
                    for u in range(no):
                        hit[u] &= (ol[u] < bh) & (oh[u] > bl)
                n_closed = 0
                for u in range(no):
                    n_closed += 1 - alive[u]
                # branch-free compaction: write every candidate, advance over the hits
                if k + no > buf_a.size:
                    buf_a, buf_b = _grown(buf_a, buf_b, k, k + no)
                own = gid[t]
                below, above = (buf_a, buf_b) if side == 0 else (buf_b, buf_a)
                for u in range(no):
                    below[k] = own
                    above[k] = gid[Oid[other, u]]
                    k += hit[u]
                if n_closed * 4 > no:  # drop the closed boxes once they are a quarter
                    keep = 0
                    for u in range(no):
                        if alive[u]:
                            Og[other, keep] = Og[other, u]
                            Oid[other, keep] = Oid[other, u]
                            for e in range(D):
                                Olo[other, e, keep] = Olo[other, e, u]
                                Ohi[other, e, keep] = Ohi[other, e, u]
                            keep += 1
                    n_open[other] = keep
            c = n_open[side]
            Og[side, c] = ghi[t]
            Oid[side, c] = t
            for e in range(D):
                Olo[side, e, c] = Llo[e, t]
                Ohi[side, e, c] = Lhi[e, t]
            n_open[side] = c + 1
    return k, buf_a, buf_b


def box_touching_pairs(lo: np.ndarray, hi: np.ndarray):
    """Pairs ``a < b`` of closed boxes that intersect (touching counts), by a sweep.

    The boxes enter in order of ``lo`` on the axis with the most distinct values; each
    is tested against the boxes still open there (``hi >= its lo``) on every axis.
    Time O(m log m + candidates), memory O(m + pairs).
    """
    lo = np.ascontiguousarray(lo, dtype=float)
    hi = np.ascontiguousarray(hi, dtype=float)
    m, n = lo.shape
    if m < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    g = int(np.argmax([np.unique(lo[:, h]).size for h in range(n)]))
    order = np.argsort(lo[:, g], kind="stable")
    open_ids = np.empty(m, np.int64)
    empty = np.empty(0, np.int64)
    total = _touching_sweep(lo, hi, g, order, open_ids, empty, empty)
    a = np.empty(total, np.int64)
    b = np.empty(total, np.int64)
    _touching_sweep(lo, hi, g, order, open_ids, a, b)
    return a, b


@njit(cache=True, nogil=True)
def _touching_sweep(lo, hi, g, order, open_ids, out_a, out_b):  # pragma: no cover - compiled
    """Count (``out_a`` empty) or write the closed-intersecting pairs, ``a < b``."""
    m, n = lo.shape
    fill = out_a.size > 0
    k = 0
    n_open = 0
    for q in range(m):
        t = order[q]
        x = lo[t, g]
        keep = 0
        for u in range(n_open):
            s = open_ids[u]
            if hi[s, g] < x:
                continue  # closed before x
            open_ids[keep] = s
            keep += 1
            ok = True
            for h in range(n):
                if lo[s, h] > hi[t, h] or lo[t, h] > hi[s, h]:
                    ok = False
                    break
            if ok:
                if fill:
                    out_a[k] = min(s, t)
                    out_b[k] = max(s, t)
                k += 1
        open_ids[keep] = t
        n_open = keep + 1
    return k
