"""Vertices of a bounded polytope ``{x : A x <= b}`` by double description (compiled).

The cell is clipped by one inequality at a time, starting from a large box around an
interior point (its sides are artificial rows). Every vertex carries the set of rows
tight at it, as a bitset: the start box's corners are tight at n sides; a vertex of the
clipped polytope is an old vertex kept (tight at the new row too when it lies on it
within ``eps``) or the point where the row's hyperplane crosses an edge from a kept
vertex ``u`` to a cut one ``v``, tight at the rows the two share plus the new one. Two
vertices span an edge iff they share at least n - 1 tight rows and no third vertex is
tight at all of those (the combinatorial test of the double description method, exact
at degenerate vertices where more than n rows meet). An artificial row still tight at
the end means the start box was too small (or the cell unbounded): the caller grows it.

Rows are taken nearest first (smallest slack at the interior point): they cut the most
and keep the intermediate polytopes small. Coordinates are relative to the interior
point; the crossing point is interpolated along the edge, whose ends are both within
the start box, so errors stay of the order of the machine epsilon times the box.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__: list[str] = []

_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)
_ONE = np.uint64(1)


@njit(cache=True, inline="always")
def popcount(x):  # pragma: no cover - compiled
    """Number of set bits of a uint64 (SWAR)."""
    x = x - ((x >> _ONE) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return (x * _H01) >> np.uint64(56)


@njit(cache=True, inline="always")
def set_bit(bits, i):  # pragma: no cover - compiled
    bits[i >> 6] |= _ONE << np.uint64(i & 63)


@njit(cache=True)
def _grown(X, I, cap):  # pragma: no cover - compiled
    X2 = np.empty((cap, X.shape[1]))
    I2 = np.zeros((cap, I.shape[1]), np.uint64)
    X2[: X.shape[0]] = X
    I2[: I.shape[0]] = I
    return X2, I2


@njit(cache=True)
def enumerate_vertices(A, b, order, center, R, eps, min_slack):  # pragma: no cover - compiled
    """Vertices of ``{x : A[order] x <= b[order]}`` within the box ``center +- R``.

    Parameters: ``A`` (m, n) unit rows, ``b`` (m,), ``order`` the rows to clip by (in
    that order), ``center`` a strictly interior point, ``R`` the start box's half
    width, ``eps`` the distance within which a vertex lies on a row's hyperplane,
    ``min_slack`` the least slack the interior point must have at every row.

    Returns ``(X, I, status)``: vertices relative to ``center`` (V, n), their tight
    rows as bitsets (V, W) over row ids ``0..m-1`` and the start box's sides
    ``m + 2 i`` (lower) and ``m + 2 i + 1`` (upper, axis i); ``status`` 0, or 1 when
    a side of the start box is still tight (box too small, or the cell unbounded), or
    2 when the interior point is not strictly inside (within ``eps`` of a row).
    """
    m, n = A.shape
    W = (m + 2 * n + 63) // 64
    V = 1 << n
    cap = max(4 * V, 64)
    X = np.empty((cap, n))
    I = np.zeros((cap, W), np.uint64)
    for code in range(V):
        for i in range(n):
            up = (code >> i) & 1
            X[code, i] = R if up else -R
            set_bit(I[code], m + 2 * i + up)
    s = np.empty(cap)
    NX = np.empty((cap, n))
    NI = np.zeros((cap, W), np.uint64)
    common = np.empty(W, np.uint64)
    for j in order:
        a = A[j]
        h = b[j]
        for i in range(n):
            h -= a[i] * center[i]
        if h <= min_slack:
            return X[:V], I[:V], 2
        if s.size < V:
            s = np.empty(2 * V)
        n_out = 0
        for v in range(V):
            t = h
            for i in range(n):
                t -= a[i] * X[v, i]
            s[v] = t
            if t < -eps:
                n_out += 1
        if n_out == 0:  # the row cuts nothing off: mark the vertices on it
            for v in range(V):
                if s[v] <= eps:
                    set_bit(I[v], j)
            continue
        n_new = 0
        for u in range(V):
            if s[u] <= eps:
                continue
            for v in range(V):
                if s[v] >= -eps:
                    continue
                count = 0
                for w in range(W):
                    common[w] = I[u, w] & I[v, w]
                    count += popcount(common[w])
                if count < n - 1:
                    continue
                edge = True
                for z in range(V):
                    if z == u or z == v:
                        continue
                    inside = True
                    for w in range(W):
                        if (I[z, w] & common[w]) != common[w]:
                            inside = False
                            break
                    if inside:
                        edge = False
                        break
                if not edge:
                    continue
                if n_new == NX.shape[0]:
                    NX, NI = _grown(NX, NI, 2 * n_new)
                t = s[u] / (s[u] - s[v])
                for i in range(n):
                    NX[n_new, i] = X[u, i] + t * (X[v, i] - X[u, i])
                for w in range(W):
                    NI[n_new, w] = common[w]
                set_bit(NI[n_new], j)
                n_new += 1
        keep = 0
        for v in range(V):
            if s[v] >= -eps:
                if s[v] <= eps:
                    set_bit(I[v], j)
                if keep != v:
                    X[keep] = X[v]
                    I[keep] = I[v]
                keep += 1
        if keep + n_new > X.shape[0]:
            X, I = _grown(X, I, 2 * (keep + n_new))
        X[keep : keep + n_new] = NX[:n_new]
        I[keep : keep + n_new] = NI[:n_new]
        V = keep + n_new
    for v in range(V):
        for side in range(m, m + 2 * n):
            if I[v, side >> 6] & (_ONE << np.uint64(side & 63)):
                return X[:V], I[:V], 1
    _polish(A, b, center, X[:V], I[:V], order, 1e3 * min_slack)
    return X[:V], I[:V], 0


@njit(cache=True)
def _pivot_rows(A, rows, k, Q, n):  # pragma: no cover - compiled
    """Reorder ``rows[:k]`` so that the first n are the most independent (Gram-Schmidt
    with pivoting, the row farthest from the span of those chosen first); returns the
    smallest squared pivot norm (0 when fewer than n independent rows)."""
    for t in range(k):
        Q[t] = A[rows[t]]
    weakest = np.inf
    for r in range(n):
        best = r
        best_norm = -1.0
        for t in range(r, k):
            norm = 0.0
            for i in range(n):
                norm += Q[t, i] * Q[t, i]
            if norm > best_norm:
                best_norm = norm
                best = t
        if best_norm < 1e-12:
            return 0.0
        weakest = min(weakest, best_norm)
        rows[r], rows[best] = rows[best], rows[r]
        for i in range(n):
            Q[r, i], Q[best, i] = Q[best, i], Q[r, i]
        scale = 1.0 / np.sqrt(best_norm)
        for i in range(n):
            Q[r, i] *= scale
        for t in range(r + 1, k):
            d = 0.0
            for i in range(n):
                d += Q[t, i] * Q[r, i]
            for i in range(n):
                Q[t, i] -= d * Q[r, i]
    return weakest


@njit(cache=True)
def _polish(A, b, center, X, I, order, near):  # pragma: no cover - compiled
    """Recompute each vertex from n of its tight rows (the most independent ones, by
    Gram-Schmidt with pivoting): the interpolated point carries rounding of the order of
    the start box, the solved one of the rows' own scale. Where more than n hyperplanes
    meet, the rows the double description records at a vertex can be nearly dependent
    (smallest singular value 1e-6: the solve then misses by 1e-10 and the vertex is not
    merged with its copies); then the rows of ``order`` within ``near`` of it are used
    instead. A vertex whose rows stay too close to dependent keeps its interpolated
    value."""
    V, n = X.shape
    m = A.shape[0]
    rows = np.empty(m, np.int64)
    Q = np.empty((m, n))
    M = np.empty((n, n + 1))
    for v in range(V):
        k = 0
        for j in range(m):
            if I[v, j >> 6] & (_ONE << np.uint64(j & 63)):
                rows[k] = j
                k += 1
        if k < n:
            continue
        weakest = _pivot_rows(A, rows, k, Q, n)
        if weakest < 1e-8:  # nearly dependent: every active row through the vertex
            k = 0
            for j in order:
                slack = b[j]
                for i in range(n):
                    slack -= A[j, i] * (center[i] + X[v, i])
                if abs(slack) <= near:
                    rows[k] = j
                    k += 1
            weakest = _pivot_rows(A, rows, k, Q, n) if k >= n else 0.0
        if weakest < 1e-12:
            continue
        for r in range(n):  # solve a_j . x = b_j - a_j . center for the n rows
            for i in range(n):
                M[r, i] = A[rows[r], i]
            M[r, n] = b[rows[r]]
            for i in range(n):
                M[r, n] -= A[rows[r], i] * center[i]
        for c in range(n):  # Gaussian elimination, partial pivoting
            p = c
            for r in range(c + 1, n):
                if abs(M[r, c]) > abs(M[p, c]):
                    p = r
            for i in range(n + 1):
                M[c, i], M[p, i] = M[p, i], M[c, i]
            for r in range(c + 1, n):
                f = M[r, c] / M[c, c]
                for i in range(c, n + 1):
                    M[r, i] -= f * M[c, i]
        for c in range(n - 1, -1, -1):
            t = M[c, n]
            for i in range(c + 1, n):
                t -= M[c, i] * X[v, i]
            X[v, c] = t / M[c, c]


@njit(cache=True)
def merge_close(P, r):  # pragma: no cover - compiled
    """Merge points closer than ``r`` (connected components of the pairs within r, each
    replaced by its mean, in order of first appearance), as Qhull's repeated vertices
    are merged where more than n facets meet. Pairs are found along a projection."""
    V, n = P.shape
    if V <= 1:
        return P.copy()
    proj = np.empty(V)
    for v in range(V):
        t = 0.0
        for i in range(n):
            t += P[v, i] * (0.7548776662466927 ** (i + 1))
        proj[v] = t
    order = np.argsort(proj)
    scale = 0.0
    for i in range(n):
        scale += (0.7548776662466927 ** (i + 1)) ** 2
    reach = r * np.sqrt(scale)  # |projection difference| <= r * |direction|
    parent = np.arange(V)
    for p in range(V):
        u = order[p]
        for q in range(p + 1, V):
            v = order[q]
            if proj[v] - proj[u] > reach:
                break
            d2 = 0.0
            for i in range(n):
                d2 += (P[u, i] - P[v, i]) ** 2
            if d2 <= r * r:
                ru = u
                while parent[ru] != ru:
                    ru = parent[ru]
                rv = v
                while parent[rv] != rv:
                    rv = parent[rv]
                if ru != rv:
                    parent[max(ru, rv)] = min(ru, rv)
    label = np.full(V, -1)
    count = 0
    for v in range(V):
        root = v
        while parent[root] != root:
            root = parent[root]
        if label[root] < 0:
            label[root] = count
            count += 1
        label[v] = label[root]
    if count == V:
        return P.copy()
    out = np.zeros((count, n))
    size = np.zeros(count)
    for v in range(V):
        out[label[v]] += P[v]
        size[label[v]] += 1.0
    for c in range(count):
        out[c] /= size[c]
    return out


@njit(cache=True)
def _repeated(A, b, usable, tol):  # pragma: no cover - compiled
    """Rows within ``max(tol, 1e-12)`` of an earlier row (normal and offset), as
    :func:`cellgeom.geometry.lp.repeated_rows`."""
    m, n = A.shape
    close = max(tol, 1e-12) ** 2
    out = np.zeros(m, np.bool_)
    for j in range(m):
        for i in range(j):
            d = (b[i] - b[j]) ** 2
            for t in range(n):
                d += (A[i, t] - A[j, t]) ** 2
            if d <= close:
                out[j] = True
                break
    return out & usable


@njit(cache=True)
def _room(arr, need):  # pragma: no cover - compiled
    """``arr`` with at least ``need`` rows (grown by doubling, contents kept)."""
    if arr.shape[0] >= need:
        return arr
    grown = np.empty((max(need, 2 * arr.shape[0]),) + arr.shape[1:], arr.dtype)
    grown[: arr.shape[0]] = arr
    return grown


@njit(cache=True)
def batch_vertices(A, b, usable, ptr, centers, tol, grow, max_grow):  # pragma: no cover
    """Vertices of every cell of a batch (rows ``ptr[c]:ptr[c+1]`` of the unit rows A, b).

    Per cell: the rows that may be facets (usable, not repeating an earlier row), the
    double description from a start box of half width ``4 sqrt(n) max slack``, grown by
    ``grow`` (at most ``max_grow`` times) while a side of it is left, and the vertices
    merged within ``tol / 100``. Returns ``(status, active, v_ptr, vertices)``: status 0,
    1 (unbounded) or 2 (interior point not strictly inside) per cell; ``active`` per row.
    """
    c = ptr.size - 1
    n = A.shape[1]
    status = np.zeros(c, np.int64)
    active = np.zeros(A.shape[0], np.bool_)
    v_ptr = np.zeros(c + 1, np.int64)
    verts = np.empty((16 * c + 16, n))
    for cell in range(c):
        r0, r1 = ptr[cell], ptr[cell + 1]
        Ac, bc = A[r0:r1].copy(), b[r0:r1].copy()
        center = centers[cell]
        act = usable[r0:r1] & ~_repeated(Ac, bc, usable[r0:r1], tol)
        active[r0:r1] = act
        rows = np.flatnonzero(act)
        slack = np.empty(rows.size)
        hmax = 0.0
        for t in range(rows.size):
            slack[t] = bc[rows[t]] - np.sum(Ac[rows[t]] * center)
            hmax = max(hmax, abs(slack[t]))
        order = rows[np.argsort(slack)]  # nearest rows first: they cut the most
        R = 4.0 * np.sqrt(n) * hmax + 10.0 * tol + 1e-300
        st = 1
        X = np.empty((0, n))
        for _ in range(max_grow + 1):
            X, _, st = enumerate_vertices(Ac, bc, order, center, R,
                                          max(1e-3 * tol, 1e-13 * R), 1e-3 * tol)
            if st != 1:
                break
            R *= grow
        status[cell] = st
        v0 = v_ptr[cell]
        if st == 0:
            P = merge_close(X + center, tol * 1e-2)
            verts = _room(verts, v0 + P.shape[0])
            verts[v0 : v0 + P.shape[0]] = P
            v0 += P.shape[0]
        v_ptr[cell + 1] = v0
    return status, active, v_ptr, verts[: v_ptr[c]].copy()
