"""Figures of docs/curvature.md, second example: density and curvature on a 2-D slice of a
ReLU network trained on load_digits.

The 64-dimensional model is restricted to the plane ``x(s, t) = origin + s u + t v``
(origin = mean digit, u, v = the top two principal directions, unit length). The
restriction is itself a ReLU network with 2 inputs: its first Linear layer is
``W1 @ [u v]`` with bias ``W1 @ origin + b1``, the other layers are copied, so its
partition of the (s, t) rectangle IS the slice of the digits model (checked below against
``cellgeom.nn.slice_partition`` and against the 64-d model at the cells' centres). The
digits enter as their least-squares coordinates in the plane (here their first two PCA
scores).

Run: ``.venv/bin/python experiments/curvature_digits_slice.py`` (writes
docs/img/digits_slice_*.png).
"""
from __future__ import annotations

import copy
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("POT_BACKEND_DISABLE_PYTORCH", "1")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import cellgeom  # noqa: E402
from cellgeom.analysis import vertex_curvature  # noqa: E402
from cellgeom.nn import slice_partition  # noqa: E402
from cellgeom.viz import plot_partition  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "img"
AXES = ("s (first principal direction)", "t (second principal direction)")


def train_digits(seed: int = 0, epochs: int = 300):
    """A 64-64-64-10 ReLU MLP on all 1797 digits (pixels / 16), full-batch Adam."""
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
                              torch.nn.ReLU(), torch.nn.Linear(64, 10)).double()
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(Xt), yt)
        loss.backward()
        opt.step()
    acc = float((net(Xt).argmax(1) == yt).double().mean())
    return net.eval(), X, y, acc


