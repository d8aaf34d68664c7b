"""Trees and tree ensembles: box partitions checked against scikit-learn and brute force."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.tree import DecisionTreeRegressor

import cellgeom
from cellgeom.geometry.boxes import box_adjacency

from ..models.box_oracles import all_pairs_faces


def _data(n=2, N=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((N, n))
    y = (X[:, 0] + X[:, 1 % n] > 1).astype(int) + (X[:, 0] > 0.7)
    return X, y


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 4), st.integers(2, 7))
def test_box_adjacency_sweep_equals_all_pairs(seed, n, depth):
    """Property: the sweep finds exactly the all-pairs faces, with the same volumes."""
    rng = np.random.default_rng(seed)
    X = rng.random((200, n))
    m = DecisionTreeRegressor(max_depth=depth, random_state=seed).fit(X, rng.random(200))
    part = cellgeom.partition(m, data=X, cells="all", progress=False)
    a, b, axis, vol, _ = box_adjacency(part.lo, part.hi)
    got = {(min(i, j), max(i, j)): v for i, j, v in zip(a.tolist(), b.tolist(), vol)}
    oracle = all_pairs_faces(part.lo, part.hi)
    assert got.keys() == oracle.keys()
    assert np.allclose([got[k] for k in oracle], list(oracle.values()), rtol=1e-12)


def _grid_boxes(seed, m, n, grid):
    """Random boxes with corners on a small integer grid: overlaps, shared coordinates
    and touching on several axes at once are all common (not a partition)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, grid, size=(m, n))
    b = rng.integers(0, grid, size=(m, n))
    lo, hi = np.minimum(a, b).astype(float), np.maximum(a, b).astype(float)
    hi[hi == lo] += 1.0
    return lo, hi


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 5), st.integers(2, 60), st.integers(2, 6))
def test_box_adjacency_of_overlapping_grid_boxes_equals_all_pairs(seed, n, m, grid):
    """Oracle: every pair tested directly (all_pairs_faces); centroids by their formula."""
    lo, hi = _grid_boxes(seed, m, n, grid)
    a, b, axis, vol, cen = box_adjacency(lo, hi)
    oracle = all_pairs_faces(lo, hi)
    got = {(min(i, j), max(i, j)): v for i, j, v in zip(a.tolist(), b.tolist(), vol)}
    assert len(a) == len(oracle) and got.keys() == oracle.keys()
    assert np.allclose([got[k] for k in oracle], list(oracle.values()), rtol=1e-12)
    assert np.array_equal(hi[a, axis], lo[b, axis])
    want = (np.maximum(lo[a], lo[b]) + np.minimum(hi[a], hi[b])) / 2
    want[np.arange(a.size), axis] = hi[a, axis]
    np.testing.assert_array_equal(cen, want)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 5), st.integers(2, 60), st.integers(2, 6))
def test_box_touching_pairs_equal_all_pairs_closed_intersections(seed, n, m, grid):
    """Oracle: every pair of closed boxes tested directly (touching counts)."""
    from cellgeom.geometry.boxes import box_touching_pairs

    lo, hi = _grid_boxes(seed, m, n, grid)
    a, b = box_touching_pairs(lo, hi)
    oracle = {(i, j) for i in range(m) for j in range(i + 1, m)
              if np.all(np.maximum(lo[i], lo[j]) <= np.minimum(hi[i], hi[j]))}
    assert np.all(a < b) and len(a) == len(oracle)
    assert set(zip(a.tolist(), b.tolist())) == oracle


def test_box_adjacency_of_no_and_one_box():
    for m in (0, 1):
        a, b, axis, vol, cen = box_adjacency(np.zeros((m, 3)), np.ones((m, 3)))
        assert a.size == b.size == axis.size == vol.size == 0 and cen.shape == (0, 3)
