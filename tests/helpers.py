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


def sklearn_data(n=2, N=200, seed=0):
    """Points in a box widened along the axes, three classes from two linear cuts."""
    rng = np.random.default_rng(seed)
    X = rng.random((N, n)) * np.arange(1, n + 1)
    y = (X[:, 0] + X[:, -1] > 1.5).astype(int) + (X[:, 0] > 0.6)
    return X, y


def check_locate_and_centre_predictions(part, model, Xt, own_assign):
    """Oracle: the model's own assignment (nearest centre / arg-max) and model.predict."""
    cell = part.locate(Xt)
    assert np.all(cell >= 0)
    assert np.array_equal(own_assign, np.array(part.keys, dtype=int)[cell])
    assert np.array_equal(part.cells["prediction"].to_numpy()[cell], model.predict(Xt))
    assert np.array_equal(part.cells["prediction"].to_numpy(), model.predict(part.centers))
    assert abs(part.volumes.sum() / part.domain.volume - 1) < 1e-9


def relu_net_high_route(seed: int, widths, n: int = 3):
    """A random ReLU network R^n -> R (torch, seeded) on the box [-1, 1]^n, and its
    partition (cells="all") forced onto the high-dimensional route: ``exact_dim=2``,
    ``volume="none"`` (facets certified by LP, nothing measured). Returns
    ``(net, box, partition)``."""
    import torch

    torch.manual_seed(seed)
    sizes = [n, *widths, 1]
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers[:-1])
    box = cellgeom.Box(-np.ones(n), np.ones(n))
    part = cellgeom.partition(net, box, cells="all", exact_dim=2, volume="none",
                              progress=False)
    return net, box, part
