"""Models as their users write them (issue #17): each traced model gives the same cells
(activation patterns), pullbacks and slice regions as the same function written as
nn.Sequential / cellgeom.nn.Residual; oracles: the Sequential twin and autograd Jacobians."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cellgeom.nn import Residual, activation_patterns, as_network, pullback, slice_partition
from cellgeom.nn.trace import fits_trace


def _init(net, seed, scale=0.6):
    torch.manual_seed(seed)
    for p in net.parameters():
        nn.init.normal_(p, std=scale)
    return net.double().eval()


class CustomMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.out = nn.Linear(3, 8), nn.Linear(8, 6), nn.Linear(6, 2)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        h = torch.relu(self.fc2(h))
        return self.out(h)


class ResidualMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.out = nn.Linear(3, 6), nn.Linear(6, 6), nn.Linear(6, 2)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        h = F.relu(self.fc2(h)) + h
        return self.out(h)


class BranchConcat(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.out = nn.Linear(3, 4), nn.Linear(3, 5), nn.Linear(9, 2)

    def forward(self, x):
        return self.out(torch.cat([F.relu(self.a(x)), F.relu(self.b(x))], dim=1))


class Block(nn.Module):
    """A torchvision-style basic block: conv-bn-relu-conv-bn, identity add, relu."""

    def __init__(self, c):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + x)


class SmallResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem, self.bn = nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3)
        self.block = Block(3)
        self.fc = nn.Linear(3 * 2 * 2, 4)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.stem(x))), 2)
        x = self.block(x)
        x = F.adaptive_avg_pool2d(x, 2)
        return self.fc(x.view(x.size(0), -1))


def _twin_resnet(m: SmallResNet) -> nn.Sequential:
    b = m.block
    return nn.Sequential(
        m.stem, m.bn, nn.ReLU(), nn.MaxPool2d(2),
        Residual(nn.Sequential(b.conv1, b.bn1, nn.ReLU(), b.conv2, b.bn2)), nn.ReLU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), m.fc).eval()


def _randomise_bn(net, seed):
    g = torch.Generator().manual_seed(seed)
    for mod in net.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.copy_(torch.randn(mod.num_features, generator=g) * 0.1)
            mod.running_var.copy_(torch.rand(mod.num_features, generator=g) + 0.5)
    return net


def _cases():
    mlp = _init(CustomMLP(), 0)
    res = _init(ResidualMLP(), 1)
    cat = _init(BranchConcat(), 2)
    stacked = nn.Linear(3, 9).double()
    with torch.no_grad():
        stacked.weight.copy_(torch.cat([cat.a.weight, cat.b.weight]))
        stacked.bias.copy_(torch.cat([cat.a.bias, cat.b.bias]))
    cnn = _randomise_bn(_init(SmallResNet(), 3, 0.4), 3)
    return {
        "custom_mlp": (mlp, nn.Sequential(mlp.fc1, nn.ReLU(), mlp.fc2, nn.ReLU(), mlp.out),
                       (3,)),
        "residual_functional": (res, nn.Sequential(
            res.fc1, nn.ReLU(), Residual(nn.Sequential(res.fc2, nn.ReLU())), res.out), (3,)),
        "branch_concat": (cat, nn.Sequential(stacked, nn.ReLU(), cat.out), (3,)),
        "resnet_cnn_8x8": (cnn, _twin_resnet(cnn), (1, 8, 8)),
    }


CASES = _cases()


def _digits(shape, n, seed):
    if shape == (1, 8, 8):
        from sklearn.datasets import load_digits

        X = load_digits().data[:n] / 16.0
        return X.reshape(n, 1, 8, 8)
    return np.random.default_rng(seed).normal(size=(n,) + shape)


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_cells_and_outputs_as_the_sequential_twin(name):
    net, twin, shape = CASES[name]
    X = _digits(shape, 200, 0)
    a, b = activation_patterns(net, X), activation_patterns(twin, X)
    np.testing.assert_array_equal(a.keys, b.keys)
    np.testing.assert_allclose(a.output, b.output, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a.output, net(torch.as_tensor(X)).detach().numpy(), atol=1e-12)


@pytest.mark.parametrize("name", sorted(CASES))
def test_pullbacks_equal_autograd_and_the_twin(name):
    net, twin, shape = CASES[name]
    X = torch.as_tensor(_digits(shape, 5, 1))
    maps, twin_maps = pullback(net, X), pullback(twin, X)
    for key in ("A", "c"):  # all hidden units (layers may group them differently), output
        for part in (slice(0, -1), slice(-1, None)):
            got = np.concatenate([getattr(m, key) for m in maps[part]], axis=1)
            want = np.concatenate([getattr(m, key) for m in twin_maps[part]], axis=1)
            np.testing.assert_allclose(got, want, atol=1e-12)
    for i in range(len(X)):
        J = torch.autograd.functional.jacobian(lambda x: net(x[None])[0], X[i])
        np.testing.assert_allclose(maps[-1].A[i], J.reshape(J.shape[0], -1).numpy(),
                                   atol=1e-10)
        out = maps[-1].A[i] @ X[i].reshape(-1).numpy() + maps[-1].c[i]
        np.testing.assert_allclose(out, net(X[i:i + 1])[0].detach().numpy(), atol=1e-10)


@pytest.mark.parametrize("name", sorted(CASES))
def test_slice_regions_equal_the_twin(name):
    net, twin, shape = CASES[name]
    X = _digits(shape, 3, 2)
    o, u, v = X[0], X[1] - X[0], X[2] - X[0]
    r, q = slice_partition(net, o, u, v, 1.0), slice_partition(twin, o, u, v, 1.0)
    assert r.n_regions == q.n_regions > 5
    order_r, order_q = np.lexsort(r.keys.T), np.lexsort(q.keys.T)
    np.testing.assert_array_equal(r.keys[order_r], q.keys[order_q])
    np.testing.assert_allclose(r.areas[order_r], q.areas[order_q], rtol=1e-9, atol=1e-13)


class MaxNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.out = nn.Linear(2, 5), nn.Linear(2, 5), nn.Linear(5, 1)

    def forward(self, x):
        h = torch.maximum(self.a(x), self.b(x)) * 0.5
        return self.out(h.reshape(-1, 5).permute(0, 1))


def test_maximum_is_a_unit_with_pre_activation_a_minus_b():
    """Oracle: max(a, b) = b + relu(a - b), written with a ReLU; autograd Jacobians."""
    net = _init(MaxNet(), 4)
    diff = nn.Linear(2, 5).double()
    with torch.no_grad():
        diff.weight.copy_(net.a.weight - net.b.weight)
        diff.bias.copy_(net.a.bias - net.b.bias)
    X = np.random.default_rng(3).normal(size=(300, 2))
    got = activation_patterns(net, X)
    want = activation_patterns(nn.Sequential(diff, nn.ReLU()).eval(), X)
    np.testing.assert_array_equal(got.keys, want.keys)
    Xt = torch.as_tensor(X[:4])
    maps = pullback(net, Xt)
    for i in range(4):
        J = torch.autograd.functional.jacobian(lambda x: net(x[None])[0], Xt[i])
        np.testing.assert_allclose(maps[-1].A[i], J.numpy(), atol=1e-12)
    regions = slice_partition(net, np.zeros(2), [1.0, 0], [0, 1.0], 3.0)
    assert regions.n_regions == slice_partition(nn.Sequential(diff, nn.ReLU()).eval(),
                                                np.zeros(2), [1.0, 0], [0, 1.0], 3.0).n_regions


class ShapeBranch(nn.Module):
    """Python control flow on the input's shape: torch.fx cannot trace it, torch.export can."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 6), nn.Linear(6, 1)

    def forward(self, x):
        if x.shape[1] == 4:
            x = F.leaky_relu(self.fc1(x), 0.1)
        return self.fc2(x)


