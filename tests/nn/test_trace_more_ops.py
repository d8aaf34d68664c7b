"""Ops added to the trace tables, on the torch.fx and the torch.export route: transposed
convolutions, resampling (Upsample / F.interpolate in every mode, PixelShuffle), maxima and
minima over an axis (rewritten as chains of torch.maximum), einsum with one input-dependent
operand; and the refusals with their hints (bilinear einsum, arg-max indices, a final
softmax / sigmoid).

Oracles: autograd Jacobians of the float64 model at the data points (pullback's maps, and
the maps the partition derives from each cell's key alone), and the same function written
with ops supported before (a Linear holding the materialised matrix of the new linear op, a
hand-written torch.maximum chain), which must give the same cells.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn

import cellgeom
from cellgeom.nn import UnsupportedLayerError, as_network, pullback

F64 = torch.float64


class Routed(nn.Module):
    """``body(x)``; with ``guard`` a shape assert that torch.fx cannot trace, so the model
    goes through torch.export."""

    def __init__(self, body, guard: bool, channels: int):
        super().__init__()
        self.body, self.guard, self.channels = body, guard, channels

    def forward(self, x):
        if self.guard:
            assert x.shape[1] == self.channels
        return self.body(x)


def _route(net, shape) -> str:
    network = as_network(net)
    if network.ops is None:  # traced on the first input (torch.export, or shapes needed)
        network._ensure(torch.zeros((1,) + shape, dtype=F64))
    exported = isinstance(network.graph_module, fx.GraphModule) and \
        network.graph_module is not network.module
    return "export" if exported else "fx"


def _jacobians(net, X):
    """Autograd Jacobians (N, n_out, n_in) and outputs (N, n_out) of the float64 net."""
    Xt = torch.as_tensor(X, dtype=F64)
    J = [torch.autograd.functional.jacobian(lambda x: net(x[None])[0].reshape(-1), x)
         for x in Xt]
    with torch.no_grad():
        out = net(Xt).reshape(len(Xt), -1)
    return torch.stack(J).reshape(len(Xt), out.shape[1], -1).numpy(), out.numpy()


def _check_pullback(net, X):
    """pullback's output map is the autograd Jacobian at every point, A x + c the output."""
    J, out = _jacobians(net, X)
    maps = pullback(net, X)
    np.testing.assert_allclose(maps[-1].A, J, atol=1e-11)
    flat = X.reshape(len(X), -1)
    np.testing.assert_allclose(np.einsum("bij,bj->bi", maps[-1].A, flat) + maps[-1].c, out,
                               atol=1e-11)
    return maps


def _check_partition(net, twin, X, shape):
    """The data cells of ``net``: their key-derived maps are the autograd Jacobians at the
    data points (hidden units: pullback's maps; class comparisons f_k - f_j), and the twin
    written with older ops has the same cells."""
    flat = X.reshape(len(X), -1)
    box = cellgeom.Box(flat.min(0) - 0.1, flat.max(0) + 0.1)
    kw = dict(cells="data", progress=False, n_jobs=1, input_shape=shape, volume="none")
    part = cellgeom.partition(net, box, flat, **kw)
    model = part.cell_model
    keys = model.keys(flat)
    A, c = model.layer_maps(list(keys))
    hidden = model.n_hidden
    maps = _check_pullback(net, X)
    np.testing.assert_allclose(A[:, :hidden], np.concatenate([m.A for m in maps[:-1]], 1),
                               atol=1e-11)
    J, out = _jacobians(net, X)
    j, k = model.pairs[:, 0], model.pairs[:, 1]
    np.testing.assert_allclose(A[:, hidden:], J[:, k] - J[:, j], atol=1e-11)
    const = out - np.einsum("bij,bj->bi", J, flat)
    np.testing.assert_allclose(c[:, hidden:], const[:, k] - const[:, j], atol=1e-10)
    assert part.n_cells == len(set(keys)) > 3
    ref = cellgeom.partition(twin, box, flat, **kw)
    assert sorted(part.keys) == sorted(ref.keys)
    np.testing.assert_array_equal(keys, ref.cell_model.keys(flat))


