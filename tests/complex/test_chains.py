"""Simplex lookup, boundary matrices and exact ranks.

Oracles: a plain Python column reduction with a dict per column (the previous
implementation) for ranks mod p; dense NumPy ranks for small matrices; the definition
of the boundary written out with Python tuples.
"""
import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from cellgeom.complex.chains import (
    SimplexIndex,
    betti_from_boundaries,
    boundary_matrix,
    rank_mod_p,
)

PRIME = 2_147_483_647


def _reference_rank(B, prime=PRIME):
    """Column reduction by the lowest pivot, one dict per column (pure Python)."""
    B = sp.csc_matrix(B)
    pivots, rank = {}, 0
    for j in range(B.shape[1]):
        s, e = B.indptr[j], B.indptr[j + 1]
        col = {int(r): int(v) % prime for r, v in zip(B.indices[s:e], B.data[s:e])
               if int(v) % prime}
        while col:
            low = max(col)
            other = pivots.get(low)
            if other is None:
                inv = pow(col[low], prime - 2, prime)
                pivots[low] = {r: (v * inv) % prime for r, v in col.items()}
                rank += 1
                break
            f = col[low]
            for r, v in other.items():
                nv = (col.get(r, 0) - f * v) % prime
                if nv:
                    col[r] = nv
                else:
                    col.pop(r, None)
    return rank


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 30), st.integers(1, 30), st.floats(0.05, 0.5), st.integers(0, 10_000))
def test_compiled_rank_equals_python_reduction(rows, cols, density, seed):
    rng = np.random.default_rng(seed)
    A = sp.random(rows, cols, density=density, random_state=seed, format="csc")
    A.data = rng.integers(-3, 4, size=A.nnz).astype(float)
    assert rank_mod_p(A) == _reference_rank(A)
    assert rank_mod_p(A) == np.linalg.matrix_rank(A.toarray())


def _closure(maximal):
    faces = set()
    for s in maximal:
        for k in range(1, len(s) + 1):
            faces.update(itertools.combinations(sorted(s), k))
    top = max(len(f) for f in faces)
    return [np.array(sorted(f for f in faces if len(f) == k), dtype=np.int64).reshape(-1, k)
            for k in range(1, top + 1)]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.integers(0, 9), min_size=1, max_size=5, unique=True),
                min_size=1, max_size=8))
def test_index_boundary_equals_the_definition(maximal):
    """Oracle: B[face, s] = (-1)^i for the face without vertex i, looked up in a dict."""
    simplices = _closure(maximal)
    index = SimplexIndex(simplices)
    for p in range(1, len(simplices)):
        B = index.boundary(p).toarray()
        pos = {tuple(f): i for i, f in enumerate(simplices[p - 1].tolist())}
        want = np.zeros_like(B)
        for j, s in enumerate(simplices[p].tolist()):
            for i in range(p + 1):
                want[pos[tuple(s[:i] + s[i + 1:])], j] = (-1) ** i
        np.testing.assert_array_equal(B, want)
        # the standalone function, faces in another order, gives the rows permuted
        perm = np.random.default_rng(p).permutation(len(simplices[p - 1]))
        np.testing.assert_array_equal(
            boundary_matrix(simplices[p - 1][perm], simplices[p]).toarray(), want[perm])
        got = index.find(p, simplices[p][::-1])
        np.testing.assert_array_equal(got, np.arange(len(simplices[p]))[::-1])
    # ranks with clearing give the same Betti numbers as ranks one matrix at a time
    sizes = [len(s) for s in simplices]
    Bs = [sp.csr_matrix((0, sizes[0]))] + [index.boundary(p) for p in range(1, len(sizes))]
    ranks = [0] + [_reference_rank(B) for B in Bs[1:]] + [0]
    assert betti_from_boundaries(sizes, Bs) == [sizes[p] - ranks[p] - ranks[p + 1]
                                                for p in range(len(sizes))]


def test_missing_faces_and_absent_rows_are_reported():
    simplices = [np.arange(3)[:, None], np.array([[0, 1], [1, 2]]), np.array([[0, 1, 2]])]
    with pytest.raises(ValueError, match="not in the complex"):
        SimplexIndex(simplices).boundary(2)
    index = SimplexIndex(simplices[:2])
    np.testing.assert_array_equal(index.find(1, np.array([[0, 2], [1, 2], [5, 6]])),
                                  [-1, 1, -1])
    with pytest.raises(ValueError, match="not in the complex"):
        boundary_matrix(simplices[1], simplices[2])
