"""The leaf of every point in every tree of an ensemble, in one compiled pass.

Why: an adapter that asks the library for leaves tree by tree (one ``predict`` per tree,
as scikit-learn's HistGradientBoosting offers) pays Python and call overhead per tree,
hundreds of calls for a boosted model. The trees read as
:class:`~cellgeom.models.trees.TreeArrays` are concatenated once, and one kernel walks
every point down every tree with the comparison the trees declare (``<=``, or ``<`` when
``strict``, on ``float32(x)`` when ``float32``), so the leaves are those of
:meth:`TreeArrays.apply`, bit for bit.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

from .trees import TreeArrays

__all__ = ["ForestArrays"]


class ForestArrays:
    """The trees of an ensemble as one set of flat arrays.

    Parameters
    ----------
    trees : sequence of TreeArrays
        Every tree compares the same way (the same ``float32`` and ``strict`` flags), as
        the trees of one model do.

    Examples
    --------
    Two stumps on x0 <= 0.5 and x1 <= 0.25; leaves are each tree's own node ids:

    >>> import numpy as np
    >>> from cellgeom.models.trees import TreeArrays
    >>> stump = lambda f, t: TreeArrays(np.array([1, -1, -1]), np.array([2, -1, -1]),
    ...                                 np.array([f, -2, -2]), np.array([t, -2.0, -2.0]),
    ...                                 float32=False)
    >>> forest = ForestArrays([stump(0, 0.5), stump(1, 0.25)])
    >>> forest.leaves(np.array([[0.5, 0.3], [0.7, 0.1]])).tolist()
    [[1, 2], [2, 1]]
    """

    def __init__(self, trees: Sequence[TreeArrays]):
        trees = list(trees)
        flags = {(bool(t.float32), bool(t.strict)) for t in trees}
        if len(flags) > 1:
            raise ValueError("the trees of one forest must compare the same way (float32 and "
                             f"strict flags), got {sorted(flags)}.")
        self.float32, self.strict = flags.pop() if flags else (False, False)
        self.n_trees = len(trees)
        sizes = np.array([t.left.size for t in trees], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

        def cat(name: str, dtype) -> np.ndarray:
            parts = [np.asarray(getattr(t, name), dtype=dtype) for t in trees]
            return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

        self.left, self.right = cat("left", np.int64), cat("right", np.int64)
        self.feature, self.threshold = cat("feature", np.int64), cat("threshold", np.float64)

    def leaves(self, X: np.ndarray) -> np.ndarray:
        """Leaf node id (the tree's own numbering) of each row of ``X`` in each tree.

        Parameters
        ----------
        X : float array of shape (N, n)
            Finite points in the trees' input units.

        Returns
        -------
        int64 array of shape (N, n_trees)
        """
        X = np.asarray(X, dtype=np.float64)
        if self.float32:  # the model compares float32(x) with its (float32) threshold
            X = X.astype(np.float32).astype(np.float64)
        out = np.empty((X.shape[0], self.n_trees), dtype=np.int64)
        _walk(np.ascontiguousarray(X), self.left, self.right, self.feature, self.threshold,
              self.offsets, self.strict, out)
        return out


@njit(cache=True, nogil=True)
def _walk(X, left, right, feature, threshold, offsets, strict, out):  # pragma: no cover
    """``out[i, t]``: the leaf of point i in tree t, descending from the tree's root."""
    for i in range(X.shape[0]):
        for t in range(offsets.size - 1):
            base = offsets[t]
            node = 0
            while left[base + node] >= 0:
                k = base + node
                x = X[i, feature[k]]
                go_left = x < threshold[k] if strict else x <= threshold[k]
                node = left[k] if go_left else right[k]
            out[i, t] = node
