"""BoxIndex: point location among boxes ``lo < x <= hi`` by a kd-tree.

Oracle: the dense test of every point against every box (the lowest-numbered box holding
the point, -1 for none), which is what ``BoxPartition`` located with before the index.
"""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cellgeom.geometry.box_index import BoxIndex

#: cut values: a coarse grid (boundaries shared by many boxes) and LightGBM's +-1e-35
#: around 0 (cells 2e-35 wide), besides uniform ones
SPECIAL = np.array([-1e-35, 0.0, 1e-35, -0.5, 0.5, 0.25, -0.25])


def dense_locate(lo, hi, X):
    """The oracle: every point against every box, lowest index first."""
    if len(lo) == 0:
        return np.full(len(X), -1)
    inside = np.all((X[:, None, :] > lo[None]) & (X[:, None, :] <= hi[None]), axis=2)
    return np.where(inside.any(axis=1), inside.argmax(axis=1), -1)


def guillotine(rng, m, n, lo=-1.0, hi=1.0):
    """A box cut by random recursive splits into m boxes (a tree's leaves), numbered in
    random order; cut values often on the grid or at +-1e-35."""
    boxes = [(np.full(n, lo), np.full(n, hi))]
    while len(boxes) < m:
        l, h = boxes.pop(int(rng.integers(len(boxes))))
        a = int(rng.integers(n))
        special = SPECIAL[(SPECIAL > l[a]) & (SPECIAL < h[a])]
        if special.size and rng.random() < 0.5:
            c = float(rng.choice(special))
        else:
            c = float(rng.uniform(l[a], h[a]))
        if not l[a] < c < h[a]:
            boxes.append((l, h))
            continue
        h1, l2 = h.copy(), l.copy()
        h1[a] = l2[a] = c
        boxes += [(l, h1), (l2, h)]
    order = rng.permutation(len(boxes))
    return (np.array([boxes[i][0] for i in order]), np.array([boxes[i][1] for i in order]))


def overlay(rng, n, trees, m):
    """A forest's cells: the non-empty intersections of the boxes of several trees."""
    lo, hi = np.full((1, n), -1.0), np.ones((1, n))
    for _ in range(trees):
        l2, h2 = guillotine(rng, m, n)
        L = np.maximum(lo[:, None], l2[None]).reshape(-1, n)
        H = np.minimum(hi[:, None], h2[None]).reshape(-1, n)
        keep = np.all(L < H, axis=1)
        lo, hi = L[keep], H[keep]
    return lo, hi


def closed_below(lo, domain_lo=-1.0):
    """As BoxPartition does: boxes on the domain's lower side are closed there."""
    return np.where(lo <= domain_lo, -np.inf, lo)


def query_points(rng, lo, hi, N):
    """Uniform points inside and outside the domain, points with every coordinate on some
    box's boundary, grid and +-1e-35 values, and their float neighbours."""
    n = lo.shape[1]
    finite_lo = np.where(np.isfinite(lo), lo, -1.0)
    pick = rng.integers(0, len(lo), size=(N, n))
    corner = np.where(rng.random((N, n)) < 0.5, finite_lo[pick, np.arange(n)],
                      hi[pick, np.arange(n)])
    nudged = np.nextafter(corner, np.where(rng.random((N, n)) < 0.5, -np.inf, np.inf))
    special = rng.choice(np.concatenate([SPECIAL, [-1.0, 1.0, -1.5, 1.5]]), size=(N, n))
    uniform = rng.uniform(-1.2, 1.2, size=(N, n))
    blocks = [corner, nudged, special, uniform]
    mixed = np.choose(rng.integers(0, 4, size=(N, n)), blocks)
    return np.vstack(blocks + [mixed])


def check(lo, hi, X, **kwargs):
    index = BoxIndex(lo, hi, **kwargs)
    np.testing.assert_array_equal(index.locate(X), dense_locate(lo, hi, X))
    return index


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 4), st.integers(1, 300),
       st.sampled_from([(8, 64), (1, 2), (3, 5), (16, 1000)]))
