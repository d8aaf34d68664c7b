"""Decision trees and the closed-form geometry of box partitions.

A tree's leaves are axis-aligned boxes ``{lo <= x <= hi}`` (thresholds along
the root-to-leaf path, clipped to the domain). Everything about boxes is closed
form: volume ``prod(hi - lo)``, Chebyshev centre the midpoint with radius
``min(hi - lo) / 2``, and two boxes share a face of positive (n-1)-volume iff
``hi_a[f] == lo_b[f]`` on one axis f and their intervals overlap with positive
length on every other axis; the face's volume is the product of those overlaps.
Adjacency is found by a sort/sweep per axis (an interval join on integer keys),
never by testing all pairs.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..geometry import Box
from ._sklearn import add_predictions, check_fitted_model, prepare_inputs
from .base import Partition, register_adapter, vector_columns

__all__ = ["BoxPartition", "box_adjacency", "box_touching_pairs", "build_box_partition",
           "TreeArrays", "leaf_boxes"]


# -- sweep joins --------------------------------------------------------------------------------
def _interval_join(a_lo, a_hi, b_lo, b_hi, closed: bool = False):
    """All pairs (i, j) whose intervals [a_lo_i, a_hi_i] and [b_lo_j, b_hi_j] overlap.

    Open overlap (positive length) by default, closed (touching counts) with
    ``closed=True``. Sort + ``searchsorted``: O((|A| + |B|) log + output).
    Case 1: b starts inside a (a_lo <= b_lo < a_hi); case 2: a starts strictly
    inside b (b_lo < a_lo < b_hi); the two cases are disjoint and cover all pairs.
    """
    ob = np.argsort(b_lo, kind="stable")
    oa = np.argsort(a_lo, kind="stable")
    bs, as_ = b_lo[ob], a_lo[oa]
    s1 = np.searchsorted(bs, a_lo, "left")
    e1 = np.searchsorted(bs, a_hi, "right" if closed else "left")
    s2 = np.searchsorted(as_, b_lo, "right")
    e2 = np.searchsorted(as_, b_hi, "right" if closed else "left")
    i1, j1 = _expand(s1, e1)
    j2, i2 = _expand(s2, e2)
    return (np.concatenate([i1, oa[i2]]), np.concatenate([ob[j1], j2]))


def _expand(start, end):
    """Rows ``(owner, position)`` for every position in ``[start_k, end_k)``."""
    counts = np.maximum(end - start, 0)
    owner = np.repeat(np.arange(start.size), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    pos = np.repeat(start, counts) + (np.arange(owner.size) - first)
    return owner, pos


def box_adjacency(lo: np.ndarray, hi: np.ndarray):
    """Pairs of boxes sharing a face of positive (n-1)-volume, by a sweep per axis.

    For each axis f the upper faces ``hi[a, f]`` and lower faces ``lo[b, f]`` are
    grouped by exact value; inside a group the intervals on a second axis g are
    joined by sorting, and the candidates are filtered on the remaining axes.

    Returns
    -------
    a, b, axis : int arrays
        Box ``a`` lies below box ``b`` on ``axis``: ``hi[a, axis] == lo[b, axis]``.
    volume : float array
        Face (n-1)-volume, ``prod_{g != axis} (min(hi_a, hi_b) - max(lo_a, lo_b))_g``.
    centroid : (k, n) array
        Face centroid: overlap midpoints, and the shared coordinate on ``axis``.
    """
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    m, n = lo.shape
    out_a, out_b, out_f = [], [], []
    lo_t, hi_t = np.ascontiguousarray(lo.T), np.ascontiguousarray(hi.T)  # column access
    distinct = np.array([np.unique(lo_t[h]).size for h in range(n)])
    ranks: dict[int, tuple] = {}  # per second axis g: cut-value ranks, computed once
    for f in range(n):
        if n > 1:
            # the most selective second axis: the one with the most distinct cut values
            g = int(np.argmax(np.where(np.arange(n) == f, -1, distinct)))
            if g not in ranks:
                coords, rank = np.unique(np.concatenate([lo_t[g], hi_t[g]]),
                                         return_inverse=True)
                ranks[g] = (rank[:m], rank[m:], coords.size + 1)
            r_lo, r_hi, width = ranks[g]
        else:
            r_lo, r_hi, width = np.zeros(m, np.int64), np.ones(m, np.int64), 2
        _, gid = np.unique(np.concatenate([hi[:, f], lo[:, f]]), return_inverse=True)
        ga, gb = gid[:m], gid[m:]
        i, j = _interval_join(ga * width + r_lo, ga * width + r_hi,
                              gb * width + r_lo, gb * width + r_hi)
        for h in range(n):  # filter the candidates axis by axis (cheap, small temporaries)
            if h != f and i.size:
                lh, hh = lo_t[h], hi_t[h]
                ok = np.minimum(hh[i], hh[j]) > np.maximum(lh[i], lh[j])
                i, j = i[ok], j[ok]
        out_a.append(i)
        out_b.append(j)
        out_f.append(np.full(i.size, f, dtype=np.int64))
    a, b, axis = (np.concatenate(x) if x else np.zeros(0, np.int64)
                  for x in (out_a, out_b, out_f))
    # the axis-by-axis filter above already kept only positive overlaps off the shared axis
    ov_lo = np.maximum(lo[a], lo[b])
    ov_hi = np.minimum(hi[a], hi[b])
    rows = np.arange(a.size)
    centroid = (ov_lo + ov_hi) / 2
    ov_hi -= ov_lo  # the overlap widths, in place
    ov_hi[rows, axis] = 1.0
    centroid[rows, axis] = hi[a, axis]
    return a, b, axis, np.prod(ov_hi, axis=1), centroid


def box_touching_pairs(lo: np.ndarray, hi: np.ndarray):
    """Pairs ``a < b`` of closed boxes that intersect (touching counts), by a sweep
    on axis 0 and a filter on the others."""
    i, j = _interval_join(lo[:, 0], hi[:, 0], lo[:, 0], hi[:, 0], closed=True)
    keep = i < j
    i, j = i[keep], j[keep]
    ok = np.all(np.minimum(hi[i], hi[j]) >= np.maximum(lo[i], lo[j]), axis=1)
    return i[ok], j[ok]


# -- the partition ------------------------------------------------------------------------------
class BoxPartition(Partition):
    """A partition into axis-aligned boxes (trees, forests) with closed-form geometry.

    Extra attributes: ``lo``, ``hi`` (shape (n_cells, n)), the cells' corners.

    Table conventions specific to boxes:

    - ``facets``: one row per *piece* of a box facet: the part shared with one
      neighbouring cell (``neighbor`` >= 0), the part on the domain boundary
      (``neighbor = -1``), or the remainder not shared with any cell of the
      partition (``neighbor = -2``; ``neighbor_key`` is the neighbouring leaf for
      a single tree, and ``""`` for an ensemble's cells="data" partition, whose
      cells across are not enumerated). ``label`` is ``2 f`` (lower facet on axis f)
      or ``2 f + 1`` (upper facet), ``-1 - label`` on the domain boundary. The
      pieces of a facet add up to its whole area, so the Minkowski closure holds.
      ``n_facets`` in ``cells`` is ``2 n``, the facets of a box.
    - ``hinges`` (computed on first access): every (n-2)-face of every box, i.e.
      each pair of facets on different axes, 4 C(n, 2) rows per cell, all with
      ``angle = pi/2`` and ``volume`` the product of the widths on the other
      n - 2 axes. ``neighbor_a/_b`` is the facet's neighbour when a single cell
      lies across the whole facet, -1 on the domain boundary, and -2 when several
      cells (or cells outside the partition) share it. T-junctions (a hinge of
      neighbouring boxes lying inside a facet, angle pi) are *not* rows: a facet
      shared by several neighbours is still one facet. ``hinge`` ids group rows
      whose (n-2)-faces coincide exactly. Consequently the "dihedral" metric
      equals the "diagonal" one (all facet normals of a box are orthogonal).
    """

    def __init__(self, *, lo: np.ndarray, hi: np.ndarray, **kwargs):
        self._hinges: pd.DataFrame | None = None
        super().__init__(hinges=None, **kwargs)
        self.lo = np.asarray(lo, dtype=float)
        self.hi = np.asarray(hi, dtype=float)

    @property
    def hinges(self) -> pd.DataFrame:
        if self._hinges is None and hasattr(self, "lo"):
            self._hinges = _box_hinges(self)
        return self._hinges

    @hinges.setter
    def hinges(self, value):
        self._hinges = value

    def __repr__(self) -> str:
        model = type(self.model).__name__ if self.model is not None else "None"
        return (f"<BoxPartition of {model}: {self.n_cells} boxes in {self.dim}-D, "
                f"{len(self.faces)} faces, cells={self.info.get('cells', '?')!r}>")

    def halfspaces(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """The box's 2n rows ``A x <= b`` (order of :meth:`Box.halfspaces`)."""
        if not 0 <= i < self.n_cells:
            raise IndexError(f"cell index {i} out of range for {self.n_cells} cells")
        return Box(self.lo[i], self.hi[i]).halfspaces()

    def common_piece(self, cell_ids) -> tuple[int, float, np.ndarray]:
        """Intersection of closed boxes, closed form: ``[max lo, min hi]``.

        Returns its dimension (axes of positive width), volume in that dimension
        (product of the positive widths; 1 for a point) and centroid (midpoint);
        ``(-1, 0.0, NaN)`` when the boxes do not intersect.
        """
        ids = np.asarray([int(c) for c in cell_ids], dtype=np.int64)
        if ids.size == 0:
            raise ValueError("common_piece needs at least one cell index.")
        lo, hi = self.lo[ids].max(axis=0), self.hi[ids].min(axis=0)
        width = hi - lo
        if np.any(width < 0):
            return -1, 0.0, np.full(self.dim, np.nan)
        pos = width > 0
        return int(pos.sum()), float(np.prod(width[pos])), (lo + hi) / 2

    def common_pieces(self, simplices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised :meth:`common_piece` over rows of cell ids: (dims, volumes)."""
        simplices = np.asarray(simplices, dtype=np.int64)
        lo = self.lo[simplices].max(axis=1)
        hi = self.hi[simplices].min(axis=1)
        width = hi - lo
        empty = np.any(width < 0, axis=1)
        pos = width > 0
        dims = np.where(empty, -1, pos.sum(axis=1))
        volumes = np.where(empty, 0.0, np.prod(np.where(pos, width, 1.0), axis=1))
        return dims, volumes

    def touching_groups(self) -> list[tuple[int, ...]]:
        """Maximal sets of cells whose closed boxes share a point (rule "cech").

        Boxes have the Helly property (pairwise intersecting boxes share a point),
        so these are the maximal cliques of the touching graph, found by a sweep.
        """
        import networkx as nx

        a, b = box_touching_pairs(self.lo, self.hi)
        graph = nx.Graph()
        graph.add_nodes_from(range(self.n_cells))
        graph.add_edges_from(zip(a.tolist(), b.tolist()))
        groups = {tuple(sorted(c)) for c in nx.find_cliques(graph)}
        return sorted(groups, key=lambda g: (-len(g), g))


def build_box_partition(*, domain: Box, keys, lo, hi, counts, model, locator, info: dict,
                        outside: np.ndarray | None = None, outside_keys=None) -> BoxPartition:
    """Assemble a :class:`BoxPartition` from box corners, all tables in closed form.

    ``outside``: optional boolean mask over extra boxes (rows of ``lo``/``hi`` after
    the partition's own ``len(keys)`` rows) that are not cells of the partition but
    name the cells across facets (``neighbor = -2``, ``neighbor_key`` from
    ``outside_keys``).
    """
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    m, n = len(keys), domain.dim
    own_lo, own_hi = lo[:m], hi[:m]
    width = own_hi - own_lo
    center = (own_lo + own_hi) / 2
    counts = np.zeros(m, np.int64) if counts is None else np.asarray(counts, np.int64)
    cells = pd.DataFrame({"key": list(keys), "volume": np.prod(width, axis=1),
                          "inradius": width.min(axis=1) / 2 if m else np.zeros(0),
                          "n_points": counts, "is_data": counts > 0,
                          "n_facets": np.full(m, 2 * n, dtype=np.int64)})
    for j in range(n):
        cells[f"center_{j}"] = center[:, j]
    for j in range(n):
        cells[f"centroid_{j}"] = center[:, j]
    facets = _box_facets(domain, lo, hi, m, outside_keys)
    info = dict(info)
    info.setdefault("tol", 1e-9 * domain.scale)
    info.update(volume_method="exact (closed form, boxes)", face_to_face=False)
    part = BoxPartition(lo=own_lo, hi=own_hi, domain=domain, keys=list(keys), cells=cells,
                        facets=facets, model=model, locator=locator, info=info,
                        vertices=_box_vertices(own_lo, own_hi) if n <= 3 and m else None)
    return part


def _box_facets(domain, lo, hi, m, outside_keys):
    n = domain.dim
    a, b, axis, vol, cen = box_adjacency(lo, hi)
    keep = (a < m) | (b < m)
    a, b, axis, vol, cen = a[keep], b[keep], axis[keep], vol[keep], cen[keep]
    # each shared piece twice: from a (upper facet, +e_f) and from b (lower facet, -e_f)
    cell = np.concatenate([a, b])
    nb = np.concatenate([b, a])
    ax = np.concatenate([axis, axis])
    side = np.concatenate([np.ones(a.size, np.int64), np.zeros(b.size, np.int64)])
    own = cell < m
    cell, nb, ax, side = cell[own], nb[own], ax[own], side[own]
    pvol = np.concatenate([vol, vol])[own]
    pcen = np.concatenate([cen, cen])[own]
    nb_key = np.full(cell.size, "", dtype=object)
    out = nb >= m
    if outside_keys is not None and out.any():
        nb_key[out] = np.asarray(outside_keys, dtype=object)[nb[out] - m]
    nb = np.where(out, -2, nb)
    # whole facets: boundary ones, and the remainders not covered by shared pieces
    widths = hi[:m] - lo[:m]
    f_cell = np.repeat(np.arange(m), 2 * n)
    f_ax = np.tile(np.repeat(np.arange(n), 2), m)
    f_side = np.tile([0, 1], m * n)
    f_area = np.prod(widths, axis=1)[f_cell] / widths[f_cell, f_ax]
    f_cen = ((lo[:m] + hi[:m]) / 2)[f_cell]
    f_val = np.where(f_side == 1, hi[f_cell, f_ax], lo[f_cell, f_ax])
    f_cen[np.arange(f_cell.size), f_ax] = f_val
    f_id = f_cell * 2 * n + 2 * f_ax + f_side
    p_id = cell * 2 * n + 2 * ax + side
    covered = np.bincount(p_id, weights=pvol, minlength=f_id.size)
    moment = np.zeros((f_id.size, n))
    np.add.at(moment, p_id, pvol[:, None] * pcen)
    on_box = np.where(f_side == 1, f_val == domain.hi[f_ax], f_val == domain.lo[f_ax])
    rest = f_area - covered
    tol_area = 1e-9 * f_area
    extra = on_box | (rest > tol_area)
    r_vol = np.where(on_box, f_area, rest)[extra]
    r_cen = np.where(on_box[:, None], f_cen,
                     (f_area[:, None] * f_cen - moment) / np.where(rest > 0, rest, 1)[:, None])
    r_cen = r_cen[extra]
    r_nb = np.where(on_box, -1, -2)[extra]
    label = 2 * np.concatenate([ax, f_ax[extra]]) + np.concatenate([side, f_side[extra]])
    all_nb = np.concatenate([nb, r_nb])
    label = np.where(all_nb == -1, -1 - label, label)
    all_cell = np.concatenate([cell, f_cell[extra]])
    all_ax = np.concatenate([ax, f_ax[extra]])
    all_side = np.concatenate([side, f_side[extra]])
    sign = np.where(all_side == 1, 1.0, -1.0)
    value = np.where(all_side == 1, hi[all_cell, all_ax], lo[all_cell, all_ax])
    order = np.lexsort((all_nb, label, all_cell))
    keys_col = np.concatenate([nb_key, np.full(r_vol.size, "", dtype=object)])
    facets = pd.DataFrame({
        "cell": all_cell[order], "label": label[order], "neighbor": all_nb[order],
        "neighbor_key": keys_col[order].astype(str),
        "volume": np.concatenate([pvol, r_vol])[order], "offset": (sign * value)[order]})
    normals = np.zeros((all_cell.size, n))
    normals[np.arange(all_cell.size), all_ax] = sign
    cents = np.concatenate([pcen, r_cen])
    for j in range(n):
        facets[f"normal_{j}"] = normals[order, j]
    for j in range(n):
        facets[f"centroid_{j}"] = cents[order, j]
    return facets.reset_index(drop=True)


def _box_vertices(lo, hi):
    m, n = lo.shape
    bits = np.array(list(itertools.product([0, 1], repeat=n)), dtype=float)
    corners = (lo[:, None, :] + bits[None] * (hi - lo)[:, None, :]).reshape(-1, n)
    coords, ids = np.unique(corners, axis=0, return_inverse=True)
    indptr = np.arange(0, m * 2 ** n + 1, 2 ** n, dtype=np.int64)
    return indptr, ids.ravel().astype(np.int64), coords


def _box_hinges(part: BoxPartition) -> pd.DataFrame:
    """Every (n-2)-face of every box: pairs of facets on different axes (angle pi/2)."""
    n, m = part.dim, part.n_cells
    cols = ["hinge", "cell", "label_a", "label_b", "neighbor_a", "neighbor_b", "angle",
            "volume", "boundary"] + vector_columns("centroid", n)
    if n < 2 or m == 0:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    f = part.facets
    fid = f["cell"].to_numpy() * 2 * n + np.where(f["label"] >= 0, f["label"], -1 - f["label"])
    nb = f["neighbor"].to_numpy()
    n_pieces = np.bincount(fid, minlength=2 * n * m)
    single = np.full(2 * n * m, -2, dtype=np.int64)
    first = np.full(2 * n * m, -2, dtype=np.int64)
    first[fid[::-1]] = nb[::-1]
    single[n_pieces == 1] = first[n_pieces == 1]
    pairs = np.array([(fa, sa, fb, sb) for fa, fb in itertools.combinations(range(n), 2)
                      for sa in (0, 1) for sb in (0, 1)], dtype=np.int64)
    k = len(pairs)
    cell = np.repeat(np.arange(m), k)
    fa, sa, fb, sb = (np.tile(pairs[:, i], m) for i in range(4))
    lo, hi = part.lo[cell], part.hi[cell]
    rows = np.arange(cell.size)
    width = hi - lo
    width[rows, fa] = 1.0
    width[rows, fb] = 1.0
    cen = (lo + hi) / 2
    cen[rows, fa] = np.where(sa == 1, hi[rows, fa], lo[rows, fa])
    cen[rows, fb] = np.where(sb == 1, hi[rows, fb], lo[rows, fb])
    la, lb = 2 * fa + sa, 2 * fb + sb
    na, nbb = single[cell * 2 * n + la], single[cell * 2 * n + lb]
    dlo, dhi = part.domain.lo, part.domain.hi
    on_a = np.where(sa == 1, cen[rows, fa] == dhi[fa], cen[rows, fa] == dlo[fa])
    on_b = np.where(sb == 1, cen[rows, fb] == dhi[fb], cen[rows, fb] == dlo[fb])
    # a hinge is identified by its axes, its two fixed coordinates and its extent
    sig_lo, sig_hi = lo.copy(), hi.copy()
    sig_lo[rows, fa] = sig_hi[rows, fa] = cen[rows, fa]
    sig_lo[rows, fb] = sig_hi[rows, fb] = cen[rows, fb]
    sig = np.ascontiguousarray(np.column_stack([fa, fb, sig_lo, sig_hi]).astype(float))
    _, first_row, inv = np.unique(sig.view(np.dtype((np.void, sig.itemsize * sig.shape[1]))),
                                  return_index=True, return_inverse=True)
    rank = np.empty(first_row.size, dtype=np.int64)
    rank[np.argsort(first_row)] = np.arange(first_row.size)
    table = pd.DataFrame({
        "hinge": rank[inv.ravel()], "cell": cell,
        "label_a": np.where(on_a, -1 - la, la), "label_b": np.where(on_b, -1 - lb, lb),
        "neighbor_a": na, "neighbor_b": nbb, "angle": np.full(cell.size, np.pi / 2),
        "volume": np.prod(width, axis=1), "boundary": on_a | on_b})
    for j in range(n):
        table[f"centroid_{j}"] = cen[:, j]
    return table.sort_values(["hinge", "cell"], kind="stable").reset_index(drop=True)


# -- trees as arrays ----------------------------------------------------------------------------
@dataclass
class TreeArrays:
    """One tree as flat arrays: ``left[i] == -1`` marks a leaf; a point goes left iff
    ``x[feature] <= threshold`` (``<`` when ``strict``, as XGBoost compares), in float32
    when ``float32``.

    The box of a node is the same closed box either way; ``strict`` only decides
    which side a point exactly on a threshold takes.
    """

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    float32: bool = True
    strict: bool = False

    @classmethod
    def from_sklearn(cls, tree, feature_map=None) -> TreeArrays:
        t = tree.tree_
        feature = t.feature.astype(np.int64)
        if feature_map is not None:
            feature = np.where(feature >= 0, np.asarray(feature_map)[np.maximum(feature, 0)], -2)
        return cls(t.children_left.astype(np.int64), t.children_right.astype(np.int64),
                   feature, t.threshold.astype(float), True)

    def apply(self, Z: np.ndarray) -> np.ndarray:
        """Leaf node id of each row of ``Z`` (the model's own input units)."""
        Z = Z.astype(np.float32) if self.float32 else Z
        node = np.zeros(Z.shape[0], dtype=np.int64)
        active = np.flatnonzero(self.left[node] >= 0)
        while active.size:
            nd = node[active]
            z, thr = Z[active, self.feature[nd]], self.threshold[nd]
            go_left = z < thr if self.strict else z <= thr
            node[active] = np.where(go_left, self.left[nd], self.right[nd])
            active = active[self.left[node[active]] >= 0]
        return node


def leaf_boxes(tree: TreeArrays, domain: Box, scale=None, shift=None):
    """Box ``[lo, hi]`` of every node clipped to ``domain``, level by level.

    With a diagonal affine input map ``z = scale * x + shift`` (scale > 0) the
    thresholds are pulled back to ``x = (t - shift) / scale``.

    Returns ``(node_lo, node_hi)``, shape (n_nodes, n); an empty node has some
    ``hi <= lo``.
    """
    k, n = tree.left.size, domain.dim
    thr = tree.threshold.copy()
    if scale is not None:
        f = np.maximum(tree.feature, 0)
        thr = (thr - shift[f]) / scale[f]
    node_lo = np.empty((k, n))
    node_hi = np.empty((k, n))
    node_lo[0], node_hi[0] = domain.lo, domain.hi
    frontier = np.array([0])
    while frontier.size:
        parent = frontier[tree.left[frontier] >= 0]
        f, t = tree.feature[parent], thr[parent]
        left, right = tree.left[parent], tree.right[parent]
        for child in (left, right):
            node_lo[child], node_hi[child] = node_lo[parent], node_hi[parent]
        node_hi[left, f] = np.minimum(node_hi[left, f], t)
        node_lo[right, f] = np.maximum(node_lo[right, f], t)
        frontier = np.concatenate([left, right])
    return node_lo, node_hi


# -- adapter -------------------------------------------------------------------------------------
_TREES = ["sklearn.tree._classes.DecisionTreeClassifier",
          "sklearn.tree._classes.DecisionTreeRegressor",
          "sklearn.tree._classes.ExtraTreeClassifier",
          "sklearn.tree._classes.ExtraTreeRegressor"]


def _partition_tree(model, *, domain, data, cells, progress, tol=None, _affine=None,
                    _model=None, _transform=None):
    """Leaves of a single tree as a :class:`BoxPartition` (see module docstring)."""
    record = model if _model is None else _model
    check_fitted_model(model)
    data, domain, n_outside = prepare_inputs(record, domain, data, cells)
    scale, shift = _affine if _affine is not None else (None, None)
    tree = TreeArrays.from_sklearn(model)
    node_lo, node_hi = leaf_boxes(tree, domain, scale, shift)
    leaves = np.flatnonzero(tree.left < 0)
    nonempty = leaves[np.all(node_hi[leaves] > node_lo[leaves], axis=1)]
    transform = _transform or (lambda X: X)

    def leaf_of(X):
        return model.apply(np.ascontiguousarray(transform(X), dtype=np.float32))

    counts = np.zeros(tree.left.size, dtype=np.int64)
    if data is not None:
        inside = data[domain.contains(data)]
        if len(inside):
            counts = np.bincount(leaf_of(inside), minlength=tree.left.size)
    if cells == "data":
        own = nonempty[counts[nonempty] > 0]
        if own.size == 0:
            raise ValueError("No data point lies inside the domain box.")
    else:
        own = nonempty
    rest = np.setdiff1d(nonempty, own)
    order = np.concatenate([own, rest])
    index = np.full(tree.left.size, -1, dtype=np.int64)
    index[own] = np.arange(own.size)
    info = {"cells": cells, "n_dropped": int(leaves.size - nonempty.size),
            "n_points_outside": n_outside, "n_leaves": int(leaves.size)}
    if tol is not None:
        info["tol"] = float(tol)
    part = build_box_partition(
        domain=domain, keys=[str(v) for v in own], lo=node_lo[order], hi=node_hi[order],
        counts=counts[own], model=record, locator=lambda X: index[leaf_of(X)], info=info,
        outside_keys=[str(v) for v in rest])
    add_predictions(part.cells, record, domain.dim)
    part.cells["leaf"] = own
    return part


for _name in _TREES:
    register_adapter(_name)(_partition_tree)
