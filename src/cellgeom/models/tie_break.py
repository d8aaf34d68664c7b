"""Data points on cell boundaries: the full-dimensional cell each belongs to.

A model's key of a point is tie-broken where the point lies on a boundary (a ReLU's
pre-activation 0 counts as off, an arg-max takes the first maximum). Where several
boundaries pass through the point with opposite sides -- a bias-free unit on a pixel that is
exactly 0, next to another unit on the same pixel with the opposite sign -- the tie-broken
key names a cell with an empty interior (``x_p <= 0`` and ``x_p >= 0``), which the polytope
route drops as thinner than ``tol``. Its points were then counted nowhere and located in no
cell, without a word.

Such a point lies in the closure of full-dimensional cells, and is given to one of them by
symbolic perturbation: its key is taken at ``x + delta d``, then ``x - delta d``, for one
fixed generic direction ``d`` (the same in every call) and ``delta`` growing from ``1e3``
times the tolerance, until the key names a full-dimensional cell whose closure holds ``x``
(its inequalities at ``x``, within the tolerance in the domain's unit frame). A point whose
key does not change one way or the other at the first step lies inside a cell of its own key
(with interior): it is left alone, so generic data is never moved.

The same rule serves the build (:func:`settle_data_keys`: which cells hold data, so they are
built) and point location (:meth:`KeyLocator.on_boundaries`, which
:meth:`cellgeom.core.Partition.locate` calls for the points a locator finds in no cell), so
the data counts and ``locate`` agree; :func:`place_data` counts the data through the latter
and warns about any point still in no cell.
"""
from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence

import numpy as np

from ..geometry import Box, chebyshev_centers
from .unit_frame import UnitFrame

__all__ = ["STEPS", "DataKeys", "KeyLocator", "IndexLocator", "perturbed", "settle_data_keys",
           "place_data"]

#: the perturbation lengths ``delta``, in units of the tolerance (the float64 step of the
#: domain's coordinates where that is coarser)
STEPS = (1e3, 1e4, 1e5, 1e6, 1e7)

#: seed of the generic direction ``d``: fixed, so every call re-keys a point alike
_SEED = 20250802


def _base(domain: Box, tol: float) -> float:
    """The length unit (along the largest side) of the steps and of the closure test:
    ``tol``, or a few float64 steps of the domain's coordinates where those are coarser (far
    from the origin a point moved by less rounds back to itself), measured in the unit
    frame, so on the axis where the grid is coarsest relative to its side."""
    return max(float(tol), 8.0 * domain.float_step * float(domain.widths.max()) / 2)


