"""Cell statistics and the density metric: oracles are brute-force point-in-polytope counts,
pandas group-bys, the closed-form means, and networkx Dijkstra."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest

import cellgeom
from cellgeom.analysis import (
    cell_density,
    cell_statistics,
    density_metric,
    edge_density,
    edge_statistics,
)
from cellgeom.analysis.density import pair_distances


def _arrangement_complex(k=6, seed=1, cells="all", data=None):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(k, 2))
    b = -np.einsum("ij,ij->i", W, rng.random((k, 2)))
    part = cellgeom.partition(cellgeom.HyperplaneArrangement(W, b),
                              domain=cellgeom.Box([0, 0], [1, 1]), cells=cells, data=data,
                              progress=False)
    return cellgeom.build_complex(part)


def _brute_force_cell(part, X):
    """Cell of each point by testing every cell's H-representation (first match)."""
    out = np.full(len(X), -1)
    for i in range(part.n_cells):
        A, b = part.halfspaces(i)
        inside = np.all(X @ A.T <= b + 1e-12, axis=1) & (out < 0)
        out[inside] = i
    return out


def test_counts_mass_density_equal_brute_force_point_location():
    cx = _arrangement_complex()
    rng = np.random.default_rng(5)
    X = rng.random((400, 2))
    w = rng.random(400)
    table = cell_statistics(cx, X, sample_weight=w)
    cell = _brute_force_cell(cx.partition, X)
    expected = np.bincount(cell, weights=w, minlength=cx.n_vertices)
    np.testing.assert_allclose(table["count"], expected, rtol=1e-12)
    np.testing.assert_allclose(table["mass"], expected / w.sum(), rtol=1e-12)
    np.testing.assert_allclose(table["density"], expected / w.sum() / cx.partition.volumes,
                               rtol=1e-12)
    assert table["mass"].sum() == pytest.approx(1.0)
    # density integrates to 1 over the box: sum rho_i vol C_i = 1
    assert float((table["density"] * cx.partition.volumes).sum()) == pytest.approx(1.0)


def test_statistics_return_copies_and_leave_tables_unchanged():
    cx = _arrangement_complex()
    before_cells, before_edges = cx.cells.copy(), cx.edges.copy()
    X = np.random.default_rng(0).random((50, 2))
    t = cell_statistics(cx, X)
    e = edge_statistics(cx, X)
    assert "density" in t and "density" not in cx.cells
    assert "density_geometric" in e and "density_geometric" not in cx.edges
    assert cx.cells.equals(before_cells) and cx.edges.equals(before_edges)


def test_label_distribution_and_purity_equal_pandas_groupby():
    cx = _arrangement_complex(seed=3)
    rng = np.random.default_rng(2)
    X = rng.random((300, 2))
    y = np.where(X[:, 0] + 0.2 * rng.normal(size=300) > 0.5, "red", "blue")
    table = cell_statistics(cx, X, labels=y)
    import pandas as pd

    frame = pd.DataFrame({"cell": _brute_force_cell(cx.partition, X), "y": y})
    dist = pd.crosstab(frame["cell"], frame["y"], normalize="index")
    for c in dist.index:
        for lab in ("red", "blue"):
            assert table[f"label_{lab}"].iat[c] == pytest.approx(dist.loc[c, lab])
        assert table["purity"].iat[c] == pytest.approx(dist.loc[c].max())
        assert table["majority"].iat[c] == dist.loc[c].idxmax()
    empty = np.setdiff1d(np.arange(cx.n_vertices), dist.index)
    assert np.all(np.isnan(table["purity"].to_numpy()[empty]))


def test_edge_densities_equal_closed_form_means():
    rho = np.array([0.0, 1.0, 4.0, 9.0])
    edges = np.array([[0, 1], [1, 2], [2, 3]])
    np.testing.assert_allclose(edge_density(rho, edges, "geometric"), [0, 2, 6])
    np.testing.assert_allclose(edge_density(rho, edges, "arithmetic"), [0.5, 2.5, 6.5])
    np.testing.assert_allclose(edge_density(rho, edges, "harmonic"),
                               [0, 2 * 4 / 5, 2 * 36 / 13])
    # THEORY.md section 8: the default is the geometric mean
    np.testing.assert_array_equal(edge_density(rho, edges), edge_density(rho, edges, "geometric"))
    # a cell without a volume has a NaN density: NaN under every mean (an infinite length)
    for mean in ("geometric", "arithmetic", "harmonic"):
        assert np.isnan(edge_density([np.nan, 1.0], [[0, 1]], mean)).all(), mean
    cx = _arrangement_complex()
    X = np.random.default_rng(4).random((200, 2))
    e = edge_statistics(cx, X)
    _, dens = cell_density(cx, X)
    a, b = e["a"].to_numpy(), e["b"].to_numpy()
    np.testing.assert_allclose(e["density_geometric"], np.sqrt(dens[a] * dens[b]))
    assert np.all(e["density_harmonic"] <= e["density_geometric"] + 1e-15)
    assert np.all(e["density_geometric"] <= e["density_arithmetic"] + 1e-15)


