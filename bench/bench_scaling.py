"""Scaling curves (time against number of cells over two decades, fitted exponent) and the
million-cell tree complex with its cell Laplacian inside the 24 GB machine.

The exponent is the slope of log(time) on log(cells) by least squares; 1 means linear.
The million-cell run happens in a child process so its peak resident memory
(``ru_maxrss``) is the whole pipeline's, not this benchmark process's.
"""
from __future__ import annotations

import multiprocessing
import resource
import time
import warnings

import numpy as np
import torch
from sklearn.ensemble import RandomForestRegressor
from sklearn.tree import DecisionTreeRegressor
from torch import nn

import cellgeom


def _synthetic(n_points, dim, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n_points, dim))
    y = np.sin(6 * X[:, 0]) + X[:, 1:].sum(axis=1) + 0.1 * rng.normal(size=n_points)
    return X, y


def _timed(func, *args, **kwargs):
    t0 = time.perf_counter()
    out = func(*args, **kwargs)
    return out, time.perf_counter() - t0


def _tree_point(leaves):
    X, y = _synthetic(max(4 * leaves, 2000), 4)
    tree = DecisionTreeRegressor(max_leaf_nodes=leaves, random_state=0).fit(X, y)
    box = cellgeom.Box(np.zeros(4), np.ones(4))
    part, t = _timed(cellgeom.partition, tree, domain=box, cells="all", progress=False)
    cx, t_cx = _timed(cellgeom.build_complex, part)
    return part.n_cells, t + t_cx


def _forest_point(n_points):
    X, y = _synthetic(n_points, 6)
    forest = RandomForestRegressor(n_estimators=20, max_depth=8, random_state=0).fit(X, y)
    part, t = _timed(cellgeom.partition, forest, data=X, cells="data", progress=False)
    cx, t_cx = _timed(cellgeom.build_complex, part)
    return part.n_cells, t + t_cx


def _network_point(width):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                        nn.Linear(width, 1)).double().eval()
    box = cellgeom.Box([-1.0, -1.0], [1.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        part, t = _timed(cellgeom.partition, net, domain=box, cells="all", progress=False)
    return part.n_cells, t


def _fit_exponent(cells, seconds):
    slope, _ = np.polyfit(np.log(cells), np.log(seconds), 1)
    return float(slope)


def _million_cell_child(leaves, queue):
    from cellgeom.analysis.laplacians import cell_laplacian

    X, y = _synthetic(2 * leaves, 2)
    tree = DecisionTreeRegressor(max_leaf_nodes=leaves, random_state=0).fit(X, y)
    box = cellgeom.Box([0.0, 0.0], [1.0, 1.0])
    part, t_part = _timed(cellgeom.partition, tree, domain=box, cells="all", progress=False)
    # the cell Laplacian needs the 1-skeleton only (the 2-D tree's triangles are millions)
    cx, t_cx = _timed(cellgeom.build_complex, part, max_dim=1)
    L, t_lap = _timed(cell_laplacian, cx)
    # the child's own peak: RUSAGE_CHILDREN in the parent is the largest of every child
    # it ever waited for, those of other bench modules of the same run included
    queue.put(dict(cells=part.n_cells, edges=len(cx.edges), t_part=t_part, t_cx=t_cx,
                   t_lap=t_lap, nnz=int(L.nnz),
                   peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def _million_cell_tree(leaves):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_million_cell_child, args=(leaves, queue))
    proc.start()
    import queue as queue_module

    while True:  # a child that dies (e.g. out of memory) must fail the row, not hang
        try:
            out = queue.get(timeout=5)
            break
        except queue_module.Empty:
            if not proc.is_alive():
                raise RuntimeError(
                    f"million-cell child process died (exit code {proc.exitcode})") from None
    proc.join()
    return out


def run(quick: bool = False) -> list[dict]:
    rows = []
    curves = {
        "decision tree, cells=all, 4-D (partition + complex)":
            (_tree_point, [100, 1000] if quick else [100, 1000, 10000]),
        "random forest (20 trees), cells=data, 6-D (partition + complex)":
            (_forest_point, [200, 2000] if quick else [200, 2000, 20000]),
        "ReLU net 2-w-w-1, cells=all in 2-D (partition)":
            (_network_point, [8, 16] if quick else [8, 16, 32, 48]),
    }
    for name, (point, sizes) in curves.items():
        point(sizes[0])  # compiled kernels loaded (or compiled, on a cold cache) untimed
        cells, secs = zip(*(point(s) for s in sizes))
        rows.append(dict(
            benchmark=f"scaling: {name}", size=f"{min(cells)}..{max(cells)} cells",
            cellgeom_s=max(secs),
            notes=f"exponent {_fit_exponent(cells, secs):.2f} (time ~ cells^k); points "
                  + ", ".join(f"{c}: {s:.2f}s" for c, s in zip(cells, secs)),
        ))
    leaves = 20_000 if quick else 1_000_000
    out = _million_cell_tree(leaves)
    rows.append(dict(
        benchmark="tree complex + cell Laplacian (2-D, synthetic)",
        size=f"{out['cells']} cells, {out['edges']} edges",
        cellgeom_s=out["t_part"] + out["t_cx"] + out["t_lap"],
        cellgeom_mb=out["peak_mb"],
        notes=(f"partition {out['t_part']:.1f}s, complex {out['t_cx']:.1f}s, Laplacian "
               f"{out['t_lap']:.1f}s ({out['nnz']} nonzeros); peak RSS of the whole child "
               f"process {out['peak_mb']:.0f} MB (limit 24 GB)"),
    ))
    return rows
