"""Curvature of the nerve: oracles are the Euler characteristic (Gauss-Bonnet), the flatness
of exact partitions (angle sums 2 pi), standard graph Ollivier/Forman written here with POT
and networkx, a hand-derived 4-cell example, relabelling and scaling invariance."""
from __future__ import annotations

import os
from fractions import Fraction
from math import lcm

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cellgeom
from cellgeom.analysis import edge_curvature, hinge_deficits, vertex_curvature

os.environ.setdefault("POT_BACKEND_DISABLE_PYTORCH", "1")
import ot  # noqa: E402


def _arrangement(W, b, lo=(0, 0), hi=(1, 1), cells="all", data=None):
    part = cellgeom.partition(cellgeom.HyperplaneArrangement(W, b),
                              domain=cellgeom.Box(lo, hi), cells=cells, data=data,
                              progress=False)
    return part


def _random_lines(k, seed, n=2):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(k, n))
    b = -np.einsum("ij,ij->i", W, rng.random((k, n)))
    return W, b


def _complexes():
    """Every complex the Gauss-Bonnet and flatness tests run on."""
    out = []
    worked = _arrangement([[1, 0], [0, 1]], [-0.3, -0.6])
    out += [("worked facet", cellgeom.build_complex(worked)),
            ("worked cech", cellgeom.build_complex(worked, rule="cech"))]
    W, b = _random_lines(6, 1)
    part = _arrangement(W, b)
    out += [("6 lines facet", cellgeom.build_complex(part)),
            ("6 lines cech", cellgeom.build_complex(part, rule="cech"))]
    X = np.random.default_rng(2).random((150, 2))
    out.append(("6 lines data", cellgeom.build_complex(_arrangement(W, b, cells="data", data=X))))
    W3, b3 = _random_lines(4, 3, n=3)
    out.append(("4 planes 3-D", cellgeom.build_complex(_arrangement(W3, b3, (0, 0, 0), (1, 1, 1)))))
    return out


COMPLEXES = _complexes()


# -- euler ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name,cx", COMPLEXES, ids=[c[0] for c in COMPLEXES])
def test_euler_curvature_sums_to_euler_characteristic_exactly(name, cx):
    kappa = vertex_curvature(cx, "euler")
    chi = cx.euler_characteristic()
    assert kappa.sum() == pytest.approx(chi, abs=1e-9)
    # exactly: kappa(v) * lcm(1..dim+1) is an integer, and those integers sum to chi * lcm
    L = lcm(*range(1, cx.dim + 2))
    scaled = np.rint(kappa * L).astype(np.int64)
    np.testing.assert_allclose(scaled, kappa * L, atol=1e-9)
    assert int(scaled.sum()) == chi * L
    # and directly from the definition with fractions at one vertex
    v = 0
    exact = sum(Fraction((-1) ** k * int(np.sum(cx.simplices(k) == v)), k + 1)
                for k in range(cx.dim + 1))
    assert kappa[v] == pytest.approx(float(exact), abs=1e-15)


# -- angle ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,cx", COMPLEXES, ids=[c[0] for c in COMPLEXES])
def test_angle_curvature_is_zero_on_exact_flat_partitions(name, cx):
    assert np.max(np.abs(vertex_curvature(cx, "angle"))) < 1e-9
    assert np.max(np.abs(vertex_curvature(cx, "angle", share="angle"))) < 1e-9
    table = hinge_deficits(cx.partition)
    complete = table[table["complete"]]
    assert len(complete) > 0
    assert np.max(np.abs(complete["deficit"])) < 1e-9


@pytest.mark.parametrize("name,cx", COMPLEXES[:5], ids=[c[0] for c in COMPLEXES[:5]])
def test_interior_dihedral_angles_around_every_interior_hinge_sum_to_2pi(name, cx):
    h = cx.partition.hinges
    inner = h[~h["boundary"].astype(bool)]
    missing = (inner["neighbor_a"] == -2) | (inner["neighbor_b"] == -2)
    incomplete = set(inner.loc[missing, "hinge"])
    sums = inner.groupby("hinge")["angle"].sum()
    sums = sums[[i not in incomplete for i in sums.index]]
    assert len(sums) > 0
    np.testing.assert_allclose(sums.to_numpy(), 2 * np.pi, atol=1e-9)


