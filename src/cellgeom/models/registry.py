"""The adapter registry and the ``partition`` entry point.

Adapters register themselves with :func:`register_adapter`; :func:`partition`
dispatches on the model's type, passes every adapter the common parameters
(``tol``, ``n_jobs``, ``executor``, ``progress``) and checks family-specific
options against the ones the adapter declares, so a misspelt keyword is named
with the list of what is accepted instead of failing inside a private function.
"""
from __future__ import annotations

import importlib
import inspect
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core import Partition

__all__ = ["Adapter", "adapter_for", "feature_names_of", "partition", "register_adapter",
           "supported_models", "check_common_parameters", "check_options", "VOLUME_METHODS"]

#: parameters every adapter accepts, whatever the model family
COMMON_PARAMETERS = ("tol", "n_jobs", "executor", "progress")
#: the values of options shared by several families, checked by :func:`check_options`
VOLUME_METHODS = ("auto", "exact", "estimate", "data", "none")
SHARED_OPTION_VALUES = {"volume": VOLUME_METHODS}
_POSITIONAL = ("domain", "data", "cells")


@dataclass(frozen=True)
class Adapter:
    """A registered adapter: what it matches, the function, its label and options.

    ``options`` are the family-specific keywords the function declares (its
    keyword parameters beyond ``domain``, ``data``, ``cells`` and the common
    ones; names starting with ``_`` are private to cellgeom), or None when the
    function takes ``**options`` and checks them itself (a pipeline forwards
    them to its final estimator's adapter).
    """

    predicate: Callable[[Any], bool]
    func: Callable[..., Partition]
    label: str
    options: tuple[str, ...] | None = field(default=())


_ADAPTERS: list[Adapter] = []

#: adapter modules imported only when a model of their library appears:
#: top-level package of the model -> modules of ``cellgeom.models``
_OPTIONAL_ADAPTERS: dict[str, tuple[str, ...]] = {
    "torch": ("network",),
    "sklearn": ("trees", "ensembles", "hist_gradient_boosting", "voronoi", "order_k_voronoi",
                "linear", "mlp", "pipeline"),
    "xgboost": ("boosting.xgboost_trees",),
    "lightgbm": ("boosting.lightgbm_trees",),
    "catboost": ("boosting.catboost_trees",),
}

#: labels of the adapters in the modules above, so :func:`supported_models` is complete
#: before any of them was imported (tests check this against the registrations)
_OPTIONAL_LABELS: dict[str, tuple[str, ...]] = {
    "network": ("torch.nn.Module",),
    "trees": ("DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier",
              "ExtraTreeRegressor"),
    "ensembles": ("ExtraTreesClassifier", "ExtraTreesRegressor", "GradientBoostingClassifier",
                  "GradientBoostingRegressor", "IsolationForest", "RandomForestClassifier",
                  "RandomForestRegressor"),
    "hist_gradient_boosting": ("HistGradientBoostingClassifier",
                               "HistGradientBoostingRegressor"),
    "voronoi": ("KMeans", "MiniBatchKMeans", "NearestCentroid"),
    "order_k_voronoi": ("KNeighborsClassifier", "KNeighborsRegressor"),
    "linear": ("LinearSVC", "LogisticRegression", "Perceptron", "RidgeClassifier",
               "SGDClassifier"),
    "mlp": ("MLPClassifier", "MLPRegressor"),
    "pipeline": ("Pipeline",),
    "boosting.xgboost_trees": ("XGBClassifier", "XGBRegressor", "xgboost.Booster"),
    "boosting.lightgbm_trees": ("LGBMClassifier", "LGBMRegressor", "lightgbm.Booster"),
    "boosting.catboost_trees": ("CatBoost", "CatBoostClassifier", "CatBoostRegressor"),
}
_LOADED: set[str] = set()


def _declared_options(func: Callable) -> tuple[str, ...] | None:
    params = inspect.signature(func).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return tuple(p.name for p in params
                 if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
                 and not p.name.startswith("_")
                 and p.name not in ("model", "net", *_POSITIONAL, *COMMON_PARAMETERS))


