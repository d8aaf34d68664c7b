"""Exact geometry of one bounded convex polytope ``{x : A x <= b}`` in low dimension.

The vertex route: Qhull (``scipy.spatial.HalfspaceIntersection``) gives the
vertices from an interior point; every other quantity follows from the
vertex/inequality incidences:

* a row is a facet iff its incident vertices span an (n-1)-flat;
* two facets meet in a hinge iff their common vertices span an (n-2)-flat;
* volumes and centroids come from a triangulation of the convex hull
  (``scipy.spatial.ConvexHull``) coned from an interior point.

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

from .lp import normalize_rows, repeated_rows

__all__ = ["PolytopeGeometry", "polytope_geometry", "polytope_volume", "flat_volume_centroid",
           "polytope_vertices"]


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
        Interior dihedral angle ``pi - arccos(<nu_i, nu_j>)`` in radians.
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


def polytope_volume(A, b, interior_point=None) -> float:
    """n-volume of the bounded polytope ``{x : A x <= b}`` (Qhull).

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[-1., 0], [0, -1], [1, 1]]); b = np.array([0., 0, 1])
    >>> round(polytope_volume(A, b), 12)
    0.5
    """
    if interior_point is None:
        from .lp import chebyshev_center

        interior_point, radius = chebyshev_center(A, b)
        if radius <= 0:
            return 0.0
    vertices = polytope_vertices(A, b, interior_point)
    return _hull_volume_centroid(vertices, interior_point)[0]


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


def polytope_geometry(A, b, interior_point, tol: float = 1e-9) -> PolytopeGeometry:
    """Exact geometry of a bounded full-dimensional polytope (vertex route).

    Parameters
    ----------
    A, b : arrays of shape (m, n), (m,)
        The inequalities ``A x <= b``; redundant and repeated rows are allowed
        (a repeated row is reported once, at its first occurrence).
    interior_point : array (n,)
        A point strictly inside, e.g. the Chebyshev centre.
    tol : float
        Absolute length tolerance for incidences and ranks (callers pass a
        multiple of the domain's scale).
    """
    A = np.asarray(A, dtype=float)
    A_unit, b_unit, norms = normalize_rows(A, b)
    m, n = A_unit.shape
    apex = np.asarray(interior_point, dtype=float)
    vertices = polytope_vertices(A, b, apex, tol=tol * 1e-2)

    slack = b_unit[:, None] - A_unit @ vertices.T
    incident = (np.abs(slack) <= tol) & (norms[:, None] > 0)
    incident &= ~repeated_rows(A_unit, b_unit, tol)[:, None]
    counts = incident.sum(axis=1)

    candidates = np.flatnonzero(counts >= n)
    if n <= 2:  # merged distinct vertices: two of them always span a segment
        facet_rows = candidates
    else:
        facet_rows = np.array([i for i in candidates
                               if _affine_rank(vertices[incident[i]], tol) == n - 1], dtype=int)
    f = facet_rows.size
    facet_normals = A_unit[facet_rows]
    facet_offsets = b_unit[facet_rows]
    facet_volumes, facet_centroids = _facet_measures(vertices, incident[facet_rows],
                                                     facet_normals, tol)
    # cone decomposition from the apex: vol = sum_F h_F vol(F) / n, and the centroid of
    # the cone over F is apex + n/(n+1) (centroid_F - apex)
    heights = facet_offsets - facet_normals @ apex
    cone_volumes = heights * facet_volumes / n
    volume = float(cone_volumes.sum())
    cone_centroids = apex + n / (n + 1) * (facet_centroids - apex)
    centroid = cone_volumes @ cone_centroids / volume if volume > 0 else apex.copy()

    hinge_facets, hinge_volumes, hinge_centroids = [], [], []
    if n >= 2 and f >= 2:
        inc_f = incident[facet_rows].astype(np.int32)
        common = inc_f @ inc_f.T
        ii, jj = np.nonzero(np.triu(common >= max(n - 1, 1), k=1))
        for i, j in zip(ii, jj):
            pts = vertices[incident[facet_rows[i]] & incident[facet_rows[j]]]
            if n == 3:  # two distinct (merged) vertices on two facets: a segment
                d = pts - pts[0]
                far = np.argmax(np.einsum("ij,ij->i", d, d))
                vol, cen = float(np.linalg.norm(d[far])), (pts[0] + pts[far]) / 2
            else:
                if n >= 4 and _affine_rank(pts, tol) != n - 2:
                    continue
                vol, cen = flat_volume_centroid(pts, n - 2, tol)
            hinge_facets.append((i, j))
            hinge_volumes.append(vol)
            hinge_centroids.append(cen)
    hinge_facets = np.asarray(hinge_facets, dtype=int).reshape(-1, 2)
    cosines = np.einsum(
        "ij,ij->i", facet_normals[hinge_facets[:, 0]], facet_normals[hinge_facets[:, 1]]
    )
    hinge_angles = np.pi - np.arccos(np.clip(cosines, -1.0, 1.0))
    return PolytopeGeometry(
        volume=volume,
        centroid=centroid,
        vertices=vertices,
        facet_rows=facet_rows,
        facet_normals=facet_normals,
        facet_offsets=facet_offsets,
        facet_volumes=facet_volumes,
        facet_centroids=facet_centroids,
        hinge_facets=hinge_facets,
        hinge_volumes=np.asarray(hinge_volumes, dtype=float),
        hinge_centroids=np.asarray(hinge_centroids, dtype=float).reshape(-1, n),
        hinge_angles=hinge_angles,
    )


def _facet_measures(vertices, incidence, normals, tol):
    """(n-1)-volumes and centroids of facets, closed forms in 2-D and 3-D."""
    f, n = normals.shape[0], vertices.shape[1]
    volumes = np.empty(f)
    centroids = np.empty((f, n))
    for k in range(f):
        pts = vertices[incidence[k]]
        if n == 1:
            volumes[k], centroids[k] = 1.0, pts[0]
        elif n == 2:  # a segment: extent along the tangent
            t = pts @ np.array([-normals[k, 1], normals[k, 0]])
            lo, hi = t.argmin(), t.argmax()
            volumes[k] = t[hi] - t[lo]
            centroids[k] = (pts[lo] + pts[hi]) / 2
        elif n == 3:  # a convex polygon: order by angle, shoelace area and centroid
            volumes[k], centroids[k] = _polygon_in_plane(pts, normals[k])
        else:
            volumes[k], centroids[k] = flat_volume_centroid(pts, n - 1, tol)
    return volumes, centroids


def _polygon_in_plane(pts, normal):
    """Area and centroid of the convex polygon with vertices pts in the plane normal . x = d."""
    a, b, c = normal
    u = np.array([0.0, -c, b]) if abs(a) < 0.9 else np.array([c, 0.0, -a])  # normal x e_k
    u /= np.sqrt(u @ u)
    v = np.array([b * u[2] - c * u[1], c * u[0] - a * u[2], a * u[1] - b * u[0]])
    mean = pts.sum(axis=0) / len(pts)
    xy = (pts - mean) @ np.column_stack([u, v])
    order = np.argsort(np.arctan2(xy[:, 1], xy[:, 0]))
    x, y = xy[order, 0], xy[order, 1]
    x1, y1 = np.concatenate([x[1:], x[:1]]), np.concatenate([y[1:], y[:1]])
    cross = x * y1 - x1 * y
    area = cross.sum() / 2
    if area <= 0:
        return 0.0, mean
    cx = ((x + x1) * cross).sum() / (6 * area)
    cy = ((y + y1) * cross).sum() / (6 * area)
    return float(area), mean + cx * u + cy * v


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


def _hull_volume_centroid(points: np.ndarray, apex: np.ndarray) -> tuple[float, np.ndarray]:
    """Volume and centroid of conv(points) by coning its triangulated boundary from apex."""
    d = points.shape[1]
    if d == 1:
        lo, hi = points[:, 0].min(), points[:, 0].max()
        return float(hi - lo), np.array([(lo + hi) / 2])
    try:
        hull = ConvexHull(points)
    except QhullError:
        return 0.0, points.mean(axis=0)
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
