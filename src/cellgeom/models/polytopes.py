"""Build a :class:`Partition` from cells given as H-representations.

Shared by every adapter whose cells are general convex polytopes (hyperplane
arrangements, ReLU networks, Voronoi models, linear classifiers). The adapter
supplies, for a list of cell keys, each cell's inequalities with a *label* per
row (which hyperplane / unit / site it comes from) and a function naming the
cell across a facet with a given label. Every facet of such a partition is
shared whole with the one cell across it (true for arrangements, networks and
Voronoi diagrams in general position), so face volumes are facet volumes.
"""
from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from tqdm import tqdm

from ..core import Partition, vector_columns
from ..geometry import Box, batch_polytope_geometry, chebyshev_centers
from ..geometry.facets import FACET_METHODS
from ..geometry.highdim import highdim_geometry
from ..parallel import Executor, map_cells, resolve_executor

__all__ = ["build_polytope_partition", "CellConstraints", "seed_keys", "attach_data",
           "integer_keyed_partition", "KeyLocator", "IndexLocator"]

#: for a list of keys, each cell's (A, b, labels) without the domain box rows
CellConstraints = Callable[[Sequence[str]], list[tuple[np.ndarray, np.ndarray, np.ndarray]]]


def build_polytope_partition(
    *,
    domain: Box,
    keys: Sequence[str],
    constraints: CellConstraints,
    neighbor_key: Callable[[str, int], str],
    cells_mode: str,
    counts: np.ndarray | None = None,
    model=None,
    locator=None,
    tol: float | None = None,
    progress: bool = True,
    expand: int = 0,
    sort_keys: bool = True,
    n_jobs: int | None = None,
    executor=None,
    info: dict | None = None,
    exact_dim: int = 6,
    volume: str = "auto",
    facet_method: str = "simplex",
) -> Partition:
    """Compute the geometry of the given cells and assemble the partition tables.

    Parameters
    ----------
    keys : sequence of str
        Cell keys, in the order the cells should have.
    constraints : callable
        ``constraints(keys) -> [(A, b, labels), ...]``: inequalities ``A x <= b``
        of each cell with an integer label >= 0 per row.
    neighbor_key : callable
        ``neighbor_key(key, label) -> key`` of the cell across the facet with that
        label.
    counts : array of int, optional
        Data points per cell (0 when absent).
    tol : float, optional
        Absolute length tolerance; default ``1e-9 * domain.scale``.
    expand : int
        Rounds of breadth-first growth across facets: 0 builds only ``keys``; 1
        also the cells across their facets (marked ``is_data=False`` in "data"
        mode); -1 grows until no new cell appears, which enumerates every cell
        of the domain (the "all" mode: the domain is connected).
    n_jobs, executor
        Where the per-cell LPs and Qhull calls run (see :func:`cellgeom.parallel.map_cells`);
        results are identical on every backend.
    sort_keys : bool
        Order cells by (not is_data, key) so the result does not depend on the
        order of discovery.
    exact_dim : int, default 6
        Cells of dimension ``n <= exact_dim`` take the exact vertex route (Qhull); above it
        the high-dimensional route of :mod:`cellgeom.geometry.highdim` (screened facet
        detection, no vertices or hinges, volumes by an estimator).
    volume : {"auto", "exact", "estimate", "data", "none"}
        Volumes on the high-dimensional route: "estimate" uses the rounded multiphase
        Monte Carlo estimator of :mod:`cellgeom.geometry.volume_mc` (columns
        ``volume_se`` of cells and facets; NaN when the chains did not mix); "auto" does so
        up to ``AUTO_ESTIMATE_DIM`` input dimensions and skips volumes above it (a warning
        says so: the estimator costs seconds to minutes per cell there); "data" and "none"
        skip it (NaN; adapters fill "data" with the empirical mass). Ignored for
        ``n <= exact_dim`` (always exact).
    facet_method : {"simplex", "highs"}
        Facets and Chebyshev centres on the high-dimensional route: the compiled vertex
        walk (certified in float64, HiGHS for what it cannot certify) or HiGHS throughout.
        Both give the same facets.
    """
    if volume not in ("auto", "exact", "estimate", "data", "none"):
        raise ValueError(f"volume must be 'auto', 'exact', 'estimate', 'data' or 'none', "
                         f"got {volume!r}.")
    if facet_method not in FACET_METHODS:
        raise ValueError(f"facet_method must be one of {FACET_METHODS}, got {facet_method!r}.")
    volume = _resolve_volume(volume, domain.dim, int(exact_dim))
    route = (domain.dim, int(exact_dim), volume, facet_method)
    tol = 1e-9 * domain.scale if tol is None else float(tol)
    own_executor = not isinstance(executor, Executor)
    executor = resolve_executor(n_jobs, executor)  # one pool for all breadth-first rounds
    # one bar for the whole call, its total growing with each breadth-first round
    bar = tqdm(total=len(keys), desc="cells", unit="cell", file=sys.stderr,
               disable=not progress)
    try:
        with bar:
            return _build(domain, list(keys), constraints, neighbor_key, cells_mode, counts,
                          model, locator, tol, bar, expand, sort_keys, executor, info, route)
    finally:
        if own_executor:
            executor.shutdown()


