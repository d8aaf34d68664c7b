"""Core: all cells of random arrangements; per-cell volume vs SciPy's Qhull route.

The reference route is what a user would write with SciPy alone: for each cell,
HalfspaceIntersection from an interior point, then ConvexHull(...).volume. Both
sides are given the same interior points (the partition's Chebyshev centres; the
LPs that find them are outside both timings). cellgeom's figure is its batched
exact kernel ``batch_polytope_geometry`` over all cells at once, which returns the
full PolytopeGeometry per cell (vertices, volume, centroid, facets with their
areas and centroids, hinges with lengths, centroids and dihedral angles), in one
compiled call with no Qhull call: one vertex enumeration (double description) per
cell, and facets, hinges and every measure read from its vertex/row incidences.
Rows in 2-D to 5-D (#19: >= 5x in 2-D / 3-D, >= 2x in 4-D / 5-D).
"""
from __future__ import annotations

import numpy as np
from _measure import measure
from scipy.spatial import ConvexHull, HalfspaceIntersection

import cellgeom
from cellgeom.geometry import batch_polytope_geometry


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
    geoms = batch_polytope_geometry([(A, b) for A, b, _ in polys],
                                    np.array([c for *_, c in polys]))
    return np.array([g.volume for g in geoms])


def run(quick: bool = False) -> list[dict]:
    rows = []
    cases = [(12, 2, "lines in the unit square"), (6, 3, "planes in the unit cube"),
             (5, 4, "hyperplanes in the unit 4-cube"), (5, 5, "hyperplanes in the unit 5-cube")] \
        if quick else [(30, 2, "lines in the unit square"), (12, 3, "planes in the unit cube"),
                       (9, 4, "hyperplanes in the unit 4-cube"),
                       (8, 5, "hyperplanes in the unit 5-cube")]
    for k, n, what in cases:
        arr, box = _arrangement(k, n, seed=k)
        part, t_all, mb_all = measure(cellgeom.partition, arr, domain=box, cells="all",
                                      progress=False)
        polys = _cell_inequalities(part, arr)
        # a few ms each: best of 20 on both sides (best of 5 moved the ratio by ~15%
        # between runs on the 2-core machine)
        ours, t_ours, mb_ours = measure(_cellgeom_volumes, polys, repeat=20)
        ref, t_ref, mb_ref = measure(_scipy_volumes, polys, repeat=20)
        assert np.allclose(ours, ref, rtol=1e-9)
        assert abs(part.volumes.sum() - box.volume) < 1e-9
        m = part.n_cells
        rows.append(dict(
            benchmark=f"per-cell geometry vs Qhull volume ({k} {what})",
            size=f"{m} cells", cellgeom_s=t_ours,
            reference="SciPy HalfspaceIntersection+ConvexHull",
            reference_s=t_ref, cellgeom_mb=mb_ours, reference_mb=mb_ref,
            notes=f"{1e3 * t_ours / m:.3f} ms/cell vs {1e3 * t_ref / m:.3f} ms/cell; both "
                  f"given the Chebyshev centres; cellgeom: batched kernel, all cells at "
                  f"once (no Qhull call), full geometry (facets, face volumes, hinges, angles); "
                  f"reference: volume only, one Qhull pair per cell",
        ))
        rows.append(dict(
            benchmark=f"enumerate all cells + tables ({k} {what})", size=f"{m} cells",
            cellgeom_s=t_all, cellgeom_mb=mb_all,
            notes=f"{m / t_all:.0f} cells/s including LPs, faces and hinges; no reference tool",
        ))
    return rows
