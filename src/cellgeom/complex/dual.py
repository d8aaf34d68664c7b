"""Rule "dual": the dual cell complex of a partition in its domain, triangulated.

Every interior face F of the partition (a point set where the cells ``S(F)``, its
*star*, meet; codimension k) whose cells are all present gives the k-cell ``D(F)`` with
vertex set ``S(F)``: cells are points, facets edges, hinges polygons, and so on. Each
``D(F)`` is triangulated by *pulling* its first cell: the cone from the first cell of
``S(F)`` over the triangulated faces of ``D(F)`` that do not contain it (a fan, for a
polygon). "First" is in the canonical order of :func:`canonical_order` (largest volume
first), which depends on the geometry only, so the complex does not change when the
cells are numbered differently. The result has a closed description used here: with
cells ``v_0 < v_1 < ... < v_p`` in that order, a row is a simplex iff there are faces
``F_p, ..., F_1`` with ``F_i`` in the closure of ``F_{i-1}``, ``v_i..v_p`` around
``F_i``, ``v_i`` first among the cells around ``F_i``, and every ``F_i`` interior with
all its cells present. Its faces pass the same test, so simplices are built dimension by
dimension from the cliques of the previous one. In a face-to-face partition F_i is the
common face of ``v_i..v_p``; in a box partition with coinciding coordinates that
intersection can hold several faces, and each is tried.

For a full partition of a box the complex is contractible (the dual of a ball), so its
Betti numbers are (1, 0, ..., 0), as the domain's are. For the cells of a partition
that are present (``cells="data"``) it has the homotopy type of the interior of their
union (cells meeting along a face whose other cells are missing are not joined there).

Gram weights (the diagonal of M_p): a p-simplex whose carrier face F (the face common to
its cells) has codimension p is one of the t_F simplices of the fan of ``D(F)`` and gets
``vol_{n-p}(F) / t_F``: the face's volume shared equally. A simplex inside a fan
(codimension of F above p, e.g. the diagonal of the quadrilateral around the crossing of
two lines) is not dual to any face; it gets the mean weight of the p-simplices of
``D(F)``'s boundary (the typical (n-p)-volume of the faces around F), so M_p stays
diagonal, positive and scales as length^(n-p).
"""
from __future__ import annotations

from itertools import combinations

import numpy as np

from ..core import BoxPartition
from ._corner_kernel import corner_pair_candidates
from ._fan_kernel import segment_sums
from ._group_kernel import group_rows
from ._strata_kernels import box_extend, box_touching
from .chains import SimplexIndex
from .dual_plane import dual_nerve_plane
from .dual_vertices import VertexStrata

__all__ = ["dual_nerve", "has_dual_structure", "buildable_rule", "canonical_order"]


def has_dual_structure(partition) -> bool:
    """Whether the dual complex can be built exactly: boxes, or a face-to-face partition
    with its cells' vertices (the exact route, n <= 6)."""
    if isinstance(partition, BoxPartition):
        return True
    return bool(partition.has_vertices and partition.info.get("face_to_face"))


def buildable_rule(partition) -> str:
    """The rule the partition's complex is built by when nothing is asked: "dual" where
    its faces are known (:func:`has_dual_structure`), else "facet" (the high-dimensional
    route: facets only), which ``build_complex`` would otherwise substitute with a
    warning."""
    return "dual" if has_dual_structure(partition) else "facet"


