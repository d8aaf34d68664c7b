"""Plots of spectra, per-layer cell counts and training-dynamics tables."""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["operator_scale", "plot_spectrum", "plot_layer_counts", "plot_training",
           "spectrum"]


def spectrum(cx, p: int = 0, k: int = 30, kind: str = "hodge") -> np.ndarray:
    """The ``k`` smallest eigenvalues of a Laplacian of the complex.

    Parameters
    ----------
    cx : RiemannianComplex
    p : int
        Chain degree for ``kind="hodge"``.
    k : int
        How many eigenvalues (clipped to the size of the operator).
    kind : {"hodge", "cell"}
        ``"hodge"``: the weighted Hodge Laplacian ``L_p`` (THEORY.md s. 4);
        ``"cell"``: the finite-volume cell Laplacian ``Delta_0 = M_0^{-1} B_1 W B_1^T``.

    Returns
    -------
    ndarray of shape (k,), ascending
    """
    from ..analysis.laplacians import cell_stiffness
    from ..analysis.spectral import hodge_spectrum, smallest_eigenpairs

    if kind == "hodge":
        if p > cx.dim:
            return np.zeros(0)
        return hodge_spectrum(cx, p, k=k)[0]
    if kind == "cell":
        return smallest_eigenpairs(cell_stiffness(cx), k=k, M=cx.gram(0))[0]
    raise ValueError(f"kind must be 'hodge' or 'cell', got {kind!r}.")


def operator_scale(cx, p: int = 0, kind: str = "hodge") -> float:
    """Gershgorin bound of the Laplacian's spectrum: max_i sum_j |S_ij| / M_ii.

    The scale against which an eigenvalue counts as zero (rounding errors of the
    eigensolver are a small multiple of it times machine epsilon).
    """
    from ..analysis.laplacians import cell_stiffness, hodge_stiffness

    if kind == "hodge":
        S, M = hodge_stiffness(cx, p, True)
    else:
        S, M = cell_stiffness(cx), cx.gram(0)
    d = np.abs(M.diagonal())
    d = np.where(d > 0, d, 1.0)
    rows = np.asarray(abs(S).sum(axis=1)).ravel() / d
    return float(rows.max()) if rows.size else 0.0


