"""Build a :class:`Partition` from cells given as H-representations.

Shared by every adapter whose cells are general convex polytopes (hyperplane
arrangements, ReLU networks, Voronoi models, linear classifiers). The adapter
supplies, for a list of cell keys, each cell's inequalities with a *label* per
row (which hyperplane / unit / site it comes from) and a function naming the
cell across a facet with a given label. Every facet of such a partition is
shared whole with the one cell across it (true for arrangements, networks and
Voronoi diagrams in general position), so face volumes are facet volumes.

Degenerate input is normal input here: the cells are computed in the unit frame of the
domain (:mod:`.unit_frame`, tolerances relative to the domain's scale), coincident rows
are one facet and cells thinner than the tolerance are stepped over (:mod:`.coincident`).
The tables are assembled in :mod:`.polytope_tables`.
"""
from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence

import numpy as np
from tqdm import tqdm

from ..core import Partition
from ..geometry import Box
from ..geometry.facets import FACET_METHODS
from ..parallel import CellTaskError, Executor, resolve_executor
from .cell_geometry import Cell, DegenerateCellError, cell_geometries, volume_method, warm_workers
from .coincident import PROBE_STEPS, key_across, probe_points
from .facet_neighbors import facet_neighbors
from .polytope_tables import global_vertices, partition_tables, pool_face_estimates
from .registry import VOLUME_METHODS
from .tie_break import DataKeys, IndexLocator, KeyLocator, place_data, settle_data_keys
from .unit_frame import UnitFrame

