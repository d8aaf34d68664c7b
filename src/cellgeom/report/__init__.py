"""One self-contained HTML report of a partition or complex.

``cellgeom.write_report(cx, "report.html")`` writes a single file that works offline:
summary numbers, the input features, pictures (inline PNG), the largest / smallest /
most curved cells, sortable tables and, for 2-D partitions, an interactive map.
matplotlib is imported only when a report is written.
"""
from __future__ import annotations

import datetime as _dt
import math
import numbers
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from . import _html

__all__ = ["summary_rows", "write_report", "domain_text"]

_MAX_TABLE_ROWS = 2000
_MAX_MAP_CELLS = 20000
#: above this many per-cell rows the hinges of a box partition are counted, not listed
_MAX_HINGE_ROWS = 200_000
#: the summary spells out the bounds of at most this many axes
_DOMAIN_AXES = 3


def _split(obj, progress: bool):
    from ..complex import RiemannianComplex, build_complex
    from ..complex.dual import buildable_rule
    from ..core import Partition

    if isinstance(obj, RiemannianComplex):
        return obj.partition, obj
    if isinstance(obj, Partition):  # facets only (high route): the facet nerve, labelled
        return obj, build_complex(obj, rule=buildable_rule(obj), progress=progress)
    raise TypeError(
        "write_report() takes a cellgeom Partition or RiemannianComplex, got "
        f"{type(obj).__name__}.")


def _model_name(part) -> str:
    if part.model is not None:
        m = part.model
        return f"{type(m).__module__.split('.')[0]}.{type(m).__name__}" if not type(
            m).__module__.startswith("cellgeom") else repr(m)
    description = getattr(part, "model_description", None)
    if not description:
        return "unknown (loaded without model)"
    # the saved "package.module.Class", named as above ("package.Class")
    parts = description.split(".")
    return f"{parts[0]}.{parts[-1]}" if len(parts) > 2 and " " not in description \
        else description


