"""Facet-defining rows of ``{x : A x <= b}`` in high dimension.

Row ``i`` defines a facet iff some point of hyperplane ``i`` satisfies every other row
strictly; equivalently (duplicates removed, ``P`` full-dimensional) iff ``max a_i x`` over
``P`` with row ``i`` relaxed by one unit exceeds ``b_i + tol`` -- one LP per row, the
oracle of the tests (:func:`cellgeom.geometry.nonredundant_rows_lp`). Two routes give
exactly that answer:

* ``method="simplex"`` (default): the compiled vertex walk of
  :mod:`cellgeom.geometry.simplex`. Every row is settled by a certificate checked in
  float64 on the original rows -- a witness point that violates only that row (facet) or
  nonnegative multipliers of the basis rows whose bound, with the residual absorbed by the
  box, stays below ``b_i + tol / 2`` (redundant). Rows it cannot certify (an optimum
  between ``b_i + tol / 2`` and ``b_i + 2 tol``, cycling cut off by the pivot cap, a
  numerical failure) go to the HiGHS route below, row by row.
* ``method="highs"``: certificates, then warm-started simplex LPs on one persistent HiGHS
  model per cell (``highspy``), ordered so that consecutive objectives are close.

The HiGHS route, in detail. With an interior point ``c``, slacks ``s_j = b_j - a_j c > 0``
and the polar points ``p_j = a_j / s_j``, the ray ``c + t d`` leaves the polytope through
the row maximising ``<p_j, d>``; row ``i`` is a facet iff ``p_i`` is a vertex of
``conv{p_j}``, i.e. iff some direction ``d`` ranks ``p_i`` strictly first. Certificates,
in order of cost:

1. *Whitened rays*: ``d_i = H^{-1} a_i`` with ``H = sum_j p_j p_j^T`` (the Dikin ellipsoid
   of the slacks at ``c``), all rows at once from one ``m x m`` product. In the whitened
   coordinates ``q_j = L^{-1} p_j`` (``H = L L^T``) a thin cell looks round, so the ray
   along a row's normal reaches that row first far more often than in the raw coordinates.
2. *Gilbert iterations*: for the rows left, the nearest point of ``conv{q_j, j != i}`` to
   ``q_i`` is approached by Gilbert's algorithm, all rows in one batched update; as soon as
   ``d = q_i - (current point)`` ranks ``q_i`` strictly first, row ``i`` is certified.
3. *Simplex*: ``max a_i x`` over the polytope, solved as its dual by the dual simplex
   (the domain box rows enter as bound multipliers; see :class:`_WarmSimplex`).
   ``max < b_i - tol``: redundant. At the optimal vertex ``v``, if exactly ``n``
   constraints are active (a simple vertex) and they are independent, every active row is
   a facet, and every undecided row ``k`` whose normal lies in the vertex's normal cone
   (``a_k = sum_J lambda_j a_j``, ``lambda >= 0``) has ``max_P a_k x = a_k v``, which settles
   it too. Only a degenerate vertex touching row ``i`` needs the relaxed LP (row ``i``
   moved out by one unit; a facet iff the optimum then exceeds ``b_i + tol``).

Every certificate is exact up to ``tol`` (slack margins are required to exceed it), so the
facet set of both routes equals that of one relaxed LP per row (checked in the tests).
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import lu_solve
from scipy.linalg.lapack import dgecon as _gecon
from scipy.linalg.lapack import dgetrf as _getrf

from .lp import quiet_highs

__all__ = ["facet_rows_simplex", "FACET_METHODS"]

#: the two facet routes: the compiled vertex walk (HiGHS for what it cannot certify) or
#: HiGHS throughout
FACET_METHODS = ("simplex", "highs")


def _whitened_polar(A, s):
    """Polar points ``p = a / s`` in whitened coordinates ``q = L^{-1} p``."""
    P = A / s[:, None]
    H = P.T @ P
    try:
        L = np.linalg.cholesky(H)
    except np.linalg.LinAlgError:  # rows do not span R^n: no whitening
        return P
    return np.linalg.solve(L, P.T).T


def _ray_certificates(Q, s, tol):
    """Rows whose whitened normal ray from the centre leaves through them first."""
    S = Q @ Q.T  # S[j, i]: <q_j, q_i>, the exit score of row j along direction q_i
    own = np.diag(S).copy()
    np.fill_diagonal(S, -np.inf)
    # slack of row j where the ray of row i crosses hyperplane i: s_j (1 - S_ji / S_ii)
    with np.errstate(invalid="ignore", divide="ignore"):
        margin = s[:, None] * (1.0 - S / own[None, :])
    np.fill_diagonal(margin, np.inf)
    return np.all(margin > tol, axis=0) & (own > 0)


def _gilbert_certificates(Q, s, rows, iterations, tol):
    """Gilbert's algorithm towards each ``q_i`` over ``conv{q_j, j != i}``, batched.

    Only the rows still uncertified are iterated: a certified row, or one whose
    iterate stopped moving (its nearest point is reached), leaves the batch.
    """
    certified = np.zeros(rows.size, dtype=bool)
    if rows.size == 0 or iterations <= 0:
        return certified
    live = np.arange(rows.size)  # positions in ``rows`` still iterated
    target = Q[rows]
    point = np.repeat(Q.mean(axis=0)[None, :], rows.size, axis=0)
    for _ in range(iterations):
        at = np.arange(live.size)
        own_row = rows[live]
        D = target - point
        S = D @ Q.T
        own = S[at, own_row].copy()
        S[at, own_row] = -np.inf
        best = S.argmax(axis=1)
        # the ray along d (pulled back to x-space) exits through row i with every other
        # row's slack at the exit point s_j (1 - S_jd / S_id) above tol
        with np.errstate(invalid="ignore", divide="ignore"):
            margin = s[None, :] * (1.0 - S / own[:, None])
        ok = (own > 0) & np.all(margin > tol, axis=1)
        certified[live[ok]] = True
        G = Q[best] - point
        gg = np.einsum("ij,ij->i", G, G)
        step = np.clip(np.einsum("ij,ij->i", D, G) / np.where(gg > 0, gg, 1.0), 0.0, 1.0)
        point += step[:, None] * G
        keep = ~ok & (step > 0)
        if not keep.any():
            break
        live, target, point = live[keep], target[keep], point[keep]
    return certified


class _WarmSimplex:
    """``max c.x`` over ``{x : A x <= b, lo <= x <= hi}`` for many ``c``, warm-started.

    HiGHS holds the dual LP ``min b.y + hi.u - lo.l  s.t.  A^T y + u - l = c,  y, u, l >= 0``
    (one ``u``/``l`` column per finite bound) and re-solves it with the dual simplex:
    a new objective ``c`` is a new right-hand side, so the old optimal basis stays dual
    feasible (its primal vertex stays a vertex of the polytope) and the next optimum is
    a few pivots away. The basis is ``n x n`` instead of the primal's ``m x m``, which
    makes pivots and HiGHS's per-run set-up cheaper; the vertex ``x`` is the equality
    rows' dual values.
    """

    def __init__(self, A, b, lo, hi):
        import highspy

        self.highspy = highspy
        inf = highspy.kHighsInf
        m, n = A.shape
        upper, lower = np.flatnonzero(np.isfinite(hi)), np.flatnonzero(np.isfinite(lo))
        # column of each bound's multiplier, to change its cost when a bound moves
        self.upper_col = np.full(n, -1)
        self.upper_col[upper] = m + np.arange(upper.size)
        self.lower_col = np.full(n, -1)
        self.lower_col[lower] = m + upper.size + np.arange(lower.size)
        cols = m + upper.size + lower.size
        h = quiet_highs()
        h.setOptionValue("presolve", "off")  # presolve would discard the warm basis
        h.setOptionValue("simplex_strategy", 1)  # dual simplex: the old basis stays dual feasible
        h.setOptionValue("simplex_scale_strategy", 0)  # rows are unit normals already
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = cols, n
        lp.col_cost_ = np.concatenate([np.asarray(b, dtype=float), hi[upper], -lo[lower]])
        lp.col_lower_ = np.zeros(cols)
        lp.col_upper_ = np.full(cols, inf)
        lp.row_lower_ = np.zeros(n)
        lp.row_upper_ = np.zeros(n)
        # column-wise: y_j has column a_j, u_k column e_k, l_k column -e_k
        values = np.concatenate([np.ascontiguousarray(A).ravel(), np.ones(upper.size),
                                 -np.ones(lower.size)])
        index = np.concatenate([np.tile(np.arange(n), m), upper, lower]).astype(np.int32)
        start = np.concatenate([np.arange(0, m * n + 1, n),
                                m * n + 1 + np.arange(upper.size + lower.size)])
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = start.astype(np.int32)
        lp.a_matrix_.index_ = index
        lp.a_matrix_.value_ = values
        lp.sense_ = highspy.ObjSense.kMinimize
        h.passModel(lp)
        self.h, self.n, self.lp_count = h, n, 0
        self.rows = np.arange(n, dtype=np.int32)

    def maximize(self, cost) -> np.ndarray:
        """The optimal vertex ``x`` of ``max cost.x`` (from the dual LP's row duals)."""
        cost = np.asarray(cost, dtype=float)
        self.h.changeRowsBounds(self.n, self.rows, cost, cost)
        self.h.run()
        self.lp_count += 1
        status = self.h.getModelStatus()
        if status != self.highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"facet LP failed: {self.h.modelStatusToString(status)}")
        return np.asarray(self.h.getSolution().row_dual, dtype=float)

    def set_row_upper(self, row: int, value: float) -> None:
        """Move row ``row``'s right-hand side ``b_row`` to ``value``."""
        self.h.changeColCost(int(row), float(value))

    def set_col_bounds(self, col: int, lo: float, hi: float) -> None:
        """Move the finite bounds of coordinate ``col`` (the columns exist for finite ones)."""
        if self.upper_col[col] >= 0:
            self.h.changeColCost(int(self.upper_col[col]), float(hi))
        if self.lower_col[col] >= 0:
            self.h.changeColCost(int(self.lower_col[col]), -float(lo))


