"""Every ```python block of README.md and docs/**/*.md runs as written (issue #23).

Oracle: the blocks themselves. The blocks of one page run in order in one fresh namespace
(a later block may use an earlier one's names, as a reader would), in a fresh working
directory, with matplotlib's Agg backend and no network. Pages that train a network are
marked slow; the others run in the default suite.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
#: pages whose blocks train a network (seconds of torch on a loaded machine)
SLOW = {"docs/tutorials/networks.md", "docs/curvature.md", "docs/tutorials/conv_slices.md"}
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """(first line number, code) of each ```python block of a Markdown page."""
    text = path.read_text(encoding="utf-8")
    return [(text[:m.start()].count("\n") + 2, m.group(1)) for m in FENCE.finditer(text)]


def _pages():
    for path in PAGES:
        if not python_blocks(path):
            continue
        rel = path.relative_to(ROOT).as_posix()
        marks = [pytest.mark.slow] if rel in SLOW else []
        yield pytest.param(path, id=rel, marks=marks)


def test_the_runner_finds_the_blocks():
    """The pages named in the issue have blocks, and a block's line number is its code's."""
    found = {p.relative_to(ROOT).as_posix(): python_blocks(p) for p in PAGES}
    for rel in ("README.md", "docs/tutorials/forests.md", "docs/tutorials/kmeans.md",
                "docs/tutorials/networks.md", "docs/curvature.md",
                "docs/tutorials/boosting.md"):
        assert found[rel], rel
    line, code = found["README.md"][0]
    assert (ROOT / "README.md").read_text().splitlines()[line - 1] == code.splitlines()[0]


@pytest.mark.parametrize("path", list(_pages()))
def test_page_code_blocks_run_as_written(path, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "__docs__"}
    try:
        for line, code in python_blocks(path):
            # padded so that a traceback names the page and the line of the page
            compiled = compile("\n" * (line - 1) + code, str(path), "exec")
            exec(compiled, namespace)  # noqa: S102 - the documentation's own code
    finally:
        plt.close("all")
    assert os.getcwd() == str(tmp_path)


# -- docstring examples ---------------------------------------------------------------------
SRC = ROOT / "src" / "cellgeom"
#: modules with a ``>>>`` example in a docstring (found by reading the files, not importing)
EXAMPLE_MODULES = sorted(
    ".".join(("cellgeom",) + path.relative_to(SRC).with_suffix("").parts).removesuffix(
        ".__init__")
    for path in SRC.rglob("*.py") if ">>> " in path.read_text(encoding="utf-8"))


def test_the_docstring_examples_are_found():
    assert "cellgeom.complex.riemannian" in EXAMPLE_MODULES
    assert "cellgeom.analysis.curvature" in EXAMPLE_MODULES


@pytest.mark.parametrize("name", EXAMPLE_MODULES)
def test_docstring_examples_run_as_written(name, tmp_path, monkeypatch):
    """Oracle: the outputs written in the docstrings (the stdlib doctest runner)."""
    import doctest
    import importlib
    import io

    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = io.StringIO()
    for test in doctest.DocTestFinder(exclude_empty=True).find(module, name):
        runner.run(test, out=report.write)
    assert runner.failures == 0, report.getvalue()
