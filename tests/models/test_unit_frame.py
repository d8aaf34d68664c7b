"""The unit frame of the polytope route maps each axis of the domain to [-1, 1] (x = o + S u)
and the geometry back exactly: on a box whose sides differ by 1e7 (raw tabular features)
no real cell is dropped, and every column is the user-unit number.

Oracles: the isotropic twin (net(x) = iso(x / w) on the box of sides w has the cells of iso
on the unit cube, mapped by x = w y), geometry recomputed here in the user's units from the
twin's halfspaces with scipy (vertices by HalfspaceIntersection in the twin's coordinates,
mapped by w; areas, lengths, normals, angles and Chebyshev balls of the mapped cells),
Minkowski closure, and a 2-D arrangement checked by hand.
"""
from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
from scipy.optimize import linprog
from scipy.spatial import ConvexHull, HalfspaceIntersection

import cellgeom
from cellgeom.core import vector_columns
from cellgeom.models.unit_frame import UnitFrame

torch = pytest.importorskip("torch")

EXTREME = np.array([1e4, 1e-3, 1.0])  # sides 1e7 apart: income, rate, score
MODERATE = np.array([30.0, 0.05, 1.0])


def _iso(width=8, out=3, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, width), torch.nn.ReLU(),
                               torch.nn.Linear(width, width), torch.nn.ReLU(),
                               torch.nn.Linear(width, out)).double().eval()


def _stretched(iso, w):
    """net(x) = iso(x / w) on the box of sides w: the cells of iso on the unit cube."""
    net = copy.deepcopy(iso)
    with torch.no_grad():
        net[0].weight /= torch.tensor(w)
    return net, cellgeom.Box(-w / 2, w / 2)


def _pair(w, seed=0):
    iso = _iso(seed=seed)
    net, box = _stretched(iso, w)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is dropped, nothing to say
        part = cellgeom.partition(net, box, cells="all", progress=False)
    twin = cellgeom.partition(iso, cellgeom.Box(-np.ones(3) / 2, np.ones(3) / 2),
                              cells="all", progress=False)
    return part, twin


def test_raw_feature_ranges_lose_no_cell():
    """The audit's reproducer: sides 1e4, 1e-3, 1. With one length unit (half the largest
    side) the tolerance was 1% of the short side and 3 of 47 cells were dropped."""
    part, twin = _pair(EXTREME)
    assert part.n_cells == twin.n_cells == 47
    assert part.info["n_dropped"] == 0
    assert part.volumes.sum() == pytest.approx(np.prod(EXTREME), rel=1e-12)
    U = np.random.default_rng(0).uniform(-0.5, 0.5, (100_000, 3))
    assert (part.locate(U * EXTREME) < 0).sum() == 0
    np.testing.assert_allclose(part.info["tol_axes"], 1e-9 * 1e4 * EXTREME / 1e4, rtol=1e-15)


def _user_geometry(twin, c, w):
    """Facets and hinges of twin cell ``c`` mapped to x = w y, computed here: per facet
    label its user-unit normal, offset, area and the vertices on it (twin coordinates)."""
    A, b = twin.halfspaces(c)
    labels = twin.facets.loc[twin.facets["cell"] == c, "label"].to_numpy()
    # halfspaces in stable sort order of cell: the rows of the cell in table order
    hs = HalfspaceIntersection(np.column_stack([A, -b]), twin.centers[c])
    V = hs.intersections
    N = A / w  # A y <= b with y = x / w
    norm = np.linalg.norm(N, axis=1)
    out = {}
    for i, label in enumerate(labels):
        on = np.abs(V @ A[i] - b[i]) < 1e-9
        P = V[on]
        # order the facet polygon in the twin's coordinates, fan-triangulate, map by w
        basis = np.linalg.svd(P - P.mean(axis=0))[2][:2]
        hull = ConvexHull((P - P.mean(axis=0)) @ basis.T)
        ring = P[hull.vertices] * w
        e1, e2 = ring[1:-1] - ring[0], ring[2:] - ring[0]
        area = 0.5 * np.linalg.norm(np.cross(e1, e2), axis=1).sum()
        out[int(label)] = dict(normal=N[i] / norm[i], offset=b[i] / norm[i], area=area, on=on)
    return out, V


def _chebyshev_user(A, b, w):
    """max R s.t. the user-unit ball of radius R about w y lies in {A y <= b}: written
    in the twin's coordinates, ``a . y + R |a / w| <= b`` (HiGHS)."""
    weight = np.linalg.norm(A / w, axis=1)
    res = linprog(np.r_[np.zeros(3), -1.0], A_ub=np.column_stack([A, weight]), b_ub=b,
                  bounds=(None, None), method="highs")
    assert res.status == 0
    return res.x[:3] * w, -res.fun


