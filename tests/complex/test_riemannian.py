"""The nerve complex: chain complex identities, nerve theorem, Gram invariances."""
import itertools

import numpy as np
import pytest

import cellgeom
from cellgeom.complex import NotPositiveDefiniteWarning

from ..helpers import generic_arrangement


def _all_partition(k, n, seed, scale=1.0):
    arr, box = generic_arrangement(k, n, seed)
    arr = cellgeom.HyperplaneArrangement(arr.W, arr.b * scale)
    box = box.scaled(scale)
    return cellgeom.partition(arr, domain=box, cells="all", progress=False)


@pytest.mark.parametrize("n,k,rule", [(2, 6, "facet"), (2, 6, "cech"), (3, 5, "facet"),
                                      (3, 4, "cech")])
def test_boundary_of_boundary_is_zero(n, k, rule):
    cx = cellgeom.build_complex(_all_partition(k, n, seed=k), rule=rule)
    for p in range(1, cx.dim):
        assert abs(cx.boundary(p) @ cx.boundary(p + 1)).max() == 0


@pytest.mark.parametrize("n,k", [(2, 5), (2, 7), (3, 4)])
def test_cech_nerve_of_a_box_tiling_is_contractible(n, k):
    # nerve theorem: closed convex cells covering a box have a contractible nerve
    cx = cellgeom.build_complex(_all_partition(k, n, seed=n + k), rule="cech")
    betti = cx.betti_numbers()
    assert betti == [1] + [0] * (len(betti) - 1)
    assert cx.euler_characteristic() == 1


def test_betti_numbers_equal_gudhi_on_the_facet_nerve():
    gudhi = pytest.importorskip("gudhi")
    cx = cellgeom.build_complex(_all_partition(6, 2, seed=11), rule="facet")
    st = gudhi.SimplexTree()
    for p in range(cx.dim + 1):
        for s in cx.simplices(p).tolist():
            st.insert(s)
    st.compute_persistence(persistence_dim_max=True)
    expected = st.betti_numbers()
    got = cx.betti_numbers()
    assert got[: len(expected)] == expected
    # facet nerve of a generic line arrangement: one loop per interior crossing
    assert got[1] == 15


def test_simplices_are_sorted_unique_tuples():
    cx = cellgeom.build_complex(_all_partition(5, 3, seed=2))
    for p in range(cx.dim + 1):
        s = cx.simplices(p)
        assert np.all(np.diff(s, axis=1) > 0)
        assert len({tuple(r) for r in s.tolist()}) == len(s)


def test_gram_scaling_by_s():
    # scaling the problem by s scales M_0 by s^n and M_1 by s^(n-1)
    for n, k in [(2, 5), (3, 4)]:
        s = 2.5
        base = cellgeom.build_complex(_all_partition(k, n, seed=7))
        scaled = cellgeom.build_complex(_all_partition(k, n, seed=7, scale=s))
        assert base.partition.keys == scaled.partition.keys
        np.testing.assert_allclose(scaled.gram(0).diagonal(), s**n * base.gram(0).diagonal(),
                                   rtol=1e-9)
        np.testing.assert_allclose(scaled.gram(1).toarray(), s ** (n - 1) * base.gram(1).toarray(),
                                   rtol=1e-9, atol=1e-12)


