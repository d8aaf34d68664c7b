"""The unit frame of the polytope route: cells are computed in the domain box mapped to
``[-1, 1]^n`` and their geometry mapped back.

Why: every tolerance of the geometry (Chebyshev radius of a thin cell, incidences,
repeated rows, merged vertices) and the LP solver's own absolute tolerances (HiGHS
accepts a primal infeasibility of 1e-7) are only meaningful relative to the problem's
scale. A box of side 6e8, or one of side 1 centred at 1e12, breaks them in its own
units: the Chebyshev LP of a cell in a 1e12-shifted box has right-hand sides near 1e12,
and HiGHS gives up ("Status 15") or calls the bounded cell unbounded. In the unit frame
every cell lies in ``[-1, 1]^n``, so one relative tolerance serves all of them.

The map is the similarity ``x = o + h u`` with ``o`` the centre of the domain and ``h``
half its largest side: the same factor on every axis, so normals, angles and the
Chebyshev ball are those of the user's units (``inradius`` stays the Chebyshev radius)
and each measure scales by a power of ``h``:

======================  ==========================================
quantity                back in the user's units
======================  ==========================================
points, centroids       ``o + h u``
n-volume (and its se)   ``h^n vol_u``
facet (n-1)-volume, se  ``h^(n-1) vol_u`` (facets of a 1-D cell are counted: 1)
hinge (n-2)-volume      ``h^(n-2) vol_u`` (hinges of a 2-D cell are counted: 1)
facet offset            ``nu . o + h offset_u`` (``nu . x = offset``)
inradius, tolerance     ``h r_u``
======================  ==========================================

Inequalities enter the frame centred at ``o``: an adapter whose ``constraints`` accept
``origin=`` returns rows ``A (x - o) <= b`` computed around ``o`` itself (a network
pushes ``o`` through its layers, a Voronoi model subtracts ``o`` from its sites), which
keeps the offsets free of the cancellation ``b - A o`` when ``o`` is far from zero;
otherwise the frame computes ``b - A o``.
"""
from __future__ import annotations

import inspect
import os
import sys
import warnings

import numpy as np
import pandas as pd

from ..core import vector_columns
from ..geometry import Box

__all__ = ["UnitFrame"]