__all__ = ["build_polytope_partition", "CellConstraints", "DegenerateCellError", "seed_keys",
           "attach_data", "integer_keyed_partition", "KeyLocator", "IndexLocator",
           "data_volumes"]

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
    key_of: Callable[[np.ndarray], Sequence[str]] | None = None,
) -> Partition:
    """Compute the geometry of the given cells and assemble the partition tables.

    The geometry is computed in the unit frame of the domain (:mod:`.unit_frame`: the
    box mapped to ``[-1, 1]^n`` axis by axis) and mapped back, so every tolerance is
    relative to the domain's sides and no offset carries the domain's distance from 0.

    Parameters
    ----------
    keys : sequence of str
        Cell keys, in the order the cells should have.
    constraints : callable
        ``constraints(keys) -> [(A, b, labels), ...]``: inequalities ``A x <= b``
        of each cell with an integer label >= 0 per row. If it accepts ``origin=``,
        it is called with the domain's centre ``o`` and returns ``A (x - o) <= b``.
    neighbor_key : callable
        ``neighbor_key(key, label) -> key`` of the cell across the facet with that
        label. Rows defining the same hyperplane are one facet; the key across it is
        ``neighbor_key`` applied for each of their labels (:mod:`.coincident`).
    counts : array of int, optional
        Data points per cell (0 when absent).
    tol : float, optional
        Length tolerance along the largest side (default ``1e-9 * domain.scale``), relative
        in the unit frame: a cell thinner than it (``info["tol_axes"]`` per axis) is dropped;
        rows within it (unit normal and offset, in the frame) are one hyperplane.
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
        ``volume_se`` of cells and facets; NaN when the chains did not mix; a face shared
        by two built cells gets one pooled estimate, see :func:`.pool_face_estimates`);
        "auto" does so up to ``AUTO_ESTIMATE_DIM`` input dimensions and skips volumes above
        it (a warning says so: the estimator costs seconds to minutes per cell there);
        "data" and "none" skip it (NaN; adapters fill "data" with the empirical mass).
        "exact" takes the exact vertex route (Qhull) whatever ``exact_dim`` says, up to
        ``EXACT_VOLUME_MAX_DIM`` dimensions (vertex counts, and Qhull's time, grow fast
        with the dimension), and raises a ``ValueError`` above it: exact volumes are never
        replaced by estimates. For ``n <= exact_dim`` volumes are always exact.
    facet_method : {"simplex", "highs"}
        Facets and Chebyshev centres on the high-dimensional route: the compiled vertex
        walk (certified in float64, HiGHS for what it cannot certify) or HiGHS throughout.
        Both give the same facets.
    key_of : callable, optional
        ``key_of(X) -> keys``, the model's own key of points. Where the cell across a
        facet was dropped as thinner than ``tol``, the model is asked for the key just
        beyond the facet, so the cell behind the sliver is found and becomes the
        neighbour (without it such facets name the dropped key, ``neighbor = -2``).
    """
    if not isinstance(volume, str) or volume not in VOLUME_METHODS:
        raise ValueError(f"volume must be one of {', '.join(map(repr, VOLUME_METHODS))}, "
                         f"got {volume!r}.")
    if facet_method not in FACET_METHODS:
        raise ValueError(f"facet_method must be one of {FACET_METHODS}, got {facet_method!r}.")
    exact_dim = int(exact_dim)
    volume = _resolve_volume(volume, domain.dim, exact_dim)
    if volume == "exact":  # exact means the vertex route (Qhull), never an estimate
        exact_dim = max(exact_dim, domain.dim)
    route = (domain.dim, exact_dim, volume, facet_method)
    tol = 1e-9 * domain.scale if tol is None else float(tol)
    frame = UnitFrame(domain)
    own_executor = not isinstance(executor, Executor)
    executor = resolve_executor(n_jobs, executor)  # one pool for all breadth-first rounds
    if own_executor:  # its workers start while the constraints are built
        warm_workers(executor, route)
    # one bar for the whole call, its total growing with each breadth-first round
    bar = tqdm(total=len(keys), desc="cells", unit="cell", file=sys.stderr,
               disable=not progress)
    try:
        with bar:
            build = _Build(frame, frame.constraints(constraints), neighbor_key,
                           frame.key_function(key_of), tol / frame.half, bar, executor, route)
            keys, geoms, counts, is_data = build.run(list(keys), counts, expand)
    finally:
        if own_executor:
            executor.shutdown()
    if sort_keys:
        data_first = cells_mode == "data"
        order = sorted(range(len(keys)), key=lambda i: (data_first and not is_data[i], keys[i]))
        keys = [keys[i] for i in order]
        geoms = [geoms[i] for i in order]
        counts, is_data = counts[order], is_data[order]
    unit = frame.unit_domain
    tol_u = tol / frame.half
    vertices = global_vertices([g.geom.vertices for g in geoms], unit.dim, tol_u)
    neighbors = facet_neighbors(keys, [g.groups for g in geoms], neighbor_key, build.redirect)
    cells, facets, hinges = partition_tables(unit, keys, geoms, counts, is_data, neighbors,
                                             tol_u)
    info = dict(info or {})
    n, exact_dim, volume, _ = route
    high = n > exact_dim
    info.update(cells=cells_mode, tol=tol, n_dropped=build.n_dropped, face_to_face=True,
                volume_method=volume_method(high, volume))
    if build.n_redirected:
        info["n_facets_across_dropped_cells"] = build.n_redirected
    if high:  # screening statistics of the high-dimensional facet detection
        stats = np.array([g.geom.stats for g in geoms]).reshape(-1, 3).sum(axis=0)
        info.update(facet_candidates=int(stats[0]), facet_lp=int(stats[1]),
                    facet_settled_without_lp=max(0.0, 1 - stats[1] / max(1, stats[0])))
        cells["volume_se"] = np.array([g.geom.volume_se for g in geoms])
        facets["volume_se"] = np.concatenate([g.geom.facet_volume_se for g in geoms]) \
            if geoms else np.zeros(0)
        pool_face_estimates(facets)  # one estimate per shared face, whichever cell is first
    frame.tables_to_domain(cells, facets, hinges, info)
    return Partition(
        domain=domain, keys=keys, cells=cells, facets=facets, hinges=hinges,
        model=model, locator=locator, info=info, vertices=frame.vertices_to_domain(vertices),
    )


#: volume="auto" estimates volumes on the high-dimensional route up to this dimension
AUTO_ESTIMATE_DIM = 16


#: volume="exact" takes the exact vertex route (Qhull) up to this dimension, and is refused
#: above it (the vertex count of a cell grows exponentially with the dimension)
EXACT_VOLUME_MAX_DIM = 8


