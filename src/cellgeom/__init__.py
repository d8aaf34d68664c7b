"""cellgeom: exact cell geometry of machine-learning models.

The flow is one way: a model goes through an adapter into a :class:`Partition`
(cells as H-representations with their geometry), which becomes a
:class:`RiemannianComplex` (the nerve with Gram matrices), on which the
analysis functions compute.

Functions are named by what they do and never shadow a subpackage:
``cellgeom.build_complex`` builds a complex, ``cellgeom.complex`` is the
subpackage; ``cellgeom.write_report`` writes a report, ``cellgeom.report`` is
the subpackage.
"""
from importlib import import_module as _import_module

from ._version import __version__  # noqa: F401
from .complex import RiemannianComplex, build_complex, load
from .core import BoxPartition, Partition
from .geometry import Box
from .models import HyperplaneArrangement, partition, register_adapter, supported_models

# names whose modules are imported on first use (they pull in matplotlib, torch, ...)
_LAZY = {
    "decision_regions": "cellgeom.models.regions",
    "SimplicialSpline": "cellgeom.analysis.spline",
    "write_report": "cellgeom.report",
    "plot_partition": "cellgeom.viz",
}

__all__ = [
    "Box",
    "BoxPartition",
    "HyperplaneArrangement",
    "Partition",
    "RiemannianComplex",
    "build_complex",
    "load",
    "partition",
    "register_adapter",
    "supported_models",
    *_LAZY,
]

# subpackages reachable as attributes after a plain ``import cellgeom`` (like scipy.sparse)
_SUBPACKAGES = ("analysis", "complex", "core", "geometry", "models", "nn", "parallel", "report",
                "viz")


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return _import_module(f"cellgeom.{name}")
    if name in _LAZY:
        value = getattr(_import_module(_LAZY[name]), name)
        globals()[name] = value  # later look-ups skip __getattr__
        return value
    raise AttributeError(f"module 'cellgeom' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_SUBPACKAGES))
