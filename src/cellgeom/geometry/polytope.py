"""Exact geometry of bounded convex polytopes ``{x : A x <= b}`` in low dimension.

:class:`PolytopeGeometry` is what the partition tables need about one cell;
:func:`cellgeom.geometry.batch.polytope_geometry` computes it for one cell and
:func:`cellgeom.geometry.batch.batch_polytope_geometry` for many in one compiled
call. The Qhull helpers here serve the lower-dimensional pieces where cells meet
(:func:`flat_volume_centroid`, :func:`polytope_vertices`).

This is exact up to floating point and fast while the number of vertices is
moderate (n up to about 6 to 8). Above that use the LP kernels in ``lp``.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import factorial

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import ConvexHull, HalfspaceIntersection, QhullError, cKDTree

from .lp import normalize_rows

__all__ = ["PolytopeGeometry", "flat_volume_centroid", "polytope_vertices"]


@dataclass
class PolytopeGeometry:
    """Everything the partition tables need about one cell.

    Attributes
    ----------
    volume : float
        n-volume.
    centroid : ndarray (n,)
        Centre of mass.
    vertices : ndarray (v, n)
    facet_rows : ndarray (f,) of int
        Indices into the input rows of the facet-defining inequalities.
    facet_normals : ndarray (f, n)
        Outward unit normals.
    facet_offsets : ndarray (f,)
        ``normal . x = offset`` on the facet.
    facet_volumes : ndarray (f,)
        (n-1)-volumes (1 per facet when n = 1: points are counted).
    facet_centroids : ndarray (f, n)
    hinge_facets : ndarray (h, 2) of int
        Pairs of local facet indices (into ``facet_rows``) that meet in an
        (n-2)-face.
    hinge_volumes : ndarray (h,)
        (n-2)-volumes (1 for points, i.e. when n = 2).
    hinge_centroids : ndarray (h, n)
    hinge_angles : ndarray (h,)
        Interior dihedral angle ``pi - angle(nu_i, nu_j)`` in radians (computed from half
        angles, accurate near 0 and pi).
    """

    volume: float
    centroid: np.ndarray
    vertices: np.ndarray
    facet_rows: np.ndarray
    facet_normals: np.ndarray
    facet_offsets: np.ndarray
    facet_volumes: np.ndarray
    facet_centroids: np.ndarray
    hinge_facets: np.ndarray
    hinge_volumes: np.ndarray
    hinge_centroids: np.ndarray
    hinge_angles: np.ndarray


def polytope_vertices(A, b, interior_point, tol: float = 1e-10) -> np.ndarray:
    """Vertices of ``{x : A x <= b}`` from a strictly interior point (Qhull)."""
    A_unit, b_unit, norms = normalize_rows(A, b)
    keep = norms > 0
    A_unit, b_unit = A_unit[keep], b_unit[keep]
    interior_point = np.asarray(interior_point, dtype=float)
    n = A_unit.shape[1]
    if n == 1:
        upper = b_unit[A_unit[:, 0] > 0] / A_unit[A_unit[:, 0] > 0, 0]
        lower = b_unit[A_unit[:, 0] < 0] / A_unit[A_unit[:, 0] < 0, 0]
        return np.array([[lower.max()], [upper.min()]])
    hs = HalfspaceIntersection(np.hstack([A_unit, -b_unit[:, None]]), interior_point)
    return _merge_close_points(hs.intersections, tol)


def flat_volume_centroid(points: np.ndarray, k: int, tol: float = 1e-9) -> tuple[float, np.ndarray]:
    """k-volume and centroid of the convex hull of points lying in a k-flat.

    k = 0 counts the point (volume 1); k = 1 is a segment's length. Degenerate
    hulls (points spanning less than k dimensions) have volume 0.
    """
    points = np.asarray(points, dtype=float)
    mean = points.mean(axis=0)
    if k == 0:
        return 1.0, mean
    centred = points - mean
    _, sing, vt = np.linalg.svd(centred, full_matrices=False)
    if sing.size < k or sing[k - 1] <= tol:
        return 0.0, mean
    coords = centred @ vt[:k].T
    if k == 1:
        lo, hi = coords[:, 0].min(), coords[:, 0].max()
        return float(hi - lo), mean + vt[0] * (lo + hi) / 2
    vol, cen = _hull_volume_centroid(coords, coords.mean(axis=0))
    return vol, mean + cen @ vt[:k]


#: a hull Qhull refuses counts as flat when its bounding box is this thin (relative)
_FLAT_RTOL = 1e-9


def _hull_volume_centroid(points: np.ndarray, apex: np.ndarray) -> tuple[float, np.ndarray]:
    """Volume and centroid of conv(points) by coning its triangulated boundary from apex."""
    d = points.shape[1]
    if d == 1:
        lo, hi = points[:, 0].min(), points[:, 0].max()
        return float(hi - lo), np.array([(lo + hi) / 2])
    try:
        hull = ConvexHull(points)
    except QhullError as error:
        # Qhull refuses nearly flat input: within tolerance when even the bounding box
        # of the points (in their principal frame) has no volume; otherwise a 0 here
        # would be a wrong number, so the hull is retried with joggled input
        extent = np.ptp(points, axis=0)
        if np.prod(extent) <= (_FLAT_RTOL * extent.max()) * extent.max() ** (d - 1):
            return 0.0, points.mean(axis=0)
        hull = _joggled_hull(points, error)
    simplices = points[hull.simplices]  # (s, d, d)
    edges = simplices - apex[None, None, :]
    cone_volumes = np.abs(np.linalg.det(edges)) / factorial(d)
    total = cone_volumes.sum()
    if total <= 0:
        return 0.0, points.mean(axis=0)
    cone_centroids = (apex[None, :] + simplices.sum(axis=1)) / (d + 1)
    # Qhull's own volume: its triangulated output ('Qt') can repeat pieces of
    # non-simplicial facets in high dimension, which only the centroid weights see
    return float(hull.volume), cone_volumes @ cone_centroids / total


def _joggled_hull(points: np.ndarray, error: Exception) -> ConvexHull:
    """The hull of points Qhull refused without being flat (a precision error in its
    initial simplex, seen on 6-D pieces of hundreds of vertices in 10-D k-means), with
    the input joggled ('QJ': coordinates moved by about 1e-11 of their extent, so the
    volume moves by as little); a second failure is reported, never a 0."""
    try:
        return ConvexHull(points, qhull_options="QJ")
    except QhullError as again:
        raise ValueError(f"Qhull failed on the convex hull of {len(points)} points spanning "
                         f"{points.shape[1]} dimensions ({str(error).splitlines()[0]}), also "
                         f"with joggled input ({str(again).splitlines()[0]}); their volume is "
                         "not computed rather than reported as 0") from again


def _affine_rank(points: np.ndarray, tol: float) -> int:
    if points.shape[0] <= 1:
        return 0
    sing = np.linalg.svd(points - points.mean(axis=0), compute_uv=False)
    return int(np.sum(sing > tol))


def _merge_close_points(points: np.ndarray, tol: float) -> np.ndarray:
    """Merge points closer than tol (Qhull repeats a vertex where > n facets meet)."""
    if points.shape[0] <= 1:
        return points
    pairs = cKDTree(points).query_pairs(tol, output_type="ndarray")
    if pairs.size == 0:
        return points
    k = points.shape[0]
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(k, k))
    n_comp, labels = connected_components(graph, directed=False)
    sums = np.zeros((n_comp, points.shape[1]))
    np.add.at(sums, labels, points)
    return sums / np.bincount(labels, minlength=n_comp)[:, None]
