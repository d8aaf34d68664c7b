"""Per-cell geometry of the polytope route, in the unit frame of the domain.

One chunk of cells at a time (in a worker of :func:`cellgeom.parallel.map_cells`): rows
that define one hyperplane are merged (:mod:`.coincident`), the Chebyshev LP decides which
cells are full-dimensional, and the exact route (Qhull, n <= ``exact_dim``) or the
high-dimensional route computes each kept cell's facets, volumes and hinges.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..geometry import batch_polytope_geometry, chebyshev_centers, normalize_rows
from ..geometry.highdim import highdim_geometry
from ..parallel import ProcessExecutor, map_cells, resolve_executor
from .coincident import merge_coincident_rows

__all__ = ["Cell", "CellRows", "DegenerateCellError", "balanced_chunk", "cell_geometries",
           "volume_method", "kernel_tol", "warm_workers"]


@dataclass
class Cell:
    """One built cell in the unit frame: its geometry, row labels, Chebyshev centre and
    radius, and per facet the labels of the rows supporting it and the key across (None
    until the build needs it)."""

    geom: object
    labels: np.ndarray
    center: np.ndarray
    radius: float
    groups: list
    across: list | None


def volume_method(high: bool, volume: str) -> str:
    """The ``info["volume_method"]`` label: "exact" only for the exact vertex route (which
    ``volume="exact"`` always takes), else what the high-dimensional route computed."""
    if not high:
        return "exact"
    if volume == "exact":
        raise ValueError("volume='exact' runs on the exact vertex route only; the route "
                         "was not switched (an internal error).")
    return {"auto": "estimate", "estimate": "estimate"}.get(volume, volume)


#: cells per task on the high-dimensional route (about 1.5 s of work for 64-D cells)
HIGH_DIM_CHUNK = 32


def balanced_chunk(n_items: int, n_workers: int, largest: int = HIGH_DIM_CHUNK) -> int:
    """Cells per chunk: at most ``largest``, equal chunks aimed at a multiple of
    ``n_workers``, so the last round of chunks keeps every worker busy (160 cells in chunks
    of 32 on two workers left one idle for a whole chunk: 3 chunks against 2; in 6 chunks
    of 27, each worker gets 3).

    >>> balanced_chunk(160, 2), balanced_chunk(1797, 2), balanced_chunk(10, 4)
    (27, 31, 3)
    """
    n_chunks = n_workers * -(-n_items // (n_workers * largest))
    return max(1, -(-n_items // max(n_chunks, 1)))


def cell_geometries(domain, keys, constraints, tol, progress, n_jobs=None, executor=None,
                     route=None):
    """Chebyshev LP and the vertex route for each cell; drops empty and thin cells.

    Returns the kept cells (:class:`Cell`, ``across`` not yet filled), their indices into
    ``keys`` and the number dropped.
    """
    n, exact_dim = (route or (None, 6))[:2]
    high = n is not None and n > exact_dim
    resolved = resolve_executor(n_jobs, executor)
    try:
        if resolved is not executor:
            warm_workers(resolved, route)
        polys = CellRows(keys, constraints, *domain.halfspaces())
        # the high-dimensional route costs ~50 ms per cell: small chunks keep every worker
        # busy to the end (a few large chunks left one idle for a chunk's time at the tail)
        chunk = balanced_chunk(len(polys), resolved.n_workers) if high else None
        results = map_cells(_geometry_chunk, polys, executor=resolved, chunk_size=chunk,
                            args=(tol, route), progress=progress, desc="cell geometry")
    finally:
        if resolved is not executor:
            resolved.shutdown()
    geoms, kept = [], []
    for j, result in enumerate(results):
        if result is not None:
            geom, center, radius, groups = result
            geoms.append(Cell(geom, polys.labels[j], center, radius, groups, None))
            kept.append(j)
    return geoms, kept, len(polys) - len(kept)


class CellRows(Sequence):
    """The cells' inequalities ``(A, b, labels)``, box rows first, built when sliced.

    An executor slices its items chunk by chunk as it sends them, so the workers start on
    the first chunk while this process builds the next (the 1,797 digits cells: 1.5 s of
    building no longer precede the first chunk). The adapter's ``constraints(keys)`` is
    called on fixed blocks of :data:`BLOCK` keys whatever the executor's chunks, so the
    rows are bit-identical on every backend (a batched matrix product rounds differently
    with the batch size); the last block is kept for the next slice. The rows' labels stay
    here (``labels[j]``) for the caller; the rows themselves go to the workers.

    Box rows come first: where a model's hyperplane coincides with the box, the facet is
    reported as domain boundary (no cell lies beyond it).
    """

    #: keys per call of ``constraints``
    BLOCK = 256

    def __init__(self, keys, constraints, box_A, box_b) -> None:
        self.keys, self.constraints = keys, constraints
        self.box_A, self.box_b = box_A, box_b
        self.box_labels = -1 - np.arange(box_A.shape[0])
        self.labels: list = [None] * len(keys)
        self._block: tuple[int, list] = (-1, [])

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index):
        if not isinstance(index, slice):
            index = range(len(self))[index]  # negative indices, and the IndexError
            return self[index:index + 1][0]
        start, stop, step = index.indices(len(self))
        return [self._row(i) for i in range(start, stop, step)]

    def _row(self, i: int):
        number, rows = self._block
        if number != i // self.BLOCK:
            number = i // self.BLOCK
            first = number * self.BLOCK
            rows = []
            for j, (A, b, labels) in enumerate(
                    self.constraints(list(self.keys[first:first + self.BLOCK]))):
                labels = np.concatenate([self.box_labels, np.asarray(labels, dtype=np.int64)])
                self.labels[first + j] = labels
                rows.append((np.vstack([self.box_A, A]), np.concatenate([self.box_b, b]),
                             labels))
            self._block = (number, rows)
        return rows[i - number * self.BLOCK]


def warm_workers(executor, route) -> None:
    """Start a process pool's workers now, each loading the compiled kernels of the
    high-dimensional route: they import cellgeom (1-2 s) while this process still builds
    the cells' inequalities, instead of after the first chunk is sent. Other executors and
    the exact route: nothing to do."""
    n, exact_dim = (route or (None, 6))[:2]
    if n is not None and n > exact_dim and isinstance(executor, ProcessExecutor):
        executor.prestart(_warm_kernels, n)


def _warm_kernels(n: int) -> None:
    """Load the compiled kernels of the high-dimensional route (a worker's warm-up): the
    Chebyshev centre and the facets of the unit box in dimension ``n``."""
    from ..geometry.facet_walk import facet_status

    A = np.vstack([-np.eye(n), np.eye(n)])
    b = np.concatenate([np.zeros(n), np.ones(n)])
    chebyshev_centers([(A, b)], method="simplex")
    facet_status(A, b, np.full(n, 0.5), np.ones(2 * n, dtype=bool))


class DegenerateCellError(ValueError):
    """A cell's linear program failed although the domain box bounds it: its
    inequalities are numerically degenerate (the message gives their scale)."""


def _geometry_chunk(polys, tol, route=None):
    """Per chunk: batched Chebyshev LPs, then each full-dimensional cell's geometry.

    ``route = (n, exact_dim, volume, facet_method)``. For ``n <= exact_dim`` the exact
    route, batched across the chunk (:func:`cellgeom.geometry.batch_polytope_geometry`:
    vertices, facets, hinges, exact volumes). Above it the vertex count explodes, so
    :func:`cellgeom.geometry.highdim.highdim_geometry` finds facets by the compiled vertex
    walk (no vertices, no hinges) and estimates volumes when asked.
    Empty and lower-dimensional cells give ``None`` (dropped, and counted).

    The radius that decides is the one the returned centre really has,
    ``min_i (b_i - a_i c) / |a_i|``: the LP solver accepts a violation of its own
    feasibility tolerance, which for a sliver of width ~1e-8 is the sliver itself.
    """
    n, exact_dim, volume, facet_method = route or (None, 6, "auto", "simplex")
    high = n is not None and n > exact_dim
    merged = [merge_coincident_rows(A, b, labels, tol) for A, b, labels in polys]
    polys = [(A[keep], b[keep]) for (A, b, _), (keep, _) in zip(polys, merged)]
    try:
        # above exact_dim one LP per cell: the centre (not unique) starts the volume
        # chains, and a block LP's choice depends on the cells that share its block
        centers, _ = chebyshev_centers(polys, method=facet_method, chunk_size=1 if high else 200)
    except (ValueError, RuntimeError) as exc:
        raise _degenerate(polys, exc) from None
    # the LP's centre depends on which cells share its block LP (the chunking of the
    # executor) in its last bits; on a grid of 2^-32 of the unit frame it does not, so
    # every backend gives bit-identical tables
    centers = np.round(centers * _CENTRE_GRID) / _CENTRE_GRID
    radii = np.array([_radius_at(A, b, c) for (A, b), c in zip(polys, centers)])
    full = [i for i, r in enumerate(radii) if r > tol]
    out = [None] * len(polys)
    if not high:
        geoms = batch_polytope_geometry([polys[i] for i in full], centers[full],
                                        tol=kernel_tol(tol, route))
    else:  # seeded per cell: identical on every backend
        geoms = [highdim_geometry(*polys[i], centers[i], radii[i], tol=tol,
                                  volume=volume == "estimate",
                                  seed=_cell_seed(*polys[i]), facet_method=facet_method)
                 for i in full]
    for i, geom in zip(full, geoms):
        keep, groups = merged[i]
        facet_groups = [groups[r] for r in geom.facet_rows]
        geom.facet_rows = keep[geom.facet_rows]  # rows of the cell as the adapter gave them
        out[i] = (geom, centers[i], radii[i], facet_groups)
    return out


#: interior points are rounded to multiples of 1 / _CENTRE_GRID (in the unit frame)
_CENTRE_GRID = 2.0**32

#: the exact route's incidence tolerance, relative to the thin-cell tolerance ``tol``
EXACT_ROUTE_TOL = 1e-3


def kernel_tol(tol: float, route) -> float:
    """Tolerance of the geometry kernels (incidences, repeated rows, merged vertices).

    Rows within ``tol`` of each other are merged before the kernels see them
    (:func:`.coincident.merge_coincident_rows`). On the exact route, in the unit frame,
    Qhull's vertices are accurate to ~1e-15, so incidences are decided at ``1e-3 tol``
    (2e-12 by default): two distinct hyperplanes that cross inside a cell at an angle of
    1e-8 (a unit and its perturbed copy, two nearly equal k-means centres) then keep their
    own vertices; at ``tol`` the vertices of one were counted on the other and facet areas
    were wrong by a per cent. The high-dimensional route decides facets by LPs, whose
    solver tolerance is ~1e-9: it keeps ``tol``.
    """
    n, exact_dim = (route or (None, 6))[:2]
    return tol if n is not None and n > exact_dim else tol * EXACT_ROUTE_TOL


def _radius_at(A, b, center) -> float:
    """Radius of the largest ball about ``center`` inside ``{A x <= b}`` (-inf if NaN)."""
    if not np.all(np.isfinite(center)):
        return -np.inf
    A_unit, b_unit, norms = normalize_rows(A, b)
    live = norms > 0
    if np.any(~live & (np.asarray(b) < 0)):
        return -np.inf
    return float(np.min(b_unit[live] - A_unit[live] @ center))


def _degenerate(polys, exc) -> DegenerateCellError:
    norms = np.concatenate([np.linalg.norm(A, axis=1) for A, _ in polys])
    offsets = np.concatenate([np.abs(b) for _, b in polys])
    live = norms > 0
    return DegenerateCellError(
        f"the Chebyshev-centre LP of a cell failed ({exc}) although the domain box bounds "
        f"every cell, so the cause is numerical: in the domain's unit frame the cells' "
        f"inequalities have normals of length {norms[live].min():.3g} to "
        f"{norms[live].max():.3g} and offsets up to {offsets.max():.3g} (rows that nearly "
        "vanish or nearly coincide). Pass a larger tol=, or check the model for dead, "
        "duplicated or huge units.")


def _cell_seed(A, b) -> int:
    """A deterministic seed from the cell's inequalities (same result on any executor)."""
    return int(abs(hash((A.shape, float(np.round(b.sum(), 9))))) % (2**31))
