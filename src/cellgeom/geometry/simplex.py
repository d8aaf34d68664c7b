"""A compiled dense primal simplex that walks between vertices of one polytope.

Deciding the facets of a cell ``P = {x : A x <= b}`` with a few hundred rows in 64
dimensions takes a hundred or so small LPs ``max a_k x`` over ``P``. Solver set-up and
per-call overhead then cost more than the pivots, so this module keeps one vertex of
``P`` and walks from LP to LP (numba, compiled once and cached on disk).

The walk. A *basis* is ``n`` rows of ``A`` whose hyperplanes meet in the current vertex
``x``. ``D`` holds the inverse of the basis matrix, transposed: row ``D[l]`` is the edge
direction that moves off the ``l``-th basic hyperplane by one unit and keeps the others
tight (``a_{B_j} . D[l] = delta_jl``). For an objective ``c`` the multipliers are
``y = D c`` (``c = sum_l y_l a_{B_l}``); the vertex is optimal iff ``y >= 0``. Otherwise the
slot with the steepest edge (``y_l / |D[l]|`` most negative) leaves, the ratio test
(Harris' two passes, pivot on the largest ``a_i d`` among near-ties) picks the row that
enters, and ``D`` gets a rank-one update; it is refactorised every ``REFACTOR`` pivots.
After ``BLAND_AFTER`` degenerate pivots in a row the choice follows Bland's rule (lowest
index leaves and enters), which cannot cycle; a pivot cap ends hopeless walks. There is
no phase one: the walk starts at an interior point with *free* artificial slots
(``e_l . x = x_l``) that leave whenever moving along them improves the objective.

Nothing the walk finds is trusted on its own. Every answer is a certificate checked in
float64 on the original rows (the Chebyshev centre here, the facets in
:mod:`cellgeom.geometry.facet_walk`); what cannot be certified goes to HiGHS.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["chebyshev_simplex", "blas_controller", "axis_bounds"]
#: pivots between refactorisations of the basis inverse. These constants are compiled into
#: the kernels of facet_walk too, whose numba disk cache follows that file only: after
#: changing one, delete ``geometry/__pycache__/*.nb[ic]`` (a fresh install has no cache)
REFACTOR = 200
#: consecutive degenerate pivots before Bland's rule takes over
BLAND_AFTER = 12
#: reassociation only (vectorised dot products); no finite-math assumptions: the kernel
#: compares with inf. Certificates are re-checked without it.
_FAST = {"reassoc", "contract"}


@njit(cache=True, error_model="numpy")
def _block(s, live, is_basic, skip):
    """Rows that may not enter get slack +inf: the ratio test then needs no masks."""
    for i in range(s.size):
        if not live[i] or is_basic[i] or i == skip:
            s[i] = np.inf


@njit(cache=True, error_model="numpy")
def _refactor(A, b, basis, art_val, D, w, x, s, is_basic, live, skip):
    """Recompute ``D``, its row norms, the vertex ``x`` and the slacks from the basis."""
    n = D.shape[0]
    M = np.zeros((n, n))
    rhs = np.empty(n)
    for l in range(n):
        r = basis[l]
        if r >= 0:
            M[l] = A[r]
            rhs[l] = b[r]
        else:
            M[l, -1 - r] = 1.0
            rhs[l] = art_val[l]
    try:
        Minv = np.linalg.inv(M)
    except Exception:  # singular to machine precision
        return False
    if not np.all(np.isfinite(Minv)):
        return False
    D[:, :] = Minv.T
    for l in range(n):
        w[l] = np.dot(D[l], D[l])
    x[:] = Minv @ rhs
    s[:] = b - A @ x
    _block(s, live, is_basic, skip)
    return True


@njit(cache=True, error_model="numpy")
def _reset(center, basis, art_val, D, w, x, s, is_basic, A, b, live):
    """Back to the interior point with every slot artificial (free)."""
    n = D.shape[0]
    for l in range(n):
        basis[l] = -1 - l
        art_val[l] = center[l]
        w[l] = 1.0
        for j in range(n):
            D[l, j] = 1.0 if l == j else 0.0
    x[:] = center
    is_basic[:] = False
    s[:] = b - A @ x
    _block(s, live, is_basic, -1)


@njit(cache=True, error_model="numpy")
def _price(y, w, basis, k, bland):
    """Leaving slot and the sign of its move (slot -1 if the basis is optimal).

    Steepest edge: the rate ``y_l / |D[l]|`` per unit length. Real rows may only move
    inwards (``y_l < 0``: the edge ``-D[l]``); artificial slots and the slot of the
    relaxed row ``k`` are free and move whichever way improves.
    """
    n = y.size
    best, leave, sign = 0.0, -1, 0.0
    best_key = 1 << 62
    for l in range(n):
        r = basis[l]
        if r < 0 or r == k:
            rate = abs(y[l])
            sg = 1.0 if y[l] > 0 else -1.0
        else:
            rate = -y[l]
            sg = -1.0
        if rate <= 0.0:
            continue
        score = rate * rate / w[l]  # the squared rate per unit length: no square root
        if score <= 1e-22:
            continue
        if bland:
            key = r if r >= 0 else -(1 << 40) + l  # artificial slots first, then row order
            if key < best_key:
                best_key, leave, sign = key, l, sg
        elif score > best:
            best, leave, sign = score, l, sg
    return leave, sign


@njit(cache=True, error_model="numpy")
def _products(Ac, ngen, nrows, ax, cf, d, Ad):
    """``Ad[q] = a_{rows[q]} d`` for the rows that may block.

    ``rows[:ngen]`` are general rows, held contiguous in ``Ac[:ngen]`` (one BLAS
    product); ``rows[ngen:nrows]`` are axis rows ``cf[q] e_{ax[q]}`` (a box side), whose
    product is one entry of ``d``: a third of a network cell's rows cost no arithmetic.
    """
    if ngen > 0:
        np.dot(Ac[:ngen], d, Ad[:ngen])
    for q in range(ngen, nrows):
        Ad[q] = cf[q] * d[ax[q]]


@njit(cache=True, error_model="numpy")
def _ratio(Ac, rows, ngen, nrows, ax, cf, d, s, Ad, piv_tol, harris, bland):
    """Entering row and step length along ``d`` (row -1 and inf when nothing blocks).

    ``rows[:nrows]`` are the rows that may block, their products with ``d`` from
    :func:`_products`. Harris' two passes: the longest step
    that keeps every row within ``harris`` of feasibility, then among the rows blocking
    before it the one with the largest ``a_i d`` (the most stable pivot), or the lowest
    index under Bland's rule. Basic rows and the relaxed row carry slack +inf (see
    :func:`_block`): no masks.
    """
    _products(Ac, ngen, nrows, ax, cf, d, Ad)
    extra = 0.0 if bland else harris
    tmax = np.inf
    for q in range(nrows):  # a division only when the row blocks earlier
        a = Ad[q]
        num = max(s[rows[q]], 0.0) + extra
        if a > piv_tol and num < tmax * a:
            tmax = num / a
    if tmax == np.inf:
        return -1, -1, np.inf
    enter, at, best = -1, -1, 0.0
    for q in range(nrows):
        a = Ad[q]
        i = rows[q]
        if a > piv_tol and max(s[i], 0.0) <= tmax * a:
            if bland:
                if enter < 0 or i < enter:
                    enter, at = i, q  # the lowest index among the minimisers
            elif a > best:
                best, enter, at = a, i, q
    return enter, at, max(s[enter], 0.0) / Ad[at]


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _pivot(A, b, D, w, y, basis, is_basic, x, s, rows, nrows, slot, enter, t, d, Ad, alpha,
           prow):
    """Move to the next vertex; rank-one update of ``D``, its row norms and ``y = D c``.

    Only the slacks of ``rows[:nrows]`` move (``Ad[q]`` is row ``rows[q]``'s, from
    :func:`_ratio`). ``alpha`` and ``prow`` are scratch vectors of length ``n``; the new
    pivot row lives in ``prow`` during the update so that the compiler sees no aliasing
    between the row read and the rows written, and vectorises the update.
    """
    n = D.shape[0]
    for j in range(n):
        x[j] += t * d[j]
    for q in range(nrows):
        s[rows[q]] -= t * Ad[q]
    old = basis[slot]
    basis[slot] = enter
    is_basic[enter] = True
    s[enter] = np.inf
    if old >= 0:
        is_basic[old] = False
        s[old] = b[old] - np.dot(A[old], x)
    np.dot(D, A[enter], alpha)
    inv = 1.0 / alpha[slot]
    acc = 0.0
    for j in range(n):
        v = D[slot, j] * inv
        prow[j] = v
        acc += v * v
    w[slot] = acc
    y[slot] *= inv
    for l in range(n):
        f = alpha[l]
        if l != slot and f != 0.0:
            Dl = D[l]
            acc = 0.0
            for j in range(n):
                v = Dl[j] - f * prow[j]
                Dl[j] = v
                acc += v * v
            w[l] = acc
            y[l] -= f * y[slot]
    D[slot, :] = prow


@njit(cache=True, error_model="numpy")
def _box_max(g, lo, hi):
    """``max g.x`` over the box ``lo <= x <= hi`` (inf when an open side counts)."""
    total = 0.0
    for i in range(g.size):
        if g[i] > 0.0:
            if hi[i] == np.inf:
                return np.inf
            total += g[i] * hi[i]
        elif g[i] < 0.0:
            if lo[i] == -np.inf:
                return np.inf
            total += g[i] * lo[i]
    return total


def axis_bounds(A, b, live):
    """The tightest and second tightest bound per axis and side from axis-aligned rows.

    Returns ``lo, hi`` (n,), the rows giving them ``lo_row, hi_row`` (-1: none; the first
    row among equal values) and the second tightest values ``lo2, hi2`` (a repeated value
    counts twice). Sorted per axis and side, no loop over rows.
    """
    m, n = A.shape
    lo, hi = np.full(n, -np.inf), np.full(n, np.inf)
    lo2, hi2 = lo.copy(), hi.copy()
    lo_row, hi_row = np.full(n, -1), np.full(n, -1)
    rows = np.flatnonzero(live & (np.count_nonzero(A, axis=1) == 1))
    if rows.size == 0:
        return lo, hi, lo_row, hi_row, lo2, hi2
    axis = np.abs(A[rows]).argmax(axis=1)
    coef = A[rows, axis]
    value = b[rows] / coef
    for upper, first, second, first_row in ((True, hi, hi2, hi_row), (False, lo, lo2, lo_row)):
        pick = (coef > 0) if upper else (coef < 0)
        r, a, v = rows[pick], axis[pick], value[pick]
        if r.size == 0:
            continue
        # per axis the tightest first (smallest upper, largest lower), then by row
        order = np.lexsort((r, v if upper else -v, a))
        r, a, v = r[order], a[order], v[order]
        start = np.flatnonzero(np.r_[True, a[1:] != a[:-1]])
        first[a[start]] = v[start]
        first_row[a[start]] = r[start]
        has_second = np.r_[start[1:], a.size] - start > 1
        second[a[start[has_second]]] = v[start[has_second] + 1]
    return lo, hi, lo_row, hi_row, lo2, hi2


@njit(cache=True, error_model="numpy")
def _chebyshev_kernel(Z, b, start, harris, max_pivots):
    """``max r`` s.t. ``a_i x + r <= b_i``: the walk from ``start`` with objective ``e_r``.

    Returns ``(z, basis, y, ok)``; ``ok`` False when unbounded, stalled or singular.
    """
    m, n1 = Z.shape
    live = np.ones(m, dtype=np.bool_)
    basis = np.empty(n1, dtype=np.int64)
    art_val = np.empty(n1)
    D = np.empty((n1, n1))
    w = np.empty(n1)
    z = np.empty(n1)
    s = np.empty(m)
    is_basic = np.zeros(m, dtype=np.bool_)
    _reset(start, basis, art_val, D, w, z, s, is_basic, Z, b, live)
    Ad = np.empty(m)
    rows = np.arange(m)
    no_axis, no_coef = np.zeros(0, dtype=np.int64), np.zeros(0)  # every row general
    d, alpha, prow = np.empty(n1), np.empty(n1), np.empty(n1)
    obj = np.zeros(n1)
    obj[n1 - 1] = 1.0
    y = D @ obj
    degenerate, since = 0, 0
    for _ in range(max_pivots):
        if since >= REFACTOR:
            since = 0
            if not _refactor(Z, b, basis, art_val, D, w, z, s, is_basic, live, -1):
                return z, basis, y, False
            y[:] = D @ obj
        bland = degenerate >= BLAND_AFTER
        slot, sign = _price(y, w, basis, -1, bland)
        if slot < 0:
            return z, basis, D @ obj, True
        for j in range(n1):
            d[j] = sign * D[slot, j]
        dnorm = np.sqrt(w[slot])
        enter, _, t = _ratio(Z, rows, m, m, no_axis, no_coef, d, s, Ad, 1e-10 * dnorm, harris,
                             bland)
        if enter < 0:
            return z, basis, y, False  # unbounded: no box
        _pivot(Z, b, D, w, y, basis, is_basic, z, s, rows, m, slot, enter, t, d, Ad, alpha,
               prow)
        since += 1
        degenerate = degenerate + 1 if t * dnorm <= harris else 0
    return z, basis, y, False


def blas_controller():
    """One ``threadpoolctl`` controller per process (inspecting the libraries once).

    The kernels multiply a few hundred rows by ``n``: one BLAS thread is faster than two
    (thread start-up per call) and leaves the other core to a second process, so callers
    run them under ``blas_controller().limit(limits=1, user_api="blas")``.
    """
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


_CONTROLLER = None


def chebyshev_simplex(A_unit, b_unit, max_pivots: int | None = None):
    """Chebyshev centre and radius of ``{x : A x <= b}`` (unit rows) by the walk.

    The answer is certified in float64: the radius is the least slack of the centre
    found (so the ball is inside), and the optimal basis's multipliers ``y+ >= 0`` bound
    the best radius from above (``sum y+_j (a_j x + r) <= sum y+_j b_j``, the residual
    absorbed by the box of the axis rows).

    Returns
    -------
    center : ndarray (n,) or None
    radius : float
        The certified radius at ``center`` (a lower bound of the optimum).
    upper : float
        The certified upper bound (``inf`` when it could not be certified: use HiGHS).
    """
    A = np.ascontiguousarray(A_unit, dtype=float)
    b = np.ascontiguousarray(b_unit, dtype=float)
    m, n = A.shape
    lo, hi, *_ = axis_bounds(A, b, np.ones(m, dtype=bool))
    boxed = np.isfinite(lo) & np.isfinite(hi)
    x0 = np.zeros(n)
    x0[boxed] = 0.5 * (lo[boxed] + hi[boxed])
    start = np.append(x0, float(np.min(b - A @ x0)))
    Z = np.hstack([A, np.ones((m, 1))])
    cap = 20 * n + 200 if max_pivots is None else int(max_pivots)
    with blas_controller().limit(limits=1, user_api="blas"):
        z, basis, y, ok = _chebyshev_kernel(Z, b, start, 1e-13 * max(1.0, np.abs(b).max()),
                                            cap)
    if not ok or not np.all(np.isfinite(z)):
        return None, -np.inf, np.inf
    x = z[:n]
    radius = float(np.min(b - A @ x))
    real = basis >= 0
    rows, yp = basis[real], np.maximum(y[real], 0.0)
    Y = yp.sum()
    if not Y > 0:
        return x, radius, np.inf
    # (0, 1) = sum_j y_j (a_j, 1) + residual, so Y r <= sum_j y+_j b_j - (sum_j y+_j a_j) x;
    # x ranges over the box widened by max(0, -r) (for r >= radius the box rows allow it)
    widen = max(0.0, -radius) + 1.0
    bound = yp @ b[rows] + _box_max(-(yp @ A[rows]), lo - widen, hi + widen)
    return x, radius, float(bound / Y)
