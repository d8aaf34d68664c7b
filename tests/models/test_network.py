"""Partitions of torch ReLU / leaky-ReLU networks; each test names its oracle."""
from __future__ import annotations

from math import comb, factorial

import numpy as np
import pytest
import torch
from torch import nn

import cellgeom
from cellgeom.geometry.highdim import estimate_volume, facet_rows_screened
from cellgeom.geometry.lp import nonredundant_rows_lp
from cellgeom.models.network import NetworkCells, layerwise_table


def _mlp(sizes, act=nn.ReLU, seed=0):
    torch.manual_seed(seed)
    mods = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        mods.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            mods.append(act())
    return nn.Sequential(*mods).double().eval()


@pytest.mark.parametrize("n,k", [(2, 7), (3, 6)])
def test_one_layer_equals_hyperplane_arrangement_and_region_count(n, k):
    """Oracle: HyperplaneArrangement(W1, b1) and the count sum_{i<=n} C(k, i)."""
    net = _mlp([n, k, 1], seed=n)
    W, b = net[0].weight.detach().numpy(), net[0].bias.detach().numpy()
    # a box holding every vertex of the arrangement: all n-subsets' intersections
    from itertools import combinations
    pts = [np.linalg.solve(W[list(c)], -b[list(c)]) for c in combinations(range(k), n)]
    half = 2 * np.abs(np.array(pts)).max() + 1
    box = cellgeom.Box(-half * np.ones(n), half * np.ones(n))
    p = cellgeom.partition(net, box, cells="all", progress=False)
    q = cellgeom.partition(cellgeom.HyperplaneArrangement(W, b), box, cells="all",
                           progress=False)
    assert p.n_cells == sum(comb(k, i) for i in range(n + 1))
    assert p.keys == q.keys
    np.testing.assert_allclose(p.volumes, q.volumes, rtol=0, atol=1e-9 * box.volume)
    fa, fb = p.faces, q.faces
    assert len(fa) == len(fb)
    np.testing.assert_array_equal(fa[["cell_a", "cell_b", "label"]].to_numpy(),
                                  fb[["cell_a", "cell_b", "label"]].to_numpy())
    np.testing.assert_allclose(fa["volume"].to_numpy(), fb["volume"].to_numpy(), atol=1e-9)


@pytest.fixture(scope="module")
def deep_all():
    net = _mlp([2, 32, 32, 1], seed=3)
    box = cellgeom.Box([-2, -2], [2, 2])
    return net, box, cellgeom.partition(net, box, cells="all", progress=False)


def test_exhaustive_2_32_32_1_agrees_with_dense_grid(deep_all):
    """Oracle: dense grid sampling (patterns from the network's own forward pass)."""
    net, box, p = deep_all
    assert abs(p.volumes.sum() - box.volume) < 1e-8 * box.volume
    g = 400
    s = (np.arange(g) + 0.5) / g
    X = np.stack(np.meshgrid(s, s), -1).reshape(-1, 2) * 4 - 2
    keys = p.cell_model.keys(X)
    idx = np.array([p.key_index(k) for k in keys])
    assert np.all(idx >= 0), "a sampled pattern is missing from the enumeration"
    frac = np.bincount(idx, minlength=p.n_cells) / len(X)
    share = p.volumes / box.volume
    # binomial error of the sampled fraction, plus the grid's boundary discretisation
    err = 5 * np.sqrt(share * (1 - share) / len(X)) + 4 * np.sqrt(share) / g + 1e-12
    assert np.all(np.abs(frac - share) <= err)


def test_minkowski_closure_every_cell(deep_all):
    """Oracle: sum_F vol(F) nu_F = 0 for every bounded cell."""
    _, _, p = deep_all
    assert np.abs(p.minkowski_residuals()).max() < 1e-8


