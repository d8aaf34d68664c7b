"""One self-contained HTML report of a partition or complex.

``cellgeom.write_report(cx, "report.html")`` writes a single file that works offline:
summary numbers, pictures (inline PNG), the largest / smallest / most curved
cells, sortable tables and, for 2-D partitions, an interactive map. matplotlib
is imported only when a report is written.
"""
from __future__ import annotations

import base64
import datetime as _dt
import io
from pathlib import Path

import numpy as np
import pandas as pd

from . import _html

__all__ = ["summary_rows", "write_report"]

_MAX_TABLE_ROWS = 2000
_MAX_MAP_CELLS = 20000


def _split(obj, progress: bool):
    from ..complex import RiemannianComplex, build_complex
    from ..core import Partition

    if isinstance(obj, RiemannianComplex):
        return obj.partition, obj
    if isinstance(obj, Partition):
        return obj, build_complex(obj)
    raise TypeError(
        "write_report() takes a cellgeom Partition or RiemannianComplex, got "
        f"{type(obj).__name__}.")


def _model_name(part) -> str:
    if part.model is not None:
        m = part.model
        return f"{type(m).__module__.split('.')[0]}.{type(m).__name__}" if not type(
            m).__module__.startswith("cellgeom") else repr(m)
    return getattr(part, "model_description", None) or "unknown (loaded without model)"


def summary_rows(cx) -> list[tuple[str, str]]:
    """The report's summary as (name, value) text pairs (also printed by the CLI)."""
    part = cx.partition
    faces = part.faces
    n_interior = int((faces["cell_b"] >= 0).sum())
    n_hinges = int(part.hinges["hinge"].nunique()) if len(part.hinges) else 0
    lo, hi = part.domain.lo, part.domain.hi
    domain = " x ".join(f"[{_html.fmt(a)}, {_html.fmt(b)}]" for a, b in zip(lo, hi))
    n_data = int(part.cells["is_data"].sum()) if "is_data" in part.cells else part.n_cells
    betti = cx.betti_numbers()
    rows = [
        ("model", _model_name(part)),
        ("input dimension", str(part.dim)),
        ("domain", domain),
        ("cells", f"{part.n_cells} ({part.info.get('cells', '?')} mode; {n_data} hold data)"),
        ("faces", f"{n_interior} interior, {len(faces) - n_interior} on the boundary"),
        ("hinges", str(n_hinges)),
        ("simplices per dimension", ", ".join(str(n) for n in cx.n_simplices())),
        ("Betti numbers", ", ".join(str(b) for b in betti)),
        ("Euler characteristic", str(cx.euler_characteristic())),
        ("nerve rule / metric", f"{cx.rule} / {cx.metric}"),
        ("total cell volume", _html.fmt(float(part.cells["volume"].sum()))),
        ("domain volume", _html.fmt(float(np.prod(hi - lo)))),
    ]
    if "n_points" in part.cells:
        rows.append(("data points in cells", str(int(part.cells["n_points"].sum()))))
    if cx.metric == "dihedral":
        rows.append(("smallest eigenvalue of M_1", _html.fmt(cx.gram_min_eigenvalue)))
    for k in ("volume_method", "tol", "n_dropped", "n_points_outside"):
        if k in part.info:
            rows.append((k.replace("_", " "), _html.fmt(part.info[k])))
    return rows


def _scalar_columns(cells: pd.DataFrame) -> list[str]:
    return [c for c in cells.columns
            if not str(c).startswith(("center_", "centroid_", "proba_"))]


def _curvature_column(cells: pd.DataFrame) -> str | None:
    for c in cells.columns:
        if "curvature" in str(c) and pd.api.types.is_numeric_dtype(cells[c]):
            return str(c)
    return None


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figures(cx, data, bar) -> list[tuple[str, str]]:
    from matplotlib.figure import Figure  # no pyplot: the user's backend is left alone

    from ..viz import plot_partition, plot_spectrum

    part = cx.partition
    out = []
    if part.dim == 2:
        fig = Figure(figsize=(6, 5))
        ax = fig.subplots()
        plot_partition(cx, color_by="volume", ax=ax, data=data, show_nerve=True)
        ax.set_title("cells by volume, with the nerve")
        out.append(("cells coloured by volume; nerve over the centroids", _png(fig)))
        bar.update()
        column = "prediction" if "prediction" in part.cells else "n_points"
        fig = Figure(figsize=(6, 5))
        ax = fig.subplots()
        plot_partition(part, color_by=column, ax=ax, data=data)
        ax.set_title(f"cells by {column}")
        out.append((f"cells coloured by {column}", _png(fig)))
    else:
        fig = Figure(figsize=(5.5, 3.8))
        ax = fig.subplots()
        vol = part.cells["volume"].to_numpy()
        ax.hist(np.log10(vol[vol > 0]), bins=40, color="#4a6fa5")
        ax.set_xlabel("log10 cell volume")
        ax.set_ylabel("cells")
        ax.set_title("distribution of cell volumes")
        out.append(("histogram of cell volumes", _png(fig)))
        bar.update()
    bar.update()
    fig = Figure(figsize=(5.5, 3.8))
    ax = fig.subplots()
    try:
        plot_spectrum(cx, p=0, k=min(30, cx.n_vertices), ax=ax)
        out.append(("smallest eigenvalues of the weighted Hodge Laplacian L_0", _png(fig)))
    except (ValueError, RuntimeError, np.linalg.LinAlgError) as exc:
        out.append(("spectrum unavailable: " + str(exc), ""))
    bar.update()
    return [f for f in out if f[1]]


