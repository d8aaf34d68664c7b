"""Strata of a face-to-face partition from its cells' vertices (rule "dual", polytopes).

A face of the partition is the set of vertices common to its cells, its star the cells
holding all of them (:func:`cellgeom.complex._vertex_kernels.vertex_strata`). What
is read from coordinates, and what is not:

- **Which cells hold a vertex.** In the plane, from the cells' corners
  (:func:`cellgeom.complex.dual_corners.corner_vertices`: exact, without coordinates);
  in higher dimension, the partition's vertex table (points closer than ``1e3 tol``
  merged).
- **A face's dimension** is ``n`` minus the rank of the unit normals of the facets
  between the cells around it (singular values above the unit frame's ``tol``), not
  the rank of its vertices' coordinates: those are rounded to the float64 grid of the
  user's units (1.2e-4 at 1e12), and merged vertices may lie off the face by the merge
  radius, so the coordinates could make a segment look like a polygon. The normals are
  the partition's own, computed in its unit frame. Around an interior face the cells
  form a complete fan of pointed cones in the normal space, so their facets' normals
  span it.
- **Whether a face is interior** (no cell around it has a facet towards the domain
  boundary or a missing cell containing it): in the plane from the corners, else from
  the distance of the vertices to those facets in the partition's unit frame
  (``u = (x - o) / s``, :meth:`~cellgeom.core.Partition.frame_tolerance`, so every axis
  of an elongated domain has the same relative tolerance), within ``1e3 tol_u`` plus four
  float64 steps of the domain's coordinates (:attr:`~cellgeom.geometry.Box.float_step`).
- **Volumes** of faces of codimension >= 2 weighed by their volume (``n >= 3``): a
  hinge's (codimension 2) from the partition's hinges table, any other face's from the
  hull of its vertices relative to the domain's centre (its dimension already known, no
  tolerance decides it).
- **Vertices merged off a face** (``n >= 3``). Two corners closer than the merge radius
  become one vertex that every cell holding either holds, so the vertices common to some
  cells can include one that is not on their common face, and fewer cells hold them all
  than surround the face. Such a star is recognised (a cell with fewer facets towards the
  others than the face's codimension, :meth:`VertexStrata._inconsistent`) and rebuilt
  from the vertices on the flat of those facets (:meth:`VertexStrata._repair`). What the
  table cannot give back is an edge shorter than the merge radius: its two ends are one
  vertex, and the complex is that of the partition with the edge contracted (contractible
  as well, but with one fan over the two ends' cells).
"""
from __future__ import annotations

import numpy as np

from ..core import vector_columns
from ..geometry import flat_volume_centroid
from ._star_kernel import star_facet_rows
from ._vertex_kernels import star_pairs, vertex_strata
from .dual_corners import corner_vertices

__all__ = ["VertexStrata"]


