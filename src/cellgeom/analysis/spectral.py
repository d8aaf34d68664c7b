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

import warnings

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.sparse.linalg import ArpackError, LinearOperator, eigsh, expm_multiply, splu

from ._deprecation import renamed_keywords
from .laplacians import _is_diagonal, hodge_stiffness

__all__ = [
    "smallest_eigenpairs",
    "hodge_spectrum",
    "harmonic_representatives",
    "betti_numbers_from_kernels",
    "count_eigenvalues_below",
    "heat_filter",
    "tikhonov_filter",
]

#: below this many rows a dense eigensolver is faster than ARPACK
DENSE_LIMIT = 1500
#: largest size for the dense fallback when ARPACK cannot resolve a large kernel
DENSE_FALLBACK = 8000


def _as_operator(L, name: str) -> sp.csr_matrix:
    """``L`` as a square float CSR matrix with finite entries, or a ValueError naming what
    it is instead (a complex or partition passed where its Laplacian belongs, a vector)."""
    if not (sp.issparse(L) or isinstance(L, np.ndarray)):
        raise ValueError(f"{name} must be a square matrix (SciPy sparse or NumPy array), e.g. "
                         f"cellgeom.analysis.hodge_laplacian(cx, 0); got "
                         f"{type(L).__name__}.")
    if L.ndim != 2 or L.shape[0] != L.shape[1]:
        raise ValueError(f"{name} must be square, got shape {L.shape}.")
    L = sp.csr_matrix(L, dtype=float)
    if not np.all(np.isfinite(L.data)):
        raise ValueError(f"{name} has NaN or infinite entries.")
    return L


def _as_symmetric_pair(S, M):
    S = _as_operator(S, "S")
    n = S.shape[0]
    M = sp.identity(n, format="csr") if M is None else _as_operator(M, "M")
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
    # a fixed start vector: ARPACK's default is random, which made the result (and, rarely,
    # "error 3: no shifts could be applied") depend on the run
    start = np.random.default_rng(0).uniform(-1.0, 1.0, n)
    vals, vecs = eigsh(S.tocsc(), k=k, M=M.tocsc(), sigma=shift, which="LM", v0=start)
    order = np.argsort(vals)
    vals, vecs = vals[order], vecs[:, order]
    # ARPACK returns M-orthogonal vectors; normalise explicitly
    norms = np.sqrt(np.einsum("ij,ij->j", vecs, M @ vecs))
    return vals, vecs / norms


@renamed_keywords(weighted="gram")
def hodge_spectrum(cx, p: int, k: int = 6, gram: bool = True,
                   dense_limit: int = DENSE_LIMIT) -> tuple[np.ndarray, np.ndarray]:
    """The k smallest eigenvalues of the chain Hodge Laplacian ``L_p`` and their
    M_p-orthonormal eigenvectors (see :func:`smallest_eigenpairs`).

    Eigenvalues have the units of ``L_p`` (length; none when ``gram=False``, the
    combinatorial Laplacian: see :func:`~cellgeom.analysis.laplacians.hodge_laplacian`).
    """
    S, M = hodge_stiffness(cx, p, gram)
    return smallest_eigenpairs(S, k, M, dense_limit)


def count_eigenvalues_below(S, M, t: float) -> int:
    """Number of eigenvalues of ``S v = lambda M v`` below ``t`` (Sylvester's inertia).

    ``S - t M`` is factorised by a symmetric sparse LU without pivoting
    (``U = D L^T``); the count is the number of negative pivots. Independent of how
    degenerate the spectrum is, unlike Krylov methods.
    """
    S, M = _as_symmetric_pair(S, M)
    A = sp.csc_matrix(S - t * M)
    lu = splu(A, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
              options=dict(SymmetricMode=True))
    if not np.array_equal(lu.perm_r, lu.perm_c):
        raise ValueError("the inertia count needs a symmetric factorisation; SuperLU pivoted "
                         "off the diagonal (the matrix has a zero pivot).")
    return int(np.sum(lu.U.diagonal() < 0))


