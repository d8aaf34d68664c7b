"""Estimated volumes on the high-dimensional route (#23): they sum to the box whatever the
units (oracle: the box volume and Monte Carlo with ``model.predict``), estimated faces make
edges, and the default path stays fast above 16-D (volumes then skipped, with a warning)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import cellgeom


def _check_volumes(model, X, n_mc=100_000):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        part = cellgeom.partition(model, data=X, cells="all", progress=False)
    V = part.domain.volume
    vol = part.cells["volume"].to_numpy()
    se = part.cells["volume_se"].to_numpy()
    assert part.info["volume_method"] == "estimate" and np.all(np.isfinite(se))
    # the cells tile the box: their volumes sum to it within the combined error bar
    assert abs(vol.sum() - V) <= 3 * np.sqrt((se**2).sum())
    U = part.domain.lo + np.random.default_rng(0).random((n_mc, X.shape[1])) * part.domain.widths
    predicted = model.predict(U)
    share = np.array([(predicted == c).mean() for c in part.cells["prediction"]])
    assert np.all(np.abs(vol / V - share) <= 4 * se / V + 3 * np.sqrt(share / n_mc))
    # every interior face has an estimated, positive volume, so the nerve has its edges
    inner = part.faces[part.faces["cell_b"] >= 0]
    assert len(inner) > 0 and np.all(inner["volume"] > 0)
    assert len(cellgeom.build_complex(part).simplices(1)) == len(inner)
    return part


def test_two_classes_in_7d_with_axes_from_1e_3_to_1e3():
    """Quick version: two cells, one interior face, feature units over six decades."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 7)) * np.geomspace(1e-3, 1e3, 7)
    y = (X / np.geomspace(1e-3, 1e3, 7) @ rng.standard_normal(7) > 0).astype(int)
    _check_volumes(LogisticRegression(max_iter=5000).fit(X, y), X)


@pytest.mark.slow
def test_raw_units_eight_wine_features_one_axis_times_1000():
    X, y = load_wine(return_X_y=True)
    X = X[:, :8] * np.r_[1000.0, np.ones(7)]
    _check_volumes(LogisticRegression(max_iter=5000).fit(X, y), X)


@pytest.mark.slow
@pytest.mark.parametrize("scaled", [False, True])
def test_wine_13d_raw_and_pipeline(scaled):
    X, y = load_wine(return_X_y=True)
    model = (make_pipeline(StandardScaler(), LogisticRegression()) if scaled
             else LogisticRegression(max_iter=5000))
    _check_volumes(model.fit(X, y), X)


def test_default_skips_volumes_above_16d_with_a_warning():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(20, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    X = np.random.default_rng(0).uniform(-1, 1, (5, 20))
    with pytest.warns(UserWarning, match="volume='estimate'"):
        part = cellgeom.partition(net, cellgeom.Box(-np.ones(20), np.ones(20)), X,
                                  progress=False)
    assert part.info["volume_method"] == "none"
    assert part.cells["volume"].isna().all() and part.cells["n_facets"].gt(0).all()


def test_estimated_geometry_of_a_cell_does_not_depend_on_its_chunk():
    """Oracle: the same cell alone. Half a box has many Chebyshev centres; a block LP chose
    one by the cells sharing its block, the chains started there, and n_jobs=2 gave another
    volume than a serial run (0.5 sigma apart on wine)."""
    from cellgeom.models.cell_geometry import _geometry_chunk

    n = 8
    box_A, box_b = np.vstack([np.eye(n), -np.eye(n)]), np.ones(2 * n)

    def cell(w, c):
        return np.vstack([box_A, w[None]]), np.r_[box_b, c], np.arange(2 * n + 1)

    rng = np.random.default_rng(0)
    target = cell(np.r_[1.0, np.zeros(n - 1)], 0.0)
    others = [cell(rng.normal(size=n), 0.3) for _ in range(5)]
    route = (n, 6, "estimate", "simplex")
    alone = _geometry_chunk([target], 1e-9, route)[0]
    shared = _geometry_chunk(others + [target], 1e-9, route)[-1]
    np.testing.assert_array_equal(alone[1], shared[1])
    assert alone[0].volume == shared[0].volume


def test_exact_route_above_its_reach_is_refused_by_name():
    """Forced with exact_dim, 62-D crashed the process and 63-D returned volume 0 labelled
    exact (1 << n overflowed)."""
    rng = np.random.default_rng(0)
    d = 40
    arr = cellgeom.HyperplaneArrangement(rng.normal(size=(2, d)), np.zeros(2))
    X = rng.uniform(-1, 1, size=(3, d))
    with pytest.raises(Exception, match="2\\^40 vertices"):
        cellgeom.partition(arr, domain=(-np.ones(d), np.ones(d)), data=X, progress=False,
                           volume="exact", exact_dim=d)
