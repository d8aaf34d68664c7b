"""Gram matrices M_p: the Riemannian structure on the chain spaces (THEORY.md s. 3)."""
from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp

from ..core import vector_columns

__all__ = ["gram_matrices", "smallest_eigenvalue", "NotPositiveDefiniteWarning",
           "warn_if_not_positive_definite", "check_metric"]


class NotPositiveDefiniteWarning(UserWarning):
    """The "dihedral" M_1 has a non-positive eigenvalue: it is not an inner product."""


def check_metric(metric) -> None:
    """Raise ValueError unless ``metric`` names a Gram metric ("diagonal", "dihedral")."""
    if metric not in ("diagonal", "dihedral"):
        raise ValueError(f"metric must be 'diagonal' or 'dihedral', got {metric!r}.")


def gram_matrices(partition, simplices, volumes, metric: str = "diagonal"):
    """M_p for every p: diagonal volumes, plus the dihedral coupling on M_1.

    M_0 = diag(vol_n C_i); M_1 = diag(vol_{n-1} F_e); under ``metric="dihedral"``
    also ``M_1[e, e'] = sqrt(vol F_e vol F_e') <n_e, n_e'>`` for edges e, e' that
    share a cell whose facets towards them meet along a hinge, with n_e the unit
    normal of the face of e = (a, b), a < b, pointing from C_a into C_b;
    M_p (p >= 2) = diag(volume of the common piece).
    """
    check_metric(metric)
    grams = [sp.diags(np.asarray(v, dtype=float), format="csr") for v in volumes]
    if metric == "dihedral" and len(simplices) > 1 and len(simplices[1]):
        grams[1] = grams[1] + _dihedral_coupling(partition, simplices[1], volumes[1])
    return grams


def _dihedral_coupling(partition, edges, edge_volumes):
    n = partition.dim
    hinges = partition.hinges
    if len(hinges) == 0:
        return sp.csr_matrix((len(edges), len(edges)))
    m = partition.n_cells
    edge_key = edges[:, 0] * m + edges[:, 1]
    order = np.argsort(edge_key)
    h = hinges[(hinges["neighbor_a"] >= 0) & (hinges["neighbor_b"] >= 0)]
    cell = h["cell"].to_numpy(dtype=np.int64)
    nb_a = h["neighbor_a"].to_numpy(dtype=np.int64)
    nb_b = h["neighbor_b"].to_numpy(dtype=np.int64)

    def edge_index(u, v):
        key = np.minimum(u, v) * m + np.maximum(u, v)
        pos = np.minimum(np.searchsorted(edge_key[order], key), len(order) - 1)
        idx = order[pos]
        return np.where(edge_key[idx] == key, idx, -1)

    e1, e2 = edge_index(cell, nb_a), edge_index(cell, nb_b)
    ok = (e1 >= 0) & (e2 >= 0) & (e1 != e2)
    cell, nb_a, nb_b, e1, e2 = cell[ok], nb_a[ok], nb_b[ok], e1[ok], e2[ok]
    # outward normals of the cell towards each neighbour, from the facets table
    normals = _facet_normal_lookup(partition, n)
    nu_a = np.array([normals[(c, b)] for c, b in zip(cell, nb_a)]).reshape(-1, n)
    nu_b = np.array([normals[(c, b)] for c, b in zip(cell, nb_b)]).reshape(-1, n)
    # orient each as n_e (from the lower-indexed cell to the higher)
    nu_a *= np.where(cell < nb_a, 1.0, -1.0)[:, None]
    nu_b *= np.where(cell < nb_b, 1.0, -1.0)[:, None]
    vals = np.sqrt(edge_volumes[e1] * edge_volumes[e2]) * np.einsum("ij,ij->i", nu_a, nu_b)
    k = len(edges)
    # a pair (e, e') shares exactly one cell; count it once
    lo, hi = np.minimum(e1, e2), np.maximum(e1, e2)
    _, first = np.unique(lo * k + hi, return_index=True)
    lo, hi, vals = lo[first], hi[first], vals[first]
    return sp.csr_matrix((np.concatenate([vals, vals]),
                          (np.concatenate([lo, hi]), np.concatenate([hi, lo]))), shape=(k, k))


def _facet_normal_lookup(partition, n):
    f = partition.facets
    f = f[f["neighbor"] >= 0]
    normals = f[vector_columns("normal", n)].to_numpy()
    return {(int(c), int(b)): normals[i]
            for i, (c, b) in enumerate(zip(f["cell"].to_numpy(), f["neighbor"].to_numpy()))}


def smallest_eigenvalue(M: sp.spmatrix) -> float:
    """Smallest eigenvalue of a symmetric sparse matrix (dense below 2000 rows)."""
    k = M.shape[0]
    if k == 0:
        return float("nan")
    coo = M.tocoo()
    if np.all(coo.row == coo.col):  # diagonal (metric "diagonal"): no eigensolver needed
        return float(M.diagonal().min())
    if k <= 2000:
        return float(np.linalg.eigvalsh(M.toarray())[0])
    from scipy.sparse.linalg import eigsh

    start = np.random.default_rng(0).uniform(-1.0, 1.0, k)  # reproducible, unlike ARPACK's
    return float(eigsh(M.tocsc(), k=1, which="SA", v0=start, return_eigenvectors=False)[0])


def warn_if_not_positive_definite(lam: float, tol: float) -> None:
    if lam <= tol:
        warnings.warn(
            f'the "dihedral" Gram matrix M_1 is not positive definite (smallest eigenvalue '
            f"{lam:.3g}); it is not an inner product on 1-chains. Use metric=\"diagonal\" for "
            "Laplacians that need one.",
            NotPositiveDefiniteWarning,
            stacklevel=3,
        )