def _as_linear(f, in_shape, bias=None) -> nn.Linear:
    """The linear map ``f`` on inputs of ``in_shape`` as an nn.Linear on flat vectors (its
    matrix materialised column by column), plus ``bias`` (flattened)."""
    n = math.prod(in_shape)
    with torch.no_grad():
        cols = f(torch.eye(n, dtype=F64).reshape((n,) + in_shape)).reshape(n, -1)
        lin = nn.Linear(n, cols.shape[1]).double()
        lin.weight.copy_(cols.T)
        lin.bias.copy_(torch.zeros(cols.shape[1]) if bias is None else bias.reshape(-1))
    return lin


def _init(net, seed):
    torch.manual_seed(seed)
    for p in net.parameters():
        nn.init.normal_(p, std=0.6)
    return net.double().eval()


class Head(nn.Module):
    """``f(a(x))`` for a Linear ``a`` on 2 features."""

    def __init__(self, f, width=6):
        super().__init__()
        self.a, self.f = nn.Linear(2, width), f

    def forward(self, x):
        return self.f(self.a(x))


ROUTES = pytest.mark.parametrize("guard", [False, True], ids=["fx", "export"])


# ------------------------------------------------------------- transposed convolutions
class ConvDecoder(nn.Module):
    """Conv encoder 1x4x4 -> 3x2x2, ConvTranspose2d decoder back to 2x4x4, classifier."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Conv2d(1, 3, 3)
        self.up = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
        self.head = nn.Linear(32, 3)

    def forward(self, x):
        h = F.relu(self.enc(x))
        h = F.relu(self.up(h, output_size=[4, 4]))  # output_padding 1, from output_size
        return self.head(h.flatten(1))


def _decoder_twin(net: ConvDecoder) -> nn.Sequential:
    up = net.up
    bias = up.bias.detach().reshape(-1, 1, 1).expand(2, 4, 4)
    lin = _as_linear(lambda h: F.conv_transpose2d(h, up.weight, None, 2, 1, 1), (3, 2, 2),
                     bias)
    return nn.Sequential(net.enc, nn.ReLU(), nn.Flatten(), lin, nn.ReLU(), net.head).eval()


@ROUTES
def test_conv_transpose_decoder_cells_match_autograd_and_the_linear_twin(guard):
    net = _init(ConvDecoder(), 0)
    routed = Routed(net, guard, 1).eval()
    assert _route(routed, (1, 4, 4)) == ("export" if guard else "fx")
    X = np.random.default_rng(0).normal(size=(25, 1, 4, 4))
    _check_partition(routed, _decoder_twin(net), X, (1, 4, 4))


class TransposedOps(nn.Module):
    """ConvTranspose1d, F.conv_transpose1d and F.conv_transpose2d (groups, dilation)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 8)
        self.t1 = nn.ConvTranspose1d(2, 2, 3, stride=2, padding=1, dilation=2)
        self.w1, self.b1 = nn.Parameter(torch.randn(2, 1, 2)), nn.Parameter(torch.randn(1))
        self.w2 = nn.Parameter(torch.randn(2, 1, 2, 2))
        self.out = nn.Linear(1, 2)

    def forward(self, x):
        h = F.relu(self.a(x)).reshape(-1, 2, 4)
        u = F.relu(self.t1(h))
        v = F.relu(F.conv_transpose1d(u, self.w1, self.b1, stride=2) - 0.1)
        w = F.conv_transpose2d(h.unsqueeze(2), self.w2, None, stride=1, groups=2, dilation=2)
        return self.out(v.sum(2) + F.relu(w).flatten(1).sum(1, keepdim=True))


@ROUTES
def test_transposed_convolutions_match_autograd(guard):
    net = Routed(_init(TransposedOps(), 1), guard, 3).eval()
    assert _route(net, (3,)) == ("export" if guard else "fx")
    _check_pullback(net, np.random.default_rng(1).normal(size=(8, 3)))