def _dense_kernel(S, M, thresh):
    vals, vecs = sla.eigh(S.toarray(), M.toarray())
    keep = vals <= thresh
    return vals[keep], vecs[:, keep]


def _kernel(S, M, tol, dense_limit):
    """Kernel of (S, M): eigenvalues at most ``tol`` times the spectrum's Gershgorin bound.

    Dense below ``dense_limit``; above, ARPACK shift-invert whose count is checked against
    the inertia of ``S - t M`` (Krylov methods can return fewer copies of a highly
    degenerate eigenvalue than its multiplicity). The threshold is relative to the
    spectrum's scale only, so it does not depend on the units of the cells."""
    n = S.shape[0]
    if n == 0:
        return np.zeros(0), np.zeros((0, 0))
    scale = _scale(S, M)
    thresh = tol * scale if scale > 0 else np.inf
    if n <= dense_limit or not np.isfinite(thresh):
        return _dense_kernel(S, M, thresh)
    k = 8
    while 3 * k < n:
        try:
            vals, vecs = smallest_eigenpairs(S, k, M, dense_limit)
        except ArpackError:  # no convergence, or no shifts applicable: use the dense route
            break
        if vals[-1] > thresh:
            above = vals[vals > thresh]
            t = 0.5 * float(above[0])  # below the smallest non-zero eigenvalue found
            keep = vals <= thresh
            if count_eigenvalues_below(S, M, t) == int(keep.sum()):
                return vals[keep], vecs[:, keep]
            break  # ARPACK missed copies of the zero eigenvalue
        k *= 2
    if n > DENSE_FALLBACK:
        raise ValueError(
            f"ARPACK cannot resolve the kernel of this {n}-dimensional Laplacian (a "
            f"degenerate zero eigenvalue) and the dense fallback is limited to {DENSE_FALLBACK}"
            " rows. Use betti_numbers_from_kernels (inertia count) or "
            "RiemannianComplex.betti_numbers() for its dimension."
        )
    return _dense_kernel(S, M, thresh)


def _least_gram_norm(cx, p: int, Z: np.ndarray, dense_limit: int) -> np.ndarray:
    """``h = z - B_{p+1} y`` of least M_p-norm for each closed chain z (column of Z).

    ``y`` solves the weighted least-squares problem ``min_y |z - B_{p+1} y|_{M_p}``, so
    ``B_{p+1}^T M_p h = 0`` and h stays in z's homology class (``B_p B_{p+1} = 0``).
    Solved as a least-squares problem in ``M_p^{1/2}``-scaled rows (LAPACK's SVD solver
    densely, LSMR when sparse), never by the normal equations, whose condition number is
    the square of it: Gram weights of cells whose volumes span many orders of magnitude
    put the Gram-weighted Laplacian's true eigenvalues far below any zero threshold.
    """
    if p + 1 > cx.dim or Z.shape[1] == 0 or cx.n_simplices(p + 1) == 0:
        return Z
    B = sp.csr_matrix(cx.boundary(p + 1), dtype=float)
    M = sp.csr_matrix(cx.gram(p), dtype=float)
    diagonal = _is_diagonal(M)
    if Z.shape[0] <= dense_limit:
        if diagonal:
            root = np.sqrt(M.diagonal())
            RB, RZ = root[:, None] * B.toarray(), root[:, None] * Z
        else:  # M = R^T R (the "dihedral" M_1)
            R = sla.cholesky(M.toarray())
            RB, RZ = R @ B.toarray(), R @ Z
        # RB is rank-deficient by construction (ker B_{p+1}): a relative cut-off well above
        # rounding, or LAPACK divides by a computed zero singular value
        Y = sla.lstsq(RB, RZ, cond=1e-12, lapack_driver="gelsd")[0]
        return Z - B @ Y
    if not diagonal:
        raise ValueError(
            f"harmonic_representatives with gram=True needs a diagonal M_{p} above "
            f"dense_limit={dense_limit} rows ({Z.shape[0]} here): the complex's metric "
            f"{cx.metric!r} is not diagonal. Raise dense_limit (up to {DENSE_FALLBACK}) or "
            "pass gram=False.")
    from scipy.sparse.linalg import lsmr

    root = np.sqrt(M.diagonal())
    RB = sp.diags(root) @ B
    H = np.empty_like(Z)
    for j in range(Z.shape[1]):
        y = lsmr(RB, root * Z[:, j], atol=1e-14, btol=1e-14, maxiter=20 * B.shape[1])[0]
        H[:, j] = Z[:, j] - B @ y
    return H


