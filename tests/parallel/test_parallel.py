"""Tests of cellgeom.parallel: every backend must give what a plain Python loop gives.

The worker functions are defined at module level so that spawned worker processes and Dask
workers can import them by name (pytest puts this directory on ``sys.path``, which
multiprocessing and Dask pass on to the workers they start).
"""

from __future__ import annotations

import os
import re
import sys
import time

import numpy as np
import pytest
from dask import distributed

from cellgeom.parallel import (
    CellTaskError,
    DaskExecutor,
    Executor,
    ProcessExecutor,
    SerialExecutor,
    map_cells,
    resolve_executor,
)
from cellgeom.parallel.chunks import auto_chunk_size

N_ITEMS = 101  # prime, so no chunk size used here divides it
FAILING_VALUE = 1037  # item value that makes _fail_on_value raise; its index is 37
BACKENDS = ["serial", "processes", "dask"]


# ---- worker functions: module level, so workers can import them -------------------------
def _item_formula(x: float) -> float:
    return float(np.sin(x) * x**2 + 1.0 / (1.0 + x * x))


def _formula_array(chunk, offset=0.0):
    """Per-item numeric function returning an array (the usual kernel shape)."""
    return np.array([_item_formula(x) + offset for x in chunk])


def _formula_list(chunk):
    """Same per-item function returning a plain list."""
    return [_item_formula(x) for x in chunk]


def _first_chunk_slow(chunk):
    """Item order must not follow completion order: the chunk holding item 0 ends last."""
    if 0 in list(chunk):
        time.sleep(0.3)
    return [int(x) * 3 for x in chunk]


def _fail_on_value(chunk):
    for x in chunk:
        if int(x) in (FAILING_VALUE, FAILING_VALUE + 44):  # two failures: the lower is reported
            raise ValueError(f"LP infeasible at {int(x)}")
    return [int(x) for x in chunk]


def _worker_pid(chunk):
    return [os.getpid()] * len(chunk)


def _worker_thread_setting(chunk):
    from threadpoolctl import threadpool_info

    blas_threads = {pool["num_threads"] for pool in threadpool_info()}
    return [(os.environ.get("OMP_NUM_THREADS"), tuple(sorted(blas_threads)))] * len(chunk)


def _fails_in_big_chunks(chunk):
    if len(chunk) > 3:
        raise MemoryError("chunk too big")
    return list(chunk)


def _wrong_length(chunk):
    return [0]


# ---- fixtures: one process pool and one Dask cluster for the whole module ------------------
@pytest.fixture(scope="module")
def process_executor():
    with ProcessExecutor(2) as executor:
        yield executor


@pytest.fixture(scope="module")
def dask_client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as client:
            yield client


@pytest.fixture(scope="module")
def executors(process_executor, dask_client):
    dask_executor = DaskExecutor(dask_client)
    yield {"serial": SerialExecutor(), "processes": process_executor, "dask": dask_executor}
    dask_executor.shutdown()


