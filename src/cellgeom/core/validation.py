"""Validation of user input shared by every layer: data matrices, column names, domains."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..geometry import Box

__all__ = ["check_data", "check_resolution", "frame_columns", "resolve_domain", "vector_columns"]


def vector_columns(prefix: str, dim: int) -> list[str]:
    """Column names of a vector quantity in a table: ``prefix_0 .. prefix_{dim-1}``."""
    return [f"{prefix}_{j}" for j in range(dim)]


def frame_columns(X, feature_names: Sequence[str] | None, name: str = "data"):
    """``X`` with its columns in the order of ``feature_names`` when ``X`` is a DataFrame.

    scikit-learn's rule for a model fitted on named features: the names of ``X`` must be
    those seen in fit. The same names in another order are reordered (the cells are
    those of the model's features, whatever order the user's table has); a missing or
    unexpected name is refused, naming both lists. A DataFrame whose column names are
    not all strings, or a model without names, is taken by position, as scikit-learn does.
    """
    columns = getattr(X, "columns", None)
    if feature_names is None or columns is None or not hasattr(X, "iloc"):
        return X
    names = [str(f) for f in feature_names]
    given = list(columns)
    if not all(isinstance(c, str) for c in given):
        return X
    if given == names:
        return X
    missing = [f for f in names if f not in given]
    unexpected = [c for c in given if c not in names]
    if missing or unexpected or len(set(given)) != len(given):
        parts = []
        if unexpected:
            parts.append(f"unexpected column(s) {unexpected}")
        if missing:
            parts.append(f"missing column(s) {missing}")
        if not parts:
            parts.append(f"repeated column names in {given}")
        raise ValueError(
            f"{name} has {' and '.join(parts)}: the feature names must be those the model "
            f"was fitted on, {names} (in any order).")
    return X[names]


def check_data(
    X, dim: int | None = None, name: str = "data", allow_empty: bool = False,
    feature_names: Sequence[str] | None = None,
) -> np.ndarray:
    """Validate a data matrix: 2-D float, finite, with ``dim`` columns.

    Parameters
    ----------
    X : array-like, pandas DataFrame or scipy.sparse matrix
        Points as rows. A sparse matrix is densified (cells need every coordinate). A
        DataFrame is matched to ``feature_names`` by column name (see
        :func:`frame_columns`).
    dim : int, optional
        Expected number of columns.
    feature_names : sequence of str, optional
        The model's ``feature_names_in_``.

    Returns
    -------
    ndarray of shape (N, dim), float64
    """
    X = frame_columns(X, feature_names, name)
    if hasattr(X, "toarray") and hasattr(X, "nnz"):  # scipy.sparse matrix or array
        X = X.toarray()
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array (or a DataFrame / scipy.sparse "
                         f"matrix of numbers): {exc}") from None
    if X.ndim == 1 and dim is not None and X.size == dim:
        X = X[None, :]
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (points x features), got shape {X.shape}.")
    if X.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name} is empty: at least one point is needed.")
    if dim is not None and X.shape[1] != dim:
        raise ValueError(
            f"{name} has {X.shape[1]} features, but the partition is expecting {dim} features "
            "as input."
        )
    finite = np.isfinite(X)
    if not finite.all():
        rows, cols = np.nonzero(~finite)
        first = ", ".join(f"row {r} column {c} ({X[r, c]})"
                          for r, c in zip(rows[:3].tolist(), cols[:3].tolist()))
        more = f" and {rows.size - 3} more" if rows.size > 3 else ""
        raise ValueError(
            f"{name} contains NaN or infinite values ({rows.size} entries in "
            f"{np.unique(rows).size} rows; counted from 0): {first}{more}. Impute or drop "
            "them first: cells are sets of finite points.")
    return X


#: fewest float64 steps a side of the domain must span
MIN_STEPS_PER_SIDE = 1000


def resolve_domain(domain, data: np.ndarray | None, dim: int | None) -> Box:
    """The domain box: given, or the data's bounding box padded by 5%.

    Raises
    ------
    ValueError
        When a side of the box spans fewer than ``MIN_STEPS_PER_SIDE`` float64 numbers
        (a box of side 2e-3 centred at 1e12, where float64 numbers are 1.2e-4 apart):
        its points, and the model's own arithmetic on them, are rounded to a visible
        fraction of the box, so no cell geometry could be the model's.
    """
    if domain is None:
        if data is None:
            raise ValueError(
                "A domain box is needed: pass domain=Box(lo, hi) or data to take its padded "
                "bounding box."
            )
        box = Box.from_data(data)
    else:
        box = Box.coerce(domain, dim)
    check_resolution(box)
    return box


def check_resolution(box: Box) -> None:
    """Refuse a box that float64 cannot resolve (see :func:`resolve_domain`)."""
    step = np.spacing(np.maximum(np.abs(box.lo), np.abs(box.hi)))
    steps = box.widths / step
    bad = np.flatnonzero(steps < MIN_STEPS_PER_SIDE)
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"the domain box is too narrow for its distance from the origin: side {i} is "
            f"[{box.lo[i]!r}, {box.hi[i]!r}], only {steps[i]:.0f} float64 steps wide (there "
            f"numbers are {step[i]:.2g} apart), so points inside it are rounded to "
            f"{1 / steps[i]:.1%} of its width. Centre the data (subtract its mean) or give a "
            "wider domain.")
