"""Chunks of items as tasks: running one chunk, finding the failing item, errors, order.

Backend-independent pieces of :mod:`cellgeom.parallel`: a chunk is one call
``func(chunk, *args)``; :func:`run_chunk` runs it where the worker is and, if it raises,
re-runs its items one by one to name the first failing item; :func:`raise_failure` turns
that into a :class:`CellTaskError` in the caller's process.
"""
from __future__ import annotations

import pickle
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CellTaskError", "ChunkFunc", "auto_chunk_size", "as_completed_chunks",
           "concatenate", "is_positive_int", "raise_failure", "run_chunk", "slice_items",
           "Failure"]

ChunkFunc = Callable[..., Any]
MAX_CHUNK = 2048  # items per chunk: bounds one task's memory and the cost of a re-run
CHUNKS_PER_WORKER = 4  # a few chunks per worker, so one slow chunk does not idle the rest


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
class Failure:
    """What a worker returns instead of results when ``func`` raised on its chunk."""

    index: int | None
    start: int
    stop: int
    original: BaseException | None
    type_name: str
    message: str
    traceback: str


def slice_items(items: Any, start: int, stop: int) -> Any:
    return items.iloc[start:stop] if hasattr(items, "iloc") else items[start:stop]


def run_chunk(func: ChunkFunc, chunk: Any, start: int, args: tuple, remote: bool = True) -> Any:
    """Run ``func`` on one chunk; if it raises, find the first failing item (in the worker)."""
    try:
        return func(chunk, *args)
    except Exception as chunk_exc:
        exc = chunk_exc
    index = None
    for i in range(len(chunk)):  # outside the except block: no "during handling" noise
        try:
            func(slice_items(chunk, i, i + 1), *args)
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
    return Failure(index, start, start + len(chunk), original, type(exc).__name__, str(exc), text)


def raise_failure(failure: Failure, where: str) -> None:
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


def auto_chunk_size(n_items: int, n_workers: int) -> int:
    """A few chunks per worker, each of 1 to ``MAX_CHUNK`` items."""
    per_chunk = -(-n_items // (CHUNKS_PER_WORKER * max(n_workers, 1)))
    return int(min(max(per_chunk, 1), MAX_CHUNK))


def is_positive_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0


def concatenate(results: list[Any], bounds: list[tuple[int, int]], where: str):
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


def as_completed_chunks(futures: list, completed: Iterator, wanted_below: Callable[[], int],
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
