"""Angle sums and deficits at the hinges of a partition.

A box partition is not face to face: a corner of two small boxes can lie inside a facet of
a large one (a T-junction), where the large box's interior angle is pi but the point is
no hinge of it. Summing the hinge rows' angles (pi/2 each) then misses that pi and reports
a deficit of pi at a flat point. Here the angle around a hinge is read from the partition
itself instead: at a generic point p of the hinge, the four quadrants of the plane of its
two axes are each filled by one box (the domain, or no cell of the partition, outside),
and each filled quadrant contributes pi/2 to the angle sum.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..core import BoxPartition, vector_columns
from ._measured import check_hinges_computed
from .statistics import _partition_of

__all__ = ["hinge_deficits"]

#: fractions of a box's extent for the generic point of a hinge on its other axes: far from
#: 0, 1/2 and 1 and from each other, so the point avoids the midpoints a split often uses
_GENERIC = (np.sqrt(5) - 1) / 2


def hinge_deficits(partition) -> pd.DataFrame:
    """Angle sums and deficits at every hinge of a partition.

    Returns
    -------
    DataFrame, one row per hinge
        ``hinge``, ``n_cells`` (cells around it in the partition), ``angle_sum`` (sum of
        their interior dihedral angles, radians), ``domain_angle`` (the box's own angle
        there: 2 pi inside, pi on one box facet, pi/2 on a box ridge), ``deficit`` =
        domain_angle - angle_sum, ``volume`` ((n-2)-volume; 1 for points), ``boundary``
        (on the domain boundary), ``complete`` (no cell around it is missing from the
        partition; incomplete hinges have NaN deficit).

    Notes
    -----
    For an exact partition of a box into convex cells meeting face to face, the cells
    around a hinge fill the box's neighbourhood of it, so every complete deficit is 0 up to
    rounding: a direct check of the hinge angles. Box partitions are not face to face: at
    a T-junction a box holds the hinge inside a facet, with angle pi, and is no row of
    ``part.hinges``. Their angle sums are therefore read from the boxes filling the four
    quadrants around a point inside the hinge (pi/2 each), so they are exact there too.

    Examples
    --------
    A tree whose left half is split again: the corner of the two left boxes lies inside
    the right box's facet, and the three boxes fill 2 pi around it.

    >>> import numpy as np, cellgeom
    >>> from sklearn.tree import DecisionTreeRegressor
    >>> X = np.array([[0.25, 0.25], [0.25, 0.75], [0.75, 0.5]])
    >>> tree = DecisionTreeRegressor(random_state=0).fit(X, [0.0, 1.0, 5.0])
    >>> part = cellgeom.partition(tree, domain=([0, 0], [1, 1]), cells="all", progress=False)
    >>> table = hinge_deficits(part)
    >>> inner = table[~table["boundary"]]
    >>> inner[["n_cells", "angle_sum", "deficit"]].round(6).values.tolist()
    [[3.0, 6.283185, 0.0]]
    """
    part = _partition_of(partition)
    h = part.hinges
    cols = ["hinge", "n_cells", "angle_sum", "domain_angle", "deficit", "volume", "boundary",
            "complete"]
    if len(h) == 0:
        check_hinges_computed(part, "hinge_deficits")
        return pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    hid = h["hinge"].to_numpy(dtype=np.int64)
    ids, inv = np.unique(hid, return_inverse=True)
    inv = inv.ravel()
    k = ids.size
    missing = (h["neighbor_a"].to_numpy() == -2) | (h["neighbor_b"].to_numpy() == -2)
    angle_sum = np.bincount(inv, weights=h["angle"].to_numpy(dtype=float), minlength=k)
    n_cells = np.bincount(inv, minlength=k)
    complete = np.bincount(inv, weights=missing.astype(float), minlength=k) == 0
    first = np.zeros(k, dtype=np.int64)
    first[inv[::-1]] = np.arange(len(h))[::-1]
    if isinstance(part, BoxPartition):  # not face to face: T-junctions (see _box_angles)
        la, lb = (h[c].to_numpy(dtype=np.int64)[first] for c in ("label_a", "label_b"))
        angle_sum, n_cells, domain_angle, complete = _box_hinge_angles(
            part, first, np.where(la < 0, -1 - la, la), np.where(lb < 0, -1 - lb, lb))
    else:
        domain_angle = _domain_angles(part, h[vector_columns("centroid", part.dim)]
                                     .to_numpy(dtype=float)[first])
    deficit = np.where(complete, domain_angle - angle_sum, np.nan)
    boundary = np.bincount(inv, weights=h["boundary"].to_numpy().astype(float), minlength=k) > 0
    return pd.DataFrame({"hinge": ids, "n_cells": n_cells, "angle_sum": angle_sum,
                         "domain_angle": domain_angle, "deficit": deficit,
                         "volume": h["volume"].to_numpy(dtype=float)[first],
                         "boundary": boundary, "complete": complete})


def _box_hinge_angles(part, first: np.ndarray, la: np.ndarray, lb: np.ndarray,
                     chunk: int = 250_000):
    """Angle sum, cells around, domain angle and completeness of each hinge of a box partition.

    Parameters
    ----------
    part : BoxPartition
    first : int array of shape (k,)
        For each hinge, a row of ``part.hinges`` on it (its cell and two facet labels).
    la, lb : int arrays of shape (k,)
        The facet labels of those rows, ``2 axis + side`` (boundary signs removed).
    chunk : int
        Hinges located per batch (4 points each).

    Returns
    -------
    angle_sum : float array (k,)
        pi/2 times the quadrants around the hinge that cells of the partition fill, radians.
    n_cells : int array (k,)
        Distinct cells filling them (a box with the hinge inside a facet fills two).
    domain_angle : float array (k,)
        pi/2 times the quadrants inside the domain: 2 pi inside, pi on a box facet.
    complete : bool array (k,)
        Every quadrant inside the domain is filled by a cell of the partition.
    """
    k, n = first.size, part.dim
    cell = part.hinges["cell"].to_numpy(dtype=np.int64)[first]
    lo, hi = part.lo[cell], part.hi[cell]
    fa, sa, fb, sb = la // 2, la % 2, lb // 2, lb % 2
    rows = np.arange(k)
    fractions = (_GENERIC * np.arange(1, n + 1)) % 1.0
    point = lo + fractions * (hi - lo)
    point[rows, fa] = np.where(sa == 1, hi[rows, fa], lo[rows, fa])
    point[rows, fb] = np.where(sb == 1, hi[rows, fb], lo[rows, fb])
    # a step shorter than half of every box on the axis lands in the box next to the hinge
    half_width = 0.5 * np.min(part.hi - part.lo, axis=0)
    filled = np.zeros(k, dtype=np.int64)
    inside = np.zeros(k, dtype=np.int64)
    cells = np.full((k, 4), -1, dtype=np.int64)
    for q, (da, db) in enumerate(((-1, -1), (-1, 1), (1, -1), (1, 1))):
        step = point.copy()
        step[rows, fa] += da * half_width[fa]
        step[rows, fb] += db * half_width[fb]
        in_domain = part.domain.contains(step)
        where = np.full(k, -1, dtype=np.int64)
        for start in range(0, k, chunk):
            block = slice(start, start + chunk)
            where[block] = part.locate(step[block])
        where[~in_domain] = -1
        cells[:, q] = where
        inside += in_domain
        filled += where >= 0
    cells.sort(axis=1)
    distinct = (cells >= 0).sum(axis=1) - ((cells[:, 1:] == cells[:, :-1])
                                           & (cells[:, 1:] >= 0)).sum(axis=1)
    quarter = np.pi / 2
    return quarter * filled, distinct, quarter * inside, filled == inside


def _domain_angles(part, centroid: np.ndarray) -> np.ndarray:
    """The domain box's own angle at hinges with these centroids, radians: 2 pi inside,
    pi on one box facet, pi/2 on a ridge of the box (within 1e3 x the partition's tol
    along each axis, ``info["tol_axes"]``)."""
    halves, tol_u = part.frame_tolerance()
    tol = 1e3 * tol_u * halves
    lo, hi = np.asarray(part.domain.lo, float), np.asarray(part.domain.hi, float)
    on = (np.abs(centroid - lo) <= tol).sum(axis=1) + (np.abs(centroid - hi) <= tol).sum(axis=1)
    return np.select([on == 0, on == 1], [2 * np.pi, np.pi], np.pi / 2)
