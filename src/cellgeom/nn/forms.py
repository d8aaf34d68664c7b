"""Differential forms pulled back through a layer's affine map on a cell.

On a cell, a layer's pre-activation is ``z = A x + c`` (:func:`cellgeom.nn.pullback`),
so forms on the layer pull back to constant forms on the cell:

* the unit 1-form ``dz_k`` pulls back to ``A[k] . dx`` (its kernel is the unit's
  boundary hyperplane in input space);
* the metric ``sum_k D_k dz_k^2`` pulls back to ``g = A^T diag(D) A``;
* the volume form of ``g`` is ``sqrt(det g) dx``;
* a k-form ``dz_I`` (I a k-subset of units) pulls back to
  ``sum_J det(A[I, J]) dx_J``: the k-th compound matrix of ``A`` (Cauchy-Binet).

Pure numpy (no torch): every function takes arrays with any leading batch axes.
"""
from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from math import comb

import numpy as np

__all__ = ["pullback_metric", "volume_form", "pullback_form", "transport_face_volume",
           "unit_boundary_distance"]


def pullback_metric(A: np.ndarray, D: np.ndarray | None = None) -> np.ndarray:
    """Pulled-back metric ``g = A^T diag(D) A``.

    Parameters
    ----------
    A : ndarray (..., m, n)
        Linear part of the layer map on the cell.
    D : ndarray (..., m), optional
        Weights of the units (the activation slopes ``D_l``); default ones, giving
        ``A^T A``. For ReLU ``D^2 = D``, so ``g`` is the pullback of the Euclidean
        metric of the layer's output ``h = D z``; for other slopes pass ``D**2`` to
        get exactly that.

    Returns
    -------
    g : ndarray (..., n, n), symmetric
    """
    A = np.asarray(A, dtype=float)
    if D is None:
        return np.einsum("...ki,...kj->...ij", A, A)
    return np.einsum("...ki,...k,...kj->...ij", A, np.asarray(D, dtype=float), A)


def volume_form(g: np.ndarray, rtol: float | None = None) -> np.ndarray:
    """Density of the volume form ``sqrt(|det g|)``, 0 where ``g`` is rank-deficient.

    Parameters
    ----------
    g : ndarray (..., n, n), symmetric
    rtol : float, optional
        ``g`` counts as rank-deficient when its smallest eigenvalue in absolute
        value is below ``rtol`` times the largest; default ``100 n eps``. (For
        ``g = A^T A`` this is a singular-value ratio of ``sqrt(rtol)`` for ``A``.)

    Returns
    -------
    ndarray (...)
        ``sqrt(prod |lambda_i|)`` over the eigenvalues of ``g``, computed in log space.
    """
    g = np.asarray(g, dtype=float)
    n = g.shape[-1]
    if n == 0:
        return np.ones(g.shape[:-2])
    lam = np.abs(np.linalg.eigvalsh(g))
    top = lam.max(axis=-1)
    rtol = 100 * n * np.finfo(float).eps if rtol is None else rtol
    deficient = (lam.min(axis=-1) <= rtol * top) | (top == 0)
    with np.errstate(divide="ignore"):
        vol = np.exp(0.5 * np.log(lam).sum(axis=-1))
    return np.where(deficient, 0.0, vol)


