"""Imported by the process pool's fork server: loads the compiled kernels of the
high-dimensional route, so that every worker forked from the server has them loaded.

Without it each worker of each pool loads them itself (:func:`.cell_geometry.warm_workers`,
0.3 s per worker, all workers at once). Nothing here is public; importing the module has
this one effect.
"""
from __future__ import annotations

from ..geometry.lp import DUAL_CHEBYSHEV_DIM
from .cell_geometry import _warm_kernels

__all__: list[str] = []

try:  # above this dimension the Chebyshev centre is the compiled walk too; the kernels'
    # specialisations do not depend on the dimension beyond that
    _warm_kernels(DUAL_CHEBYSHEV_DIM + 1)
except Exception:  # noqa: BLE001 - never break the fork server: workers then load them
    pass
