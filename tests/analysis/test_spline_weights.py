"""SimplicialSpline.fit(X, y, sample_weight): frequency weights. Oracles: the same fit on the
data with each row repeated by its (integer) weight or with the zero-weight rows removed,
the unweighted fit (weights c * 1 at a fixed lambda), the GCV of the repeated data from its
dense point-level hat matrix, and sklearn's trees with min_samples_leaf=5."""
import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from cellgeom.analysis.laplacians import extended_stiffness
from cellgeom.analysis.spline import SimplicialSpline


def _data(n=150, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 2))
    y = np.sin(3 * X[:, 0]) * np.cos(2 * X[:, 1]) + 0.3 * rng.normal(size=n)
    w = rng.integers(0, 4, n)  # about a quarter zeros
    return X, y, w


def _same_fit(a, b, Xt, atol=1e-10):
    np.testing.assert_allclose(a.cell_values_, b.cell_values_, atol=atol, rtol=0)
    assert a.lambda_ == b.lambda_
    if a.gcv_path_ is not None:
        np.testing.assert_allclose(a.gcv_path_.to_numpy(), b.gcv_path_.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(a.predict_proba(Xt) if hasattr(a, "predict_proba") else
                               a.predict(Xt), b.predict_proba(Xt) if hasattr(b, "predict_proba")
                               else b.predict(Xt), atol=atol, rtol=0)


@pytest.mark.parametrize("kw", [dict(n_lambdas=9),
                                dict(task="classification", n_lambdas=9),
                                dict(order=2, dense_limit=0, n_lambdas=5)])
def test_integer_weights_equal_repeated_rows(kw):
    """Default base tree (fitted with the weights), GCV lambda, dense and sparse paths."""
    X, y, w = _data()
    if kw.get("task") == "classification":
        y = np.digitize(y, [-0.3, 0.3])
    a = SimplicialSpline(**kw).fit(X, y, sample_weight=w)
    b = SimplicialSpline(**kw).fit(X.repeat(w, axis=0), y.repeat(w))
    _same_fit(a, b, np.random.default_rng(1).uniform(-1.2, 1.2, (300, 2)))
    np.testing.assert_array_equal(a.counts_, b.counts_)


def test_zero_weight_is_a_dropped_sample():
    """Zero-weight rows far outside the data (they would widen the default domain) and with
    a class of their own (it must not appear in classes_)."""
    X, y, w = _data(seed=2)
    far = np.array([[5.0, 5.0], [-4.0, 3.0]])
    Xz, wz = np.vstack([X, far]), np.concatenate([w, [0, 0]])
    keep = wz > 0
    for task, yz in (("regression", np.concatenate([y, [1e6, -1e6]])),
                     ("classification", np.concatenate([np.digitize(y, [0.0]), [7, 7]]))):
        a = SimplicialSpline(task=task, n_lambdas=9).fit(Xz, yz, sample_weight=wz)
        b = SimplicialSpline(task=task, n_lambdas=9).fit(Xz[keep], yz[keep],
                                                         sample_weight=wz[keep])
        _same_fit(a, b, np.random.default_rng(3).uniform(-1.2, 1.2, (300, 2)), atol=0)
        np.testing.assert_array_equal(a.partition_.domain.lo, b.partition_.domain.lo)
        if task == "classification":
            assert list(a.classes_) == [0, 1]


def test_uniform_weights_equal_unweighted_at_fixed_lambda():
    """w = c 1 scales N, s = tr N / tr P and the penalty alike: the same spline for any c > 0
    on a given partition; ones are the unweighted fit, GCV and default tree included."""
    X, y, _ = _data(seed=4)
    tree = DecisionTreeRegressor(max_depth=4, random_state=0).fit(X, y)
    plain = SimplicialSpline(tree, prefit=True, lam=0.3).fit(X, y)
    Xt = np.random.default_rng(5).uniform(-1, 1, (200, 2))
    for c in (0.37, 3.0, 1e3):
        est = SimplicialSpline(tree, prefit=True, lam=0.3).fit(X, y, np.full(len(y), c))
        _same_fit(est, plain, Xt)
        assert est.lambda_raw_ == pytest.approx(c * plain.lambda_raw_, rel=1e-12)
    _same_fit(SimplicialSpline(n_lambdas=9).fit(X, y, sample_weight=np.ones(len(y))),
              SimplicialSpline(n_lambdas=9).fit(X, y), Xt, atol=0)


def test_uniform_integer_weights_are_repetitions_for_gcv():
    """Frequency weights: under GCV, w = 3 * 1 is three copies of the data (the number of
    samples is sum w), not the unweighted data; see SimplicialSpline.fit."""
    X, y, _ = _data(seed=6)
    tree = DecisionTreeRegressor(max_depth=4, random_state=0).fit(X, y)
    a = SimplicialSpline(tree, prefit=True, n_lambdas=9).fit(X, y, np.full(len(y), 3))
    b = SimplicialSpline(tree, prefit=True, n_lambdas=9).fit(np.tile(X, (3, 1)), np.tile(y, 3))
    _same_fit(a, b, X)


def test_weighted_gcv_equals_dense_hat_matrix_gcv_of_the_repeated_data():
    """Oracle: GCV = n (r.r) / (n - tr H)^2 with H = E A^{-1} E^T on the repeated rows, E
    their cell incidence, A = N + lam s K; its argmin is the weighted fit's lambda."""
    X, y, w = _data(seed=0)
    tree = DecisionTreeRegressor(max_depth=4, random_state=0).fit(X, y, sample_weight=w)
    est = SimplicialSpline(tree, prefit=True, n_lambdas=9).fit(X, y, sample_weight=w)
    Xr, yr = X.repeat(w, axis=0), y.repeat(w)
    K = extended_stiffness(est.complex_).toarray()
    E = np.zeros((len(Xr), K.shape[0]))
    E[np.arange(len(Xr)), est.partition_.locate(Xr)] = 1
    N = E.T @ E
    s = np.trace(N) / np.trace(K)
    want = []
    for lam in est.gcv_path_["lambda"]:
        H = E @ np.linalg.solve(N + lam * s * K, E.T)
        r = yr - H @ yr
        want.append(len(yr) * (r @ r) / (len(yr) - np.trace(H)) ** 2)
    np.testing.assert_allclose(est.gcv_path_["gcv"], want, rtol=1e-8)
    assert est.lambda_ == est.gcv_path_["lambda"].iloc[int(np.argmin(want))]
    rep = SimplicialSpline(tree, prefit=True, n_lambdas=9).fit(Xr, yr)
    assert rep.lambda_ == est.lambda_
    # the weights matter: the unweighted data choose another lambda
    assert SimplicialSpline(tree, prefit=True, n_lambdas=9).fit(X, y).lambda_ != est.lambda_


@pytest.mark.parametrize("n", [6, 9, 10, 57, 150, 300])
def test_default_tree_is_min_samples_leaf_5_on_unit_weights_and_repeats_integer_weights(n):
    """Oracle: DecisionTree*(min_samples_leaf=5) on the unweighted and the repeated data.
    (sklearn's trees break exact ties between splits that separate the same points by
    rounding, which weighted and repeated sums do differently: at n=300 a regression tree
    takes another, equivalent split at depth 9, so the repeated oracle stops at 150.)"""
    def same(a, b):
        ta, tb = a.tree_, b.tree_
        return ta.node_count == tb.node_count and np.array_equal(ta.feature, tb.feature) and \
            np.array_equal(ta.threshold, tb.threshold) and \
            np.allclose(ta.value, tb.value, rtol=0, atol=1e-12)

    X, y, w = _data(n, seed=7)
    w = w + (w.sum() == 0)
    for task, tree, t in (("regression", DecisionTreeRegressor, y),
                          ("classification", DecisionTreeClassifier, y > 0)):
        old = tree(min_samples_leaf=5, random_state=0)
        got = SimplicialSpline(task=task, lam=1.0).fit(X, t).base_model_
        assert same(got, old.fit(X, t))
        if n <= 150:
            got = SimplicialSpline(task=task, lam=1.0).fit(X, t, sample_weight=w).base_model_
            assert same(got, old.fit(X.repeat(w, axis=0), t.repeat(w)))


def test_bad_sample_weight_raises_clear_valueerror():
    X, y, w = _data(40, seed=8)
    est = SimplicialSpline(lam=1.0)
    for bad, msg in [(-w - 1.0, "Negative values"), (w[:-1], "sample_weight.shape"),
                     (np.where(w > 1, np.nan, w), "NaN"), (np.ones((40, 2)), "1D"),
                     (np.zeros(40), "non-zero"), (np.where(w > 1, np.inf, w), "infinity")]:
        with pytest.raises(ValueError, match=msg):
            est.fit(X, y, sample_weight=bad)
    # a base model whose fit takes no sample_weight: fit it yourself, then prefit=True
    pipe = make_pipeline(StandardScaler(), DecisionTreeRegressor(max_depth=3, random_state=0))
    with pytest.raises(ValueError, match="takes no sample_weight.*prefit=True"):
        SimplicialSpline(pipe, lam=1.0).fit(X, y, sample_weight=w + 1)
    pipe.fit(X, y, decisiontreeregressor__sample_weight=w + 1)
    got = SimplicialSpline(pipe, prefit=True, lam=1.0).fit(X, y, sample_weight=w + 1)
    assert got.base_model_ is pipe
    w0 = (w + 1.0).copy()
    SimplicialSpline(lam=1.0).fit(X, y, sample_weight=w0)
    np.testing.assert_array_equal(w0, w + 1.0)  # not modified in place
