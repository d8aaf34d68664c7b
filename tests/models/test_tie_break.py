"""Data points on cell boundaries whose tie-broken key names a cell with no interior.

Oracle throughout: the data point lies in the closure of the cell it is counted in and
located in (the cell's own inequalities at the point, within the tolerance), every point
inside the domain is counted once (counts sum to the number of points), and ``locate``
returns the cell the counts went to.
"""
from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import cellgeom
from cellgeom.models.network import NetworkCells
from cellgeom.models.tie_break import STEPS, perturbed, settle_data_keys


def _closure_excess(part, X, cells):
    """Largest violation of each point's cell's inequalities (its distance outside)."""
    out = np.empty(len(X))
    for i, (x, c) in enumerate(zip(X, cells)):
        A, b = part.halfspaces(int(c))
        out[i] = np.max(A @ x - b)
    return out


def _check_every_point_counted(part, X):
    found = part.locate(X)
    assert (found >= 0).all()
    assert part.n_cells > 0
    np.testing.assert_array_equal(np.bincount(found, minlength=part.n_cells),
                                  part.cells["n_points"].to_numpy())
    assert part.cells["n_points"].sum() == len(X)
    assert _closure_excess(part, X, found).max() <= part.info["tol"]
    return found


class _DigitsNet(nn.Module):
    """A bias-free 1x1 convolution on 8x8 digits (exact-zero pixels), then amax, a chain
    of torch.maximum or ReLU: three units share each pixel's hyperplane x_p = 0, two with
    opposite signs."""

    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.w = nn.Parameter(torch.tensor([[0.5], [-0.7], [1.1]]))
        self.head = nn.Linear(64 * (3 if kind == "relu" else 1), 3)

    def forward(self, x):
        z = torch.einsum("bchw,oc->bohw", x, self.w)
        if self.kind == "amax":
            g = z.amax(dim=1)
        elif self.kind == "chain":
            g = torch.maximum(torch.maximum(z[:, 0], z[:, 1]), z[:, 2])
        else:
            g = torch.relu(z)
        return self.head(g.flatten(1))


@pytest.mark.parametrize("kind", ["amax", "chain", "relu"])
def test_digits_on_pixel_hyperplanes_are_counted_in_a_cell_holding_them(kind):
    """Before: 0 cells, n_dropped 30, every point in no cell, no warning."""
    from sklearn.datasets import load_digits

    X = load_digits().data[:30] / 16
    torch.manual_seed(0)
    net = _DigitsNet(kind).double().eval()
    box = cellgeom.Box(np.full(64, -0.1), np.full(64, 1.1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        part = cellgeom.partition(net, box, X, cells="data", input_shape=(1, 8, 8),
                                  progress=False, n_jobs=1, volume="none")
    _check_every_point_counted(part, X)
    assert part.info["n_points_on_boundaries"] == 30
    assert part.cells["is_data"].all()


def _opposite_units_net():
    """Units 0 and 1 are x_0 and -x_0 (one line, opposite normals), unit 2 is x_1 - 0.2."""
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)).double().eval()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.3, 1.0]]))
        net[0].bias.copy_(torch.tensor([0.0, 0.0, -0.2]))
        net[2].weight.copy_(torch.tensor([[1.0, 2.0, -1.0]]))
    return net


def _points_on_the_shared_line():
    rng = np.random.default_rng(1)
    on = np.column_stack([np.zeros(6), rng.uniform(-0.9, 0.9, 6)])
    off = rng.uniform(-0.9, 0.9, (20, 2))
    return np.vstack([on, off])


@pytest.mark.parametrize("cells", ["data", "all"])
def test_relu_points_on_a_line_shared_by_opposite_units(cells):
    """At x_0 = 0 both units are off: the key's cell is the line itself (dropped)."""
    net = _opposite_units_net()
    X = _points_on_the_shared_line()
    keys = NetworkCells(net).keys(X)
    assert all(k[:2] == "00" for k in keys[:6])  # the tie-broken, lower-dimensional key
    box = cellgeom.Box([-1, -1], [1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        part = cellgeom.partition(net, box, X, cells=cells, progress=False)
    found = _check_every_point_counted(part, X)
    assert part.info["n_points_on_boundaries"] == 6
    # the points off the line keep the cell of their own key
    np.testing.assert_array_equal(np.array(part.keys)[found[6:]], keys[6:])
    # each point on the line went to a full cell on one side of it (unit 0 or 1 on)
    assert all(part.keys[c][:2] in ("10", "01") for c in found[:6])
    # a pickled partition (its locator with it) locates them alike
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(part)).locate(X), found)


def test_generic_data_keeps_its_keys_and_cells():
    """Jittered data: no key moves, and the data cells are exactly the data's keys with
    their counts (the partition as before)."""
    net = _opposite_units_net()
    X = _points_on_the_shared_line() + np.random.default_rng(2).normal(0, 1e-3, (26, 2))
    model = NetworkCells(net)
    keys = model.keys(X)
    box = cellgeom.Box([-1, -1], [1, 1])
    settled, moved = settle_data_keys(model.keys, model.constraints, box, X, keys)
    assert moved == 0 and settled is keys
    part = cellgeom.partition(net, box, X, cells="data", progress=False)
    uniq, counts = np.unique(keys, return_counts=True)
    assert part.keys == list(uniq)
    np.testing.assert_array_equal(part.cells["n_points"].to_numpy(), counts)
    assert part.info["n_points_on_boundaries"] == 0
    np.testing.assert_array_equal(np.array(part.keys)[part.locate(X)], keys)


def test_perturbation_is_fixed_and_starts_at_1e3_tol():
    box = cellgeom.Box([0, 0, 0], [1, 2, 4])
    X = np.zeros((2, 3))
    a, b = perturbed(X, box, 1e-9, 0), perturbed(X, box, 1e-9, 0)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), STEPS[0] * 1e-9)
    np.testing.assert_array_equal(perturbed(X, box, 1e-9, 1), -a)


def test_arrangement_points_on_negated_copies_are_placed():
    """An arrangement with a hyperplane and its negated copy: the points on it go to a
    full-dimensional cell whose closure holds them, under cells="all" and under
    cells="data" (which builds that cell although no point lies inside it)."""
    arr = cellgeom.HyperplaneArrangement(np.array([[1.0, 0], [-1.0, 0]]), np.zeros(2))
    X = np.column_stack([np.zeros(5), np.linspace(-0.5, 0.5, 5)])
    box = cellgeom.Box([-1, -1], [1, 1])
    for cells in ("all", "data"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            part = cellgeom.partition(arr, domain=box, data=X, cells=cells, progress=False)
        _check_every_point_counted(part, X)
        assert part.info["n_points_on_boundaries"] == 5


def test_point_on_a_box_face_that_a_hyperplane_runs_along_is_located():
    """Oracle: the closure of cell '101' holds the point. Its key is the outside's ('100':
    z + 1 > 0 fails on z = -1); the step out of the box kept that key, which passed for
    'a key of its own', so the point was located nowhere and counted in no cell."""
    arr = cellgeom.HyperplaneArrangement([[1.0, 0.3, 0.0], [0.2, 1.0, 0.5], [0.0, 0.0, 1.0]],
                                         [0.1, -0.2, 1.0])
    X = np.array([[0.25, 0.5, -1.0], [0.25, 0.5, 1.0]])
    part = cellgeom.partition(arr, domain=cellgeom.Box(-np.ones(3), np.ones(3)), data=X,
                              cells="all", progress=False)
    cell = part.locate(X)
    assert [part.keys[c] for c in cell] == ["101", "111"]
    assert part.cells["n_points"].sum() == 2
