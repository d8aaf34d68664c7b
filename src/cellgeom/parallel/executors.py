"""The executors: the base class with the chunked map, the serial and the process backends.

See :mod:`cellgeom.parallel` for the contract every backend keeps (results in item order,
the first failing item named, one BLAS/OpenMP thread per worker process).
"""
from __future__ import annotations

import ast
import contextlib
import multiprocessing
import os
import pickle
import site
import sys
import sysconfig
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np
from tqdm import tqdm

from .chunks import (
    ChunkFunc,
    Failure,
    as_completed_chunks,
    auto_chunk_size,
    concatenate,
    is_positive_int,
    raise_failure,
    run_chunk,
    slice_items,
)

__all__ = ["Executor", "ProcessExecutor", "SerialExecutor", "available_cores",
           "main_script_imports"]

THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                   "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def _init_worker() -> None:
    """Pin BLAS/OpenMP to one thread in a worker process (see the module docstring)."""
    for name in THREAD_ENV_VARS:  # read by libraries this worker loads later (e.g. torch)
        os.environ[name] = "1"
    with contextlib.suppress(ImportError):  # threadpoolctl comes with scikit-learn
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)  # for those already loaded: numpy came with this module
    torch = sys.modules.get("torch")  # the fork server may have imported it (see below)
    if torch is not None:
        torch.set_num_threads(1)


def available_cores() -> int:
    if hasattr(os, "process_cpu_count"):  # Python >= 3.13; respects the affinity mask
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


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
            chunk_size = auto_chunk_size(n_items, self.n_workers)
        elif not is_positive_int(chunk_size):
            raise ValueError(f"chunk_size={chunk_size!r} is not valid; expected a positive int"
                             " or None (automatic)")
        if n_items == 0:
            return []
        self._check_func(func)
        where = desc or getattr(func, "__name__", type(func).__name__)
        bounds = [(s, min(s + chunk_size, n_items)) for s in range(0, n_items, chunk_size)]
        results: list[Any] = [None] * len(bounds)
        failures: dict[int, Failure] = {}

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
                if isinstance(outcome, Failure):
                    failures[k] = outcome
                else:
                    results[k] = outcome
                    bar.update(bounds[k][1] - bounds[k][0])
        if failures:
            raise_failure(failures[min(failures)], where)
        return concatenate(results, bounds, where)

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
        """Yield ``(chunk number, results or Failure)`` as chunks below ``wanted_below()``
        finish."""
        raise NotImplementedError


class SerialExecutor(Executor):
    """Runs the chunks one after another in this process: the reference backend."""

    def _run(self, func, items, bounds, args, wanted_below):
        for k, (start, stop) in enumerate(bounds):
            if k >= wanted_below():
                return
            yield k, run_chunk(func, slice_items(items, start, stop), start, args, remote=False)


def _process_context(method: str | None):
    if method is None:
        methods = multiprocessing.get_all_start_methods()  # the first is the platform default
        method = multiprocessing.get_start_method(allow_none=True) or methods[0]
        if method == "fork":
            # fork copies this process with the locks other threads hold (tqdm's monitor, a
            # Dask client, BLAS pools), so workers can deadlock. Python 3.14 made forkserver
            # the Linux default for this reason; macOS and Windows already use spawn.
            method = "forkserver" if "forkserver" in methods else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        _preload_in_forkserver(context)
    return context


#: imported once by the fork server, so its workers start with them loaded (the second
#: also loads the compiled kernels the workers of the high-dimensional route run)
FORKSERVER_PRELOAD = ("cellgeom.models.cell_geometry", "cellgeom.models.worker_warmup")


def _preload_in_forkserver(context) -> None:
    """Have the fork server import cellgeom's worker modules, and the modules the main
    script imports, before it forks workers.

    Each worker otherwise imports cellgeom itself (NumPy, SciPy, pandas, numba: 0.75 s
    per worker, all workers at once on a machine whose cores the caller needs too) and
    loads the compiled kernels (0.3 s). The fork server imports them once, and every pool
    it forks later in this session starts in milliseconds.

    Every worker also runs the main script again (as ``__mp_main__``, the rule of the
    spawn and forkserver start methods). The fork server was meant to import it once
    (``"__main__"`` in its preload list), but before Python 3.13.8 it never does
    (CPython gh-126631), so a script that imports torch at its top paid the torch import
    (1 s) in every worker of every pool. The fork server therefore also imports the
    modules the main script imports at its top level (:func:`main_script_imports`); the
    workers' run of the script then finds them loaded.

    The caller's own preload list is kept (``__main__`` by default). It takes effect when
    the fork server starts, i.e. at the first pool of the process; an import error there
    is ignored by the fork server and the workers import as before.
    """
    from multiprocessing import forkserver

    current = list(getattr(forkserver._forkserver, "_preload_modules", ["__main__"]))
    wanted = [*FORKSERVER_PRELOAD, *main_script_imports()]
    missing = [name for name in dict.fromkeys(wanted) if name not in current]
    if missing:
        context.set_forkserver_preload(current + missing)


