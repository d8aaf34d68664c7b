"""The vertices of a plane partition read off its cells' corners, without coordinates.

A partition's vertex table merges points closer than ``1e3 tol`` (in the unit frame) into
one vertex, and stores them in the user's coordinates. Both lose faces the partition
itself keeps: a sliver between two nearly parallel lines (inradius 5e-7 in a box of side
2, far above ``tol``) is thinner than the merge radius, so its corners merge with the
corners across it and two cells on either side of it seem to share a facet; in a box of
side 4 at 1e12 the coordinates are rounded to 1.2e-4. In the plane the vertices follow
exactly from the tables the partition computed cell by cell in its unit frame: the
facets (the cell across each, and its unit normal) and the hinges (each corner of a
cell, the two facets meeting there).

The corner of cell ``c`` between its facets towards ``a`` and ``b`` is an endpoint of
the edge ``{c, a}``: the end in the direction ``t`` along that edge where the facet
towards ``b`` becomes tight, i.e. the ``+t`` end iff ``nu_b . t > 0`` (``nu_b`` the
outward normal of that facet; it is never perpendicular to ``t``, the two facets are
not parallel). Each edge gets one direction ``t`` (its normal from the lower cell,
turned a quarter), so the corners of ``c`` and of ``a`` at the same end name the same
endpoint, and a corner with both facets towards cells identifies the endpoints of its
two edges. The classes of endpoints are the partition's vertices; a vertex is on the
domain boundary, or next to a cell outside the partition, iff one of its corners has a
facet without a cell across.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..core import vector_columns

__all__ = ["corner_vertices"]


def corner_vertices(part):
    """Vertex ids of a 2-D partition's cells from its facets and hinges tables.

    Returns
    -------
    None when the tables cannot give them (another dimension, no hinges, or a facet or
    corner that is not unique), else ``(cell_ptr, vids, bad_ptr, bad_cell, bad_vids)``:
    per cell (CSR ``cell_ptr``) the ids of its vertices, sorted; and per facet without a
    cell across (``bad_cell`` its cell, CSR ``bad_ptr``) the sorted ids of its vertices.
    """
    f, h = part.facets, part.hinges
    need = {"cell", "label_a", "label_b", "neighbor_a", "neighbor_b"}
    if part.dim != 2 or h is None or len(h) == 0 or len(f) == 0 or \
            not need <= set(h.columns):
        return None
    m = part.n_cells
    cell = f["cell"].to_numpy(dtype=np.int64)
    label = f["label"].to_numpy(dtype=np.int64)
    nbr = f["neighbor"].to_numpy(dtype=np.int64)
    normal = f[vector_columns("normal", 2)].to_numpy(dtype=float)
    # a cell's facet by its label (the hinges name their facets by label)
    lab_min = int(label.min())
    span = int(label.max()) - lab_min + 1
    row_key = cell * span + (label - lab_min)
    srt = np.argsort(row_key, kind="stable")
    if np.any(row_key[srt][1:] == row_key[srt][:-1]):
        return None

    hc = h["cell"].to_numpy(dtype=np.int64)
    rows = []
    for side in ("a", "b"):
        lab = h[f"label_{side}"].to_numpy(dtype=np.int64)
        key = hc * span + (lab - lab_min)
        pos = np.searchsorted(row_key[srt], key)
        pos = np.minimum(pos, len(srt) - 1)
        if np.any(row_key[srt][pos] != key):
            return None
        rows.append(srt[pos])
    ra, rb = rows
    if np.any(nbr[ra] != h["neighbor_a"].to_numpy()) or \
            np.any(nbr[rb] != h["neighbor_b"].to_numpy()):
        return None

    # the edges: unordered pairs of cells across a facet, one direction each
    inner = np.flatnonzero(nbr >= 0)
    lo = np.minimum(cell[inner], nbr[inner])
    hi = np.maximum(cell[inner], nbr[inner])
    pair_key = lo * m + hi
    keys = np.unique(pair_key)
    # the direction of edge {lo, hi}: the lower cell's normal (else the higher's, turned
    # round) a quarter turn on
    own = cell[inner] == lo
    pick = np.full(len(keys), -1, dtype=np.int64)
    k_of = np.searchsorted(keys, pair_key)
    pick[k_of[~own]] = inner[~own]
    pick[k_of[own]] = inner[own]  # the lower cell's row wins
    nu = normal[pick] * np.where(cell[pick] == keys // m, 1.0, -1.0)[:, None]
    tangent = np.column_stack([-nu[:, 1], nu[:, 0]])

    def endpoint(c, r_edge, r_other):
        """Node (edge, end) of the corner of ``c`` on its facet ``r_edge`` (towards a
        cell) met by its facet ``r_other``."""
        d = nbr[r_edge]
        e = np.searchsorted(keys, np.minimum(c, d) * m + np.maximum(c, d))
        end = np.einsum("ij,ij->i", normal[r_other], tangent[e]) > 0
        return 2 * e + end

    n_nodes = 2 * len(keys)
    k = len(hc)
    has_a, has_b = nbr[ra] >= 0, nbr[rb] >= 0
    node_a = np.full(k, -1, dtype=np.int64)
    node_b = np.full(k, -1, dtype=np.int64)
    node_a[has_a] = endpoint(hc[has_a], ra[has_a], rb[has_a])
    node_b[has_b] = endpoint(hc[has_b], rb[has_b], ra[has_b])
    # a corner between two facets without a cell across is a vertex of its cell alone
    lone = ~has_a & ~has_b
    node = np.where(has_a, node_a, node_b)
    node[lone] = n_nodes + np.arange(int(lone.sum()))
    total = n_nodes + int(lone.sum())
    # each end of an edge is the corner of at most its two cells
    hits = np.bincount(np.concatenate([node_a[has_a], node_b[has_b]]), minlength=total)
    if np.any(hits > 2):
        return None
    both = has_a & has_b
    graph = coo_matrix((np.ones(int(both.sum())), (node_a[both], node_b[both])),
                       shape=(total, total))
    _, comp = connected_components(graph, directed=False)
    vid = comp[node]
    # a cell has one corner at each of its vertices
    cv = np.unique(hc * total + vid)
    if len(cv) != k:
        return None
    cell_ptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(cv // total, minlength=m), out=cell_ptr[1:])
    vids = cv % total

    # facets without a cell across, with the vertices at their ends, grouped by cell
    bad_rows = np.concatenate([ra[~has_a], rb[~has_b]])
    bad_v = np.concatenate([vid[~has_a], vid[~has_b]])
    key = np.unique(bad_rows * total + bad_v)
    brow, bv = key // total, key % total
    order = np.lexsort((bv, brow, cell[brow]))
    brow, bv = brow[order], bv[order]
    new_row = np.concatenate([[True], brow[1:] != brow[:-1]]) if len(brow) else \
        np.zeros(0, dtype=bool)
    starts = np.flatnonzero(new_row)
    bad_ptr = np.append(starts, len(brow)).astype(np.int64)
    return cell_ptr, vids, bad_ptr, cell[brow[starts]], bv
