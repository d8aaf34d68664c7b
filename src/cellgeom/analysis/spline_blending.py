"""Continuous evaluation of cell values: a partition of unity over the cells (THEORY.md s. 5).

For a cell c with facets ``nu_F . x <= b_F`` (unit outward normals), centroid ``z_c`` (its
Chebyshev centre where the partition has no centroid, e.g. an arrangement in a dimension
too high for cell volumes; any interior point serves below) and circumradius ``R_c`` about
it, let ``v_c(x) = max_F (nu_F . x - b_F)``, the largest facet violation, and
``D(x) = max(0, -min_c v_c(x))``, the depth of x in the cell that contains it
(its distance to that cell's boundary; 0 outside every cell). The blending distance is

    sd_c(x) = v_c(x)                                    if v_c(x) <= 0 (x in c),
    sd_c(x) = max(v_c(x), |x - z_c| - R_c, D(x))        otherwise,

and ``g_c(x) = smoothstep((tau/2 - sd_c(x)) / tau)`` (1 at sd <= -tau/2, 1/2 on the boundary
of c, 0 at sd >= tau/2). The refined model is ``u(x) = sum_c g_c(x) f_c / sum_c g_c(x)``.

Why each term:

- inside c, ``-v_c(x)`` is exactly the distance to the boundary of c (c is convex);
- outside c, ``v_c``, ``|x - z_c| - R_c`` and ``D(x)`` are all lower bounds of the distance
  from x to c (a path from x to c leaves x's own cell first), so ``g_c`` vanishes farther
  than tau/2 from c. ``v_c`` alone would not do: next to a vertex where cells meet at small
  angles, the facet planes of a far cell pass close to x;
- hence at depth ``D(x) >= tau/2`` every other cell has ``g = 0`` and u is exactly the value
  of x's cell: cell interiors are kept, and the blend lives in a band of half-width tau/2
  around the faces;
- each ``sd_c`` is continuous (``v_c = 0`` and ``D = 0`` on the boundary of c), so u is
  continuous, and inside its own cell ``g >= 1/2``, so the denominator never vanishes.

A ball query on the centroids (radius max R_c + tau/2) finds every cell with ``g_c > 0``, so
each sum is complete. Points farther than tau/2 outside every cell (gaps of a cells="data"
partition) take the value of the cell with the nearest centroid.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ..core import vector_columns

__all__ = ["CellBlender", "default_width", "KEPT_FRACTION", "cell_radii", "reference_points",
           "smoothstep"]

#: the default width leaves at least this fraction of every cell at least as thick as the
#: median cell untouched by the blend (see :func:`default_width`)
KEPT_FRACTION = 0.9


def default_width(part, kept: float = KEPT_FRACTION) -> float:
    """The default blending width ``tau = 2 r (1 - kept^(1/n))``, r the median inradius.

    The points of a convex cell C at depth >= t contain the copy of C shrunk by
    ``1 - t / r_C`` about its incentre (r_C its inradius), so they fill at least
    ``(1 - t / r_C)^n`` of its volume. The blend reaches depth ``t = tau / 2``, so this tau
    keeps at least ``kept`` of the volume of every cell whose inradius is at least the
    median: the refined model is the cell's smoothed value there, and only a thin layer
    along the faces is blended. (The median inradius itself, the former default, kept
    ``(1/2)^n``: a quarter of a typical cell in 2-D, almost nothing in high dimension.)
    """
    r = part.cells["inradius"].to_numpy(dtype=float)
    r = r[np.isfinite(r) & (r > 0)]
    if r.size == 0:
        raise ValueError("no cell has a positive finite inradius: pass tau= explicitly.")
    return float(2.0 * np.median(r) * (1.0 - kept ** (1.0 / part.dim)))


def smoothstep(t: np.ndarray) -> np.ndarray:
    """C^1 step from 0 (t <= 0) to 1 (t >= 1): ``3 t^2 - 2 t^3``."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


