"""The "dual" rule on partitions whose vertex table does not resolve every face.

The partition merges vertices closer than ``1e3 tol`` (unit frame) and stores them in the
user's coordinates; cells are kept down to inradius ``tol``. So a thin wedge or sliver
(far above ``tol``) has corners merged across it, and at 1e12 the coordinates are rounded
to 1.2e-4. The dual complex must still be the dual of the partition's cells.

Oracles: the closed cells' common pieces by linear programming
(:func:`cellgeom.geometry.common_piece` on their inequalities, no vertices), the
domain's homology (a box: Betti numbers (1, 0, ...)), the documented Gram weights (a
face's volume over its fan; a fan diagonal the mean of the facets around the face), and
the same model centred at 0.
"""
import warnings
from itertools import combinations

import numpy as np
import pytest
from sklearn.neural_network import MLPRegressor

import cellgeom
import cellgeom.complex.dual_vertices as dual_vertices
from cellgeom.analysis.spectral import betti_numbers_from_kernels
from cellgeom.geometry import common_piece


def _mlp(coefs, intercepts, n):
    """An MLPRegressor with the given layers (fitted for one step only to exist); its
    partition goes through torch."""
    pytest.importorskip("torch")
    X = np.random.default_rng(0).uniform(-1, 1, size=(20, n))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MLPRegressor(hidden_layer_sizes=tuple(len(b) for b in intercepts[:-1]),
                             max_iter=1).fit(X, X[:, 0])
    model.coefs_ = [np.array(c, dtype=float) for c in coefs]
    model.intercepts_ = [np.array(b, dtype=float) for b in intercepts]
    return model


def _piece(part, cells):
    """(dimension, volume) of the closed cells' common piece, by LP."""
    tol = 1e-12 * part.domain.scale
    return common_piece([part.halfspaces(c) for c in cells], tol=tol)[:2]


def _weights(cx, p):
    return dict(zip(map(tuple, cx.simplices(p).tolist()), cx.gram(p).diagonal()))


def _around(part, cx, cells):
    """The cells holding the common piece of ``cells`` (by LP; those beyond the cells'
    neighbours in the complex cannot)."""
    dim = _piece(part, cells)[0]
    edges = cx.simplices(1)
    near = set(edges[np.isin(edges, cells).any(axis=1)].ravel().tolist())
    return sorted(c for c in near if c in cells or _piece(part, list(cells) + [c])[0] == dim)


def _assert_dual_weights(part, cx, triangle):
    """The triangle's weight is its carrier edge's length over the fan of the cells around
    it, and the fan diagonals of that edge weigh the mean area of the facets around it."""
    dim, length = _piece(part, list(triangle))
    assert dim == part.dim - 2
    star = _around(part, cx, list(triangle))
    ring = [e for e in combinations(star, 2) if _piece(part, e)[0] == part.dim - 1]
    assert len(ring) == len(star)  # a polygon around the edge
    tri = [s for s, _ in _weights(cx, 2).items() if set(s) <= set(star)]
    assert len(tri) == len(star) - 2
    for s in tri:
        assert _weights(cx, 2)[s] == pytest.approx(length / len(tri), rel=1e-9)
    facet_mean = np.mean([_piece(part, e)[1] for e in ring])
    w1 = _weights(cx, 1)
    for e in combinations(star, 2):
        if e not in ring and e in w1:
            assert w1[e] == pytest.approx(facet_mean, rel=1e-9)


# -- merged vertices in 3-D ------------------------------------------------------------------

def test_corners_merged_across_a_thin_wedge_keep_the_edge_they_are_off():
    """Planes z = 0 and z = 0.05 y meet along the x-axis; a third plane cuts the thin
    wedge between them 2e-5 from the axis on the face x = -1, where it is 1e-6 wide: its
    two corners there merge (1e3 tol = 2e-6), so the merged vertex lies on the wedge's
    cells and both cells beside it, 2e-5 off their common edge. Before: "simplex spans
    more than its carrier" (its three cells seemed to share a polygon)."""
    arr = cellgeom.HyperplaneArrangement([[0, 0, 1], [0, -0.05, 1], [-1, 1, 0]],
                                         [0, 0, -1 - 2e-5])
    part = cellgeom.partition(arr, domain=([-1] * 3, [1] * 3), cells="all", progress=False)
    cx = cellgeom.build_complex(part, progress=False)
    assert cx.betti_numbers()[:3] == [1, 0, 0]
    for p in (1, 2):
        for s in cx.simplices(p):
            assert 0 <= _piece(part, s)[0] <= part.dim - p, s.tolist()
        assert np.all(cx.gram(p).diagonal() > 0)
    # e.g. the four cells around the x-axis: a quadrilateral, two triangles of weight 2 / 2
    for triangle in cx.simplices(2).tolist():
        _assert_dual_weights(part, cx, triangle)


