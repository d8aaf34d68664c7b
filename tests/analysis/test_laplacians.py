"""Laplacians and spectra: oracles are the definitions written out densely, THEORY.md
section 9's printed spectra, GUDHI / TopoNetX Betti numbers and Laplacians, and
SciPy's dense expm / solve."""
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import cellgeom
from cellgeom.analysis.laplacians import (
    cell_laplacian,
    extended_laplacian,
    extended_stiffness,
    hodge_laplacian,
    hodge_stiffness,
)
from cellgeom.analysis.spectral import (
    betti_numbers_from_kernels,
    harmonic_representatives,
    heat_filter,
    hodge_spectrum,
    smallest_eigenpairs,
    tikhonov_filter,
)
from cellgeom.complex.riemannian import RiemannianComplex


def _complex_from_simplices(maximal):
    """A RiemannianComplex on an abstract simplicial complex (random Gram diagonals)."""
    import itertools

    faces = set()
    for s in maximal:
        s = tuple(sorted(s))
        for k in range(1, len(s) + 1):
            faces.update(itertools.combinations(s, k))
    top = max(len(f) for f in faces)
    simplices = [np.array(sorted(f for f in faces if len(f) == k), dtype=np.int64).reshape(-1, k)
                 for k in range(1, top + 1)]
    rng = np.random.default_rng(len(faces))
    volumes = [rng.uniform(0.2, 2.0, len(s)) for s in simplices]
    fake = SimpleNamespace(centroids=rng.normal(size=(int(simplices[0].max()) + 1, 2)))
    return RiemannianComplex(fake, simplices, volumes, "facet", "diagonal")


@pytest.fixture(scope="module")
def example():
    arr = cellgeom.HyperplaneArrangement([[1.0, 0.0], [0.0, 1.0]], [-0.3, -0.6])
    part = cellgeom.partition(arr, domain=cellgeom.Box([0, 0], [1, 1]), cells="all",
                              progress=False)
    return cellgeom.build_complex(part, rule="facet")  # THEORY.md section 9's numbers


@pytest.fixture(scope="module")
def arrangement_complexes():
    out = []
    for seed, (k, n) in enumerate([(5, 2), (4, 3), (6, 2)]):
        rng = np.random.default_rng(seed)
        arr = cellgeom.HyperplaneArrangement(rng.normal(size=(k, n)), rng.normal(size=k) * 0.3)
        part = cellgeom.partition(arr, domain=cellgeom.Box(-np.ones(n), np.ones(n)),
                                  cells="all", progress=False)
        out.append(cellgeom.build_complex(part, rule="cech"))
        out.append(cellgeom.build_complex(part))
    return out


def test_section9_spectra_reproduced(example):
    """THEORY.md section 9: chain L_0 eigenvalues 0, 1, 1, 2; Delta_0 with face weights
    has 0, 4.166667, 4.761905, 8.928571; B_1 M_1 B_1^T has 0, .829180, 1, 2.170820."""
    L0 = hodge_laplacian(example, 0).toarray()
    np.testing.assert_allclose(np.sort(np.linalg.eigvals(L0).real), [0, 1, 1, 2], atol=1e-12)
    vals, _ = hodge_spectrum(example, 0, k=4)
    np.testing.assert_allclose(vals, [0, 1, 1, 2], atol=1e-12)
    D = cell_laplacian(example, edge_weight="face").toarray()
    np.testing.assert_allclose(np.sort(np.linalg.eigvals(D).real),
                               [0, 4.166667, 4.761905, 8.928571], atol=1e-6)
    from cellgeom.analysis.laplacians import cell_stiffness
    K = cell_stiffness(example, edge_weight="face").toarray()
    np.testing.assert_allclose(np.linalg.eigvalsh(K), [0, 0.829180, 1, 2.170820], atol=1e-6)
    # normalised form is symmetric with the same spectrum
    N0 = hodge_laplacian(example, 0, normalized=True).toarray()
    np.testing.assert_allclose(N0, N0.T, atol=1e-14)
    np.testing.assert_allclose(np.linalg.eigvalsh(N0), [0, 1, 1, 2], atol=1e-12)


