"""Compiled gathering of the facets between the cells around a face.

Kept in its own file with everything it calls: numba's disk cache checks a kernel
against its own source file only.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["star_facet_rows"]


@njit(cache=True)
def _has(a, lo, hi, x):  # pragma: no cover - compiled
    """Whether ``x`` is in the sorted ``a[lo:hi]`` (binary search)."""
    end = hi
    while lo < hi:
        mid = (lo + hi) // 2
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo < end and a[lo] == x


@njit(cache=True)
def star_facet_rows(sptr, sids, fptr, fnbr, frow):  # pragma: no cover - compiled
    """Per star (CSR ``sptr``/``sids``, sorted cell ids): the facet rows between two of
    its cells, one per pair of cells: the lower cell's row towards the higher, or the
    higher one's where the lower lists none.

    ``fptr``/``fnbr``/``frow``: per cell (CSR) the cells across its facets, sorted, and
    the facet row of each. Returns the CSR ``(ptr, rows)``.
    """
    k = sptr.size - 1
    ptr = np.zeros(k + 1, np.int64)
    out = np.empty(max(16, 4 * k), np.int64)
    used = 0
    for r in range(k):
        s, e = sptr[r], sptr[r + 1]
        for i in range(s, e):
            c = sids[i]
            for t in range(fptr[c], fptr[c + 1]):
                d = fnbr[t]
                if d < 0 or d == c:
                    continue
                if d > sids[e - 1] or d < sids[s] or not _has(sids, s, e, d):
                    continue
                if d < c and _has(fnbr, fptr[d], fptr[d + 1], c):
                    continue  # the lower cell's row names this pair
                if used == out.size:
                    grown = np.empty(2 * out.size, np.int64)
                    grown[:used] = out[:used]
                    out = grown
                out[used] = frow[t]
                used += 1
        ptr[r + 1] = used
    return ptr, out[:used].copy()
