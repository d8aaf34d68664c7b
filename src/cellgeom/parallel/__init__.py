"""Run per-cell work serially, on a local process pool, or on a Dask cluster.

Every per-cell or per-edge loop of cellgeom goes through :func:`map_cells`: the items are cut
into contiguous chunks (never one task per cell), each chunk is one call ``func(chunk, *args)``
returning one result per item, and results come back in item order on every backend:
``"serial"``, ``"processes"`` (local ``ProcessPoolExecutor``) or ``"dask"`` (a
``dask.distributed.Client``; Dask is optional and imported only when asked for).

An item's result must depend on that item and ``args`` only, not on the other items of its
chunk: chunk sizes differ between backends, and a failing chunk is re-run item by item to find
the culprit. Then every backend returns the same results.

Worker processes run BLAS and OpenMP single-threaded: with ``n`` workers on ``n`` cores, each
worker's NumPy/SciPy/torch would otherwise start ``n`` threads, and the ``n * n`` threads
thrash the caches and run slower than serial code. Dask's nanny does the same
(config ``distributed.nanny.pre-spawn-environ``).
"""

from .chunks import CellTaskError
from .dask_executor import DaskExecutor
from .dispatch import map_cells, resolve_executor
from .executors import Executor, ProcessExecutor, SerialExecutor

__all__ = ["CellTaskError", "DaskExecutor", "Executor", "ProcessExecutor", "SerialExecutor",
           "map_cells", "resolve_executor"]
