"""Compiled per-segment sums, rounded as NumPy's own ``np.add.reduce`` rounds each segment.

Kept in its own file with everything it calls: numba's disk cache checks a kernel
against its own source file only.
"""
from __future__ import annotations

import numpy as np
from numba import njit

#: NumPy's block size for its pairwise summation (``PW_BLOCKSIZE``)
_BLOCK = 128


@njit(cache=True)
def _pairwise(a, lo, n):  # pragma: no cover - compiled
    """NumPy's ``pairwise_sum`` of ``a[lo:lo + n]``: a plain loop below 8 terms, eight
    running sums up to 128, halves above (split at a multiple of 8)."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    if n <= _BLOCK:
        r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
        r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
        i = 8
        while i < n - (n % 8):
            r0 += a[lo + i]
            r1 += a[lo + i + 1]
            r2 += a[lo + i + 2]
            r3 += a[lo + i + 3]
            r4 += a[lo + i + 4]
            r5 += a[lo + i + 5]
            r6 += a[lo + i + 6]
            r7 += a[lo + i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += a[lo + i]
            i += 1
        return res
    half = n // 2
    half -= half % 8
    return _pairwise(a, lo, half) + _pairwise(a, lo + half, n - half)


@njit(cache=True)
def segment_sums(values, starts, counts):  # pragma: no cover - compiled
    """``values[starts[g]:starts[g] + counts[g]].sum()`` for every segment g, rounded as
    NumPy sums a contiguous 1-D array (its pairwise sum); 0 if empty."""
    out = np.zeros(starts.size)
    for g in range(starts.size):
        out[g] = _pairwise(values, starts[g], counts[g])
    return out