def test_guillotine_partitions_locate_as_the_dense_test(seed, n, m, params):
    """Property: a tree-like partition, closed on the domain's lower side, answers what the
    dense test answers everywhere: inside, on every boundary, 1e-35 from 0, outside."""
    rng = np.random.default_rng(seed)
    lo, hi = guillotine(rng, m, n)
    lo = closed_below(lo)
    leaf_size, sample = params
    X = query_points(rng, lo, hi, 200)
    check(lo, hi, X, leaf_size=leaf_size, sample=sample)
    # the domain is tiled: every point of (-1, 1]^n (and of its lower side) has a box
    inside = np.all((X >= -1) & (X <= 1), axis=1)
    assert np.all(BoxIndex(lo, hi).locate(X[inside]) >= 0)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 3), st.integers(2, 4), st.integers(2, 12),
       st.booleans())
def test_forest_intersections_locate_as_the_dense_test(seed, n, trees, m, subset):
    """Property: the cells of a forest (intersections of several trees' boxes), all of
    them or a random subset (cells="data": points elsewhere are in no cell)."""
    rng = np.random.default_rng(seed)
    lo, hi = overlay(rng, n, trees, m)
    if subset:
        keep = rng.random(len(lo)) < 0.5
        lo, hi = lo[keep], hi[keep]
    lo = closed_below(lo)
    X = query_points(rng, lo, hi, 150) if len(lo) else rng.uniform(-2, 2, (50, n))
    for leaf_size, sample in ((8, 64), (1, 2)):
        check(lo, hi, X, leaf_size=leaf_size, sample=sample)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 3), st.integers(0, 120))
def test_overlapping_and_empty_boxes_give_the_lowest_index(seed, n, m):
    """Property: not a partition at all (overlaps, empty and inverted boxes, corners on a
    coarse grid): still the lowest-numbered box holding the point, as the dense test."""
    rng = np.random.default_rng(seed)
    a = rng.integers(-3, 4, size=(m, n)).astype(float)
    b = a + rng.integers(-1, 4, size=(m, n))
    lo = np.where(rng.random((m, n)) < 0.1, -np.inf, a)
    hi = np.where(rng.random((m, n)) < 0.1, np.inf, b)
    X = rng.integers(-4, 8, size=(300, n)) + rng.choice([0.0, 0.5, 1e-12], size=(300, n))
    for leaf_size, sample in ((8, 64), (1, 2), (2, 3)):
        check(lo, hi, X, leaf_size=leaf_size, sample=sample)


def test_nan_inf_and_empty_inputs():
    lo = np.array([[-np.inf, 0.0], [0.0, 0.0]])
    hi = np.array([[0.0, 1.0], [1.0, np.inf]])
    X = np.array([[np.nan, 0.5], [0.5, np.nan], [-np.inf, 0.5], [np.inf, 0.5],
                  [0.5, np.inf], [0.0, 1.0], [1e-300, 2.0]])
    index = check(lo, hi, X, leaf_size=1)
    np.testing.assert_array_equal(index.locate(X), [-1, -1, -1, -1, 1, 0, 1])
    assert index.locate(np.zeros((0, 2))).shape == (0,)
    none = BoxIndex(np.zeros((0, 3)), np.zeros((0, 3)))
    np.testing.assert_array_equal(none.locate(np.zeros((4, 3))), [-1] * 4)
    empty = BoxIndex(np.ones((5, 2)), np.ones((5, 2)))  # every box empty
    assert empty.n_entries == 0
    np.testing.assert_array_equal(empty.locate(np.ones((2, 2))), [-1, -1])
    with pytest.raises(ValueError, match="shape"):
        index.locate(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="same shape"):
        BoxIndex(np.zeros((2, 2)), np.zeros((3, 2)))


def test_a_large_tree_partition_is_shallow_and_replicates_few_boxes():
    """The kd-tree of a tree's partition: O(log boxes) deep and few boxes in two leaves
    (straddling a cut); it pickles and locates the same after."""
    rng = np.random.default_rng(0)
    lo, hi = guillotine(rng, 5000, 3)
    lo = closed_below(lo)
    index = check(lo, hi, query_points(rng, lo, hi, 400))
    assert index.depth <= 40 and index.n_entries <= 2 * len(lo)
    X = rng.uniform(-1, 1, size=(2000, 3))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(index)).locate(X),
                                  index.locate(X))