def _split_bounds(A, b, candidate):
    """Axis-aligned candidate rows become column bounds (the tightest per axis and side).

    Returns ``lo, hi`` (n,), ``bound_axis`` (m,: the axis a row bounds, -1 for LP rows),
    ``bound_side`` (m,: 1 upper, 0 lower) and the mask of parallel rows looser than (or
    repeating) the bound of their axis and side, which are redundant.
    """
    m, n = A.shape
    single = candidate & (np.count_nonzero(A, axis=1) == 1)
    rows = np.flatnonzero(single)
    axis = np.abs(A[rows]).argmax(axis=1)
    coef = A[rows, axis]
    value = b[rows] / coef
    lo, hi = np.full(n, -np.inf), np.full(n, np.inf)
    bound_axis = np.full(m, -1)
    bound_side = np.zeros(m, dtype=np.int64)
    for side, sign, bounds in ((1, 1.0, hi), (0, -1.0, lo)):
        pick = np.flatnonzero(np.sign(coef) == sign)
        # per axis the tightest value, the earliest row among equals
        order = np.lexsort((rows[pick], sign * value[pick], axis[pick]))
        first = order[np.unique(axis[pick][order], return_index=True)[1]]
        chosen = pick[first]
        bounds[axis[chosen]] = value[chosen]
        bound_axis[rows[chosen]] = axis[chosen]
        bound_side[rows[chosen]] = side
    looser = single & (bound_axis < 0)
    return lo, hi, bound_axis, bound_side, looser


