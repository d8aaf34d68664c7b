"""Core: all cells of random arrangements; per-cell volume vs SciPy's Qhull route.

The reference route is what a user would write with SciPy alone: for each cell,
HalfspaceIntersection from an interior point, then ConvexHull(...).volume. It
is given the interior points for free; cellgeom's figure covers its whole
per-cell kernel (Chebyshev LP + vertices + volume + facets + hinges).
"""
from __future__ import annotations

import numpy as np
from _measure import measure
from scipy.spatial import ConvexHull, HalfspaceIntersection

import cellgeom
from cellgeom.geometry import polytope_geometry


def _arrangement(k, n, seed):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(k, n))
    box = cellgeom.Box(np.zeros(n), np.ones(n))
    points = rng.random((k, n))  # each hyperplane passes through a random point of the box
    b = -np.einsum("ij,ij->i", W, points)
    return cellgeom.HyperplaneArrangement(W, b), box


def _cell_inequalities(part, arr):
    polys = []
    box_A, box_b = part.domain.halfspaces()
    for (A, b, _), c in zip(arr.cell_constraints(part.keys), part.centers):
        polys.append((np.vstack([box_A, A]), np.concatenate([box_b, b]), c))
    return polys


def _scipy_volumes(polys):
    out = []
    for A, b, c in polys:
        hs = HalfspaceIntersection(np.hstack([A, -b[:, None]]), c)
        out.append(ConvexHull(hs.intersections).volume)
    return np.array(out)


def _cellgeom_volumes(polys):
    return np.array([polytope_geometry(A, b, c).volume for A, b, c in polys])


def run(quick: bool = False) -> list[dict]:
    rows = []
    cases = [(12, 2, "lines in the unit square"), (6, 3, "planes in the unit cube")] if quick \
        else [(30, 2, "lines in the unit square"), (12, 3, "planes in the unit cube")]
    for k, n, what in cases:
        arr, box = _arrangement(k, n, seed=k)
        part, t_all, mb_all = measure(cellgeom.partition, arr, domain=box, cells="all",
                                      progress=False)
        polys = _cell_inequalities(part, arr)
        ours, t_ours, mb_ours = measure(_cellgeom_volumes, polys, repeat=3)
        ref, t_ref, mb_ref = measure(_scipy_volumes, polys, repeat=3)
        assert np.allclose(ours, ref, rtol=1e-9)
        assert abs(part.volumes.sum() - box.volume) < 1e-9
        m = part.n_cells
        rows.append(dict(
            benchmark=f"per-cell geometry vs Qhull volume ({k} {what})",
            size=f"{m} cells", cellgeom_s=t_ours,
            reference="SciPy HalfspaceIntersection+ConvexHull",
            reference_s=t_ref, cellgeom_mb=mb_ours, reference_mb=mb_ref,
            notes=f"cellgeom also returns facets, face volumes, hinges, angles; "
                  f"{1e3 * t_ours / m:.2f} ms/cell vs {1e3 * t_ref / m:.2f} ms/cell",
        ))
        rows.append(dict(
            benchmark=f"enumerate all cells + tables ({k} {what})", size=f"{m} cells",
            cellgeom_s=t_all, cellgeom_mb=mb_all,
            notes=f"{m / t_all:.0f} cells/s including LPs, faces and hinges; no reference tool",
        ))
    return rows
