"""Compiled loops of the dual rule: the stratum (common face) of candidate simplices.

numba (cached on disk) compiles them; they work on flat CSR arrays. See
:mod:`cellgeom.complex.dual` for the construction they serve.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _grow(buf, used, extra):
    if used + extra <= buf.size:
        return buf
    cap = max(2 * buf.size, used + extra)
    out = np.empty(cap, buf.dtype)
    out[:used] = buf[:used]
    return out


@njit(cache=True)
def _intersect_sorted(a, b):
    out = np.empty(min(a.size, b.size), np.int64)
    i = 0
    j = 0
    k = 0
    while i < a.size and j < b.size:
        if a[i] < b[j]:
            i += 1
        elif b[j] < a[i]:
            j += 1
        else:
            out[k] = a[i]
            k += 1
            i += 1
            j += 1
    return out[:k]


@njit(cache=True)
def _is_subset_sorted(a, b):
    """Every element of sorted ``a`` is in sorted ``b``."""
    j = 0
    for i in range(a.size):
        while j < b.size and b[j] < a[i]:
            j += 1
        if j >= b.size or b[j] != a[i]:
            return False
        j += 1
    return True


@njit(cache=True)
def _solid_share(lo, hi, c, x):
    """The share of a small ball around x that box c holds, for x in the closed box:
    1/2 for every axis on which x is on the box's boundary."""
    share = 1.0
    for j in range(lo.shape[1]):
        if not (lo[c, j] < x[j] and x[j] < hi[c, j]):
            share *= 0.5
    return share


@njit(cache=True)
def _v0_first(star, k, v0):
    """Order ``star[:k]`` (which holds v0) as v0 followed by the others increasing."""
    star[:k].sort()
    i = np.searchsorted(star[:k], v0)
    star[1:i + 1] = star[:i].copy()
    star[0] = v0


@njit(cache=True)
def _star_at(x, c0, lo, hi, nptr, nids, out):
    """Cells among c0 and its touching neighbours whose closed box holds the point x
    (sorted, written to ``out``), and the sum of their solid-angle fractions at x (1 when
    they fill a neighbourhood of x). Returns (count, fraction)."""
    n = lo.shape[1]
    k = 0
    frac = 0.0
    for q in range(nptr[c0] - 1, nptr[c0 + 1]):
        c = c0 if q < nptr[c0] else nids[q]
        inside = True
        for j in range(n):
            if lo[c, j] > x[j] or hi[c, j] < x[j]:
                inside = False
                break
        if not inside:
            continue
        frac += _solid_share(lo, hi, c, x)
        out[k] = c
        k += 1
    # c0 comes first, its neighbours after it in increasing order: sort the head in
    for i in range(1, k):
        v = out[i]
        t = i - 1
        while t >= 0 and out[t] > v:
            out[t + 1] = out[t]
            t -= 1
        out[t + 1] = v
    return k, frac


