"""Voronoi models, linear classifiers, pipelines, decision regions and input errors."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import Delaunay
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.neighbors import KNeighborsClassifier, NearestCentroid

import cellgeom


def _data(n=2, N=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((N, n)) * np.arange(1, n + 1)
    y = (X[:, 0] + X[:, -1] > 1.5).astype(int) + (X[:, 0] > 0.6)
    return X, y


def _check_locate_and_centre_predictions(part, model, Xt, own_assign):
    """Oracle: the model's own assignment (nearest centre / arg-max) and model.predict."""
    cell = part.locate(Xt)
    assert np.all(cell >= 0)
    assert np.array_equal(own_assign, np.array(part.keys, dtype=int)[cell])
    assert np.array_equal(part.cells["prediction"].to_numpy()[cell], model.predict(Xt))
    assert np.array_equal(part.cells["prediction"].to_numpy(), model.predict(part.centers))
    assert abs(part.volumes.sum() / part.domain.volume - 1) < 1e-9


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
