"""ReLU / leaky-ReLU networks (torch) as partitions: cells are activation patterns.

For ``z_1 = W_1 x + b_1``, ``h_l = sigma(z_l)``, ``z_{l+1} = W_{l+1} h_l + b_{l+1}`` and a
pattern ``s`` (bit 1 where the unit is on its ``z > 0`` piece) with slopes ``D_l``, the
pre-activations on the cell are ``z_l = A_l x + c_l`` with

    A_1 = W_1,  c_1 = b_1,  A_{l+1} = W_{l+1} D_l A_l,  c_{l+1} = W_{l+1} D_l c_l + b_{l+1}

(THEORY.md section 6). The cell of ``s`` is ``{x : (1 - 2 s_k) (A[k] x + c[k]) <= 0 for all
units k}`` clipped to the domain. Here the maps are computed from the *key alone*, by
pushing the identity basis through the network with every pattern imposed
(:meth:`PiecewiseLinearNetwork.propagate`), so the neighbour across a facet (the key with
that unit's bit flipped) gets its own exact H-representation without any point in it.

Keys are strings of ``"0"``/``"1"``, one character per hidden unit in forward order; the
facet label of unit ``k`` is that global index ``k``. For a one-hidden-layer network the key
is the sign vector of ``HyperplaneArrangement(W_1, b_1)``, so both give the same cells.
"""
from __future__ import annotations

import contextlib
import math

import numpy as np
import pandas as pd
import torch

from ..core import Partition, check_data, resolve_domain
from ..nn.inputs import first_layer
from ..nn.layers import PiecewiseLinearNetwork, as_network
from ..nn.steps import MaxPoolStep
from ..nn.threads import one_torch_thread
from ..nn.trace import TraceError
from .arrangement import flip_bit
from .polytopes import attach_data, build_polytope_partition, data_volumes, seed_keys
from .registry import register_adapter

__all__ = ["NetworkCells", "layerwise_table"]

_KEY_CHUNK = 256  # keys per batched pattern-imposed propagation