# ---- results --------------------------------------------------------------------------------
@pytest.mark.parametrize("chunk_size", [1, 7, None])
@pytest.mark.parametrize("kind", ["array", "list"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_results_equal_plain_loop_exactly(executors, backend, kind, chunk_size):
    """Oracle: a plain Python loop over the items; same order, same bits, on every backend."""
    values = np.linspace(-3.0, 5.0, N_ITEMS)
    items = values if kind == "array" else values.tolist()
    expected = np.array([_item_formula(x) + 0.5 for x in values])

    result = executors[backend].map_chunks(_formula_array, items, chunk_size=chunk_size,
                                           args=(0.5,), progress=False)

    assert isinstance(result, np.ndarray) and result.dtype == np.float64
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("backend", BACKENDS)
def test_list_results_concatenate_to_the_loop_list(executors, backend):
    """Oracle: the loop's list; chunks returning lists give one flat list, not an array."""
    items = list(range(N_ITEMS))
    result = executors[backend].map_chunks(_formula_list, items, chunk_size=7, progress=False)
    assert result == [_item_formula(x) for x in items]


@pytest.mark.parametrize("backend", ["processes", "dask"])
def test_item_order_kept_when_first_chunk_finishes_last(executors, backend):
    """Oracle: the loop order, although chunk 0 completes after all the others."""
    items = list(range(40))
    result = executors[backend].map_chunks(_first_chunk_slow, items, chunk_size=5,
                                           progress=False)
    assert result == [3 * x for x in items]


def test_empty_items_give_empty_list_without_calling_func():
    """Oracle: nothing to map; a function that would fail is never called."""
    assert SerialExecutor().map_chunks(_wrong_length, [], progress=False) == []


def test_wrong_result_length_is_a_value_error_naming_func():
    """Oracle: a chunk of 7 items answered with 1 result is a contract violation."""
    with pytest.raises(ValueError, match=r"_wrong_length returned 1 results for a chunk of 7"):
        SerialExecutor().map_chunks(_wrong_length, list(range(10)), chunk_size=7,
                                    progress=False)


def test_auto_chunk_size_gives_a_few_chunks_per_worker_within_bounds():
    """Oracle: the documented rule, 4 chunks per worker, clamped to 1..2048 items."""
    assert auto_chunk_size(1000, 2) == 125
    assert auto_chunk_size(3, 8) == 1
    assert auto_chunk_size(10**6, 2) == 2048


# ---- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize("chunk_size", [1, 7, None])
@pytest.mark.parametrize("backend", BACKENDS)
def test_error_names_lowest_failing_item_index_and_cause(executors, backend, chunk_size):
    """Oracle: items 37 and 81 raise; the error names index 37 (not its value 1037)."""
    items = np.arange(N_ITEMS) + 1000
    with pytest.raises(CellTaskError, match=r"^cell 37 failed: ValueError: LP infeasible at 1037"
                       ) as info:
        executors[backend].map_chunks(_fail_on_value, items, chunk_size=chunk_size,
                                      progress=False)
    assert info.value.index == 37
    assert isinstance(info.value.original, ValueError)
    assert info.value.__cause__ is info.value.original
    assert isinstance(info.value, RuntimeError)


def test_chunk_that_fails_only_as_a_whole_is_reported_as_a_range():
    """Oracle: each item succeeds alone, so no single index is blamed; the range 0..6 is."""
    with pytest.raises(CellTaskError, match=r"^cells 0\.\.6 failed together .*MemoryError") as info:
        SerialExecutor().map_chunks(_fails_in_big_chunks, list(range(10)), chunk_size=7,
                                    progress=False)
    assert info.value.index is None and isinstance(info.value.original, MemoryError)


def test_cell_task_error_survives_pickling():
    """Oracle: index, message and original are unchanged by a pickle round trip."""
    import pickle

    error = CellTaskError("cell 3 failed: ValueError: x", 3, ValueError("x"))
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.index, str(copy.original)) == (str(error), 3, "x")


def _local_function_factory():
    def local_square(chunk):
        return [x * x for x in chunk]

    return local_square


@pytest.mark.parametrize("func", [lambda chunk: chunk, _local_function_factory()],
                         ids=["lambda", "local"])
def test_unpicklable_func_on_processes_says_use_module_level(process_executor, func):
    """Oracle: the message tells what to do, before any work is sent."""
    with pytest.raises(TypeError, match=r"module level.*executor='serial'"):
        process_executor.map_chunks(func, [1, 2, 3], progress=False)


def test_lambda_runs_on_serial_and_dask(executors):
    """Oracle: the loop; only the process backend needs pickle-by-name."""
    for backend in ("serial", "dask"):
        result = executors[backend].map_chunks(lambda c: [x + 1 for x in c], [1, 2, 3],
                                               progress=False)
        assert result == [2, 3, 4]


# ---- progress -------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_progress_false_prints_nothing_and_true_draws_a_bar(executors, backend, capfd):
    """Oracle: stderr is empty with progress=False, and shows the bar's label otherwise."""
    executors[backend].map_chunks(_formula_list, list(range(20)), progress=False)
    assert capfd.readouterr().err == ""
    executors[backend].map_chunks(_formula_list, list(range(20)), progress=True,
                                  desc="volumes")
    err = capfd.readouterr().err
    assert "volumes" in err and "20/20" in err


# ---- lifecycle ------------------------------------------------------------------------------
def test_client_passed_in_stays_open(dask_client):
    """Oracle: the client still computes after map_cells and DaskExecutor.shutdown."""
    assert map_cells(_formula_list, [1.0], executor=dask_client, progress=False) == \
        [_item_formula(1.0)]
    DaskExecutor(dask_client).shutdown()
    assert dask_client.status == "running"
    assert dask_client.submit(sum, [1, 2]).result() == 3


def test_dask_string_uses_the_running_default_client(dask_client):
    """Oracle: with a client already open, "dask" starts no cluster and shuts nothing down."""
    with resolve_executor(executor="dask") as executor:
        assert executor.client is dask_client
    assert dask_client.status == "running"


def _worker_environment():
    return {name: os.environ.get(name) for name in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")}


def test_own_local_cluster_drops_malloc_trim_but_keeps_one_thread(monkeypatch):
    """Oracle: the workers' own environment, read in the worker processes.

    An earlier Dask cluster in this process leaves Dask's value in ``os.environ`` (its
    nanny writes it there); that is the state set up here.
    """
    from cellgeom.parallel.dask_executor import local_cluster

    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    with local_cluster(1) as cluster, distributed.Client(cluster) as client:
        seen = list(client.run(_worker_environment).values())
    assert seen == [{"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1"}]
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "65536"  # this process: put back


def test_address_executor_closes_only_its_own_client(dask_client):
    """Oracle: the Client it connected is closed; the cluster's own client keeps running."""
    executor = resolve_executor(executor=dask_client.scheduler.address)
    assert isinstance(executor, DaskExecutor) and executor.n_workers == 2
    with executor:
        assert executor.map_chunks(_formula_list, [2.0], progress=False) == [_item_formula(2.0)]
    assert executor.client.status == "closed"
    assert dask_client.status == "running"


def test_process_pool_reused_across_calls(process_executor):
    """Oracle: the worker PIDs of two calls are the same two processes."""
    first = set(process_executor.map_chunks(_worker_pid, list(range(40)), chunk_size=1,
                                            progress=False))
    second = set(process_executor.map_chunks(_worker_pid, list(range(40)), chunk_size=1,
                                             progress=False))
    assert second <= first and len(first) <= 2 and os.getpid() not in first


def test_process_workers_run_blas_single_threaded(process_executor):
    """Oracle: OMP_NUM_THREADS=1 and every loaded thread pool limited to 1 in the workers."""
    settings = set(process_executor.map_chunks(_worker_thread_setting, [0, 1], chunk_size=1,
                                               progress=False))
    assert settings == {("1", (1,))}


def test_context_manager_shuts_the_pool_down():
    """Oracle: after the with block no pool is held; a new map would start a fresh one."""
    with ProcessExecutor(1) as executor:
        assert executor.map_chunks(_formula_list, [0.0], progress=False) == [_item_formula(0.0)]
        assert executor._pool is not None
    assert executor._pool is None


def test_forkserver_preloads_cellgeom_worker_modules():
    """Oracle: the fork server's preload list after a pool starts. cellgeom's worker
    modules are added (imported once by the fork server, not by every worker) and the
    caller's __main__ is kept; the pool works."""
    import multiprocessing
    from multiprocessing import forkserver

    if "forkserver" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork server on this platform")
    with ProcessExecutor(1, mp_context="forkserver") as executor:
        assert executor.map_chunks(_formula_list, [0.0], progress=False) == \
            [_item_formula(0.0)]
    preload = forkserver._forkserver._preload_modules
    assert "cellgeom.models.cell_geometry" in preload and "__main__" in preload
    assert "cellgeom.models.worker_warmup" in preload


def test_main_script_imports_are_those_a_worker_run_of_the_script_makes(tmp_path,
                                                                       monkeypatch):
    """Oracle: a script written here, read statement by statement. Imports at the top, in
    a top-level ``try``/``if``/``with`` are listed (if imported in this process); those in
    a function, a class, the ``__main__`` block, relative ones and modules not loaded are
    not."""
    import types

    from cellgeom.parallel import executors
    from cellgeom.parallel.executors import main_script_imports

    script = tmp_path / "user_script.py"
    script.write_text(
        "import sys, os, json\n"
        "from collections import abc\n"
        "try:\n    import csv\nexcept ImportError:\n    import html\n"
        "if os.name:\n    import string\n"
        "with open(__file__):\n    import textwrap\n"
        "import module_never_loaded_anywhere\n"
        "from . import sibling\n"
        "def f():\n    import decimal\n"
        "class C:\n    import fractions\n"
        "if __name__ == '__main__':\n    import difflib\n")
    for name in ("os", "json", "collections.abc", "csv", "html", "string", "textwrap",
                 "decimal", "fractions", "difflib"):
        __import__(name)
    main = types.ModuleType("__main__")
    main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", main)
    assert main_script_imports() == ["sys", "os", "json", "collections", "csv", "string",
                                     "textwrap"]
    monkeypatch.setattr(executors, "INSTALLED_ROOTS", ())  # the user's own modules: none
    assert main_script_imports() == ["sys"]  # built in
    main.__file__ = str(tmp_path / "missing.py")  # unreadable: nothing, no error
    assert main_script_imports() == []
    del main.__file__  # an interactive session
    assert main_script_imports() == []


_HEAVY_MODULE = """\
import os
with open(os.environ["IMPORT_LOG"], "a") as fh:
    fh.write(f"{os.getpid()}\\n")
"""

_SCRIPT = """\
import os
import cellgeom.parallel.executors as executors
executors.INSTALLED_ROOTS += (os.path.dirname(os.path.abspath(__file__)),)  # see the test
import heavy_user_module
from cellgeom.parallel import ProcessExecutor


def pid(items):
    return [os.getpid() for _ in items]


if __name__ == "__main__":
    workers = set()
    for _ in range(2):  # two pools, as two partition(..., n_jobs=2) calls start
        with ProcessExecutor(2, mp_context="forkserver") as executor:
            workers |= set(executor.map_chunks(pid, [0, 1, 2, 3], chunk_size=1,
                                               progress=False))
    print(os.getpid(), *workers)
"""


def test_workers_do_not_import_the_main_scripts_modules_again(tmp_path):
    """Oracle: a module the user's script imports at its top logs every import of it.
    Each worker runs the script again (as ``__mp_main__``); before Python 3.13.8 the fork
    server never imported it (CPython gh-126631), so every worker of every pool imported
    the module again (1 s per worker for torch). Now the fork server imports it once:
    two imports in all (the script's and the fork server's), for four workers. (The
    script counts its own directory as installed: only installed packages are preloaded,
    and the module stands for one.)"""
    import multiprocessing
    import subprocess

    if "forkserver" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork server on this platform")
    (tmp_path / "heavy_user_module.py").write_text(_HEAVY_MODULE)
    (tmp_path / "user_script.py").write_text(_SCRIPT)
    log = tmp_path / "imports.log"
    env = dict(os.environ, IMPORT_LOG=str(log))
    done = subprocess.run([sys.executable, str(tmp_path / "user_script.py")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    parent, *workers = done.stdout.split()
    importers = log.read_text().split()
    assert len(importers) == 2 and parent in importers  # the script's and the server's
    assert workers and not set(workers) & set(importers)


_COUNT_LOADED = """\
import importlib
from numba.core.registry import CPUDispatcher
import sys
import cellgeom.models.cell_geometry


def loaded():
    return sum(bool(f.signatures) for name, m in list(sys.modules.items())
               if name.startswith("cellgeom.") for f in vars(m).values()
               if isinstance(f, CPUDispatcher))


before = loaded()
importlib.import_module("cellgeom.models.worker_warmup")
print(before, loaded())
"""


def test_worker_warmup_module_loads_the_high_dimensional_kernels():
    """Oracle: numba's dispatchers in a fresh process. Before the import of the module the
    fork server preloads, no compiled kernel of cellgeom is loaded; after it, several are
    (the workers forked from the server inherit them)."""
    import subprocess

    done = subprocess.run([sys.executable, "-c", _COUNT_LOADED], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    before, after = map(int, done.stdout.split())
    assert before == 0 and after >= 3


def test_prestart_then_shutdown_leaves_no_pool_and_no_thread():
    """Oracle: the executor's state. prestart starts the pool from a thread; shutdown waits
    for it, so no pool is created after the shutdown; a later map works."""
    executor = ProcessExecutor(1)
    executor.prestart(abs, -1)
    executor.shutdown()
    assert executor._pool is None and executor._starting is None
    executor.prestart(abs, -1)
    assert executor.map_chunks(_formula_list, [0.0], progress=False) == [_item_formula(0.0)]
    executor.shutdown()
    assert executor._pool is None


def test_map_cells_leaves_executor_passed_in_running(process_executor):
    """Oracle: shutdown is never called on an executor the caller owns."""

    class Recording(SerialExecutor):
        shutdowns = 0

        def shutdown(self):
            Recording.shutdowns += 1

    assert map_cells(_formula_list, [1.0], executor=Recording(), progress=False) == \
        [_item_formula(1.0)]
    assert Recording.shutdowns == 0
    map_cells(_formula_list, [1.0], executor=process_executor, progress=False)
    assert process_executor._pool is not None


# ---- resolving n_jobs / executor --------------------------------------------------------------
def test_resolve_executor_follows_joblib_n_jobs_convention():
    """Oracle: joblib's rule; None and 1 are serial, -1 is all cores, k is k processes."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert type(resolve_executor()) is SerialExecutor
    assert type(resolve_executor(n_jobs=1)) is SerialExecutor
    assert resolve_executor(n_jobs=3).n_workers == 3
    assert resolve_executor(n_jobs=-1).n_workers == cores
    assert resolve_executor(executor="processes", n_jobs=2).n_workers == 2
    assert type(resolve_executor(n_jobs=4, executor="serial")) is SerialExecutor
    instance = SerialExecutor()
    assert resolve_executor(n_jobs=8, executor=instance) is instance
    assert isinstance(instance, Executor)


@pytest.mark.parametrize("n_jobs", [0, 1.5, "4", True, np.float64(2.0)])
def test_bad_n_jobs_is_a_value_error_naming_it(n_jobs):
    """Oracle: the message repeats the bad value."""
    with pytest.raises(ValueError, match=re.escape(f"n_jobs={n_jobs!r} is not valid")):
        resolve_executor(n_jobs=n_jobs)


@pytest.mark.parametrize("executor", ["threads", "Serial", 42, object()])
def test_bad_executor_is_a_value_error_naming_it(executor):
    """Oracle: the message repeats the bad value and lists what is accepted."""
    with pytest.raises(ValueError) as info:
        resolve_executor(executor=executor)
    assert f"executor={executor!r}" in str(info.value) and "'dask'" in str(info.value)


def test_public_api_is_unchanged_by_the_split_into_modules():
    """#20: cellgeom.parallel became a package (chunks, executors, dask_executor, dispatch);
    oracle: the names the single module exported, each importable from the package."""
    import cellgeom.parallel as par

    assert set(par.__all__) == {"CellTaskError", "DaskExecutor", "Executor", "ProcessExecutor",
                                "SerialExecutor", "map_cells", "resolve_executor"}
    for name in par.__all__:
        assert getattr(par, name).__module__.startswith("cellgeom.parallel.")
    assert issubclass(par.ProcessExecutor, par.Executor)
    assert issubclass(par.DaskExecutor, par.Executor)
