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
def _split_into(V, n, f, tol, neg, pos):
    """Parts ``{f <= 0}`` (into ``neg``) and ``{f >= 0}`` (into ``pos``) of the convex
    polygon ``V[:n]``; returns their vertex counts. Vertices within ``tol`` of the line go
    to both parts, crossing points of edges are added to both."""
    nn_, np_ = 0, 0
    for i in range(n):
        j = i + 1 if i + 1 < n else 0
        fi, fj = f[i], f[j]
        if fi <= tol:
            neg[nn_, 0] = V[i, 0]
            neg[nn_, 1] = V[i, 1]
            nn_ += 1
        if fi >= -tol:
            pos[np_, 0] = V[i, 0]
            pos[np_, 1] = V[i, 1]
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
    return nn_, np_


@njit(cache=True)
def _clean_in_place(V, n, tol):
    """Drop, one at a time, the first vertex of ``V[:n]`` within ``tol`` of the line through
    its neighbours (or of its predecessor); returns the new count (at least 3 kept)."""
    tol2 = tol * tol
    while n > 3:
        drop = -1
        for i in range(n):
            h = i - 1 if i > 0 else n - 1
            q = i + 1 if i + 1 < n else 0
            bx, by = V[q, 0] - V[h, 0], V[q, 1] - V[h, 1]
            ex, ey = V[i, 0] - V[h, 0], V[i, 1] - V[h, 1]
            dist = bx * ey - by * ex
            # |cross| <= tol |base| and |V_i - V_h| <= tol, squared (no hypot per vertex)
            if dist * dist <= tol2 * (bx * bx + by * by) or ex * ex + ey * ey <= tol2:
                drop = i
                break
        if drop < 0:
            break
        for i in range(drop, n - 1):
            V[i, 0] = V[i + 1, 0]
            V[i, 1] = V[i + 1, 1]
        n -= 1
    return n


@njit(cache=True)
def _area_centroid(V, n):
    # in coordinates relative to the first vertex: with raw ones the cross products of a
    # polygon far smaller than its distance from 0 cancel, and a 1e-5 triangle near
    # (-0.6, -1.4) got its centroid 3e-7 outside itself
    x0, y0 = V[0, 0], V[0, 1]
    a, cx, cy = 0.0, 0.0, 0.0
    for i in range(n):
        j = i + 1 if i + 1 < n else 0
        xi, yi, xj, yj = V[i, 0] - x0, V[i, 1] - y0, V[j, 0] - x0, V[j, 1] - y0
        cr = xi * yj - xj * yi
        a += cr
        cx += (xi + xj) * cr
        cy += (yi + yj) * cr
    a *= 0.5
    if a != 0.0:
        return a, x0 + cx / (6 * a), y0 + cy / (6 * a)
    return a, V[:n, 0].mean(), V[:n, 1].mean()


@njit(cache=True)
def _disk(V, n):
    """A disk holding the polygon ``V[:n]``: centre (vertex mean), radius, and the size of
    the centre's coordinates (for the rounding margin of :func:`_side`)."""
    cx, cy = 0.0, 0.0
    for i in range(n):
        cx += V[i, 0]
        cy += V[i, 1]
    cx /= n
    cy /= n
    r2 = 0.0
    for i in range(n):
        dx, dy = V[i, 0] - cx, V[i, 1] - cy
        r2 = max(r2, dx * dx + dy * dy)
    return cx, cy, np.sqrt(r2), abs(cx) + abs(cy)