class NetworkCells:
    """The cells of a two-piece piecewise-linear network, computed from patterns.

    Parameters
    ----------
    net : torch.nn.Module or PiecewiseLinearNetwork
        Eval-mode network (any forward code, traced) whose nonlinear units (if any) have two
        pieces split at 0: ReLU / LeakyReLU / PReLU, ``torch.maximum``; no max pooling.
    upto_layer : int, optional
        Use only activation layers ``1..upto_layer`` (the partition after those layers).
    input_shape : tuple of int, optional
        Shape of one input (without the batch axis); default ``(in_features,)`` of a first
        nn.Linear. Points are flat rows of ``prod(input_shape)`` values.
    """

    def __init__(self, net, upto_layer: int | None = None, input_shape=None,
                 output: str = "auto"):
        self.network: PiecewiseLinearNetwork = as_network(net, torch.float64)
        if self.network.ops is None:  # torch.fx could not trace it: torch.export, on an input
            self._trace_on_example(input_shape)
        layers = self.network.layers
        for st, layer in zip(_layer_steps(self.network), layers):
            if isinstance(st, MaxPoolStep):
                raise ValueError(
                    f"partition() does not support max pooling yet (layer {layer.name!r}): a "
                    "cell key there is a window position, not a bit. Use "
                    "cellgeom.nn.slice_partition for exact 2-D slices of such a network, or "
                    "cellgeom.nn.activation_patterns / pullback for its data cells.")
            if layer.n_pieces != 2 or st.breakpoints != (0.0,):
                raise ValueError(
                    f"partition() supports networks whose activations have two pieces split "
                    f"at 0 (ReLU, LeakyReLU, PReLU, torch.maximum); layer {layer.name!r} is "
                    f"{layer.kind!r} with {layer.n_pieces} pieces. Use "
                    "cellgeom.nn.slice_partition for it.")
        n_layers = len(layers)
        if upto_layer is None:
            upto_layer = n_layers
        # an affine network (no activation layer, e.g. a bare nn.Linear): one cell, or a
        # classifier's arg-max regions (its comparison units below)
        if not (isinstance(upto_layer, (int, np.integer))
                and min(1, n_layers) <= upto_layer <= n_layers):
            raise ValueError(f"upto_layer must be an int in 1..{n_layers}, got {upto_layer!r}"
                             + (" (the network has no activation layer)." if not n_layers
                                else "."))
        self.upto_layer = int(upto_layer)
        self.input_shape = self._input_shape(input_shape)
        self.n_in = math.prod(self.input_shape)
        x0 = torch.zeros((1,) + self.input_shape, dtype=torch.float64)
        records, final = self.network.probe(self.network.check_input(x0, "x"))
        self.unit_shapes = [tuple(r["value"].shape[1:]) for r in records]
        self.sizes = [math.prod(s) for s in self.unit_shapes]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int)
        self.n_hidden = int(self.offsets[self.upto_layer])
        n_out = math.prod(final["value"].shape[1:])
        if output not in ("auto", "classes", "values"):
            raise ValueError(f"output must be 'auto', 'classes' or 'values', got {output!r}.")
        # a classifier's arg-max comparisons are a last layer of units: one per pair of
        # outputs j < k, ``z = f_k - f_j`` (bit 1: class k beats class j)
        self.classifier = (output == "classes" or (output == "auto" and n_out > 1)) and \
            self.upto_layer == n_layers
        if output == "classes" and n_out < 2:
            raise ValueError(f"output='classes' needs at least 2 outputs, got {n_out}.")
        self.n_outputs = n_out
        self.pairs = np.array([(j, k) for j in range(n_out) for k in range(j + 1, n_out)]
                              if self.classifier else np.zeros((0, 2)), dtype=np.int64)
        self.n_units = self.n_hidden + len(self.pairs)

    def _input_shape(self, given) -> tuple:
        """Shape of one input: ``given``, else ``(in_features,)`` of a first linear layer
        (an nn.Linear, or ``F.linear`` as torch.export writes it)."""
        if given is not None:
            shape = tuple(int(d) for d in np.atleast_1d(given))
            if not shape or min(shape) < 1:
                raise ValueError(f"input_shape must be a tuple of positive ints, got {given!r}.")
            return shape
        n_in, kind = first_layer(self.network)
        if n_in is not None:
            return (n_in,)
        raise ValueError(_needs_shape(f"the first layer is {kind}, which does not fix it"))

    def _trace_on_example(self, given) -> None:
        """Trace a network that torch.fx cannot with torch.export, on zeros shaped as one
        input: ``given``, else ``(in_features,)`` of the module's first nn.Linear (a guess,
        which :meth:`_input_shape` then checks against the traced graph's first layer)."""
        from torch import nn

        if given is not None:
            shape = self._input_shape(given)
        else:
            lin = next((m for m in self.network.module.modules() if isinstance(m, nn.Linear)),
                       None)
            if lin is None:
                raise ValueError(_needs_shape("torch.export traces this network (torch.fx "
                                              "cannot) on an example input"))
            shape = (int(lin.in_features),)
        try:
            self.network._ensure(torch.zeros((1,) + shape, dtype=torch.float64))
        except TraceError as err:
            if given is not None:
                raise
            raise ValueError(_needs_shape(
                f"torch.export traces this network (torch.fx cannot) on an example input, and "
                f"failed on the shape {shape} guessed from its first nn.Linear ({err})")) from err

    def predictions(self, keys) -> np.ndarray:
        """Class of each cell of a classifier from its comparison bits: the class ``c`` with
        ``f_c > f_j`` for ``j < c`` and ``f_c >= f_k`` for ``k > c`` (torch's arg-max, first
        maximum on ties), constant on the whole cell."""
        B = len(keys)
        P = np.frombuffer("".join(keys).encode(), dtype=np.uint8).reshape(B, -1) - ord("0")
        bits = P[:, self.n_hidden:].astype(bool)
        j, k = self.pairs[:, 0], self.pairs[:, 1]
        wins = np.zeros((B, self.n_outputs), dtype=np.int64)
        np.add.at(wins.T, k, bits.T)      # k beats j
        np.add.at(wins.T, j, ~bits.T)     # j beats (or ties) k
        return wins.argmax(axis=1)

    def _as_input(self, X) -> torch.Tensor:
        X = np.array(X, dtype=float)  # own, writable copy
        X = X.reshape((X.shape[0],) + self.input_shape) if X.ndim == 2 and \
            X.shape[1] == self.n_in else X
        return self.network.check_input(X, "X")

    # -- keys ----------------------------------------------------------------------------
    def patterns(self, X) -> np.ndarray:
        """0/1 pattern of every used unit, shape (N, n_units)."""
        Xt = self._as_input(X)
        self.network.probe(Xt)
        out = []
        stop = None if self.classifier else self.upto_layer - 1
        for i in range(0, Xt.shape[0], 65536):
            records, final = self.network.propagate(Xt[i:i + 65536], stop_at=stop)
            parts = [np.zeros((len(Xt[i:i + 65536]), 0), dtype=np.uint8)] + [
                r["pattern"].reshape(r["pattern"].shape[0], -1).numpy()
                for r in records[:self.upto_layer]]  # zero-width: an affine network
            if self.classifier:
                f = final["value"].reshape(final["value"].shape[0], -1).numpy()
                parts.append(f[:, self.pairs[:, 1]] > f[:, self.pairs[:, 0]])
            out.append(np.hstack(parts))
        return np.vstack(out).astype(np.uint8)

    def keys(self, X) -> np.ndarray:
        """Cell key of each row of X (string of 0/1 per unit)."""
        P = self.patterns(X)
        if P.shape[1] == 0:  # an affine network's one cell
            return np.full(len(P), "", dtype="<U1")
        chars = (P + ord("0")).view(f"S{P.shape[1]}").ravel()
        return chars.astype(str)

    # -- H-representations -------------------------------------------------------------
    def layer_maps(self, keys, origin=None) -> tuple[np.ndarray, np.ndarray]:
        """``(A, c)`` of every used unit on the cells of ``keys``.

        Returns arrays of shape (B, n_units, n) and (B, n_units): ``z = A x + c``, computed
        from the patterns alone (the recursion ``A_{l+1} = W_{l+1} D_l A_l``). With
        ``origin`` o, ``z = A (x - o) + c``: o itself is pushed through the layers, so c
        does not carry the cancellation of ``A o`` against the biases when o is far from 0.
        """
        B, n = len(keys), self.n_in
        P = np.frombuffer("".join(keys).encode(), dtype=np.uint8).reshape(B, -1) - ord("0")
        if P.shape[1] != self.n_units:
            raise ValueError(f"keys have {P.shape[1]} units, expected {self.n_units}.")
        imposed = [torch.from_numpy(P[:, self.offsets[j]:self.offsets[j + 1]].astype(np.int64))
                   .reshape((B,) + self.unit_shapes[j]) for j in range(self.upto_layer)]
        shape = self.input_shape
        eye = torch.eye(n, dtype=torch.float64).reshape((1, n) + shape).expand((B, n) + shape)
        stop = None if self.classifier else self.upto_layer - 1
        # the origin as ONE row, broadcast against the B patterns: the layers before the
        # first activation (``W_1 o + b_1``, where o near 1e12 cancels to ~1e-4) run once
        # on a batch of 1, so every cell, in every call, gets bit-identical first-layer
        # constants and both sides of a face the same hyperplane (#18); a batched product
        # rounds differently with the batch size
        x0 = torch.tensor(np.zeros(n) if origin is None else
                          np.asarray(origin, dtype=float)).reshape((1,) + shape)
        records, final = self.network.propagate(None, x0, eye, imposed=imposed, stop_at=stop)

        def batch(t):
            return torch.broadcast_to(t, (B,) + tuple(t.shape[1:])).reshape(B, -1).numpy()

        A = [np.zeros((B, 0, n))] + [r["tan"].reshape(B, n, -1).transpose(1, 2).numpy()
                                     for r in records[:self.upto_layer]]
        c = [np.zeros((B, 0))] + [batch(r["const"]) for r in records[:self.upto_layer]]
        if self.classifier:  # the comparisons f_k - f_j
            Af = final["tan"].reshape(B, n, -1).transpose(1, 2).numpy()
            cf = batch(final["const"])
            j, k = self.pairs[:, 0], self.pairs[:, 1]
            A.append(Af[:, k] - Af[:, j])
            c.append(cf[:, k] - cf[:, j])
        return np.concatenate(A, axis=1), np.concatenate(c, axis=1)

    def constraints(self, keys, origin=None):
        """``[(A, b, labels)]``: ``(1 - 2 s_k)(A_k x + c_k) <= 0`` per unit (label k); with
        ``origin`` o the rows are ``A (x - o) <= b`` (see :meth:`layer_maps`)."""
        out = []
        labels_all = np.arange(self.n_units)
        for start in range(0, len(keys), _KEY_CHUNK):
            chunk = list(keys[start:start + _KEY_CHUNK])
            # one thread: the cells' worker processes start meanwhile (3x slower otherwise)
            with one_torch_thread():
                A, c = self.layer_maps(chunk, origin)
            for j, key in enumerate(chunk):
                on = np.frombuffer(key.encode(), dtype=np.uint8) == ord("1")
                s = np.where(on, -1.0, 1.0)
                G, h = s[:, None] * A[j], -s * c[j]
                norms = np.linalg.norm(G, axis=1)  # live: above the rounding of the cell's rows
                live = norms > 1e-12 * norms.max(initial=0.0)
                # a unit constant on the cell: no facet; if its sign contradicts the key the
                # cell is empty (the row 0 x <= -1). "On" is z > 0: a unit that is 0 on the
                # whole cell (inputs off, no bias) is off, else both keys would hold the cell
                bad = ~live & ((h < 0) | (on & (h == 0)))
                keep = live | bad
                h = np.where(bad, np.minimum(h, -1.0), h)
                out.append((np.where(bad[:, None], 0.0, G)[keep], h[keep], labels_all[keep]))
        return out

    def cell_predictions(self, keys, centers) -> np.ndarray:
        """The ``prediction`` column: a classifier's class from the keys' comparison bits
        (:meth:`predictions`), else the output at each cell's centre (the arg-max of several
        outputs, the value of one)."""
        if self.classifier:
            return self.predictions(keys)
        out = self.outputs(centers)
        return out.argmax(axis=1) if out.shape[1] > 1 else out[:, 0]

    def outputs(self, X) -> np.ndarray:
        Xt = self._as_input(X)
        with torch.no_grad():
            return self.network.module(Xt).reshape(Xt.shape[0], -1).numpy()