def test_locate_agrees_with_network_patterns(deep_all):
    """Oracle: the network's own activation patterns (cellgeom.nn.activation_patterns)."""
    net, box, p = deep_all
    X = np.random.default_rng(1).uniform(-2, 2, (500, 2))
    flat = cellgeom.nn.activation_patterns(net, X, pack=False).flat
    want = ["".join(map(str, r)) for r in flat]
    assert [p.keys[i] for i in p.locate(X)] == want
    # halfspace location (geometry) agrees with the key route
    assert np.array_equal(p._locate_by_halfspaces(X), p.locate(X))


def test_leaky_relu_data_cells_contain_their_points():
    """Oracle: each data point satisfies its cell's H-representation (leaky ReLU)."""
    net = _mlp([3, 10, 8, 2], act=lambda: nn.LeakyReLU(0.1), seed=5)
    X = np.random.default_rng(2).uniform(-1, 1, (60, 3))
    p = cellgeom.partition(net, cellgeom.Box(-np.ones(3), np.ones(3)), X, progress=False)
    assert p.cells["n_points"].sum() == 60
    for i, x in zip(p.locate(X), X):
        A, b = p.halfspaces(i)
        assert np.all(A @ x <= b + 1e-9)
    assert np.abs(p.minkowski_residuals()).max() < 1e-8


def test_layerwise_refines(deep_all):
    """Oracle: the partition after layer 1 is the arrangement of layer 1's units."""
    net, box, _ = deep_all
    X = np.random.default_rng(3).uniform(-2, 2, (300, 2))
    p1 = cellgeom.partition(net, box, X, upto_layer=1, progress=False)
    W, b = net[0].weight.detach().numpy(), net[0].bias.detach().numpy()
    q = cellgeom.partition(cellgeom.HyperplaneArrangement(W, b), box, X, progress=False)
    assert p1.keys == q.keys
    table = layerwise_table(net, X, box)
    assert list(table["layer"]) == [1, 2]
    assert table["data_cells"].is_monotonic_increasing
    assert table["data_cells"].iloc[-1] == len(set(NetworkCells(net).keys(X)))


@pytest.mark.parametrize("shape", ["cube", "simplex"])
def test_volume_estimator_10d_within_3_sigma(shape):
    """Oracle: known volumes, 1 for [0,1]^10 and 1/10! for the unit simplex."""
    n = 10
    if shape == "cube":
        A = np.vstack([-np.eye(n), np.eye(n)])
        b = np.concatenate([np.zeros(n), np.ones(n)])
        c, r, true = np.full(n, 0.5), 0.5, 1.0
    else:
        A = np.vstack([-np.eye(n), np.ones((1, n))])
        b = np.concatenate([np.zeros(n), [1.0]])
        r = 1 / (n + np.sqrt(n))
        c, true = np.full(n, r), 1 / factorial(n)
    vol, se, _ = estimate_volume(A, b, c, r, rng=0, outer_radius=np.sqrt(n))
    assert se > 0 and se < 0.15 * vol
    assert abs(vol - true) <= 3 * se


def test_screened_facets_equal_lp_facets():
    """Oracle: nonredundant_rows_lp (one LP per row) on random 12-D polytopes."""
    rng = np.random.default_rng(4)
    n = 12
    for _ in range(3):
        A = np.vstack([-np.eye(n), np.eye(n), rng.standard_normal((60, n))])
        b = np.concatenate([np.ones(2 * n), rng.uniform(0.5, 2, 60)])
        c, r = cellgeom.geometry.chebyshev_center(A, b)
        rows, stats = facet_rows_screened(A, b, c)
        np.testing.assert_array_equal(rows, nonredundant_rows_lp(A, b, c))
        assert stats[0] == A.shape[0]


