"""The partition tables of a 2-D-input network, assembled at once from the slice engine.

:func:`cellgeom.models.network._plane_geometries` gives every cell as a counter-clockwise
polygon with labelled edges, in flat arrays (one row per edge, cells contiguous). Here the
``cells``, ``facets`` and ``hinges`` tables and the merged vertices are built from those
arrays by whole-array operations: the same tables, row for row, as
:func:`cellgeom.models.polytope_tables.partition_tables` builds from per-cell geometry
objects, without a Python loop over cells or facets.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .facet_neighbors import string_column
from .plane_kernel import first_appearance_ids, flip_neighbors, nearest_units
from .polytope_tables import global_vertices_flat

__all__ = ["plane_tables", "UnitMaps", "bit_strings", "edge_units", "label_by_direction"]


class UnitMaps:
    """Every cell's unit maps ``z_u = A[r, u] . (x - o) + c[r, u]`` in the plane, read from
    per-layer maps without writing the (R, U, 2) array out.

    ``stages``: per activation layer ``(z, ancestor)`` as
    :func:`cellgeom.nn.slices.slice_with_maps` (``expand=False``) gives them: ``z`` (P, 3,
    U_l) the ``s``, ``t`` and constant coefficients on the polygons entering the layer, in
    ``(s, t) = ((x_0 - lo_0) / w_0, (x_1 - lo_1) / w_1)``; ``ancestor`` (R,) each region's
    polygon among them. Cell ``r`` is region ``order[r]``. Then

        A = (z_s / w_0, z_t / w_1),   c = z_c + z_s (o_0 - lo_0) / w_0 + z_t (o_1 - lo_1) / w_1.
    """

    def __init__(self, stages, order, lo, w, o):
        self.stages = [(np.ascontiguousarray(z), anc[order]) for z, anc in stages]
        self.w = (float(w[0]), float(w[1]))
        self.k = (float((o[0] - lo[0]) / w[0]), float((o[1] - lo[1]) / w[1]))

    @classmethod
    def from_arrays(cls, A, c) -> UnitMaps:
        """Maps given as ``A`` (R, U, 2) and ``c`` (R, U): one stage with ``w = 1``,
        ``lo = o`` (the same numbers: ``x / 1 = x``, ``c + x 0 = c`` up to the sign of 0)."""
        z = np.stack([A[..., 0], A[..., 1], c], axis=1)
        return cls([(z, np.arange(len(z)))], slice(None), np.zeros(2), np.ones(2), np.zeros(2))

    def rows(self, cells):
        """``(A, c, |A|)`` of the given cells, arrays (len(cells), U, 2), (len(cells), U)."""
        z = np.concatenate([z[anc[cells]] for z, anc in self.stages], axis=2)
        (w0, w1), (k0, k1) = self.w, self.k
        A = np.stack([z[:, 0] / w0, z[:, 1] / w1], axis=2)
        c = z[:, 2] + z[:, 0] * k0 + z[:, 1] * k1
        return A, c, np.sqrt(A[..., 0] ** 2 + A[..., 1] ** 2)

    def nearest(self, starts, p, reach):
        """Per edge of every cell (vertices ``p``, ``x - o``), the unit whose line is nearest
        to both endpoints, and whether a second unit's line lies within ``reach`` of both
        (compiled, :func:`.plane_kernel.nearest_units`, the same numbers as :meth:`rows`)."""
        Z = np.concatenate([z.ravel() for z, _ in self.stages])
        bases = np.cumsum([0] + [z.size for z, _ in self.stages[:-1]]).astype(np.int64)
        widths = np.array([z.shape[2] for z, _ in self.stages], dtype=np.int64)
        ancestor = np.stack([anc for _, anc in self.stages]).astype(np.int64)
        return nearest_units(Z, bases, widths, ancestor, *self.w, *self.k, starts, p,
                             float(reach))


def edge_units(maps: UnitMaps, cell, starts, p, q, reach, domain):
    """The unit of every edge (vertex ``p`` to ``q``, ``x - o`` coordinates) of the cells,
    and the edges whose unit stays ambiguous: the nearest line to both endpoints, and where
    a second line lies within ``reach`` too, the line the edge runs along
    (:func:`label_by_direction`)."""
    unit, ambiguous = maps.nearest(starts, p, reach)
    if ambiguous.any():  # a short edge near where another line crosses: its direction decides
        unit, ambiguous = label_by_direction(maps, cell, p, q, unit, ambiguous, reach, domain)
    return unit.astype(np.int64), ambiguous


def label_by_direction(maps, cell, p, q, unit, ambiguous, reach, domain):
    """Labels of the edges whose endpoints lie within ``reach`` of several units' lines.

    Both endpoints of a short edge can lie that close to a line crossing near it; the edge
    lies along its own line, though, and across the other at the angle of the two lines.
    Among the lines within reach, the edge takes the one it is parallel to:
    ``|sin| = |A_u . (q - p)| / (|A_u| |q - p|)``. The sines are known to within
    ``2 err / |q - p|`` (``err``: the endpoints' rounding, far from 0 the float64 step of
    the domain's coordinates), so an edge stays ambiguous when a second line is as parallel
    to within twice that: coincident or nearly coincident units, for the polytope route.
    Returns the labels and the edges still ambiguous.
    """
    rows = np.flatnonzero(ambiguous)
    A_rows, c_rows, norm_rows = maps.rows(cell[rows])
    with np.errstate(divide="ignore", invalid="ignore"):
        far = np.maximum(np.abs(np.einsum("rud,rd->ru", A_rows, p[rows]) + c_rows),
                         np.abs(np.einsum("rud,rd->ru", A_rows, q[rows]) + c_rows)) / norm_rows
    far[np.isnan(far)] = np.inf  # units constant on the cell (0 / 0)
    edge = q[rows] - p[rows]
    length = np.hypot(edge[:, 0], edge[:, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        sine = np.abs(np.einsum("rud,rd->ru", A_rows, edge)) / (norm_rows * length[:, None])
    sine[~(far <= reach) | np.isnan(sine)] = np.inf
    best = sine.argmin(axis=1)
    ordered = np.sort(sine, axis=1)
    err = far[np.arange(len(rows)), best] + 64 * np.spacing(np.maximum(np.abs(domain.lo),
                                                       np.abs(domain.hi)).max())
    with np.errstate(divide="ignore", invalid="ignore"):
        resolved = ordered[:, 1] - ordered[:, 0] > 4 * err / length
    unit = unit.copy()
    unit[rows[resolved]] = best[resolved]
    still = ambiguous.copy()
    still[rows[resolved]] = False
    return unit, still


def _neighbors(bits: np.ndarray, cell: np.ndarray, label: np.ndarray):
    """Index of the cell across each facet (its key with the label's bit flipped), -1 on
    the domain's boundary (label < 0), -2 when that key is not a cell (then its key)."""
    # any fixed 64-bit codes (splitmix64 of the unit's index): the hashes only find the
    # candidates, which are compared in full
    code = (np.arange(1, bits.shape[1] + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15))
    code = (code ^ (code >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    code = (code ^ (code >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    code ^= code >> np.uint64(31)
    neighbor = flip_neighbors(bits, code, cell, label)
    missing = np.flatnonzero(neighbor == -2)
    flipped = bits[cell[missing]].copy()
    flipped[np.arange(missing.size), label[missing]] ^= 1
    return neighbor, bit_strings(len(cell), missing, flipped)


def bit_strings(n: int, rows: np.ndarray, bits: np.ndarray):
    """A column of ``n`` strings: ``"0"``/``"1"`` per entry of ``bits[i]`` at ``rows[i]``
    (increasing), ``""`` elsewhere (:func:`~cellgeom.models.facet_neighbors.string_column`:
    Arrow buffers where pandas keeps its strings in Arrow, no Python string per row)."""
    lengths = np.zeros(n, dtype=np.int64)
    lengths[np.asarray(rows)] = bits.shape[1]
    return string_column(np.ascontiguousarray(bits + ord("0"), dtype=np.uint8), lengths)


def plane_tables(keys: list[str], bits: np.ndarray, g: dict, tol: float,
                 cell_columns: dict | None = None):
    """``(cells, facets, hinges, vertices)`` of a 2-D partition from flat polygon arrays.

    Parameters
    ----------
    keys : list of str, sorted
        Cell keys (``"0"``/``"1"`` per unit).
    bits : ndarray (R, U) of uint8
        The same keys as bits.
    g : dict of arrays
        ``starts`` (R + 1,) and, per edge in facet order (box sides, then units):
        ``f_normal``, ``f_offset``, ``f_len``, ``f_mid``, ``f_lab``; per vertex in polygon
        order: ``verts``, ``hinge_pairs`` (the two local facet rows meeting there),
        ``hinge_angle``, ``hinge_centroid``; per cell: ``area``, ``centroid``, ``centers``,
        ``radii``.
    tol : float
        Length tolerance (vertices and hinges closer than ``1e3 tol`` are merged).
    cell_columns : dict of arrays, optional
        Further columns of the cells table, after the geometric ones.
    """
    starts = g["starts"]
    m = len(keys)
    counts = np.diff(starts)
    cells = pd.DataFrame({
        "key": bit_strings(m, np.arange(m), bits), "volume": g["area"],
        "inradius": g["radii"].astype(float),
        "n_points": np.zeros(m, dtype=np.int64), "is_data": np.zeros(m, dtype=bool),
        "n_facets": counts.astype(np.int64),
        **{f"center_{j}": g["centers"][:, j] for j in range(2)},
        **{f"centroid_{j}": g["centroid"][:, j] for j in range(2)}, **(cell_columns or {})})
    f_cell = np.repeat(np.arange(m), counts)
    label = g["f_lab"].astype(np.int64)
    neighbor, neighbor_key = _neighbors(bits, f_cell, label)
    normals, mids = g["f_normal"], g["f_mid"]
    facets = pd.DataFrame({
        "cell": f_cell, "label": label, "neighbor": neighbor,
        "neighbor_key": neighbor_key, "volume": g["f_len"],
        "offset": g["f_offset"],
        **{f"normal_{j}": normals[:, j] for j in range(2)},
        **{f"centroid_{j}": mids[:, j] for j in range(2)}})
    # hinges: vertex j of a cell joins two of its facets (local rows, made global)
    a = g["hinge_pairs"][:, 0] + starts[f_cell]
    b = g["hinge_pairs"][:, 1] + starts[f_cell]
    centroid = g["hinge_centroid"]
    indptr, vertex_ids, merged = global_vertices_flat(g["verts"], counts, 2, tol)
    # in the plane a hinge is a point, vertex j + 1 of its cell: hinges group as their
    # vertices merge (the grouping of _group_hinges, without a second k-d tree)
    nxt = np.arange(len(f_cell)) + 1
    nxt[starts[1:] - 1] = starts[:-1]
    hinge_id = first_appearance_ids(vertex_ids[nxt], len(merged))
    # rows in the order of sort_values(["hinge", "cell"], kind="stable"), taken before the
    # frame is built
    order = np.lexsort((f_cell, hinge_id))
    a, b, centroid = a[order], b[order], centroid[order]
    hinges = pd.DataFrame({
        "hinge": hinge_id[order], "cell": f_cell[order], "label_a": label[a],
        "label_b": label[b], "neighbor_a": neighbor[a], "neighbor_b": neighbor[b],
        "angle": g["hinge_angle"][order], "volume": np.ones(len(a)),
        "boundary": (label[a] < 0) | (label[b] < 0),
        **{f"centroid_{j}": centroid[:, j] for j in range(2)}})
    return cells, facets, hinges, (indptr, vertex_ids, merged)

