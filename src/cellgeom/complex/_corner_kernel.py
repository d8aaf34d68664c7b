"""Compiled join for the pairs of boxes that meet at a corner (two axes end to end).

Kept in its own file with everything it calls: numba's disk cache checks a kernel
against its own source file only.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def corner_pair_candidates(rlo, rhi, size, lo, hi):  # pragma: no cover - compiled
    """Pairs (min, max) of boxes that meet end to end on two axes f, g and overlap or
    touch on the others (with repeats; see :func:`cellgeom.complex.dual._corner_pairs`).

    For each (f, g, side) the boxes are sorted by the key of their lower side, (rank of
    lo_f, rank of lo_g or hi_g), and every box looks up its upper side's key (rank of
    hi_f, rank of hi_g or lo_g) by binary search: an exact join on two coordinates.
    """
    m, n = lo.shape
    out_a = np.empty(1024, np.int64)
    out_c = np.empty(1024, np.int64)
    used = 0
    ka = np.empty(m, np.int64)
    kc = np.empty(m, np.int64)
    for f in range(n):
        for g in range(n):
            if g == f:
                continue
            for side in (0, 1):  # c above a on g too, or below it
                if side == 1 and g < f:
                    continue  # (a below c on f, c below a on g) is (c, a), f and g swapped
                for i in range(m):
                    ka[i] = rhi[i, f] * size[g] + (rhi[i, g] if side == 0 else rlo[i, g])
                    kc[i] = rlo[i, f] * size[g] + (rlo[i, g] if side == 0 else rhi[i, g])
                order = np.argsort(kc)
                sk = kc[order]
                for i in range(m):
                    q = np.searchsorted(sk, ka[i])
                    while q < m and sk[q] == ka[i]:
                        c = order[q]
                        q += 1
                        ok = True
                        for h in range(n):
                            if h != f and h != g and \
                                    max(lo[i, h], lo[c, h]) > min(hi[i, h], hi[c, h]):
                                ok = False
                                break
                        if not ok:
                            continue
                        if used == out_a.size:  # full: double, the rows kept
                            out_a = np.concatenate((out_a, np.empty(used, np.int64)))
                            out_c = np.concatenate((out_c, np.empty(used, np.int64)))
                        out_a[used] = min(i, c)
                        out_c[used] = max(i, c)
                        used += 1
    return out_a[:used], out_c[:used]