_W1 = [[-2.310411800234176, -0.726951062065411, 0.17718935139366584, 0.7335283685272841,
        -0.6870036940435463, -0.8910030351707375],
       [-0.3732508612577643, -0.019964750907762653, -0.830510051008449, -0.7730112772958181,
        1.4880743158106724, 0.6748575435940039],
       [-1.2609246557194385, 0.2102998901016947, 0.23871805816817063, -1.5951814880783068,
        -0.4484158047114511, 1.0468653769814655]]
_B1 = [-1.1093896849650002, 0.1294922706831101, -0.5148510909215095, -0.25037920618821846,
       0.13668386921003817, -0.45904998676279074]
_W2 = [[0.7970100169250297, 0.36904473680395194, 1.154696227582466, -0.0744194473309335,
        -0.7012303945657874, -0.7565746668125718],
       [0.21166418145300325, -0.1872021932975887, -0.0860751366873787, 0.8653897078648778,
        0.326255796287562, 0.3686731185757601],
       [0.13557114260567418, -0.013720701456433322, -1.96124168414333, -0.5225708759493426,
        -0.8738640219900763, -0.1726536808458421],
       [-0.033892918655373555, -0.19960822763281003, 0.22092437177232177,
        -0.5919985649213804, 0.3941269998738486, 0.975120345181078],
       [0.4604689979691664, -1.6564246944540333, -1.04188285970033, -0.8913456059944439,
        0.3808407948449979, 0.4164541966117019],
       [1.117443076566861, 0.9138982512742285, 0.9736130210479111, -0.4465437323135269,
        -0.06602759867830545, -0.4986513835421579]]
_B2 = [0.1229714185696024, -0.06558393485990188, -0.08925903443827861, -0.29794655541775295,
       0.13693486928280843, 0.2839631441323559]


def test_a_generic_3d_network_gives_the_dual_complex_of_its_cells():
    """A 3-6-6 ReLU network with N(0, 1) weights (the audit's seed 0; one in twelve such
    networks failed): one of its cells meets the face x = -2 in a thin triangle whose two
    near corners (2.3e-6 apart) merge, off the edge two other cells share."""
    model = _mlp([_W1, _W2, np.ones((6, 1))], [_B1, _B2, [0.0]], 3)
    part = cellgeom.partition(model, domain=([-2] * 3, [2] * 3), cells="all", progress=False)
    cx = cellgeom.build_complex(part, progress=False)
    assert cx.betti_numbers() == [1, 0, 0, 0]
    for p in range(4):
        d = cx.gram(p).diagonal()
        assert np.all(np.isfinite(d)) and np.all(d > 0)
    triangle = sorted(part.key_index(k) for k in
                      ("110011111100", "110110111100", "110010111100"))
    assert _piece(part, triangle)[0] == 1  # they do share an edge
    assert tuple(triangle) in _weights(cx, 2)
    near = _around(part, cx, triangle)  # the cells around their edge
    for p in (1, 2, 3):
        for s in cx.simplices(p):
            if np.isin(s, near).sum() >= 2:
                assert 0 <= _piece(part, s)[0] <= 3 - p, s.tolist()
    _assert_dual_weights(part, cx, triangle)


# -- far from the origin ---------------------------------------------------------------------

def _dyadic(rng, shape, scale=1.0):
    return np.round(rng.normal(size=shape) * scale * 16) / 16


