"""Top-level calls are quiet: one progress bar per call (kept or removed as documented), no
pandas PerformanceWarning.

Oracles: the bars tqdm writes to stderr (a closed, kept bar ends with one newline) and
pandas' own PerformanceWarning, turned into an error.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier

import cellgeom


def test_partition_shows_one_progress_bar_over_all_breadth_first_rounds(capfd):
    """The README example (8 lines, cells="all") grows its cells in 9 rounds: one bar."""
    rng = np.random.default_rng(0)
    arr = cellgeom.HyperplaneArrangement(rng.normal(size=(8, 2)), rng.normal(size=8) * 0.5)
    X = rng.uniform(-1.5, 1.5, (300, 2))
    part = cellgeom.partition(arr, data=X, cells="all", progress=True)
    err = capfd.readouterr().err
    bars = [line for line in err.split("\n") if line.strip()]
    assert len(bars) == 1, err
    final = bars[0].split("\r")[-1]
    assert f"{part.n_cells}/{part.n_cells}" in final


def test_partition_with_progress_false_writes_nothing(capfd):
    arr = cellgeom.HyperplaneArrangement([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0])
    cellgeom.partition(arr, domain=([-1, -1], [1, 1]), cells="all", progress=False)
    assert capfd.readouterr().err == ""


def test_build_complex_names_each_stage_on_its_bar_and_clears_it(capfd):
    """A 3-D tree's dual complex: every stage named as it starts; the bar is removed."""
    rng = np.random.default_rng(0)
    X = rng.random((200, 3))
    forest = RandomForestClassifier(n_estimators=2, max_depth=3, random_state=0).fit(
        X, X[:, 0] > X[:, 1])
    part = cellgeom.partition(forest, domain=([0, 0, 0], [1, 1, 1]), cells="all",
                              progress=False)
    cx = cellgeom.build_complex(part, progress=True)
    assert cx.dim == 3
    err = capfd.readouterr().err
    stages = ["facet edges", "cell order", "1-simplices", "2-simplices", "3-simplices",
              "renumbering", "Gram matrices"]
    shown = [err.index(f"complex: {name}") for name in stages]
    assert shown == sorted(shown), err
    assert err.split("\r")[-1].strip() == ""  # leave=False: the line is cleared
    cellgeom.build_complex(part, rule="facet", progress=True)
    err = capfd.readouterr().err
    assert "complex: 2-simplices" in err and "complex: cell order" not in err
    cellgeom.build_complex(part, progress=False)
    assert capfd.readouterr().err == ""


def test_52d_forest_builds_its_tables_without_performance_warnings():
    """Cells, facets, faces and hinges with 2 x 52 vector columns (over 100) are built whole."""
    rng = np.random.default_rng(0)
    X = rng.random((300, 52))
    y = (X[:, :3].sum(axis=1) > 1.5).astype(int)
    forest = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.PerformanceWarning)
        part = cellgeom.partition(forest, data=X[:6], progress=False)
        cx = cellgeom.build_complex(part)
        faces, hinges = part.faces, part.hinges
    assert cx.n_vertices == part.n_cells > 0
    assert len(faces) > 0 and len(hinges) > 0
