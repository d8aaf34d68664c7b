"""The compiled slice kernels on their own: exact Chebyshev discs of convex polygons, polygon
cutting that tiles each polygon with pieces of constant pattern, max-pool window cutting, and
the one-thread context.

Oracles: the Chebyshev LP solved by HiGHS (scipy.optimize.linprog); the polygons' shoelace
areas; each piece's pattern counted at points strictly inside it; the NumPy per-polygon
max-pool cutting below (the previous implementation); torch's thread setting.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import linprog
from scipy.spatial import ConvexHull

from cellgeom.nn.pool_kernel import cut_windows
from cellgeom.nn.slice_kernel import chebyshev_polygons, cut_polygons
from cellgeom.nn.threads import one_torch_thread


def _convex_polygons(n, seed):
    rng = np.random.default_rng(seed)
    polys = []
    for _ in range(n):
        P = rng.normal(size=(rng.integers(3, 12), 2)) * rng.uniform(0.01, 10) + rng.normal(
            size=2) * 5
        polys.append(P[ConvexHull(P).vertices])  # counter-clockwise
    starts = np.concatenate([[0], np.cumsum([len(p) for p in polys])]).astype(np.int64)
    return np.vstack(polys), starts


def _shoelace(V):
    return 0.5 * np.sum(V[:, 0] * np.roll(V[:, 1], -1) - np.roll(V[:, 0], -1) * V[:, 1])


def test_chebyshev_discs_equal_the_lp_optimum():
    """Oracle: max r s.t. n_i . x + r <= b_i, solved by HiGHS; the centre is feasible."""
    verts, starts = _convex_polygons(60, 0)
    centers, radii = chebyshev_polygons(verts, starts)
    for p in range(len(starts) - 1):
        V = verts[starts[p]:starts[p + 1]]
        edge = np.roll(V, -1, axis=0) - V
        N = np.column_stack([edge[:, 1], -edge[:, 0]]) / np.hypot(*edge.T)[:, None]
        b = np.einsum("ij,ij->i", N, V)
        lp = linprog([0, 0, -1], A_ub=np.column_stack([N, np.ones(len(N))]), b_ub=b,
                     bounds=[(None, None)] * 3, method="highs")
        scale = np.abs(V).max()
        assert radii[p] == pytest.approx(-lp.fun, rel=1e-9, abs=1e-12 * scale)
        assert (N @ centers[p] + radii[p] <= b + 1e-9 * scale).all()


@pytest.mark.parametrize("breaks", [np.zeros(1), np.array([-0.3, 0.4])])
def test_cut_pieces_tile_each_polygon_with_the_pattern_at_their_points(breaks):
    """Oracle: areas sum to each parent's shoelace area; the pattern of each piece is the
    count #{j : z_k > t_j} at random points strictly inside it."""
    rng = np.random.default_rng(1)
    verts, starts = _convex_polygons(25, 1)
    P, U = len(starts) - 1, 9
    coeffs = rng.normal(size=(P, U, 3))
    coeffs[:, :, 2] = -np.einsum("pud,pd->pu", coeffs[:, :, :2],
                                 np.array([verts[starts[p]:starts[p + 1]].mean(0)
                                           for p in range(P)])) + rng.normal(size=(P, U))
    coeffs[:, 0, :2] = 0.0  # a unit constant on each polygon
    ov, os_, parent, pattern, area, cen = cut_polygons(verts, starts, coeffs, breaks, 1e-11, 0.0)
    parents_area = np.array([_shoelace(verts[starts[p]:starts[p + 1]]) for p in range(P)])
    np.testing.assert_allclose(np.bincount(parent, weights=area, minlength=P), parents_area,
                               rtol=1e-10)
    assert len(parent) > 3 * P
    for q in range(len(parent)):
        V = ov[os_[q]:os_[q + 1]]
        assert _shoelace(V) == pytest.approx(area[q], rel=1e-12)
        pts = rng.dirichlet(np.ones(len(V)), size=4) @ V
        z = pts @ coeffs[parent[q], :, :2].T + coeffs[parent[q], :, 2]
        count = (z[:, :, None] > breaks).sum(axis=2)
        assert (count == pattern[q]).all()


def test_one_torch_thread_restores_the_setting_even_on_error():
    """Oracle: torch.get_num_threads inside and after the block."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError):
            with one_torch_thread():
                assert torch.get_num_threads() == 1
                raise RuntimeError("inside")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


# ------------------------------------------------- NumPy reference of max-pool cutting
def _split(V: np.ndarray, f: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Cut convex polygon ``V`` (k, 2) by the line ``f = 0`` (f: signed distances at vertices).

    Returns the parts ``{f <= 0}`` and ``{f >= 0}``; vertices within ``tol`` of
    the line belong to both, so no sliver thinner than ``tol`` is ever created.
    """
    k = len(V)
    j = np.r_[1:k, 0]
    fj = f[j]
    cross = ((f < -tol) & (fj > tol)) | ((f > tol) & (fj < -tol))
    w = f / np.where(cross, f - fj, 1.0)
    cand = np.empty((2 * k, 2))
    cand[0::2] = V
    cand[1::2] = V + w[:, None] * (V[j] - V)
    neg = np.empty(2 * k, dtype=bool)
    pos = np.empty(2 * k, dtype=bool)
    neg[0::2], pos[0::2] = f <= tol, f >= -tol
    neg[1::2] = pos[1::2] = cross
    return cand[neg], cand[pos]


