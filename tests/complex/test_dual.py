"""The "dual" rule: the dual cell complex of a partition, triangulated.

Oracles: GUDHI's Betti numbers of the same simplices; the domain's homology (a box is
contractible, an annulus has one loop, a hollow cube one cavity); the Cech nerve (nerve
theorem); Gauss-Bonnet; the Hodge theorem (dim ker L_p = b_p); the partition's crossing
points counted from the lines' equations.
"""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.cluster import KMeans
from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor
from sklearn.tree import DecisionTreeRegressor

import cellgeom
from cellgeom.analysis.curvature import vertex_curvature
from cellgeom.analysis.laplacians import hodge_laplacian
from cellgeom.analysis.spectral import betti_numbers_from_kernels

from ..helpers import generic_arrangement


def _gudhi_betti(cx):
    gudhi = pytest.importorskip("gudhi")
    st = gudhi.SimplexTree()
    for p in range(cx.dim + 1):
        st.insert_batch(cx.simplices(p).T, np.zeros(cx.n_simplices(p)))
    st.compute_persistence(persistence_dim_max=True)
    got = list(st.betti_numbers())
    return got + [0] * (cx.dim + 1 - len(got))


def _tree(n, leaves, seed, levels=None):
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(1500, n))
    if levels:  # coinciding thresholds: boxes meet along crossings and T-junctions
        X = np.round(X * levels) / levels
    y = np.sin(5 * X[:, 0]) + X[:, 1] + 0.2 * rng.normal(size=1500)
    return DecisionTreeRegressor(max_leaf_nodes=leaves, random_state=seed).fit(X, y), X, y


def _full_partitions():
    out = []
    for k, n, seed in [(6, 2, 11), (5, 3, 2), (5, 4, 1)]:
        arr, box = generic_arrangement(k, n, seed)
        out.append((f"generic arrangement {k} planes {n}-D",
                    cellgeom.partition(arr, domain=box, cells="all", progress=False)))
    # non-generic: four lines through one point, a 3-D and a 4-D grid
    arr = cellgeom.HyperplaneArrangement([[1, 0], [0, 1], [1, 1], [1, -1]],
                                         [-0.5, -0.5, -1.0, 0.0])
    out.append(("four lines through a point",
                cellgeom.partition(arr, domain=([0, 0], [1, 1]), cells="all", progress=False)))
    for n in (3, 4):
        W = np.vstack([np.eye(n), np.eye(n)])
        b = np.concatenate([-0.3 * np.ones(n), -0.6 * np.ones(n)])
        out.append((f"{n}-D grid of planes",
                    cellgeom.partition(cellgeom.HyperplaneArrangement(W, b),
                                       domain=(np.zeros(n), np.ones(n)), cells="all",
                                       progress=False)))
    for n in (2, 3, 4):
        tree, X, _ = _tree(n, 80, seed=n)
        out.append((f"tree {n}-D", cellgeom.partition(tree, data=X, cells="all",
                                                      progress=False)))
        tree, X, _ = _tree(n, 40, seed=n, levels=4)
        out.append((f"tree {n}-D, coinciding thresholds",
                    cellgeom.partition(tree, data=X, cells="all", progress=False)))
        rng = np.random.default_rng(n)
        X = np.round(rng.uniform(size=(800, n)) * 3) / 3
        forest = RandomForestRegressor(n_estimators=3, max_leaf_nodes=8, random_state=0).fit(
            X, X[:, 0] + rng.normal(size=800))
        out.append((f"forest {n}-D", cellgeom.partition(forest, data=X, cells="all",
                                                        progress=False)))
        km = KMeans(9, n_init=1, random_state=0).fit(rng.uniform(size=(300, n)))
        out.append((f"k-means {n}-D", cellgeom.partition(km, domain=(np.zeros(n), np.ones(n)),
                                                         cells="all", progress=False)))
    # Voronoi cells of a grid of centres: 4 cells at every interior vertex in 2-D
    g = np.stack(np.meshgrid(np.arange(3.0), np.arange(3.0)), -1).reshape(-1, 2)
    km = KMeans(9, init=g, n_init=1, max_iter=1).fit(g)
    km.cluster_centers_ = g
    out.append(("Voronoi of a grid", cellgeom.partition(km, domain=([-0.5, -0.5], [2.5, 2.5]),
                                                        cells="all", progress=False)))
    # ReLU networks (the example: 2-16-16-2 on moons, 153 crossings under "facet"),
    # and a 3-D net through the polytope route
    for n, width, seed in [(2, 16, 0), (3, 6, 1)]:
        torch = pytest.importorskip("torch")
        torch.manual_seed(seed)
        net = torch.nn.Sequential(torch.nn.Linear(n, width), torch.nn.ReLU(),
                                  torch.nn.Linear(width, width), torch.nn.ReLU(),
                                  torch.nn.Linear(width, 2)).eval()
        out.append((f"ReLU net {n}-{width}-{width}-2",
                    cellgeom.partition(net, domain=(-2 * np.ones(n), 2 * np.ones(n)),
                                       cells="all", progress=False)))
    return out