def layerwise_table(net, X, domain=None) -> pd.DataFrame:
    """Data-containing cells after layers 1..l, for every depth l, and how they split.

    The partition after layers ``1..l`` is refined by the pulled-back hyperplanes of layer
    ``l + 1`` (THEORY.md section 6); only sub-cells holding data are counted.

    Returns
    -------
    DataFrame, one row per depth ``l``: ``layer``, ``units`` (used so far), ``data_cells``,
    ``split_cells`` (cells of depth ``l - 1`` cut into several data cells by layer ``l``),
    ``max_children``, ``singletons`` (data cells holding one point).
    """
    cells = NetworkCells(net)
    X = check_data(X, cells.n_in, name="X")
    if domain is not None:
        X = X[resolve_domain(domain, X, cells.n_in).contains(X)]
    P = cells.patterns(X)
    rows, parent = [], np.zeros(len(X), dtype=np.int64)
    for l in range(1, len(cells.sizes) + 1):
        sub = np.ascontiguousarray(P[:, :cells.offsets[l]])
        _, inv = np.unique(sub, axis=0, return_inverse=True)
        inv = inv.ravel()
        pairs = np.unique(np.column_stack([parent, inv]), axis=0)
        children = np.bincount(pairs[:, 0])
        rows.append({"layer": l, "units": int(cells.offsets[l]), "data_cells": int(inv.max()) + 1,
                     "split_cells": int((children > 1).sum()),
                     "max_children": int(children.max()),
                     "singletons": int((np.bincount(inv) == 1).sum())})
        parent = inv
    return pd.DataFrame(rows)


