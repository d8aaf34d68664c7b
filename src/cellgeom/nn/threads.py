"""Torch's intra-op threads around engines made of many small torch calls."""
from __future__ import annotations

import contextlib

import torch

__all__ = ["one_torch_thread"]


@contextlib.contextmanager
def one_torch_thread():
    """Run the enclosed torch calls on one intra-op thread, then restore the setting.

    The slice engine makes many small torch calls (a few thousand polygons by a few dozen
    units). Their parallel sections are too short to gain from threads, and on a loaded
    machine OpenMP workers that wait for a busy core cost milliseconds per call: a
    2-32-32-1 slice took 64 ms with 2 threads on a loaded 2-core machine, 2 ms with one.
    """
    n = torch.get_num_threads()
    if n == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)
