"""Tree ensembles: the common refinement of every tree's leaf boxes.

A point's key is its tuple of leaves over all trees; its cell is the
intersection of those leaf boxes, a box. Supported: RandomForest*, ExtraTrees*,
GradientBoosting* and IsolationForest (trees on feature subsets,
``estimators_features_``); HistGradientBoosting* has its own reader
(:mod:`.hist_gradient_boosting`: its trees see the columns reordered).

``cells="data"`` groups the data by leaf tuple; ``cells="all"`` enumerates the
refinement tree by tree (each box descends the next tree, split at the
thresholds that cut it) and refuses, stating the estimated count, when it would
exceed ``max_cells``.
"""
from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from ..core import build_box_partition
from ._sklearn import add_predictions, check_fitted_model, model_name, prepare_inputs
from .pipeline import diagonal_affine
from .registry import register_adapter
from .trees import TreeArrays, leaf_boxes, pulled_back

__all__ = ["EnsembleLeaves", "LeafTupleLocator", "TupleLookup", "ensemble_trees",
           "partition_trees", "refine_boxes"]


def ensemble_trees(model) -> list[TreeArrays]:
    """The trees of a fitted ensemble as :class:`TreeArrays` over the input features."""
    name = model_name(model)
    if name.startswith("HistGradientBoosting"):
        raise TypeError(f"{name}'s trees index reordered columns; read them with "
                        "cellgeom.models.hist_gradient_boosting.read_hist_gradient_boosting.")
    if name == "IsolationForest":
        return [TreeArrays.from_sklearn(t, feats)
                for t, feats in zip(model.estimators_, model.estimators_features_)]
    estimators = np.asarray(model.estimators_, dtype=object).ravel()
    return [TreeArrays.from_sklearn(t) for t in estimators]


def refine_boxes(trees, domain, max_cells: int, progress=True, name="ensemble"):
    """All cells of the common refinement: ``(lo, hi, leaves)`` with leaves (m, T).

    Each current box descends the next tree level by level; at a node with
    feature f and threshold t it goes left if ``lo_f < t`` (clipped to
    ``hi_f = min(hi_f, t)``) and right if ``hi_f > t`` (``lo_f = max(lo_f, t)``).

    Raises
    ------
    ValueError
        When the count exceeds ``max_cells``; the message gives the estimate
        (current count times the mean growth per tree so far, to the power of the
        trees left, capped by the grid bound prod_f (thresholds on f + 1)).
    """
    n = domain.dim
    lo, hi = domain.lo[None, :].copy(), domain.hi[None, :].copy()
    leaves = np.zeros((1, 0), dtype=np.int64)
    grid = _grid_bound(trees, domain)
    bar = tqdm(trees, desc="refining trees", disable=not progress, leave=False)
    for t, tree in enumerate(bar):
        thr = tree.boundaries()  # where the model's own comparison changes side
        box = np.arange(lo.shape[0])
        node = np.zeros(box.size, dtype=np.int64)
        blo, bhi = lo.copy(), hi.copy()
        done_box, done_node, done_lo, done_hi = [], [], [], []
        while box.size:
            leaf = tree.left[node] < 0
            done_box.append(box[leaf])
            done_node.append(node[leaf])
            done_lo.append(blo[leaf])
            done_hi.append(bhi[leaf])
            box, node, blo, bhi = box[~leaf], node[~leaf], blo[~leaf], bhi[~leaf]
            f, th = tree.feature[node], thr[node]
            r = np.arange(box.size)
            go_l, go_r = blo[r, f] < th, bhi[r, f] > th
            llo, lhi = blo[go_l], bhi[go_l].copy()
            lhi[np.arange(llo.shape[0]), f[go_l]] = np.minimum(lhi[np.arange(llo.shape[0]),
                                                                   f[go_l]], th[go_l])
            rlo, rhi = blo[go_r].copy(), bhi[go_r]
            rlo[np.arange(rlo.shape[0]), f[go_r]] = np.maximum(rlo[np.arange(rlo.shape[0]),
                                                                   f[go_r]], th[go_r])
            box = np.concatenate([box[go_l], box[go_r]])
            node = np.concatenate([tree.left[node[go_l]], tree.right[node[go_r]]])
            blo, bhi = np.vstack([llo, rlo]), np.vstack([lhi, rhi])
        src = np.concatenate(done_box)
        lo, hi = np.vstack(done_lo).reshape(-1, n), np.vstack(done_hi).reshape(-1, n)
        leaves = np.column_stack([leaves[src], np.concatenate(done_node)])
        if lo.shape[0] > max_cells:
            bar.close()
            growth = (lo.shape[0] / 1.0) ** (1.0 / (t + 1))
            estimate = min(lo.shape[0] * growth ** (len(trees) - t - 1), grid)
            raise ValueError(
                f'cells="all" for this {name} would have about {estimate:.3g} cells (already '
                f"{lo.shape[0]} after {t + 1} of {len(trees)} trees; the threshold grid bounds it "
                f"by {grid:.3g}), more than max_cells={max_cells}. Use cells=\"data\", a smaller "
                "domain, or raise max_cells.")
    return lo, hi, leaves


