"""Domains whose sides differ by orders of magnitude (unscaled features): the polytope
route computes in one length unit and says when that unit is coarse."""
import warnings

import numpy as np
import pytest

import cellgeom

torch = pytest.importorskip("torch")


def _net(n_in):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(n_in, 6), torch.nn.ReLU(),
                               torch.nn.Linear(6, 1)).double().eval()


def test_an_elongated_domain_is_named_in_a_warning_at_the_callers_line():
    w = np.array([1e3, 1e-3, 1.0])
    with pytest.warns(UserWarning, match=r"differ by a factor of 1e\+06 \(feature 0: 1e\+03, "
                                         r"feature 1: 0\.001\)") as record:
        part = cellgeom.partition(_net(3), cellgeom.Box(-w / 2, w / 2), cells="all",
                                  progress=False)
    assert record[0].filename == __file__
    assert part.volumes.sum() == pytest.approx(np.prod(w), rel=1e-12)


def test_moderate_elongation_is_silent_and_gives_the_scaled_partition():
    """Sides 1e3 apart: the same cells as the isotropic twin net(x) = iso(x / w)."""
    w = np.array([30.0, 0.03, 1.0])
    iso = _net(3)
    net = _net(3)
    with torch.no_grad():
        net[0].weight /= torch.tensor(w)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        part = cellgeom.partition(net, cellgeom.Box(-w / 2, w / 2), cells="all", progress=False)
    twin = cellgeom.partition(iso, cellgeom.Box(-np.ones(3) / 2, np.ones(3) / 2), cells="all",
                              progress=False)
    assert sorted(part.keys) == sorted(twin.keys)
    order = [part.keys.index(k) for k in twin.keys]
    np.testing.assert_allclose(part.volumes[order], twin.volumes * np.prod(w), rtol=1e-9)


def test_two_dimensional_networks_scale_each_axis_and_do_not_warn():
    """The exact slice route maps the domain to the unit square axis by axis."""
    w = np.array([1e4, 1e-4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        part = cellgeom.partition(_net(2), cellgeom.Box(-w / 2, w / 2), cells="all",
                                  progress=False)
    assert part.info.get("route") == "slice"
    assert part.volumes.sum() == pytest.approx(np.prod(w), rel=1e-12)
