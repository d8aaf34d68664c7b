"""Polytope kernels: feasibility, Chebyshev centres, facets, volumes, hinges, angles.

Nothing here imports the rest of cellgeom: these are plain functions of arrays.
"""
from .batch import batch_polytope_geometry, polytope_geometry, polytope_volume
from .box import Box
from .intersection import common_piece
from .lp import (
    affine_hull_dimension,
    chebyshev_center,
    chebyshev_centers,
    nonredundant_rows_lp,
    normalize_rows,
)
from .polytope import (
    PolytopeGeometry,
    flat_volume_centroid,
    polytope_vertices,
)

__all__ = [
    "Box",
    "PolytopeGeometry",
    "affine_hull_dimension",
    "batch_polytope_geometry",
    "common_piece",
    "chebyshev_center",
    "chebyshev_centers",
    "flat_volume_centroid",
    "nonredundant_rows_lp",
    "normalize_rows",
    "polytope_geometry",
    "polytope_vertices",
    "polytope_volume",
]
