"""Boundary matrices, Euler characteristic and exact Betti numbers."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["boundary_matrix", "rank_mod_p", "betti_from_boundaries"]

#: a large prime: ranks mod p equal ranks over Q unless p divides a torsion
#: coefficient of the complex's homology, which a prime this size never does here
_PRIME = 2_147_483_647


def boundary_matrix(faces: np.ndarray, simplices: np.ndarray) -> sp.csr_matrix:
    """Boundary operator B_p from p-chains to (p-1)-chains.

    ``B[face, simplex] = (-1)^i`` where ``face`` is ``simplex`` without its i-th
    vertex (vertices sorted). Faces are found by hashing rows, never by an
    all-pairs search.

    Parameters
    ----------
    faces : int array (n_{p-1}, p)
    simplices : int array (n_p, p+1)
    """
    n_faces, n_simp = len(faces), len(simplices)
    width = simplices.shape[1] if simplices.ndim == 2 else 0
    if n_simp == 0 or width < 2:
        return sp.csr_matrix((n_faces, n_simp))
    face_keys = _row_keys(np.ascontiguousarray(faces, dtype=np.int64))
    order = np.argsort(face_keys)
    sorted_keys = face_keys[order]
    rows, cols, vals = [], [], []
    col_idx = np.arange(n_simp)
    for i in range(width):
        sub = np.ascontiguousarray(np.delete(simplices, i, axis=1), dtype=np.int64)
        keys = _row_keys(sub)
        pos = np.searchsorted(sorted_keys, keys)
        pos = np.minimum(pos, n_faces - 1)
        found = sorted_keys[pos] == keys
        if not np.all(found):
            bad = simplices[np.flatnonzero(~found)[0]]
            raise ValueError(f"simplex {bad.tolist()} has a face that is not in the complex")
        rows.append(order[pos])
        cols.append(col_idx)
        vals.append(np.full(n_simp, -1.0 if i % 2 else 1.0))
    B = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(n_faces, n_simp))
    return B


def _row_keys(rows: np.ndarray) -> np.ndarray:
    """One hashable, sortable key per row (raw bytes)."""
    return rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()


def rank_mod_p(B: sp.spmatrix, prime: int = _PRIME) -> int:
    """Exact rank of an integer matrix modulo a large prime (column reduction).

    Boundary matrices have entries in {-1, 0, 1}; reducing columns by their
    lowest pivot (as in persistent homology) keeps them sparse.
    """
    B = sp.csc_matrix(B)
    pivots: dict[int, dict[int, int]] = {}
    rank = 0
    for j in range(B.shape[1]):
        start, end = B.indptr[j], B.indptr[j + 1]
        col = {int(r): int(v) % prime for r, v in zip(B.indices[start:end], B.data[start:end])
               if int(v) % prime}
        while col:
            low = max(col)
            other = pivots.get(low)
            if other is None:
                # normalise so the pivot is 1
                inv = pow(col[low], prime - 2, prime)
                pivots[low] = {r: (v * inv) % prime for r, v in col.items()}
                rank += 1
                break
            factor = col[low]
            for r, v in other.items():
                nv = (col.get(r, 0) - factor * v) % prime
                if nv:
                    col[r] = nv
                else:
                    col.pop(r, None)
    return rank


def betti_from_boundaries(sizes: list[int], boundaries: list[sp.spmatrix]) -> list[int]:
    """b_p = n_p - rank B_p - rank B_{p+1}, with ``boundaries[p] = B_p`` (B_0 = 0)."""
    ranks = [0] + [rank_mod_p(B) for B in boundaries[1:]] + [0]
    return [int(sizes[p] - ranks[p] - ranks[p + 1]) for p in range(len(sizes))]