def test_highdim_route_matches_exact_route():
    """Oracle: the exact vertex route (Qhull) on the same 4-D cells."""
    net = _mlp([4, 12, 1], seed=7)
    X = np.random.default_rng(5).uniform(-1, 1, (40, 4))
    box = cellgeom.Box(-np.ones(4), np.ones(4))
    exact = cellgeom.partition(net, box, X, progress=False)
    high = cellgeom.partition(net, box, X, progress=False, exact_dim=3)
    assert exact.keys == high.keys
    np.testing.assert_array_equal(exact.facets[["cell", "label", "neighbor"]].to_numpy(),
                                  high.facets[["cell", "label", "neighbor"]].to_numpy())
    se = high.cells["volume_se"].to_numpy()
    assert np.all(np.abs(high.volumes - exact.volumes) <= 4 * se + 1e-12)
    assert high.info["volume_method"] == "estimate"


def test_errors():
    """Oracle: clear ValueErrors (nn.layers error classes) for unsupported input."""
    box = cellgeom.Box([-1, -1], [1, 1])
    X = np.zeros((3, 2))
    with pytest.raises(ValueError, match="Sigmoid"):
        cellgeom.partition(nn.Sequential(nn.Linear(2, 3), nn.Sigmoid()), box, X)
    bn = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.ReLU()).train()
    with pytest.raises(cellgeom.nn.TrainingModeError):
        cellgeom.partition(bn, box, X)
    with pytest.raises(ValueError, match="features"):
        cellgeom.partition(_mlp([2, 3, 1]), box, np.zeros((3, 5)))
    bad = _mlp([2, 3, 1])
    with torch.no_grad():
        bad[0].weight[0, 0] = float("nan")
    with pytest.raises(cellgeom.nn.NonFiniteWeightError):
        cellgeom.partition(bad, box, X)
    with pytest.raises(ValueError, match="two pieces"):
        cellgeom.partition(nn.Sequential(nn.Linear(2, 3), nn.Hardtanh()), box, X)
    with pytest.raises(ValueError, match="upto_layer"):
        cellgeom.partition(_mlp([2, 3, 3, 1]), box, X, upto_layer=5)


def test_network_partition_pickles_and_locates_as_before(deep_all):
    """Oracle: the unpickled partition locates points as the original (and as the network's
    own patterns); no closure is left in it."""
    import pickle

    net, box, p = deep_all
    q = pickle.loads(pickle.dumps(p))
    X = np.random.default_rng(11).uniform(-2, 2, (300, 2))
    np.testing.assert_array_equal(q.locate(X), p.locate(X))
    assert q.keys == p.keys
    flat = cellgeom.nn.activation_patterns(net, X, pack=False).flat
    assert [q.keys[i] for i in q.locate(X)] == ["".join(map(str, r)) for r in flat]


def test_conv_first_layer_partition_with_input_shape():
    """Oracle: the network's own patterns (activation_patterns on the images), volumes sum to
    the box, Minkowski closure; without input_shape a clear error."""
    torch.manual_seed(4)
    net = nn.Sequential(nn.Conv1d(1, 2, 2), nn.ReLU(), nn.Flatten(), nn.Linear(6, 3), nn.ReLU(),
                        nn.Linear(3, 1)).double().eval()
    box = cellgeom.Box(-np.ones(4), np.ones(4))
    p = cellgeom.partition(net, box, cells="all", input_shape=(1, 4), progress=False)
    assert abs(p.volumes.sum() - box.volume) < 1e-8 * box.volume
    assert np.abs(p.minkowski_residuals()).max() < 1e-8
    X = np.random.default_rng(6).uniform(-1, 1, (300, 4))
    flat = cellgeom.nn.activation_patterns(net, X.reshape(-1, 1, 4), pack=False).flat
    assert [p.keys[i] for i in p.locate(X)] == ["".join(map(str, r)) for r in flat]
    with pytest.raises(ValueError, match="input_shape"):
        cellgeom.partition(net, box, cells="all", progress=False)
    pooled = nn.Sequential(nn.Conv1d(1, 2, 2), nn.ReLU(), nn.MaxPool1d(3), nn.Flatten(),
                           nn.Linear(2, 1)).double().eval()
    with pytest.raises(ValueError, match="max pooling.*slice_partition"):
        cellgeom.partition(pooled, box, cells="all", input_shape=(1, 4), progress=False)


