"""The report's pictures as matplotlib Figures (no pyplot: the user's backend is left
alone); each has named axes and a legend or a colour bar."""
from __future__ import annotations

import base64
import io

import numpy as np


def render_png(fig) -> str:
    """The figure as base64 PNG text."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _label_colours(labels):
    """Integer codes of the labels (for a discrete colour map), or None."""
    if labels is None:
        return None
    _, code = np.unique(np.asarray(labels).astype(str), return_inverse=True)
    return code.ravel()


def figures(cx, data=None, labels=None, names=None) -> list[tuple[str, object]]:
    """(caption, Figure) pairs: in 2-D the cells by volume with the nerve and the cells
    by prediction (or data count); in any dimension the spectrum of L_0, and above 2-D
    the distribution of cell volumes."""
    from matplotlib.figure import Figure

    from ..viz import plot_partition, plot_spectrum

    part = cx.partition
    out = []
    if part.dim == 2:
        codes = _label_colours(labels)
        fig = Figure(figsize=(6, 5))
        ax = fig.subplots()
        plot_partition(cx, color_by="volume", ax=ax, data=data, show_nerve=True,
                       feature_names=names)
        ax.set_title("cells by volume, with the nerve")
        out.append(("cells coloured by volume; nerve over the centroids", fig))
        column = "prediction" if "prediction" in part.cells else "n_points"
        fig = Figure(figsize=(6, 5))
        ax = fig.subplots()
        plot_partition(part, color_by=column, ax=ax, data=data, feature_names=names,
                       data_color=None if codes is None else codes)
        ax.set_title(f"cells by {column}" + ("; points by label" if codes is not None else ""))
        out.append((f"cells coloured by {column}", fig))
    else:
        vol = part.cells["volume"].to_numpy(dtype=float)
        positive = vol[np.isfinite(vol) & (vol > 0)]
        if positive.size:
            fig = Figure(figsize=(5.5, 3.8))
            ax = fig.subplots()
            left = len(vol) - positive.size
            ax.hist(np.log10(positive), bins=40, color="#4a6fa5",
                    label=f"{positive.size} cells" + (f" ({left} without a positive volume "
                                                      "not shown)" if left else ""))
            ax.set_xlabel("log10 cell volume")
            ax.set_ylabel("cells")
            ax.set_title("distribution of cell volumes")
            ax.legend(fontsize="small")
            out.append(("histogram of cell volumes", fig))
    fig = Figure(figsize=(5.5, 3.8))
    ax = fig.subplots()
    try:
        plot_spectrum(cx, p=0, k=min(30, cx.n_vertices), ax=ax)
        out.append(("smallest eigenvalues of the weighted Hodge Laplacian L_0", fig))
    except (ValueError, RuntimeError, np.linalg.LinAlgError):
        pass  # e.g. a single cell: no spectrum to show
    return out
