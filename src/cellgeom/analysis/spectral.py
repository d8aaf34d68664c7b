"""Spectra, harmonic chains, Betti numbers from kernels, heat and Tikhonov filters.

The Laplacians of :mod:`cellgeom.analysis.laplacians` are self-adjoint in a
Gram inner product: ``L = M^{-1} S`` with ``S`` symmetric positive semi-definite
and ``M`` symmetric positive definite. Their spectra are those of the generalised
symmetric problem ``S v = lambda M v``; eigenvectors are returned
M-orthonormal (``V^T M V = I``). Small problems are solved densely
(:func:`scipy.linalg.eigh`); large ones with ARPACK in shift-invert mode around a
small negative shift (``S - sigma M`` is then positive definite, so the sparse LU
never meets a singular matrix), which finds the smallest eigenvalues in a few
iterations where plain ``which="SA"`` would crawl.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.sparse.linalg import ArpackNoConvergence, eigsh, expm_multiply, splu

from .laplacians import hodge_stiffness

__all__ = [
    "smallest_eigenpairs",
    "hodge_spectrum",
    "harmonic_representatives",
    "betti_numbers_from_kernels",
    "heat_filter",
    "tikhonov_filter",
]

#: below this many rows a dense eigensolver is faster than ARPACK
DENSE_LIMIT = 1500
#: largest size for the dense fallback when ARPACK cannot resolve a large kernel
DENSE_FALLBACK = 8000


def _as_symmetric_pair(S, M):
    S = sp.csr_matrix(S, dtype=float)
    if S.shape[0] != S.shape[1]:
        raise ValueError(f"S must be square, got shape {S.shape}.")
    n = S.shape[0]
    M = sp.identity(n, format="csr") if M is None else sp.csr_matrix(M, dtype=float)
    if M.shape != S.shape:
        raise ValueError(f"M has shape {M.shape} but S has shape {S.shape}.")
    return S, M


def _scale(S, M) -> float:
    """An upper bound of the spectrum of M^{-1} S (Gershgorin on the diagonal scaling)."""
    d = np.abs(M.diagonal())
    d = np.where(d > 0, d, 1.0)
    rowsum = np.asarray(abs(S).sum(axis=1)).ravel() / d
    return float(rowsum.max()) if rowsum.size else 0.0


def smallest_eigenpairs(S, k: int = 6, M=None, dense_limit: int = DENSE_LIMIT,
                        sigma: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k smallest eigenpairs of ``S v = lambda M v``.

    Parameters
    ----------
    S : sparse (n, n), symmetric positive semi-definite
    k : int
        Number of eigenpairs (clipped to n).
    M : sparse (n, n), symmetric positive definite, optional (identity)
    dense_limit : int
        Solve densely up to this size.
    sigma : float, optional
        Shift for shift-invert; default ``-1e-3`` times the spectrum's Gershgorin
        bound (close enough to 0 to separate the bottom of the spectrum, far enough to
        keep ``S - sigma M`` well conditioned when the kernel is large).

    Returns
    -------
    values : (k,) ascending
    vectors : (n, k), M-orthonormal
    """
    S, M = _as_symmetric_pair(S, M)
    n = S.shape[0]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    k = min(int(k), n)
    if n == 0:
        return np.zeros(0), np.zeros((0, 0))
    if n <= dense_limit or k >= n - 1:
        vals, vecs = sla.eigh(S.toarray(), M.toarray(), subset_by_index=[0, k - 1])
        return vals, vecs
    scale = max(_scale(S, M), np.finfo(float).tiny)
    shift = -1e-3 * scale if sigma is None else float(sigma)
    vals, vecs = eigsh(S.tocsc(), k=k, M=M.tocsc(), sigma=shift, which="LM")
    order = np.argsort(vals)
    vals, vecs = vals[order], vecs[:, order]
    # ARPACK returns M-orthogonal vectors; normalise explicitly
    norms = np.sqrt(np.einsum("ij,ij->j", vecs, M @ vecs))
    return vals, vecs / norms


def hodge_spectrum(cx, p: int, k: int = 6, weighted: bool = True,
                   dense_limit: int = DENSE_LIMIT) -> tuple[np.ndarray, np.ndarray]:
    """The k smallest eigenvalues of the chain Hodge Laplacian ``L_p`` and their
    M_p-orthonormal eigenvectors (see :func:`smallest_eigenpairs`).

    Eigenvalues have the units of ``L_p`` (length; none when ``weighted=False``).
    """
    S, M = hodge_stiffness(cx, p, weighted)
    return smallest_eigenpairs(S, k, M, dense_limit)