def test_angle_curvature_shares_a_deficit_by_hinge_volume():
    """A fake hinge table with a known deficit: the shares add up to deficit * volume."""
    part = _arrangement([[1, 0], [0, 1]], [-0.3, -0.6])
    h = part.hinges.copy()
    inner = h["hinge"] == h.loc[~h["boundary"], "hinge"].iat[0]
    h.loc[inner, "angle"] = h.loc[inner, "angle"] - 0.1  # deficit 0.4 at the crossing
    part.hinges = h
    kappa = vertex_curvature(cellgeom.build_complex(part), "angle")
    np.testing.assert_allclose(kappa, 0.1, atol=1e-12)  # four cells share 0.4 equally


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(k=st.integers(2, 5), seed=st.integers(0, 10_000))
def test_property_random_arrangements_are_flat_and_satisfy_gauss_bonnet(k, seed):
    W, b = _random_lines(k, seed)
    cx = cellgeom.build_complex(_arrangement(W, b))
    assert vertex_curvature(cx, "euler").sum() == pytest.approx(cx.euler_characteristic())
    assert np.max(np.abs(vertex_curvature(cx, "angle"))) < 1e-9
    if cx.n_simplices(1):
        kappa = edge_curvature(cx, "ollivier", laziness=0.5, weighting="uniform", progress=False)
        np.testing.assert_allclose(kappa, _reference_ollivier(cx.to_networkx(), 0.5), atol=1e-8)


# -- uniform weighting = standard graph curvature ------------------------------------------------
def _reference_ollivier(G, laziness, weight=None):
    """Standard lazy-walk Ollivier curvature, written out with networkx and POT's emd2."""
    dist = dict(nx.all_pairs_dijkstra_path_length(G, weight=weight)) if weight else \
        dict(nx.all_pairs_shortest_path_length(G))
    out = []
    for u, v in sorted(tuple(sorted(e)) for e in G.edges()):
        supp, mass = [], []
        for x in (u, v):
            nb = sorted(G.neighbors(x))
            supp.append([x] + nb)
            mass.append(np.array([laziness] + [(1 - laziness) / len(nb)] * len(nb)))
        M = np.array([[dist[p][q] for q in supp[1]] for p in supp[0]], dtype=float)
        out.append(1 - ot.emd2(mass[0], mass[1], M) / dist[u][v])
    return np.array(out)


@pytest.mark.parametrize("laziness", [0.0, 0.25, 0.5, 0.75, 0.95])
def test_uniform_ollivier_equals_standard_graph_ollivier(laziness):
    W, b = _random_lines(9, 7)
    cx = cellgeom.build_complex(_arrangement(W, b), max_dim=1)
    ours = edge_curvature(cx, "ollivier", laziness=laziness, weighting="uniform", progress=False)
    np.testing.assert_allclose(ours, _reference_ollivier(cx.to_networkx(), laziness), atol=1e-8)


def test_uniform_forman_equals_4_minus_degrees_and_weighted_formula():
    W, b = _random_lines(8, 11)
    cx = cellgeom.build_complex(_arrangement(W, b), rule="facet")  # every edge a facet
    G = cx.to_networkx()
    e = cx.edges
    ours = edge_curvature(cx, "forman", weighting="uniform")
    ref = [4 - G.degree(a) - G.degree(b) for a, b in zip(e["a"], e["b"])]
    np.testing.assert_allclose(ours, ref, atol=1e-12)
    # weighted (Sreejith et al.) written as a loop: vertex weights volumes, edges face volumes
    geo = edge_curvature(cx, "forman", weighting="geometric")
    ref = []
    for a, b, we in zip(e["a"], e["b"], e["face_volume"]):
        wa, wb = G.nodes[a]["volume"], G.nodes[b]["volume"]
        sa = sum(wa / np.sqrt(we * G[a][k]["face_volume"]) for k in G.neighbors(a) if k != b)
        sb = sum(wb / np.sqrt(we * G[b][k]["face_volume"]) for k in G.neighbors(b) if k != a)
        ref.append(we * (wa / we + wb / we - sa - sb))
    np.testing.assert_allclose(geo, ref, rtol=1e-12, atol=1e-14)


