"""k-NN models with n_neighbors = k > 1: the cells of the order-k Voronoi diagram."""
from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

import cellgeom
from cellgeom.models.order_k_voronoi import MAX_ALL_ROWS, _partition_knn
from cellgeom.models.voronoi import _partition_voronoi

UNIT = cellgeom.Box([0.0, 0.0], [1.0, 1.0])


def _points(N, n=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((N, n)), rng.integers(0, 3, N)


def _knn_keys(X, G, k):
    """Oracle: the k nearest training points of each row of G by brute force, as keys."""
    d = ((G[:, None, :] - X[None]) ** 2).sum(-1)
    idx = np.sort(np.argpartition(d, k - 1, axis=1)[:, :k], axis=1)
    return np.array([",".join(map(str, row)) for row in idx.tolist()])


def _grid(box, m):
    axes = [np.linspace(lo, hi, m) for lo, hi in zip(box.lo, box.hi)]
    return np.stack(np.meshgrid(*axes), -1).reshape(-1, box.dim), box.widths.max() / (m - 1)


def _points_in_cells(part, per_cell, seed=0):
    """Random interior points of every cell (convex combinations of its vertices)."""
    rng = np.random.default_rng(seed)
    out, cell = [], []
    for i in range(part.n_cells):
        V = part.cell_vertices(i)
        w = rng.dirichlet(np.ones(len(V)), size=per_cell)
        out.append(w @ V)
        cell += [i] * per_cell
    return np.vstack(out), np.array(cell)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_cells_are_the_brute_force_k_nearest_sets_on_a_grid(k):
    """Oracle: brute-force k-NN sets of a 301 x 301 grid. Every grid set is a cell, every
    cell of Chebyshev radius above the grid spacing holds grid points, and locate() names
    the cell whose key is the grid point's set."""
    X, y = _points(30, seed=k)
    m = KNeighborsClassifier(k).fit(X, y)
    part = cellgeom.partition(m, UNIT, cells="all", progress=False)
    G, h = _grid(UNIT, 301)
    keys = _knn_keys(X, G, k)
    assert set(keys) <= set(part.keys)
    big = part.cells["inradius"].to_numpy() > h
    assert {part.keys[i] for i in np.flatnonzero(big)} <= set(keys)
    cell = part.locate(G)
    assert np.all(cell >= 0)
    np.testing.assert_array_equal(np.array(part.keys, dtype=object)[cell], keys)
    assert part.info["n_neighbors"] == k and part.info["candidates"] == "verified"


@pytest.mark.parametrize("k", [2, 4])
def test_volumes_tile_the_box_and_every_cell_closes(k):
    """Oracles: sum of volumes = vol(box) to 1e-9; Minkowski closure of every cell; the
    cell across each interior facet is the key with one point swapped (S - i + j), and
    each facet is seen with the same area from both sides."""
    X, y = _points(40, seed=10 + k)
    m = KNeighborsClassifier(k).fit(X, y)
    box = cellgeom.Box([-0.2, -0.1], [1.1, 1.3])
    part = cellgeom.partition(m, box, cells="all", progress=False)
    assert abs(part.volumes.sum() / box.volume - 1) < 1e-9
    assert part.minkowski_residuals().max() < 1e-9
    f = part.facets
    inner = f[f["neighbor"] >= 0]
    assert (f["neighbor"] >= -1).all()  # no facet names a cell outside the partition
    for c, nb in zip(inner["cell"], inner["neighbor"]):
        a, b = set(part.keys[c].split(",")), set(part.keys[nb].split(","))
        assert len(a) == len(b) == k and len(a - b) == 1
    area = {(c, nb): v for c, nb, v in zip(inner["cell"], inner["neighbor"], inner["volume"])}
    for (c, nb), v in area.items():
        assert area[nb, c] == pytest.approx(v, rel=1e-9)


@pytest.mark.parametrize("make", [lambda: KNeighborsClassifier(3),
                                  lambda: KNeighborsRegressor(4)], ids=["clf", "reg"])
def test_cell_predictions_are_the_model_at_random_points_of_each_cell(make):
    """Oracle: model.predict (and predict_proba) at random interior points of every cell."""
    X, y = _points(35, seed=3)
    target = y if isinstance(make(), KNeighborsClassifier) else X[:, 0] ** 2 + y
    m = make().fit(X, target)
    part = cellgeom.partition(m, UNIT, cells="all", progress=False)
    P, cell = _points_in_cells(part, 3)
    pred = part.cells["prediction"].to_numpy()[cell]
    np.testing.assert_allclose(pred, m.predict(P), rtol=1e-12)
    np.testing.assert_array_equal(part.locate(P), cell)
    if hasattr(m, "predict_proba"):
        proba = part.cells[[f"proba_{j}" for j in range(3)]].to_numpy()[cell]
        np.testing.assert_allclose(proba, m.predict_proba(P), rtol=1e-12)


def test_one_neighbour_keeps_the_voronoi_path():
    """Oracle: the Voronoi adapter called directly (n_neighbors=1 is routed to it)."""
    X, y = _points(25, seed=4)
    m = KNeighborsClassifier(1).fit(X, y)
    part = cellgeom.partition(m, UNIT, cells="all", progress=False)
    ref = _partition_voronoi(m, domain=UNIT, data=None, cells="all", progress=False)
    assert part.keys == ref.keys == [str(i) for i in sorted(range(25), key=str)]
    np.testing.assert_array_equal(part.volumes, ref.volumes)
    assert len(part.facets) == len(ref.facets) and "n_neighbors" not in part.info


def _i_sets(P, i):
    """Subsets of i points that a line separates from the others: the i lowest along
    every direction between consecutive critical ones (normals of the pairs)."""
    d = P[:, None] - P[None]
    a = np.arctan2(d[..., 1], d[..., 0])[np.triu_indices(len(P), 1)]
    crit = np.sort(np.concatenate([a + np.pi / 2, a - np.pi / 2]) % (2 * np.pi))
    mid = (crit + np.append(crit[1:], crit[0] + 2 * np.pi)) / 2
    proj = P @ np.c_[np.cos(mid), np.sin(mid)].T
    return len({tuple(sorted(np.argsort(proj[:, t])[:i])) for t in range(len(mid))})


def _box_around_order_k_vertices(P, k):
    """A box holding every vertex of the order-k diagram: the centres of the circles
    through three points with k - 2 or k - 1 points inside."""
    pts = [P]
    for a, b, c in itertools.combinations(range(len(P)), 3):
        A = 2 * np.array([P[b] - P[a], P[c] - P[a]])
        r = np.array([P[b] @ P[b] - P[a] @ P[a], P[c] @ P[c] - P[a] @ P[a]])
        z = np.linalg.solve(A, r)
        inside = (np.linalg.norm(P - z, axis=1) < np.linalg.norm(P[a] - z) * (1 - 1e-9)).sum()
        if inside in (k - 2, k - 1):
            pts.append(z[None])
    pts = np.vstack(pts)
    span = pts.max(0) - pts.min(0)
    return cellgeom.Box(pts.min(0) - 0.1 * span, pts.max(0) + 0.1 * span)


def _lee_count(P, k):
    """Lee (1982): the order-k Voronoi diagram of N points in general position in the
    plane has (2k - 1) N - (k^2 - 1) - sum_{i<k} nu_i regions, nu_i the number of unbounded
    regions of the order-i diagram (= the number of i-sets)."""
    return (2 * k - 1) * len(P) - (k * k - 1) - sum(_i_sets(P, i) for i in range(1, k))


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**31), N=st.integers(6, 12), k=st.integers(2, 4))
def test_number_of_cells_is_lees_count_for_random_points(seed, N, k):
    """Oracle: Lee's count, in a box holding every vertex of the diagram (so every region,
    bounded or not, meets it in one piece); volumes tile the box."""
    P = np.random.default_rng(seed).random((N, 2))
    m = KNeighborsRegressor(k).fit(P, np.arange(N, dtype=float))
    box = _box_around_order_k_vertices(P, k)
    part = cellgeom.partition(m, box, cells="all", progress=False)
    assert part.n_cells == _lee_count(P, k)
    assert abs(part.volumes.sum() / box.volume - 1) < 1e-9