def test_flux_weights_equal_face_over_centroid_distance(example):
    """Oracle: (Delta_0 f)_i = 1/vol_i sum_j vol F_ij / h_ij (f_i - f_j), looped by hand."""
    f = np.array([1.0, -2.0, 0.5, 3.0])
    got = cell_laplacian(example) @ f
    part = example.partition
    want = np.zeros(4)
    inner = part.faces[part.faces["cell_b"] >= 0]
    for a, b, fv in inner[["cell_a", "cell_b", "volume"]].to_numpy():
        a, b = int(a), int(b)
        h = np.linalg.norm(part.centroids[a] - part.centroids[b])
        want[a] += fv / h * (f[a] - f[b])
        want[b] += fv / h * (f[b] - f[a])
    np.testing.assert_allclose(got, want / part.volumes, atol=1e-12)


def test_unweighted_equals_combinatorial_hodge_entrywise(arrangement_complexes):
    """Oracle: B_p^T B_p + B_{p+1} B_{p+1}^T written densely."""
    for cx in arrangement_complexes:
        for p in range(cx.dim + 1):
            L = hodge_laplacian(cx, p, gram=False).toarray()
            want = np.zeros_like(L)
            if p >= 1:
                B = cx.boundary(p).toarray()
                want += B.T @ B
            if p < cx.dim:
                B = cx.boundary(p + 1).toarray()
                want += B @ B.T
            np.testing.assert_array_equal(L, want)


def test_weighted_matches_definition_and_is_self_adjoint(arrangement_complexes):
    """Oracle: dense B M^{-1} B^T M + M^{-1} B^T M B; M_p L_p symmetric to 1e-10."""
    for cx in arrangement_complexes:
        for p in range(cx.dim + 1):
            L = hodge_laplacian(cx, p).toarray()
            M = cx.gram(p).toarray()
            want = np.zeros_like(L)
            if p < cx.dim:
                B = cx.boundary(p + 1).toarray()
                want += B @ np.linalg.inv(cx.gram(p + 1).toarray()) @ B.T @ M
            if p >= 1:
                B = cx.boundary(p).toarray()
                want += np.linalg.inv(M) @ B.T @ cx.gram(p - 1).toarray() @ B
            np.testing.assert_allclose(L, want, rtol=1e-10, atol=1e-10 * np.abs(want).max())
            ML = M @ L
            assert np.abs(ML - ML.T).max() <= 1e-10 * max(1.0, np.abs(ML).max())


def test_toponetx_hodge_laplacian_equals_unweighted(arrangement_complexes):
    """Oracle: TopoNetX hodge_laplacian_matrix (up to its simplex order)."""
    pytest.importorskip("toponetx")
    cx = arrangement_complexes[0]
    tnx = cx.to_toponetx()
    for p in range(cx.dim + 1):
        T = tnx.hodge_laplacian_matrix(p)
        ours = np.linalg.eigvalsh(hodge_laplacian(cx, p, gram=False).toarray())
        theirs = np.linalg.eigvalsh(np.asarray(sp.csr_matrix(T).toarray(), dtype=float))
        np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_cell_laplacian_kills_constants_per_component():
    """Oracle: indicator of each connected component (scipy csgraph) is in the kernel."""
    rng = np.random.default_rng(3)
    arr = cellgeom.HyperplaneArrangement(rng.normal(size=(6, 2)), rng.normal(size=6) * 0.3)
    X = rng.uniform(-1, 1, size=(40, 2))
    part = cellgeom.partition(arr, domain=cellgeom.Box([-1, -1], [1, 1]), data=X, cells="data",
                              progress=False)
    cx = cellgeom.build_complex(part)
    from scipy.sparse.csgraph import connected_components

    A = abs(cell_laplacian(cx, "face"))
    ncomp, labels = connected_components(A, directed=False)
    for edge_weight in ("flux", "face"):
        for L in (cell_laplacian(cx, edge_weight),
                  extended_laplacian(cx, simplex_weight=[2.0, 1.0], edge_weight=edge_weight)):
            for c in range(ncomp):
                assert np.abs(L @ (labels == c).astype(float)).max() < 1e-10
    assert betti_numbers_from_kernels(cx)[0] == ncomp


