"""The unit frame of the polytope route: cells are computed in the domain box mapped to
``[-1, 1]^n`` axis by axis, and their geometry mapped back exactly.

Why: every tolerance of the geometry (Chebyshev radius of a thin cell, incidences,
repeated rows, merged vertices) and the LP solver's own absolute tolerances (HiGHS
accepts a primal infeasibility of 1e-7) are only meaningful relative to the problem's
scale. A box of side 6e8, or one of side 1 centred at 1e12, breaks them in its own
units: the Chebyshev LP of a cell in a 1e12-shifted box has right-hand sides near 1e12,
and HiGHS gives up ("Status 15") or calls the bounded cell unbounded. So does a box whose
sides differ by orders of magnitude (raw tabular features, sides 1e4, 1e-3 and 1): in one
length unit for all axes a tolerance of 1e-9 of the largest side is 1% of the shortest,
and real cells were dropped as thin. In the unit frame every axis of the domain is
``[-1, 1]``, so one relative tolerance serves every cell along every axis.

The map is ``x = o + S u``, ``o`` the centre of the domain and ``S = diag(s)``, ``s`` the
half-sides. A facet with unit normal ``m`` in the frame (``m . u <= b_u``) has the
user-unit normal ``nu = S^-1 m / |S^-1 m|``; a hinge lies where the facets with normals
``m_a, m_b`` meet. Areas of flat pieces follow from how ``S`` stretches their normal
spaces (``|p ^ q| = sqrt(|p|^2 |q|^2 - (p . q)^2)``, the area of the parallelogram):

=========================  ===========================================================
quantity                   back in the user's units
=========================  ===========================================================
points, centroids          ``o + S u`` (vertices too)
n-volume (and its se)      ``|det S| vol_u``
facet normal, offset       ``nu``; ``nu . o + b_u / |S^-1 m|`` (``nu . x = offset``)
facet (n-1)-volume, se     ``|det S| |S^-1 m| vol_u`` (1 when n = 1: points are counted)
hinge (n-2)-volume         ``|det S| |S^-1 m_a ^ S^-1 m_b| / |m_a ^ m_b| vol_u`` (1, n = 2)
hinge angle                ``pi - angle(nu_a, nu_b)``, recomputed (not invariant under S)
inradius, centre           the Chebyshev ball in the user's units (:meth:`chebyshev`)
thin-cell tolerance        ``tol_u s_j`` along axis ``j`` (``info["tol_axes"]``)
=========================  ===========================================================

On a domain whose sides are all equal ``S = h I`` is a similarity: normals, angles and the
Chebyshev ball are the frame's, each measure scales by a power of ``h``, and these are
computed as such (bit for bit the numbers of a similarity frame).

The thin-cell tolerance: the caller's ``tol`` (user units, default ``1e-9`` of the largest
side) is the relative tolerance ``tol_u = tol / h`` in the frame, ``h`` half the largest
side; a cell whose Chebyshev radius in the frame is at most ``tol_u`` (it holds no
ellipsoid of semi-axes ``tol_u s_j``) is dropped. Along the largest side that is ``tol``
itself, along a side ``k`` times shorter ``tol / k``.

Inequalities enter the frame centred at ``o``: an adapter whose ``constraints`` accept
``origin=`` returns rows ``A (x - o) <= b`` computed around ``o`` itself (a network
pushes ``o`` through its layers, a Voronoi model subtracts ``o`` from its sites), which
keeps the offsets free of the cancellation ``b - A o`` when ``o`` is far from zero;
otherwise the frame computes ``b - A o``.
"""
from __future__ import annotations

import inspect

import numpy as np
import pandas as pd

from ..core import vector_columns
from ..geometry import Box
from ..geometry.lp import DUAL_CHEBYSHEV_DIM, chebyshev_centers

__all__ = ["UnitFrame"]


