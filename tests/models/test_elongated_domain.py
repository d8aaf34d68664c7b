"""Domains whose sides differ by orders of magnitude (unscaled features): the polytope
route computes each axis in its own unit (the per-axis unit frame), and the complex
decides its faces in that frame."""
import copy
import warnings

import numpy as np
import pytest

import cellgeom

torch = pytest.importorskip("torch")


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8),
                               torch.nn.ReLU(), torch.nn.Linear(8, 1)).double().eval()


def _stretched(w):
    """net(x) = iso(x / w) on the box of sides w: the cells of iso on the unit cube."""
    net = copy.deepcopy(_net())
    with torch.no_grad():
        net[0].weight /= torch.tensor(w)
    return net, cellgeom.Box(-w / 2, w / 2)


def _stretched_and_twin(w):
    """The stretched network's full partition and complex (built with warnings as errors),
    and its isotropic twin's partition on the unit cube."""
    net, box = _stretched(w)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        part = cellgeom.partition(net, box, cells="all", progress=False)
        cx = cellgeom.build_complex(part, progress=False)
    twin = cellgeom.partition(_net(), cellgeom.Box(-np.ones(3) / 2, np.ones(3) / 2),
                              cells="all", progress=False)
    return part, cx, twin


def test_moderate_elongation_gives_the_scaled_partition_and_complex():
    """Sides 1e3 apart: the same cells, volumes and complex as the isotropic twin."""
    w = np.array([10 ** 1.5, 10 ** -1.5, 1.0])
    part, cx, twin = _stretched_and_twin(w)
    assert sorted(part.keys) == sorted(twin.keys)
    order = [part.keys.index(k) for k in twin.keys]
    np.testing.assert_allclose(part.volumes[order], twin.volumes * np.prod(w), rtol=1e-9)
    assert cx.n_simplices() == cellgeom.build_complex(twin, progress=False).n_simplices()


def test_an_elongated_domain_loses_no_cell():
    """Sides 1e7 apart: every axis has its own unit in the frame, so the cells thinner than
    1e-9 of the largest side (real along the short side) are kept: the twin's cells and
    volumes, nothing dropped, nothing said (they used to be dropped, with a warning)."""
    w = np.array([10 ** 3.5, 10 ** -3.5, 1.0])
    net, box = _stretched(w)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        part = cellgeom.partition(net, box, cells="all", progress=False)
    twin = cellgeom.partition(_net(), cellgeom.Box(-np.ones(3) / 2, np.ones(3) / 2),
                              cells="all", progress=False)
    assert part.info["n_dropped"] == 0
    assert sorted(part.keys) == sorted(twin.keys)
    order = [part.keys.index(k) for k in twin.keys]
    np.testing.assert_allclose(part.volumes[order], twin.volumes * np.prod(w), rtol=1e-9)


def _simplex_keys(part, cx):
    """Each dimension's simplices as sets of the key tuples of their cells."""
    keys = np.array(part.keys, dtype=object)
    return [{tuple(sorted(keys[s])) for s in cx.simplices(p)} for p in range(cx.dim + 1)]


@pytest.mark.parametrize("exponent", [2.5, 4.5, 6.0])
def test_the_complex_of_an_elongated_domain_is_the_twins(exponent):
    """Sides 1e5, 1e9 and 1e12 apart: the complex decides faces in the unit frame, so it
    has the isotropic twin's simplices, cell for cell, silently (with one tolerance of the
    largest side it missed faces from 1e5 apart and raised)."""
    w = np.array([10 ** exponent, 10 ** -exponent, 1.0])
    part, cx, twin = _stretched_and_twin(w)
    twin_cx = cellgeom.build_complex(twin, progress=False)
    assert cx.rule == twin_cx.rule == "dual"
    assert _simplex_keys(part, cx) == _simplex_keys(twin, twin_cx)
    assert cx.betti_numbers() == [1, 0, 0, 0]
    # point location and common pieces use the frame's tolerance per axis too
    inside = twin.centers * w
    np.testing.assert_array_equal(part._locate_by_halfspaces(inside),
                                  [part.keys.index(k) for k in twin.keys])
    a, b = cx.simplices(1)[0]
    dim, _, centroid = part.common_piece([a, b])
    assert dim == 2 and part.domain.contains(centroid[None])[0]


def test_data_cells_of_raw_features_have_the_standardized_complex():
    """Four raw breast-cancer features (sides 8e4 apart) through a network whose first
    layer standardizes them: the data cells' complex is the one of the same network on the
    standardized features (one tolerance of the largest side reported b_1 = 2 here, and the
    full partition's complex had 25 components)."""
    from sklearn.datasets import load_breast_cancer

    X = load_breast_cancer().data[:, [3, 9, 19, 29]]
    mean, std = X.mean(axis=0), X.std(axis=0)
    torch.manual_seed(0)
    twin_net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 6),
                                   torch.nn.ReLU(), torch.nn.Linear(6, 2)).double().eval()
    net = copy.deepcopy(twin_net)
    with torch.no_grad():
        net[0].weight /= torch.tensor(std)
        net[0].bias -= net[0].weight @ torch.tensor(mean)
    for cells in ("data", "all"):
        part = cellgeom.partition(net, data=X, cells=cells, progress=False)
        box = part.domain
        twin = cellgeom.partition(twin_net, data=(X - mean) / std, cells=cells,
                                  domain=((box.lo - mean) / std, (box.hi - mean) / std),
                                  progress=False)
        cx, twin_cx = (cellgeom.build_complex(p, progress=False) for p in (part, twin))
        assert sorted(part.keys) == sorted(twin.keys)
        assert _simplex_keys(part, cx) == _simplex_keys(twin, twin_cx)
        assert cx.betti_numbers() == twin_cx.betti_numbers()


def test_large_cells_of_an_elongated_domain_are_exact_and_silent():
    """Sides 8e5 apart, but a linear classifier's cells span the short side: the same
    complex as on the scaled domain, and nothing is said."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    units = np.array([1e-3, 1.0, 1e3])
    X = rng.standard_normal((300, 3)) * units
    y = (X / units @ np.array([1.0, -2.0, 0.5]) > 0).astype(int) + (X[:, 2] > 500)
    model = LogisticRegression(max_iter=5000).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        part = cellgeom.partition(model, data=X, cells="all", progress=False)
        cx = cellgeom.build_complex(part, progress=False)
    assert part.volumes.sum() == pytest.approx(part.domain.volume, rel=1e-9)
    assert cx.n_simplices() == [3, 3, 1] and cx.betti_numbers() == [1, 0, 0]


def test_two_dimensional_networks_scale_each_axis_and_do_not_warn():
    """The exact slice route maps the domain to the unit square axis by axis."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 6), torch.nn.ReLU(), torch.nn.Linear(6, 1))
    w = np.array([1e4, 1e-4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        part = cellgeom.partition(net, cellgeom.Box(-w / 2, w / 2), cells="all",
                                  progress=False)
    assert part.info.get("route") == "slice"
    assert part.volumes.sum() == pytest.approx(np.prod(w), rel=1e-12)
