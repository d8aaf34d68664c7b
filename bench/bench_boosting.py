"""Boosting libraries: the data cells, faces and complex of a LightGBM model.

A 500-tree LightGBM classifier on 20,000 synthetic points in 10-D
(``make_classification``, fixed seed). cellgeom's side is
``cellgeom.partition(model, data=X, cells="data")`` (which itself calls LightGBM's
leaf prediction once for the data), its faces and its complex; the reference is
LightGBM's own ``predict(X, pred_leaf=True)`` on the same points, measured in the
same run. Target: within 20x of the reference.
"""
from __future__ import annotations

import time

from _measure import measure
from sklearn.datasets import make_classification

import cellgeom


def _model(n_trees: int, n_points: int, seed: int = 0):
    import lightgbm as lgb

    X, y = make_classification(n_samples=n_points, n_features=10, n_informative=6,
                               random_state=seed)
    model = lgb.LGBMClassifier(n_estimators=n_trees, num_leaves=15, learning_rate=0.05,
                               random_state=seed, verbose=-1).fit(X, y)
    return model, X


def _partition_faces_complex(model, X):
    part = cellgeom.partition(model, data=X, cells="data", progress=False)
    faces = part.faces
    cx = cellgeom.build_complex(part)
    return part, faces, cx


def _timed_steps(model, X) -> str:
    """Where the time goes: partition, faces, complex, each timed once."""
    t0 = time.perf_counter()
    part = cellgeom.partition(model, data=X, cells="data", progress=False)
    t1 = time.perf_counter()
    _ = part.faces
    t2 = time.perf_counter()
    cellgeom.build_complex(part)
    t3 = time.perf_counter()
    return f"partition {t1 - t0:.2f}s, faces {t2 - t1:.2f}s, complex {t3 - t2:.2f}s"


def run(quick: bool = False) -> list[dict]:
    n_trees, n_points = (50, 2_000) if quick else (500, 20_000)
    model, X = _model(n_trees, n_points)
    # warm both sides once (imports, LightGBM's thread pool), then measure
    model.predict(X[:10], pred_leaf=True)
    _partition_faces_complex(model, X[:50])
    (part, faces, cx), t_ours, mb_ours = measure(_partition_faces_complex, model, X, repeat=2)
    _, t_ref, mb_ref = measure(model.predict, X, pred_leaf=True, repeat=3)
    steps = _timed_steps(model, X)
    ratio = t_ours / t_ref
    shared = int((faces["cell_b"] >= 0).sum())
    return [dict(
        benchmark=f"LightGBM ({n_trees} trees, num_leaves 15), 10-D, cells=\"data\"",
        size=f"{n_points} points, {part.n_cells} data cells, {len(faces)} faces, "
             f"{cx.n_simplices(1)} edges",
        cellgeom_s=t_ours, reference="LightGBM predict(X, pred_leaf=True) alone",
        reference_s=t_ref, cellgeom_mb=mb_ours, reference_mb=mb_ref,
        notes=f"partition + faces + complex take {ratio:.1f}x the leaf prediction (target "
              f"<= 20x at full size{'; quick mode is fixed costs' if quick else ''}); "
              f"{steps}; {shared} faces shared by two data cells; best of 2 runs vs best of 3; "
              "busy 2-core machine, timings noisy")]


if __name__ == "__main__":
    import sys

    for row in run(quick="--quick" in sys.argv):
        print(row)
