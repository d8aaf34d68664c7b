"""Voronoi models, linear classifiers, pipelines, decision regions and input errors."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.tree import DecisionTreeClassifier

import cellgeom

from ..helpers import sklearn_data as _data


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