def pullback_form(A: np.ndarray, k: int, return_indices: bool = False):
    """Pullback of k-forms: the k x k minors of ``A`` (its k-th compound matrix).

    Parameters
    ----------
    A : ndarray (..., m, n)
    k : int, 0 <= k <= min(m, n)
    return_indices : bool
        Also return the row and column index combinations.

    Returns
    -------
    minors : ndarray (..., C(m, k), C(n, k))
        ``minors[..., I, J] = det A[I, J]`` with I, J the k-subsets in the order of
        ``itertools.combinations(range(m), k)`` and ``combinations(range(n), k)``, so
        ``dz_I`` pulls back to ``sum_J minors[I, J] dx_J``. Cauchy-Binet:
        ``pullback_form(A @ B, k) == pullback_form(A, k) @ pullback_form(B, k)``;
        for square A, ``pullback_form(A, n) == det A``.
    rows, cols : ndarray (C(m, k), k), (C(n, k), k) of int
        Only if ``return_indices``.

    Notes
    -----
    Memory ``C(m, k) C(n, k) k^2`` per matrix: meant for small k or small layers.
    """
    A = np.asarray(A, dtype=float)
    m, n = A.shape[-2:]
    if not 0 <= k <= min(m, n):
        raise ValueError(f"k must be in [0, min(m, n)] = [0, {min(m, n)}], got {k}")
    rows = np.array(list(combinations(range(m), k)), dtype=np.intp).reshape(comb(m, k), k)
    cols = np.array(list(combinations(range(n), k)), dtype=np.intp).reshape(comb(n, k), k)
    if k == 0:
        minors = np.ones(A.shape[:-2] + (1, 1))
    else:
        sub = A[..., rows[:, None, :, None], cols[None, :, None, :]]  # (..., R, C, k, k)
        minors = np.linalg.det(sub)
    return (minors, rows, cols) if return_indices else minors


def transport_face_volume(A: np.ndarray, normal: np.ndarray,
                          face_volume: np.ndarray | float) -> np.ndarray:
    """(n-1)-volume of a flat face after the linear map ``A``.

    For a face with unit normal ``nu`` in input space and ``P`` (n, n-1) an
    orthonormal basis of ``nu``'s complement, the image has volume
    ``vol * sqrt(det(P^T A^T A P))``; for square invertible ``A`` this equals
    ``|det A| * ||A^{-T} nu|| * vol``.

    Parameters
    ----------
    A : ndarray (..., m, n)
    normal : ndarray (..., n)
        Normal of the face's hyperplane (need not be unit length).
    face_volume : float or ndarray (...)

    Returns
    -------
    ndarray (...)
        0 where ``A`` collapses the face (rank of ``A P`` below n-1).
    """
    A = np.asarray(A, dtype=float)
    nu = np.asarray(normal, dtype=float)
    n = A.shape[-1]
    if nu.shape[-1] != n:
        raise ValueError(f"normal has {nu.shape[-1]} coordinates, but A maps from {n}")
    norm = np.linalg.norm(nu, axis=-1, keepdims=True)
    if np.any(norm == 0):
        raise ValueError("normal must be non-zero")
    # rows 1..n-1 of V^T in the SVD of the 1 x n matrix nu^T span nu's complement
    _, _, vt = np.linalg.svd((nu / norm)[..., None, :])
    P = np.swapaxes(vt[..., 1:, :], -1, -2)  # (..., n, n-1)
    AP = A @ P
    if AP.shape[-2] < n - 1:
        return np.zeros(np.broadcast_shapes(AP.shape[:-2], np.shape(face_volume)))
    sv = np.linalg.svd(AP, compute_uv=False)
    return np.prod(sv, axis=-1) * face_volume


def unit_boundary_distance(A: np.ndarray, c: np.ndarray, x: np.ndarray,
                           breakpoints: Sequence[float] = (0.0,)) -> np.ndarray:
    """Distance of ``x`` to each unit's boundary hyperplane ``{A_k x + c_k = t}``.

    Parameters
    ----------
    A : ndarray (..., U, n)
    c : ndarray (..., U)
    x : ndarray (..., n)
    breakpoints : sequence of float, default (0.0,)
        The activation's breakpoints ``t`` (``(lo, hi)`` for Hardtanh); the nearest counts.

    Returns
    -------
    ndarray (..., U)
        ``min_t |A_k x + c_k - t| / ||A_k||``; ``inf`` for a unit whose row is zero (it is
        constant on the cell and has no boundary there).
    """
    A, c, x = (np.asarray(a, dtype=float) for a in (A, c, x))
    z = np.einsum("...kn,...n->...k", A, x) + c
    gap = np.min([np.abs(z - t) for t in breakpoints], axis=0)
    norm = np.linalg.norm(A, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(norm > 0, gap / norm, np.inf)
