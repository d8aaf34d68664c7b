"""Simplicial splines: refine a piecewise-constant model on its own complex (THEORY.md s. 5).

Given a fitted base model, its data-containing cells C_1..C_m and the per-cell
values y_i (mean response, or class frequencies, of the n_i training points in
cell i; with ``sample_weight``, n_i is the cell's total weight and y_i the weighted
mean, see :meth:`SimplicialSpline.fit`), the spline values solve

.. math:: f^* = \\arg\\min_f \\sum_i n_i \\lVert f_i - y_i \\rVert^2 + \\lambda\\, s\\, f^T P f,
          \\qquad (N + \\lambda s P) f = N y,

with ``N = diag(n_i)`` and the penalty ``P = K`` (order 1) or ``P = K D^{-1} K``
(order 2), ``K`` the extended Laplacian's stiffness and ``D = M_0`` the cell
volumes, i.e. ``f^T P f = <f, L^m f>_{M_0}`` with ``L = M_0^{-1} K``
(:func:`~cellgeom.analysis.laplacians.extended_laplacian`). The scale
``s = tr N / tr P`` makes ``lambda`` dimensionless (comparable across data sets);
``lambda_raw_ = lambda * s`` is the penalty weight in the units of ``P``.
lambda -> 0 gives the cell means on cells with data, lambda -> infinity the
n-weighted mean of each connected component.

Lambda by generalised cross-validation (default): over the training points,
``GCV = N_pts RSS / (N_pts - tr H)^2`` with ``tr H = tr((N + lambda s P)^{-1} N)`` (with
``sample_weight``: N_pts the total weight and RSS weighted, the GCV of the data with each
point repeated by its weight; see :meth:`SimplicialSpline.fit`). Up to
``dense_limit`` cells it is exact for every lambda from one generalised
eigendecomposition of ``(P, N + P)``; above, each lambda costs one sparse LU
(the fill-reducing column order of the first is reused for all others) and
``tr H`` is a Hutchinson estimate with fixed Rademacher probes.

Prediction blends continuously (:mod:`cellgeom.analysis.spline_blending`): a partition of
unity over the cells whose transition band has half-width ``tau/2`` around every face, so the
refined model is continuous and equals the cell's smoothed value at depth ``>= tau/2`` in
its cell. The default ``tau`` (:func:`~cellgeom.analysis.spline_blending.default_width`)
keeps at least 90% of the volume of every cell at least as thick as the median cell
outside that band: with ``lambda -> 0`` the refined model is the cell means there.
The linear algebra of the lambda path is in :mod:`cellgeom.analysis.spline_solvers`.
"""
from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from sklearn.base import BaseEstimator, clone, is_regressor
from sklearn.metrics import accuracy_score, r2_score
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils import ClassifierTags, RegressorTags, Tags

# scikit-learn keeps its parameter-constraint classes in this module and has no public home
# for them; _parameter_constraints + BaseEstimator._validate_params is how its own estimators
# validate. The only other private name used is _check_sample_weight: sklearn's own check of
# sample weights (length, 1-D, finite, >= 0, not all zero), the one its estimators call
from sklearn.utils._param_validation import Hidden, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    has_fit_parameter,
    validate_data,
)

from ..complex import build_complex
from ..models import partition
from ._deprecation import warn_renamed
from .laplacians import extended_stiffness, vertex_measure
from .spline_blending import CellBlender, default_width
from .spline_solvers import DenseSolver, SparseSolver, fit_rss

__all__ = ["SimplicialSpline"]

_DEPRECATED = Hidden(StrOptions({"deprecated"}))

#: the base model when none is given: a tree whose every cell holds training weight at least
#: 5 (5 training points with unit weights), so each cell mean averages several responses
DEFAULT_MIN_LEAF_WEIGHT = 5
DEFAULT_MIN_SAMPLES_LEAF = DEFAULT_MIN_LEAF_WEIGHT  # former name