def _kernel(S, M, tol, dense_limit):
    n = S.shape[0]
    if n == 0:
        return np.zeros(0), np.zeros((0, 0))
    scale = _scale(S, M)
    thresh = tol * max(scale, 1.0) if scale > 0 else np.inf
    if n <= dense_limit:
        vals, vecs = sla.eigh(S.toarray(), M.toarray())
        keep = vals <= thresh
        return vals[keep], vecs[:, keep]
    k = 8
    while True:
        if 3 * k >= n:  # the kernel is a large part of the space: ARPACK gains nothing
            vals, vecs = sla.eigh(S.toarray(), M.toarray())
            keep = vals <= thresh
            return vals[keep], vecs[:, keep]
        try:
            vals, vecs = smallest_eigenpairs(S, k, M, dense_limit)
        except ArpackNoConvergence:
            # a kernel of high multiplicity defeats ARPACK (the eigenspace is larger than
            # its Krylov basis); dense is the reliable route while memory allows
            if n > DENSE_FALLBACK:
                raise ValueError(
                    f"ARPACK did not converge on a {n}-dimensional Laplacian whose kernel has "
                    f"more than {k // 2} dimensions; the dense fallback is limited to "
                    f"{DENSE_FALLBACK} rows. Use RiemannianComplex.betti_numbers() (exact "
                    "ranks) for the kernel dimension."
                ) from None
            vals, vecs = sla.eigh(S.toarray(), M.toarray())
            keep = vals <= thresh
            return vals[keep], vecs[:, keep]
        if vals[-1] > thresh:
            keep = vals <= thresh
            return vals[keep], vecs[:, keep]
        k *= 2


def harmonic_representatives(cx, p: int, weighted: bool = True, tol: float = 1e-9,
                             dense_limit: int = DENSE_LIMIT) -> np.ndarray:
    """An M_p-orthonormal basis of the harmonic p-chains, ``ker L_p``, shape (n_p, b_p).

    A chain h is harmonic iff ``B_p h = 0`` and ``B_{p+1}^T M_p h = 0`` (closed and
    co-closed in the Gram inner product): one representative per homology class,
    the one of least M_p-norm. Eigenvalues at most ``tol`` times the spectrum's
    Gershgorin bound (floored at 1) count as zero.
    """
    S, M = hodge_stiffness(cx, p, weighted)
    return _kernel(S, M, tol, dense_limit)[1]


def betti_numbers_from_kernels(cx, weighted: bool = True, tol: float = 1e-9,
                               dense_limit: int = DENSE_LIMIT) -> list[int]:
    """Betti numbers ``b_p = dim ker L_p`` for p = 0..dim (Hodge theorem).

    Independent of the Gram matrices (any positive definite M gives the same
    kernel dimension); compare :meth:`RiemannianComplex.betti_numbers` (exact ranks).
    """
    return [harmonic_representatives(cx, p, weighted, tol, dense_limit).shape[1]
            for p in range(cx.dim + 1)]


def _check_signal(L, f):
    f = np.asarray(f, dtype=float)
    if f.shape[0] != L.shape[0]:
        raise ValueError(f"the signal has {f.shape[0]} rows but the operator acts on "
                         f"{L.shape[0]}-vectors.")
    if not np.all(np.isfinite(f)):
        raise ValueError("the signal contains NaN or infinite values.")
    return f


def heat_filter(L, f, t: float) -> np.ndarray:
    """Heat diffusion ``exp(-t L) f`` (shape of f; f may be (n,) or (n, c)).

    For L self-adjoint in M with eigenpairs (mu_j, v_j) this is
    ``sum_j exp(-t mu_j) <v_j, f>_M v_j``: harmonic parts are kept, the others decay.
    ``t`` has the inverse units of L. Computed by :func:`scipy.sparse.linalg.expm_multiply`
    (no dense exponential).
    """
    if not np.isfinite(t) or t < 0:
        raise ValueError(f"diffusion time t must be finite and >= 0, got {t!r}.")
    L = sp.csr_matrix(L, dtype=float)
    f = _check_signal(L, f)
    if t == 0:
        return f.copy()
    return expm_multiply(-float(t) * L, f)


def tikhonov_filter(L, f, lam: float) -> np.ndarray:
    """Tikhonov smoothing ``(I + lam L)^{-1} f``: the spectral filter 1 / (1 + lam mu).

    For ``L = M^{-1} S`` it minimises ``||g - f||_M^2 + lam g^T S g``. One sparse LU.
    """
    if not np.isfinite(lam) or lam < 0:
        raise ValueError(f"lam must be finite and >= 0, got {lam!r}.")
    L = sp.csr_matrix(L, dtype=float)
    f = _check_signal(L, f)
    A = sp.identity(L.shape[0], format="csc") + float(lam) * L.tocsc()
    return splu(A).solve(f)