class CellBlender:
    """Evaluate ``u(x) = sum_c g_c(x) f_c / sum_c g_c(x)`` for values ``f`` on a partition's
    cells (see the module docstring).

    Parameters
    ----------
    part : Partition
    tau : float
        Blending width (input units, > 0).

    Attributes
    ----------
    tau : float
    centroids : ndarray (n_cells, n)
        Reference point of each cell (:func:`reference_points`).
    radii : ndarray (n_cells,)
        Circumradius of each cell about its reference point (an upper bound where not
        exact).
    """

    def __init__(self, part, tau: float):
        n = part.dim
        f = part.facets
        order = np.argsort(f["cell"].to_numpy(), kind="stable")
        self.normals = f[vector_columns("normal", n)].to_numpy(dtype=float)[order]
        self.offsets = f["offset"].to_numpy(dtype=float)[order]
        self.fptr = np.zeros(part.n_cells + 1, dtype=np.int64)
        np.cumsum(np.bincount(f["cell"].to_numpy(), minlength=part.n_cells), out=self.fptr[1:])
        self.tau = float(tau)
        self.centroids = reference_points(part)
        is_box = isinstance(getattr(part, "lo", None), np.ndarray) and \
            isinstance(getattr(part, "hi", None), np.ndarray)
        self.box_lo = part.lo if is_box else None
        self.box_hi = part.hi if is_box else None
        self.radii = cell_radii(part)
        self.kdtree = cKDTree(self.centroids)

    def violation(self, X, pt, cand, budget: int = 4_000_000) -> np.ndarray:
        """Largest facet violation v_cand(x_pt), vectorised over (point, cell) pairs in
        blocks of at most ``budget`` floats; closed form for boxes."""
        out = np.empty(len(pt))
        n = X.shape[1]
        box = self.box_lo is not None
        lens_all = np.full(len(cand), 1) if box else self.fptr[cand + 1] - self.fptr[cand]
        per = n * (2 if box else max(1, int(lens_all.mean()) if len(cand) else 1))
        step = max(1, budget // per)
        for s in range(0, len(pt), step):
            p, c = pt[s:s + step], cand[s:s + step]
            if box:
                x = X[p]
                out[s:s + step] = np.maximum((self.box_lo[c] - x).max(axis=1),
                                             (x - self.box_hi[c]).max(axis=1))
                continue
            lens = lens_all[s:s + step]
            rows = _expand(self.fptr[c], lens)
            viol = np.einsum("ij,ij->i", self.normals[rows], X[np.repeat(p, lens)]) - \
                self.offsets[rows]
            out[s:s + step] = np.maximum.reduceat(viol, np.cumsum(lens) - lens)
        return out

    def __call__(self, X, values, chunk_pairs: int = 2_000_000) -> np.ndarray:
        """u(X) for cell values of shape (n_cells, k); returns (len(X), k)."""
        X = np.asarray(X, dtype=float)
        values = np.asarray(values, dtype=float)
        q = X.shape[0]
        out = np.zeros((q, values.shape[1]))
        if q == 0:
            return out
        half = 0.5 * self.tau
        radius = float(self.radii.max()) + half
        step = max(1, int(chunk_pairs // max(1, len(self.centroids))))
        for s in range(0, q, step):
            Xc = X[s:s + step]
            lists = self.kdtree.query_ball_point(Xc, r=radius, return_sorted=False)
            lens = np.fromiter((len(v) for v in lists), dtype=np.int64, count=len(lists))
            cand = np.fromiter((c for v in lists for c in v), dtype=np.int64,
                               count=int(lens.sum()))
            pt = np.repeat(np.arange(len(Xc)), lens)
            dist = np.linalg.norm(Xc[pt] - self.centroids[cand], axis=1)
            near = dist < self.radii[cand] + half
            pt, cand = pt[near], cand[near]
            v = self.violation(Xc, pt, cand) if len(pt) else np.zeros(0)
            sd = np.maximum(v, dist[near] - self.radii[cand])
            # depth of each point in its own cell (0 outside every cell)
            lowest = np.full(len(Xc), np.inf)
            np.minimum.at(lowest, pt, sd)
            depth = np.maximum(0.0, -lowest)
            sd = np.where(sd > 0, np.maximum(sd, depth[pt]), sd)
            g = smoothstep((half - sd) / self.tau)
            den = np.bincount(pt, weights=g, minlength=len(Xc))
            num = np.zeros((len(Xc), out.shape[1]))
            np.add.at(num, pt, g[:, None] * values[cand])
            res = num / np.where(den > 0, den, 1.0)[:, None]
            empty = np.flatnonzero(den <= 0)
            if len(empty):
                # outside every cell by more than tau/2: value of the nearest centroid's cell
                _, nn = self.kdtree.query(Xc[empty], k=1)
                res[empty] = values[np.asarray(nn).ravel()]
            out[s:s + step] = res
        return out


def reference_points(part) -> np.ndarray:
    """The centroid of each cell, or its Chebyshev centre where the centroid is unknown
    (NaN: partitions without cell volumes, such as arrangements in high dimension)."""
    cen = np.array(part.centroids, dtype=float)
    bad = ~np.all(np.isfinite(cen), axis=1)
    if np.any(bad):
        cen[bad] = np.asarray(part.centers, dtype=float)[bad]
    return cen


def cell_radii(part) -> np.ndarray:
    """Circumradius of each cell about its reference point (:func:`reference_points`):
    from the vertices when known, in closed form for boxes (``lo_*``/``hi_*`` columns),
    else from the cell's bounding box (2n LPs per cell), which bounds it from above."""
    n, cen = part.dim, reference_points(part)
    lo_cols, hi_cols = vector_columns("lo", n), vector_columns("hi", n)
    radii = np.full(part.n_cells, np.nan)
    if part.has_vertices:
        for i in range(part.n_cells):
            ids = part.cell_vertex_ids(i)
            if len(ids) > n:
                radii[i] = np.linalg.norm(part.vertices[ids] - cen[i], axis=1).max()
    todo = np.flatnonzero(np.isnan(radii))
    if len(todo) == 0:
        return radii * (1 + 1e-9) + 1e-12 * part.domain.scale
    if isinstance(getattr(part, "lo", None), np.ndarray) and \
            isinstance(getattr(part, "hi", None), np.ndarray):
        lo, hi = part.lo[todo], part.hi[todo]  # box partitions (trees, forests)
    elif all(c in part.cells.columns for c in lo_cols + hi_cols):
        lo = part.cells[lo_cols].to_numpy()[todo]
        hi = part.cells[hi_cols].to_numpy()[todo]
    else:
        from scipy.optimize import linprog

        lo, hi = np.empty((len(todo), n)), np.empty((len(todo), n))
        for k, i in enumerate(todo):
            A, b = part.halfspaces(int(i))
            for j in range(n):
                e = np.zeros(n)
                e[j] = 1.0
                lo[k, j] = linprog(e, A_ub=A, b_ub=b, bounds=(None, None), method="highs").fun
                hi[k, j] = -linprog(-e, A_ub=A, b_ub=b, bounds=(None, None), method="highs").fun
    c = cen[todo]
    radii[todo] = np.linalg.norm(np.maximum(c - lo, hi - c), axis=1)
    return radii * (1 + 1e-9) + 1e-12 * part.domain.scale


def _expand(starts, lens):
    """Concatenated ranges starts[k] .. starts[k] + lens[k] - 1 (CSR row gathering)."""
    total = int(lens.sum())
    seg = np.repeat(np.cumsum(lens) - lens, lens)
    return np.repeat(starts, lens) + (np.arange(total) - seg)