FULL = _full_partitions()


@pytest.mark.parametrize("name,part", FULL, ids=[name for name, _ in FULL])
def test_full_partition_is_contractible_and_equals_gudhi(name, part):
    """Oracle: the box is contractible; GUDHI on the same simplices; Gauss-Bonnet."""
    cx = cellgeom.build_complex(part, rule="dual")
    betti = cx.betti_numbers()
    assert betti == [1] + [0] * cx.dim, name
    assert cx.euler_characteristic() == 1
    assert _gudhi_betti(cx) == betti
    assert vertex_curvature(cx, "euler").sum() == pytest.approx(1.0, abs=1e-12)
    for p in range(cx.dim + 1):  # sorted unique rows, positive diagonal Gram weights
        s = cx.simplices(p)
        assert np.all(np.diff(s, axis=1) > 0)
        assert len(np.unique(s, axis=0)) == len(s)
        assert np.all(cx.simplex_volumes(p) > 0)
    for p in range(1, cx.dim):
        assert abs(cx.boundary(p) @ cx.boundary(p + 1)).max() == 0


@pytest.mark.parametrize("name,part", [FULL[0], FULL[3], FULL[4], FULL[8]],
                         ids=[FULL[i][0] for i in (0, 3, 4, 8)])
def test_dual_and_cech_agree_in_homology(name, part):
    """Oracle: the nerve theorem (the Cech nerve of a cover of a box is contractible)."""
    dual = cellgeom.build_complex(part, rule="dual").betti_numbers()
    cech = cellgeom.build_complex(part, rule="cech").betti_numbers()
    assert dual[0] == cech[0] == 1
    assert sum(dual[1:]) == sum(cech[1:]) == 0


