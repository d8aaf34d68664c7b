"""The Qhull vertex route, kept as an independent oracle for the compiled polytope kernel.

This is the per-cell route cellgeom used before its compiled kernel: Qhull's
``HalfspaceIntersection`` gives the vertices, rows are facets when their incident
vertices span an (n-1)-flat (SVD), two facets form a hinge when their common vertices
span an (n-2)-flat, and every facet and hinge measure comes from a hull of its own
(``ConvexHull`` of the points projected into the face's flat), with closed forms for
segments and, in 3-D, polygons. One Qhull call per facet and per hinge: slow, and
independent of the compiled route in every step after the vertices.

Two changes from that route, both for faces of dimension 3 and up (cells of 5-D and
6-D): the centroid comes from a (joggled) Delaunay triangulation of the face's points,
not from cones over ``ConvexHull``'s triangulated boundary, whose 'Qt' output repeats
pieces of non-simplicial facets in 5-D flats (facet centroids of 6-D cells were off by
up to 4e-3); and when Qhull refuses the exact points its hull is joggled instead of
the face being taken as flat (a 5-D facet of 54 vertices had volume 0, its cell's
volume 19% low).
"""
from __future__ import annotations

from math import factorial

import numpy as np
from scipy.spatial import ConvexHull, Delaunay, QhullError

from cellgeom.geometry import PolytopeGeometry, flat_volume_centroid, polytope_vertices
from cellgeom.geometry.lp import normalize_rows, repeated_rows


def affine_rank(points: np.ndarray, tol: float) -> int:
    if points.shape[0] <= 1:
        return 0
    sing = np.linalg.svd(points - points.mean(axis=0), compute_uv=False)
    return int(np.sum(sing > tol))


def qhull_geometry(A, b, interior_point, tol: float = 1e-9) -> PolytopeGeometry:
    """Geometry of a bounded full-dimensional polytope by the Qhull vertex route."""
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
    if n <= 2:
        facet_rows = candidates
    else:
        facet_rows = np.array([i for i in candidates
                               if affine_rank(vertices[incident[i]], tol) == n - 1], dtype=int)
    f = facet_rows.size
    facet_normals = A_unit[facet_rows]
    facet_offsets = b_unit[facet_rows]
    facet_volumes, facet_centroids = _facet_measures(vertices, incident[facet_rows],
                                                     facet_normals, tol)
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
            if n == 3:
                d = pts - pts[0]
                far = np.argmax(np.einsum("ij,ij->i", d, d))
                vol, cen = float(np.linalg.norm(d[far])), (pts[0] + pts[far]) / 2
            else:
                if n >= 4 and affine_rank(pts, tol) != n - 2:
                    continue
                vol, cen = flat_measures(pts, n - 2, tol)
            hinge_facets.append((i, j))
            hinge_volumes.append(vol)
            hinge_centroids.append(cen)
    hinge_facets = np.asarray(hinge_facets, dtype=int).reshape(-1, 2)
    cosines = np.einsum(
        "ij,ij->i", facet_normals[hinge_facets[:, 0]], facet_normals[hinge_facets[:, 1]]
    )
    hinge_angles = np.pi - np.arccos(np.clip(cosines, -1.0, 1.0))
    return PolytopeGeometry(
        volume=volume, centroid=centroid, vertices=vertices, facet_rows=facet_rows,
        facet_normals=facet_normals, facet_offsets=facet_offsets,
        facet_volumes=facet_volumes, facet_centroids=facet_centroids,
        hinge_facets=hinge_facets, hinge_volumes=np.asarray(hinge_volumes, dtype=float),
        hinge_centroids=np.asarray(hinge_centroids, dtype=float).reshape(-1, n),
        hinge_angles=hinge_angles,
    )


def _facet_measures(vertices, incidence, normals, tol):
    f, n = normals.shape[0], vertices.shape[1]
    volumes = np.empty(f)
    centroids = np.empty((f, n))
    for k in range(f):
        pts = vertices[incidence[k]]
        if n == 1:
            volumes[k], centroids[k] = 1.0, pts[0]
        elif n == 2:
            t = pts @ np.array([-normals[k, 1], normals[k, 0]])
            lo, hi = t.argmin(), t.argmax()
            volumes[k] = t[hi] - t[lo]
            centroids[k] = (pts[lo] + pts[hi]) / 2
        elif n == 3:
            volumes[k], centroids[k] = _polygon_in_plane(pts, normals[k])
        else:
            volumes[k], centroids[k] = flat_measures(pts, n - 1, tol)
    return volumes, centroids


def _polygon_in_plane(pts, normal):
    a, b, c = normal
    u = np.array([0.0, -c, b]) if abs(a) < 0.9 else np.array([c, 0.0, -a])
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


def flat_measures(points, k, tol):
    """k-volume and centroid of points in a k-flat: Qhull's hull below 3 dimensions;
    from 3 up the hull's volume (joggled when Qhull refuses the exact input) and the
    centroid of the simplices of a joggled Delaunay triangulation (Qhull's exact one
    leaves out pieces of co-spherical input such as a box's facets)."""
    if k < 3:
        return flat_volume_centroid(points, k, tol)
    mean = points.mean(axis=0)
    _, sing, vt = np.linalg.svd(points - mean, full_matrices=False)
    if sing.size < k or sing[k - 1] <= tol:
        return 0.0, mean
    coords = (points - mean) @ vt[:k].T
    try:
        volume = ConvexHull(coords).volume
    except QhullError:
        volume = ConvexHull(coords, qhull_options="QJ").volume
    if len(coords) == k + 1:  # a simplex (too few points for a Delaunay triangulation)
        simplices = coords[None]
    else:
        simplices = coords[Delaunay(coords, qhull_options="QJ").simplices]
    vols = np.abs(np.linalg.det(simplices[:, 1:] - simplices[:, :1])) / factorial(k)
    return float(volume), mean + (vols @ simplices.mean(axis=1)) / vols.sum() @ vt[:k]
