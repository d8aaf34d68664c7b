"""``partition(net, cells="all")`` on 2-D inputs (the slice engine's route, tables built by
whole-array operations) gives the polytope route's tables.

Oracle: the same call with the slice route switched off (the LP/vertex polytope route).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import cellgeom
from cellgeom.models import network as network_module


def _net(out, seed, width=(7, 6)):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, width[0]), nn.ReLU(), nn.Linear(*width), nn.LeakyReLU(0.1),
                         nn.Linear(width[1], out)).double().eval()


def _sorted(frame, by):
    return frame.sort_values(by, kind="stable").reset_index(drop=True)


@pytest.mark.parametrize("out,box,width", [
    (1, ([-2.0, -1.5], [2.5, 2.0]), (7, 6)),
    (3, ([1e6 - 3.0, -2.0], [1e6 + 3.0, 2.0]), (7, 6)),
    # 2,900 cells, with edges short enough that both ends lie within the tolerance of a
    # second unit's line crossing near them: labelled by their direction
    (1, ([-1.0, -1.0], [1.0, 1.0]), (64, 64))])
def test_slice_route_tables_equal_the_polytope_route(monkeypatch, out, box, width):
    net = _net(out, 3 + out if width == (7, 6) else 0, width)
    if out == 3:  # the box far from the origin: the first layer sees inputs near 1e6
        with torch.no_grad():
            net[0].bias -= net[0].weight[:, 0] * 1e6
    domain = cellgeom.Box(*box)
    fast = cellgeom.partition(net, domain, cells="all", progress=False)
    assert fast.info["route"] == "slice"
    monkeypatch.setattr(network_module, "_partition_plane", lambda *a, **k: None)
    slow = cellgeom.partition(net, domain, cells="all", progress=False)
    assert fast.n_cells == slow.n_cells > 10
    assert list(fast.keys) == list(slow.keys)
    for a, b in ((fast.cells, slow.cells), (fast.facets, slow.facets),
                 (fast.hinges, slow.hinges)):
        assert list(a.columns) == list(b.columns)
        assert list(a.dtypes) == list(b.dtypes)
    scale = float(np.max(domain.widths))
    for col in ("volume", "inradius"):
        np.testing.assert_allclose(fast.cells[col], slow.cells[col], rtol=1e-7,
                                   atol=1e-9 * scale ** (2 if col == "volume" else 1))
    np.testing.assert_array_equal(fast.cells["n_facets"], slow.cells["n_facets"])
    # centroids too, slivers included (their shoelace sums are taken about a vertex)
    for col in ("centroid_0", "centroid_1"):
        np.testing.assert_allclose(fast.cells[col], slow.cells[col], rtol=0,
                                   atol=1e-9 * scale)
    f, s = _sorted(fast.facets, ["cell", "label"]), _sorted(slow.facets, ["cell", "label"])
    for col in ("cell", "label", "neighbor"):
        np.testing.assert_array_equal(f[col], s[col])
    np.testing.assert_allclose(f["volume"], s["volume"], rtol=1e-7, atol=1e-9 * scale)
    key = ["cell", "label_a", "label_b"]
    fh, sh = _sorted(fast.hinges, key), _sorted(slow.hinges, key)
    for col in key + ["neighbor_a", "neighbor_b", "boundary"]:
        np.testing.assert_array_equal(fh[col], sh[col])
    np.testing.assert_allclose(fh["angle"], sh["angle"], atol=1e-7)
    assert fast.hinges["hinge"].nunique() == slow.hinges["hinge"].nunique()
    # the same grouping of the hinge rows (ids may be numbered differently)
    assert len(set(zip(fh["hinge"], sh["hinge"]))) == sh["hinge"].nunique()
    assert len(fast.vertices[2]) == len(slow.vertices[2])


@pytest.mark.parametrize("out", [1, 3])
def test_slice_route_data_and_predictions_equal_the_polytope_route(monkeypatch, out):
    """Oracle: the polytope route (slice route switched off) on the same data: points per
    cell, is_data, points outside, a classifier's predicted classes; one output's
    prediction is the network at the cell's centre. The slice route never looks for a start
    cell."""
    net = _net(out, 11 + out)
    domain = cellgeom.Box([-2.0, -1.5], [2.5, 2.0])
    X = np.random.default_rng(out).normal(size=(300, 2)) * 1.5

    def no_start_key(*args):
        raise AssertionError("the slice route needs no start cell")

    with monkeypatch.context() as m:
        m.setattr(network_module, "_start_key", no_start_key)
        fast = cellgeom.partition(net, domain, X, cells="all", progress=False)
    assert fast.info["route"] == "slice"
    monkeypatch.setattr(network_module, "_partition_plane", lambda *a, **k: None)
    slow = cellgeom.partition(net, domain, X, cells="all", progress=False)
    assert list(fast.keys) == list(slow.keys)
    assert list(fast.cells.columns) == list(slow.cells.columns)
    assert fast.info["n_points_outside"] == slow.info["n_points_outside"] > 0
    for col in ("n_points", "is_data"):
        np.testing.assert_array_equal(fast.cells[col], slow.cells[col])
    assert fast.cells["n_points"].sum() == 300 - fast.info["n_points_outside"]
    if out > 1:
        np.testing.assert_array_equal(fast.cells["prediction"], slow.cells["prediction"])
    else:  # the output at each cell's own centre (centres need not be unique)
        with torch.no_grad():
            at_centers = net(torch.tensor(fast.centers))[:, 0].numpy()
        np.testing.assert_allclose(fast.cells["prediction"], at_centers, rtol=1e-12,
                                   atol=1e-12)
    np.testing.assert_array_equal(fast.locate(X[:20]), slow.locate(X[:20]))


@settings(max_examples=15, deadline=None)
@given(widths=st.tuples(st.integers(2, 12), st.integers(2, 12)),
       act=st.sampled_from(["relu", "leaky", "prelu"]), out=st.sampled_from([1, 3]),
       copied=st.booleans(), far=st.booleans(), seed=st.integers(0, 2**16))
def test_property_random_nets_slice_route_equals_the_polytope_route(widths, act, out, copied,
                                                                    far, seed):
    """Oracle: the polytope route on random small nets, with a copied unit and a box far
    from the origin (1e6) among them: the same keys, volumes, centroids, inradii, facet
    rows and classes. (400 such nets agreed when this test was written.)"""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    first = {"relu": nn.ReLU(), "leaky": nn.LeakyReLU(0.1),
             "prelu": nn.PReLU(1, 0.3).double()}[act]
    net = nn.Sequential(nn.Linear(2, widths[0]), first, nn.Linear(*widths), nn.ReLU(),
                        nn.Linear(widths[1], out)).double().eval()
    center = rng.normal(size=2) * (1e6 if far else 1.0)
    with torch.no_grad():
        if copied:
            net[0].weight[1], net[0].bias[1] = net[0].weight[0], net[0].bias[0]
        net[0].bias -= net[0].weight @ torch.tensor(center)  # the net's picture at the box
    h = float(rng.uniform(0.5, 3.0))
    domain = cellgeom.Box(center - h, center + h)
    fast = cellgeom.partition(net, domain, cells="all", progress=False)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(network_module, "_partition_plane", lambda *a, **k: None)
        slow = cellgeom.partition(net, domain, cells="all", progress=False)
    assert list(fast.keys) == list(slow.keys)
    scale = float(np.max(domain.widths))
    for col, power in (("volume", 2), ("centroid_0", 1), ("centroid_1", 1), ("inradius", 1)):
        np.testing.assert_allclose(fast.cells[col], slow.cells[col], rtol=1e-7,
                                   atol=1e-9 * scale ** power)
    assert len(fast.facets) == len(slow.facets)
    if out > 1:
        np.testing.assert_array_equal(fast.cells["prediction"], slow.cells["prediction"])
