"""Every linear region of a network on a 2-D plane through input space, as exact polygons.

The plane is ``x(s, t) = origin + s u + t v`` over the rectangle
``[s0, s1] x [t0, t1]``. Layer-wise refinement: start with the rectangle; on a
polygon whose patterns are fixed for layers ``1..l-1`` the pre-activations of
layer ``l`` are affine in ``(s, t)`` -- their coefficients come from pushing the
plane's affine map ``(origin; u, v)`` through the network with those patterns
imposed (:meth:`PiecewiseLinearNetwork.propagate`, the pullback composed with the
plane map). Each polygon is cut by the lines ``z_k(s, t) = t_j`` of the units
of layer ``l`` that cross it (for max-pool, into the convex pieces where each
window entry is the maximum), the pieces are kept, and the next layer follows.

Cutting is exact convex clipping of vertex lists in float64, done for all polygons of
a chunk and all their unit lines by one compiled kernel
(:func:`cellgeom.nn.slice_kernel.cut_polygons`, numba, cached to disk); max-pool layers,
whose pieces are the arg-max regions of each window, by a second compiled kernel
(:func:`cellgeom.nn.pool_kernel.cut_windows`).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..geometry.simplex import blas_controller
from .chain_maps import _DenseChain
from .layers import PiecewiseLinearNetwork, as_network
from .patterns import _small_uint, pack_patterns
from .pool_kernel import cut_windows
from .slice_kernel import cut_polygons
from .steps import MaxPoolStep
from .threads import one_torch_thread

__all__ = ["SliceRegions", "slice_partition", "slice_with_maps", "PolygonList"]

_CHUNK_ELEMENTS = 2**24  # floats per vectorised screening block


class PolygonList(Sequence):
    """The polygons of a slice as views into one vertex array (no per-polygon copies).

    ``polygons[i]`` is the (k_i, 2) array ``vertices[starts[i]:starts[i + 1]]``.
    """

    def __init__(self, vertices: np.ndarray, starts: np.ndarray):
        self.vertices, self.starts = vertices, starts

    def __len__(self) -> int:
        return len(self.starts) - 1

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"polygon index {i} out of range for {n} polygons")
        i = i % n
        return self.vertices[self.starts[i]:self.starts[i + 1]]

    def __iter__(self):
        v, st = self.vertices, self.starts
        return (v[a:b] for a, b in zip(st[:-1].tolist(), st[1:].tolist()))


@dataclass
class SliceRegions:
    """The linear regions of a network on a rectangle of a plane.

    Attributes
    ----------
    polygons : sequence of ndarray (k_i, 2)
        Vertices of each region, counter-clockwise, in ``(s, t)`` coordinates
        (a :class:`PolygonList` of views into one array).
    keys : ndarray (R, n_bytes) of uint8
        Cell key of each region, packed as by :func:`cellgeom.nn.activation_patterns`.
    patterns : list of ndarray (R, units_l)
        Per activation / max-pool layer, the pattern of every region (bool for
        two-piece layers, else small unsigned ints, as ``ActivationPatterns.layers``).
    areas : ndarray (R,)
        Area in ``(s, t)`` coordinates (shoelace formula).
    interior_points : ndarray (R, 2)
        Centroid of each polygon (interior, as the polygons are convex).
    extent : tuple (s0, s1, t0, t1)
    origin, u, v : ndarray, each of the network's input shape
    layer_names : list of str
    n_pieces : list of int
    """

    polygons: Sequence
    keys: np.ndarray
    patterns: list
    areas: np.ndarray
    interior_points: np.ndarray
    extent: tuple
    origin: np.ndarray
    u: np.ndarray
    v: np.ndarray
    layer_names: list = field(default_factory=list)
    n_pieces: list = field(default_factory=list)
    _index: tuple | None = field(default=None, repr=False, compare=False)

    @property
    def n_regions(self) -> int:
        return len(self.polygons)

    def halfspaces(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """H-representation ``{p : A p <= b}`` of polygon ``i``: A (m, 2) unit rows, b (m,)."""
        V = self.polygons[i]
        edge = np.roll(V, -1, axis=0) - V
        normal = np.stack([edge[:, 1], -edge[:, 0]], axis=1)  # outward for counter-clockwise
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        return normal, np.einsum("ij,ij->i", normal, V)

    def locate(self, st, tol: float = 1e-9) -> np.ndarray:
        """Index of the region holding each point (lowest index on shared edges), -1 outside.

        Parameters
        ----------
        st : array (Q, 2) of (s, t)
        tol : float
            Slack, relative to the rectangle's diagonal: the test runs in the rectangle
            scaled to the unit square, so it is relative on each axis.

        Notes
        -----
        A uniform grid of about ``n_regions`` buckets over the rectangle lists the
        polygons whose bounding box meets each bucket; a point is tested only against
        its bucket's polygons, all (point, candidate) pairs at once.
        """
        st = np.atleast_2d(np.asarray(st, dtype=float))
        if self._index is None:
            self._index = self._build_index()
        A, b, lo, size, g, starts, ends, cand_poly = self._index
        slack = tol * math.sqrt(2.0)  # the unit square's diagonal
        st = (st - lo) / size
        cell_xy = np.clip((st * g).astype(np.int64), 0, g - 1)
        cell = cell_xy[:, 1] * g + cell_xy[:, 0]
        out = np.full(len(st), self.n_regions, dtype=np.intp)
        step = max(1, _CHUNK_ELEMENTS // (A.shape[1] * 32))
        for q0 in range(0, len(st), step):
            c = cell[q0:q0 + step]
            cnt = ends[c] - starts[c]
            q_rep = np.repeat(np.arange(len(c)), cnt)
            local = np.arange(len(q_rep)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
            cand = cand_poly[starts[c][q_rep] + local]
            viol = (np.einsum("pmd,pd->pm", A[cand], st[q0:q0 + step][q_rep]) - b[cand]).max(1)
            inside = viol <= slack
            np.minimum.at(out[q0:q0 + step], q_rep[inside], cand[inside])
        out[out == self.n_regions] = -1
        return out

    def _build_index(self):
        lo = np.array([self.extent[0], self.extent[2]])
        size = np.array([self.extent[1] - self.extent[0], self.extent[3] - self.extent[2]])
        # the tests run in the rectangle scaled to the unit square, so the slack is relative
        # on each axis: in raw (s, t) a rectangle 1e7 times longer than wide would get a
        # slack of a large share of its short side
        m = max(len(p) for p in self.polygons)
        A = np.zeros((self.n_regions, m, 2))
        b = np.ones((self.n_regions, m))  # padding rows 0 <= 1 hold everywhere
        for i, V in enumerate(self.polygons):
            unit = (V - lo) / size
            edge = np.roll(unit, -1, axis=0) - unit
            normal = np.stack([edge[:, 1], -edge[:, 0]], axis=1)  # outward, counter-clockwise
            normal /= np.linalg.norm(normal, axis=1, keepdims=True)
            A[i, :len(V)], b[i, :len(V)] = normal, np.einsum("ij,ij->i", normal, unit)
        g = max(1, int(math.sqrt(self.n_regions)))
        vmin = np.array([p.min(axis=0) for p in self.polygons])
        vmax = np.array([p.max(axis=0) for p in self.polygons])
        c0 = np.clip(((vmin - lo) / size * g).astype(np.int64) - 1, 0, g - 1)
        c1 = np.clip(((vmax - lo) / size * g).astype(np.int64) + 1, 0, g - 1)
        nx, ny = c1[:, 0] - c0[:, 0] + 1, c1[:, 1] - c0[:, 1] + 1
        count = nx * ny
        poly = np.repeat(np.arange(self.n_regions), count)
        k = np.arange(len(poly)) - np.repeat(np.cumsum(count) - count, count)
        cell = (c0[poly, 1] + k // nx[poly]) * g + c0[poly, 0] + k % nx[poly]
        order = np.lexsort((poly, cell))
        cell, poly = cell[order], poly[order]
        buckets = np.arange(g * g)
        starts = np.searchsorted(cell, buckets, side="left")
        ends = np.searchsorted(cell, buckets, side="right")
        return A, b, lo, size, g, starts, ends, poly

    def to_points(self, st) -> np.ndarray:
        """Input-space points ``origin + s u + t v``, shape (Q, *input_shape)."""
        st = np.atleast_2d(np.asarray(st, dtype=float))
        return (self.origin[None] + st[:, 0].reshape((-1,) + (1,) * self.u.ndim) * self.u[None]
                + st[:, 1].reshape((-1,) + (1,) * self.v.ndim) * self.v[None])


# ---------------------------------------------------------------- polygon kernels
def _pad(polys: list) -> np.ndarray:
    """(P, Kmax, 2), each polygon padded by repeating its last vertex (area-neutral)."""
    kmax = max(len(p) for p in polys)
    out = np.empty((len(polys), kmax, 2))
    for i, p in enumerate(polys):
        out[i, :len(p)] = p
        out[i, len(p):] = p[-1]
    return out


def _area_centroid(padded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shoelace area and centroid of padded counter-clockwise polygons, in coordinates
    relative to each polygon's first vertex (raw ones cancel for small polygons far from 0)."""
    origin = padded[:, :1]
    rel = padded - origin
    nxt = np.roll(rel, -1, axis=1)
    cross = rel[..., 0] * nxt[..., 1] - nxt[..., 0] * rel[..., 1]
    area = 0.5 * cross.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cen = origin[:, 0] + ((rel + nxt) * cross[..., None]).sum(axis=1) / (6 * area[:, None])
    bad = ~np.isfinite(cen).all(axis=1)
    cen[bad] = padded[bad].mean(axis=1)
    return area, cen