def test_statistical_ollivier_equals_reference_with_networkx_dijkstra_and_emd2():
    X = np.random.default_rng(8).random((600, 2))
    W, b = _random_lines(8, 5)
    # the reference walks every edge of the complex: the facet nerve (no fan diagonals);
    # its densities are geometric means, THEORY.md's edge density and the default
    cx = cellgeom.build_complex(_arrangement(W, b, cells="data", data=X), rule="facet")
    ours = edge_curvature(cx, "ollivier", X, laziness=0.3, metric_alpha=0.6, progress=False)
    part = cx.partition
    n_i = np.bincount(part.locate(X), minlength=part.n_cells)
    rho = n_i / len(X) / part.volumes
    G = nx.Graph()
    for a, b, fv, ln in cx.edges[["a", "b", "face_volume", "length"]].itertuples(index=False):
        G.add_edge(int(a), int(b), face=fv, d=ln / np.sqrt(rho[a] * rho[b]) ** 0.6)
    dist = dict(nx.all_pairs_dijkstra_path_length(G, weight="d"))
    ref = []
    for a, b in cx.edges[["a", "b"]].itertuples(index=False):
        supp, mass = [], []
        for x in (a, b):
            nb = sorted(G.neighbors(x))
            w = np.array([G[x][k]["face"] * rho[k] for k in nb])
            supp.append([x] + nb)
            mass.append(np.concatenate([[0.3], 0.7 * w / w.sum()]))
        M = np.array([[dist[p][q] for q in supp[1]] for p in supp[0]])
        ref.append(1 - ot.emd2(mass[0], mass[1], M) / dist[a][b])
    np.testing.assert_allclose(ours, ref, atol=1e-10)