def test_extended_term_is_the_vertex_variance_per_simplex(example):
    """Oracle: f^T K f = edge energy + w_2 * m_sigma * sum_v (f_v - mean f)^2 (cech triangles)."""
    cech = cellgeom.build_complex(example.partition, rule="cech")
    f = np.array([0.3, -1.0, 2.0, 0.7])
    K0 = extended_stiffness(cech).toarray()
    K = extended_stiffness(cech, simplex_weight={2: 2.5}).toarray()
    want = f @ K0 @ f
    for s, m in zip(cech.simplices(2), cech.simplex_volumes(2)):
        want += 2.5 * m * np.sum((f[s] - f[s].mean()) ** 2)
    assert f @ K @ f == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(K, K.T, atol=1e-14)
    L = extended_laplacian(cech, simplex_weight={2: 2.5}, measure=np.arange(1.0, 5.0))
    np.testing.assert_allclose(L.toarray(), np.diag(1 / np.arange(1.0, 5.0)) @ K, atol=1e-14)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.integers(0, 7), min_size=1, max_size=4, unique=True),
                min_size=1, max_size=9))
def test_betti_from_kernels_equal_gudhi_on_random_complexes(maximal):
    """Oracle: GUDHI SimplexTree Betti numbers (persistence_dim_max=True)."""
    gudhi = pytest.importorskip("gudhi")
    cx = _complex_from_simplices(maximal)
    st_ = gudhi.SimplexTree()
    for s in maximal:
        st_.insert(sorted(s))
    st_.compute_persistence(persistence_dim_max=True)
    want = list(st_.betti_numbers())
    want += [0] * (cx.dim + 1 - len(want))
    got = betti_numbers_from_kernels(cx)
    assert got == want[: cx.dim + 1], (maximal, got, want)
    assert got == cx.betti_numbers()
    for p in range(cx.dim + 1):
        H = harmonic_representatives(cx, p)
        M = cx.gram(p).toarray()
        np.testing.assert_allclose(H.T @ M @ H, np.eye(H.shape[1]), atol=1e-8)
        if p >= 1 and H.size:
            assert np.abs(cx.boundary(p) @ H).max() < 1e-8


def test_sparse_shift_invert_matches_dense():
    """Oracle: scipy.linalg.eigh on the dense pair."""
    rng = np.random.default_rng(0)
    n = 400
    A = sp.random(n, n, density=0.01, random_state=1)
    W = abs(A + A.T)
    S = sp.diags(np.asarray(W.sum(axis=1)).ravel()) - W
    M = sp.diags(rng.uniform(0.5, 2, n))
    vals, vecs = smallest_eigenpairs(S, 5, M, dense_limit=10)
    want = sla.eigh(S.toarray(), M.toarray(), eigvals_only=True)[:5]
    np.testing.assert_allclose(vals, want, atol=1e-8)
    np.testing.assert_allclose(vecs.T @ (M @ vecs), np.eye(5), atol=1e-8)


def test_heat_and_tikhonov_filters_match_dense(example):
    """Oracle: scipy.linalg.expm and numpy.linalg.solve on the dense operator."""
    L = hodge_laplacian(example, 0)
    f = np.array([1.0, 0.0, -1.0, 2.0])
    np.testing.assert_allclose(heat_filter(L, f, 0.7), sla.expm(-0.7 * L.toarray()) @ f,
                               atol=1e-10)
    np.testing.assert_allclose(tikhonov_filter(L, f, 2.0),
                               np.linalg.solve(np.eye(4) + 2.0 * L.toarray(), f), atol=1e-12)


def test_dihedral_metric_gives_an_operator_matching_dense(example):
    """Oracle: dense formula with the non-diagonal M_1 inverted by numpy."""
    dih = cellgeom.build_complex(example.partition, rule="facet", metric="dihedral")
    L = hodge_laplacian(dih, 0)
    M0, M1, B = dih.gram(0).toarray(), dih.gram(1).toarray(), dih.boundary(1).toarray()
    want = B @ np.linalg.solve(M1, B.T) @ M0
    np.testing.assert_allclose(L @ np.eye(4), want, atol=1e-10)
    # the filters take the operator as it comes (they refused it, naming the operator they
    # had been given as what to pass)
    f = np.array([[1.0, 0.5], [0.0, 2.0], [-1.0, 0.0], [2.0, -1.0]])
    np.testing.assert_allclose(heat_filter(L, f, 0.7), sla.expm(-0.7 * want) @ f, atol=1e-10)
    np.testing.assert_allclose(tikhonov_filter(L, f[:, 0], 2.0),
                               np.linalg.solve(np.eye(4) + 2.0 * want, f[:, 0]), atol=1e-12)