class UnitFrame:
    """The affine map ``x = origin + halves * u`` taking ``domain`` onto ``[-1, 1]^n``.

    Parameters
    ----------
    domain : Box
        The user's domain box.

    Attributes
    ----------
    origin : ndarray (n,)
        Centre of the domain.
    halves : ndarray (n,)
        Half-sides of the domain, the diagonal of ``S``.
    half : float
        Half the largest side: the user's length of the frame's relative tolerances
        (``tol_u = tol / half``).
    isotropic : bool
        All sides equal: the map is a similarity (normals and angles are kept).
    unit_domain : Box
        The domain in the frame, ``[-1, 1]^n`` up to rounding.
    """

    def __init__(self, domain: Box):
        self.domain = domain
        self.origin = domain.center
        self.halves = domain.widths / 2
        self.half = float(self.halves.max())  # = domain.scale / 2, exactly
        self.isotropic = bool(np.all(self.halves == self.half))
        self.unit_domain = Box((domain.lo - self.origin) / self.halves,
                               (domain.hi - self.origin) / self.halves)

    # -- points -------------------------------------------------------------------------------
    def to_domain(self, U: np.ndarray) -> np.ndarray:
        """Frame coordinates to the user's: ``x = o + S u``."""
        return self.origin + self.halves * np.asarray(U, dtype=float)

    def to_unit(self, X: np.ndarray) -> np.ndarray:
        """The user's coordinates to the frame's: ``u = S^-1 (x - o)``."""
        return (np.asarray(X, dtype=float) - self.origin) / self.halves

    def tol_axes(self, tol: float) -> list[float]:
        """The thin-cell tolerance ``tol_u s_j`` along each axis, user units (``tol`` is the
        one along the largest side)."""
        return [float(t) for t in tol / self.half * self.halves]

    # -- inequalities ---------------------------------------------------------------------------
    def constraints(self, constraints):
        """The adapter's ``constraints(keys)`` as inequalities in the frame,
        ``(A S) u <= b_o`` with ``b_o`` the right-hand side around the origin."""
        centred = "origin" in inspect.signature(constraints).parameters
        origin, halves = self.origin, self.halves

        def in_frame(keys):
            if centred:
                rows = constraints(keys, origin=origin)
            else:
                rows = [(A, np.asarray(b, dtype=float) - np.asarray(A, dtype=float) @ origin,
                         labels) for A, b, labels in constraints(keys)]
            return [(np.asarray(A, dtype=float) * halves, np.asarray(b, dtype=float), labels)
                    for A, b, labels in rows]

        return in_frame

    def key_function(self, key_of):
        """``key_of`` (of the user's points) as a function of frame points."""
        if key_of is None:
            return None
        return lambda U: key_of(self.to_domain(U))

    # -- tables -------------------------------------------------------------------------------
    def tables_to_domain(self, cells: pd.DataFrame, facets: pd.DataFrame,
                         hinges: pd.DataFrame, info: dict | None = None) -> None:
        """Map the partition tables from the frame to the user's units, in place (the
        module's table); ``info["tol_axes"]`` gets the thin-cell tolerance of each axis
        when ``info`` holds ``tol``."""
        n, o, s = self.domain.dim, self.origin, self.halves
        iso, h = self.isotropic, self.half
        det = h**n if iso else float(np.prod(s))
        m = facets[vector_columns("normal", n)].to_numpy(dtype=float)  # frame's unit normals
        # cells (the Chebyshev ball from the facets' rows while they are in the frame)
        cells["volume"] = cells["volume"].to_numpy() * det
        if "volume_se" in cells:
            cells["volume_se"] = cells["volume_se"].to_numpy() * det
        if iso:
            cells["inradius"] = cells["inradius"].to_numpy() * h
            _points_to_domain(cells, "center", s, o)
        elif len(cells):
            center, radius = self.chebyshev(m, facets["offset"].to_numpy(dtype=float),
                                            facets["cell"].to_numpy(), len(cells))
            cells["inradius"] = radius
            for j, col in enumerate(vector_columns("center", n)):
                cells[col] = center[:, j]
        _points_to_domain(cells, "centroid", s, o)
        # hinges (their facets' normals in the frame)
        if len(hinges):
            if not iso:
                a, b = _hinge_facet_rows(hinges, facets)
                pa, pb = m[a] / s, m[b] / s
                wedge = _wedge(pa, pb)
                # the angle between nu_a and nu_b: atan2 keeps it accurate near 0 and pi
                hinges["angle"] = np.arctan2(wedge, -np.einsum("ij,ij->i", pa, pb))
                if n >= 3:
                    hinges["volume"] = (hinges["volume"].to_numpy() * det * wedge
                                        / _wedge(m[a], m[b]))
            elif n >= 3:
                hinges["volume"] = hinges["volume"].to_numpy() * h ** (n - 2)
            _points_to_domain(hinges, "centroid", s, o)
        # facets
        if iso:
            nu, stretch, length = m, h ** (n - 1), h
        else:
            p = m / s
            norm = np.linalg.norm(p, axis=1)
            nu, stretch, length = p / norm[:, None], det * norm, 1.0 / norm
            for j, col in enumerate(vector_columns("normal", n)):
                facets[col] = nu[:, j]
        facets["volume"] = facets["volume"].to_numpy() * stretch
        if "volume_se" in facets:
            facets["volume_se"] = facets["volume_se"].to_numpy() * stretch
        facets["offset"] = nu @ o + length * facets["offset"].to_numpy()
        _points_to_domain(facets, "centroid", s, o)
        if info is not None and "tol" in info:
            info["tol_axes"] = self.tol_axes(info["tol"])

    def vertices_to_domain(self, vertices):
        """``(indptr, ids, coords)`` with the merged coordinates in the user's units."""
        indptr, ids, coords = vertices
        return indptr, ids, self.to_domain(coords) if len(coords) else coords

    def chebyshev(self, normals, offsets, cell, n_cells) -> tuple[np.ndarray, np.ndarray]:
        """Chebyshev centres and radii of the cells in the user's units, from their facets
        in the frame (``normals . u <= offsets``, unit normals; ``cell`` the cell of each
        facet).

        The user's ball ``|x - o - S c| <= R`` is the ellipsoid ``|S (u - c)| <= R`` of the
        frame, inside the facet ``m . u <= b`` iff ``m . c + R |S^-1 m| <= b``. With
        ``R = s_min rho`` and ``w = |s_min S^-1 m|`` (in ``(0, 1]``) each cell's LP is

            max rho  s.t.  m_i . c + w_i rho <= b_i,

        as well scaled as the frame (``rho <= 1``; in the user's units a box of sides 1e4
        and 1e-3 is out of reach of HiGHS's tolerances): the rows' weights of
        :func:`cellgeom.geometry.chebyshev_centers`, with the frame's box rows
        ``+-u_j <= 1`` (weights ``s_min / s_j``) added above ``DUAL_CHEBYSHEV_DIM``
        dimensions, where each cell is solved on its own by the compiled walk. The radius
        returned is the one the centre found really has, ``s_min min_i (b_i - m_i . c) /
        w_i``.

        Returns
        -------
        centers : ndarray (n_cells, n)
            ``o + S c``.
        radii : ndarray (n_cells,)
        """
        n, s = self.domain.dim, self.halves
        low = float(s.min())
        weight = np.linalg.norm(normals * (low / s), axis=1)
        order = np.argsort(cell, kind="stable")
        indptr = np.searchsorted(cell[order], np.arange(n_cells + 1))
        rows = [order[indptr[k]:indptr[k + 1]] for k in range(n_cells)]
        if n > DUAL_CHEBYSHEV_DIM:  # the walk wants every axis bounded by rows of its own
            box, box_rhs = np.vstack([np.eye(n), -np.eye(n)]), np.ones(2 * n)
            box_weight = np.tile(low / s, 2)
            polytopes = [(np.vstack([normals[r], box]), np.concatenate([offsets[r], box_rhs]))
                         for r in rows]
            weights = [np.concatenate([weight[r], box_weight]) for r in rows]
        else:
            polytopes = [(normals[r], offsets[r]) for r in rows]
            weights = [weight[r] for r in rows]
        c = chebyshev_centers(polytopes, weights=weights)[0]
        # each facet's slack at its cell's centre; a cell's radius is the least of them
        slack = (offsets - np.einsum("ij,ij->i", normals, c[cell])) / weight
        rho = np.full(n_cells, np.inf)
        np.minimum.at(rho, cell, slack)
        return self.to_domain(c), low * rho