def _needs_shape(why: str) -> str:
    return (f"partition() needs the shape of one input: {why}. Pass input_shape=(channels, "
            "height, width) (or any shape without the batch axis); data rows are then the "
            "flattened inputs.")


def _layer_steps(network):
    """The activation steps in forward order (attribute name differs across versions)."""
    steps = getattr(network, "layer_steps", None)
    return steps if steps is not None else network._steps_by_layer


def _plane_geometries(model: NetworkCells, domain, tol: float):
    """Every cell of a network with 2-D input, from the exact slice engine.

    The slice of the domain box (:func:`cellgeom.nn.slice_partition`, compiled, no LP) gives
    each cell as a counter-clockwise polygon with its pattern. Each edge is labelled by the
    box side it lies on, else by the unit whose boundary line ``A_k x + c_k = 0`` (the
    cell's own pullback, :meth:`NetworkCells.layer_maps`) is nearest to both endpoints;
    Chebyshev centres come from the exact 2-D LP vertex enumeration.

    Returns keys (sorted), their bits, and the flat arrays of
    :func:`cellgeom.models.plane_tables.plane_tables`; None when an edge lies within reach
    of two units' lines (its label is ambiguous).
    """
    from ..nn.slice_kernel import chebyshev_polygons, cut_polygons
    from ..nn.slices import slice_with_maps
    from .plane_kernel import edge_geometry, facet_order
    from .plane_tables import UnitMaps, edge_units

    lo, w = domain.lo, domain.widths
    regions, st_maps = slice_with_maps(model.network, lo, [w[0], 0.0], [0.0, w[1]],
                                       (0.0, 1.0, 0.0, 1.0), min_area=0.0, expand=False)
    R = regions.n_regions
    bits = np.concatenate([p.reshape(R, -1).astype(np.uint8) for p in regions.patterns], axis=1)
    st_verts, starts = regions.polygons.vertices, regions.polygons.starts
    if model.classifier:  # the arg-max comparisons cut the regions once more
        imposed = [torch.as_tensor(p.reshape((R,) + shape))
                   for p, shape in zip(regions.patterns, model.unit_shapes)]
        const = torch.tensor(lo, dtype=torch.float64)[None].expand(R, 2)  # lo may be read-only
        tan = torch.tensor([[w[0], 0.0], [0.0, w[1]]], dtype=torch.float64)[None].expand(R, 2, 2)
        _, final = model.network.propagate(None, const, tan, imposed=imposed)
        fo, fc = final["tan"].reshape(R, 2, -1).numpy(), final["const"].reshape(R, -1).numpy()
        j, k = model.pairs[:, 0], model.pairs[:, 1]
        coeffs = np.stack([fo[:, 0, k] - fo[:, 0, j], fo[:, 1, k] - fo[:, 1, j],
                           fc[:, k] - fc[:, j]], axis=2)
        st_verts, starts, parent, pat, _, _ = cut_polygons(
            st_verts, starts, np.ascontiguousarray(coeffs), np.zeros(1), 1e-11 * np.sqrt(2), 0.0)
        bits = np.hstack([bits[parent], pat.astype(np.uint8)])
    keys_s = (bits + ord("0")).view(f"S{bits.shape[1]}").ravel()
    order = np.argsort(keys_s, kind="stable")  # bytes sort as the str keys do
    keys = keys_s[order].astype(str).tolist()  # Python str, as the polytope route's keys
    verts = lo + st_verts * w  # input coordinates
    counts = np.diff(starts)[order]
    new_starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    take = np.repeat(starts[:-1][order] - new_starts[:-1], counts) + np.arange(new_starts[-1])
    verts = np.ascontiguousarray(verts[take])
    # measures from coordinates relative to the domain's centre o: far from 0 (data near
    # 1e12) the shoelace products of raw coordinates cancel catastrophically (#18)
    o = domain.center
    centers, radii = chebyshev_polygons(verts - o, new_starts)
    centers = centers + o
    if st_maps is not None and not model.classifier:  # the slice's own maps, in x - o
        maps = UnitMaps(st_maps, order, lo, w, o)
    else:  # z = A (x - o) + c, A (R, U, 2)
        maps = UnitMaps.from_arrays(*model.layer_maps(keys, origin=o))
    cell = np.repeat(np.arange(len(keys)), counts)
    nxt = np.arange(len(verts)) + 1
    nxt[new_starts[1:] - 1] = new_starts[:-1]
    p, q, box_tol = verts - o, verts[nxt] - o, 1e3 * tol
    # an edge within reach of two units' lines (coincident or nearly coincident units, the
    # sides of a sliver between them) cannot be labelled from its endpoints: they are rounded
    # to the float64 step of the domain's coordinates, far from 0 as wide as the sliver (#18)
    reach = box_tol + 64 * np.spacing(np.maximum(np.abs(domain.lo), np.abs(domain.hi)).max())
    labels, ambiguous = edge_units(maps, cell, new_starts, p, q, reach, domain)
    for axis in range(2):  # Box.halfspaces order: 2i lower, 2i+1 upper side of axis i
        for side, bound in ((0, domain.lo[axis] - o[axis]), (1, domain.hi[axis] - o[axis])):
            near = box_tol * w[axis] / w.max()  # per axis: a short side is not 1e3 tol wide
            on = (np.abs(p[:, axis] - bound) <= near) & (np.abs(q[:, axis] - bound) <= near)
            labels[on] = -1 - (2 * axis + side)
            ambiguous[on] = False
    if ambiguous.any():
        return None
    # facets in the order of the H-representation rows (box rows, then units), as the LP
    # route lists them; hinge j of a cell joins its edges j and j + 1 at vertex j + 1
    perm, pairs = facet_order(new_starts, labels)
    f_normal, f_offset, f_len, f_mid, area, cen, angle = edge_geometry(p, q, o, new_starts,
                                                                        perm)
    flat = {"starts": new_starts, "verts": verts, "area": area, "centroid": cen,
            "centers": centers, "radii": radii, "f_normal": f_normal, "f_offset": f_offset,
            "f_len": f_len, "f_mid": f_mid, "f_lab": labels[perm], "hinge_pairs": pairs,
            "hinge_angle": angle, "hinge_centroid": o + q}
    return keys, bits[order], flat


