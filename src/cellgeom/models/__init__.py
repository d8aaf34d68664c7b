"""Adapters: a model in, a :class:`~cellgeom.core.Partition` out.

Adapter modules for scikit-learn, PyTorch and the boosting libraries are imported
only when a model of that library is partitioned (see :mod:`.registry`).
"""
from ..core import Partition
from .arrangement import HyperplaneArrangement
from .registry import adapter_for, partition, register_adapter, supported_models

__all__ = ["HyperplaneArrangement", "Partition", "adapter_for", "partition", "register_adapter",
           "supported_models"]
