"""Cell statistics from data: counts, mass, density, labels, edge densities (THEORY.md s. 8).

Every function here returns *new* arrays or a *new* DataFrame (a copy of the partition's
``cells`` table or of the complex's ``edges`` table with columns added); the partition and
the complex are never modified.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._deprecation import renamed_keywords

__all__ = ["cell_counts", "cell_density", "cell_statistics", "edge_density", "edge_statistics"]

EDGE_MEANS = ("geometric", "arithmetic", "harmonic")


def _partition_of(obj):
    """The Partition behind a RiemannianComplex, or the Partition itself."""
    from ..complex import RiemannianComplex
    from ..core import Partition

    if isinstance(obj, RiemannianComplex):
        return obj.partition
    if isinstance(obj, Partition):
        return obj
    raise TypeError(
        f"expected a cellgeom RiemannianComplex or Partition, got {type(obj).__name__}."
    )


def _edges_of(cx) -> np.ndarray:
    from ..complex import RiemannianComplex

    if not isinstance(cx, RiemannianComplex):
        raise TypeError(
            f"expected a cellgeom RiemannianComplex (cellgeom.build_complex(partition)), got "
            f"{type(cx).__name__}."
        )
    return cx.simplices(1) if cx.dim >= 1 else np.zeros((0, 2), dtype=np.int64)


@renamed_keywords(weights="sample_weight")
def cell_counts(obj, data=None, sample_weight=None) -> tuple[np.ndarray, float]:
    """Data points per cell and the total mass N.

    Parameters
    ----------
    obj : RiemannianComplex or Partition
    data : array of shape (N, n), optional
        Points located in the cells with ``Partition.locate``. Default: the partition's own
        ``n_points`` column (the data it was built with).
    sample_weight : array of shape (N,), optional
        Non-negative weight of each data point (default 1 each). Only with ``data``.

    Returns
    -------
    counts : float array (n_cells,)
        n_i, the (weighted) number of points in cell i.
    total : float
        N, the (weighted) number of points given, *including* points that fall outside every
        cell (outside the domain, or in a cell a ``cells="data"`` partition left out), so
        ``sum(counts) <= total``.

    Raises
    ------
    ValueError
        Data of the wrong dimension, a bad sample_weight, or no point in any cell.
    """
    part = _partition_of(obj)
    if part.n_cells == 0:
        raise ValueError("the partition has no cells: no statistics to compute.")
    if data is None:
        if sample_weight is not None:
            raise ValueError("sample_weight was given without data: pass data= with it.")
        counts = part.cells["n_points"].to_numpy(dtype=float)
        total = float(counts.sum())
        if total <= 0:
            raise ValueError(
                "no data: the partition's n_points are all 0 (it was built without data); "
                "pass data=X."
            )
        return counts, total
    X = part.points(data, name="data", allow_empty=False)
    if sample_weight is None:
        w = np.ones(X.shape[0])
    else:
        w = np.asarray(sample_weight, dtype=float)
        if w.shape != (X.shape[0],):
            raise ValueError(
                f"sample_weight must have one entry per data point: data has {X.shape[0]} "
                f"points, sample_weight has shape {w.shape}."
            )
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("sample_weight must be finite and non-negative.")
    cell = part.locate(X)
    inside = cell >= 0
    counts = np.bincount(cell[inside], weights=w[inside], minlength=part.n_cells).astype(float)
    if counts.sum() <= 0:
        raise ValueError(
            f"none of the {X.shape[0]} data points lies in a cell of the partition (check the "
            "domain box and the data's scale)."
        )
    return counts, float(w.sum())


@renamed_keywords(weights="sample_weight")
def cell_density(obj, data=None, sample_weight=None) -> tuple[np.ndarray, np.ndarray]:
    """Cell mass p_i = n_i / N and density rho_i = p_i / vol_n(C_i).

    ``data`` and ``sample_weight`` as in :func:`cell_counts`.

    Returns
    -------
    mass : float array (n_cells,)
        Dimensionless; sums to the fraction of the data inside the partition.
    density : float array (n_cells,)
        In 1 / (length unit)^n. NaN where a volume is NaN or 0 (an estimator failed).

    Examples
    --------
    >>> import cellgeom
    >>> arr = cellgeom.HyperplaneArrangement([[1, 0]], [-0.5])
    >>> part = cellgeom.partition(arr, domain=([0, 0], [1, 1]), cells="all", progress=False)
    >>> mass, rho = cell_density(part, data=[[0.2, 0.5], [0.7, 0.5], [0.9, 0.1]])
    >>> mass.round(3).tolist(), rho.round(3).tolist()
    ([0.333, 0.667], [0.667, 1.333])
    """
    part = _partition_of(obj)
    counts, total = cell_counts(part, data, sample_weight)
    mass = counts / total
    vol = part.volumes.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        density = np.where(vol > 0, mass / vol, np.nan)
    return mass, density


@renamed_keywords(mean="edge_mean")
def edge_density(density, edges, edge_mean: str = "geometric") -> np.ndarray:
    r"""Density of each edge from its two cells' densities (THEORY.md section 8).

    Parameters
    ----------
    density : float array (n_cells,)
        Cell densities rho_i, in 1 / length^n.
    edges : int array (n_edges, 2)
    edge_mean : {"geometric", "arithmetic", "harmonic"}
        :math:`\sqrt{\rho_a \rho_b}` (default, the edge density of THEORY.md),
        :math:`(\rho_a + \rho_b) / 2` or :math:`2 \rho_a \rho_b / (\rho_a + \rho_b)`
        (0 when both are 0). ``mean=`` is its deprecated old name.

    Returns
    -------
    float array (n_edges,)
        In the unit of ``density``; NaN where a cell density is NaN (a cell
        without a volume).

    Notes
    -----
    harmonic <= geometric <= arithmetic. The geometric and harmonic means are 0 as soon as
    one of the two cells is empty; the arithmetic mean only when both are. A zero edge
    density is an infinite edge length :math:`d_\rho = l / \rho^\alpha` in
    :func:`~cellgeom.analysis.density.density_metric` and the curvatures, so under the
    default every edge of an empty cell is cut.

    Examples
    --------
    >>> edge_density([1.0, 4.0], [[0, 1]]).tolist()  # sqrt(1 * 4)
    [2.0]
    >>> edge_density([1.0, 4.0], [[0, 1]], "arithmetic").tolist()
    [2.5]
    >>> edge_density([1.0, 4.0], [[0, 1]], "harmonic").tolist()  # 2 * 4 / 5
    [1.6]
    >>> edge_density([0.0, 4.0], [[0, 1]]).tolist()  # an empty cell: zero density
    [0.0]
    """
    if edge_mean not in EDGE_MEANS:
        raise ValueError(f"edge density mean (edge_mean) must be one of {EDGE_MEANS}, "
                         f"got {edge_mean!r}.")
    rho = np.asarray(density, dtype=float)
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    ra, rb = rho[edges[:, 0]], rho[edges[:, 1]]
    if edge_mean == "geometric":
        return np.sqrt(ra * rb)
    if edge_mean == "arithmetic":
        return 0.5 * (ra + rb)
    s = ra + rb
    with np.errstate(divide="ignore", invalid="ignore"):
        # 0 between two empty cells, NaN (as the other means) next to a NaN density
        return np.where(s > 0, 2 * ra * rb / np.where(s > 0, s, 1.0), s * 0.0)


@renamed_keywords(weights="sample_weight")
def cell_statistics(obj, data=None, labels=None, sample_weight=None,
                    target: str = "auto") -> pd.DataFrame:
    """A copy of the ``cells`` table with the data statistics as new columns.

    Parameters
    ----------
    obj : RiemannianComplex or Partition
    data : array of shape (N, n), optional
        Default: the partition's ``n_points`` (then ``labels`` cannot be used).
    labels : array of shape (N,), optional
        A class label per data point, or a regression target.
    sample_weight : array of shape (N,), optional
        Weight of each data point (default 1).
    target : {"auto", "classes", "continuous"}
        How to read ``labels``. "auto": a regression target when the partition's model is
        a regressor (integer-valued targets such as counts included) or the labels are
        floats with non-integer values (scikit-learn's "continuous" type), else classes.

    Returns
    -------
    DataFrame
        The partition's cell table (a copy; the partition is unchanged) plus ``count`` (n_i,
        weighted), ``mass`` (p_i = n_i / N), ``density`` (rho_i = p_i / vol C_i, in
        1/length^n) and, with ``labels``: ``label_<c>`` (fraction of the cell's mass with
        label c), ``purity`` (the largest fraction) and ``majority`` (its label); with a
        continuous target: ``target_mean`` and ``target_std`` (weighted, about the cell's
        mean); NaN / None in cells without data.

    Notes
    -----
    N counts every point given, also those outside every cell, so the masses sum to the
    fraction of the data inside the partition.

    Examples
    --------
    >>> import cellgeom
    >>> arr = cellgeom.HyperplaneArrangement([[1, 0]], [-0.5])
    >>> part = cellgeom.partition(arr, domain=([0, 0], [1, 1]), cells="all", progress=False)
    >>> X = [[0.2, 0.5], [0.7, 0.5], [0.9, 0.1]]
    >>> t = cell_statistics(part, X, labels=["a", "a", "b"])
    >>> t[["count", "mass", "purity", "majority"]].round(3).values.tolist()
    [[1.0, 0.333, 1.0, 'a'], [2.0, 0.667, 0.5, 'a']]
    """
    part = _partition_of(obj)
    counts, total = cell_counts(part, data, sample_weight)
    mass, density = counts / total, cell_density(part, data, sample_weight)[1]
    table = part.cells.copy()
    table["count"] = counts
    table["mass"] = mass
    table["density"] = density
    if labels is None:
        return table
    if data is None:
        raise ValueError("labels need the data points they belong to: pass data= too.")
    X = part.points(data, name="data", allow_empty=False)
    lab = np.asarray(labels)
    if lab.shape != (X.shape[0],):
        raise ValueError(
            f"labels must have one entry per data point: data has {X.shape[0]} points, labels "
            f"has shape {lab.shape}."
        )
    w = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    cell = part.locate(X)
    inside = cell >= 0
    if _is_continuous(lab, part.model, target):  # its weighted mean and spread per cell
        return _target_statistics(table, counts, cell, inside, lab.astype(float), w)
    classes, code = np.unique(lab, return_inverse=True)
    hist = np.zeros((part.n_cells, classes.size))
    np.add.at(hist, (cell[inside], code.ravel()[inside]), w[inside])
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = hist / counts[:, None]
    frac[counts <= 0] = np.nan
    for j, c in enumerate(classes.tolist()):
        table[f"label_{c}"] = frac[:, j]
    has = counts > 0
    table["purity"] = np.where(has, np.nanmax(np.where(has[:, None], frac, 0.0), axis=1), np.nan)
    top = np.argmax(np.where(has[:, None], frac, -1.0), axis=1)
    # np.unique of an object array (a pandas Series of strings) gives Python objects
    table["majority"] = pd.Series([_plain(classes[t]) if h else None for t, h in zip(top, has)],
                                  index=table.index, dtype=object)
    return table


def _plain(value):
    """A NumPy scalar as its Python value; any other object as it is."""
    return value.item() if isinstance(value, np.generic) else value


def _is_continuous(lab: np.ndarray, model, target: str) -> bool:
    """Whether ``lab`` is a regression target (see ``target`` of :func:`cell_statistics`)."""
    from sklearn.base import is_regressor
    from sklearn.utils.multiclass import type_of_target

    if target not in ("auto", "classes", "continuous"):
        raise ValueError(f"target must be 'auto', 'classes' or 'continuous', got {target!r}.")
    if target != "auto":
        if target == "continuous" and lab.dtype.kind not in "biuf":
            raise ValueError("target='continuous' needs numeric labels.")
        return target == "continuous"
    if lab.dtype.kind not in "biuf":
        return False
    from ..models._sklearn import final_estimator

    final = final_estimator(model)
    try:
        regressor = final is not None and is_regressor(final)
    except Exception:  # noqa: BLE001 - not a scikit-learn-style estimator
        regressor = False
    return regressor or (lab.dtype.kind == "f" and type_of_target(lab) == "continuous")


def _target_statistics(table, counts, cell, inside, y, w) -> pd.DataFrame:
    m = len(table)
    total = np.bincount(cell[inside], weights=w[inside] * y[inside], minlength=m)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(counts > 0, total / counts, np.nan)
        # the spread about the cell's own mean, summed directly (no cancellation)
        dev = (y[inside] - mean[cell[inside]]) ** 2
        var = np.bincount(cell[inside], weights=w[inside] * dev, minlength=m) / counts
    table["target_mean"] = mean
    table["target_std"] = np.where(counts > 0, np.sqrt(var), np.nan)
    return table


@renamed_keywords(weights="sample_weight")
def edge_statistics(cx, data=None, sample_weight=None) -> pd.DataFrame:
    """A copy of the complex's ``edges`` table with the three edge densities as columns.

    Adds ``density_geometric`` = sqrt(rho_a rho_b) (THEORY.md's edge density, the default
    of :func:`edge_density` and of the density metric and curvatures),
    ``density_arithmetic`` = (rho_a + rho_b)/2 and ``density_harmonic`` =
    2 rho_a rho_b / (rho_a + rho_b), in 1/length^n. The complex is unchanged. ``data`` and
    ``sample_weight`` as in :func:`cell_counts`.

    Examples
    --------
    >>> import cellgeom
    >>> arr = cellgeom.HyperplaneArrangement([[1, 0]], [-0.5])
    >>> part = cellgeom.partition(arr, domain=([0, 0], [1, 1]), cells="all", progress=False)
    >>> t = edge_statistics(cellgeom.build_complex(part), data=[[0.2, 0.5], [0.7, 0.5], [0.9, 0.1]])
    >>> t[["density_geometric", "density_arithmetic"]].round(4).values.tolist()
    [[0.9428, 1.0]]
    """
    edges = _edges_of(cx)
    density = cell_density(cx, data, sample_weight)[1]
    table = cx.edges.copy()
    for mean in EDGE_MEANS:
        table[f"density_{mean}"] = edge_density(density, edges, mean)
    return table
