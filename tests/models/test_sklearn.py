"""Voronoi models, linear classifiers, pipelines, decision regions and input errors."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures
from sklearn.svm import SVC
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
