"""Complexes of partitions on the high-dimensional route (facets only, no vertices).

The route finds no vertices, so the common pieces of three or more cells come from LPs,
and "dual" (which needs every face) is built as "facet": equal to the dual complex for
Voronoi cells (general position), and said so, with a warning, for arrangements.
"""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris, load_wine

import cellgeom
from cellgeom.geometry import common_piece
from cellgeom.geometry.intersection import EXACT_PIECE_DIM

from ..helpers import relu_net_high_route


def _box(lo, hi):
    n = len(lo)
    A = np.vstack([np.eye(n), -np.eye(n)])
    return A, np.concatenate([hi, -np.asarray(lo, float)])


def _simplices(cx):
    return [cx.simplices(p).tolist() for p in range(cx.dim + 1)]


def test_common_piece_of_a_high_dimensional_piece_by_each_volume_method():
    # two 8-D boxes sharing the 7-D face x_0 = 1 of the unit cube (volume 1, centroid known)
    n = 8
    lower = _box(np.zeros(n), np.ones(n))
    upper = _box(np.r_[1.0, np.zeros(n - 1)], np.r_[3.0, np.ones(n - 1)])
    assert n - 1 > EXACT_PIECE_DIM
    expected_centroid = np.r_[1.0, np.full(n - 1, 0.5)]
    dim, volume, centroid = common_piece([lower, upper], volume="exact")
    assert dim == n - 1
    assert volume == pytest.approx(1.0, rel=1e-9)
    np.testing.assert_allclose(centroid, expected_centroid, atol=1e-9)
    dim, volume, centroid = common_piece([lower, upper], volume="estimate")
    assert dim == n - 1
    assert volume == pytest.approx(1.0, rel=0.1)
    assert centroid[0] == pytest.approx(1.0, abs=1e-9)  # in the flat, exactly
    np.testing.assert_allclose(centroid, expected_centroid, atol=0.05)
    assert common_piece([lower, upper], volume="estimate")[1] == volume  # seeded
    dim, volume, centroid = common_piece([lower, upper], volume="none")
    assert dim == n - 1 and np.isnan(volume)
    assert centroid[0] == pytest.approx(1.0) and np.all((centroid[1:] > 0) & (centroid[1:] < 1))
    # a piece of low dimension is exact whatever the method
    corner = _box(np.r_[1.0, 1.0, np.zeros(n - 2)], np.r_[2.0, 2.0, np.ones(n - 2)])
    assert common_piece([lower, corner], volume="none")[:2] == (n - 2, pytest.approx(1.0))
    with pytest.raises(ValueError, match="volume must be"):
        common_piece([lower, upper], volume="sampled")


def test_kmeans_on_the_high_route_gets_the_exact_routes_complex():
    # iris (4-D) on both routes: the facet nerve from LPs is the dual complex of the
    # exact route, simplex for simplex, and no warning is given (Voronoi cells)
    X = load_iris().data
    model = KMeans(6, n_init=3, random_state=0).fit(X)
    exact = cellgeom.partition(model, data=X, cells="all", progress=False)
    high = cellgeom.partition(model, data=X, cells="all", exact_dim=2, volume="none",
                              progress=False)
    assert exact.has_vertices and not high.has_vertices
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cx_high = cellgeom.build_complex(high, progress=False)
    cx_exact = cellgeom.build_complex(exact, progress=False)
    assert cx_high.rule == "facet" and cx_exact.rule == "dual"
    assert _simplices(cx_high) == _simplices(cx_exact)
    assert cx_high.betti_numbers() == [1, 0, 0, 0, 0][:cx_high.dim + 1]


def test_kmeans_in_13d_is_contractible_not_a_graph():
    # was b = (1, 6): with no vertices every common piece came out empty, so no triangle
    # was kept and the complex stopped at the complete graph on the 5 cells
    X = load_wine().data
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    part = cellgeom.partition(KMeans(5, n_init=3, random_state=0).fit(X), data=X,
                              volume="none", progress=False)
    cx = cellgeom.build_complex(part, progress=False)
    assert cx.n_simplices() == [5, 10, 10, 5, 1]  # the Delaunay 4-simplex of 5 generic sites
    assert cx.betti_numbers() == [1, 0, 0, 0, 0]
    assert np.isnan(cx.simplex_volumes(2)).all()  # volume="none": pieces are not measured
    dim, _, _ = part.common_piece([0, 1, 2])
    assert dim == part.dim - 2


def test_network_on_the_high_route_warns_that_dual_became_facet():
    pytest.importorskip("torch")
    n = 3
    net, box, high = relu_net_high_route(0, [5, 4], n)
    exact = cellgeom.partition(net, box, cells="all", progress=False)
    assert not high.has_vertices and high.n_cells == exact.n_cells
    with pytest.warns(UserWarning, match='rule="dual" needs every face'):
        cx = cellgeom.build_complex(high, progress=False)
    assert cx.rule == "facet"
    # the facet nerve, as the exact route builds it (same cells, same order); crossings
    # leave cycles (b_1 > 0) where the exact route's dual complex is contractible
    assert list(high.keys) == list(exact.keys)
    assert _simplices(cx) == _simplices(cellgeom.build_complex(exact, rule="facet",
                                                               progress=False))
    assert cx.betti_numbers()[1] > 0
    assert cellgeom.build_complex(exact, progress=False).betti_numbers() == [1] + [0] * n
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cellgeom.build_complex(high, rule="facet", progress=False)
        cellgeom.build_complex(high, max_dim=1, progress=False)
    rows = dict(cellgeom.report.summary_rows(cx))
    assert "crossings" in rows["Betti numbers"]


def test_unmeasured_facets_are_still_edges():
    # volume="none" leaves the facet volumes NaN: the facets are certified by LP all the
    # same, so they are edges (with NaN weights), not dropped (b_0 was the cell count)
    pytest.importorskip("torch")
    net, box, high = relu_net_high_route(1, [6])
    assert high.facets["volume"].isna().all()
    cx = cellgeom.build_complex(high, rule="facet", max_dim=1, progress=False)
    exact = cellgeom.partition(net, box, cells="all", progress=False)
    cx_exact = cellgeom.build_complex(exact, rule="facet", max_dim=1, progress=False)
    assert cx.simplices(1).tolist() == cx_exact.simplices(1).tolist()
    assert np.isnan(cx.simplex_volumes(1)).all()
    assert cx.betti_numbers()[0] == 1


def test_dihedral_metric_is_refused_without_hinges():
    pytest.importorskip("torch")
    _, _, high = relu_net_high_route(2, [4])
    with pytest.raises(ValueError, match='metric="dihedral".*hinges'):
        cellgeom.build_complex(high, rule="facet", metric="dihedral", progress=False)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10_000), width=st.integers(3, 6))
def test_high_route_facet_nerve_equals_the_exact_routes(seed, width):
    # random 3-D networks: the LP-built facet nerve of the high route, simplex for simplex
    pytest.importorskip("torch")
    net, box, high = relu_net_high_route(seed, [width, 3])
    exact = cellgeom.partition(net, box, cells="all", progress=False)
    assert list(high.keys) == list(exact.keys)
    cx_high = cellgeom.build_complex(high, rule="facet", progress=False)
    cx_exact = cellgeom.build_complex(exact, rule="facet", progress=False)
    assert _simplices(cx_high) == _simplices(cx_exact)
