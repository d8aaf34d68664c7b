"""Full enumeration of generic arrangements: region counts, volumes, closure, faces."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cellgeom

from ..helpers import generic_arrangement, region_count

CASES = [(2, 8), (3, 6), (4, 5)]


@pytest.fixture(scope="module", params=CASES, ids=lambda c: f"n{c[0]}k{c[1]}")
def full(request):
    n, k = request.param
    arr, box = generic_arrangement(k, n, seed=10 * n + k)
    part = cellgeom.partition(arr, domain=box, cells="all", progress=False)
    return n, k, arr, box, part


def test_region_count_is_sum_of_binomials(full):
    n, k, _, _, part = full
    assert part.n_cells == region_count(k, n)
    assert part.info["n_dropped"] == 0


def test_volumes_sum_to_the_box(full):
    _, _, _, box, part = full
    assert abs(part.volumes.sum() - box.volume) / box.volume < 1e-9


def test_every_cell_is_closed_minkowski(full):
    _, _, _, _, part = full
    assert np.max(part.minkowski_residuals()) < 1e-9


def test_face_volume_seen_from_both_sides_agrees(full):
    _, _, _, _, part = full
    f = part.facets[part.facets["neighbor"] >= 0]
    vol = {(a, b): v for a, b, v in f[["cell", "neighbor", "volume"]].itertuples(index=False)}
    for (a, b), v in vol.items():
        assert (b, a) in vol, "a facet without its mirror"
        assert vol[(b, a)] == pytest.approx(v, rel=1e-9, abs=1e-12)


def test_neighbours_differ_by_one_flipped_hyperplane(full):
    _, _, _, _, part = full
    faces = part.faces[part.faces["cell_b"] >= 0]
    for a, b, label in faces[["cell_a", "cell_b", "label"]].itertuples(index=False):
        ka, kb = part.keys[a], part.keys[b]
        diff = [i for i in range(len(ka)) if ka[i] != kb[i]]
        assert diff == [label]


def test_locate_agrees_with_sign_vectors(full):
    n, _, arr, box, part = full
    rng = np.random.default_rng(0)
    X = box.lo + rng.random((500, n)) * box.widths
    idx = part.locate(X)
    assert np.all(idx >= 0)
    np.testing.assert_array_equal(np.array(part.keys)[idx], arr.keys(X))
    outside = box.hi + 1.0
    assert part.locate(outside[None, :])[0] == -1


def test_face_volumes_sum_over_cells_matches_boundary_area(full):
    # every cell's facets cover its boundary: boundary faces sum to the box's surface area
    n, _, _, box, part = full
    faces = part.faces
    boundary_area = faces.loc[faces["cell_b"] == -1, "volume"].sum()
    w = box.widths
    surface = sum(2 * np.prod(np.delete(w, i)) for i in range(n))
    assert boundary_area == pytest.approx(surface, rel=1e-9)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), k=st.integers(1, 7))
def test_random_planar_arrangements_tile_the_box(seed, k):
    arr, box = generic_arrangement(k, 2, seed) if k >= 2 else generic_arrangement(2, 2, seed)
    part = cellgeom.partition(arr, domain=box, cells="all", progress=False)
    kk = arr.n_hyperplanes
    assert part.n_cells == region_count(kk, 2)
    assert part.volumes.sum() == pytest.approx(box.volume, rel=1e-9)
    assert np.max(part.minkowski_residuals()) < 1e-9


def test_interior_hinge_angles_sum_to_two_pi_in_2d():
    arr, box = generic_arrangement(7, 2, seed=3)
    part = cellgeom.partition(arr, domain=box, cells="all", progress=False)
    h = part.hinges
    sums = h.groupby("hinge").agg(angle=("angle", "sum"), boundary=("boundary", "any"),
                                  cells=("cell", "size"))
    interior = sums[~sums["boundary"]]
    assert len(interior) == 21  # C(7, 2) crossing points, all inside the box
    np.testing.assert_allclose(interior["angle"], 2 * np.pi, atol=1e-9)
    assert (interior["cells"] == 4).all()


def test_data_cells_only_hold_data_and_name_their_outside_neighbours():
    arr, box = generic_arrangement(6, 2, seed=5)
    rng = np.random.default_rng(1)
    X = box.center + 0.05 * rng.normal(size=(40, 2)) * box.widths
    part = cellgeom.partition(arr, domain=box, data=X, progress=False)
    full = cellgeom.partition(arr, domain=box, cells="all", progress=False)
    assert set(part.keys) == set(arr.keys(X))
    assert part.cells["n_points"].sum() == 40
    assert (part.cells["n_points"] > 0).all()
    outside = part.faces[part.faces["cell_b"] == -2]
    assert set(outside["key_b"]) <= set(full.keys)
    assert not set(outside["key_b"]) & set(part.keys)
    # every cell's volume equals the same cell's volume in the full enumeration
    for i, key in enumerate(part.keys):
        j = full.keys.index(key)
        assert part.volumes[i] == pytest.approx(full.volumes[j], rel=1e-12)
    grown = cellgeom.partition(arr, domain=box, data=X, include_neighbors=True, progress=False)
    assert set(grown.keys) == set(part.keys) | set(outside["key_b"])
    assert (grown.cells.loc[~grown.cells["is_data"], "n_points"] == 0).all()


def test_generic_halfspace_locate_agrees_with_the_models_own_keys(full):
    # the route a loaded partition (no model) uses: the cells' own inequalities
    n, _, arr, box, part = full
    rng = np.random.default_rng(4)
    X = box.lo + rng.random((300, n)) * box.widths
    idx = part._locate_by_halfspaces(X)
    np.testing.assert_array_equal(np.array(part.keys)[idx], arr.keys(X))


def test_arrangement_partition_pickles_and_locates_as_before():
    """Oracle: the unpickled partition locates points as the original."""
    import pickle

    rng = np.random.default_rng(3)
    model = cellgeom.HyperplaneArrangement(rng.normal(size=(5, 2)), rng.normal(size=5) * 0.3)
    X = rng.uniform(-1, 1, (200, 2))
    p = cellgeom.partition(model, cellgeom.Box([-1, -1], [1, 1]), X, cells="all",
                           progress=False)
    q = pickle.loads(pickle.dumps(p))
    np.testing.assert_array_equal(q.locate(X), p.locate(X))


def test_volume_and_exact_dim_options_as_for_every_polytope_model():
    """A 7-D arrangement is on the high route by default (exact_dim=6): volume="exact"
    takes the vertex route (volumes sum to the box exactly), "estimate" gives Monte Carlo
    volumes with standard errors, "data" the empirical mass, "none" no volumes."""
    rng = np.random.default_rng(0)
    W, b = rng.normal(size=(3, 7)), 0.2 * rng.normal(size=3)
    arr = cellgeom.HyperplaneArrangement(W, b)
    box = cellgeom.Box(-np.ones(7), np.ones(7))
    exact = cellgeom.partition(arr, box, cells="all", volume="exact", progress=False)
    assert exact.info["volume_method"] == "exact"
    assert exact.volumes.sum() == pytest.approx(box.volume, rel=1e-9)
    estimate = cellgeom.partition(arr, box, cells="all", volume="estimate", progress=False)
    assert sorted(estimate.keys) == sorted(exact.keys)
    se = estimate.cells["volume_se"].to_numpy()
    order = [exact.keys.index(k) for k in estimate.keys]
    assert np.all(np.abs(estimate.volumes - exact.volumes[order]) <= 4 * se + 1e-12)
    X = rng.uniform(-1, 1, (400, 7))
    data = cellgeom.partition(arr, box, X, cells="data", volume="data", progress=False)
    assert data.info["volume_method"] == "data"
    assert data.volumes.sum() == pytest.approx(box.volume)
    none = cellgeom.partition(arr, box, cells="all", volume="none", exact_dim=6, progress=False)
    assert np.isnan(none.volumes).all()
