"""The layers of docs/architecture.md hold: imports point down, and nothing imports in a circle.

Oracle: the import statements of every module under src/cellgeom, parsed with ``ast``,
including imports inside functions (a deferred import is still a dependency).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "cellgeom"

#: layer of each part of the package, bottom (0) to top; a module may import its own
#: part and any part of a lower layer, never a part of its own layer or a higher one
LAYERS = {
    "_version": 0,
    "geometry": 0,
    "parallel": 0,
    "core": 1,
    "nn": 2,
    "models": 3,
    "complex": 3,
    "analysis": 4,
    "viz": 5,
    "report": 6,
    "demo": 7,
    "cli": 8,
    "__main__": 9,
    "__init__": 9,
}

#: parts that may import torch (at any depth); everything else must work without it
TORCH_PARTS = {"nn"}
TORCH_MODULES = {"cellgeom.models.network"}

#: a module over this many lines needs a stated reason here
MAX_LINES = 500
LONG_MODULES_WITH_REASON: dict[str, str] = {
    "cellgeom.geometry.face_lattice": (
        "numba's disk cache checks a compiled kernel against its own source file only, so "
        "every kernel that cell_faces calls lives in its file (split, an edit to a callee "
        "would leave stale cached callers)"),
}


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        yield ".".join(parts), path, is_package


def _imports(name: str, path: Path, is_package: bool) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:  # from . import x: x may be a module
                    found.update(f"{target}.{a.name}" for a in node.names)
            else:
                target = node.module or ""
            found.add(target)
    return found


def _part(module: str) -> str:
    pieces = module.split(".")
    if len(pieces) == 1:
        return "__init__"
    return pieces[1]


GRAPH = {name: _imports(name, path, pkg) for name, path, pkg in _modules()}


def test_every_part_has_a_layer():
    assert {_part(m) for m in GRAPH} <= set(LAYERS)


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down(module):
    here = _part(module)
    bad = []
    for target in GRAPH[module]:
        if not (target == "cellgeom" or target.startswith("cellgeom.")):
            continue
        there = _part(target)
        if there == here:
            continue
        if there not in LAYERS or LAYERS[there] >= LAYERS[here]:
            bad.append(target)
    assert not bad, f"{module} (layer {here}) imports upward or sideways: {sorted(bad)}"


def test_torch_is_imported_only_by_nn_and_the_torch_adapter():
    offenders = sorted(m for m, targets in GRAPH.items()
                       if any(t == "torch" or t.startswith("torch.") for t in targets)
                       and _part(m) not in TORCH_PARTS and m not in TORCH_MODULES)
    assert not offenders


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm over the modules (edges to known modules only)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_circle_between_modules():
    # a package's __init__ re-exporting its modules is not a circle of its own
    graph = {m: {t for t in targets if not (m.startswith(t + ".") and t in GRAPH)}
             for m, targets in GRAPH.items()}
    cycles = [sorted(c) for c in _strongly_connected(graph) if len(c) > 1]
    assert not cycles


def test_no_module_over_500_lines_without_a_stated_reason():
    long = {name: sum(1 for _ in path.open())
            for name, path, _ in _modules() if sum(1 for _ in path.open()) > MAX_LINES}
    assert set(long) <= set(LONG_MODULES_WITH_REASON), long


def _documented_layers() -> dict[str, int]:
    """The layer picture of docs/architecture.md: lines ``layer N   part/  part.py  ...``."""
    import re

    text = (SRC.parents[1] / "docs" / "architecture.md").read_text()
    out = {}
    for line in text.splitlines():
        m = re.match(r"layer (\d+)\s+(.*)", line)
        if m:
            parts = re.findall(r"([\w_]+)(?:/|\.py)(?=\s|$)", m.group(2).split("   ")[0] + " ")
            out.update({p: int(m.group(1)) for p in parts})
    return out


def test_docs_architecture_draws_the_layers_of_this_table():
    """Oracle: LAYERS above (what the import test enforces) equals the picture in
    docs/architecture.md, which also names the core module."""
    assert _documented_layers() == LAYERS
    assert "`cellgeom.core`" in (SRC.parents[1] / "docs" / "architecture.md").read_text()


def test_tests_mirror_the_source_tree():
    """Every subpackage of src/cellgeom has its tests in tests/<name>/ (or, for a small
    one, tests/test_<name>*.py), and every adapter module of models/ has its own test file."""
    tests = SRC.parents[1] / "tests"
    for pkg in sorted(p for p in SRC.iterdir() if (p / "__init__.py").exists()):
        assert (tests / pkg.name).is_dir() or list(tests.glob(f"test_{pkg.name}*.py")), pkg
    adapters = [p for p in (SRC / "models").glob("*.py")
                if "register_adapter(" in p.read_text() and p.stem != "registry"]
    for path in adapters:
        assert (tests / "models" / f"test_{path.stem}.py").exists(), path.name
    assert (tests / "models" / "boosting").is_dir()