def _partition_plane(model: NetworkCells, net, domain, tol, info):
    """``cells="all"`` partition of a 2-D-input network from :func:`_plane_geometries`.

    None when the slice has a cell thinner than ``tol`` (coincident or nearly coincident
    units leave zero-area regions and doubled edges) or an edge whose unit is ambiguous
    (two units' lines within the rounding of its endpoints): the polytope route, which
    labels every facet by its own row, merges coincident units and steps over slivers,
    then builds the partition (#18).
    """
    from .plane_tables import plane_tables

    tol = 1e-9 * domain.scale if tol is None else float(tol)
    try:
        built = _plane_geometries(model, domain, tol)
    except ZeroDivisionError:  # a degenerate polygon in the Chebyshev enumeration
        return None
    if built is None:
        return None
    keys, bits, flat = built
    if not (flat["radii"] > tol).all():
        return None
    # the prediction column from the centres as computed (Partition.centers reads them back)
    prediction = model.cell_predictions(keys, flat["centers"])
    cells, facets, hinges, vertices = plane_tables(keys, bits, flat, tol,
                                                   {"prediction": prediction})
    info = dict(info, cells="all", tol=tol, n_dropped=0, face_to_face=True,
                volume_method="exact", route="slice")
    return Partition(domain=domain, keys=list(keys), cells=cells, facets=facets,
                     hinges=hinges, model=net, locator=None, info=info, vertices=vertices)


