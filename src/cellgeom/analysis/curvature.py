"""Vertex and edge curvature of a partition's nerve (THEORY.md section 8).

Vertex kinds: "euler" (combinatorial Gauss-Bonnet), "angle" (dihedral-angle deficits at
hinges), "forman" and "statistical" (means of the edge curvatures at the vertex). Edge
kinds: "ollivier" (statistical Ricci curvature, exact W_1 by optimal transport) and
"forman" (closed form). Results are float arrays in vertex / ``cx.edges`` order.
"""
from __future__ import annotations

import os
import warnings

import numpy as np

from ._deprecation import renamed_keywords
from ._measured import check_curvature_measured, check_hinges_computed
from ._transport import edge_transports, grouped_distances, two_hop_bounds
from .density import _zero_density_advice, check_metric_alpha, density_lengths, edge_graph
from .hinges import hinge_deficits
from .statistics import EDGE_MEANS, _edges_of, cell_density, edge_density

os.environ.setdefault("POT_BACKEND_DISABLE_PYTORCH", "1")

__all__ = ["vertex_curvature", "edge_curvature", "forman_curvature", "ollivier_curvature"]

VERTEX_KINDS = ("euler", "angle", "forman", "statistical")
EDGE_KINDS = ("ollivier", "forman")
WEIGHTINGS = ("statistical", "geometric", "uniform")


def _check_choice(name, value, allowed):
    # a string first: an array passed in a choice's place (e.g. data as the positional
    # kind) must read as a wrong choice, not as an ambiguous truth value
    if not isinstance(value, str) or value not in allowed:
        got = (repr(value) if isinstance(value, (str, int, float, type(None)))
               else f"a {type(value).__name__}")
        raise ValueError(f"{name} must be one of {allowed}, got {got}.")


def _check_laziness(laziness) -> float:
    try:
        a = float(laziness)
    except (TypeError, ValueError):
        raise ValueError(f"laziness must be a number in [0, 1), got {laziness!r}.") from None
    if not 0 <= a < 1:
        raise ValueError(f"laziness must lie in [0, 1), got {laziness!r}.")
    return a


def _check_complex(cx):
    edges = _edges_of(cx)
    if cx.n_vertices == 0:
        raise ValueError("the complex is empty: it has no vertices.")
    return edges


