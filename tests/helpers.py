"""Shared constructions for the core tests."""
from __future__ import annotations

import itertools
from math import comb

import numpy as np

import cellgeom


def generic_arrangement(k: int, n: int, seed: int):
    """k random hyperplanes in R^n and a box holding every vertex of the arrangement."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(k, n))
    b = rng.normal(size=k)
    vertices = []
    for idx in itertools.combinations(range(k), n):
        vertices.append(np.linalg.solve(W[list(idx)], -b[list(idx)]))
    vertices = np.array(vertices)
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    pad = 0.1 * (hi - lo) + 0.1
    return cellgeom.HyperplaneArrangement(W, b), cellgeom.Box(lo - pad, hi + pad)


def region_count(k: int, n: int) -> int:
    """Cells of a generic arrangement of k hyperplanes in R^n: sum_{i<=n} C(k, i)."""
    return sum(comb(k, i) for i in range(n + 1))