def _build(domain, keys, constraints, neighbor_key, cells_mode, counts, model, locator, tol,
           progress, expand, sort_keys, executor, info, route=None):
    n_jobs = None
    route = route or (domain.dim, 6, "auto", "simplex")
    counts = np.zeros(len(keys), dtype=np.int64) if counts is None else np.asarray(counts)
    geoms, kept, n_dropped = _cell_geometries(domain, keys, constraints, tol, progress,
                                              n_jobs, executor, route)
    keys = [keys[i] for i in kept]
    counts = counts[kept]
    is_data = counts > 0
    rounds = 0
    frontier = list(range(len(keys)))
    known = set(keys)
    while frontier and (expand < 0 or rounds < expand):
        # breadth-first over facets: the cells across them not seen yet
        extra = []
        for c in frontier:
            geom, labels, _, _ = geoms[c]
            for lab in labels[geom.facet_rows]:
                if lab >= 0:
                    nk = neighbor_key(keys[c], int(lab))
                    if nk not in known:
                        known.add(nk)
                        extra.append(nk)
        if not extra:
            break
        if hasattr(progress, "total"):
            progress.total += len(extra)
            progress.refresh()
        new_geoms, new_kept, dropped = _cell_geometries(domain, extra, constraints, tol,
                                                        progress, n_jobs, executor, route)
        n_dropped += dropped
        frontier = list(range(len(keys), len(keys) + len(new_kept)))
        keys += [extra[i] for i in new_kept]
        geoms += new_geoms
        counts = np.concatenate([counts, np.zeros(len(new_kept), dtype=np.int64)])
        is_data = np.concatenate([is_data, np.zeros(len(new_kept), dtype=bool)])
        rounds += 1
    if sort_keys:
        data_first = cells_mode == "data"
        order = sorted(range(len(keys)), key=lambda i: (data_first and not is_data[i], keys[i]))
        keys = [keys[i] for i in order]
        geoms = [geoms[i] for i in order]
        counts, is_data = counts[order], is_data[order]
    vertices = _global_vertices([g.vertices for g, *_ in geoms], domain.dim, tol)
    cells, facets, hinges = _tables(domain, keys, geoms, counts, is_data, neighbor_key, tol)
    info = dict(info or {})
    n, exact_dim, volume, _ = route
    high = n > exact_dim
    info.update(cells=cells_mode, tol=tol, n_dropped=n_dropped, face_to_face=True,
                volume_method=_volume_method(high, volume))
    if high:  # screening statistics of the high-dimensional facet detection
        stats = np.array([g.stats for g, *_ in geoms]).reshape(-1, 3).sum(axis=0)
        info.update(facet_candidates=int(stats[0]), facet_lp=int(stats[1]),
                    facet_settled_without_lp=float(1 - stats[1] / max(1, stats[0])))
        cells["volume_se"] = np.array([g.volume_se for g, *_ in geoms])
        facets["volume_se"] = _cat([g.facet_volume_se for g, *_ in geoms])
    return Partition(
        domain=domain, keys=keys, cells=cells, facets=facets, hinges=hinges,
        model=model, locator=locator, info=info, vertices=vertices,
    )


