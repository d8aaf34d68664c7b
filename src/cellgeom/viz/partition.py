"""Exact pictures of 2-D partitions: cells as polygons, data, the nerve, a colour bar."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["plot_partition", "PartitionDisplay", "cell_polygons", "axis_names",
           "label_colours"]


def _split(obj):
    """(partition, complex or None) from a Partition or a RiemannianComplex."""
    from ..complex import RiemannianComplex
    from ..core import Partition

    if isinstance(obj, RiemannianComplex):
        return obj.partition, obj
    if isinstance(obj, Partition):
        return obj, None
    raise TypeError(
        f"expected a cellgeom Partition or RiemannianComplex, got {type(obj).__name__}; build "
        "one with cellgeom.partition(model, ...)."
    )


def axis_names(partition, names=None) -> list[str]:
    """Names of the partition's input axes, for labels.

    ``names`` if given (one per axis), else the names the model was fitted with
    (``partition.info["feature_names"]``, recorded by :func:`cellgeom.partition` from
    ``feature_names_in_``), else ``x_0 .. x_{n-1}``.
    """
    n = partition.dim
    if names is None:
        names = partition.info.get("feature_names")
        if names is None or len(names) != n:
            return [f"x_{j}" for j in range(n)]
    if isinstance(names, str) or len(names) != n:
        raise ValueError(f"feature_names must be a sequence of {n} names (one per input axis),"
                         f" got {names!r}.")
    return [str(v) for v in names]


def _axis_label(name: str) -> str:
    return f"${name}$" if name.startswith("x_") and name[2:].isdigit() else name


def cell_polygons(partition) -> list[np.ndarray]:
    """Counter-clockwise vertex arrays, one per cell of a 2-D partition.

    Uses the partition's exact vertices when it has them, otherwise intersects
    each cell's halfspaces (``A x <= b``) around its Chebyshev centre.

    Parameters
    ----------
    partition : Partition
        A partition of a 2-D domain.

    Returns
    -------
    list of ndarray of shape (k_i, 2)
    """
    if partition.dim != 2:
        raise ValueError(
            f"plotting needs a 2-D partition, got dimension {partition.dim}; partition a 2-D "
            "slice of the model (cellgeom.nn slices for networks) or project the data first."
        )
    if partition.has_vertices:
        return [partition.cell_vertices(i) for i in range(partition.n_cells)]
    from scipy.spatial import HalfspaceIntersection

    centers = partition.centers
    polys = []
    for i in range(partition.n_cells):
        A, b = partition.halfspaces(i)
        pts = HalfspaceIntersection(np.column_stack([A, -b]), centers[i]).intersections
        c = pts.mean(axis=0)
        polys.append(pts[np.argsort(np.arctan2(pts[:, 1] - c[1], pts[:, 0] - c[0]))])
    return polys


def _values(table: pd.DataFrame, spec, n: int, what: str):
    """Resolve a colour spec (column name or array) into (values, label)."""
    if spec is None:
        return None, None
    if isinstance(spec, str):
        if spec not in table.columns:
            raise ValueError(
                f"{what}={spec!r} is not a column; available columns: "
                f"{', '.join(map(str, table.columns))}."
            )
        return table[spec].to_numpy(), spec
    values = np.asarray(spec)
    if values.shape != (n,):
        raise ValueError(f"{what} must be a column name or an array of length {n}, got shape "
                         f"{values.shape}.")
    return values, None


_LABEL_COLUMNS = ("prediction", "label", "class", "cluster", "leaf")


def _is_numeric(values: np.ndarray, label, categorical: bool | None) -> bool:
    if categorical is not None:
        return not categorical
    if values.dtype.kind == "f":
        return True
    return values.dtype.kind in "iu" and label not in _LABEL_COLUMNS


def plot_partition(
    partition_or_complex,
    color_by: str | np.ndarray | None = None,
    ax=None,
    data=None,
    show_nerve: bool = False,
    edge_color_by: str | np.ndarray | None = None,
    cmap: str = "viridis",
    colorbar: bool = True,
    edge_cmap: str = "plasma",
    data_color=None,
    alpha: float = 0.85,
    linewidth: float = 0.6,
    categorical: bool | None = None,
    feature_names=None,
):
    """Draw the cells of a 2-D partition exactly, as polygons.

    Parameters
    ----------
    partition_or_complex : Partition or RiemannianComplex
        A 2-D partition, or a complex (its partition is drawn, its nerve on top).
    color_by : str or array of shape (n_cells,), optional
        Column of ``cells`` (``"volume"``, ``"n_points"``, ``"prediction"``, a
        curvature column, ...) or values per cell. Numbers use ``cmap`` and a
        colour bar, cells without a value (NaN) are grey with a legend entry; labels,
        booleans and strings get one colour each and a legend (see ``categorical``).
        None: plain cells.
    ax : matplotlib Axes, optional
        Where to draw; default a new figure.
    data : array of shape (N, 2), optional
        Data points drawn over the cells.
    show_nerve : bool
        Draw the nerve: a vertex at each cell centroid and an edge per pair of
        cells sharing a face (builds ``cellgeom.build_complex`` for a partition; the fan
        diagonals of the "dual" complex join cells sharing no face and are not drawn).
    edge_color_by : str or array of shape (n_edges,), optional
        Column of the complex's ``edges`` table (``"face_volume"``, ``"length"``,
        a curvature column) colouring the nerve edges.
    cmap, edge_cmap : str
        Colour maps for cells and for edges.
    colorbar : bool
        Add colour bars for numeric colourings.
    data_color : color or array of shape (N,), optional
        Colour of the data points. Labels (integers, strings or booleans, at most 20
        distinct) get one colour and one legend entry each; floats a colour map.
    alpha, linewidth : float
        Cell fill opacity and outline width.
    categorical : bool, optional
        Force discrete (True) or continuous (False) colours for ``color_by``.
        Default: floats and counts are continuous; strings, booleans and integer
        columns named ``prediction``/``label``/``class``/``cluster``/``leaf`` are
        discrete.
    feature_names : sequence of 2 str, optional
        Axis labels. Default: the names the model was fitted with (its
        ``feature_names_in_``, as scikit-learn records them), else ``x_0``, ``x_1``.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np, cellgeom
    >>> arr = cellgeom.HyperplaneArrangement([[1, 0], [0, 1]], [-0.3, -0.6])
    >>> part = cellgeom.partition(arr, domain=([0, 0], [1, 1]), cells="all", progress=False)
    >>> ax = cellgeom.plot_partition(part, color_by="volume", show_nerve=True)
    >>> len(ax.collections) >= 2
    True
    """
    from matplotlib import colormaps
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.patches import Patch

    part, cx = _split(partition_or_complex)
    polys = cell_polygons(part)
    names = axis_names(part, feature_names)
    own_figure = ax is None
    if own_figure:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 5))
    lo, hi = part.domain.lo, part.domain.hi
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal", adjustable="box")
    values, label = _values(part.cells, color_by, part.n_cells, "color_by")
    handles = []  # one legend for the categories, the data and the nerve
    coll = PolyCollection(polys, edgecolors="0.15", linewidths=linewidth, alpha=alpha)
    if values is None:
        coll.set_facecolor("#dfe7f2")
    elif _is_numeric(values, label, categorical):
        numbers = values.astype(float)
        coll.set_array(numbers)
        # cells without a value (NaN) in grey, named in the legend, not left blank
        nan_colour = _nan_colour(cmap)
        coll.set_cmap(colormaps[cmap].with_extremes(bad=nan_colour))
        missing = int(np.count_nonzero(~np.isfinite(numbers)))
        if missing:
            handles.append(Patch(facecolor=nan_colour, edgecolor="0.15",
                                 label=f"no value (NaN): {missing} cells"))
        if colorbar:
            _colorbar(ax, coll, label or "value")
    else:
        cats, inverse = np.unique(values.astype(str), return_inverse=True)
        palette = colormaps["tab10" if len(cats) <= 10 else "tab20"]
        colors = [palette(j % palette.N) for j in range(len(cats))]
        coll.set_facecolor([colors[j] for j in inverse])
        handles += [Patch(color=colors[j], label=str(c)) for j, c in enumerate(cats)]
    ax.add_collection(coll)
    if data is not None:
        X = part.points(data, name="data", allow_empty=False)
        handles += _draw_data(ax, X, data_color)
    if show_nerve or edge_color_by is not None:
        if cx is None:
            from ..complex import build_complex

            cx = build_complex(part, progress=False)  # a drawing: no bar
        handles.append(_draw_nerve(ax, cx, edge_color_by, edge_cmap, colorbar,
                                   LineCollection))
    if handles:
        title = label if values is not None and not _is_numeric(values, label, categorical) \
            else None
        ax.legend(handles=handles, title=title, loc="best", fontsize="small", framealpha=0.85)
    ax.set_xlabel(_axis_label(names[0]))
    ax.set_ylabel(_axis_label(names[1]))
    if own_figure:  # the colour bars sit right of the axes: keep them and their labels in
        ax.figure.tight_layout()
    return ax


def _nan_colour(cmap: str) -> str:
    """Cells without a value: grey on a coloured map, light red on a grey one."""
    grey = str(cmap).lower().startswith(("grey", "gray", "binary"))
    return "#f2c4b8" if grey else "0.78"


def label_colours(k: int) -> list[tuple[str, str]]:
    """(fill, edge) hex colours of k point labels, visible on cells of any colour: white
    and black for two labels, else Set1 (tab20 above 9) with black edges."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    if k <= 2:
        return [("#ffffff", "#000000"), ("#000000", "#ffffff")][:k]
    palette = colormaps["Set1" if k <= 9 else "tab20"]
    return [(to_hex(palette(j % palette.N)), "#000000") for j in range(k)]