def test_default_counts_are_the_partitions_n_points():
    X = np.random.default_rng(9).random((120, 2))
    cx = _arrangement_complex(cells="data", data=X)
    np.testing.assert_allclose(cell_density(cx)[0], cell_density(cx, X)[0])


def test_density_metric_geodesics_equal_networkx_dijkstra():
    X = np.random.default_rng(6).random((500, 2))
    cx = _arrangement_complex(k=7, cells="data", data=X)
    dm = density_metric(cx, X, alpha=0.7)  # the default edge density sqrt(rho_a rho_b)
    rho = cell_density(cx, X)[1]
    e = cx.edges
    expected_len = e["length"] / np.sqrt(rho[e["a"]] * rho[e["b"]]) ** 0.7
    # a fan diagonal (cells meeting at a point, face volume 0) carries no path
    expected_len = np.where(e["face_volume"] > 0, expected_len, np.inf)
    assert np.isinf(expected_len).any() and np.isfinite(expected_len).any()
    np.testing.assert_allclose(dm.lengths, expected_len, rtol=1e-12)
    G = nx.Graph()
    G.add_nodes_from(range(cx.n_vertices))
    for (a, b), ln in zip(e[["a", "b"]].to_numpy(), dm.lengths):
        G.add_edge(int(a), int(b), weight=ln)
    for s in range(cx.n_vertices):
        ref = nx.single_source_dijkstra_path_length(G, s)
        row = np.array([ref.get(t, np.inf) for t in range(cx.n_vertices)])
        np.testing.assert_allclose(dm.distances[s], row, rtol=1e-12)
    # only the rows asked for, and the pair search agrees with the rows
    few = density_metric(cx, X, alpha=0.7, rows=[2, 0], edge_mean="geometric")
    np.testing.assert_allclose(few.distances, dm.distances[[2, 0]])
    u = np.repeat(np.arange(cx.n_vertices), cx.n_vertices)
    v = np.tile(np.arange(cx.n_vertices), cx.n_vertices)
    np.testing.assert_allclose(pair_distances(dm.graph, u, v, chunk=3),
                               dm.distances.ravel(), rtol=1e-12)


def test_density_metric_geodesics_are_the_curvatures():
    """With the defaults the lengths are the curvatures' (geometric edge density, no path
    through a fan diagonal): in the worked example the diagonal's cells meet at a point,
    so their distance runs through a shared neighbour. Every cell holds data here, so
    every facet edge is finite; the arithmetic option gives its own lengths."""
    arr = cellgeom.HyperplaneArrangement([[1, 0], [0, 1]], [-0.3, -0.6])
    part = cellgeom.partition(arr, domain=([0, 0], [1, 1]), cells="all", progress=False)
    cx = cellgeom.build_complex(part)
    X = np.random.default_rng(0).uniform(size=(400, 2))
    dm = density_metric(cx, X)
    rho = cell_density(cx, X)[1]
    e = cx.edges
    diagonal = (e["face_volume"] <= 0).to_numpy()
    assert diagonal.sum() == 1 and np.isinf(dm.lengths[diagonal]).all()
    assert np.all(rho > 0)
    geometric = e["length"] / np.sqrt(rho[e["a"]] * rho[e["b"]])
    np.testing.assert_allclose(dm.lengths[~diagonal], geometric[~diagonal], rtol=1e-12)
    arithmetic = e["length"] / ((rho[e["a"]] + rho[e["b"]]) / 2)
    np.testing.assert_allclose(density_metric(cx, X, edge_mean="arithmetic").lengths[~diagonal],
                               arithmetic[~diagonal], rtol=1e-12)
    a, b = e.loc[diagonal, ["a", "b"]].to_numpy()[0]
    around = [dm.distances[a, k] + dm.distances[k, b] for k in range(4) if k not in (a, b)]
    assert dm.distances[a, b] == pytest.approx(min(around), rel=1e-12)


def test_density_metric_large_complex_needs_rows():
    X = np.random.default_rng(6).random((100, 2))
    cx = _arrangement_complex(k=5, cells="data", data=X)
    dm = density_metric(cx, X, max_dense=2)
    assert dm.distances is None
    assert dm.geodesic([0]).shape == (1, cx.n_vertices)


@pytest.mark.parametrize("bad", [0.0, -0.5, 1.5, "x"])
def test_density_metric_alpha_outside_0_1_raises(bad):
    cx = _arrangement_complex()
    with pytest.raises(ValueError, match="alpha"):
        density_metric(cx, np.random.default_rng(0).random((20, 2)), alpha=bad)