def test_worked_example_crossing_is_filled_by_two_triangles():
    """THEORY.md section 9 under "dual": the four cells around (0.3, 0.6) fill a square,
    two triangles from one diagonal; b = (1, 0, 0); Gram weights by hand."""
    arr = cellgeom.HyperplaneArrangement([[1.0, 0.0], [0.0, 1.0]], [-0.3, -0.6])
    part = cellgeom.partition(arr, domain=cellgeom.Box([0, 0], [1, 1]), cells="all",
                              progress=False)
    cx = cellgeom.build_complex(part, rule="dual")
    assert cx.n_simplices() == [4, 5, 2]
    assert cx.betti_numbers() == [1, 0, 0]
    assert cx.euler_characteristic() == 1
    idx = {k: i for i, k in enumerate(part.keys)}
    # the apex is the largest cell, 10 (area .42): the diagonal joins it to 01
    diagonal = tuple(sorted((idx["10"], idx["01"])))
    edges = [tuple(e) for e in cx.simplices(1).tolist()]
    assert diagonal in edges
    e = cx.edges.set_index(["a", "b"])
    assert e.loc[diagonal, "face_volume"] == 0.0  # the two cells share no facet
    M1 = dict(zip(edges, cx.simplex_volumes(1)))
    assert M1[diagonal] == pytest.approx((0.6 + 0.4 + 0.3 + 0.7) / 4)  # mean face around
    facets = {frozenset(("00", "10")): 0.6, frozenset(("01", "11")): 0.4,
              frozenset(("00", "01")): 0.3, frozenset(("10", "11")): 0.7}
    for pair, v in facets.items():
        a, b = sorted(idx[k] for k in pair)
        assert M1[(a, b)] == pytest.approx(v) and e.loc[(a, b), "face_volume"] == pytest.approx(v)
    tri = {tuple(t) for t in cx.simplices(2).tolist()}
    assert all(set(diagonal) <= set(t) for t in tri)
    np.testing.assert_allclose(cx.simplex_volumes(2), [0.5, 0.5])  # the point, shared
    # the spectra quoted in docs/theory.md section 9, from the dense definition
    B1, B2 = cx.boundary(1).toarray(), cx.boundary(2).toarray()
    M0, M1, M2 = (np.diag(cx.simplex_volumes(p)) for p in range(3))
    inv = np.linalg.inv
    L0 = B1 @ inv(M1) @ B1.T @ M0
    L1 = B2 @ inv(M2) @ B2.T @ M1 + inv(M1) @ B1.T @ M0 @ B1
    L2 = inv(M2) @ B2.T @ M1 @ B2
    for L, want in ((L0, [0, 1, 1.613854, 2.466146]),
                    (L1, [1, 1.613854, 1.980196, 2.466146, 4.019804]),
                    (L2, [1.980196, 4.019804])):
        np.testing.assert_allclose(np.sort(np.linalg.eigvals(L).real), want, atol=1e-6)
    np.testing.assert_allclose(vertex_curvature(cx, "euler")[[idx[k] for k in ("00", "01",
                                                                                  "10", "11")]],
                               [1 / 3, 1 / 6, 1 / 6, 1 / 3], atol=1e-15)


def test_kernel_dimensions_equal_betti_and_l1_has_empty_kernel():
    """Oracle: Hodge theorem, dim ker L_p = b_p; a full 2-D partition has b_1 = 0, so the
    weighted L_1 is invertible (smallest eigenvalue of S_1 v = lambda M_1 v positive)."""
    for _, part in (FULL[0], FULL[3], FULL[8], FULL[10]):
        cx = cellgeom.build_complex(part, rule="dual")
        assert betti_numbers_from_kernels(cx) == cx.betti_numbers()
        assert betti_numbers_from_kernels(cx, gram=False) == cx.betti_numbers()
        if part.dim == 2:
            L1 = hodge_laplacian(cx, 1).toarray()
            ev = np.linalg.eigvals(L1).real
            assert ev.min() > 1e-8 * ev.max()


def test_gram_weights_share_each_vertex_and_scale_with_the_domain():
    """Oracle: in 2-D every interior crossing point of the lines (counted from their
    equations) has weight 1 shared over its triangles, so sum M_2 = number of crossings;
    scaling the domain by s scales M_p by s^(n-p)."""
    W, b = np.random.default_rng(5).normal(size=(7, 2)), np.random.default_rng(6).normal(size=7)
    box = cellgeom.Box([-1.5, -1.5], [1.5, 1.5])
    part = cellgeom.partition(cellgeom.HyperplaneArrangement(W, b * 0.5), domain=box,
                              cells="all", progress=False)
    crossings = 0
    for i, j in itertools.combinations(range(7), 2):
        x = np.linalg.solve(W[[i, j]], -0.5 * b[[i, j]])
        crossings += bool(np.all(np.abs(x) < 1.5))
    cx = cellgeom.build_complex(part, rule="dual")
    assert cx.simplex_volumes(2).sum() == pytest.approx(crossings)
    s = 2.5
    big = cellgeom.partition(cellgeom.HyperplaneArrangement(W, b * 0.5 * s),
                             domain=box.scaled(s), cells="all", progress=False)
    cx2 = cellgeom.build_complex(big, rule="dual")
    assert [t.tolist() for t in cx2._simplices] == [t.tolist() for t in cx._simplices]
    for p in range(3):
        np.testing.assert_allclose(cx2.simplex_volumes(p), s ** (2 - p) * cx.simplex_volumes(p),
                                   rtol=1e-9)