@njit(cache=True)
def _side(line, cx, cy, R, size, tol):
    """+1 if every point of the disk is more than ``tol`` above the unit-normed line, -1 if
    more than ``tol`` below, 0 if the disk does not decide (then the vertices do). The
    margin covers the rounding of the vertices' own values, so the answer is the one the
    vertex test would give: +1 means no cut and a far vertex above, -1 no cut, below."""
    fc = cx * line[0] + cy * line[1] + line[2]
    slack = R * (1.0 + 1e-9) + tol + 1e-12 * (size + R + abs(line[2]))
    if fc > slack:
        return 1
    if fc < -slack:
        return -1
    return 0


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

    Notes
    -----
    Depth first, without allocation per piece: the piece being cut lives in a work buffer,
    the ``{f >= 0}`` parts wait on a stack of fixed slots (a piece of an ``n``-gon cut by
    ``m`` lines has at most ``n + m`` vertices, and the stack holds at most ``m + 1``
    pieces, their next line indices strictly increasing upwards); outputs grow by doubling.
    """
    P = starts.shape[0] - 1
    U = coeffs.shape[1]
    nb = breaks.shape[0]
    L = U * nb
    vcap = max(16, 4 * verts.shape[0])
    qcap = max(16, 4 * P)
    ov = np.empty((vcap, 2))
    ostart = np.zeros(qcap + 1, dtype=np.int64)
    par = np.empty(qcap, dtype=np.int64)
    pattern = np.empty((qcap, U), dtype=np.int16)
    area = np.empty(qcap)
    cen = np.empty((qcap, 2))
    lines = np.empty((L, 3))
    live = np.empty(L, dtype=np.bool_)
    cross = np.empty(L, dtype=np.int64)
    nmax = 3
    for p in range(P):
        nmax = max(nmax, starts[p + 1] - starts[p])
    depth_cap = min(L, 32) + 1  # grown below when a polygon has more crossing lines
    kcap = nmax + depth_cap + 1  # vertices of any piece
    stackV = np.empty((depth_cap, kcap, 2))
    stackN = np.empty(depth_cap, dtype=np.int64)
    stackK = np.empty(depth_cap, dtype=np.int64)
    stackS = np.empty((depth_cap, U), dtype=np.int16)
    cur = np.empty((kcap, 2))
    tmp = np.empty((kcap, 2))
    f = np.empty(kcap)
    pat = np.empty(U, dtype=np.int16)
    nv, Q = 0, 0
    for p in range(P):
        s0 = starts[p]
        n0 = starts[p + 1] - s0
        # unit-normed lines of this polygon: rows (a, b, c - t_j), line index k * nb + j
        for k in range(U):
            a, b, c = coeffs[p, k, 0], coeffs[p, k, 1], coeffs[p, k, 2]
            nrm = np.sqrt(a * a + b * b)  # hypot costs a sixth of the kernel; it is
            if not 1e-150 < nrm < 1e150:  # needed only where the squares under/overflow
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
        for k in range(U):
            stackS[0, k] = 0
        nc = 0
        dx, dy, dR, dsize = _disk(verts[s0:s0 + n0], n0)
        for r in range(L):
            k = r // nb
            if not live[r]:
                if lines[r, 2] > 0:
                    stackS[0, k] += 1
                continue
            side = _side(lines[r], dx, dy, dR, dsize, tol)
            if side != 0:
                if side > 0:
                    stackS[0, k] += 1
                continue
            lo, hi, far = np.inf, -np.inf, 0.0
            for i in range(n0):
                fi = verts[s0 + i, 0] * lines[r, 0] + verts[s0 + i, 1] * lines[r, 1] + lines[r, 2]
                lo = min(lo, fi)
                hi = max(hi, fi)
                if abs(fi) > abs(far):
                    far = fi
            if lo < -tol and hi > tol:
                cross[nc] = r
                nc += 1
            elif far > 0:
                stackS[0, k] += 1
        if nc + 1 > depth_cap or nmax + nc + 2 > kcap:  # the stack is empty here
            depth_cap = max(nc + 1, depth_cap)
            kcap = max(nmax + nc + 2, kcap)
            stackV = np.empty((depth_cap, kcap, 2))
            stackN = np.empty(depth_cap, dtype=np.int64)
            stackK = np.empty(depth_cap, dtype=np.int64)
            base = stackS[0].copy()
            stackS = np.empty((depth_cap, U), dtype=np.int16)
            stackS[0] = base
            cur = np.empty((kcap, 2))
            tmp = np.empty((kcap, 2))
            f = np.empty(kcap)
        for i in range(n0):
            stackV[0, i, 0] = verts[s0 + i, 0]
            stackV[0, i, 1] = verts[s0 + i, 1]
        stackN[0] = n0
        stackK[0] = 0
        depth = 1
        while depth > 0:
            depth -= 1
            n = stackN[depth]
            ci = stackK[depth]
            for i in range(n):
                cur[i, 0] = stackV[depth, i, 0]
                cur[i, 1] = stackV[depth, i, 1]
            for k in range(U):
                pat[k] = stackS[depth, k]
            done = False
            dx, dy, dR, dsize = _disk(cur, n)
            while ci < nc:
                r = cross[ci]
                k = r // nb
                side = _side(lines[r], dx, dy, dR, dsize, tol)
                if side != 0:
                    if side > 0:
                        pat[k] += 1
                    ci += 1
                    continue
                lo, hi, far = np.inf, -np.inf, 0.0
                for i in range(n):
                    fi = cur[i, 0] * lines[r, 0] + cur[i, 1] * lines[r, 1] + lines[r, 2]
                    f[i] = fi
                    lo = min(lo, fi)
                    hi = max(hi, fi)
                    if abs(fi) > abs(far):
                        far = fi
                if lo < -tol and hi > tol:
                    if 2 * n > kcap:  # only if rounding made a piece non-convex
                        kcap = 2 * n
                        stackV = _grow_stack(stackV, kcap)
                        tmp = np.empty((kcap, 2))
                        c2 = np.empty((kcap, 2))
                        c2[:n] = cur[:n]
                        cur = c2
                        f2 = np.empty(kcap)
                        f2[:n] = f[:n]
                        f = f2
                    n_neg, n_pos = _split_into(cur, n, f, tol, tmp, stackV[depth])
                    if n_pos >= 3:  # waits in the slot just freed
                        stackN[depth] = n_pos
                        stackK[depth] = ci + 1
                        for kk in range(U):
                            stackS[depth, kk] = pat[kk]
                        stackS[depth, k] += 1
                        depth += 1
                    if n_neg < 3:
                        done = True
                        break
                    cur, tmp = tmp, cur
                    n = n_neg
                    dx, dy, dR, dsize = _disk(cur, n)
                elif far > 0:
                    pat[k] += 1
                ci += 1
            if done:
                continue
            n = _clean_in_place(cur, n, tol)
            a, cx, cy = _area_centroid(cur, n)
            if a <= area_min:
                continue
            if nv + n > ov.shape[0]:
                grown = np.empty((2 * (nv + n), 2))
                grown[:nv] = ov[:nv]
                ov = grown
            if Q + 1 > par.shape[0]:
                q2 = 2 * (Q + 1)
                ostart = _grow1(ostart, q2 + 1, Q + 1)
                par = _grow1(par, q2, Q)
                area = _grow1(area, q2, Q)
                p2 = np.empty((q2, U), dtype=np.int16)
                p2[:Q] = pattern[:Q]
                pattern = p2
                c2 = np.empty((q2, 2))
                c2[:Q] = cen[:Q]
                cen = c2
            ov[nv:nv + n] = cur[:n]
            nv += n
            ostart[Q + 1] = nv
            par[Q] = p
            pattern[Q] = pat
            area[Q] = a
            cen[Q, 0] = cx
            cen[Q, 1] = cy
            Q += 1
    return (ov[:nv].copy(), ostart[:Q + 1].copy(), par[:Q].copy(), pattern[:Q].copy(),
            area[:Q].copy(), cen[:Q].copy())


@njit(cache=True)
def _grow_stack(stack, kcap):
    out = np.empty((stack.shape[0], kcap, 2))
    out[:, :stack.shape[1]] = stack
    return out


@njit(cache=True)
def _grow1(a, size, used):
    out = np.empty(size, dtype=a.dtype)
    out[:used] = a[:used]
    return out


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
        for a in range(k):
            for c in range(a + 1, k):
                for d in range(c + 1, k):
                    # rows (N_i, 1) . (x, y, r) = b_i, by Cramer's rule
                    ax, ay, cx, cy, dx, dy = N[a, 0], N[a, 1], N[c, 0], N[c, 1], N[d, 0], N[d, 1]
                    m0, m1, m2 = cy - dy, cx - dx, cx * dy - cy * dx
                    det = ax * m0 - ay * m1 + m2
                    if abs(det) < 1e-14:
                        continue
                    ba, bc, bd = b[a], b[c], b[d]
                    r = (ax * (cy * bd - bc * dy) - ay * (cx * bd - bc * dx)
                         + ba * m2) / det
                    if r <= best:
                        continue
                    x = (ba * m0 - ay * (bc - bd) + (bc * dy - cy * bd)) / det
                    y = (ax * (bc - bd) - ba * m1 + (cx * bd - bc * dx)) / det
                    ok = True
                    for i in range(k):
                        if N[i, 0] * x + N[i, 1] * y + r > b[i] + 1e-12 * (1.0 + abs(b[i])):
                            ok = False
                            break
                    if ok:
                        best, bx, by = r, x, y
        centers[p, 0], centers[p, 1] = bx, by
        radii[p] = max(best, 0.0)
    return centers, radii