@njit(cache=True)
def box_extend(cand, tau, r_ptr, r_lo, r_hi, lo, hi, nptr, nids, cells=False):
    """Which candidate rows of boxes are simplices of the pulled dual complex, and where.

    A simplex tau (rows ``tau``: the candidate without its first cell v0) is realised by
    strata G (their closures, boxes ``r_lo/r_hi[r_ptr[t]:r_ptr[t+1]]``). The candidate
    v0 + tau is a simplex iff some stratum F lies in ``J = closure(G) ∩ box(v0)`` for a
    realising G, with every cell around F present, F off the domain boundary, and v0 the
    lowest cell around F. The maximal such F (their closures) realise the candidate.

    J usually is the closure of one stratum (no box meets its relative interior without
    containing it); otherwise (boxes with coinciding coordinates in 3-D and up) J is cut
    by those boxes' bounds into a grid whose open pieces are tested one by one.

    ``cells``: the strata are the cells' own boxes (``r_lo, r_hi = lo, hi``, candidates
    are pairs, tau[r] the cell). Then a J of dimension n - 1 is the piece of facet the two
    boxes share, and as the boxes' interiors are disjoint no third box contains it or
    meets its relative interior (it would overlap one of the two): the star is the two
    cells and nothing splits J, so v0's neighbours (thousands around a large box of an
    8-D tree) are not scanned; the test and what is written are the scan's own.

    Returns ok (per candidate), and per kept candidate its realising strata (CSR
    ``out_ptr``): closure corners, dimension, volume, and the cells around each (CSR).
    """
    N, w = cand.shape
    n = lo.shape[1]
    ok = np.zeros(N, np.bool_)
    out_ptr = np.zeros(N + 1, np.int64)
    cap = max(16, 2 * N)
    o_lo = np.empty((cap, n))
    o_hi = np.empty((cap, n))
    o_dim = np.empty(cap, np.int64)
    o_vol = np.empty(cap)
    s_cnt = np.empty(cap, np.int64)
    s_ids = np.empty(max(16, 8 * N), np.int64)
    used = 0
    s_used = 0
    L = np.empty(n)
    H = np.empty(n)
    x = np.empty(n)
    max_deg = 1
    for c in range(nptr.size - 1):
        if nptr[c + 1] - nptr[c] + 1 > max_deg:
            max_deg = nptr[c + 1] - nptr[c] + 1
    star = np.empty(max_deg, np.int64)
    split = np.empty(max_deg, np.int64)
    for r in range(N):
        v0 = cand[r, 0]
        t = tau[r]
        first = used
        # a box meeting J below touches every cell of the candidate (J lies in all their
        # closures): scan the shortest neighbour list (v0, the largest box, often the longest)
        scan = v0
        for i in range(1, w):
            c = cand[r, i]
            if nptr[c + 1] - nptr[c] < nptr[scan + 1] - nptr[scan]:
                scan = c
        for g in range(r_ptr[t], r_ptr[t + 1]):
            empty = False
            for j in range(n):
                L[j] = max(r_lo[g, j], lo[v0, j])
                H[j] = min(r_hi[g, j], hi[v0, j])
                if H[j] < L[j]:
                    empty = True
            if empty:
                continue
            # boxes meeting J's relative interior without containing J cut it; the boxes
            # containing J (its star when nothing cuts it) and their solid angles at the
            # midpoint of J come out of the same pass
            n_split = 0
            k = 0
            frac = 0.0
            lowest = v0
            for j in range(n):
                x[j] = 0.5 * (L[j] + H[j])
            flat = 0
            if cells:
                for j in range(n):
                    if H[j] == L[j]:
                        flat += 1
            if flat == 1:  # a shared facet piece: its star is the two cells (see above)
                for c in (v0, t):
                    frac += _solid_share(lo, hi, c, x)
                    star[k] = c
                    k += 1
                lowest = min(v0, t)
            for q in range(nptr[scan] - 1, nptr[scan + 1] if flat != 1 else nptr[scan] - 1):
                c = scan if q < nptr[scan] else nids[q]
                contains = True
                meets = True
                for j in range(n):
                    if lo[c, j] > L[j] or hi[c, j] < H[j]:
                        contains = False
                    if H[j] > L[j]:
                        if not (lo[c, j] < H[j] and hi[c, j] > L[j]):
                            meets = False
                    elif not (lo[c, j] <= L[j] and L[j] <= hi[c, j]):
                        meets = False
                    if not meets:  # (containing J implies meeting it): c is out
                        break
                if contains:
                    frac += _solid_share(lo, hi, c, x)  # (sums of powers of 1/2: exact)
                    star[k] = c
                    k += 1
                    if c < lowest:
                        lowest = c
                elif meets:
                    split[n_split] = c
                    n_split += 1
            if scan != v0 and flat != 1:  # the star as v0's scan lists it: v0, the rest up
                _v0_first(star, k, v0)
            if n_split == 0:
                # relint J is one stratum, and its closure is J itself
                if lowest < v0 or abs(frac - 1.0) > 1e-9:
                    continue
                if used >= cap:
                    cap *= 2
                    o_lo2 = np.empty((cap, n))
                    o_hi2 = np.empty((cap, n))
                    o_lo2[:used] = o_lo[:used]
                    o_hi2[:used] = o_hi[:used]
                    o_lo, o_hi = o_lo2, o_hi2
                    o_dim = _grow(o_dim, used, cap - used)
                    o_vol = _grow(o_vol, used, cap - used)
                    s_cnt = _grow(s_cnt, used, cap - used)
                dup = False
                for u in range(first, used):
                    same = True
                    for j in range(n):
                        if o_lo[u, j] != L[j] or o_hi[u, j] != H[j]:
                            same = False
                            break
                    if same:
                        dup = True
                        break
                if dup:
                    continue
                d = 0
                v = 1.0
                for j in range(n):
                    o_lo[used, j] = L[j]
                    o_hi[used, j] = H[j]
                    if H[j] > L[j]:
                        d += 1
                        v *= H[j] - L[j]
                o_dim[used] = d
                o_vol[used] = v
                s_cnt[used] = k
                s_ids = _grow(s_ids, s_used, k)
                s_ids[s_used:s_used + k] = star[:k]
                s_used += k
                used += 1
                continue
            # the grid of open pieces of J: per free axis the cut values inside (L, H)
            cuts = np.empty((n, 2 * n_split + 2))
            n_cuts = np.zeros(n, np.int64)
            for j in range(n):
                cuts[j, 0] = L[j]
                k = 1
                if H[j] > L[j]:
                    for i in range(n_split):
                        for val in (lo[split[i], j], hi[split[i], j]):
                            if L[j] < val and val < H[j]:
                                cuts[j, k] = val
                                k += 1
                    cuts[j, k] = H[j]
                    k += 1
                    srt = np.sort(cuts[j, :k])
                    k = 1
                    for i in range(1, srt.size):  # distinct values only
                        if srt[i] > srt[i - 1]:
                            srt[k] = srt[i]
                            k += 1
                    cuts[j, :k] = srt[:k]
                n_cuts[j] = k
            n_pieces = 1
            for j in range(n):
                if n_cuts[j] > 1:
                    n_pieces *= n_cuts[j] - 1
            for piece in range(n_pieces):
                rem = piece
                for j in range(n):
                    if n_cuts[j] > 1:
                        i = rem % (n_cuts[j] - 1)
                        rem //= n_cuts[j] - 1
                        x[j] = 0.5 * (cuts[j, i] + cuts[j, i + 1])
                    else:
                        x[j] = L[j]
                k, frac = _star_at(x, scan, lo, hi, nptr, nids, star)
                if k == 0 or star[0] != v0 or abs(frac - 1.0) > 1e-9:
                    continue
                # the stratum of x: the intersection of the cells around it
                if used >= cap:
                    cap *= 2
                    o_lo2 = np.empty((cap, n))
                    o_hi2 = np.empty((cap, n))
                    o_lo2[:used] = o_lo[:used]
                    o_hi2[:used] = o_hi[:used]
                    o_lo, o_hi = o_lo2, o_hi2
                    o_dim = _grow(o_dim, used, cap - used)
                    o_vol = _grow(o_vol, used, cap - used)
                    s_cnt = _grow(s_cnt, used, cap - used)
                for j in range(n):
                    o_lo[used, j] = lo[star[0], j]
                    o_hi[used, j] = hi[star[0], j]
                for i in range(1, k):
                    for j in range(n):
                        o_lo[used, j] = max(o_lo[used, j], lo[star[i], j])
                        o_hi[used, j] = min(o_hi[used, j], hi[star[i], j])
                dup = False
                for u in range(first, used):
                    same = True
                    for j in range(n):
                        if o_lo[u, j] != o_lo[used, j] or o_hi[u, j] != o_hi[used, j]:
                            same = False
                            break
                    if same:
                        dup = True
                        break
                if dup:
                    continue
                d = 0
                v = 1.0
                for j in range(n):
                    if o_hi[used, j] > o_lo[used, j]:
                        d += 1
                        v *= o_hi[used, j] - o_lo[used, j]
                o_dim[used] = d
                o_vol[used] = v
                s_cnt[used] = k
                s_ids = _grow(s_ids, s_used, k)
                s_ids[s_used:s_used + k] = star[:k]
                s_used += k
                used += 1
        # keep the maximal strata: drop one whose closure lies in another's
        keep_to = first
        s_read = s_used
        for u in range(first, used):
            s_read -= s_cnt[u]
        s_write = s_read
        for u in range(first, used):
            inner = False
            for u2 in range(first, used):
                if u2 == u or o_dim[u2] <= o_dim[u]:
                    continue
                inside = True
                for j in range(n):
                    if o_lo[u, j] < o_lo[u2, j] or o_hi[u, j] > o_hi[u2, j]:
                        inside = False
                        break
                if inside:
                    inner = True
                    break
            cnt = s_cnt[u]
            if not inner:
                for j in range(n):
                    o_lo[keep_to, j] = o_lo[u, j]
                    o_hi[keep_to, j] = o_hi[u, j]
                o_dim[keep_to] = o_dim[u]
                o_vol[keep_to] = o_vol[u]
                s_cnt[keep_to] = cnt
                for i in range(cnt):
                    s_ids[s_write + i] = s_ids[s_read + i]
                s_write += cnt
                keep_to += 1
            s_read += cnt
        used = keep_to
        s_used = s_write
        out_ptr[r + 1] = used
        ok[r] = used > first
    s_ptr = np.zeros(used + 1, np.int64)
    for u in range(used):
        s_ptr[u + 1] = s_ptr[u] + s_cnt[u]
    return ok, out_ptr, o_lo[:used], o_hi[:used], o_dim[:used], o_vol[:used], s_ptr, \
        s_ids[:s_used]