def _draw_data(ax, X, data_color) -> list:
    """Scatter the data; labels (integers, strings, booleans: at most 20 values) get one
    colour and one legend entry each, floats a colour map."""

    kw = {"s": 8, "edgecolors": "white", "linewidths": 0.3, "zorder": 3}
    per_point = data_color is not None and np.ndim(data_color) == 1 and \
        len(data_color) == len(X)
    if per_point:
        values = np.asarray(data_color)
        cats = np.unique(values.astype(str))
        if values.dtype.kind != "f" and len(cats) <= 20:
            text = values.astype(str)
            kw.update(s=12, linewidths=0.6)
            return [ax.scatter(X[text == c, 0], X[text == c, 1], c=fill, edgecolors=edge,
                               label=f"data: {c}", **{k: v for k, v in kw.items()
                                                      if k != "edgecolors"})
                    for c, (fill, edge) in zip(cats, label_colours(len(cats)))]
        return [ax.scatter(X[:, 0], X[:, 1], c=values, cmap="coolwarm",
                           label=f"data ({len(X)} points)", **kw)]
    colour = "k" if data_color is None else data_color
    return [ax.scatter(X[:, 0], X[:, 1], c=colour, label=f"data ({len(X)} points)", **kw)]


def _colorbar(ax, mappable, label: str):
    """A colour bar as tall as the (equal-aspect) axes, on its right.

    An inset of the axes (placed in axes coordinates, so it follows the aspect-adjusted
    box) rather than an axes_grid1 divider: layout managers ("constrained", "tight")
    see an inset's labels and keep the neighbouring subplot clear of them.
    """
    bars = getattr(ax, "_cellgeom_colorbars", 0)
    # the second bar leaves room for the first one's tick labels and label
    cax = ax.inset_axes([1.03 + 0.22 * bars, 0.0, 0.04, 1.0])
    ax._cellgeom_colorbars = bars + 1
    ax.figure.colorbar(mappable, cax=cax, label=label)


