"""Compiled max-pool cutting of the exact 2-D slice: the arg-max pieces of every window.

On a polygon whose earlier patterns are fixed, the entries of each max-pool window are
affine in ``(s, t)``; the pattern of the window is the position of its maximum. The
polygon is cut, window by window, into the pieces where that position is fixed: the piece
of entry ``i`` is the intersection of the half-planes ``z_i >= z_j`` over the window's other
entries. Float64, the splitting rule of :mod:`cellgeom.nn.slice_kernel` (vertices within
``tol`` of a line belong to both sides), numba with ``cache=True``.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .slice_kernel import _area_centroid, _clean_in_place, _split_into

__all__ = ["cut_windows"]


@njit(cache=True)
def _window_cut_first(V, n, W, valid, cand, nc, tol_rel):
    """Position in ``cand[:nc]`` of the first window whose arg-max changes over ``V[:n]``
    (-1 if none), and the positions of all such windows (``cuts``, count).

    A window does not cut when one of its entries is within ``tol_rel * scale`` of the
    maximum at every vertex (``scale`` the largest |value| of the window's entries at the
    vertices); by convexity it is then the maximum on the whole polygon.
    """
    cuts = np.empty(nc, dtype=np.int64)
    m = 0
    K = W.shape[1]
    F = np.empty((n, K))
    top = np.empty(n)
    for ci in range(nc):
        w = cand[ci]
        scale = 0.0
        for i in range(n):
            t = -np.inf
            for j in range(K):
                if valid[w, j]:
                    f = V[i, 0] * W[w, j, 0] + V[i, 1] * W[w, j, 1] + W[w, j, 2]
                    F[i, j] = f
                    t = max(t, f)
                    scale = max(scale, abs(f))
            top[i] = t
        steady = False
        for j in range(K):
            if not valid[w, j]:
                continue
            ok = True
            for i in range(n):
                if F[i, j] < top[i] - tol_rel * scale:
                    ok = False
                    break
            if ok:
                steady = True
                break
        if not steady:
            cuts[m] = w
            m += 1
    return cuts[:m]


@njit(cache=True)
def cut_windows(verts, starts, W, valid, tol, tol_rel, area_min):
    """Cut every polygon into the pieces where the arg-max of each max-pool window is fixed.

    Parameters
    ----------
    verts, starts : the polygons, as for :func:`cut_polygons`
    W : (P, n_windows, K, 3) float64, entry ``j`` of window ``w`` on polygon ``p`` is
        ``a s + b t + c``
    valid : (n_windows, K) bool, real (not padding) entries
    tol : float, length tolerance of the cuts; tol_rel : relative tolerance of a maximum
    area_min : float, pieces of area ``<= area_min`` are dropped

    Returns
    -------
    out_verts (V', 2), out_starts (Q + 1,), parent (Q,), area (Q,), centroid (Q, 2)

    Notes
    -----
    Depth first over the windows that cut a piece (only those can cut its sub-pieces):
    the piece of entry ``i`` of the first cutting window is the intersection of the
    half-planes ``z_i - z_j >= 0`` over the other entries ``j``; entries equal everywhere
    go to the first, as torch's max-pool does.
    """
    P = starts.shape[0] - 1
    nw = W.shape[1]
    K = W.shape[2]
    ov_list = []
    parents = []
    areas = []
    cents = []
    all_windows = np.arange(nw)
    for p in range(P):
        V0 = verts[starts[p]:starts[p + 1]].copy()
        stackV = [V0]
        stackC = [all_windows]
        while len(stackV) > 0:
            V = stackV.pop()
            cand = stackC.pop()
            n = V.shape[0]
            cuts = _window_cut_first(V, n, W[p], valid, cand, cand.shape[0], tol_rel)
            if cuts.shape[0] == 0:
                Vc = V.copy()
                n = _clean_in_place(Vc, n, tol)
                a, cx, cy = _area_centroid(Vc, n)
                if a > area_min:
                    ov_list.append(Vc[:n].copy())
                    parents.append(p)
                    areas.append(a)
                    cents.append((cx, cy))
                continue
            w = cuts[0]
            rest = cuts[1:].copy()
            for i in range(K):
                if not valid[w, i]:
                    continue
                piece = V.copy()
                m = n
                for j in range(K):
                    if j == i or not valid[w, j] or m < 3:
                        continue
                    g0 = W[p, w, i, 0] - W[p, w, j, 0]
                    g1 = W[p, w, i, 1] - W[p, w, j, 1]
                    g2 = W[p, w, i, 2] - W[p, w, j, 2]
                    norm = np.hypot(g0, g1)
                    if norm == 0:
                        if g2 < 0 or (g2 == 0 and j < i):
                            m = 0
                        continue
                    f = np.empty(m)
                    for k in range(m):
                        f[k] = (piece[k, 0] * g0 + piece[k, 1] * g1 + g2) / norm
                    neg = np.empty((2 * m, 2))
                    pos = np.empty((2 * m, 2))
                    _, n_pos = _split_into(piece, m, f, tol, neg, pos)
                    piece = pos
                    m = n_pos
                if m >= 3:
                    stackV.append(piece[:m].copy())
                    stackC.append(rest)
    Q = len(parents)
    total = 0
    for q in range(Q):
        total += ov_list[q].shape[0]
    ov = np.empty((total, 2))
    st = np.zeros(Q + 1, dtype=np.int64)
    par = np.empty(Q, dtype=np.int64)
    area = np.empty(Q)
    cen = np.empty((Q, 2))
    for q in range(Q):
        k = ov_list[q].shape[0]
        ov[st[q]:st[q] + k] = ov_list[q]
        st[q + 1] = st[q] + k
        par[q] = parents[q]
        area[q] = areas[q]
        cen[q, 0] = cents[q][0]
        cen[q, 1] = cents[q][1]
    return ov, st, par, area, cen