def facet_rows_simplex(A, b, center, candidate, tol: float = 1e-9,
                       gilbert_iterations: int = 60, known=None, method: str = "simplex"):
    """Facet-defining rows among ``candidate`` of a bounded, full-dimensional polytope.

    Parameters
    ----------
    A, b : ndarray (m, n), (m,)
        Unit-normal rows (see :func:`cellgeom.geometry.normalize_rows`).
    center : ndarray (n,)
        A strictly interior point (the Chebyshev centre).
    candidate : ndarray of bool (m,)
        Rows to decide (others, e.g. duplicates or zero rows, are never facets).
    tol : float
        Slack margin (in the units of ``x``) a certificate must exceed.
    known : ndarray of bool (m,), optional
        Rows already certified as facets (e.g. by chord exits of hit-and-run steps).
    method : {"simplex", "highs"}
        The compiled vertex walk with HiGHS for the rows it cannot certify, or HiGHS
        throughout (see the module docstring). Both give the same rows.

    Returns
    -------
    facet : ndarray of bool (m,)
    stats : (candidates, lps, settled_without_lp)
        ``lps`` counts the walks of the compiled route plus the HiGHS LPs.
    """
    if method not in FACET_METHODS:
        raise ValueError(f"facet_method must be one of {FACET_METHODS}, got {method!r}.")
    # the work is many products of a few hundred rows by n: one BLAS thread is faster
    # than two (thread start-up per call) and leaves the other core to a second process
    with _blas_controller().limit(limits=1, user_api="blas"):
        if method == "highs":
            return _facet_rows(A, b, center, candidate, tol, gilbert_iterations, known)
        return _facet_rows_walk(A, b, center, candidate, tol, known)