def main_script_imports() -> list[str]:
    """The modules the main script imports when a worker runs it: the imports of its
    top-level statements, outside function and class bodies and the ``if __name__ ==
    "__main__":`` block, among those already imported in this process from the standard
    library or an installed package (:data:`INSTALLED_ROOTS`). The user's own modules are
    left to the workers: they may act on import (read arguments or files), and a failure
    other than ImportError in the fork server would break every pool. Empty without a
    main script file (an interactive session, ``python -c``)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path or not str(path).endswith(".py"):
        return []
    try:
        with open(path, "rb") as fh:
            tree = ast.parse(fh.read())
    except (OSError, SyntaxError, ValueError):
        return []
    names = list(_top_level_imports(tree.body))
    return [name for name in dict.fromkeys(names)
            if name not in ("__main__", "__mp_main__") and _installed(name)]


def _installed_roots() -> tuple[str, ...]:
    paths = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib",
                                                     "platlib")}
    with contextlib.suppress(AttributeError):  # site of some embedded interpreters
        paths.update(site.getsitepackages())
    return tuple(sorted(os.path.realpath(path) for path in paths))


#: directories of the standard library and of installed packages
INSTALLED_ROOTS = _installed_roots()


def _installed(name: str) -> bool:
    """Whether the module is imported here, built in or from :data:`INSTALLED_ROOTS`."""
    module = sys.modules.get(name)
    if module is None:
        return False
    if name in sys.builtin_module_names:
        return True
    path = getattr(module, "__file__", None)
    if not path:
        return False
    path = os.path.realpath(path)
    with contextlib.suppress(ValueError):  # paths on different drives share no root
        return any(os.path.commonpath([path, root]) == root for root in INSTALLED_ROOTS)
    return False


def _top_level_imports(statements) -> Iterator[str]:
    """Names imported by the statements, in source order, not descending into functions,
    classes or the ``__main__`` block."""
    for node in statements:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                and not _is_main_guard(node):
            yield from _top_level_imports(child for child in ast.iter_child_nodes(node)
                                          if isinstance(child, ast.stmt))


def _is_main_guard(node: ast.AST) -> bool:
    """``if __name__ == "__main__":`` (either operand order)."""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    operands = [node.test.left, *node.test.comparators]
    return (len(operands) == 2 and isinstance(node.test.ops[0], ast.Eq)
            and any(isinstance(x, ast.Name) and x.id == "__name__" for x in operands)
            and any(isinstance(x, ast.Constant) and x.value == "__main__" for x in operands))


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
        if n_workers is not None and not is_positive_int(n_workers):
            raise ValueError(f"n_workers={n_workers!r} is not valid; expected a positive int")
        self.n_workers = available_cores() if n_workers is None else int(n_workers)
        self.mp_context = mp_context
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._starting: threading.Thread | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        with self._lock:  # reused across calls: starting workers (interpreter, numpy, scipy
            if self._pool is None:  # imports) costs more than a typical chunk
                self._pool = ProcessPoolExecutor(
                    self.n_workers, mp_context=_process_context(self.mp_context),
                    initializer=_init_worker)
            return self._pool

    def prestart(self, func: Callable[..., Any], *args: Any) -> None:
        """Start the workers now and run ``func(*args)`` once per worker, not waited for.

        For a warm-up (imports, loading compiled kernels) that overlaps with work the caller
        still does in this process before its first map; a failure here surfaces in the map.
        The workers are started from a background thread: starting one waits for the fork
        server, which at the first pool of the process first imports its preload modules
        (0.75 s), and the caller can go on meanwhile (its first map's submissions wait for
        the start, in the pool's own lock).
        """
        if self._starting is not None:  # one start at a time: shutdown joins the last
            self._starting.join()

        def start() -> None:
            pool = self._get_pool()
            for _ in range(self.n_workers):
                pool.submit(func, *args)

        self._starting = threading.Thread(target=start, name="cellgeom-pool-start",
                                          daemon=True)
        self._starting.start()

    def shutdown(self) -> None:
        """Stop the worker processes; a later map starts a fresh pool."""
        starting, self._starting = self._starting, None
        if starting is not None:  # a pool it creates after this would never be shut down
            starting.join()
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
                futures.append(pool.submit(run_chunk, func, slice_items(items, start, stop),
                                           start, args))
            yield from as_completed_chunks(futures, as_completed(futures), wanted_below,
                                           lambda fs: [future.cancel() for future in fs])
        except BrokenProcessPool as exc:
            self.shutdown()
            raise RuntimeError("a worker process died abruptly (killed, out of memory, or a crash"
                               " in compiled code); the pool was reset, rerun to retry"
                               + _main_guard_hint()) from exc
        finally:
            for future in futures:
                future.cancel()


def _main_guard_hint() -> str:
    """Why workers die at once when the script has no main guard: each worker re-imports
    the script (forkserver / spawn), whose top-level code starts a pool of its own."""
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    try:
        source = open(path, encoding="utf-8").read() if path else None
    except OSError:
        return ""
    if source is None or _has_main_guard(source):
        return ""
    return (f". The script {path} has no `if __name__ == \"__main__\":` guard: each worker "
            "re-imports it and runs its top-level code again, which starts workers of its "
            "own; put the script's calls under that guard (or use n_jobs=None).")


def _has_main_guard(source: str) -> bool:
    """Whether the module has a top-level ``if __name__ == "__main__":`` (either order)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return True  # nothing to say about it
    for node in tree.body:
        test = node.test if isinstance(node, ast.If) else None
        if isinstance(test, ast.Compare) and len(test.comparators) == 1:
            sides = [test.left, test.comparators[0]]
            names = [x.id for x in sides if isinstance(x, ast.Name)]
            values = [x.value for x in sides if isinstance(x, ast.Constant)]
            if names == ["__name__"] and values == ["__main__"]:
                return True
    return False
