"""k-nearest-neighbour models: the cells of the order-k Voronoi diagram.

With ``weights="uniform"`` a KNeighborsClassifier / KNeighborsRegressor with
``n_neighbors = k`` predicts from the *set* of the k training points nearest to the input
(in the model's input units z, after the affine steps of a pipeline), so it is constant on
the cells of the order-k Voronoi diagram. The cell of a k-subset S of the training points
``p_1..p_N`` is

    {z : max_{i in S} |z - p_i| <= min_{j not in S} |z - p_j|},

the bisector inequalities ``2 (p_j - p_i) . z <= |p_j|^2 - |p_i|^2`` for i in S, j not in S
(written around the domain's centre, so no offset carries the data's distance from 0),
clipped to the domain. A facet of cell S lies on the bisector of some i in S and j not in
S, and the cell across it is ``S - {i} + {j}``; the cells tile the domain face to face.
``n_neighbors=1`` is the ordinary Voronoi diagram of :mod:`.voronoi` (same adapter, that
path unchanged).

Keys and labels: a key is the sorted k-subset of training-point indices, e.g.
``"3,17,42,88,101"``, the k-NN set of ``model.kneighbors`` (made canonical, below); the row
of the pair (i, j) has label ``i * N + j``, and ``neighbor_key(S, label)`` swaps i for j.

Candidates: all ``k (N - k)`` rows per cell are too many, so cell S gets the rows (i, j) for
i in S and j in C(S), the Delaunay neighbours of the points of S that are not in S. That
set is exact in general position: on a facet (i, j) a ball through p_i and p_j holds the
rest of S and no other point, so (i, j) is a Delaunay edge of the points without S - {i};
deleting points from a Delaunay triangulation re-triangulates only the union of their
stars, whose vertices are their Delaunay neighbours. Above ``delaunay_max_dim``, or where
Qhull fails (all points on a flat), C(S) is the union of the ``q = 2k + 2n`` nearest points
of each point of S instead, a heuristic. Either way the cells are then *verified*: a convex
polytope satisfies every omitted inequality iff all its vertices do, so every vertex v of
every cell is checked against all training points with a k-d tree. A point j not in C(S)
nearer to v than the farthest point of S, with v more than ``tol`` (the partition's length
tolerance) beyond their bisector, proves C(S) too small: the cell gets j and the nearest
points (twice as many each time), and the partition is rebuilt until no vertex violates
(after ``_MAX_ROUNDS`` rounds the cells still violating take every row).
``info["candidate_rounds"]`` and ``info["candidate_violations"]`` say what happened. The
vertices checked are the partition's (merged across cells within ``1e3 tol``), so an
omitted point cutting a cell by less than about that much goes unnoticed (a sliver of the
neighbour's cell). The high-dimensional route (``n > exact_dim``) computes no vertices,
so nothing is verified there: the Delaunay candidates stand alone (a pipeline's PCA to at
most ``delaunay_max_dim`` dimensions), and otherwise every cell takes all ``k (N - k)``
rows (exact by construction; the polytope kernel screens the redundant ones). More than
:data:`MAX_ALL_ROWS` such rows per cell are refused (measured: 10,000 rows, k = 5 and
N = 2,000 in 8-D, cost about 6 s per cell).

Points are located by the model's own ``kneighbors``, so ``locate`` and the cell
predictions are the model's even where its distances round (``algorithm="brute"``
compares ``|x|^2 - 2 x.p + |p|^2``: within about ``u M^2 / d`` of a bisector, ``M`` the
largest norm and ``d`` the points' distance, its answer is rounding noise).

Repeated training points (exact duplicates): in the interior of a cell no two distinct
points are at the same distance, but copies of one point always are, and which copies
``kneighbors`` returns is its tie-break (it varies with the query point). The cells are
therefore cells of *multisets*: how many copies of each distinct point are among the k
nearest. The key names the lowest indices of each point's copies (``kneighbors``' answer is
mapped to that form); no row separates two copies. Where every copy of a point has the same
target this is exactly what the model predicts. Where copies disagree and a cell holds only
some of them, the model's prediction inside that cell depends on its tie-break, not on the
input, so no cells can be the model's: that is refused with a ``ValueError`` naming the
points (deduplicate or merge them).
"""
from __future__ import annotations

import numpy as np

from ._sklearn import (
    add_predictions,
    check_fitted_model,
    model_input,
    model_name,
    prepare_inputs,
)
from .polytopes import attach_data, build_polytope_partition, data_volumes, seed_keys
from .registry import register_adapter
from .voronoi import _partition_voronoi, check_label_resolution, closest_pair

