"""Compiled loops of the dual rule on boxes: the stratum (common face) of candidate simplices.

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
def _grow_rows(rows, used, cap):
    out = np.empty((cap, rows.shape[1]))
    out[:used] = rows[:used]
    return out


@njit(cache=True)
def _open_pieces(L, H, split, n_split, lo, hi):
    """The pieces of the box ``[L, H]`` (flat where ``L == H``) that none of the boxes
    ``split[:n_split]`` cuts (meets in its relative interior without containing it): a
    binary space partition that halves a piece at a bound of a box cutting it, until none
    does. Each piece is a union of cells of the grid of all the boxes' bounds, with one
    star; they come in the order of their lowest corners, the last axis first (the grid's
    order). Returns (lows, highs, count)."""
    n = L.size
    cap = 16
    st_lo, st_hi = np.empty((cap, n)), np.empty((cap, n))
    p_lo, p_hi = np.empty((cap, n)), np.empty((cap, n))
    st_lo[0], st_hi[0] = L, H
    top, count = 1, 0
    meet = np.empty(max(n_split, 1), np.int64)
    while top > 0:
        top -= 1
        R_lo, R_hi = st_lo[top].copy(), st_hi[top].copy()
        # the boxes meeting R's relative interior, and whether one cuts it
        n_meet, cutting = 0, False
        for i in range(n_split):
            c = split[i]
            meets, contains = True, True
            for j in range(n):
                if R_hi[j] > R_lo[j]:
                    if not (lo[c, j] < R_hi[j] and hi[c, j] > R_lo[j]):
                        meets = False
                        break
                    if lo[c, j] > R_lo[j] or hi[c, j] < R_hi[j]:
                        contains = False
                elif not (lo[c, j] <= R_lo[j] and R_lo[j] <= hi[c, j]):
                    meets = False
                    break
            if meets:
                meet[n_meet] = c
                n_meet += 1
                cutting = cutting or not contains
        # the cut through the fewest of them: the boxes around J come from tilings (one per
        # side of J), and a cut along their own splits keeps the pieces about as many as
        # the boxes, where the first bound found could fragment them exponentially
        axis, value, best = -1, 0.0, n_meet + 1
        for i in range(n_meet if cutting else 0):
            c = meet[i]
            for j in range(n):
                for val in (lo[c, j], hi[c, j]):
                    if best == 0 or not (R_lo[j] < val and val < R_hi[j]):
                        continue  # (a cut crossing no box is as good as any)
                    crossed = 0
                    for q in range(n_meet):
                        if lo[meet[q], j] < val and val < hi[meet[q], j]:
                            crossed += 1
                    if crossed < best:
                        axis, value, best = j, val, crossed
        if axis < 0:
            if count >= p_lo.shape[0]:
                p_lo, p_hi = _grow_rows(p_lo, count, 2 * count), _grow_rows(p_hi, count, 2 * count)
            p_lo[count], p_hi[count] = R_lo, R_hi
            count += 1
            continue
        if top + 2 > st_lo.shape[0]:
            st_lo, st_hi = _grow_rows(st_lo, top, 2 * top + 2), _grow_rows(st_hi, top, 2 * top + 2)
        st_lo[top], st_hi[top] = R_lo, R_hi
        st_hi[top, axis] = value
        st_lo[top + 1], st_hi[top + 1] = R_lo, R_hi
        st_lo[top + 1, axis] = value
        top += 2
    # the grid's order: lowest corners compared from the last axis (insertion sort)
    for a in range(1, count):
        row_lo, row_hi = p_lo[a].copy(), p_hi[a].copy()
        b = a - 1
        while b >= 0 and _after(p_lo[b], row_lo):
            p_lo[b + 1], p_hi[b + 1] = p_lo[b], p_hi[b]
            b -= 1
        p_lo[b + 1], p_hi[b + 1] = row_lo, row_hi
    return p_lo, p_hi, count


@njit(cache=True)
def _after(a, b):
    """Whether corner ``a`` comes after ``b``, the last axis the most significant."""
    for j in range(a.size - 1, -1, -1):
        if a[j] != b[j]:
            return a[j] > b[j]
    return False


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
                    o_lo, o_hi = _grow_rows(o_lo, used, cap), _grow_rows(o_hi, used, cap)
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
            # the open pieces of J that no box cuts, in the order of the grid of all cut
            # values (whose size is a product over J's axes: 2^60 pieces in 64-D)
            p_lo, p_hi, n_pieces = _open_pieces(L, H, split, n_split, lo, hi)
            for piece in range(n_pieces):
                for j in range(n):
                    x[j] = 0.5 * (p_lo[piece, j] + p_hi[piece, j])
                k, frac = _star_at(x, scan, lo, hi, nptr, nids, star)
                if k == 0 or star[0] != v0 or abs(frac - 1.0) > 1e-9:
                    continue
                # the stratum of x: the intersection of the cells around it
                if used >= cap:
                    cap *= 2
                    o_lo, o_hi = _grow_rows(o_lo, used, cap), _grow_rows(o_hi, used, cap)
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