def domain_text(lo, hi, max_axes: int = _DOMAIN_AXES) -> str:
    """The domain box in one short line: ``[a, b] x [c, d]``; ``[a, b]^n`` when every
    axis has the same bounds; the first and last axes and the count above ``max_axes``."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    sides = [f"[{_html.fmt(a)}, {_html.fmt(b)}]" for a, b in zip(lo, hi)]
    if len(sides) > 1 and np.all(lo == lo[0]) and np.all(hi == hi[0]):
        return f"{sides[0]}^{len(sides)}"
    if len(sides) <= max_axes:
        return " x ".join(sides)
    return f"{sides[0]} x {sides[1]} x ... x {sides[-1]} ({len(sides)} axes)"


def _names_text(names: list[str], max_names: int = 6) -> str:
    if len(names) <= max_names:
        return ", ".join(names)
    return ", ".join(names[:max_names - 1]) + f", ... , {names[-1]} ({len(names)} features)"


def _hinge_text(part) -> str:
    from ..core import BoxPartition

    n = part.dim
    per_box = 4 * math.comb(n, 2)
    if isinstance(part, BoxPartition) and getattr(part, "_hinges", None) is None \
            and part.n_cells * per_box > _MAX_HINGE_ROWS:
        # listing them is n_cells x 4 C(n, 2) rows of n coordinates: count, do not build
        return f"not listed: {per_box} right-angled (n-2)-faces per box"
    if "facet_candidates" in part.info and len(part.hinges) == 0:
        return "not computed (high-dimensional route)"
    return str(int(part.hinges["hinge"].nunique())) if len(part.hinges) else "0"


def _volume_text(volumes: np.ndarray) -> str:
    missing = int(np.sum(~np.isfinite(volumes)))
    if missing == len(volumes):
        return "not computed"
    total = _html.fmt(float(np.nansum(volumes)))
    return total if missing == 0 else f"{total} ({missing} cells without a volume)"


def summary_rows(cx, metrics: Mapping | None = None,
                 feature_names=None) -> list[tuple[str, str]]:
    """The report's summary as (name, value) text pairs (also printed by the CLI).

    ``metrics`` (name -> number or text, e.g. ``{"test accuracy": 0.97}``) are added
    as rows; ``feature_names`` default to the names the model was fitted with.
    """
    from ..viz import axis_names

    part = cx.partition
    faces = part.faces
    n_interior = int((faces["cell_b"] >= 0).sum())
    lo, hi = part.domain.lo, part.domain.hi
    n_data = int(part.cells["is_data"].sum()) if "is_data" in part.cells else part.n_cells
    with warnings.catch_warnings():  # a truncated complex's caveat is in the rows themselves
        warnings.simplefilter("ignore", UserWarning)
        betti, euler = cx.betti_numbers(), cx.euler_characteristic()
    rows = [("model", _model_name(part)), ("input dimension", str(part.dim))]
    if feature_names is not None or "feature_names" in part.info:
        rows.append(("features", _names_text(axis_names(part, feature_names))))
    rows += [
        ("domain", domain_text(lo, hi)),
        ("cells", f"{part.n_cells} ({part.info.get('cells', '?')} mode; {n_data} hold data)"),
        ("faces", f"{n_interior} interior, {len(faces) - n_interior} on the boundary"),
        ("hinges", _hinge_text(part)),
        ("simplices per dimension", ", ".join(str(n) for n in cx.n_simplices())),
        ("Betti numbers", ", ".join(str(b) for b in betti) + _facet_caveat(cx)),
        ("Euler characteristic", str(euler) + (
            f" (of the complex up to dimension {cx.dim})" if cx.truncated
            else "")),
        ("nerve rule / metric", f"{cx.rule} / {cx.metric}"),
        ("total cell volume", _volume_text(part.cells["volume"].to_numpy(dtype=float))),
        ("domain volume", _html.fmt(float(np.prod(hi - lo)))),
    ]
    if "n_points" in part.cells:
        rows.append(("data points in cells", str(int(part.cells["n_points"].sum()))))
    if cx.metric == "dihedral":
        rows.append(("smallest eigenvalue of M_1", _html.fmt(cx.gram_min_eigenvalue)))
    for k in ("volume_method", "tol", "n_dropped", "n_points_outside"):
        if k in part.info:
            rows.append((k.replace("_", " "), _html.fmt(part.info[k])))
    for k, v in _check_metrics(metrics).items():
        rows.append((k, _html.fmt(v)))
    return rows


def _facet_caveat(cx) -> str:
    """What the Betti numbers count, where that is not the partition's topology: the
    cycles around crossings of a "facet" nerve, the top one of a truncated complex."""
    caveat = ""
    if cx.rule == "facet" and not cx.partition.info.get("general_position"):
        caveat = " (facet nerve: the cycles around crossings count, not only holes)"
    if cx.truncated:
        caveat += (f" (built up to dimension {cx.dim}: b_{cx.dim} is an upper bound; "
                   f"max_dim={cx.dim + 1} gives it)")
    return caveat


def _check_metrics(metrics) -> dict:
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise TypeError(f"metrics must be a mapping of names to numbers or text, e.g. "
                        f"{{'test accuracy': 0.97}}, got {type(metrics).__name__}.")
    bad = [k for k, v in metrics.items()
           if not isinstance(k, str) or not isinstance(v, (numbers.Number, str))]
    if bad:
        raise TypeError(f"metrics: every name must be a string and every value a number or "
                        f"text; offending entries: {bad}.")
    return dict(metrics)


def _scalar_columns(cells: pd.DataFrame) -> list[str]:
    return [c for c in cells.columns
            if not str(c).startswith(("center_", "centroid_", "proba_"))]


def _curvature_column(cells: pd.DataFrame) -> str | None:
    for c in cells.columns:
        if "curvature" in str(c) and pd.api.types.is_numeric_dtype(cells[c]):
            return str(c)
    return None


def _label_columns(cx, data, labels) -> pd.DataFrame:
    """Per cell: the majority label of its points and its purity (share of that label)."""
    from ..analysis import cell_statistics

    stats = cell_statistics(cx, data, labels=labels)
    if "target_mean" in stats:  # a continuous (regression) target
        return stats[["count", "target_mean", "target_std"]].reset_index(drop=True)
    return stats[["count", "majority", "purity"]].reset_index(drop=True)


def _label_rows(part, data, labels, table: pd.DataFrame) -> list[tuple[str, str]]:
    inside = part.locate(data) >= 0
    n_in = int(inside.sum())
    if "target_mean" in table:  # the share of the target's variance left within cells
        counts = table["count"].to_numpy(dtype=float)
        has = counts > 0
        within = float(np.sum(counts[has] * table["target_std"].to_numpy(dtype=float)[has] ** 2))
        y = np.asarray(labels, dtype=float)[inside]
        total = float(np.sum((y - y.mean()) ** 2)) if y.size else 0.0
        share = within / total if total > 0 else float("nan")
        return [("target", f"continuous, on {len(labels)} points ({n_in} in cells)"),
                ("target variance within cells", _html.fmt(share))]
    classes = np.unique(np.asarray(labels).astype(str))
    counts = table["count"].to_numpy(dtype=float)
    purity = table["purity"].to_numpy(dtype=float)
    has = np.isfinite(purity) & (counts > 0)
    # share of the points in cells that carry their own cell's majority label
    agree = float(np.sum(purity[has] * counts[has]) / max(np.sum(counts[has]), 1.0))
    return [("labels", f"{len(classes)} classes on {len(labels)} points ({n_in} in cells)"),
            ("points with their cell's majority label", _html.fmt(agree))]


def write_report(complex_or_partition, path, title: str = "cellgeom report", data=None,
                 labels=None, metrics: Mapping | None = None, feature_names=None,
                 progress: bool = True) -> Path:
    """Write one self-contained HTML report (works offline) to ``path``.

    Parameters
    ----------
    complex_or_partition : RiemannianComplex or Partition
        A partition gets its default complex (``cellgeom.build_complex(partition)``; on the
        high-dimensional route its "facet" nerve, which the summary labels).
    path : str or Path
        The HTML file; written atomically (temporary file + rename).
    title : str
        Page title.
    data : array of shape (N, n), optional
        Data points: drawn on 2-D pictures and the map; with ``labels``, counted per cell.
    labels : array of shape (N,), optional
        A label per data point (needs ``data``): the points are coloured by label, each
        cell gets its ``majority`` label and ``purity`` (share of its points with that
        label), and the summary the share of points carrying their cell's majority label.
    metrics : mapping of str to number or str, optional
        Numbers about the model to state in the summary, e.g. ``{"test accuracy": 0.97}``.
    feature_names : sequence of str, optional
        Names of the input axes; default the names the model was fitted with
        (``feature_names_in_``), else ``x_0 .. x_{n-1}``.
    progress : bool
        Show a progress bar (removed when done).

    Returns
    -------
    Path
        The path written.

    Notes
    -----
    Sections: summary (model, features, domain, cell / face / hinge counts, Betti
    numbers, Euler characteristic, the given metrics), the input features with their
    bounds, pictures (inline base64 PNG; each with axes and a legend or colour bar), the
    largest, smallest and (when a ``*curvature*`` column has values) most curved cells,
    sortable cell and edge tables, and for 2-D partitions an inline SVG map with axes, a
    colour bar, the data and a legend, where hovering a cell shows its numbers. Long
    cell keys are cut with an ellipsis (the whole key in the tooltip). No external
    resources are referenced.
    """
    from tqdm.auto import tqdm

    from ..viz import axis_names

    path = Path(path)
    if path.is_dir():
        raise ValueError(f"path {str(path)!r} is a directory; give an .html file name.")
    if not path.parent.exists():
        raise ValueError(f"directory {str(path.parent)!r} of path does not exist.")
    if not isinstance(title, str):
        raise TypeError(f"title must be a string, got {type(title).__name__}.")
    _check_metrics(metrics)
    with tqdm(total=4, desc="report", disable=not progress, leave=False) as bar:
        part, cx = _split(complex_or_partition, progress)
        names = axis_names(part, feature_names)
        if data is not None:
            data = part.points(data, name="data", allow_empty=False)
        if labels is not None:
            if data is None:
                raise ValueError("labels need the data they label: pass data=X with labels=y.")
            labels = np.asarray(labels)
            if labels.ndim != 1 or len(labels) != len(data):
                raise ValueError(f"labels must have one entry per data point ({len(data)}), "
                                 f"got shape {labels.shape}.")
        bar.update()
        from ._figures import figures

        figs = figures(cx, data if part.dim == 2 else None, labels if part.dim == 2 else None,
                       names)
        bar.update()
        html_text = _build_page(cx, title, figs, names, data, labels, metrics, feature_names)
        bar.update()
        _atomic_write_text(path, html_text)
        bar.update()
    return path


def _features_html(part, names, data) -> str:
    table = pd.DataFrame({"axis": np.arange(part.dim), "feature": names,
                          "domain lo": part.domain.lo, "domain hi": part.domain.hi})
    if data is not None:
        table["data min"], table["data max"] = data.min(axis=0), data.max(axis=0)
    return _html.table_html(table, max_rows=_MAX_TABLE_ROWS)


def _build_page(cx, title: str, figs, names, data, labels, metrics, feature_names) -> str:
    from ..viz import cell_polygons
    from ._figures import render_png
    from ._svg import svg_map

    part = cx.partition
    cells = part.cells
    shown = cells[_scalar_columns(cells)].copy()
    shown.insert(0, "cell", np.arange(len(cells)))
    rows = summary_rows(cx, metrics, feature_names)
    if labels is not None:
        lab = _label_columns(cx, data, labels)
        shown = pd.concat([shown, lab.drop(columns="count")], axis=1)
        rows += _label_rows(part, data, labels, lab)
    sections = [("summary", "Summary", _html.summary_html(rows)),
                ("features", "Input features and domain", _features_html(part, names, data))]
    if figs:
        sections.append(("pictures", "Pictures", _html.figures_html(
            [(caption, render_png(fig)) for caption, fig in figs])))
    if part.dim == 2 and part.n_cells <= _MAX_MAP_CELLS:
        sections.append(("map", "Interactive map (hover a cell for its numbers)",
                         svg_map(cell_polygons(part), cells["volume"].to_numpy(dtype=float),
                                 part.domain.lo, part.domain.hi, shown, names, data, labels)))
    sections.append(_extremes(shown, cells))
    sections.append(("cells", "Cells", _html.table_html(shown, max_rows=_MAX_TABLE_ROWS)))
    if len(cx.edges):
        fans = int((cx.edges["face_volume"].to_numpy(dtype=float) == 0).sum()) \
            if "face_volume" in cx.edges else 0
        heading = "Edges of the complex (cells sharing a face)" if not fans else (
            f"Edges of the complex: cells sharing a face, and {fans} edges (face_volume 0) "
            "between cells meeting only in a lower-dimensional face")
        sections.append(("edges", heading,
                         _html.table_html(cx.edges, max_rows=_MAX_TABLE_ROWS)))
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    from .._version import __version__

    subtitle = f"{_model_name(part)} - {part.n_cells} cells in {part.dim}-D - cellgeom " \
               f"{__version__} - {stamp}"
    return _html.page(title, subtitle, sections)


def _extremes(shown: pd.DataFrame, cells: pd.DataFrame) -> tuple[str, str, str]:
    """Largest and smallest cells by volume and, when a curvature column has values, the
    most curved: a heading only ever comes with its table."""
    k = min(10, len(shown))
    vol = shown["volume"].to_numpy(dtype=float)
    by_vol = shown[np.isfinite(vol)].sort_values("volume", kind="stable")
    parts, heads = [], []
    if len(by_vol):
        parts += ["<h3>Largest</h3>", _html.table_html(by_vol.iloc[::-1].head(k)),
                  "<h3>Smallest</h3>", _html.table_html(by_vol.head(k))]
        heads.append("largest, smallest")
    else:
        parts.append('<p class="note">No cell has a volume (volumes were not computed).</p>')
    curv = _curvature_column(cells)
    if curv is not None:
        values = shown[curv].to_numpy(dtype=float)
        ok = np.isfinite(values)
        if ok.any():
            order = np.argsort(-np.abs(values[ok]), kind="stable")
            parts += [f"<h3>Most curved (|{curv}|)</h3>",
                      _html.table_html(shown[ok].iloc[order].head(k))]
            heads.append("most curved")
    head = " and ".join(heads).capitalize() + " cells" if heads else "Cells by volume"
    return "extremes", head, "".join(parts)


def _atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 text through the same temp-file-and-rename writer as saved complexes."""
    from ..complex.io import atomic_write

    atomic_write(path, text.encode("utf-8"))
