"""Rule "dual" for a partition of a rectangle into boxes (2-D trees, forests, boosters).

In the plane the strata of a box partition have a closed form, so the dual complex of
:mod:`cellgeom.complex.dual` is read off the boxes' corners by sorting, without the
clique search and strata tests of the general route (same simplices, same Gram weights;
``tests/complex/test_dual_plane.py`` compares the two on random trees and forests):

- an interior point of the rectangle where cells meet is a corner of four cells (two
  lines cross) or of two cells on one side of a straight edge of a third (a
  T-junction): the solid angles around it (a quarter per corner, a half per edge) must
  sum to one turn with every cell present, else the point is on the domain boundary
  or next to a missing cell and carries nothing;
- edges: the pairs sharing a facet (weight: the facet's length), and at each crossing
  the diagonal from its first cell in :func:`cellgeom.complex.dual.canonical_order`
  (weight: the mean length of the four facets around the crossing);
- triangles: the T-junction's three cells (weight 1, the 0-volume of a point), and at a
  crossing the fan of two triangles from its first cell (weight 1/2 each).
"""
from __future__ import annotations

import numpy as np

__all__ = ["dual_nerve_plane"]

# quadrant of a cell seen from its corner point, counter-clockwise: the cell lies to the
# north-east, north-west, south-west or south-east of the point
_NE, _NW, _SW, _SE = 0, 1, 2, 3


