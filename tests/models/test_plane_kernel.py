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


def test_nearest_units_equal_the_written_out_distances():
    """Per edge: the nearest line to both endpoints and the second distance, as the (edges,
    units) array of max(|A p + c|, |A q + c|) / |A| gives them (a unit constant on its
    polygon is at infinity), with the maps read through per-layer ancestors."""
    rng = np.random.default_rng(7)
    R, sizes = 40, (5, 3)
    stages = [(rng.normal(size=(1, 3, sizes[0])), np.zeros(R, dtype=np.int64)),
              (rng.normal(size=(9, 3, sizes[1])), rng.integers(0, 9, R))]
    stages[1][0][2, :2, 1] = 0.0  # unit 6 constant on the polygons of ancestor 2
    order = rng.permutation(R)
    lo, w, o = np.array([-1.0, 2.0]), np.array([3.0, 0.5]), np.array([0.3, 2.2])
    maps = UnitMaps(stages, order, lo, w, o)
    counts = rng.integers(3, 8, R)
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    p = rng.normal(size=(starts[-1], 2))
    unit, second = maps.nearest(starts, p)
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
    np.testing.assert_array_equal(unit, dist.argmin(axis=1))
    np.testing.assert_array_equal(second, np.sort(dist, axis=1)[:, 1])
    # maps given as arrays: the same numbers
    A_all, c_all, _ = maps.rows(np.arange(R))
    other = UnitMaps.from_arrays(A_all, c_all)
    u2, s2 = other.nearest(starts, p + 0.0)
    np.testing.assert_array_equal(u2, unit)
    np.testing.assert_array_equal(s2, second)


def test_first_appearance_ids_equal_np_unique_route():
    ids = np.random.default_rng(3).integers(0, 50, 500)
    np.testing.assert_array_equal(first_appearance_ids(ids, 50), first_appearance(ids))
