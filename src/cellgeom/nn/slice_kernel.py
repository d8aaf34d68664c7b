"""Compiled kernel of the exact 2-D slice: cut many convex polygons by their own lines at once.

For every polygon ``p`` of a layer's input partition, the layer's units are affine functions
``z_k(s, t) = a_k s + b_k t + c_k`` on the polygon (their coefficients depend on the
polygon's patterns of the earlier layers). :func:`cut_polygons` splits each polygon by every
line ``z_k = t_j`` (``t_j`` the activation's breakpoints), in float64, and returns the pieces,
their parents, their areas and centroids, and the piece index ``#{j : z_k > t_j}`` of every
unit on every piece (read at the vertex farthest from the line, robust on thin pieces).

Splitting rule (as the NumPy reference in :mod:`cellgeom.nn.slices`): a line cuts a piece
only if some vertex lies more than ``tol`` below it and some more than ``tol`` above; vertices
within ``tol`` belong to both sides, so no sliver thinner than ``tol`` is created. Compiled
with numba (``cache=True``: compiled once per machine, also in process-pool workers).
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["cut_polygons"]


@njit(cache=True)
def _split(V, f, tol):
    """Parts ``{f <= 0}`` and ``{f >= 0}`` of the convex polygon V (k, 2)."""
    k = V.shape[0]
    neg = np.empty((2 * k, 2))
    pos = np.empty((2 * k, 2))
    nn_, np_ = 0, 0
    for i in range(k):
        j = (i + 1) % k
        fi, fj = f[i], f[j]
        if fi <= tol:
            neg[nn_] = V[i]
            nn_ += 1
        if fi >= -tol:
            pos[np_] = V[i]
            np_ += 1
        if (fi < -tol and fj > tol) or (fi > tol and fj < -tol):
            w = fi / (fi - fj)
            x = V[i, 0] + w * (V[j, 0] - V[i, 0])
            y = V[i, 1] + w * (V[j, 1] - V[i, 1])
            neg[nn_, 0] = x
            neg[nn_, 1] = y
            pos[np_, 0] = x
            pos[np_, 1] = y
            nn_ += 1
            np_ += 1
    return neg[:nn_].copy(), pos[:np_].copy()


@njit(cache=True)
def _clean(V, tol):
    """Drop vertices within ``tol`` of the line through their neighbours (and duplicates)."""
    while V.shape[0] > 3:
        k = V.shape[0]
        drop = -1
        for i in range(k):
            p = V[(i - 1) % k]
            q = V[(i + 1) % k]
            bx, by = q[0] - p[0], q[1] - p[1]
            blen = np.hypot(bx, by)
            dist = abs(bx * (V[i, 1] - p[1]) - by * (V[i, 0] - p[0]))
            if dist <= tol * blen or np.hypot(V[i, 0] - p[0], V[i, 1] - p[1]) <= tol:
                drop = i
                break
        if drop < 0:
            break
        out = np.empty((k - 1, 2))
        out[:drop] = V[:drop]
        out[drop:] = V[drop + 1:]
        V = out
    return V


@njit(cache=True)
def _area_centroid(V):
    a, cx, cy = 0.0, 0.0, 0.0
    k = V.shape[0]
    for i in range(k):
        j = (i + 1) % k
        cr = V[i, 0] * V[j, 1] - V[j, 0] * V[i, 1]
        a += cr
        cx += (V[i, 0] + V[j, 0]) * cr
        cy += (V[i, 1] + V[j, 1]) * cr
    a *= 0.5
    if a != 0.0:
        return a, cx / (6 * a), cy / (6 * a)
    return a, V[:, 0].mean(), V[:, 1].mean()


@njit(cache=True)
def cut_polygons(verts, starts, coeffs, breaks, tol, area_min):
    """Cut every polygon by the lines of its units.

    Parameters
    ----------
    verts : (V, 2) float64, counter-clockwise vertices of all polygons, concatenated
    starts : (P + 1,) int64, polygon ``p`` is ``verts[starts[p]:starts[p + 1]]``
    coeffs : (P, U, 3) float64, ``z_k = a s + b t + c`` of every unit on every polygon
    breaks : (nb,) float64, breakpoints of the activation (sorted)
    tol : float, length tolerance
    area_min : float, pieces of area ``<= area_min`` are dropped

    Returns
    -------
    out_verts (V', 2), out_starts (Q + 1,), parent (Q,), pattern (Q, U) int16, area (Q,),
    centroid (Q, 2)
    """
    P = starts.shape[0] - 1
    U = coeffs.shape[1]
    nb = breaks.shape[0]
    L = U * nb
    cap = max(16, 4 * verts.shape[0])
    ov = np.empty((cap, 2))
    ostart = [0]
    parents = []
    pats = []
    areas = []
    cents = []
    nv = 0
    for p in range(P):
        V0 = verts[starts[p]:starts[p + 1]]
        # unit-normed lines of this polygon: rows (a, b, c - t_j), line index k * nb + j
        lines = np.empty((L, 3))
        live = np.empty(L, dtype=np.bool_)
        for k in range(U):
            a, b, c = coeffs[p, k, 0], coeffs[p, k, 1], coeffs[p, k, 2]
            nrm = np.hypot(a, b)
            for j in range(nb):
                r = k * nb + j
                if nrm > 0:
                    lines[r, 0] = a / nrm
                    lines[r, 1] = b / nrm
                    lines[r, 2] = (c - breaks[j]) / nrm
                    live[r] = True
                else:
                    lines[r, 0] = 0.0
                    lines[r, 1] = 0.0
                    lines[r, 2] = c - breaks[j]
                    live[r] = False
        # screen: only lines crossing the polygon can cut its pieces; the others give
        # every piece the same piece index, read once here
        base = np.zeros(U, dtype=np.int16)
        cross = np.empty(L, dtype=np.int64)
        nc = 0
        n0 = V0.shape[0]
        for r in range(L):
            k = r // nb
            if not live[r]:
                if lines[r, 2] > 0:
                    base[k] += 1
                continue
            lo, hi, far = np.inf, -np.inf, 0.0
            for i in range(n0):
                fi = V0[i, 0] * lines[r, 0] + V0[i, 1] * lines[r, 1] + lines[r, 2]
                lo = min(lo, fi)
                hi = max(hi, fi)
                if abs(fi) > abs(far):
                    far = fi
            if lo < -tol and hi > tol:
                cross[nc] = r
                nc += 1
            elif far > 0:
                base[k] += 1
        f = np.empty(max(8, 2 * n0 + 2 * nc + 4))
        stackV = [V0.copy()]
        stackK = [0]
        stackS = [base]
        while len(stackV) > 0:
            V = stackV.pop()
            ci = stackK.pop()
            pat = stackS.pop()
            done = False
            while ci < nc:
                r = cross[ci]
                k = r // nb
                n = V.shape[0]
                if n > f.shape[0]:
                    f = np.empty(2 * n)
                lo, hi, far = np.inf, -np.inf, 0.0
                for i in range(n):
                    f[i] = V[i, 0] * lines[r, 0] + V[i, 1] * lines[r, 1] + lines[r, 2]
                    lo = min(lo, f[i])
                    hi = max(hi, f[i])
                    if abs(f[i]) > abs(far):
                        far = f[i]
                if lo < -tol and hi > tol:
                    neg, pos = _split(V, f[:n], tol)
                    if pos.shape[0] >= 3:
                        s2 = pat.copy()
                        s2[k] += 1
                        stackV.append(pos)
                        stackK.append(ci + 1)
                        stackS.append(s2)
                    if neg.shape[0] < 3:
                        done = True
                        break
                    V = neg
                elif far > 0:
                    pat[k] += 1
                ci += 1
            if done:
                continue
            V = _clean(V, tol)
            a, cx, cy = _area_centroid(V)
            if a <= area_min:
                continue
            n = V.shape[0]
            if nv + n > ov.shape[0]:
                grown = np.empty((2 * (nv + n), 2))
                grown[:nv] = ov[:nv]
                ov = grown
            ov[nv:nv + n] = V
            nv += n
            ostart.append(nv)
            parents.append(p)
            pats.append(pat)
            areas.append(a)
            cents.append((cx, cy))
    Q = len(parents)
    pattern = np.empty((Q, U), dtype=np.int16)
    area = np.empty(Q)
    cen = np.empty((Q, 2))
    par = np.empty(Q, dtype=np.int64)
    for q in range(Q):
        pattern[q] = pats[q]
        area[q] = areas[q]
        cen[q, 0] = cents[q][0]
        cen[q, 1] = cents[q][1]
        par[q] = parents[q]
    st = np.empty(Q + 1, dtype=np.int64)
    for q in range(Q + 1):
        st[q] = ostart[q]
    return ov[:nv].copy(), st, par, pattern, area, cen


@njit(cache=True)
def chebyshev_polygons(verts, starts):
    """Largest inscribed circle of every convex polygon: centres (P, 2) and radii (P,).

    The Chebyshev LP ``max r : n_i . x + r <= b_i`` in the plane has an optimal vertex
    where three edge constraints are tight (two for a strip, which cannot be bounded here):
    every triple of edges is solved and the feasible one of largest radius kept, exactly.
    """
    P = starts.shape[0] - 1
    centers = np.empty((P, 2))
    radii = np.empty(P)
    for p in range(P):
        V = verts[starts[p]:starts[p + 1]]
        k = V.shape[0]
        N = np.empty((k, 2))
        b = np.empty(k)
        for i in range(k):
            j = (i + 1) % k
            ex, ey = V[j, 0] - V[i, 0], V[j, 1] - V[i, 1]
            ln = np.hypot(ex, ey)
            N[i, 0], N[i, 1] = ey / ln, -ex / ln  # outward for counter-clockwise order
            b[i] = N[i, 0] * V[i, 0] + N[i, 1] * V[i, 1]
        best, bx, by = -np.inf, V[:, 0].mean(), V[:, 1].mean()
        M = np.empty((3, 3))
        rhs = np.empty(3)
        for a in range(k):
            for c in range(a + 1, k):
                for d in range(c + 1, k):
                    M[0, 0], M[0, 1], M[0, 2] = N[a, 0], N[a, 1], 1.0
                    M[1, 0], M[1, 1], M[1, 2] = N[c, 0], N[c, 1], 1.0
                    M[2, 0], M[2, 1], M[2, 2] = N[d, 0], N[d, 1], 1.0
                    det = np.linalg.det(M)
                    if abs(det) < 1e-14:
                        continue
                    rhs[0], rhs[1], rhs[2] = b[a], b[c], b[d]
                    sol = np.linalg.solve(M, rhs)
                    if sol[2] <= best:
                        continue
                    ok = True
                    for i in range(k):
                        if N[i, 0] * sol[0] + N[i, 1] * sol[1] + sol[2] > b[i] + 1e-12 * (
                                1.0 + abs(b[i])):
                            ok = False
                            break
                    if ok:
                        best, bx, by = sol[2], sol[0], sol[1]
        centers[p, 0], centers[p, 1] = bx, by
        radii[p] = max(best, 0.0)
    return centers, radii