def test_statistics_bad_input_raises_clear_errors():
    cx = _arrangement_complex()
    with pytest.raises(ValueError, match="features"):
        cell_statistics(cx, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="empty"):
        cell_statistics(cx, np.zeros((0, 2)))
    with pytest.raises(ValueError, match="sample_weight"):
        cell_statistics(cx, np.zeros((5, 2)) + 0.5, sample_weight=np.ones(4))
    with pytest.raises(ValueError, match="labels"):
        cell_statistics(cx, np.zeros((5, 2)) + 0.5, labels=[1, 2])
    with pytest.raises(ValueError, match="none of the"):
        cell_statistics(cx, np.full((5, 2), 7.0))
    with pytest.raises(ValueError, match="no data"):
        cell_statistics(cx)  # built with cells="all" and no data
    with pytest.raises(ValueError, match="edge density mean"):
        edge_density([1.0, 2.0], [[0, 1]], "median")


def test_a_continuous_target_gets_its_mean_and_spread_per_cell(tmp_path):
    """A regression target is no class label: per cell its weighted mean and standard
    deviation (not one label_<value> column per distinct float); the report shows them and
    the share of the target's variance left within cells."""
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = X[:, 0] ** 2 + X[:, 1]
    w = rng.uniform(0.5, 2.0, 200)
    model = RandomForestRegressor(5, max_depth=3, random_state=0).fit(X, y)
    part = cellgeom.partition(model, data=X, progress=False)
    table = cell_statistics(part, X, labels=y, sample_weight=w)
    assert not any(str(c).startswith("label_") for c in table.columns)
    cell = part.locate(X)
    frame = pd.DataFrame({"cell": cell, "y": y, "w": w})
    for c, g in frame.groupby("cell"):
        mean = np.average(g["y"], weights=g["w"])
        std = np.sqrt(np.average((g["y"] - mean) ** 2, weights=g["w"]))
        assert table["target_mean"].iat[c] == pytest.approx(mean, rel=1e-12)
        assert table["target_std"].iat[c] == pytest.approx(std, rel=1e-9, abs=1e-12)
    path = tmp_path / "report.html"
    cellgeom.write_report(part, path, data=X, labels=y)
    page = path.read_text()
    assert "target variance within cells" in page and "target_mean" in page


def test_data_frame_columns_are_matched_to_the_models_names():
    """Oracle: the same frame in the model's order (cell_statistics counted the swapped
    columns as they stood: 37 of 200 points in cells)."""
    from sklearn.datasets import make_moons
    from sklearn.tree import DecisionTreeClassifier

    X, y = make_moons(200, noise=0.1, random_state=0)
    X[:, 1] *= 10
    frame = pd.DataFrame(X, columns=["a", "b"])
    tree = DecisionTreeClassifier(max_depth=4, random_state=0).fit(frame, y)
    cx = cellgeom.build_complex(cellgeom.partition(tree, data=frame, progress=False))
    ordered = cell_statistics(cx, frame, labels=y)
    swapped = cell_statistics(cx, frame[["b", "a"]], labels=y)
    pd.testing.assert_frame_equal(swapped, ordered)
    assert ordered["count"].sum() == len(X)


@pytest.mark.parametrize("kind", ["list", "series", "object", "category"])
def test_string_labels_in_any_container_give_the_same_table(kind):
    """pandas Series, object and categorical arrays of strings raised AttributeError."""
    arr = cellgeom.HyperplaneArrangement([[1, 0]], [-0.5])
    part = cellgeom.partition(arr, domain=([0, 0], [1, 1]), cells="all", progress=False)
    X = [[0.2, 0.5], [0.7, 0.5], [0.9, 0.1]]
    raw = ["a", "a", "b"]
    labels = {"list": raw, "series": pd.Series(raw), "object": np.array(raw, dtype=object),
              "category": pd.Series(raw, dtype="category")}[kind]
    pd.testing.assert_frame_equal(cell_statistics(part, X, labels=labels),
                                  cell_statistics(part, X, labels=raw))


def test_integer_valued_target_of_a_regressor_is_a_target():
    """Oracle: numpy means per cell. load_diabetes' target has integer values and was read
    as 214 classes (purity, majority) of a regression tree's cells."""
    from sklearn.datasets import load_diabetes
    from sklearn.tree import DecisionTreeRegressor

    X, y = load_diabetes(return_X_y=True)
    X = X[:, [2, 8]]
    tree = DecisionTreeRegressor(max_depth=3, random_state=0).fit(X, y)
    part = cellgeom.partition(tree, data=X, progress=False)
    table = cell_statistics(part, X, labels=y)
    cell = part.locate(X)
    expected = [y[cell == i].mean() for i in range(part.n_cells)]
    np.testing.assert_allclose(table["target_mean"], expected, rtol=1e-12)
    assert "purity" not in table
    assert "purity" in cell_statistics(part, X, labels=y, target="classes")
    with pytest.raises(ValueError, match="target must be"):
        cell_statistics(part, X, labels=y, target="regression")
