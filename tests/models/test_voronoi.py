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