__all__ = ["knn_training_points", "KNearestKeys", "OrderKCells", "MAX_ALL_ROWS"]

#: rows per cell above which the high-dimensional route (all k (N - k) rows) is refused
MAX_ALL_ROWS = 20_000
#: candidate rounds before the cells still violating take every row
_MAX_ROUNDS = 6


def knn_training_points(model) -> np.ndarray:
    """The training points of a fitted KNeighbors model, shape (N, n), after checking that
    its cells are polytopes: ``weights="uniform"`` and the Euclidean metric."""
    name = model_name(model)
    if name not in ("KNeighborsClassifier", "KNeighborsRegressor"):
        raise TypeError(f"{name} is not a k-nearest-neighbour model.")
    weights = model.weights
    if weights is not None and weights != "uniform":
        what = "a callable" if callable(weights) else repr(weights)
        raise ValueError(
            f"{name} with weights={what} is not supported: weighting the k neighbours by "
            "(a function of) their distances makes the prediction vary continuously inside "
            "each order-k Voronoi cell, and its decision boundaries are curved (not "
            "hyperplanes), so the model has no polytope cells. Use weights='uniform'.")
    metric, params = model.effective_metric_, model.effective_metric_params_
    if not (metric == "euclidean" or (metric == "minkowski" and params.get("p", 2) == 2)) \
            or params.get("w") is not None:
        raise ValueError(f"{name} with metric={model.metric!r} (p={model.p}) is not "
                         "supported: only the Euclidean metric gives polytope cells.")
    X = model._fit_X
    return np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=float)


def _canonical(idx: np.ndarray, site, members, start) -> np.ndarray:
    """Index sets (rows of ``idx``) in canonical form: per distinct point, its lowest
    indices (as many as the row holds copies of it), sorted."""
    if members is None:  # no repeated points
        return np.sort(idx, axis=1)
    g = np.sort(site[idx], axis=1)
    rank = np.zeros_like(g)
    for c in range(1, g.shape[1]):
        rank[:, c] = np.where(g[:, c] == g[:, c - 1], rank[:, c - 1] + 1, 0)
    return np.sort(members[start[g] + rank], axis=1)


def _as_keys(idx: np.ndarray) -> np.ndarray:
    return np.array([",".join(map(str, row)) for row in idx.tolist()], dtype=object)


class KNearestKeys:
    """The cell key of points: the model's ``kneighbors`` (after an optional input
    transform, the steps of a pipeline in front of it) in canonical form. A plain object,
    so partitions pickle."""

    def __init__(self, model, transform, site, members, start):
        self.model, self.transform = model, transform
        self.site, self.members, self.start = site, members, start

    def __call__(self, X) -> np.ndarray:
        Z = np.asarray(X if self.transform is None else self.transform(X), dtype=float)
        if Z.shape[0] == 0:
            return np.zeros(0, dtype=object)
        idx = self.model.kneighbors(model_input(self.model, Z), return_distance=False)
        return _as_keys(_canonical(np.asarray(idx, dtype=np.int64), self.site, self.members,
                                   self.start))


