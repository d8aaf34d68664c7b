"""The compiled slice kernels on their own: exact Chebyshev discs of convex polygons, polygon
cutting that tiles each polygon with pieces of constant pattern, and the one-thread context.

Oracles: the Chebyshev LP solved by HiGHS (scipy.optimize.linprog); the polygons' shoelace
areas; each piece's pattern counted at points strictly inside it; torch's thread setting.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import linprog
from scipy.spatial import ConvexHull

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