def test_export_fallback_when_fx_cannot_trace():
    net = _init(ShapeBranch(), 5)
    twin = nn.Sequential(net.fc1, nn.LeakyReLU(0.1), net.fc2).eval()
    X = np.random.default_rng(4).normal(size=(50, 4))
    np.testing.assert_array_equal(activation_patterns(net, X).keys,
                                  activation_patterns(twin, X).keys)
    m1, m2 = pullback(net, X[:3]), pullback(twin, X[:3])
    np.testing.assert_allclose(m1[-1].A, m2[-1].A, atol=1e-12)


def test_batch_mixing_and_products_are_refused():
    class Norm(nn.Module):
        def forward(self, x):
            return F.relu(x - x.mean(0, keepdim=True))

    class Square(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            h = self.fc(x)
            return F.relu(h) * h

    from cellgeom.nn import UnsupportedLayerError

    with pytest.raises(UnsupportedLayerError, match="mixes the points of a batch"):
        activation_patterns(Norm(), np.random.default_rng(0).normal(size=(3, 2)))
    with pytest.raises(UnsupportedLayerError, match="graph node 'mul'.*two input-dependent"):
        as_network(Square().eval())


def test_exported_program_of_the_resnet_gives_the_same_cells():
    """Oracle: the fx-traced module (a torch.export program is traced at the aten level)."""
    net, _, shape = CASES["resnet_cnn_8x8"]
    batch = torch.export.Dim("batch")
    gm = torch.export.export(net, (torch.zeros(2, *shape, dtype=torch.float64),),
                             dynamic_shapes=({0: batch},), strict=False).module()
    X = _digits(shape, 60, 0)
    np.testing.assert_array_equal(activation_patterns(gm, X).keys,
                                  activation_patterns(net, X).keys)
    np.testing.assert_allclose(pullback(gm, X[:2])[-1].A, pullback(net, X[:2])[-1].A,
                               atol=1e-12)


def test_saved_exported_resnet_loads_and_traces(tmp_path):
    """Oracle: the original module's cells and pullbacks (load_network returns the exported
    program's module when it is not a Linear/ReLU sequence)."""
    from cellgeom.nn import load_network

    net, _, shape = CASES["resnet_cnn_8x8"]
    batch = torch.export.Dim("batch")
    program = torch.export.export(net, (torch.zeros(2, *shape, dtype=torch.float64),),
                                  dynamic_shapes=({0: batch},), strict=False)
    torch.export.save(program, str(tmp_path / "resnet.pt2"))
    loaded = load_network(tmp_path / "resnet.pt2")
    X = _digits(shape, 40, 0)
    np.testing.assert_array_equal(activation_patterns(loaded, X).keys,
                                  activation_patterns(net, X).keys)


@pytest.mark.parametrize("name,kind", [("net.pt2", "torch.export program"),
                                       ("net.pt", "torch.save file")])
def test_load_network_names_an_unreadable_file(tmp_path, name, kind):
    """A cut or foreign file: a ValueError with its name, not torch's bare BadZipFile or
    UnpicklingError; a missing file: FileNotFoundError with its name."""
    from cellgeom.nn import load_network

    path = tmp_path / name
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match=f"{name}' is not a readable {kind}"):
        load_network(path, allow_pickle=True)
    with pytest.raises(FileNotFoundError, match="missing.pt2"):
        load_network(tmp_path / "missing.pt2")