def _draw_nerve(ax, cx, edge_color_by, edge_cmap, colorbar, LineCollection):
    """The edges between cells sharing a face (a fan diagonal of the "dual" complex joins
    cells that only meet at a point or a lower face: not drawn)."""
    cen = cx.partition.centroids
    shared = cx.edges["face_volume"].to_numpy(dtype=float) > 0
    edges = cx.edges[["a", "b"]].to_numpy(dtype=np.int64)[shared]
    segs = np.stack([cen[edges[:, 0]], cen[edges[:, 1]]], axis=1) if len(edges) else \
        np.zeros((0, 2, 2))
    values, label = _values(cx.edges, edge_color_by, len(shared), "edge_color_by")
    if values is not None:
        values = np.asarray(values)[shared]
    lines = LineCollection(segs, linewidths=1.2, zorder=4)
    if values is None:
        lines.set_color("k")
    else:
        lines.set_array(np.asarray(values, dtype=float))
        lines.set_cmap(edge_cmap)
        lines.set_linewidth(2.0)
        if colorbar:
            _colorbar(ax, lines, label or "edge value")
    ax.add_collection(lines)
    return ax.scatter(cen[:, 0], cen[:, 1], s=14, c="white", edgecolors="k", linewidths=0.8,
                      label="nerve (cells sharing a face)", zorder=5)