def _global_vertices(per_cell: list[np.ndarray], n: int, tol: float):
    """Merge the cells' vertices into global vertex ids (points closer than 1e3 tol)."""
    counts = np.array([v.shape[0] for v in per_cell], dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    coords = np.vstack(per_cell) if per_cell else np.zeros((0, n))
    k = coords.shape[0]
    if k == 0:
        return indptr, np.zeros(0, dtype=np.int64), coords
    pairs = cKDTree(coords).query_pairs(max(tol * 1e3, 1e-12), output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(k, k))
    n_comp, labels = connected_components(graph, directed=False)
    sums = np.zeros((n_comp, n))
    np.add.at(sums, labels, coords)
    merged = sums / np.bincount(labels, minlength=n_comp)[:, None]
    return indptr, labels.astype(np.int64), merged


#: volume="auto" estimates volumes on the high-dimensional route up to this dimension
AUTO_ESTIMATE_DIM = 16


def _resolve_volume(volume: str, n: int, exact_dim: int) -> str:
    """What "auto" means for this dimension; warns when volumes are skipped."""
    if volume != "auto" or n <= exact_dim:
        return volume
    if n <= AUTO_ESTIMATE_DIM:
        return "estimate"
    warnings.warn(
        f"cell volumes are not computed for {n}-dimensional cells by default (volume='auto' "
        f"estimates them up to {AUTO_ESTIMATE_DIM}-D): pass volume='estimate' for Monte "
        "Carlo estimates with standard errors (seconds to minutes per cell at this "
        "dimension), volume='data' for the empirical data mass, or volume='none' to "
        "silence this.", UserWarning, stacklevel=5)
    return "none"


def _volume_method(high: bool, volume: str) -> str:
    if not high or volume == "exact":
        return "exact"
    return {"auto": "estimate", "estimate": "estimate"}.get(volume, volume)


def _cell_geometries(domain, keys, constraints, tol, progress, n_jobs=None, executor=None,
                     route=None):
    """Chebyshev LP and the vertex route for each cell; drops empty and thin cells."""
    box_A, box_b = domain.halfspaces()
    box_labels = -1 - np.arange(box_A.shape[0])
    polys = []
    for A, b, labels in constraints(keys):
        # box rows first: where a model's hyperplane coincides with the box, the facet is
        # reported as domain boundary (no cell lies beyond it)
        polys.append((np.vstack([box_A, A]), np.concatenate([box_b, b]),
                      np.concatenate([box_labels, np.asarray(labels, dtype=np.int64)])))
    results = map_cells(_geometry_chunk, polys, n_jobs=n_jobs, executor=executor,
                        args=(tol, route), progress=progress, desc="cell geometry")
    geoms, kept = [], []
    for j, ((_, _, labels), result) in enumerate(zip(polys, results)):
        if result is not None:
            geom, center, radius = result
            geoms.append((geom, labels, center, radius))
            kept.append(j)
    return geoms, kept, len(polys) - len(kept)


def _geometry_chunk(polys, tol, route=None):
    """Per chunk: batched Chebyshev LPs, then each full-dimensional cell's geometry.

    ``route = (n, exact_dim, volume, facet_method)``. For ``n <= exact_dim`` the exact
    route, batched across the chunk (:func:`cellgeom.geometry.batch_polytope_geometry`:
    vertices, facets, hinges, exact volumes). Above it the vertex count explodes, so
    :func:`cellgeom.geometry.highdim.highdim_geometry` finds facets by the compiled vertex
    walk (no vertices, no hinges) and estimates volumes when asked.
    Empty and lower-dimensional cells give ``None`` (dropped, and counted).
    """
    n, exact_dim, volume, facet_method = route or (None, 6, "auto", "simplex")
    high = n is not None and n > exact_dim
    centers, radii = chebyshev_centers([(A, b) for A, b, _ in polys], method=facet_method)
    full = [i for i, r in enumerate(radii) if r > tol]
    out = [None] * len(polys)
    if not high:
        geoms = batch_polytope_geometry([polys[i][:2] for i in full], centers[full], tol=tol)
        for i, geom in zip(full, geoms):
            out[i] = (geom, centers[i], radii[i])
        return out
    for i in full:  # seeded per cell: identical on every backend
        A, b, _ = polys[i]
        geom = highdim_geometry(A, b, centers[i], radii[i], tol=tol,
                                volume=volume in ("estimate", "exact"),
                                seed=_cell_seed(A, b), facet_method=facet_method)
        out[i] = (geom, centers[i], radii[i])
    return out


def _cell_seed(A, b) -> int:
    """A deterministic seed from the cell's inequalities (same result on any executor)."""
    return int(abs(hash((A.shape, float(np.round(b.sum(), 9))))) % (2**31))


def _tables(domain, keys, geoms, counts, is_data, neighbor_key, tol):
    n = domain.dim
    index = {k: i for i, k in enumerate(keys)}
    m = len(keys)
    volume = np.array([g.volume for g, *_ in geoms])
    centroid = np.array([g.centroid for g, *_ in geoms]).reshape(m, n)
    centers = np.array([c for _, _, c, _ in geoms]).reshape(m, n)
    inradius = np.array([r for *_, r in geoms], dtype=float)
    n_facets = np.array([g.facet_rows.size for g, *_ in geoms], dtype=np.int64)
    geoms = [(g, lab) for g, lab, *_ in geoms]

    # one dict of columns: adding n vector columns one by one fragments the frame
    cells = pd.DataFrame({"key": keys, "volume": volume, "inradius": inradius,
                          "n_points": np.asarray(counts, dtype=np.int64), "is_data": is_data,
                          "n_facets": n_facets,
                          **{f"center_{j}": centers[:, j] for j in range(n)},
                          **{f"centroid_{j}": centroid[:, j] for j in range(n)}})

    # facets
    f_cell = np.repeat(np.arange(m), n_facets)
    f_label = np.concatenate([lab[g.facet_rows] for g, lab in geoms]) if m else np.zeros(0, int)
    f_neighbor = np.empty(f_label.size, dtype=np.int64)
    f_neighbor_key = np.empty(f_label.size, dtype=object)
    for r, (c, lab) in enumerate(zip(f_cell, f_label)):
        if lab < 0:
            f_neighbor[r], f_neighbor_key[r] = -1, ""
        else:
            nk = neighbor_key(keys[c], int(lab))
            f_neighbor[r] = index.get(nk, -2)
            f_neighbor_key[r] = nk if f_neighbor[r] == -2 else ""
    normals = _cat([g.facet_normals for g, _ in geoms], n)
    fcent = _cat([g.facet_centroids for g, _ in geoms], n)
    facets = pd.DataFrame({
        "cell": f_cell, "label": f_label.astype(np.int64), "neighbor": f_neighbor,
        "neighbor_key": f_neighbor_key.astype(str),
        "volume": _cat([g.facet_volumes for g, _ in geoms]),
        "offset": _cat([g.facet_offsets for g, _ in geoms]),
        **{f"normal_{j}": normals[:, j] for j in range(n)},
        **{f"centroid_{j}": fcent[:, j] for j in range(n)},
    })

    hinges = _hinge_table(geoms, f_cell, facets, n_facets, n, tol)
    return cells, facets, hinges


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
    else:
        signature = near[:, None].astype(float)
    _, first, inverse = np.unique(signature, axis=0, return_index=True, return_inverse=True)
    # number the hinges in order of first appearance so ids are stable
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first)] = np.arange(first.size)
    return rank[inverse.ravel()]


