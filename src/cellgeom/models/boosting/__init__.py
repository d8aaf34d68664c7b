"""Gradient-boosting libraries (XGBoost, LightGBM, CatBoost) as exact box partitions.

Each library's module reads a fitted model into a :class:`BoostedModel`: its trees
as :class:`~cellgeom.models.trees.TreeArrays` (thresholds in feature units, with the
library's own comparison), a function giving every point's leaf in every tree from
the library's own leaf prediction, and a function giving the outputs stored per
cell. :func:`partition_boosted` then builds the cells through the same route as the
scikit-learn ensembles (:func:`~cellgeom.models.ensembles.partition_trees`).

The libraries are optional (``pip install cellgeom[boosting]``); a module is imported
only when a model of its library is passed to :func:`cellgeom.partition`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...core import BoxPartition, check_data, resolve_domain, vector_columns
from ...geometry import Box
from ..ensembles import partition_trees
from ..pipeline import diagonal_affine
from ..registry import feature_names_of
from ..trees import TreeArrays

__all__ = ["BoostedModel", "BoosterLeaves", "add_columns", "partition_boosted",
           "check_booster_input"]


@dataclass
class BoostedModel:
    """A fitted booster read into cellgeom's tree representation.

    Attributes
    ----------
    name : str
        The model's class name, for messages.
    n_features : int
        Number of input features the model expects.
    trees : list of TreeArrays
        Every tree (all boosting rounds, all classes), node ids matching ``leaves``.
    leaves : callable
        ``leaves(X) -> (N, len(trees))`` int array: the node id of each point's leaf in
        each tree, computed by the library itself (``pred_leaf`` and the like).
    outputs : callable
        ``outputs(X) -> dict`` of 1-D arrays, the columns stored per cell at its
        Chebyshev centre: ``margin`` (``margin_<k>`` per class) for the raw score and
        ``prediction`` (``proba_<k>`` for classifiers) for the library's transformed
        output.
    check_domain : callable, optional
        ``check_domain(box)`` raises ``ValueError`` when some split is not a threshold
        inside ``box`` (a missing-value rule that catches finite values: LightGBM's
        zero-as-missing, XGBoost's non-NaN ``missing``), so the cells would not be boxes.
    """

    name: str
    n_features: int
    trees: list[TreeArrays]
    leaves: Callable[[np.ndarray], np.ndarray]
    outputs: Callable[[np.ndarray], dict[str, np.ndarray]]
    check_domain: Callable[[Box], None] | None = None


class BoosterLeaves:
    """``leaves_of`` of a booster: the library's own leaf ids of each point, each tree.

    Pickles as ``(model, reader, transform)``; the booster (whose ``leaves`` is a closure
    over the library's model) is read again on first use after unpickling. ``transform``
    (a pipeline's leading steps) maps raw inputs to the booster's features first.
    """

    def __init__(self, model, reader=None, booster: BoostedModel | None = None,
                 transform=None):
        self.model = model
        self.reader = reader
        self._booster = booster
        self.transform = transform

    def __getstate__(self):
        if self.reader is None:
            raise TypeError(f"the leaf function of this {type(self.model).__name__} "
                            "partition cannot be pickled (no reader given)")
        return {"model": self.model, "reader": self.reader, "_booster": None,
                "transform": self.transform}

    def __setstate__(self, state):
        state.setdefault("transform", None)  # pickled before pipelines were supported
        self.__dict__.update(state)

    def __call__(self, X) -> np.ndarray:
        if self._booster is None:
            self._booster = self.reader(self.model)
        booster = self._booster
        X = check_booster_input(booster, X, name="X")
        if self.transform is not None:
            X = np.asarray(self.transform(X), dtype=np.float64)
        return np.asarray(booster.leaves(X), dtype=np.int64).reshape(len(X), -1)


def add_columns(out: dict, name: str, values, always_split: bool = False) -> None:
    """Store ``values`` as column ``name`` (1-D, or one column) or ``name_<k>`` per column.

    ``always_split`` keeps ``name_0`` for a single column (``proba_0`` of a one-class
    probability array).
    """
    values = np.asarray(values)
    if values.ndim == 2 and (values.shape[1] > 1 or always_split):
        for k in range(values.shape[1]):
            out[f"{name}_{k}"] = values[:, k]
    else:
        out[name] = values.reshape(len(values))


def check_booster_input(booster: BoostedModel, X, name: str = "data",
                        feature_names=None) -> np.ndarray:
    """Check ``X`` against the booster's feature count with scikit-learn's message (a
    DataFrame matched to ``feature_names`` by name, a sparse matrix densified)."""
    shape = getattr(X, "shape", None)
    if shape is None:
        shape = np.shape(np.asarray(X, dtype=object))
    if len(shape) == 2 and shape[1] != booster.n_features:
        raise ValueError(f"{name} has {shape[1]} features, but {booster.name} is expecting "
                         f"{booster.n_features} features as input.")
    return check_data(X, booster.n_features, name=name, allow_empty=True,
                      feature_names=feature_names)


def partition_boosted(model, booster: BoostedModel, *, domain, data, cells: str,
                      progress: bool = True, tol=None, max_cells: int = 200_000,
                      reader: Callable[[object], BoostedModel] | None = None,
                      pipeline=None) -> BoxPartition:
    """Cells of a booster: the common refinement of all its trees' leaves.

    Parameters
    ----------
    model : object
        The library's model, stored on the partition.
    booster : BoostedModel
        The model read by its library's module.
    domain, data, cells, progress, tol
        As in :func:`cellgeom.partition`.
    max_cells : int
        ``cells="all"`` refuses, with the estimated count, above this.
    reader : callable, optional
        The module-level function that read ``booster`` from ``model``: a pickled
        partition re-reads the booster with it (the library's leaf function is a
        closure, which does not pickle).
    pipeline : (pipeline, (T, c), transform), optional
        The scikit-learn Pipeline whose final step is ``model``, its leading steps as the
        affine map ``z = T x + c`` (per-feature scalings only) and as a function of raw
        inputs: the boxes are built in x, the partition records the pipeline.
    """
    record, affine, transform = (model, None, None) if pipeline is None else pipeline
    scale, shift = diagonal_affine(affine, booster.name)
    if data is not None:
        data = check_booster_input(booster, data, feature_names=feature_names_of(record))
        if data.shape[0] == 0:
            data = None
    if cells == "data" and data is None:
        raise ValueError('cells="data" needs data: pass data=X, or use cells="all".')
    domain = resolve_domain(domain, data, booster.n_features)
    if booster.check_domain is not None:  # its rules are on the booster's own features
        booster.check_domain(domain if scale is None else
                             Box(scale * domain.lo + shift, scale * domain.hi + shift))
    n_outside = 0 if data is None else int((~domain.contains(data)).sum())

    leaves_of = BoosterLeaves(model, reader, booster, transform)
    part = partition_trees(booster.trees, leaves_of, domain=domain, data=data, cells=cells,
                           record=record, n_outside=n_outside, progress=progress, tol=tol,
                           max_cells=max_cells, scale=scale, shift=shift, name=booster.name,
                           transform=transform)
    centers = part.cells[vector_columns("center", booster.n_features)].to_numpy()
    if len(centers):
        Z = centers if transform is None else np.asarray(transform(centers), dtype=float)
        for column, values in booster.outputs(Z).items():
            part.cells[column] = np.asarray(values)
    return part
