"""Analyses on a partition whose geometry was not measured refuse, naming what is missing.

The high-dimensional route certifies facets by LP but measures volumes only on request
(``volume="none"`` is the default above 16-D) and computes no hinges: a weighted
curvature or Laplacian there would be NaN, and an angle curvature 0, for every cell.
"""
import numpy as np
import pytest

import cellgeom
from cellgeom.analysis import edge_curvature, hinge_deficits, hodge_laplacian, vertex_curvature

from ..helpers import relu_net_high_route

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def unmeasured():
    _, _, part = relu_net_high_route(1, [6])
    return cellgeom.build_complex(part, rule="facet", progress=False)


def test_weighted_curvature_is_refused_and_the_graph_curvature_is_not(unmeasured):
    cx = unmeasured
    assert np.isnan(cx.partition.volumes).all()
    for kind in ("ollivier", "forman"):
        with pytest.raises(ValueError, match="not measured.*volume='estimate'"):
            edge_curvature(cx, kind, weighting="geometric", progress=False)
    with pytest.raises(ValueError, match="cell volumes and face volumes"):
        vertex_curvature(cx, "statistical", progress=False)
    uniform = edge_curvature(cx, weighting="uniform", progress=False)
    assert np.all(np.isfinite(uniform))


def test_gram_weighted_laplacian_is_refused_and_the_unweighted_one_is_not(unmeasured):
    with pytest.raises(ValueError, match="M_0 has .* non-finite entries.*gram=False"):
        hodge_laplacian(unmeasured, 0)
    L = hodge_laplacian(unmeasured, 0, gram=False)
    assert np.all(np.isfinite(L.toarray()))
    assert np.allclose(L.toarray().sum(axis=1), 0)  # graph Laplacian: rows sum to 0


def test_angle_curvature_needs_the_hinges(unmeasured):
    with pytest.raises(ValueError, match="kind='angle'.*dihedral angles at the hinges"):
        vertex_curvature(unmeasured, "angle")
    with pytest.raises(ValueError, match="hinge_deficits needs"):
        hinge_deficits(unmeasured.partition)
    exact = cellgeom.partition(unmeasured.partition.model, unmeasured.partition.domain,
                               cells="all", progress=False)
    kappa = vertex_curvature(cellgeom.build_complex(exact, progress=False), "angle")
    assert np.all(np.isfinite(kappa))
