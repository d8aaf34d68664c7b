"""One vocabulary (#20): each deprecated keyword still works, warns with a FutureWarning that
names its replacement, and gives the same result as the new keyword (oracle: the call with the
new name). The new names are the only ones in the signatures.
"""
import inspect
import warnings

import numpy as np
import pytest

import cellgeom
from cellgeom.analysis import curvature, density, laplacians, spectral, statistics
from cellgeom.analysis.spline import SimplicialSpline


@pytest.fixture(scope="module")
def setting():
    arr = cellgeom.HyperplaneArrangement([[1, 0], [0, 1]], [-0.3, -0.6])
    rng = np.random.default_rng(0)
    X = rng.random((60, 2))
    part = cellgeom.partition(arr, domain=([0, 0], [1, 1]), data=X, cells="all",
                              progress=False)
    cx = cellgeom.build_complex(part)
    w = rng.random(60) + 0.5
    return cx, X, w


def _same(a, b):
    if isinstance(a, tuple):
        return all(_same(x, y) for x, y in zip(a, b))
    if hasattr(a, "toarray"):
        a, b = a.toarray(), b.toarray()
    if hasattr(a, "lengths"):  # DensityMetric
        return _same(a.lengths, b.lengths) and _same(a.distances, b.distances)
    if hasattr(a, "to_numpy"):
        a, b = a.to_numpy(), b.to_numpy()
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    return True


#: (function, old keyword, new keyword, value, extra arguments); cx and X are filled in
ALIASES = [
    (laplacians.hodge_stiffness, "weighted", "gram", False, ("cx", 0)),
    (laplacians.hodge_laplacian, "weighted", "gram", False, ("cx", 1)),
    (spectral.hodge_spectrum, "weighted", "gram", False, ("cx", 0)),
    (spectral.harmonic_representatives, "weighted", "gram", False, ("cx", 1)),
    (spectral.betti_numbers_from_kernels, "weighted", "gram", False, ("cx",)),
    (laplacians.vertex_measure, "data_weights", "measure", "counts", ("cx",)),
    (laplacians.cell_stiffness, "weights", "edge_weight", "face", ("cx",)),
    (laplacians.cell_laplacian, "weights", "edge_weight", "face", ("cx",)),
    (laplacians.extended_stiffness, "dim_weights", "simplex_weight", {2: 2.0}, ("cx",)),
    (laplacians.extended_stiffness, "weights", "edge_weight", "face", ("cx",)),
    (laplacians.extended_laplacian, "dim_weights", "simplex_weight", [1.5], ("cx",)),
    (laplacians.extended_laplacian, "data_weights", "measure", "counts", ("cx",)),
    (laplacians.extended_laplacian, "weights", "edge_weight", "face", ("cx",)),
    (statistics.cell_counts, "weights", "sample_weight", "w", ("cx", "X")),
    (statistics.cell_density, "weights", "sample_weight", "w", ("cx", "X")),
    (statistics.cell_statistics, "weights", "sample_weight", "w", ("cx", "X")),
    (statistics.edge_statistics, "weights", "sample_weight", "w", ("cx", "X")),
    (density.density_metric, "weights", "sample_weight", "w", ("cx", "X")),
    (statistics.edge_density, "mean", "edge_mean", "harmonic",
     (np.array([1.0, 4.0, 0.0]), np.array([[0, 1], [1, 2]]))),
    (curvature.edge_curvature, "alpha", "laziness", 0.25, ("cx", "ollivier", "X")),
    (curvature.edge_curvature, "weights", "sample_weight", "w", ("cx", "forman", "X")),
    (curvature.vertex_curvature, "alpha", "laziness", 0.25, ("cx", "statistical", "X")),
    (curvature.vertex_curvature, "weights", "sample_weight", "w", ("cx", "forman", "X")),
]


@pytest.mark.parametrize("func, old, new, value, args", ALIASES,
                         ids=[f"{a[0].__name__}-{a[1]}" for a in ALIASES])
def test_old_keyword_warns_names_the_new_one_and_gives_the_same_result(setting, func, old,
                                                                      new, value, args):
    cx, X, w = setting
    env = {"cx": cx, "X": X}
    call_args = [env.get(a, a) if isinstance(a, str) else a for a in args]
    value = w if isinstance(value, str) and value == "w" else value
    extra = {"progress": False} if "progress" in inspect.signature(func).parameters else {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new name warns about nothing
        expected = func(*call_args, **{new: value}, **extra)
    with pytest.warns(FutureWarning, match=rf"{old}= is deprecated .* use {new}=") as rec:
        got = func(*call_args, **{old: value}, **extra)
    assert rec[0].filename == __file__, "the warning points at the caller's line"
    assert _same(got, expected)
    with pytest.raises(TypeError, match=f"both {old}="):
        func(*call_args, **{old: value, new: value}, **extra)


@pytest.mark.parametrize("func, old, new", sorted({(a[0], a[1], a[2]) for a in ALIASES},
                                                   key=lambda t: (t[0].__name__, t[1])))
def test_signatures_show_only_the_new_names(func, old, new):
    params = inspect.signature(func).parameters
    assert new in params and old not in params


def test_alpha_means_only_the_density_exponent():
    """Curvature calls the walk's parameter laziness; alpha is density_metric's exponent."""
    for func in (curvature.edge_curvature, curvature.vertex_curvature):
        params = inspect.signature(func).parameters
        assert "laziness" in params and "alpha" not in params
        assert "metric_alpha" in params
    assert "alpha" in inspect.signature(density.density_metric).parameters


@pytest.mark.parametrize("old, new, value", [("dim_weights", "simplex_weight", {2: 1.0}),
                                             ("weights", "edge_weight", "face")])
def test_spline_old_parameter_warns_at_fit_and_gives_the_same_model(old, new, value):
    rng = np.random.default_rng(1)
    X = rng.random((80, 2))
    y = np.sin(4 * X[:, 0]) + X[:, 1]
    arr = cellgeom.HyperplaneArrangement([[1, 0], [0, 1], [1, 1]], [-0.4, -0.5, -1.1])
    base = dict(base_model=arr, prefit=True, lam=0.1, domain=([0, 0], [1, 1]), task="regression")
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        expected = SimplicialSpline(**base, **{new: value}).fit(X, y)
    est = SimplicialSpline(**base, **{old: value})
    with pytest.warns(FutureWarning, match=rf"{old}= is deprecated .* use {new}="):
        est.fit(X, y)
    np.testing.assert_array_equal(est.cell_values_, expected.cell_values_)
    assert est.get_params()[old] == value  # scikit-learn's contract: params stored unchanged
