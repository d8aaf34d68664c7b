"""Linear classifiers: the arg-max cells of the class scores.

Scores ``s_k(z) = w_k . z + b_k``. Multi-class (K > 2): cell k is
``{z : s_k >= s_j for all j}``, rows ``(w_j - w_k) . z <= b_k - b_j`` with label j.
Binary (one score s): cell "1" is ``{s >= 0}`` (row ``-w . z <= b``, label 0) and
cell "0" is ``{s <= 0}`` (row ``w . z <= -b``, label 1). Keys are class indices
into ``classes_``; through a pipeline ``z = T x + c`` the rows are pulled back.
"""
from __future__ import annotations

import numpy as np

from ._sklearn import add_predictions, check_fitted_model, prepare_inputs
from .polytopes import integer_keyed_partition
from .registry import register_adapter

__all__ = ["linear_scores", "LargestScore"]


def linear_scores(model) -> tuple[np.ndarray, np.ndarray]:
    """``(W, b)`` of the decision function, shapes (K or 1, n) and (K or 1,)."""
    W = np.atleast_2d(np.asarray(model.coef_, dtype=float))
    b = np.broadcast_to(np.asarray(model.intercept_, dtype=float), (W.shape[0],)).copy()
    return W, b


_LINEAR = ["sklearn.linear_model._logistic.LogisticRegression",
           "sklearn.svm._classes.LinearSVC",
           "sklearn.linear_model._stochastic_gradient.SGDClassifier",
           "sklearn.linear_model._perceptron.Perceptron",
           "sklearn.linear_model._ridge.RidgeClassifier"]


class LargestScore:
    """Class index of each point: the largest affine score ``W x + b`` (for one score row,
    the binary rule ``score > 0``). A plain object, so partitions pickle."""

    def __init__(self, W: np.ndarray, b: np.ndarray):
        self.W, self.b = np.asarray(W, dtype=float), np.asarray(b, dtype=float)

    def __call__(self, X) -> np.ndarray:
        s = np.asarray(X, dtype=float) @ self.W.T + self.b
        return (s[:, 0] > 0).astype(np.int64) if s.shape[1] == 1 else np.argmax(s, axis=1)


def _partition_linear(model, *, domain, data, cells, progress=True, tol=None, n_jobs=None,
                      executor=None, volume="auto", exact_dim=6, _affine=None, _model=None,
                      _transform=None):
    """Arg-max cells of a linear classifier; ``volume`` and ``exact_dim`` as for every
    polytope model (:func:`cellgeom.models.polytopes.build_polytope_partition`)."""
    record = model if _model is None else _model
    check_fitted_model(model)
    data, domain, n_outside = prepare_inputs(record, domain, data, cells)
    Wz, bz = linear_scores(model)
    nz = Wz.shape[1]
    T, c = _affine if _affine is not None else (np.eye(nz), np.zeros(nz))
    W, b = Wz @ T, Wz @ c + bz  # scores as functions of the raw input x
    binary = W.shape[0] == 1
    n_classes = 2 if binary else W.shape[0]

    class_of = LargestScore(W, b)

    def constraints(keys, origin=None):
        # rows around the origin o: the scores s(o) = W o + b take the place of b
        s0 = b if origin is None else W @ np.asarray(origin, dtype=float) + b
        out = []
        for key in keys:
            k = int(key)
            if binary:
                sign = -1.0 if k == 1 else 1.0
                out.append((sign * W, np.array([-sign * s0[0]]), np.array([1 - k])))
            else:
                j = np.delete(np.arange(n_classes), k)
                A, rhs = W[j] - W[k], s0[k] - s0[j]
                # a class whose scores repeat an earlier class's exactly never wins: argmax
                # takes the first; its rows 0 x <= 0 would hold everywhere (a second copy of
                # the cell), so it gets the infeasible 0 x <= -1
                tied = (j < k) & ~A.any(axis=1) & (rhs == 0)
                out.append((A, np.where(tied, -1.0, rhs), j))
        return out

    part, cls = integer_keyed_partition(
        class_of, n_classes, domain, data, cells, constraints=constraints, model=record, tol=tol,
        progress=progress, n_jobs=n_jobs, executor=executor, volume=volume,
        exact_dim=exact_dim, info={"n_points_outside": n_outside})
    part.cells["class_index"] = cls
    add_predictions(part.cells, record, domain.dim)
    return part


for _name in _LINEAR:
    register_adapter(_name)(_partition_linear)