class PartitionDisplay:
    """Exact picture of a model's cells, in the idiom of scikit-learn's
    ``DecisionBoundaryDisplay``: compute once, draw with :meth:`plot`.

    Where ``DecisionBoundaryDisplay`` samples the decision regions on a grid,
    this draws every cell exactly as a polygon.

    Parameters
    ----------
    partition : Partition
    complex : RiemannianComplex, optional
        Its nerve is drawn when ``show_nerve`` is set in :meth:`plot`.
    data : array of shape (N, 2), optional

    Attributes
    ----------
    ax_ : matplotlib Axes
        Set by :meth:`plot`.
    figure_ : matplotlib Figure
        Set by :meth:`plot`.

    Examples
    --------
    >>> import numpy as np, cellgeom
    >>> from cellgeom.viz import PartitionDisplay
    >>> X = np.random.default_rng(0).uniform(-1, 1, (50, 2))
    >>> arr = cellgeom.HyperplaneArrangement([[1, 1], [1, -1]], [0.1, 0.0])
    >>> disp = PartitionDisplay.from_estimator(arr, X, color_by="n_points")
    >>> disp.figure_ is disp.ax_.figure
    True
    """

    def __init__(self, partition, complex=None, data=None):  # noqa: A002
        self.partition = partition
        self.complex = complex
        self.data = data

    def plot(self, ax=None, *, color_by=None, show_nerve: bool = False, **kwargs: Any):
        """Draw on ``ax`` (a new figure if None); keyword arguments as for
        :func:`plot_partition`. Returns ``self``."""
        target = self.complex if (show_nerve and self.complex is not None) else self.partition
        self.ax_ = plot_partition(target, color_by=color_by, ax=ax, data=self.data,
                                  show_nerve=show_nerve, **kwargs)
        self.figure_ = self.ax_.figure
        return self

    @classmethod
    def from_estimator(cls, estimator, X, *, domain=None, cells: str = "data",
                       color_by: str | None = "prediction", show_nerve: bool = False,
                       ax=None, progress: bool = False, plot_data: bool = True,
                       **kwargs: Any) -> PartitionDisplay:
        """Partition ``estimator`` on the data ``X`` and draw it.

        Parameters
        ----------
        estimator : model supported by :func:`cellgeom.partition`
        X : array of shape (N, 2)
        domain : Box or (lo, hi), optional
            Default: the padded bounding box of ``X``.
        cells : {"data", "all"}
        color_by : str, optional
            Cell column; ``"prediction"`` falls back to ``"n_points"`` when the
            adapter adds no prediction.
        show_nerve : bool
        ax : matplotlib Axes, optional
        progress : bool
        plot_data : bool
            Draw ``X`` over the cells.
        **kwargs
            Passed to :func:`plot_partition`.
        """
        from ..models import partition as make_partition

        part = make_partition(estimator, domain=domain, data=X, cells=cells, progress=progress)
        if color_by == "prediction" and "prediction" not in part.cells.columns:
            color_by = "n_points"
        cx = None
        if show_nerve:
            from ..complex import build_complex

            cx = build_complex(part, progress=progress)
        disp = cls(part, cx, data=X if plot_data else None)
        return disp.plot(ax=ax, color_by=color_by, show_nerve=show_nerve, **kwargs)

    @classmethod
    def from_partition(cls, partition_or_complex, data=None, *, ax=None, color_by=None,
                       show_nerve: bool = False, **kwargs: Any) -> PartitionDisplay:
        """Draw an existing Partition or RiemannianComplex."""
        part, cx = _split(partition_or_complex)
        disp = cls(part, cx, data=data)
        return disp.plot(ax=ax, color_by=color_by, show_nerve=show_nerve, **kwargs)
