"""Choosing the executor from ``n_jobs=`` / ``executor=`` and mapping over cells with it."""
from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from .chunks import ChunkFunc
from .dask_executor import DaskExecutor
from .executors import Executor, ProcessExecutor, SerialExecutor, available_cores

__all__ = ["map_cells", "resolve_executor"]


def _effective_n_jobs(n_jobs: Any) -> int:
    """joblib's convention: None -> 1, -1 -> all cores, -2 -> all but one, ..."""
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise ValueError(f"n_jobs={n_jobs!r} is not valid; expected None, a positive int, or a"
                         f" negative int counting from all cores (-1 = all {available_cores()})")
    return int(n_jobs) if n_jobs > 0 else max(available_cores() + 1 + int(n_jobs), 1)


def resolve_executor(n_jobs: int | None = None, executor: Any = None) -> Executor:
    """The executor selected by the ``n_jobs=`` / ``executor=`` arguments of a public function.

    Parameters
    ----------
    n_jobs : int, optional
        joblib/scikit-learn convention: None or 1 is serial, ``k > 1`` a pool of ``k``
        processes, -1 all cores, -2 all but one. With ``executor="processes"`` or ``"dask"``
        it counts the local workers (None: all cores); other executors ignore it.
    executor : None, str, Client or Executor
        None (``n_jobs`` decides), ``"serial"``, ``"processes"``, ``"dask"`` (the default Dask
        client, else a new ``LocalCluster``), a scheduler address such as
        ``"tcp://127.0.0.1:8786"``, a ``dask.distributed.Client``, or an :class:`Executor`
        (returned as is).

    Returns
    -------
    Executor
        If it is new, call its ``shutdown()`` when done (:func:`map_cells` does).

    Examples
    --------
    >>> resolve_executor(), resolve_executor(n_jobs=2)
    (SerialExecutor(n_workers=1), ProcessExecutor(n_workers=2))
    >>> resolve_executor(executor="threads")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: executor='threads' is not understood; expected None, 'serial', ...
    """
    n_workers = _effective_n_jobs(n_jobs)
    if isinstance(executor, Executor):
        return executor
    if executor is None:
        return SerialExecutor() if n_workers == 1 else ProcessExecutor(n_workers)
    distributed = sys.modules.get("distributed")  # if not imported, there can be no Client
    if distributed is not None and isinstance(executor, distributed.Client):
        return DaskExecutor(executor)
    if isinstance(executor, str):
        local = None if n_jobs is None else n_workers
        if executor == "serial":
            return SerialExecutor()
        if executor == "processes":
            return ProcessExecutor(local)
        if executor == "dask":
            return DaskExecutor(None, n_workers=local)
        if "://" in executor or re.fullmatch(r"[\w.\-]+:\d+", executor):
            return DaskExecutor(executor)
    raise ValueError(f"executor={executor!r} is not understood; expected None, 'serial',"
                     " 'processes', 'dask', a scheduler address such as 'tcp://127.0.0.1:8786',"
                     " a dask.distributed.Client, or a cellgeom.parallel.Executor")


def map_cells(func: ChunkFunc, items: Any, *, n_jobs: int | None = None, executor: Any = None,
              chunk_size: int | None = None, args: Sequence[Any] = (),
              progress: bool | Any = True, desc: str | None = None) -> list | np.ndarray:
    """Map a chunk function over cells (or edges) on the backend the caller asked for.

    :func:`resolve_executor` picks the executor from ``n_jobs`` and ``executor``;
    :meth:`Executor.map_chunks` describes the other parameters and the result. An executor
    created here is shut down afterwards; one passed in is left running.

    Examples
    --------
    >>> import numpy as np
    >>> map_cells(np.square, np.arange(5), progress=False)
    array([ 0,  1,  4,  9, 16])
    >>> map_cells(np.square, [1, 2], n_jobs=2, progress=False)  # doctest: +SKIP
    array([1, 4])
    """
    resolved = resolve_executor(n_jobs, executor)
    try:
        return resolved.map_chunks(func, items, chunk_size=chunk_size, args=args,
                                   progress=progress, desc=desc)
    finally:
        if resolved is not executor:
            resolved.shutdown()
