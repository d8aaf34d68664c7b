"""The same partition on every execution backend: identical tables (serial is the oracle)."""
import numpy as np
import pandas as pd
import pytest

import cellgeom

from ..helpers import generic_arrangement


def _assert_same(a, b):
    assert a.keys == b.keys
    pd.testing.assert_frame_equal(a.cells, b.cells)
    pd.testing.assert_frame_equal(a.facets, b.facets)
    pd.testing.assert_frame_equal(a.hinges, b.hinges)
    np.testing.assert_array_equal(a.vertices, b.vertices)


@pytest.fixture(scope="module")
def serial():
    arr, box = generic_arrangement(6, 2, seed=8)
    return arr, box, cellgeom.partition(arr, domain=box, cells="all", progress=False)


def test_process_pool_gives_identical_tables(serial):
    arr, box, expected = serial
    pooled = cellgeom.partition(arr, domain=box, cells="all", progress=False,
                                executor="processes", n_jobs=2)
    _assert_same(expected, pooled)


def test_dask_local_cluster_gives_identical_tables(serial):
    distributed = pytest.importorskip("dask.distributed")
    arr, box, expected = serial
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        on_dask = cellgeom.partition(arr, domain=box, cells="all", progress=False,
                                     executor=client)
        # the complex built from the dask partition equals the serial one
        cx_a, cx_b = cellgeom.build_complex(expected), cellgeom.build_complex(on_dask)
    _assert_same(expected, on_dask)
    assert cx_a.n_simplices() == cx_b.n_simplices()
    assert (cx_a.gram(1) != cx_b.gram(1)).nnz == 0
