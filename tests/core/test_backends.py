"""The same partition on every execution backend: identical tables (serial is the oracle)."""
import numpy as np
import pandas as pd

import cellgeom

from .helpers import generic_arrangement


def test_process_pool_gives_identical_tables():
    arr, box = generic_arrangement(6, 2, seed=8)
    serial = cellgeom.partition(arr, domain=box, cells="all", progress=False)
    pooled = cellgeom.partition(arr, domain=box, cells="all", progress=False,
                                executor="processes", n_jobs=2)
    assert serial.keys == pooled.keys
    pd.testing.assert_frame_equal(serial.cells, pooled.cells)
    pd.testing.assert_frame_equal(serial.facets, pooled.facets)
    pd.testing.assert_frame_equal(serial.hinges, pooled.hinges)
    np.testing.assert_array_equal(serial.vertices, pooled.vertices)