# ---------------------------------------------------------------- resampling, shuffles
class UpDecoder(nn.Module):
    """Conv encoder 1x4x4 -> 4x2x2, bilinear Upsample, pixel shuffle to 1x8x8, conv."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Conv2d(1, 4, 3)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.mix = nn.Conv2d(1, 2, 3, stride=2)
        self.head = nn.Linear(18, 3)

    def forward(self, x):
        h = F.relu(self.enc(x))
        u = F.pixel_shuffle(self.up(h), 2)
        return self.head(F.relu(self.mix(u)).flatten(1))


@ROUTES
def test_upsample_decoder_cells_match_autograd_and_the_linear_twin(guard):
    net = _init(UpDecoder(), 2)
    routed = Routed(net, guard, 1).eval()
    assert _route(routed, (1, 4, 4)) == ("export" if guard else "fx")
    lin = _as_linear(lambda h: F.pixel_shuffle(net.up(h), 2), (4, 2, 2))
    twin = nn.Sequential(net.enc, nn.ReLU(), nn.Flatten(), lin, nn.Unflatten(1, (1, 8, 8)),
                         net.mix, nn.ReLU(), nn.Flatten(), net.head).eval()
    X = np.random.default_rng(2).normal(size=(25, 1, 4, 4))
    _check_partition(routed, twin, X, (1, 4, 4))


class AllModes(nn.Module):
    """Every interpolation mode (1-D, 2-D, 3-D; scale_factor or size; align_corners;
    antialias), nn.Upsample / UpsamplingBilinear2d, PixelShuffle / PixelUnshuffle modules,
    side by side on one hidden map."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(1, 4, 2)  # 1x4x4 -> 4x3x3
        self.near = nn.Upsample(size=(4, 5), mode="nearest")
        self.bil = nn.UpsamplingBilinear2d(scale_factor=2)
        self.shuffle, self.unshuffle = nn.PixelShuffle(2), nn.PixelUnshuffle(2)
        self.out = nn.Linear(1, 2)

    def forward(self, x):
        h = F.relu(self.c(x))
        i = F.interpolate
        parts = [
            i(h, scale_factor=2, mode="nearest"), i(h, size=(5, 4), mode="nearest-exact"),
            i(h, scale_factor=1.5, mode="bilinear"),
            i(h, size=(4, 5), mode="bilinear", align_corners=True),
            i(h, scale_factor=2, mode="bicubic"), i(h, size=(5, 5), mode="bicubic",
                                                   align_corners=True),
            i(h, size=(2, 2), mode="area"), i(h, size=(2, 2), mode="bilinear", antialias=True),
            i(h, size=(2, 2), mode="bicubic", antialias=True),
            i(h.flatten(2), scale_factor=2, mode="linear", align_corners=True),
            i(h.flatten(2), size=5, mode="nearest"), i(h.flatten(2), size=4, mode="area"),
            i(h.unsqueeze(2), scale_factor=2, mode="trilinear"),
            i(h.unsqueeze(2), scale_factor=(1, 2, 1), mode="nearest"),
            self.near(h), self.bil(h), self.unshuffle(self.shuffle(h)),
        ]
        z = torch.cat([p.flatten(1) for p in parts], 1)
        return self.out(F.relu(z - 0.2).sum(1, keepdim=True))


@ROUTES
def test_every_interpolation_mode_and_shuffle_matches_autograd(guard):
    net = Routed(_init(AllModes(), 3), guard, 1).eval()
    assert _route(net, (1, 4, 4)) == ("export" if guard else "fx")
    _check_pullback(net, np.random.default_rng(3).normal(size=(6, 1, 4, 4)))


# ------------------------------------------------------------ maxima over an axis
REDUCE = {
    "amax": lambda h: torch.amax(h, -1),
    "method_amax": lambda h: h.amax(dim=2),
    "max_values": lambda h: torch.max(h, 2).values,
    "max_index0": lambda h: h.max(dim=-1)[0],
    "max_keepdim": lambda h: torch.max(h, 2, keepdim=True)[0].squeeze(2),
    "amin": lambda h: torch.amin(h, 2),
    "min_values": lambda h: h.min(2).values,
}