# -- hand-computed example ---------------------------------------------------------------------
def test_statistical_curvature_reproduces_hand_computed_4_cell_path():
    r"""Lines x = 1/4, 1/2, 3/4 cut the unit square into 4 strips 0-1-2-3 (a path).

    Counts n = (1, 2, 3, 4), N = 10: p = (.1, .2, .3, .4), vol = 1/4 each, so
    rho = (.4, .8, 1.2, 1.6). Centroid distances l = 1/4, faces vol 1. With metric alpha 1:
    d01 = .25 / sqrt(.32), d12 = .25 / sqrt(.96), d23 = .25 / sqrt(1.92).
    Laziness 1/2; neighbour k of i weighted by vol F_ik rho_k:
    mu0 = {0: 1/2, 1: 1/2}; mu1 = {1: 1/2, 0: 1/2 * .4/1.6 = 1/8, 2: 3/8};
    mu2 = {2: 1/2, 1: 1/2 * .8/2.4 = 1/6, 3: 1/3}; mu3 = {3: 1/2, 2: 1/2}.
    A path is a tree, so W_1 is the 1-D formula: sum over segments of |F_mu - F_nu| times
    the segment length, F the cumulative masses at cells 0, 1, 2:
    (0,1): F = (1/2, 1, 1) vs (1/8, 5/8, 1): W = 3/8 (d01 + d12);
    (1,2): F = (1/8, 5/8, 1) vs (0, 1/6, 2/3): W = d01/8 + 11/24 d12 + d23/3;
    (2,3): F = (0, 1/6, 2/3) vs (0, 0, 1/2): W = (d12 + d23)/6;
    kappa = 1 - W / d(i, j) (d = the edge length on a path).
    Forman, statistical (w_v = p, w_e = face volume 1):
    F(01) = .1 + .2 - .2 = .1; F(12) = .2 + .3 - .2 - .3 = 0; F(23) = .3 + .4 - .3 = .4.
    """
    X = np.array([[0.1, 0.5], [0.3, 0.5], [0.4, 0.5], [0.55, 0.5], [0.6, 0.5], [0.7, 0.5],
                  [0.8, 0.5], [0.85, 0.5], [0.9, 0.5], [0.95, 0.5]])
    part = _arrangement([[1, 0], [1, 0], [1, 0]], [-0.25, -0.5, -0.75], cells="data", data=X)
    cx = cellgeom.build_complex(part)
    assert part.cells["n_points"].tolist() == [1, 2, 3, 4]  # strips in order, left to right
    d01, d12, d23 = 0.25 / np.sqrt(0.32), 0.25 / np.sqrt(0.96), 0.25 / np.sqrt(1.92)
    expected = [1 - 3 / 8 * (d01 + d12) / d01,
                1 - (d01 / 8 + 11 / 24 * d12 + d23 / 3) / d12,
                1 - (d12 + d23) / (6 * d23)]
    np.testing.assert_allclose(expected, [0.4084936490538903, 0.08945805532504125,
                                          0.5976310729378175], rtol=1e-12)
    # the default edge density is the docstring's sqrt(rho_a rho_b) (THEORY.md section 8)
    ours = edge_curvature(cx, "ollivier", X, laziness=0.5, metric_alpha=1.0, progress=False)
    np.testing.assert_allclose(ours, expected, atol=1e-12)
    np.testing.assert_array_equal(
        ours, edge_curvature(cx, "ollivier", X, edge_mean="geometric", progress=False))
    np.testing.assert_allclose(edge_curvature(cx, "forman", X), [0.1, 0.0, 0.4], atol=1e-12)
    v = vertex_curvature(cx, "statistical", X, laziness=0.5, progress=False)
    np.testing.assert_allclose(v, [expected[0], (expected[0] + expected[1]) / 2,
                                   (expected[1] + expected[2]) / 2, expected[2]], atol=1e-12)
    # the arithmetic option: d_ij = l / ((rho_i + rho_j) / 2), the same walks
    a01, a12, a23 = 0.25 / 0.6, 0.25 / 1.0, 0.25 / 1.4
    arithmetic = [1 - 3 / 8 * (a01 + a12) / a01, 1 - (a01 / 8 + 11 / 24 * a12 + a23 / 3) / a12,
                  1 - (a12 + a23) / (6 * a23)]
    np.testing.assert_allclose(edge_curvature(cx, "ollivier", X, edge_mean="arithmetic",
                                              progress=False), arithmetic, atol=1e-12)
    np.testing.assert_allclose(vertex_curvature(cx, "forman", X), [0.1, 0.05, 0.2, 0.4])


# -- invariance ---------------------------------------------------------------------------
def test_relabelling_cells_permutes_curvature():
    W, b = _random_lines(6, 21)
    X = np.random.default_rng(3).random((400, 2))
    cx1 = cellgeom.build_complex(_arrangement(W, b, cells="data", data=X))
    # permuted and sign-flipped hyperplanes: the same cells under other keys and indices
    perm, flip = np.array([3, 0, 5, 1, 4, 2]), np.array([1, -1, -1, 1, -1, 1])[:, None]
    cx2 = cellgeom.build_complex(_arrangement(W[perm] * flip, b[perm] * flip[:, 0], cells="data",
                                        data=X))
    c1, c2 = cx1.partition.centroids, cx2.partition.centroids
    sigma = np.argmin(np.linalg.norm(c1[:, None] - c2[None], axis=2), axis=1)  # 1 -> 2
    assert sorted(sigma.tolist()) == list(range(cx1.n_vertices))
    assert not np.array_equal(sigma, np.arange(cx1.n_vertices))
    for kind in ("euler", "angle", "forman", "statistical"):
        k1 = vertex_curvature(cx1, kind, X, progress=False)
        k2 = vertex_curvature(cx2, kind, X, progress=False)
        np.testing.assert_allclose(k1, k2[sigma], atol=1e-10, err_msg=kind)
    e1 = cx1.edges[["a", "b"]].to_numpy()
    e2 = {tuple(sorted(e)): i for i, e in enumerate(cx2.edges[["a", "b"]].to_numpy().tolist())}
    edge_map = [e2[tuple(sorted((sigma[a], sigma[b])))] for a, b in e1]
    for kind in ("ollivier", "forman"):
        k1 = edge_curvature(cx1, kind, X, progress=False)
        k2 = edge_curvature(cx2, kind, X, progress=False)
        np.testing.assert_allclose(k1, k2[edge_map], atol=1e-10, err_msg=kind)


