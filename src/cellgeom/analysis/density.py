"""The density-weighted metric on the nerve and its geodesics (THEORY.md section 8).

``d_rho(e) = l(e) / rho(e)^alpha`` on each edge, ``l(e)`` the centroid distance h_ab and
``rho(e)`` the edge density; graph geodesics under d_rho are a statistical distance between
cells. Geodesics come from :mod:`scipy.sparse.csgraph` row by row: never a dense cells x cells
matrix unless it is small or asked for.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra, reverse_cuthill_mckee

from ._deprecation import renamed_keywords
from .statistics import _edges_of, cell_density, edge_density

__all__ = ["DensityMetric", "density_metric", "density_lengths", "pair_distances", "edge_graph",
           "check_metric_alpha"]

#: full distance matrices are built without ``rows`` only up to this many cells
MAX_DENSE = 2000


def check_metric_alpha(alpha) -> float:
    """Validate the exponent of the density metric: alpha in (0, 1]."""
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"metric alpha must be a number in (0, 1], got {alpha!r}.") from None
    if not 0 < a <= 1:
        raise ValueError(f"metric alpha must lie in (0, 1], got {alpha!r}.")
    return a


def _zero_density_advice(edge_mean: str) -> str:
    """The cause and the remedies of infinite edge lengths, for a warning's message.

    Edges of zero density are cut (d_rho = inf): under ``edge_mean="geometric"`` (the
    default) or ``"harmonic"`` every edge touching a cell without data, under
    ``"arithmetic"`` only edges between two such cells.
    """
    if edge_mean == "arithmetic":
        return ("Every edge joins two cells without data (density 0, infinite d_rho) or "
                "cells without a shared facet; build the partition with cells='data' or "
                "give more data.")
    return (f"With edge_mean={edge_mean!r} (THEORY.md section 8) an edge touching a cell "
            "without data has density 0, hence infinite length d_rho, and every edge here "
            "touches one; pass edge_mean='arithmetic' (zero only between two empty cells) "
            "or build the partition with cells='data'.")


def density_lengths(cx, edge_rho: np.ndarray, alpha: float) -> np.ndarray:
    """``d_rho(e) = l(e) / rho(e)^alpha`` per edge of ``cx.edges``; inf on an edge with zero
    density and on one whose cells share no facet (a fan diagonal of the "dual" complex,
    face volume 0), so no geodesic runs through either."""
    with np.errstate(divide="ignore"):
        lengths = cx.edges["length"].to_numpy(dtype=float) / edge_rho ** alpha
    face = cx.edges["face_volume"].to_numpy(dtype=float)
    return np.where(np.isnan(lengths) | (face <= 0), np.inf, lengths)


def edge_graph(n_vertices: int, edges: np.ndarray, lengths: np.ndarray) -> sp.csr_matrix:
    """Symmetric sparse adjacency with the given edge lengths; infinite lengths are left out."""
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    lengths = np.asarray(lengths, dtype=float)
    ok = np.isfinite(lengths)
    a, b, w = edges[ok, 0], edges[ok, 1], lengths[ok]
    return sp.csr_matrix((np.concatenate([w, w]), (np.concatenate([a, b]),
                                                   np.concatenate([b, a]))),
                         shape=(n_vertices, n_vertices))


@dataclass
class DensityMetric:
    """Density-weighted edge lengths of a complex and their geodesics.

    Attributes
    ----------
    lengths : float array (n_edges,)
        d_rho per edge, in the order of ``cx.edges`` (length / density^alpha; inf on an edge
        with zero density or without a shared facet, which then carries no path).
    edge_density : float array (n_edges,)
    density : float array (n_cells,)
        rho_i = p_i / vol C_i.
    alpha : float
    graph : scipy.sparse.csr_matrix (n_cells, n_cells)
        Symmetric adjacency with the finite d_rho as entries.
    rows : int array or None
        The cells whose geodesic rows are in ``distances``.
    distances : float array (len(rows), n_cells) or None
        Geodesic distances under d_rho (inf between components).
    """

    lengths: np.ndarray
    edge_density: np.ndarray
    density: np.ndarray
    alpha: float
    graph: sp.csr_matrix
    rows: np.ndarray | None = None
    distances: np.ndarray | None = field(default=None, repr=False)

    def geodesic(self, rows, limit: float | None = None) -> np.ndarray:
        """Geodesic distances from the given cells to every cell, shape (len(rows), n_cells).

        ``limit`` stops each search at that distance (farther cells get inf).
        """
        rows = np.atleast_1d(np.asarray(rows, dtype=np.int64))
        n = self.graph.shape[0]
        if rows.size and (rows.min() < 0 or rows.max() >= n):
            raise ValueError(f"rows must be cell indices in [0, {n}), got {rows.tolist()[:5]}...")
        return dijkstra(self.graph, directed=False, indices=rows,
                        limit=np.inf if limit is None else float(limit))


@renamed_keywords(weights="sample_weight")
def density_metric(cx, data=None, alpha: float = 1.0, rows=None, *, edge_mean: str = "geometric",
                   sample_weight=None, max_dense: int = MAX_DENSE) -> DensityMetric:
    """Density-weighted edge lengths and geodesic distances between cells.

    Parameters
    ----------
    cx : RiemannianComplex
    data : array of shape (N, n), optional
        Default: the partition's ``n_points``.
    alpha : float in (0, 1]
        Exponent of the density in the metric (in cellgeom, ``alpha`` is only ever this
        exponent; curvature functions call it ``metric_alpha``).
    rows : array of int, "all" or None
        Cells whose geodesic rows to compute. None: all rows when the complex has at most
        ``max_dense`` cells, none otherwise (ask with ``DensityMetric.geodesic(rows)``).
    edge_mean : {"geometric", "arithmetic", "harmonic"}
        How the edge density is made from the two cell densities
        (:func:`~cellgeom.analysis.statistics.edge_density`): sqrt(rho_a rho_b) by default,
        as in THEORY.md and in the curvatures (:func:`cellgeom.analysis.edge_curvature`),
        so their geodesics agree.
    sample_weight : array of shape (N,), optional
        Weight of each data point (default 1).

    Returns
    -------
    DensityMetric

    Notes
    -----
    d_rho(e) = l(e) / rho(e)^alpha, with l(e) = ||centroid_a - centroid_b|| (length unit)
    and rho(e) the edge density (1 / length^n), so d_rho has units length^(1 + n alpha).
    The geodesic distance d(i, j) is the least sum of d_rho along a path of edges whose
    cells share a facet (Dijkstra, :func:`scipy.sparse.csgraph.dijkstra`): a fan diagonal of
    the "dual" complex (face volume 0, cells meeting at a lower-dimensional face) gets
    infinite length, as in the curvatures. Dense regions have short edges: cells in them
    are statistically close.

    An edge of zero density has infinite length too. With the default geometric mean (and
    with the harmonic one) that is every edge of a cell without data: such a cell is at
    distance inf from every other cell, and geodesics between the other cells route around
    it. With ``edge_mean="arithmetic"`` only edges between two empty cells are cut. When
    no edge is left with a finite length (e.g. data in cells that share no facet), a
    RuntimeWarning says so.

    Examples
    --------
    >>> import cellgeom
    >>> arr = cellgeom.HyperplaneArrangement([[1, 0], [1, 0]], [-0.25, -0.5])
    >>> part = cellgeom.partition(arr, domain=([0, 0], [1, 1]), cells="all", progress=False)
    >>> X = [[0.1, 0.5], [0.3, 0.5], [0.4, 0.5], [0.6, 0.5]]
    >>> cx = cellgeom.build_complex(part)  # strips of width 1/4, 1/4, 1/2: rho = 1, 2, 1/2
    >>> dm = density_metric(cx, X, alpha=1.0)  # l = 1/4, 3/8; rho(e) = sqrt(2), 1
    >>> dm.lengths.round(4).tolist(), dm.distances[0].round(4).tolist()
    ([0.1768, 0.375], [0.0, 0.1768, 0.5518])
    >>> density_metric(cx, X, edge_mean="arithmetic").lengths.round(4).tolist()  # 3/2, 5/4
    [0.1667, 0.3]
    >>> dm = density_metric(cx, X[:3])  # rho = 4/3, 8/3, 0: rho(e) = sqrt(32) / 3, 0
    >>> dm.lengths.round(4).tolist(), dm.distances[0].round(4).tolist()
    ([0.1326, inf], [0.0, 0.1326, inf])

    References
    ----------
    .. [1] P. Gajer, J. Ravel, "The Geometry of Machine Learning Models", arXiv:2508.02080.
    """
    alpha = check_metric_alpha(alpha)
    edges = _edges_of(cx)
    n = cx.n_vertices
    if n == 0:
        raise ValueError("the complex is empty: no cells to measure distances between.")
    density = cell_density(cx, data, sample_weight)[1]
    rho_e = edge_density(density, edges, edge_mean)
    lengths = density_lengths(cx, rho_e, alpha)
    if lengths.size and not np.isfinite(lengths).any() and np.any(rho_e == 0):
        warnings.warn(f"density_metric: no edge has a finite length d_rho, so every distance "
                      f"between two cells is inf. {_zero_density_advice(edge_mean)}",
                      RuntimeWarning, stacklevel=3)
    graph = edge_graph(n, edges, lengths)
    dm = DensityMetric(lengths=lengths, edge_density=rho_e, density=density, alpha=alpha,
                       graph=graph)
    if rows is None and n <= max_dense:
        rows = "all"
    if isinstance(rows, str):
        if rows != "all":
            raise ValueError(f"rows must be cell indices, 'all' or None, got {rows!r}.")
        rows = np.arange(n)
    if rows is not None:
        dm.rows = np.atleast_1d(np.asarray(rows, dtype=np.int64))
        dm.distances = dm.geodesic(dm.rows)
    return dm


def pair_distances(graph: sp.csr_matrix, u, v, upper=None, chunk: int = 256) -> np.ndarray:
    """Geodesic distance d(u_t, v_t) for many pairs, by local Dijkstra searches.

    Parameters
    ----------
    graph : csr_matrix (n, n)
        Symmetric, non-negative edge lengths.
    u, v : int arrays (P,)
    upper : float array (P,), optional
        An upper bound on each distance (e.g. the length of a known path). Each search then
        stops at the largest bound of its sources and runs on the subgraph within that reach,
        so the work is local: no row of length n per source. Without it, full rows.
    chunk : int
        Sources per search.

    Returns
    -------
    float array (P,); inf for pairs farther apart than their bound (or disconnected).

    Notes
    -----
    Sources are taken in reverse Cuthill-McKee order so that a chunk is a compact region
    and its reach (a multi-source Dijkstra with ``min_only=True``) stays small; all
    shortest paths of length <= limit from a chunk's sources lie inside that reach.
    """
    u = np.asarray(u, dtype=np.int64)
    v = np.asarray(v, dtype=np.int64)
    n = graph.shape[0]
    if upper is not None:
        upper = np.asarray(upper, dtype=float)
        unbounded = ~np.isfinite(upper)
        if unbounded.any() and not unbounded.all():
            # pairs without a finite bound take full rows; the others stay local
            out = np.empty(u.size)
            out[unbounded] = pair_distances(graph, u[unbounded], v[unbounded], None, chunk)
            out[~unbounded] = pair_distances(graph, u[~unbounded], v[~unbounded],
                                             upper[~unbounded], chunk)
            return out
    out = np.full(u.size, np.inf)
    if u.size == 0:
        return out
    swap = u > v
    u, v = np.where(swap, v, u), np.where(swap, u, v)
    same = u == v
    out[same] = 0.0
    key = u * n + v
    uniq, inv = np.unique(key[~same], return_inverse=True)
    uu, vv = uniq // n, uniq % n
    if upper is None:
        bound = np.full(uniq.size, np.inf)
    else:
        bound = np.full(uniq.size, -np.inf)
        np.maximum.at(bound, inv.ravel(), np.asarray(upper, dtype=float)[~same])
    sources, src_of = np.unique(uu, return_inverse=True)
    src_limit = np.full(sources.size, -np.inf)
    np.maximum.at(src_limit, src_of, bound)
    rank = np.empty(n, dtype=np.int64)
    rank[reverse_cuthill_mckee(graph, symmetric_mode=True)] = np.arange(n)
    order = np.argsort(rank[sources], kind="stable")
    # pairs grouped by source position in that order
    pos_of_src = np.empty(sources.size, dtype=np.int64)
    pos_of_src[order] = np.arange(sources.size)
    pair_order = np.argsort(pos_of_src[src_of], kind="stable")
    pair_pos = pos_of_src[src_of][pair_order]
    starts = np.searchsorted(pair_pos, np.arange(0, sources.size, chunk))
    ends = np.append(starts[1:], pair_order.size)
    res = np.full(uniq.size, np.inf)
    local = np.full(n, -1, dtype=np.int64)
    for c, (s, e) in enumerate(zip(starts, ends)):
        chunk_src = sources[order[c * chunk:(c + 1) * chunk]]
        limit = float(np.max(src_limit[order[c * chunk:(c + 1) * chunk]]))
        pairs = pair_order[s:e]
        row_of = np.searchsorted(chunk_src, uu[pairs], sorter=np.argsort(chunk_src))
        row_of = np.argsort(chunk_src)[row_of]
        if np.isfinite(limit):
            reach = dijkstra(graph, directed=False, indices=chunk_src, limit=limit, min_only=True)
            nodes = np.flatnonzero(np.isfinite(reach))
            local[nodes] = np.arange(nodes.size)
            sub = graph[nodes][:, nodes]
            D = dijkstra(sub, directed=False, indices=local[chunk_src], limit=limit)
            col = local[vv[pairs]]
            found = col >= 0
            vals = np.full(pairs.size, np.inf)
            vals[found] = D[row_of[found], col[found]]
            local[nodes] = -1
        else:
            D = dijkstra(graph, directed=False, indices=chunk_src)
            vals = D[row_of, vv[pairs]]
        res[pairs] = vals
    out[~same] = res[inv.ravel()]
    return out
