"""Compiled kernels of the 2-D partition tables (numba, ``cache=True``).

:func:`nearest_units` labels the edges of the slice's polygons by the unit line nearest to
both endpoints, reading each region's pre-activation maps from the slice's per-layer maps
through the region's ancestors (no (regions, units, 2) array is written out).
:func:`close_point_components` and :func:`cluster_means` merge the cells' vertices: the
components of the graph joining points at distance ``<= r`` (what ``cKDTree.query_pairs``
and ``connected_components`` give), found through a grid of squares of side just over ``r``,
and each component's mean summed in lexicographic order of its points.
:func:`flip_neighbors` finds the cell across every facet (its key with one bit flipped)
through XOR hashes of the keys; :func:`first_appearance_ids` numbers ids by first
appearance; :func:`facet_order` puts each polygon's edges in the order of its
H-representation rows and :func:`edge_geometry` measures them. All give the same numbers,
bit for bit, as the NumPy / SciPy code they replace (the same float operations in the same
order), except the polygons' areas and centroids, which :func:`edge_geometry` sums relative
to each polygon's first vertex (exact to rounding for slivers far from the domain's centre).
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["nearest_units", "close_point_components", "cluster_means", "first_appearance_ids",
           "flip_neighbors", "facet_order", "edge_geometry"]


@njit(cache=True)
def nearest_units(Z, bases, widths, ancestor, w0, w1, k0, k1, starts, p, reach):
    """For every edge of every polygon, the unit line nearest to both its endpoints, and
    whether a second unit's line lies within ``reach`` of both too.

    Layer ``l``'s maps are ``Z[bases[l]:]`` read as a (P_l, 3, widths[l]) array (the ``s``,
    ``t`` and constant coefficients of each unit on each polygon entering layer ``l``);
    polygon ``r``'s own row there is ``ancestor[l, r]``. In ``x - o`` coordinates
    (``s = (x_0 - lo_0) / w0``, ``t = (x_1 - lo_1) / w1``; ``k0 = (o_0 - lo_0) / w0``,
    ``k1 = (o_1 - lo_1) / w1``) unit ``u`` is ``a . (x - o) + c`` with

        a = (z_s / w0, z_t / w1),   c = z_c + z_s k0 + z_t k1,

    and the distance of an edge to its line is the larger of its endpoints' ``|z| / |a|``
    (infinite for a unit constant on the polygon). Returns per edge (vertex ``i`` to the
    next, vertices ``p[starts[r]:starts[r + 1]]``) the nearest unit (global index, layers
    in order, the first on ties) and whether the second-smallest distance is ``<= reach``.

    The units within ``reach`` of both endpoints are the common ones of the endpoints' short
    lists (units within ``reach`` of the vertex); when there is one, the nearest is among
    them. Edges with none (box sides, mostly) or a long list scan every unit.
    """
    E = p.shape[0]
    L = widths.shape[0]
    U = 0
    for l in range(L):
        U += widths[l]
    M = 8  # short-list capacity
    unit = np.empty(E, dtype=np.int64)
    ambiguous = np.empty(E, dtype=np.bool_)
    # the maps of every polygon entering every layer, once (a region reads its ancestors'):
    # (a_0, a_1, c, |a|) at 4 (row offset) + (0, 1, 2, 3) W + u, row offset = bases[l] / 3 * 4
    P = np.empty(Z.shape[0] // 3 * 4)
    for l in range(L):
        W = widths[l]
        stop = bases[l + 1] if l + 1 < L else Z.shape[0]
        for row in range(bases[l], stop, 3 * W):
            out = row // 3 * 4
            for u in range(W):
                zs, zt, zc = Z[row + u], Z[row + W + u], Z[row + 2 * W + u]
                x0, x1 = zs / w0, zt / w1
                P[out + u], P[out + W + u] = x0, x1
                P[out + 2 * W + u] = zc + zs * k0 + zt * k1
                P[out + 3 * W + u] = np.sqrt(x0 * x0 + x1 * x1)
    a0 = np.empty(U)
    a1 = np.empty(U)
    cc = np.empty(U)
    nrm = np.empty(U)
    dist = np.empty((0, U))
    near = np.empty((0, M), dtype=np.int64)
    n_near = np.empty(0, dtype=np.int64)
    for r in range(starts.shape[0] - 1):
        g = 0
        for l in range(L):
            W = widths[l]
            out = (bases[l] + ancestor[l, r] * 3 * W) // 3 * 4
            for u in range(W):
                a0[g], a1[g] = P[out + u], P[out + W + u]
                cc[g], nrm[g] = P[out + 2 * W + u], P[out + 3 * W + u]
                g += 1
        s0, s1 = starts[r], starts[r + 1]
        k = s1 - s0
        if dist.shape[0] < k:
            dist = np.empty((k, U))
            near = np.empty((k, M), dtype=np.int64)
            n_near = np.empty(k, dtype=np.int64)
        for i in range(k):
            x, y = p[s0 + i, 0], p[s0 + i, 1]
            for u in range(U):
                if nrm[u] > 0:
                    dist[i, u] = abs(a0[u] * x + a1[u] * y + cc[u]) / nrm[u]
                else:
                    dist[i, u] = np.inf
            n = 0
            for u in range(U):
                if dist[i, u] <= reach:
                    if n < M:
                        near[i, n] = u
                    n += 1
            n_near[i] = n
        for i in range(k):
            j = i + 1 if i + 1 < k else 0
            best, arg, close = np.inf, 0, 0
            if n_near[i] <= M:
                for m in range(n_near[i]):  # units in increasing order
                    u = near[i, m]
                    if dist[j, u] <= reach:
                        close += 1
                        d = max(dist[i, u], dist[j, u])
                        if d < best:
                            best, arg = d, u
            if close == 0 or n_near[i] > M:  # every unit
                best, nxt, arg = np.inf, np.inf, 0
                for u in range(U):
                    d = max(dist[i, u], dist[j, u])
                    if d < best:
                        nxt = best
                        best, arg = d, u
                    elif d < nxt:
                        nxt = d
                ambiguous[s0 + i] = nxt <= reach
            else:
                ambiguous[s0 + i] = close >= 2
            unit[s0 + i] = arg
    return unit, ambiguous


@njit(cache=True)
def _find(parent, i):
    while parent[i] != i:
        parent[i] = parent[parent[i]]  # path halving
        i = parent[i]
    return i


@njit(cache=True)
def _join_if_close(coords, parent, xi, yi, i, j, r2, b):
    """Union of the components of points i and j when they lie within ``sqrt(r2)``;
    returns ``b + 1`` (the scan's next position)."""
    ddx, ddy = xi - coords[j, 0], yi - coords[j, 1]
    if ddx * ddx + ddy * ddy <= r2:
        ri, rj = _find(parent, i), _find(parent, j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    return b + 1


@njit(cache=True)
def close_point_components(coords, r):
    """Component labels (0, 1, ... in order of each component's first point) of the graph
    joining the 2-D points ``coords`` at distance ``<= r`` (``dx^2 + dy^2 <= r^2``), and
    their number; ``(labels, -1)`` when the grid would overflow (``r`` below ``2^-31`` of the
    points' spread: use a k-d tree).

    Points within ``r`` lie in the same or adjacent squares of side ``1.001 r``; each
    square is compared with itself and four of its neighbours, so each pair once. The
    squares are numbered column by column (``gx rows + gy``), the points sorted by it: the
    square above is the next number, the three to the right one consecutive range.
    """
    k = coords.shape[0]
    labels = np.zeros(k, dtype=np.int64)
    if k == 0:
        return labels, 0
    side = 1.001 * r
    xmin, ymin = coords[:, 0].min(), coords[:, 1].min()
    nx = (coords[:, 0].max() - xmin) / side
    ny = (coords[:, 1].max() - ymin) / side
    if not (nx < 2.0 ** 31 and ny < 2.0 ** 31):
        return labels, -1
    rows = np.int64(ny) + 3
    key = np.empty(k, dtype=np.int64)
    for i in range(k):  # rows 1 .. rows - 2: the rows below and above stay in the column
        key[i] = (np.int64(np.floor((coords[i, 0] - xmin) / side)) * rows
                  + np.int64(np.floor((coords[i, 1] - ymin) / side)) + 1)
    order = np.argsort(key)
    skey = key[order]
    parent = np.arange(k)
    r2 = r * r
    right = 0  # first point of the column to the right at or after row gy - 1: the target
    for a in range(k):  # key + rows - 1 grows with a, so the pointer only moves forward
        i = order[a]
        xi, yi = coords[i, 0], coords[i, 1]
        b = a + 1  # the rest of its own square, then the square above (key + 1)
        while b < k and skey[b] <= key[i] + 1:
            b = _join_if_close(coords, parent, xi, yi, i, order[b], r2, b)
        while right < k and skey[right] < key[i] + rows - 1:
            right += 1
        b = right  # squares (+1, -1), (+1, 0), (+1, +1)
        while b < k and skey[b] <= key[i] + rows + 1:
            b = _join_if_close(coords, parent, xi, yi, i, order[b], r2, b)
    n_comp = 0
    for i in range(k):
        root = _find(parent, i)
        if root == i:
            labels[i] = n_comp
            n_comp += 1
        else:
            labels[i] = labels[root]  # root < i: labelled already
    return labels, n_comp


@njit(cache=True)
def cluster_means(coords, labels, n_comp):
    """Mean of each component's points, each sum taken over its points in lexicographic
    order of their coordinates (as ``np.add.at`` over all points in ``np.lexsort`` order
    adds them), so the result does not depend on the points' order."""
    k, n = coords.shape
    counts = np.zeros(n_comp + 1, dtype=np.int64)
    for i in range(k):
        counts[labels[i] + 1] += 1
    start = np.cumsum(counts)
    fill = start[:-1].copy()
    members = np.empty(k, dtype=np.int64)
    for i in range(k):
        members[fill[labels[i]]] = i
        fill[labels[i]] += 1
    means = np.zeros((n_comp, n))
    for c in range(n_comp):
        a, b = start[c], start[c + 1]
        for m in range(a + 1, b):  # insertion sort of the (few) members, lexicographic
            cur = members[m]
            q = m
            while q > a and _lex_less(coords, cur, members[q - 1]):
                members[q] = members[q - 1]
                q -= 1
            members[q] = cur
        for m in range(a, b):
            for d in range(n):
                means[c, d] += coords[members[m], d]
        for d in range(n):
            means[c, d] /= b - a
    return means


@njit(cache=True)
def _lex_less(coords, i, j):
    for d in range(coords.shape[1]):
        if coords[i, d] < coords[j, d]:
            return True
        if coords[i, d] > coords[j, d]:
            return False
    return False


@njit(cache=True)
def first_appearance_ids(ids, n):
    """Values ``0 <= ids < n`` renumbered 0, 1, ... in order of first appearance."""
    rank = np.full(n, -1, dtype=np.int64)
    out = np.empty(ids.shape[0], dtype=np.int64)
    nxt = 0
    for i in range(ids.shape[0]):
        v = ids[i]
        if rank[v] < 0:
            rank[v] = nxt
            nxt += 1
        out[i] = rank[v]
    return out


@njit(cache=True)
def _hash_and_pack(bits, code):
    """Per row of ``bits``: the XOR of ``code`` over its set bits, and the row packed into
    64-bit words."""
    R, U = bits.shape
    one = np.uint64(1)
    h = np.zeros(R, dtype=np.uint64)
    packed = np.zeros((R, (U + 63) // 64), dtype=np.uint64)
    for r in range(R):
        for u in range(U):
            if bits[r, u]:
                h[r] ^= code[u]
                packed[r, u // 64] |= one << np.uint64(u % 64)
    return h, packed


@njit(cache=True)
def flip_neighbors(bits, code, cell, label):
    """Row of ``bits`` equal to row ``cell[e]`` with bit ``label[e]`` flipped, for every
    facet ``e``: -1 where ``label < 0`` (the domain's boundary), -2 where no row is.

    Each row is hashed as the XOR of ``code[u]`` over its set bits, so the flipped row's
    hash is the row's hash XOR ``code[label]``; candidates of equal hash (sorted, binary
    search) are compared with the flipped row word by word (the rows packed into 64-bit
    words), so a collision of hashes never gives a wrong row.
    """
    h, packed = _hash_and_pack(bits, code)
    R, W = packed.shape
    one = np.uint64(1)
    order = np.argsort(h)
    hs = h[order]
    out = np.full(cell.shape[0], -1, dtype=np.int64)
    for e in range(cell.shape[0]):
        lab = label[e]
        if lab < 0:
            continue
        c = cell[e]
        target = h[c] ^ code[lab]
        out[e] = -2
        pos = np.searchsorted(hs, target)
        while pos < R and hs[pos] == target:
            cand = order[pos]
            same = True
            for w in range(W):
                want = packed[c, w]
                if w == lab // 64:
                    want ^= one << np.uint64(lab % 64)
                if packed[cand, w] != want:
                    same = False
                    break
            if same:
                out[e] = cand
                break
            pos += 1
    return out


@njit(cache=True)
def facet_order(starts, labels):
    """Each polygon's edges in the order of its H-representation rows: box sides first
    (label ``-1 - i`` as row ``i``), then units (label ``u`` as row ``4 + u``), ties in edge
    order (``np.lexsort`` of (row, polygon), stable). Returns that permutation of the edges
    and, per vertex ``j + 1`` of a polygon, the sorted local facet rows of edges ``j`` and
    ``j + 1`` that meet there."""
    E = labels.shape[0]
    perm = np.empty(E, dtype=np.int64)
    rank = np.empty(E, dtype=np.int64)
    pairs = np.empty((E, 2), dtype=np.int64)
    for r in range(starts.shape[0] - 1):
        s0, s1 = starts[r], starts[r + 1]
        for m in range(s0, s1):  # insertion sort by row: stable, the lists are short
            lab = labels[m]
            row = -1 - lab if lab < 0 else 4 + lab
            q = m
            while q > s0:
                prev = labels[perm[q - 1]]
                if (-1 - prev if prev < 0 else 4 + prev) <= row:
                    break
                perm[q] = perm[q - 1]
                q -= 1
            perm[q] = m
        for m in range(s0, s1):
            rank[perm[m]] = m - s0
        for e in range(s0, s1):
            f = e + 1 if e + 1 < s1 else s0
            pairs[e, 0] = min(rank[e], rank[f])
            pairs[e, 1] = max(rank[e], rank[f])
    return perm, pairs


@njit(cache=True)
def edge_geometry(p, q, o, starts, perm):
    """Per edge ``p -> q`` (``x - o`` coordinates) of every counter-clockwise polygon: its
    length ``|q - p|`` (``hypot``), outward unit normal ``(dy, -dx) / length``, offset
    ``normal . (p + o)`` and midpoint ``o + (p + q) / 2``, written in the order ``perm``;
    per polygon its area ``sum(cross) / 2`` and centroid ``o + v + sum((p' + q') cross) /
    (6 area)`` by the shoelace formula in coordinates ``p' = p - v``, ``q' = q - v``
    relative to the polygon's first vertex v (``cross = p'_0 q'_1 - q'_0 p'_1``, summed in
    edge order); per vertex ``j + 1`` the interior angle ``pi - angle(n_j, n_{j+1})`` between
    edges ``j`` and ``j + 1``, as ``atan2(|n_j x n_{j+1}|, -n_j . n_{j+1})``.

    The shoelace terms are taken relative to v, not to o: for a sliver far from o the
    products of its coordinates cancel, and its centroid could land outside it.
    """
    E = p.shape[0]
    R = starts.shape[0] - 1
    normal = np.empty((E, 2))
    f_normal = np.empty((E, 2))
    f_offset = np.empty(E)
    f_len = np.empty(E)
    f_mid = np.empty((E, 2))
    area = np.empty(R)
    cen = np.empty((R, 2))
    angle = np.empty(E)
    for e in range(E):
        ex, ey = q[e, 0] - p[e, 0], q[e, 1] - p[e, 1]
        ln = np.hypot(ex, ey)
        normal[e, 0], normal[e, 1] = ey / ln, -ex / ln
    for r in range(R):
        s0, s1 = starts[r], starts[r + 1]
        a, c0, c1 = 0.0, 0.0, 0.0
        v0, v1 = p[s0, 0], p[s0, 1]
        for e in range(s0, s1):
            p0, p1 = p[e, 0] - v0, p[e, 1] - v1
            q0, q1 = q[e, 0] - v0, q[e, 1] - v1
            cross = p0 * q1 - q0 * p1
            a += cross
            c0 += (p0 + q0) * cross
            c1 += (p1 + q1) * cross
            f = e + 1 if e + 1 < s1 else s0
            # interior angle pi - angle(n_e, n_f) = atan2(|n_e x n_f|, -n_e . n_f): exact
            # near 0 and pi, where pi - arccos(cosine) loses every digit
            dot = normal[e, 0] * normal[f, 0] + normal[e, 1] * normal[f, 1]
            wedge = abs(normal[e, 0] * normal[f, 1] - normal[e, 1] * normal[f, 0])
            angle[e] = np.arctan2(wedge, -dot)
        area[r] = 0.5 * a
        cen[r, 0] = o[0] + (v0 + c0 / (6 * area[r]))
        cen[r, 1] = o[1] + (v1 + c1 / (6 * area[r]))
    for m in range(E):
        e = perm[m]
        ex, ey = q[e, 0] - p[e, 0], q[e, 1] - p[e, 1]
        f_len[m] = np.hypot(ex, ey)
        f_normal[m, 0], f_normal[m, 1] = normal[e, 0], normal[e, 1]
        off = 0.0
        off += normal[e, 0] * (p[e, 0] + o[0])
        off += normal[e, 1] * (p[e, 1] + o[1])
        f_offset[m] = off
        f_mid[m, 0] = o[0] + 0.5 * (p[e, 0] + q[e, 0])
        f_mid[m, 1] = o[1] + 0.5 * (p[e, 1] + q[e, 1])
    return f_normal, f_offset, f_len, f_mid, area, cen, angle