@pytest.mark.parametrize("weighting", ["statistical", "geometric", "uniform"])
def test_scaling_the_domain_leaves_ollivier_unchanged(weighting):
    W, b = _random_lines(7, 4)
    X = np.random.default_rng(1).random((500, 2))
    s = 3.7
    cx1 = cellgeom.build_complex(_arrangement(W, b, cells="data", data=X))
    cx2 = cellgeom.build_complex(_arrangement(W, s * b, (0, 0), (s, s), cells="data", data=s * X))
    k1 = edge_curvature(cx1, "ollivier", X, laziness=0.4, metric_alpha=0.8, weighting=weighting,
                        progress=False)
    k2 = edge_curvature(cx2, "ollivier", s * X, laziness=0.4, metric_alpha=0.8,
                        weighting=weighting, progress=False)
    np.testing.assert_allclose(k1, k2, atol=1e-10)


def test_parallel_ollivier_equals_serial():
    W, b = _random_lines(7, 2)
    cx = cellgeom.build_complex(_arrangement(W, b))
    serial = edge_curvature(cx, "ollivier", weighting="uniform", progress=False)
    par = edge_curvature(cx, "ollivier", weighting="uniform", progress=False, n_jobs=2)
    np.testing.assert_array_equal(serial, par)


# -- errors -------------------------------------------------------------------------------
def test_bad_input_raises_clear_errors():
    cx = COMPLEXES[0][1]
    X = np.random.default_rng(0).random((30, 2))
    with pytest.raises(ValueError, match="features"):
        edge_curvature(cx, "ollivier", np.zeros((5, 3)), progress=False)
    with pytest.raises(ValueError, match="features"):
        vertex_curvature(cx, "statistical", np.zeros((5, 1)), progress=False)
    for bad in (0.0, -1.0, 1.01):
        with pytest.raises(ValueError, match=r"metric alpha must lie in \(0, 1\]"):
            edge_curvature(cx, "ollivier", X, metric_alpha=bad, progress=False)
    for bad in (-0.1, 1.0, 2.0):
        with pytest.raises(ValueError, match=r"laziness must lie in \[0, 1\)"):
            edge_curvature(cx, "ollivier", X, laziness=bad, progress=False)
    with pytest.raises(ValueError, match="kind"):
        vertex_curvature(cx, "gauss")
    with pytest.raises(ValueError, match="weighting"):
        edge_curvature(cx, "ollivier", X, weighting="lazy")
    # data passed where kind belongs: a wrong choice, named as such
    with pytest.raises(ValueError, match="kind must be one of .*got a ndarray"):
        edge_curvature(cx, X)
    # a choice the kind does not read is still checked
    with pytest.raises(ValueError, match="share must be one of"):
        vertex_curvature(cx, "euler", share="area")
    with pytest.raises(ValueError, match="no data"):
        edge_curvature(cx, "ollivier", progress=False)  # cells="all", built without data
    single = cellgeom.build_complex(_arrangement([[1, 0]], [-5.0]))  # the line misses the box
    with pytest.raises(ValueError, match="no edges"):
        edge_curvature(single, "ollivier", weighting="uniform", progress=False)
    # vertex curvature of isolated cells is NaN (as the docs say), with or without others
    with pytest.warns(RuntimeWarning, match="no edges"):
        assert np.isnan(vertex_curvature(single, "forman", weighting="uniform")).all()
    with pytest.raises(TypeError, match="RiemannianComplex"):
        edge_curvature(single.partition, "forman")


