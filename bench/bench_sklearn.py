"""scikit-learn adapters: tree adjacency by sweep vs all pairs; a 100-tree forest in 30-D.

The all-pairs reference is what one writes without a sweep: for each leaf box,
test every later box at once (NumPy-vectorised over the partner), O(m^2 n).
"""
from __future__ import annotations

import numpy as np
from _measure import measure
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree import DecisionTreeRegressor

import cellgeom
from cellgeom.geometry.boxes import box_adjacency


def _tree_boxes(n_leaves: int, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.random((4 * n_leaves, n))
    m = DecisionTreeRegressor(max_leaf_nodes=n_leaves, random_state=seed).fit(X, rng.random(len(X)))
    part = cellgeom.partition(m, domain=cellgeom.Box(np.zeros(n), np.ones(n)), cells="all",
                              progress=False)
    return part.lo, part.hi


def _all_pairs(lo, hi):
    pairs = []
    m = lo.shape[0]
    for a in range(m - 1):
        ov = np.minimum(hi[a], hi[a + 1:]) - np.maximum(lo[a], lo[a + 1:])
        touch = (hi[a] == lo[a + 1:]) | (lo[a] == hi[a + 1:])
        pos = ov > 0
        # a face: touching on exactly one axis, positive overlap on all others
        ok = (touch.sum(1) == 1) & ((pos | touch).all(1))
        pairs.append(np.column_stack([np.full(ok.sum(), a), a + 1 + np.flatnonzero(ok)]))
    return np.vstack(pairs)


def _sweep(lo, hi):
    a, b, *_ = box_adjacency(lo, hi)
    return np.sort(np.column_stack([a, b]), axis=1)


def _forest_partition_and_complex(model, X):
    part = cellgeom.partition(model, data=X, progress=False)
    _ = part.faces
    cx = cellgeom.build_complex(part)
    return part, cx


def run(quick: bool = False) -> list[dict]:
    rows = []
    n_leaves, n = (2_000, 8) if quick else (10_000, 8)
    lo, hi = _tree_boxes(n_leaves, n)
    ours, t_ours, mb_ours = measure(_sweep, lo, hi, repeat=3)
    ref, t_ref, mb_ref = measure(_all_pairs, lo, hi)
    key = lambda p: set(map(tuple, np.sort(p, axis=1).tolist()))  # noqa: E731
    assert key(ours) == key(ref)
    rows.append(dict(
        benchmark=f"tree leaf adjacency, {n}-D", size=f"{lo.shape[0]} leaves, {len(ours)} faces",
        cellgeom_s=t_ours, reference="all pairs (NumPy, one row at a time)", reference_s=t_ref,
        cellgeom_mb=mb_ours, reference_mb=mb_ref,
        notes=f"speed-up {t_ref / t_ours:.0f}x (target >= 20x); identical face sets"))
    X, y = load_breast_cancer(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=20 if quick else 100, random_state=0).fit(X, y)
    (part, cx), t_f, mb_f = measure(_forest_partition_and_complex, forest, X)
    _, t_apply, mb_apply = measure(forest.apply, X, repeat=3)
    rows.append(dict(
        benchmark=f"random forest ({forest.n_estimators} trees) on load_breast_cancer, 30-D",
        size=f"{len(X)} points, {part.n_cells} data cells, {len(part.faces)} faces, "
             f"{cx.n_simplices(1)} edges",
        cellgeom_s=t_f, reference="forest.apply alone (leaf tuples, no geometry)",
        reference_s=t_apply, cellgeom_mb=mb_f, reference_mb=mb_apply,
        notes="cells=\"data\": boxes, faces, predictions and facet-rule complex"))
    return rows
