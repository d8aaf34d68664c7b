"""Piecewise-linear PyTorch networks: activation patterns, pullbacks, forms and slices.

Importing this subpackage imports torch; ``import cellgeom`` does not import it.
"""
from .forms import (
    pullback_form,
    pullback_metric,
    transport_face_volume,
    unit_boundary_distance,
    volume_form,
)
from .layers import (
    NonFiniteWeightError,
    PiecewiseLinearNetwork,
    Residual,
    TrainingModeError,
    UnsupportedLayerError,
    as_network,
)
from .patterns import ActivationPatterns, activation_patterns, group_by_pattern, pack_patterns
from .pullback import LayerMap, pullback
from .slices import SliceRegions, slice_partition

__all__ = [
    "ActivationPatterns", "LayerMap", "NonFiniteWeightError", "PiecewiseLinearNetwork",
    "Residual", "SliceRegions", "TrainingModeError", "UnsupportedLayerError",
    "activation_patterns", "as_network", "group_by_pattern", "pack_patterns", "pullback",
    "pullback_form", "pullback_metric", "slice_partition", "transport_face_volume",
    "unit_boundary_distance", "volume_form",
]
