"""Decision regions: cells merged by predicted class (unions of convex cells)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..core import Partition
from ._sklearn import final_estimator
from .registry import partition

__all__ = ["DecisionRegions", "decision_regions"]


@dataclass
class DecisionRegions:
    """The decision regions of a classifier inside a domain box.

    Attributes
    ----------
    partition : Partition
        The model's cells; ``partition.cells["prediction"]`` is each cell's class.
    region_of_cell : ndarray of int, shape (n_cells,)
        Row of ``regions`` that each cell belongs to.
    regions : DataFrame
        One row per predicted class: ``prediction``, ``volume`` (n-volume, sum of
        its cells' volumes), ``n_cells``, ``n_points``, ``n_components`` (connected
        pieces: cells joined across shared faces of positive area).
    boundaries : DataFrame
        One row per pair of classes that touch: ``class_a``, ``class_b`` (in the
        order of ``regions``), ``area`` ((n-1)-volume of their common boundary,
        sum of the faces between their cells), ``n_faces``.
    """

    partition: Partition
    region_of_cell: np.ndarray
    regions: pd.DataFrame
    boundaries: pd.DataFrame

    def locate(self, X) -> np.ndarray:
        """Region (row of ``regions``) of each point; -1 outside the partition."""
        cell = self.partition.locate(X)
        return np.where(cell >= 0, self.region_of_cell[np.maximum(cell, 0)], -1)


def _is_torch_module(model) -> bool:
    return any(c.__module__.startswith("torch.nn") for c in type(model).__mro__)


def decision_regions(model, domain=None, data=None, cells: str = "all",
                     progress: bool = True, classes=None, **kwargs) -> DecisionRegions:
    """Merge a classifier's cells by predicted class.

    Parameters
    ----------
    model : fitted classifier supported by :func:`cellgeom.partition`
    domain : Box or (lo, hi), optional
        Default: the padded bounding box of ``data``.
    data : array (N, n), optional
        Counted per region.
    cells : {"all", "data"}
        "all" (default) tiles the domain, so the region volumes add up to vol(X);
        "data" merges only the data-containing cells.
    classes : sequence, optional
        Torch classifiers: the class label of each output (default: the output index).
        The network's cells are refined by its arg-max comparisons (``output="classes"``),
        so every cell has one class.
    **kwargs
        Passed to :func:`cellgeom.partition`.

    Returns
    -------
    DecisionRegions
        Region volumes ``V_k = sum_{cells i with class k} vol_n(C_i)`` and boundary
        areas ``A_kl = sum_{faces (i, j), class(i)=k, class(j)=l} vol_{n-1}(F_ij)``.
    """
    torch_net = _is_torch_module(model)
    if torch_net:
        kwargs.setdefault("output", "classes")
    elif not hasattr(final_estimator(model), "classes_"):
        raise ValueError(f"decision_regions needs a classifier (with classes_, or a torch "
                         f"network with one output per class); {type(model).__name__} has none.")
    final = final_estimator(model)
    if isinstance(getattr(final, "classes_", None), list):  # scikit-learn's multi-output
        raise ValueError(
            f"decision_regions needs a single-output classifier; this "
            f"{type(final).__name__} predicts {len(final.classes_)} outputs. Its cells, with "
            "prediction_0, prediction_1, ... per output, come from cellgeom.partition.")
    part = partition(model, domain=domain, data=data, cells=cells, progress=progress, **kwargs)
    if "prediction" not in part.cells:
        raise ValueError(f"decision_regions needs one predicted class per cell; the cells of "
                         f"this {type(model).__name__} have no 'prediction' column.")
    pred = part.cells["prediction"].to_numpy()
    if torch_net and classes is not None:
        classes = np.asarray(classes)
        if classes.size <= pred.max(initial=0):
            raise ValueError(f"classes has {classes.size} labels, but the network has at least "
                             f"{int(pred.max()) + 1} outputs.")
        pred = classes[pred]
        part.cells["prediction"] = pred
    labels, region = np.unique(pred.astype(str) if pred.dtype == object else pred,
                               return_inverse=True)
    region = region.ravel().astype(np.int64)
    k = labels.size
    faces = part.faces
    inner = faces[faces["cell_b"] >= 0]
    a = region[inner["cell_a"].to_numpy(dtype=np.int64)]
    b = region[inner["cell_b"].to_numpy(dtype=np.int64)]
    vol = inner["volume"].to_numpy(dtype=float)
    same = a == b
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    ca = inner["cell_a"].to_numpy(dtype=np.int64)[same]
    cb = inner["cell_b"].to_numpy(dtype=np.int64)[same]
    m = part.n_cells
    _, comp = connected_components(coo_matrix((np.ones(ca.size), (ca, cb)), shape=(m, m)),
                                   directed=False)
    n_comp = np.array([np.unique(comp[region == r]).size for r in range(k)])
    regions = pd.DataFrame({
        "prediction": labels,
        "volume": np.bincount(region, weights=part.volumes, minlength=k),
        "n_cells": np.bincount(region, minlength=k),
        "n_points": np.bincount(region, weights=part.cells["n_points"].to_numpy(float),
                                minlength=k).astype(np.int64),
        "n_components": n_comp})
    lo, hi = np.minimum(a[~same], b[~same]), np.maximum(a[~same], b[~same])
    pair = lo * k + hi
    uniq, inv = np.unique(pair, return_inverse=True)
    boundaries = pd.DataFrame({
        "class_a": labels[uniq // k] if len(uniq) else labels[:0],
        "class_b": labels[uniq % k] if len(uniq) else labels[:0],
        "area": np.bincount(inv.ravel(), weights=vol[~same], minlength=uniq.size),
        "n_faces": np.bincount(inv.ravel(), minlength=uniq.size)})
    return DecisionRegions(part, region, regions, boundaries)
