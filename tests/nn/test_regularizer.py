"""GeometricRegularizer: gradcheck, pullback oracle, permutation invariance, input errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cellgeom.nn import UnsupportedLayerError, pullback, unit_boundary_distance
from cellgeom.nn.regularizer import (
    GeometricRegularizer,
    _distances,
    _forward,
    _get_plan,
    batch_cell_geometry,
    face_neighbors,
)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensors: a second torch thread only adds contention on a shared machine
    (gradcheck measured 4 s with one thread, 18 s with two under load)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


PARTS = {
    "margin": dict(margin=0.3),
    "small_cell": dict(small_cell=0.3),
    "sharp_angle": dict(sharp_angle=60.0),
    "face_disagreement": dict(face_disagreement=True),
}


def _net(seed=0, act=nn.ReLU, dtype=torch.float64):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 6), act(), nn.Linear(6, 5), act(),
                         nn.Linear(5, 3)).to(dtype)


def _wide_net(seed=0, act=nn.ReLU):
    """Input wider than the first hidden layer: row norms of layer 2 by the Gram route."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 6), act(), nn.Linear(6, 5), act(),
                         nn.Linear(5, 3)).to(torch.float64)


def _points_away_from_boundaries(net, n=24, seed=1, gap=2e-2):
    """Points farther than ``gap`` from every unit boundary (cells fixed under gradcheck)."""
    rng = np.random.default_rng(seed)
    n_in = net[0].in_features
    X = torch.as_tensor(rng.uniform(-1.5, 1.5, size=(20 * n, n_in)))
    with torch.no_grad():
        d = batch_cell_geometry(net, X).distance
    keep = (d > gap).all(1)
    return X[keep][:n]


class _Wrapped(nn.Module):
    def __init__(self, net, reg, part):
        super().__init__()
        self.net, self.reg, self.part = net, reg, part

    def forward(self, x):
        return self.reg(self.net, x).parts[self.part]


