"""Piecewise-linear PyTorch networks: patterns, pullbacks, forms, slices and regularizers.

Names are loaded on first use (PEP 562), so ``import cellgeom`` never imports
torch, and the numpy-only :mod:`cellgeom.nn.forms` can be used without it. Every
other name imports torch when first touched.
"""
import importlib as _importlib

_WHERE = {
    "pullback_form": "forms", "pullback_metric": "forms", "transport_face_volume": "forms",
    "unit_boundary_distance": "forms", "volume_form": "forms",
    "NonFiniteWeightError": "layers", "PiecewiseLinearNetwork": "layers", "Residual": "layers",
    "TrainingModeError": "layers", "UnsupportedLayerError": "layers", "as_network": "layers",
    "ActivationPatterns": "patterns", "activation_patterns": "patterns",
    "group_by_pattern": "patterns", "pack_patterns": "patterns",
    "LayerMap": "pullback", "pullback": "pullback",
    "SliceRegions": "slices", "slice_partition": "slices",
    "train_moons_network": "examples", "train_digits_cnn": "examples", "load_network": "io",
    "CellGeometry": "batch_geometry", "batch_cell_geometry": "batch_geometry",
    "GeometricRegularizer": "regularizer", "PenaltyParts": "regularizer",
    "GeometryTracker": "tracker", "local_complexity": "tracker",
    "mlp_as_torch": "sklearn_mlp",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'cellgeom.nn' has no attribute {name!r}")
    try:
        module = _importlib.import_module(f".{_WHERE[name]}", __name__)
    except ModuleNotFoundError as err:
        if err.name == "torch":
            raise ImportError(f"cellgeom.nn.{name} needs PyTorch; install it with "
                              "pip install 'cellgeom[torch]'") from err
        raise
    value = getattr(module, name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