# -- GraphRicciCurvature itself, in its own virtual environment ---------------------------------
@pytest.mark.slow
def test_uniform_curvature_equals_graphriccicurvature_in_its_own_venv():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from bench_curvature import grc_curvature, grc_python

    if grc_python(create=True) is None:
        pytest.skip("could not create the GraphRicciCurvature virtual environment")
    W, b = _random_lines(12, 13)
    cx = cellgeom.build_complex(_arrangement(W, b), max_dim=1)
    edges = cx.edges[["a", "b"]].to_numpy()
    for laziness in (0.0, 0.5, 0.8):
        ref, _ = grc_curvature(edges, cx.n_vertices, "ollivier", laziness)
        ours = edge_curvature(cx, "ollivier", laziness=laziness, weighting="uniform",
                              progress=False)
        np.testing.assert_allclose(ours, ref, atol=1e-8)
    ref, _ = grc_curvature(edges, cx.n_vertices, "forman", 0.5)
    np.testing.assert_allclose(edge_curvature(cx, "forman", weighting="uniform"), ref,
                               atol=1e-8)


def test_graphriccicurvature_environment_is_created_outside_the_repository(monkeypatch):
    """#20: the reference's virtual environment (GraphRicciCurvature pins an old SciPy) lives
    outside the source tree by default. Oracle: the path bench_curvature would create."""
    import importlib
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    monkeypatch.delenv("CELLGEOM_GRC_VENV", raising=False)
    monkeypatch.syspath_prepend(str(repo / "bench"))
    sys.modules.pop("bench_curvature", None)
    bench = importlib.import_module("bench_curvature")
    try:
        assert not bench.VENV.resolve().is_relative_to(repo), bench.VENV
    finally:
        sys.modules.pop("bench_curvature", None)


def test_dual_fan_diagonals_carry_no_weight_in_graph_curvature():
    """Oracle: the "facet" complex of the same partition; its edges are the dual complex's
    edges of positive face volume, and the weighted curvatures must agree on them."""
    W, b = _random_lines(8, 11)
    part = _arrangement(W, b)
    dual, facet = cellgeom.build_complex(part), cellgeom.build_complex(part, rule="facet")
    face = dual.edges["face_volume"].to_numpy()
    assert np.any(face == 0)  # crossings of two lines: fan diagonals
    on_facet = face > 0
    np.testing.assert_array_equal(dual.simplices(1)[on_facet], facet.simplices(1))
    X = np.random.default_rng(2).random((500, 2))
    for weighting in ("geometric", "statistical"):
        f_dual = edge_curvature(dual, "forman", X, weighting=weighting)
        f_facet = edge_curvature(facet, "forman", X, weighting=weighting)
        np.testing.assert_allclose(f_dual[on_facet], f_facet, rtol=1e-12)
        assert np.all(np.isnan(f_dual[~on_facet]))
        o_dual = edge_curvature(dual, "ollivier", X, weighting=weighting, progress=False)
        o_facet = edge_curvature(facet, "ollivier", X, weighting=weighting, progress=False)
        np.testing.assert_allclose(o_dual[on_facet], o_facet, rtol=1e-10, atol=1e-12)
        for kind in ("forman", "statistical"):
            np.testing.assert_allclose(
                vertex_curvature(dual, kind, X, weighting=weighting, progress=False),
                vertex_curvature(facet, kind, X, weighting=weighting, progress=False),
                rtol=1e-10, atol=1e-12)
