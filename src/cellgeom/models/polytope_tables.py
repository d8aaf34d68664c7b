"""The partition tables of the polytope route: cells, facets, hinges and merged vertices.

Assembled from the per-cell geometry of :mod:`cellgeom.models.polytopes` (in the unit
frame of the domain; :mod:`cellgeom.models.unit_frame` maps them back).
"""
from __future__ import annotations

import mmap

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from ..core import vector_columns
from .plane_kernel import close_point_components, cluster_means

__all__ = ["first_appearance", "global_vertices", "global_vertices_flat", "partition_tables",
           "pool_face_estimates"]


def global_vertices(per_cell: list[np.ndarray], n: int, tol: float):
    """Merge the cells' vertices into global vertex ids (points closer than 1e3 tol),
    numbered in lexicographic order of their coordinates."""
    counts = np.array([v.shape[0] for v in per_cell], dtype=np.int64)
    coords = np.vstack(per_cell) if per_cell else np.zeros((0, n))
    return global_vertices_flat(coords, counts, n, tol)


def global_vertices_flat(coords: np.ndarray, counts: np.ndarray, n: int, tol: float):
    """:func:`global_vertices` of the cells' vertices given as one array ``coords`` (cells
    contiguous, ``counts[i]`` rows for cell ``i``)."""
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    k = coords.shape[0]
    if k == 0:
        return indptr, np.zeros(0, dtype=np.int64), coords
    radius = max(tol * 1e3, 1e-12)
    n_comp = -1
    if n == 2:  # compiled: a grid of squares instead of a k-d tree, the same components
        coords = np.ascontiguousarray(coords, dtype=float)
        labels, n_comp = close_point_components(coords, radius)
    if n_comp < 0:
        pairs = cKDTree(coords).query_pairs(radius, output_type="ndarray")
        graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(k, k))
        n_comp, labels = connected_components(graph, directed=False)
    # each sum over its points in lexicographic order: a summation order that is the
    # points' own (as np.add.at over the np.lexsort order of all points)
    merged = cluster_means(np.ascontiguousarray(coords, dtype=float), labels.astype(np.int64),
                           n_comp)
    # number the vertices in lexicographic order of their coordinates: the order in which a
    # cell lists its vertices (e.g. where a clipped polygon starts) does not change them
    order = np.lexsort(merged.T[::-1])
    rank = np.empty(n_comp, dtype=np.int64)
    rank[order] = np.arange(n_comp)
    return indptr, rank[labels], merged[order]


def partition_tables(domain, keys, geoms, counts, is_data, neighbors, tol):
    """The cells, facets and hinges tables of the built cells (unit frame).

    ``neighbors = (neighbor, neighbor_key)``: the facets' columns naming the cell across
    (:func:`.facet_neighbors.facet_neighbors`), in the order of the cells' facets.
    """
    n = domain.dim
    m = len(keys)
    volume = np.array([g.geom.volume for g in geoms])
    centroid = np.array([g.geom.centroid for g in geoms]).reshape(m, n)
    centers = np.array([g.center for g in geoms]).reshape(m, n)
    inradius = np.array([g.radius for g in geoms], dtype=float)
    n_facets = np.array([g.geom.facet_rows.size for g in geoms], dtype=np.int64)

    # one dict of columns: adding n vector columns one by one fragments the frame
    cells = pd.DataFrame({"key": keys, "volume": volume, "inradius": inradius,
                          "n_points": np.asarray(counts, dtype=np.int64), "is_data": is_data,
                          "n_facets": n_facets,
                          **{f"center_{j}": centers[:, j] for j in range(n)},
                          **{f"centroid_{j}": centroid[:, j] for j in range(n)}})

    # facets
    f_cell = np.repeat(np.arange(m), n_facets)
    f_label = (np.concatenate([g.labels[g.geom.facet_rows] for g in geoms]) if m
               else np.zeros(0, int))
    f_neighbor, f_neighbor_key = neighbors
    facets = _facet_frame(geoms, n, f_cell, f_label, f_neighbor, f_neighbor_key)

    hinges = _hinge_table([(g.geom, g.labels) for g in geoms], f_cell, facets, n_facets, n,
                          tol)
    return cells, facets, hinges


