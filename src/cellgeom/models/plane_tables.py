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

from .polytope_tables import _group_hinges, global_vertices_flat

__all__ = ["plane_tables"]


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


def plane_tables(keys: np.ndarray, bits: np.ndarray, g: dict, tol: float):
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
    """
    starts = g["starts"]
    m = len(keys)
    counts = np.diff(starts)
    cells = pd.DataFrame({
        "key": list(keys), "volume": g["area"], "inradius": g["radii"].astype(float),
        "n_points": np.zeros(m, dtype=np.int64), "is_data": np.zeros(m, dtype=bool),
        "n_facets": counts.astype(np.int64),
        **{f"center_{j}": g["centers"][:, j] for j in range(2)},
        **{f"centroid_{j}": g["centroid"][:, j] for j in range(2)}})
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
    hinge_id = _group_hinges(centroid, normals[a], normals[b], tol)
    hinges = pd.DataFrame({
        "hinge": hinge_id, "cell": f_cell, "label_a": label[a], "label_b": label[b],
        "neighbor_a": neighbor[a], "neighbor_b": neighbor[b], "angle": g["hinge_angle"],
        "volume": np.ones(len(a)), "boundary": (label[a] < 0) | (label[b] < 0),
        **{f"centroid_{j}": centroid[:, j] for j in range(2)}})
    hinges = hinges.sort_values(["hinge", "cell"], kind="stable").reset_index(drop=True)
    vertices = global_vertices_flat(g["verts"], counts, 2, tol)
    return cells, facets, hinges, vertices
