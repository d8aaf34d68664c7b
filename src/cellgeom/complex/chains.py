"""Simplex lookup by integer keys, boundary matrices, Euler characteristic, exact Betti numbers.

Simplices of each dimension are sorted vertex tuples in lexicographic order. A p-simplex
has the integer key ``index(prefix) * n_vertices + last vertex``, with ``prefix`` its
first p vertices (a (p-1)-simplex of the complex, since the complex is closed under
faces); keys are then sorted like the rows, so any row is found by a
:func:`numpy.searchsorted` per dimension, with no byte strings and no hashing.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._kernels import PRIME, graph_rank, reduce_rank

__all__ = ["SimplexIndex", "boundary_matrix", "rank_mod_p", "betti_from_boundaries",
           "betti_numbers"]


class SimplexIndex:
    """Positions of vertex tuples among a complex's simplices, by integer keys.

    Parameters
    ----------
    simplices : list of int arrays, ``simplices[p]`` of shape (n_p, p+1)
        Lexicographically sorted rows; ``simplices[0]`` the vertices 0..n_0-1.
    """

    def __init__(self, simplices):
        ids = np.asarray(simplices[0], dtype=np.int64).reshape(-1) if len(simplices) else \
            np.zeros(0, dtype=np.int64)
        #: the key multiplier: above every vertex id (ids are 0..n_0-1 for a partition)
        self.n_vertices = int(ids.max()) + 1 if ids.size else 0
        self._identity = bool(np.array_equal(ids, np.arange(ids.size)))
        self.simplices = []
        self._keys: list[np.ndarray] = []
        self._order: list[np.ndarray | None] = []
        self._faces: list[np.ndarray | None] = []
        for s in simplices:
            self.add(s)

    def add(self, s: np.ndarray, faces: np.ndarray | None = None) -> None:
        """Append the next dimension's simplices (every facet already indexed).

        ``faces``: optional (n_p, p+1) indices of each simplex's facets among the
        (p-1)-simplices, column i the facet without vertex i, when the caller found them
        already (the clique extension does): then nothing is looked up again.
        """
        p = len(self.simplices)
        self.simplices.append(s)
        if p == 0:
            keys = np.asarray(s, dtype=np.int64).reshape(-1)
        elif faces is not None:  # the facet without the last vertex is the prefix
            faces = np.asarray(faces, dtype=np.int64).reshape(len(s), p + 1)
            keys = faces[:, p] * self.n_vertices + np.asarray(s, dtype=np.int64)[:, -1]
        else:
            keys = self._prefix_key(p, np.asarray(s, dtype=np.int64))
            if np.any(keys < 0):
                bad = s[int(np.flatnonzero(keys < 0)[0])]
                raise ValueError(f"simplex {bad.tolist()} has a face that is not in the "
                                 "complex")
        order = None
        if keys.size > 1 and np.any(keys[1:] <= keys[:-1]):
            order = np.argsort(keys, kind="stable")  # rows not in lexicographic order
            if np.any(np.diff(keys[order]) == 0):
                raise ValueError(f"the {p}-simplices contain a repeated row")
        self._keys.append(keys)
        self._order.append(order)
        self._faces.append(faces if p > 0 else None)

    def sorted_keys(self, p: int) -> np.ndarray:
        """The keys of the p-simplices in increasing order (the row order when the rows
        are lexicographic)."""
        keys, order = self._keys[p], self._order[p]
        return keys if order is None else keys[order]

    def faces(self, p: int) -> np.ndarray:
        """(n_p, p+1) indices of the facets of each p-simplex, column i the facet without
        vertex i (found once, by lookups when not given to :meth:`add`)."""
        if self._faces[p] is None:
            simp = np.asarray(self.simplices[p], dtype=np.int64)
            idx = np.empty((len(simp), p + 1), dtype=np.int64)
            for i in range(p + 1):
                idx[:, i] = self.find(p - 1, np.delete(simp, i, axis=1))
            if np.any(idx < 0):
                bad = simp[int(np.flatnonzero((idx < 0).any(axis=1))[0])]
                raise ValueError(f"simplex {bad.tolist()} has a face that is not in the "
                                 "complex")
            self._faces[p] = idx
        return self._faces[p]

    def _prefix_key(self, p, rows):
        pre = self.find(p - 1, rows[:, :-1])
        return np.where(pre >= 0, pre * self.n_vertices + rows[:, -1], -1)

    def find(self, p: int, rows: np.ndarray) -> np.ndarray:
        """Index of each row (shape (k, p+1)) among the p-simplices, -1 where absent."""
        rows = np.asarray(rows, dtype=np.int64)
        if p == 0:
            v = rows[:, 0]
            if self._identity:
                return np.where((v >= 0) & (v < self.n_vertices), v, -1)
        if p >= len(self._keys) or len(self._keys[p]) == 0:
            return np.full(len(rows), -1, dtype=np.int64)
        key = rows[:, 0] if p == 0 else self._prefix_key(p, rows)
        keys, order = self._keys[p], self._order[p]
        sorted_keys = keys if order is None else keys[order]
        pos = np.minimum(np.searchsorted(sorted_keys, key), len(keys) - 1)
        hit = (sorted_keys[pos] == key) & (key >= 0)
        idx = pos if order is None else order[pos]
        return np.where(hit, idx, -1)

    def boundary(self, p: int) -> sp.csr_matrix:
        """B_p (rows (p-1)-simplices, columns p-simplices), entries (-1)^i for the face
        without vertex i."""
        return self.boundary_pair(p)[0]

    def boundary_pair(self, p: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """``(B_p, B_p^T)``, both in CSR form: the transpose comes free from the
        column-wise construction, so no product ever converts a transpose."""
        n_rows = len(self.simplices[p - 1]) if p >= 1 else 0
        simp = np.asarray(self.simplices[p], dtype=np.int64) if p < len(self.simplices) else \
            np.zeros((0, p + 1), dtype=np.int64)
        n = len(simp)
        if p == 0 or n == 0:
            return sp.csr_matrix((n_rows, n)), sp.csr_matrix((n, n_rows))
        width = p + 1
        # the face without vertex i, for i = p..0, comes in increasing lexicographic order
        idx = np.ascontiguousarray(self.faces(p)[:, ::-1])
        val = np.array([-1.0 if i % 2 else 1.0 for i in range(p, -1, -1)])
        if self._order[p - 1] is not None:  # faces not in lexicographic order: sort per column
            srt = np.argsort(idx, axis=1)
            idx = np.take_along_axis(idx, srt, axis=1)
            data = np.broadcast_to(val, (n, width))[np.arange(n)[:, None], srt].ravel()
        else:
            data = np.tile(val, n)
        indptr = np.arange(0, n * width + 1, width)
        BT = sp.csr_matrix((data, idx.ravel(), indptr), shape=(n, n_rows))
        return BT.T.tocsr(), BT


def boundary_matrix(faces: np.ndarray, simplices: np.ndarray) -> sp.csr_matrix:
    """Boundary operator B_p from p-chains to (p-1)-chains.

    ``B[face, simplex] = (-1)^i`` where ``face`` is ``simplex`` without its i-th
    vertex (vertices sorted). Faces are found by a sorted lookup of integer row
    ranks, never by an all-pairs search; ``faces`` may be in any order.
    :meth:`SimplexIndex.boundary` is the fast path for a whole complex.

    Parameters
    ----------
    faces : int array (n_{p-1}, p)
    simplices : int array (n_p, p+1)
    """
    faces = np.asarray(faces, dtype=np.int64)
    simplices = np.asarray(simplices, dtype=np.int64)
    n_faces, n_simp = len(faces), len(simplices)
    width = simplices.shape[1] if simplices.ndim == 2 else 0
    if n_simp == 0 or width < 2:
        return sp.csr_matrix((n_faces, n_simp))
    subs = [np.delete(simplices, i, axis=1) for i in range(width)]
    keys = _row_ranks(np.vstack([faces.reshape(-1, width - 1)] + subs))
    face_keys, sub_keys = keys[:n_faces], keys[n_faces:].reshape(width, n_simp)
    order = np.argsort(face_keys)
    sorted_keys = face_keys[order]
    pos = np.minimum(np.searchsorted(sorted_keys, sub_keys), max(n_faces - 1, 0))
    found = sorted_keys[pos] == sub_keys if n_faces else np.zeros_like(sub_keys, dtype=bool)
    if not np.all(found):
        bad = simplices[int(np.flatnonzero(~found.all(axis=0))[0])]
        raise ValueError(f"simplex {bad.tolist()} has a face that is not in the complex")
    rows = order[pos]
    vals = np.where(np.arange(width) % 2, -1.0, 1.0)
    return sp.csr_matrix((np.repeat(vals, n_simp), (rows.ravel(), np.tile(np.arange(n_simp),
                                                                           width))),
                         shape=(n_faces, n_simp))


def _row_ranks(rows: np.ndarray) -> np.ndarray:
    """Lexicographic rank of each row among the distinct rows (equal rows, equal ranks),
    built column by column so no key overflows."""
    key = np.zeros(len(rows), dtype=np.int64)
    for j in range(rows.shape[1]):
        pair = np.column_stack([key, rows[:, j]])
        _, key = np.unique(pair, axis=0, return_inverse=True)
        key = key.ravel().astype(np.int64)
    return key


def rank_mod_p(B: sp.spmatrix, prime: int = PRIME) -> int:
    """Exact rank of an integer matrix modulo a large prime (compiled column reduction).

    Boundary matrices have entries in {-1, 0, 1}; reducing columns by their
    lowest pivot (as in persistent homology) keeps them sparse.
    """
    B = sp.csc_matrix(B)
    B.sort_indices()
    rank, _ = reduce_rank(B.indptr.astype(np.int64), B.indices.astype(np.int64),
                          np.rint(B.data).astype(np.int64), B.shape[0],
                          np.zeros(B.shape[1], dtype=np.bool_), prime)
    return int(rank)


def betti_from_boundaries(sizes: list[int], boundaries: list[sp.spmatrix]) -> list[int]:
    """b_p = n_p - rank B_p - rank B_{p+1}, with ``boundaries[p] = B_p`` (B_0 = 0).

    Ranks from the top dimension down, with clearing: a p-simplex that is the pivot
    of a reduced column of B_{p+1} has a column of B_p that reduces to zero, so it is
    skipped.
    """
    top = len(sizes) - 1
    ranks = [0] * (top + 2)
    skip = None
    for p in range(top, 0, -1):
        B = sp.csc_matrix(boundaries[p])
        B.eliminate_zeros()
        if p == 1 and B.nnz and np.all(np.diff(B.indptr) == 2):
            # B_1 of a simplicial complex: rank = vertices - components (union-find)
            coo = B.tocoo()
            col_order = np.lexsort((coo.row, coo.col))
            rows = coo.row[col_order].reshape(-1, 2)
            ranks[1] = int(graph_rank(B.shape[0], rows[:, 0].astype(np.int64),
                                      rows[:, 1].astype(np.int64)))
            break
        B.sort_indices()
        if skip is None or skip.size != B.shape[1]:
            skip = np.zeros(B.shape[1], dtype=np.bool_)
        rank, is_pivot = reduce_rank(B.indptr.astype(np.int64), B.indices.astype(np.int64),
                                     np.rint(B.data).astype(np.int64), B.shape[0], skip, PRIME)
        ranks[p] = int(rank)
        skip = is_pivot
    return [int(sizes[p] - ranks[p] - ranks[p + 1]) for p in range(top + 1)]


def betti_numbers(index: SimplexIndex, boundary) -> list[int]:
    """Betti numbers of a complex from its index and a ``boundary(p)`` accessor."""
    sizes = [len(s) for s in index.simplices]
    return betti_from_boundaries(sizes, [boundary(p) for p in range(len(sizes))])
