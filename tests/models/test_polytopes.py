"""The generic polytope route on degenerate and badly scaled input (issue #18).

Every test names its oracle: the invariants of :mod:`tests.models.polytope_oracles`
(volumes sum to the box, each point in exactly one cell holding the model's own key,
Minkowski closure, faces equal from both sides), or the same model without the
degeneracy.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import cellgeom
from cellgeom.models.network import NetworkCells

from .polytope_oracles import violations

DUP_CASES = {
    "exact": ([[1, .2], [1, .2], [.1, 1]], [.1, .1, -.2]),
    "scaled": ([[1, .2], [2.5, .5], [.1, 1]], [.1, .25, -.2]),
    "negated": ([[1, .2], [-1, -.2], [.1, 1]], [.1, -.1, -.2]),
    "negated_scaled": ([[1, .2], [-3, -.6], [.1, 1]], [.1, -.3, -.2]),
    "angle_1e-12": ([[1, .2], [1, .2 + 1e-12], [.1, 1]], [.1, .1, -.2]),
}


def _sample(box, N=1000, seed=0):
    rng = np.random.default_rng(seed)
    return box.lo + rng.random((N, box.dim)) * box.widths


@pytest.mark.parametrize("case", list(DUP_CASES))
def test_duplicate_hyperplane_cells_equal_the_arrangement_without_the_copy(case):
    """Oracle: the arrangement of rows 0 and 2 only (a copy adds no cell), and the
    invariants (volumes sum to the box, points in the cell of their own sign vector)."""
    W, b = (np.asarray(a, dtype=float) for a in DUP_CASES[case])
    box = cellgeom.Box([-1, -1], [1, 1])
    arr = cellgeom.HyperplaneArrangement(W, b)
    part = cellgeom.partition(arr, domain=box, cells="all", progress=False)
    ref = cellgeom.partition(cellgeom.HyperplaneArrangement(W[[0, 2]], b[[0, 2]]),
                             domain=box, cells="all", progress=False)
    assert part.n_cells == ref.n_cells == 4
    assert violations(part, _sample(box), arr.keys) == []
    # the same cells: a cell's key restricted to rows 0 and 2 is the reference key
    ref_vol = dict(zip(ref.keys, ref.volumes))
    for key, vol in zip(part.keys, part.volumes):
        assert vol == pytest.approx(ref_vol[key[0] + key[2]], rel=1e-9)


def _net(W1, b1, w2, seed=0):
    net = nn.Sequential(nn.Linear(W1.shape[1], W1.shape[0]), nn.ReLU(),
                        nn.Linear(W1.shape[0], 1)).double().eval()
    with torch.no_grad():
        net[0].weight.copy_(torch.as_tensor(W1))
        net[0].bias.copy_(torch.as_tensor(b1))
        net[2].weight.copy_(torch.as_tensor(w2[None, :]))
        net[2].bias.zero_()
    return net


def test_duplicated_relu_unit_every_point_in_the_cell_of_its_own_pattern():
    """Oracle: the invariants, with the network's own activation pattern as the key; the
    cells are those of the network without the copy."""
    rng = np.random.default_rng(3)
    W1, b1 = rng.normal(size=(5, 2)), rng.normal(size=5) * 0.3
    W1[3], b1[3] = W1[1], b1[1]  # unit 3 duplicates unit 1
    net = _net(W1, b1, rng.normal(size=5))
    box = cellgeom.Box([-2, -2], [2, 2])
    part = cellgeom.partition(net, domain=box, cells="all", progress=False)
    keep = [0, 1, 2, 4]
    ref = cellgeom.partition(_net(W1[keep], b1[keep], np.ones(4)), domain=box, cells="all",
                             progress=False)
    assert violations(part, _sample(box), NetworkCells(net).keys) == []
    assert part.n_cells == ref.n_cells
    np.testing.assert_allclose(np.sort(part.volumes), np.sort(ref.volumes), rtol=1e-9)


def _shifted_arrangement(W, b, scale, shift):
    """The arrangement of (W, b) on [-1, 1]^n seen through x = shift + scale * u."""
    W = np.asarray(W, dtype=float)
    n = W.shape[1]
    Wx = W / scale
    bx = b - Wx @ np.full(n, shift)
    box = cellgeom.Box(np.full(n, shift - scale), np.full(n, shift + scale))
    return cellgeom.HyperplaneArrangement(Wx, bx), box


@pytest.mark.parametrize("scale,shift", [(3e8, 0.0), (1e9, 0.0), (1e-9, 0.0), (1e-6, 0.0),
                                         (1e3, 1e12), (1e6, 1e12)])
def test_scaled_and_shifted_domain_volume_shares_equal_the_unit_box_ones(scale, shift):
    """Oracle: the same arrangement on the unit box [-1, 1]^2 (keys, volume shares) and
    the invariants. (Offsets ``b - W shift / scale`` are stored to 1e-16 of their size,
    so the cases keep that rounding below 1e-6 of the box.)"""
    rng = np.random.default_rng(0)
    W, b = rng.normal(size=(6, 2)), rng.normal(size=6) * 0.5
    unit = cellgeom.partition(cellgeom.HyperplaneArrangement(W, b),
                              domain=cellgeom.Box([-1, -1], [1, 1]), cells="all",
                              progress=False)
    arr, box = _shifted_arrangement(W, b, scale, shift)
    part = cellgeom.partition(arr, domain=box, cells="all", progress=False)
    assert part.keys == unit.keys
    np.testing.assert_allclose(part.volumes / box.volume, unit.volumes / 4, rtol=1e-6,
                               atol=1e-9)
    assert violations(part, _sample(box), arr.keys, rel=1e-9) == []


def test_unit_box_far_from_the_origin_volumes_sum_to_the_box():
    """Oracle: the invariants (volumes sum to the box, each point in the cell of its own
    sign vector, closure, faces from both sides) for a box of side 2 centred at 1e12 (it
    failed: 'Chebyshev-centre LP failed: HiGHS Status 15')."""
    rng = np.random.default_rng(0)
    arr, box = _shifted_arrangement(rng.normal(size=(6, 2)), rng.normal(size=6) * 0.5,
                                    1.0, 1e12)
    part = cellgeom.partition(arr, domain=box, cells="all", progress=False)
    assert part.n_cells >= 6
    assert violations(part, _sample(box), arr.keys, rel=1e-9) == []


def test_box_narrower_than_float64_resolves_is_refused_naming_its_steps():
    """Oracle: the message names the side and its count of float64 steps (a box of side
    2e-3 at 1e12 spans 16 float64 numbers: coordinates are rounded to 6% of it)."""
    rng = np.random.default_rng(0)
    arr, box = _shifted_arrangement(rng.normal(size=(6, 2)), rng.normal(size=6) * 0.5,
                                    1e-3, 1e12)
    with pytest.raises(ValueError, match=r"side 0 .* only 16 float64 steps wide"):
        cellgeom.partition(arr, domain=box, cells="all", progress=False)


def test_six_lines_in_a_3e8_box_volumes_sum_to_the_box():
    """Oracle: volumes sum to the box (issue #18: 0.54 of it before)."""
    rng = np.random.default_rng(0)
    arr = cellgeom.HyperplaneArrangement(rng.normal(size=(6, 2)), rng.normal(size=6) * 0.5)
    box = cellgeom.Box([-3e8, -3e8], [3e8, 3e8])
    part = cellgeom.partition(arr, domain=box, cells="all", progress=False)
    assert violations(part, _sample(box), arr.keys) == []


def test_two_lines_in_a_1e9_box_volumes_sum_to_the_box():
    """Oracle: volumes sum to the box and the four quadrant-like cells are found (it
    raised 'the polytope is unbounded' though a box was given)."""
    arr = cellgeom.HyperplaneArrangement([[1.0, 0.3], [-0.2, 1.0]], [0.5, -0.1])
    box = cellgeom.Box([-1e9, -1e9], [1e9, 1e9])
    part = cellgeom.partition(arr, domain=box, cells="all", progress=False)
    assert part.n_cells == 4
    assert violations(part, _sample(box), arr.keys) == []


def test_relu_net_on_data_times_1e9_volumes_sum_to_the_box():
    """Oracle: the invariants with the network's own patterns (a net trained at unit scale
    applied to data 1e9 times larger: its hyperplanes meet in a 1e-9 ball at the centre;
    volumes summed to 11.2 times the box before)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(),
                        nn.Linear(8, 1)).double().eval()
    X = np.random.default_rng(1).normal(size=(200, 2)) * 1e9
    part = cellgeom.partition(net, data=X, cells="all", progress=False)
    assert violations(part, _sample(part.domain), NetworkCells(net).keys, rel=1e-6) == []


def test_data_near_1e12_cells_equal_the_cells_of_the_centred_data():
    """Oracle: the same network and data moved to the origin (keys and volumes); it failed
    with 'Chebyshev-centre LP failed: HiGHS Status 15'."""
    torch.manual_seed(2)
    net = nn.Sequential(nn.Linear(2, 6), nn.ReLU(), nn.Linear(6, 1)).double().eval()
    shift = 1e12
    X = np.random.default_rng(2).normal(size=(300, 2))
    ref = cellgeom.partition(net, data=X, cells="all", progress=False)
    moved = nn.Sequential(nn.Linear(2, 6), nn.ReLU(), nn.Linear(6, 1)).double().eval()
    with torch.no_grad():  # moved(x) = net(x - shift)
        moved.load_state_dict(net.state_dict())
        moved[0].bias.sub_(moved[0].weight.sum(dim=1) * shift)
    part = cellgeom.partition(moved, data=X + shift, cells="all", progress=False)
    assert part.keys == ref.keys
    # the moved biases are stored to a float64 step of 1e12 (1.2e-4): the moved net's
    # hyperplanes are those of the reference to that step, its cells' volumes to that
    # step times their perimeter
    np.testing.assert_allclose(part.volumes, ref.volumes, rtol=0,
                               atol=5 * np.spacing(shift) * ref.domain.scale)
    assert violations(part, _sample(part.domain), NetworkCells(moved).keys, rel=1e-6) == []


def test_failed_chebyshev_lp_names_the_cell_and_the_rows_scale(monkeypatch):
    """Oracle: the error is a ValueError naming the cell's key, the numerical cause and the
    scale of the rows (it was 'Chebyshev-centre LP failed: HiGHS Status 15' or 'the
    polytope is unbounded' though the box bounds every cell)."""
    from cellgeom.models import cell_geometry

    def failing(polytopes, **kwargs):
        raise RuntimeError("Chebyshev-centre LP failed: HiGHS Status 15")

    monkeypatch.setattr(cell_geometry, "chebyshev_centers", failing)
    arr = cellgeom.HyperplaneArrangement([[1.0, 0.0], [0.0, 1.0]], [-0.3, -0.6])
    with pytest.raises(cell_geometry.DegenerateCellError,
                       match=r"cell '\d\d'.*HiGHS Status 15.*numerical.*normals of length"):
        cellgeom.partition(arr, domain=cellgeom.Box([0, 0], [1, 1]), cells="all",
                           progress=False)


@pytest.mark.parametrize("kind", ["offset", "tilt"])
@pytest.mark.parametrize("eps", [1e-14, 1e-12, 1e-10, 1e-8, 1e-6])
def test_near_duplicate_hyperplane_volumes_sum_minkowski_closes_faces_symmetric(eps, kind):
    """Oracle: the invariants (volumes sum to the box, Minkowski closure, faces equal from
    both sides, each point in the cell of its own sign vector) with row 4 a copy of row 0
    moved by eps along its normal or turned by eps (cells were missing, residuals reached
    0.47 and face tables were asymmetric)."""
    rng = np.random.default_rng(11)
    W, b = rng.normal(size=(5, 3)), rng.normal(size=5) * 0.4
    W[4], b[4] = W[0], b[0]
    if kind == "offset":
        b[4] += eps * np.linalg.norm(W[0])
    else:
        W[4] += eps * np.linalg.norm(W[0]) * np.array([0.48, -0.6, 0.64])
    arr = cellgeom.HyperplaneArrangement(W, b)
    box = cellgeom.Box([-1, -1, -1], [1, 1, 1])
    part = cellgeom.partition(arr, domain=box, cells="all", progress=False)
    assert violations(part, _sample(box), arr.keys, rel=1e-7) == []


def _relu_net_near(W1, b1, W2, b2, o):
    """ReLU net ``x -> relu(W2 relu(W1 (x - o) + b1) + b2)`` (summed) in raw coordinates."""
    net = nn.Sequential(nn.Linear(W1.shape[1], len(W1)), nn.ReLU(), nn.Linear(len(W1), len(W2)),
                        nn.ReLU(), nn.Linear(len(W2), 1)).double().eval()
    with torch.no_grad():
        net[0].weight.copy_(torch.as_tensor(W1))
        net[0].bias.copy_(torch.as_tensor(b1 - W1 @ o))
        net[2].weight.copy_(torch.as_tensor(W2))
        net[2].bias.copy_(torch.as_tensor(b2))
    return net


def test_network_layer_maps_near_1e12_are_bit_identical_whatever_the_batch():
    """Oracle: a cell's maps ``z = A (x - o) + c`` computed alone equal, bit for bit, those
    computed in a batch of other cells (a batched ``W_1 o + b_1`` rounded differently with
    the batch size: 2.4e-4 near 1e12, so two neighbours saw different hyperplanes)."""
    rng = np.random.default_rng(0)
    o = np.full(4, 1e12)
    net = _relu_net_near(rng.normal(size=(5, 4)), rng.normal(size=5) * 0.4,
                         rng.normal(size=(4, 5)), rng.normal(size=4) * 0.3, o)
    cells = NetworkCells(net)
    keys = list(cells.keys(o + rng.uniform(-1, 1, size=(300, 4))))
    A_all, c_all = cells.layer_maps(keys, origin=o)
    for i in range(0, len(keys), 37):
        A1, c1 = cells.layer_maps([keys[i]], origin=o)
        assert np.array_equal(A1[0], A_all[i]) and np.array_equal(c1[0, :5], c_all[i, :5])


def test_duplicated_unit_4d_net_near_1e12_volumes_sum_and_faces_are_symmetric():
    """Oracle: the invariants (volumes sum to the box, faces equal from both sides, each
    point in the cell of its own pattern, closure) for a 4-D ReLU net with a duplicated unit
    in a box of side 2 centred at 1e12 (volumes summed to 0.999994 of the box, faces
    differed by 3e-4 between the two sides: the property test's case ('relu', 4, 0.0,
    'copy', 1.0, 1e12, 0))."""
    rng = np.random.default_rng(0)
    W1, b1 = rng.normal(size=(5, 4)), rng.normal(size=5) * 0.4
    W1[4], b1[4] = W1[0], b1[0]
    o = np.full(4, 1e12)
    net = _relu_net_near(W1, b1, rng.normal(size=(4, 5)), rng.normal(size=4) * 0.3, o)
    box = cellgeom.Box(o - 1, o + 1)
    part = cellgeom.partition(net, domain=box, cells="all", progress=False)
    assert violations(part, _sample(box, 400), NetworkCells(net).keys, rel=1e-6) == []


def test_scaled_copy_unit_2d_net_near_1e12_faces_are_symmetric():
    """Oracle: the invariants for a 2-D ReLU net whose unit 4 is 2.5 x unit 0, in a box of
    side 2e3 centred at 1e12. The stored biases make the two lines 2e-4 apart, a sliver
    as wide as the float64 step of the slice's vertices: the slice route labelled both its
    sides with unit 0, so faces were twice as large from one side (the property test's
    case ('relu', 2, 0.0, 'scaled', 1000.0, 1e12, 2))."""
    rng = np.random.default_rng(2)
    W1, b1 = rng.normal(size=(5, 2)), rng.normal(size=5) * 0.4
    W1[4], b1[4] = 2.5 * W1[0], 2.5 * b1[0]
    rng.normal(size=2)
    o = np.full(2, 1e12)
    net = _relu_net_near(W1 / 1e3, b1, rng.normal(size=(4, 5)), rng.normal(size=4) * 0.3, o)
    box = cellgeom.Box(o - 1e3, o + 1e3)
    part = cellgeom.partition(net, domain=box, cells="all", progress=False)
    assert violations(part, _sample(box, 400), NetworkCells(net).keys, rel=1e-6) == []


def test_linear_class_winning_only_on_a_line_gives_its_points_to_a_class_beside_it():
    """Scores 0, x_0 and -x_0: on x_0 = 0 all tie and the first, class 0, wins, but class
    0's cell is that line (dropped). Oracle: the points on it are counted in, and located
    in, a class cell whose closure holds them; before, they were in no cell, silently."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    model = LogisticRegression().fit(rng.normal(size=(30, 2)), np.arange(30) % 3)
    model.coef_, model.intercept_ = np.array([[0.0, 0], [1, 0], [-1, 0]]), np.zeros(3)
    X = np.vstack([np.column_stack([np.zeros(4), np.linspace(-0.5, 0.5, 4)]),
                   [[0.5, 0.1], [-0.5, 0.2]]])
    assert (model.predict(X[:4]) == 0).all()
    box = cellgeom.Box([-1, -1], [1, 1])
    for cells in ("data", "all"):
        part = cellgeom.partition(model, domain=box, data=X, cells=cells, progress=False)
        found = part.locate(X)
        assert (found >= 0).all()
        np.testing.assert_array_equal(np.bincount(found, minlength=part.n_cells),
                                      part.cells["n_points"].to_numpy())
        assert part.info["n_points_on_boundaries"] == 4
        for x, c in zip(X, found):
            A, b = part.halfspaces(int(c))
            assert np.max(A @ x - b) <= part.info["tol"]
