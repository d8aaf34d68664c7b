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

from .polytope_tables import first_appearance, global_vertices_flat

__all__ = ["plane_tables", "label_by_direction"]


def label_by_direction(A, c, norm, cell, p, q, unit, ambiguous, reach, domain):
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
    A_rows, c_rows, norm_rows = A[cell[rows]], c[cell[rows]], norm[cell[rows]]
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


def _neighbors(keys_s: np.ndarray, bits: np.ndarray, cell: np.ndarray, label: np.ndarray):
    """Index of the cell across each facet (its key with the label's bit flipped), -1 on
    the domain's boundary (label < 0), -2 when that key is not a cell (then its key)."""
    neighbor = np.full(len(cell), -1, dtype=np.int64)
    neighbor_key = np.full(len(cell), "", dtype=object)
    unit = np.flatnonzero(label >= 0)
    if unit.size == 0:
        return neighbor, neighbor_key
    flipped = bits[cell[unit]].copy()
    flipped[np.arange(unit.size), label[unit]] ^= 1
    across = (flipped + ord("0")).view(f"S{bits.shape[1]}").ravel()
    pos = np.minimum(np.searchsorted(keys_s, across), len(keys_s) - 1)
    found = keys_s[pos] == across
    neighbor[unit] = np.where(found, pos, -2)
    missing = unit[~found]
    neighbor_key[missing] = across[~found].astype(str)
    return neighbor, neighbor_key


def plane_tables(keys: np.ndarray, bits: np.ndarray, g: dict, tol: float,
                 cell_columns: dict | None = None):
    """``(cells, facets, hinges, vertices)`` of a 2-D partition from flat polygon arrays.

    Parameters
    ----------
    keys : ndarray (R,) of str, sorted
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
        "key": list(keys), "volume": g["area"], "inradius": g["radii"].astype(float),
        "n_points": np.zeros(m, dtype=np.int64), "is_data": np.zeros(m, dtype=bool),
        "n_facets": counts.astype(np.int64),
        **{f"center_{j}": g["centers"][:, j] for j in range(2)},
        **{f"centroid_{j}": g["centroid"][:, j] for j in range(2)}, **(cell_columns or {})})
    f_cell = np.repeat(np.arange(m), counts)
    label = g["f_lab"].astype(np.int64)
    keys_s = np.asarray(keys).astype(f"S{bits.shape[1]}")
    neighbor, neighbor_key = _neighbors(keys_s, bits, f_cell, label)
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
    hinge_id = first_appearance(vertex_ids[nxt])
    hinges = pd.DataFrame({
        "hinge": hinge_id, "cell": f_cell, "label_a": label[a], "label_b": label[b],
        "neighbor_a": neighbor[a], "neighbor_b": neighbor[b], "angle": g["hinge_angle"],
        "volume": np.ones(len(a)), "boundary": (label[a] < 0) | (label[b] < 0),
        **{f"centroid_{j}": centroid[:, j] for j in range(2)}})
    hinges = hinges.sort_values(["hinge", "cell"], kind="stable").reset_index(drop=True)
    return cells, facets, hinges, (indptr, vertex_ids, merged)

