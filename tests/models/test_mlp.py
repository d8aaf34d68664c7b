"""scikit-learn MLPs (ReLU) as partitions, through their PyTorch twin."""
import numpy as np
import pytest
from sklearn.datasets import load_wine, make_moons
from sklearn.exceptions import NotFittedError
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import cellgeom

torch = pytest.importorskip("torch")
from cellgeom.nn import mlp_as_torch  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def moons():
    return make_moons(200, noise=0.2, random_state=0)


def _outputs(net, X):
    with torch.no_grad():
        return net(torch.tensor(X, dtype=torch.float64)).numpy()


def test_the_torch_twin_computes_the_same_function(moons):
    X, y = moons
    binary = MLPClassifier(hidden_layer_sizes=(8, 8), max_iter=300, random_state=0).fit(X, y)
    z = _outputs(mlp_as_torch(binary), X)
    np.testing.assert_array_equal(z[:, 0], 0.0)
    np.testing.assert_allclose(1 / (1 + np.exp(-z[:, 1])), binary.predict_proba(X)[:, 1],
                               rtol=1e-12)
    Xw, yw = load_wine(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(6,),
                                                         max_iter=500, random_state=0))
    pipe.fit(Xw, yw)
    T, c = np.diag(1 / pipe[0].scale_), -pipe[0].mean_ / pipe[0].scale_
    logits = _outputs(mlp_as_torch(pipe[-1], (T, c)), Xw)  # folded into the first layer
    soft = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(soft / soft.sum(axis=1, keepdims=True), pipe.predict_proba(Xw),
                               rtol=1e-10, atol=1e-14)


def test_one_hidden_layer_regressor_has_the_arrangements_cells(moons):
    X, y = moons
    reg = MLPRegressor(hidden_layer_sizes=(7,), max_iter=300, random_state=0).fit(X, y)
    box = cellgeom.Box([-2, -2], [3, 2])
    part = cellgeom.partition(reg, box, cells="all", progress=False)
    arr = cellgeom.HyperplaneArrangement(reg.coefs_[0].T, reg.intercepts_[0])
    oracle = cellgeom.partition(arr, box, cells="all", progress=False)
    assert part.n_cells == oracle.n_cells
    np.testing.assert_allclose(np.sort(part.volumes), np.sort(oracle.volumes), rtol=1e-9)
    assert part.volumes.sum() == pytest.approx(box.volume, rel=1e-9)
    # each cell's prediction is the regressor's value at its centre
    np.testing.assert_allclose(part.cells["prediction"], reg.predict(part.centers),
                               rtol=1e-9, atol=1e-12)
    assert part.model is reg


@pytest.mark.parametrize("labels", ["ints", "strings"])
def test_classifier_cells_carry_the_predicted_class(moons, labels):
    X, y = moons
    y = y if labels == "ints" else np.array(["left", "right"])[y]
    clf = MLPClassifier(hidden_layer_sizes=(10, 10), max_iter=300, random_state=0).fit(X, y)
    part = cellgeom.partition(clf, data=X, cells="all", progress=False)
    cell = part.locate(X)
    assert np.all(cell >= 0)
    np.testing.assert_array_equal(part.cells["prediction"].to_numpy()[cell], clf.predict(X))
    assert part.volumes.sum() == pytest.approx(part.domain.volume, rel=1e-9)
    assert cellgeom.build_complex(part, progress=False).betti_numbers() == [1, 0, 0]


def test_pipeline_on_wine_in_13d_with_named_columns():
    X, y = load_wine(return_X_y=True, as_frame=True)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(6,),
                                                         max_iter=500, random_state=0))
    pipe.fit(X, y)
    shuffled = X[X.columns[::-1]]  # matched by name, as scikit-learn does
    # volume="none": Monte Carlo volumes of 13-D cells take seconds each
    part = cellgeom.partition(pipe, data=shuffled, volume="none", progress=False)
    cell = part.locate(X)
    assert np.all(cell >= 0)
    np.testing.assert_array_equal(part.cells["prediction"].to_numpy()[cell], pipe.predict(X))
    assert part.model is pipe and part.info["feature_names"] == list(X.columns)


def test_what_is_refused_is_named(moons):
    X, y = moons
    with pytest.raises(NotFittedError):
        cellgeom.partition(MLPClassifier(), data=X, progress=False)
    tanh = MLPClassifier(hidden_layer_sizes=(4,), activation="tanh", max_iter=20,
                         random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="activation='tanh'.*not piecewise affine"):
        cellgeom.partition(tanh, data=X, progress=False)
    two = MLPRegressor(hidden_layer_sizes=(4,), max_iter=20, random_state=0).fit(
        X, np.column_stack([y, y]))
    with pytest.raises(ValueError, match="2 outputs"):
        cellgeom.partition(two, data=X, progress=False)
    multilabel = MLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0).fit(
        X, np.column_stack([y, 1 - y]))
    with pytest.raises(ValueError, match="multilabel"):
        cellgeom.partition(multilabel, data=X, progress=False)
    relu = MLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="2"):
        cellgeom.partition(relu, data=np.zeros((3, 3)), progress=False)
    relu.coefs_[0][0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cellgeom.partition(relu, data=X, progress=False)
    assert {"MLPClassifier", "MLPRegressor"} <= set(cellgeom.supported_models())


def test_nn_functions_take_the_mlp_itself(moons):
    X, y = moons
    clf = MLPClassifier(hidden_layer_sizes=(8, 8), max_iter=300, random_state=0).fit(X, y)
    twin = mlp_as_torch(clf)
    regions = cellgeom.nn.slice_partition(clf, np.zeros(2), [1.0, 0], [0, 1.0], 2.0)
    oracle = cellgeom.nn.slice_partition(twin, np.zeros(2), [1.0, 0], [0, 1.0], 2.0)
    assert regions.n_regions == oracle.n_regions
    maps = cellgeom.nn.pullback(clf, X[:5])
    np.testing.assert_allclose(maps[-1].A, cellgeom.nn.pullback(twin, X[:5])[-1].A)
    with pytest.raises(TypeError, match="MLPClassifier / MLPRegressor, got str"):
        cellgeom.nn.pullback("net", X[:5])


def test_local_complexity_of_the_mlp_is_its_twins(moons):
    X, y = moons
    clf = MLPClassifier(hidden_layer_sizes=(8, 8), max_iter=300, random_state=0).fit(X, y)
    counts = cellgeom.nn.local_complexity(clf, X[:20], radius=0.3)
    np.testing.assert_array_equal(counts, cellgeom.nn.local_complexity(mlp_as_torch(clf),
                                                                       X[:20], radius=0.3))
    assert counts.sum() > 0