# -- vertex curvature -------------------------------------------------------------------------
@renamed_keywords(alpha="laziness", weights="sample_weight")
def vertex_curvature(cx, kind: str = "euler", data=None, *, laziness: float = 0.5,
                     metric_alpha: float = 1.0, weighting: str = "statistical",
                     share: str = "equal", edge_mean: str = "geometric", sample_weight=None,
                     progress: bool = True, n_jobs: int | None = None) -> np.ndarray:
    r"""Curvature at each vertex (cell) of the complex.

    Parameters
    ----------
    cx : RiemannianComplex
    kind : {"euler", "angle", "forman", "statistical"}
    data : array of shape (N, n), optional
        For "statistical" and for "forman" with ``weighting="statistical"``; default the
        partition's ``n_points``.
    laziness, metric_alpha, weighting, edge_mean, sample_weight, progress, n_jobs
        Passed to :func:`edge_curvature` ("forman", "statistical"); ``edge_mean`` (default
        "geometric", sqrt(rho_a rho_b)) is read by "statistical" only.
    share : {"equal", "angle"}
        "angle" kind: how a hinge's deficit is shared among the cells around it.

    Returns
    -------
    float array (n_vertices,)

    Notes
    -----
    - "euler": :math:`\kappa(v) = \sum_k (-1)^k f_k(v) / (k+1)`, :math:`f_k(v)` the number of
      k-simplices containing v. Then :math:`\sum_v \kappa(v) = \chi(K)` (each k-simplex is
      counted by its k+1 vertices). Dimensionless.
    - "angle": each complete hinge h (all cells around it present) has the deficit
      :math:`\delta_h = \Theta_h - \sum_{C \ni h} \theta_C(h)`, :math:`\Theta_h` the angle
      of the domain at h (2 pi inside the box, pi on one box facet, pi/2 on a box ridge,
      see :func:`hinge_deficits`). Cell i receives
      :math:`\kappa(i) = \sum_{h \ni i} s_{ih} \delta_h \mathrm{vol}_{n-2}(h)` with
      :math:`s_{ih} = 1/k_h` (``share="equal"``, k_h cells around h) or
      :math:`\theta_i(h) / \sum_C \theta_C(h)` (``share="angle"``). Units: radians x
      length^(n-2) (radians in 2-D). Zero on every exact flat partition; hinges with a
      cell missing (``cells="data"``) contribute nothing.
    - "forman": the mean weighted Forman curvature of the edges at v.
    - "statistical": the mean statistical Ricci (Ollivier) curvature of the edges at v.
    The means run over the edges whose curvature is finite and, unless
    ``weighting="uniform"``, whose cells share a facet (a fan diagonal of the "dual"
    complex joins cells that share no face and weighs nothing). A vertex with no such
    edge gets NaN: a cell without neighbours, or, for "statistical", a cell at infinite
    statistical distance from all its neighbours. With the default geometric ``edge_mean``
    (and the harmonic one) an edge touching a cell without data has density 0, hence
    infinite length d_rho and NaN curvature, so every empty cell gets NaN, and so does a
    cell with data whose neighbours are all empty; with ``edge_mean="arithmetic"`` only
    an empty cell among empty cells does. If every vertex is NaN a RuntimeWarning names
    the remedies (``edge_mean="arithmetic"``, or a ``cells="data"`` partition).

    Examples
    --------
    >>> import cellgeom
    >>> arr = cellgeom.HyperplaneArrangement([[1, 0], [0, 1]], [-0.3, -0.6])
    >>> part = cellgeom.partition(arr, domain=([0, 0], [1, 1]), cells="all", progress=False)
    >>> cx = cellgeom.build_complex(part)
    >>> [round(float(k), 4) for k in vertex_curvature(cx, "euler")]  # sums to chi = 1
    [0.3333, 0.1667, 0.1667, 0.3333]
    >>> vertex_curvature(cellgeom.build_complex(part, rule="facet"), "euler").tolist()
    [0.0, 0.0, 0.0, 0.0]
    >>> bool(abs(vertex_curvature(cx, "angle")).max() < 1e-12)
    True

    References
    ----------
    .. [1] P. Gajer, J. Ravel, "The Geometry of Machine Learning Models", arXiv:2508.02080.
    """
    _check_choice("kind", kind, VERTEX_KINDS)
    # every choice is checked, also those this kind does not read (as scikit-learn does)
    _check_choice("share", share, ("equal", "angle"))
    _check_choice("weighting", weighting, WEIGHTINGS)
    _check_choice("edge_mean", edge_mean, EDGE_MEANS)
    _check_laziness(laziness)
    edges = _check_complex(cx)
    n = cx.n_vertices
    if kind == "euler":
        kappa = np.zeros(n)
        for k in range(cx.dim + 1):
            f_k = np.bincount(cx.simplices(k).ravel(), minlength=n)
            kappa += (-1) ** k * f_k / (k + 1)
        return kappa
    if kind == "angle":
        return _angle_curvature(cx.partition, share)
    if len(edges) == 0:  # every cell isolated: NaN, as for one isolated cell among others
        warnings.warn(f"vertex_curvature: the {kind} curvature of every vertex is NaN: the "
                      "complex has no edges (a single cell, or cells that share no face)",
                      RuntimeWarning, stacklevel=3)
        return np.full(n, np.nan)
    edge_kind = "forman" if kind == "forman" else "ollivier"
    ek, cut = _edge_curvature(cx, edge_kind, data, laziness, metric_alpha, weighting, edge_mean,
                              sample_weight, progress, n_jobs)
    ends = edges.ravel()
    use = np.isfinite(ek)
    if weighting != "uniform":
        use &= cx.edges["face_volume"].to_numpy(dtype=float) > 0
    ok = np.repeat(use, 2)
    total = np.bincount(ends[ok], weights=np.repeat(ek, 2)[ok], minlength=n)
    count = np.bincount(ends[ok], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    if cut and not np.isfinite(kappa).any():
        _warn_all_nan(f"vertex_curvature: the {kind} curvature of every vertex is NaN",
                      edge_mean)
    return kappa


def _angle_curvature(part, share):
    h = part.hinges
    kappa = np.zeros(part.n_cells)
    if len(h) == 0:
        check_hinges_computed(part, "vertex_curvature(kind='angle')")
        return kappa
    table = hinge_deficits(part)
    inv = np.searchsorted(table["hinge"].to_numpy(), h["hinge"].to_numpy(dtype=np.int64))
    deficit = np.nan_to_num(table["deficit"].to_numpy()[inv])
    volume = table["volume"].to_numpy()[inv]
    if share == "equal":
        s = 1.0 / table["n_cells"].to_numpy()[inv]
    else:
        angle = h["angle"].to_numpy(dtype=float)
        s = angle / table["angle_sum"].to_numpy()[inv]
    cell = h["cell"].to_numpy(dtype=np.int64)
    return np.bincount(cell, weights=s * deficit * volume, minlength=part.n_cells)


# -- edge curvature -------------------------------------------------------------------------------
@renamed_keywords(alpha="laziness", weights="sample_weight")
def edge_curvature(cx, kind: str = "ollivier", data=None, laziness: float = 0.5,
                   metric_alpha: float = 1.0, weighting: str = "statistical", *,
                   edge_mean: str = "geometric", sample_weight=None, progress: bool = True,
                   n_jobs: int | None = None, executor=None) -> np.ndarray:
    r"""Ricci curvature of each edge of the complex, in ``cx.edges`` order.

    Parameters
    ----------
    cx : RiemannianComplex
    kind : {"ollivier", "forman"}
    data : array of shape (N, n), optional
        Data for the densities (``weighting="statistical"``); default the partition's
        ``n_points``.
    laziness : float in [0, 1)
        Laziness of the walk ("ollivier"): the mass kept at the vertex.
    metric_alpha : float in (0, 1]
        Exponent of the density metric d_rho = l / rho^metric_alpha ("ollivier"): the
        ``alpha`` of :func:`~cellgeom.analysis.density.density_metric`.
    weighting : {"statistical", "geometric", "uniform"}
        Which weights and lengths the curvature uses.
        "ollivier": "statistical" is the walk of THEORY.md (neighbour k of i weighted by
        vol F_ik rho_k, distances d_rho); "geometric" weights by vol F_ik alone with
        centroid distances; "uniform" is the plain graph walk (uniform neighbours, unit
        lengths). "forman": vertex weights cell masses p_i ("statistical"), cell volumes
        ("geometric") or 1 ("uniform"); edge weights face volumes (1 for "uniform").
    edge_mean : {"geometric", "arithmetic", "harmonic"}
        Edge density rho(e) from the cell densities ("ollivier" with
        ``weighting="statistical"``): sqrt(rho_a rho_b) by default (THEORY.md section 8),
        (rho_a + rho_b) / 2 or the harmonic mean; see
        :func:`~cellgeom.analysis.statistics.edge_density`.
    sample_weight : array (N,), optional
        Weight of each data point (default 1).
    progress : bool
        tqdm bar over the transport problems.
    n_jobs, executor
        Run the transport problems through :func:`cellgeom.parallel.map_cells`.

    Returns
    -------
    float array (n_edges,)
        NaN for an edge whose endpoints are at infinite distance: under "statistical",
        with the default geometric ``edge_mean``, every edge touching a cell without data
        (see Notes). Unless ``weighting="uniform"``, an edge whose cells share
        no facet (a fan diagonal of the "dual" complex, face volume 0) carries no walk
        mass and no path; "ollivier" still gives its curvature (W_1 of its cells' walks
        over their distance through facets), "forman" gives NaN (its weight is 0).

    Notes
    -----
    Ollivier: :math:`\kappa(i, j) = 1 - W_1(\mu_i, \mu_j) / d(i, j)`, d the geodesic
    distance, :math:`\mu_i(i) = a` (a the laziness),
    :math:`\mu_i(k) = (1-a) w_{ik} / \sum_{k'} w_{ik'}` over the neighbours k
    (:math:`w_{ik} = \mathrm{vol}\,F_{ik}\,\rho_k`; if all those vanish, vol F_ik).
    W_1 is exact: the network simplex of POT on the costs d(k, l), k in the support of
    :math:`\mu_i`, l in that of :math:`\mu_j` (the same optimum as on the union of the
    supports). Dimensionless and invariant under scaling the domain.

    Under "statistical" the lengths are :math:`d_\rho(e) = l(e) / \rho(e)^\alpha`
    (:func:`~cellgeom.analysis.density.density_metric`, :math:`\alpha` = ``metric_alpha``).
    An edge with an empty cell has :math:`\rho(e) = 0` under the geometric (default) and
    harmonic means, so :math:`d_\rho(e) = \infty`: it carries no path, the empty cell is
    at infinite distance from every cell and the edge's curvature is NaN, never a finite
    number; geodesics between cells with data route around empty cells, and walks put no
    mass on them (rho_k = 0; only a cell whose neighbours are all empty falls back to
    vol F_ik, and its edges are all NaN). With ``edge_mean="arithmetic"`` only edges
    between two empty cells are cut. If every edge is NaN (e.g. each touches an empty
    cell) a RuntimeWarning suggests ``edge_mean="arithmetic"`` or a ``cells="data"``
    partition.

    Forman (1-skeleton, weighted, Sreejith et al.):
    :math:`F(e) = w_e (w_a/w_e + w_b/w_e - \sum_{e_a \ni a, e_a \ne e} w_a/\sqrt{w_e
    w_{e_a}} - \sum_{e_b \ni b, e_b \ne e} w_b/\sqrt{w_e w_{e_b}})`; with unit weights
    4 - deg a - deg b.

    Examples
    --------
    >>> import cellgeom
    >>> arr = cellgeom.HyperplaneArrangement([[1, 0], [0, 1]], [-0.3, -0.6])
    >>> part = cellgeom.partition(arr, domain=([0, 0], [1, 1]), cells="all", progress=False)
    >>> cx = cellgeom.build_complex(part, progress=False)
    >>> cx.simplices(1).tolist()  # the 4-cycle of facets and the fan's diagonal (1, 2)
    [[0, 1], [0, 2], [1, 2], [1, 3], [2, 3]]
    >>> edge_curvature(cx, "forman", weighting="uniform").tolist()  # 4 - deg a - deg b
    [-1.0, -1.0, -2.0, -1.0, -1.0]
    >>> [round(float(k), 4) for k in edge_curvature(cx, "ollivier", laziness=0.0,
    ...                                             weighting="uniform", progress=False)]
    [0.3333, 0.3333, 0.6667, 0.3333, 0.3333]
    >>> facet = cellgeom.build_complex(part, rule="facet", progress=False)  # the 4-cycle: flat
    >>> edge_curvature(facet, "forman", weighting="uniform").tolist()
    [0.0, 0.0, 0.0, 0.0]
    >>> X = [[0.1, 0.3]] * 9 + [[0.6, 0.3]] * 84 + [[0.6, 0.8]] * 7  # no point in cell 01
    >>> facet.simplices(1).tolist()  # cells 00, 01, 10, 11; rho = 0.5, 0, 2, 0.25
    [[0, 1], [0, 2], [1, 3], [2, 3]]
    >>> [round(float(k), 4) for k in edge_curvature(facet, "ollivier", X, progress=False)]
    [nan, 0.5553, nan, 0.4609]

    References
    ----------
    .. [1] Y. Ollivier, "Ricci curvature of Markov chains on metric spaces", J. Funct. Anal.
       256 (2009).
    .. [2] R. P. Sreejith et al., "Forman curvature for complex networks", J. Stat. Mech.
       (2016) 063206.
    .. [3] P. Gajer, J. Ravel, "The Geometry of Machine Learning Models", arXiv:2508.02080.
    """
    kappa, cut = _edge_curvature(cx, kind, data, laziness, metric_alpha, weighting, edge_mean,
                                 sample_weight, progress, n_jobs, executor)
    if cut and not np.isfinite(kappa).any():
        _warn_all_nan("edge_curvature: the Ollivier curvature of every edge is NaN", edge_mean)
    return kappa


def _warn_all_nan(what: str, edge_mean: str) -> None:
    # stacklevel 4: this helper, the public function, its keyword-renaming wrapper, the caller
    warnings.warn(f"{what}. {_zero_density_advice(edge_mean)}", RuntimeWarning, stacklevel=4)


def _edge_curvature(cx, kind, data, laziness, metric_alpha, weighting, edge_mean,
                    sample_weight, progress, n_jobs, executor=None):
    """:func:`edge_curvature` without its warning, and whether an edge density is 0 (so
    that its callers can name that cause when every curvature is NaN)."""
    _check_choice("kind", kind, EDGE_KINDS)
    _check_choice("weighting", weighting, WEIGHTINGS)
    _check_choice("edge_mean", edge_mean, EDGE_MEANS)
    laziness = _check_laziness(laziness)
    metric_alpha = check_metric_alpha(metric_alpha)
    edges = _check_complex(cx)
    if len(edges) == 0:
        raise ValueError(
            "the complex has no edges (a single cell, or cells that share no face): edge "
            "curvature needs at least one edge."
        )
    n = cx.n_vertices
    face = cx.edges["face_volume"].to_numpy(dtype=float)
    if weighting != "uniform":
        check_curvature_measured(cx, face, need_lengths=kind == "ollivier")
    if kind == "forman":
        if weighting == "uniform":
            wv, we = np.ones(n), np.ones(len(edges))
        elif weighting == "geometric":
            wv, we = cx.partition.volumes.astype(float), face
        else:
            wv, we = cell_density(cx, data, sample_weight)[0], face
        if weighting == "uniform":
            return forman_curvature(edges, wv, we), False
        # edges of cells that share no facet weigh 0: not part of the weighted graph
        out = np.full(len(edges), np.nan)
        keep = we > 0
        out[keep] = forman_curvature(edges[keep], wv, we[keep])
        return out, False
    # Ollivier: neighbour weights w_ik of the walk and the edge lengths
    cut = False
    if weighting == "uniform":
        w_ab = w_ba = np.ones(len(edges))
        lengths = np.ones(len(edges))
    elif weighting == "geometric":
        w_ab = w_ba = face
        lengths = np.where(face > 0, cx.edges["length"].to_numpy(dtype=float), np.inf)
    else:
        rho = cell_density(cx, data, sample_weight)[1]
        rho_e = edge_density(rho, edges, edge_mean)
        cut = bool(np.any(rho_e == 0))
        # zero density: infinite d_rho, so no path through the edge and NaN curvature
        lengths = density_lengths(cx, rho_e, metric_alpha)
        w_ab, w_ba = face * rho[edges[:, 1]], face * rho[edges[:, 0]]
        w_ab, w_ba = np.nan_to_num(w_ab), np.nan_to_num(w_ba)
    kappa = ollivier_curvature(n, edges, lengths, w_ab, w_ba, face, laziness, progress=progress,
                               n_jobs=n_jobs, executor=executor)
    return kappa, cut


def forman_curvature(edges: np.ndarray, vertex_weight: np.ndarray,
                     edge_weight: np.ndarray) -> np.ndarray:
    """Weighted Forman curvature of graph edges (closed form, vectorised).

    With :math:`S_v = \\sum_{e \\ni v} 1/\\sqrt{w_e}` the formula of :func:`edge_curvature`
    is :math:`F(e) = 2 w_a + 2 w_b - \\sqrt{w_e} (w_a S_a + w_b S_b)`.
    """
    edges = np.asarray(edges, dtype=np.int64)
    wv = np.asarray(vertex_weight, dtype=float)
    we = np.asarray(edge_weight, dtype=float)
    inv_sqrt = 1.0 / np.sqrt(we)
    S = np.bincount(edges.ravel(), weights=np.repeat(inv_sqrt, 2), minlength=wv.size)
    a, b = edges[:, 0], edges[:, 1]
    return 2 * wv[a] + 2 * wv[b] - np.sqrt(we) * (wv[a] * S[a] + wv[b] * S[b])


def _walk_measures(n, edges, w_ab, w_ba, fallback, laziness):
    """Supports (closed neighbourhoods, the vertex first) and masses of the lazy walks."""
    m = len(edges)
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    w = np.concatenate([w_ab, w_ba]).astype(float)
    fb = np.concatenate([fallback, fallback]).astype(float)
    order = np.lexsort((cols, rows))
    rows, cols, w, fb = rows[order], cols[order], w[order], fb[order]
    deg = np.bincount(rows, minlength=n)
    tot = np.bincount(rows, weights=w, minlength=n)
    use_fb = tot[rows] <= 0
    w = np.where(use_fb, fb, w)
    tot = np.bincount(rows, weights=w, minlength=n)
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(deg + 1, out=ptr[1:])
    idx = np.empty(n + 2 * m, dtype=np.int64)
    mass = np.empty(n + 2 * m)
    idx[ptr[:-1]] = np.arange(n)
    mass[ptr[:-1]] = np.where(deg > 0, laziness, 1.0)
    pos = np.arange(2 * m) + np.repeat(np.arange(n) + 1, deg)
    idx[pos] = cols
    with np.errstate(invalid="ignore", divide="ignore"):
        mass[pos] = (1 - laziness) * w / tot[rows]
    # the edge (row -> col) position of each neighbour, for path-length upper bounds
    return ptr, idx, mass, pos, rows, cols


def ollivier_curvature(n, edges, lengths, w_ab, w_ba, fallback, laziness, *,
                       progress=True, n_jobs=None, executor=None) -> np.ndarray:
    """Ollivier-Ricci curvature of every edge for given walk weights and edge lengths.

    ``w_ab[e]`` is the weight of b in the walk from a (``w_ba`` the reverse); ``fallback``
    replaces a vertex's weights when they are all 0. An edge of infinite length carries
    no path. Exact W_1 per edge by a compiled transportation simplex on the
    (deg_a + 1) x (deg_b + 1) costs (POT's network simplex where it does not converge);
    geodesics by compiled Dijkstra searches from each support member, stopped at the
    longest path through the edge it needs.
    """
    edges = np.asarray(edges, dtype=np.int64)
    m = len(edges)
    lengths = np.asarray(lengths, dtype=float)
    graph = edge_graph(n, edges, lengths)
    ptr, idx, mass, pos, rows, cols = _walk_measures(n, edges, w_ab, w_ba, fallback, laziness)
    # length from a vertex to each member of its support (0 for itself)
    to_member = np.zeros(idx.size)
    key_e = np.minimum(edges[:, 0], edges[:, 1]) * n + np.maximum(edges[:, 0], edges[:, 1])
    e_order = np.argsort(key_e)
    kk = np.minimum(rows, cols) * n + np.maximum(rows, cols)
    to_member[pos] = lengths[e_order[np.searchsorted(key_e[e_order], kk)]]
    a, b = edges[:, 0], edges[:, 1]
    # d(a, b): bounded by the edge, or (an edge without a path of its own) by two hops
    bound = lengths.copy()
    no_path = ~np.isfinite(bound)
    if no_path.any():
        bound[no_path] = two_hop_bounds(graph.indptr.astype(np.int64),
                                        graph.indices.astype(np.int64), graph.data,
                                        a[no_path], b[no_path])
    d_edge = _local_distances(graph, a, b, bound)
    sa, sb = ptr[a + 1] - ptr[a], ptr[b + 1] - ptr[b]
    size = sa * sb
    eptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(size, out=eptr[1:])
    e_of = np.repeat(np.arange(m), size)
    t = np.arange(eptr[-1]) - eptr[e_of]
    ka = ptr[a][e_of] + t // sb[e_of]
    lb = ptr[b][e_of] + t % sb[e_of]
    upper = to_member[ka] + d_edge[e_of] + to_member[lb]
    # only pairs that carry mass need a distance (a zero-mass member's cost never matters)
    need = (mass[ka] > 0) & (mass[lb] > 0)
    cost = np.where(need, np.inf, 0.0)
    cost[need] = _local_distances(graph, idx[ka][need], idx[lb][need], upper[need])
    from ..parallel import map_cells

    w1 = map_cells(_w1_chunk, np.arange(m), n_jobs=n_jobs, executor=executor,
                   args=(edges, ptr, mass, eptr, cost), progress=progress,
                   desc="Ollivier curvature")
    w1 = np.asarray(w1, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = 1.0 - w1 / d_edge
    kappa[~np.isfinite(d_edge) | (d_edge <= 0)] = np.nan
    return kappa


def _local_distances(graph, u, v, upper) -> np.ndarray:
    """d(u_t, v_t) for every pair, by one search per distinct source stopped at the
    largest bound it needs (inf beyond its bound; an infinite bound searches everything)."""
    u = np.asarray(u, dtype=np.int64)
    v = np.asarray(v, dtype=np.int64)
    if u.size == 0:
        return np.zeros(0)
    order = np.argsort(u, kind="stable")
    src, start = np.unique(u[order], return_index=True)
    limit = np.maximum.reduceat(np.asarray(upper, dtype=float)[order], start)
    limit = limit * (1 + 1e-9)  # a bound met exactly must not be lost to rounding
    t_ptr = np.append(start, u.size).astype(np.int64)
    dist = grouped_distances(graph.indptr.astype(np.int64), graph.indices.astype(np.int64),
                             graph.data.astype(float), src, limit, t_ptr, v[order])
    out = np.empty(u.size)
    out[order] = dist
    return out


def _w1_chunk(edge_ids, edges, ptr, mass, eptr, cost):
    """Exact W_1 for a chunk of edges: the compiled transportation simplex, and POT's
    network simplex for any problem where it does not converge."""
    ids = np.asarray(edge_ids, dtype=np.int64)
    out, converged = edge_transports(ids, edges[:, 0].copy(), edges[:, 1].copy(), ptr, mass,
                                     eptr, cost)
    if not converged.all():
        from ot.lp.emd_wrap import emd_c

        bad = 0
        for t in np.flatnonzero(~converged).tolist():
            e = ids[t]
            i, j = edges[e]
            mu, nu = mass[ptr[i]:ptr[i + 1]], mass[ptr[j]:ptr[j + 1]]
            M = np.ascontiguousarray(cost[eptr[e]:eptr[e + 1]].reshape(mu.size, nu.size))
            res = emd_c(mu, nu, M, 100_000, 1)
            out[t] = res[1]
            bad += res[4] != 1
        if bad:
            warnings.warn(f"the transport solver did not reach optimality on {bad} edges.",
                          RuntimeWarning, stacklevel=2)
    return out