def _cat(arrays, n=None):
    arrays = [np.asarray(a) for a in arrays]
    if not arrays:
        return np.zeros((0, n)) if n else np.zeros(0)
    return np.concatenate(arrays, axis=0)


def seed_keys(keys_of, domain: Box, data, cells: str, include_neighbors: bool, start_key):
    """Where a key-based adapter starts: the cells holding data, or one cell to grow from.

    Parameters
    ----------
    keys_of : callable
        ``keys_of(X) -> array of str``, the model's cell key of each point.
    start_key : callable
        ``start_key() -> str``, a full-dimensional cell to enumerate from (cells="all").

    Returns
    -------
    keys, counts, expand, data_keys, n_outside
        Keys to build (sorted), their point counts (None for "all"), the ``expand`` rounds
        for :func:`build_polytope_partition`, the keys of the data points inside the
        domain, and how many points lie outside it.
    """
    data_keys, n_outside = np.zeros(0, dtype=str), 0
    if data is not None:
        inside = domain.contains(data)
        n_outside = int((~inside).sum())
        if inside.any():
            data_keys = np.asarray(keys_of(data[inside]))
    if cells == "data":
        if data is None:
            raise ValueError('cells="data" needs data: pass data=X, or use cells="all".')
        keys, counts = np.unique(data_keys, return_counts=True)
        if keys.size == 0:
            raise ValueError("No data point lies inside the domain box.")
        return [str(k) for k in keys], counts, (1 if include_neighbors else 0), data_keys, \
            n_outside
    return [start_key()], None, -1, data_keys, n_outside