def _facet_frame(geoms, n, f_cell, f_label, f_neighbor, f_neighbor_key) -> pd.DataFrame:
    """The facets table: ``cell, label, neighbor, neighbor_key, volume, offset,
    normal_0.., centroid_0..``.

    The float columns are written once into one block (column-major, so the frame takes
    it without a copy); building them column by column made pandas stack 2 n + 2 copies,
    which on 1,797 digits cells (566k facets, n = 64) was seconds of the parent process.
    """
    k = int(f_cell.size)
    block = _small_page_empty((2 + 2 * n, k))  # row j of the block is column j of the frame
    if k:
        np.concatenate([g.geom.facet_volumes for g in geoms], out=block[0])
        np.concatenate([g.geom.facet_offsets for g in geoms], out=block[1])
        # the fresh pages are first touched in one sequential pass (3x faster than
        # rectangle by rectangle, 2 n pages per cell); then each cell's normals and
        # centroids go in as one rectangle (a concatenation into the transposed block
        # wrote 2 n pages apart element by element), and the all-NaN arrays a worker
        # sends back (zero strides) need no writing at all
        block[2:].fill(np.nan)
        start = 0
        for g in geoms:
            stop = start + g.geom.facet_rows.size
            _write_rectangle(block[2:2 + n, start:stop], g.geom.facet_normals)
            _write_rectangle(block[2 + n:, start:stop], g.geom.facet_centroids)
            start = stop
    columns = ["volume", "offset"] + vector_columns("normal", n) + vector_columns("centroid", n)
    facets = pd.DataFrame(block.T, columns=columns, copy=False)
    # the key strings as Python objects: pandas makes its string column from them directly
    for j, (name, values) in enumerate((("cell", f_cell), ("label", f_label.astype(np.int64)),
                                        ("neighbor", f_neighbor),
                                        ("neighbor_key", f_neighbor_key))):
        facets.insert(j, name, values)
    return facets


def _write_rectangle(target: np.ndarray, values: np.ndarray) -> None:
    """``target[:] = values.T`` into a target already filled with NaN: an all-NaN array
    that a worker sent back as a zero-stride view is skipped."""
    if values.size and not any(values.strides) and np.isnan(values.flat[0]):
        return
    target[:] = values.T


def _small_page_empty(shape: tuple[int, int]) -> np.ndarray:
    """``np.empty(shape)`` (float64) that the kernel backs with ordinary pages.

    numpy asks Linux for transparent huge pages for every array over 4 MB (madvise); where
    the machine's memory is fragmented, the first touch then waits for the kernel to compact
    memory. Writing the 590 MB facets block of the 1,797 digits cells stalled 0.8-1.3 s
    that way, against 0.27 s on ordinary pages. An anonymous mapping carries no such advice;
    the array keeps the mapping alive and frees it with the last view.
    """
    nbytes = shape[0] * shape[1] * 8
    if nbytes < 1 << 26:  # small blocks: numpy's own allocator
        return np.empty(shape)
    return np.frombuffer(mmap.mmap(-1, nbytes), dtype=np.float64).reshape(shape)


def pool_face_estimates(facets: pd.DataFrame) -> None:
    """One estimate per face shared by two built cells, written to both facet rows.

    On the estimated route each cell estimates its facets' (n-1)-volumes on its own
    (pyramid identity, :mod:`cellgeom.geometry.volume_mc`), so the two sides of a face
    carry two independent estimates ``v_1 +- s_1`` and ``v_2 +- s_2`` of one number. Both
    rows get their inverse-variance mean

        v = (v_1 / s_1^2 + v_2 / s_2^2) / (1 / s_1^2 + 1 / s_2^2),  s = (1/s_1^2 + 1/s_2^2)^-1/2

    (units: length^(n-1)), so the ``faces`` table, the nerve's edge weights and either
    cell's facet list agree whichever cell comes first. Where an error bar is missing (the
    chains did not mix: NaN) the finite estimates are averaged, with the error bar of a
    mean of independent estimates when all are known, else NaN. In place; faces towards
    the boundary or a cell outside the partition keep their one estimate.
    """
    if "volume_se" not in facets or len(facets) == 0:
        return
    cell = facets["cell"].to_numpy()
    neighbor = facets["neighbor"].to_numpy()
    rows = np.flatnonzero(neighbor >= 0)
    if rows.size == 0:
        return
    lo = np.minimum(cell[rows], neighbor[rows]).astype(np.int64)
    hi = np.maximum(cell[rows], neighbor[rows]).astype(np.int64)
    # two convex cells share at most one face: the unordered pair names it
    _, face = np.unique(lo * (int(hi.max()) + 1) + hi, return_inverse=True)
    face = face.ravel()
    k = int(face.max()) + 1
    vol = facets["volume"].to_numpy(dtype=float)[rows]
    se = facets["volume_se"].to_numpy(dtype=float)[rows]
    known = np.isfinite(vol)
    weighted = known & np.isfinite(se) & (se > 0)

    def per_face(values):
        return np.bincount(face, weights=values, minlength=k)

    n_known = per_face(known.astype(float))
    all_weighted = per_face(weighted.astype(float)) == n_known
    w = np.where(weighted, 1.0 / np.where(weighted, se, 1.0) ** 2, 0.0)
    w_sum = per_face(w)
    with np.errstate(invalid="ignore", divide="ignore"):
        inverse_var = per_face(np.where(weighted, vol, 0.0) * w) / w_sum
        inverse_se = 1.0 / np.sqrt(w_sum)
        mean = per_face(np.where(known, vol, 0.0)) / n_known
        se_sq = per_face(np.where(known & np.isfinite(se), se, 0.0) ** 2)
        has_se = per_face((known & np.isfinite(se)).astype(float)) == n_known
        mean_se = np.where(has_se, np.sqrt(se_sq) / n_known, np.nan)
    use_weights = all_weighted & (n_known > 0)
    pooled = np.where(use_weights, inverse_var, np.where(n_known > 0, mean, np.nan))
    pooled_se = np.where(use_weights, inverse_se, np.where(n_known > 0, mean_se, np.nan))
    volume = facets["volume"].to_numpy(dtype=float).copy()
    volume_se = facets["volume_se"].to_numpy(dtype=float).copy()
    volume[rows], volume_se[rows] = pooled[face], pooled_se[face]
    facets["volume"], facets["volume_se"] = volume, volume_se


