"""The nerve complex of a partition: simplices, boundary and Gram matrices."""
from .chains import betti_from_boundaries, boundary_matrix, rank_mod_p
from .gram import NotPositiveDefiniteWarning
from .io import CorruptFileError
from .riemannian import RiemannianComplex, build_complex, load

__all__ = ["CorruptFileError", "NotPositiveDefiniteWarning", "RiemannianComplex",
           "betti_from_boundaries", "boundary_matrix", "build_complex", "load", "rank_mod_p"]