def perturbed(X: np.ndarray, domain: Box, tol: float, j: int) -> np.ndarray:
    """Candidate ``j`` of the points ``X``: ``x + delta d`` (even ``j``) or ``x - delta d``
    (odd ``j``) with ``delta = STEPS[j // 2]`` times the tolerance.

    ``d`` is a fixed random direction stretched by the domain's sides (generic in the unit
    frame whatever the sides), of unit length.
    """
    g = np.random.default_rng(_SEED).standard_normal(domain.dim) * domain.widths
    d = g / np.linalg.norm(g)
    sign = 1.0 if j % 2 == 0 else -1.0
    return X + (sign * STEPS[j // 2] * _base(domain, tol)) * d


def _n_candidates() -> int:
    return 2 * len(STEPS)


def _on_boundary(raw_of, X: np.ndarray, raw0: np.ndarray, domain: Box, tol: float):
    """Points whose key changes both ways at the first step (a point with a key of its own
    on one side lies in a cell with interior), and the keys of the first two candidates."""
    step = perturbed(X, domain, tol, 0)
    plus = np.asarray(raw_of(step))
    # a step out of the domain proves nothing: a point on a box face that a hyperplane
    # also runs along keeps the key of the outside there, a cell the partition has not
    boundary = (plus != raw0) | ~domain.contains(step)
    # the other side only where this one moved (most points of a cell not built stay)
    minus = np.array(raw0, dtype=object)
    if boundary.any():
        back = perturbed(X[boundary], domain, tol, 1)
        minus[boundary] = list(raw_of(back))
        left = np.zeros(len(X), dtype=bool)
        left[np.flatnonzero(boundary)] = ~domain.contains(back)
        boundary &= (minus != raw0) | left
    return boundary, (plus, minus)


def _excess(A: np.ndarray, b: np.ndarray, Y: np.ndarray, halves: np.ndarray) -> np.ndarray:
    """Largest violation of ``A y <= b`` at each row of ``Y``, measured in the unit frame
    (``halves`` the frame's half-sides; ``1`` for rows already in the frame). A row that
    vanishes with ``b < 0`` (an empty cell) is violated everywhere."""
    norms = np.linalg.norm(A * halves, axis=1)
    live = norms > 0
    if np.any(~live & (b < 0)):
        return np.full(len(Y), np.inf)
    if not live.any():
        return np.zeros(len(Y))
    return ((Y @ A[live].T - b[live]) / norms[live]).max(axis=1)


class DataKeys(np.ndarray):
    """The keys of the data points inside the domain (an array of str) that also carries
    the points, ``points``: :func:`place_data` re-keys those of them on boundaries.

    Callers that only take ``len`` of the keys (the empirical volumes) see an array.
    """

    def __new__(cls, keys, points):
        obj = np.asarray(keys).view(cls)
        obj.points = points
        return obj

    def __array_finalize__(self, obj):
        self.points = getattr(obj, "points", None)


class _TieBreakLocator:
    """Point location by a raw key (``raw(X)``) looked up in the partition's cells, with
    the points in no cell re-keyed by perturbation (module docstring)."""

    def raw(self, X):  # pragma: no cover - every locator defines it
        raise NotImplementedError

    def lookup(self, raw) -> np.ndarray:  # pragma: no cover - every locator defines it
        raise NotImplementedError

    def __call__(self, X) -> np.ndarray:
        return self.lookup(self.raw(X))

    def locate_in(self, part, X) -> np.ndarray:
        """The cell of each row of ``X`` in ``part``, points on boundaries included (the
        model asked once for the keys of all points)."""
        raw = np.asarray(self.raw(X))
        out = self.lookup(raw)
        return self.on_boundaries(part, X, out, raw) if (out < 0).any() else out

    def on_boundaries(self, part, X, out, raw=None) -> np.ndarray:
        """``out`` (cell of each row of ``X``, -1 none) with the points inside the domain
        that it leaves at -1 placed by perturbation where they lie on a boundary.

        ``raw`` (the raw keys of ``X``, if known) spares one call of the model.
        """
        out = np.array(out, dtype=np.int64)
        miss = np.flatnonzero((out < 0) & part.domain.contains(X))
        if not miss.size or not part.n_cells:
            return out
        domain, tol = part.domain, float(part.info.get("tol", 1e-9 * part.domain.scale))
        Xm = np.asarray(X, dtype=float)[miss]
        raw0 = np.asarray(self.raw(Xm) if raw is None else np.asarray(raw)[miss])
        pending, first = _on_boundary(self.raw, Xm, raw0, domain, tol)
        pending = np.flatnonzero(pending)
        halves, _ = part.frame_tolerance()
        limit = _base(domain, tol) / float(halves.max())
        for j in range(_n_candidates()):
            if not pending.size:
                break
            keys = first[j][pending] if j < 2 else self.raw(perturbed(Xm[pending], domain,
                                                                      tol, j))
            cell = self.lookup(np.asarray(keys))
            ok = np.zeros(pending.size, dtype=bool)
            for c in np.unique(cell[cell >= 0]):
                at = np.flatnonzero(cell == c)
                A, b = part.halfspaces(int(c))
                ok[at] = _excess(A, b, Xm[pending[at]], halves) <= limit
            out[miss[pending[ok]]] = cell[ok]
            pending = pending[~ok]
        return out


class KeyLocator(_TieBreakLocator):
    """Point location by cell key: ``keys_of(X)`` hashed into the partition's key index.

    A plain object (no closure), so a partition that holds it pickles whenever
    ``keys_of`` does (a bound method of a picklable cell model).
    """

    def __init__(self, keys_of, keys: Sequence[str]):
        self.keys_of = keys_of
        self.index = {k: i for i, k in enumerate(keys)}

    def raw(self, X):
        return self.keys_of(X)

    def lookup(self, raw) -> np.ndarray:
        return np.array([self.index.get(k, -1) for k in raw], dtype=np.int64)


class IndexLocator(_TieBreakLocator):
    """Point location by an integer cell id: ``index[index_of(X)]`` (-1: a cell not built).

    A plain object (no closure), so a partition that holds it pickles whenever
    ``index_of`` does (the picklable site or score objects of the Voronoi and linear
    adapters).
    """

    def __init__(self, index_of, index: np.ndarray):
        self.index_of = index_of
        self.index = np.asarray(index, dtype=np.int64)

    def raw(self, X):
        return np.asarray(self.index_of(X))

    def lookup(self, raw) -> np.ndarray:
        return self.index[np.asarray(raw, dtype=np.int64)]


def settle_data_keys(keys_of, constraints, domain: Box, X: np.ndarray, keys, tol=None):
    """The keys of cells with interior that hold the data points ``X`` (inside ``domain``).

    A point on a boundary whose own key's cell has a Chebyshev radius of at most ``tol`` (in
    the unit frame, as the build decides) takes the first perturbed key (:func:`perturbed`)
    whose cell is wider and whose closure holds it; every other point keeps its key.

    Parameters
    ----------
    keys_of : callable
        ``keys_of(X) -> keys``, the model's key of points.
    constraints : callable
        The adapter's ``constraints(keys) -> [(A, b, labels)]`` (``origin=`` if it takes it).
    keys : array of str
        ``keys_of(X)``.
    tol : float, optional
        Thin-cell tolerance; default ``1e-9 * domain.scale``.

    Returns
    -------
    keys : ndarray
        The keys to count the points under (``keys`` itself when none moves).
    n_moved : int
        How many points took a perturbed key.
    """
    tol = 1e-9 * domain.scale if tol is None else float(tol)
    keys = np.asarray(keys)
    if not len(keys):
        return keys, 0
    boundary, first = _on_boundary(keys_of, X, keys, domain, tol)
    if not boundary.any():
        return keys, 0
    frame = UnitFrame(domain)
    cells = _FrameCells(frame, constraints, tol / frame.half)
    pending = np.flatnonzero(boundary)
    pending = pending[~cells.wide([str(k) for k in keys[pending]])]
    if not pending.size:
        return keys, 0
    out = keys.astype(object)
    U = frame.to_unit(X)
    limit = _base(domain, tol) / frame.half
    n_moved = 0
    for j in range(_n_candidates()):
        if not pending.size:
            break
        cand = first[j][pending] if j < 2 else np.asarray(
            keys_of(perturbed(X[pending], domain, tol, j)))
        cand = np.array([str(k) for k in cand], dtype=object)
        ok = cells.wide(list(cand))
        for k in np.unique(cand[ok]):
            at = np.flatnonzero(ok & (cand == k))
            A, b = cells.rows(k)
            ok[at] = _excess(A, b, U[pending[at]], 1.0) <= limit
        out[pending[ok]] = cand[ok]
        n_moved += int(ok.sum())
        pending = pending[~ok]
    return out, n_moved


class _FrameCells:
    """The cells' inequalities in the unit frame and whether each is wider than the
    thin-cell tolerance (its Chebyshev radius there), cached by key."""

    def __init__(self, frame: UnitFrame, constraints, tol_u: float):
        self.constraints = frame.constraints(constraints)
        self.box = frame.unit_domain.halfspaces()
        self.tol_u = tol_u
        self._rows: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._wide: dict[str, bool] = {}

    def rows(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        return self._rows[key]

    def wide(self, keys: list[str]) -> np.ndarray:
        new = sorted({k for k in keys if k not in self._wide})
        if new:
            polys = []
            for k, (A, b, _) in zip(new, self.constraints(new)):
                self._rows[k] = (np.asarray(A, dtype=float), np.asarray(b, dtype=float))
                polys.append((np.vstack([self.box[0], A]), np.concatenate([self.box[1], b])))
            centers, _ = chebyshev_centers(polys)
            for k, (A, b), c in zip(new, polys, centers):
                # the radius the centre really has (the solver's own tolerance is ~1e-9)
                self._wide[k] = bool(np.all(np.isfinite(c))
                                     and -_excess(A, b, c[None], 1.0)[0] > self.tol_u)
        return np.array([self._wide[k] for k in keys], dtype=bool)


def place_data(part, locator: _TieBreakLocator, points: np.ndarray, raw=None) -> np.ndarray:
    """The cell of each data point (rows of ``points``, inside the domain), points on
    boundaries re-keyed (:meth:`KeyLocator.on_boundaries`); -1 for none.

    Records ``info["n_points_on_boundaries"]`` (points placed by perturbation) and warns,
    with ``info["n_points_in_no_cell"]``, about any point still in no cell: it is in no
    count, never silently.
    """
    raw = locator.raw(points) if raw is None else raw
    found = locator.lookup(np.asarray(raw))
    first = found < 0
    if first.any() and points is not None:
        found = locator.on_boundaries(part, points, found, raw=raw)
    part.info["n_points_on_boundaries"] = int((first & (found >= 0)).sum())
    lost = int((found < 0).sum())
    if lost:
        part.info["n_points_in_no_cell"] = lost
        warnings.warn(
            f"{lost} of the {len(found)} data points inside the domain lie in no cell of the "
            f"partition and are not counted in n_points: their model key names a cell with "
            f"no interior wider than tol={part.info.get('tol', float('nan')):.3g} (dropped), "
            "and no full-dimensional cell found by perturbing them holds them (e.g. a "
            "cells='data' partition whose adapter cannot re-key them before the build). Pass "
            "cells='all' where feasible, or a larger tol=.", UserWarning,
            stacklevel=_caller_level())
    return found


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside cellgeom (the user's ``partition``
    call), whichever adapter's path led here."""
    frame, level = sys._getframe(2), 2
    while frame is not None and frame.f_globals.get("__name__", "").startswith("cellgeom."):
        frame, level = frame.f_back, level + 1
    return level
