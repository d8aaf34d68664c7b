"""Simplicial splines: refine a piecewise-constant model on its own complex (THEORY.md s. 5).

Given a fitted base model, its data-containing cells C_1..C_m and the per-cell
values y_i (mean response, or class frequencies, of the n_i training points in
cell i), the spline values solve

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
``GCV = N_pts RSS / (N_pts - tr H)^2`` with ``tr H = tr((N + lambda s P)^{-1} N)``. Up to
``dense_limit`` cells it is exact for every lambda from one generalised
eigendecomposition of ``(P, N + P)``; above, each lambda costs one sparse LU
(the fill-reducing column order of the first is reused for all others) and
``tr H`` is a Hutchinson estimate with fixed Rademacher probes.

Prediction blends continuously. With ``R_c`` the circumradius of cell c about its
centroid ``z_c``, let ``sd_c(x) = max(max_F (nu_F . x - b_F), |x - z_c| - R_c)``: the
largest facet violation (<= 0 inside c, 0 on its boundary), raised by a
distance lower bound so that far cells never count; and
``g_c(x) = smoothstep((tau/2 - sd_c(x)) / tau)`` (1 at sd <= -tau/2, 1/2 on the
boundary, 0 at sd >= tau/2). The refined model is
``u(x) = sum_c g_c(x) f_c / sum_c g_c(x)``, a partition of unity over the cells.
A ball query on the centroids (radius max R_c + tau/2) finds every cell with
``g_c(x) > 0``, so the sum is complete. Inside its own cell ``g >= 1/2``, so the
denominator never vanishes; each ``g_c`` is continuous, so u is continuous across
every shared face (on it, the average of the two sides when nothing else is near).
Deep in a cell u is the cell's value. Points farther than tau/2 (in sd) from every
cell, in gaps of a cells="data" partition, take the value of the cell with the
nearest centroid, so u may jump at faces towards cells outside the partition.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone, is_regressor
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils import ClassifierTags, RegressorTags
from sklearn.utils._tags import Tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ..complex import build_complex
from ..core import vector_columns
from ..models import partition
from ._deprecation import warn_renamed
from .laplacians import extended_stiffness, vertex_measure
from .spline_solvers import DenseSolver, SparseSolver, fit_rss

__all__ = ["SimplicialSpline"]


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


class SimplicialSpline(BaseEstimator):
    """A model refined by a simplicial spline on the nerve of its cells.

    Parameters
    ----------
    base_model : estimator
        A model that :func:`cellgeom.partition` supports (trees, forests, gradient
        boosting, k-means, arrangements, ...). Fitted on ``(X, y)`` in ``fit`` (a
        clone) unless ``prefit=True``.
    lam : "gcv" or float
        Dimensionless smoothing weight (see the module docstring) or "gcv".
    order : {1, 2}
        Penalty ``<f, L f>`` or ``<f, L^2 f>`` in the M_0 inner product.
    simplex_weight : sequence or dict, optional
        Weights ``w_p`` of the higher-simplex terms of the extended Laplacian
        (:func:`~cellgeom.analysis.laplacians.extended_stiffness`).
    tau : float, optional
        Transition width of the blending (input units); None: the median
        Chebyshev inradius of the cells.
    prefit : bool
        Use ``base_model`` as it is, already fitted.
    task : {"auto", "classification", "regression"}
        "auto": classification for classifiers and for models that are neither
        classifier nor regressor (clusterers such as k-means: "k-means as
        classifier"), regression for regressors.
    edge_weight : {"flux", "face"}
        Edge weights of the cell Laplacian.
    cells : {"data", "all"}
        Which cells the partition builds.
    domain : Box or (lo, hi), optional
        Domain box; default the padded bounding box of the training data.
    n_lambdas : int
        Size of the log-spaced GCV grid over ``lambda_range``.
    lambda_range : (float, float)
    dense_limit : int
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
    lambda_, lambda_raw_ : float
    gcv_path_ : DataFrame (lambda, gcv, edf) or None
    classes_ : ndarray (classifiers)
    n_features_in_ : int
    """

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
        self.dim_weights = dim_weights
        self.weights = weights
        self.cells = cells
        self.domain = domain
        self.n_lambdas = n_lambdas
        self.lambda_range = lambda_range
        self.dense_limit = dense_limit
        self.progress = progress

    # -- scikit-learn plumbing -------------------------------------------------------------
    def _task(self) -> str:
        if self.task not in ("auto", "classification", "regression"):
            raise ValueError(f"task must be 'auto', 'classification' or 'regression', got "
                             f"{self.task!r}.")
        if self.task != "auto":
            return self.task
        return "regression" if is_regressor(self.base_model) else "classification"

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

    def _validate_params(self):
        if self.base_model is None:
            raise ValueError("SimplicialSpline needs a base_model (e.g. a DecisionTreeRegressor "
                             "or a cellgeom.HyperplaneArrangement); got None.")
        if not (isinstance(self.lam, str) and self.lam == "gcv"):
            if isinstance(self.lam, str) or not np.isfinite(self.lam) or self.lam < 0:
                raise ValueError(f"lam must be 'gcv' or a finite number >= 0, got {self.lam!r}.")
        if self.order not in (1, 2):
            raise ValueError(f"order must be 1 or 2, got {self.order!r}.")
        if self.tau is not None and (not np.isfinite(self.tau) or self.tau <= 0):
            raise ValueError(f"tau must be a positive number or None, got {self.tau!r}.")
        lo, hi = self.lambda_range
        if not (0 < lo < hi < np.inf):
            raise ValueError(f"lambda_range must be (lo, hi) with 0 < lo < hi, got "
                             f"{self.lambda_range!r}.")
        if int(self.n_lambdas) < 1:
            raise ValueError(f"n_lambdas must be >= 1, got {self.n_lambdas!r}.")
        self._task()

    def _renamed_params(self):
        """(simplex_weight, edge_weight), taking the deprecated names when they were set."""
        simplex_weight, edge_weight = self.simplex_weight, self.edge_weight
        if not (isinstance(self.dim_weights, str) and self.dim_weights == "deprecated"):
            warn_renamed("SimplicialSpline", "dim_weights", "simplex_weight", stacklevel=3)
            simplex_weight = self.dim_weights
        if not (isinstance(self.weights, str) and self.weights == "deprecated"):
            warn_renamed("SimplicialSpline", "weights", "edge_weight", stacklevel=3)
            edge_weight = self.weights
        return simplex_weight, edge_weight

    # -- fit ----------------------------------------------------------------------------------
    def fit(self, X, y):
        """Fit the base model (unless prefit), build its complex and smooth the cell values.

        Returns
        -------
        self
        """
        self._validate_params()
        simplex_weight, edge_weight = self._renamed_params()
        clf = self._is_classifier()
        X, y = validate_data(self, X, y, multi_output=not clf, y_numeric=not clf)
        if clf:
            check_classification_targets(y)
            self.classes_, y_idx = np.unique(y, return_inverse=True)
            Y = np.eye(len(self.classes_))[y_idx]
        else:
            Y = np.asarray(y, dtype=float)
            Y = Y[:, None] if Y.ndim == 1 else Y
        self._y_1d = clf or np.ndim(y) == 1
        if self.prefit:
            self.base_model_ = self.base_model
        else:
            self.base_model_ = clone(self.base_model).fit(X, y)
        part = partition(self.base_model_, domain=self.domain, data=X, cells=self.cells,
                                  progress=self.progress)
        max_dim = 1
        if simplex_weight is not None:
            keys = simplex_weight.keys() if isinstance(simplex_weight, dict) else \
                range(2, 2 + len(np.atleast_1d(simplex_weight)))
            max_dim = max([1, *keys])
        cx = build_complex(part, max_dim=max_dim)
        cell = part.locate(X)
        inside = cell >= 0
        if not np.any(inside):
            raise ValueError("no training point lies in a cell of the partition (check domain).")
        m = part.n_cells
        counts = np.bincount(cell[inside], minlength=m).astype(float)
        sums = np.zeros((m, Y.shape[1]))
        np.add.at(sums, cell[inside], Y[inside])
        within = float(np.sum(Y[inside] ** 2) - np.sum(sums[counts > 0] ** 2 /
                                                      counts[counts > 0, None]))
        K = extended_stiffness(cx, simplex_weight, edge_weight)
        if self.order == 2:
            K = sp.csr_matrix(K @ sp.diags(1.0 / vertex_measure(cx)) @ K)
        trK = float(K.diagonal().sum())
        scale = counts.sum() / trK if trK > 0 else 1.0
        P = sp.csr_matrix(K * scale)
        self._check_components(cx, counts)
        solver = DenseSolver(P, counts) if m <= self.dense_limit else \
            SparseSolver(P, counts, seed=0)
        n_pts = float(counts.sum())
        if isinstance(self.lam, str):
            grid = np.geomspace(*self.lambda_range, int(self.n_lambdas))
            rows = []
            it = grid
            if self.progress:
                from tqdm.auto import tqdm
                it = tqdm(grid, desc="GCV path", leave=False)
            for lam in it:
                f, edf = solver.solve(lam, sums)
                rss = within + fit_rss(f, sums, counts)
                gcv = n_pts * rss / (n_pts - edf) ** 2 if n_pts - edf > 1e-9 else np.inf
                rows.append((lam, gcv, edf))
            self.gcv_path_ = pd.DataFrame(rows, columns=["lambda", "gcv", "edf"])
            lam = float(grid[int(np.argmin(self.gcv_path_["gcv"].to_numpy()))])
        else:
            self.gcv_path_ = None
            lam = float(self.lam)
            if lam == 0 and np.any(counts == 0):
                raise ValueError("lam=0 leaves the cells without data undetermined; pass a "
                                 "positive lam (e.g. 1e-9) or 'gcv'.")
        f, _ = solver.solve(lam, sums)
        self.lambda_, self.lambda_raw_ = lam, lam * scale
        self.cell_values_ = f
        with np.errstate(invalid="ignore", divide="ignore"):
            self.cell_means_ = np.where(counts[:, None] > 0, sums / counts[:, None], np.nan)
        self.counts_ = counts
        self.partition_, self.complex_ = part, cx
        self._prepare_blending(part, cx)
        return self

    def __getstate__(self):
        # adapters may give the partition a locator closure, which cannot be pickled; the
        # pickled partition falls back to the generic half-space point location
        state = self.__dict__.copy()
        part = state.get("partition_")
        if part is not None and getattr(part, "_locator", None) is not None:
            import copy

            part = copy.copy(part)
            part._locator = None
            cx = copy.copy(state["complex_"])
            cx.partition = part
            state["partition_"], state["complex_"] = part, cx
        return state

    @staticmethod
    def _check_components(cx, counts):
        from scipy.sparse.csgraph import connected_components

        m = len(counts)
        E = cx.simplices(1) if cx.dim >= 1 else np.zeros((0, 2), dtype=np.int64)
        A = sp.coo_matrix((np.ones(len(E)), (E[:, 0], E[:, 1])), shape=(m, m))
        ncomp, labels = connected_components(A, directed=False)
        has = np.bincount(labels, weights=counts, minlength=ncomp) > 0
        if not np.all(has):
            raise ValueError(f"{int((~has).sum())} connected component(s) of the complex hold no "
                             "training data: their values are undetermined.")

    # -- prediction -----------------------------------------------------------------------------
    def _prepare_blending(self, part, cx):
        n = part.dim
        f = part.facets
        order = np.argsort(f["cell"].to_numpy(), kind="stable")
        self._normals = f[vector_columns("normal", n)].to_numpy()[order]
        self._offsets = f["offset"].to_numpy()[order]
        self._fptr = np.zeros(part.n_cells + 1, dtype=np.int64)
        np.cumsum(np.bincount(f["cell"].to_numpy(), minlength=part.n_cells), out=self._fptr[1:])
        self.tau_ = float(self.tau) if self.tau is not None else \
            float(np.median(part.cells["inradius"].to_numpy()))
        from scipy.spatial import cKDTree

        self._centroids = part.centroids
        is_box = isinstance(getattr(part, "lo", None), np.ndarray) and \
            isinstance(getattr(part, "hi", None), np.ndarray)
        self._box_lo = part.lo if is_box else None
        self._box_hi = part.hi if is_box else None
        self._radii = _cell_radii(part)
        self._kdtree = cKDTree(self._centroids)

    def _sd(self, X, pt, cand, budget: int = 4_000_000):
        """Largest facet violation sd_cand(x_pt), vectorised over (point, cell) pairs in
        blocks of at most ``budget`` floats; closed form for boxes."""
        out = np.empty(len(pt))
        n = X.shape[1]
        box = self._box_lo is not None
        lens_all = np.full(len(cand), 1) if box else self._fptr[cand + 1] - self._fptr[cand]
        per = n * (2 if box else max(1, int(lens_all.mean()) if len(cand) else 1))
        step = max(1, budget // per)
        for s in range(0, len(pt), step):
            p, c = pt[s:s + step], cand[s:s + step]
            if box:
                x = X[p]
                out[s:s + step] = np.maximum((self._box_lo[c] - x).max(axis=1),
                                             (x - self._box_hi[c]).max(axis=1))
                continue
            lens = lens_all[s:s + step]
            rows = _expand(self._fptr[c], lens)
            viol = np.einsum("ij,ij->i", self._normals[rows], X[np.repeat(p, lens)]) - \
                self._offsets[rows]
            out[s:s + step] = np.maximum.reduceat(viol, np.cumsum(lens) - lens)
        return out

    def _blend(self, X, chunk_pairs: int = 2_000_000):
        """u(x) = sum_c g_c(x) f_c / sum_c g_c(x) over every cell with g_c(x) > 0.

        g_c(x) > 0 needs sd_c(x) < tau/2, hence |x - centroid_c| < R_c + tau/2 (R_c the
        cell's circumradius about its centroid), so a ball query on the centroids finds
        every contributing cell: the sum is complete and u exactly continuous.
        """
        q = X.shape[0]
        out = np.zeros((q, self.cell_values_.shape[1]))
        if q == 0:
            return out
        half = 0.5 * self.tau_
        radius = float(self._radii.max()) + half
        step = max(1, int(chunk_pairs // max(1, self.partition_.n_cells)))
        for s in range(0, q, step):
            Xc = X[s:s + step]
            lists = self._kdtree.query_ball_point(Xc, r=radius, return_sorted=False)
            lens = np.fromiter((len(v) for v in lists), dtype=np.int64, count=len(lists))
            cand = np.fromiter((c for v in lists for c in v), dtype=np.int64,
                               count=int(lens.sum()))
            pt = np.repeat(np.arange(len(Xc)), lens)
            dist = np.linalg.norm(Xc[pt] - self._centroids[cand], axis=1)
            near = dist < self._radii[cand] + half
            pt, cand = pt[near], cand[near]
            sd = self._sd(Xc, pt, cand) if len(pt) else np.zeros(0)
            sd = np.maximum(sd, dist[near] - self._radii[cand])
            g = _smoothstep((half - sd) / self.tau_)
            den = np.bincount(pt, weights=g, minlength=len(Xc))
            num = np.zeros((len(Xc), out.shape[1]))
            np.add.at(num, pt, g[:, None] * self.cell_values_[cand])
            res = num / np.where(den > 0, den, 1.0)[:, None]
            empty = np.flatnonzero(den <= 0)
            if len(empty):
                # outside every cell by more than tau/2: value of the nearest centroid's cell
                _, nn = self._kdtree.query(Xc[empty], k=1)
                res[empty] = self.cell_values_[np.asarray(nn).ravel()]
            out[s:s + step] = res
        return out

    def _values(self, X):
        check_is_fitted(self, "cell_values_")
        X = validate_data(self, X, reset=False)
        return self._blend(np.asarray(X, dtype=float))

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


def _cell_radii(part) -> np.ndarray:
    """Circumradius of each cell about its centroid: from the vertices when known, in
    closed form for boxes (``lo_*``/``hi_*`` columns), else from the cell's bounding box
    (2n LPs per cell), which bounds it from above."""
    n, cen = part.dim, part.centroids
    lo_cols, hi_cols = vector_columns("lo", n), vector_columns("hi", n)
    radii = np.full(part.n_cells, np.nan)
    if part.has_vertices:
        for i in range(part.n_cells):
            ids = part.cell_vertex_ids(i)
            if len(ids) > n:
                radii[i] = np.linalg.norm(part.vertices[ids] - cen[i], axis=1).max()
    todo = np.flatnonzero(np.isnan(radii))
    if len(todo) == 0:
        return radii * (1 + 1e-9) + 1e-12 * part.domain.scale
    if isinstance(getattr(part, "lo", None), np.ndarray) and \
            isinstance(getattr(part, "hi", None), np.ndarray):
        lo, hi = part.lo[todo], part.hi[todo]  # box partitions (trees, forests)
    elif all(c in part.cells.columns for c in lo_cols + hi_cols):
        lo = part.cells[lo_cols].to_numpy()[todo]
        hi = part.cells[hi_cols].to_numpy()[todo]
    else:
        from scipy.optimize import linprog

        lo, hi = np.empty((len(todo), n)), np.empty((len(todo), n))
        for k, i in enumerate(todo):
            A, b = part.halfspaces(int(i))
            for j in range(n):
                e = np.zeros(n)
                e[j] = 1.0
                lo[k, j] = linprog(e, A_ub=A, b_ub=b, bounds=(None, None), method="highs").fun
                hi[k, j] = -linprog(-e, A_ub=A, b_ub=b, bounds=(None, None), method="highs").fun
    c = cen[todo]
    radii[todo] = np.linalg.norm(np.maximum(c - lo, hi - c), axis=1)
    return radii * (1 + 1e-9) + 1e-12 * part.domain.scale


def _expand(starts, lens):
    """Concatenated ranges starts[k] .. starts[k] + lens[k] - 1 (CSR row gathering)."""
    total = int(lens.sum())
    seg = np.repeat(np.cumsum(lens) - lens, lens)
    return np.repeat(starts, lens) + (np.arange(total) - seg)
