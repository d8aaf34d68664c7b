"""cellgeom: exact cell geometry of machine-learning models.

The flow is one way: a model goes through an adapter into a :class:`Partition`
(cells as H-representations with their geometry), which becomes a
:class:`RiemannianComplex` (the nerve with Gram matrices), on which the
analysis functions compute.
"""
from .complex import RiemannianComplex  # noqa: A001
from .complex import build_complex as complex
from .geometry import Box
from .models import HyperplaneArrangement, Partition, partition, register_adapter
from .models.base import supported_models

__version__ = "0.1.0"

__all__ = [
    "Box",
    "HyperplaneArrangement",
    "Partition",
    "RiemannianComplex",
    "complex",
    "partition",
    "register_adapter",
    "supported_models",
]