def _hinge_facet_rows(hinges: pd.DataFrame, facets: pd.DataFrame):
    """Rows of ``facets`` of the two facets of each hinge row: ``(cell, label_a)`` and
    ``(cell, label_b)`` (a cell's facets have distinct labels: one row each)."""
    index = pd.MultiIndex.from_arrays([facets["cell"].to_numpy(np.int64),
                                       facets["label"].to_numpy(np.int64)])
    if not index.is_unique:
        raise RuntimeError("two facets of one cell carry the same label: the hinges' facets "
                           "cannot be identified (an internal error of the adapter).")
    cell = hinges["cell"].to_numpy(np.int64)
    a, b = (index.get_indexer(pd.MultiIndex.from_arrays([cell, hinges[c].to_numpy(np.int64)]))
            for c in ("label_a", "label_b"))
    if (a < 0).any() or (b < 0).any():
        raise RuntimeError("a hinge names a facet its cell does not have (an internal error).")
    return a, b


def _wedge(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``|p ^ q|`` per row: the norm of the 2x2 minors ``p_i q_j - p_j q_i`` (i < j), which
    keeps its relative accuracy for nearly parallel ``p, q`` (the Gram form
    ``sqrt(|p|^2 |q|^2 - (p . q)^2)`` cancels)."""
    outer = p[:, :, None] * q[:, None, :]
    minors = outer - outer.transpose(0, 2, 1)
    return np.sqrt(np.einsum("kij,kij->k", minors, minors) / 2)


def _points_to_domain(table: pd.DataFrame, prefix: str, s, o) -> None:
    for j, col in enumerate(vector_columns(prefix, len(s))):
        values = table[col].to_numpy()
        if np.isnan(values).all():  # nothing estimated (NaN stays NaN): no new column
            continue
        table[col] = o[j] + s[j] * values