class VertexStrata:
    """Strata of a face-to-face partition from its cells' vertices (module docstring).
    Cell c of the partition is numbered ``rank[c]``."""

    def __init__(self, part, rank):
        m = part.n_cells
        self.n = part.dim
        self.rank = rank
        # every test below is made in the partition's unit frame u = (x - o) / s (o the
        # domain's centre, s its half-sides), where its tolerance is relative and the
        # same along every axis: in the user's units a tolerance of the largest side
        # spans a short side of an elongated domain
        dom = part.domain
        self.centre = np.asarray(dom.center, dtype=float)
        halves, tol_u = part.frame_tolerance()
        self.tol = 1e3 * tol_u
        self.angle_tol = tol_u  # the normals' rank threshold
        self.slack = self.tol + 4 * dom.float_step * np.sqrt(self.n)  # the user's grid, in u
        indptr, vid, coords = part._vertices
        self.user_coords = np.asarray(coords, dtype=float) - self.centre  # for volumes
        self.coords = self.user_coords / halves
        corners = corner_vertices(part)
        if corners is not None:
            indptr, vid = corners[0], corners[1]
            self.coords = self.user_coords = None  # the plane needs none: points have volume 1
        self._cell_vertices(np.asarray(indptr, dtype=np.int64), np.asarray(vid, dtype=np.int64),
                            m)
        f = part.facets
        # the facets nu . x <= c as unit rows of the frame, m . u <= b with m ~ S nu
        # (the offsets relative to the domain's centre: no digits lost to a large centre)
        normals = f[vector_columns("normal", self.n)].to_numpy(float)
        scaled = normals * halves
        norms = np.linalg.norm(scaled, axis=1)
        norms = np.where(norms > 0, norms, 1.0)
        self.normals = np.ascontiguousarray(scaled / norms[:, None])
        self.offsets = (f["offset"].to_numpy(dtype=float) - normals @ self.centre) / norms
        nbr = f["neighbor"].to_numpy().astype(np.int64)
        fcell = rank[f["cell"].to_numpy().astype(np.int64)]
        inner = np.flatnonzero(nbr >= 0)
        key = fcell[inner] * m + rank[nbr[inner]]
        order = inner[np.argsort(key, kind="stable")]
        self.fptr = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(np.bincount(fcell[order], minlength=m), out=self.fptr[1:])
        self.fnbr = np.ascontiguousarray(rank[nbr[order]])
        self.frow = np.ascontiguousarray(order.astype(np.int64))
        self.row_cell = fcell
        self.row_nbr = np.where(nbr >= 0, rank[np.maximum(nbr, 0)], -1)
        if corners is not None:
            _, _, bad_ptr, bad_cell, bad_vids = corners
            self._bad_from_lists(bad_ptr, rank[bad_cell], bad_vids, m)
        else:
            self._bad_facets(part)
        self._hinge_volumes(part.hinges, m)

    def _hinge_volumes(self, hinges, m):
        """The hinges' (n-2)-volumes (the partition's, from each cell's own vertices in
        its unit frame), keyed by the cell and the two cells across its facets there."""
        self.hinge_key = self.hinge_vol = None
        cols = {"cell", "neighbor_a", "neighbor_b", "volume"}
        if self.n < 3 or hinges is None or not cols <= set(hinges.columns) or m ** 3 >= 2**62:
            return
        c = hinges["cell"].to_numpy().astype(np.int64)
        a = hinges["neighbor_a"].to_numpy().astype(np.int64)
        b = hinges["neighbor_b"].to_numpy().astype(np.int64)
        keep = (a >= 0) & (b >= 0)
        c, a, b = self.rank[c[keep]], self.rank[a[keep]], self.rank[b[keep]]
        key = (c * m + np.minimum(a, b)) * m + np.maximum(a, b)
        order = np.argsort(key, kind="stable")
        self.hinge_key = key[order]
        self.hinge_vol = hinges["volume"].to_numpy(dtype=float)[keep][order]

    def _cell_vertices(self, indptr, vid, m):
        cell = self.rank[np.repeat(np.arange(m), np.diff(indptr))]
        nv = int(vid.max()) + 1 if vid.size else 1
        key = np.unique(cell * nv + vid)  # drops merged repeats; (cell, vid) order
        pairs = np.column_stack([key // nv, key % nv])
        self.cvids = pairs[:, 1].copy()
        self.cvptr = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(np.bincount(pairs[:, 0], minlength=m), out=self.cvptr[1:])
        by_v = np.lexsort((pairs[:, 0], pairs[:, 1]))
        self.vcids = pairs[by_v, 0].copy()
        self.vcptr = np.zeros(nv + 1, dtype=np.int64)
        np.cumsum(np.bincount(pairs[:, 1], minlength=nv), out=self.vcptr[1:])

    def _bad_from_lists(self, ptr, fcell, vids, m):
        """Per cell (``fcell``, renumbered), its facets towards the domain boundary or
        outside the partition, each with the sorted ids of its vertices (CSR ``ptr``)."""
        order = np.argsort(fcell, kind="stable")
        sizes = np.diff(ptr)[order]
        owner = np.repeat(order, sizes)
        pos = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        self.bfvids = np.ascontiguousarray(vids[ptr[owner] + pos].astype(np.int64))
        self.bfptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.bptr = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(np.bincount(fcell, minlength=m), out=self.bptr[1:])

    def _bad_facets(self, part):
        """:meth:`_bad_from_lists` from the vertices' distances to the facets, relative
        to the domain's centre (its offsets there lose no digits to a large centre)."""
        f = part.facets
        m = len(self.cvptr) - 1
        rows = np.flatnonzero(f["neighbor"].to_numpy() < 0)
        fcell = self.rank[f["cell"].to_numpy()[rows].astype(np.int64)]
        normals, offsets = self.normals[rows], self.offsets[rows]
        counts = self.cvptr[fcell + 1] - self.cvptr[fcell]
        owner = np.repeat(np.arange(len(rows)), counts)
        pos = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        verts = self.cvids[self.cvptr[fcell][owner] + pos]
        dist = np.abs(np.einsum("ij,ij->i", self.coords[verts], normals[owner]) - offsets[owner])
        on = dist <= self.slack
        ptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(np.bincount(owner[on], minlength=len(rows)), out=ptr[1:])
        self._bad_from_lists(ptr, fcell, verts[on], m)

    def pairs(self):
        a, b = star_pairs(self.vcptr, self.vcids)
        m = len(self.cvptr) - 1
        key = np.unique(a * m + b)
        return np.column_stack([key // m, key % m])

    def extend(self, cand, tau):
        """Which candidates are simplices, and their carriers: the common face of their
        cells (face to face: the only one), its star, codimension and volume."""
        ok, sptr, sids, vptr, vids = vertex_strata(
            np.ascontiguousarray(cand, dtype=np.int64), self.cvptr, self.cvids, self.vcptr,
            self.vcids, self.bptr, self.bfptr, self.bfvids)
        sptr = _compress_ptr(sptr, ok)
        vptr = _compress_ptr(vptr, ok)
        p = cand.shape[1] - 1
        ptr, rows = star_facet_rows(sptr, sids, self.fptr, self.fnbr, self.frow)
        codim = self._codims(ptr, rows)
        flagged = self._inconsistent(sptr, ptr, rows, codim, p)
        if flagged.size and self.coords is not None:
            ok, sptr, sids, vptr, vids = self._repair(cand, ok, sptr, sids, vptr, vids, flagged)
            ptr, rows = star_facet_rows(sptr, sids, self.fptr, self.fnbr, self.frow)
            codim = self._codims(ptr, rows)
        vols = self._volumes(vptr, vids, codim, p, sptr, sids, ptr, rows)
        return ok, sptr, sids, codim, vols

    def _inconsistent(self, sptr, ptr, rows, codim, p):
        """The carriers whose star cannot be all the cells around a face of their
        codimension k: k < p, or a cell with fewer than k facets towards the others (the
        cells around a face of codimension k are the vertices of a k-polytope, each on
        at least k of its edges). Merged vertices cause it: a
        vertex that is not on the face joins its vertex set, which fewer cells hold."""
        k = len(codim)
        counts = np.diff(ptr)
        owner = np.repeat(np.arange(k), counts)
        m = len(self.cvptr) - 1
        ends = np.concatenate([owner * m + self.row_cell[rows], owner * m + self.row_nbr[rows]])
        key, deg = np.unique(ends, return_counts=True)
        full = np.bincount(key // m, weights=deg >= codim[key // m], minlength=k)
        size = np.diff(sptr)
        return np.flatnonzero((codim < p) | ((codim >= 1) & (full < size)))

    def _repair(self, cand, ok, sptr, sids, vptr, vids, flagged):
        """Carriers of :meth:`_inconsistent` rebuilt from the vertices on their face:
        the flat the facets between their cells span (least squares, relative to the
        domain's centre), the vertices within ``slack`` of it, the cells holding all of
        those; repeated while that drops vertices. The candidate is then kept iff its
        first cell is the first around the face and the face is interior."""
        kept = np.flatnonzero(ok)
        drop, stars, commons, idx = [], [], [], []
        for r in flagged.tolist():
            common = vids[vptr[r]:vptr[r + 1]]
            star = sids[sptr[r]:sptr[r + 1]]
            for _ in range(self.n + 1):
                on = self._on_flat(common, star)
                if on is None or on.all() or not on.any():
                    break
                common = common[on]
                star = self.vcids[self.vcptr[common[0]]:self.vcptr[common[0] + 1]]
                for v in common[1:]:
                    star = np.intersect1d(star, self.vcids[self.vcptr[v]:self.vcptr[v + 1]])
            if len(common) == vptr[r + 1] - vptr[r]:
                continue  # every vertex is on the face
            if star[0] != cand[kept[r], 0] or self._is_bad(common, star):
                drop.append(r)
            else:
                idx.append(r)
                stars.append(star)
                commons.append(common)
        sptr, sids = _splice(sptr, sids, idx, stars, drop)
        vptr, vids = _splice(vptr, vids, idx, commons, drop)
        ok = ok.copy()
        ok[kept[drop]] = False
        return ok, sptr, sids, vptr, vids

    def _on_flat(self, common, star):
        """Which vertices of ``common`` lie on the flat of the facets between the cells
        of ``star`` (None if they have none)."""
        sp = np.array([0, len(star)], dtype=np.int64)
        _, rows = star_facet_rows(sp, np.ascontiguousarray(star, dtype=np.int64), self.fptr,
                                  self.fnbr, self.frow)
        if len(rows) == 0:
            return None
        normals = self.normals[rows]
        offsets = self.offsets[rows]
        u, sing, vt = np.linalg.svd(normals, full_matrices=False)
        k = int(np.sum(sing > self.angle_tol))
        if k == 0:
            return None
        point = vt[:k].T @ ((u[:, :k].T @ offsets) / sing[:k])
        dist = np.linalg.norm((self.coords[common] - point) @ vt[:k].T, axis=1)
        return dist <= self.slack

    def _is_bad(self, common, star):
        """Whether a cell of ``star`` has a facet towards the boundary or a missing cell
        that holds every vertex of ``common``."""
        for c in star.tolist():
            for f in range(self.bptr[c], self.bptr[c + 1]):
                if np.isin(common, self.bfvids[self.bfptr[f]:self.bfptr[f + 1]]).all():
                    return True
        return False

    def _codims(self, ptr, rows):
        """Codimension of each face: the rank of the normals of the facets between the
        cells around it (``ptr``/``rows``: :func:`star_facet_rows`; module docstring)."""
        counts = np.diff(ptr)
        codim = np.zeros(len(counts), dtype=np.int64)
        for c in np.unique(counts).tolist():
            if c == 0:
                continue
            sel = np.flatnonzero(counts == c)
            stack = self.normals[rows[ptr[sel][:, None] + np.arange(c)]]
            sing = np.linalg.svd(stack, compute_uv=False)
            codim[sel] = np.sum(sing > self.angle_tol, axis=1)
        return codim

    def _volumes(self, vptr, vids, codim, p, sptr, sids, ptr, rows):
        """Own-dimension volume of the faces of codimension p >= 2 and dimension >= 1
        (the only ones weighed by their volume; facet volumes come from the partition's
        tables, points have volume 1): a hinge's from the hinges table, found by the
        first cell around it and its two neighbours there; any other face's from the hull
        of its vertices relative to the domain's centre."""
        vols = np.ones(len(codim))
        if p < 2 or self.n - p < 1:
            return vols
        need = np.flatnonzero(codim == p)
        if p == 2 and self.hinge_key is not None and need.size:
            first = sids[sptr[need]]
            last = max(len(rows) - 1, 0)
            r0, r1, r2 = (rows[np.minimum(ptr[need] + i, last)] if len(rows) else
                          np.zeros(len(need), dtype=np.int64) for i in range(3))
            # the rows of the first (lowest) cell come first: exactly two of them, its
            # facets at the hinge (a cell's hinge lies in two of its facets)
            count = np.diff(ptr)[need]
            own = (count >= 2) & (self.row_cell[r0] == first) & (self.row_cell[r1] == first)
            own &= (count == 2) | (self.row_cell[r2] != first)
            a, b = self.row_nbr[r0], self.row_nbr[r1]
            m = len(self.cvptr) - 1
            key = (first * m + np.minimum(a, b)) * m + np.maximum(a, b)
            pos = np.minimum(np.searchsorted(self.hinge_key, key), len(self.hinge_key) - 1)
            found = own & (len(self.hinge_key) > 0)
            found[found] = self.hinge_key[pos[found]] == key[found]
            vols[need[found]] = self.hinge_vol[pos[found]]
            need = need[~found]
        for r in need:
            pts = self.user_coords[vids[vptr[r]:vptr[r + 1]]]
            vols[r] = flat_volume_centroid(pts, int(self.n - codim[r]), 0.0)[0]
        return vols

    def commit(self, info):
        pass


def _splice(ptr, data, idx, new, drop):
    """A CSR list with rows ``idx`` replaced by ``new`` and rows ``drop`` removed."""
    if not idx and not drop:
        return ptr, data
    sizes = np.diff(ptr).copy()
    repl = dict(zip(idx, new))
    parts, prev = [], 0
    for r in sorted(set(idx) | set(drop)):
        parts.append(data[ptr[prev]:ptr[r]])
        parts.append(repl.get(r, data[:0]))
        sizes[r] = len(repl.get(r, ()))
        prev = r + 1
    parts.append(data[ptr[prev]:])
    keep = np.ones(len(sizes), dtype=bool)
    keep[list(drop)] = False
    out = np.concatenate(parts).astype(np.int64)
    return np.concatenate([[0], np.cumsum(sizes[keep])]).astype(np.int64), out


def _compress_ptr(ptr, ok):
    """A CSR pointer over all candidates -> one over the kept ones (rejected are empty)."""
    return np.concatenate([[0], ptr[1:][ok]]).astype(np.int64)