def test_relabelled_cells_give_the_same_complex():
    """Oracle: permuting and flipping the hyperplanes renumbers the cells; the dual
    complex is the same set of cell tuples (the fan apex depends on geometry only)."""
    W, b = np.random.default_rng(2).normal(size=(6, 2)), np.random.default_rng(3).normal(size=6)
    box = cellgeom.Box([-1, -1], [1, 1])
    one = cellgeom.partition(cellgeom.HyperplaneArrangement(W, 0.3 * b), domain=box,
                             cells="all", progress=False)
    perm, flip = np.array([3, 0, 5, 1, 4, 2]), np.array([1, -1, -1, 1, -1, 1.0])
    two = cellgeom.partition(cellgeom.HyperplaneArrangement(W[perm] * flip[:, None],
                                                            0.3 * b[perm] * flip),
                             domain=box, cells="all", progress=False)
    c1, c2 = one.centroids, two.centroids
    sigma = np.argmin(np.linalg.norm(c1[:, None] - c2[None], axis=2), axis=1)
    assert not np.array_equal(sigma, np.arange(len(sigma)))
    cx1 = cellgeom.build_complex(one, rule="dual")
    cx2 = cellgeom.build_complex(two, rule="dual")
    for p in range(cx1.dim + 1):
        mapped = {tuple(sorted(sigma[s])) for s in cx1.simplices(p).tolist()}
        assert mapped == {tuple(s) for s in cx2.simplices(p).tolist()}


def _grid_tree_without_centre(n):
    """A tree whose leaves are the 3^n cells of a grid; data everywhere but the centre."""
    g = np.stack(np.meshgrid(*[np.arange(3)] * n), -1).reshape(-1, n)
    X = (g + 0.5) / 3
    y = np.arange(len(g), dtype=float)
    tree = DecisionTreeRegressor(random_state=0).fit(X, y)
    keep = np.any(g != 1, axis=1)
    return tree, X, keep


@pytest.mark.parametrize("n,betti", [(2, [1, 1, 0]), (3, [1, 0, 1, 0])])
def test_data_cells_around_a_hole_have_its_homology(n, betti):
    """Oracle: an annulus has b = (1, 1, 0); a cube with a cavity b = (1, 0, 1, 0)."""
    tree, X, keep = _grid_tree_without_centre(n)
    part = cellgeom.partition(tree, data=X[keep], cells="data",
                              domain=(np.zeros(n), np.ones(n)), progress=False)
    assert part.n_cells == 3 ** n - 1
    cx = cellgeom.build_complex(part, rule="dual")
    got = (cx.betti_numbers() + [0] * n)[: n + 1]  # no simplex above dim: b_p = 0 there
    assert got == betti
    assert (_gudhi_betti(cx) + [0] * n)[: n + 1] == betti
    full = cellgeom.partition(tree, cells="all", domain=(np.zeros(n), np.ones(n)),
                              progress=False)
    assert cellgeom.build_complex(full, rule="dual").betti_numbers() == [1] + [0] * n


def test_data_cell_complex_is_a_subcomplex_of_the_full_one():
    """Oracle: the full partition's dual complex, mapped by cell keys."""
    rng = np.random.default_rng(4)
    X = np.round(rng.uniform(size=(600, 3)) * 4) / 4
    model = ExtraTreesRegressor(n_estimators=2, max_leaf_nodes=10, random_state=1).fit(
        X, X[:, 0] * X[:, 1])
    full = cellgeom.partition(model, data=X, cells="all", progress=False)
    data = cellgeom.partition(model, data=X[:200], cells="data", progress=False)
    cx_full = cellgeom.build_complex(full, rule="dual")
    cx_data = cellgeom.build_complex(data, rule="dual")
    to_full = np.array([full.key_index(k) for k in data.keys])
    assert np.all(to_full >= 0)
    for p in range(cx_data.dim + 1):
        whole = {tuple(s) for s in cx_full.simplices(p).tolist()}
        sub = {tuple(sorted(to_full[s])) for s in cx_data.simplices(p).tolist()}
        assert sub <= whole


