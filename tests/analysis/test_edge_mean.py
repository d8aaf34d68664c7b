"""The edge density of THEORY.md section 8: rho(e) = sqrt(rho_a rho_b) by default (options
arithmetic and harmonic), and what it does to a cell without data: every edge of it has
density 0, infinite length d_rho and NaN Ollivier curvature, never a finite number.

Oracles: THEORY.md section 9's unit square worked by hand (below), and a partition of only
the data cells, built independently, for the claim that geodesics and walks route around
empty cells.
"""
from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

import cellgeom
from cellgeom.analysis import (
    cell_density,
    density_metric,
    edge_curvature,
    edge_density,
    vertex_curvature,
)

SQRT_HALF = np.sqrt(0.5)


def _square(X, rule="dual"):
    """THEORY.md section 9: lines x = 0.3, y = 0.6 in the unit square; cells in key order
    00, 01, 10, 11 (00 = x < 0.3, y < 0.6; areas .18, .12, .42, .28)."""
    arr = cellgeom.HyperplaneArrangement([[1, 0], [0, 1]], [-0.3, -0.6])
    part = cellgeom.partition(arr, domain=([0, 0], [1, 1]), cells="all", data=np.asarray(X),
                              progress=False)
    assert part.keys == ["00", "01", "10", "11"]
    return cellgeom.build_complex(part, rule=rule, progress=False)


#: 9, 0, 84, 7 of 100 points in cells 00, 01, 10, 11
X_EMPTY_01 = np.repeat([[0.1, 0.3], [0.6, 0.3], [0.6, 0.8]], [9, 84, 7], axis=0)


def test_every_public_default_is_the_geometric_mean():
    for func in (edge_density, density_metric, edge_curvature, vertex_curvature):
        assert inspect.signature(func).parameters["edge_mean"].default == "geometric", func


def test_worked_square_with_an_empty_cell_by_hand():
    r"""Hand computation (alpha 1, laziness 1/2).

    rho = p / vol: 00: .09/.18 = 1/2, 01: 0, 10: .84/.42 = 2, 11: .07/.28 = 1/4.
    Facet edges, every centroid distance l = 1/2:
    00-01 sqrt(1/2 * 0) = 0, d = inf;   00-10 sqrt(1/2 * 2) = 1, d = 1/2;
    01-11 0, d = inf;                   10-11 sqrt(2 * 1/4) = sqrt(1/2), d = sqrt(1/2) =: s.
    The finite graph is the path 00 - 10 - 11 (01 is cut off). Walks, w_ik = vol F_ik rho_k:
    mu_00 = {00: 1/2, 10: 1/2} (w to 01 is .3 * 0); mu_11 = {11: 1/2, 10: 1/2};
    mu_10: w_00 = .6 * 1/2 = .3, w_11 = .7 * 1/4 = .175, so {10: 1/2, 00: 6/19, 11: 7/38}.
    W_1 on a path is the 1-D formula (cumulative masses at 00, 10 times segment lengths):
    (00, 10): F = (1/2, 1) vs (6/19, 31/38): W = 7/38 (1/2 + s), kappa = 1 - 7 (1 + sqrt 2)/38;
    (10, 11): F = (6/19, 31/38) vs (0, 1/2): W = 3/19 + 6 s / 19, kappa = (13 - 3 sqrt 2)/19.
    Edges at 01: d = inf, kappa NaN. Vertex means over the finite facet edges.
    """
    k_0010 = 1 - 7 * (1 + np.sqrt(2)) / 38
    k_1011 = (13 - 3 * np.sqrt(2)) / 19
    assert (k_0010, k_1011) == pytest.approx((0.5552764490, 0.4609136480), abs=1e-9)
    for rule in ("facet", "dual"):
        cx = _square(X_EMPTY_01, rule)
        rho = cell_density(cx)[1]
        np.testing.assert_allclose(rho, [0.5, 0.0, 2.0, 0.25], rtol=1e-12)
        e = {tuple(ab): i for i, ab in enumerate(cx.simplices(1).tolist())}
        facet = [e[(0, 1)], e[(0, 2)], e[(1, 3)], e[(2, 3)]]
        rho_e = edge_density(rho, cx.simplices(1))
        np.testing.assert_allclose(rho_e[facet], [0, 1, 0, SQRT_HALF], rtol=1e-12)
        dm = density_metric(cx)
        np.testing.assert_allclose(dm.lengths[facet], [np.inf, 0.5, np.inf, SQRT_HALF],
                                   rtol=1e-12)
        # geodesics: 00 -> 10 -> 11; cell 01 is at infinite distance from every other cell
        np.testing.assert_allclose(dm.distances[0], [0, np.inf, 0.5, 0.5 + SQRT_HALF],
                                   rtol=1e-12)
        assert np.isinf(np.delete(dm.distances[1], 1)).all()
        kappa = edge_curvature(cx, "ollivier", progress=False)
        np.testing.assert_allclose(kappa[facet], [np.nan, k_0010, np.nan, k_1011], rtol=1e-12)
        if rule == "dual":  # the fan diagonal 01-10 joins the cut-off cell: NaN as well
            assert np.isnan(kappa[e[(1, 2)]])
        v = vertex_curvature(cx, "statistical", progress=False)
        np.testing.assert_allclose(v, [k_0010, np.nan, (k_0010 + k_1011) / 2, k_1011],
                                   rtol=1e-12)