@njit(cache=True)
def vertex_strata(cand, cvptr, cvids, vcptr, vcids, bptr, bfptr, bfvids):
    """For each candidate row of cells of a face-to-face partition with known vertices:
    is it a simplex of the pulled dual complex?

    ``C`` = the vertices common to the candidate's cells (the vertices of their common
    face F), ``S`` = the cells containing every vertex of C (the cells around F). The row
    is kept iff C is not empty, no cell of S has a lower index than the first cell, and
    no cell of S has a facet towards the domain boundary or a cell outside the partition
    (``bptr``/``bfptr``/``bfvids``: per cell its such facets, each as sorted vertex ids)
    that contains all of C: F is interior and every cell around it is present.
    Returns the kept flags, S (CSR) and C (CSR).
    """
    N, w = cand.shape
    ok = np.zeros(N, np.bool_)
    cl_ptr = np.zeros(N + 1, np.int64)
    cv_ptr = np.zeros(N + 1, np.int64)
    cl = np.empty(max(16, 4 * N), np.int64)
    cv = np.empty(max(16, 4 * N), np.int64)
    used_cl = 0
    used_cv = 0
    for r in range(N):
        cl_ptr[r + 1] = used_cl
        cv_ptr[r + 1] = used_cv
        c0 = cand[r, 0]
        common = cvids[cvptr[c0]:cvptr[c0 + 1]]
        for t in range(1, w):
            c = cand[r, t]
            common = _intersect_sorted(common, cvids[cvptr[c]:cvptr[c + 1]])
            if common.size == 0:
                break
        if common.size == 0:
            continue
        star = vcids[vcptr[common[0]]:vcptr[common[0] + 1]]
        for t in range(1, common.size):
            v = common[t]
            star = _intersect_sorted(star, vcids[vcptr[v]:vcptr[v + 1]])
        if star.size == 0 or star[0] != c0:
            continue
        bad = False
        for t in range(star.size):
            c = star[t]
            for f in range(bptr[c], bptr[c + 1]):
                if _is_subset_sorted(common, bfvids[bfptr[f]:bfptr[f + 1]]):
                    bad = True
                    break
            if bad:
                break
        if bad:
            continue
        ok[r] = True
        cl = _grow(cl, used_cl, star.size)
        cl[used_cl:used_cl + star.size] = star
        used_cl += star.size
        cv = _grow(cv, used_cv, common.size)
        cv[used_cv:used_cv + common.size] = common
        used_cv += common.size
        cl_ptr[r + 1] = used_cl
        cv_ptr[r + 1] = used_cv
    return ok, cl_ptr, cl[:used_cl], cv_ptr, cv[:used_cv]


