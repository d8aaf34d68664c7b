"""Voronoi models, linear classifiers, pipelines, decision regions and input errors."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import Delaunay
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.neighbors import KNeighborsClassifier, NearestCentroid

import cellgeom

from ..helpers import check_locate_and_centre_predictions as _check_locate_and_centre_predictions
from ..helpers import sklearn_data as _data


@pytest.mark.parametrize("make", [
    lambda: KMeans(7, n_init=2, random_state=0),
    lambda: MiniBatchKMeans(6, n_init=2, random_state=0),
])
def test_kmeans_locate_equals_predict(make):
    X, _ = _data()
    m = make().fit(X)
    part = cellgeom.partition(m, data=X, cells="all", progress=False)
    Xt = _data(N=1000, seed=5)[0]
    _check_locate_and_centre_predictions(part, m, Xt, m.predict(Xt))


def test_nearest_centroid_and_1nn_locate_equal_nearest_site():
    X, y = _data(N=60)
    Xt = _data(N=800, seed=6)[0]
    nc = NearestCentroid().fit(X, y)
    part = cellgeom.partition(nc, data=X, cells="all", progress=False)
    d = ((Xt[:, None, :] - nc.centroids_[None]) ** 2).sum(-1)
    _check_locate_and_centre_predictions(part, nc, Xt, d.argmin(1))
    knn = KNeighborsClassifier(n_neighbors=1).fit(X, y)
    part = cellgeom.partition(knn, data=X, cells="all", progress=False)
    nearest = knn.kneighbors(Xt, return_distance=False)[:, 0]
    _check_locate_and_centre_predictions(part, knn, Xt, nearest)


@pytest.mark.parametrize("n", [2, 3])
def test_kmeans_facet_nerve_equals_scipy_delaunay(n):
    """Oracle: SciPy's Delaunay complex of the centres (box holds all Voronoi vertices)."""
    X, _ = _data(n, N=400, seed=n)
    m = KMeans(9 if n == 2 else 8, n_init=2, random_state=0).fit(X)
    S = m.cluster_centers_
    from scipy.spatial import Voronoi

    pts = np.vstack([S, Voronoi(S).vertices])
    span = pts.max(0) - pts.min(0)
    box = cellgeom.Box(pts.min(0) - 0.1 * span, pts.max(0) + 0.1 * span)
    part = cellgeom.partition(m, domain=box, cells="all", progress=False)
    site = np.array(part.keys, dtype=int)
    cx = cellgeom.build_complex(part)
    tri = Delaunay(S).simplices
    for p in range(1, n + 1):
        expect = set()
        for s in tri:
            import itertools

            expect.update(tuple(sorted(c)) for c in itertools.combinations(s.tolist(), p + 1))
        got = {tuple(sorted(site[list(s)].tolist())) for s in cx.simplices(p)}
        assert got == expect


@pytest.mark.parametrize("cells", ["data", "all"])
def test_voronoi_partition_pickles_and_locates_as_before(cells):
    """Oracle: the unpickled partition locates points as the original does, and as the
    model's own predict (nearest centre) does (#20: the locator was a closure)."""
    import pickle

    X, _ = _data(2, 300, 4)
    km = KMeans(6, n_init=1, random_state=0).fit(X)
    p = cellgeom.partition(km, data=X, cells=cells, progress=False)
    q = pickle.loads(pickle.dumps(p))
    Xt = np.random.default_rng(5).random((400, 2)) * [1, 2]
    np.testing.assert_array_equal(q.locate(Xt), p.locate(Xt))
    inside = p.locate(Xt) >= 0
    assert inside.mean() > 0.9
    np.testing.assert_array_equal(np.array(q.keys, dtype=int)[q.locate(Xt[inside])],
                                  km.predict(Xt[inside]))


# -- degenerate centres (issue #18) -----------------------------------------------------------
def _kmeans_with_centres(C):
    """A fitted KMeans whose centres are replaced by C (the model's own predict uses them)."""
    rng = np.random.default_rng(0)
    m = KMeans(len(C), n_init=1, random_state=0).fit(rng.normal(size=(5 * len(C), C.shape[1])))
    m.cluster_centers_ = np.asarray(C, dtype=float)
    return m