@pytest.mark.parametrize("w", [MODERATE, EXTREME], ids=["moderate", "extreme"])
def test_anisotropic_box_equals_the_rescaled_twin_in_user_units(w):
    """Every column of the cells, facets and hinges tables against the twin's cells
    mapped by x = w y and measured here in the user's units."""
    part, twin = _pair(w)
    assert sorted(part.keys) == sorted(twin.keys)
    order = np.array([part.keys.index(k) for k in twin.keys])
    np.testing.assert_allclose(part.volumes[order], twin.volumes * np.prod(w), rtol=1e-9)
    np.testing.assert_allclose(part.centroids[order] / w, twin.centroids, atol=1e-12, rtol=0)
    normal_cols = vector_columns("normal", 3)
    for t, c in enumerate(order):
        geo, V = _user_geometry(twin, t, w)
        f = part.facets[part.facets["cell"] == c]
        assert sorted(f["label"]) == sorted(geo)
        for _, row in f.iterrows():
            g = geo[int(row["label"])]
            assert row["volume"] == pytest.approx(g["area"], rel=1e-9)
            np.testing.assert_allclose(row[normal_cols].to_numpy(float), g["normal"],
                                       atol=1e-12)
            assert row["offset"] == pytest.approx(g["offset"], rel=1e-9, abs=1e-12 * w.max())
        h = part.hinges[part.hinges["cell"] == c]
        assert len(h) == len(twin.hinges[twin.hinges["cell"] == t]) > 0
        for _, row in h.iterrows():
            a, b = geo[int(row["label_a"])], geo[int(row["label_b"])]
            ends = V[a["on"] & b["on"]] * w
            assert len(ends) == 2
            assert row["volume"] == pytest.approx(np.linalg.norm(ends[1] - ends[0]), rel=1e-9)
            # pi - arccos <nu_a, nu_b>; as atan2, accurate for the angles near 0 and pi
            angle = np.pi - np.arctan2(np.linalg.norm(np.cross(a["normal"], b["normal"])),
                                       a["normal"] @ b["normal"])
            assert row["angle"] == pytest.approx(angle, rel=1e-9, abs=1e-12)
            np.testing.assert_allclose(row[vector_columns("centroid", 3)].to_numpy(float) / w,
                                       ends.mean(axis=0) / w, atol=1e-12, rtol=0)
        center, radius = _chebyshev_user(*twin.halfspaces(t), w)
        assert part.cells["inradius"].iloc[c] == pytest.approx(radius, rel=1e-9)
        A, b = part.halfspaces(c)  # the centre's ball lies in the cell (up to the rounding
        slack = b - A @ part.centers[c]  # of coordinates near 1e4: a few of their steps)
        assert slack.min() >= part.cells["inradius"].iloc[c] - 64 * np.spacing(w.max())


@pytest.mark.parametrize("w", [MODERATE, EXTREME], ids=["moderate", "extreme"])
def test_minkowski_closure_in_user_units(w):
    """sum_F vol(F) nu_F = 0 for every cell, each component against its own scale (the
    areas of the faces across the long and the short side differ by 1e7)."""
    part, _ = _pair(w)
    f = part.facets
    nu = f[vector_columns("normal", 3)].to_numpy() * f["volume"].to_numpy()[:, None]
    cell = f["cell"].to_numpy()
    for c in range(part.n_cells):
        total = nu[cell == c].sum(axis=0)
        scale = np.abs(nu[cell == c]).sum(axis=0)
        assert np.all(np.abs(total) <= 1e-9 * scale)