def _cell_colors(values: np.ndarray) -> list[str]:
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    v = np.asarray(values, dtype=float)
    lo, hi = np.nanmin(v), np.nanmax(v)
    t = (v - lo) / (hi - lo) if hi > lo else np.full_like(v, 0.5)
    cmap = colormaps["viridis"]
    return [to_hex(cmap(x)) for x in t]


def write_report(complex_or_partition, path, title: str = "cellgeom report", data=None,
                 progress: bool = True) -> Path:
    """Write one self-contained HTML report (works offline) to ``path``.

    Parameters
    ----------
    complex_or_partition : RiemannianComplex or Partition
        A partition gets its default complex (``cellgeom.build_complex(partition)``).
    path : str or Path
        The HTML file; written atomically (temporary file + rename).
    title : str
        Page title.
    data : array of shape (N, n), optional
        Data points drawn on 2-D pictures.
    progress : bool
        Show a progress bar.

    Returns
    -------
    Path
        The path written.

    Notes
    -----
    Sections: summary (model, domain, cell / face / hinge counts, Betti numbers,
    Euler characteristic), pictures (inline base64 PNG), the largest, smallest
    and (when a ``*curvature*`` column exists) most curved cells, sortable cell
    and edge tables, and for 2-D partitions an inline SVG map where hovering a
    cell shows its numbers. No external resources are referenced.
    """
    from tqdm.auto import tqdm

    path = Path(path)
    if path.is_dir():
        raise ValueError(f"path {str(path)!r} is a directory; give an .html file name.")
    if not path.parent.exists():
        raise ValueError(f"directory {str(path.parent)!r} of path does not exist.")
    if not isinstance(title, str):
        raise TypeError(f"title must be a string, got {type(title).__name__}.")
    with tqdm(total=5, desc="report", disable=not progress, leave=False) as bar:
        part, cx = _split(complex_or_partition, progress)
        if data is not None:
            from ..core import check_data

            data = check_data(data, part.dim, name="data")
        bar.update()
        figs = _figures(cx, data if part.dim == 2 else None, bar)
        html_text = _build_page(cx, title, figs)
        bar.update()
        _atomic_write_text(path, html_text)
    return path


def _build_page(cx, title: str, figs) -> str:
    from ..viz import cell_polygons

    part = cx.partition
    cells = part.cells
    cols = _scalar_columns(cells)
    shown = cells[cols].copy()
    shown.insert(0, "cell", np.arange(len(cells)))
    sections = [("summary", "Summary", _html.summary_html(summary_rows(cx)))]
    if figs:
        sections.append(("pictures", "Pictures", _html.figures_html(figs)))
    if part.dim == 2 and part.n_cells <= _MAX_MAP_CELLS:
        polys = cell_polygons(part)
        colors = _cell_colors(cells["volume"].to_numpy())
        sections.append(("map", "Interactive map (hover a cell; colour = volume)",
                         _html.svg_map(polys, colors, part.domain.lo, part.domain.hi, shown)))
    k = min(10, len(shown))
    by_vol = shown.sort_values("volume", kind="stable")
    extremes = ("<h3>Largest</h3>" + _html.table_html(by_vol.iloc[::-1].head(k))
                + "<h3>Smallest</h3>" + _html.table_html(by_vol.head(k)))
    curv = _curvature_column(cells)
    if curv is not None:
        order = shown.reindex(shown[curv].abs().sort_values(ascending=False).index)
        extremes += f"<h3>Most curved (|{curv}|)</h3>" + _html.table_html(order.head(k))
    sections.append(("extremes", "Largest, smallest and most curved cells", extremes))
    sections.append(("cells", "Cells", _html.table_html(shown, max_rows=_MAX_TABLE_ROWS)))
    if len(cx.edges):
        sections.append(("edges", "Edges of the nerve (shared faces)",
                         _html.table_html(cx.edges, max_rows=_MAX_TABLE_ROWS)))
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    from .._version import __version__

    subtitle = f"{_model_name(part)} - {part.n_cells} cells in {part.dim}-D - cellgeom " \
               f"{__version__} - {stamp}"
    return _html.page(title, subtitle, sections)


def _atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 text through the same temp-file-and-rename writer as saved complexes."""
    from ..complex.io import atomic_write

    atomic_write(path, text.encode("utf-8"))
