"""The nerve complex of a partition: simplices, boundary and Gram matrices."""
from .chains import betti_from_boundaries, boundary_matrix, rank_mod_p
from .gram import NotPositiveDefiniteWarning
from .riemannian import RiemannianComplex, build_complex

__all__ = ["NotPositiveDefiniteWarning", "RiemannianComplex", "betti_from_boundaries",
           "boundary_matrix", "build_complex", "rank_mod_p"]
