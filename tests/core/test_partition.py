"""Point location of :class:`cellgeom.core.Partition` at its edges.

Oracle: ``locate`` returns -1 for a point in no cell of the partition; a partition with no
cell at all (every cell dropped as thinner than the tolerance) holds no point.
"""
from __future__ import annotations

import numpy as np
import pytest

import cellgeom
from cellgeom.core import Partition
from cellgeom.models.tie_break import KeyLocator


def _empty_partition():
    """A partition of an arrangement with every cell removed (what is left when each cell
    is thinner than the tolerance), its model and locator kept."""
    arr = cellgeom.HyperplaneArrangement(np.array([[1.0, 0.0], [0.0, 1.0]]), np.zeros(2))
    X = np.column_stack([np.zeros(4) + 0.25, np.linspace(-0.5, 0.5, 4)])
    full = cellgeom.partition(arr, domain=cellgeom.Box([-1, -1], [1, 1]), data=X,
                              cells="data", progress=False)
    part = Partition(domain=full.domain, keys=[], cells=full.cells.iloc[:0],
                     facets=full.facets.iloc[:0], hinges=full.hinges.iloc[:0],
                     model=full.model, locator=KeyLocator(arr.keys, []),
                     info=dict(full.info))
    assert part.n_cells == 0
    return part, X


@pytest.mark.parametrize("locator", ["model", "halfspaces"])
def test_empty_partition_locates_every_point_in_no_cell(locator):
    """Before: the half-space route (a loaded partition, no model) raised from an arg-max
    over zero cells."""
    part, X = _empty_partition()
    if locator == "halfspaces":
        part._locator = None  # as loaded: no model to ask
    points = np.vstack([X, [[0.3, 0.2], [2.0, 0.0]]])
    np.testing.assert_array_equal(part.locate(points), np.full(len(points), -1))
    assert part.locate(np.zeros((0, 2))).shape == (0,)
