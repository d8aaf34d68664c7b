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

from ..helpers import sklearn_data as _data


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
    with pytest.raises(ValueError, match="weights='distance'"):
        cellgeom.partition(KNeighborsClassifier(3, weights="distance").fit(X, y), data=X,
                           progress=False)