def test_custom_forward_network_partition_equals_its_sequential_twin():
    """Oracle: the Sequential twin's partition (same keys, volumes and faces)."""
    import torch.nn.functional as F

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.out = nn.Linear(2, 6), nn.Linear(6, 6), nn.Linear(6, 2)

        def forward(self, x):
            h = F.relu(self.fc1(x))
            return self.out(F.relu(self.fc2(h)) + h)

    torch.manual_seed(2)
    net = Net().double().eval()
    twin = nn.Sequential(net.fc1, nn.ReLU(), cellgeom.nn.Residual(
        nn.Sequential(net.fc2, nn.ReLU())), net.out).eval()
    box = cellgeom.Box([-2, -2], [2, 2])
    p = cellgeom.partition(net, box, cells="all", progress=False)
    q = cellgeom.partition(twin, box, cells="all", progress=False)
    assert p.keys == q.keys
    np.testing.assert_allclose(p.volumes, q.volumes, atol=1e-12)
    np.testing.assert_array_equal(p.faces[["cell_a", "cell_b", "label"]].to_numpy(),
                                  q.faces[["cell_a", "cell_b", "label"]].to_numpy())


@pytest.fixture(scope="module")
def moons_classifier():
    from sklearn.datasets import make_moons

    from cellgeom.nn.examples import train_moons_network

    X, y = make_moons(300, noise=0.15, random_state=0)
    net, _ = train_moons_network(X, y, hidden=16, epochs=200)
    box = cellgeom.Box(X.min(0) - 0.3, X.max(0) + 0.3)
    return net, X, box, cellgeom.partition(net, box, cells="all", progress=False)


def test_classifier_cells_have_one_label_everywhere(moons_classifier):
    """Oracle: net(x).argmax on a 250 x 250 grid equals its cell's prediction, 0 mismatches
    (the arg-max comparison is the partition's last layer)."""
    net, X, box, p = moons_classifier
    s = np.linspace(0, 1, 250)
    G = box.lo + np.stack(np.meshgrid(s, s), -1).reshape(-1, 2) * box.widths
    with torch.no_grad():
        labels = net(torch.as_tensor(G, dtype=torch.float32)).argmax(1).numpy()
    cell = p.locate(G)
    assert (cell >= 0).all()
    assert int((p.cells["prediction"].to_numpy()[cell] != labels).sum()) == 0
    assert abs(p.volumes.sum() - box.volume) < 1e-9 * box.volume


def test_torch_decision_regions_sum_to_the_box(moons_classifier):
    """Oracle: the box volume; the regions' labels are the given classes."""
    net, X, box, p = moons_classifier
    dr = cellgeom.decision_regions(net, box, progress=False, classes=["a", "b"])
    assert set(dr.regions["prediction"]) == {"a", "b"}
    assert abs(dr.regions["volume"].sum() - box.volume) < 1e-9 * box.volume
    assert dr.partition.n_cells == p.n_cells


def _check_tiles_and_keys(part, net, n_hidden, seed=1):
    """Oracle: the net's own activation patterns and outputs at random points of the box;
    the volumes tile the box."""
    Q = part.domain.lo + np.random.default_rng(seed).random((5000, 2)) * part.domain.widths
    cell = part.locate(Q)
    assert np.all(cell >= 0)
    assert part.volumes.sum() == pytest.approx(part.domain.volume, rel=1e-12)
    patterns = np.asarray(cellgeom.nn.activation_patterns(net, Q, pack=False).keys)
    keys = np.array([list(k[:n_hidden]) for k in part.keys], dtype=int)
    np.testing.assert_array_equal(keys[cell], patterns)


