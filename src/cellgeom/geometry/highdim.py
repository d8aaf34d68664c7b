"""Geometry of polytopes ``{x : A x <= b}`` in high dimension (no vertex enumeration).

Above about 6 dimensions a cell has too many vertices for the exact vertex route, so:

* **Facets** by :func:`cellgeom.geometry.facets.facet_rows_simplex`: the compiled vertex
  walk of :mod:`cellgeom.geometry.simplex`, every answer a float64 certificate, and HiGHS
  for anything it cannot certify (``facet_method="highs"``: the HiGHS route throughout).

* **Volume, centroid, facet (n-1)-volumes** by the rounded multiphase Monte Carlo estimator
  of :mod:`cellgeom.geometry.volume_mc` (when asked): an isotropic transform first, a
  between-chain standard error, a split R-hat mixing check that refuses the error bar
  (NaN) when the chains do not mix, and facet volumes by the pyramid identity
  ``vol(F_j) = n vol(P) p_j / h_j``. No hinges on this route.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .facets import facet_rows_simplex
from .lp import normalize_rows, repeated_rows
from .polytope import PolytopeGeometry
from .volume_mc import estimate_cell, hit_and_run

__all__ = ["HighDimGeometry", "facet_rows_screened", "hit_and_run", "estimate_volume",
           "highdim_geometry"]


@dataclass
class HighDimGeometry(PolytopeGeometry):
    """:class:`~cellgeom.geometry.PolytopeGeometry` of the LP route (no vertices, no hinges).

    ``volume_se`` is the estimator's standard error (0 for exact, NaN if not estimated);
    ``stats = (candidates, lps, settled_without_lp)`` of the facet screening.
    """

    volume_se: float = float("nan")
    stats: tuple = field(default=(0, 0, 0))
    facet_volume_se: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __getstate__(self) -> dict:
        """Pickled without the arrays that are all NaN (nothing estimated: the facet
        centroids, and the facet volumes unless asked): they were half of the bytes a
        64-D cell sent from a worker process (315 x 64 NaNs per cell). They come back
        as read-only NaN arrays that take no memory (:class:`_AllNaN`)."""
        state = self.__dict__.copy()
        for name, value in state.items():
            if isinstance(value, np.ndarray) and value.size > 1 and \
                    value.dtype == np.float64 and np.isnan(value).all():
                state[name] = _AllNaN(value.shape)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update({name: value.array() if isinstance(value, _AllNaN) else value
                              for name, value in state.items()})


class _AllNaN:
    """The shape of a float64 array that is NaN throughout (see
    :meth:`HighDimGeometry.__getstate__`)."""

    def __init__(self, shape: tuple) -> None:
        self.shape = tuple(shape)

    def array(self) -> np.ndarray:
        return np.broadcast_to(np.float64(np.nan), self.shape)


def estimate_volume(A, b, center, radius=None, rng=None, *, n_chains: int = 32,
                    steps_per_phase: int | None = None, outer_radius: float | None = None,
                    record=None):
    """Volume of a bounded ``{A x <= b}`` with a standard error (rounded multiphase MC).

    See :func:`cellgeom.geometry.volume_mc.estimate_cell`; ``outer_radius`` is no longer
    needed (the estimator bounds the rounded cell by LPs) and is ignored.

    Returns
    -------
    volume, se, samples
        ``se`` is ``inf`` when the chains did not mix (the error bar is refused);
        ``samples`` (C, n) are the final chain states (approximately uniform in P).
    """
    est = estimate_cell(A, b, center, radius, rng, n_chains=n_chains,
                        steps_per_phase=steps_per_phase, record=record)
    return est.volume, est.se, est.samples


def facet_rows_screened(A, b, center, tol: float = 1e-9, record=None,
                        gilbert_iterations: int = 60, method: str = "simplex"):
    """Facet-defining rows of a full-dimensional ``{A x <= b}``: certificates, then LPs.

    Chord exits recorded by hit-and-run are facets for free; the rest goes through
    :func:`cellgeom.geometry.facets.facet_rows_simplex` (whitened rays, Gilbert
    iterations, then warm-started simplex with vertex certificates).

    Parameters
    ----------
    center : interior point (Chebyshev centre).
    record : list of int arrays, optional
        Rows already certified as facets by chord exits.
    method : {"simplex", "highs"}
        See :func:`cellgeom.geometry.facets.facet_rows_simplex`.

    Returns
    -------
    rows : ndarray of int
    stats : (candidates, lps, settled_without_lp)
    """
    A_unit, b_unit, norms = normalize_rows(A, b)
    dup = repeated_rows(A_unit, b_unit, tol)
    cand = (norms > 0) & ~dup
    known = np.zeros(A_unit.shape[0], dtype=bool)
    if record:
        hits = np.concatenate([np.ravel(r) for r in record])
        hits = hits[hits >= 0]
        known[hits[cand[hits]]] = True
    facet, stats = facet_rows_simplex(A_unit, b_unit, np.asarray(center, dtype=float), cand,
                                      tol, gilbert_iterations=gilbert_iterations, known=known,
                                      method=method)
    return np.flatnonzero(facet), stats


def highdim_geometry(A, b, center, radius, tol: float = 1e-9, volume: bool = True,
                     seed: int = 0, n_chains: int = 32, steps_per_phase: int | None = None,
                     facet_method: str = "simplex"):
    """Facets (certified), and optionally volume, centroid and facet volumes (estimated)."""
    A = np.asarray(A, dtype=float)
    b = np.asarray(b, dtype=float)
    n = A.shape[1]
    A_unit, b_unit, norms = normalize_rows(A, b)
    rows, stats = facet_rows_screened(A, b, center, tol, method=facet_method)
    f = rows.size
    if volume:
        est = estimate_cell(A, b, center, radius, np.random.default_rng(seed),
                            n_chains=n_chains, steps_per_phase=steps_per_phase,
                            facet_rows=rows)
        vol, centroid, fvol = est.volume, est.centroid, est.facet_volumes
        se = est.se if est.mixed else float("nan")  # refused: no error bar to report
        fse = est.facet_se if est.mixed else np.full(f, np.nan)
    else:
        vol, se, centroid = float("nan"), float("nan"), np.full(n, np.nan)
        fvol, fse = np.full(f, np.nan), np.full(f, np.nan)
    return HighDimGeometry(
        volume=vol, centroid=centroid, vertices=np.zeros((0, n)), facet_rows=rows,
        facet_normals=A_unit[rows], facet_offsets=b_unit[rows],
        facet_volumes=fvol, facet_centroids=np.full((f, n), np.nan),
        hinge_facets=np.zeros((0, 2), dtype=np.int64), hinge_volumes=np.zeros(0),
        hinge_centroids=np.zeros((0, n)), hinge_angles=np.zeros(0), volume_se=se, stats=stats,
        facet_volume_se=fse)