def test_iris_three_features_k5_with_repeated_points():
    """Oracles: volumes tile the box; model.predict at random points of each cell. The box
    holds the repeated iris rows 101 and 142 (equal in these features): no key holds 142
    without 101 (copies are named lowest first) and cells holding one copy exist."""
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    X = X[:, :3]
    assert np.array_equal(X[101], X[142])
    m = KNeighborsClassifier(5).fit(X, y)
    box = cellgeom.Box(X[101] - 0.3, X[101] + 0.3)
    part = cellgeom.partition(m, box, data=X, cells="all", progress=False)
    assert abs(part.volumes.sum() / box.volume - 1) < 1e-9
    assert part.minkowski_residuals().max() < 1e-9
    sets = [set(map(int, key.split(","))) for key in part.keys]
    assert not any(142 in s and 101 not in s for s in sets)
    assert any(101 in s and 142 not in s for s in sets)
    P, cell = _points_in_cells(part, 2)
    np.testing.assert_array_equal(part.cells["prediction"].to_numpy()[cell], m.predict(P))
    np.testing.assert_array_equal(part.locate(P), cell)


@pytest.mark.parametrize("weights", ["distance", lambda d: 1 / (1 + d)])
def test_distance_weights_are_refused_saying_why(weights):
    X, y = _points(20)
    m = KNeighborsClassifier(3, weights=weights).fit(X, y)
    with pytest.raises(ValueError, match=r"weights=.*not supported.*curved.*weights='uniform'"):
        cellgeom.partition(m, UNIT, cells="all", progress=False)
    with pytest.raises(ValueError, match="only the Euclidean metric"):
        cellgeom.partition(KNeighborsClassifier(3, p=1).fit(X, y), UNIT, progress=False,
                           cells="all")


