"""Validation of user input shared by every layer: data matrices, column names, domains."""
from __future__ import annotations

import numpy as np

from ..geometry import Box

__all__ = ["check_data", "resolve_domain", "vector_columns"]


def vector_columns(prefix: str, dim: int) -> list[str]:
    """Column names of a vector quantity in a table: ``prefix_0 .. prefix_{dim-1}``."""
    return [f"{prefix}_{j}" for j in range(dim)]


def check_data(
    X, dim: int | None = None, name: str = "data", allow_empty: bool = False
) -> np.ndarray:
    """Validate a data matrix: 2-D float, finite, with ``dim`` columns."""
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array: {exc}") from None
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
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return X


def resolve_domain(domain, data: np.ndarray | None, dim: int | None) -> Box:
    """The domain box: given, or the data's bounding box padded by 5%."""
    if domain is None:
        if data is None:
            raise ValueError(
                "A domain box is needed: pass domain=Box(lo, hi) or data to take its padded "
                "bounding box."
            )
        return Box.from_data(data)
    return Box.coerce(domain, dim)