class SimplicialSpline(BaseEstimator):
    """A model refined by a simplicial spline on the nerve of its cells.

    Parameters
    ----------
    base_model : estimator, optional
        A model that :func:`cellgeom.partition` supports (trees, forests, gradient
        boosting, k-means, arrangements, ...). Fitted on ``(X, y)`` in ``fit`` (a
        clone, with the ``sample_weight`` given to ``fit``) unless ``prefit=True``.
        None: a ``DecisionTreeRegressor`` (or ``DecisionTreeClassifier`` for
        ``task="classification"``) whose every leaf holds training weight >= 5
        (``min_weight_fraction_leaf = 5 / sum(w)``; the same trees as
        ``min_samples_leaf=5`` on unweighted data).
    lam : "gcv" or float >= 0
        Dimensionless smoothing weight (see the module docstring) or "gcv".
    order : {1, 2}
        Penalty ``<f, L f>`` or ``<f, L^2 f>`` in the M_0 inner product.
    simplex_weight : sequence or dict, optional
        Weights ``w_p`` of the higher-simplex terms of the extended Laplacian
        (:func:`~cellgeom.analysis.laplacians.extended_stiffness`).
    tau : float > 0, optional
        Blending width (input units): the refined model blends neighbouring cell values
        within ``tau/2`` of each face and is the cell's value deeper inside. None:
        :func:`~cellgeom.analysis.spline_blending.default_width`, which keeps 90% of the
        volume of every cell at least as thick as the median cell unblended.
    prefit : bool
        Use ``base_model`` as it is, already fitted.
    task : {"auto", "classification", "regression"}
        "auto": regression for regressors and for ``base_model=None``, classification
        for classifiers and for models that are neither classifier nor regressor
        (clusterers such as k-means: "k-means as classifier").
    edge_weight : {"flux", "face"}
        Edge weights of the cell Laplacian.
    cells : {"data", "all"}
        Which cells the partition builds.
    domain : Box or (lo, hi), optional
        Domain box; default the padded bounding box of the training data.
    n_lambdas : int >= 1
        Size of the log-spaced GCV grid over ``lambda_range``.
    lambda_range : (float, float)
        ``(lo, hi)`` with ``0 < lo < hi``.
    dense_limit : int >= 0
        Largest number of cells for the exact (dense) GCV path.
    progress : bool
        Show progress bars (partition, GCV path).
    dim_weights, weights : deprecated
        Old names of ``simplex_weight`` and ``edge_weight`` (FutureWarning; removed in 0.3).

    Attributes
    ----------
    base_model_ : fitted base model
    partition_ : Partition
    complex_ : RiemannianComplex
    cell_values_ : ndarray (n_cells, n_outputs)
        Smoothed values (class probabilities for classifiers).
    cell_means_ : ndarray (n_cells, n_outputs)
        Raw per-cell means (NaN in cells without data).
    counts_ : ndarray (n_cells,)
        Training weight of each cell (its number of training points when unweighted).
    lambda_, lambda_raw_ : float
    tau_ : float
        The blending width used.
    gcv_path_ : DataFrame (lambda, gcv, edf) or None
    classes_ : ndarray (classifiers)
    n_features_in_ : int
    """

    _parameter_constraints: dict = {
        # partition() checks that the model is supported and names what is accepted
        "base_model": "no_validation",
        "lam": [StrOptions({"gcv"}), Interval(Real, 0, None, closed="left")],
        "order": [Interval(Integral, 1, 2, closed="both")],
        "simplex_weight": [None, dict, "array-like"],
        "tau": [None, Interval(Real, 0, None, closed="neither")],
        "prefit": ["boolean"],
        "task": [StrOptions({"auto", "classification", "regression"})],
        "edge_weight": [StrOptions({"flux", "face"})],
        "cells": [StrOptions({"data", "all"})],
        "domain": "no_validation",  # partition() checks the box
        "n_lambdas": [Interval(Integral, 1, None, closed="left")],
        "lambda_range": [tuple, list],
        "dense_limit": [Interval(Integral, 0, None, closed="left")],
        "progress": ["boolean"],
        "dim_weights": [_DEPRECATED, None, dict, "array-like"],
        "weights": [_DEPRECATED, StrOptions({"flux", "face"})],
    }

    def __init__(self, base_model=None, lam="gcv", order=1, simplex_weight=None, tau=None,
                 prefit=False, task="auto", edge_weight="flux", cells="data", domain=None,
                 n_lambdas=25, lambda_range=(1e-6, 1e4), dense_limit=2000, progress=False,
                 dim_weights="deprecated", weights="deprecated"):
        self.base_model = base_model
        self.lam = lam
        self.order = order
        self.simplex_weight = simplex_weight
        self.tau = tau
        self.prefit = prefit
        self.task = task
        self.edge_weight = edge_weight
        self.cells = cells
        self.domain = domain
        self.n_lambdas = n_lambdas
        self.lambda_range = lambda_range
        self.dense_limit = dense_limit
        self.progress = progress
        self.dim_weights = dim_weights
        self.weights = weights

    # -- scikit-learn plumbing -------------------------------------------------------------
    def _task(self) -> str:
        if self.task in ("classification", "regression"):
            return self.task
        if self.base_model is None or is_regressor(self.base_model):
            return "regression"
        return "classification"

    def _is_classifier(self) -> bool:
        return self._task() == "classification"

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        if self._is_classifier():
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags()
        else:
            tags.estimator_type = "regressor"
            tags.regressor_tags = RegressorTags()
            tags.target_tags.multi_output = True  # a 2-D y smooths every column
        tags.target_tags.required = True
        return tags

    def _check_params(self):
        """scikit-learn's check of ``_parameter_constraints``, plus what it cannot express."""
        self._validate_params()
        if self.prefit and self.base_model is None:
            raise ValueError("prefit=True needs a fitted base_model; got base_model=None.")
        try:
            lo, hi = (float(v) for v in self.lambda_range)
        except (TypeError, ValueError):
            lo = hi = np.nan
        if not (0 < lo < hi < np.inf):
            raise ValueError(f"lambda_range must be (lo, hi) with 0 < lo < hi, got "
                             f"{self.lambda_range!r}.")
        simplex_weight, edge_weight = self.simplex_weight, self.edge_weight
        if not (isinstance(self.dim_weights, str) and self.dim_weights == "deprecated"):
            warn_renamed("SimplicialSpline", "dim_weights", "simplex_weight", stacklevel=3)
            simplex_weight = self.dim_weights
        if not (isinstance(self.weights, str) and self.weights == "deprecated"):
            warn_renamed("SimplicialSpline", "weights", "edge_weight", stacklevel=3)
            edge_weight = self.weights
        return (lo, hi), simplex_weight, edge_weight

    def _base_estimator(self, total_weight: float):
        if self.base_model is not None:
            return self.base_model
        tree = DecisionTreeClassifier if self._is_classifier() else DecisionTreeRegressor
        return tree(random_state=0, **_min_leaf_weight(total_weight))

    def _fit_base(self, X, y, w):
        """The fitted base model: as given (prefit), or a clone fitted with the weights."""
        if self.prefit:
            return self.base_model
        base = clone(self._base_estimator(len(X) if w is None else float(np.sum(w))))
        if w is None:
            return base.fit(X, y)
        if not has_fit_parameter(base, "sample_weight"):
            raise ValueError(f"sample_weight was given but {type(base).__name__}.fit takes no "
                             "sample_weight: fit the base model yourself and pass it with "
                             "prefit=True (the spline's smoothing still uses the weights).")
        return base.fit(X, y, sample_weight=w)

    # -- fit ----------------------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Fit the base model (unless prefit), build its complex and smooth the cell values.

        Parameters
        ----------
        X : array-like (n_samples, n_features)
        y : array-like (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like (n_samples,), optional
            Non-negative frequency weights (scikit-learn's convention): an integer weight
            is the same as repeating the sample, a zero weight the same as dropping it
            (from the base model's fit, the default domain and the cells built too).
            With weights ``w_k`` and cell ``c(k)`` of point k, ``N = diag(n_i)`` holds the
            cell weights ``n_i = sum_{c(k)=i} w_k``, the cell values are the weighted
            means ``y_i = sum_{c(k)=i} w_k y_k / n_i``, and the spline solves
            ``(N + lambda s P) f = N y`` with ``s = tr N / tr P``. GCV becomes

            ``GCV = n_w RSS_w / (n_w - tr H)^2``, ``n_w = sum_k w_k``,
            ``RSS_w = sum_k w_k ||y_k - f_c(k)||^2
            = sum_k w_k ||y_k - y_c(k)||^2 + sum_i n_i ||y_i - f_i||^2``,
            ``tr H = tr((N + lambda s P)^{-1} N)``:

            for integer weights the repeated data set has ``n_w`` points, its point hat
            matrix ``E A^{-1} E^T`` (E the point-to-cell incidence) has trace
            ``tr(A^{-1} E^T E) = tr(A^{-1} N)`` and its residual sum of squares is
            ``RSS_w``, so this is the unweighted GCV of the repeated data, written for
            real weights. Hence the scale of the weights matters wherever a count does:
            ``w -> c w`` leaves the fit at a fixed ``lam`` unchanged (N, s and the
            penalty all scale by c), but GCV then sees ``c`` times as many samples (as
            it would c copies of the data) and the default tree needs weight 5 per leaf.
            Weights normalised to sum 1 thus read as one sample: pass a fixed ``lam``
            (and a base model) in that case.

        Returns
        -------
        self
        """
        lambda_range, simplex_weight, edge_weight = self._check_params()
        clf = self._is_classifier()
        # float64 throughout: the geometry is computed in float64 and fitting the base model
        # on the same array keeps its predict() consistent with the points it is asked about
        X, y = validate_data(self, X, y, multi_output=not clf, y_numeric=not clf,
                             dtype=np.float64)
        w = None
        if sample_weight is not None:
            w = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                     ensure_non_negative=True)
            keep = w > 0  # a zero weight is a dropped sample, everywhere
            X, y, w = X[keep], y[keep], w[keep]
        if clf:
            check_classification_targets(y)
            self.classes_, y_idx = np.unique(y, return_inverse=True)
            Y = np.eye(len(self.classes_))[y_idx]
        else:
            Y = np.asarray(y, dtype=float)
            Y = Y[:, None] if Y.ndim == 1 else Y
        self._y_1d = clf or np.ndim(y) == 1
        self.base_model_ = self._fit_base(X, y, w)
        part = partition(self.base_model_, domain=self.domain, data=X, cells=self.cells,
                         progress=self.progress)
        max_dim = 1
        if simplex_weight is not None:
            keys = simplex_weight.keys() if isinstance(simplex_weight, dict) else \
                range(2, 2 + len(np.atleast_1d(simplex_weight)))
            max_dim = max([1, *keys])
        cx = build_complex(part, max_dim=max_dim, progress=self.progress)
        cell = part.locate(X)
        inside = cell >= 0
        if not np.any(inside):
            raise ValueError("no training point lies in a cell of the partition (check domain).")
        m = part.n_cells
        w_in = np.ones(int(inside.sum())) if w is None else w[inside]
        counts = np.bincount(cell[inside], weights=w_in, minlength=m)  # cell weights n_i
        # smoothing commutes with a shift (constants are in the stiffness's kernel): the
        # values are centred, so an offset of y (1e8 beside a spread of 1) costs no digits
        # in the solve or in the GCV's residuals
        offset = (Y[inside] * w_in[:, None]).sum(axis=0) / w_in.sum()
        Y = Y - offset
        sums = np.zeros((m, Y.shape[1]))
        np.add.at(sums, cell[inside], Y[inside] * w_in[:, None])
        K = extended_stiffness(cx, simplex_weight, edge_weight)
        if self.order == 2:
            K = sp.csr_matrix(K @ sp.diags(1.0 / vertex_measure(cx)) @ K)
        trK = float(K.diagonal().sum())
        scale = counts.sum() / trK if trK > 0 else 1.0
        P = sp.csr_matrix(K * scale)
        _check_components(cx, counts)
        solver = DenseSolver(P, counts) if m <= self.dense_limit else \
            SparseSolver(P, counts, seed=0)
        if isinstance(self.lam, str):
            with np.errstate(invalid="ignore", divide="ignore"):
                means = sums / counts[:, None]
            # the residuals about the cell means summed directly: the textbook
            # sum(y^2) - sum(sums^2 / n) cancels catastrophically
            within = float(np.sum(w_in[:, None] * (Y[inside] - means[cell[inside]]) ** 2))
            lam = self._gcv(solver, sums, counts, within, lambda_range)
        else:
            self.gcv_path_ = None
            lam = float(self.lam)
            if lam == 0 and np.any(counts == 0):
                raise ValueError("lam=0 leaves the cells without data undetermined; pass a "
                                 "positive lam (e.g. 1e-9) or 'gcv'.")
        f, _ = solver.solve(lam, sums)
        self.lambda_, self.lambda_raw_ = lam, lam * scale
        self.cell_values_ = f + offset
        with np.errstate(invalid="ignore", divide="ignore"):
            self.cell_means_ = np.where(counts[:, None] > 0, sums / counts[:, None] + offset,
                                        np.nan)
        self.counts_ = counts
        self.partition_, self.complex_ = part, cx
        self.tau_ = float(self.tau) if self.tau is not None else default_width(part)
        self._blender = CellBlender(part, self.tau_)
        return self

    def _gcv(self, solver, sums, counts, within, lambda_range) -> float:
        """Fill ``gcv_path_`` over the log grid and return the lambda of least GCV
        (``within``: the weighted residual sum of squares about the cell means; the
        number of samples is the total weight, see :meth:`fit`)."""
        n_pts = float(counts.sum())
        grid = np.geomspace(*lambda_range, int(self.n_lambdas))
        it = grid
        if self.progress:
            from tqdm.auto import tqdm
            it = tqdm(grid, desc="GCV path", leave=False)
        rows = []
        for lam in it:
            f, edf = solver.solve(lam, sums)
            rss = within + fit_rss(f, sums, counts)
            gcv = n_pts * rss / (n_pts - edf) ** 2 if n_pts - edf > 1e-9 else np.inf
            rows.append((lam, gcv, edf))
        self.gcv_path_ = pd.DataFrame(rows, columns=["lambda", "gcv", "edf"])
        return float(grid[int(np.argmin(self.gcv_path_["gcv"].to_numpy()))])

    def __getstate__(self):
        # arrangement, network, Voronoi and linear partitions pickle with their locators;
        # the box partitions of trees and boosters still hold a closure, and those are
        # pickled without it (Partition.locate then uses the generic half-space location)
        state = self.__dict__.copy()
        part = state.get("partition_")
        if part is not None and getattr(part, "_locator", None) is not None:
            import copy
            import pickle

            try:
                pickle.dumps(part._locator)
            except (pickle.PicklingError, AttributeError, TypeError):
                part = copy.copy(part)
                part._locator = None
                cx = copy.copy(state["complex_"])
                cx.partition = part
                state["partition_"], state["complex_"] = part, cx
        return state

    # -- prediction -----------------------------------------------------------------------------
    def _values(self, X):
        check_is_fitted(self, "cell_values_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self._blender(X, self.cell_values_)

    def predict(self, X):
        """Refined prediction: class labels (classifiers) or the blended smoothed value."""
        V = self._values(X)
        if self._is_classifier():
            return self.classes_[np.argmax(V, axis=1)]
        return V[:, 0] if self._y_1d else V

    @available_if(lambda self: self._is_classifier())
    def predict_proba(self, X):
        """Blended smoothed class frequencies, clipped at 0 and renormalised to sum 1."""
        V = np.clip(self._values(X), 0.0, None)
        s = V.sum(axis=1, keepdims=True)
        return np.where(s > 0, V / np.where(s > 0, s, 1.0), 1.0 / V.shape[1])

    def score(self, X, y, sample_weight=None):
        """Accuracy (classifiers) or R^2 (regressors)."""
        pred = self.predict(X)
        if self._is_classifier():
            return accuracy_score(y, pred, sample_weight=sample_weight)
        return r2_score(y, pred, sample_weight=sample_weight)


def _min_leaf_weight(total: float, k: float = DEFAULT_MIN_LEAF_WEIGHT) -> dict:
    """Tree parameters for "every leaf holds weight >= k" given the total training weight:
    ``min_weight_fraction_leaf = k / total``, nudged down so that ``fraction * total <= k``
    in floating point (a leaf of weight exactly k stays allowed). On unit weights these
    grow the same trees as ``min_samples_leaf=k``; with integer weights, the same trees as
    on repeated samples. Below ``2 k`` no split can leave k on both sides: a single leaf
    (``min_impurity_decrease`` at the largest float, the fraction at its maximum 0.5)."""
    if total < 2 * k:
        return {"min_weight_fraction_leaf": 0.5,
                "min_impurity_decrease": float(np.finfo(float).max)}
    frac = k / total
    while frac * total > k:
        frac = float(np.nextafter(frac, 0.0))
    return {"min_weight_fraction_leaf": frac}


def _check_components(cx, counts):
    """Every connected component of the nerve needs training data, or its values are free."""
    m = len(counts)
    E = cx.simplices(1) if cx.dim >= 1 else np.zeros((0, 2), dtype=np.int64)
    A = sp.coo_matrix((np.ones(len(E)), (E[:, 0], E[:, 1])), shape=(m, m))
    ncomp, labels = connected_components(A, directed=False)
    has = np.bincount(labels, weights=counts, minlength=ncomp) > 0
    if not np.all(has):
        raise ValueError(f"{int((~has).sum())} connected component(s) of the complex hold no "
                         "training data: their values are undetermined.")
