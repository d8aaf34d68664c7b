"""Domains whose sides differ by orders of magnitude (unscaled features): the polytope
route computes each axis in its own unit (the per-axis unit frame); the complex still
uses one tolerance and refuses what it cannot resolve."""
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


def test_moderate_elongation_gives_the_scaled_partition_and_complex():
    """Sides 1e3 apart: the same cells, volumes and complex as the isotropic twin."""
    w = np.array([10 ** 1.5, 10 ** -1.5, 1.0])
    net, box = _stretched(w)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        part = cellgeom.partition(net, box, cells="all", progress=False)
        cx = cellgeom.build_complex(part, progress=False)
    twin = cellgeom.partition(_net(), cellgeom.Box(-np.ones(3) / 2, np.ones(3) / 2),
                              cells="all", progress=False)
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


def test_a_complex_that_misses_faces_is_an_error_naming_the_elongation():
    """Sides 1e5 apart: the cells are kept, but build_complex's tolerance (1e3 tol) is
    coarser than the thinnest cells along the short side; it refuses rather than return a
    wrong complex."""
    w = np.array([10 ** 2.5, 10 ** -2.5, 1.0])
    net, box = _stretched(w)
    part = cellgeom.partition(net, box, cells="all", progress=False)
    with pytest.raises(RuntimeError, match=r"differ by a factor of 1e\+05 \(feature 0 against "
                                           r"feature 1\)"):
        cellgeom.build_complex(part, progress=False)


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