def _facet_rows_walk(A, b, center, candidate, tol, known):
    """The compiled walk; HiGHS (``_simplex_decide``) for the rows left uncertified."""
    from .facet_walk import FACET, FALLBACK, facet_status  # numba loads on first use

    A = np.asarray(A, dtype=float)
    b = np.asarray(b, dtype=float)
    candidate = np.asarray(candidate, dtype=bool)
    s = b - A @ center
    if np.any(s[candidate] <= 0):
        raise ValueError("facet_rows_simplex needs a strictly interior point.")
    status, walks, _ = facet_status(A, b, center, candidate, known=known, tol=tol)
    facet = status == FACET
    left = status == FALLBACK
    lps = 0
    if left.any():
        decided = ~left
        lo, hi, bound_axis, bound_side, looser = _split_bounds(A, b, candidate)
        lps = _simplex_decide(A, b, lo, hi, bound_axis, bound_side, np.zeros_like(A), facet,
                              decided | ~candidate, candidate, tol)
    n_cand = int(candidate.sum())
    return facet & candidate, (n_cand, int(walks) + lps, n_cand - int(walks))


def _blas_controller():
    from .simplex import blas_controller

    return blas_controller()


def _facet_rows(A, b, center, candidate, tol, gilbert_iterations, known):
    A = np.asarray(A, dtype=float)
    b = np.asarray(b, dtype=float)
    m, n = A.shape
    s = b - A @ center
    if np.any(s[candidate] <= 0):
        raise ValueError("facet_rows_simplex needs a strictly interior point.")
    facet = np.zeros(m, dtype=bool) if known is None else np.asarray(known, bool) & candidate
    decided = ~candidate | facet
    lo, hi, bound_axis, bound_side, looser = _split_bounds(A, b, candidate)
    decided |= looser
    live = candidate & ~looser
    Q = np.zeros((m, n))
    Q[live] = _whitened_polar(A[live], s[live])
    s_live = np.where(live, s, np.inf)
    ray = _ray_certificates(Q[live], s[live], tol)
    facet[np.flatnonzero(live)[ray]] = True
    decided |= facet
    rows = np.flatnonzero(~decided)
    facet[rows[_gilbert_certificates(Q, s_live, rows, gilbert_iterations, tol)]] = True
    decided |= facet
    n_cand = int(candidate.sum())
    settled = int(decided[candidate].sum())
    lps = _simplex_decide(A, b, lo, hi, bound_axis, bound_side, Q, facet, decided, candidate,
                          tol)
    return facet & candidate, (n_cand, lps, settled)


