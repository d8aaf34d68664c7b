"""Kernels of the Hodge Laplacians at every scale and volume range (degenerate input).

Oracles: the exact ranks of :meth:`RiemannianComplex.betti_numbers`, the definition of a
harmonic chain (closed, co-closed in M_p, M_p-orthonormal) and, where the Gram-weighted
spectrum is well resolved, the generalised eigenvectors of SciPy's dense ``eigh``.
"""
import warnings

import numpy as np
import pytest
import scipy.linalg as sla

import cellgeom
from cellgeom.analysis import betti_numbers_from_kernels, harmonic_representatives
from cellgeom.analysis.laplacians import hodge_stiffness


def _arrangement_complex(side: float):
    rng = np.random.default_rng(3)
    W, b = rng.normal(size=(8, 2)), np.random.default_rng(4).normal(size=8) * 0.3
    s = side / 2
    part = cellgeom.partition(cellgeom.HyperplaneArrangement(W, b * s),
                              domain=([-s, -s], [s, s]), cells="all", progress=False)
    return cellgeom.build_complex(part, progress=False)


@pytest.mark.parametrize("side", [2.0, 2e-7, 2e-9, 2e7])
def test_kernels_do_not_depend_on_the_units(side):
    """The same cells in a box of side 2e-9 or 2e7: b = (1, 0, 0), one harmonic 0-chain
    proportional to 1 / vol (the chain convention ker L_0 = M_0^{-1} x constants)."""
    cx = _arrangement_complex(side)
    assert cx.betti_numbers() == [1, 0, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert betti_numbers_from_kernels(cx) == [1, 0, 0]
    assert betti_numbers_from_kernels(cx, gram=False) == [1, 0, 0]
    H0 = harmonic_representatives(cx, 0)
    v = H0[:, 0] * cx.simplex_volumes(0)
    assert H0.shape[1] == 1 and np.ptp(v) < 1e-8 * np.abs(v).max()
    assert harmonic_representatives(cx, 1).shape[1] == 0


def _annulus_complex():
    """Data cells of an arrangement around a hole, with slivers next to big cells."""
    rng = np.random.default_rng(0)
    W = np.vstack([rng.normal(size=(14, 2)), [[1.0, 0.3], [1.0, 0.3 + 1e-5]]])
    b = np.concatenate([rng.normal(size=14) * 0.6, [0.2, 0.2]])
    t = rng.uniform(0, 2 * np.pi, 4000)
    r = rng.uniform(0.75, 1.0, 4000)
    X = np.c_[r * np.cos(t), r * np.sin(t)]
    part = cellgeom.partition(cellgeom.HyperplaneArrangement(W, b), domain=([-1, -1], [1, 1]),
                              data=X, cells="data", progress=False)
    return cellgeom.build_complex(part, progress=False)


def test_harmonic_chains_are_closed_coclosed_and_least_norm():
    """Definition: B_1 h = 0, B_2^T M_1 h = 0, H^T M_1 H = I; and the span of the dense
    generalised eigenvectors of (S_1, M_1) at eigenvalue 0."""
    cx = _annulus_complex()
    b = cx.betti_numbers()
    assert b[1] >= 1
    H = harmonic_representatives(cx, 1)
    M = cx.gram(1).toarray()
    assert H.shape[1] == b[1]
    np.testing.assert_allclose(H.T @ M @ H, np.eye(b[1]), atol=1e-9)
    assert np.abs(cx.boundary(1) @ H).max() < 1e-9 * np.abs(H).max()
    B2 = cx.boundary(2).toarray()
    assert np.abs(B2.T @ (M @ H)).max() < 1e-9 * np.abs(M @ H).max()
    S, Mp = hodge_stiffness(cx, 1)
    vals, vecs = sla.eigh(S.toarray(), Mp.toarray(), subset_by_index=[0, b[1] - 1])
    # the same M-orthonormal space: the M-Gram of the two bases is orthogonal
    C = H.T @ M @ vecs
    np.testing.assert_allclose(np.abs(np.linalg.svd(C, compute_uv=False)), 1.0, atol=1e-6)


def test_wide_volume_range_gives_the_exact_betti_numbers():
    """A 2-12-12-1 ReLU net on [-2, 2]^2: cell volumes from 1e-8 to 2, so the Gram-weighted
    L_1 has true eigenvalues 6e-10 x its spectral bound, below the zero threshold (it
    counted b_1 = 1 here). The combinatorial kernel is returned, with a warning."""
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(3)
    net = torch.nn.Sequential(torch.nn.Linear(2, 12), torch.nn.ReLU(), torch.nn.Linear(12, 12),
                              torch.nn.ReLU(), torch.nn.Linear(12, 1)).double()
    with torch.no_grad():
        for m in net:
            if isinstance(m, torch.nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g, dtype=torch.float64))
                m.bias.copy_(torch.randn(m.bias.shape, generator=g, dtype=torch.float64) * 0.5)
    part = cellgeom.partition(net, domain=([-2, -2], [2, 2]), cells="all", progress=False)
    cx = cellgeom.build_complex(part, progress=False)
    assert cx.betti_numbers() == [1, 0, 0]
    with pytest.warns(RuntimeWarning, match="not\n? ?resolved|not resolved"):
        assert betti_numbers_from_kernels(cx) == [1, 0, 0]
    assert betti_numbers_from_kernels(cx, gram=False) == [1, 0, 0]
    assert harmonic_representatives(cx, 1).shape[1] == 0
    assert harmonic_representatives(cx, 0).shape[1] == 1


def test_harmonic_zero_chain_on_a_booster_complex_is_inverse_volume():
    """Oracle: ker L_0 of a connected complex is span(M_0^{-1} 1) (chain convention). The
    weighted least-squares problem is rank-deficient by construction; with LAPACK's default
    cut-off it divided by a computed zero singular value (h had mixed signs, 0.84 off)."""
    from sklearn.datasets import make_moons
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = make_moons(400, noise=0.25, random_state=0)
    model = HistGradientBoostingClassifier(max_iter=40, random_state=0).fit(X, y)
    cx = cellgeom.build_complex(cellgeom.partition(model, data=X, cells="all", progress=False),
                                progress=False)
    assert cx.betti_numbers()[0] == 1
    d = cx.gram(0).diagonal()
    h = harmonic_representatives(cx, 0)[:, 0]
    exact = (1 / d) / np.sqrt(np.sum(1 / d))
    exact *= np.sign(exact @ (d * h))
    assert np.sqrt(((h - exact) ** 2 * d).sum()) < 1e-9


def test_kernels_under_the_dihedral_metric():
    """The dihedral M_1 is not diagonal: Betti numbers and the harmonic 0-chain (which needs
    M_0 only) are still given; they raised "hodge_stiffness needs a diagonal M_1"."""
    cx0 = _arrangement_complex(2.0)
    cx = cellgeom.build_complex(cx0.partition, metric="dihedral", progress=False)
    assert betti_numbers_from_kernels(cx) == [1, 0, 0]
    H0 = harmonic_representatives(cx, 0)
    v = H0[:, 0] * cx.simplex_volumes(0)
    assert H0.shape[1] == 1 and np.ptp(v) < 1e-8 * np.abs(v).max()
