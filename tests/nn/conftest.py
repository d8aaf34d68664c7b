"""Run the cellgeom.nn tests with one torch thread.

Their tensors are tiny; on a shared 2-core machine torch's thread pool only adds
contention (measured: 42 s with the default pool under load, 13 s with one thread).
The previous thread count is restored after each test.
"""
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