def _simplex_decide(A, b, lo, hi, bound_axis, bound_side, Q, facet, decided, distinct, tol):
    """Settle the undecided rows with warm-started LPs and vertex certificates (in place)."""
    m, n = A.shape
    if decided.all():
        return 0
    row_lp = bound_axis < 0
    lp_rows = np.flatnonzero(row_lp)
    simplex = _WarmSimplex(A[row_lp], b[row_lp], lo, hi)
    position = np.full(m, -1)
    position[lp_rows] = np.arange(lp_rows.size)
    norms = np.linalg.norm(Q, axis=1)
    direction = Q / np.where(norms > 0, norms, 1.0)[:, None]
    current = None
    scale = max(1.0, float(np.abs(b[row_lp]).max(initial=0.0)))
    active_tol = 1e-10 * scale
    while True:
        undecided = np.flatnonzero(~decided)
        if undecided.size == 0:
            break
        # the next objective close to the last one: the warm basis is then a few pivots away
        i = (undecided[0] if current is None
             else undecided[np.argmax(direction[undecided] @ current)])
        current = direction[i]
        x = simplex.maximize(A[i])
        slack = b - A @ x  # every row (bound rows included: they are rows of A too)
        slack[~distinct] = np.inf  # duplicates and zero rows never count as active
        value = A[i] @ x
        active = np.flatnonzero(slack <= active_tol)
        near = np.flatnonzero((slack > active_tol) & (slack <= tol))
        # a simple vertex: exactly n independent active rows (the LU serves the cone test)
        basis = (_vertex_basis(A[active]) if near.size == 0 and active.size == n else None)
        simple = basis is not None
        if value < b[i] - tol:
            decided[i] = True  # max over P below b_i: row i never binds
        elif simple and slack[i] <= active_tol:
            facet[i] = decided[i] = True
        else:
            facet[i] = _relaxed_is_facet(simplex, A, b, lo, hi, i, position, bound_axis,
                                         bound_side, tol)
            decided[i] = True
        if simple:
            facet[active] = True
            decided[active] = True
            rest = np.flatnonzero(~decided)
            if rest.size:
                lam = lu_solve(basis, A[rest].T, check_finite=False)  # a = A_J^T lambda
                inside = np.all(lam >= -1e-12, axis=0)  # normal in the vertex's normal cone
                below = A[rest] @ x < b[rest] - tol
                decided[rest[inside & below]] = True
    return simplex.lp_count


def _vertex_basis(active_rows):
    """LU factors of ``A_J^T`` for ``n`` active rows, or None when they are dependent.

    Dependence is judged by LAPACK's reciprocal condition estimate (``gecon``):
    below ``n * eps`` the rows do not define a vertex on their own.
    """
    n = active_rows.shape[0]
    M = np.ascontiguousarray(active_rows.T)
    # LAPACK's getrf directly: lu_factor warns (LinAlgWarning) on the singular factors
    # that this function exists to detect
    lu, piv, info = _getrf(M)
    if info != 0:
        return None
    rcond, info = _gecon(lu, np.abs(M).sum(axis=0).max(), norm="1")
    if info != 0 or not rcond > n * np.finfo(float).eps:
        return None
    return lu, piv


def _relaxed_is_facet(simplex, A, b, lo, hi, i, position, bound_axis, bound_side, tol):
    """``max a_i x`` with row ``i`` moved out by one unit: a facet iff it exceeds ``b_i``."""
    if position[i] >= 0:
        simplex.set_row_upper(position[i], b[i] + 1.0)
        x = simplex.maximize(A[i])
        simplex.set_row_upper(position[i], b[i])
    else:
        k = bound_axis[i]
        if bound_side[i] == 1:
            simplex.set_col_bounds(k, lo[k], hi[k] + 1.0)
        else:
            simplex.set_col_bounds(k, lo[k] - 1.0, hi[k])
        x = simplex.maximize(A[i])
        simplex.set_col_bounds(k, lo[k], hi[k])
    return bool(A[i] @ x > b[i] + tol)