def test_max_dim_truncates_and_bad_rule_is_refused():
    part = FULL[3][1]
    cx = cellgeom.build_complex(part, rule="dual", max_dim=1)
    assert cx.dim == 1
    full = cellgeom.build_complex(part, rule="dual")
    np.testing.assert_array_equal(cx.simplices(1), full.simplices(1))
    with pytest.raises(ValueError, match="rule must be one of"):
        cellgeom.build_complex(part, rule="alpha")


@pytest.mark.parametrize("kwargs,message", [
    (dict(metric="dihedal"), "metric must be"), (dict(max_dim=-1), "max_dim must be"),
    (dict(max_dim=1.5), "max_dim must be")])
def test_bad_parameters_are_refused_before_the_build(monkeypatch, capsys, kwargs, message):
    """A typo fails at once: no stage of the nerve runs and no progress bar is drawn."""
    from cellgeom.complex import riemannian

    def no_build(*args, **kw):
        raise AssertionError("the nerve was built before the parameters were checked")

    monkeypatch.setattr(riemannian, "build_nerve", no_build)
    with pytest.raises(ValueError, match=message):
        cellgeom.build_complex(FULL[0][1], progress=True, **kwargs)
    assert capsys.readouterr().err == ""


def test_save_and_load_keep_the_dual_complex(tmp_path):
    """Oracle: the complex before saving."""
    cx = cellgeom.build_complex(FULL[0][1], rule="dual")
    cx.save(tmp_path / "dual.npz")
    back = cellgeom.load(tmp_path / "dual.npz")
    assert back.rule == "dual" and back.betti_numbers() == cx.betti_numbers()
    for p in range(cx.dim + 1):
        np.testing.assert_array_equal(back.simplices(p), cx.simplices(p))
        np.testing.assert_array_equal(back.simplex_volumes(p), cx.simplex_volumes(p))
    np.testing.assert_array_equal(back.edges["face_volume"], cx.edges["face_volume"])


def _tree_on_grid(rng, n, grid, n_points, leaves):
    """The full partition of [0, 1]^n by a tree fitted to noise at random points, on a grid
    of ``grid`` steps per axis when ``grid`` (boxes with coinciding coordinates)."""
    X = rng.random((n_points, n))
    if grid:
        X = np.floor(X * grid) / grid
    tree = DecisionTreeRegressor(max_leaf_nodes=leaves, random_state=0).fit(
        X, rng.random(n_points))
    return cellgeom.partition(tree, cellgeom.Box(np.zeros(n), np.ones(n)), cells="all",
                              progress=False)


@pytest.mark.parametrize("n, grid", [(3, 0), (3, 4), (4, 0), (4, 3)])
def test_box_pairs_sharing_a_facet_skip_the_neighbour_scan_with_the_same_strata(n, grid):
    """Oracle: the full scan over v0's neighbours. A pair of boxes sharing a facet piece
    takes the shortcut (the star is the two cells); every output of box_extend is the
    same as with the scan, on trees with continuous and grid data (corner pairs)."""
    from cellgeom.complex._strata_kernels import box_extend
    from cellgeom.complex.dual import _BoxStrata, canonical_order

    part = _tree_on_grid(np.random.default_rng(n + grid), n, grid, 1500, 150)
    order = canonical_order(part)
    rank = np.empty(part.n_cells, dtype=np.int64)
    rank[order] = np.arange(part.n_cells)
    strata = _BoxStrata(part, order, rank)
    pairs = strata.pairs()
    args = (np.ascontiguousarray(pairs), np.ascontiguousarray(pairs[:, 1]), strata.r_ptr,
            strata.r_lo, strata.r_hi, strata.lo, strata.hi, strata.nptr, strata.nids)
    fast, scan = box_extend(*args, True), box_extend(*args, False)
    assert fast[0].sum() > 0
    for x, y in zip(fast, scan):
        assert x.shape == y.shape and np.array_equal(x, y)


