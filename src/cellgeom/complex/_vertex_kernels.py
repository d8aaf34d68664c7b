"""Compiled loops of the dual rule on face-to-face partitions with known vertices: which
candidate rows of cells are simplices, from the vertices common to their cells.

numba (cached on disk) compiles them; they work on flat CSR arrays. Kept apart from
:mod:`._strata_kernels` (boxes), each file with everything its kernels call: numba's disk
cache checks a kernel against its own source file only. See
:mod:`cellgeom.complex.dual_vertices` for the construction they serve.
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