def test_rotation_leaves_every_gram_entry_unchanged():
    # the domain must be a box, so the rotated "box" is built from 2n extra hyperplanes inside
    # a large outer box; the cells inside it are compared by their keys on the original planes
    n, k = 3, 4
    rng = np.random.default_rng(3)
    W = rng.normal(size=(k, n))
    b = rng.normal(size=k) * 0.3
    R, _ = np.linalg.qr(rng.normal(size=(n, n)))

    def inner_complex(W_model, frame):
        box_planes = np.vstack([frame, -frame])  # x . f_i <= 1 and -x . f_i <= 1
        W_all = np.vstack([W_model, box_planes])
        b_all = np.concatenate([b, -np.ones(2 * n)])
        arr = cellgeom.HyperplaneArrangement(W_all, b_all)
        part = cellgeom.partition(arr, domain=cellgeom.Box(-4 * np.ones(n), 4 * np.ones(n)),
                                  cells="all", progress=False)
        inside = [i for i, key in enumerate(part.keys) if key[k:] == "0" * (2 * n)]
        with pytest.warns(NotPositiveDefiniteWarning):
            cx = cellgeom.build_complex(part, metric="dihedral")
        return part, cx, inside

    part_a, cx_a, in_a = inner_complex(W, np.eye(n))
    part_b, cx_b, in_b = inner_complex(W @ R.T, R.T)  # rotate the planes and the box by R
    keys_a = {part_a.keys[i][:k]: i for i in in_a}
    keys_b = {part_b.keys[i][:k]: i for i in in_b}
    assert set(keys_a) == set(keys_b) and len(keys_a) > 4
    order_a = [keys_a[key] for key in sorted(keys_a)]
    order_b = [keys_b[key] for key in sorted(keys_b)]
    np.testing.assert_allclose(cx_b.gram(0).diagonal()[order_b],
                               cx_a.gram(0).diagonal()[order_a], rtol=1e-9)
    M1a, M1b = cx_a.gram(1).toarray(), cx_b.gram(1).toarray()
    ea = {tuple(e): i for i, e in enumerate(cx_a.simplices(1).tolist())}
    eb = {tuple(e): i for i, e in enumerate(cx_b.simplices(1).tolist())}
    pos_b = {a: b for a, b in zip(order_a, order_b)}
    inner_edges = [e for e in ea if e[0] in pos_b and e[1] in pos_b]
    assert inner_edges
    for e, f in itertools.product(inner_edges, repeat=2):
        ib = eb[tuple(sorted((pos_b[e[0]], pos_b[e[1]])))]
        jb = eb[tuple(sorted((pos_b[f[0]], pos_b[f[1]])))]
        # orientation of an edge follows the cell order, which the rotation may permute
        sign = np.sign((pos_b[e[1]] - pos_b[e[0]]) * (pos_b[f[1]] - pos_b[f[0]]))
        assert M1b[ib, jb] == pytest.approx(sign * M1a[ea[e], ea[f]], abs=1e-9)


def test_dihedral_gram_is_symmetric_and_obeys_cauchy_schwarz():
    part = _all_partition(7, 2, seed=4)
    cx = cellgeom.build_complex(part, metric="dihedral")
    M = cx.gram(1).toarray()
    np.testing.assert_allclose(M, M.T, atol=0)
    d = np.diag(M)
    assert np.all(np.abs(M) <= np.sqrt(np.outer(d, d)) + 1e-12)
    assert np.count_nonzero(M - np.diag(d)) > 0  # non-right angles do couple edges
    assert np.isfinite(cx.gram_min_eigenvalue)


def test_networkx_graph_matches_the_edge_table():
    nx = pytest.importorskip("networkx")
    cx = cellgeom.build_complex(_all_partition(5, 2, seed=1))
    G = cx.to_networkx()
    assert G.number_of_nodes() == cx.n_vertices
    assert G.number_of_edges() == len(cx.edges)
    assert nx.is_connected(G)
    for a, b, fv in cx.edges[["a", "b", "face_volume"]].itertuples(index=False):
        assert G.edges[a, b]["face_volume"] == fv