@pytest.mark.parametrize("kind", ["network", "arrangement"])
def test_a_box_at_1e12_gives_the_complex_of_the_box_at_0(kind):
    """Side 4 x 3 at 2^40 (16k float64 steps across): the coordinates the partition
    stores are rounded to 1.2e-4, far above 1e3 tol = 4e-6. The model is shifted exactly
    (dyadic weights), so its cells are those of the same model at 0. Before: "simplex
    [0, 14] spans more than its carrier" (two points centred at their rounded mean
    spanned a plane)."""
    rng = np.random.default_rng(0)
    o = 2.0 ** 40
    complexes = []
    for offset in (0.0, o):
        if kind == "network":
            coefs = [_dyadic(rng, (2, 6)), _dyadic(rng, (6, 6)), _dyadic(rng, (6, 1))]
            inter = [_dyadic(rng, 6, 0.5), _dyadic(rng, 6, 0.5), _dyadic(rng, 1)]
            shifted = inter[0] - offset * coefs[0].sum(axis=0)
            assert np.all(shifted + offset * coefs[0].sum(axis=0) == inter[0])  # exact
            model = _mlp(coefs, [shifted] + inter[1:], 2)
        else:
            W, b = _dyadic(rng, (8, 2)), _dyadic(rng, 8)
            model = cellgeom.HyperplaneArrangement(W, b - W @ np.full(2, offset))
        rng = np.random.default_rng(0)  # the same model at both offsets
        part = cellgeom.partition(model, domain=([offset - 2, offset - 1.5],
                                                 [offset + 2, offset + 1.5]),
                                  cells="all", progress=False)
        complexes.append((part, cellgeom.build_complex(part, progress=False)))
    (p0, c0), (p1, c1) = complexes
    assert p0.keys == p1.keys
    assert c1.betti_numbers() == [1, 0, 0]
    for p in range(3):
        np.testing.assert_array_equal(c1.simplices(p), c0.simplices(p))
        np.testing.assert_allclose(c1.gram(p).diagonal(), c0.gram(p).diagonal(), rtol=1e-6)


# -- a sliver --------------------------------------------------------------------------------

def _sliver():
    """Lines x + 0.3 y = -0.1 and x + (0.3 + 1e-6) y = -0.1 cross at (-0.1, 0) and bound
    a sliver of inradius ~5e-7 (tol = 2e-9), cut by y = -0.2 and x - y = -0.05."""
    arr = cellgeom.HyperplaneArrangement([[1, 0.3], [1, 0.3 + 1e-6], [0, 1], [1, -1]],
                                         [0.1, 0.1, 0.2, 0.05])
    return cellgeom.partition(arr, domain=([-1, -1], [1, 1]), cells="all", progress=False)


def test_a_sliver_gives_positive_documented_gram_weights():
    """The sliver's corners merge across it (1e3 tol = 2e-6 > its width), so the vertex
    table made the cells on its two sides share a facet they do not have (weight 0 in
    M_1). The complex is read off the cells' corners instead: exactly the partition's
    facets and crossings."""
    part = _sliver()
    cx = cellgeom.build_complex(part, progress=False)
    assert cx.betti_numbers() == [1, 0, 0]
    pieces = {e: _piece(part, e) for e in combinations(range(part.n_cells), 2)}
    facets = {e for e, (dim, _) in pieces.items() if dim == 1}
    edges = set(map(tuple, cx.simplices(1).tolist()))
    assert facets <= edges
    w1 = _weights(cx, 1)
    d1 = cx.gram(1).diagonal()
    assert np.all(np.isfinite(d1)) and np.all(d1 > 0)
    for e in edges - facets:  # a fan diagonal: its cells meet at a crossing point
        assert pieces[e][0] == 0
        # the quadrilateral around the crossing: the cells across a facet from both
        beside = [c for c in range(part.n_cells)
                  if {tuple(sorted((a, c))) for a in e} <= facets]
        assert len(beside) == 2
        ring = [tuple(sorted((a, c))) for a in e for c in beside]
        assert w1[e] == pytest.approx(np.mean([pieces[f][1] for f in ring]), rel=1e-6)
    for e in facets:  # (the LP's corners are accurate to 1e-10 next to the sliver)
        assert w1[e] == pytest.approx(pieces[e][1], rel=1e-6)
    for s in cx.simplices(2):
        assert _piece(part, s)[0] == 0
    np.testing.assert_allclose(cx.gram(2).diagonal(), 0.5)  # two per crossing
    assert betti_numbers_from_kernels(cx) == [1, 0, 0]


def test_an_unresolved_vertex_table_is_an_error_naming_the_partitions_cells(monkeypatch):
    """Without the corners (the route of higher dimension: the merged vertex table),
    the sliver's two sides seem to share a face without a facet between them: an error
    naming them in the partition's numbers, not the complex's internal order."""
    part = _sliver()
    monkeypatch.setattr(dual_vertices, "corner_vertices", lambda part: None)
    with pytest.raises(RuntimeError, match=r"the cells \[2, 9\] share vertices") as err:
        cellgeom.build_complex(part, progress=False)
    assert "1e3 tol" in str(err.value)
