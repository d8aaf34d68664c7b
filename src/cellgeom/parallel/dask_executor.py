"""The Dask backend: chunks as tasks on a ``dask.distributed`` cluster (Dask is optional and
imported only when this executor is created)."""
from __future__ import annotations

import os
from typing import Any

from .chunks import as_completed_chunks, run_chunk, slice_items
from .executors import Executor, available_cores

__all__ = ["DaskExecutor", "local_cluster"]


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
        workers start without Dask's ``MALLOC_TRIM_THRESHOLD_`` (see :func:`local_cluster`:
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
                cluster = local_cluster(n_workers or available_cores())
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
        chunks = client.scatter([slice_items(items, a, b) for a, b in bounds], hash=False)
        shared_args = client.scatter([args], hash=False)[0] if args else ()
        futures = [client.submit(run_chunk, func, chunk, start, shared_args, pure=False)
                   for chunk, (start, _) in zip(chunks, bounds)]
        try:
            yield from as_completed_chunks(futures, dask_as_completed(futures), wanted_below,
                                           client.cancel)
        finally:
            client.cancel([f for f in futures if not f.done()] + list(chunks))


def local_cluster(n_workers: int):
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
