"""The package surface after a plain ``import cellgeom`` (checked in a fresh interpreter)."""
import subprocess
import sys

import pytest

import cellgeom


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True).stdout


def test_subpackages_are_attributes_after_plain_import():
    _run("import cellgeom; "
         "assert callable(cellgeom.nn.slice_partition); "
         "assert callable(cellgeom.analysis.vertex_curvature); "
         "assert callable(cellgeom.parallel.map_cells); "
         "assert callable(cellgeom.build_complex) and callable(cellgeom.partition)")


def test_no_function_shadows_a_subpackage():
    """``cellgeom.complex`` and ``cellgeom.report`` are the subpackages in any import order."""
    _run("import cellgeom, types; import cellgeom.complex.io; "
         "assert isinstance(cellgeom.complex, types.ModuleType); "
         "assert cellgeom.complex.io.read_metadata; "
         "assert isinstance(cellgeom.report, types.ModuleType); "
         "assert callable(cellgeom.write_report)")
    _run("import cellgeom.report, cellgeom, types; "
         "assert isinstance(cellgeom.report, types.ModuleType); "
         "assert cellgeom.write_report is cellgeom.report.write_report")


def test_dir_lists_the_lazy_names_and_subpackages():
    names = dir(cellgeom)
    for name in ["write_report", "plot_partition", "SimplicialSpline", "decision_regions",
                 "build_complex", "load", "complex", "report", "nn", "viz"]:
        assert name in names
    # and not the packages' own imports
    nn_names = dir(cellgeom.nn)
    for leaked in ("import_module", "importlib", "annotations"):
        assert leaked not in names and leaked not in nn_names


@pytest.mark.parametrize("module", ["cellgeom", "cellgeom.core", "cellgeom.geometry",
                                    "cellgeom.complex", "cellgeom.models", "cellgeom.analysis",
                                    "cellgeom.viz", "cellgeom.report", "cellgeom.nn",
                                    "cellgeom.parallel"])
def test_every_name_in_all_is_exported(module):
    """``__all__`` is what the module exports: every name resolves, and ``import *`` works."""
    mod = __import__(module, fromlist=["*"])
    for name in mod.__all__:
        assert getattr(mod, name) is not None, f"{module}.{name}"
    namespace: dict = {}
    exec(f"from {module} import *", namespace)
    assert set(mod.__all__) <= set(namespace)


def test_supported_models_is_complete_before_any_adapter_is_loaded():
    """Oracle: the labels registered once every adapter module is imported."""
    code = ("import sys, cellgeom; names = cellgeom.supported_models(); "
            "assert 'sklearn' not in sys.modules and 'torch' not in sys.modules; "
            "print(','.join(names))")
    before = _run(code).strip().split(",")
    import importlib

    from cellgeom.models import registry

    for modules in registry._OPTIONAL_ADAPTERS.values():
        for name in modules:
            importlib.import_module(f"cellgeom.models.{name}")
    registered = {adapter.label for adapter in registry._ADAPTERS
                  if adapter.func.__module__.startswith("cellgeom.")}  # not tests' own
    assert set(before) == registered


def test_python_dash_m_cellgeom_runs_the_cli():
    out = subprocess.run([sys.executable, "-m", "cellgeom", "--version"], check=True,
                         capture_output=True, text=True).stdout
    assert cellgeom.__version__ in out


def _public_modules():
    import pkgutil

    for info in pkgutil.walk_packages(cellgeom.__path__, "cellgeom."):
        # private modules (a component starting with "_") and the entry point need no __all__
        if not any(part.startswith("_") for part in info.name.split(".")[1:]):
            yield info.name


@pytest.mark.parametrize("module", sorted(_public_modules()))
def test_every_module_all_is_exactly_its_public_functions_and_classes(module):
    """Oracle: the functions and classes a module defines without a leading underscore.
    Each is listed in its ``__all__`` (private helpers carry an underscore), and every
    name in ``__all__`` exists."""
    import importlib
    import inspect

    mod = importlib.import_module(module)
    assert hasattr(mod, "__all__"), f"{module} has no __all__"
    missing = [name for name in mod.__all__ if not hasattr(mod, name)]
    assert not missing, f"{module}.__all__ names what it does not define: {missing}"
    defined = {name for name, value in vars(mod).items()
               if not name.startswith("_") and (inspect.isfunction(value) or inspect.isclass(value))
               and getattr(value, "__module__", None) == module}
    assert defined <= set(mod.__all__), f"{module}: public but not in __all__: " \
                                        f"{sorted(defined - set(mod.__all__))}"
