"""pullback equals torch.autograd.functional.jacobian of every pre-activation, and the
constant term equals the forward pass (A x + c == pre-activation), to 1e-10 in float64."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cellgeom.nn import Residual, as_network, pullback

TOL = 1e-10


def _preactivation_fn(module: nn.Module, name: str):
    """Oracle: the input of the named module (or the output), read by a forward hook."""
    target = None if name == "output" else dict(module.named_modules())[name]

    def f(x):
        box = {}
        hook = None if target is None else target.register_forward_pre_hook(
            lambda m, inp: box.__setitem__("z", inp[0]))
        try:
            out = module(x[None])
        finally:
            if hook is not None:
                hook.remove()
        return (out if target is None else box["z"]).reshape(-1)

    return f


def assert_pullback_matches_autograd(net: nn.Module, x: torch.Tensor):
    network = as_network(net.eval())
    maps = pullback(network, x)
    assert [m.name for m in maps][-1] == "output"
    assert len(maps) == len(network.layers) + 1
    X = torch.as_tensor(x, dtype=torch.float64)
    for m in maps:
        f = _preactivation_fn(network.module, m.name)
        for b in range(X.shape[0]):
            J = torch.autograd.functional.jacobian(f, X[b]).reshape(m.A.shape[1], -1).numpy()
            z = f(X[b]).detach().numpy()
            np.testing.assert_allclose(m.A[b], J, rtol=0, atol=TOL, err_msg=m.name)
            np.testing.assert_allclose(m.A[b] @ X[b].reshape(-1).numpy() + m.c[b], z,
                                       rtol=0, atol=TOL, err_msg=m.name)
    return maps


def _bn(n, two_d=False):
    bn = (nn.BatchNorm2d if two_d else nn.BatchNorm1d)(n)
    with torch.no_grad():
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.normal_()
        bn.bias.normal_()
    return bn


NETWORKS = {
    "linear_relu": lambda: (nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 2)), (3,)),
    "leaky_relu": lambda: (nn.Sequential(nn.Linear(3, 6), nn.LeakyReLU(0.2), nn.Linear(6, 4),
                                         nn.LeakyReLU(0.05), nn.Linear(4, 2)), (3,)),
    "prelu_per_channel": lambda: (nn.Sequential(nn.Conv1d(2, 3, 3), nn.PReLU(3), nn.Flatten(),
                                                nn.Linear(18, 2)), (2, 8)),
    "prelu_scalar": lambda: (nn.Sequential(nn.Linear(4, 5), nn.PReLU(), nn.Linear(5, 1)), (4,)),
    "hardtanh_relu6": lambda: (nn.Sequential(nn.Linear(3, 8), nn.Hardtanh(-0.3, 0.4),
                                             nn.Linear(8, 6), nn.ReLU6(), nn.Linear(6, 2)), (3,)),
    "shrink_threshold": lambda: (nn.Sequential(nn.Linear(3, 6), nn.Softshrink(0.2),
                                               nn.Linear(6, 6), nn.Hardshrink(0.1),
                                               nn.Linear(6, 5), nn.Threshold(0.1, -0.5),
                                               nn.Linear(5, 2)), (3,)),
    "conv1d": lambda: (nn.Sequential(nn.Conv1d(2, 4, 3, stride=2, padding=1), nn.ReLU(),
                                     nn.Conv1d(4, 3, 2, dilation=2), nn.ReLU(), nn.Flatten(),
                                     nn.Linear(9, 2)), (2, 9)),
    "conv2d": lambda: (nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"),
                                     nn.ReLU(), nn.Conv2d(3, 2, 2, stride=2, bias=False),
                                     nn.LeakyReLU(0.1), nn.Flatten(), nn.Linear(8, 3)), (2, 5, 4)),
    "batchnorm_folded": lambda: (nn.Sequential(nn.Linear(4, 5), _bn(5), nn.ReLU(),
                                               nn.Linear(5, 2)), (4,)),
    "batchnorm2d_folded": lambda: (nn.Sequential(nn.Conv2d(1, 3, 2), _bn(3, True), nn.ReLU(),
                                                 nn.Flatten(), nn.Linear(27, 2)), (1, 4, 4)),
    "avgpool": lambda: (nn.Sequential(nn.Conv2d(1, 2, 2), nn.ReLU(),
                                      nn.AvgPool2d(2, ceil_mode=True), nn.Flatten(),
                                      nn.Linear(8, 2)), (1, 5, 5)),
    "avgpool1d_adaptive": lambda: (nn.Sequential(nn.Conv1d(1, 2, 3), nn.ReLU(), nn.AvgPool1d(2),
                                                 nn.AdaptiveAvgPool1d(2), nn.Flatten(),
                                                 nn.Linear(4, 2)), (1, 9)),
    "unflatten_adaptive_dropout2d": lambda: (nn.Sequential(
        nn.Linear(3, 18), nn.ReLU(), nn.Unflatten(1, (2, 3, 3)), nn.Dropout2d(0.3),
        nn.Conv2d(2, 3, 2), nn.PReLU(3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Dropout1d(0.1), nn.Linear(3, 2)), (3,)),
    "maxpool2d": lambda: (nn.Sequential(nn.Conv2d(1, 2, 2), nn.MaxPool2d(2), nn.ReLU(),
                                        nn.Flatten(), nn.Linear(8, 2)), (1, 5, 5)),
    "maxpool2d_overlapping_padded": lambda: (nn.Sequential(
        nn.Conv2d(2, 2, 3, padding=1), nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
        nn.Flatten(), nn.Linear(18, 2)), (2, 5, 5)),
    "maxpool1d": lambda: (nn.Sequential(nn.Conv1d(2, 3, 3), nn.MaxPool1d(3, stride=2, padding=1),
                                        nn.Flatten(), nn.Linear(12, 2)), (2, 9)),
    "flatten_dropout_identity": lambda: (nn.Sequential(nn.Flatten(), nn.Dropout(0.5),
                                                       nn.Linear(6, 4), nn.Identity(), nn.ReLU(),
                                                       nn.Dropout(0.2), nn.Linear(4, 2)), (2, 3)),
    "nested_sequential": lambda: (nn.Sequential(nn.Sequential(nn.Linear(3, 5), nn.ReLU()),
                                                nn.Sequential(nn.Sequential(nn.Linear(5, 4),
                                                                            nn.LeakyReLU(0.3))),
                                                nn.Linear(4, 2)), (3,)),
    "residual_identity": lambda: (nn.Sequential(nn.Linear(3, 5), nn.ReLU(),
                                                Residual(nn.Sequential(nn.Linear(5, 5), nn.ReLU(),
                                                                       nn.Linear(5, 5))),
                                                nn.ReLU(), nn.Linear(5, 2)), (3,)),
    "residual_conv_shortcut": lambda: (nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(),
        Residual(nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), _bn(3, True), nn.ReLU()),
                 nn.Conv2d(2, 3, 1)),
        nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 2)), (1, 4, 4)),
}


@pytest.mark.parametrize("kind", sorted(NETWORKS))
def test_pullback_equals_autograd_for_each_layer_type(kind):
    torch.manual_seed(hash(kind) % 2**31)
    net, shape = NETWORKS[kind]()
    x = torch.randn((3,) + shape, dtype=torch.float64)
    assert_pullback_matches_autograd(net, x)


def test_recursion_equals_weight_products_for_an_mlp():
    """Oracle: A_{l+1} = W_{l+1} D_l A_l and c_{l+1} = W_{l+1} D_l c_l + b_{l+1} by hand."""
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(4, 7), nn.LeakyReLU(0.1), nn.Linear(7, 5), nn.ReLU(),
                        nn.Linear(5, 3)).double()
    x = torch.randn(6, 4, dtype=torch.float64)
    maps = pullback(net, x)
    W = [m.weight.detach().numpy() for m in net if isinstance(m, nn.Linear)]
    b = [m.bias.detach().numpy() for m in net if isinstance(m, nn.Linear)]
    for i in range(len(x)):
        A, c = W[0], b[0]
        for layer, m in enumerate(maps):
            np.testing.assert_allclose(m.A[i], A, atol=1e-13)
            np.testing.assert_allclose(m.c[i], c, atol=1e-13)
            if layer + 1 < len(W):
                D = m.D[i]
                A, c = W[layer + 1] @ (D[:, None] * A), W[layer + 1] @ (D * c) + b[layer + 1]


def test_float32_network_is_computed_in_float64_copy():
    torch.manual_seed(2)
    net = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2)).eval()
    x = torch.randn(4, 3)
    maps = assert_pullback_matches_autograd(net, x)
    assert maps[0].A.dtype == np.float64
    assert next(net.parameters()).dtype == torch.float32  # the user's net is untouched
    own = pullback(net, x, dtype=None)
    assert own[0].A.dtype == np.float32
    np.testing.assert_allclose(own[-1].A, maps[-1].A, atol=1e-5)


def test_chunked_batches_equal_one_batch():
    """Oracle: the same maps with a memory budget that forces one point per chunk."""
    torch.manual_seed(3)
    net, shape = NETWORKS["residual_conv_shortcut"]()
    x = torch.randn((5,) + shape, dtype=torch.float64)
    whole, chunked = pullback(net.eval(), x), pullback(net, x, max_memory=1)
    for a, b in zip(whole, chunked):
        np.testing.assert_array_equal(a.A, b.A)
        np.testing.assert_array_equal(a.c, b.c)


def test_maxpool_slope_counts_give_the_selected_metric():
    """Oracle: A^T diag(D) A == (S A)^T (S A) with S the selection of each window."""
    torch.manual_seed(4)
    net = nn.Sequential(nn.Conv2d(1, 2, 2), nn.MaxPool2d(2, stride=1), nn.Flatten(),
                        nn.Linear(18, 2))
    maps = pullback(net.eval(), torch.randn(2, 1, 5, 5))
    pool = next(m for m in maps if m.kind == "maxpool")
    for i in range(2):
        SA = pool.A[i][pool.selection[i]]
        np.testing.assert_allclose(pool.A[i].T @ (pool.D[i][:, None] * pool.A[i]), SA.T @ SA,
                                   atol=1e-12)


@st.composite
def random_mlps(draw):
    widths = draw(st.lists(st.integers(1, 6), min_size=2, max_size=4))
    acts = [nn.ReLU, lambda: nn.LeakyReLU(0.2), lambda: nn.Hardtanh(-0.5, 0.5), nn.PReLU]
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), acts[draw(st.integers(0, len(acts) - 1))]()]
    return nn.Sequential(*layers[:-1]), widths[0], draw(st.integers(0, 2**31 - 1))


@settings(max_examples=25, deadline=None)
@given(random_mlps())
def test_property_pullback_equals_autograd_on_random_mlps(spec):
    net, n_in, seed = spec
    torch.manual_seed(seed)
    for p in net.parameters():
        torch.nn.init.normal_(p)
    x = torch.randn(2, n_in, dtype=torch.float64)
    assert_pullback_matches_autograd(net, x)