def _start_key(cells: NetworkCells, domain) -> str:
    rng = np.random.default_rng(0)
    points = domain.lo + rng.random((256, domain.dim)) * domain.widths
    return str(cells.keys(points[:1])[0])


@register_adapter("torch.nn.modules.module.Module", name="torch.nn.Module")
def _partition_network(net, *, domain, data, cells, progress=True, upto_layer=None, tol=None,
                       include_neighbors=False, exact_dim=6, volume="auto", n_jobs=None,
                       executor=None, facet_method="simplex", input_shape=None,
                       output="auto"):
    """Adapter: ``cellgeom.partition(net, domain, data, cells=...)`` for torch networks.

    ``input_shape`` (one input without the batch axis, e.g. ``(1, 8, 8)``) is needed when
    the first layer does not fix it (a convolution); ``data`` and the domain are then in
    the flattened input space. ``output``: "classes" (default when the network has several
    outputs) refines the cells by the arg-max comparisons, so ``prediction`` is the class on
    the whole cell; "values" (default for one output, a regression) keeps one affine map
    per cell.
    """
    model = NetworkCells(net, upto_layer, input_shape, output)
    return _partition_cells(model, net, domain, data, cells, progress, tol, include_neighbors,
                            exact_dim, volume, n_jobs, executor, facet_method)


