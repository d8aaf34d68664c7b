"""Facet or redundant, for every row of one cell: the certificates of the vertex walk.

The walk itself (basis, pricing, ratio test, rank-one updates) is in
:mod:`cellgeom.geometry.simplex`; here it maximises ``a_k x`` for one undecided row after
the other and stops as soon as a certificate, checked in float64 on the original rows,
settles the row (see :func:`facet_status`). Rows it cannot certify are returned as
``FALLBACK`` for the exact HiGHS route.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .simplex import (
    BLAND_AFTER,
    REFACTOR,
    _box_max,
    _pivot,
    _price,
    _products,
    _ratio,
    _refactor,
    _reset,
    axis_bounds,
)

__all__ = ["facet_status", "UNDECIDED", "REDUNDANT", "FACET", "FALLBACK"]

#: status codes of :func:`facet_status`
UNDECIDED, REDUNDANT, FACET, FALLBACK = -2, 0, 1, -1


@njit(cache=True, error_model="numpy")
def _redundancy_bound(A, b, k, y, basis, lo, hi, g, exact):
    """Upper bound of ``a_k x`` over ``P`` without row ``k`` (relaxed by one unit).

    ``a_k = sum_l y_l u_l`` over the basis rows ``u_l`` (``e_i`` for an artificial slot);
    with ``y+ = max(y, 0)`` on the real rows and the residual
    ``g = a_k - sum_l y+_l a_{B_l}``, every ``x`` of the relaxed polytope has
    ``a_k x <= sum_l y+_l b_{B_l} + max_{box} g.x``. ``lo``/``hi`` already carry row
    ``k``'s own box bound relaxed when ``k`` is a box row. ``exact=False`` takes ``g`` as
    the sum over the other slots (cheap, exact up to rounding: a filter only);
    ``exact=True`` computes ``g`` from ``a_k`` itself, which is what certifies.
    """
    total = 0.0
    n = g.size
    if exact:
        g[:] = A[k]
        for l in range(y.size):
            r = basis[l]
            if r >= 0 and r != k and y[l] > 0.0:
                total += y[l] * b[r]
                f = y[l]
                for j in range(n):
                    g[j] -= f * A[r, j]
    else:
        g[:] = 0.0
        for l in range(y.size):
            r = basis[l]
            f = y[l]
            if r >= 0 and r != k and f > 0.0:
                total += f * b[r]
            elif r >= 0:
                for j in range(n):
                    g[j] += f * A[r, j]
            else:
                g[-1 - r] += f
    return total + _box_max(g, lo, hi)


@njit(cache=True, error_model="numpy")
def _verify_facet(A, b, live, k, w, center, s_center, tol, Ap):
    """Exact witness check: a point violating row ``k`` by more than ``tol``, strictly
    inside every other live row.

    ``w`` violates only row ``k`` up to rounding; it is pulled towards the interior point
    ``c`` just enough to keep half of its excess violation, which makes every other row's
    slack at least ``mu * s_i(c) > 0``. Then every row is checked in float64.
    """
    viol = np.dot(A[k], w) - b[k]
    if not viol > 2.0 * tol:
        return False
    mu = 0.5 * (viol - tol) / (viol + s_center[k])
    for j in range(w.size):  # in place: w is a scratch point
        w[j] = (1.0 - mu) * w[j] + mu * center[j]
    np.dot(A, w, Ap)
    if not Ap[k] - b[k] > tol:
        return False
    for i in range(A.shape[0]):
        if live[i] and i != k and not Ap[i] < b[i]:
            return False
    return True


@njit(cache=True, error_model="numpy")
def _certify_slot(A, b, live, status, l, basis, D, x, s, Ac, rows, ngen, nrows, ax, cf,
                  center, s_center, tol, Ad, p):
    """Facet witness for the basic row of slot ``l``: its edge ``D[l]`` out of ``P``.

    ``a_r . D[l] = 1`` and the other basic rows stay tight along it; walking it until
    another row that may block stops it gives a point that violates only row ``r``
    (checked on every live row by :func:`_verify_facet`).
    """
    r = basis[l]
    d = D[l]
    n = d.size
    piv_tol = 1e-10 * np.sqrt(np.dot(d, d))
    _products(Ac, ngen, nrows, ax, cf, d, Ad)
    t = 1.0  # the violation: at most one unit, as the relaxed LP of the oracle
    for q in range(nrows):  # basic rows carry slack inf
        if Ad[q] > piv_tol:
            t = min(t, max(s[rows[q]], 0.0) / Ad[q])
    if t > 2.0 * tol:
        for j in range(n):
            p[j] = x[j] + t * d[j]
        if _verify_facet(A, b, live, r, p, center, s_center, tol, Ad):
            status[r] = FACET


@njit(cache=True, error_model="numpy")
def _decide_row(A, b, live, status, k, basis, is_basic, art_val, D, w, y, x, s, Ac, rows,
                ngen, nrows, ax, cf, center, s_center, lo, hi, tol, harris, max_pivots,
                counters, d, Ad, alpha, g, p):
    """Walk ``max a_k x`` over ``P`` with row ``k`` relaxed until a certificate settles it.

    Stops with ``status[k]`` = FACET (a verified witness), REDUNDANT (the bound of
    :func:`_redundancy_bound` below ``b_k + tol / 2``) or FALLBACK (the optimum lies
    between ``b_k + tol / 2`` and ``b_k + 2 tol``, a numerical failure, or the pivot cap).
    A step crossing hyperplane ``k`` by more than ``2 tol`` is not taken, so the vertex
    stays in ``P`` up to that. Rows entering the basis on the way are tried as facets
    (their edge out of ``P``). Only ``rows[:nrows]`` block (see :func:`_facet_kernel`).
    """
    n = D.shape[0]
    pivots, degenerate = 0, 0
    s[k] = np.inf  # row k is relaxed: it never blocks
    np.dot(D, A[k], y)
    while True:
        if counters[1] >= REFACTOR:
            counters[1] = 0
            if not _refactor(A, b, basis, art_val, D, w, x, s, is_basic, live, k):
                _reset(center, basis, art_val, D, w, x, s, is_basic, A, b, live)
                status[k] = FALLBACK
                break
            np.dot(D, A[k], y)
        # redundant when the bound cannot exceed the oracle's b_k + tol: the cheap form
        # first (a filter), then the exact one
        if (_redundancy_bound(A, b, k, y, basis, lo, hi, g, False) < b[k] + 0.75 * tol
                and _redundancy_bound(A, b, k, y, basis, lo, hi, g, True) < b[k] + 0.5 * tol):
            status[k] = REDUNDANT
            break
        if pivots >= max_pivots:
            status[k] = FALLBACK
            break
        bland = degenerate >= BLAND_AFTER
        slot, sign = _price(y, w, basis, k, bland)
        if slot < 0:  # optimal, and neither certificate holds: the optimum is within tol
            status[k] = FALLBACK
            break
        for j in range(n):
            d[j] = sign * D[slot, j]
        gain = sign * y[slot]
        dnorm = np.sqrt(w[slot])
        enter, _, t = _ratio(Ac, rows, ngen, nrows, ax, cf, d, s, Ad, 1e-10 * dnorm, harris,
                             bland)
        value = np.dot(A[k], x)
        end = value + t * gain
        if end > b[k] + 2.0 * tol:  # the edge leaves P through row k: a witness
            tw = min(t, (b[k] + 1.0 - value) / gain)
            for j in range(n):
                p[j] = x[j] + tw * d[j]
            ok = _verify_facet(A, b, live, k, p, center, s_center, tol, Ad)
            status[k] = FACET if ok else FALLBACK
            break
        if enter < 0:
            status[k] = FALLBACK
            break
        _pivot(A, b, D, w, y, basis, is_basic, x, s, rows, nrows, slot, enter, t, d, Ad,
               alpha, p)
        s[k] = np.inf  # row k may have left its slot: it stays relaxed
        pivots += 1
        counters[0] += 1
        counters[1] += 1
        degenerate = degenerate + 1 if t * dnorm <= harris else 0
        if status[enter] == UNDECIDED and enter != k:
            _certify_slot(A, b, live, status, slot, basis, D, x, s, Ac, rows, ngen, nrows, ax,
                          cf, center, s_center, tol, Ad, p)
    if not is_basic[k]:  # back among the rows that block
        s[k] = b[k] - np.dot(A[k], x)


@njit(cache=True, error_model="numpy")
def _facet_kernel(A, b, live, status, center, lo, hi, lo_row, hi_row, lo2, hi2, tol,
                  harris, max_pivots, axis_of, coef_of):
    """Settle every undecided live row by walks (``status`` in place).

    Returns the number of walks and of pivots. The ratio tests run over ``rows``: the
    live rows not yet certified redundant. Dropping a redundant row leaves ``P`` as it is
    (up to ``tol``), and every certificate is still checked on all live rows.
    """
    m, n = A.shape
    basis = np.empty(n, dtype=np.int64)
    art_val = np.empty(n)
    D = np.empty((n, n))
    w = np.empty(n)
    x = np.empty(n)
    s = np.empty(m)
    is_basic = np.zeros(m, dtype=np.bool_)
    _reset(center, basis, art_val, D, w, x, s, is_basic, A, b, live)
    s_center = b - A @ center
    y, d, alpha, g, p = np.empty(n), np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    Ad = np.empty(m)
    cosine = np.empty(m)
    # the rows that may block: general rows first (contiguous in Ac for BLAS), then the
    # axis rows (ax, cf: their axis and coefficient, by position)
    blocking = live & (status != REDUNDANT)
    general = np.flatnonzero(blocking & (axis_of < 0))
    rows = np.concatenate((general, np.flatnonzero(blocking & (axis_of >= 0))))
    ngen, nrows = general.size, rows.size
    Ac = np.empty((ngen, n))
    for q in range(ngen):
        Ac[q] = A[rows[q]]
    ax = np.zeros(m, dtype=np.int64)
    cf = np.zeros(m)
    for q in range(ngen, nrows):
        ax[q], cf[q] = axis_of[rows[q]], coef_of[rows[q]]
    position = np.full(m, -1)
    position[rows] = np.arange(nrows)
    counters = np.zeros(3, dtype=np.int64)  # pivots, pivots since refactorisation, LPs
    lo_k, hi_k = lo.copy(), hi.copy()
    current = -1
    while True:
        k, best = -1, -np.inf
        if current >= 0:
            np.dot(A, A[current], cosine)
        for i in range(m):  # the undecided row nearest in direction: few pivots away
            if status[i] == UNDECIDED:
                if current < 0:
                    k = i
                    break
                if cosine[i] > best:
                    best, k = cosine[i], i
        if k < 0:
            break
        current = k
        counters[2] += 1
        lo_k[:] = lo
        hi_k[:] = hi
        for a in range(n):  # row k's own box bound, relaxed by one unit as in the oracle
            if hi_row[a] == k:
                hi_k[a] = min(hi2[a], hi[a] + 1.0)
            if lo_row[a] == k:
                lo_k[a] = max(lo2[a], lo[a] - 1.0)
        _decide_row(A, b, live, status, k, basis, is_basic, art_val, D, w, y, x, s, Ac, rows,
                    ngen, nrows, ax, cf, center, s_center, lo_k, hi_k, tol, harris, max_pivots,
                    counters, d, Ad, alpha, g, p)
        if status[k] == REDUNDANT and position[k] >= 0:  # it no longer blocks
            q = position[k]
            if q < ngen:  # the last general row fills its place, the last axis row that one
                ngen -= 1
                moved = rows[ngen]
                rows[q], position[moved] = moved, q
                Ac[q] = Ac[ngen]
                q = ngen
            nrows -= 1
            if q < nrows:
                moved = rows[nrows]
                rows[q], position[moved] = moved, q
                ax[q], cf[q] = ax[nrows], cf[nrows]
            position[k] = -1
        for l in range(n):  # the undecided basic rows of the vertex reached
            r = basis[l]
            if r >= 0 and status[r] == UNDECIDED:
                _certify_slot(A, b, live, status, l, basis, D, x, s, Ac, rows, ngen, nrows, ax,
                              cf, center, s_center, tol, Ad, p)
    return counters[2], counters[0]


def facet_status(A, b, center, live, known=None, tol: float = 1e-9,
                 max_pivots: int | None = None):
    """Facet or redundant, for every live row of a full-dimensional ``{A x <= b}``.

    Each row ``k`` still open is settled by walking ``max a_k x`` over the other rows,
    warm-started from the vertex the previous row left (rows are taken nearest in
    direction first), and by two certificates checked in float64 on the original rows:

    * **redundant**: at any basis, ``y = A_B^{-T} a_k``, ``y+ = max(y, 0)``,
      ``r = a_k - sum y+_j a_j``; row ``k`` is redundant when
      ``sum y+_j b_j + sum_i max(r_i lo_i, r_i hi_i) < b_k + tol / 2`` (the box ``lo, hi``
      from the axis rows absorbs the residual; row ``k``'s own box bound is relaxed by one
      unit, as in the relaxed LP that defines the answer, whose facet threshold is
      ``b_k + tol``);
    * **facet**: a point ``x = v + t d`` on an edge out of ``P`` through row ``k`` (``d`` an
      edge direction ``A_B^{-1} e_j``), pulled towards ``center`` so that it violates row
      ``k`` by more than ``tol`` and satisfies every other row strictly.

    Basic rows of each vertex the walk ends at are tried as facets too (their edge out).

    Parameters
    ----------
    A, b : ndarray (m, n), (m,)
        Unit-normal rows.
    center : ndarray (n,)
        A strictly interior point.
    live : ndarray of bool (m,)
        The rows of the polytope (duplicates and zero rows excluded); only these are decided.
    known : ndarray of bool (m,), optional
        Rows already known to be facets.
    tol : float
        Length tolerance of both certificates.
    max_pivots : int, optional
        Pivot cap per row (default ``20 n + 200``).

    Returns
    -------
    status : ndarray of int8 (m,)
        ``FACET`` (1), ``REDUNDANT`` (0; also every non-live row), ``FALLBACK`` (-1: not
        certified, to be settled by an exact LP).
    lps, pivots : int
        Rows walked and pivots taken.
    """
    A = np.ascontiguousarray(A, dtype=float)
    b = np.ascontiguousarray(b, dtype=float)
    m, n = A.shape
    live = np.asarray(live, dtype=bool)
    status = np.full(m, UNDECIDED, dtype=np.int64)
    status[~live] = REDUNDANT
    if known is not None:
        status[np.asarray(known, dtype=bool) & live] = FACET
    lo, hi, lo_row, hi_row, lo2, hi2 = axis_bounds(A, b, live)
    harris = 1e-3 * tol
    cap = 20 * n + 200 if max_pivots is None else int(max_pivots)
    single = np.count_nonzero(A, axis=1) == 1  # axis rows: a box side, product by lookup
    axis_of = np.where(single, np.abs(A).argmax(axis=1), -1).astype(np.int64)
    coef_of = np.where(single, A[np.arange(m), np.maximum(axis_of, 0)], 0.0)
    lps, pivots = _facet_kernel(A, b, live, status, np.asarray(center, dtype=float), lo, hi,
                                lo_row, hi_row, lo2, hi2, float(tol), harris, cap, axis_of,
                                coef_of)
    return status.astype(np.int8), int(lps), int(pivots)

