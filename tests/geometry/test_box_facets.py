"""box_facet_rows: the facet rows of a box partition equal a global lexsort of all rows.

The reference below is the plain NumPy route (every row built, one ``np.lexsort`` by
(cell, label, neighbour, box across), every column gathered by that order); the
compiled route buckets rows by cell and sorts each cell's own rows. Both must give the
same rows bit for bit, on trees (cells="all" and, with boxes outside the partition,
cells="data") and forests, with grid data (ties, boxes on the domain boundary).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import RandomForestRegressor
from sklearn.tree import DecisionTreeRegressor

import cellgeom
from cellgeom.geometry.box_facets import box_facet_rows
from cellgeom.geometry.boxes import box_adjacency


def _reference(a, b, axis, vol, cen, m, lo, hi, dlo, dhi):
    n = lo.shape[1]
    keep = (a < m) | (b < m)
    a, b, axis, vol, cen = a[keep], b[keep], axis[keep], vol[keep], cen[keep]
    cell, nb = np.concatenate([a, b]), np.concatenate([b, a])
    ax = np.concatenate([axis, axis])
    side = np.concatenate([np.ones(a.size, np.int64), np.zeros(b.size, np.int64)])
    own = cell < m
    cell, nb, ax, side = cell[own], nb[own], ax[own], side[own]
    pvol, pcen = np.concatenate([vol, vol])[own], np.concatenate([cen, cen])[own]
    outside = np.where(nb >= m, nb - m + 1, 0)
    nb_row, nb = nb, np.where(nb >= m, -2, nb)
    widths = hi[:m] - lo[:m]
    f_cell = np.repeat(np.arange(m), 2 * n)
    f_ax = np.tile(np.repeat(np.arange(n), 2), m)
    f_side = np.tile([0, 1], m * n)
    f_area = np.prod(widths, axis=1)[f_cell] / widths[f_cell, f_ax]
    f_cen = ((lo[:m] + hi[:m]) / 2)[f_cell]
    f_val = np.where(f_side == 1, hi[f_cell, f_ax], lo[f_cell, f_ax])
    f_cen[np.arange(f_cell.size), f_ax] = f_val
    p_id = cell * 2 * n + 2 * ax + side
    covered = np.bincount(p_id, weights=pvol, minlength=f_cell.size)
    moment = np.zeros((f_cell.size, n))
    np.add.at(moment, p_id, pvol[:, None] * pcen)
    on_box = np.where(f_side == 1, f_val == dhi[f_ax], f_val == dlo[f_ax])
    rest = f_area - covered
    extra = on_box | (rest > 1e-9 * f_area)
    r_vol = np.where(on_box, f_area, rest)[extra]
    r_cen = np.where(on_box[:, None], f_cen,
                     (f_area[:, None] * f_cen - moment) / np.where(rest > 0, rest, 1)[:, None])
    r_nb = np.where(on_box, -1, -2)[extra]
    label = 2 * np.concatenate([ax, f_ax[extra]]) + np.concatenate([side, f_side[extra]])
    all_nb = np.concatenate([nb, r_nb])
    label = np.where(all_nb == -1, -1 - label, label)
    all_cell = np.concatenate([cell, f_cell[extra]])
    all_ax = np.concatenate([ax, f_ax[extra]])
    all_side = np.concatenate([side, f_side[extra]])
    sign = np.where(all_side == 1, 1.0, -1.0)
    value = np.where(all_side == 1, hi[all_cell, all_ax], lo[all_cell, all_ax])
    order = np.lexsort((np.concatenate([nb_row, r_nb]), all_nb, label, all_cell))
    normals = np.zeros((all_cell.size, n))
    normals[np.arange(all_cell.size), all_ax] = sign
    values = np.vstack([np.concatenate([pvol, r_vol]), sign * value, normals.T,
                        np.concatenate([pcen, r_cen[extra]]).T])
    return (all_cell[order], label[order], all_nb[order],
            np.concatenate([outside, np.zeros(r_vol.size, np.int64)])[order], values[:, order])


def _assert_same(part):
    """The partition's boxes (cells, then the boxes outside) through both routes."""
    lo, hi = part.lo, part.hi
    m = part.n_cells
    across = part.facets["neighbor_key"].to_numpy()
    extra_keys = sorted(set(across[across != ""]), key=int)
    if extra_keys:  # boxes outside the partition, as the adapter passes them
        model = part.model
        from cellgeom.models.trees import TreeArrays, leaf_boxes
        tree = TreeArrays.from_sklearn(model)
        node_lo, node_hi = leaf_boxes(tree, part.domain)
        rows = np.array([int(k) for k in extra_keys])
        lo, hi = np.vstack([lo, node_lo[rows]]), np.vstack([hi, node_hi[rows]])
    faces = box_adjacency(lo, hi)
    args = (*faces, m, lo, hi, part.domain.lo, part.domain.hi)
    ours, ref = box_facet_rows(*args), _reference(*args)
    for x, y in zip(ours, ref):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert np.array_equal(x, y)  # bit for bit, in the same order
    assert ours[2].size == len(part.facets)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 4), grid=st.sampled_from([0, 4]),
       data=st.booleans())
def test_box_facet_rows_equal_a_global_lexsort(seed, n, grid, data):
    rng = np.random.default_rng(seed)
    X = rng.random((400, n))
    if grid:
        X = np.floor(X * grid) / grid
    tree = DecisionTreeRegressor(max_leaf_nodes=40, random_state=seed).fit(X, rng.random(400))
    if data:  # a data partition: facets towards leaves outside it, named by their keys
        part = cellgeom.partition(tree, data=X[:25] * 0.5, progress=False)
    else:
        part = cellgeom.partition(tree, cellgeom.Box(np.zeros(n), np.ones(n)), cells="all",
                                  progress=False)
    _assert_same(part)


def test_box_facet_rows_of_a_forest_and_outside_keys_in_the_table():
    rng = np.random.default_rng(0)
    X = rng.random((600, 3))
    forest = RandomForestRegressor(4, max_leaf_nodes=25, random_state=0).fit(X, rng.random(600))
    part = cellgeom.partition(forest, data=X[:200], progress=False)
    lo, hi = part.lo, part.hi
    args = (*box_adjacency(lo, hi), part.n_cells, lo, hi, part.domain.lo, part.domain.hi)
    for x, y in zip(box_facet_rows(*args), _reference(*args)):
        assert np.array_equal(x, y)
    # a tree's data partition names the leaves across by their keys
    tree = DecisionTreeRegressor(max_leaf_nodes=60, random_state=0).fit(X, rng.random(600))
    facets = cellgeom.partition(tree, data=X[:30], progress=False).facets
    outside = facets["neighbor"].to_numpy() == -2
    named = facets["neighbor_key"].to_numpy() != ""
    assert named.any() and np.all(outside[named])
    # the dtype pandas gives a column of str (the table's other string columns)
    str_dtype = pd.Series(np.array(["a"], dtype=object).astype(str)).dtype
    assert facets["neighbor_key"].dtype == str_dtype
