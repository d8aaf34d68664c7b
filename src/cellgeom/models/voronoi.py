"""Voronoi models: KMeans, MiniBatchKMeans, NearestCentroid, 1-nearest-neighbour.

(k-NN models are registered by :mod:`.order_k_voronoi`: ``n_neighbors=1`` comes here,
``n_neighbors > 1`` has the cells of the order-k Voronoi diagram built there.)

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

from ._sklearn import (
    add_predictions,
    check_fitted_model,
    input_dtype,
    model_input,
    model_name,
    prepare_inputs,
)
from .polytopes import integer_keyed_partition
from .registry import register_adapter

__all__ = ["voronoi_sites", "delaunay_neighbors", "NearestSite", "check_label_resolution",
           "closest_pair"]


def voronoi_sites(model) -> np.ndarray:
    """The sites of a fitted Voronoi model, shape (K, n), Euclidean metric checked."""
    name = model_name(model)
    if name in ("KMeans", "MiniBatchKMeans"):
        return np.asarray(model.cluster_centers_, dtype=float)
    if name == "NearestCentroid":
        if getattr(model, "metric", "euclidean") != "euclidean":
            raise ValueError(f"NearestCentroid with metric={model.metric!r} is not supported: "
                             "only the Euclidean metric gives Voronoi (polytope) cells.")
        prior = getattr(model, "class_prior_", None)
        if prior is not None and not np.isclose(prior, 1 / len(model.classes_)).all():
            # scikit-learn then scales by the within-class deviations and adds 2 log prior:
            # a power diagram of other sites, not these centroids' Voronoi cells
            raise ValueError("NearestCentroid with non-uniform priors (class_prior_ "
                             f"{np.round(prior, 3).tolist()}) is not supported: its predict "
                             "is not the nearest centroid. Fit it with priors='uniform'.")
        return np.asarray(model.centroids_, dtype=float)
    if name in ("KNeighborsClassifier", "KNeighborsRegressor"):
        if model.n_neighbors != 1:  # partition() routes these to .order_k_voronoi
            raise ValueError(f"{name} with n_neighbors={model.n_neighbors} has order-k "
                             "Voronoi cells, built by cellgeom.models.order_k_voronoi: "
                             "only n_neighbors=1 has the Voronoi cells of the sites.")
        metric, p = model.effective_metric_, model.effective_metric_params_.get("p", 2)
        if not (metric == "euclidean" or (metric == "minkowski" and p == 2)):
            raise ValueError(f"{name} with metric={model.metric!r} (p={model.p}) is not "
                             "supported: only the Euclidean metric gives polytope cells.")
        return np.asarray(model._fit_X, dtype=float)
    raise TypeError(f"{name} is not a Voronoi model.")


def delaunay_neighbors(sites: np.ndarray) -> list[np.ndarray]:
    """Delaunay neighbours of every site (SciPy Qhull), a superset of the Voronoi
    facet neighbours. In 1-D the neighbours along the line; degenerate inputs (all
    sites on a lower-dimensional flat, which Qhull refuses) fall back to all sites."""
    from scipy.spatial import Delaunay, QhullError

    K, n = sites.shape
    everyone = [np.delete(np.arange(K), i) for i in range(K)]
    if n == 1:  # the cells are intervals between consecutive sites
        order = np.argsort(sites[:, 0], kind="stable")
        rank = np.empty(K, dtype=np.int64)
        rank[order] = np.arange(K)
        return [np.sort(order[[r for r in (rank[i] - 1, rank[i] + 1) if 0 <= r < K]])
                for i in range(K)]
    if K <= n + 1:
        return everyone
    try:
        # centred: Qhull's tests lose the sites' spread to an offset far from 0
        tri = Delaunay(sites - sites.mean(axis=0))
    except (QhullError, ValueError):
        return everyone
    indptr, indices = tri.vertex_neighbor_vertices
    return [np.sort(indices[indptr[i]: indptr[i + 1]]) for i in range(K)]


#: models whose ``predict`` finds the nearest centre from ``|c|^2 - 2 x . c`` in float64
_EXPANDED_DISTANCES = ("KMeans", "MiniBatchKMeans", "NearestCentroid")


def closest_pair(S: np.ndarray, tree=None) -> tuple[int, int, float]:
    """``(i, j, d)``: the two rows of ``S`` (at least two) nearest each other, ``d`` apart
    (``tree``: a ``cKDTree`` of ``S`` if one is at hand)."""
    from scipy.spatial import cKDTree

    dist, nearest = (cKDTree(S) if tree is None else tree).query(S, k=2)
    i = int(np.argmin(dist[:, 1]))
    return i, int(nearest[i, 1]), float(dist[i, 1])


def check_label_resolution(model, S: np.ndarray, site_ids: np.ndarray, z_center: np.ndarray,
                           z_half: np.ndarray) -> None:
    """Refuse sites the model's own ``predict`` cannot tell apart at the cells' precision.

    ``predict`` of KMeans (and NearestCentroid) compares ``|c|^2 - 2 x . c`` in float64
    (float32 for a k-means model fitted on float32 data), whose rounding is about
    ``u M^2`` (``u`` the unit roundoff, 2.2e-16 or 1.2e-7, ``M`` the largest norm of a
    site or a domain point). Two sites ``d`` apart differ there by ``2 d t`` at distance
    ``t`` from their bisector, so within ``delta = u M^2 / d`` of it the label is rounding
    noise. Above ``max(1e-7, 16 u)`` of the domain's scale the cells could not be the
    model's (nearly equal centres, or data far from the origin compared to the clusters'
    spread): a ``ValueError`` names the two centres. (A float32 model's own labels are
    noise within about ``1e-7 M^2 / d`` of a bisector whatever cellgeom does.)
    """
    name = model_name(model)
    # a k-NN model's brute-force search uses the same expansion (scikit-learn's
    # euclidean_distances); its k-d and ball trees subtract coordinates first
    brute = name.startswith("KNeighbors") and getattr(model, "_fit_method", "") == "brute"
    if (name not in _EXPANDED_DISTANCES and not brute) or S.shape[0] < 2:
        return
    i, j, d = closest_pair(S)
    M = max(float(np.linalg.norm(S, axis=1).max()),
            float(np.linalg.norm(np.abs(z_center) + z_half)))
    scale = 2 * float(z_half.max())
    dtype = input_dtype(model)
    u = float(np.finfo(dtype).eps)
    delta = u * M**2 / d
    if delta > max(1e-7, 16 * u) * scale:
        a, b = sorted((int(site_ids[i]), int(site_ids[j])))
        raise ValueError(
            f"{name} {'training points' if brute else 'centres'} {a} and {b} are {d:.3g} "
            f"apart, in a domain of scale {scale:.3g} with points up to {M:.3g} from the "
            f"origin: {name}.predict compares |c|^2 - 2 x.c in {np.dtype(dtype).name}, so "
            f"within about {delta:.2g} of their bisector its labels are rounding noise and "
            "no cells can be the model's. "
            + ("Fit it with algorithm='kd_tree' (it subtracts coordinates first), or "
               if brute else "Merge nearly equal centres (refit with fewer clusters), or ")
            + "centre the data (e.g. a StandardScaler in a pipeline).")


def _all_candidates_near_twins(S: np.ndarray, cand: list, scale: float) -> None:
    """Every other site as a candidate of a site with a near twin (in place).

    Qhull's Delaunay neighbours of two sites closer than 1e-6 of the domain's scale are
    unreliable (a true Voronoi neighbour went missing, and the cell overlapped another);
    the polytope kernel screens the redundant rows of a full candidate list.
    """
    from scipy.spatial import cKDTree

    K = S.shape[0]
    if K < 3:
        return
    pairs = cKDTree(S).query_pairs(1e-6 * scale, output_type="ndarray")
    for i in np.unique(pairs):
        cand[i] = np.delete(np.arange(K), i)


# KNeighborsClassifier / KNeighborsRegressor are registered by .order_k_voronoi, which
# sends n_neighbors=1 back to _partition_voronoi
_VORONOI = ["sklearn.cluster._kmeans.KMeans", "sklearn.cluster._kmeans.MiniBatchKMeans",
            "sklearn.neighbors._nearest_centroid.NearestCentroid"]


def _generic_sites(S: np.ndarray) -> bool:
    """Whether the sites are taken to be in general position: no coordinate value repeats
    on any axis. Structured sites (integer or binary data, grids, symmetric sets) repeat
    values and are often cospherical: d + 2 sites equidistant from one point, where more
    than d + 1 cells meet and the facet nerve misses simplices (a 1-NN model on {0, 1}^7
    had b_1 = 321). Sites of continuous data have distinct values."""
    return all(np.unique(S[:, j]).size == S.shape[0] for j in range(S.shape[1]))


class NearestSite:
    """The model's own site of each point, after an optional input transform (the steps
    of a pipeline in front of the model), so a point on a bisector gets the site the model
    gives it: KMeans' ``predict`` labels, NearestCentroid's predicted class (its index in
    ``classes_``), a 1-NN model's ``kneighbors`` (``first``: each training point's first
    exact copy, the site kept). A plain object, so partitions pickle.
    """

    def __init__(self, model, transform=None, first=None):
        self.model = model
        self.transform = transform
        self.first = first

    def __call__(self, X) -> np.ndarray:
        Z = np.asarray(X if self.transform is None else self.transform(X), dtype=float)
        if Z.shape[0] == 0:
            return np.zeros(0, dtype=np.int64)
        Z = model_input(self.model, Z)
        name = model_name(self.model)
        if name == "NearestCentroid":
            return np.searchsorted(self.model.classes_, self.model.predict(Z)).astype(np.int64)
        if name.startswith("KNeighbors"):
            near = self.model.kneighbors(Z, 1, return_distance=False)[:, 0]
            return self.first[near]
        return np.asarray(self.model.predict(Z), dtype=np.int64)


def _partition_voronoi(model, *, domain, data, cells, progress=True, tol=None,
                       delaunay_max_dim: int = 6, n_jobs=None, executor=None,
                       volume="auto", exact_dim=6, _affine=None, _model=None,
                       _transform=None):
    """Voronoi cells of the model's sites, pulled back through ``z = T x + c``.

    Keys are the model's own site indices (``predict`` labels for KMeans). A site that
    repeats an earlier one exactly has no cell: ``predict`` gives its points to the first.
    ``volume`` and ``exact_dim`` as for every polytope model
    (:func:`cellgeom.models.polytopes.build_polytope_partition`).
    """
    record = model if _model is None else _model
    check_fitted_model(model)
    data, domain, n_outside = prepare_inputs(record, domain, data, cells)
    sites = voronoi_sites(model)
    # duplicate sites (repeated training points) share one cell: keep the first
    _, first, copy_of = np.unique(sites, axis=0, return_index=True, return_inverse=True)
    site_ids = np.sort(first)
    S = sites[site_ids]
    K, nz = S.shape
    position = np.full(sites.shape[0], -1, dtype=np.int64)
    position[site_ids] = np.arange(K)
    T, c = _affine if _affine is not None else (np.eye(nz), np.zeros(nz))
    z_center = T @ domain.center + c
    check_label_resolution(model, S, site_ids, z_center, np.abs(T) @ (domain.widths / 2))
    cand = (delaunay_neighbors(S) if nz <= delaunay_max_dim
            else [np.delete(np.arange(K), i) for i in range(K)])
    _all_candidates_near_twins(S, cand, 2 * float(np.max(np.abs(T) @ (domain.widths / 2))))
    # keys are the model's own choice of site, ties on a bisector included
    site_of = NearestSite(model, _transform, first=first[copy_of.ravel()])

    def constraints(keys, origin=None):
        # bisector rows (s_j - s_i) . (z - (s_i + s_j) / 2) <= 0 with z - z_o = T (x - o):
        # sites relative to z_o, so neither the offsets nor the midpoints cancel when the
        # data is far from 0 or two sites nearly coincide
        z_o = c if origin is None else T @ np.asarray(origin, dtype=float) + c
        D = S - z_o
        out = []
        for key in keys:
            i = position[int(key)]
            j = cand[i]
            Az = D[j] - D[i]
            rhs = np.einsum("ij,ij->i", Az, (D[j] + D[i]) / 2)
            out.append((Az @ T, rhs, site_ids[j]))
        return out

    part, site = integer_keyed_partition(
        site_of, sites.shape[0], domain, data, cells, constraints=constraints, model=record,
        tol=tol, progress=progress, n_jobs=n_jobs, executor=executor, volume=volume,
        exact_dim=exact_dim, all_ids=site_ids,
        # sites in general position: at most k+1 cells at a codimension-k face, so the
        # facet nerve is the dual complex (build_complex on the high-dimensional route
        # relies on it, and warns otherwise)
        info={"n_points_outside": n_outside, "general_position": _generic_sites(S)})
    part.cells["site"] = site
    for j in range(nz):
        part.cells[f"site_{j}"] = sites[site, j]
    add_predictions(part.cells, record, domain.dim)
    return part


for _name in _VORONOI:
    register_adapter(_name)(_partition_voronoi)