def _gram_orthonormal(H: np.ndarray, M) -> np.ndarray:
    """The columns of H made M-orthonormal (``H^T M H = I``), spanning the same space."""
    if H.shape[1] == 0:
        return H
    G = H.T @ (M @ H)
    w, U = np.linalg.eigh((G + G.T) / 2)
    return H @ (U / np.sqrt(w))


@renamed_keywords(weighted="gram")
def harmonic_representatives(cx, p: int, gram: bool = True, tol: float = 1e-9,
                             dense_limit: int = DENSE_LIMIT) -> np.ndarray:
    """An M_p-orthonormal basis of the harmonic p-chains, ``ker L_p``, shape (n_p, b_p).

    A chain h is harmonic iff ``B_p h = 0`` and ``B_{p+1}^T M_p h = 0`` (closed and
    co-closed in the Gram inner product): one representative per homology class,
    the one of least M_p-norm.

    The kernel is found where float64 resolves it whatever the cells' sizes: the kernel
    of the combinatorial Laplacian (every M the identity; eigenvalues at most ``tol``
    times its Gershgorin bound count as zero) gives one closed chain per class, and with
    ``gram=True`` each is replaced by the chain of least M_p-norm in its class,
    ``h = z - B_{p+1} y`` with ``y = argmin |z - B_{p+1} y|_{M_p}`` (a weighted
    least-squares problem). The Gram-weighted spectrum itself is not thresholded: cells
    whose volumes span many orders of magnitude put its true non-zero eigenvalues far
    below any zero threshold. On a truncated complex (``cx.truncated``) with
    ``p = cx.dim`` some of these chains are boundaries of simplices not built (a
    ``UserWarning`` says so).
    """
    if p == cx.dim:
        cx.warn_if_truncated("harmonic_representatives")
    # only M_p is needed with gram=True: a non-diagonal M_{p+1} ("dihedral") is no obstacle
    S0, identity = hodge_stiffness(cx, p, False)
    Z = _kernel(S0, identity, tol, dense_limit)[1]
    if not gram:
        return Z
    M = sp.csr_matrix(cx.gram(p), dtype=float)
    return _gram_orthonormal(_least_gram_norm(cx, p, Z, dense_limit), M)


def _kernel_dimension(S, M, tol, dense_limit) -> int:
    if S.shape[0] <= dense_limit:  # eigenvalues only: a fraction of eigh's time
        scale = _scale(S, M)
        if scale == 0:
            return S.shape[0]
        vals = sla.eigh(S.toarray(), M.toarray(), eigvals_only=True)
        return int(np.sum(vals <= tol * scale))
    # inertia below a threshold in the spectral gap: tol x Gershgorin bound
    scale = _scale(S, M)
    return count_eigenvalues_below(S, M, tol * scale) if scale > 0 else S.shape[0]