class MaxMLP(nn.Module):
    """An MLP with a maximum (or minimum) over groups of 3 of its 12 hidden units."""

    def __init__(self, reduce=None, kind="max"):
        super().__init__()
        self.a, self.b = nn.Linear(2, 12), nn.Linear(4, 3)
        self.reduce, self.kind = reduce, kind

    def forward(self, x):
        h = self.a(x).reshape(-1, 4, 3)
        if self.reduce is not None:
            return self.b(self.reduce(h))
        fold = torch.maximum if self.kind == "max" else torch.minimum  # the twin
        return self.b(fold(fold(h[:, :, 0], h[:, :, 1]), h[:, :, 2]))


@ROUTES
def test_amax_cells_match_autograd_and_the_maximum_chain(guard):
    net = _init(MaxMLP(REDUCE["amax"]), 4)
    twin = MaxMLP()
    twin.load_state_dict(net.state_dict())
    routed = Routed(net, guard, 2).eval()
    assert _route(routed, (2,)) == ("export" if guard else "fx")
    X = np.random.default_rng(4).uniform(-1, 1, (60, 2))
    _check_partition(routed, twin.double().eval(), X, (2,))
    layers = as_network(routed).layers
    assert [layer.kind for layer in layers] == ["max", "max"]  # torch.maximum's units


@ROUTES
def test_amin_cells_match_the_minimum_chain(guard):
    net = _init(MaxMLP(REDUCE["min_values"]), 5)
    twin = MaxMLP(kind="min")
    twin.load_state_dict(net.state_dict())
    X = np.random.default_rng(5).uniform(-1, 1, (60, 2))
    _check_partition(Routed(net, guard, 2).eval(), twin.double().eval(), X, (2,))


def _every_spelling(h):
    return sum(REDUCE[name](h) for name in sorted(REDUCE))


@ROUTES
def test_every_spelling_of_a_maximum_over_an_axis_matches_autograd(guard):
    net = Routed(_init(MaxMLP(_every_spelling), 6), guard, 2).eval()
    maps = _check_pullback(net, np.random.default_rng(6).normal(size=(6, 2)))
    assert len(maps) == 2 * len(REDUCE) + 1  # two units per group of three, per spelling


def _several_axes(h):
    g = h.reshape(-1, 2, 2, 3)
    return torch.amin(g, dim=(-1, -3)) + torch.amax(g, dim=(1, 3), keepdim=True).flatten(1)


@ROUTES
def test_maximum_over_several_axes_and_keepdim_matches_autograd(guard):
    net = Routed(_init(Head(_several_axes, width=12), 7), guard, 2).eval()
    maps = _check_pullback(net, np.random.default_rng(7).normal(size=(6, 2)))
    assert len(maps) == 2 * (2 + 1) + 1  # per reduction: 2 then 1 units per group