def dual_nerve_plane(lo, hi, cell_volumes, rank, facet_pairs, facet_volumes, top):
    """Simplices, Gram weights and facet indices of the dual complex of 2-D boxes.

    Parameters
    ----------
    lo, hi : (m, 2) float arrays
        The cells' corners (the partition's numbering).
    cell_volumes : (m,) float array
        The cells' areas (the Gram weights of the vertices).
    rank : (m,) int array
        Position of each cell in the canonical order (the fan apex is the lowest).
    facet_pairs : (k, 2) int array
        Pairs ``a < b`` sharing a facet of positive length, lexicographically sorted.
    facet_volumes : callable
        ``facet_volumes(pairs)`` -> length of the facet shared by each pair.
    top : int
        Highest dimension built (0, 1 or 2).

    Returns
    -------
    simplices, volumes, faces : as :func:`cellgeom.complex.dual.dual_nerve`.
    """
    lo = np.asarray(lo, dtype=float)
    hi = np.asarray(hi, dtype=float)
    m = len(lo)
    simplices = [np.arange(m, dtype=np.int64)[:, None]]
    volumes = [np.asarray(cell_volumes, dtype=float)]
    faces = [None]
    if top < 1 or m < 2:
        return simplices, volumes, faces
    facet_pairs = np.asarray(facet_pairs, dtype=np.int64).reshape(-1, 2)
    tri, tri_weight, diag, ring = _stars(lo, hi, rank)
    facet_weight = facet_volumes(facet_pairs)
    diag_weight = _diagonal_weights(ring, rank, facet_pairs, facet_weight, m)
    edge_key = np.concatenate([facet_pairs[:, 0] * m + facet_pairs[:, 1],
                               diag[:, 0] * m + diag[:, 1]])
    edge_weight = np.concatenate([facet_weight, diag_weight])
    srt = np.argsort(edge_key, kind="stable")
    edge_key, edge_weight = edge_key[srt], edge_weight[srt]
    if np.any(edge_key[1:] == edge_key[:-1]):  # a diagonal is never a facet of boxes
        raise RuntimeError("dual rule: a pair of boxes meets at a corner and along a facet")
    edges = np.column_stack([edge_key // m, edge_key % m])
    simplices.append(edges)
    volumes.append(edge_weight)
    faces.append(np.column_stack([edges[:, 1], edges[:, 0]]))
    if top < 2 or len(tri) == 0:
        return simplices, volumes, faces
    if float(m) ** 3 < 2.0 ** 62:
        tri_key = (tri[:, 0] * m + tri[:, 1]) * m + tri[:, 2]
        srt = np.argsort(tri_key, kind="stable")
    else:
        srt = np.lexsort(tri.T[::-1])
    tri, tri_weight = tri[srt], tri_weight[srt]
    tri_faces = np.empty((len(tri), 3), dtype=np.int64)
    for i, (u, v) in enumerate(((1, 2), (0, 2), (0, 1))):  # facet without vertex i
        want = tri[:, u] * m + tri[:, v]
        pos = np.minimum(np.searchsorted(edge_key, want), len(edge_key) - 1)
        if np.any(edge_key[pos] != want):
            raise RuntimeError("dual rule: a triangle's side is not an edge")
        tri_faces[:, i] = pos
    simplices.append(tri)
    volumes.append(tri_weight)
    faces.append(tri_faces)
    return simplices, volumes, faces


def _stars(lo, hi, rank):
    """Triangles (sorted rows) and their weights, the crossings' diagonals (sorted
    pairs) and the crossings' four cells in counter-clockwise order (for the diagonal
    weights), from the corners of the boxes."""
    m = len(lo)
    rlo = np.empty((m, 2), dtype=np.int64)
    rhi = np.empty((m, 2), dtype=np.int64)
    size = []
    for j in range(2):  # exact coordinates -> integer ranks per axis
        vals, inv = np.unique(np.concatenate([lo[:, j], hi[:, j]]), return_inverse=True)
        rlo[:, j], rhi[:, j] = inv[:m], inv[m:]
        size.append(len(vals))
    ny = size[1]
    # every corner: (point key, quadrant of its cell, cell)
    cx = np.concatenate([rlo[:, 0], rhi[:, 0], rhi[:, 0], rlo[:, 0]])
    cy = np.concatenate([rlo[:, 1], rlo[:, 1], rhi[:, 1], rhi[:, 1]])
    quad = np.repeat(np.array([_NE, _NW, _SW, _SE], dtype=np.int64), m)
    cell = np.tile(np.arange(m, dtype=np.int64), 4)
    key = cx * ny + cy
    order = np.argsort(key, kind="stable")
    key, quad, cell = key[order], quad[order], cell[order]
    start = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    count = np.diff(np.append(start, len(key)))
    mask = np.bitwise_or.reduceat(np.left_shift(1, quad), start)
    # by quadrant: the cell in each quadrant of each point (-1 where none)
    by_quad = np.full((len(start), 4), -1, dtype=np.int64)
    group = np.repeat(np.arange(len(start)), count)
    by_quad[group, quad] = cell
    px, py = key[start] // ny, key[start] % ny
    tris, weights, diags, rings = [], [], [], []
    # crossings: four corners
    full = np.flatnonzero((count == 4) & (mask == 15))
    if full.size:
        ring = by_quad[full]
        first = np.argmin(rank[ring], axis=1)
        cols = (first[:, None] + np.arange(4)) % 4
        a, nxt, opp, prv = (np.take_along_axis(ring, cols[:, [i]], axis=1)[:, 0]
                            for i in range(4))
        tris += [np.column_stack([a, nxt, opp]), np.column_stack([a, opp, prv])]
        weights += [np.full(2 * full.size, 0.5)]
        diags.append(np.column_stack([a, opp]))
        rings.append(ring)
    # T-junctions: two corners on one side of a straight edge, the third cell across it
    # (its edge passes through the point): the side of the two corners picks the axis
    for pair_mask, axis, side in ((1 << _NE | 1 << _NW, 1, "hi"),  # cells above: one below
                                  (1 << _SW | 1 << _SE, 1, "lo"),  # below: one above
                                  (1 << _NW | 1 << _SW, 0, "lo"),  # left: one to the right
                                  (1 << _NE | 1 << _SE, 0, "hi")):  # right: one to the left
        g = np.flatnonzero((count == 2) & (mask == pair_mask))
        if g.size == 0:
            continue
        across = _edge_through(rlo, rhi, axis, side, px[g], py[g], size)
        ok = across >= 0
        g, across = g[ok], across[ok]
        two = by_quad[g][:, [q for q in range(4) if pair_mask >> q & 1]]
        tris.append(np.column_stack([two, across]))
        weights.append(np.ones(g.size))
    tri = np.sort(np.concatenate(tris), axis=1) if tris else np.zeros((0, 3), np.int64)
    tri_weight = np.concatenate(weights) if weights else np.zeros(0)
    diag = np.sort(np.concatenate(diags), axis=1) if diags else np.zeros((0, 2), np.int64)
    ring = np.concatenate(rings) if rings else np.zeros((0, 4), np.int64)
    return tri, tri_weight, diag, ring


def _edge_through(rlo, rhi, axis, side, px, py, size):
    """The cell whose edge on ``axis`` (its ``side`` bound equal to the point's
    coordinate on that axis) holds each point strictly inside; -1 where none."""
    other = 1 - axis
    bound = (rlo if side == "lo" else rhi)[:, axis]
    width = size[other] + 1
    # cells keyed by (bound on axis, lower end on the other axis): intervals on one line
    # have disjoint interiors, so the candidate is the last one starting at or before
    key = bound * width + rlo[:, other]
    order = np.argsort(key, kind="stable")
    skey = key[order]
    at, along = (py, px) if axis == 1 else (px, py)
    want = at * width + along
    pos = np.searchsorted(skey, want, side="right") - 1
    cand = order[np.maximum(pos, 0)]
    ok = ((pos >= 0) & (bound[cand] == at) & (rlo[cand, other] < along)
          & (rhi[cand, other] > along))
    return np.where(ok, cand, -1)


def _diagonal_weights(ring, rank, facet_pairs, facet_weight, m):
    """Weight of each crossing's diagonal: the mean length of the facets among the
    crossing's cells, summed in the lexicographic order of the pairs of its cells in the
    canonical order (as the general route sums them)."""
    if len(ring) == 0:
        return np.zeros(0)
    fkey = facet_pairs[:, 0] * m + facet_pairs[:, 1]
    srt = np.argsort(rank[ring], axis=1, kind="stable")
    cells = np.take_along_axis(ring, srt, axis=1)  # by canonical rank
    total = np.zeros(len(ring))
    n_found = np.zeros(len(ring))
    for i in range(4):
        for j in range(i + 1, 4):
            u, v = cells[:, i], cells[:, j]
            want = np.minimum(u, v) * m + np.maximum(u, v)
            pos = np.minimum(np.searchsorted(fkey, want), len(fkey) - 1)
            hit = fkey[pos] == want
            total = np.where(hit, total + facet_weight[pos], total)
            n_found += hit
    return total / np.maximum(n_found, 1)
