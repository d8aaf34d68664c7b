"""The common piece of several closed polytopes: its dimension, volume, centroid.

Cells of a partition meet along lower-dimensional pieces: two cells along a
face, three along a hinge, and so on. The piece lies in the affine flat cut out
by the implicit equalities of the stacked inequalities; within that flat it is
a full-dimensional polytope whose volume the vertex route gives.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

from .lp import chebyshev_centers, normalize_rows
from .polytope import flat_volume_centroid, polytope_vertices
from .volume_mc import estimate_cell

__all__ = ["common_piece", "EXACT_PIECE_DIM"]

#: pieces of at most this dimension take the exact vertex route (Qhull) whatever
#: ``volume`` says; above it the vertex count of a piece grows out of reach (an
#: 11-dimensional piece of a 13-D Voronoi cell did not finish in minutes)
EXACT_PIECE_DIM = 6


def common_piece(polytopes: list[tuple[np.ndarray, np.ndarray]], tol: float = 1e-9,
                 volume: str = "exact", seed: int = 0):
    """Dimension, volume and centroid of the intersection of closed polytopes.

    Parameters
    ----------
    polytopes : list of (A, b)
        Bounded polytopes ``A x <= b`` in R^n.
    tol : float
        Length tolerance: rows tight to within ``tol`` count as tight, and a
        pair of rows ``a x <= b``, ``-a x <= -b`` (a shared facet seen from both
        sides) becomes one equality.

    Returns
    -------
    dim : int
        Dimension of the common piece (-1 if empty).
    volume : float
        Its ``dim``-volume (1 for a point, 0 if empty).
    centroid : ndarray (n,)
        Its centroid (NaN if empty).
    """
    if volume not in ("exact", "estimate", "none"):
        raise ValueError(f'volume must be "exact", "estimate" or "none", got {volume!r}.')
    A = np.vstack([np.asarray(p[0], float) for p in polytopes])
    b = np.concatenate([np.asarray(p[1], float) for p in polytopes])
    A, b, norms = normalize_rows(A, b)
    keep = norms > 0
    A, b = A[keep], b[keep]
    n = A.shape[1]
    is_eq = _opposite_pairs(A, b, tol)
    x0 = None
    while True:
        free = ~is_eq
        A_ub = np.hstack([A[free], np.ones((int(free.sum()), 1))])
        A_eq = np.hstack([A[is_eq], np.zeros((int(is_eq.sum()), 1))]) if is_eq.any() else None
        cost = np.zeros(n + 1)
        cost[-1] = -1.0
        res = linprog(cost, A_ub=A_ub, b_ub=b[free] + tol, A_eq=A_eq,
                      b_eq=b[is_eq] if is_eq.any() else None,
                      bounds=[(None, None)] * n + [(None, 1.0)], method="highs")
        if res.status == 2:
            return -1, 0.0, np.full(n, np.nan)
        if res.status != 0:
            raise RuntimeError(f"common-piece LP failed: {res.message}")
        t, x0 = res.x[-1], res.x[:n]
        if t < -tol:
            return -1, 0.0, np.full(n, np.nan)
        if t > 2 * tol:
            break
        duals = -res.ineqlin.marginals
        newly = np.flatnonzero(free)[duals > 1e-12]
        if newly.size == 0:
            slack = b[free] - A[free] @ x0
            newly = np.flatnonzero(free)[slack <= 2 * tol]
        is_eq[newly] = True
        if is_eq.all():
            break
    if is_eq.any():
        _, sing, vt = np.linalg.svd(A[is_eq])
        rank = int(np.sum(sing > 1e-9))
    else:
        rank, vt = 0, np.eye(n)
    k = n - rank
    if k == 0:
        return 0, 1.0, x0
    basis = vt[rank:].T  # (n, k) orthonormal basis of the flat's direction space
    rows = ~is_eq
    A_flat = A[rows] @ basis
    b_flat = b[rows] - A[rows] @ x0
    centers, radii = chebyshev_centers([(A_flat, b_flat + tol)])
    if not radii[0] > 0:
        return k, 0.0, x0
    if k > EXACT_PIECE_DIM and volume != "exact":
        if volume == "none":
            return k, float("nan"), x0 + basis @ centers[0]
        # the basis is orthonormal: k-volumes in the flat's coordinates are the piece's.
        # Rows (nearly) orthogonal to the flat bound nothing in it and are left out.
        live = np.linalg.norm(A_flat, axis=1) > 1e-12
        slack = 0.0 if radii[0] > 2 * tol else tol  # as the exact route below
        est = estimate_cell(A_flat[live], b_flat[live] + slack, centers[0],
                            rng=np.random.default_rng(seed))
        return k, float(est.volume), x0 + basis @ est.centroid
    # vertices of the exact piece where it is thick enough, of the tol-relaxed one otherwise
    exact = radii[0] > 2 * tol
    verts = polytope_vertices(A_flat, b_flat + (0.0 if exact else tol), centers[0])
    pts = x0[None, :] + verts @ basis.T
    volume, centroid = flat_volume_centroid(pts, k, tol)
    return k, volume, centroid


def _opposite_pairs(A: np.ndarray, b: np.ndarray, tol: float) -> np.ndarray:
    """Mask of rows that have an opposite partner (a shared facet seen from both sides)."""
    from scipy.spatial import cKDTree

    rows = np.hstack([A, b[:, None]])
    tree = cKDTree(rows)
    hits = tree.query_ball_point(-rows, r=max(tol, 1e-12) * 10)
    mask = np.array([len(h) > 0 for h in hits], dtype=bool)
    return mask
