"""Voronoi models, linear classifiers, pipelines, decision regions and input errors."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Perceptron, RidgeClassifier, SGDClassifier
from sklearn.svm import LinearSVC

import cellgeom

from ..helpers import sklearn_data as _data


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


@pytest.mark.parametrize("n_classes", [2, 3])
def test_linear_partition_pickles_and_locates_as_before(n_classes):
    """Oracle: the unpickled partition locates points as the original does, and as the
    classifier's predict (#20: the locator was a closure)."""
    import pickle

    X, y = _data(2, 300, 6)
    y = y if n_classes == 3 else (y > 0).astype(int)
    clf = LogisticRegression().fit(X, y)
    p = cellgeom.partition(clf, data=X, cells="all", progress=False)
    q = pickle.loads(pickle.dumps(p))
    Xt = np.random.default_rng(7).random((400, 2)) * [1, 2]
    cell = q.locate(Xt)
    np.testing.assert_array_equal(cell, p.locate(Xt))
    assert np.all(cell >= 0)
    np.testing.assert_array_equal(q.cells["prediction"].to_numpy()[cell], clf.predict(Xt))


def test_a_class_with_the_scores_of_an_earlier_class_has_no_cell():
    """Oracle: predict (argmax takes the first of tied classes) and the box volume (the
    copy came back as a second cell: volumes summed to 1.3x the domain)."""
    from sklearn.datasets import make_blobs
    from sklearn.linear_model import LogisticRegression

    X, y = make_blobs(200, centers=4, random_state=0)
    model = LogisticRegression(max_iter=500).fit(X, y)
    model.coef_[3], model.intercept_[3] = model.coef_[2], model.intercept_[2]
    part = cellgeom.partition(model, data=X, cells="all", progress=False)
    assert sorted(part.cells["prediction"]) == [0, 1, 2]
    assert part.volumes.sum() == pytest.approx(part.domain.volume, rel=1e-9)
    U = part.domain.lo + np.random.default_rng(0).random((5000, 2)) * part.domain.widths
    np.testing.assert_array_equal(part.cells["prediction"].to_numpy()[part.locate(U)],
                                  model.predict(U))