def plane_network(net: torch.nn.Sequential, origin, u, v) -> torch.nn.Sequential:
    """The restriction of ``net`` to ``origin + s u + t v`` as a 2-input network."""
    first = net[0]
    W1, b1 = first.weight.detach(), first.bias.detach()
    P = torch.tensor(np.column_stack([u, v]), dtype=W1.dtype)
    o = torch.tensor(origin, dtype=W1.dtype)
    lin = torch.nn.Linear(2, W1.shape[0]).to(W1.dtype)
    with torch.no_grad():
        lin.weight.copy_(W1 @ P)
        lin.bias.copy_(W1 @ o + b1)
    return torch.nn.Sequential(lin, *[copy.deepcopy(m) for m in list(net)[1:]]).eval()


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from curvature_figures import curvature_fields, save_panels

    OUT.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    net, X, y, acc = train_digits()
    origin = X.mean(axis=0)
    _, _, Vt = np.linalg.svd(X - origin, full_matrices=False)
    u, v = Vt[0], Vt[1]
    C = (X - origin) @ np.linalg.pinv(np.column_stack([u, v])).T  # least-squares (s, t)
    net2 = plane_network(net, origin, u, v)
    pad = 0.05 * (C.max(axis=0) - C.min(axis=0))
    box = cellgeom.Box(C.min(axis=0) - pad, C.max(axis=0) + pad)

    part = cellgeom.partition(net2, box, data=C, cells="all", progress=False)
    cx = cellgeom.build_complex(part)

    # checks: the 2-input network is the slice of the 64-d model
    centres = part.cells[["center_0", "center_1"]].to_numpy()
    with torch.no_grad():
        full = net(torch.tensor(origin + centres @ np.vstack([u, v]))).argmax(1).numpy()
    agree = float((full == part.cells["prediction"].to_numpy()).mean())
    ext = (box.lo[0], box.hi[0], box.lo[1], box.hi[1])
    n_slice = len(slice_partition(net, origin, u, v, ext).polygons)
    with torch.no_grad():
        on_plane = net(torch.tensor(origin + C @ np.vstack([u, v]))).argmax(1).numpy()

    stats, kv_stat, ke, kv_euler, kv_angle = curvature_fields(cx, C, y)

    print(f"digits MLP 64-64-64-10: train accuracy {acc:.3f}; plane = mean digit + PC1, PC2; "
          f"box [{box.lo[0]:.2f}, {box.hi[0]:.2f}] x [{box.lo[1]:.2f}, {box.hi[1]:.2f}]")
    print(f"slice: {part.n_cells} cells (slice_partition of the 64-d net: {n_slice}), "
          f"{cx.n_simplices(1)} edges, chi = {cx.euler_characteristic()}, "
          f"sum euler curvature = {kv_euler.sum():.6f}, max |angle| = {abs(kv_angle).max():.1e}")
    print(f"prediction of the 2-input net = 64-d net at the cell centres on "
          f"{100 * agree:.1f}% of cells; the model's class at the digits' projections equals "
          f"their label for {100 * float((on_plane == y).mean()):.1f}% of digits")
    counts = stats["count"].to_numpy()
    print(f"data cells {int((counts > 0).sum())} of {part.n_cells}; "
          f"cells holding 90% of the digits: "
          f"{int(np.searchsorted(np.cumsum(np.sort(counts)[::-1]), 0.9 * len(C)) + 1)}")
    # the edges between cells sharing a face (the fan diagonals of the "dual" complex join
    # cells meeting at a point; their curvature is left out of every figure and number)
    facet = cx.edges["face_volume"].to_numpy() > 0
    kf = ke[facet]
    print(f"Ollivier finite on {int(np.isfinite(kf).sum())} of {len(kf)} edges between cells "
          f"sharing a face, range [{np.nanmin(kf):.2f}, {np.nanmax(kf):.2f}], median "
          f"{np.nanmedian(kf):.2f}; NaN vertex curvature on {int(np.isnan(kv_stat).sum())} "
          "cells")
    with np.errstate(all="ignore"):  # the default geometric edge density, for comparison
        kv_geometric = vertex_curvature(cx, "statistical", C, laziness=0.5, progress=False)
    print(f"with the default geometric edge density: NaN vertex curvature on "
          f"{int(np.isnan(kv_geometric).sum())} of {part.n_cells} cells")
    pur = stats["purity"].to_numpy()
    vol = part.cells["volume"].to_numpy()
    pred = part.cells["prediction"].to_numpy()
    classes, n_pred = np.unique(pred, return_counts=True)
    print("cells per predicted class on the plane: "
          + ", ".join(f"{c}: {k}" for c, k in zip(classes, n_pred)))
    ok = np.isfinite(kv_stat) & (counts >= 5)
    data = np.isfinite(kv_stat) & (counts > 0)
    print(f"cells with >= 5 digits: {int(ok.sum())}; corr(vertex curvature, purity) "
          f"{np.corrcoef(kv_stat[ok], pur[ok])[0, 1]:.2f}; over all {int(data.sum())} data "
          f"cells corr(vertex curvature, log10 area) "
          f"{np.corrcoef(kv_stat[data], np.log10(vol[data]))[0, 1]:.2f}")
    for name, sel in (("pure cells (purity 1, >= 5 digits)", ok & (pur == 1)),
                      ("mixed cells (purity < 0.6, >= 5 digits)", ok & (pur < 0.6)),
                      ("empty cells", np.isfinite(kv_stat) & (counts == 0))):
        print(f"  {name}: {int(sel.sum())}, mean vertex curvature "
              f"{np.nanmean(kv_stat[sel]):.3f}")
    E = cx.edges[["a", "b"]].to_numpy()
    fin = np.isfinite(ke) & facet
    across = pred[E[:, 0]] != pred[E[:, 1]]
    neg = fin & (ke < -0.5)
    ends = np.unique(E[neg].ravel())
    print(f"edges across a change of predicted class: {int((fin & across).sum())} of "
          f"{int(fin.sum())} finite, mean curvature {ke[fin & across].mean():.3f} "
          f"(other edges {ke[fin & ~across].mean():.3f})")
    print(f"edges with curvature < -0.5: {int(neg.sum())}, {int((neg & across).sum())} across a "
          f"class change; their {len(ends)} cells: median area {np.median(vol[ends]):.4f} "
          f"(data cells {np.median(vol[counts > 0]):.4f}), median digits "
          f"{np.median(counts[ends]):.0f}")

    save_panels(cx, C, stats, kv_stat, ke, "digits_slice",
                "64-64-64-10 digits MLP on the plane mean digit + PC1, PC2", point_size=2, clip=1.0,
                axis_labels=AXES)
    fig, ax = plt.subplots(figsize=(7, 5))
    plot_partition(cx, color_by="prediction", ax=ax, data=C, data_color="k", linewidth=0.3)
    ax.collections[-1].set_sizes([2])
    legend = ax.get_legend()
    ax.legend(handles=legend.legend_handles, labels=[t.get_text() for t in legend.texts],
              title="class", loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small")
    ax.set_xlabel(AXES[0])
    ax.set_ylabel(AXES[1])
    ax.set_title("cells coloured by the model's class on the plane\n"
                 "64-64-64-10 digits MLP on the plane mean digit + PC1, PC2")
    fig.tight_layout()
    fig.savefig(OUT / "digits_slice_prediction.png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    print("wrote", OUT / "digits_slice_prediction.png")
    print(f"done in {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
