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

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import re
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

__all__ = ["CellTaskError", "DaskExecutor", "Executor", "ProcessExecutor", "SerialExecutor",
           "map_cells", "resolve_executor"]

ChunkFunc = Callable[..., Any]
_MAX_CHUNK = 2048  # items per chunk: bounds one task's memory and the cost of a re-run
_CHUNKS_PER_WORKER = 4  # a few chunks per worker, so one slow chunk does not idle the rest
_THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


class CellTaskError(RuntimeError):
    """The per-item function failed; the message names the first failing item and the cause.

    Attributes
    ----------
    index : int or None
        Position in ``items`` of the lowest failing item. None if a chunk failed but each of
        its items succeeded alone (``func`` then breaks the item-independence contract).
    original : Exception or None
        What ``func`` raised, also the ``__cause__``; None if it could not be pickled back
        from the worker (the worker's traceback text is then the ``__cause__``).
    """

    def __init__(self, message: str, index: int | None = None,
                 original: BaseException | None = None) -> None:
        super().__init__(message)
        self.index, self.original = index, original

    def __reduce__(self):
        return (type(self), (self.args[0], self.index, self.original))


class _RemoteTraceback(Exception):
    def __str__(self) -> str:
        return "\n" + self.args[0]


@dataclass
class _Failure:
    """What a worker returns instead of results when ``func`` raised on its chunk."""

    index: int | None
    start: int
    stop: int
    original: BaseException | None
    type_name: str
    message: str
    traceback: str


def _slice(items: Any, start: int, stop: int) -> Any:
    return items.iloc[start:stop] if hasattr(items, "iloc") else items[start:stop]


def _run_chunk(func: ChunkFunc, chunk: Any, start: int, args: tuple, remote: bool = True) -> Any:
    """Run ``func`` on one chunk; if it raises, find the first failing item (in the worker)."""
    try:
        return func(chunk, *args)
    except Exception as chunk_exc:
        exc = chunk_exc
    index = None
    for i in range(len(chunk)):  # outside the except block: no "during handling" noise
        try:
            func(_slice(chunk, i, i + 1), *args)
        except Exception as item_exc:
            index, exc = start + i, item_exc
            break
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    original: BaseException | None = exc
    if remote:  # an unpicklable exception would break the reply and hide the real error
        try:
            pickle.dumps(exc)
        except Exception:
            original = None
    return _Failure(index, start, start + len(chunk), original, type(exc).__name__, str(exc), text)


def _raise_failure(failure: _Failure, where: str) -> None:
    cause = f"{failure.type_name}: {failure.message} (in {where}"
    if failure.index is None:
        message = (f"cells {failure.start}..{failure.stop - 1} failed together but each succeeded"
                   f" alone: {cause}, whose result for an item must not depend on other items)")
    else:
        message = f"cell {failure.index} failed: {cause})"
    original, remote = failure.original, _RemoteTraceback(failure.traceback)
    if original is not None and original.__traceback__ is None and original.__cause__ is None:
        original.__cause__ = remote  # it came through pickle: keep the worker's traceback
    raise CellTaskError(message, failure.index, original) from (original or remote)


def _init_worker() -> None:
    """Pin BLAS/OpenMP to one thread in a worker process (see the module docstring)."""
    for name in _THREAD_ENV_VARS:  # read by libraries this worker loads later (e.g. torch)
        os.environ[name] = "1"
    with contextlib.suppress(ImportError):  # threadpoolctl comes with scikit-learn
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)  # for those already loaded: numpy came with this module


