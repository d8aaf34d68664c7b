"""Facets of high-dimensional network cells: the compiled walk equals the HiGHS route
(``facet_method="highs"``) and is identical in process-pool and Dask workers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import cellgeom


@pytest.fixture(scope="module")
def net_20d():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(),
                        nn.Linear(16, 2)).double().eval()
    X = np.random.default_rng(3).uniform(-1, 1, (24, 20))
    box = cellgeom.Box(-np.ones(20), np.ones(20))
    return net, X, box


def _cells(net, X, box, **kw):
    return cellgeom.partition(net, box, X, volume="none", progress=False, **kw)


def _same(a, b):
    assert a.keys == b.keys
    cols = ["cell", "label", "neighbor", "neighbor_key"]
    pd.testing.assert_frame_equal(a.facets[cols], b.facets[cols])
    np.testing.assert_allclose(a.cells["inradius"], b.cells["inradius"], atol=1e-9)


def test_walk_equals_highs_route(net_20d):
    walk = _cells(*net_20d)
    highs = _cells(*net_20d, facet_method="highs")
    _same(walk, highs)
    assert walk.n_cells > 10 and walk.info["facet_candidates"] > 0
    with pytest.raises(ValueError, match="facet_method"):
        _cells(*net_20d, facet_method="exact")


def test_walk_in_process_pool_and_dask_workers(net_20d):
    serial = _cells(*net_20d)
    _same(serial, _cells(*net_20d, n_jobs=2, executor="processes"))
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        _same(serial, _cells(*net_20d, executor=client))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5000), st.integers(1, 8))
def test_balanced_chunks_never_load_a_worker_more_than_chunks_of_32(n_items, n_workers):
    """Property: chunks of at most 32 cells cover every cell, and dealt out in rounds the
    busiest worker gets no more cells than with fixed chunks of 32 (the makespan bound)."""
    from cellgeom.models.cell_geometry import HIGH_DIM_CHUNK, balanced_chunk

    def busiest(chunk):
        n_chunks = -(-n_items // chunk)
        return min(n_items, -(-n_chunks // n_workers) * chunk)

    chunk = balanced_chunk(n_items, n_workers)
    assert 1 <= chunk <= HIGH_DIM_CHUNK
    assert busiest(chunk) <= busiest(HIGH_DIM_CHUNK)
    if n_items == 160 and n_workers == 2:  # the bench subset: 81 cells, not 96
        assert busiest(chunk) == 81


def test_own_process_pool_loads_the_kernels_before_the_first_chunk(net_20d, monkeypatch):
    """partition(n_jobs=2) starts its pool and warms each worker (the compiled kernels)
    while the constraints are still built: prestart is called once, before any map, and
    the cells equal the serial ones."""
    from cellgeom.models import cell_geometry
    from cellgeom.parallel import ProcessExecutor

    calls = []
    prestart, map_chunks = ProcessExecutor.prestart, ProcessExecutor.map_chunks

    def record_prestart(self, func, *args):
        calls.append(("prestart", func, args))
        return prestart(self, func, *args)

    def record_map(self, *args, **kwargs):
        calls.append(("map", None, ()))
        return map_chunks(self, *args, **kwargs)

    monkeypatch.setattr(ProcessExecutor, "prestart", record_prestart)
    monkeypatch.setattr(ProcessExecutor, "map_chunks", record_map)
    pooled = _cells(*net_20d, n_jobs=2)
    assert calls[0] == ("prestart", cell_geometry._warm_kernels, (20,))
    assert [c[0] for c in calls].count("prestart") == 1 and calls[1][0] == "map"
    _same(_cells(*net_20d), pooled)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=6), st.integers(1, 12))
def test_cell_rows_are_the_same_whatever_the_slicing(chunks, block):
    """Oracle: the rows built all at once. Sliced lazily in any chunks (as an executor
    sends them), CellRows gives the same (A, b, labels), box rows first, calls the
    adapter only on whole aligned blocks of keys, and records every sliced cell's labels."""
    from cellgeom.models.cell_geometry import CellRows

    rng = np.random.default_rng(len(chunks) * 100 + block)
    n_keys, n = sum(chunks), 3
    keys = [f"k{i}" for i in range(n_keys)]
    table = {k: (rng.normal(size=(4, n)), rng.normal(size=4), np.arange(4) + 10 * i)
             for i, k in enumerate(keys)}
    calls = []

    def constraints(ks):
        calls.append(list(ks))
        return [table[k] for k in ks]

    box_A, box_b = cellgeom.Box(np.zeros(n), np.ones(n)).halfspaces()
    rows = CellRows(keys, constraints, box_A, box_b)
    rows.BLOCK = block
    got, start = [], 0
    for size in chunks:
        got += rows[start:start + size]
        start += size
    assert len(got) == len(rows) == n_keys
    for k, (A, b, labels) in zip(keys, got):
        A0, b0, l0 = table[k]
        np.testing.assert_array_equal(A, np.vstack([box_A, A0]))
        np.testing.assert_array_equal(b, np.concatenate([box_b, b0]))
        np.testing.assert_array_equal(labels, np.concatenate([-1 - np.arange(2 * n), l0]))
    assert all(call == keys[i * block:(i + 1) * block] for i, call in
               zip([keys.index(c[0]) // block for c in calls], calls))
    assert len(calls) == -(-n_keys // block)  # each block built once, in order
    assert all(lab is not None for lab in rows.labels)
    np.testing.assert_array_equal(rows[-1][2], got[-1][2])
    with pytest.raises(IndexError):
        rows[n_keys]
