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