class SpatialMax(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(1, 2, 3, padding=1)

    def forward(self, x):
        return F.relu(torch.amax(self.c(x), dim=3)).flatten(1).sum(1, keepdim=True)


def test_an_input_whose_reduced_axis_has_another_size_is_traced_again_on_the_fx_route():
    """The chain of maxima is sized by the first input; another width traces again (it used
    to be refused as 'does not fit'), and the first width's maps are unchanged."""
    net = _init(SpatialMax(), 8)
    X = np.random.default_rng(8).normal(size=(3, 1, 4, 4))
    first = pullback(net, X)[-1].A
    assert _route(net, (1, 4, 4)) == "fx"
    _check_pullback(net, np.random.default_rng(9).normal(size=(2, 1, 4, 5)))
    np.testing.assert_array_equal(pullback(net, X)[-1].A, first)


# ----------------------------------------------------------------------------- einsum
class Einsum(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 6)
        self.W = nn.Parameter(torch.randn(2, 3, 4))
        self.out = nn.Linear(4, 3)

    def forward(self, x):
        h = F.relu(self.a(x)).reshape(-1, 2, 3)
        return self.out(F.relu(torch.einsum("bki,kij->bj", h, self.W)))


@ROUTES
def test_einsum_with_one_input_operand_matches_autograd_and_the_linear_twin(guard):
    net = _init(Einsum(), 9)
    routed = Routed(net, guard, 3).eval()
    assert _route(routed, (3,)) == ("export" if guard else "fx")
    lin = _as_linear(lambda h: torch.einsum("bki,kij->bj", h, net.W), (2, 3))
    twin = nn.Sequential(net.a, nn.ReLU(), lin, nn.ReLU(), net.out).eval()
    X = np.random.default_rng(9).normal(size=(40, 3))
    _check_partition(routed, twin, X, (3,))


# ------------------------------------------------------------------------- refusals
def _refusal(f, guard) -> str:
    with pytest.raises(UnsupportedLayerError) as info:
        pullback(Routed(Head(f), guard, 2).eval(), np.zeros((2, 2)))
    return str(info.value)


@ROUTES
def test_einsum_of_two_input_dependent_operands_is_refused(guard):
    msg = _refusal(lambda h: torch.einsum("bi,bj->bij", h, F.relu(h)).flatten(1), guard)
    assert "graph node 'einsum'" in msg and "bilinear" in msg
    assert "test_trace_more_ops.py" in msg  # the user's source line


@ROUTES
def test_used_indices_and_the_batch_axis_are_refused(guard):
    msg = _refusal(lambda h: torch.max(h.reshape(-1, 2, 3), 2)[1].double(), guard)
    assert "graph node 'max" in msg and "indices" in msg
    msg = _refusal(lambda h: h.reshape(-1, 2, 3).max(2).indices.double() + h[:, :2], guard)
    assert "indices" in msg
    msg = _refusal(lambda h: h - torch.amax(h, 0, keepdim=True), guard)
    assert "graph node 'amax'" in msg and "batch axis" in msg
    msg = _refusal(lambda h: h - h.max(), guard)
    assert "all entries" in msg


@ROUTES
def test_a_final_softmax_or_sigmoid_is_refused_with_the_logits_hint(guard):
    for f, node in ((lambda h: F.softmax(F.relu(h), dim=1), "softmax"),
                    (lambda h: torch.log_softmax(F.relu(h), 1), "log_softmax"),
                    (lambda h: torch.sigmoid(F.relu(h)), "sigmoid")):
        msg = _refusal(f, guard)
        assert f"graph node '{node}'" in msg
        assert "those of the logits" in msg and "net[:-1]" in msg
    msg = _refusal(lambda h: F.relu(torch.sigmoid(h)), guard)  # not final: no hint
    assert "graph node 'sigmoid'" in msg and "logits" not in msg


def test_a_final_softmax_module_is_refused_at_once_with_the_logits_hint():
    net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 3), nn.Softmax(dim=1))
    with pytest.raises(UnsupportedLayerError, match=r"layer '3' \(Softmax\).*logits.*"
                                                    r"net\[:-1\]"):
        as_network(net.eval())
    part = cellgeom.partition(net[:-1], cellgeom.Box([-1, -1], [1, 1]), None, cells="all",
                              progress=False, n_jobs=1)
    assert part.n_cells > 1


def test_other_refusals_come_before_the_example_that_sizes_a_maximum():
    """On the fx route a maximum over an axis waits for the first input to know its size;
    the rest of the graph is checked at once."""
    with pytest.raises(UnsupportedLayerError, match="graph node 'tanh'"):
        as_network(Head(lambda h: torch.tanh(torch.amax(h.reshape(-1, 2, 3), 2))).eval())
    network = as_network(Head(lambda h: torch.amax(h.reshape(-1, 2, 3), 2)).eval())
    assert network.ops is None  # traced on its first input


def test_a_training_batch_norm_is_named_before_the_example_runs():
    from cellgeom.nn.trace import TrainingModeError, trace_network

    net = nn.Sequential(nn.Linear(2, 6), nn.BatchNorm1d(6), nn.Unflatten(1, (2, 3)),
                        _AmaxLast()).double()  # in training mode
    with pytest.raises(TrainingModeError, match="layer '1' \\(BatchNorm1d\\)"):
        trace_network(net, torch.zeros(1, 2, dtype=F64))  # batch norm fails on 1 point
    _, ops = trace_network(net.eval(), torch.zeros(1, 2, dtype=F64))
    assert sum(op.kind == "select" for op in ops) == 2


class _AmaxLast(nn.Module):
    def forward(self, h):
        return torch.amax(h, -1)