# ------------------------------------------------------ a global maximum at two image sizes
class GlobalMax(nn.Module):
    """Fully convolutional with a global max over height and width: torch runs it at any
    image size; on the torch.fx route its chains of maxima are sized on the traced input."""

    def __init__(self):
        super().__init__()
        self.c, self.h = nn.Conv2d(1, 3, 3, padding=1), nn.Linear(3, 2)

    def forward(self, x):
        return self.h(F.relu(self.c(x)).amax(dim=(2, 3)))


def _traced_for(network, X):
    """What PiecewiseLinearNetwork needs before it runs ``X``: a graph that fits it."""
    if not fits_trace(network.ops, X):
        network._build(X[:1])


def _pullback_and_patterns(network, net, X):
    """pullback (output map = the autograd Jacobian, A x + c = the output) and
    activation_patterns (output = torch's) of ``X``."""
    Xt = torch.as_tensor(X)
    _traced_for(network, Xt)
    maps = pullback(network, X)
    pats = activation_patterns(network, X)
    with torch.no_grad():
        np.testing.assert_allclose(pats.output, net(Xt).numpy(), atol=1e-12)
    for i in range(len(X)):
        J = torch.autograd.functional.jacobian(lambda x: net(x[None])[0], Xt[i])
        np.testing.assert_allclose(maps[-1].A[i], J.reshape(2, -1).numpy(), atol=1e-12)
    np.testing.assert_allclose(np.einsum("bij,bj->bi", maps[-1].A, X.reshape(len(X), -1))
                               + maps[-1].c, pats.output, atol=1e-12)
    return maps, pats


