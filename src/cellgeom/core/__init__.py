"""The core data model: :class:`Partition` and :class:`BoxPartition`, and input validation.

Adapters (``models/``) build partitions; ``complex/`` and ``analysis/`` read them.
This package imports nothing of cellgeom but ``geometry/``.
"""
from .boxes import BoxPartition, build_box_partition
from .partition import Partition
from .validation import check_data, resolve_domain, vector_columns

__all__ = ["BoxPartition", "Partition", "build_box_partition", "check_data", "resolve_domain",
           "vector_columns"]