def test_too_few_candidates_are_found_by_the_vertex_check_and_enlarged():
    """Oracle: the Delaunay-candidate partition (and brute force on a grid). With the two
    nearest points of each training point as candidates the vertex check must fire and
    the rebuilt cells must be the same."""
    X, y = _points(30, seed=7)
    m = KNeighborsClassifier(3).fit(X, y)
    ref = cellgeom.partition(m, UNIT, cells="all", progress=False)
    assert ref.info["candidate_rounds"] == 0
    part = _partition_knn(m, domain=UNIT, data=None, cells="all", progress=False, _q=2)
    assert part.info["candidate_rounds"] >= 1 and part.info["candidate_violations"] > 0
    assert part.keys == ref.keys
    np.testing.assert_allclose(part.volumes, ref.volumes, rtol=0, atol=1e-12)
    G, _ = _grid(UNIT, 201)
    np.testing.assert_array_equal(np.array(part.keys, dtype=object)[part.locate(G)],
                                  _knn_keys(X, G, 3))


def test_complex_is_connected_and_partition_pickles():
    X, y = _points(25, seed=8)
    m = KNeighborsClassifier(3).fit(X, y)
    part = cellgeom.partition(m, UNIT, cells="all", progress=False)
    cx = cellgeom.build_complex(part, progress=False)
    assert cx.betti_numbers()[0] == 1
    q = pickle.loads(pickle.dumps(part))
    G, _ = _grid(UNIT, 51)
    np.testing.assert_array_equal(q.locate(G), part.locate(G))