@renamed_keywords(weighted="gram")
def betti_numbers_from_kernels(cx, gram: bool = True, tol: float = 1e-9,
                               dense_limit: int = DENSE_LIMIT) -> list[int]:
    """Betti numbers ``b_p = dim ker L_p`` for p = 0..dim (Hodge theorem).

    Independent of the Gram matrices (any positive definite M gives the same
    kernel dimension); compare :meth:`RiemannianComplex.betti_numbers` (exact ranks).
    Eigenvalues at most ``tol`` times the spectrum's Gershgorin bound count as zero.

    The dimensions are those of the combinatorial Laplacian's kernels, whose non-zero
    eigenvalues float64 separates from zero. With ``gram=True`` the Gram-weighted
    kernels are counted too; where a count differs (cells whose volumes span many orders
    of magnitude put the weighted Laplacian's true eigenvalues below the threshold) a
    ``RuntimeWarning`` gives both counts, and the combinatorial one is returned. On a
    truncated complex (``cx.truncated``) the last count is an upper bound (a
    ``UserWarning`` says so), as for :meth:`RiemannianComplex.betti_numbers`.
    """
    cx.warn_if_truncated("betti_numbers_from_kernels")
    out = []
    for p in range(cx.dim + 1):
        S0, identity = hodge_stiffness(cx, p, False)
        b = _kernel_dimension(S0, identity, tol, dense_limit)
        if gram:
            try:
                weighted = _kernel_dimension(*hodge_stiffness(cx, p, True), tol, dense_limit)
            except ValueError:  # a non-diagonal M_{p+1} ("dihedral"): no weighted count
                weighted = b
            if weighted != b:
                warnings.warn(
                    f"the Gram-weighted Laplacian L_{p} has {weighted} eigenvalues below "
                    f"{tol:g} x its spectral bound, the combinatorial one {b}: the kernel "
                    "dimension is the same for both (Hodge), so the weighted spectrum is not "
                    "resolved in float64 here (cell volumes spanning many orders of "
                    f"magnitude); returning b_{p} = {b}.", RuntimeWarning, stacklevel=3)
        out.append(b)
    return out


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
    (no dense exponential); a LinearOperator (``metric="dihedral"``) is formed as a
    matrix, up to ``DENSE_FALLBACK`` rows, and exponentiated by :func:`scipy.linalg.expm`.
    """
    if not np.isfinite(t) or t < 0:
        raise ValueError(f"diffusion time t must be finite and >= 0, got {t!r}.")
    L = _square_linear_operator(L) or _as_operator(L, "L")
    f = _check_signal(L, f)
    if t == 0:
        return f.copy()
    if isinstance(L, LinearOperator):  # metric="dihedral": see _dense_of
        return sla.expm(-float(t) * _dense_of(L, "heat_filter")) @ f
    return expm_multiply(-float(t) * L, f)


def tikhonov_filter(L, f, lam: float) -> np.ndarray:
    """Tikhonov smoothing ``(I + lam L)^{-1} f``: the spectral filter 1 / (1 + lam mu).

    For ``L = M^{-1} S`` it minimises ``||g - f||_M^2 + lam g^T S g``. One sparse LU (a
    dense solve for a LinearOperator, ``metric="dihedral"``, up to ``DENSE_FALLBACK`` rows).
    """
    if not np.isfinite(lam) or lam < 0:
        raise ValueError(f"lam must be finite and >= 0, got {lam!r}.")
    L = _square_linear_operator(L) or _as_operator(L, "L")
    f = _check_signal(L, f)
    if isinstance(L, LinearOperator):  # metric="dihedral": see _dense_of
        n = L.shape[0]
        return np.linalg.solve(np.eye(n) + float(lam) * _dense_of(L, "tikhonov_filter"), f)
    A = sp.identity(L.shape[0], format="csc") + float(lam) * L.tocsc()
    return splu(A).solve(f)


def _square_linear_operator(L):
    """``L`` if it is a square LinearOperator (a Laplacian whose Gram matrix is applied
    through a factorisation, ``metric="dihedral"``), else None."""
    if not isinstance(L, LinearOperator):
        return None
    if len(L.shape) != 2 or L.shape[0] != L.shape[1]:
        raise ValueError(f"L must be square, got shape {L.shape}.")
    return L


def _dense_of(L, what: str) -> np.ndarray:
    """The matrix of a Laplacian given as a LinearOperator (``metric="dihedral"``, whose
    Gram matrix is applied through a factorisation and has no adjoint product, which
    SciPy's ``expm_multiply`` needs), one product per column, up to DENSE_FALLBACK rows."""
    n = L.shape[0]
    if n > DENSE_FALLBACK:
        raise ValueError(f"{what} on a LinearOperator (metric='dihedral') forms its matrix, "
                         f"which cellgeom does up to {DENSE_FALLBACK} rows; this one has {n}. "
                         "Use the complex's metric='diagonal' Laplacian (a sparse matrix).")
    return np.asarray(L.matmat(np.eye(n)), dtype=float)