def dual_nerve(partition, max_dim, extend, facet_volumes, facet_pairs=None, stage=None,
               guard=None):
    """Simplices and Gram weights of the triangulated dual complex.

    Parameters
    ----------
    partition : Partition
        Boxes or a face-to-face partition with vertices (:func:`has_dual_structure`).
    max_dim : int or None
        Highest dimension built (default n).
    extend : callable
        ``extend(index, p, edges)`` -> candidate p-simplices (chunks of rows) whose
        every facet is a (p-1)-simplex; see :func:`cellgeom.complex.nerve.clique_chunks`.
    facet_volumes : callable
        ``facet_volumes(pairs)`` -> (n-1)-volume shared by each pair of cells.
    facet_pairs : int array (k, 2), optional
        The pairs of cells sharing a facet (boxes: with the pairs meeting at a corner,
        the touching pairs, found without a sweep).
    stage : callable, optional
        ``stage(name)`` is called as each stage starts ("cell order", "p-simplices",
        "renumbering"), for a progress bar.
    guard : callable, optional
        ``guard(index, p, edges, row_bytes, held)`` is called before the p-simplices
        (p >= 2) are built, to refuse a dimension that would not fit in memory (see
        :func:`cellgeom.complex.nerve.check_dimension`): ``row_bytes`` is what the
        carriers of the (p-1)-simplices took per simplex, twice (built in parts, then
        joined), ``held`` the bytes of those kept to extend them.

    Returns
    -------
    simplices, volumes : lists over p, as :func:`cellgeom.complex.nerve.nerve`.
    faces : list over p (None for p = 0) of (n_p, p+1) facet indices, column i the
        facet without vertex i (for :meth:`SimplexIndex.add`).
    """
    n, m = partition.dim, partition.n_cells
    top = n if max_dim is None else min(int(max_dim), n)
    stage = stage or (lambda name: None)
    stage("cell order")
    # built on the cells renumbered in the canonical order; mapped back at the end
    order = canonical_order(partition)
    rank = np.empty(m, dtype=np.int64)
    rank[order] = np.arange(m)
    if isinstance(partition, BoxPartition) and n == 2 and facet_pairs is not None:
        # closed form in the plane (same complex; see dual_plane)
        stage("simplices (plane)")
        return dual_nerve_plane(partition.lo, partition.hi, partition.volumes, rank, facet_pairs,
                                facet_volumes, top)
    if isinstance(partition, BoxPartition):
        strata = _BoxStrata(partition, order, rank, facet_pairs)
    else:
        strata = _VertexStrata(partition, rank)

    def shared_volumes(pairs):
        return facet_volumes(np.sort(order[pairs], axis=1))

    simplices = [np.arange(m, dtype=np.int64)[:, None]]
    volumes = [np.asarray(partition.volumes, dtype=float)]
    index = SimplexIndex(simplices)
    p = 1
    faces = [None]
    row_bytes = held = 0.0
    while p <= top and len(simplices[-1]):
        stage(f"{p}-simplices")
        if p == 1:
            pairs = strata.pairs() if m > 1 else np.zeros((0, 2), np.int64)
            chunks = [(pairs, np.column_stack([pairs[:, 1], pairs[:, 0]]))]
        else:
            if guard is not None:
                guard(index, p, simplices[1], row_bytes, held)
            chunks = extend(index, p, simplices[1])
        kept, kept_faces, carriers = [], [], []
        for cand, cand_faces in chunks:
            # the facet without the first cell realises the rest of the candidate
            keep, info = strata.extend(cand, cand_faces[:, 0])
            kept.append(cand[keep])
            kept_faces.append(cand_faces[keep])
            carriers.append(info)
        new = np.concatenate(kept) if kept else np.zeros((0, p + 1), np.int64)
        if len(new) == 0:
            break
        new_faces = np.concatenate(kept_faces)
        info = _Carriers.concat(carriers)
        # the candidates are dropped before the weights are computed (at 100k cells in
        # 8-D they hold GBs), and the carriers' boxes kept only if they are extended
        chunks = pairs = cand = cand_faces = keep = kept = kept_faces = carriers = None
        if p < top:
            strata.commit(info)
        simplices.append(new)
        faces.append(new_faces)
        index.add(new, faces[-1])
        volumes.append(_weights(p, new, info, index, shared_volumes, order))
        # the next dimension's carriers, per simplex, as these took (built in chunks and
        # joined: twice), and these kept meanwhile to extend them
        row_bytes = 2 * info.nbytes / len(new)
        held = info.nbytes if p < top else 0.0
        info = None
        p += 1
    stage("renumbering")
    strata = None
    return _renumber(simplices, volumes, faces, order)


def _row_order(rows, m):
    """Lexicographic order of distinct rows of ids in [0, m): one argsort of an integer
    key per row when it fits in int64 (much faster than lexsort), else lexsort."""
    if m ** rows.shape[1] < 2**62:
        key = np.zeros(len(rows), dtype=np.int64)
        for j in range(rows.shape[1]):
            key = key * m + rows[:, j]
        return np.argsort(key, kind="stable")  # ties (none expected) as lexsort
    return np.lexsort(rows.T[::-1])


