"""Models on the torch.export route, constants in forward, and the ops added to the tables.

Oracles: autograd Jacobians and ``net(x)`` of float64 twins (pullback's ``A`` is the
Jacobian on the cell, ``A x + c`` the output), the fx-traceable twin of a model that needs
torch.export, and ``predict`` of scikit-learn.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn

import cellgeom
from cellgeom.nn import UnsupportedLayerError, as_network, pullback, slice_partition

BOX = cellgeom.Box([-1.0, -1.0], [1.0, 1.0])


class Guarded(nn.Module):
    """``b(f(relu(a(x))))``; with ``guard`` a shape assert that torch.fx cannot trace, so
    the model goes through torch.export."""

    def __init__(self, f=None, guard=True, width=6, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.a, self.f, self.guard = nn.Linear(2, width), f, guard
        with torch.no_grad():
            n_mid = (f(torch.zeros(1, width)) if f is not None else torch.zeros(1, width)).shape[1]
        self.b = nn.Linear(n_mid, 3)

    def forward(self, x):
        if self.guard:
            assert x.shape[1] == 2, "expects 2 features"
        h = self.a(x)
        return self.b(self.f(h) if self.f is not None else F.relu(h))


def _on_export_route(net) -> bool:
    network = as_network(net)
    if network.ops is None:
        network._ensure(torch.zeros(1, 2, dtype=torch.float64))
    return isinstance(network.graph_module, fx.GraphModule) and \
        network.graph_module is not network.module


def _check_against_autograd(net, X):
    """pullback's output map is the autograd Jacobian of the float64 net, and A x + c its
    value, at every point."""
    net64 = net.double()
    Xt = torch.as_tensor(X, dtype=torch.float64)
    maps = pullback(net64, Xt)
    for i in range(len(Xt)):
        J = torch.autograd.functional.jacobian(lambda x: net64(x[None])[0], Xt[i])
        np.testing.assert_allclose(maps[-1].A[i], J.numpy(), atol=1e-12)
    out = net64(Xt).detach().numpy()
    np.testing.assert_allclose(np.einsum("bij,bj->bi", maps[-1].A, X) + maps[-1].c, out,
                               atol=1e-12)


# --------------------------------------------------------------- defect 3: partition on export
def test_partition_of_an_export_route_model_equals_its_fx_twin():
    guarded, twin = Guarded(guard=True).eval(), Guarded(guard=False).eval()
    assert _on_export_route(Guarded(guard=True).eval())
    ref = cellgeom.partition(twin, BOX, None, cells="all", progress=False)
    fresh = cellgeom.partition(guarded, BOX, None, cells="all", progress=False)
    assert fresh.cell_model.input_shape == (2,)  # inferred from the export graph's F.linear
    assert sorted(fresh.keys) == sorted(ref.keys) and ref.n_cells > 3
    order = np.argsort(fresh.keys), np.argsort(ref.keys)
    np.testing.assert_allclose(fresh.cells["volume"].to_numpy()[order[0]],
                               ref.cells["volume"].to_numpy()[order[1]], rtol=1e-9)
    # after a warm-up call (the graph already built by torch.export), and with data
    other = Guarded(guard=True).eval()
    pullback(other, np.zeros((1, 2)))
    X = np.random.default_rng(0).uniform(-1, 1, (40, 2))
    warm = cellgeom.partition(other, BOX, X, cells="data", progress=False)
    np.testing.assert_array_equal(warm.cell_model.keys(X), ref.cell_model.keys(X))


def test_partition_refuses_a_smooth_op_on_the_export_route_as_pullback_does():
    net = Guarded(torch.tanh, guard=True).eval()
    with pytest.raises(UnsupportedLayerError) as by_pullback:
        pullback(net, np.zeros((1, 2)))
    with pytest.raises(UnsupportedLayerError) as by_partition:
        cellgeom.partition(Guarded(torch.tanh, guard=True).eval(), BOX, None, cells="all",
                           progress=False)
    assert str(by_partition.value) == str(by_pullback.value)
    assert "graph node 'tanh'" in str(by_partition.value)
    assert "test_trace_fixes.py" in str(by_partition.value)  # the user's source line


def test_partition_asks_for_input_shape_when_the_guess_fails():
    class Conv(nn.Module):
        def __init__(self):
            super().__init__()
            self.c, self.lin = nn.Conv2d(1, 2, 2), nn.Linear(18, 2)

        def forward(self, x):
            assert x.shape[1] == 1
            return self.lin(F.relu(self.c(x)).flatten(1))

    torch.manual_seed(1)
    net = Conv().eval()
    box = cellgeom.Box([-1.0] * 16, [1.0] * 16)
    with pytest.raises(ValueError, match=r"guessed from its first nn.Linear.*Pass input_shape="):
        cellgeom.partition(net, box, None, cells="all", progress=False)
    X = np.random.default_rng(1).uniform(-1, 1, (30, 16))
    part = cellgeom.partition(net, box, X, cells="data", progress=False, input_shape=(1, 4, 4))
    h = F.relu(net.c(torch.as_tensor(X, dtype=torch.float32).reshape(-1, 1, 4, 4)))
    bits = (h.flatten(1) > 0).numpy()
    assert part.n_cells == len(np.unique(bits, axis=0))


# ------------------------------------------------------- defect 4: the export route's op table
OPS = {
    "rsub": lambda h: 1.0 - h,
    "flip": lambda h: h.flip(1),
    "clip": lambda h: torch.clip(h, -0.2, 0.3),
    "clamp_min": lambda h: torch.clamp(h, min=0.1),
    "clamp_inplace": lambda h: h.clone().clamp_(-0.2, 0.3),
    "index_list": lambda h: h[:, [0, 2, 4, 1, 3, 5]],
    "maximum_zeros_like": lambda h: torch.maximum(h, torch.zeros_like(h)),
    "maximum": lambda h: torch.maximum(h, 0.3 * h),  # was read as a minimum on export
    "max_two": lambda h: torch.max(h, 0.3 * h),
    "min_two": lambda h: torch.min(h, 0.3 * h),
    "narrow": lambda h: torch.narrow(F.relu(h), 1, 1, 4),
    "positive": lambda h: +F.relu(h),
    "pad": lambda h: F.pad(F.relu(h), (1, 2), value=0.5),
    "threshold": lambda h: F.threshold(h, 0.1, -0.5),
    "unflatten": lambda h: F.relu(h).unflatten(1, (2, 3)).flip(2).flatten(1),
    "repeat": lambda h: F.relu(F.relu(h).repeat(1, 2) - 0.1),
    "tile": lambda h: F.relu(torch.tile(F.relu(h), (1, 2)) - 0.1),
    "expand": lambda h: F.relu(F.relu(h).unsqueeze(1).expand(-1, 2, -1).flatten(1) - 0.1),
}


@pytest.mark.parametrize("guard", [True, False], ids=["export", "fx"])
@pytest.mark.parametrize("name", sorted(OPS))
def test_affine_ops_match_autograd_on_both_routes(name, guard):
    net = Guarded(OPS[name], guard=guard, seed=3).eval()
    assert _on_export_route(net) == guard
    X = np.random.default_rng(2).normal(size=(12, 2))
    _check_against_autograd(net, X)


# ------------------------------------------------------ defect 5: constants in forward
P = torch.randn(3, 6, generator=torch.Generator().manual_seed(5))  # float32, module level


class Projected(nn.Module):
    def __init__(self, guard, proj=P):
        super().__init__()
        torch.manual_seed(6)
        self.a, self.guard, self.proj = nn.Linear(2, 6), guard, proj
        self.scale = torch.linspace(0.5, 1.5, 6)  # a plain tensor attribute, not a buffer

    def forward(self, x):
        if self.guard:
            assert x.shape[1] == 2
        return (F.relu(self.a(x)) * self.scale) @ P.T + torch.ones(3)


@pytest.mark.parametrize("guard", [False, True], ids=["fx", "export"])
def test_float32_constants_in_forward_work_in_float64(guard):
    net = Projected(guard).eval()
    X = np.random.default_rng(3).uniform(-1, 1, (10, 2))
    Xt = torch.as_tensor(X)
    maps = pullback(net, X)  # float64 by default

    def f64(x):  # the float64 oracle: the same function with float64 constants
        x = x.detach() if not x.requires_grad else x
        h = F.relu(F.linear(x, net.a.weight.double(), net.a.bias.double()))
        return (h * net.scale.double()) @ P.double().T + 1.0

    for i in range(len(X)):
        J = torch.autograd.functional.jacobian(lambda x: f64(x[None])[0], Xt[i])
        np.testing.assert_allclose(maps[-1].A[i], J.numpy(), atol=1e-12)
    with torch.no_grad():
        out = f64(Xt).numpy()
    np.testing.assert_allclose(np.einsum("bij,bj->bi", maps[-1].A, X) + maps[-1].c, out,
                               atol=1e-12)
    regions = slice_partition(net, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], 1.0)
    bits = (F.linear(Xt, net.a.weight.double(), net.a.bias.double()) > 0).detach().numpy()
    assert regions.n_regions >= len(np.unique(bits, axis=0))
    part = cellgeom.partition(net, BOX, X, cells="data", progress=False)
    pred = out.argmax(1)
    np.testing.assert_array_equal(part.cells["prediction"].to_numpy()[part.locate(X)], pred)


def test_a_genuine_dtype_error_names_the_node_not_the_input_shape():
    net = Projected(False).eval().double()  # float64 weights, float32 P: torch fails too
    with pytest.raises(RuntimeError, match="same dtype"):
        net(torch.zeros(1, 2, dtype=torch.float64))
    with pytest.raises(RuntimeError, match=r"graph node 'matmul'.*same dtype") as info:
        pullback(net, np.zeros((1, 2)))
    assert "does not fit" not in str(info.value)
    assert not isinstance(info.value, ValueError)


# ------------------------------------------------- defect 6: threshold, unflatten, ZeroPad
def test_threshold_unflatten_and_zero_pad_modules_match_autograd():
    torch.manual_seed(7)
    net = nn.Sequential(nn.Linear(2, 6), nn.Unflatten(1, (1, 2, 3)), nn.ZeroPad2d(1),
                        nn.Conv2d(1, 2, 2), nn.Flatten(), nn.Threshold(0.05, -0.3),
                        nn.Linear(24, 2)).eval()
    X = np.random.default_rng(4).normal(size=(8, 2))
    _check_against_autograd(net, X)
    zp1 = nn.Sequential(nn.Linear(2, 4), nn.Unflatten(1, (1, 4)), nn.ZeroPad1d((2, 1)),
                        nn.Conv1d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(10, 1)).eval()
    _check_against_autograd(zp1, X)
    # F.threshold's pattern is the piece x > threshold, as nn.Threshold's
    f_net = Guarded(lambda h: F.threshold(h, 0.1, -0.5), guard=False, seed=8).eval().double()
    maps = pullback(f_net, X)
    h = f_net.a(torch.as_tensor(X)).detach().numpy()
    np.testing.assert_array_equal(maps[0].pattern, (h > 0.1).astype(int))


def test_threshold_with_an_input_dependent_threshold_is_refused():
    net = Guarded(lambda h: F.threshold(h, h.size(1) * 0.1, 0.0), guard=False).eval()
    with pytest.raises(UnsupportedLayerError, match="graph node '_threshold'.*constant number"):
        pullback(net, np.zeros((1, 2)))


# ------------------------------------------------------------ affine networks: one cell
def test_affine_networks_partition_as_one_cell_or_argmax_regions():
    torch.manual_seed(9)
    X = np.random.default_rng(5).uniform(-1, 1, (200, 2))
    reg = nn.Linear(2, 1).eval()
    part = cellgeom.partition(reg, BOX, None, cells="all", progress=False)
    assert part.n_cells == 1 and part.keys == [""]
    np.testing.assert_allclose(part.cells["volume"].to_numpy(), [4.0])
    clf = nn.Linear(2, 3).eval()
    part = cellgeom.partition(clf, BOX, X, cells="all", progress=False)
    pred = clf(torch.as_tensor(X, dtype=torch.float32)).argmax(1).numpy()
    np.testing.assert_array_equal(part.cells["prediction"].to_numpy()[part.locate(X)], pred)
    np.testing.assert_allclose(part.cells["volume"].sum(), 4.0)
    with pytest.raises(ValueError, match="no activation layer"):
        cellgeom.partition(reg, BOX, None, cells="all", progress=False, upto_layer=1)


def test_identity_mlp_classifier_partitions_as_its_linear_twin():
    pytest.importorskip("sklearn")
    import warnings

    from sklearn.neural_network import MLPClassifier

    X = np.random.default_rng(6).normal(size=(80, 2))
    y = (X[:, 0] + 0.3 * X[:, 1] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPClassifier((4,), activation="identity", max_iter=300, random_state=0).fit(X, y)
    box = cellgeom.Box([-3.0, -3.0], [3.0, 3.0])
    part = cellgeom.partition(mlp, box, None, cells="all", progress=False)
    inside = box.contains(X)
    np.testing.assert_array_equal(
        part.cells["prediction"].to_numpy()[part.locate(X[inside])], mlp.predict(X[inside]))
    assert part.n_cells == len(np.unique(mlp.predict(X[inside])))
