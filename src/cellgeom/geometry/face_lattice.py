"""Facets, hinges and their measures from a cell's vertices, in one compiled pass.

Given the (merged) vertices of a bounded polytope ``{x : A x <= b}`` (unit rows), the
rules of the vertex route apply unchanged:

* row i is incident to vertex v iff ``|b_i - a_i . v| <= tol`` (zero and repeated rows
  never are);
* a row is a facet iff its incident vertices span an (n-1)-flat: exactly n - 1
  singular values of the centred points above ``tol``;
* two facets form a hinge iff their common vertices span an (n-2)-flat (in 3-D: share
  two vertices; in 2-D: one).

The singular values are bounded without a factorisation where a margin allows it: the
points are split into coordinates in the face's flat (the complement of its rows'
normals) and off it; the flat's Gram matrix gives its smallest singular value (Jacobi,
error below 1e-6 of the largest), the off part bounds the next one (Weyl). Only cases
within that margin of ``tol`` take an SVD.

Measures come from the same incidences, not from a hull per face: a 2-face (polygon) by
the shoelace formula in a frame of its plane, a segment by its extreme points, and a
k-face (k >= 3) as the union of cones from its vertex mean ``p`` over its own facets G
(the maximal sets ``face & facet`` with at least k vertices),
``vol_k = sum_G h_G vol_{k-1}(G) / k`` with ``h_G`` the distance from p to G's flat
within the face's flat (the centroid likewise, a cone's centroid lying at
``p + k / (k + 1) (c_G - p)``). A facet's own facets are its hinges, so facet measures
follow from the hinges'; the cell's volume and centroid are cones from the interior
point over its facets. Work arrays are allocated once per cell and passed down.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__: list[str] = []

# (numba's disk cache checks a kernel against its own source file only: every kernel
# these call lives in this file, so a change anywhere recompiles all of them)
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


@njit(cache=True, inline="always")
def _has(bits, v):  # pragma: no cover - compiled
    return (bits[v >> 6] >> np.uint64(v & 63)) & np.uint64(1)


@njit(cache=True, inline="always")
def _off_normal(ai, aj, nu):  # pragma: no cover - compiled
    """``nu = aj - (ai . aj) ai`` (the part of unit row aj off unit row ai); returns
    ``(ai . aj, |nu|)``, the cosine and sine of the angle between the two rows."""
    cos = 0.0
    for t in range(ai.size):
        cos += aj[t] * ai[t]
    norm = 0.0
    for t in range(ai.size):
        nu[t] = aj[t] - cos * ai[t]
        norm += nu[t] * nu[t]
    return cos, np.sqrt(norm)


@njit(cache=True)
def _members(bits, V, idx):  # pragma: no cover - compiled
    """Write the set bits (vertex indices, increasing) into idx; return their count."""
    count = 0
    for v in range(V):
        if _has(bits, v):
            idx[count] = v
            count += 1
    return count


@njit(cache=True)
def _mean_of(P, bits, out):  # pragma: no cover - compiled
    """Mean of the points whose bits are set, written into out."""
    V, n = P.shape
    for i in range(n):
        out[i] = 0.0
    size = 0
    for v in range(V):
        if _has(bits, v):
            for i in range(n):
                out[i] += P[v, i]
            size += 1
    for i in range(n):
        out[i] /= size


@njit(cache=True)
def _basis(N, q, U, n):  # pragma: no cover - compiled
    """Orthonormalise the q rows of N in place (Gram-Schmidt, twice) and write an
    orthonormal basis of their complement into U[: n - q]."""
    v = np.empty(n)
    for r in range(q):
        for _ in range(2):
            for j in range(r):
                d = 0.0
                for i in range(n):
                    d += N[j, i] * N[r, i]
                for i in range(n):
                    N[r, i] -= d * N[j, i]
        norm = 0.0
        for i in range(n):
            norm += N[r, i] * N[r, i]
        norm = np.sqrt(norm)
        for i in range(n):
            N[r, i] /= norm
    k = 0
    for e in range(n):
        if k == n - q:
            break
        for i in range(n):
            v[i] = 0.0
        v[e] = 1.0
        for _ in range(2):
            for j in range(q + k):
                row = N[j] if j < q else U[j - q]
                d = 0.0
                for i in range(n):
                    d += row[i] * v[i]
                for i in range(n):
                    v[i] -= d * row[i]
        norm = 0.0
        for i in range(n):
            norm += v[i] * v[i]
        norm = np.sqrt(norm)
        if norm > 0.3:
            for i in range(n):
                U[k, i] = v[i] / norm
            k += 1


@njit(cache=True)
def _extreme_eigenvalues(G, k):  # pragma: no cover - compiled
    """Smallest and largest eigenvalue of the symmetric G[:k, :k] (cyclic Jacobi, in
    place)."""
    if k == 1:
        return G[0, 0], G[0, 0]
    for _ in range(60):
        off = 0.0
        diag = 0.0
        for p in range(k):
            diag += G[p, p] * G[p, p]
            for q in range(p + 1, k):
                off += G[p, q] * G[p, q]
        if off <= 1e-36 * diag or off == 0.0:
            break
        for p in range(k - 1):
            for q in range(p + 1, k):
                if G[p, q] == 0.0:
                    continue
                theta = (G[q, q] - G[p, p]) / (2.0 * G[p, q])
                t = 1.0 if theta == 0.0 else \
                    np.sign(theta) / (abs(theta) + np.sqrt(theta * theta + 1.0))
                c = 1.0 / np.sqrt(t * t + 1.0)
                s = t * c
                for r in range(k):
                    grp, grq = G[r, p], G[r, q]
                    G[r, p] = c * grp - s * grq
                    G[r, q] = s * grp + c * grq
                for r in range(k):
                    gpr, gqr = G[p, r], G[q, r]
                    G[p, r] = c * gpr - s * gqr
                    G[q, r] = s * gpr + c * gqr
    lo = G[0, 0]
    hi = G[0, 0]
    for p in range(1, k):
        lo = min(lo, G[p, p])
        hi = max(hi, G[p, p])
    return lo, hi


@njit(cache=True)
def _spans(P, idx, p, N, q, U, tol, G, y):  # pragma: no cover - compiled
    """Whether the points ``P[idx[:p]]`` have affine rank exactly k = n - q in the
    vertex route's sense (k singular values of the centred points above tol), for
    points near the flat with orthonormal normals ``N[:q]`` and directions ``U[:k]``."""
    n = P.shape[1]
    k = n - q
    if p <= k:
        return False
    mean = np.zeros(n)
    for t in range(p):
        for i in range(n):
            mean[i] += P[idx[t], i]
    for i in range(n):
        mean[i] /= p
    for a in range(k):
        for c in range(k):
            G[a, c] = 0.0
    off = 0.0
    for t in range(p):
        for j in range(q):
            d = 0.0
            for i in range(n):
                d += (P[idx[t], i] - mean[i]) * N[j, i]
            off += d * d
        for a in range(k):
            d = 0.0
            for i in range(n):
                d += (P[idx[t], i] - mean[i]) * U[a, i]
            y[a] = d
        for a in range(k):
            for c in range(k):
                G[a, c] += y[a] * y[c]
    off = np.sqrt(off)
    lam_lo, lam_hi = _extreme_eigenvalues(G, k)
    err = 1e-12 * max(lam_hi, 0.0)  # Jacobi's error, generously
    lower = np.sqrt(max(lam_lo - err, 0.0))  # <= the k-th singular value
    upper = np.sqrt(max(lam_lo + err, 0.0)) + off  # >= the k-th singular value
    if off <= tol and lower > tol:  # (the (k+1)-th singular value is <= off)
        return True
    if upper < tol:
        return False
    X = np.empty((p, n))
    for t in range(p):
        X[t] = P[idx[t]] - mean
    _, sing, _ = np.linalg.svd(X, full_matrices=False)
    return np.sum(sing > tol) == k


@njit(cache=True)
def _polygon(P, idx, p, U, x, y, out):  # pragma: no cover - compiled
    """Area of the convex polygon of the points ``P[idx[:p]]`` in the plane of the
    orthonormal directions U[:2] (angle order about the mean, shoelace); its centroid
    is written into ``out``."""
    n = P.shape[1]
    for i in range(n):
        out[i] = 0.0
    for t in range(p):
        for i in range(n):
            out[i] += P[idx[t], i]
    for i in range(n):
        out[i] /= p
    for t in range(p):
        dx = 0.0
        dy = 0.0
        for i in range(n):
            d = P[idx[t], i] - out[i]
            dx += d * U[0, i]
            dy += d * U[1, i]
        x[t] = dx
        y[t] = dy
    return _shoelace(x, y, p, U, out)


@njit(cache=True)
def _shoelace(x, y, p, U, out):  # pragma: no cover - compiled
    """Area of the polygon of the points (x, y) taken in angle order about the origin
    (their mean); adds its centroid, in the frame U, to ``out``."""
    # angle order by insertion sort (a polygon has few vertices)
    angle = np.empty(p)
    order = np.empty(p, np.int64)
    for t in range(p):
        angle[t] = np.arctan2(y[t], x[t])
        order[t] = t
    for t in range(1, p):
        key = order[t]
        u = t - 1
        while u >= 0 and angle[order[u]] > angle[key]:
            order[u + 1] = order[u]
            u -= 1
        order[u + 1] = key
    area = 0.0
    cx = 0.0
    cy = 0.0
    for t in range(p):
        i0 = order[t]
        i1 = order[(t + 1) % p]
        cross = x[i0] * y[i1] - x[i1] * y[i0]
        area += cross
        cx += (x[i0] + x[i1]) * cross
        cy += (y[i0] + y[i1]) * cross
    area /= 2
    if area <= 0:
        return 0.0
    for i in range(out.size):
        out[i] += cx / (6 * area) * U[0, i] + cy / (6 * area) * U[1, i]
    return area


@njit(cache=True)
def _slot(table_keys, table_used, bits):  # pragma: no cover - compiled
    """Slot of ``bits`` in an open-addressing table (its own, or the empty one where it
    goes)."""
    cap = table_used.size
    h = np.uint64(1469598103934665603)
    for w in range(bits.size):
        h = (h ^ bits[w]) * np.uint64(1099511628211)
    s = np.int64(h & np.uint64(cap - 1))
    while table_used[s]:
        equal = True
        for w in range(bits.size):
            if table_keys[s, w] != bits[w]:
                equal = False
                break
        if equal:
            return s
        s = (s + 1) & (cap - 1)
    return s


@njit(cache=True)
def _polygon_once(P, bits, N, q, U, work, out):  # pragma: no cover - compiled
    """Area (centroid into ``out``) of the polygon of the vertices ``bits`` in the flat
    with orthonormal normals N[:q], each polygon computed once per cell: a 2-face lies on
    several higher faces."""
    idx, x, y, keys, used, areas, cents = work[7:14]
    s = _slot(keys, used, bits)
    if not used[s]:
        _basis(N, q, U, P.shape[1])
        areas[s] = _polygon(P, idx, _members(bits, P.shape[0], idx), U, x, y, cents[s])
        keys[s] = bits
        used[s] = True
    out[:] = cents[s]
    return areas[s]


@njit(cache=True)
def _face(P, bits, q, A, S, facets, work, out):  # pragma: no cover - compiled
    """k-volume of the face of the vertices ``bits`` (k = n - q) in the flat whose
    orthonormal normals are the first q rows of ``work[0][0]``; its centroid is written
    into ``out``. A polygon for k = 2, else cones from its vertex mean over its own
    facets: the maximal sets ``bits & S[r]`` (r a facet row of the cell) with at least
    k - 1 + 1 vertices, each measured the same way. Depth-first with an explicit stack
    (one level per dimension; numba's cached recursion is fragile)."""
    Nd, Ud, cand, cand_row, means, moments, cmeans = work[:7]
    face_bits, n_cand, next_cand, volumes = work[14:18]
    V, n = P.shape
    W = bits.size
    if n - q <= 2:  # (a hinge of a 4-D cell: each polygon once anyway)
        idx, x, y = work[7:10]
        _basis(Nd[0], q, Ud[0], n)
        return _polygon(P, idx, _members(bits, V, idx), Ud[0], x, y, out)
    face_bits[0] = bits
    depth = 0
    fresh = True
    result = 0.0
    while True:
        qd = q + depth
        k = n - qd
        N = Nd[depth]
        if fresh:  # enter the face: its mean and its candidate facets
            _mean_of(P, face_bits[depth], means[depth])
            C = cand[depth]
            nc = 0
            for r in facets:
                count = 0
                same = True
                for w in range(W):
                    C[nc, w] = face_bits[depth, w] & S[r, w]
                    count += popcount(C[nc, w])
                    same = same and C[nc, w] == face_bits[depth, w]
                if count >= k and not same:
                    cand_row[depth, nc] = r
                    nc += 1
            n_cand[depth] = nc
            next_cand[depth] = 0
            volumes[depth] = 0.0
            moments[depth, :] = 0.0
        else:  # a child just returned its volume (result) and centroid (out)
            _mean_of(P, face_bits[depth + 1], cmeans[depth])
            nu = Nd[depth + 1, qd]
            height = 0.0
            for i in range(n):
                height += nu[i] * (cmeans[depth, i] - means[depth, i])
            cone = height * result / k
            volumes[depth] += cone
            for i in range(n):
                moments[depth, i] += cone * (means[depth, i]
                                             + k / (k + 1.0) * (out[i] - means[depth, i]))
        # the next facet of this face: a maximal candidate (the first of equal ones)
        C = cand[depth]
        nc = n_cand[depth]
        child = -1
        while next_cand[depth] < nc and child < 0:
            c = next_cand[depth]
            next_cand[depth] += 1
            maximal = True
            for d in range(nc):
                if d == c:
                    continue
                inside = True
                equal = True
                for w in range(W):
                    if (C[c, w] & C[d, w]) != C[c, w]:
                        inside = False
                        break
                    if C[c, w] != C[d, w]:
                        equal = False
                if inside and (not equal or d < c):
                    maximal = False
                    break
            if not maximal:
                continue
            child_N = Nd[depth + 1]  # the child's normals: this face's, and the row's
            for j in range(qd):      # normal within this face's flat (outward)
                child_N[j] = N[j]
            nu = child_N[qd]
            for i in range(n):
                nu[i] = A[cand_row[depth, c], i]
            for j in range(qd):
                dot = 0.0
                for i in range(n):
                    dot += nu[i] * N[j, i]
                for i in range(n):
                    nu[i] -= dot * N[j, i]
            norm = 0.0
            for i in range(n):
                norm += nu[i] * nu[i]
            norm = np.sqrt(norm)
            if norm < 1e-9:
                continue
            for i in range(n):
                nu[i] /= norm
            child = c
        if child >= 0:
            face_bits[depth + 1] = C[child]
            if k - 1 <= 2:  # a polygon: measure it here, stay at this depth
                result = _polygon_once(P, face_bits[depth + 1], Nd[depth + 1], qd + 1,
                                       Ud[depth + 1], work, out)
                fresh = False
                continue
            depth += 1
            fresh = True
            continue
        # all facets done: this face's volume and centroid, back to its parent
        vol = volumes[depth]
        for i in range(n):
            out[i] = moments[depth, i] / vol if vol > 0 else means[depth, i]
        result = max(vol, 0.0)
        if depth == 0:
            return result
        depth -= 1
        fresh = False


@njit(cache=True)
def cell_faces(A, b, active, P, center, tol):  # pragma: no cover - compiled
    """Facets, hinges and all measures of one cell from its merged vertices ``P``.

    ``A`` (m, n), ``b`` unit rows; ``active`` the rows that may be facets (non-zero, not
    repeating an earlier row); ``center`` the interior point (apex of the cones).
    Returns ``(facet_rows, facet_volumes, facet_centroids, hinge_pairs, hinge_volumes,
    hinge_centroids, volume, centroid)``; facets in row order, hinges as pairs i < j of
    local facet indices in lexicographic order.
    """
    m, n = A.shape
    V = P.shape[0]
    Wv = max((V + 63) // 64, 1)
    Nd = np.empty((n + 1, n, n))
    Ud = np.empty((n + 1, n, n))
    idx = np.empty(V, np.int64)
    x = np.empty(V)
    y = np.empty(V)
    G = np.empty((n, n))
    gy = np.empty(n)
    S = np.zeros((m, Wv), np.uint64)
    counts = np.zeros(m, np.int64)
    for i in range(m):
        if not active[i]:
            continue
        for v in range(V):
            t = b[i]
            for j in range(n):
                t -= A[i, j] * P[v, j]
            if abs(t) <= tol:
                set_bit(S[i], v)
                counts[i] += 1
    facet_list = np.empty(m, np.int64)
    f = 0
    for i in range(m):
        if counts[i] < n:
            continue
        if n >= 3:
            Nd[0, 0] = A[i]
            _basis(Nd[0], 1, Ud[0], n)
            if not _spans(P, idx, _members(S[i], V, idx), Nd[0], 1, Ud[0], tol, G, gy):
                continue
        facet_list[f] = i
        f += 1
    facets = facet_list[:f].copy()
    f_vol = np.zeros(f)
    f_cen = np.zeros((f, n))
    # hinges: facet pairs whose common vertices span an (n-2)-flat
    h_cap = max(f * (f - 1) // 2, 1)  # every pair at most
    pairs = np.empty((h_cap, 2), np.int64)
    h_vol = np.empty(h_cap)
    h_cen = np.empty((h_cap, n))
    h_mean = np.zeros((h_cap, n))
    h_bits = np.empty((h_cap, Wv), np.uint64)
    nh = 0
    off = np.empty(n)
    extent = 0.0  # the vertices' coordinate scale: their rounding is eps times it
    for v in range(V):
        for j in range(n):
            extent = max(extent, abs(P[v, j]))
    for i in range(f if n >= 2 else 0):
        ai = A[facets[i]]
        for j in range(i + 1, f):
            count = 0
            for w in range(Wv):
                h_bits[nh, w] = S[facets[i], w] & S[facets[j], w]
                count += popcount(h_bits[nh, w])
            if count < max(n - 1, 1):
                continue
            aj = A[facets[j]]
            cos, sin = _off_normal(ai, aj, off)
            tol_h = tol
            if sin < 0.1:
                # nearly parallel hyperplanes: a vertex within tol of both can lie up to
                # tol / sin(theta) off their common flat, and one on it is placed only
                # to eps * extent / sin(theta): keep the vertices within that of the
                # flat (distance^2 = (s_i^2 - 2 cos s_i s_j + s_j^2) / sin^2 from the
                # slacks), and allow that spread in the rank test
                tol_h = max(tol, 64.0 * 2.220446049250313e-16 * extent / max(sin, 1e-300))
                count = 0
                for v in range(V):
                    if not _has(h_bits[nh], v):
                        continue
                    s_i = b[facets[i]]
                    s_j = b[facets[j]]
                    for t in range(n):
                        s_i -= ai[t] * P[v, t]
                        s_j -= aj[t] * P[v, t]
                    dist2 = (s_i * s_i - 2.0 * cos * s_i * s_j + s_j * s_j) / max(
                        sin * sin, 1e-300)
                    if dist2 > tol_h * tol_h:
                        h_bits[nh, v >> 6] &= ~(_ONE << np.uint64(v & 63))
                    else:
                        count += 1
                if count < max(n - 1, 1):
                    continue
            if n >= 4:
                Nd[0, 0] = ai
                Nd[0, 1] = aj
                _basis(Nd[0], 2, Ud[0], n)
                p = _members(h_bits[nh], V, idx)
                if not _spans(P, idx, p, Nd[0], 2, Ud[0], tol_h, G, gy):
                    continue
            pairs[nh, 0] = i
            pairs[nh, 1] = j
            nh += 1
    # hinge measures
    if n >= 5:  # faces below the hinges, polygons kept in a table: a power of two,
        cap = 64  # at least four times the faces it may hold
        while cap < 4 * nh * f:
            cap *= 2
    else:
        cap = 1
    work = (Nd, Ud, np.empty((n + 1, f, Wv), np.uint64), np.empty((n + 1, f), np.int64),
            np.empty((n + 1, n)), np.empty((n + 1, n)), np.empty((n + 1, n)), idx, x, y,
            np.empty((cap, Wv), np.uint64), np.zeros(cap, np.bool_), np.empty(cap),
            np.empty((cap, n)), np.empty((n + 1, Wv), np.uint64),
            np.empty(n + 1, np.int64), np.empty(n + 1, np.int64), np.empty(n + 1))
    for e in range(nh):
        _mean_of(P, h_bits[e], h_mean[e])
        if n == 2:  # a point
            h_vol[e] = 1.0
            h_cen[e] = h_mean[e]
        elif n == 3:  # a segment: from the first common vertex to the farthest
            p = _members(h_bits[e], V, idx)
            far = 0
            best = -1.0
            for t in range(p):
                d2 = 0.0
                for i in range(n):
                    d2 += (P[idx[t], i] - P[idx[0], i]) ** 2
                if d2 > best:
                    best = d2
                    far = t
            h_vol[e] = np.sqrt(best)
            for i in range(n):
                h_cen[e, i] = (P[idx[0], i] + P[idx[far], i]) / 2
        else:
            Nd[0, 0] = A[facets[pairs[e, 0]]]
            Nd[0, 1] = A[facets[pairs[e, 1]]]
            _basis(Nd[0], 2, Ud[0], n)
            h_vol[e] = _face(P, h_bits[e], 2, A, S, facets, work, h_cen[e])
    # facet measures
    if n == 1:
        for i in range(f):
            _members(S[facets[i]], V, idx)
            f_vol[i] = 1.0
            f_cen[i] = P[idx[0]]
    elif n == 2:  # a segment: extent along the tangent
        for i in range(f):
            p = _members(S[facets[i]], V, idx)
            a = A[facets[i]]
            for t in range(p):
                x[t] = -a[1] * P[idx[t], 0] + a[0] * P[idx[t], 1]
            lo = np.argmin(x[:p])
            hi = np.argmax(x[:p])
            f_vol[i] = x[hi] - x[lo]
            f_cen[i] = (P[idx[lo]] + P[idx[hi]]) / 2
    elif n == 3:
        for i in range(f):
            Nd[0, 0] = A[facets[i]]
            _basis(Nd[0], 1, Ud[0], n)
            p = _members(S[facets[i]], V, idx)
            f_vol[i] = _polygon(P, idx, p, Ud[0], x, y, f_cen[i])
    else:  # cones from each facet's vertex mean over its hinges
        f_mean = np.zeros((f, n))
        for i in range(f):
            _mean_of(P, S[facets[i]], f_mean[i])
        nu = np.empty(n)
        for e in range(nh):
            for side in range(2):
                i = pairs[e, side]
                j = pairs[e, 1 - side]
                _, norm = _off_normal(A[facets[i]], A[facets[j]], nu)
                if norm < 1e-12:
                    continue
                height = 0.0
                for t in range(n):
                    height += nu[t] * (h_mean[e, t] - f_mean[i, t])
                cone = height / norm * h_vol[e] / (n - 1)
                f_vol[i] += cone
                for t in range(n):
                    f_cen[i, t] += cone * (f_mean[i, t]
                                           + (n - 1.0) / n * (h_cen[e, t] - f_mean[i, t]))
        for i in range(f):
            if f_vol[i] > 0:
                for t in range(n):
                    f_cen[i, t] /= f_vol[i]
            else:
                f_vol[i] = 0.0
                f_cen[i] = f_mean[i]
    # the cell: cones from the interior point over its facets
    volume = 0.0
    moment = np.zeros(n)
    for i in range(f):
        height = b[facets[i]] - np.sum(A[facets[i]] * center)
        cone = height * f_vol[i] / n
        volume += cone
        moment += cone * (center + n / (n + 1.0) * (f_cen[i] - center))
    centroid = moment / volume if volume > 0 else center.copy()
    return (facets, f_vol, f_cen, pairs[:nh].copy(), h_vol[:nh].copy(), h_cen[:nh].copy(),
            volume, centroid)


@njit(cache=True)
def _room(arr, need):  # pragma: no cover - compiled
    """``arr`` with at least ``need`` rows (grown by doubling, contents kept)."""
    if arr.shape[0] >= need:
        return arr
    grown = np.empty((max(need, 2 * arr.shape[0]),) + arr.shape[1:], arr.dtype)
    grown[: arr.shape[0]] = arr
    return grown


@njit(cache=True)
def batch_faces(A, b, active, ptr, verts, v_ptr, centers, status, tol):  # pragma: no cover
    """:func:`cell_faces` of every cell of a batch whose status is 0, concatenated:
    ``(f_ptr, facet_rows, facet_volumes, facet_centroids, h_ptr, hinge_pairs,
    hinge_volumes, hinge_centroids, volume, centroid)``."""
    c = ptr.size - 1
    n = A.shape[1]
    f_ptr = np.zeros(c + 1, np.int64)
    h_ptr = np.zeros(c + 1, np.int64)
    f_rows = np.empty(8 * c + 8, np.int64)
    f_vol = np.empty(8 * c + 8)
    f_cen = np.empty((8 * c + 8, n))
    h_pairs = np.empty((16 * c + 16, 2), np.int64)
    h_vol = np.empty(16 * c + 16)
    h_cen = np.empty((16 * c + 16, n))
    volume = np.zeros(c)
    centroid = np.zeros((c, n))
    for cell in range(c):
        f0, h0 = f_ptr[cell], h_ptr[cell]
        f_ptr[cell + 1], h_ptr[cell + 1] = f0, h0
        if status[cell] != 0:
            continue
        r0, r1 = ptr[cell], ptr[cell + 1]
        P = verts[v_ptr[cell] : v_ptr[cell + 1]]
        fr, fv, fc, hp, hv, hc, vol, cen = cell_faces(
            A[r0:r1].copy(), b[r0:r1].copy(), active[r0:r1].copy(), P.copy(),
            centers[cell].copy(), tol)
        f_rows = _room(f_rows, f0 + fr.size)
        f_vol = _room(f_vol, f0 + fr.size)
        f_cen = _room(f_cen, f0 + fr.size)
        f_rows[f0 : f0 + fr.size] = fr
        f_vol[f0 : f0 + fr.size] = fv
        f_cen[f0 : f0 + fr.size] = fc
        h_pairs = _room(h_pairs, h0 + hv.size)
        h_vol = _room(h_vol, h0 + hv.size)
        h_cen = _room(h_cen, h0 + hv.size)
        h_pairs[h0 : h0 + hv.size] = hp
        h_vol[h0 : h0 + hv.size] = hv
        h_cen[h0 : h0 + hv.size] = hc
        f_ptr[cell + 1] = f0 + fr.size
        h_ptr[cell + 1] = h0 + hv.size
        volume[cell] = vol
        centroid[cell] = cen
    return (f_ptr, f_rows[: f_ptr[c]].copy(), f_vol[: f_ptr[c]].copy(),
            f_cen[: f_ptr[c]].copy(), h_ptr, h_pairs[: h_ptr[c]].copy(),
            h_vol[: h_ptr[c]].copy(), h_cen[: h_ptr[c]].copy(), volume, centroid)
