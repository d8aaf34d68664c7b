"""The batch geometry's MLP plan on networks traced on their first input (torch.export, or
maxima over an axis on the torch.fx route). Oracles: the same MLP written as nn.Sequential
(same numbers), cellgeom.nn.pullback's unit_boundary_distance (the generic route), and the
same call without a pullback() warm-up."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cellgeom.nn import (
    GeometricRegularizer,
    GeometryTracker,
    UnsupportedLayerError,
    local_complexity,
    pullback,
    unit_boundary_distance,
)
from cellgeom.nn._mlp_plan import _get_plan
from cellgeom.nn.batch_geometry import batch_cell_geometry


class GuardMLP(nn.Module):
    """A plain ReLU MLP that torch.fx cannot trace (a shape assert): torch.export's route."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(2, 8), nn.Linear(8, 6), nn.Linear(6, 2)

    def forward(self, x):
        assert x.shape[1] == 2
        return self.c(F.leaky_relu(self.b(F.relu(self.a(x))), 0.1))


class Maxout(nn.Module):
    """A maxout layer (torch.amax over groups of a Linear's outputs), traced on its first
    input on the torch.fx route to size the chain of maxima."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(2, 12), nn.Linear(4, 3)

    def forward(self, x):
        return self.b(self.a(x).view(-1, 3, 4).amax(dim=1))


class Twin(Maxout):
    """The same maxout written with torch.maximum (traced at once by torch.fx)."""

    def forward(self, x):
        g = self.a(x).view(-1, 3, 4)
        return self.b(torch.maximum(torch.maximum(g[:, 0], g[:, 1]), g[:, 2]))


def _guard_and_twin(seed=0):
    torch.manual_seed(seed)
    net = GuardMLP().eval()
    twin = nn.Sequential(net.a, nn.ReLU(), net.b, nn.LeakyReLU(0.1), net.c).eval()
    return net, twin


X = np.random.default_rng(0).normal(size=(40, 2))


def test_export_route_mlp_gives_the_numbers_of_its_sequential_twin():
    net, twin = _guard_and_twin()
    np.testing.assert_array_equal(local_complexity(net, X, 0.3), local_complexity(twin, X, 0.3))
    row, row_twin = GeometryTracker(net, X, radius=0.3).step(), \
        GeometryTracker(twin, X, radius=0.3).step()
    for key in row:
        if key != "seconds":
            assert row[key] == row_twin[key], key
    xt = torch.as_tensor(X, dtype=torch.float32)
    reg = GeometricRegularizer(margin=0.5, sharp_angle=30.0, face_disagreement=True)
    got = reg(net, xt)
    got.total.backward()
    grads = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    want = reg(twin, xt)
    want.total.backward()
    assert got.total.item() == want.total.item()
    for g, p in zip(grads, net.parameters()):  # the twin shares the user's parameters
        torch.testing.assert_close(g, p.grad, rtol=0, atol=0)
    geo, geo_twin = batch_cell_geometry(net, xt), batch_cell_geometry(twin, xt)
    torch.testing.assert_close(geo.distance, geo_twin.distance, rtol=0, atol=0)


def test_export_route_plan_refuses_a_batch_of_another_shape():
    net, _ = _guard_and_twin()
    GeometryTracker(net, X)  # traced on (batch, 2)
    with pytest.raises(ValueError, match=r"shape \(5, 3\), but the network expects "
                                         r"\(batch, 2\)"):
        GeometricRegularizer(margin=0.1)(net, torch.zeros(5, 3))


@pytest.mark.parametrize("cls", [Maxout, Twin])
def test_maxout_is_refused_by_name_and_local_complexity_takes_the_pullback_route(cls):
    torch.manual_seed(1)
    net = cls().double().eval()
    for call in (lambda: GeometryTracker(net, X),
                 lambda: GeometricRegularizer(margin=0.1)(net, torch.as_tensor(X))):
        with pytest.raises(UnsupportedLayerError, match=r"operation maximum .*maxout") as info:
            call()
        assert "branches" not in str(info.value)
    lc = local_complexity(net, X, 0.3)
    maps = pullback(net, X)
    want = [(unit_boundary_distance(m.A, m.c, X) <= 0.3).sum(axis=1) for m in maps[:-1]]
    np.testing.assert_array_equal(lc, np.stack(want, axis=1))


@pytest.mark.parametrize("cls", [GuardMLP, Maxout])
def test_a_pullback_warm_up_changes_nothing(cls):
    def fresh():
        torch.manual_seed(2)
        return cls().eval()
    cold = local_complexity(fresh(), X, 0.3)
    net = fresh()
    pullback(net, X[:1])
    np.testing.assert_array_equal(local_complexity(net, X, 0.3), cold)


def test_plan_of_a_network_traced_on_its_first_input_without_a_batch():
    """Without a batch, the plan traces on zeros shaped as the first nn.Linear's input."""
    net, twin = _guard_and_twin(3)
    plan, plan_twin = _get_plan(net), _get_plan(twin)
    assert [len(lins) for lins, _ in plan.hidden] == [len(lins) for lins, _ in plan_twin.hidden]
    assert plan.first is net.a and plan.head == (net.c,)
    assert plan.hidden[1][1].negative_slope == 0.1


class ForeignLinear(nn.Module):
    """F.linear on a bare parameter: no nn.Linear whose parameters the plan could read."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 2))
        self.out = nn.Linear(4, 1)

    def forward(self, x):
        assert x.shape[1] == 2
        return self.out(F.relu(F.linear(x, self.w)))


def test_a_linear_map_of_no_nn_linear_is_refused_by_name():
    with pytest.raises(UnsupportedLayerError, match=r"operation linear.*not those of an "
                                                    r"nn.Linear"):
        GeometricRegularizer(margin=0.1)(ForeignLinear().eval(), torch.zeros(3, 2))