def test_bad_input_raises_clear_valueerror(example):
    with pytest.raises(ValueError, match="rank p"):
        hodge_laplacian(example, -1)
    with pytest.raises(ValueError, match="exceeds"):
        hodge_laplacian(example, 5)
    with pytest.raises(ValueError, match="edge_weight must be"):
        cell_laplacian(example, edge_weight="area")
    with pytest.raises(ValueError, match="RiemannianComplex"):
        hodge_laplacian(np.eye(3), 0)
    with pytest.raises(ValueError, match="measure"):
        extended_laplacian(example, measure=[1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        extended_laplacian(example, measure=[1.0, 0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="simplex_weight"):
        extended_laplacian(example, simplex_weight={1: 1.0})
    with pytest.raises(ValueError, match="t must be"):
        heat_filter(hodge_laplacian(example, 0), np.ones(4), -1)
    with pytest.raises(ValueError, match="rows"):
        tikhonov_filter(hodge_laplacian(example, 0), np.ones(3), 1.0)
    # the complex where its Laplacian belongs, a vector, a non-finite operator
    with pytest.raises(ValueError, match="L must be a square matrix.*got RiemannianComplex"):
        heat_filter(example, np.ones(4), 1.0)
    with pytest.raises(ValueError, match="L must be square"):
        tikhonov_filter(np.ones(4), np.ones(4), 1.0)
    with pytest.raises(ValueError, match="S has NaN"):
        smallest_eigenpairs(sp.csr_matrix(np.full((3, 3), np.nan)), 1)
    assert isinstance(hodge_stiffness(example, 0)[0], sp.csr_matrix)


def test_sparse_kernel_path_betti_equal_exact_ranks_on_a_tree_complex():
    """Oracle: RiemannianComplex.betti_numbers (exact ranks mod p) on a 300-leaf tree."""
    from sklearn.tree import DecisionTreeRegressor

    rng = np.random.default_rng(0)
    X = rng.uniform(size=(1500, 2))
    y = np.sin(5 * X[:, 0]) + rng.normal(size=1500)
    tree = DecisionTreeRegressor(max_leaf_nodes=300, random_state=0).fit(X, y)
    cx = cellgeom.build_complex(cellgeom.partition(tree, data=X, progress=False), max_dim=1)
    # the 1-skeleton: its b_1 counts the graph's cycles (each call warns that it is an upper
    # bound of the full complex's); both routes count the same ones
    with pytest.warns(UserWarning, match="upper bound"):
        betti = cx.betti_numbers()
    with pytest.warns(UserWarning, match="upper bound"):
        assert betti_numbers_from_kernels(cx, dense_limit=50) == betti
    with pytest.warns(UserWarning, match="upper bound"):
        assert betti_numbers_from_kernels(cx, gram=False, dense_limit=50) == betti
    with pytest.warns(UserWarning, match="upper bound"):
        H = harmonic_representatives(cx, 1, dense_limit=50)
    assert H.shape[1] == betti[1] > 0
    assert np.abs(cx.boundary(1) @ H).max() < 1e-8
    # the ARPACK route; chain convention: ker L_0 = M_0^{-1} x constants (c_i = 1 / vol C_i)
    H0 = harmonic_representatives(cx, 0, dense_limit=50)
    v = H0[:, 0] * cx.simplex_volumes(0)
    assert H0.shape[1] == 1 and np.ptp(v) < 1e-8 * np.abs(v).max()


def test_kernel_falls_back_to_the_dense_route_when_arpack_fails(monkeypatch):
    """ARPACK's "error 3: no shifts could be applied" (seen once in CI on the tree complex
    above) is not a convergence failure; it must take the dense route, not escape."""
    from scipy.sparse.linalg import ArpackError

    import cellgeom.analysis.spectral as spectral

    rng = np.random.default_rng(1)
    W, b = rng.normal(size=(12, 2)), rng.normal(size=12) * 0.3
    part = cellgeom.partition(cellgeom.HyperplaneArrangement(W, b), domain=([-1, -1], [1, 1]),
                              cells="all", progress=False)
    cx = cellgeom.build_complex(part, progress=False)
    expected = betti_numbers_from_kernels(cx, dense_limit=10_000)

    def failing_eigsh(*args, **kwargs):
        raise ArpackError(3)

    monkeypatch.setattr(spectral, "eigsh", failing_eigsh)
    assert betti_numbers_from_kernels(cx, dense_limit=20) == expected == cx.betti_numbers()
    assert harmonic_representatives(cx, 0, dense_limit=20).shape[1] == 1