@njit(cache=True)
def star_pairs(vcptr, vcids):
    """All pairs a < b of cells that share a vertex (with repeats), from the vertex stars."""
    total = 0
    for v in range(vcptr.size - 1):
        k = vcptr[v + 1] - vcptr[v]
        total += k * (k - 1) // 2
    a = np.empty(total, np.int64)
    b = np.empty(total, np.int64)
    t = 0
    for v in range(vcptr.size - 1):
        s, e = vcptr[v], vcptr[v + 1]
        for i in range(s, e):
            for j in range(i + 1, e):
                a[t] = vcids[i]
                b[t] = vcids[j]
                t += 1
    return a, b


@njit(cache=True)
def box_touching(lo, hi, order):
    """Pairs of closed boxes that intersect (touching counts), by a sweep along axis 0
    (``order`` sorts the boxes by their lower bound there) with a test on every axis.
    Returns (a, b) with a < b."""
    m, n = lo.shape
    cap = max(16, 8 * m)
    a = np.empty(cap, np.int64)
    b = np.empty(cap, np.int64)
    k = 0
    for i in range(m):
        p = order[i]
        top = hi[p, 0]
        for jj in range(i + 1, m):
            q = order[jj]
            if lo[q, 0] > top:
                break
            touch = True
            for d in range(1, n):
                if lo[q, d] > hi[p, d] or lo[p, d] > hi[q, d]:
                    touch = False
                    break
            if touch:
                if k >= cap:
                    cap *= 2
                    na = np.empty(cap, np.int64)
                    nb = np.empty(cap, np.int64)
                    na[:k] = a[:k]
                    nb[:k] = b[:k]
                    a, b = na, nb
                a[k] = min(p, q)
                b[k] = max(p, q)
                k += 1
    return a[:k], b[:k]

