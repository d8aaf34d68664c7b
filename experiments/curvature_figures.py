"""Figures of docs/curvature.md: density and curvature on the cells of a ReLU network
trained on make_moons (``save_panels`` is shared with curvature_digits_slice.py).

Run: ``.venv/bin/python experiments/curvature_figures.py`` (writes PNGs under docs/img/).
"""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("POT_BACKEND_DISABLE_PYTORCH", "1")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import make_moons  # noqa: E402

import cellgeom  # noqa: E402
from cellgeom.analysis import cell_statistics, edge_curvature, vertex_curvature  # noqa: E402
from cellgeom.viz import plot_partition  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "img"


def train_moons(seed: int = 0):
    X, y = make_moons(n_samples=600, noise=0.15, random_state=seed)
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(2, 10), torch.nn.ReLU(), torch.nn.Linear(10, 10),
                              torch.nn.ReLU(), torch.nn.Linear(10, 2)).double()
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    for _ in range(400):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(Xt), yt)
        loss.backward()
        opt.step()
    acc = float((net(Xt).argmax(1) == yt).double().mean())
    return net.eval(), X, y, acc


def curvature_fields(cx, X, y):
    """Cell statistics, statistical vertex curvature, Ollivier edge curvature (laziness 0.5,
    arithmetic edge density), and the Euler / angle curvatures used as geometry checks."""
    stats = cell_statistics(cx, X, labels=y)
    # the arithmetic option (the default is THEORY's geometric mean) keeps empty cells coloured
    kv_stat = vertex_curvature(cx, "statistical", X, laziness=0.5, edge_mean="arithmetic",
                               progress=False)
    ke = edge_curvature(cx, "ollivier", X, laziness=0.5, edge_mean="arithmetic",
                        progress=False)
    return stats, kv_stat, ke, vertex_curvature(cx, "euler"), vertex_curvature(cx, "angle")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    net, X, y, acc = train_moons()
    part = cellgeom.partition(net, data=X, cells="all", progress=False)
    cx = cellgeom.build_complex(part)
    stats, kv_stat, ke, kv_euler, kv_angle = curvature_fields(cx, X, y)
    print(f"moons MLP 2-10-10-2: train accuracy {acc:.3f}; {part.n_cells} cells, "
          f"{cx.n_simplices(1)} edges, chi = {cx.euler_characteristic()}, "
          f"sum euler curvature = {kv_euler.sum():.6f}, max |angle| = {abs(kv_angle).max():.1e}")
    facet = cx.edges["face_volume"].to_numpy() > 0  # fan diagonals: not drawn, not counted
    kf = ke[facet]
    print(f"data cells {int((stats['count'] > 0).sum())}; Ollivier finite on "
          f"{int(np.isfinite(kf).sum())} of {len(kf)} edges between cells sharing a face, "
          f"range [{np.nanmin(kf):.2f}, {np.nanmax(kf):.2f}]; NaN statistical vertex "
          f"curvature on {int(np.isnan(kv_stat).sum())} of {part.n_cells} cells")
    with np.errstate(all="ignore"):  # the default geometric mean, for the text's comparison
        kv_geometric = vertex_curvature(cx, "statistical", X, laziness=0.5, progress=False)
    print(f"with the default geometric edge density: NaN on "
          f"{int(np.isnan(kv_geometric).sum())} of {part.n_cells} cells")

    save_panels(cx, X, stats, kv_stat, ke, "moons", clip=1.0)


def save_panels(cx, X, stats, kv_stat, ke, prefix: str, subtitle: str | None = None,
                point_size: float = 3, clip: float | None = None,
                axis_labels: tuple[str, str] | None = None) -> None:
    """Write <prefix>_density.png, <prefix>_vertex_curvature.png and
    <prefix>_edge_curvature.png under docs/img/ (cells by log10 density, cells by statistical
    vertex curvature, nerve edges by statistical Ricci curvature over cells by purity).

    ``clip``: if given, both curvature colour scales are the symmetric range [-clip, clip]
    (values beyond it take the end colours), so that 0 is the middle of the colour map.
    ``axis_labels``: replace the default x_0, x_1 axis labels.
    """
    from matplotlib.collections import LineCollection, PolyCollection

    log_density = np.log10(np.where(stats["density"] > 0, stats["density"], np.nan))
    # (file, title, cell values, their colour-bar label, edge values)
    panels = [
        (f"{prefix}_density.png", "cells coloured by log10 density rho_i", log_density,
         "log10 density (1 / area)", None),
        (f"{prefix}_vertex_curvature.png", "statistical vertex curvature (mean Ollivier)",
         kv_stat, "statistical vertex curvature", None),
        (f"{prefix}_edge_curvature.png", "nerve edges coloured by statistical Ricci "
         "curvature,\ncells by purity", stats["purity"].to_numpy(), "purity (majority share)",
         ke),
    ]
    for name, title, cells_c, cells_label, edge_c in panels:
        fig, ax = plt.subplots(figsize=(7, 5) if edge_c is None else (8, 5))
        if edge_c is None:
            plot_partition(cx, color_by=cells_c, ax=ax, data=X, data_color="k", cmap="viridis")
            ax.collections[-1].set_sizes([point_size])
        else:
            plot_partition(cx, color_by=cells_c, ax=ax, show_nerve=True,
                           edge_color_by=edge_c, cmap="Greys", edge_cmap="coolwarm_r",
                           alpha=0.35)
        bars = ax.child_axes  # the cells' colour bar, then the edges' (insets)
        bars[0].set_ylabel(cells_label)
        if edge_c is not None:
            bars[1].set_ylabel("statistical Ricci curvature (edges)")
        if clip is not None:
            kind = PolyCollection if edge_c is None else LineCollection
            if name.endswith("curvature.png"):
                for coll in ax.collections:
                    if isinstance(coll, kind) and coll.get_array() is not None:
                        coll.set_clim(-clip, clip)
                title += f", clipped to [-{clip:g}, {clip:g}]"
        if axis_labels is not None:
            ax.set_xlabel(axis_labels[0])
            ax.set_ylabel(axis_labels[1])
        ax.set_title(title if subtitle is None else f"{title}\n{subtitle}", fontsize="medium")
        fig.tight_layout()
        fig.savefig(OUT / name, dpi=110, bbox_inches="tight")
        plt.close(fig)
        print("wrote", OUT / name)


if __name__ == "__main__":
    main()
