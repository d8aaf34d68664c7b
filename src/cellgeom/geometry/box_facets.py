"""The facet rows of a box partition, from its shared faces, in compiled passes.

Every box has 2 n whole facets (axis f, side 0 = ``x_f = lo_f``, side 1 = ``x_f = hi_f``).
A facet row is either a piece shared with one box across (a face of
:func:`cellgeom.geometry.boxes.box_adjacency`), or the rest of a whole facet: all of it
when it lies on the domain box, else the part not covered by shared pieces (a piece
towards cells outside the partition). The remainder's volume is the facet's area minus
the covered area, its centroid the facet's first moment minus the pieces' moments over
that volume.

The rows come sorted by (cell, label, neighbour, row of the box across). Sorting 2 x faces
rows with ``np.lexsort`` and gathering every column by that order cost tens of seconds
at 10^5 boxes in 8-D (17.9M rows); here the rows are bucketed by cell (a counting sort)
with their sort keys, and only each cell's own rows are sorted, then written straight
into their columns (one float block, the table's float columns without a copy).
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["box_facet_rows"]


def box_facet_rows(a, b, axis, volume, centroid, m: int, lo, hi, domain_lo, domain_hi):
    """The facet rows of the first ``m`` boxes of ``lo, hi``.

    Parameters
    ----------
    a, b, axis, volume, centroid : arrays
        Shared faces as :func:`~cellgeom.geometry.boxes.box_adjacency` returns them
        (box ``a`` below box ``b`` on ``axis``; (n-1)-volume; centroid).
    m : int
        The boxes ``0 .. m-1`` are the cells; rows ``m ..`` of ``lo, hi`` are boxes
        outside the partition that only name what lies across a facet.
    lo, hi : float arrays of shape (M, n)
    domain_lo, domain_hi : float arrays of shape (n,)

    Returns
    -------
    cell, label, neighbor, outside : int64 arrays of shape (N,)
        ``label = 2 f + side`` (``-1 - label`` on the domain boundary); ``neighbor`` the
        cell across (-1 domain boundary, -2 outside the partition); ``outside`` the row
        ``j`` of the box across minus ``m`` plus 1 when it lies outside (0 otherwise).
    values : float array of shape (2 + 2 n, N)
        Rows: (n-1)-volume, offset (``normal . x = offset``), the outward unit normal's
        n coordinates, the centroid's n coordinates.
    """
    a = np.ascontiguousarray(a, np.int64)
    b = np.ascontiguousarray(b, np.int64)
    axis = np.ascontiguousarray(axis, np.int64)
    volume = np.ascontiguousarray(volume, float)
    lo, hi = np.ascontiguousarray(lo, float), np.ascontiguousarray(hi, float)
    n = lo.shape[1]
    centroid = np.ascontiguousarray(np.reshape(centroid, (-1, n)), float)
    domain_lo, domain_hi = np.asarray(domain_lo, float), np.asarray(domain_hi, float)
    # the whole facets, facet id = cell * 2 n + 2 f + side
    widths = hi[:m] - lo[:m]
    f_cell = np.repeat(np.arange(m), 2 * n)
    f_ax = np.tile(np.repeat(np.arange(n), 2), m)
    f_side = np.tile([0, 1], m * n)
    f_area = np.prod(widths, axis=1)[f_cell] / widths[f_cell, f_ax]
    f_cen = ((lo[:m] + hi[:m]) / 2)[f_cell]
    f_val = np.where(f_side == 1, hi[f_cell, f_ax], lo[f_cell, f_ax])
    f_cen[np.arange(f_cell.size), f_ax] = f_val
    covered, moment, counts = _cover(a, b, axis, volume, centroid, m, n)
    on_box = np.where(f_side == 1, f_val == domain_hi[f_ax], f_val == domain_lo[f_ax])
    rest = f_area - covered
    extra = on_box | (rest > 1e-9 * f_area)
    r_vol = np.where(on_box, f_area, rest)
    r_cen = np.where(on_box[:, None], f_cen,
                     (f_area[:, None] * f_cen - moment) / np.where(rest > 0, rest, 1)[:, None])
    counts += np.bincount(f_cell[extra], minlength=m)
    starts = np.concatenate([[0], np.cumsum(counts)])
    ref, key = _bucket(a, b, axis, m, n, lo.shape[0] + 2, starts, extra, on_box)
    # a face's volume and its centroid row (64 bytes in 8-D) are read in the cells' order
    # from the two arrays as they come: a packed copy of both (640 MB at 10^5 boxes in
    # 8-D) cost more to write than it saved (3.7-4.7 s against 3.9-10 s, same run)
    return _write(ref, key, starts, volume, centroid, lo, hi, r_vol,
                  np.ascontiguousarray(r_cen))


@njit(cache=True, nogil=True)
def _cover(a, b, axis, volume, centroid, m, n):  # pragma: no cover - compiled
    """Area and first moment of the shared pieces on each whole facet, and each cell's
    number of pieces; summed in the order of the rows (faces from their lower box, then
    from their upper box), as ``np.bincount`` / ``np.add.at`` over them would."""
    covered = np.zeros(2 * n * m)
    moment = np.zeros((2 * n * m, n))
    counts = np.zeros(m, np.int64)
    for side in (1, 0):
        own = a if side == 1 else b
        for k in range(own.size):
            c = own[k]
            if c >= m:
                continue
            f = c * 2 * n + 2 * axis[k] + side
            covered[f] += volume[k]
            for j in range(n):
                moment[f, j] += volume[k] * centroid[k, j]
            counts[c] += 1
    return covered, moment, counts


@njit(cache=True, nogil=True)
def _bucket(a, b, axis, m, n, span, starts, extra, on_box):  # pragma: no cover - compiled
    """The rows bucketed by cell (pieces from their lower box, from their upper box, then
    the remainders): a row's reference (face k, or -1 - facet id for a remainder) and its
    sort key, label (-2n .. 2n-1), then neighbour (-2, -1, cells) and the box across,
    computed while the faces are read in order."""
    total = starts[m]
    ref = np.empty(total, np.int64)
    key = np.empty(total, np.int64)
    fill = starts[:m].copy()
    for side in (1, 0):
        own = a if side == 1 else b
        other = b if side == 1 else a
        for k in range(own.size):
            c = own[k]
            if c < m:
                across = other[k]
                group = 0 if across >= m else 2
                p = fill[c]
                ref[p] = k
                key[p] = ((2 * axis[k] + side + 2 * n) * 3 + group) * span + across + 2
                fill[c] += 1
    for fid in range(extra.size):
        if extra[fid]:
            c = fid // (2 * n)
            lab = fid % (2 * n)
            p = fill[c]
            ref[p] = -1 - fid
            if on_box[fid]:  # label -1 - lab, neighbour -1
                key[p] = ((-1 - lab + 2 * n) * 3 + 1) * span + 1
            else:  # label lab, neighbour -2, no box across
                key[p] = ((lab + 2 * n) * 3) * span
            fill[c] += 1
    return ref, key


@njit(cache=True, nogil=True)
def _write(ref, key, starts, volume, centroid, lo, hi, r_vol, r_cen):  # pragma: no cover
    """Each cell's rows sorted by their keys, written into the columns."""
    M, n = lo.shape
    m = starts.size - 1
    span = M + 2
    total = starts[m]
    cell = np.empty(total, np.int64)
    label = np.empty(total, np.int64)
    neighbor = np.empty(total, np.int64)
    outside = np.zeros(total, np.int64)
    values = np.zeros((2 + 2 * n, total))
    for c in range(m):
        s, e = starts[c], starts[c + 1]
        order = np.argsort(key[s:e])  # the keys are distinct: no ties to keep stable
        for t in range(e - s):
            p = s + t
            q = s + order[t]
            r = ref[q]
            code = key[q]
            row = code % span - 2
            group = (code // span) % 3
            lab = code // span // 3 - 2 * n
            label[p] = lab
            if r >= 0:  # a piece shared with the box across
                neighbor[p] = -2 if group == 0 else row
                if group == 0:
                    outside[p] = row - m + 1
                values[0, p] = volume[r]
                for j in range(n):
                    values[2 + n + j, p] = centroid[r, j]
                f, side = lab // 2, lab % 2
            else:  # the rest of a whole facet
                fid = -1 - r
                neighbor[p] = row  # -1 on the domain box, else -2
                values[0, p] = r_vol[fid]
                for j in range(n):
                    values[2 + n + j, p] = r_cen[fid, j]
                f, side = (fid % (2 * n)) // 2, fid % 2
            cell[p] = c
            sign = 1.0 if side == 1 else -1.0
            values[1, p] = sign * (hi[c, f] if side == 1 else lo[c, f])
            values[2 + f, p] = sign
    return cell, label, neighbor, outside, values