# ----------------------------------------------------------------------- driver
def _extent(extent) -> tuple[float, float, float, float]:
    if np.ndim(extent) == 0:
        h = float(extent)
        extent = (-h, h, -h, h)
    if len(extent) != 4:
        raise ValueError(f"extent must be a half-width or (s0, s1, t0, t1), got {extent!r}")
    s0, s1, t0, t1 = (float(e) for e in extent)
    if not (s0 < s1 and t0 < t1) or not np.isfinite([s0, s1, t0, t1]).all():
        raise ValueError(f"extent must satisfy s0 < s1 and t0 < t1 (finite), got {extent!r}")
    return s0, s1, t0, t1


def _plane_coeffs(network, origin, u, v, imposed, layer: int, p: int) -> np.ndarray:
    """Pre-activation of ``layer`` on ``p`` polygons as affine maps of (s, t): (p, U, 3)."""
    const = origin.expand((p,) + tuple(origin.shape[1:]))
    tan = torch.stack([u[0], v[0]]).unsqueeze(0).expand((p, 2) + tuple(u.shape[1:]))
    records, _ = network.propagate(None, const, tan, imposed=imposed, stop_at=layer)
    rec = records[layer]
    lin = rec["tan"].reshape(p, 2, -1).transpose(1, 2)
    return torch.cat([lin, rec["const"].reshape(p, -1, 1)], dim=2).cpu().numpy()