def _resolve_volume(volume: str, n: int, exact_dim: int) -> str:
    """What "auto" means for this dimension; warns when volumes are skipped, refuses
    "exact" where the exact vertex route is out of reach."""
    if volume == "exact" and n > max(exact_dim, EXACT_VOLUME_MAX_DIM):
        raise ValueError(
            f"volume='exact' needs the exact vertex route (Qhull vertex enumeration), which "
            f"cellgeom runs up to {EXACT_VOLUME_MAX_DIM} dimensions (or exact_dim), but the "
            f"cells are {n}-dimensional: their vertex counts are out of reach. Use "
            "volume='estimate' (Monte Carlo estimates with standard errors, column "
            "volume_se), volume='data' (the empirical data mass) or volume='none'.")
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


class _Build:
    """Breadth-first construction of the cells in the unit frame."""

    def __init__(self, frame, constraints, neighbor_key, key_of, tol, bar, executor, route):
        self.frame, self.constraints, self.neighbor_key = frame, constraints, neighbor_key
        self.key_of, self.tol, self.bar, self.executor, self.route = (key_of, tol, bar,
                                                                      executor, route)
        self.n_dropped = 0
        self.n_redirected = 0
        self.dropped: set[str] = set()
        self.redirect: dict[tuple[str, int], str] = {}

    def across(self, key: str, cell: Cell) -> list[str | None]:
        """Keys of the cells across the facets of ``cell`` (None on the domain boundary),
        before redirects; computed when first needed (the tables take them from
        :func:`.facet_neighbors.facet_neighbors`, for all facets at once)."""
        if cell.across is None:
            cell.across = [key_across(key, grp, self.neighbor_key) for grp in cell.groups]
        return cell.across

    def cells(self, keys):
        """Geometry of the cells of ``keys``; returns the kept keys and their cells."""
        if hasattr(self.bar, "total") and self.bar.n:
            self.bar.total += len(keys)
            self.bar.refresh()
        try:
            geoms, kept, dropped = cell_geometries(self.frame.unit_domain, keys,
                                                    self.constraints, self.tol, self.bar, None,
                                                    self.executor, self.route)
        except CellTaskError as exc:  # name the cell whose inequalities are degenerate
            if isinstance(exc.original, DegenerateCellError) and exc.index is not None:
                raise DegenerateCellError(f"cell {keys[exc.index]!r}: {exc.original}") from exc
            raise
        self.n_dropped += dropped
        kept_set = set(kept)
        self.dropped.update(keys[i] for i in range(len(keys)) if i not in kept_set)
        return [keys[i] for i in kept], geoms

    def run(self, keys, counts, expand):
        counts = np.zeros(len(keys), dtype=np.int64) if counts is None else np.asarray(counts)
        seeds = keys
        keys, geoms = self.cells(seeds)
        position = {k: i for i, k in enumerate(seeds)}
        counts = counts[[position[k] for k in keys]]
        known = set(seeds)
        if not keys and expand < 0 and self.key_of is not None:
            # the start cell of an enumeration was thinner than tol: start from the cells of
            # sample points instead (seeded, so every run is the same)
            unit = self.frame.unit_domain
            U = unit.lo + np.random.default_rng(0).random((256, unit.dim)) * unit.widths
            fresh = sorted({str(k) for k in self.key_of(U)} - known)
            known.update(fresh)
            keys, geoms = self.cells(fresh)
            counts = np.zeros(len(keys), dtype=np.int64)
        is_data = counts > 0
        frontier = list(range(len(keys)))
        rounds = 0
        while frontier and (expand < 0 or rounds < expand):
            extra = []
            for c in frontier:  # breadth-first over facets: the cells across not seen yet
                for nk in self.across(keys[c], geoms[c]):
                    if nk is not None and nk not in known:
                        known.add(nk)
                        extra.append(nk)
            start = len(keys)
            if extra:
                new_keys, new_geoms = self.cells(extra)
                keys += new_keys
                geoms += new_geoms
            if self.key_of is not None:  # facets whose neighbour was dropped as too thin
                new_keys, new_geoms = self._probe(keys, geoms, known, frontier)
                keys += new_keys
                geoms += new_geoms
            added = len(keys) - start
            if added == 0:
                break
            counts = np.concatenate([counts, np.zeros(added, dtype=np.int64)])
            is_data = np.concatenate([is_data, np.zeros(added, dtype=bool)])
            frontier = list(range(start, len(keys)))
            rounds += 1
        self._pair_across_dropped(keys, geoms)
        return keys, geoms, counts, is_data

    def _pair_across_dropped(self, keys, geoms):
        """Facets on the two sides of one dropped sliver see each other.

        A sliver dropped as thinner than ``tol`` between two nearly parallel hyperplanes
        is bordered by a facet of a cell on each side, both naming the sliver's key. Two
        such facets with opposite normals whose centroids are each other's nearest are
        neighbours; this is symmetric by construction, where probes (rounded to the
        domain's float64 step far from the origin) could miss a small cell.
        """
        if not self.dropped:
            return
        sides: dict[str, list[tuple[int, int]]] = {}
        for c, g in enumerate(geoms):
            for f, nk in enumerate(self.across(keys[c], g)):
                if nk in self.dropped:
                    sides.setdefault(nk, []).append((c, f))
        for facets in sides.values():
            if len(facets) < 2:
                continue
            nu = np.array([geoms[c].geom.facet_normals[f] for c, f in facets])
            at = np.array([geoms[c].geom.facet_centroids[f] for c, f in facets])
            dist = np.linalg.norm(at[:, None] - at[None], axis=2)
            dist[(nu @ nu.T > -0.99) | np.eye(len(facets), dtype=bool)] = np.inf
            best = dist.argmin(axis=1)
            for a, b in enumerate(best):
                if np.isfinite(dist[a, b]) and best[b] == a:
                    (ca, fa), (cb, _) = facets[a], facets[b]
                    if (keys[ca], fa) not in self.redirect:
                        self.n_redirected += 1
                    self.redirect[(keys[ca], fa)] = keys[cb]

    def _probe(self, keys, geoms, known, frontier):
        """The cells beyond the frontier's dropped neighbours, asked of the model at growing
        distances beyond the facet (:mod:`.coincident`)."""
        pending = [(c, f) for c in frontier
                   for f, nk in enumerate(self.across(keys[c], geoms[c]))
                   if nk in self.dropped]
        index = {k: i for i, k in enumerate(keys)}
        new_keys, new_geoms = [], []
        unit = self.frame.unit_domain
        # probes are the user's points: far from the origin they are rounded to the float64
        # step of the domain's coordinates, so no probe is nearer than a few such steps
        grid = self.frame.domain.float_step
        for step in PROBE_STEPS * max(self.tol, grid):
            if not pending:
                break
            cent = np.array([geoms[c].geom.facet_centroids[f] for c, f in pending])
            norm = np.array([geoms[c].geom.facet_normals[f] for c, f in pending])
            found = [str(k) for k in self.key_of(probe_points(cent, norm, step, unit.lo,
                                                              unit.hi))]
            fresh = sorted({k for k in found if k not in known})
            if fresh:
                known.update(fresh)
                kept_keys, kept_geoms = self.cells(fresh)
                for k, g in zip(kept_keys, kept_geoms):
                    index[k] = len(keys) + len(new_keys)
                    new_keys.append(k)
                    new_geoms.append(g)
            still = []
            for (c, f), k in zip(pending, found):
                if k in index and k != keys[c]:
                    self.redirect[(keys[c], f)] = k
                    self.n_redirected += 1
                else:
                    still.append((c, f))
            pending = still
        return new_keys, new_geoms


