"""Pipelines: affine leading steps pulled back to the raw input space.

Leading steps compose into ``z = T x + c``:

- StandardScaler: ``z = (x - mean) / scale`` (T = diag(1/scale));
- RobustScaler: ``z = (x - center_) / scale_``;
- MaxAbsScaler: ``z = x / scale_``;
- MinMaxScaler: ``z = x * scale_ + min_``;
- PCA: ``z = (x - mean_) V^T`` (divided by sqrt(explained_variance_) when whitening);
- "passthrough" / None: identity.

The final estimator's cells are built in x: polytope models (Voronoi, linear)
get their rows multiplied by T; tree models need a diagonal T with positive
entries (scalers), under which boxes stay boxes with thresholds
``x = (t - c) / T_ff``.
"""
from __future__ import annotations

import numpy as np

from ._sklearn import check_fitted_model, model_name, n_features_of, named_input
from .registry import adapter_for, check_options, register_adapter, supported_models

__all__ = ["affine_of_steps", "AFFINE_STEPS", "PrefixTransform", "diagonal_affine"]

AFFINE_STEPS = ("StandardScaler", "RobustScaler", "MaxAbsScaler", "MinMaxScaler", "PCA",
                "passthrough")
SCALERS = "StandardScaler, RobustScaler, MaxAbsScaler, MinMaxScaler"


def _step_affine(step, n: int):
    if step is None or step == "passthrough":
        return np.eye(n), np.zeros(n)
    name = model_name(step)
    check_fitted_model(step)
    if name == "StandardScaler":
        scale = step.scale_ if step.with_std else np.ones(n)
        mean = step.mean_ if step.with_mean else np.zeros(n)
        return np.diag(1 / scale), -mean / scale
    if name == "RobustScaler":  # center_ / scale_ are None when switched off
        scale = step.scale_ if step.with_scaling else np.ones(n)
        center = step.center_ if step.with_centering else np.zeros(n)
        return np.diag(1 / scale), -center / scale
    if name == "MaxAbsScaler":
        return np.diag(1 / step.scale_), np.zeros(n)
    if name == "MinMaxScaler":
        if getattr(step, "clip", False):
            raise ValueError("MinMaxScaler(clip=True) is not affine (it clips); use clip=False.")
        return np.diag(step.scale_), np.asarray(step.min_, dtype=float)
    if name == "PCA":
        T = np.asarray(step.components_, dtype=float)
        if step.whiten:
            T = T / np.sqrt(step.explained_variance_)[:, None]
        return T, -T @ step.mean_
    raise ValueError(
        f"Pipeline step {name} is not affine: cellgeom can pull cells back only through "
        f"{', '.join(AFFINE_STEPS)} in front of the final estimator.")


def affine_of_steps(pipeline) -> tuple[np.ndarray, np.ndarray]:
    """``(T, c)`` with ``z = T x + c`` the composition of all steps but the last."""
    n = n_features_of(pipeline)
    T, c = np.eye(n), np.zeros(n)
    for _, step in pipeline.steps[:-1]:
        Ts, cs = _step_affine(step, T.shape[0])
        T, c = Ts @ T, Ts @ c + cs
    return T, c


def diagonal_affine(affine, name: str):
    """``(scale, shift)`` with ``z = scale * x + shift`` of a pipeline's leading steps, for
    tree models (None, None without a pipeline).

    Raises
    ------
    ValueError
        Unless the steps are per-feature scalings with positive factors: under any other
        affine map (a PCA rotation, a reflection) the trees' boxes are not boxes in x.
    """
    if affine is None:
        return None, None
    T, c = (np.asarray(a, dtype=np.float64) for a in affine)
    if T.ndim == 2:
        off = T - np.diag(np.diag(T)) if T.shape[0] == T.shape[1] else T
        if T.shape[0] != T.shape[1] or np.any(off != 0) or np.any(np.diag(T) <= 0):
            raise ValueError(
                f"Pipeline in front of {name}: tree cells stay boxes only under per-feature "
                f"scalings ({SCALERS}); a PCA step rotates them.")
        T = np.diag(T).copy()
    return T, c


class PrefixTransform:
    """The pipeline's steps before its final estimator, applied to raw inputs (for point
    location). A plain object, so partitions that hold it pickle."""

    def __init__(self, prefix):
        self.prefix = prefix

    def __call__(self, X):
        return self.prefix.transform(named_input(self.prefix, np.asarray(X, dtype=float)))


@register_adapter("sklearn.pipeline.Pipeline")
def _partition_pipeline(model, *, domain, data, cells, tol=None, n_jobs=None, executor=None,
                        progress=True, **options):
    """Cells of the final estimator, pulled back through the pipeline's affine steps.

    ``options`` are those of the final estimator's adapter.
    """
    check_fitted_model(model)
    final = model.steps[-1][1]
    T, c = affine_of_steps(model)
    try:
        adapter = adapter_for(final)
    except TypeError:
        adapter = None
    if adapter is None or adapter.func is _partition_pipeline:
        raise TypeError(f"Pipeline's final estimator {model_name(final)} has no cellgeom "
                        f"adapter. Supported models: {', '.join(supported_models())}.")
    check_options(adapter, options)
    func = adapter.func
    transform = PrefixTransform(model[:-1])
    # every adapter reads (T, c) its own way: tree models through diagonal_affine
    return func(final, domain=domain, data=data, cells=cells, tol=tol, n_jobs=n_jobs,
                executor=executor, progress=progress, _affine=(T, c), _model=model,
                _transform=transform, **options)