def register_adapter(match: type | str | Callable[[Any], bool], name: str | None = None):
    """Register an adapter ``func(model, *, domain, data, cells, tol, n_jobs, executor,
    progress, **options) -> Partition``.

    ``match`` is a class (``isinstance``), a fully qualified class name (matched
    against the model's MRO without importing the library), or a predicate.
    Later registrations take precedence. Use as a decorator.

    The function must accept the common parameters ``tol``, ``n_jobs``,
    ``executor`` and ``progress``; its other keyword parameters are its
    family-specific options, which :func:`partition` checks by name.
    """
    if isinstance(match, type):
        predicate = lambda model, cls=match: isinstance(model, cls)  # noqa: E731
        label = name or match.__name__
    elif isinstance(match, str):
        qualname = match

        def predicate(model, qualname=qualname):
            return any(
                f"{c.__module__}.{c.__qualname__}" == qualname for c in type(model).__mro__
            )

        label = name or match.rsplit(".", 1)[-1]
    else:
        predicate, label = match, name or getattr(match, "__name__", "adapter")

    def decorator(func):
        missing = [p for p in COMMON_PARAMETERS
                   if p not in inspect.signature(func).parameters]
        has_var_kw = any(p.kind is p.VAR_KEYWORD
                         for p in inspect.signature(func).parameters.values())
        if missing and not has_var_kw:
            raise TypeError(f"adapter {func.__qualname__} for {label} must accept the common "
                            f"parameters {', '.join(COMMON_PARAMETERS)}; missing "
                            f"{', '.join(missing)}.")
        _ADAPTERS.insert(0, Adapter(predicate, func, label, _declared_options(func)))
        return func

    return decorator


def _load_adapters(model) -> None:
    """Import the adapter modules a model needs, only when such a model appears.

    scikit-learn adapters import scikit-learn; the network adapter imports torch.
    Neither is imported for an arrangement.
    """
    # the whole MRO: a user's own nn.Module or estimator subclass lives in the user's module
    packages = {cls.__module__.split(".")[0] for cls in type(model).__mro__}
    for package in sorted(packages):
        for name in _OPTIONAL_ADAPTERS.get(package, ()):
            if name not in _LOADED:
                importlib.import_module(f"cellgeom.models.{name}")
                _LOADED.add(name)


def supported_models() -> list[str]:
    """Names of the model types that :func:`partition` accepts.

    Complete before any adapter module was imported: the optional adapters are
    listed by name, their libraries are not imported.
    """
    names = {a.label for a in _ADAPTERS}
    for labels in _OPTIONAL_LABELS.values():
        names.update(labels)
    return sorted(names)


def adapter_for(model) -> Adapter:
    """The adapter that :func:`partition` uses for ``model``.

    Raises
    ------
    TypeError
        When no adapter matches, naming the model's class and the supported ones.
    """
    _load_adapters(model)
    for adapter in _ADAPTERS:
        if adapter.predicate(model):
            return adapter
    raise TypeError(
        f"cellgeom has no adapter for {type(model).__module__}.{type(model).__qualname__}. "
        f"Supported models: {', '.join(supported_models())}."
    )


def _names(values, n: int | None = None) -> list[str] | None:
    if values is None:
        return None
    names = [str(v) for v in values]
    return names if names and (n is None or len(names) == n) else None


def feature_names_of(model, data=None) -> list[str] | None:
    """The input feature names a model was fitted with, or None.

    In order: scikit-learn's ``feature_names_in_`` (also set by the XGBoost and
    LightGBM wrappers fitted on a DataFrame), an XGBoost ``Booster``'s
    ``feature_names``, a LightGBM ``Booster``'s ``feature_name()`` and CatBoost's
    ``feature_names_`` unless they are the library's placeholders (``Column_<j>``,
    ``<j>``), then the string columns of a DataFrame ``data``.
    """
    names = _names(getattr(model, "feature_names_in_", None))
    if names is None and type(model).__module__.startswith("xgboost"):
        names = _names(getattr(model, "feature_names", None))
    if names is None and type(model).__module__.startswith("lightgbm"):
        booster = getattr(model, "booster_", model)
        found = _names(booster.feature_name()) if hasattr(booster, "feature_name") else None
        if found and found != [f"Column_{j}" for j in range(len(found))]:
            names = found
    if names is None and type(model).__module__.startswith("catboost"):
        found = _names(getattr(model, "feature_names_", None))
        if found and found != [str(j) for j in range(len(found))]:
            names = found
    columns = getattr(data, "columns", None)
    if names is None and columns is not None and all(isinstance(c, str) for c in columns):
        names = _names(columns)
    return names


