"""Plots: the drawn polygons, lines and points are the partition's exact geometry."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402

import cellgeom  # noqa: E402
from cellgeom.core import Partition  # noqa: E402
from cellgeom.viz import (  # noqa: E402
    PartitionDisplay,
    cell_polygons,
    plot_layer_counts,
    plot_partition,
    plot_spectrum,
    plot_training,
)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _worked():
    arr = cellgeom.HyperplaneArrangement([[1, 0], [0, 1]], [-0.3, -0.6])
    return cellgeom.partition(arr, domain=([0, 0], [1, 1]), cells="all", progress=False)


def _random(seed=0, k=6):
    rng = np.random.default_rng(seed)
    arr = cellgeom.HyperplaneArrangement(rng.normal(size=(k, 2)), rng.normal(size=k) * 0.5)
    X = rng.uniform(-1, 1, size=(80, 2))
    return cellgeom.partition(arr, domain=([-1, -1], [1, 1]), data=X, cells="all",
                              progress=False), X


def _shoelace(P):
    x, y = P[:, 0], P[:, 1]
    return 0.5 * (np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _polys(ax):
    return next(c for c in ax.collections if isinstance(c, PolyCollection))


def test_polygons_are_the_cells_vertices_ccw_and_tile_the_box():
    part, X = _random()
    ax = plot_partition(part, color_by="volume", data=X)
    coll = _polys(ax)
    drawn = [p.vertices[: len(part.cell_vertices(i))] for i, p in enumerate(coll.get_paths())]
    for i, P in enumerate(drawn):
        np.testing.assert_allclose(P, part.cell_vertices(i), atol=0)
    areas = np.array([_shoelace(P) for P in drawn])
    assert np.all(areas > 0)  # counter-clockwise
    np.testing.assert_allclose(areas, part.cells["volume"], rtol=1e-9)
    np.testing.assert_allclose(areas.sum(), 4.0, rtol=1e-12)
    np.testing.assert_array_equal(coll.get_array(), part.cells["volume"].to_numpy())
    assert len(ax.figure.axes) + len(ax.child_axes) == 2  # the colour bar (an inset)
    pts = next(c for c in ax.collections if c.get_offsets().shape == X.shape)
    np.testing.assert_array_equal(pts.get_offsets(), X)


def test_halfspace_route_gives_the_same_polygons_as_vertices():
    part, _ = _random(1)
    bare = Partition(domain=part.domain, keys=part.keys, cells=part.cells, facets=part.facets,
                     hinges=part.hinges, info=part.info)
    for P, Q in zip(cell_polygons(part), cell_polygons(bare)):
        assert len(P) == len(Q)
        np.testing.assert_allclose(_shoelace(P), _shoelace(Q), rtol=1e-9)
        np.testing.assert_allclose(np.sort(P, axis=0), np.sort(Q, axis=0), atol=1e-9)


def test_nerve_edges_join_centroids_and_take_edge_colours():
    cx = cellgeom.build_complex(_worked(), rule="facet")
    ax = plot_partition(cx, show_nerve=True, edge_color_by="face_volume", colorbar=False)
    lines = next(c for c in ax.collections if isinstance(c, LineCollection))
    segs = lines.get_segments()
    cen = cx.partition.centroids
    assert len(segs) == len(cx.edges) == 4
    for seg, (a, b) in zip(segs, cx.edges[["a", "b"]].to_numpy()):
        np.testing.assert_allclose(seg, [cen[a], cen[b]])
    np.testing.assert_array_equal(lines.get_array(), cx.edges["face_volume"].to_numpy())
    assert sorted(np.round(cx.edges["face_volume"], 12)) == [0.3, 0.4, 0.6, 0.7]
    assert len(ax.figure.axes) + len(ax.child_axes) == 1


def test_categorical_colouring_gets_a_legend_and_existing_axes_are_used():
    part = _worked()
    part.cells["side"] = np.where(part.centroids[:, 0] < 0.3, "left", "right")
    fig, ax = plt.subplots()
    out = plot_partition(part, color_by="side", ax=ax)
    assert out is ax
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["left", "right"]
    colors = _polys(ax).get_facecolors()
    left = part.cells["side"].to_numpy() == "left"
    assert len({tuple(c) for c in colors[left]}) == 1
    assert not np.allclose(colors[left][0], colors[~left][0])


def test_display_from_estimator_has_ax_and_figure():
    X = np.random.default_rng(0).uniform(-1, 1, (60, 2))
    arr = cellgeom.HyperplaneArrangement([[1, 1], [1, -1], [0, 1]], [0.1, 0.0, -0.3])
    fig, ax = plt.subplots()
    disp = PartitionDisplay.from_estimator(arr, X, ax=ax, show_nerve=True)
    assert disp.ax_ is ax and disp.figure_ is fig
    assert disp.partition.n_cells == len(_polys(ax).get_paths())
    assert disp.complex is not None
    disp2 = PartitionDisplay.from_partition(disp.partition, data=X, color_by="n_points")
    np.testing.assert_array_equal(_polys(disp2.ax_).get_array(),
                                  disp.partition.cells["n_points"].to_numpy())


def test_bad_inputs_name_the_problem():
    part = _worked()
    with pytest.raises(ValueError, match="color_by='nope' is not a column"):
        plot_partition(part, color_by="nope")
    with pytest.raises(ValueError, match="color_by must be a column name or an array of length 4"):
        plot_partition(part, color_by=np.arange(3))
    with pytest.raises(ValueError, match="edge_color_by='x' is not a column"):
        plot_partition(part, edge_color_by="x")
    with pytest.raises(TypeError, match="Partition or RiemannianComplex"):
        plot_partition(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="data has 3 features"):
        plot_partition(part, data=np.zeros((4, 3)))
    arr3 = cellgeom.HyperplaneArrangement([[1, 0, 0]], [0.0])
    p3 = cellgeom.partition(arr3, domain=([-1] * 3, [1] * 3), cells="all", progress=False)
    with pytest.raises(ValueError, match="2-D partition, got dimension 3"):
        plot_partition(p3)


def test_spectrum_plot_shows_the_worked_example_eigenvalues():
    cx = cellgeom.build_complex(_worked(), rule="facet")  # THEORY.md s. 9 is the facet nerve
    ax = plot_spectrum(cx, p=0, k=4)
    values = ax.lines[0].get_ydata()
    np.testing.assert_allclose(values, [0, 1, 1, 2], atol=1e-9)  # THEORY.md s. 9
    assert "zero (1)" in [t.get_text() for t in ax.get_legend().get_texts()]  # b_0 = 1
    ax1 = plot_spectrum(cx, p=1, k=4)
    zeros = ax1.lines[1].get_ydata()
    assert len(zeros) == cx.betti_numbers()[1] == 1
    ax2 = plot_spectrum([3.0, 0.0, 1.0])
    np.testing.assert_array_equal(ax2.lines[0].get_ydata(), [0, 1, 3])
    with pytest.raises(ValueError, match="kind must be"):
        plot_spectrum(cx, kind="bogus")


def test_layer_counts_and_training_plot_the_table_columns():
    t = pd.DataFrame({"layer": ["fc1", "fc2", "fc3"], "n_cells": [12, 150, 4000],
                      "n_data_cells": [10, 90, 300]})
    ax = plot_layer_counts(t)
    assert [ln.get_label() for ln in ax.lines] == ["n_cells", "n_data_cells"]
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [12, 150, 4000])
    assert ax.get_yscale() == "log"
    assert [lb.get_text() for lb in ax.get_xticklabels()] == ["fc1", "fc2", "fc3"]
    tr = pd.DataFrame({"epoch": [0, 1, 2, 3], "loss": [1.0, 0.5, 0.3, 0.2],
                       "n_cells": [5, 9, 14, 20], "flag": [True] * 4})
    fig, ax = plt.subplots()
    assert plot_training(tr, ax=ax) is ax
    assert [ln.get_label() for ln in ax.lines] == ["loss", "n_cells"]
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"column\(s\) \['acc'\] not in the table"):
        plot_training(tr, columns="acc")
    with pytest.raises(ValueError, match="empty"):
        plot_layer_counts(pd.DataFrame({"n_cells": []}))


def test_colour_bar_labels_stay_clear_of_the_next_subplot():
    """Oracle: the rendered bounding boxes (constrained layout, side by side subplots):
    the left plot's colour-bar label does not overlap the right plot's y label."""
    import matplotlib.pyplot as plt

    arr = cellgeom.HyperplaneArrangement([[1, 0], [0, 1], [1, 1]], [-0.3, -0.6, -1.0])
    part = cellgeom.partition(arr, domain=([0, 0], [1, 1]), cells="all", progress=False)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3), layout="constrained")
    for ax in axes:
        cellgeom.plot_partition(part, color_by="volume", ax=ax)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    bar = axes[0].child_axes[0]
    left = bar.yaxis.label.get_window_extent(renderer)
    right = axes[1].yaxis.label.get_window_extent(renderer)
    assert left.x1 < right.x0
    plt.close(fig)


def test_own_figure_keeps_the_colour_bar_and_the_axis_labels_inside():
    """Oracle: the rendered bounding boxes within the figure (the default 6x5 figure cut the
    colour bar's name and tick labels off on the right)."""
    arr = cellgeom.HyperplaneArrangement([[1, 0], [0, 1], [1, 1]], [-0.3, -0.6, -1.0])
    part = cellgeom.partition(arr, domain=([0, 0], [2, 1]), cells="all", progress=False)
    ax = cellgeom.plot_partition(part, color_by="volume")
    fig = ax.figure
    fig.canvas.draw()
    box = ax.get_tightbbox(fig.canvas.get_renderer())  # the inset colour bar included
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width
    assert box.y0 >= 0 and box.y1 <= fig.bbox.height
    plt.close(fig)


def test_data_frame_columns_are_drawn_in_the_models_order():
    from sklearn.tree import DecisionTreeClassifier

    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [0.0, 10.0, 0.0, 10.0]})
    tree = DecisionTreeClassifier(random_state=0).fit(X, [0, 0, 1, 1])
    part = cellgeom.partition(tree, data=X, progress=False)
    ax = cellgeom.plot_partition(part, data=X[["b", "a"]])
    drawn = np.vstack([c.get_offsets() for c in ax.collections if len(c.get_offsets()) == 4])
    np.testing.assert_array_equal(drawn, X.to_numpy())
    plt.close(ax.figure)
