"""Hyperplane arrangements: the simplest model with polytope cells."""
from __future__ import annotations

import numpy as np

from ..core import check_data, resolve_domain
from ..geometry import Box
from .facet_neighbors import flip_bit
from .polytopes import attach_data, build_polytope_partition, data_volumes, seed_keys
from .registry import register_adapter

__all__ = ["HyperplaneArrangement", "flip_bit"]


class HyperplaneArrangement:
    """The arrangement of hyperplanes ``w_k . x + b_k = 0``, k = 1..K, as a model.

    The key of a point is its sign vector: bit k is 1 where ``w_k . x + b_k > 0``
    and 0 otherwise (points on a hyperplane go to the 0 side, deterministically).

    Parameters
    ----------
    W : array of shape (K, n)
        Normals (rows must be non-zero and finite).
    b : array of shape (K,)
        Offsets.

    Examples
    --------
    >>> import cellgeom
    >>> arr = cellgeom.HyperplaneArrangement([[1, 0], [0, 1]], [-0.3, -0.6])
    >>> part = cellgeom.partition(arr, domain=cellgeom.Box([0, 0], [1, 1]), cells="all",
    ...                           progress=False)
    >>> part.n_cells, round(float(part.cells["volume"].sum()), 12)
    (4, 1.0)
    """

    def __init__(self, W, b):
        W = np.asarray(W, dtype=float)
        b = np.asarray(b, dtype=float)
        if W.ndim != 2:
            raise ValueError(f"W must be a 2-D array (hyperplanes x features), got {W.shape}.")
        if b.ndim != 1 or b.shape[0] != W.shape[0]:
            raise ValueError(
                f"b must have one offset per hyperplane: W has {W.shape[0]} rows but b has "
                f"shape {b.shape}."
            )
        if W.shape[0] == 0:
            raise ValueError("An arrangement needs at least one hyperplane.")
        if not (np.all(np.isfinite(W)) and np.all(np.isfinite(b))):
            raise ValueError("W and b must be finite: found NaN or infinite values.")
        zero = np.flatnonzero(np.linalg.norm(W, axis=1) == 0)
        if zero.size:
            raise ValueError(f"hyperplane {int(zero[0])} has a zero normal vector.")
        self.W = W
        self.b = b

    @property
    def n_features_in_(self) -> int:
        return self.W.shape[1]

    @property
    def n_hyperplanes(self) -> int:
        return self.W.shape[0]

    def sign_vectors(self, X) -> np.ndarray:
        """Sign vectors (0/1, shape (N, K)) of the rows of X."""
        X = check_data(X, self.n_features_in_, name="X", allow_empty=True)
        return (X @ self.W.T + self.b > 0).astype(np.uint8)

    def keys(self, X) -> np.ndarray:
        """Cell key of each row of X: its sign vector as a string of 0/1."""
        return _keys_from_signs(self.sign_vectors(X))

    def cell_constraints(self, keys, origin=None):
        """Inequalities of the cells with the given keys: ``s_k (w_k x + b_k) >= 0``.

        With ``origin`` o, the rows are ``s_k w_k (x - o) <= -s_k (w_k o + b_k)``.
        """
        out = []
        labels = np.arange(self.n_hyperplanes)
        value = self.b if origin is None else self.W @ np.asarray(origin, float) + self.b
        for key in keys:
            sign = np.frombuffer(key.encode(), dtype=np.uint8) - ord("0")
            s = np.where(sign == 1, -1.0, 1.0)  # s (w x + b) <= 0
            out.append((s[:, None] * self.W, -s * value, labels))
        return out

    def __repr__(self) -> str:
        return f"HyperplaneArrangement({self.n_hyperplanes} hyperplanes in R^{self.n_features_in_})"


def _keys_from_signs(signs: np.ndarray) -> np.ndarray:
    if signs.shape[0] == 0:
        return np.zeros(0, dtype=object)
    chars = (signs.astype(np.uint8) + ord("0")).view(f"S{signs.shape[1]}").ravel()
    return chars.astype(str)


def _interior_start_key(model: HyperplaneArrangement, domain: Box) -> str:
    """Key of a cell with non-empty interior: a point off every hyperplane."""
    rng = np.random.default_rng(0)
    points = domain.lo + rng.random((64, domain.dim)) * domain.widths
    distance = np.abs(points @ model.W.T + model.b) / np.linalg.norm(model.W, axis=1)
    margins = distance.min(axis=1)
    return str(model.keys(points[np.argmax(margins)][None, :])[0])


@register_adapter(HyperplaneArrangement)
def _partition_arrangement(model: HyperplaneArrangement, *, domain, data, cells, progress=True,
                           tol=None, include_neighbors=False, n_jobs=None, executor=None,
                           volume="auto", exact_dim=6):
    """Cells of an arrangement; ``volume`` and ``exact_dim`` as for every polytope model
    (:func:`cellgeom.models.polytopes.build_polytope_partition`)."""
    dim = model.n_features_in_
    if data is not None:
        data = check_data(data, dim)
    domain = resolve_domain(domain, data, dim)
    keys, counts, expand, data_keys, n_outside = seed_keys(
        model.keys, domain, data, cells, include_neighbors,
        start_key=lambda: _interior_start_key(model, domain),
        constraints=model.cell_constraints, tol=tol)  # boundary points: build their cell
    part = build_polytope_partition(
        domain=domain, keys=keys, constraints=model.cell_constraints,
        neighbor_key=flip_bit, cells_mode=cells, counts=counts, model=model,
        tol=tol, progress=progress, expand=expand, n_jobs=n_jobs, executor=executor,
        info={"n_points_outside": n_outside}, key_of=model.keys, volume=volume,
        exact_dim=exact_dim,
    )
    attach_data(part, model.keys, data_keys, data is not None)
    if volume == "data" and data is not None:  # empirical mass: vol(X) * share of the points
        data_volumes(part, len(data_keys))
    return part