def plot_spectrum(cx_or_values, p: int = 0, k: int = 30, kind: str = "hodge", ax=None,
                  zero_tol: float = 1e-9, label: str | None = None,
                  scale: float | None = None):
    """Plot the smallest eigenvalues of a Laplacian; zero eigenvalues are highlighted.

    Parameters
    ----------
    cx_or_values : RiemannianComplex or array of eigenvalues
    p, k, kind
        See :func:`spectrum` (ignored when eigenvalues are given).
    ax : matplotlib Axes, optional
    zero_tol : float
        Eigenvalues with ``|lambda| <= zero_tol * scale`` count as zero (their number
        is the Betti number ``b_p`` for the Hodge Laplacian); a shaded band marks them.
    label : str, optional
        Legend label.
    scale : float, optional
        Scale of the operator. Default: for a complex the Gershgorin bound of its
        spectrum (:func:`operator_scale`), so that eigensolver rounding around zero is
        marked zero even when every eigenvalue shown is (a complex with many
        components); for given eigenvalues their largest magnitude.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from ..complex import RiemannianComplex

    if isinstance(cx_or_values, RiemannianComplex):
        values = spectrum(cx_or_values, p=p, k=k, kind=kind)
        name = f"$L_{p}$" if kind == "hodge" else r"$\Delta_0$"
        if scale is None:
            scale = operator_scale(cx_or_values, p, kind)
    else:
        values = np.sort(np.asarray(cx_or_values, dtype=float).ravel())
        name = "eigenvalues"
        if not np.all(np.isfinite(values)):
            raise ValueError("eigenvalues contain NaN or infinite values.")
    if scale is None:
        scale = float(np.max(np.abs(values))) if len(values) else 1.0
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5, 3.5))
    idx = np.arange(len(values))
    threshold = zero_tol * max(float(scale), 1e-300)
    zero = np.abs(values) <= threshold
    ax.plot(idx, values, "o-", ms=4, lw=1, label=label or name)
    if scale > 0:
        ax.axhspan(-threshold, threshold, color="crimson", alpha=0.12, lw=0,
                   label=f"|eigenvalue| <= {zero_tol:g} x scale")
    if zero.any():
        ax.plot(idx[zero], values[zero], "o", ms=7, mfc="none", mec="crimson",
                label=f"zero ({int(zero.sum())})")
    if len(values) and zero.all() and scale > 0:  # only rounding noise: show it in the band
        ax.set_ylim(-2 * threshold, 2 * threshold)
    ax.set_xlabel("index")
    ax.set_ylabel("eigenvalue")
    shown = f"{int(zero.sum())} of {len(values)} shown are zero"
    ax.set_title(f"spectrum of {name} ({shown})")
    ax.legend(fontsize="small")
    return ax


def _xy(table, x_names, columns, what):
    if not isinstance(table, pd.DataFrame):
        try:
            table = pd.DataFrame(table)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{what} needs a table (DataFrame or dict of columns): {exc}") \
                from None
    if len(table) == 0:
        raise ValueError(f"{what}: the table is empty.")
    xcol = next((c for c in x_names if c in table.columns), None)
    x = table[xcol].to_numpy() if xcol is not None else np.arange(len(table))
    if columns is None:
        columns = [c for c in table.columns
                   if c != xcol and pd.api.types.is_numeric_dtype(table[c])
                   and not pd.api.types.is_bool_dtype(table[c])]
    else:
        columns = [columns] if isinstance(columns, str) else list(columns)
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise ValueError(f"{what}: column(s) {missing} not in the table; available: "
                             f"{', '.join(map(str, table.columns))}.")
    if not columns:
        raise ValueError(f"{what}: the table has no numeric column to plot.")
    return table, xcol, x, columns


def plot_layer_counts(table, columns=None, ax=None, logy: bool | None = None):
    """Number of cells after each layer of a network.

    Parameters
    ----------
    table : DataFrame
        One row per layer; the x axis is the ``layer`` column (or ``name``, or the
        row number); every other numeric column (e.g. ``n_cells``,
        ``n_data_cells``) is a line unless ``columns`` picks some.
    columns : str or list of str, optional
    ax : matplotlib Axes, optional
    logy : bool, optional
        Log scale on y; default when the counts span more than two decades.

    Returns
    -------
    matplotlib.axes.Axes
    """
    table, xcol, x, columns = _xy(table, ("layer", "name", "layer_name"), columns,
                                  "plot_layer_counts")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5, 3.5))
    pos = np.arange(len(table))
    for c in columns:
        ax.plot(pos, table[c].to_numpy(dtype=float), "o-", label=str(c))
    ax.set_xticks(pos, [str(v) for v in x], rotation=30 if len(pos) > 6 else 0)
    vals = table[columns].to_numpy(dtype=float)
    pos_vals = vals[vals > 0]
    if logy is None:
        logy = pos_vals.size > 0 and pos_vals.max() / pos_vals.min() > 100
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xcol or "layer")
    ax.set_ylabel("count")
    ax.set_title("cells per layer")
    ax.legend(fontsize="small")
    return ax


def plot_training(table, columns=None, ax=None, logy: bool = False):
    """Training dynamics: one line per numeric column against ``epoch`` / ``step``.

    Parameters
    ----------
    table : DataFrame
        One row per epoch or step (column ``epoch``, ``step`` or ``iteration``,
        else the row number), numeric columns such as ``loss``, ``n_cells``,
        ``betti_1``.
    columns : str or list of str, optional
    ax : matplotlib Axes, optional
    logy : bool

    Returns
    -------
    matplotlib.axes.Axes
    """
    table, xcol, x, columns = _xy(table, ("epoch", "step", "iteration"), columns,
                                  "plot_training")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5, 3.5))
    for c in columns:
        ax.plot(x, table[c].to_numpy(dtype=float), "-", marker="." if len(x) < 60 else None,
                label=str(c))
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xcol or "step")
    ax.set_title("training dynamics")
    ax.legend(fontsize="small")
    return ax
