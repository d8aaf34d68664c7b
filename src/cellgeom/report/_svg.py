"""The report's interactive map of a 2-D partition: an inline SVG with axes, a colour bar,
the data points and a legend; hovering a cell shows its row of the cell table.

Pure string building; colours and tick positions come from matplotlib's colormaps and
locators (no figure is drawn).
"""
from __future__ import annotations

import html
import json
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._html import fmt

#: pixels: plot width, margins (left for tick labels and the y name, bottom for the x name,
#: right for the colour bar and its labels)
PLOT_WIDTH, MAX_PLOT_HEIGHT = 560, 560
LEFT, RIGHT, TOP, BOTTOM = 72, 112, 12, 50
LEGEND_ROW = 18
MAX_POINTS = 5000


def _ticks(lo: float, hi: float, n: int = 6) -> np.ndarray:
    from matplotlib.ticker import MaxNLocator

    t = MaxNLocator(n).tick_values(lo, hi)
    return t[(t >= lo - 1e-12 * (hi - lo)) & (t <= hi + 1e-12 * (hi - lo))]


def _hex(cmap, t) -> list[str]:
    from matplotlib.colors import to_hex

    return [to_hex(cmap(float(x))) for x in np.atleast_1d(t)]


def cell_colour_scale(values: np.ndarray) -> tuple[np.ndarray, str, float, float]:
    """Normalised colour positions in [0, 1] of the cell volumes, the scale's label and
    its range; log10 when the positive volumes span more than two decades.
    Non-finite values get NaN (drawn grey)."""
    v = np.asarray(values, dtype=float)
    good = np.isfinite(v)
    label = "volume"
    if good.any() and (v[good] > 0).all() and v[good].max() / v[good].min() > 100:
        v = np.where(good, np.log10(np.where(good, v, 1.0)), np.nan)
        label = "log10 volume"
    lo = float(np.nanmin(v)) if good.any() else 0.0
    hi = float(np.nanmax(v)) if good.any() else 1.0
    t = (v - lo) / (hi - lo) if hi > lo else np.where(good, 0.5, np.nan)
    return t, label, lo, hi


