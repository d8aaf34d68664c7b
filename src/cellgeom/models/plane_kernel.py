"""Compiled kernels of the 2-D partition tables (numba, ``cache=True``).

:func:`nearest_units` labels the edges of the slice's polygons by the unit line nearest to
both endpoints, reading each region's pre-activation maps from the slice's per-layer maps
through the region's ancestors (no (regions, units, 2) array is written out).
:func:`close_point_components` and :func:`cluster_means` merge the cells' vertices: the
components of the graph joining points at distance ``<= r`` (what ``cKDTree.query_pairs``
and ``connected_components`` give), found through a grid of squares of side just over ``r``,
and each component's mean summed in lexicographic order of its points. Both give the same
numbers, bit for bit, as the NumPy / SciPy code they replace (the same float operations in
the same order).
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["nearest_units", "close_point_components", "cluster_means", "first_appearance_ids"]


@njit(cache=True)
def nearest_units(Z, bases, widths, ancestor, w0, w1, k0, k1, starts, p):
    """For every edge of every polygon, the unit lines nearest to both its endpoints.

    Layer ``l``'s maps are ``Z[bases[l]:]`` read as a (P_l, 3, widths[l]) array (the ``s``,
    ``t`` and constant coefficients of each unit on each polygon entering layer ``l``);
    polygon ``r``'s own row there is ``ancestor[l, r]``. In ``x - o`` coordinates
    (``s = (x_0 - lo_0) / w0``, ``t = (x_1 - lo_1) / w1``; ``k0 = (o_0 - lo_0) / w0``,
    ``k1 = (o_1 - lo_1) / w1``) unit ``u`` is ``a . (x - o) + c`` with

        a = (z_s / w0, z_t / w1),   c = z_c + z_s k0 + z_t k1,

    and the distance of an edge to its line is the larger of its endpoints' ``|z| / |a|``
    (infinite for a unit constant on the polygon). Returns per edge (vertex ``i`` to the
    next, vertices ``p[starts[r]:starts[r + 1]]``) the nearest unit (global index, layers
    in order), its distance and the second-smallest distance.
    """
    E = p.shape[0]
    L = widths.shape[0]
    U = 0
    for l in range(L):
        U += widths[l]
    unit = np.empty(E, dtype=np.int64)
    first = np.empty(E)
    second = np.empty(E)
    a0 = np.empty(U)
    a1 = np.empty(U)
    cc = np.empty(U)
    nrm = np.empty(U)
    dist = np.empty((0, U))
    for r in range(starts.shape[0] - 1):
        g = 0
        for l in range(L):
            W = widths[l]
            row = bases[l] + ancestor[l, r] * 3 * W
            for u in range(W):
                zs, zt, zc = Z[row + u], Z[row + W + u], Z[row + 2 * W + u]
                x0, x1 = zs / w0, zt / w1
                a0[g], a1[g] = x0, x1
                cc[g] = zc + zs * k0 + zt * k1
                nrm[g] = np.sqrt(x0 * x0 + x1 * x1)
                g += 1
        s0, s1 = starts[r], starts[r + 1]
        k = s1 - s0
        if dist.shape[0] < k:
            dist = np.empty((k, U))
        for i in range(k):
            x, y = p[s0 + i, 0], p[s0 + i, 1]
            for u in range(U):
                if nrm[u] > 0:
                    dist[i, u] = abs(a0[u] * x + a1[u] * y + cc[u]) / nrm[u]
                else:
                    dist[i, u] = np.inf
        for i in range(k):
            j = i + 1 if i + 1 < k else 0
            best, nxt, arg = np.inf, np.inf, 0
            for u in range(U):
                d = max(dist[i, u], dist[j, u])
                if d < best:
                    nxt = best
                    best, arg = d, u
                elif d < nxt:
                    nxt = d
            unit[s0 + i] = arg
            first[s0 + i] = best
            second[s0 + i] = nxt
    return unit, first, second


@njit(cache=True)
def _find(parent, i):
    while parent[i] != i:
        parent[i] = parent[parent[i]]  # path halving
        i = parent[i]
    return i


@njit(cache=True)
def close_point_components(coords, r):
    """Component labels (0, 1, ... in order of each component's first point) of the graph
    joining the 2-D points ``coords`` at distance ``<= r`` (``dx^2 + dy^2 <= r^2``), and
    their number; ``(labels, -1)`` when the grid would overflow (``r`` below ``2^-31`` of the
    points' spread: use a k-d tree).

    Points within ``r`` lie in the same or adjacent squares of side ``1.001 r``; each
    square is compared with itself and four of its neighbours, so each pair once.
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
    gx = np.empty(k, dtype=np.int64)
    gy = np.empty(k, dtype=np.int64)
    key = np.empty(k, dtype=np.int64)
    for i in range(k):
        gx[i] = np.int64(np.floor((coords[i, 0] - xmin) / side))
        gy[i] = np.int64(np.floor((coords[i, 1] - ymin) / side)) + 1
        key[i] = gx[i] * rows + gy[i]
    order = np.argsort(key)
    skey = key[order]
    parent = np.arange(k)
    r2 = r * r
    for a in range(k):
        i = order[a]
        xi, yi = coords[i, 0], coords[i, 1]
        for nb in range(5):  # own square (later points), (0, +1), (+1, -1), (+1, 0), (+1, +1)
            if nb == 0:
                lo, hi = a + 1, np.searchsorted(skey, key[i], "right")
            else:
                dx = 0 if nb == 1 else 1
                dy = 1 if nb == 1 else nb - 3
                target = (gx[i] + dx) * rows + gy[i] + dy
                lo = np.searchsorted(skey, target, "left")
                hi = np.searchsorted(skey, target, "right")
            for b in range(lo, hi):
                j = order[b]
                ddx, ddy = xi - coords[j, 0], yi - coords[j, 1]
                if ddx * ddx + ddy * ddy <= r2:
                    ri, rj = _find(parent, i), _find(parent, j)
                    if ri != rj:
                        parent[max(ri, rj)] = min(ri, rj)
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