def seed_keys(keys_of, domain: Box, data, cells: str, include_neighbors: bool,
              start_key=None, constraints=None, tol=None):
    """Where a key-based adapter starts: the cells holding data, or one cell to grow from.

    Parameters
    ----------
    keys_of : callable
        ``keys_of(X) -> array of str``, the model's cell key of each point.
    start_key : callable or None
        ``start_key() -> str``, a full-dimensional cell to enumerate from (cells="all");
        None when the caller finds it (only if it needs one): ``keys`` is then empty.
    constraints, tol
        The adapter's ``constraints`` and the build's ``tol``: with them, cells="data" seeds
        points on boundaries whose key's cell has no interior with the cell they are
        counted in (:func:`.tie_break.settle_data_keys`), so that cell is built.

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
            data_keys = DataKeys(keys_of(data[inside]), data[inside])
    if cells == "data":
        if data is None:
            raise ValueError('cells="data" needs data: pass data=X, or use cells="all".')
        settled = data_keys if constraints is None or not len(data_keys) else settle_data_keys(
            keys_of, constraints, domain, data_keys.points, data_keys, tol)[0]
        keys, counts = np.unique(np.asarray(settled), return_counts=True)
        if keys.size == 0:
            raise ValueError("No data point lies inside the domain box.")
        return [str(k) for k in keys], counts, (1 if include_neighbors else 0), data_keys, \
            n_outside
    return [] if start_key is None else [start_key()], None, -1, data_keys, n_outside


def attach_data(part: Partition, keys_of, data_keys, has_data: bool) -> None:
    """Count the data per cell and locate points by their keys (a hash lookup; points on
    boundaries whose key names no cell by perturbation, :mod:`.tie_break`)."""
    locator = KeyLocator(keys_of, part.keys)
    if has_data:
        found = place_data(part, locator, getattr(data_keys, "points", None), data_keys)
        part.cells["n_points"] = np.bincount(found[found >= 0], minlength=part.n_cells)
        part.cells["is_data"] = part.cells["n_points"].to_numpy() > 0
    part._locator = locator


def integer_keyed_partition(index_of, n_keys: int, domain: Box, data, cells: str,
                            all_ids=None, **build_kwargs) -> tuple[Partition, np.ndarray]:
    """Partition whose cells are numbered 0..n_keys-1 (classes, Voronoi sites).

    ``index_of(X)`` gives the integer cell of each point; the cell across the facet
    labelled j is cell j. Points are located through an index array (no hashing).
    ``all_ids`` lists the cells of ``cells="all"`` (default: every number).

    Returns the partition and the integer id of each of its cells.
    """
    if cells == "data":
        inside = data[domain.contains(data)]
        if len(inside) == 0:  # before the model is asked about no points at all
            raise ValueError("No data point lies inside the domain box.")
        ids, counts = np.unique(index_of(inside), return_counts=True)
    else:
        ids = np.arange(n_keys) if all_ids is None else np.asarray(all_ids)
        counts = None
    part = build_polytope_partition(
        domain=domain, keys=[str(k) for k in ids], neighbor_key=_integer_across,
        cells_mode=cells, counts=counts, key_of=lambda X: np.asarray(index_of(X)).astype(str),
        **build_kwargs)
    index = np.full(n_keys, -1, dtype=np.int64)
    cell_ids = np.array([int(k) for k in part.keys], dtype=np.int64)
    index[cell_ids] = np.arange(part.n_cells)
    part._locator = IndexLocator(index_of, index)
    if data is not None:
        found = place_data(part, part._locator, data[domain.contains(data)])
        part.cells["n_points"] = np.bincount(found[found >= 0], minlength=part.n_cells)
        part.cells["is_data"] = part.cells["n_points"].to_numpy() > 0
        if build_kwargs.get("volume") == "data":
            data_volumes(part, int(domain.contains(data).sum()))
    return part, cell_ids


def data_volumes(part: Partition, n_inside: int) -> None:
    """``volume="data"``: each cell's empirical mass ``vol(X) * n_i / N`` (in place).

    ``n_i`` is the number of data points in cell ``i`` and ``N = n_inside`` the number
    inside the domain ``X``; units of the domain's volume. ``info["volume_method"]`` becomes
    "data".
    """
    share = part.cells["n_points"].to_numpy() / max(1, int(n_inside))
    part.cells["volume"] = share * part.domain.volume
    part.info["volume_method"] = "data"


def _integer_across(key: str, label: int) -> str:
    """Integer-keyed cells: the cell across the facet labelled j is cell j."""
    return str(label)
