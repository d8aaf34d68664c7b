"""Voronoi models, linear classifiers, pipelines, decision regions and input errors."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import Delaunay
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, Perceptron, RidgeClassifier, SGDClassifier
from sklearn.neighbors import KNeighborsClassifier, NearestCentroid
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, PolynomialFeatures, StandardScaler
from sklearn.svm import SVC, LinearSVC
from sklearn.tree import DecisionTreeClassifier

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
    cx = part.complex()
    tri = Delaunay(S).simplices
    for p in range(1, n + 1):
        expect = set()
        for s in tri:
            import itertools

            expect.update(tuple(sorted(c)) for c in itertools.combinations(s.tolist(), p + 1))
        got = {tuple(sorted(site[list(s)].tolist())) for s in cx.simplices(p)}
        assert got == expect


@pytest.mark.parametrize("make", [
    lambda: LogisticRegression(max_iter=500), lambda: LinearSVC(), lambda: Perceptron(),
    lambda: SGDClassifier(random_state=0), lambda: RidgeClassifier(),
])
@pytest.mark.parametrize("binary", [False, True])
def test_linear_classifiers_locate_equals_argmax(make, binary):
    X, y = _data()
    y = (y > 0).astype(int) if binary else y
    m = make().fit(X, y)
    part = cellgeom.partition(m, data=X, cells="all", progress=False)
    Xt = _data(N=1000, seed=7)[0]
    s = m.decision_function(Xt)
    own = (s > 0).astype(int) if s.ndim == 1 else s.argmax(1)
    cell = part.locate(Xt)
    assert np.array_equal(own, np.array(part.keys, dtype=int)[cell])
    assert np.array_equal(part.cells["prediction"].to_numpy()[cell], m.predict(Xt))
    # and at each cell's Chebyshev centre
    assert np.array_equal(part.cells["prediction"].to_numpy(), m.predict(part.centers))


def test_pipelines_pull_back_to_raw_input():
    """Oracle: pipeline.predict on held-out raw points."""
    X, y = _data()
    Xt = _data(N=1000, seed=8)[0]
    for m in [make_pipeline(StandardScaler(), KMeans(5, n_init=2, random_state=0)).fit(X),
              make_pipeline(MinMaxScaler(), PCA(2, whiten=True), LogisticRegression()).fit(X, y),
              make_pipeline(StandardScaler(), DecisionTreeClassifier(max_depth=5)).fit(X, y)]:
        part = cellgeom.partition(m, data=X, cells="all", progress=False)
        cell = part.locate(Xt)
        assert np.all(cell >= 0)
        assert np.array_equal(part.cells["prediction"].to_numpy()[cell], m.predict(Xt))
        assert np.array_equal(part.cells["prediction"].to_numpy(), m.predict(part.centers))
        assert abs(part.volumes.sum() / part.domain.volume - 1) < 1e-9


def test_decision_regions_volumes_and_boundaries():
    """Oracle: region volumes add to the box; boundary areas = Monte Carlo-free face sums
    recomputed from the facets table of each cell."""
    X, y = _data()
    m = DecisionTreeClassifier(max_depth=5, random_state=0).fit(X, y)
    dr = cellgeom.decision_regions(m, data=X, progress=False)
    assert dr.regions["volume"].sum() == pytest.approx(dr.partition.domain.volume, rel=1e-12)
    assert dr.regions["n_points"].sum() == len(X)
    f = dr.partition.facets
    f = f[f["neighbor"] >= 0]
    pred = dr.partition.cells["prediction"].to_numpy()
    diff = pred[f["cell"].to_numpy()] != pred[f["neighbor"].to_numpy()]
    assert dr.boundaries["area"].sum() == pytest.approx(f["volume"].to_numpy()[diff].sum() / 2)
    Xt = _data(N=500, seed=9)[0]
    assert np.array_equal(dr.regions["prediction"].to_numpy()[dr.locate(Xt)], m.predict(Xt))


def test_errors_unfitted_wrong_features_unsupported_nonaffine():
    X, y = _data()
    with pytest.raises(ValueError, match="not fitted"):
        cellgeom.partition(KMeans(3), data=X, progress=False)
    m = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but LogisticRegression is expecting 2"
                       .replace("X", "data")):
        cellgeom.partition(m, data=np.zeros((5, 3)), progress=False)
    with pytest.raises(TypeError, match="Supported models: .*DecisionTreeClassifier.*KMeans"):
        cellgeom.partition(SVC().fit(X, y), data=X, progress=False)
    pipe = make_pipeline(PolynomialFeatures(2), LogisticRegression()).fit(X, y)
    with pytest.raises(ValueError, match="PolynomialFeatures is not affine"):
        cellgeom.partition(pipe, data=X, progress=False)
    pipe = make_pipeline(PCA(2), DecisionTreeClassifier()).fit(X, y)
    with pytest.raises(ValueError, match="PCA step rotates"):
        cellgeom.partition(pipe, data=X, progress=False)
    with pytest.raises(ValueError, match="n_neighbors=3"):
        cellgeom.partition(KNeighborsClassifier(3).fit(X, y), data=X, progress=False)