def _window_cuts(F: np.ndarray, valid: np.ndarray, tol_rel: float) -> np.ndarray:
    """Whether the arg-max of each window changes over a polygon.

    F : (k_vertices, n_windows, K) window values at the vertices; valid : (n_windows, K)
    marks real (not padding) entries. A window does not cut when one entry is within
    tolerance of the maximum at every vertex (by convexity, then on the whole polygon).
    """
    F = np.where(valid, F, -np.inf)
    top = F.max(axis=-1, keepdims=True)
    scale = np.where(valid, np.abs(F), 0.0).max(axis=(0, 2), keepdims=True)
    near = F >= top - tol_rel * scale
    return ~near.all(axis=0).any(axis=-1)


def _cut_by_windows(V, windows: np.ndarray, valid: np.ndarray, tol: float,
                    tol_rel: float) -> list[np.ndarray]:
    """Cut V into the regions of constant arg-max of each window.

    windows : (n_w, K, 3) affine functions ``(a_s, a_t, b)`` of the window entries.
    Exactly equal entries are resolved to the first, as torch does.
    """
    out, stack = [], [(V, windows, valid)]
    while stack:
        V, windows, valid = stack.pop()
        F = np.einsum("kd,wjd->kwj", V, windows[..., :2]) + windows[..., 2]
        cuts = _window_cuts(F, valid, tol_rel)
        if not cuts.any():
            out.append(V)
            continue
        idx = np.flatnonzero(cuts)
        W, ok = windows[idx[0]], np.flatnonzero(valid[idx[0]])
        rest = (windows[idx[1:]], valid[idx[1:]])
        for i in ok:
            piece = V
            for j in ok:
                if j == i or len(piece) < 3:
                    continue
                g = W[i] - W[j]  # the region of entry i has g >= 0 for every j
                norm = math.hypot(g[0], g[1])
                if norm == 0:
                    if g[2] < 0 or (g[2] == 0 and j < i):
                        piece = piece[:0]
                    continue
                _, piece = _split(piece, (piece @ g[:2] + g[2]) / norm, tol)
            if len(piece) >= 3:
                stack.append((piece, *rest))
    return out


def _flat_vertices(V: np.ndarray, tol: float) -> np.ndarray:
    prev, nxt = np.roll(V, 1, axis=0), np.roll(V, -1, axis=0)
    base = nxt - prev
    blen = np.hypot(base[:, 0], base[:, 1])
    dist = np.abs(base[:, 0] * (V[:, 1] - prev[:, 1]) - base[:, 1] * (V[:, 0] - prev[:, 0]))
    return (dist <= tol * blen) | (np.hypot(*(V - prev).T) <= tol)


def _clean(V: np.ndarray, tol: float) -> np.ndarray:
    """Drop vertices within ``tol`` of the line through their neighbours (incl. duplicates).

    One at a time (rarely needed): two near-duplicates flag each other, and only one
    of them may go.
    """
    while len(V) > 3:
        flat = _flat_vertices(V, tol)
        if not flat.any():
            break
        V = np.delete(V, np.flatnonzero(flat)[0], axis=0)
    return V


def test_compiled_window_cutting_equals_the_numpy_reference():
    """Oracle: _cut_by_windows + _clean (NumPy, polygon by polygon) on random polygons and
    windows of 2 to 4 entries (some padded), with tied entries; same pieces in the same
    order, vertices equal to rounding."""
    rng = np.random.default_rng(5)
    verts, starts = _convex_polygons(30, 5)
    P, nw, K = len(starts) - 1, 3, 4
    W = rng.normal(size=(P, nw, K, 3))
    W[:, 1, 3] = W[:, 1, 0]  # an entry equal to another everywhere: goes to the first
    valid = np.ones((nw, K), dtype=bool)
    valid[2, 2:] = False  # a window of two entries (padding)
    tol = 1e-11 * 20
    ov, os_, parent, area, cen = cut_windows(verts, starts, W, valid, tol, 1e-11, 0.0)
    ref, ref_parent = [], []
    for p in range(P):
        V = verts[starts[p]:starts[p + 1]]
        pieces = [_clean(c, tol) for c in _cut_by_windows(V, W[p], valid, tol, 1e-11)]
        ref += pieces
        ref_parent += [p] * len(pieces)
    assert len(parent) == len(ref) > 2 * P
    np.testing.assert_array_equal(parent, ref_parent)
    for q, R in enumerate(ref):
        np.testing.assert_allclose(ov[os_[q]:os_[q + 1]], R, rtol=0, atol=1e-12 * 20)
        assert area[q] == pytest.approx(_shoelace(R), rel=1e-12)
    parents_area = np.array([_shoelace(verts[starts[p]:starts[p + 1]]) for p in range(P)])
    np.testing.assert_allclose(np.bincount(parent, weights=area, minlength=P), parents_area,
                               rtol=1e-10)
