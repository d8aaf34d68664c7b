"""Adapters: a model in, a :class:`~cellgeom.models.base.Partition` out."""
from .arrangement import HyperplaneArrangement
from .base import Partition, partition, register_adapter, supported_models

__all__ = ["HyperplaneArrangement", "Partition", "partition", "register_adapter",
           "supported_models"]

_OPTIONAL_LOADED: set[str] = set()


def _load_adapters(model) -> None:
    """Import the adapter modules a model needs, only when such a model appears.

    scikit-learn adapters import scikit-learn; the network adapter imports torch.
    Neither is imported for an arrangement.
    """
    # the whole MRO: a user's own nn.Module or estimator subclass lives in the user's module
    packages = {cls.__module__.split(".")[0] for cls in type(model).__mro__}
    for package in sorted(packages):
        for name in _OPTIONAL_ADAPTERS.get(package, ()):
            if name not in _OPTIONAL_LOADED:
                __import__(f"{__name__}.{name}")
                _OPTIONAL_LOADED.add(name)


#: top-level package of the model -> adapter modules to import for it
_OPTIONAL_ADAPTERS: dict[str, tuple[str, ...]] = {
    "torch": ("network",),
    "sklearn": ("trees", "ensembles", "voronoi", "linear", "pipeline"),
    "xgboost": ("boosting.xgboost_trees",),
    "lightgbm": ("boosting.lightgbm_trees",),
    "catboost": ("boosting.catboost_trees",),
}
