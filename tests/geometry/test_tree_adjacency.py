"""tree_adjacency: the faces between a tree's leaves equal box_adjacency's on the leaf boxes."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.tree import DecisionTreeRegressor, ExtraTreeRegressor

import cellgeom
from cellgeom.geometry.boxes import box_adjacency
from cellgeom.geometry.tree_adjacency import tree_adjacency
from cellgeom.models.trees import TreeArrays, leaf_boxes

from ..models.box_oracles import all_pairs_faces


def _fitted(seed, n, n_leaves, grid, extra):
    """A tree fitted to data on a grid of ``grid`` values per axis (ties, duplicate
    thresholds), or to continuous data (``grid == 0``)."""
    rng = np.random.default_rng(seed)
    X = rng.random((300, n))
    if grid:
        X = np.floor(X * grid) / grid
    y = rng.random(300)
    kind = ExtraTreeRegressor if extra else DecisionTreeRegressor
    return kind(max_leaf_nodes=n_leaves, random_state=seed).fit(X, y)


def _routes(model, domain, keep=None, small=None, workers=None):
    """(tree route, box route on the numbered leaves' boxes, the numbered leaves)."""
    tree = TreeArrays.from_sklearn(model)
    node_lo, node_hi = leaf_boxes(tree, domain)
    leaves = np.flatnonzero(tree.left < 0)
    leaves = leaves[np.all(node_hi[leaves] > node_lo[leaves], axis=1)]
    if keep is not None:
        leaves = leaves[keep(leaves.size)]
    number = np.full(tree.left.size, -1, dtype=np.int64)
    number[leaves] = np.arange(leaves.size)
    ours = tree_adjacency(tree.left, tree.right, tree.feature, node_lo, node_hi, number,
                          _small=small, _workers=workers)
    theirs = box_adjacency(node_lo[leaves], node_hi[leaves])
    return ours, theirs, node_lo[leaves], node_hi[leaves]


def _assert_same_faces(ours, theirs):
    """Same (a, b, axis) rows as sets, the same axis-by-axis listing, and bit-identical
    volumes and centroids for each row."""
    a, b, axis, vol, cen = ours
    ta, tb, taxis, tvol, tcen = theirs
    assert a.dtype == b.dtype == axis.dtype == np.int64
    assert np.array_equal(axis, taxis)  # both list the faces axis by axis
    mine, ref = np.lexsort((b, a, axis)), np.lexsort((tb, ta, taxis))
    for x, y in [(a, ta), (b, tb), (vol, tvol), (cen, tcen)]:
        assert np.array_equal(x[mine], y[ref])


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 6), st.integers(2, 80), st.sampled_from([0, 3, 5]),
       st.booleans(), st.booleans(), st.sampled_from([2, 8, None]), st.sampled_from([1, 3]))
def test_tree_adjacency_equals_box_adjacency_on_the_leaf_boxes(seed, n, n_leaves, grid, extra,
                                                              clip, small, workers):
    """Oracle: box_adjacency on the same leaf boxes (itself checked against all pairs).
    Data on a coarse grid gives ties and equal thresholds; a domain inside the data's range
    clips thresholds away (empty leaves); scikit-learn's float32 thresholds give the
    boundaries between float32 neighbours. ``small`` = 2 refines pair by pair down to the
    leaves, 8 mixes that with the all-pairs test of small subtrees, None is the default.
    ``workers`` = 3 splits the axes into up to three groups, one thread each."""
    model = _fitted(seed, n, n_leaves, grid, extra)
    rng = np.random.default_rng(seed + 1)
    lo = rng.uniform(0.05, 0.4, n) if clip else np.zeros(n)
    hi = rng.uniform(0.6, 0.95, n) if clip else np.ones(n)
    ours, theirs, _, _ = _routes(model, cellgeom.Box(lo, hi), small=small, workers=workers)
    _assert_same_faces(ours, theirs)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 4), st.integers(2, 40), st.sampled_from([2, None]))
def test_tree_adjacency_equals_all_pairs(seed, n, n_leaves, small):
    """Oracle: every pair of leaf boxes tested directly (all_pairs_faces)."""
    model = _fitted(seed, n, n_leaves, 4, False)
    (a, b, axis, vol, cen), _, lo, hi = _routes(model, cellgeom.Box(np.zeros(n), np.ones(n)),
                                                small=small)
    oracle = all_pairs_faces(lo, hi)
    got = {(min(i, j), max(i, j)): v for i, j, v in zip(a.tolist(), b.tolist(), vol)}
    assert len(a) == len(oracle) and got.keys() == oracle.keys()
    assert np.allclose([got[k] for k in oracle], list(oracle.values()), rtol=1e-12)
    assert np.array_equal(hi[a, axis], lo[b, axis])