class UnitFrame:
    """The similarity ``x = origin + half * u`` taking ``domain`` into ``[-1, 1]^n``.

    Parameters
    ----------
    domain : Box
        The user's domain box.

    Attributes
    ----------
    origin : ndarray (n,)
        Centre of the domain.
    half : float
        Half the largest side (the length unit of the frame).
    unit_domain : Box
        The domain in the frame: ``[-1, 1]`` along its longest side(s).
    """

    def __init__(self, domain: Box):
        self.domain = domain
        self.origin = domain.center
        self.half = domain.scale / 2
        self.unit_domain = Box((domain.lo - self.origin) / self.half,
                               (domain.hi - self.origin) / self.half)

    # -- points -------------------------------------------------------------------------------
    def to_domain(self, U: np.ndarray) -> np.ndarray:
        """Frame coordinates to the user's: ``x = o + h u``."""
        return self.origin + self.half * np.asarray(U, dtype=float)

    def to_unit(self, X: np.ndarray) -> np.ndarray:
        """The user's coordinates to the frame's: ``u = (x - o) / h``."""
        return (np.asarray(X, dtype=float) - self.origin) / self.half

    # -- inequalities ---------------------------------------------------------------------------
    def constraints(self, constraints):
        """The adapter's ``constraints(keys)`` as inequalities in the frame,
        ``(h A) u <= b_o`` with ``b_o`` the right-hand side around the origin."""
        centred = "origin" in inspect.signature(constraints).parameters
        origin, half = self.origin, self.half

        def in_frame(keys):
            if centred:
                rows = constraints(keys, origin=origin)
            else:
                rows = [(A, np.asarray(b, dtype=float) - np.asarray(A, dtype=float) @ origin,
                         labels) for A, b, labels in constraints(keys)]
            return [(np.asarray(A, dtype=float) * half, np.asarray(b, dtype=float), labels)
                    for A, b, labels in rows]

        return in_frame

    def key_function(self, key_of):
        """``key_of`` (of the user's points) as a function of frame points."""
        if key_of is None:
            return None
        return lambda U: key_of(self.to_domain(U))

    # -- tables -------------------------------------------------------------------------------
    def tables_to_domain(self, cells: pd.DataFrame, facets: pd.DataFrame,
                         hinges: pd.DataFrame, tol: float | None = None) -> None:
        """Map the partition tables from the frame to the user's units, in place; ``tol``
        (user units) when cells were dropped as thinner than it: warn if the domain is
        elongated, where it may have dropped real cells."""
        n, h, o = self.domain.dim, self.half, self.origin
        cells["volume"] = cells["volume"].to_numpy() * h**n
        if "volume_se" in cells:
            cells["volume_se"] = cells["volume_se"].to_numpy() * h**n
        cells["inradius"] = cells["inradius"].to_numpy() * h
        if tol is not None and len(cells):
            _warn_if_coarse(self.domain, float(cells["inradius"].min()), tol)
        for prefix in ("center", "centroid"):
            _points_to_domain(cells, prefix, n, o, h)
        facets["volume"] = facets["volume"].to_numpy() * h ** (n - 1)
        if "volume_se" in facets:
            facets["volume_se"] = facets["volume_se"].to_numpy() * h ** (n - 1)
        normals = facets[vector_columns("normal", n)].to_numpy()
        facets["offset"] = normals @ o + h * facets["offset"].to_numpy()
        _points_to_domain(facets, "centroid", n, o, h)
        if len(hinges) and n >= 3:
            hinges["volume"] = hinges["volume"].to_numpy() * h ** (n - 2)
        if len(hinges):
            _points_to_domain(hinges, "centroid", n, o, h)

    def vertices_to_domain(self, vertices):
        """``(indptr, ids, coords)`` with the merged coordinates in the user's units."""
        indptr, ids, coords = vertices
        return indptr, ids, self.to_domain(coords) if len(coords) else coords


#: sides further apart than this make the frame's one length unit (the largest side) coarse
#: along the shortest; measured with net(x) = iso(x / w) against its isotropic twin: cells
#: were dropped at 1e7, the dual complex failed at 1e5 (build_complex then says so)
MAX_ASPECT = 1e2


def _warn_if_coarse(domain: Box, min_inradius: float, tol: float) -> None:
    """Warn when cells were dropped as thinner than ``tol`` in an elongated domain, where
    the tolerance, relative to the largest side, is coarse along the shortest."""
    ratio, wide, narrow = domain.elongation
    if not MAX_ASPECT < ratio < np.inf:
        return
    widths = domain.widths
    warnings.warn(
        f"cells thinner than the tolerance {tol:.3g} were dropped (info['n_dropped']), and "
        f"the domain's sides differ by a factor of {ratio:.3g} "
        f"(feature {wide}: {widths[wide]:.3g}, feature {narrow}: {widths[narrow]:.3g}): "
        "cells are computed in one length unit, the largest side, so along the shortest "
        "the tolerance may be coarser than real cells (the thinnest kept has inradius "
        f"{min_inradius:.3g}). Standardize the features, or partition the final estimator "
        "of a scaler pipeline on the scaled domain.", UserWarning, stacklevel=_outside_cellgeom())


def _outside_cellgeom() -> int:
    """The stack level of the first caller outside the cellgeom package (warnings name
    the user's line whichever adapter got here)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    level, frame = 2, sys._getframe(2)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def _points_to_domain(table: pd.DataFrame, prefix: str, n: int, o, h) -> None:
    for j, col in enumerate(vector_columns(prefix, n)):
        values = table[col].to_numpy()
        if np.isnan(values).all():  # nothing estimated (NaN stays NaN): no new column
            continue
        table[col] = o[j] + h * values
