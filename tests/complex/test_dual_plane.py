"""The closed-form dual complex of 2-D box partitions (complex/dual_plane.py).

Oracle: the general route of the "dual" rule (strata tested by the compiled box kernel,
touching pairs found by its own sweep instead of the partition's facet table), which must
give the very same simplices, Gram weights and facet indices; and GUDHI's Betti numbers.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import RandomForestRegressor
from sklearn.tree import DecisionTreeRegressor

import cellgeom
from cellgeom.complex.dual import dual_nerve
from cellgeom.complex.nerve import clique_chunks, facet_edges, facet_pair_volumes


def _both_routes(part, max_dim=None):
    facets = facet_edges(part)

    def volumes(pairs):
        return facet_pair_volumes(part, pairs, facets)

    plane = dual_nerve(part, max_dim, clique_chunks, volumes, facets[0])
    general = dual_nerve(part, max_dim, clique_chunks, volumes, None)  # no facet pairs
    return plane, general


def _assert_same(plane, general):
    assert len(plane[0]) == len(general[0])
    for p, (a, b) in enumerate(zip(plane[0], general[0])):
        np.testing.assert_array_equal(a, b, err_msg=f"{p}-simplices")
        np.testing.assert_array_equal(plane[1][p], general[1][p], err_msg=f"weights {p}")
        if p:
            np.testing.assert_array_equal(plane[2][p], general[2][p], err_msg=f"faces {p}")


def _model(seed, levels, forest):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 3, size=(300, 2))
    if levels:  # coinciding thresholds: lines cross and T-junctions line up
        X = np.round(X * levels) / levels
    y = np.sin(3 * X[:, 0]) + np.cos(2 * X[:, 1]) + 0.3 * rng.normal(size=len(X))
    if forest:
        model = RandomForestRegressor(n_estimators=3, max_leaf_nodes=25, random_state=seed)
    else:
        model = DecisionTreeRegressor(max_leaf_nodes=80, random_state=seed)
    return model.fit(X, y), X


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), levels=st.sampled_from([None, 3, 6]),
       forest=st.booleans(), data_cells=st.booleans())
def test_plane_route_equals_the_general_route(seed, levels, forest, data_cells):
    model, X = _model(seed, levels, forest)
    cells = "data" if data_cells else "all"
    part = cellgeom.partition(model, data=X[:60] if data_cells else X, cells=cells,
                              progress=False)
    _assert_same(*_both_routes(part))


def test_crossings_and_t_junctions_are_filled_as_fans():
    """A forest on a coarse grid has both kinds of interior points: crossings give two
    triangles of weight 1/2 and a diagonal, T-junctions one triangle of weight 1."""
    model, X = _model(3, 4, True)
    part = cellgeom.partition(model, data=X, cells="all", progress=False)
    plane, general = _both_routes(part)
    _assert_same(plane, general)
    tri_weight = plane[1][2]
    assert np.sum(tri_weight == 0.5) > 0 and np.sum(tri_weight == 1.0) > 0
    assert set(np.unique(tri_weight)) <= {0.5, 1.0}
    cx = cellgeom.build_complex(part)
    assert cx.betti_numbers() == [1, 0, 0]
    gudhi = pytest.importorskip("gudhi")
    tree = gudhi.SimplexTree()
    for p in range(3):
        tree.insert_batch(cx.simplices(p).T, np.zeros(cx.n_simplices(p)))
    tree.compute_persistence(persistence_dim_max=True)
    assert list(tree.betti_numbers())[:1] == [1] and sum(tree.betti_numbers()) == 1


@pytest.mark.parametrize("max_dim", [0, 1])
def test_plane_route_truncates(max_dim):
    model, X = _model(5, 6, True)
    part = cellgeom.partition(model, data=X, cells="all", progress=False)
    plane, general = _both_routes(part, max_dim)
    assert len(plane[0]) == max_dim + 1
    _assert_same(plane, general)
