"""The compiled kernels of the 2-D tables give the numbers of the NumPy / SciPy code they
replace, bit for bit.

Oracles: ``cKDTree.query_pairs`` + ``connected_components`` for the vertex components,
``np.add.at`` in ``np.lexsort`` order for their means, the (edges, units) distance array
written out in NumPy for the nearest unit lines, ``np.unique`` for first appearance.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from cellgeom.models.plane_kernel import (
    close_point_components,
    cluster_means,
    first_appearance_ids,
)
from cellgeom.models.plane_tables import UnitMaps
from cellgeom.models.polytope_tables import first_appearance, global_vertices_flat


def _kdtree_components(coords, r):
    k = len(coords)
    pairs = cKDTree(coords).query_pairs(r, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(k, k))
    return connected_components(graph, directed=False)


def _same_partition(a, b):
    """Two labellings of the points into the same groups (numbering aside)."""
    pairs = np.unique(np.column_stack([a, b]), axis=0)
    return len(pairs) == len(np.unique(a)) == len(np.unique(b))


def _vertex_cloud(seed, spread=1.0, r=1e-6):
    """Vertices as cells list them: each true vertex repeated 1-6 times with rounding-size
    noise, many on a common vertical line (a box side, x exactly equal), chains of points
    each within r of the next, and isolated points."""
    rng = np.random.default_rng(seed)
    true = rng.random((300, 2)) * spread
    true[:80, 0] = 0.0  # on the box side x = 0
    reps = rng.integers(1, 7, len(true))
    pts = np.repeat(true, reps, axis=0) + rng.normal(scale=1e-3 * r, size=(reps.sum(), 2))
    pts[np.repeat(np.arange(len(true)) < 80, reps), 0] = 0.0
    chain = 0.5 * spread + np.column_stack([np.arange(20) * 0.9 * r, np.zeros(20)])
    return rng.permutation(np.vstack([pts, chain]))


@pytest.mark.parametrize("seed,spread", [(0, 1.0), (1, 1e-3), (2, 5e3)])
def test_grid_components_equal_the_kdtree_components(seed, spread):
    r = 1e-6 * spread
    coords = _vertex_cloud(seed, spread, r)
    labels, n_comp = close_point_components(coords, r)
    n_ref, ref = _kdtree_components(coords, r)
    assert n_comp == n_ref
    assert _same_partition(labels, ref)
    # the chain of 20 points 0.9 r apart is one component; numbering by first point
    assert labels[0] == 0 and np.all(np.diff(np.maximum.accumulate(labels)) <= 1)


def test_grid_declines_when_the_radius_is_below_the_float_grid():
    coords = np.array([[0.0, 0.0], [1.0, 1.0]])
    assert close_point_components(coords, 1e-12)[1] == -1


@pytest.mark.parametrize("n", [2, 3])
def test_cluster_means_equal_add_at_in_lexsort_order(n):
    rng = np.random.default_rng(n)
    coords = np.repeat(rng.random((200, n)), 4, axis=0) + rng.normal(scale=1e-12, size=(800, n))
    coords = rng.permutation(coords)
    n_comp, labels = _kdtree_components(coords, 1e-9)
    sums = np.zeros((n_comp, n))
    by_value = np.lexsort(coords.T[::-1])
    np.add.at(sums, labels[by_value], coords[by_value])
    ref = sums / np.bincount(labels, minlength=n_comp)[:, None]
    got = cluster_means(coords, labels.astype(np.int64), n_comp)
    np.testing.assert_array_equal(got, ref)


def test_global_vertices_in_the_plane_equal_the_kdtree_route(monkeypatch):
    """The 2-D grid route and the k-d tree route (taken for n = 3 and when the grid would
    overflow) give the same vertex ids and coordinates, bit for bit."""
    import cellgeom.models.polytope_tables as pt

    coords = _vertex_cloud(4)
    counts = np.full(len(coords) // 4, 4)
    counts[-1] += len(coords) - counts.sum()
    fast = global_vertices_flat(coords, counts, 2, 1e-9)
    monkeypatch.setattr(pt, "close_point_components", lambda c, r: (None, -1))
    slow = global_vertices_flat(coords, counts, 2, 1e-9)
    for a, b in zip(fast, slow):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("quantile", [0.0, 0.002, 0.02, 0.3])
def test_nearest_units_equal_the_written_out_distances(quantile):
    """Per edge: the nearest line to both endpoints (first on ties) and whether the second
    distance is within reach, as the (edges, units) array of max(|A p + c|, |A q + c|) / |A|
    gives them (a unit constant on its polygon is at infinity), with the maps read through
    per-layer ancestors. The reaches range from none within reach to long lists (over the
    kernel's short-list capacity, the full scan)."""
    rng = np.random.default_rng(7)
    R, sizes = 40, (5, 30)
    stages = [(rng.normal(size=(1, 3, sizes[0])), np.zeros(R, dtype=np.int64)),
              (rng.normal(size=(9, 3, sizes[1])), rng.integers(0, 9, R))]
    stages[1][0][2, :2, 1] = 0.0  # unit 6 constant on the polygons of ancestor 2
    stages[1][0][4, :, 3] = stages[1][0][4, :, 2]  # units 7 and 8 coincide there: a tie
    order = rng.permutation(R)
    lo, w, o = np.array([-1.0, 2.0]), np.array([3.0, 0.5]), np.array([0.3, 2.2])
    maps = UnitMaps(stages, order, lo, w, o)
    counts = rng.integers(3, 8, R)
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    p = rng.normal(size=(starts[-1], 2))
    cell = np.repeat(np.arange(R), counts)
    nxt = np.arange(len(p)) + 1
    nxt[starts[1:] - 1] = starts[:-1]
    A, c, norm = maps.rows(cell)
    # the oracle's maps from the expanded per-region arrays, as before the kernel
    z = np.concatenate([z[anc[order]] for z, anc in stages], axis=2)[cell]
    np.testing.assert_array_equal(A[..., 0], z[:, 0] / w[0])
    np.testing.assert_array_equal(c, z[:, 2] + z[:, 0] * ((o[0] - lo[0]) / w[0])
                                  + z[:, 1] * ((o[1] - lo[1]) / w[1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        dp = np.abs(np.einsum("eud,ed->eu", A, p) + c) / norm
        dq = np.abs(np.einsum("eud,ed->eu", A, p[nxt]) + c) / norm
    dist = np.where(norm > 0, np.maximum(dp, dq), np.inf)
    assert np.isinf(dist[:, 6]).any()
    reach = np.quantile(dist[np.isfinite(dist)], quantile) if quantile else 0.0
    unit, ambiguous = maps.nearest(starts, p, reach)
    np.testing.assert_array_equal(unit, dist.argmin(axis=1))
    np.testing.assert_array_equal(ambiguous, np.sort(dist, axis=1)[:, 1] <= reach)
    if quantile == 0.02:
        assert 0 < ambiguous.sum() < len(ambiguous)
    # maps given as arrays: the same numbers
    A_all, c_all, _ = maps.rows(np.arange(R))
    u2, a2 = UnitMaps.from_arrays(A_all, c_all).nearest(starts, p + 0.0, reach)
    np.testing.assert_array_equal(u2, unit)
    np.testing.assert_array_equal(a2, ambiguous)


def test_first_appearance_ids_equal_np_unique_route():
    ids = np.random.default_rng(3).integers(0, 50, 500)
    np.testing.assert_array_equal(first_appearance_ids(ids, 50), first_appearance(ids))


def _string_neighbors(bits, cell, label):
    """The keys as strings, the flipped key looked up by binary search (the NumPy route)."""
    keys_s = (bits + ord("0")).view(f"S{bits.shape[1]}").ravel()
    order = np.argsort(keys_s)
    neighbor = np.full(len(cell), -1, dtype=np.int64)
    key = np.full(len(cell), "", dtype=object)
    rows = np.flatnonzero(label >= 0)
    flipped = bits[cell[rows]].copy()
    flipped[np.arange(rows.size), label[rows]] ^= 1
    across = (flipped + ord("0")).view(f"S{bits.shape[1]}").ravel()
    pos = np.minimum(np.searchsorted(keys_s[order], across), len(keys_s) - 1)
    found = keys_s[order][pos] == across
    neighbor[rows] = np.where(found, order[pos], -2)
    key[rows[~found]] = across[~found].astype(str)
    return neighbor, key


@pytest.mark.parametrize("units", [10, 64, 130])
def test_flip_neighbors_equal_the_string_lookup(units):
    """Found, missing and boundary facets; with every hash equal (all codes 0) the
    candidates are told apart by the full comparison."""
    import cellgeom.models.plane_tables as pt
    from cellgeom.models.plane_kernel import flip_neighbors

    rng = np.random.default_rng(units)
    base = rng.integers(0, 2, size=(150, units), dtype=np.uint8)
    flip = rng.integers(0, units, 150)
    across = base.copy()
    across[np.arange(150), flip] ^= 1
    bits = np.unique(np.vstack([base, across[:100]]), axis=0)  # 50 flips are not cells
    bits = bits[rng.permutation(len(bits))]
    where = {row.tobytes(): i for i, row in enumerate(bits)}
    cell = np.array([where[row.tobytes()] for row in base])
    cell = np.concatenate([cell, rng.integers(0, len(bits), 100)])
    label = np.concatenate([flip, rng.integers(-4, units, 100)])
    ref, ref_key = _string_neighbors(bits, cell, label)
    for code in (rng.integers(0, 2**64, size=units, dtype=np.uint64),
                 np.zeros(units, dtype=np.uint64)):
        np.testing.assert_array_equal(flip_neighbors(bits, code, cell, label), ref)
    assert (ref >= 0).any() and (ref == -2).any() and (ref == -1).any()
    neighbor, key = pt._neighbors(bits, cell, label)
    np.testing.assert_array_equal(neighbor, ref)
    assert list(key) == list(ref_key)


def test_bit_string_column_is_the_column_pandas_makes():
    """Oracle: pandas' own column from a list of Python strings."""
    import pandas as pd

    from cellgeom.models.plane_tables import bit_strings

    bits = np.random.default_rng(0).integers(0, 2, size=(3, 70), dtype=np.uint8)
    expected = ["", "".join(map(str, bits[0])), "", "", "".join(map(str, bits[1])),
                "".join(map(str, bits[2]))]
    for got, want in ((bit_strings(6, np.array([1, 4, 5]), bits), expected),
                      (bit_strings(5, np.zeros(0, dtype=np.int64), bits[:0]), [""] * 5)):
        pd.testing.assert_series_equal(pd.Series(got), pd.Series(want), check_exact=True)


def test_facet_order_equals_the_lexsort_route():
    """Oracle: np.lexsort of (row, polygon) with box sides first, and the sorted pairs of
    local ranks of consecutive edges, as the NumPy route computed them (labels repeat within
    a polygon too: ties keep the edge order)."""
    from cellgeom.models.plane_kernel import facet_order

    rng = np.random.default_rng(11)
    counts = rng.integers(3, 9, 300)
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    labels = rng.integers(-4, 12, starts[-1])
    cell = np.repeat(np.arange(len(counts)), counts)
    nxt = np.arange(len(labels)) + 1
    nxt[starts[1:] - 1] = starts[:-1]
    perm = np.lexsort((np.where(labels < 0, -1 - labels, 4 + labels), cell))
    local_rank = np.empty(len(labels), dtype=np.int64)
    local_rank[perm] = np.arange(len(labels)) - starts[cell[perm]]
    pairs = np.sort(np.column_stack([local_rank, local_rank[nxt]]), axis=1)
    got_perm, got_pairs = facet_order(starts, labels)
    np.testing.assert_array_equal(got_perm, perm)
    np.testing.assert_array_equal(got_pairs, pairs)


def _exact_area_centroid(P):
    """Oracle: the shoelace area and centroid of a polygon in rational arithmetic."""
    from fractions import Fraction
    V = [(Fraction(x), Fraction(y)) for x, y in P]
    a = c0 = c1 = Fraction(0)
    for (px, py), (qx, qy) in zip(V, V[1:] + V[:1]):
        cross = px * qy - qx * py
        a += cross
        c0 += (px + qx) * cross
        c1 += (py + qy) * cross
    return float(a / 2), (float(c0 / (3 * a)), float(c1 / (3 * a)))


def test_edge_geometry_equals_the_numpy_route():
    """Oracle: the NumPy expressions the plane route used (hypot, einsum), bit for bit, on
    random convex polygons far from and near the origin; areas and centroids equal the
    exact rational shoelace sums to rounding."""
    from cellgeom.models.plane_kernel import edge_geometry, facet_order

    rng = np.random.default_rng(5)
    counts = rng.integers(3, 9, 200)
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    angles = np.concatenate([np.sort(rng.random(k)) * 2 * np.pi for k in counts])
    cell = np.repeat(np.arange(len(counts)), counts)
    center = rng.normal(size=(len(counts), 2)) * 10
    radius = rng.random(len(counts)) + 0.01
    p = center[cell] + radius[cell, None] * np.column_stack([np.cos(angles), np.sin(angles)])
    o = np.array([1e6, -3.0])
    nxt = np.arange(len(p)) + 1
    nxt[starts[1:] - 1] = starts[:-1]
    q = p[nxt]
    perm, _ = facet_order(starts, rng.integers(-4, 20, len(p)))
    got = edge_geometry(p, q, o, starts, perm)
    edge = q - p
    length = np.hypot(edge[:, 0], edge[:, 1])
    normal = np.column_stack([edge[:, 1], -edge[:, 0]]) / length[:, None]
    offset = np.einsum("ed,ed->e", normal, p + o)
    cosang = np.clip(np.einsum("ed,ed->e", normal, normal[nxt]), -1.0, 1.0)
    want = (normal[perm], offset[perm], length[perm], (o + 0.5 * (p + q))[perm])
    for a, b in zip(got[:4], want):
        np.testing.assert_array_equal(a, b)
    # interior angles (by atan2, accurate near 0 and pi) against pi - arccos
    np.testing.assert_allclose(got[6], np.pi - np.arccos(cosang), rtol=0, atol=1e-7)
    area, cen = got[4], got[5]
    for r in range(len(counts)):
        exact_area, exact_cen = _exact_area_centroid(p[starts[r]:starts[r + 1]])
        assert area[r] == pytest.approx(exact_area, rel=1e-12)
        # to the rounding of coordinates near o = (1e6, -3)
        np.testing.assert_allclose(cen[r], o + exact_cen, rtol=0, atol=4 * np.spacing(1e6))


def test_edge_geometry_of_a_sliver_far_from_the_centre():
    """A 1e-9-wide triangle 1.5 away from the centre o: its area and centroid equal the
    exact ones to rounding, and the centroid lies inside it (with the shoelace products
    taken relative to o, they cancel to about 1e-7 relative error and the centroid leaves
    the sliver)."""
    from cellgeom.models.plane_kernel import edge_geometry

    p = np.array([[-0.6, -1.4], [-0.6 + 3e-5, -1.4 + 1e-9], [-0.6 + 1.7e-5, -1.4 + 2e-9]])
    q = p[[1, 2, 0]]
    starts = np.array([0, 3])
    o = np.zeros(2)
    *_, area, cen, _ = edge_geometry(p, q, o, starts, np.arange(3))
    exact_area, exact_cen = _exact_area_centroid(p)
    assert area[0] == pytest.approx(exact_area, rel=1e-9)
    np.testing.assert_allclose(cen[0], exact_cen, rtol=0, atol=1e-15)
    # inside: on the inner side of each of the three edges
    for e in range(3):
        d, w = q[e] - p[e], cen[0] - p[e]
        assert d[0] * w[1] - d[1] * w[0] > 0