def _renumber(simplices, volumes, faces, order):
    """Simplices, weights and facet indices back in the partition's cell numbers (rows
    sorted within and lexicographically across)."""
    inverse = order  # level 0: renumbered cell -> the partition's cell
    for q in range(1, len(simplices)):
        mapped = order[simplices[q]]
        in_row = np.argsort(mapped, axis=1)
        rows = np.take_along_axis(mapped, in_row, axis=1)
        srt = _row_order(rows, len(order))
        # the facet without the i-th vertex of the sorted row
        f = np.take_along_axis(inverse[faces[q]], in_row, axis=1)
        simplices[q], volumes[q], faces[q] = rows[srt], volumes[q][srt], f[srt]
        inverse = np.empty(len(srt), dtype=np.int64)
        inverse[srt] = np.arange(len(srt))
    return simplices, volumes, faces


def canonical_order(partition) -> np.ndarray:
    """The cells in the order that picks each fan's apex: decreasing volume, ties broken
    by the centroid (lexicographic) and then the index. It depends on the geometry only,
    so the complex does not change when the cells are numbered differently (another
    order of hyperplanes, units or trees); volumes and centroids are compared to 12
    significant digits so rounding noise does not decide."""
    vol = np.asarray(partition.volumes, dtype=float)
    cen = np.asarray(partition.centroids, dtype=float)
    scale = float(partition.domain.scale) or 1.0
    vol_key = -_round_sig(vol, 12)
    cen_key = np.round(cen / scale, 10)
    keys = [np.arange(len(vol))] + [cen_key[:, j] for j in range(cen.shape[1] - 1, -1, -1)]
    return np.lexsort(keys + [vol_key]).astype(np.int64)


def _round_sig(x, digits):
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(x != 0, np.floor(np.log10(np.abs(x))), 0.0)
    mag = np.nan_to_num(mag)
    return np.round(x / 10.0 ** mag, digits - 1) * 10.0 ** mag


class _Carriers:
    """The faces of the partition carrying each new simplex (CSR over the simplices):
    an exact identity per face (:meth:`groups`), its codimension and volume, the cells
    around it, and whatever the strata oracle keeps to extend the simplex later
    (``extra``). The identity is ``key``, int64 rows (face-to-face partitions: the cells
    around the face), or for boxes (``key`` None) the faces' own boxes ``extra = (lo,
    hi)``, read in place: at p = 1 a 100k-leaf 8-D tree has 10M+ carriers, whose keys
    written out took 1.9 GB."""

    def __init__(self, ptr, key, codim, vol, sptr, sids, extra=None):
        self.ptr, self.key, self.codim, self.vol = ptr, key, codim, vol
        self.sptr, self.sids, self.extra = sptr, sids, extra

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays held."""
        arrays = [self.ptr, self.key, self.codim, self.vol, self.sptr, self.sids,
                  *(self.extra or ())]
        return int(sum(a.nbytes for a in arrays if a is not None))

    def groups(self, rows):
        """The carriers ``rows`` (indices) grouped by face: :func:`group_rows`' group of
        each row, first row of each group and group sizes."""
        if self.key is not None:
            return group_rows(self.key, self.key[:, :0], rows)
        return group_rows(*self.extra, rows)

    @staticmethod
    def concat(parts):
        if len(parts) == 1:
            return parts[0]
        ptr, sptr, off, soff = [np.zeros(1, np.int64)], [np.zeros(1, np.int64)], 0, 0
        for c in parts:
            ptr.append(c.ptr[1:] + off)
            sptr.append(c.sptr[1:] + soff)
            off += len(c.codim)
            soff += len(c.sids)
        extra = None
        if parts[0].extra is not None:
            extra = tuple(np.concatenate([c.extra[i] for c in parts])
                          for i in range(len(parts[0].extra)))
        key = None
        if parts[0].key is not None:  # rows padded with -1 to one width, as each part's
            width = max(c.key.shape[1] for c in parts)
            key = np.concatenate([np.pad(c.key, ((0, 0), (0, width - c.key.shape[1])),
                                         constant_values=-1) for c in parts])
        return _Carriers(np.concatenate(ptr), key,
                         np.concatenate([c.codim for c in parts]),
                         np.concatenate([c.vol for c in parts]), np.concatenate(sptr),
                         np.concatenate([c.sids for c in parts]), extra)


def _weights(p, simp, info, index, facet_volumes, order):
    """Gram weights of the p-simplices (module docstring): a face's volume shared
    equally over the fan simplices it carries at full dimension; inside a fan, the mean
    weight of the fan's boundary p-simplices. ``order`` maps the cells back to the
    partition's numbers (for an error message)."""
    k = len(simp)
    counts = np.diff(info.ptr)
    row = np.repeat(np.arange(k), counts)  # simplex of each (simplex, carrier) pair
    if np.any(info.codim < p):
        first = int(np.flatnonzero(info.codim < p)[0])
        bad = sorted(order[simp[row[first]]].tolist())
        raise RuntimeError(
            f"dual rule: the cells {bad} share vertices, but the face they share has "
            f"codimension {int(info.codim[first])} (the rank of the normals of the facets "
            f"between the cells around it), below {p}: the partition's vertex table (corners "
            "closer than 1e3 tol merged) does not resolve the cells here, e.g. a cell "
            "thinner than 1e3 tol whose corners merged across it")
    top = info.codim == p
    out = np.zeros(k)
    if np.any(top) and p == 1:  # a facet carries the one edge of its two cells
        np.add.at(out, row[top], facet_volumes(simp[row[top]]))
    elif np.any(top):
        inv, _, t = info.groups(np.flatnonzero(top))
        np.add.at(out, row[top], info.vol[top] / t[inv])
    has_top = np.bincount(row[top], minlength=k) > 0
    inner = np.flatnonzero(~has_top)
    if inner.size:
        first = info.ptr[inner]  # the carrier of least codimension comes first
        inv, uniq, _ = info.groups(first)
        out[inner] = _fan_means(p, first[uniq], info, index, out, has_top)[inv]
    return out


