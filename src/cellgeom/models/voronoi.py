"""Voronoi models: KMeans, MiniBatchKMeans, NearestCentroid, 1-nearest-neighbour.

Cell i of sites s_1..s_K (in the model's input units z) is
``{z : |z - s_i| <= |z - s_j| for all j}``, i.e. the bisector inequalities
``(s_j - s_i) . z <= (|s_j|^2 - |s_i|^2) / 2`` with label j, clipped to the domain.
Candidates j: the Delaunay neighbours of i (SciPy) when the dimension is at most
``delaunay_max_dim``, all other sites otherwise (then the polytope kernel screens
the redundant rows). Keys are site indices; the key across a facet with label j
is j.
"""
from __future__ import annotations

import numpy as np

from ._sklearn import add_predictions, check_fitted_model, model_name, prepare_inputs
from .polytopes import integer_keyed_partition
from .registry import register_adapter

__all__ = ["voronoi_sites", "delaunay_neighbors", "NearestSite"]


def voronoi_sites(model) -> np.ndarray:
    """The sites of a fitted Voronoi model, shape (K, n), Euclidean metric checked."""
    name = model_name(model)
    if name in ("KMeans", "MiniBatchKMeans"):
        return np.asarray(model.cluster_centers_, dtype=float)
    if name == "NearestCentroid":
        if getattr(model, "metric", "euclidean") != "euclidean":
            raise ValueError(f"NearestCentroid with metric={model.metric!r} is not supported: "
                             "only the Euclidean metric gives Voronoi (polytope) cells.")
        return np.asarray(model.centroids_, dtype=float)
    if name in ("KNeighborsClassifier", "KNeighborsRegressor"):
        if model.n_neighbors != 1:
            raise ValueError(f"{name} with n_neighbors={model.n_neighbors} is not supported: "
                             "only n_neighbors=1 has Voronoi cells (of the training points).")
        metric, p = model.effective_metric_, model.effective_metric_params_.get("p", 2)
        if not (metric == "euclidean" or (metric == "minkowski" and p == 2)):
            raise ValueError(f"{name} with metric={model.metric!r} (p={model.p}) is not "
                             "supported: only the Euclidean metric gives polytope cells.")
        return np.asarray(model._fit_X, dtype=float)
    raise TypeError(f"{name} is not a Voronoi model.")


def delaunay_neighbors(sites: np.ndarray) -> list[np.ndarray]:
    """Delaunay neighbours of every site (SciPy Qhull), a superset of the Voronoi
    facet neighbours; degenerate inputs fall back to all sites."""
    from scipy.spatial import Delaunay, QhullError

    K, n = sites.shape
    everyone = [np.delete(np.arange(K), i) for i in range(K)]
    if K <= n + 1:
        return everyone
    try:
        tri = Delaunay(sites)
    except QhullError:
        return everyone
    indptr, indices = tri.vertex_neighbor_vertices
    return [np.sort(indices[indptr[i]: indptr[i + 1]]) for i in range(K)]


_VORONOI = ["sklearn.cluster._kmeans.KMeans", "sklearn.cluster._kmeans.MiniBatchKMeans",
            "sklearn.neighbors._nearest_centroid.NearestCentroid",
            "sklearn.neighbors._classification.KNeighborsClassifier",
            "sklearn.neighbors._regression.KNeighborsRegressor"]


class NearestSite:
    """Index of the nearest site of each point, after an optional input transform (the
    steps of a pipeline in front of the model). A plain object, so partitions pickle."""

    def __init__(self, sites: np.ndarray, transform=None):
        from scipy.spatial import cKDTree

        self.tree = cKDTree(np.asarray(sites, dtype=float))
        self.transform = transform

    def __call__(self, X) -> np.ndarray:
        Z = X if self.transform is None else self.transform(X)
        return self.tree.query(np.asarray(Z, dtype=float))[1]


def _partition_voronoi(model, *, domain, data, cells, progress=True, tol=None,
                       delaunay_max_dim: int = 6, n_jobs=None, executor=None,
                       _affine=None, _model=None, _transform=None):
    """Voronoi cells of the model's sites, pulled back through ``z = T x + c``."""
    record = model if _model is None else _model
    check_fitted_model(model)
    data, domain, n_outside = prepare_inputs(record, domain, data, cells)
    sites = voronoi_sites(model)
    # duplicate sites (repeated training points) share one cell: keep the first
    _, first = np.unique(sites, axis=0, return_index=True)
    site_ids = np.sort(first)
    S = sites[site_ids]
    K, nz = S.shape
    T, c = _affine if _affine is not None else (np.eye(nz), np.zeros(nz))
    cand = (delaunay_neighbors(S) if nz <= delaunay_max_dim
            else [np.delete(np.arange(K), i) for i in range(K)])
    sq = np.einsum("ij,ij->i", S, S)
    site_of = NearestSite(S, _transform)

    def constraints(keys):
        out = []
        for key in keys:
            i = int(key)
            j = cand[i]
            Az = S[j] - S[i]  # (s_j - s_i) . z <= (|s_j|^2 - |s_i|^2) / 2, z = T x + c
            out.append((Az @ T, (sq[j] - sq[i]) / 2 - Az @ c, j))
        return out

    part, site = integer_keyed_partition(
        site_of, K, domain, data, cells, constraints=constraints, model=record, tol=tol,
        progress=progress, n_jobs=n_jobs, executor=executor,
        info={"n_points_outside": n_outside})
    part.cells["site"] = site_ids[site]
    for j in range(nz):
        part.cells[f"site_{j}"] = S[site, j]
    add_predictions(part.cells, record, domain.dim)
    return part


for _name in _VORONOI:
    register_adapter(_name)(_partition_voronoi)
