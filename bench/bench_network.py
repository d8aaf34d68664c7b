"""Networks: data-containing cells of a 64-128-128-10 ReLU MLP on load_digits; 2-D slice.

Rows:
* ``digits_data_cells`` (serial and n_jobs=2): ``cellgeom.partition(net, [0,1]^64, X,
  volume="none")`` -- every data cell with its facets (screened, then LPs) and the keys of
  the cells across them. No reference implementation exists; ``reference`` names the naive
  route (one HiGHS LP per facet candidate) whose time is extrapolated from the LP count.
* ``digits_slice``: exact regions of the plane through three digits
  (``cellgeom.nn.slice_partition``) against a dense grid of patterns at the same
  resolution (grid side = sqrt(number of regions) * 8).
"""
from __future__ import annotations

import time
import warnings

import numpy as np
import torch
from _measure import measure
from sklearn.datasets import load_digits
from torch import nn

import cellgeom


def _digits_mlp(seed: int = 0, epochs: int = 30):
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                        nn.Linear(128, 10))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    Xt, yt = torch.tensor(X, dtype=torch.float32), torch.tensor(y)
    for _ in range(epochs):
        perm = torch.randperm(len(X))
        for i in range(0, len(X), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(net(Xt[idx]), yt[idx]).backward()
            opt.step()
    return net.eval(), X


def _cells(net, X, n_jobs, executor=None):
    box = cellgeom.Box(np.zeros(64), np.ones(64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas fragmentation warnings at n = 64
        return cellgeom.partition(net, box, X, volume="none", progress=False, n_jobs=n_jobs,
                                  executor=executor)


def _grid_regions(net, origin, u, v, extent, side):
    s = np.linspace(extent[0], extent[1], side)
    t = np.linspace(extent[2], extent[3], side)
    S, T = np.meshgrid(s, t)
    P = origin + S.reshape(-1, 1) * u + T.reshape(-1, 1) * v
    keys = cellgeom.nn.activation_patterns(net, P).keys
    return len(cellgeom.nn.group_by_pattern(keys)[0])


def run(quick: bool) -> list[dict]:
    net, X = _digits_mlp(epochs=10 if quick else 30)
    # the whole set takes hours on the current facet route (about 10 s per cell), so the
    # full mode times a fixed subset and extrapolates to all 1,797 digits in the notes
    subset = X[:2] if quick else X[:24]
    rows = []
    for n_jobs in ([None] if quick else [None, 2]):
        part, sec, mb = measure(_cells, net, subset, n_jobs, trace_memory=False)
        info = part.info
        lp_ms = 11.0  # FIELD-NOTES: one cold HiGHS facet LP on these cells
        naive = info["facet_candidates"] * lp_ms / 1000
        rows.append({
            "benchmark": f"digits_data_cells_{'serial' if n_jobs is None else 'n_jobs2'}",
            "size": part.n_cells, "cellgeom_s": sec,
            "reference": "one LP per candidate (11 ms each, extrapolated)",
            "reference_s": naive, "cellgeom_mb": mb, "reference_mb": float("nan"),
            "notes": (f"{part.n_cells / sec:.2f} cells/s, so about "
                      f"{len(X) * sec / part.n_cells / 60:.0f} min for all {len(X)} digits "
                      f"(target 2 min: not met); "
                      f"{part.cells['n_facets'].mean():.0f} facets/cell; "
                      f"{100 * info['facet_settled_without_lp']:.1f}% of "
                      f"{info['facet_candidates']} candidates settled without LP"),
        })
    if not quick:
        # the same work on a 2-worker dask LocalCluster, against the process pool above
        from dask.distributed import Client, LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            part, sec, _ = measure(_cells, net, subset, None, client, trace_memory=False)
        pool_s = rows[-1]["cellgeom_s"]
        rows.append({
            "benchmark": "digits_data_cells_dask2", "size": part.n_cells, "cellgeom_s": sec,
            "reference": "process pool, n_jobs=2 (row above, same run)", "reference_s": pool_s,
            "notes": f"dask takes {sec / pool_s:.2f}x the process pool's time (target <= 1.3x)",
        })
    # 2-D slice through three digits
    origin = X[0]
    u, v = X[1] - X[0], X[2] - X[0]
    extent = (-0.5, 1.5, -0.5, 1.5)
    regions, sec, mb = measure(cellgeom.nn.slice_partition, net, origin, u, v, extent)
    side = int(np.sqrt(regions.n_regions) * 8)
    t0 = time.perf_counter()
    found = _grid_regions(net, origin, u, v, extent, side)
    grid_s = time.perf_counter() - t0
    rows.append({
        "benchmark": "digits_slice", "size": regions.n_regions, "cellgeom_s": sec,
        "reference": f"dense grid {side}x{side}", "reference_s": grid_s, "cellgeom_mb": mb,
        "reference_mb": float("nan"),
        "notes": f"{regions.n_regions / sec:.0f} regions/s; grid finds {found} patterns",
    })
    return rows


if __name__ == "__main__":
    import sys

    for row in run(quick="--quick" in sys.argv):
        print(row)