def test_duplicate_centre_keys_equal_predict_labels():
    """Oracle: KMeans.predict (an exact duplicate of centre 0 takes none of its points;
    the cell keys are the model's centre indices, not renumbered)."""
    rng = np.random.default_rng(1)
    C = rng.uniform(-1, 1, size=(4, 2))
    C = np.vstack([C[:2], C[:1], C[2:]])  # centre 2 repeats centre 0
    m = _kmeans_with_centres(C)
    X = rng.uniform(-1, 1, size=(2000, 2))
    part = cellgeom.partition(m, domain=cellgeom.Box([-1, -1], [1, 1]), cells="all",
                              progress=False)
    assert sorted(part.keys) == ["0", "1", "3", "4"]
    cell = part.locate(X)
    assert np.all(cell >= 0)
    np.testing.assert_array_equal(np.array(part.keys, dtype=int)[cell], m.predict(X))
    assert abs(part.volumes.sum() / part.domain.volume - 1) < 1e-9


@pytest.mark.parametrize("eps", [1e-6, 1e-4])
def test_nearly_equal_centres_cells_tile_the_box_with_predict_labels(eps):
    """Oracle: the invariants (volumes sum to the box, no overlap, faces equal from both
    sides, Minkowski closure) and KMeans.predict as every point's key."""
    from .polytope_oracles import violations

    rng = np.random.default_rng(2)
    C = rng.uniform(-1, 1, size=(5, 2))
    C[1] = C[0] + eps * np.array([0.6, 0.8])
    m = _kmeans_with_centres(C)
    box = cellgeom.Box([-1, -1], [1, 1])
    part = cellgeom.partition(m, domain=box, cells="all", progress=False)
    X = rng.uniform(-1, 1, size=(2000, 2))
    assert part.n_cells == 5
    assert violations(part, X, lambda Z: m.predict(Z).astype(str)) == []


@pytest.mark.parametrize("eps", [1e-14, 1e-12, 1e-10])
def test_centres_closer_than_predict_resolves_are_refused_naming_them(eps):
    """Oracle: the error names both centres and their distance (KMeans.predict cannot
    separate them: its labels near their bisector are rounding noise)."""
    rng = np.random.default_rng(2)
    C = rng.uniform(-1, 1, size=(5, 2))
    C[3] = C[1] + eps * np.array([0.6, 0.8])
    m = _kmeans_with_centres(C)
    with pytest.raises(ValueError, match=r"centres 1 and 3 .*apart"):
        cellgeom.partition(m, domain=cellgeom.Box([-1, -1], [1, 1]), cells="all",
                           progress=False)


def test_one_feature_kmeans_cells_are_the_intervals_between_midpoints():
    """Oracle: in 1-D the cells are the intervals between consecutive midpoints of the
    sorted centres, and KMeans.predict (it failed: Delaunay needs 2-D data)."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 1))
    m = KMeans(4, n_init=2, random_state=0).fit(X)
    part = cellgeom.partition(m, data=X, cells="all", progress=False)
    c = np.sort(m.cluster_centers_[:, 0])
    cuts = np.concatenate([[part.domain.lo[0]], (c[1:] + c[:-1]) / 2, [part.domain.hi[0]]])
    order = np.argsort(m.cluster_centers_[:, 0])
    vol = dict(zip(part.keys, part.volumes))
    for rank, k in enumerate(order):
        assert vol[str(k)] == pytest.approx(cuts[rank + 1] - cuts[rank], rel=1e-12)
    np.testing.assert_array_equal(np.array(part.keys, dtype=int)[part.locate(X)],
                                  m.predict(X))


@pytest.mark.parametrize("pipeline", [False, True])
def test_float32_kmeans_keys_equal_predict_of_float32_points(pipeline):
    """Oracle: KMeans.predict of the float32 points (as the model takes them) is every
    point's key, the invariants hold and the centres' predictions are their own keys
    (it failed: predict refused the float64 centres, 'Buffer dtype mismatch')."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from .polytope_oracles import violations

    X = _data(N=300)[0].astype(np.float32)
    km = KMeans(5, n_init=2, random_state=0)
    m = (make_pipeline(StandardScaler(), km) if pipeline else km).fit(X)
    assert km.cluster_centers_.dtype == np.float32
    part = cellgeom.partition(m, data=X, cells="all", progress=False)
    assert part.n_cells == 5
    keys = np.array(part.keys, dtype=int)
    np.testing.assert_array_equal(keys[part.locate(X)], m.predict(X))
    np.testing.assert_array_equal(part.cells["prediction"].to_numpy(), keys)
    Xt = part.domain.lo + np.random.default_rng(1).random((1000, 2)) * part.domain.widths
    assert violations(part, Xt, lambda Z: m.predict(Z.astype(np.float32)).astype(str),
                      rel=1e-6) == []