def test_worked_square_options_arithmetic_and_harmonic_by_hand():
    """Arithmetic: rho(e) = 1/4, 5/4, 1/8, 9/8 on 00-01, 00-10, 01-11, 10-11, so
    d = 2, 2/5, 4, 4/9: nothing is cut, every curvature is finite. Harmonic:
    2 rho_a rho_b / (rho_a + rho_b) = 0, 4/5, 0, 4/9, so d = inf, 5/8, inf, 9/8."""
    cx = _square(X_EMPTY_01, "facet")
    arith = density_metric(cx, edge_mean="arithmetic")
    np.testing.assert_allclose(arith.lengths, [2, 0.4, 4, 4 / 9], rtol=1e-12)
    assert np.isfinite(edge_curvature(cx, "ollivier", edge_mean="arithmetic",
                                      progress=False)).all()
    harm = density_metric(cx, edge_mean="harmonic")
    np.testing.assert_allclose(harm.lengths, [np.inf, 5 / 8, np.inf, 9 / 8], rtol=1e-12)
    k = edge_curvature(cx, "ollivier", edge_mean="harmonic", progress=False)
    assert np.isnan(k[[0, 2]]).all() and np.isfinite(k[[1, 3]]).all()


def test_empty_cells_are_cut_off_and_the_rest_equals_the_data_cells_alone():
    """Data in the left 45% of the box only: many empty cells. Each edge touching one is
    infinite with NaN curvature; every other edge is finite, and equals the curvature on the
    partition of the data cells alone (its own facets, volumes and centroids), because
    geodesics route around the empty cells and the walks put no mass on them."""
    rng = np.random.default_rng(5)
    W = rng.normal(size=(9, 2))
    b = -np.einsum("ij,ij->i", W, rng.random((9, 2)))
    X = rng.random((700, 2)) * [0.45, 1.0]
    box = cellgeom.Box([0, 0], [1, 1])
    arr = cellgeom.HyperplaneArrangement(W, b)
    full = cellgeom.build_complex(cellgeom.partition(arr, domain=box, cells="all", data=X,
                                                     progress=False), rule="facet")
    data = cellgeom.build_complex(cellgeom.partition(arr, domain=box, cells="data", data=X,
                                                     progress=False), rule="facet")
    empty = full.partition.cells["n_points"].to_numpy() == 0
    assert empty.sum() >= 5 and (~empty).sum() == data.n_vertices
    edges = full.simplices(1)
    touches = empty[edges].any(axis=1)
    assert touches.any() and (~touches).any()
    kappa = edge_curvature(full, "ollivier", X, laziness=0.3, metric_alpha=0.8,
                           progress=False)
    assert np.isinf(density_metric(full, X).lengths[touches]).all()
    assert np.isnan(kappa[touches]).all()
    assert np.isfinite(kappa[~touches]).all()
    # the same cells by key in the data partition
    index = {k: i for i, k in enumerate(data.partition.keys)}
    to_data = np.array([index.get(k, -1) for k in full.partition.keys])
    ref = edge_curvature(data, "ollivier", X, laziness=0.3, metric_alpha=0.8, progress=False)
    ref_of = {tuple(sorted(ab)): k for ab, k in zip(data.simplices(1).tolist(), ref)}
    mine = [ref_of[tuple(sorted(to_data[ab]))] for ab in edges[~touches]]
    np.testing.assert_allclose(kappa[~touches], mine, rtol=1e-10, atol=1e-12)
    v = vertex_curvature(full, "statistical", X, laziness=0.3, metric_alpha=0.8,
                         progress=False)
    assert np.isnan(v[empty]).all()


def test_every_edge_touching_an_empty_cell_warns_and_names_the_remedies():
    """Data in the diagonal cells 00 and 11 only: under the geometric (or harmonic) mean each
    of the four facet edges touches an empty cell, so every result is NaN / inf; a
    RuntimeWarning at the caller's line says why and what to pass instead."""
    X = np.repeat([[0.1, 0.3], [0.6, 0.8]], [5, 5], axis=0)
    cx = _square(X)
    remedy = r"edge_mean='arithmetic'.*cells='data'"
    with pytest.warns(RuntimeWarning, match=remedy) as rec:
        kappa = edge_curvature(cx, "ollivier", progress=False)
    assert np.isnan(kappa).all() and rec[0].filename == __file__
    with pytest.warns(RuntimeWarning, match="every vertex is NaN.*" + remedy) as rec:
        v = vertex_curvature(cx, "statistical", progress=False)
    assert np.isnan(v).all() and rec[0].filename == __file__
    with pytest.warns(RuntimeWarning, match="no edge has a finite length.*" + remedy) as rec:
        dm = density_metric(cx)
    assert np.isinf(dm.lengths).all() and rec[0].filename == __file__
    with pytest.warns(RuntimeWarning, match="edge_mean='harmonic'"):
        edge_curvature(cx, "ollivier", edge_mean="harmonic", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the options that cut nothing warn about nothing
        assert np.isfinite(edge_curvature(cx, "ollivier", edge_mean="arithmetic",
                                          progress=False)).any()
        assert np.isfinite(density_metric(cx, edge_mean="arithmetic").lengths).any()
        edge_curvature(cx, "ollivier", weighting="geometric", progress=False)
        edge_curvature(cx, "forman")
    with pytest.raises(ValueError, match="edge_mean must be one of"):
        vertex_curvature(cx, "euler", edge_mean="median")
