"""Independent invariants of a full polytope partition, shared by the degeneracy tests.

Each check reads only the partition's tables and the model's own key function, so it
holds whatever route built the cells:

* volumes sum to the domain box;
* each sample point lies in exactly one cell (by the cell's inequalities, away from the
  boundaries by more than the tolerance) and that cell's key is the model's own key of
  the point;
* Minkowski closure of every cell;
* every interior face is seen from both sides with the same (n-1)-volume.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np


def violations(part, X, model_keys, rel: float = 1e-7) -> list[str]:
    """All invariant violations of a full partition (empty list when it is right)."""
    out = []
    dom = part.domain
    total = part.volumes.sum()
    if not abs(total / dom.volume - 1) <= rel:
        out.append(f"volumes sum to {total / dom.volume:.12g} of the domain")
    res = part.minkowski_residuals()
    if res.size and not res.max() <= 1e3 * rel:
        out.append(f"Minkowski residual {res.max():.3g}")
    out += asymmetric_faces(part, rel)
    out += misplaced_points(part, X, model_keys)
    return out


def asymmetric_faces(part, rel: float = 1e-7) -> list[str]:
    """Interior faces whose area from cell a differs from the area seen from cell b."""
    f = part.facets[part.facets["neighbor"] >= 0]
    area = defaultdict(float)
    for a, b, v in zip(f["cell"], f["neighbor"], f["volume"]):
        area[(int(a), int(b))] += float(v)
    scale = part.domain.scale ** (part.dim - 1)
    bad = []
    for (a, b), v in area.items():
        w = area.get((b, a))
        if w is None:
            if v > rel * scale:
                bad.append(f"face {a}->{b} of area {v:.3g} has no mirror")
        elif abs(v - w) > rel * max(v, w) + rel * scale:
            bad.append(f"face {a}->{b}: area {v:.12g} from one side, {w:.12g} from the other")
    return bad


def misplaced_points(part, X, model_keys) -> list[str]:
    """Points not in exactly one cell by the inequalities, located in no cell, or in a cell
    whose key is not the model's own key of the point.

    Points within a margin of a facet are not judged: 1e-6 of the domain's scale, plus the
    float64 step of the domain's coordinates (far from the origin the model's own
    arithmetic and the stored offsets are rounded to it). At least half of the points
    must be judged, so the check is never vacuous.
    """
    keys = np.asarray(model_keys(X)).astype(str)
    cell = part.locate(X)
    margin = 1e-6 * part.domain.scale + 64 * np.spacing(np.abs(part.domain.center).max())
    inside = np.zeros((X.shape[0], part.n_cells), dtype=bool)
    near = np.zeros(X.shape[0], dtype=bool)
    for i in range(part.n_cells):
        A, b = part.halfspaces(i)
        s = (A @ (X - part.domain.center).T).T - (b - A @ part.domain.center)
        inside[:, i] = np.all(s <= -margin, axis=1)
        near |= np.all(s <= margin, axis=1) & ~inside[:, i]
    judged = ~near
    bad = []
    if judged.mean() < 0.5:
        bad.append(f"only {judged.sum()} of {len(X)} points farther than {margin:.2g} from "
                   "every facet")
    lost = np.flatnonzero(judged & (cell < 0))
    if lost.size:
        bad.append(f"{lost.size} points located in no cell (e.g. key {keys[lost[0]]})")
    ok = judged & (cell >= 0)
    wrong = np.flatnonzero(ok & (np.asarray(part.keys, dtype=object)[np.maximum(cell, 0)]
                                 != keys))
    if wrong.size:
        bad.append(f"{wrong.size} points in a cell whose key is not the model's")
    count = inside.sum(axis=1)
    if np.any(count[judged] != 1):
        k = int(np.sum(count[judged] != 1))
        bad.append(f"{k} points inside {sorted(set(count[judged].tolist()))} cells, not 1")
    geo = np.where(count == 1, inside.argmax(axis=1), -1)
    clash = ok & (count == 1) & (geo != cell)
    if clash.any():
        bad.append(f"{int(clash.sum())} points located in another cell than the one holding "
                   "them")
    return bad