def test_points_on_a_bisector_get_the_models_own_site():
    """Oracle: predict at integer points, many on bisectors of integer training points
    (1-NN and NearestCentroid were located by a k-d tree, whose tie-break differs: 11 of
    121 points in a cell predicting another label)."""
    from sklearn.neighbors import KNeighborsClassifier, NearestCentroid

    rng = np.random.default_rng(0)
    G = np.array([[i, j] for i in range(11) for j in range(11)], float)
    idx = rng.choice(len(G), 30, replace=False)
    labels = rng.integers(0, 3, 30)
    for model in (KNeighborsClassifier(1).fit(G[idx], labels),
                  NearestCentroid().fit(G[idx], labels)):
        part = cellgeom.partition(model, data=G, cells="data", progress=False)
        np.testing.assert_array_equal(part.cells["prediction"].to_numpy()[part.locate(G)],
                                      model.predict(G))
        assert part.cells["n_points"].sum() == len(G)


def test_nearest_centroid_with_priors_is_refused_by_name():
    from sklearn.datasets import make_blobs
    from sklearn.neighbors import NearestCentroid

    X, y = make_blobs([200, 20], centers=[[0, 0], [3, 0]], cluster_std=[2.0, 0.5],
                      random_state=0)
    with pytest.raises(ValueError, match="non-uniform priors"):
        cellgeom.partition(NearestCentroid(priors="empirical").fit(X, y), data=X,
                           progress=False)
    uniform = NearestCentroid(priors="uniform").fit(X, y)
    assert cellgeom.partition(uniform, data=X, progress=False).n_cells == 2


def test_structured_sites_are_not_assumed_in_general_position():
    """Oracle: theory (a tiling of a box is contractible). Eight cospherical centres in 7-D
    gave b_3 = 1 and chi = 0 from the facet nerve without a warning."""
    from sklearn.cluster import KMeans

    C = np.vstack([np.eye(7)[:4], -np.eye(7)[:4]])
    km = KMeans(8, n_init=1, max_iter=1).fit(C)
    km.cluster_centers_ = C.copy()
    part = cellgeom.partition(km, domain=([-1] * 7, [1] * 7), cells="all", progress=False)
    assert part.info["general_position"] is False
    with pytest.warns(UserWarning):
        cellgeom.build_complex(part, progress=False)
    rng = np.random.default_rng(0)
    km.cluster_centers_ = rng.normal(size=(8, 7))
    part = cellgeom.partition(km, domain=([-3] * 7, [3] * 7), cells="all", progress=False)
    assert part.info["general_position"] is True


def test_all_data_outside_the_domain_is_named():
    from sklearn.cluster import KMeans

    X = np.random.default_rng(0).normal(size=(60, 2))
    km = KMeans(3, n_init=1, random_state=0).fit(X)
    with pytest.raises(ValueError, match="No data point lies inside the domain"):
        cellgeom.partition(km, domain=([5, 5], [6, 6]), data=X, progress=False)
    part = cellgeom.partition(km, domain=([5, 5], [6, 6]), data=X, cells="all",
                              progress=False)
    assert part.cells["n_points"].sum() == 0


@pytest.mark.parametrize("offset", [1e8, 1e12])
def test_one_nearest_neighbour_far_from_the_origin(offset):
    """Oracle: predict at random points and the box volume. Qhull's Delaunay neighbours of
    uncentred sites 1e8 from 0 missed true neighbours: volumes summed to 34x the box and
    a third of the box predicted the wrong label. A brute-force search (expanded distances)
    cannot tell the sites apart there, and is refused by name."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 2)) + offset, rng.integers(0, 2, 40)
    model = KNeighborsClassifier(1, algorithm="kd_tree").fit(X, y)
    part = cellgeom.partition(model, data=X, cells="all", progress=False)
    assert part.volumes.sum() == pytest.approx(part.domain.volume, rel=1e-6)
    U = part.domain.lo + rng.random((3000, 2)) * part.domain.widths
    np.testing.assert_array_equal(part.cells["prediction"].to_numpy()[part.locate(U)],
                                  model.predict(U))
    for k in (1, 3):
        brute = KNeighborsClassifier(k, algorithm="brute").fit(X, y)
        with pytest.raises(ValueError, match="algorithm='kd_tree'"):
            cellgeom.partition(brute, data=X, cells="all", progress=False)