def svg_map(polygons: Sequence[np.ndarray], values: np.ndarray, lo, hi, table: pd.DataFrame,
            names: Sequence[str], data: np.ndarray | None = None,
            labels: np.ndarray | None = None) -> str:
    """Inline SVG of the cells coloured by ``values`` (cell volumes) with axes named
    ``names``, a colour bar, the data points (coloured by ``labels`` when given, at most
    5000 drawn) and a legend. Hovering a cell shows its row of ``table``."""
    from matplotlib import colormaps

    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    span = hi - lo
    w = PLOT_WIDTH
    h = int(round(w * span[1] / span[0]))
    if h > MAX_PLOT_HEIGHT:
        w, h = max(120, int(round(w * MAX_PLOT_HEIGHT / h))), MAX_PLOT_HEIGHT
    h = max(h, 120)
    sx, sy = w / span[0], h / span[1]

    def px(x):
        return LEFT + (np.asarray(x) - lo[0]) * sx

    def py(y):
        return TOP + h - (np.asarray(y) - lo[1]) * sy

    t, scale_label, vmin, vmax = cell_colour_scale(values)
    viridis = colormaps["viridis"]
    colours = [c if np.isfinite(x) else "#bbbbbb"
               for c, x in zip(_hex(viridis, np.nan_to_num(t, nan=0.0)), t)]
    parts = [f'<rect class="frame" x="{LEFT}" y="{TOP}" width="{w}" height="{h}"/>']
    for i, (P, colour) in enumerate(zip(polygons, colours)):
        pts = " ".join(f"{x:.2f},{y:.2f}" for x, y in zip(px(P[:, 0]), py(P[:, 1])))
        parts.append(f'<polygon data-cell="{i}" points="{pts}" fill="{colour}"></polygon>')

    legend = [("swatch", colours[len(colours) // 2] if colours else "#888",
               f"cell (colour: {scale_label}; hover for its numbers)")]
    if data is not None and len(data):
        parts.append(_points(data, labels, px, py, legend))
    parts.append(_axes(lo, hi, w, h, px, py, names))
    parts.append(_colorbar(viridis, vmin, vmax, scale_label, w, h))
    legend_svg, legend_height = _legend(legend, TOP + h + BOTTOM)
    parts.append(legend_svg)
    width, height = LEFT + w + RIGHT, TOP + h + BOTTOM + legend_height
    payload = json.dumps({"columns": [str(c) for c in table.columns],
                          "rows": [[fmt(v) for v in row]
                                   for row in table.itertuples(index=False)]})
    payload = payload.replace("</", "<\\/")
    return (f'<div id="map-wrap"><svg id="cellmap" xmlns="http://www.w3.org/2000/svg" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="map of the cells">{"".join(parts)}</svg>'
            f'<div id="tooltip"></div></div>'
            f'<script type="application/json" id="cell-data">{payload}</script>')


def _points(data, labels, px, py, legend) -> str:

    X = np.asarray(data, dtype=float)
    keep = np.arange(len(X))
    if len(X) > MAX_POINTS:  # a fixed subsample: the page stays light
        keep = np.sort(np.random.default_rng(0).choice(len(X), MAX_POINTS, replace=False))
    if labels is None:
        fills = np.full(len(X), "#111111", dtype=object)
        legend.append(("point", "#111111", f"data ({len(X)} points"
                       + (f", {MAX_POINTS} drawn)" if len(X) > MAX_POINTS else ")")))
    else:
        from ..viz import label_colours

        cats, code = np.unique(np.asarray(labels).astype(str), return_inverse=True)
        hexes = [fill for fill, _ in label_colours(len(cats))]  # as in the PNG pictures
        fills = np.array([hexes[c] for c in code.ravel()], dtype=object)
        for j, c in enumerate(cats[:20]):
            legend.append(("point", hexes[j], f"data, label {c}"))
    dots = "".join(f'<circle class="{_point_class(f, labels)}" cx="{x:.2f}" cy="{y:.2f}" '
                   f'r="2.4" fill="{f}"/>'
                   for x, y, f in zip(px(X[keep, 0]), py(X[keep, 1]), fills[keep]))
    return f'<g class="points">{dots}</g>'


def _point_class(fill: str, labels) -> str:
    """Outline class of a point: white around black labelled points, black around the other
    labelled ones (they must show on cells of any colour); unlabelled points keep white."""
    if labels is None:
        return "pt"
    return "labk" if fill == "#000000" else "lab"


def _axes(lo, hi, w, h, px, py, names) -> str:
    out = ['<g class="axis axis-x">',
           f'<line x1="{LEFT}" y1="{TOP + h}" x2="{LEFT + w}" y2="{TOP + h}"/>']
    for v in _ticks(lo[0], hi[0]):
        x = float(px(v))
        out.append(f'<line x1="{x:.1f}" y1="{TOP + h}" x2="{x:.1f}" y2="{TOP + h + 5}"/>'
                   f'<text x="{x:.1f}" y="{TOP + h + 18}" text-anchor="middle">'
                   f'{html.escape(fmt(float(v)))}</text>')
    out.append(f'<text class="name" x="{LEFT + w / 2:.1f}" y="{TOP + h + 38}" '
               f'text-anchor="middle">{html.escape(names[0])}</text></g>')
    out += ['<g class="axis axis-y">',
            f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + h}"/>']
    for v in _ticks(lo[1], hi[1]):
        y = float(py(v))
        out.append(f'<line x1="{LEFT - 5}" y1="{y:.1f}" x2="{LEFT}" y2="{y:.1f}"/>'
                   f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">'
                   f'{html.escape(fmt(float(v)))}</text>')
    cy = TOP + h / 2
    out.append(f'<text class="name" x="16" y="{cy:.1f}" text-anchor="middle" '
               f'transform="rotate(-90 16 {cy:.1f})">{html.escape(names[1])}</text></g>')
    return "".join(out)


def _colorbar(cmap, vmin, vmax, label, w, h) -> str:
    x0, bw = LEFT + w + 18, 14
    stops = "".join(f'<stop offset="{k / 10:.1f}" stop-color="{c}"/>'
                    for k, c in enumerate(_hex(cmap, np.linspace(1, 0, 11))))
    out = [f'<g class="colorbar"><defs><linearGradient id="cbar" x1="0" y1="0" x2="0" '
           f'y2="1">{stops}</linearGradient></defs>',
           f'<rect x="{x0}" y="{TOP}" width="{bw}" height="{h}" fill="url(#cbar)" '
           'stroke="#333" stroke-width="0.6"/>']
    ticks = _ticks(vmin, vmax, 5) if vmax > vmin else np.array([vmin])
    for v in ticks:
        y = TOP + h - (v - vmin) / (vmax - vmin) * h if vmax > vmin else TOP + h / 2
        out.append(f'<line x1="{x0 + bw}" y1="{y:.1f}" x2="{x0 + bw + 4}" y2="{y:.1f}"/>'
                   f'<text x="{x0 + bw + 7}" y="{y + 4:.1f}">{html.escape(fmt(float(v)))}'
                   '</text>')
    xl = x0 + bw + 62
    out.append(f'<text class="name" x="{xl}" y="{TOP + h / 2:.1f}" text-anchor="middle" '
               f'transform="rotate(90 {xl} {TOP + h / 2:.1f})">{html.escape(label)}</text></g>')
    return "".join(out)


def _legend(entries, y0) -> tuple[str, int]:
    rows = []
    for k, (kind, colour, text) in enumerate(entries):
        y = y0 + k * LEGEND_ROW
        mark = (f'<rect x="{LEFT}" y="{y - 9}" width="12" height="12" fill="{colour}" '
                'stroke="#222" stroke-width="0.6"/>' if kind == "swatch" else
                f'<circle class="{"labk" if colour == "#000000" else "lab"}" '
                f'cx="{LEFT + 6}" cy="{y - 3}" r="3.5" fill="{colour}"/>')
        rows.append(f'{mark}<text x="{LEFT + 20}" y="{y + 1}">{html.escape(text)}</text>')
    return f'<g class="legend">{"".join(rows)}</g>', len(entries) * LEGEND_ROW + 6