class OrderKCells:
    """The order-k Voronoi diagram of the training points as cells with labelled rows.

    Parameters
    ----------
    points : array (N, m)
        The training points in the model's input units z.
    k : int
        The number of neighbours.
    affine : (T, c)
        ``z = T x + c`` from the partition's input x.
    q : int or None
        Candidates from the ``q`` nearest distinct points of each point of a cell instead
        of their Delaunay neighbours (None: Delaunay where ``delaunay``, else ``2k + 2m``).
    all_rows : bool
        Every cell takes all ``k (N - k)`` rows where no Delaunay neighbours are at hand
        (the high-dimensional route: no vertices to verify candidates with).
    delaunay : bool
        Candidates from the Delaunay triangulation of the distinct points (SciPy Qhull;
        the nearest points where it fails, e.g. all points on a lower-dimensional flat).
    """

    def __init__(self, points, k, affine, q=None, all_rows=False, delaunay=True):
        from scipy.spatial import cKDTree

        P = np.asarray(points, dtype=float)
        self.N, self.k, (self.T, self.c) = P.shape[0], int(k), affine
        U, site, mult = np.unique(P, axis=0, return_inverse=True, return_counts=True)
        self.U, self.site, self.mult, self.K = U, site.ravel().astype(np.int64), mult, len(U)
        order = np.lexsort((np.arange(self.N), self.site))  # by distinct point, then index
        self.start = np.concatenate([[0], np.cumsum(mult)[:-1]]).astype(np.int64)
        self.members = order.astype(np.int64)
        self.duplicates = self.K < self.N
        self.tree = cKDTree(U)
        self.adj = _delaunay_adjacency(U) if delaunay and q is None else None
        self.all_rows = bool(all_rows) and self.adj is None
        self.q0 = max(1, int(2 * k + 2 * P.shape[1] if q is None else q))
        self.q: dict[str, int] = {}  # per key, nearest points added to its candidates
        self.extra: dict[str, np.ndarray] = {}  # per key, violators added to the candidates
        self.candidates: dict[str, np.ndarray] = {}  # per key, the points of its rows
        self._table = np.zeros((self.K, 0), dtype=np.int64)
        self._lists = (self.site.tolist(), self.members.tolist(), self.start.tolist(),
                       mult.tolist())

    def canonical(self, idx: np.ndarray) -> np.ndarray:
        return _canonical(idx, self.site, self.members if self.duplicates else None,
                          self.start)

    def key_function(self, model, transform) -> KNearestKeys:
        dup = self.duplicates
        return KNearestKeys(model, transform, self.site, self.members if dup else None,
                            self.start)

    def _split(self, key: str):
        """Distinct points of a key, their copies in it, and which of them are full."""
        g = self.site[np.array(key.split(","), dtype=np.int64)]
        if not self.duplicates:  # one copy of each, every point full
            g.sort()
            return g, np.ones(len(g), dtype=np.int64), np.ones(len(g), dtype=bool)
        sites, count = np.unique(g, return_counts=True)
        return sites, count, count == self.mult[sites]

    def _neighbours(self, sites, q):
        if self._table.shape[1] < q:  # the q nearest other distinct points of each
            width = min(self.K - 1, max(q, 2 * self._table.shape[1]))
            self._table = self.tree.query(self.U, k=width + 1)[1][:, 1:].reshape(self.K, -1)
        return self._table[sites, :q]

    def rows(self, key: str, z_o: np.ndarray):
        """``(A_z, rhs, labels)`` of a cell in z around ``z_o``: ``A_z (z - z_o) <= rhs``."""
        sites, count, full = self._split(key)
        s, q = len(sites), self.q.get(key, 0 if self.adj is not None else self.q0)
        if self.all_rows or q >= self.K - 1:
            self.candidates.pop(key, None)  # every point: nothing left to verify
            a, b = np.repeat(sites, self.K), np.tile(np.arange(self.K), s)
        else:
            parts = [sites[~full], self.extra.get(key, np.zeros(0, np.int64))]
            if self.adj is not None:  # exact in general position (module docstring)
                indptr, indices = self.adj
                parts += [indices[indptr[g]: indptr[g + 1]] for g in sites.tolist()]
            if q:
                parts.append(self._neighbours(sites, q).ravel())
            cand = np.unique(np.concatenate(parts))
            self.candidates[key] = cand
            a, b = np.repeat(sites, len(cand)), np.tile(cand, s)
        pair = np.unique(a * self.K + b)
        a, b = pair // self.K, pair % self.K
        pos = np.searchsorted(sites, b).clip(max=s - 1)
        inside = sites[pos] == b
        keep = (a != b) & ~(inside & full[pos])
        a, b, pos, inside = a[keep], b[keep], pos[keep], inside[keep]
        n_b = np.where(inside, count[pos], 0)  # copies of b in the cell
        i = self.members[self.start[a] + count[np.searchsorted(sites, a)] - 1]  # drop: last
        j = self.members[self.start[b] + n_b]  # add: the first copy of b not in the cell
        D = self.U - z_o
        A = D[b] - D[a]
        rhs = np.einsum("ij,ij->i", A, (D[a] + D[b]) / 2)
        return A, rhs, i * self.N + j

    def constraints(self, keys, origin=None):
        """Rows of the cells in the partition's input x (``A x <= b`` around ``origin``)."""
        T, c = self.T, self.c
        z_o = c if origin is None else T @ np.asarray(origin, dtype=float) + c
        out = []
        for key in keys:
            A, rhs, labels = self.rows(key, z_o)
            out.append((A @ T, rhs, labels))
        return out

    def neighbor_key(self, key: str, label: int) -> str:
        """The cell across the bisector row ``label = i * N + j``: S - {i} + {j}."""
        i, j = divmod(int(label), self.N)
        idx = [int(t) for t in key.split(",")]
        if self.duplicates:  # one copy fewer of p_i, one more of p_j, in canonical form
            site = self._lists[0]
            gi, gj = site[i], site[j]
            drop = [t for t in range(len(idx)) if site[idx[t]] == gi]
            if drop:
                del idx[drop[-1]]  # the highest copy: the lowest ones stay
            have = sum(1 for t in idx if site[t] == gj)
            members, start, mult = self._lists[1:]
            j = members[start[gj] + min(have, mult[gj] - 1)]
        elif i in idx:
            idx.remove(i)
        idx.append(j)
        idx.sort()
        return ",".join(map(str, idx))

    def violations(self, part, tol: float, chunk: int = 100_000) -> dict[str, np.ndarray]:
        """Per cell key, the distinct points that cut a vertex of its cell by more than
        ``tol`` (in x) although they are not among its rows: the candidates were too few."""
        from scipy.spatial import cKDTree

        if part.n_cells == 0 or not part.has_vertices:
            return {}
        o = part.domain.center
        D = self.U - (self.T @ o + self.c)
        tree = cKDTree(D)
        ids = [part.cell_vertex_ids(i) for i in range(part.n_cells)]
        cell = np.repeat(np.arange(part.n_cells), [len(v) for v in ids])
        vertex = np.concatenate(ids)
        split = [self._split(key) for key in part.keys]
        width = max(len(sp[0]) for sp in split)
        S = np.array([np.pad(sp[0], (0, width - len(sp[0])), mode="edge") for sp in split])
        C = np.array([np.pad(sp[1], (0, width - len(sp[1]))) for sp in split])
        out: dict[str, set] = {}
        for lo in range(0, len(cell), chunk):
            c_p = cell[lo: lo + chunk]
            zr = (part.vertices[vertex[lo: lo + chunk]] - o) @ self.T.T
            for c_, b_ in self._cuts(zr, S[c_p], C[c_p], D, tree, tol):
                key = part.keys[c_p[c_]]
                cand = self.candidates.get(key)
                # a point among the rows cuts only by the vertices' rounding and merging
                if cand is not None and not np.isin(b_, cand):
                    out.setdefault(key, set()).add(b_)
        return {key: np.array(sorted(v), dtype=np.int64) for key, v in out.items()}

    def _cuts(self, zr, Sp, Cp, D, tree, tol):
        """(vertex, point) pairs: a point outside the cell nearer to the vertex than the
        cell's farthest point, the vertex more than ``tol`` beyond their bisector (in x)."""
        R = np.linalg.norm(zr[:, None, :] - D[Sp], axis=2).max(axis=1)
        kk = min(self.k, self.K)
        # if any point outside the cell is nearer than its farthest point, one is among the
        # k nearest (at most k - 1 points of the cell are nearer than that one)
        dist, near = tree.query(zr, k=kk)
        dist, near = dist.reshape(len(zr), kk), near.reshape(len(zr), kk)
        found = dist < R[:, None] * (1 + 1e-12)
        b = np.where(found, near, 0)
        n_b = ((Sp[:, None, :] == b[:, :, None]) * Cp[:, None, :]).sum(axis=2)
        p, col = np.nonzero(found & (n_b < self.mult[b]))
        if p.size == 0:
            return []
        b = b[p, col]
        Sa = Sp[p]  # (F, width): the cell's distinct points
        A = D[b][:, None, :] - D[Sa]
        # |v - p_a|^2 - |v - p_b|^2 over the length of the row's normal 2 T^T (p_b - p_a)
        gap = np.einsum("fwj,fwj->fw", A, 2 * zr[p][:, None, :] - D[Sa] - D[b][:, None, :])
        norm = 2 * np.linalg.norm(A @ self.T, axis=2)
        depth = np.where(Sa != b[:, None], gap / np.where(norm > 0, norm, 1.0), -np.inf)
        bad = depth.max(axis=1) > tol
        return list(zip(p[bad].tolist(), b[bad].tolist()))

    def enlarge(self, bad: dict[str, np.ndarray], last: bool) -> None:
        """More candidates for the cells of ``bad``: its points and twice the q (every
        row on the ``last`` round)."""
        for key, sites in bad.items():
            old = self.extra.get(key, np.zeros(0, np.int64))
            self.extra[key] = np.union1d(old, sites)
            self.q[key] = self.K if last else 2 * self.q.get(key, self.q0 // 2)

    def conflicting(self, y) -> np.ndarray:
        """Distinct points whose copies have different targets (rows of ``y``)."""
        if not self.duplicates or y is None:
            return np.zeros(self.K, dtype=bool)
        Y = np.asarray(y).reshape(self.N, -1)
        first = self.members[self.start[self.site]]
        differs = np.any(Y != Y[first], axis=1)
        return np.bincount(self.site, weights=differs, minlength=self.K) > 0

    def check_ties(self, keys, conflict: np.ndarray, name: str) -> None:
        """Refuse cells holding only some copies of a point whose copies disagree."""
        if not conflict.any():
            return
        for key in keys:
            sites, _, full = self._split(key)
            bad = sites[~full & conflict[sites]]
            if bad.size:
                copies = self.members[self.start[bad[0]]: self.start[bad[0]] + self.mult[bad[0]]]
                raise ValueError(
                    f"{name}: training points {', '.join(map(str, copies.tolist()))} coincide "
                    f"but have different targets, and in the cell {key!r} only some of them "
                    f"are among the {self.k} nearest: kneighbors breaks that distance tie by "
                    "its own order (varying from point to point), so the model's prediction "
                    "there is not a function of the cell. Remove or merge the repeated "
                    "training points (one target per point).")


def _delaunay_adjacency(U: np.ndarray):
    """Delaunay neighbours of the distinct points as ``(indptr, indices)``; None where
    Qhull fails (e.g. all points on a lower-dimensional flat)."""
    from scipy.spatial import Delaunay, QhullError

    K, m = U.shape
    if K <= m + 1:  # every pair is a Delaunay edge
        indices = np.array([j for i in range(K) for j in range(K) if j != i], dtype=np.int64)
        return np.arange(K + 1, dtype=np.int64) * (K - 1), indices
    if m == 1:  # consecutive points along the line
        order = np.argsort(U[:, 0], kind="stable")
        pairs = np.concatenate([np.c_[order[:-1], order[1:]], np.c_[order[1:], order[:-1]]])
        pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
        indptr = np.searchsorted(pairs[:, 0], np.arange(K + 1))
        return indptr.astype(np.int64), pairs[:, 1].astype(np.int64)
    try:
        tri = Delaunay(U - U.mean(axis=0))  # centred, as in voronoi.delaunay_neighbors
    except (QhullError, ValueError):
        return None
    indptr, indices = tri.vertex_neighbor_vertices
    return indptr.astype(np.int64), indices.astype(np.int64)


def _vertex_route(dim: int, exact_dim: int, volume: str) -> bool:
    return dim <= int(exact_dim) or volume == "exact"


def _partition_order_k(model, *, domain, data, cells, progress=True, tol=None, n_jobs=None,
                       executor=None, volume="auto", exact_dim=6, delaunay_max_dim=6,
                       _affine=None, _model=None, _transform=None, _q=None):
    """Order-k Voronoi cells of a fitted k-NN model (module docstring), pulled back through
    ``z = T x + c``; ``_q`` overrides the default candidates per point (``2k + 2n``)."""
    record = model if _model is None else _model
    check_fitted_model(model)
    name = model_name(model)
    points = knn_training_points(model)
    data, domain, n_outside = prepare_inputs(record, domain, data, cells)
    k, nz = int(model.n_neighbors), points.shape[1]
    if k > points.shape[0]:
        raise ValueError(f"{name} has n_neighbors={k} but only {points.shape[0]} training "
                         "points: its predict refuses every input.")
    T, c = _affine if _affine is not None else (np.eye(nz), np.zeros(nz))
    vertex_route = _vertex_route(domain.dim, exact_dim, volume)
    diagram = OrderKCells(points, k, (T, c), _q, all_rows=not vertex_route,
                          delaunay=nz <= delaunay_max_dim)
    if diagram.all_rows and k * (diagram.K - 1) > MAX_ALL_ROWS:
        raise ValueError(
            f"{name} with n_neighbors={k} on {points.shape[0]} training points in "
            f"{domain.dim} dimensions: above exact_dim={exact_dim} no cell vertices are "
            "computed, so the candidate rows of each cell cannot be verified and every cell "
            f"would take all k (N - k) = {k * (diagram.K - 1)} bisector rows (more than "
            f"{MAX_ALL_ROWS}). Reduce the dimension (e.g. a PCA step in a pipeline), pass "
            "exact_dim >= the dimension, or use fewer training points.")
    _check_twins(diagram, name, 1e-9 * domain.scale if tol is None else float(tol))
    check_label_resolution(model, diagram.U, diagram.members[diagram.start],
                           T @ domain.center + c, np.abs(T) @ (domain.widths / 2))
    keys_of = diagram.key_function(model, _transform)
    conflict = diagram.conflicting(getattr(model, "_y", None))
    keys, counts, expand, data_keys, n_outside = seed_keys(
        keys_of, domain, data, cells, False,
        start_key=lambda: str(keys_of(domain.center[None])[0]),
        constraints=diagram.constraints, tol=tol)  # boundary points: build their cell
    tol_x = 1e-9 * domain.scale if tol is None else float(tol)
    info = {"n_points_outside": n_outside, "n_neighbors": k,
            "general_position": domain.dim <= 2,  # at most m+1 cells at codimension m
            "candidates": "verified" if vertex_route else
            ("all" if diagram.all_rows else "delaunay")}
    rounds, n_violations = 0, 0
    while True:
        part = build_polytope_partition(
            domain=domain, keys=keys, constraints=diagram.constraints,
            neighbor_key=diagram.neighbor_key, cells_mode=cells, counts=counts, model=record,
            tol=tol, progress=progress, expand=expand, n_jobs=n_jobs, executor=executor,
            info=dict(info), key_of=keys_of, volume=volume, exact_dim=exact_dim)
        bad = diagram.violations(part, tol_x) if vertex_route else {}
        bad = {key: v for key, v in bad.items() if diagram.q.get(key, 0) < diagram.K}
        if not bad:
            break
        rounds += 1
        n_violations += len(bad)
        diagram.enlarge(bad, last=rounds >= _MAX_ROUNDS)
    part.info.update(candidate_rounds=rounds, candidate_violations=n_violations)
    diagram.check_ties(part.keys, conflict, name)
    attach_data(part, keys_of, data_keys, data is not None)
    if volume == "data" and data is not None:
        data_volumes(part, len(data_keys))
    add_predictions(part.cells, record, domain.dim)
    return part


def _check_twins(diagram: OrderKCells, name: str, tol: float) -> None:
    """Refuse two distinct training points closer than the partition's tolerance.

    Their bisector bounds order-k cells thinner than ``tol``; the rows of the two points
    against a third then coincide within ``tol`` and are merged, and the keys across the
    merged facets are wrong (volumes summed to 1.6-200x the domain). Exact copies are
    handled (they share their cells); the 1-NN route screens such twins itself.
    """
    if diagram.K < 2:
        return
    i, j, d = closest_pair(diagram.U, diagram.tree)
    # distances in the model's input z = T x + c; the tolerance is in x
    reach = 16 * tol * max(float(np.linalg.norm(np.atleast_2d(diagram.T), 2)), 1e-300)
    if d < reach:
        a, b = (int(diagram.members[diagram.start[g]]) for g in (i, j))
        raise ValueError(
            f"{name}: training points {min(a, b)} and {max(a, b)} are {d:.3g} "
            f"apart, closer than 16 x the partition's tolerance ({reach:.3g}): the order-k "
            "cells between them are too thin to build. Merge nearly equal training points "
            "(e.g. round the data and drop duplicates), or pass a smaller tol.")


def _partition_knn(model, *, domain, data, cells, progress=True, tol=None,
                   delaunay_max_dim: int = 6, n_jobs=None, executor=None, volume="auto",
                   exact_dim=6, _affine=None, _model=None, _transform=None, _q=None):
    """k-NN models: Voronoi cells of the training points for ``n_neighbors=1``
    (:mod:`.voronoi`, ``delaunay_max_dim`` as there), order-k Voronoi cells above."""
    check_fitted_model(model)
    common = dict(domain=domain, data=data, cells=cells, progress=progress, tol=tol,
                  n_jobs=n_jobs, executor=executor, volume=volume, exact_dim=exact_dim,
                  _affine=_affine, _model=_model, _transform=_transform)
    if int(model.n_neighbors) == 1:
        return _partition_voronoi(model, delaunay_max_dim=delaunay_max_dim, **common)
    return _partition_order_k(model, delaunay_max_dim=delaunay_max_dim, _q=_q, **common)


for _name in ("sklearn.neighbors._classification.KNeighborsClassifier",
              "sklearn.neighbors._regression.KNeighborsRegressor"):
    register_adapter(_name)(_partition_knn)
