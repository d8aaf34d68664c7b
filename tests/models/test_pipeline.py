"""Voronoi models, linear classifiers, pipelines, decision regions and input errors."""
from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.tree import DecisionTreeClassifier

import cellgeom

from ..helpers import sklearn_data as _data


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


def test_pipeline_partitions_with_polytope_cells_pickle_and_locate_as_before():
    """Oracle: the unpickled partition locates points as the original and as the pipeline's
    predict (#20: the pipeline's input transform was a closure)."""
    import pickle

    X, y = _data(2, 300, 8)
    for model in (make_pipeline(StandardScaler(), PCA(2), KMeans(5, n_init=1, random_state=0)),
                  make_pipeline(MinMaxScaler(), LogisticRegression())):
        model.fit(X, y)
        p = cellgeom.partition(model, data=X, cells="all", progress=False)
        q = pickle.loads(pickle.dumps(p))
        Xt = np.random.default_rng(9).random((300, 2)) * X.max(axis=0)
        cell = q.locate(Xt)
        np.testing.assert_array_equal(cell, p.locate(Xt))
        np.testing.assert_array_equal(q.cells["prediction"].to_numpy()[cell], model.predict(Xt))