def test_data_cells_and_a_scaled_pipeline():
    """Oracles: the data cells are the distinct k-NN sets of the data and count them; a
    StandardScaler in front gives the cells of the scaled points (model.predict)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _points(40, seed=9)
    X = X * [300.0, 2.0] + [1e4, -5.0]
    pipe = make_pipeline(StandardScaler(), KNeighborsRegressor(3)).fit(X, X[:, 1])
    part = cellgeom.partition(pipe, data=X, progress=False)
    Z = pipe[:-1].transform(X)
    keys, counts = np.unique(_knn_keys(Z, Z, 3), return_counts=True)
    assert part.keys == keys.tolist()
    np.testing.assert_array_equal(part.cells["n_points"].to_numpy(), counts)
    full = cellgeom.partition(pipe, data=X, cells="all", progress=False)
    assert abs(full.volumes.sum() / full.domain.volume - 1) < 1e-9
    P, cell = _points_in_cells(full, 2)
    np.testing.assert_allclose(full.cells["prediction"].to_numpy()[cell], pipe.predict(P),
                               rtol=1e-12)


def test_repeated_points_with_different_targets_are_refused_naming_them():
    X, y = _points(20, seed=11)
    X = np.vstack([X, X[:1]])
    y = np.append(y, (y[0] + 1) % 3)
    m = KNeighborsClassifier(3).fit(X, y)
    with pytest.raises(ValueError, match="training points 0, 20 coincide but have different"):
        cellgeom.partition(m, UNIT, cells="all", progress=False)


def test_high_dimensional_route_uses_delaunay_or_refuses_all_rows():
    """Oracle: the exact route's cells and facets (exact_dim=2 forces the other route in
    3-D); all k (N - k) rows beyond MAX_ALL_ROWS are refused before any work."""
    X, y = _points(25, n=3, seed=12)
    m = KNeighborsClassifier(3).fit(X, y)
    low = cellgeom.partition(m, data=X, progress=False)
    high = cellgeom.partition(m, data=X, exact_dim=2, volume="none", progress=False)
    assert high.info["candidates"] == "delaunay" and high.keys == low.keys
    assert len(high.facets) == len(low.facets)
    N = MAX_ALL_ROWS // 5 + 10
    rng = np.random.default_rng(0)
    big = KNeighborsClassifier(5).fit(rng.random((N, 8)), rng.integers(0, 2, N))
    with pytest.raises(ValueError, match="cannot be verified.*exact_dim"):
        cellgeom.partition(big, data=rng.random((5, 8)), progress=False)


def _kneighbors_keys(pipe, X):
    idx = pipe[-1].kneighbors(pipe[:-1].transform(X), return_distance=False)
    return np.array([",".join(map(str, row)) for row in np.sort(idx, axis=1).tolist()])


def test_scaled_30d_pipeline_on_features_of_very_different_widths():
    """Regression (breast_cancer's 30 features span widths 0.03 to 4000): a StandardScaler
    in front of a 5-NN in 30-D crashed with a facet LP status "Unknown", the cells being
    computed in one length unit for all axes, where the narrowest side is 1e-6 of the unit
    (below HiGHS's tolerances). Oracles: sklearn's kneighbors. Each data point lies in the
    cell of its k-NN set (facet rows in the domain's axis-by-axis frame, to 1e-9), and the
    Chebyshev centre and points of the Chebyshev ball of every cell have its key."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 30)) * np.logspace(-2, 4, 30)  # widths 1e6 apart
    pipe = make_pipeline(StandardScaler(), KNeighborsClassifier(5))
    pipe.fit(X, rng.integers(0, 2, 60))
    part = cellgeom.partition(pipe, data=X, cells="data", volume="data", progress=False)
    keys = _kneighbors_keys(pipe, X)
    assert part.keys == sorted(set(keys.tolist()))
    o, s = part.domain.center, part.domain.widths / 2
    for x, key in zip(X, keys):
        A, b = part.halfspaces(part.key_index(key))
        A_u = A * s  # the rows in u = (x - o) / s, each axis of the domain [-1, 1]
        slack = (b - A @ o - A_u @ ((x - o) / s)) / np.linalg.norm(A_u, axis=1)
        assert slack.min() > -1e-9
    np.testing.assert_array_equal(_kneighbors_keys(pipe, part.centers), part.keys)
    r = part.cells["inradius"].to_numpy()
    d = rng.standard_normal((part.n_cells, 30))
    ball = part.centers + 0.9 * r[:, None] * d / np.linalg.norm(d, axis=1)[:, None]
    np.testing.assert_array_equal(_kneighbors_keys(pipe, ball), part.keys)


@pytest.mark.parametrize("gap", [0.0, 1e-12, 1e-9])
def test_nearly_equal_training_points_are_refused_by_name(gap):
    """Twins closer than the tolerance gave merged facets and wrong keys ('1,1'), volumes
    up to 200x the domain; 1e-6 apart they are built, and tile the box."""
    rng = np.random.default_rng(0)
    P = rng.normal(size=(10, 2))
    twin = np.nextafter(P[:1], 1) if gap == 0 else P[:1] + [gap, 0.0]
    y = np.r_[rng.integers(0, 2, 10), 0]
    model = KNeighborsClassifier(2).fit(np.vstack([P, twin]), y)
    with pytest.raises(ValueError, match="training points 0 and 10 are"):
        cellgeom.partition(model, domain=([-3, -3], [3, 3]), cells="all", progress=False)
    model.fit(np.vstack([P, P[:1] + [1e-6, 0.0]]), y)
    part = cellgeom.partition(model, domain=([-3, -3], [3, 3]), cells="all", progress=False)
    assert part.volumes.sum() == pytest.approx(36.0, rel=1e-9)
    assert all(len(set(key.split(","))) == 2 for key in part.keys)