#: at most this many (p+1)-subsets of stars looked up at once (bounds the memory)
_FAN_ROWS = 1 << 21


def _fan_means(p, carriers, info, index, out, has_top):
    """Per carrier c: the mean weight of the p-simplices with a full-dimensional carrier
    among the (p+1)-subsets of c's star, or c's own volume when there are none.

    Carriers with stars of one size are done together: their subsets (each star's in
    ``itertools.combinations`` order) looked up at once, and the kept weights summed per
    carrier as ``mean`` sums them (:func:`segment_sums`: the same roundings).
    """
    sizes = info.sptr[carriers + 1] - info.sptr[carriers]
    means = np.empty(len(carriers))
    for size in np.unique(sizes).tolist():
        group = np.flatnonzero(sizes == size)
        subsets = np.array(list(combinations(range(size), p + 1)), dtype=np.int64)
        subsets = subsets.reshape(-1, p + 1)
        step = max(1, _FAN_ROWS // max(len(subsets), 1))
        for lo in range(0, len(group), step):
            part = group[lo:lo + step]
            stars = info.sids[info.sptr[carriers[part]][:, None] + np.arange(size)]
            rows = stars[:, subsets].reshape(-1, p + 1)  # carrier-major, subsets in order
            pos = index.find(p, rows)
            keep = pos >= 0
            keep[keep] = has_top[pos[keep]]
            owner = np.repeat(np.arange(len(part)), len(subsets))[keep]
            weights = out[pos[keep]]
            counts = np.bincount(owner, minlength=len(part))
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
            sums = segment_sums(np.ascontiguousarray(weights), starts, counts)
            means[part] = np.where(counts > 0, sums / np.maximum(counts, 1),
                                   info.vol[carriers[part]].astype(float))
    return means


def _padded_rows(ptr, ids):
    """One exact, comparable int64 row per row of a CSR list (its length, then its
    entries padded with -1)."""
    lengths = np.diff(ptr)
    width = int(lengths.max()) if lengths.size else 0
    rows = np.full((len(lengths), width + 1), -1, dtype=np.int64)
    rows[:, 0] = lengths
    r = np.repeat(np.arange(len(lengths)), lengths)
    c = np.arange(len(ids)) - np.repeat(ptr[:-1], lengths) + 1
    rows[r, c] = ids
    return rows


class _BoxStrata:
    """Closed-form strata of a box partition: intersections of boxes, cut where boxes
    with coinciding coordinates meet them (see :func:`box_extend`). Cells are numbered
    in ``order`` (new cell i is the partition's cell ``order[i]``)."""

    def __init__(self, part, order, rank, facet_pairs=None):
        self.lo = np.ascontiguousarray(np.asarray(part.lo, dtype=float)[order])
        self.hi = np.ascontiguousarray(np.asarray(part.hi, dtype=float)[order])
        self.n = part.dim
        m = len(self.lo)
        if facet_pairs is None:  # all touching pairs by a sweep
            a, b = box_touching(self.lo, self.hi,
                                np.argsort(self.lo[:, 0], kind="stable").astype(np.int64))
        else:
            # touching = sharing a facet, or meeting at a corner (two axes end to end)
            fp = rank[np.asarray(facet_pairs, dtype=np.int64).reshape(-1, 2)]
            cp = _corner_pairs(self.lo, self.hi)
            # sorted, then repeats dropped: np.unique hashes first, and hashing millions of
            # keys in random order (the cells renumbered) cost 10x the sort
            key = np.sort(np.concatenate([np.min(fp, 1) * m + np.max(fp, 1),
                                          cp[:, 0] * m + cp[:, 1]]))
            key = key[np.concatenate([key[:1] == key[:1], key[1:] != key[:-1]])]
            a, b = key // m, key % m
        self._pairs = np.column_stack([a, b])
        both_a = np.concatenate([a, b])
        both_b = np.concatenate([b, a])
        srt = np.argsort(both_a * m + both_b, kind="stable")  # = lexsort((both_b, both_a))
        self.nids = np.ascontiguousarray(both_b[srt])
        self.nptr = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(np.bincount(both_a, minlength=m), out=self.nptr[1:])
        # each cell is realised by itself
        self.r_ptr = np.arange(m + 1, dtype=np.int64)
        self.r_lo, self.r_hi = self.lo, self.hi

    def pairs(self):
        p = self._pairs
        return p[_row_order(p, len(self.lo))]

    def extend(self, cand, tau):
        ok, ptr, lo, hi, dims, vols, sptr, sids = box_extend(
            np.ascontiguousarray(cand, dtype=np.int64), tau.astype(np.int64), self.r_ptr,
            self.r_lo, self.r_hi, self.lo, self.hi, self.nptr, self.nids,
            self.r_lo is self.lo)  # the cells realise themselves (pairs, before a commit)
        ptr = _compress_ptr(ptr, ok)
        return ok, _Carriers(ptr, None, self.n - dims, vols, sptr, sids, extra=(lo, hi))

    def commit(self, info):
        self.r_ptr = info.ptr
        self.r_lo, self.r_hi = info.extra


def _corner_pairs(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Pairs ``a < c`` of closed boxes that touch without sharing a facet: on two axes f,
    g their intervals meet end to end, on the others they overlap or touch. Found by an
    exact join on the coordinate pairs (hi_a[f], hi_a[g] or lo_a[g]) = (lo_c[f], lo_c[g] or
    hi_c[g]) (coordinates replaced by their integer ranks per axis), so only boxes sharing
    two exact coordinates are ever paired."""
    m, n = lo.shape
    rlo = np.empty((m, n), dtype=np.int64)
    rhi = np.empty((m, n), dtype=np.int64)
    size = np.empty(n, dtype=np.int64)
    for j in range(n):
        vals, inv = np.unique(np.concatenate([lo[:, j], hi[:, j]]), return_inverse=True)
        rlo[:, j], rhi[:, j] = inv[:m], inv[m:]
        size[j] = len(vals)
    a, c = corner_pair_candidates(rlo, rhi, size, lo, hi)  # compiled join (repeats)
    key = np.unique(a * m + c)  # 1-D keys: row-wise unique is slow
    return np.column_stack([key // m, key % m]).reshape(-1, 2)


class _VertexStrata(VertexStrata):
    """:class:`VertexStrata` giving its carriers as :class:`_Carriers`: keyed by their
    stars (face to face, a face is the set of cells around it)."""

    def extend(self, cand, tau):
        ok, sptr, sids, codim, vols = super().extend(cand, tau)
        k = int(ok.sum())
        return ok, _Carriers(np.arange(k + 1, dtype=np.int64), _padded_rows(sptr, sids),
                             codim, vols, sptr, sids)


def _compress_ptr(ptr, ok):
    """A CSR pointer over all candidates -> one over the kept ones (rejected are empty)."""
    return np.concatenate([[0], ptr[1:][ok]]).astype(np.int64)