def _partition_cells(model, net, domain, data, cells, progress, tol, include_neighbors,
                     exact_dim, volume, n_jobs, executor, facet_method):
    """The partition of ``model`` (:class:`NetworkCells`), for every adapter that builds a
    network (torch modules, scikit-learn MLPs)."""
    # 2-D input: many small torch calls, faster on one thread (see one_torch_thread)
    with one_torch_thread() if model.input_shape == (2,) else contextlib.nullcontext():
        return _cells_of(model, net, domain, data, cells, progress, tol, include_neighbors,
                         exact_dim, volume, n_jobs, executor, facet_method)


def _cells_of(model, net, domain, data, cells, progress, tol, include_neighbors, exact_dim,
              volume, n_jobs, executor, facet_method):
    dim = model.n_in
    if data is not None:
        data = check_data(data, dim)
    domain = resolve_domain(domain, data, dim)
    if domain.dim != dim:
        raise ValueError(f"domain has dimension {domain.dim}, but the network expects {dim} "
                         "input features.")
    # the start cell of cells="all" is found only if the slice route declines (it needs none)
    keys, counts, expand, data_keys, n_outside = seed_keys(
        model.keys, domain, data, cells, include_neighbors, constraints=model.constraints, tol=tol)
    info = {"n_points_outside": n_outside, "upto_layer": model.upto_layer,
            "n_units": model.n_units}
    part = None
    if model.input_shape == (2,) and cells == "all" and model.upto_layer == len(model.sizes) \
            and model.n_hidden:  # the slice engine cuts by activation units
        part = _partition_plane(model, net, domain, tol, info)  # the exact slice engine
    if part is None:
        if not keys:  # cells="all": the cell to grow from
            keys = [_start_key(model, domain)]
        part = build_polytope_partition(
            domain=domain, keys=keys, constraints=model.constraints,
            neighbor_key=flip_bit, cells_mode=cells, counts=counts, model=net, tol=tol,
            progress=progress, expand=expand, n_jobs=n_jobs, executor=executor,
            exact_dim=exact_dim, volume=volume, facet_method=facet_method, info=info,
            key_of=model.keys)
    attach_data(part, model.keys, data_keys, data is not None)
    if data is not None:
        if volume == "data":  # empirical mass: vol(X) * share of the points in the cell
            data_volumes(part, len(data_keys))
    if part.n_cells and "prediction" not in part.cells:  # the slice route has it already
        part.cells["prediction"] = model.cell_predictions(part.keys, part.centers)
    part.cell_model = model
    return part