@pytest.mark.parametrize("part", sorted(PARTS))
def test_gradcheck_each_penalty_matches_finite_differences(part):
    net = _net(act=nn.LeakyReLU if part == "sharp_angle" else nn.ReLU)
    X = _points_away_from_boundaries(net)
    wrapped = _Wrapped(net, GeometricRegularizer(**PARTS[part]), part)
    names = [k for k, _ in wrapped.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for _, p in wrapped.named_parameters())
    assert float(wrapped(X).detach()) > 0, "the penalty must be active for the check to mean"

    def f(*ps):
        return torch.func.functional_call(wrapped, dict(zip(names, ps)), (X,))

    assert torch.autograd.gradcheck(f, params, eps=1e-7, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("part", sorted(PARTS))
def test_gradcheck_each_penalty_on_the_gram_route(part):
    net = _wide_net(act=nn.LeakyReLU if part == "sharp_angle" else nn.ReLU)
    X = _points_away_from_boundaries(net, gap=1e-2)
    assert len(X) >= 12
    assert _forward(_get_plan(net), X).gram[1] is not None, "layer 2 must take the Gram route"
    wrapped = _Wrapped(net, GeometricRegularizer(**PARTS[part]), part)
    names = [k for k, _ in wrapped.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for _, p in wrapped.named_parameters())
    assert float(wrapped(X).detach()) > 0, "the penalty must be active for the check to mean"

    def f(*ps):
        return torch.func.functional_call(wrapped, dict(zip(names, ps)), (X,))

    assert torch.autograd.gradcheck(f, params, eps=1e-7, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("act", [nn.ReLU, nn.LeakyReLU])
def test_gram_route_distances_equal_the_jacobian_route(act):
    net = _wide_net(act=act)
    X = torch.as_tensor(np.random.default_rng(2).normal(size=(100, 8)))
    geo = _forward(_get_plan(net), X)
    assert geo.gram[1] is not None
    dist = _distances(geo)[0]
    ref = batch_cell_geometry(net, X)
    torch.testing.assert_close(dist, ref.distance, rtol=1e-10, atol=1e-12)
    a = GeometricRegularizer(margin=0.5, small_cell=0.3, sharp_angle=45.0,
                             face_disagreement=True)(net, X)
    assert set(a.parts) == set(PARTS) and all(torch.isfinite(v) for v in a.parts.values())


def test_plan_is_cached_and_rebuilt_when_the_network_changes():
    net = _net()
    X = torch.zeros(4, 2, dtype=torch.float64)
    reg = GeometricRegularizer(margin=0.1)
    reg(net, X)
    plan = _get_plan(net)
    assert _get_plan(net) is plan  # same structure: no re-validation
    with torch.no_grad():
        net[0].weight.mul_(2.0)  # new parameter values are read, the plan stays
    assert _get_plan(net) is plan
    net[1] = nn.Tanh()  # a layer replaced: re-validated
    with pytest.raises(UnsupportedLayerError, match="Tanh"):
        reg(net, X)
    net[1] = nn.ReLU()
    assert _get_plan(net) is not plan
    net.append(nn.Dropout(0.5))  # training-mode dropout: a new plan, Dropout the identity
    assert net.training
    reg(net, X)
    assert _get_plan(net) is not plan and net[-1].training  # its mode is left as it was
    net.eval()
    reg(net, X)


def test_dropout_in_training_mode_measures_the_evaluated_network():
    """Inside a training loop (net.train()) the penalties are those of net.eval(): Dropout
    is the identity of the evaluated network; PenaltyParts.output is the training forward
    (random masks), so a loss taken from it still drops units."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 16),
                        nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3)).double()
    X = torch.as_tensor(np.random.default_rng(3).uniform(-2, 2, (80, 2)))
    reg = GeometricRegularizer(margin=0.2, small_cell=0.05, sharp_angle=30.0)
    net.train()
    trained = reg(net, X)
    net.eval()
    evaluated = reg(net, X)
    torch.testing.assert_close(trained.total, evaluated.total, rtol=1e-12, atol=0)
    for k in evaluated.parts:
        torch.testing.assert_close(trained.parts[k], evaluated.parts[k], rtol=1e-12, atol=0)
    torch.testing.assert_close(evaluated.output, net(X))
    dropped = (trained.output - evaluated.output).abs().amax(dim=1) > 1e-9
    assert dropped.float().mean() > 0.5  # the masks changed most outputs
    net.train()  # gradients flow to the weights through the penalty in training mode
    net.zero_grad()
    reg(net, X).total.backward()
    assert net[0].weight.grad.abs().sum() > 0


def test_output_is_the_network_output_and_stats_are_complete():
    net = _net()
    X = torch.as_tensor(np.random.default_rng(7).uniform(-2, 2, (60, 2)))
    p = GeometricRegularizer(margin=0.2)(net, X)
    torch.testing.assert_close(p.output, net(X))
    assert set(p.stats) == {"median_margin", "min_inradius", "median_inradius", "sharpness",
                            "n_cells", "n_faces"}
    assert p.stats["n_cells"] >= 1 and p.stats["n_faces"] == 0  # faces only with the part


def test_distances_equal_pullback_unit_boundary_distance():
    net = _net(act=nn.LeakyReLU)
    X = _points_away_from_boundaries(net)
    geo = batch_cell_geometry(net, X)
    maps = pullback(net, X.numpy())[:-1]
    ref = np.concatenate([unit_boundary_distance(m.A, m.c, X.numpy()) for m in maps], axis=1)
    np.testing.assert_allclose(geo.distance.detach().numpy(), ref, rtol=1e-10)
    for A, m in zip(geo.A, maps):
        np.testing.assert_allclose(A.detach().numpy(), m.A, rtol=1e-10, atol=1e-12)


def test_jacobian_rows_equal_autograd_jacobian_of_preactivations():
    net = _net(act=nn.LeakyReLU)
    X = _points_away_from_boundaries(net)
    geo = batch_cell_geometry(net, X)
    for A, upto in zip(geo.A, (1, 3)):
        J = torch.func.vmap(torch.func.jacrev(lambda x, u=upto: net[:u](x[None])[0]))(X)
        torch.testing.assert_close(A, J, rtol=1e-12, atol=1e-12)


def _permuted(net, seed=3):
    """Same function: hidden units of every layer permuted with the matching weight permutation."""
    new = _net()
    new.load_state_dict(net.state_dict())
    lin = [m for m in new if isinstance(m, nn.Linear)]
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for a, b in zip(lin[:-1], lin[1:]):
            p = torch.randperm(a.out_features, generator=g)
            a.weight.copy_(a.weight[p])
            a.bias.copy_(a.bias[p])
            b.weight.copy_(b.weight[:, p])
    return new


def test_every_penalty_invariant_under_hidden_unit_permutation():
    net = _net()
    X = torch.as_tensor(np.random.default_rng(5).uniform(-2, 2, (200, 2)))
    reg = GeometricRegularizer(margin=0.3, small_cell=0.2, sharp_angle=45.0,
                               face_disagreement=True)
    a, b = reg(net, X), reg(_permuted(net), X)
    torch.testing.assert_close(net(X), _permuted(net)(X))
    assert set(a.parts) == set(PARTS)
    for k in a.parts:
        assert float(a.parts[k].detach()) == pytest.approx(float(b.parts[k].detach()),
                                                         rel=1e-10, abs=1e-14), k
    assert a.stats["n_cells"] == b.stats["n_cells"] and a.stats["n_faces"] == b.stats["n_faces"]


def test_invariant_under_relabelling_cells_by_reordering_the_batch():
    net = _net()
    X = torch.as_tensor(np.random.default_rng(6).uniform(-2, 2, (150, 2)))
    reg = GeometricRegularizer(margin=0.3, small_cell=0.2, sharp_angle=45.0,
                               face_disagreement=True)
    a, b = reg(net, X), reg(net, X[torch.randperm(150)])
    for k in a.parts:
        assert float(a.parts[k].detach()) == pytest.approx(float(b.parts[k].detach()), rel=1e-10), k


def test_face_neighbors_equal_brute_force_hamming_one():
    rng = np.random.default_rng(0)
    P = np.unique(rng.random((80, 7)) < 0.5, axis=0)
    a, b, k = face_neighbors(P)
    ham = (P[:, None] != P[None]).sum(-1)
    ref = {(i, j) for i, j in zip(*np.nonzero(np.triu(ham == 1)))}
    assert set(zip(a.tolist(), b.tolist())) == ref
    assert all(P[i, u] != P[j, u] for i, j, u in zip(a, b, k))


def test_gradients_reach_every_linear_layer():
    net = _net(dtype=torch.float32)
    X = torch.randn(64, 2)
    reg = GeometricRegularizer(margin=0.5, small_cell=0.3, sharp_angle=45.0,
                               face_disagreement=True)
    reg(net, X).total.backward()
    for m in net:
        if isinstance(m, nn.Linear):
            assert m.weight.grad is not None and torch.isfinite(m.weight.grad).all()


def test_non_piecewise_linear_network_is_a_clear_error():
    net = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1))
    with pytest.raises(UnsupportedLayerError, match="Tanh"):
        GeometricRegularizer(margin=0.1)(net, torch.randn(5, 2))


def test_piecewise_linear_but_unsupported_layer_is_named():
    net = nn.Sequential(nn.Linear(2, 4), nn.Hardtanh(), nn.Linear(4, 1))
    with pytest.raises(UnsupportedLayerError, match="Hardtanh.*not supported"):
        GeometricRegularizer(margin=0.1)(net, torch.randn(5, 2))


def test_empty_batch_is_a_clear_error():
    with pytest.raises(ValueError, match="empty batch"):
        GeometricRegularizer(margin=0.1)(_net(), torch.zeros(0, 2, dtype=torch.float64))


def test_mismatched_input_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"shape \(5, 3\)"):
        GeometricRegularizer(margin=0.1)(_net(), torch.zeros(5, 3, dtype=torch.float64))


def test_bad_parameters_are_clear_errors():
    with pytest.raises(ValueError, match="margin must be a positive"):
        GeometricRegularizer(margin=-1.0)(_net(), torch.zeros(5, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="unknown weights"):
        GeometricRegularizer(margin=1.0, weights={"marg": 1.0})(
            _net(), torch.zeros(5, 2, dtype=torch.float64))