def _cut_windows(sub, coeffs, st, window, tol_len, tol, area_min, shape):
    """Max-pool layer: cut each polygon into the pieces of constant arg-max of every window
    (compiled, :func:`cellgeom.nn.slice_kernel.cut_windows`); patterns at the centroids."""
    verts, starts = sub
    win, valid = window
    W = np.ascontiguousarray(coeffs[:, np.where(valid, win, 0)])  # (P, C*L, K, 3)
    ov, os_, parent, area, cen = cut_windows(verts, starts, W, np.ascontiguousarray(valid),
                                             tol_len, tol, area_min)
    if not len(parent):
        return verts[:0], np.zeros(1, np.int64), parent, np.zeros((0,) + tuple(shape)), \
            np.zeros(0), np.zeros((0, 2))
    pat = _piece_patterns(np.zeros((len(parent), 1, 2)), cen, parent, coeffs, st, window,
                          shape)
    return ov, os_, parent, pat, area, cen


def _concat_polygons(pieces):
    """Concatenate (verts, starts) blocks into one."""
    verts = np.concatenate([v for v, _ in pieces])
    offs = np.cumsum([0] + [len(v) for v, _ in pieces[:-1]])
    starts = np.concatenate([[0]] + [st[1:] + o for (_, st), o in zip(pieces, offs)])
    return verts, starts.astype(np.int64)