class KeyLocator:
    """Point location by cell key: ``keys_of(X)`` hashed into the partition's key index.

    A plain object (no closure), so a partition that holds it pickles whenever
    ``keys_of`` does (a bound method of a picklable cell model).
    """

    def __init__(self, keys_of, keys: Sequence[str]):
        self.keys_of = keys_of
        self.index = {k: i for i, k in enumerate(keys)}

    def __call__(self, X) -> np.ndarray:
        return np.array([self.index.get(k, -1) for k in self.keys_of(X)], dtype=np.int64)


def attach_data(part: Partition, keys_of, data_keys, has_data: bool) -> None:
    """Count the data per cell and locate points by their keys (a hash lookup)."""
    locator = KeyLocator(keys_of, part.keys)
    if has_data:
        found = np.array([locator.index.get(k, -1) for k in data_keys], dtype=np.int64)
        part.cells["n_points"] = np.bincount(found[found >= 0], minlength=part.n_cells)
        part.cells["is_data"] = part.cells["n_points"].to_numpy() > 0
    part._locator = locator


class IndexLocator:
    """Point location by an integer cell id: ``index[index_of(X)]`` (-1: a cell not built).

    A plain object (no closure), so a partition that holds it pickles whenever
    ``index_of`` does (the picklable site or score objects of the Voronoi and linear
    adapters).
    """

    def __init__(self, index_of, index: np.ndarray):
        self.index_of = index_of
        self.index = np.asarray(index, dtype=np.int64)

    def __call__(self, X) -> np.ndarray:
        return self.index[self.index_of(X)]


def integer_keyed_partition(index_of, n_keys: int, domain: Box, data, cells: str,
                            **build_kwargs) -> tuple[Partition, np.ndarray]:
    """Partition whose cells are numbered 0..n_keys-1 (classes, Voronoi sites).

    ``index_of(X)`` gives the integer cell of each point; the cell across the facet
    labelled j is cell j. Points are located through an index array (no hashing).

    Returns the partition and the integer id of each of its cells.
    """
    if cells == "data":
        inside = data[domain.contains(data)]
        ids, counts = np.unique(index_of(inside), return_counts=True)
        if ids.size == 0:
            raise ValueError("No data point lies inside the domain box.")
    else:
        ids, counts = np.arange(n_keys), None
    part = build_polytope_partition(
        domain=domain, keys=[str(k) for k in ids], neighbor_key=lambda key, label: str(label),
        cells_mode=cells, counts=counts, **build_kwargs)
    index = np.full(n_keys, -1, dtype=np.int64)
    cell_ids = np.array([int(k) for k in part.keys], dtype=np.int64)
    index[cell_ids] = np.arange(part.n_cells)
    part._locator = IndexLocator(index_of, index)
    if data is not None:
        found = part.locate(data)
        part.cells["n_points"] = np.bincount(found[found >= 0], minlength=part.n_cells)
        part.cells["is_data"] = part.cells["n_points"].to_numpy() > 0
    return part, cell_ids