def _grid_bound(trees, domain) -> float:
    """prod_f (distinct thresholds strictly inside the domain on axis f, + 1)."""
    total = 0.0
    for f in range(domain.dim):
        vals = []
        for tree in trees:
            sel = tree.feature == f
            thr = tree.boundaries()[sel]
            vals.append(thr[(thr > domain.lo[f]) & (thr < domain.hi[f])])
        total += np.log(np.unique(np.concatenate(vals)).size + 1) if vals else 0.0
    return float(np.exp(total))


class TupleLookup:
    """Map leaf tuples (rows) to cell indices by sorting byte views (no dict of tuples).

    A plain object of arrays, so partitions holding it pickle. Rows not among the
    cells' tuples map to -1.
    """

    def __init__(self, cell_leaves: np.ndarray):
        cl = np.ascontiguousarray(cell_leaves, dtype=np.int64)
        self.width = cl.shape[1]
        keys = cl.view(self._void()).ravel()
        self.order = np.argsort(keys)
        self.sorted_keys = keys[self.order]

    def _void(self):
        return np.dtype((np.void, 8 * self.width))

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        q = np.ascontiguousarray(rows, dtype=np.int64).view(self._void()).ravel()
        if len(self.order) == 0:
            return np.full(len(q), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.sorted_keys, q), len(self.order) - 1)
        return np.where(self.sorted_keys[pos] == q, self.order[pos], -1)


class LeafTupleLocator:
    """``locate`` of an ensemble's partition: each point's leaf tuple, looked up.

    Picklable when ``leaves_of`` is (the adapters pass plain objects, not closures).
    """

    def __init__(self, leaves_of, lookup: TupleLookup):
        self.leaves_of = leaves_of
        self.lookup = lookup

    def __call__(self, X) -> np.ndarray:
        return self.lookup(self.leaves_of(X))


class EnsembleLeaves:
    """``leaves_of`` of a scikit-learn ensemble: the leaf of each point in each tree,
    from the trees' own arrays (after the pipeline's ``transform``, if any)."""

    def __init__(self, trees, transform=None):
        self.trees = trees
        self.transform = transform

    def __call__(self, X) -> np.ndarray:
        Z = np.asarray(X if self.transform is None else self.transform(X), dtype=float)
        return np.column_stack([t.apply(Z) for t in self.trees])


_ENSEMBLES = [
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.ensemble._forest.ExtraTreesClassifier",
    "sklearn.ensemble._forest.ExtraTreesRegressor",
    "sklearn.ensemble._gb.GradientBoostingClassifier",
    "sklearn.ensemble._gb.GradientBoostingRegressor",
    "sklearn.ensemble._iforest.IsolationForest",
]


