"""Compiled loops of the complex: exact ranks of boundary matrices and the dual-rule tests.

numba (cached on disk) compiles them; each works on flat CSR/CSC arrays, never on
Python objects, so the cost is that of the arithmetic.
"""
from __future__ import annotations

import numpy as np
from numba import njit

#: a large prime: ranks mod p equal ranks over Q unless p divides a torsion
#: coefficient of the complex's homology, which a prime this size never does here
PRIME = 2_147_483_647


@njit(cache=True)
def _inverse_mod(a, prime):
    # Fermat: a^(p-2) mod p, by squaring (all products < 2^62)
    result = 1
    base = a % prime
    e = prime - 2
    while e > 0:
        if e & 1:
            result = (result * base) % prime
        base = (base * base) % prime
        e >>= 1
    return result


@njit(cache=True)
def reduce_rank(indptr, indices, data, n_rows, skip, prime):
    """Rank of a sparse integer matrix mod ``prime`` by column reduction (lowest pivot).

    ``indptr, indices, data``: CSC arrays with sorted row indices per column.
    ``skip[j]``: column j is known to reduce to zero (clearing: a row that is a
    pivot of the next boundary matrix) and is not reduced. Reduced pivot columns are
    kept normalised (pivot entry 1) in an append-only pool.

    Returns
    -------
    rank : int
    is_pivot : bool array (n_rows,)
        The rows that are the pivot (lowest entry) of a reduced column.
    """
    n_cols = indptr.size - 1
    pivot_of_row = np.full(n_rows, -1, np.int64)
    cap = max(16, 2 * (indptr[-1] + 1))
    pool_rows = np.empty(cap, np.int64)
    pool_vals = np.empty(cap, np.int64)
    pool_start = np.empty(n_cols, np.int64)
    pool_len = np.empty(n_cols, np.int64)
    used = 0
    n_piv = 0
    for j in range(n_cols):
        if skip[j]:
            continue
        s, e = indptr[j], indptr[j + 1]
        cur_r = np.empty(e - s, np.int64)
        cur_v = np.empty(e - s, np.int64)
        k = 0
        for t in range(s, e):
            v = data[t] % prime
            if v != 0:
                cur_r[k] = indices[t]
                cur_v[k] = v
                k += 1
        cur_r = cur_r[:k]
        cur_v = cur_v[:k]
        while cur_r.size > 0:
            low = cur_r[-1]
            piv = pivot_of_row[low]
            if piv < 0:
                inv = _inverse_mod(cur_v[-1], prime)
                size = cur_r.size
                if used + size > cap:
                    while used + size > cap:
                        cap *= 2
                    new_r = np.empty(cap, np.int64)
                    new_v = np.empty(cap, np.int64)
                    new_r[:used] = pool_rows[:used]
                    new_v[:used] = pool_vals[:used]
                    pool_rows, pool_vals = new_r, new_v
                for t in range(size):
                    pool_rows[used + t] = cur_r[t]
                    pool_vals[used + t] = (cur_v[t] * inv) % prime
                pool_start[n_piv] = used
                pool_len[n_piv] = size
                used += size
                pivot_of_row[low] = n_piv
                n_piv += 1
                break
            # cur -= factor * pivot column (both sorted by row): a merge
            factor = cur_v[-1]
            ps, pl = pool_start[piv], pool_len[piv]
            out_r = np.empty(cur_r.size + pl, np.int64)
            out_v = np.empty(cur_r.size + pl, np.int64)
            a = 0
            b = 0
            k = 0
            while a < cur_r.size or b < pl:
                if b >= pl or (a < cur_r.size and cur_r[a] < pool_rows[ps + b]):
                    out_r[k] = cur_r[a]
                    out_v[k] = cur_v[a]
                    a += 1
                    k += 1
                elif a >= cur_r.size or pool_rows[ps + b] < cur_r[a]:
                    out_r[k] = pool_rows[ps + b]
                    out_v[k] = (prime - (factor * pool_vals[ps + b]) % prime) % prime
                    b += 1
                    k += 1
                else:
                    v = (cur_v[a] - (factor * pool_vals[ps + b]) % prime) % prime
                    if v != 0:
                        out_r[k] = cur_r[a]
                        out_v[k] = v
                        k += 1
                    a += 1
                    b += 1
            cur_r = out_r[:k]
            cur_v = out_v[:k]
    is_pivot = pivot_of_row >= 0
    return n_piv, is_pivot


@njit(cache=True)
def _find(parent, x):
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:  # path compression
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root


@njit(cache=True)
def graph_rank(n_vertices, a, b):
    """rank B_1 = n_vertices - (connected components) by union-find, and the pivot rows
    are not needed below dimension 1. Over any field."""
    parent = np.arange(n_vertices)
    rank = 0
    for e in range(a.size):
        ra, rb = _find(parent, a[e]), _find(parent, b[e])
        if ra != rb:
            if ra < rb:
                parent[rb] = ra
            else:
                parent[ra] = rb
            rank += 1
    return rank
