"""``volume=`` options of the polytope route: "exact" is exact or refused (oracle: the exact
vertex route with ``exact_dim`` raised, and the box volume the cells tile), shared faces get
one estimate, and every polytope adapter accepts ``volume=``."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import cellgeom


def _net(n_in, hidden, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, 1)).double()


def test_exact_volume_above_exact_dim_equals_the_vertex_route_and_tiles_the_box():
    """Oracle: exact_dim raised to n (Qhull) gives the same volumes; they sum to the box."""
    net = _net(7, 3)
    box = cellgeom.Box(np.zeros(7), np.ones(7))
    exact = cellgeom.partition(net, box, cells="all", volume="exact", progress=False)
    assert exact.info["volume_method"] == "exact"
    assert "volume_se" not in exact.cells  # no estimator ran
    oracle = cellgeom.partition(net, box, cells="all", exact_dim=7, progress=False)
    assert exact.keys == oracle.keys
    np.testing.assert_allclose(exact.volumes, oracle.volumes, rtol=1e-12, atol=1e-15)
    assert abs(exact.volumes.sum() - box.volume) <= 1e-9 * box.volume
    assert exact.has_vertices and len(exact.hinges) > 0


def test_exact_volume_where_vertex_enumeration_is_out_of_reach_is_refused():
    """Oracle: a ValueError naming volume='exact' and the alternatives, before any work."""
    net = _net(20, 4)
    X = np.random.default_rng(0).random((5, 20))
    with pytest.raises(ValueError, match=r"volume='exact'.*20-dimensional.*volume='estimate'"):
        cellgeom.partition(net, cellgeom.Box(np.zeros(20), np.ones(20)), X, volume="exact",
                           progress=False)


def test_exact_volume_refusal_starts_with_volume_and_exact_dim_lifts_it():
    """Oracle: the CLI maps the refusal to its usage error (the message starts 'volume')."""
    from cellgeom.models.polytopes import _resolve_volume

    with pytest.raises(ValueError) as info:
        _resolve_volume("exact", 64, 6)
    assert str(info.value).startswith("volume")
    assert _resolve_volume("exact", 64, 64) == "exact"  # exact_dim raised by hand: allowed


def test_pooled_face_estimate_is_the_inverse_variance_mean_of_both_sides():
    """Oracle: the formula by hand on a facets table (two sides, one NaN error bar, one
    boundary facet)."""
    import pandas as pd

    from cellgeom.models.polytope_tables import pool_face_estimates

    facets = pd.DataFrame({"cell": [0, 1, 0, 2, 1, 2], "neighbor": [1, 0, -1, 1, 2, -2],
                           "volume": [1.0, 2.0, 5.0, 3.0, 4.0, 6.0],
                           "volume_se": [0.1, 0.2, 0.5, np.nan, 0.3, 0.6]})
    pool_face_estimates(facets)
    w = np.array([1 / 0.1**2, 1 / 0.2**2])
    np.testing.assert_allclose(facets["volume"][:2], (w @ [1.0, 2.0]) / w.sum())
    np.testing.assert_allclose(facets["volume_se"][:2], 1 / np.sqrt(w.sum()))
    np.testing.assert_allclose(facets["volume"][[3, 4]], 3.5)  # one error bar missing
    assert facets["volume_se"][[3, 4]].isna().all()
    np.testing.assert_array_equal(facets["volume"][[2, 5]], [5.0, 6.0])  # one side only
    np.testing.assert_array_equal(facets["volume_se"][[2, 5]], [0.5, 0.6])


def test_estimated_shared_faces_are_symmetric_and_match_the_exact_face_areas():
    """Oracle: both sides carry one estimate, the faces table has it, and it lies within
    its error bar of the exact face area (volume='exact', Qhull) in 7-D."""
    net = _net(7, 3)
    box = cellgeom.Box(np.zeros(7), np.ones(7))
    est = cellgeom.partition(net, box, cells="all", volume="estimate", progress=False)
    exact = cellgeom.partition(net, box, cells="all", volume="exact", progress=False)
    assert est.keys == exact.keys
    f = est.facets
    inner = f[f["neighbor"] >= 0]
    back = inner.merge(inner, left_on=["cell", "neighbor"], right_on=["neighbor", "cell"])
    assert len(back) == len(inner) > 0
    np.testing.assert_array_equal(back["volume_x"], back["volume_y"])
    np.testing.assert_array_equal(back["volume_se_x"], back["volume_se_y"])
    faces = est.faces[est.faces["cell_b"] >= 0]
    ex = exact.faces[exact.faces["cell_b"] >= 0]
    pair = faces.merge(ex, on=["cell_a", "cell_b"], suffixes=("", "_exact"))
    assert len(pair) == len(faces) == len(ex)
    se = pair["volume_se"].to_numpy()
    assert np.all(np.isfinite(se))
    assert np.all(np.abs(pair["volume"] - pair["volume_exact"]) <= 4 * se + 1e-12)


def _linear_and_kmeans(n=7, seed=0):
    from sklearn.cluster import KMeans
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    X = rng.random((300, n))
    y = (X[:, 0] + X[:, 1] > 1).astype(int)
    return X, [LogisticRegression().fit(X, y),
               KMeans(3, n_init=3, random_state=seed).fit(X)]


@pytest.mark.parametrize("which", [0, 1], ids=["LogisticRegression", "KMeans"])
def test_linear_and_voronoi_accept_volume_like_the_other_polytope_models(which):
    """Oracles: volume='exact' tiles the box exactly (Qhull) in 7-D; 'data' is the
    empirical mass vol(X) n_i / N; 'none' gives NaN volumes; the labels say which."""
    X, models = _linear_and_kmeans()
    model = models[which]
    box = cellgeom.Box(np.zeros(7), np.ones(7))
    exact = cellgeom.partition(model, box, X, cells="all", volume="exact", progress=False)
    assert exact.info["volume_method"] == "exact" and exact.has_vertices
    assert abs(exact.volumes.sum() - 1.0) <= 1e-9
    data = cellgeom.partition(model, box, X, volume="data", progress=False)
    assert data.info["volume_method"] == "data"
    np.testing.assert_allclose(data.volumes, data.cells["n_points"] / len(X))
    none = cellgeom.partition(model, box, X, volume="none", progress=False)
    assert none.info["volume_method"] == "none" and np.isnan(none.volumes).all()
    assert none.keys == data.keys and len(none.facets) == len(data.facets)


@pytest.mark.parametrize("which", [0, 1], ids=["LogisticRegression", "KMeans"])
def test_linear_and_voronoi_volume_values_are_checked_by_the_registry(which):
    """Oracle: a ValueError from the registry's option check naming the model and the
    accepted values; volume='exact' in 20-D is refused like for networks."""
    X, models = _linear_and_kmeans()
    name = type(models[which]).__name__
    with pytest.raises(ValueError, match=rf"volume must be one of 'auto'.*for {name}, got 'exakt'"):
        cellgeom.partition(models[which], data=X, volume="exakt", progress=False)
    X20, models20 = _linear_and_kmeans(20)
    with pytest.raises(ValueError, match=r"volume='exact'.*20-dimensional"):
        cellgeom.partition(models20[which], data=X20, volume="exact", progress=False)


def test_volume_through_a_pipeline_reaches_the_final_estimator():
    """Oracle: the same volumes as the final estimator's partition on scaled data."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    X, _ = _linear_and_kmeans()
    y = (X[:, 0] > 0.5).astype(int)
    pipe = make_pipeline(MinMaxScaler(), LogisticRegression()).fit(X, y)
    part = cellgeom.partition(pipe, data=X, volume="data", progress=False)
    assert part.info["volume_method"] == "data"
    np.testing.assert_allclose(part.volumes, part.cells["n_points"] / len(X) * part.domain.volume)
    with pytest.raises(ValueError, match="volume must be one of"):
        cellgeom.partition(pipe, data=X, volume="bogus", progress=False)