@pytest.mark.parametrize("seed", [0, 3])
def test_units_zero_on_a_whole_cell_are_off_and_cells_do_not_repeat(seed):
    """A unit whose pre-activation is exactly 0 on a cell (every input off, no bias) is off
    (z > 0 is on). Both bits were accepted, so one region came back as several cells with
    wrong keys: volumes summed to 1.13x the box and points fell in no cell."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(2, 6), nn.ReLU(), nn.Linear(6, 6, bias=False), nn.ReLU(),
                        nn.Linear(6, 2)).eval()
    if seed == 3:  # zero-initialised biases, as some training recipes do
        for layer in (net[0], net[4]):
            nn.init.zeros_(layer.bias)
    X = np.random.default_rng(0).normal(size=(200, 2)) * 2
    part = cellgeom.partition(net, data=X, cells="all", progress=False)
    assert len(set(part.keys)) == part.n_cells
    assert part.cells["n_points"].sum() == len(X)
    _check_tiles_and_keys(part, net, 12)


def test_a_unit_never_on_gets_the_off_bit():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(),
                        nn.Linear(4, 2)).double().eval()
    with torch.no_grad():  # unit 4 = -relu(x + y - 0.5): never > 0
        net[0].weight[0] = torch.tensor([1.0, 1.0])
        net[0].bias[0] = -0.5
        net[2].weight[0] = 0.0
        net[2].weight[0, 0] = -1.0
        net[2].bias[0] = 0.0
    part = cellgeom.partition(net, cellgeom.Box([0, 0], [1, 1]), cells="all", progress=False)
    _check_tiles_and_keys(part, net, 8)


def test_concatenation_with_a_branch_without_activation():
    """DenseNet-style skip: cat([relu(a x), x]). The origin, pushed as one row, met the rows
    of the imposed patterns in cat, which does not broadcast (RuntimeError)."""
    import torch.nn.functional as F

    class DenseSkip(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.o = nn.Linear(2, 6), nn.Linear(8, 3)

        def forward(self, x):
            return self.o(torch.cat([F.relu(self.a(x)), x], 1))

    torch.manual_seed(0)
    net = DenseSkip().eval()
    X = np.random.default_rng(0).normal(size=(50, 2))
    data_part = cellgeom.partition(net, data=X, cells="data", progress=False)
    assert data_part.cells["n_points"].sum() == len(X)
    part = cellgeom.partition(net, data=X, cells="all", progress=False)
    _check_tiles_and_keys(part, net, 6)
    Q = part.domain.lo + np.random.default_rng(2).random((2000, 2)) * part.domain.widths
    with torch.no_grad():
        label = net(torch.tensor(Q, dtype=torch.float32)).argmax(1).numpy()
    np.testing.assert_array_equal(part.cells["prediction"].to_numpy()[part.locate(Q)], label)


@pytest.mark.parametrize("seed", range(6))
def test_plane_route_on_an_elongated_box_equals_the_arrangement(seed):
    """Oracle: one hidden layer is the arrangement of its units. On a 2 x 2e-5 box the edges
    within 1e3 tol of a long side (tol of the largest side, 10% of the short one) were
    labelled box sides: 4 interior faces went missing and build_complex failed."""
    rng = np.random.default_rng(seed)
    net = nn.Sequential(nn.Linear(2, 6), nn.ReLU(), nn.Linear(6, 1)).double().eval()
    with torch.no_grad():
        for layer in (net[0], net[2]):
            layer.weight.copy_(torch.tensor(rng.normal(size=layer.weight.shape)))
            layer.bias.copy_(torch.tensor(rng.normal(size=layer.bias.shape) * 0.5))
        net[0].weight /= torch.tensor([1.0, 1e-5])
    box = cellgeom.Box([-1, -1e-5], [1, 1e-5])
    part = cellgeom.partition(net, domain=box, cells="all", progress=False)
    arr = cellgeom.HyperplaneArrangement(net[0].weight.detach().numpy(),
                                         net[0].bias.detach().numpy())
    ref = cellgeom.partition(arr, domain=box, cells="all", progress=False)
    assert sorted(part.keys) == sorted(ref.keys)
    assert (part.faces["cell_b"] >= 0).sum() == (ref.faces["cell_b"] >= 0).sum()
    assert cellgeom.build_complex(part, progress=False).betti_numbers()[:2] == [1, 0]
