"""Compiled kernels of the Ollivier curvature: local geodesics and exact small transports.

numba (cached on disk) compiles them. Every edge's transport problem is tiny (the two
closed neighbourhoods, a few cells each), so the per-call overhead of a general solver
dominates; here all of them run in one compiled loop.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _heap_push(hd, hv, size, d, v):
    i = size
    hd[i] = d
    hv[i] = v
    while i > 0:
        parent = (i - 1) >> 1
        if hd[parent] <= hd[i]:
            break
        hd[parent], hd[i] = hd[i], hd[parent]
        hv[parent], hv[i] = hv[i], hv[parent]
        i = parent
    return size + 1


@njit(cache=True)
def _heap_pop(hd, hv, size):
    d, v = hd[0], hv[0]
    size -= 1
    hd[0] = hd[size]
    hv[0] = hv[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        small = left
        if left + 1 < size and hd[left + 1] < hd[left]:
            small = left + 1
        if hd[i] <= hd[small]:
            break
        hd[i], hd[small] = hd[small], hd[i]
        hv[i], hv[small] = hv[small], hv[i]
        i = small
    return d, v, size


@njit(cache=True)
def grouped_distances(indptr, indices, weights, src, limit, t_ptr, targets):
    """Geodesic distances from each source to its targets, by Dijkstra searches that stop
    at the source's ``limit`` (a distance beyond it is returned as inf).

    ``indptr, indices, weights``: the symmetric graph (CSR, non-negative lengths; inf
    lengths are never crossed). ``targets[t_ptr[k]:t_ptr[k+1]]`` belong to ``src[k]``.
    """
    n = indptr.size - 1
    out = np.full(targets.size, np.inf)
    dist = np.full(n, np.inf)
    touched = np.empty(n, np.int64)
    cap = max(16, indices.size + 1)
    hd = np.empty(cap)
    hv = np.empty(cap, np.int64)
    for k in range(src.size):
        s = src[k]
        lim = limit[k]
        n_touched = 0
        dist[s] = 0.0
        touched[n_touched] = s
        n_touched += 1
        size = _heap_push(hd, hv, 0, 0.0, s)
        while size > 0:
            d, x, size = _heap_pop(hd, hv, size)
            if d > dist[x]:
                continue
            for e in range(indptr[x], indptr[x + 1]):
                y = indices[e]
                nd = d + weights[e]
                if nd < dist[y] and nd <= lim:
                    if dist[y] == np.inf:
                        touched[n_touched] = y
                        n_touched += 1
                    dist[y] = nd
                    if size >= hd.size:
                        hd2 = np.empty(2 * hd.size)
                        hv2 = np.empty(2 * hd.size, np.int64)
                        hd2[:size] = hd[:size]
                        hv2[:size] = hv[:size]
                        hd, hv = hd2, hv2
                    size = _heap_push(hd, hv, size, nd, y)
        for t in range(t_ptr[k], t_ptr[k + 1]):
            out[t] = dist[targets[t]]
        for i in range(n_touched):
            dist[touched[i]] = np.inf
    return out


@njit(cache=True)
def _transport(a, b, C, max_iter):
    """Exact W_1 = min <P, C> over couplings P of a and b (the transportation simplex:
    north-west corner start, potentials on the basis tree, most negative reduced cost
    enters). Returns (cost, converged)."""
    m, n = a.size, b.size
    flow = np.zeros((m, n))
    basic = np.zeros((m, n), np.bool_)
    ra = a.copy()
    rb = b * (a.sum() / b.sum()) if b.sum() > 0 else b.copy()
    i = 0
    j = 0
    while True:
        x = min(ra[i], rb[j])
        flow[i, j] = x
        basic[i, j] = True
        ra[i] -= x
        rb[j] -= x
        if i == m - 1 and j == n - 1:
            break
        if j == n - 1 or (i < m - 1 and ra[i] <= rb[j]):
            i += 1
        else:
            j += 1
    scale = 0.0
    for i in range(m):
        for j in range(n):
            if abs(C[i, j]) > scale:
                scale = abs(C[i, j])
    tol = 1e-13 * max(scale, 1e-300)
    u = np.empty(m)
    v = np.empty(n)
    seen = np.zeros(m + n, np.bool_)
    queue = np.empty(m + n, np.int64)
    parent = np.empty(m + n, np.int64)
    converged = False
    for _ in range(max_iter):
        # potentials u_i + v_j = C_ij on the basic cells (a spanning tree of rows and columns)
        seen[:] = False
        queue[0] = 0
        seen[0] = True
        u[0] = 0.0
        head = 0
        tail = 1
        while head < tail:
            node = queue[head]
            head += 1
            if node < m:
                for jj in range(n):
                    if basic[node, jj] and not seen[m + jj]:
                        v[jj] = C[node, jj] - u[node]
                        seen[m + jj] = True
                        queue[tail] = m + jj
                        tail += 1
            else:
                jj = node - m
                for ii in range(m):
                    if basic[ii, jj] and not seen[ii]:
                        u[ii] = C[ii, jj] - v[jj]
                        seen[ii] = True
                        queue[tail] = ii
                        tail += 1
        best = -tol
        ei = -1
        ej = -1
        for ii in range(m):
            for jj in range(n):
                if not basic[ii, jj]:
                    r = C[ii, jj] - u[ii] - v[jj]
                    if r < best:
                        best = r
                        ei = ii
                        ej = jj
        if ei < 0:
            converged = True
            break
        # the tree path from row ei to column ej closes the cycle with (ei, ej)
        seen[:] = False
        parent[:] = -1
        queue[0] = ei
        seen[ei] = True
        head = 0
        tail = 1
        while head < tail and not seen[m + ej]:
            node = queue[head]
            head += 1
            if node < m:
                for jj in range(n):
                    if basic[node, jj] and not seen[m + jj]:
                        seen[m + jj] = True
                        parent[m + jj] = node
                        queue[tail] = m + jj
                        tail += 1
            else:
                jj = node - m
                for ii in range(m):
                    if basic[ii, jj] and not seen[ii]:
                        seen[ii] = True
                        parent[ii] = node
                        queue[tail] = ii
                        tail += 1
        # walk back from column ej: cells alternate minus, plus, ..., minus
        theta = np.inf
        li = -1
        lj = -1
        node = m + ej
        sign = -1
        while node != ei:
            prev = parent[node]
            if node >= m:
                ci, cj = prev, node - m
            else:
                ci, cj = node, prev - m
            if sign < 0 and flow[ci, cj] < theta:
                theta = flow[ci, cj]
                li = ci
                lj = cj
            sign = -sign
            node = prev
        node = m + ej
        sign = -1
        while node != ei:
            prev = parent[node]
            if node >= m:
                ci, cj = prev, node - m
            else:
                ci, cj = node, prev - m
            flow[ci, cj] += sign * theta
            sign = -sign
            node = prev
        flow[ei, ej] += theta
        basic[ei, ej] = True
        basic[li, lj] = False
        flow[li, lj] = 0.0
    cost = 0.0
    for i in range(m):
        for j in range(n):
            if basic[i, j]:
                cost += flow[i, j] * C[i, j]
    return cost, converged


@njit(cache=True)
def edge_transports(edge_ids, ea, eb, ptr, mass, eptr, cost):
    """W_1 of the walks at both ends of each edge in ``edge_ids`` (NaN where a mass or a
    cost is not finite), and whether the simplex converged for each."""
    out = np.empty(edge_ids.size)
    ok = np.ones(edge_ids.size, np.bool_)
    for t in range(edge_ids.size):
        e = edge_ids[t]
        i, j = ea[e], eb[e]
        mu = mass[ptr[i]:ptr[i + 1]]
        nu = mass[ptr[j]:ptr[j + 1]]
        M = cost[eptr[e]:eptr[e + 1]].reshape(mu.size, nu.size)
        finite = True
        for x in mu:
            if not np.isfinite(x):
                finite = False
        for x in nu:
            if not np.isfinite(x):
                finite = False
        for x in cost[eptr[e]:eptr[e + 1]]:
            if not np.isfinite(x):
                finite = False
        if not finite:
            out[t] = np.nan
            continue
        w, conv = _transport(mu, nu, M, 50 * (mu.size + nu.size) + 100)
        out[t] = w
        ok[t] = conv
    return out, ok


@njit(cache=True)
def two_hop_bounds(indptr, indices, weights, u, v):
    """For each pair, the length of the shortest path u - k - v through one common
    neighbour (inf if none): an upper bound on d(u, v) that keeps a search local."""
    n = indptr.size - 1
    via = np.full(n, np.inf)
    out = np.full(u.size, np.inf)
    for t in range(u.size):
        a, b = u[t], v[t]
        for e in range(indptr[a], indptr[a + 1]):
            via[indices[e]] = weights[e]
        best = np.inf
        for e in range(indptr[b], indptr[b + 1]):
            k = indices[e]
            if via[k] + weights[e] < best:
                best = via[k] + weights[e]
        out[t] = best
        for e in range(indptr[a], indptr[a + 1]):
            via[indices[e]] = np.inf
    return out