@pytest.mark.parametrize("n, grid", [(3, 3), (4, 3), (5, 2)])
def test_corner_pairs_equal_all_pairs_meeting_end_to_end_on_two_axes(n, grid):
    """Oracle: every pair of boxes tested directly (closed boxes that touch, with the
    intervals of at least two axes meeting end to end)."""
    from cellgeom.complex.dual import _corner_pairs

    rng = np.random.default_rng(n)
    X = np.floor(rng.random((800, n)) * grid) / grid  # grid data: shared coordinates
    tree = DecisionTreeRegressor(max_leaf_nodes=80, random_state=0).fit(X, rng.random(800))
    part = cellgeom.partition(tree, cellgeom.Box(np.zeros(n), np.ones(n)), cells="all",
                              progress=False)
    lo, hi = np.ascontiguousarray(part.lo), np.ascontiguousarray(part.hi)
    a, c = np.triu_indices(len(lo), 1)
    touch = np.all(np.maximum(lo[a], lo[c]) <= np.minimum(hi[a], hi[c]), axis=1)
    ends = ((hi[a] == lo[c]) | (hi[c] == lo[a])).sum(axis=1)
    expected = np.column_stack([a, c])[touch & (ends >= 2)]
    got = _corner_pairs(lo, hi)
    assert len(expected) > 0
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("n", [0, 1, 3, 7, 8, 9, 16, 100, 128, 129, 257, 1000])
def test_segment_sums_round_as_numpy_sums(n):
    """Oracle: ``ndarray.sum`` of each segment, bit for bit (NumPy's pairwise sum)."""
    from cellgeom.complex._fan_kernel import segment_sums

    rng = np.random.default_rng(n)
    x = rng.random(3 * n + 5) * 10.0 ** rng.integers(-12, 3, size=3 * n + 5)
    starts = np.array([0, n, n + 2, 2 * n + 2], dtype=np.int64)
    counts = np.array([n, 2, n, n + 3], dtype=np.int64)
    got = segment_sums(x, starts, counts)
    want = [x[s:s + c].sum() for s, c in zip(starts, counts)]
    assert np.array_equal(got, want)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 300), st.integers(1, 4), st.integers(0, 3))
def test_group_rows_equals_numpy_unique_on_byte_keys(seed, size, width, n_values):
    """Oracle: ``np.unique`` on the rows' bytes (void keys): same groups, the same first row
    of each, the same sizes; -0.0 and 0.0 are different bytes, so different groups."""
    from cellgeom.complex._group_kernel import group_rows

    rng = np.random.default_rng(seed)
    values = np.array([0.0, -0.0, 1.5, 1e-300, np.inf][:n_values + 1])
    left = values[rng.integers(0, len(values), (size, width))]
    right = rng.integers(-1, 2, (size, 1))  # ints as the second block, as vertex carriers
    rows = rng.permutation(size)[:size - size // 4]
    inverse, first, counts = group_rows(left, right, rows)
    both = np.ascontiguousarray(np.hstack([left.view(np.int64), right])[rows])
    keys = both.view(np.dtype((np.void, 8 * both.shape[1]))).ravel()
    _, want_first, want_inverse, want_counts = np.unique(
        keys, return_index=True, return_inverse=True, return_counts=True)
    # groups are numbered by first appearance here, by sorted key in np.unique
    assert np.array_equal(np.sort(first), np.sort(want_first))
    relabel = np.empty(len(first), dtype=np.int64)
    relabel[inverse[first]] = want_inverse.ravel()[first]
    assert np.array_equal(relabel[inverse], want_inverse.ravel())
    assert np.array_equal(counts, want_counts[relabel])
    assert np.array_equal(first, np.sort(first))  # first appearance order


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=1, max_size=12, unique=True), st.data())
def test_star_from_another_scan_is_put_in_v0_scan_order(cells, data):
    """Oracle: v0's own scan lists v0, then its neighbours increasing."""
    from cellgeom.complex._strata_kernels import _v0_first

    v0 = data.draw(st.sampled_from(cells))
    star = np.array(cells + [99, 98], dtype=np.int64)  # past k: left alone
    _v0_first(star, len(cells), v0)
    assert star[:len(cells)].tolist() == [v0] + sorted(c for c in cells if c != v0)
    assert star[len(cells):].tolist() == [99, 98]


