"""Report content (issue #23): zero eigenvalues marked against the operator's scale, short
domain lines, cut keys, headings only with tables, a map with axes / colour bar / points /
legend, labels and metrics, pictures with axes and legends, no hinge table in high D.

Oracles: Betti numbers (the number of zero eigenvalues of L_0 is b_0), the data themselves
(point counts, majority labels by brute force), and the strings the page must hold.
"""
from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402

import cellgeom  # noqa: E402
from cellgeom.report import domain_text, summary_rows  # noqa: E402
from cellgeom.report._figures import figures  # noqa: E402
from cellgeom.viz import operator_scale, plot_spectrum  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def forest30():
    """A 30-D forest on its data cells: many components, so the bottom of L_0 is all zero."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 30))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    f = RandomForestClassifier(n_estimators=12, max_depth=5, random_state=0).fit(X, y)
    part = cellgeom.partition(f, data=X, progress=False)
    return cellgeom.build_complex(part), X, y


@pytest.fixture(scope="module")
def arrangement2d():
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (150, 2))
    y = np.where(X[:, 0] > 0.1, "right", "left")
    arr = cellgeom.HyperplaneArrangement(rng.normal(size=(5, 2)), rng.normal(size=5) * 0.4)
    part = cellgeom.partition(arr, domain=([-1, -1], [1, 1]), data=X, cells="all",
                              progress=False)
    return cellgeom.build_complex(part), X, y


def test_spectrum_marks_rounding_noise_as_zero_relative_to_the_operator(forest30):
    """All 30 smallest eigenvalues of a complex with b_0 >= 30 are zero: all are marked."""
    cx, _, _ = forest30
    b0 = cx.betti_numbers()[0]
    assert b0 >= 30
    ax = plot_spectrum(cx, p=0, k=30)
    assert f"zero ({min(30, b0)})" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert "30 of 30 shown are zero" in ax.get_title()
    # eigensolver noise around zero: zero against the operator's scale, whatever its sign
    noise = 1e-15 * np.random.default_rng(0).normal(size=30)
    ax = plot_spectrum(noise, scale=operator_scale(cx))
    assert "30 of 30 shown are zero" in ax.get_title()
    ax = plot_spectrum(np.concatenate([noise[:3], [0.5, 1.0]]), scale=2.0)
    assert "3 of 5 shown are zero" in ax.get_title()


def test_domain_line_stays_short_in_high_dimension():
    lo, hi = np.zeros(64), np.arange(1, 65, dtype=float)
    text = domain_text(lo, hi)
    assert text == "[0, 1] x [0, 2] x ... x [0, 64] (64 axes)"
    assert domain_text(np.zeros(30), np.ones(30)) == "[0, 1]^30"
    assert domain_text([0, 1], [1, 3]) == "[0, 1] x [1, 3]"


def test_report_30d_forest_cuts_long_keys_and_has_no_empty_headings(forest30, tmp_path):
    cx, X, y = forest30
    cx.partition.cells["vertex_curvature"] = np.nan  # a curvature column without values
    try:
        text = cellgeom.write_report(cx, tmp_path / "f.html", data=X, labels=y,
                                     progress=False).read_text()
    finally:
        del cx.partition.cells["vertex_curvature"]
    assert "Most curved" not in text
    keys = cx.partition.keys
    long_key = max(keys, key=len)
    assert len(long_key) > 24
    assert f'<td class="str long" title="{long_key}">' in text
    for h3 in re.findall(r"<h3>[^<]*</h3>", text):  # every heading is followed by its table
        after = text.split(h3, 1)[1]
        assert after.startswith('<div class="scroll"><table'), h3
    summary = dict(summary_rows(cx))
    assert len(summary["domain"]) < 80


def test_map_has_axes_colour_bar_points_and_legend(arrangement2d, tmp_path):
    cx, X, y = arrangement2d
    text = cellgeom.write_report(cx, tmp_path / "m.html", data=X, labels=y,
                                 feature_names=["width", "height"],
                                 progress=False).read_text()
    svg = re.search(r'<svg id="cellmap".*?</svg>', text, re.S).group(0)
    for part in ('class="axis axis-x"', 'class="axis axis-y"', 'class="colorbar"',
                 'class="legend"', 'class="points"'):
        assert part in svg, part
    assert ">width</text>" in svg and ">height</text>" in svg
    assert svg.count("<circle") == len(X) + 2  # the points and two legend markers
    assert "data, label left" in svg and "data, label right" in svg
    assert svg.count("<polygon data-cell=") == cx.partition.n_cells


def test_labels_and_metrics_reach_the_summary_and_the_cell_table(arrangement2d, tmp_path):
    cx, X, y = arrangement2d
    text = cellgeom.write_report(cx, tmp_path / "l.html", data=X, labels=y,
                                 metrics={"test accuracy": 0.925, "note": "held out"},
                                 progress=False).read_text()
    assert '<td>test accuracy</td><td class="str">0.925</td>' in text
    assert '<td>note</td><td class="str">held out</td>' in text
    # brute force: each point's cell, the majority label of the cell, and the agreement
    cell = cx.partition.locate(X)
    agree = np.mean([pd.Series(y[cell == c]).value_counts().idxmax() == y[i]
                     for i, c in enumerate(cell)])
    row = re.search(r"<td>points with their cell's majority label</td><td class=\"str\">"
                    r"([^<]*)</td>", text.replace("&#x27;", "'"))
    assert float(row.group(1)) == pytest.approx(agree, rel=1e-5)
    assert "<th class=\"str\">majority</th>" in text and ">purity</th>" in text
    with pytest.raises(ValueError, match="labels need the data"):
        cellgeom.write_report(cx, tmp_path / "x.html", labels=y, progress=False)
    with pytest.raises(ValueError, match="one entry per data point"):
        cellgeom.write_report(cx, tmp_path / "x.html", data=X, labels=y[:3], progress=False)
    with pytest.raises(TypeError, match="metrics"):
        cellgeom.write_report(cx, tmp_path / "x.html", metrics=[0.9], progress=False)


@pytest.mark.parametrize("which", ["arrangement2d", "forest30"])
def test_every_picture_has_named_axes_and_a_legend_or_colour_bar(which, request):
    cx, X, y = request.getfixturevalue(which)
    flat = cx.partition.dim == 2
    figs = figures(cx, X if flat else None, y if flat else None, ["a", "b"] if flat else None)
    assert len(figs) == (3 if flat else 2)
    for caption, fig in figs:
        main = fig.axes[0]
        assert main.get_xlabel() and main.get_ylabel(), caption
        colour_bars = len(fig.axes) - 1 + len(main.child_axes)  # bars are insets
        assert main.get_legend() is not None or colour_bars > 0, caption
        assert main.get_legend() is not None, caption  # data, nerve, categories, counts


def test_summary_of_a_64d_box_partition_does_not_list_its_hinges():
    """4 C(64, 2) = 8064 hinge rows per box: counted in words, the table is not built."""
    rng = np.random.default_rng(0)
    X = rng.random((200, 64))
    y = (X[:, 0] > 0.5).astype(int)
    f = RandomForestClassifier(n_estimators=4, max_depth=4, random_state=0).fit(X, y)
    part = cellgeom.partition(f, data=X, progress=False)
    assert part.n_cells * 8064 > 200_000
    rows = dict(summary_rows(cellgeom.build_complex(part)))
    assert rows["hinges"] == "not listed: 8064 right-angled (n-2)-faces per box"
    assert part._hinges is None