def check_common_parameters(tol, n_jobs, progress) -> None:
    """Validate the common parameters with messages naming the value given."""
    if tol is not None and (not isinstance(tol, numbers.Real) or isinstance(tol, bool)
                            or not tol > 0 or tol != tol or tol == float("inf")):
        raise ValueError(f"tol must be a positive finite number or None, got {tol!r}.")
    if n_jobs is not None and (not isinstance(n_jobs, numbers.Integral)
                               or isinstance(n_jobs, bool) or n_jobs == 0 or n_jobs < -1):
        raise ValueError(f"n_jobs must be None, -1 or a positive integer, got {n_jobs!r}.")
    if not isinstance(progress, bool):
        raise ValueError(f"progress must be True or False, got {progress!r}.")


def check_options(adapter: Adapter, options: dict) -> None:
    """Refuse keywords the adapter does not declare, listing what is accepted, and values
    of the shared options (``volume``) outside their list."""
    accepted = options if adapter.options is None else adapter.options  # None: checks its own
    unknown = sorted(set(options) - set(accepted))
    if not unknown:
        for name, allowed in SHARED_OPTION_VALUES.items():
            value = options.get(name, allowed[0])
            if not isinstance(value, str) or value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))} for "
                                 f"{adapter.label}, got {value!r}.")
    if unknown:
        specific = ", ".join(adapter.options) if adapter.options else "none"
        raise TypeError(
            f"partition() got unexpected keyword argument(s) {', '.join(map(repr, unknown))} "
            f"for {adapter.label}. Accepted: domain, data, cells, "
            f"{', '.join(COMMON_PARAMETERS)}; options for {adapter.label}: {specific}.")


def partition(
    model,
    domain=None,
    data=None,
    cells: str = "data",
    *,
    tol: float | None = None,
    n_jobs: int | None = None,
    executor: Any = None,
    progress: bool = True,
    **options,
) -> Partition:
    """Build the cells of ``model`` inside ``domain``.

    Parameters
    ----------
    model : object
        A supported model: :class:`~cellgeom.HyperplaneArrangement`, and every
        model whose adapter is registered (see :func:`supported_models`).
    domain : Box or (lo, hi), optional
        The box cells are clipped to. Default: the bounding box of ``data``
        padded by 5% of each side.
    data : array of shape (N, n), optional
        Data points. Required for ``cells="data"``; counted per cell otherwise.
    cells : {"data", "all"}
        ``"data"`` builds only the cells holding at least one data point;
        ``"all"`` enumerates every cell in the domain.
    tol : float, optional
        Absolute length tolerance of the geometry along the domain's largest side
        (default: 1e-9 times the domain's scale); polytope cells use the same fraction
        of each side along each axis (``info["tol_axes"]``).
    n_jobs : int, optional
        Worker processes for per-cell work (-1: all cores). Box partitions
        (trees, forests, boosters) are closed form and run in one process.
    executor : str or object, optional
        ``"serial"``, ``"processes"``, ``"dask"``, a ``dask.distributed.Client``
        or a :class:`cellgeom.parallel.Executor`; see :mod:`cellgeom.parallel`.
    progress : bool
        Show a progress bar on long work.
    **options
        Family-specific options, checked by name: ``include_neighbors``
        (arrangements, networks), ``upto_layer`` (networks), ``exact_dim``, ``volume``
        (arrangements, networks, linear classifiers, Voronoi models; ``volume`` one of
        :data:`VOLUME_METHODS`), ``max_cells`` (forests, boosters), ``delaunay_max_dim``
        (Voronoi models). An unknown keyword raises a ``TypeError`` listing
        the accepted ones.

    Returns
    -------
    Partition

    Examples
    --------
    >>> import cellgeom
    >>> arr = cellgeom.HyperplaneArrangement([[1.0, 0.0]], [-0.5])
    >>> part = cellgeom.partition(arr, domain=([0, 0], [1, 1]), cells="all", progress=False)
    >>> part.cells["volume"].tolist()
    [0.5, 0.5]
    """
    if cells not in ("data", "all"):
        raise ValueError(f"cells must be 'data' or 'all', got {cells!r}.")
    check_common_parameters(tol, n_jobs, progress)
    adapter = adapter_for(model)
    check_options(adapter, options)
    part = adapter.func(model, domain=domain, data=data, cells=cells, tol=tol, n_jobs=n_jobs,
                        executor=executor, progress=progress, **options)
    names = feature_names_of(model, data)
    if names is not None and len(names) == part.dim:  # axis labels of pictures and reports
        part.info.setdefault("feature_names", names)
    fitted = feature_names_of(model)
    if fitted is not None and len(fitted) == part.dim:  # locate() matches DataFrames by them
        part.info.setdefault("model_feature_names", fitted)
    return part
