"""Voronoi models, linear classifiers, pipelines, decision regions and input errors."""
from __future__ import annotations

import numpy as np
import pytest
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