def _available_cores() -> int:
    if hasattr(os, "process_cpu_count"):  # Python >= 3.13; respects the affinity mask
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _auto_chunk_size(n_items: int, n_workers: int) -> int:
    """A few chunks per worker, each of 1 to ``_MAX_CHUNK`` items."""
    per_chunk = -(-n_items // (_CHUNKS_PER_WORKER * max(n_workers, 1)))
    return int(min(max(per_chunk, 1), _MAX_CHUNK))


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0


class Executor:
    """Maps a chunk function over items; base of the serial, process and Dask backends.

    Executors are context managers: leaving the ``with`` block calls :meth:`shutdown`.
    """

    n_workers: int = 1

    def map_chunks(self, func: ChunkFunc, items: Any, *, chunk_size: int | None = None,
                   args: Sequence[Any] = (), progress: bool | Any = True,
                   desc: str | None = None) -> list | np.ndarray:
        """Apply ``func(chunk, *args)`` over contiguous chunks of ``items``, in item order.

        Parameters
        ----------
        func : callable
            Takes a list or array slice of items, returns a list or array with one result
            per item. A module-level function for the process and Dask backends.
        items : sequence or ndarray
            The items. Chunks of an array (or pandas object, by ``iloc``) are slices of it;
            other iterables are made a list first.
        chunk_size : int, optional
            Items per chunk. Default: a few chunks per worker, 1 to 2048 items each.
        args : sequence, optional
            Extra positional arguments of every call of ``func``.
        progress : bool or tqdm bar, default True
            Show a tqdm bar on stderr, advanced as chunks finish. An existing bar (an
            object with ``update``) is advanced instead and left open, so a caller that
            maps several rounds shows one bar for its whole call.
        desc : str, optional
            Label of the bar and of error messages; default ``func.__name__``.

        Returns
        -------
        ndarray or list
            ``np.concatenate`` of the chunk results if all are arrays, else one flat list.

        Raises
        ------
        CellTaskError
            If ``func`` raised; names the lowest failing item index and the cause.

        Examples
        --------
        >>> import numpy as np
        >>> SerialExecutor().map_chunks(np.square, np.arange(5), chunk_size=2, progress=False)
        array([ 0,  1,  4,  9, 16])
        """
        if not (isinstance(items, (np.ndarray, Sequence)) or hasattr(items, "iloc")):
            items = list(items)
        n_items = len(items)
        if chunk_size is None:
            chunk_size = _auto_chunk_size(n_items, self.n_workers)
        elif not _is_positive_int(chunk_size):
            raise ValueError(f"chunk_size={chunk_size!r} is not valid; expected a positive int"
                             " or None (automatic)")
        if n_items == 0:
            return []
        self._check_func(func)
        where = desc or getattr(func, "__name__", type(func).__name__)
        bounds = [(s, min(s + chunk_size, n_items)) for s in range(0, n_items, chunk_size)]
        results: list[Any] = [None] * len(bounds)
        failures: dict[int, _Failure] = {}

        def wanted_below() -> int:  # chunks after a failed one cannot hold a lower failure
            return min(failures, default=len(bounds))

        if hasattr(progress, "update"):  # the caller's bar: advance it, do not close it
            bar, owner = progress, contextlib.nullcontext()
        else:
            bar = tqdm(total=n_items, desc=where, unit="item", file=sys.stderr,
                       disable=not progress)
            owner = bar
        runs = self._run(func, items, bounds, tuple(args), wanted_below)
        with owner, contextlib.closing(runs):
            for k, outcome in runs:
                if isinstance(outcome, _Failure):
                    failures[k] = outcome
                else:
                    results[k] = outcome
                    bar.update(bounds[k][1] - bounds[k][0])
        if failures:
            _raise_failure(failures[min(failures)], where)
        return _concatenate(results, bounds, where)

    def shutdown(self) -> None:
        """Release the workers this executor started (nothing to do for serial)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_workers={self.n_workers})"

    def _check_func(self, func: ChunkFunc) -> None:
        """Reject, before any work, a function this backend cannot send to its workers."""

    def _run(self, func: ChunkFunc, items: Any, bounds: list[tuple[int, int]], args: tuple,
             wanted_below: Callable[[], int]) -> Iterator[tuple[int, Any]]:
        """Yield ``(chunk number, results or _Failure)`` as chunks below ``wanted_below()``
        finish."""
        raise NotImplementedError


def _concatenate(results: list[Any], bounds: list[tuple[int, int]], where: str):
    for result, (start, stop) in zip(results, bounds):
        try:
            length = len(result)
        except TypeError:  # a scalar, a 0-d array, None...
            length = None
        if length != stop - start:
            got = f"{length} results" if length is not None else type(result).__name__
            raise ValueError(f"{where} returned {got} for a chunk of {stop - start} items;"
                             " it must return a list or array with one result per item")
    if all(isinstance(result, np.ndarray) for result in results):
        return np.concatenate(results)
    return [value for result in results for value in result]


def _as_completed(futures: list, completed: Iterator, wanted_below: Callable[[], int],
                  cancel: Callable[[list], Any]) -> Iterator[tuple[int, Any]]:
    """Yield ``(chunk number, outcome)`` from futures (concurrent or Dask) as they finish.

    After a failure, the chunks above it are cancelled, and the loop ends once every chunk
    below it is done, without waiting for cancelled chunks that were already running.
    """
    number = {future: k for k, future in enumerate(futures)}
    cut, seen, first_unseen = len(futures), set(), 0
    for future in completed:
        seen.add(number[future])
        if number[future] < wanted_below():
            yield number[future], future.result()
        if wanted_below() < cut:
            cut = wanted_below()
            cancel(futures[cut:])
        while first_unseen in seen:
            first_unseen += 1
        if first_unseen >= cut:
            return


class SerialExecutor(Executor):
    """Runs the chunks one after another in this process: the reference backend."""

    def _run(self, func, items, bounds, args, wanted_below):
        for k, (start, stop) in enumerate(bounds):
            if k >= wanted_below():
                return
            yield k, _run_chunk(func, _slice(items, start, stop), start, args, remote=False)


def _process_context(method: str | None):
    if method is None:
        methods = multiprocessing.get_all_start_methods()  # the first is the platform default
        method = multiprocessing.get_start_method(allow_none=True) or methods[0]
        if method == "fork":
            # fork copies this process with the locks other threads hold (tqdm's monitor, a
            # Dask client, BLAS pools), so workers can deadlock. Python 3.14 made forkserver
            # the Linux default for this reason; macOS and Windows already use spawn.
            method = "forkserver" if "forkserver" in methods else "spawn"
    return multiprocessing.get_context(method)


class ProcessExecutor(Executor):
    """Runs chunks on a local process pool, started on first use and kept until shutdown.

    Parameters
    ----------
    n_workers : int, optional
        Worker processes; default all available cores.
    mp_context : str, optional
        Start method; default the platform's, with ``"fork"`` replaced by ``"forkserver"``.
        As with any pool, a script needs the ``if __name__ == "__main__":`` guard.

    Examples
    --------
    >>> with ProcessExecutor(2) as ex:  # doctest: +SKIP
    ...     roots = ex.map_chunks(np.sqrt, np.arange(4.0))
    """

    def __init__(self, n_workers: int | None = None, *, mp_context: str | None = None) -> None:
        if n_workers is not None and not _is_positive_int(n_workers):
            raise ValueError(f"n_workers={n_workers!r} is not valid; expected a positive int")
        self.n_workers = _available_cores() if n_workers is None else int(n_workers)
        self.mp_context = mp_context
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _get_pool(self) -> ProcessPoolExecutor:
        with self._lock:  # reused across calls: starting workers (interpreter, numpy, scipy
            if self._pool is None:  # imports) costs more than a typical chunk
                self._pool = ProcessPoolExecutor(
                    self.n_workers, mp_context=_process_context(self.mp_context),
                    initializer=_init_worker)
            return self._pool

    def shutdown(self) -> None:
        """Stop the worker processes; a later map starts a fresh pool."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _check_func(self, func):
        name = getattr(func, "__qualname__", repr(func))
        problem = None
        if getattr(func, "__module__", None) == "__main__" and \
                not hasattr(sys.modules["__main__"], "__file__"):
            problem = "it is defined interactively in __main__, which workers cannot import"
        else:
            try:
                pickle.dumps(func)
            except Exception as exc:
                problem = f"it cannot be pickled ({type(exc).__name__}: {exc})"
        if problem:
            raise TypeError(f"{name} cannot be sent to worker processes: {problem}. Pass a"
                            " function defined at module level of an importable module (not a"
                            " lambda or a nested function), or use executor='serial'.")

    def _run(self, func, items, bounds, args, wanted_below):
        pool = self._get_pool()
        futures = []
        try:
            for start, stop in bounds:
                futures.append(pool.submit(_run_chunk, func, _slice(items, start, stop),
                                           start, args))
            yield from _as_completed(futures, as_completed(futures), wanted_below,
                                     lambda fs: [future.cancel() for future in fs])
        except BrokenProcessPool as exc:
            self.shutdown()
            raise RuntimeError("a worker process died abruptly (killed, out of memory, or a crash"
                               " in compiled code); the pool was reset, rerun to retry") from exc
        finally:
            for future in futures:
                future.cancel()


class DaskExecutor(Executor):
    """Runs chunks as tasks on a ``dask.distributed`` cluster.

    Parameters
    ----------
    client_or_address : Client, str or None
        A ``Client`` (used, never closed); a scheduler address such as
        ``"tcp://127.0.0.1:8786"`` (a Client is connected, and closed by :meth:`shutdown`); or
        None: the default client if there is one, else a new ``LocalCluster`` owned by this
        executor.
    n_workers : int, optional
        Workers of that new ``LocalCluster``, one thread each; default all cores. Its
        workers start without Dask's ``MALLOC_TRIM_THRESHOLD_`` (see :func:`_local_cluster`:
        with it, the per-cell kernels run about 30% slower).

    Examples
    --------
    >>> with DaskExecutor("tcp://scheduler:8786") as ex:  # doctest: +SKIP
    ...     volumes = ex.map_chunks(cell_volumes, cells, args=(bounds,))
    """

    def __init__(self, client_or_address: Any = None, *, n_workers: int | None = None) -> None:
        from dask import distributed

        self._owned: list[Any] = []  # closed by shutdown, in this order
        if isinstance(client_or_address, distributed.Client):
            self.client = client_or_address
        elif isinstance(client_or_address, str):
            self.client = distributed.Client(client_or_address)
            self._owned.append(self.client)
        elif client_or_address is None:
            try:
                self.client = distributed.default_client()
            except ValueError:  # none yet; ":0" as 8787 may be taken by another cluster
                cluster = _local_cluster(n_workers or _available_cores())
                self.client = distributed.Client(cluster)
                self._owned += [self.client, cluster]
        else:
            raise TypeError(f"DaskExecutor expects a dask.distributed.Client, a scheduler"
                            f" address or None, got {client_or_address!r}")

    @property
    def n_workers(self) -> int:  # type: ignore[override]
        return max(sum(self.client.nthreads().values()), 1)

    def shutdown(self) -> None:
        """Close the Client and cluster this executor opened; a Client passed in stays open."""
        while self._owned:
            self._owned.pop(0).close()

    def _run(self, func, items, bounds, args, wanted_below):
        from dask.distributed import as_completed as dask_as_completed

        client = self.client
        # Scatter the data straight to the workers rather than embedding it in the task graph
        # that goes through the scheduler (slow, and warned about, for big inputs).
        chunks = client.scatter([_slice(items, a, b) for a, b in bounds], hash=False)
        shared_args = client.scatter([args], hash=False)[0] if args else ()
        futures = [client.submit(_run_chunk, func, chunk, start, shared_args, pure=False)
                   for chunk, (start, _) in zip(chunks, bounds)]
        try:
            yield from _as_completed(futures, dask_as_completed(futures), wanted_below,
                                     client.cancel)
        finally:
            client.cancel([f for f in futures if not f.done()] + list(chunks))


def _local_cluster(n_workers: int):
    """A ``LocalCluster`` of single-threaded worker processes, without the malloc trim setting.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536`` (to hand freed memory
    back to the OS). Setting that variable also turns off glibc's adaptive mmap threshold,
    so every NumPy temporary above 128 KiB is mapped and unmapped afresh; the per-cell
    kernels, which make thousands of such temporaries, then ran about 30% slower than in a
    process pool (measured on the digits network cells). The other variables of
    ``distributed.nanny.pre-spawn-environ`` (one BLAS/OpenMP thread) are kept. For a
    cluster started elsewhere, drop the variable from that setting the same way.

    A nanny also writes its variables into this process's ``os.environ`` (where every
    later child inherits them), so a value equal to Dask's own is kept out of the
    environment while the workers start, and put back after.
    """
    import dask
    from dask import distributed

    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {})
    dasks_value = environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    inherited = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    left_by_dask = inherited is not None and inherited == str(dasks_value)
    try:
        if left_by_dask:
            del os.environ["MALLOC_TRIM_THRESHOLD_"]
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            return distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                            processes=True, dashboard_address=":0")
    finally:
        if left_by_dask:
            os.environ["MALLOC_TRIM_THRESHOLD_"] = inherited


def _effective_n_jobs(n_jobs: Any) -> int:
    """joblib's convention: None -> 1, -1 -> all cores, -2 -> all but one, ..."""
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise ValueError(f"n_jobs={n_jobs!r} is not valid; expected None, a positive int, or a"
                         f" negative int counting from all cores (-1 = all {_available_cores()})")
    return int(n_jobs) if n_jobs > 0 else max(_available_cores() + 1 + int(n_jobs), 1)


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