def test_a_global_max_traced_on_one_image_size_is_traced_again_for_another():
    """fits_trace tells when the chains of maxima were sized on another input shape; traced
    again, pullback equals autograd and the patterns' outputs torch's at both sizes, and
    the first size's results are the same after the second size ran."""
    net = _init(GlobalMax(), 11)
    network = as_network(net)
    rng = np.random.default_rng(11)
    x6, x8 = rng.normal(size=(4, 1, 6, 6)), rng.normal(size=(4, 1, 8, 8))
    maps6, pats6 = _pullback_and_patterns(network, net, x6)
    assert fits_trace(network.ops, torch.zeros(1, 1, 6, 6))
    assert not fits_trace(network.ops, torch.zeros(1, 1, 8, 8))
    assert len(maps6) == 1 + 2 * 5 + 1  # ReLU, 5 + 5 maxima over the width then height
    maps8, _ = _pullback_and_patterns(network, net, x8)
    assert len(maps8) == 1 + 2 * 7 + 1
    again, pats_again = _pullback_and_patterns(network, net, x6)
    np.testing.assert_array_equal(pats_again.keys, pats6.keys)
    for a, b in zip(again, maps6, strict=True):
        np.testing.assert_array_equal(a.A, b.A)
        np.testing.assert_array_equal(a.c, b.c)


def test_graphs_without_sized_maxima_fit_every_input():
    net = _init(CustomMLP(), 12)
    network = as_network(net)
    pullback(network, np.zeros((1, 3)))
    assert fits_trace(network.ops, torch.zeros(1, 3)) and fits_trace(network.ops,
                                                                     torch.zeros(1, 4))


def test_pullback_and_activation_patterns_of_a_global_max_at_two_image_sizes():
    net = _init(GlobalMax(), 13)
    rng = np.random.default_rng(13)
    x6, x8 = rng.normal(size=(2, 1, 6, 6)), rng.normal(size=(2, 1, 8, 8))
    first = pullback(net, x6)
    for X in (x8, x6):
        maps, out = pullback(net, X), activation_patterns(net, X).output
        with torch.no_grad():
            np.testing.assert_allclose(out, net(torch.as_tensor(X)).numpy(), atol=1e-12)
        for i in range(len(X)):
            J = torch.autograd.functional.jacobian(lambda x: net(x[None])[0],
                                                   torch.as_tensor(X[i]))
            np.testing.assert_allclose(maps[-1].A[i], J.reshape(2, -1).numpy(), atol=1e-12)
    np.testing.assert_array_equal(maps[-1].A, first[-1].A)
