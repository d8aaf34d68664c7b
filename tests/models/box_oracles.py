"""Independent oracles for box partitions, shared by the tree and booster tests."""
from __future__ import annotations

import numpy as np


def all_pairs_faces(lo, hi) -> dict[tuple[int, int], float]:
    """Every pair of boxes tested directly; face volume = product of the other overlaps."""
    out = {}
    m, n = lo.shape
    for a in range(m):
        for b in range(a + 1, m):
            ov = np.minimum(hi[a], hi[b]) - np.maximum(lo[a], lo[b])
            touch = [f for f in range(n) if hi[a, f] == lo[b, f] or hi[b, f] == lo[a, f]]
            for f in touch:
                rest = np.delete(ov, f)
                if np.all(rest > 0):
                    out[(a, b)] = float(np.prod(rest))
    return out


def faces_by_pair(part) -> dict[tuple[int, int], float]:
    """The partition's interior faces as ``{(cell_a, cell_b): volume}``."""
    f = part.faces
    f = f[f["cell_b"] >= 0]
    return {(int(a), int(b)): float(v) for a, b, v in zip(f["cell_a"], f["cell_b"], f["volume"])}


def upper_closed_box_of(part, X) -> np.ndarray:
    """Cell whose box holds x with ``lo < x <= hi`` (or x on the domain's lower face), as
    LightGBM and HistGradientBoosting compare; -1 when none. Asserts no point is in two
    boxes."""
    out = np.full(len(X), -1, dtype=np.int64)
    dlo = part.domain.lo
    for s in range(0, len(X), 200):
        x = X[s:s + 200, None, :]
        above = (part.lo[None] < x) | ((part.lo[None] == x) & (x == dlo))
        inside = np.all(above & (x <= part.hi[None]), axis=2)
        assert inside.sum(axis=1).max() <= 1
        out[s:s + 200] = np.where(inside.any(axis=1), inside.argmax(axis=1), -1)
    return out
