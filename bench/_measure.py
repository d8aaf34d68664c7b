"""Timing and peak-memory helpers shared by the benchmarks."""
from __future__ import annotations

import time
import tracemalloc


def measure(func, *args, repeat: int = 1, trace_memory: bool = True, **kwargs):
    """(result, best wall time in s, peak traced memory in MB) of ``func(*args)``.

    Memory is the Python-heap peak seen by tracemalloc (NumPy buffers included),
    measured on a separate run from the timing so tracing does not slow it.
    """
    best = float("inf")
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = func(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    if not trace_memory:  # expensive calls: one timed run, memory reported as NaN
        return result, best, float("nan")
    tracemalloc.start()
    func(*args, **kwargs)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, best, peak / 2**20