def test_fan_weights_equal_the_mean_over_each_star():
    """Oracle: the definition, carrier by carrier (every (p+1)-subset of the carrier's star
    that is a simplex with a full-dimensional carrier; the mean of their weights)."""
    from cellgeom.complex import dual

    seen = []
    fan_means = dual._fan_means

    def checked(p, carriers, info, index, out, has_top):
        got = fan_means(p, carriers, info, index, out, has_top)
        for g, c in enumerate(carriers.tolist()):
            star = info.sids[info.sptr[c]:info.sptr[c + 1]]
            sub = np.array(list(itertools.combinations(star.tolist(), p + 1)), dtype=np.int64)
            pos = index.find(p, sub.reshape(-1, p + 1))
            pos = pos[pos >= 0]
            pos = pos[has_top[pos]]
            assert got[g] == (out[pos].mean() if pos.size else float(info.vol[c]))
        seen.append(len(carriers))
        return got

    rng = np.random.default_rng(5)
    X = np.floor(rng.random((1500, 4)) * 4) / 4  # grid data: cells meeting in fans
    tree = DecisionTreeRegressor(max_leaf_nodes=60, random_state=0).fit(X, rng.random(1500))
    part = cellgeom.partition(tree, cellgeom.Box(np.zeros(4), np.ones(4)), cells="all",
                              progress=False)
    dual._fan_means = checked
    try:
        cellgeom.build_complex(part)
    finally:
        dual._fan_means = fan_means
    assert sum(seen) > 0


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 4), grid=st.sampled_from([0, 3, 4]))
def test_open_pieces_are_the_grid_cells_merged_where_no_box_cuts(seed, n, grid):
    """Oracle: the grid of all the boxes' bounds inside J (what box_extend enumerated, a
    product over J's axes: 2^60 cells for a 60-dimensional J). Every grid cell lies in
    exactly one piece, no box cuts a piece, and the pieces come in the grid's order of
    their lowest cells."""
    from cellgeom.complex._strata_kernels import _open_pieces

    rng = np.random.default_rng(seed)
    part = _tree_on_grid(rng, n, grid, 400, 40)
    lo, hi = part.lo, part.hi
    L, H = np.zeros(n), np.ones(n)
    flat = rng.integers(0, n)  # J a facet-level slab of the domain: flat on one axis
    L[flat] = H[flat] = float(rng.choice(np.unique(np.concatenate([lo[:, flat], hi[:, flat]]))))
    meets = np.all(np.where(H > L, (lo < H) & (hi > L), (lo <= L) & (L <= hi)), axis=1)
    contains = np.all((lo <= L) & (hi >= H), axis=1)
    split = np.flatnonzero(meets & ~contains).astype(np.int64)
    p_lo, p_hi, count = _open_pieces(L, H, split, split.size, lo, hi)
    p_lo, p_hi = p_lo[:count], p_hi[:count]
    cuts = [np.unique(np.clip(np.concatenate([[L[j], H[j]], lo[split, j], hi[split, j]]),
                              L[j], H[j])) for j in range(n)]
    mids = [0.5 * (c[1:] + c[:-1]) if c.size > 1 else c for c in cuts]
    cells = np.array(list(itertools.product(*mids[::-1])))[:, ::-1]  # axis 0 fastest
    owner = np.flatnonzero(np.all((p_lo[None] <= cells[:, None]) & (cells[:, None] <= p_hi[None]),
                                  axis=2).sum(axis=1) == 1)
    assert owner.size == len(cells)  # each grid cell in exactly one piece
    first = [np.flatnonzero(np.all((p_lo[k] <= cells) & (cells <= p_hi[k]), axis=1))[0]
             for k in range(count)]
    assert first == sorted(first)  # the grid's order
    for k in range(count):  # no box cuts a piece
        free = p_hi[k] > p_lo[k]
        m = np.all(np.where(free, (lo[split] < p_hi[k]) & (hi[split] > p_lo[k]),
                            (lo[split] <= p_lo[k]) & (p_lo[k] <= hi[split])), axis=1)
        c = np.all((lo[split] <= p_lo[k]) & (hi[split] >= p_hi[k]), axis=1)
        assert not np.any(m & ~c)