def _hinge_table(geoms, f_cell, facets, n_facets, n, tol):
    """Per-cell hinge rows, grouped into global hinges by their geometry."""
    offsets = np.concatenate([[0], np.cumsum(n_facets)])
    rows = []
    for c, (g, _) in enumerate(geoms):
        if g.hinge_facets.size:
            rows.append(np.column_stack([np.full(len(g.hinge_facets), c),
                                         g.hinge_facets + offsets[c]]))
    cols = ["hinge", "cell", "label_a", "label_b", "neighbor_a", "neighbor_b", "angle",
            "volume", "boundary"] + vector_columns("centroid", n)
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    pairs = np.vstack(rows)  # (cell, global facet row a, global facet row b)
    angle = _cat([g.hinge_angles for g, _ in geoms])
    volume = _cat([g.hinge_volumes for g, _ in geoms])
    centroid = _cat([g.hinge_centroids for g, _ in geoms], n)
    label = facets["label"].to_numpy()
    neighbor = facets["neighbor"].to_numpy()
    normals = facets[vector_columns("normal", n)].to_numpy()
    hinge_id = _group_hinges(centroid, normals[pairs[:, 1]], normals[pairs[:, 2]], tol)
    table = pd.DataFrame({
        "hinge": hinge_id, "cell": pairs[:, 0],
        "label_a": label[pairs[:, 1]], "label_b": label[pairs[:, 2]],
        "neighbor_a": neighbor[pairs[:, 1]], "neighbor_b": neighbor[pairs[:, 2]],
        "angle": angle, "volume": volume,
        "boundary": (label[pairs[:, 1]] < 0) | (label[pairs[:, 2]] < 0),
        **{f"centroid_{j}": centroid[:, j] for j in range(n)},
    })
    return table.sort_values(["hinge", "cell"], kind="stable").reset_index(drop=True)


def _group_hinges(centroid, normal_a, normal_b, tol):
    """Global hinge ids: rows with the same centroid lying on the same (n-2)-flat.

    The flat is identified by the projector onto its orthogonal complement
    span(nu_a, nu_b), which does not depend on which cell (or which pair of
    normals) describes it.
    """
    k, n = centroid.shape
    pairs = cKDTree(centroid).query_pairs(max(tol * 1e3, 1e-12), output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(k, k))
    _, near = connected_components(graph, directed=False)
    if n >= 3:
        q, _ = np.linalg.qr(np.stack([normal_a, normal_b], axis=2))  # (k, n, 2)
        proj = np.round(np.einsum("kia,kja->kij", q, q).reshape(k, n * n), 6)
        signature = np.hstack([near[:, None].astype(float), proj])
    else:  # a point in the plane: its component alone (1-D unique, no row sort)
        signature = near
    return first_appearance(signature)  # ids in order of first appearance: stable


def first_appearance(ids: np.ndarray) -> np.ndarray:
    """Rows of ``ids`` (values, or rows of a 2-D array) renumbered 0, 1, ... in order of
    first appearance."""
    _, first, inverse = np.unique(ids, axis=0 if ids.ndim == 2 else None,
                                  return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first)] = np.arange(first.size)
    return rank[inverse.ravel()]


def _cat(arrays, n=None):
    arrays = [np.asarray(a) for a in arrays]
    if not arrays:
        return np.zeros((0, n)) if n else np.zeros(0)
    return np.concatenate(arrays, axis=0)
