"""GeometryTracker: cell counts equal activation_patterns, recording cadence, plot, errors."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from cellgeom.nn import UnsupportedLayerError, activation_patterns, group_by_pattern  # noqa: E402
from cellgeom.nn.tracker import GeometryTracker  # noqa: E402


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensors: a second torch thread only adds contention on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))


def test_cell_and_split_counts_equal_activation_patterns():
    net = _net()
    X = np.random.default_rng(0).uniform(-2, 2, (300, 2)).astype(np.float32)
    row = GeometryTracker(net, X).step(epoch=0)
    pats = activation_patterns(net, X)
    assert row["n_cells"] == len(group_by_pattern(pats.keys)[0])
    assert row["splits_1"] == len(np.unique(pats.layers[0], axis=0))
    assert row["splits_1"] <= row["splits_2"] == row["n_cells"]
    assert row["cells_per_point"] == pytest.approx(row["n_cells"] / 300)
    assert 0 <= row["inradius_min"] <= row["inradius_q10"] <= row["inradius_median"]
    assert 0 <= row["sharpness"] <= 1


def test_a_tensor_probe_that_requires_grad_gives_the_same_record():
    net = _net()
    X = np.random.default_rng(0).uniform(-2, 2, (300, 2)).astype(np.float32)
    row = GeometryTracker(net, X).step(epoch=0)
    batch = torch.as_tensor(X).requires_grad_(True)  # a training batch, e.g. for FGSM
    again = GeometryTracker(net, batch).step(epoch=0)
    assert {k: v for k, v in again.items() if k != "seconds"} == pytest.approx(
        {k: v for k, v in row.items() if k != "seconds"})


def test_records_every_kth_call_and_follows_training():
    net = _net()
    X = torch.randn(100, 2)
    y = (X[:, 0] > 0).long()
    tr = GeometryTracker(net, X, every=2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for epoch in range(6):
        opt.zero_grad()
        nn.functional.cross_entropy(net(X), y).backward()
        opt.step()
        tr.step(epoch)
    t = tr.table
    assert list(t["epoch"]) == [0, 2, 4] and len(t) == 3
    assert (t["seconds"] > 0).all()
    axes = tr.plot()
    assert len(axes) == 4 and axes[0].get_ylabel() == "cells with data"


def test_plot_before_any_record_is_a_clear_error():
    with pytest.raises(ValueError, match="no records"):
        GeometryTracker(_net(), torch.randn(10, 2)).plot()


def test_bad_network_or_probe_is_a_clear_error_at_construction():
    with pytest.raises(UnsupportedLayerError, match="GELU"):
        GeometryTracker(nn.Sequential(nn.Linear(2, 3), nn.GELU()), torch.randn(4, 2))
    with pytest.raises(ValueError, match="empty batch"):
        GeometryTracker(_net(), torch.zeros(0, 2))
    with pytest.raises(ValueError, match=r"shape \(4, 5\)"):
        GeometryTracker(_net(), torch.zeros(4, 5))
    with pytest.raises(ValueError, match="every"):
        GeometryTracker(_net(), torch.zeros(4, 2), every=0)


def test_statistics_equal_the_full_geometry_on_a_wide_input_net():
    """Input wider than the first layer (row norms by Gram matrices): same statistics as
    from the materialised Jacobians of batch_cell_geometry."""
    from cellgeom.nn.regularizer import batch_cell_geometry

    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(),
                        nn.Linear(8, 3)).double()
    X = torch.randn(200, 16, dtype=torch.float64)
    row = GeometryTracker(net, X).step()
    d = batch_cell_geometry(net, X).distance.detach().numpy()
    r = d.min(axis=1)
    assert row["margin_median"] == pytest.approx(np.quantile(d, 0.5), rel=1e-10)
    assert row["margin_q10"] == pytest.approx(np.quantile(d, 0.1), rel=1e-10)
    assert row["inradius_min"] == pytest.approx(r.min(), rel=1e-10)
    assert row["inradius_median"] == pytest.approx(np.quantile(r, 0.5), rel=1e-10)


def test_local_complexity_counts_boundaries_within_the_radius():
    """Oracle: for the first layer the boundaries are the hyperplanes w_k x + b_k = 0, whose
    distances are |w_k x + b_k| / ||w_k||; deeper layers: unit_boundary_distance of the
    pullback (cellgeom.nn.pullback); the tracker records the per-layer means."""
    from cellgeom.nn import local_complexity, pullback, unit_boundary_distance

    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(2, 12), nn.ReLU(), nn.Linear(12, 9), nn.ReLU(),
                        nn.Linear(9, 1)).double().eval()
    X = np.random.default_rng(5).normal(size=(300, 2))
    lc = local_complexity(net, X, 0.3)
    W, b = net[0].weight.detach().numpy(), net[0].bias.detach().numpy()
    d1 = np.abs(X @ W.T + b) / np.linalg.norm(W, axis=1)
    np.testing.assert_array_equal(lc[:, 0], (d1 <= 0.3).sum(axis=1))
    m = pullback(net, X)[1]
    np.testing.assert_array_equal(lc[:, 1],
                                  (unit_boundary_distance(m.A, m.c, X) <= 0.3).sum(axis=1))
    # the generic route (a residual net is not a chain) agrees on a chain network too
    from cellgeom.nn import Residual
    zero = nn.Linear(12, 12).double()
    nn.init.zeros_(zero.weight)
    nn.init.zeros_(zero.bias)
    res = nn.Sequential(net[0], nn.ReLU(), Residual(zero), net[2], nn.ReLU(), net[4]).eval()
    np.testing.assert_array_equal(local_complexity(res, X, 0.3), lc)
    tracker = GeometryTracker(net, X, radius=0.3)
    row = tracker.step()
    assert row["local_complexity_1"] == pytest.approx(lc[:, 0].mean())
    assert row["local_complexity"] == pytest.approx(lc.sum(axis=1).mean())
    with pytest.raises(ValueError, match="radius"):
        GeometryTracker(net, X, radius=0.0)
