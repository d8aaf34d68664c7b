"""Shared helpers of the scikit-learn adapters: fitted checks, input checks, predictions.

Every scikit-learn partition records the model and, per cell, the model's
prediction at the cell's Chebyshev centre (``prediction``; ``proba_<k>`` for
classifiers with ``predict_proba``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..core import check_data, resolve_domain, vector_columns

__all__ = ["check_fitted_model", "check_model_input", "add_predictions", "model_name",
           "named_input", "prepare_inputs", "input_dtype", "model_input", "n_features_of",
           "final_estimator"]


def model_name(model) -> str:
    """Class name of a model, as scikit-learn prints it in messages."""
    return type(model).__name__


def named_input(model, X):
    """``X`` as the model was fitted: a DataFrame with the model's ``feature_names_in_``
    columns when it was fitted on one, else ``X`` unchanged.

    scikit-learn warns "X does not have valid feature names" on every call of a model
    fitted on a DataFrame that is given a bare array; cellgeom's arrays are in the
    model's column order, so naming them is exact.
    """
    names = getattr(model, "feature_names_in_", None)
    if names is None or isinstance(X, pd.DataFrame):
        return X
    return pd.DataFrame(X, columns=names, copy=False)


def input_dtype(model) -> type:
    """The float type the model's ``predict`` takes: float32 for a k-means model (or a
    pipeline ending in one) fitted on float32 data, whose compiled kernels accept only
    points of their centres' dtype ("Buffer dtype mismatch, expected 'const double' but
    got 'float'"); float64 otherwise."""
    centres = getattr(final_estimator(model), "cluster_centers_", None)
    return np.float32 if getattr(centres, "dtype", None) == np.float32 else np.float64


def model_input(model, X):
    """``X`` as the model's ``predict`` takes it: in :func:`input_dtype` (float32 points are
    compared as the model compares its own float32 data) and named as by
    :func:`named_input`."""
    return named_input(model, np.asarray(X, dtype=input_dtype(model)))


def check_fitted_model(model) -> None:
    """Raise scikit-learn's ``NotFittedError`` (a ``ValueError``) for an unfitted model."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model)


def n_features_of(model) -> int:
    """``model.n_features_in_``; for a Pipeline, that of its first step that is not
    ``"passthrough"`` or None (scikit-learn's ``Pipeline.n_features_in_`` reads the first
    step, and fails when it is one of those)."""
    for _, step in getattr(model, "steps", ()):
        if step is not None and not (isinstance(step, str) and step == "passthrough"):
            return n_features_of(step)
    return int(model.n_features_in_)


def check_model_input(model, X, name: str = "data") -> np.ndarray:
    """Validate ``X`` against the model's ``n_features_in_`` with scikit-learn's message.

    A DataFrame is matched to the model's ``feature_names_in_`` by name (reordered when
    only the order differs, refused when a name is missing or foreign); a scipy.sparse
    matrix is densified.

    Raises
    ------
    ValueError
        "X has 3 features, but DecisionTreeClassifier is expecting 5 features as input."
    """
    n = n_features_of(model)
    names = getattr(model, "feature_names_in_", None)
    shape = getattr(X, "shape", None)
    if shape is None:
        shape = np.shape(np.asarray(X, dtype=object))
    if len(shape) == 2 and shape[1] != n:
        raise ValueError(
            f"{name} has {shape[1]} features, but {model_name(model)} is expecting {n} "
            "features as input."
        )
    return check_data(X, n, name=name, allow_empty=True, feature_names=names)


def prepare_inputs(model, domain, data, cells: str):
    """Fitted check, data check and the domain box; returns ``(data, domain, n_outside)``."""
    check_fitted_model(model)
    n = n_features_of(model)
    if data is not None:
        data = check_model_input(model, data, name="data")
        if data.shape[0] == 0:
            data = None
    if cells == "data" and data is None:
        raise ValueError('cells="data" needs data: pass data=X, or use cells="all".')
    domain = resolve_domain(domain, data, n)
    n_outside = 0 if data is None else int((~domain.contains(data)).sum())
    return data, domain, n_outside


def add_predictions(cells: pd.DataFrame, model, dim: int) -> pd.DataFrame:
    """Add ``prediction`` (``model.predict`` at each Chebyshev centre; ``prediction_<j>``
    per output for multi-output models) and, for
    classifiers, ``proba_<k>`` (``predict_proba``, k indexing ``model.classes_``).

    IsolationForest-like models with ``score_samples`` also get ``score``.
    """
    centers = cells[vector_columns("center", dim)].to_numpy()
    if len(centers) == 0:
        cells["prediction"] = pd.Series(dtype=float)
        return cells
    centers = model_input(model, centers)
    pred = np.asarray(model.predict(centers))
    if pred.ndim == 2:  # multi-output: one column per output, prediction_<j>
        for j in range(pred.shape[1]):
            cells[f"prediction_{j}"] = pred[:, j]
        return cells
    cells["prediction"] = pred if pred.dtype.kind in "biuf" else pred.astype(object)
    if hasattr(model, "predict_proba") and hasattr(model, "classes_"):
        try:
            proba = np.asarray(model.predict_proba(centers))
        except (AttributeError, NotImplementedError, ValueError):
            proba = None  # e.g. SGDClassifier with hinge loss
        if proba is not None:
            for k in range(proba.shape[1]):
                cells[f"proba_{k}"] = proba[:, k]
    if _final_step_name(model) == "IsolationForest":
        cells["score"] = model.score_samples(centers)
    return cells


def _final_step_name(model) -> str:
    return model_name(final_estimator(model))


def final_estimator(model):
    """The last step of a Pipeline; any other model itself."""
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model