def _piece_patterns(padded, centroids, parent, coeffs, st, window, shape) -> np.ndarray:
    """Pattern of the cut layer on every piece, in blocks to bound memory.

    Elementwise units: the piece index read at the vertex farthest from each
    breakpoint line (robust for thin pieces). Max-pool: arg-max at the centroid.
    """
    q, kmax = padded.shape[:2]
    units = coeffs.shape[1]
    out = np.empty((q,) + tuple(shape), dtype=np.int64)
    step = max(1, _CHUNK_ELEMENTS // (units * (kmax + 3)))
    for a in range(0, q, step):
        c = coeffs[parent[a:a + step]]
        if window is not None:
            win, valid = window
            F = np.einsum("qd,qud->qu", centroids[a:a + step], c[..., :2]) + c[..., 2]
            F = np.where(valid, F[:, np.where(valid, win, 0)], -np.inf)  # (q, C*L, K)
            out[a:a + step] = F.argmax(axis=2).reshape((len(F),) + tuple(shape))
            continue
        vals = np.einsum("qkd,qud->qku", padded[a:a + step], c[..., :2]) + c[:, None, :, 2]
        count = np.zeros((len(c), units), dtype=np.int64)
        for t in st.breakpoints:
            d = vals - t
            far = np.abs(d).argmax(axis=1)[:, None, :]
            count += np.take_along_axis(d, far, axis=1)[:, 0, :] > 0
        out[a:a + step] = count.reshape((len(c),) + tuple(shape))
    return out


def slice_partition(net, origin, u, v, extent, *, min_area: float = 1e-12, tol: float = 1e-11,
                    dtype: torch.dtype | None = torch.float64) -> SliceRegions:
    """Exact linear regions of a network on the plane ``origin + s u + t v``.

    Parameters
    ----------
    net : torch.nn.Module or PiecewiseLinearNetwork
        Piecewise-linear network in eval mode.
    origin, u, v : array-like of the network's input shape (without batch axis)
        The plane's origin and its two direction vectors.
    extent : float or (s0, s1, t0, t1)
        The rectangle of ``(s, t)``; a scalar ``h`` means ``(-h, h, -h, h)``.
    min_area : float, default 1e-12
        Pieces with area below ``min_area`` times the rectangle's area are dropped
        (slivers born from rounding; they may also hide genuine tiny regions).
    tol : float, default 1e-11
        Vertices closer than ``tol`` times the rectangle's diagonal to a cutting
        line count as on it.
    dtype : torch.dtype or None, default torch.float64

    Returns
    -------
    SliceRegions
        Counter-clockwise polygons that tile the rectangle (up to dropped slivers),
        with keys matching :func:`cellgeom.nn.activation_patterns` at their points.

    Notes
    -----
    The polygons are exact up to floating-point rounding: every vertex is an
    intersection of unit lines or rectangle sides, computed by clipping, with no
    grid anywhere. Work per layer: the plane map of every current polygon at that layer
    (for a chain of Linear layers and elementwise activations, one matrix product from the
    previous layer's maps; for any other traced graph, one batched pass through the
    network with the patterns of earlier layers imposed), then one compiled pass that
    screens which unit lines cross each polygon and clips by those, so the cost grows
    with the number of regions found. A 64-128-128-10 MLP trained on
    ``load_digits``, on the plane through three digits that regioncam uses, gives its
    6,183 regions (the same patterns) in about 15 ms on one core; any traced model works,
    convolutional ones included (:mod:`cellgeom.nn.trace`). ``min_area=0`` keeps every
    piece of positive area; pieces thinner than ``tol`` are never created.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(),
    ...                           torch.nn.Linear(8, 1)).eval()
    >>> regions = slice_partition(net, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], extent=2.0)
    >>> bool(abs(regions.areas.sum() - 16.0) < 1e-9)
    True
    >>> regions.locate([[0.1, 0.2]]).shape
    (1,)
    """
    # one thread for torch and BLAS: the products are small, and threads waiting for a busy
    # core cost more than they save (see one_torch_thread)
    with one_torch_thread(), blas_controller().limit(limits=1, user_api="blas"):
        return _slice_partition(net, origin, u, v, extent, min_area, tol, dtype)


def slice_with_maps(net, origin, u, v, extent, *, min_area: float = 1e-12,
                    tol: float = 1e-11, expand: bool = True) -> tuple[SliceRegions, list | None]:
    """:func:`slice_partition` (float64) and, for a chain of Linear layers and elementwise
    activations, every region's pre-activation maps of every layer, which the slice computes
    on the way: a list with one (R, 3, U_l) array per activation layer, the ``s``, ``t``
    and constant coefficients of each unit on each region (None for other networks).

    With ``expand=False`` each layer's entry is ``(z, ancestor)`` instead: ``z`` (P_l, 3,
    U_l) the maps on the P_l polygons that entered layer ``l`` (few for early layers) and
    ``ancestor`` (R,) each region's polygon among them, so the expanded maps are
    ``z[ancestor]``, without writing them out."""
    with one_torch_thread(), blas_controller().limit(limits=1, user_api="blas"):
        return _slice_partition(net, origin, u, v, extent, min_area, tol, torch.float64,
                                keep_maps="expand" if expand else "stages")


def _check_plane(u: np.ndarray, v: np.ndarray) -> None:
    """Raise unless u and v are finite and span a plane (to rounding): the slice is a
    partition of the (s, t) rectangle, and with u, v zero or parallel its areas would be in
    no plane's units. v's part orthogonal to u must exceed its rounding, as in
    ``np.linalg.matrix_rank`` (a tenth of its time, on every slice)."""
    if not (np.isfinite(u).all() and np.isfinite(v).all()):
        raise ValueError("u and v must be finite direction vectors")
    norm_u, norm_v = float(np.sqrt(u @ u)), float(np.sqrt(v @ v))
    rest = v - (v @ u) / (norm_u * norm_u) * u if norm_u > 0 else v
    if not (norm_u > 0 and np.sqrt(rest @ rest) > max(u.size, 2) * np.finfo(float).eps * norm_v):
        raise ValueError("u and v must span a plane: they are zero or parallel "
                         f"(|u| = {norm_u:.3g}, |v| = {norm_v:.3g})")


def _slice_partition(net, origin, u, v, extent, min_area, tol, dtype, keep_maps=False):
    network: PiecewiseLinearNetwork = as_network(net, dtype)
    origin_t = network.check_input(np.asarray(origin)[None], "origin[None]")
    shape = tuple(origin_t.shape)
    u_t = torch.tensor(np.asarray(u), dtype=network.dtype, device=network.device)
    v_t = torch.tensor(np.asarray(v), dtype=network.dtype, device=network.device)
    for name, d in (("u", u_t), ("v", v_t)):
        if d.numel() != origin_t.numel():
            raise ValueError(f"{name} has {d.numel()} values, but origin has shape {shape[1:]}")
    u_t, v_t = u_t.reshape(shape), v_t.reshape(shape)
    _check_plane(np.asarray(u, dtype=float).ravel(), np.asarray(v, dtype=float).ravel())
    if not (np.isfinite(min_area) and min_area >= 0):
        raise ValueError(f"min_area must be a finite fraction >= 0, got {min_area!r}")
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a finite positive fraction, got {tol!r}")
    s0, s1, t0, t1 = _extent(extent)
    rect_area = (s1 - s0) * (t1 - t0)
    tol_len = tol * math.hypot(s1 - s0, t1 - t0)
    area_min = min_area * rect_area

    layer_shapes = network.layer_shapes(origin_t)
    dense = _DenseChain.from_network(network, origin_t[0].cpu().numpy(),
                                     u_t[0].cpu().numpy(), v_t[0].cpu().numpy())
    verts = np.array([[s0, t0], [s1, t0], [s1, t1], [s0, t1]])
    starts = np.array([0, 4], dtype=np.int64)
    pats: list[torch.Tensor] = []
    stage_maps, stage_parents = [], []  # per layer: its input polygons' maps, their pieces'
    for layer, st in enumerate(network.layer_steps):
        in_shape, out_shape = layer_shapes[layer]
        units = math.prod(in_shape)
        window, shape = None, in_shape
        if isinstance(st, MaxPoolStep):
            shape = out_shape
            window = tuple(a.numpy() for a in st.window_index(in_shape, shape))
        n_polys = len(starts) - 1
        step = max(1, _CHUNK_ELEMENTS // (units * 3))
        pieces, parents, new_pats, measures, posts, zs = [], [], [], [], [], []
        for c0 in range(0, n_polys, step):
            c1 = min(n_polys, c0 + step)
            if dense is not None:
                coeffs, z = dense.coeffs(layer, c0, c1)
                if keep_maps:
                    zs.append(z)
            else:
                coeffs = _plane_coeffs(network, origin_t, u_t, v_t, [p[c0:c1] for p in pats],
                                       layer, c1 - c0)
            sub = verts[starts[c0]:starts[c1]], starts[c0:c1 + 1] - starts[c0]
            if window is None:  # compiled: every polygon of the chunk by all its lines
                ov, os_, parent, pat, area, cen = cut_polygons(
                    sub[0], sub[1], np.ascontiguousarray(coeffs),
                    np.asarray(st.breakpoints, dtype=float), tol_len, area_min)
                pat = pat.reshape((len(parent),) + tuple(shape))
            else:
                ov, os_, parent, pat, area, cen = _cut_windows(sub, coeffs, st, window, tol_len,
                                                               tol, area_min, shape)
            if len(parent):
                pieces.append((ov, os_))
                measures.append((area, cen))
                parents.append(parent + c0)
                new_pats.append(pat.astype(_small_uint(st.n_pieces), copy=False))
                if dense is not None and layer + 1 < len(network.layer_steps):
                    posts.append(dense.output_rows(st, z, parent,
                                                   pat.reshape(len(parent), -1)))
        if not parents:
            raise RuntimeError("every piece of the slice fell below min_area")
        if posts:
            dense.rows = posts[0] if len(posts) == 1 else np.concatenate(posts)
        verts, starts = _concat_polygons(pieces)
        parents = np.concatenate(parents)
        if zs:
            stage_maps.append(zs[0] if len(zs) == 1 else np.concatenate(zs))
            stage_parents.append(parents)
        pats = [p[parents] for p in pats] + [np.concatenate(new_pats)]
    polys = PolygonList(verts, starts)
    if network.layer_steps:
        areas = np.concatenate([a for a, _ in measures])
        centroids = np.concatenate([c for _, c in measures])
    else:
        areas, centroids = _area_centroid(_pad(polys))
    n_pieces = [layer.n_pieces for layer in network.layers]
    flat = [p.reshape(len(polys), -1) for p in pats]
    keys = pack_patterns(flat, n_pieces) if flat else np.zeros((len(polys), 0), np.uint8)
    regions = SliceRegions(polys, keys, flat, areas, centroids, (s0, s1, t0, t1),
                           origin_t[0].cpu().numpy(), u_t[0].cpu().numpy(),
                           v_t[0].cpu().numpy(), [layer.name for layer in network.layers],
                           n_pieces)
    if not keep_maps:
        return regions
    if dense is None or len(stage_maps) != len(network.layer_steps):
        return regions, None
    # each region's ancestor at every stage: the parents composed from the last stage back
    stages, index = [], np.arange(len(polys))
    for z, parent in zip(stage_maps[::-1], stage_parents[::-1]):
        index = parent[index]
        stages.append((z, index))
    if keep_maps == "stages":
        return regions, stages[::-1]
    return regions, [z[index] if len(z) > 1 else
                     np.broadcast_to(z, (len(polys),) + z.shape[1:]) for z, index in stages[::-1]]
