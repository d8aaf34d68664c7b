"""Analysis on a partition's complex: statistics, density metric, curvature."""
from .curvature import edge_curvature, hinge_deficits, vertex_curvature
from .density import DensityMetric, density_metric
from .statistics import cell_density, cell_statistics, edge_density, edge_statistics

__all__ = [
    "DensityMetric",
    "cell_density",
    "cell_statistics",
    "density_metric",
    "edge_curvature",
    "edge_density",
    "edge_statistics",
    "hinge_deficits",
    "vertex_curvature",
]
