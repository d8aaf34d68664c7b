"""Refusals of analyses whose inputs were never measured.

The high-dimensional route certifies facets by LP but measures volumes and centroids only
on request (``volume="none"``, the default above 16-D, leaves them NaN) and computes no
hinges. A weighted Laplacian or curvature on such a partition would be NaN everywhere, and
an angle curvature 0: these checks raise instead, naming what is missing and what to do.
"""
from __future__ import annotations

import numpy as np

from ..core import BoxPartition

__all__ = ["check_gram_measured", "check_curvature_measured", "check_hinges_computed"]

_WHY = "above 16-D the high-dimensional route measures none by default"


def check_gram_measured(values: np.ndarray, p: int, cx) -> None:
    """Raise ValueError if the entries ``values`` of the Gram matrix M_p are not finite."""
    if np.all(np.isfinite(values)):
        return
    method = cx.partition.info.get("volume_method", "?")
    raise ValueError(
        f"Gram matrix M_{p} has {int(np.sum(~np.isfinite(values)))} non-finite entries: the "
        f"partition's volumes were not measured (volume_method {method!r}; {_WHY}). "
        "Partition with volume='estimate' or volume='data', or pass gram=False for the "
        "unweighted Laplacian.")


def check_curvature_measured(cx, face: np.ndarray, need_lengths: bool) -> None:
    """Raise ValueError if a weighted curvature would read unmeasured cell volumes, face
    volumes ``face`` or (``need_lengths``) centroid distances."""
    lengths = cx.edges["length"].to_numpy(dtype=float) if need_lengths else np.zeros(1)
    missing = [name for name, values in (
        ("cell volumes", cx.partition.volumes), ("face volumes", face),
        ("cell centroids (edge lengths)", lengths))
        if not np.all(np.isfinite(np.asarray(values, dtype=float)))]
    if missing:
        method = cx.partition.info.get("volume_method", "?")
        raise ValueError(
            f"weighted curvature needs the {' and '.join(missing)}, which were not measured "
            f"(volume_method {method!r}; {_WHY}). Partition with volume='estimate', or pass "
            "weighting='uniform' for the curvature of the graph alone.")


def check_hinges_computed(part, what: str) -> None:
    """Raise ValueError naming ``what`` if ``part`` has no hinges because none were computed
    (the high-dimensional route), not because it has none."""
    if part.dim >= 2 and not part.has_vertices and not isinstance(part, BoxPartition):
        raise ValueError(
            f"{what} needs the dihedral angles at the hinges, which the "
            f"high-dimensional route does not compute ({part.dim}-D cells, no vertices). "
            "Use kind='euler', 'forman' or 'statistical', or partition on the exact route "
            "(exact_dim >= the input dimension, up to 6-D).")
