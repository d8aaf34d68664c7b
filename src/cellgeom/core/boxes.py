"""Box partitions (trees, forests, boosters): the data model with closed-form geometry.

A leaf is an axis-aligned box ``{lo <= x <= hi}``. Everything about boxes is
closed form: volume ``prod(hi - lo)``, Chebyshev centre the midpoint with radius
``min(hi - lo) / 2``, faces from :func:`cellgeom.geometry.boxes.box_adjacency` (for one
tree, the adapter passes in the faces of
:func:`cellgeom.geometry.tree_adjacency.tree_adjacency`, found from the tree's structure).
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from ..geometry import Box
from ..geometry.box_facets import box_facet_rows
from ..geometry.box_index import BoxIndex
from ..geometry.boxes import box_adjacency, box_touching_pairs
from .partition import Partition
from .validation import vector_columns

__all__ = ["BoxPartition", "build_box_partition"]


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
        # ((lo, hi, domain), BoxIndex over them) to locate points without the model
        self._locate_index: tuple | None = None
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

    def _locate_by_halfspaces(self, X: np.ndarray) -> np.ndarray:
        """Point location without the model (a loaded or unpickled partition): the box
        with ``lo < x <= hi`` on every axis (closed at the domain's lower side), the
        lowest-numbered one if several, -1 if none.

        Exact, with no tolerance: boxes of a model's partition tile the domain, and the
        generic test (closed cells within tol, lowest index first) sent points on or
        within tol of a threshold to the wrong box, where a tree's cells can be 2e-35 wide
        (LightGBM splits integer features at +-1e-35). ``x <= t`` goes left as in
        scikit-learn, LightGBM and CatBoost; float32 models (scikit-learn, XGBoost) split
        halfway between float32 neighbours, where no float32 input lies.

        The boxes are searched with a :class:`~cellgeom.geometry.box_index.BoxIndex`
        (a kd-tree over them, built on the first call and kept), in about
        ``O(log boxes)`` per point; the same answer as testing every box.
        """
        return self._box_index().locate(X)

    def _box_index(self) -> BoxIndex:
        """The kd-tree over the boxes for :meth:`_locate_by_halfspaces`, built once (and
        again if ``lo``, ``hi`` or the domain were replaced)."""
        key = (self.lo, self.hi, self.domain)
        cached = getattr(self, "_locate_index", None)  # absent if pickled before it was
        if cached is None or any(a is not b for a, b in zip(cached[0], key)):
            lo = np.where(self.lo <= self.domain.lo, -np.inf, self.lo)
            cached = self._locate_index = (key, BoxIndex(lo, self.hi))
        return cached[1]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_locate_index"] = None  # rebuilt on demand, cheaper than its bytes
        return state

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
                        outside: np.ndarray | None = None, outside_keys=None,
                        faces=None) -> BoxPartition:
    """Assemble a :class:`BoxPartition` from box corners, all tables in closed form.

    ``outside``: optional boolean mask over extra boxes (rows of ``lo``/``hi`` after
    the partition's own ``len(keys)`` rows) that are not cells of the partition but
    name the cells across facets (``neighbor = -2``, ``neighbor_key`` from
    ``outside_keys``). ``faces``: the boxes' shared faces ``(a, b, axis, volume,
    centroid)`` as :func:`~cellgeom.geometry.boxes.box_adjacency` returns them for these
    rows, when the caller has them by a faster route (one tree:
    :func:`~cellgeom.geometry.tree_adjacency.tree_adjacency`); computed here otherwise.
    """
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    m, n = len(keys), domain.dim
    own_lo, own_hi = lo[:m], hi[:m]
    width = own_hi - own_lo
    center = (own_lo + own_hi) / 2
    counts = np.zeros(m, np.int64) if counts is None else np.asarray(counts, np.int64)
    # one dict of columns: inserting 2 n vector columns one by one fragments the frame
    cells = pd.DataFrame({"key": list(keys), "volume": np.prod(width, axis=1),
                          "inradius": width.min(axis=1) / 2 if m else np.zeros(0),
                          "n_points": counts, "is_data": counts > 0,
                          "n_facets": np.full(m, 2 * n, dtype=np.int64),
                          **{f"center_{j}": center[:, j] for j in range(n)},
                          **{f"centroid_{j}": center[:, j] for j in range(n)}})
    facets = _box_facets(domain, lo, hi, m, outside_keys,
                         box_adjacency(lo, hi) if faces is None else faces)
    info = dict(info)
    info.setdefault("tol", 1e-9 * domain.scale)
    info.update(volume_method="exact (closed form, boxes)", face_to_face=False)
    part = BoxPartition(lo=own_lo, hi=own_hi, domain=domain, keys=list(keys), cells=cells,
                        facets=facets, model=model, locator=locator, info=info,
                        vertices=_box_vertices(own_lo, own_hi) if n <= 3 and m else None)
    return part


def _box_facets(domain, lo, hi, m, outside_keys, faces):
    """The facets table: rows by cell, label, neighbour (and the box across, so the order
    does not depend on the order in which the faces were found), from the compiled
    :func:`~cellgeom.geometry.box_facets.box_facet_rows`."""
    n = domain.dim
    cell, label, neighbor, outside, values = box_facet_rows(
        *faces, m, lo, hi, domain.lo, domain.hi)
    # the keys of the boxes across as one string column, taken from the few distinct
    # keys (row 0: no key) rather than converted string by string
    if outside_keys is None:  # boxes across that have no keys: named ""
        outside_keys, outside = [], np.zeros_like(outside)
    names = np.asarray([""] + list(outside_keys), dtype=object).astype(str)
    keys = pd.Series(names).array.take(outside)
    # the float columns as one block, without a copy
    facets = pd.DataFrame(values.T, columns=["volume", "offset"] + vector_columns("normal", n)
                          + vector_columns("centroid", n), copy=False)
    for at, (name, column) in enumerate((("cell", cell), ("label", label),
                                         ("neighbor", neighbor), ("neighbor_key", keys))):
        facets.insert(at, name, column)
    return facets


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
        "volume": np.prod(width, axis=1), "boundary": on_a | on_b,
        **{f"centroid_{j}": cen[:, j] for j in range(n)}})
    return table.sort_values(["hinge", "cell"], kind="stable").reset_index(drop=True)


