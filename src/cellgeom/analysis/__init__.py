"""Analysis on a partition's complex: statistics, density metric, curvature."""
from .curvature import edge_curvature, vertex_curvature
from .density import DensityMetric, density_metric
from .hinges import hinge_deficits
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
from .laplacians import (  # noqa: E402
    cell_laplacian,
    extended_laplacian,
    extended_stiffness,
    hodge_laplacian,
    hodge_stiffness,
)
from .spectral import (  # noqa: E402
    betti_numbers_from_kernels,
    harmonic_representatives,
    heat_filter,
    hodge_spectrum,
    smallest_eigenpairs,
    tikhonov_filter,
)

__all__ += [  # noqa: PLE0605
    "betti_numbers_from_kernels", "cell_laplacian", "extended_laplacian", "extended_stiffness",
    "harmonic_representatives", "heat_filter", "hodge_laplacian", "hodge_spectrum",
    "hodge_stiffness", "smallest_eigenpairs", "tikhonov_filter",
]