def test_a_truncated_complex_says_its_top_betti_number_is_an_upper_bound(tmp_path):
    """Oracle: the full complex and the graph's cycle count. The dual complex of a 2-D
    arrangement is contractible, [1, 0, 0]. Built with max_dim=1 it is the graph of
    cells and faces, whose b_1 = E - V + 1 counts every cycle, including those the
    triangles fill: an upper bound, which every Betti count of it says in a warning (and
    the report's row in words), before and after a save/load."""
    import warnings

    from cellgeom.analysis.spectral import betti_numbers_from_kernels
    from cellgeom.report import summary_rows

    part = _all_partition(6, 2, 0)
    full = cellgeom.build_complex(part, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the full complex: nothing to say
        assert full.betti_numbers() == [1, 0, 0] and full.euler_characteristic() == 1
    assert not full.truncated and full.max_dim is None
    assert not cellgeom.build_complex(part, max_dim=2, progress=False).truncated  # the top
    cut = cellgeom.build_complex(part, max_dim=1, progress=False)
    assert cut.truncated and cut.max_dim == 1
    n_edges, n_cells = len(cut.simplices(1)), len(cut.simplices(0))
    for betti_of in (lambda cx: cx.betti_numbers(), betti_numbers_from_kernels):
        with pytest.warns(UserWarning, match=r"b_1 is an upper bound .*b_0 is exact.*max_dim=2"):
            assert betti_of(cut) == [1, n_edges - n_cells + 1]
    assert n_edges - n_cells + 1 > 0
    with pytest.warns(UserWarning, match="Euler characteristic is the truncated"):
        assert cut.euler_characteristic() == n_cells - n_edges
    rows = dict(summary_rows(cut))
    assert "b_1 is an upper bound" in rows["Betti numbers"]
    assert "up to dimension 1" in rows["Euler characteristic"]
    cut.save(tmp_path / "cut.npz")
    loaded = cellgeom.load(tmp_path / "cut.npz")
    assert loaded.truncated and loaded.max_dim == 1
    with pytest.warns(UserWarning, match="upper bound"):
        loaded.betti_numbers()


def test_a_complex_cut_where_nothing_is_above_is_not_truncated():
    """Oracle: the full complex. Two parallel lines cut the square into three slabs in a
    row: the complex is a path (no triangle exists), so max_dim=1 misses nothing and the
    Betti numbers come without a warning; with a third, crossing line the cut complex has
    cycles that triangles fill, and it is truncated."""
    import warnings

    slabs = cellgeom.HyperplaneArrangement([[1.0, 0.0], [1.0, 0.0]], [-0.3, -0.6])
    part = cellgeom.partition(slabs, domain=([0, 0], [1, 1]), cells="all", progress=False)
    cut = cellgeom.build_complex(part, max_dim=1, progress=False)
    assert cut.dim == 1 and not cut.truncated
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cut.betti_numbers() == cellgeom.build_complex(part, progress=False).betti_numbers()
        assert cut.euler_characteristic() == 1
    crossed = cellgeom.HyperplaneArrangement([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]],
                                             [-0.3, -0.6, -0.5])
    part = cellgeom.partition(crossed, domain=([0, 0], [1, 1]), cells="all", progress=False)
    assert cellgeom.build_complex(part, max_dim=1, progress=False).truncated
    assert cellgeom.build_complex(part, max_dim=0, progress=False).truncated  # no edges


def test_cells_thinner_than_the_merge_radius_are_warned_about():
    """A wedge 6e-9 wide kept as a cell (tol 2e-9) has its two sides' vertices merged
    (radius 1e3 tol): the complex of this tiling of a square came out with b_1 = 1. Not
    fixed, but no longer silent; a partition without such cells builds without a word."""
    import warnings

    thin = cellgeom.HyperplaneArrangement([[1.0, 0.0], [-1.0, 6e-9], [0.0, 1.0]],
                                          [0.0, 3e-9, 0.0])
    box = cellgeom.Box([-1, -1], [1, 1])
    part = cellgeom.partition(thin, domain=box, cells="all", progress=False)
    with pytest.warns(UserWarning, match="thinner than the radius within which"):
        cellgeom.build_complex(part, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cellgeom.build_complex(part, rule="facet", progress=False)
        wide = cellgeom.HyperplaneArrangement([[1.0, 0.0], [-1.0, 0.3], [0.0, 1.0]],
                                              [0.0, 0.3, 0.0])
        part = cellgeom.partition(wide, domain=box, cells="all", progress=False)
        assert cellgeom.build_complex(part, progress=False).betti_numbers() == [1, 0, 0]
