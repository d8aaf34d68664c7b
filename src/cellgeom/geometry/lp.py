"""Linear programs on polytopes ``{x : A x <= b}``, solved with HiGHS through SciPy.

Many small LPs cost mostly Python and solver set-up, so the Chebyshev-centre
kernel stacks a chunk of low-dimensional cells into one block-diagonal sparse LP:
the objective is a sum of independent terms, so the joint optimum is every cell's
optimum. In high dimension (``n > DUAL_CHEBYSHEV_DIM``) each cell is solved on its own
by the compiled vertex walk of :mod:`cellgeom.geometry.simplex` (about 2 ms for 384 rows
in 64-D against 12-17 ms for HiGHS), whose centre and radius are certified in float64
(the radius is the centre's least slack, the multipliers bound the optimum from above);
a cell it cannot certify is solved by HiGHS in dual form (an ``(n+1) x (n+1)`` basis).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

#: above this input dimension each Chebyshev LP is solved on its own (walk, or HiGHS dual)
DUAL_CHEBYSHEV_DIM = 16
#: the walk's centre is accepted when its certified radius is this close to the bound
CHEBYSHEV_GAP = 1e-9

__all__ = [
    "normalize_rows",
    "chebyshev_center",
    "chebyshev_centers",
    "affine_hull_dimension",
    "nonredundant_rows_lp",
    "quiet_highs",
    "repeated_rows",
]


def normalize_rows(A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scale each inequality ``a_i x <= b_i`` to a unit normal.

    Returns ``(A_unit, b_unit, norms)``. Rows with ``a_i = 0`` keep zeros (their
    norm is reported as 0) so that callers can decide what ``0 <= b_i`` means.
    """
    A = np.asarray(A, dtype=float)
    b = np.asarray(b, dtype=float)
    norms = np.linalg.norm(A, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    return A / safe[:, None], b / safe, norms


def chebyshev_center(A, b) -> tuple[np.ndarray, float]:
    """Centre and radius of the largest ball inside ``{x : A x <= b}``.

    Solves ``max r  s.t.  a_i x + ||a_i|| r <= b_i`` (HiGHS). The radius is
    negative for an empty polytope (the least violation), about zero for a
    lower-dimensional one and positive for a full-dimensional one.
    """
    centers, radii = chebyshev_centers([(A, b)])
    return centers[0], float(radii[0])


def chebyshev_centers(
    polytopes: list[tuple[np.ndarray, np.ndarray]], chunk_size: int = 200,
    method: str = "simplex", weights: list[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Chebyshev centres and radii of many polytopes, batched into block LPs.

    Each polytope's LP is ``max r  s.t.  a_i x + w_i r <= b_i`` with ``w_i = ||a_i||``
    (the Euclidean ball), or the given weights.

    Parameters
    ----------
    polytopes : list of (A, b)
        Each ``A`` of shape (m_i, n), ``b`` of shape (m_i,); all share ``n``. They
        must be bounded (include the domain box rows).
    chunk_size : int
        How many polytopes go into one block-diagonal LP.
    method : {"simplex", "highs"}
        Above ``DUAL_CHEBYSHEV_DIM``: the compiled walk (HiGHS where it cannot certify its
        answer) or HiGHS alone. Below it the block LP is used either way.
    weights : list of ndarray, optional
        Positive ``w_i`` per row of each polytope, in place of the rows' norms: the ball
        of another metric, e.g. ``w_i = ||S a_i||`` for the ellipsoid ``{x : |S^-1 (x -
        c)| <= r}`` (the user's ball seen from a scaled frame). A zero row ``0 x <= b_i``
        then reads ``w_i r <= b_i``.

    Returns
    -------
    centers : ndarray of shape (k, n)
    radii : ndarray of shape (k,)
        ``r > 0`` full-dimensional, ``r ~ 0`` lower-dimensional, ``r < 0`` empty
        (``-inf`` when a row ``0 x <= b_i`` with ``b_i < 0`` makes it empty).

    Examples
    --------
    The unit square's ball has radius 1/2; with the weights of the ellipse
    ``|(x - c) / (1, 4)| <= r`` (``w = ||diag(1, 4) a||``) the radius is 1/8:

    >>> import numpy as np
    >>> A = np.vstack([np.eye(2), -np.eye(2)])
    >>> b = np.array([1.0, 1.0, 0.0, 0.0])
    >>> print(chebyshev_centers([(A, b)])[1], chebyshev_centers([(A, b)],
    ...       weights=[np.array([1.0, 4.0, 1.0, 4.0])])[1])
    [0.5] [0.125]
    """
    k = len(polytopes)
    if k == 0:
        return np.zeros((0, 0)), np.zeros(0)
    if weights is not None:
        weights = [np.asarray(w, dtype=float) for w in weights]
        if len(weights) != k or any(w.shape != np.shape(p[1]) for w, p in zip(weights, polytopes)):
            raise ValueError("weights must give one array per polytope, one weight per row.")
        if not all(np.all(w > 0) for w in weights):
            raise ValueError("weights must be positive.")
    polytopes = [(A, b, None if weights is None else weights[i])
                 for i, (A, b) in enumerate(polytopes)]
    n = np.asarray(polytopes[0][0]).shape[1]
    centers = np.full((k, n), np.nan)
    radii = np.full(k, -np.inf)
    if n > DUAL_CHEBYSHEV_DIM:
        for i, (A, b, w) in enumerate(polytopes):
            found = _chebyshev_walk(A, b, w) if method == "simplex" else None
            centers[i], radii[i] = found if found is not None else _chebyshev_dual(A, b, n, w)
        return centers, radii
    for start in range(0, k, chunk_size):
        block = polytopes[start : start + chunk_size]
        c, r = _chebyshev_block(block, n)
        centers[start : start + len(block)] = c
        radii[start : start + len(block)] = r
    return centers, radii


def quiet_highs():
    """A silent ``highspy`` solver object for many small LPs in one process.

    The core class, not ``highspy.Highs``: the Python wrapper prints a banner per
    process and sets up interrupt callbacks that a many-small-LPs loop does not need.
    """
    import highspy

    h = getattr(getattr(highspy, "_core", None), "_Highs", highspy.Highs)()
    h.setOptionValue("output_flag", False)
    return h


def _weighted_rows(A, b, w):
    """The LP's rows ``a_i / w_i``, ``b_i / w_i`` and the rows' norms: ``w`` the norms
    themselves when None (:func:`normalize_rows`)."""
    if w is None:
        return normalize_rows(A, b)
    # weights are positive (checked once by the caller): a zero row stays ``w_i r <= b_i``
    return np.asarray(A, dtype=float) / w[:, None], np.asarray(b, dtype=float) / w, w


def _chebyshev_walk(A, b, w=None):
    """Centre and radius by the compiled walk, or None when not certified to
    ``CHEBYSHEV_GAP`` (then HiGHS decides, and raises for an unbounded polytope)."""
    from .simplex import chebyshev_simplex  # numba loads on first use

    A_unit, b_unit, norms = _weighted_rows(A, b, w)
    zero = norms == 0
    if np.any(zero & (np.asarray(b) < 0)):
        return np.full(A_unit.shape[1], np.nan), -np.inf  # 0 <= b_i < 0: empty
    center, radius, upper = chebyshev_simplex(A_unit[~zero], b_unit[~zero])
    if center is None or not upper - radius <= CHEBYSHEV_GAP * max(1.0, abs(radius)):
        return None
    return center, radius


def _chebyshev_dual(A, b, n, w=None):
    """One Chebyshev LP through its dual: ``min b.y  s.t.  A^T y = 0, 1.y = 1, y >= 0``.

    The primal ``max r  s.t.  a_j x + r <= b_j`` (unit rows) has the same optimal
    value; its centre ``x`` is the dual value of the ``n`` equality rows.
    """
    import highspy

    A_unit, b_unit, norms = _weighted_rows(A, b, w)
    zero = norms == 0
    if np.any(zero & (np.asarray(b) < 0)):
        return np.full(n, np.nan), -np.inf  # 0 <= b_i < 0: empty whatever x is
    A_unit, b_unit = A_unit[~zero], b_unit[~zero]
    m = A_unit.shape[0]
    h = quiet_highs()
    h.setOptionValue("simplex_strategy", 1)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = m, n + 1
    lp.col_cost_ = b_unit
    lp.col_lower_ = np.zeros(m)
    lp.col_upper_ = np.full(m, highspy.kHighsInf)
    rhs = np.zeros(n + 1)
    rhs[n] = 1.0
    lp.row_lower_, lp.row_upper_ = rhs, rhs.copy()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.arange(0, (n + 1) * m + 1, n + 1, dtype=np.int32)
    lp.a_matrix_.index_ = np.tile(np.arange(n + 1, dtype=np.int32), m)
    lp.a_matrix_.value_ = np.column_stack([A_unit, np.ones(m)]).ravel()
    h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:  # the dual of an unbounded primal
        raise ValueError("the polytope is unbounded: add bounding inequalities (a domain box); "
                         "volumes of unbounded cells are infinite.")
    if status != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"Chebyshev-centre LP failed: {h.modelStatusToString(status)}")
    center = np.asarray(h.getSolution().row_dual, dtype=float)[:n]
    return center, float(h.getInfo().objective_function_value)


def _chebyshev_block(block, n):
    """One block-diagonal LP for the polytopes ``(A, b, w)`` of ``block``, its sparse
    matrix assembled from all their rows at once (a per-polytope stack and
    ``sp.block_diag`` cost more than HiGHS on small cells)."""
    k = len(block)
    sizes = np.array([np.shape(b)[0] for _, b, _ in block], dtype=np.int64)
    A = np.concatenate([np.asarray(A, dtype=float).reshape(-1, n) for A, _, _ in block])
    b = np.concatenate([np.asarray(b, dtype=float).ravel() for _, b, _ in block])
    owner = np.repeat(np.arange(k), sizes)
    if block[0][2] is None:
        norms = np.linalg.norm(A, axis=1)
    else:  # positive weights (:func:`chebyshev_centers` checked them)
        norms = np.concatenate([w for _, _, w in block])
    zero = norms == 0
    # 0 <= b_i < 0: empty whatever x is
    live_mask = np.bincount(owner[zero & (b < 0)], minlength=k) == 0
    live = np.flatnonzero(live_mask)
    centers = np.full((k, n), np.nan)
    radii = np.full(k, -np.inf)
    if not live.size:
        return centers, radii
    rows = np.flatnonzero(~zero & live_mask[owner])
    scale = norms[rows]
    slot = np.cumsum(live_mask) - 1  # each live polytope's block of n + 1 variables
    nvar = n + 1
    values = np.column_stack([A[rows] / scale[:, None], np.ones(rows.size)])
    columns = slot[owner[rows]][:, None] * nvar + np.arange(nvar)
    A_ub = sp.csr_matrix((values.ravel(), columns.ravel(),
                          np.arange(0, nvar * rows.size + 1, nvar)),
                         shape=(rows.size, nvar * live.size))
    A_ub.eliminate_zeros()  # as a sparse block of a dense array: structural zeros left out
    b_ub = b[rows] / scale
    nvar = n + 1
    cost = np.zeros(nvar * len(live))
    cost[n::nvar] = -1.0
    # one pair for all variables: a list of pairs costs SciPy a conversion per variable
    res = linprog(cost, A_ub=A_ub, b_ub=b_ub, bounds=(None, None), method="highs")
    if res.status != 0:
        if live.size == 1:
            if res.status == 3:
                raise ValueError(
                    "the polytope is unbounded: add bounding inequalities (a domain box); "
                    "volumes of unbounded cells are infinite."
                )
            raise RuntimeError(f"Chebyshev-centre LP failed: {res.message}")
        # one unbounded polytope spoils the joint LP: solve one by one to find it
        for i in live:
            c, r = _chebyshev_block([block[i]], n)
            centers[i], radii[i] = c[0], r[0]
        return centers, radii
    sol = res.x.reshape(len(live), nvar)
    centers[live] = sol[:, :n]
    radii[live] = sol[:, n]
    return centers, radii


def affine_hull_dimension(A, b, tol: float = 1e-9) -> int:
    """Dimension of the affine hull of ``P = {x : A x <= b}`` (-1 if P is empty).

    Finds the implicit equalities of P iteratively: maximise the common slack t
    of the rows not yet known to be equalities; if ``t* > tol`` they are all
    strict somewhere and ``dim P = n - rank(equalities)``; if ``t* = 0`` the rows
    with a positive dual multiplier are tight on all of P (their multipliers
    sum to one, and sum_i y_i (b_i - a_i x) = 0 for every feasible x) and move
    to the equalities.
    """
    A_unit, b_unit, norms = normalize_rows(A, b)
    zero = norms == 0
    if np.any(zero & (np.asarray(b, dtype=float) < -tol)):
        return -1
    A_unit, b_unit = A_unit[~zero], b_unit[~zero]
    m, n = A_unit.shape
    is_eq = np.zeros(m, dtype=bool)
    while True:
        free = ~is_eq
        if not free.any():
            break
        A_ub = np.hstack([A_unit[free], np.ones((int(free.sum()), 1))])
        A_eq = np.hstack([A_unit[is_eq], np.zeros((int(is_eq.sum()), 1))]) if is_eq.any() else None
        b_eq = b_unit[is_eq] if is_eq.any() else None
        cost = np.zeros(n + 1)
        cost[-1] = -1.0
        bounds = [(None, None)] * n + [(None, 1.0)]
        res = linprog(cost, A_ub=A_ub, b_ub=b_unit[free], A_eq=A_eq, b_eq=b_eq,
                      bounds=bounds, method="highs")
        if res.status == 2:
            return -1
        if res.status != 0:
            raise RuntimeError(f"affine-hull LP failed: {res.message}")
        t = res.x[-1]
        if t > tol:
            break
        if t < -tol and not is_eq.any():
            return -1
        duals = -res.ineqlin.marginals
        newly = np.flatnonzero(free)[duals > 1e-12]
        if newly.size == 0:  # degenerate dual: fall back to the rows tight at x*
            slack = b_unit[free] - A_unit[free] @ res.x[:n]
            newly = np.flatnonzero(free)[slack <= tol]
        is_eq[newly] = True
    if not is_eq.any():
        return n
    rank = np.linalg.matrix_rank(A_unit[is_eq], tol=1e-9)
    return n - int(rank)


def nonredundant_rows_lp(A, b, interior_point, tol: float = 1e-9) -> np.ndarray:
    """Indices of the facet-defining rows of a full-dimensional ``{x : A x <= b}``.

    Row i defines a facet iff ``max a_i x`` over the polytope without row i (and
    with row i relaxed by one unit) exceeds ``b_i``. A cheap certificate settles
    many rows first: if the projection of the interior point onto row i's
    hyperplane satisfies every other row strictly, row i is a facet. Rows that
    duplicate an earlier row are reported only once.
    """
    A_unit, b_unit, norms = normalize_rows(A, b)
    m, n = A_unit.shape
    c = np.asarray(interior_point, dtype=float)
    duplicate = repeated_rows(A_unit, b_unit, tol)
    facet = np.zeros(m, dtype=bool)
    slack_c = b_unit - A_unit @ c
    proj = c[None, :] + slack_c[:, None] * A_unit  # projection onto each hyperplane
    viol = proj @ A_unit.T - b_unit[None, :]
    np.fill_diagonal(viol, -np.inf)
    viol[:, duplicate] = -np.inf
    certified = np.all(viol < -tol, axis=1) & ~duplicate & (norms > 0)
    facet[certified] = True
    for i in np.flatnonzero(~certified & ~duplicate & (norms > 0)):
        others = np.ones(m, dtype=bool)
        others[i] = False
        others &= ~duplicate
        rhs = b_unit.copy()
        rhs[i] += 1.0
        mask = others.copy()
        mask[i] = True
        res = linprog(-A_unit[i], A_ub=A_unit[mask], b_ub=rhs[mask],
                      bounds=[(None, None)] * n, method="highs")
        if res.status == 0 and -res.fun > b_unit[i] + tol:
            facet[i] = True
    return np.flatnonzero(facet)


def repeated_rows(A_unit: np.ndarray, b_unit: np.ndarray, tol: float) -> np.ndarray:
    """Mask of unit rows within ``max(tol, 1e-12)`` of an earlier row (normal and offset).

    The one duplicate test of both geometry routes: a repeated row never counts as a
    facet of its own. Rows ``(a_i, b_i)`` are sorted by their projection on a fixed
    direction ``u`` (``|u| = 1``); two rows within ``r`` of each other project within
    ``r``, so only neighbours in that order whose projections differ by at most ``r``
    are compared (the same pairs as a radius search, without building a tree).
    """
    m = A_unit.shape[0]
    rep = np.zeros(m, dtype=bool)
    if m < 2:
        return rep
    r = max(tol, 1e-12)
    rows = np.hstack([A_unit, np.asarray(b_unit, dtype=float)[:, None]])
    u = np.random.default_rng(0x5EED).standard_normal(rows.shape[1])
    u /= np.linalg.norm(u)
    order = np.argsort(rows @ u, kind="stable")
    proj = (rows @ u)[order]
    for offset in range(1, m):
        near = np.flatnonzero(proj[offset:] - proj[:-offset] <= r)
        if near.size == 0:
            break  # sorted: farther offsets differ more
        i, j = order[near], order[near + offset]
        close = np.linalg.norm(rows[i] - rows[j], axis=1) <= r
        rep[np.maximum(i, j)[close]] = True
    return rep