@pytest.mark.parametrize("small", [None, 2])
@pytest.mark.parametrize("workers", [1, 2, 8])
def test_faces_past_the_first_buffer_equal_box_adjacency(small, workers):
    """Oracle: box_adjacency on the leaf boxes. An 8-D tree has far more faces than the
    first pair buffers hold (about 4 rows per node), so the kernel stops with its buffers
    full, they grow, and it resumes mid-axis and mid-split: the faces are the same, listed
    the same way, bit for bit, on one thread or with the axes split among threads (8: one
    axis each)."""
    rng = np.random.default_rng(7)
    X = rng.random((6000, 8))
    model = DecisionTreeRegressor(max_leaf_nodes=1500, random_state=0).fit(X, rng.random(6000))
    domain = cellgeom.Box(np.zeros(8), np.ones(8))
    ours, theirs, _, _ = _routes(model, domain, small=small, workers=workers)
    assert len(ours[0]) > 4 * model.tree_.node_count > 1024  # the buffers grew
    _assert_same_faces(ours, theirs)


def test_float32_boundaries_that_coincide_leave_an_empty_box():
    """Two thresholds between the same float32 neighbours give one boundary e: the box
    between them is empty and has no faces (oracle: box_adjacency on the leaf boxes)."""
    t = np.float64(np.float32(0.3))
    # root x0 <= t, its right child x0 <= t + 1e-9 (same float32 boundary), then x1 <= 0.5
    left = np.array([1, -1, 3, -1, 5, -1, -1])
    right = np.array([2, -1, 4, -1, 6, -1, -1])
    feature = np.array([0, -2, 0, -2, 1, -2, -2])
    threshold = np.array([t, -2, t + 1e-9, -2, 0.5, -2, -2])
    tree = TreeArrays(left, right, feature, threshold, float32=True)
    node_lo, node_hi = leaf_boxes(tree, cellgeom.Box(np.zeros(2), np.ones(2)))
    assert node_hi[3, 0] == node_lo[3, 0]  # the box between the two thresholds is empty
    leaves = np.array([1, 5, 6])
    number = np.full(7, -1)
    number[leaves] = np.arange(3)
    ours = tree_adjacency(left, right, feature, node_lo, node_hi, number)
    _assert_same_faces(ours, box_adjacency(node_lo[leaves], node_hi[leaves]))
    assert sorted(zip(ours[0].tolist(), ours[1].tolist())) == [(0, 1), (0, 2), (1, 2)]


def test_leaves_left_out_have_no_faces():
    """Leaves numbered -1 are left out: the faces are box_adjacency's on the others."""
    model = _fitted(3, 3, 60, 0, False)
    keep = lambda m: np.random.default_rng(0).random(m) < 0.6  # noqa: E731
    for small in (2, None):
        ours, theirs, _, _ = _routes(model, cellgeom.Box(np.zeros(3), np.ones(3)), keep, small)
        _assert_same_faces(ours, theirs)


def test_single_leaf_and_bad_trees():
    """A one-leaf tree has no faces; arrays that are not a tree are refused by name."""
    a, b, axis, vol, cen = tree_adjacency([-1], [-1], [-2], np.zeros((1, 3)), np.ones((1, 3)),
                                          [0])
    assert a.size == b.size == axis.size == vol.size == 0 and cen.shape == (0, 3)
    box = np.zeros((3, 2)), np.ones((3, 2))
    with pytest.raises(ValueError, match="reached twice"):
        tree_adjacency([1, 1, -1], [2, 2, -1], [0, 0, -2], *box, [-1, -1, 0])
    with pytest.raises(ValueError, match="feature"):
        tree_adjacency([1, -1, -1], [2, -1, -1], [5, -2, -2], *box, [-1, 0, 1])
    with pytest.raises(ValueError, match="shape"):
        tree_adjacency([1, -1, -1], [2, -1, -1], [0, -2, -2], np.zeros((2, 2)),
                       np.ones((2, 2)), [-1, 0, 1])


@pytest.mark.parametrize("workers", [1, 2, 8])
def test_pair_buffers_grow_with_the_faces(workers):
    """Oracle: the output's own size. The pair buffers grow at the rate of faces seen so
    far; a run of axes that stops inside its first split once sized them for a thousand
    times the rows written (23 times the output here, 19 GB at 100k leaves). The peak of
    traced allocations stays within a few outputs."""
    rng = np.random.default_rng(7)
    X = rng.random((6000, 8))
    model = DecisionTreeRegressor(max_leaf_nodes=1500, random_state=0).fit(X, rng.random(6000))
    tree = TreeArrays.from_sklearn(model)
    node_lo, node_hi = leaf_boxes(tree, cellgeom.Box(np.zeros(8), np.ones(8)))
    number = np.where(tree.left < 0, np.cumsum(tree.left < 0) - 1, -1)
    tracemalloc.start()
    try:
        out = tree_adjacency(tree.left, tree.right, tree.feature, node_lo, node_hi, number,
                             _workers=workers)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 6 * sum(x.nbytes for x in out)