def test_two_dimensional_anisotropic_arrangement_by_hand():
    """Box [0, 4000] x [0, 1e-3], the diagonal x = 4e6 y and the line y = 1e-6 (a strip
    of width 1e-6, below the old tolerance 4e-6: it was dropped). In the frame the
    diagonal is at 45 degrees; in the user's units it makes theta = atan(2.5e-7) with
    the x axis, and the angles are those of the user's triangle."""
    arr = cellgeom.HyperplaneArrangement([[1.0, -4e6], [0.0, 1.0]], [0.0, -1e-6])
    box = cellgeom.Box([0.0, 0.0], [4000.0, 1e-3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        part = cellgeom.partition(arr, box, cells="all", progress=False)
    theta = np.arctan(2.5e-7)
    assert part.n_cells == 4 and part.info["n_dropped"] == 0
    assert part.volumes.sum() == pytest.approx(4.0, rel=1e-12)
    # the triangle (0, 0), (4, 1e-6), (0, 1e-6): left of the diagonal, below y = 1e-6
    c = part.keys.index("00")
    assert part.volumes[c] == pytest.approx(2e-6, rel=1e-12)
    h = part.hinges[part.hinges["cell"] == c]
    at = h[vector_columns("centroid", 2)].to_numpy()
    angles = {(round(x, 6), round(y * 1e6, 6)): a for (x, y), a in zip(at, h["angle"])}
    assert angles == pytest.approx({(0.0, 0.0): np.pi / 2 - theta, (0.0, 1.0): np.pi / 2,
                                    (4.0, 1.0): theta}, rel=1e-12)
    assert np.all(h["volume"] == 1.0)  # points are counted
    # the facet on the diagonal: length sqrt(16 + 1e-12), outward normal (1, -4e6) / norm
    f = part.facets[(part.facets["cell"] == c) & (part.facets["label"] == 0)].iloc[0]
    assert f["volume"] == pytest.approx(np.hypot(4.0, 1e-6), rel=1e-12)
    np.testing.assert_allclose([f["normal_0"], f["normal_1"]],
                               np.array([1.0, -4e6]) / np.hypot(1.0, 4e6), rtol=1e-12)
    assert f["offset"] == pytest.approx(0.0, abs=1e-18)
    # the inradius of the right triangle with legs 4 and 1e-6: (a + b - c) / 2
    r = (4.0 + 1e-6 - np.hypot(4.0, 1e-6)) / 2
    assert part.cells["inradius"].iloc[c] == pytest.approx(r, rel=1e-9)
    np.testing.assert_allclose(part.centers[c], [r, 1e-6 - r], rtol=1e-6)
    # the other triangle: angles theta, pi/2 and pi/2 - theta again; the four cells' angles
    # at the crossing (4, 1e-6) make a full turn
    at_cross = part.hinges[np.isclose(part.hinges["centroid_0"], 4.0, atol=1e-9)
                           & np.isclose(part.hinges["centroid_1"], 1e-6, atol=1e-15)]
    assert len(at_cross) == 4
    assert at_cross["angle"].sum() == pytest.approx(2 * np.pi, rel=1e-12)


def test_isotropic_frame_is_the_similarity():
    """Equal sides: S = h I, every quantity as a similarity maps it (no renormalised
    normal, no recomputed angle or Chebyshev LP): the numbers of the former frame."""
    frame = UnitFrame(cellgeom.Box([1.0, -3.0], [5.0, 1.0]))
    assert frame.isotropic and frame.half == 2.0
    np.testing.assert_array_equal(frame.halves, [2.0, 2.0])
    np.testing.assert_array_equal(frame.to_domain(np.array([[1.0, -1.0]])), [[5.0, -3.0]])
    aniso = UnitFrame(cellgeom.Box([0.0, 0.0], [4.0, 1.0]))
    assert not aniso.isotropic and aniso.half == 2.0
    np.testing.assert_array_equal(aniso.unit_domain.lo, [-1.0, -1.0])
    np.testing.assert_array_equal(aniso.to_unit(np.array([[4.0, 1.0]])), [[1.0, 1.0]])
    assert aniso.tol_axes(2e-9) == pytest.approx([2e-9, 5e-10], rel=1e-15)


def test_high_dimensional_inradius_is_the_user_unit_chebyshev_radius():
    """Above 16 dimensions the Chebyshev LP of each cell in the user's units runs on the
    compiled walk: against HiGHS on the cell's halfspaces in the user's coordinates
    (sides 0.1 to 10, where HiGHS is accurate), and the ball lies in the cell."""
    rng = np.random.default_rng(1)
    n = 20
    w = np.exp(rng.uniform(np.log(0.1), np.log(10), n))
    X = rng.standard_normal((60, n)) * w
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(n, 40), torch.nn.ReLU(),
                              torch.nn.Linear(40, 2)).double().eval()
    with torch.no_grad():
        net[0].weight /= torch.tensor(w)
    part = cellgeom.partition(net, data=X, cells="data", progress=False, volume="none")
    assert part.n_cells > 10
    o = part.domain.center
    for c in range(part.n_cells):
        A, b = part.halfspaces(c)
        b = b - A @ o  # about the centre: no digits lost to the offsets
        res = linprog(np.r_[np.zeros(n), -1.0], A_ub=np.column_stack([A, np.ones(len(b))]),
                      b_ub=b, bounds=(None, None), method="highs")
        r = part.cells["inradius"].iloc[c]
        assert r == pytest.approx(-res.fun, rel=1e-9)
        assert (b - A @ (part.centers[c] - o)).min() >= r * (1 - 1e-12)