def partition_trees(trees, leaves_of, *, domain, data, cells, record, n_outside: int = 0,
                    progress: bool = True, tol=None, max_cells: int = 200_000,
                    scale=None, shift=None, name: str = "ensemble", transform=None):
    """Cells of any tree ensemble as a :class:`~cellgeom.models.trees.BoxPartition`.

    The one route shared by the scikit-learn ensembles and the boosting libraries.

    Parameters
    ----------
    trees : list of TreeArrays
        Every tree, thresholds in the model's input units.
    leaves_of : callable
        ``leaves_of(X) -> (N, T)`` int array, the node id (in ``trees[t]``'s numbering)
        of each point's leaf in each tree. It decides which cell a point is in (data
        grouping and ``locate``), so adapters pass the library's own leaf prediction.
    domain : Box
        Already resolved; ``data`` already checked (or None).
    cells : {"data", "all"}
    record : object
        The model stored on the partition.
    max_cells : int
        ``cells="all"`` refuses (ValueError with the estimated count) above this.
    scale, shift : arrays, optional
        A diagonal affine input map ``z = scale * x + shift`` in front of the trees.
    transform : callable, optional
        That map as the model computes it (a pipeline's leading steps): the boundaries
        are moved to where its rounding changes side (:func:`.trees.pulled_back`).

    Returns
    -------
    BoxPartition
        Without prediction columns; the caller adds its model's outputs.
    """
    if scale is not None:  # the trees in raw inputs, once
        trees = pulled_back(trees, scale, shift, transform, domain.center)
    if cells == "all":
        lo, hi, leaves = refine_boxes(trees, domain, max_cells, progress, name)
        keep = np.all(hi > lo, axis=1)
        n_dropped = int((~keep).sum())
        lo, hi, leaves = lo[keep], hi[keep], leaves[keep]
        counts = np.zeros(len(lo), dtype=np.int64)
        lookup = TupleLookup(leaves)
        if data is not None:
            inside = data[domain.contains(data)]
            if len(inside):
                found = lookup(leaves_of(inside))
                counts = np.bincount(found[found >= 0], minlength=len(lo))
    else:
        inside = data[domain.contains(data)]
        if len(inside) == 0:
            raise ValueError("No data point lies inside the domain box.")
        leaves, counts = np.unique(leaves_of(inside), axis=0, return_counts=True)
        lo = np.tile(domain.lo, (len(leaves), 1))
        hi = np.tile(domain.hi, (len(leaves), 1))
        for t, tree in enumerate(trees):
            node_lo, node_hi = leaf_boxes(tree, domain)
            # np.take on rows is about twice as fast as fancy indexing (500-tree boosters)
            np.maximum(lo, np.take(node_lo, leaves[:, t], axis=0), out=lo)
            np.minimum(hi, np.take(node_hi, leaves[:, t], axis=0), out=hi)
        keep = np.all(hi > lo, axis=1)  # float32 rounding can leave a data point's box empty
        n_dropped = int((~keep).sum())
        lo, hi, leaves, counts = lo[keep], hi[keep], leaves[keep], counts[keep]
        lookup = TupleLookup(leaves)
    keys = _leaf_keys(leaves)
    info = {"cells": cells, "n_dropped": n_dropped, "n_points_outside": n_outside,
            "n_trees": len(trees)}
    if tol is not None:
        info["tol"] = float(tol)
    return build_box_partition(domain=domain, keys=keys, lo=lo, hi=hi, counts=counts,
                               model=record, locator=LeafTupleLocator(leaves_of, lookup),
                               info=info)


def _leaf_keys(leaves: np.ndarray) -> list[str]:
    """Each row's node ids joined by "-", the cell keys.

    Node ids are rendered once each through a table: for 20,000 cells of 500 trees,
    ten million ``str(int)`` calls were a third of the partition's time. Rows go in
    blocks so the temporary lists of strings stay small.
    """
    if leaves.size == 0 or leaves.min() < 0:
        return ["-".join(map(str, row)) for row in leaves.tolist()]
    table = np.array([str(i) for i in range(int(leaves.max()) + 1)], dtype=object)
    block = max(1, 2_000_000 // leaves.shape[1])
    return ["-".join(row) for start in range(0, len(leaves), block)
            for row in table[leaves[start:start + block]].tolist()]


def _partition_ensemble(model, *, domain, data, cells, tol=None, n_jobs=None, executor=None,
                        progress=True, max_cells: int = 200_000, _affine=None, _model=None,
                        _transform=None):
    """Cells of a scikit-learn tree ensemble (see :func:`partition_trees`)."""
    record = model if _model is None else _model
    check_fitted_model(model)
    _check_constant_init(model)
    data, domain, n_outside = prepare_inputs(record, domain, data, cells)
    scale, shift = diagonal_affine(_affine, model_name(model))
    trees = ensemble_trees(model)
    leaves_of = EnsembleLeaves(trees, _transform)
    part = partition_trees(trees, leaves_of, domain=domain, data=data, cells=cells,
                           record=record, n_outside=n_outside, progress=progress, tol=tol,
                           max_cells=max_cells, scale=scale, shift=shift,
                           name=model_name(model), transform=_transform)
    add_predictions(part.cells, record, domain.dim)
    return part


def _check_constant_init(model) -> None:
    """GradientBoosting adds its trees to ``init_``'s prediction: cells are boxes only when
    that is a constant (the default DummyEstimator, or init="zero")."""
    init = getattr(model, "init_", None)
    if init is None or isinstance(init, str) or model_name(init).startswith("Dummy"):
        return
    raise ValueError(
        f"{model_name(model)} with init={model_name(init)}: its prediction is the init "
        "estimator's plus the trees', which is not constant on the trees' boxes. cellgeom "
        "supports the default init (a constant) or init='zero'.")


for _name in _ENSEMBLES:
    register_adapter(_name)(_partition_ensemble)
