"""Degenerate arrangements in the polytope route: coincident rows and vanishing cells.

Two situations break the rule "the cell across the facet with label k is
``neighbor_key(key, k)``":

* **Coincident hyperplanes.** Rows of a cell that define the same hyperplane (an exact,
  scaled or negated copy of a hyperplane or unit; near copies within the tolerance) are
  merged into one row before the geometry (:func:`merge_coincident_rows`): one facet.
  Crossing it changes every one of their labels at once, so the key across is
  ``neighbor_key`` applied for each label in turn (for 0/1 patterns: every bit flipped).
  Flipping one bit names a cell that is empty, and the cells beyond were never reached:
  a duplicated hyperplane left 55% of the box without cells.
* **Vanishing cells.** Rows that are distinct but closer than the tolerance somewhere
  bound a sliver thinner than the tolerance; it is dropped (its Chebyshev radius is
  below ``tol``), and the cell across the facet is the one *beyond* the sliver. That
  cell is found by the model itself: the key of points just outside the facet
  (:func:`probe_points`), at growing distances until a cell of the partition (or a
  new one) answers.
"""
from __future__ import annotations

from functools import cache

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from ..geometry import normalize_rows

__all__ = ["merge_coincident_rows", "key_across", "probe_points", "PROBE_STEPS"]

#: probe distances beyond a facet, in multiples of the tolerance
PROBE_STEPS = 4.0 ** np.arange(1, 8)


@cache
def _screen_direction(k: int) -> np.ndarray:
    """A fixed unit direction of R^k to screen rows by one projection before pairing."""
    d = np.random.default_rng(20231118 + k).normal(size=k)
    return d / np.linalg.norm(d)


def merge_coincident_rows(A: np.ndarray, b: np.ndarray, labels: np.ndarray,
                          tol: float) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """One row for each hyperplane of ``A x <= b``: rows that coincide are merged.

    Rows coincide when their unit normals and offsets are within ``max(tol, 1e-12)``
    (chains of such rows are one group). The first row of a group stands for it (domain
    rows come first, so a model row on the box is boundary). Merging at ``tol`` keeps
    every pair of distinct rows that far apart, a thousand times the exact route's
    incidence tolerance: two rows crossing at an angle below ``tol`` made each other's
    vertices incident and their facet areas wrong by a per cent.

    Returns
    -------
    keep : int array
        The rows that stand for their group, in increasing order.
    groups : list of tuples of int
        For each kept row, the labels of its group, its own first.
    """
    m = A.shape[0]
    keep = np.arange(m)
    own = [(int(lab),) for lab in labels]
    if m < 2:
        return keep, own
    A_unit, b_unit, norms = normalize_rows(A, b)
    rows = np.hstack([A_unit, b_unit[:, None]])
    close = max(tol, 1e-12)
    # rows within `close` of each other are that close along any unit direction too
    p = np.sort(rows @ _screen_direction(rows.shape[1]))
    if not np.any(np.diff(p) <= close):
        return keep, own
    pairs = cKDTree(rows).query_pairs(close, output_type="ndarray")
    pairs = pairs[(norms[pairs[:, 0]] > 0) & (norms[pairs[:, 1]] > 0)]
    if pairs.size == 0:
        return keep, own
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(m, m))
    _, comp = connected_components(graph, directed=False)
    _, first = np.unique(comp, return_index=True)
    keep = np.sort(first)
    groups = []
    for r in keep:
        rest = {int(labels[i]) for i in np.flatnonzero(comp == comp[r])} - {int(labels[r])}
        groups.append((int(labels[r]),) + tuple(sorted(rest)))
    return keep, groups


def key_across(key: str, group: tuple[int, ...], neighbor_key) -> str | None:
    """Key of the cell across a facet supported by the labels in ``group``; None on the
    domain boundary (a group holding a box row: no cell lies beyond)."""
    if min(group) < 0:
        return None
    out = key
    for label in group:
        out = neighbor_key(out, label)
    return out


def probe_points(centroids: np.ndarray, normals: np.ndarray, step: float,
                 box_lo: np.ndarray, box_hi: np.ndarray) -> np.ndarray:
    """Points ``step`` beyond each facet centroid along its outward normal, kept inside
    the domain box (a facet near a corner may point out of it)."""
    pts = centroids + step * normals
    return np.clip(pts, box_lo, box_hi)
