"""Pullback geometry of a batch on its cells: the hot path of the regularizer and tracker.

On the cell of a point ``x`` every pre-activation of a ReLU / leaky-ReLU MLP is
affine, ``z_l = A_l x + c_l`` with ``A_1 = W_1`` and ``A_{l+1} = W_{l+1} D_l A_l``
(``D_l`` the slopes of the active pieces, constants on the cell). The distance of
``x`` to the boundary hyperplane of unit ``(l, k)`` is

    d_{lk}(x) = |z_{lk}(x)| / ||A_l[k]||,

and since the cell is the intersection of the half-spaces ``sign(z_{lk}) = s_{lk}``,
``r(x) = min_{lk} d_{lk}(x)`` is exactly the radius of the largest ball centred at
``x`` inside the cell (a lower bound of the cell's inradius; the domain box is
ignored). :func:`batch_cell_geometry` computes ``z``, ``A``, the distances and the
unit normals ``A_l[k] / ||A_l[k]||`` for a batch by an explicit recursion through the
Linear layers, with the slopes ``D_l`` detached (they are locally constant), so
every quantity is differentiable with respect to the parameters (and to ``x``).

Hot path (:class:`~cellgeom.nn.regularizer.GeometricRegularizer` and
:class:`~cellgeom.nn.tracker.GeometryTracker`, called every training step): the network
is validated once and its layer plan cached per module (:mod:`cellgeom.nn._mlp_plan`); one forward
pass carries only the row norms ``||A_l[k]||^2`` (:func:`_forward`, by Gram matrices where
that is cheaper than the Jacobians), and normals only for each point's nearest boundaries
(:func:`_rows`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._mlp_plan import _get_plan, _Plan
from .inputs import check_input
from .layers import UnsupportedLayerError

__all__ = ["CellGeometry", "batch_cell_geometry"]


@dataclass
class CellGeometry:
    """Pullback geometry of a batch of ``N`` points on their cells.

    Attributes
    ----------
    x : Tensor (N, n)
        The flattened inputs.
    z : list of Tensor (N, U_l)
        Pre-activations of every activation layer.
    A : list of Tensor (N, U_l, n)
        Their linear parts on each point's cell, ``A_l = dz_l/dx``.
    output : Tensor (N, m)
        The network's output.
    distance : Tensor (N, U)
        ``|z_k| / ||A[k]||`` for all ``U = sum_l U_l`` hidden units (layers concatenated);
        ``inf`` for a unit whose row ``A[k]`` is zero (constant on the cell, no boundary).
    normal : Tensor (N, U, n)
        Unit normals ``A[k] / ||A[k]||`` (zero rows for units without boundary).
    pattern : ndarray (N, U) of bool
        ``z_k > 0``: the activation pattern (cell key) of each point.
    layer_sizes : list of int
        ``U_l`` per activation layer.
    """

    x: torch.Tensor
    z: list
    A: list
    output: torch.Tensor
    distance: torch.Tensor
    normal: torch.Tensor
    pattern: np.ndarray
    layer_sizes: list = field(default_factory=list)


def _slope(act: nn.Module) -> float:
    return float(getattr(act, "negative_slope", 0.0))  # ReLU: 0


_TRIU: dict = {}


def _triu_flat(P: int, device) -> tuple:
    """Pairs ``j <= j'`` of ``P`` units: ``j``, ``j'``, flat index ``j * P + j'`` and the
    multiplicity (1 on the diagonal, 2 off it)."""
    key = (P, str(device))
    if key not in _TRIU:
        i, j = torch.triu_indices(P, P, device=device)
        _TRIU[key] = (i, j, i * P + j, torch.where(i == j, 1.0, 2.0).to(device))
    return _TRIU[key]


# ------------------------------------------------------------------------ geometry core
@dataclass(eq=False)
class _Geo:
    """Pre-activations and the squared row norms of their Jacobians, per activation layer.

    ``sq[l]`` is ``||A_l[k]||^2``: shape (U_l,) while ``A_l`` is shared by the batch
    (before the first activation), else (N, U_l). ``T[l]`` is ``A_l^T`` -- (n, U_l) or
    (N, n, U_l) -- or, for a layer done by the Gram route, None with ``gram[l] =
    (M, D, A)``: ``A_l = M diag(D_i) A`` for point ``i``.
    """

    z: list
    sq: list
    on: list
    T: list
    gram: list
    out: torch.Tensor
    n: int


def _use_gram(P: int, n: int, grad: bool) -> bool:
    """Gram route for the last hidden layer if it is cheaper than the Jacobians.

    Jacobian route: ``A = M diag(D) A_prev`` costs ``N U P n`` multiply-adds forward and
    twice that backward; Gram route ``N U P (P + 1) / 2`` each way (see :func:`_forward`).
    """
    jac = P * n * (3 if grad else 1)
    gram = P * (P + 1) / 2 * (2 if grad else 1)
    return gram < 0.8 * jac


def _forward(plan: _Plan, X: torch.Tensor, allow_gram: bool = True) -> _Geo:
    """One pass through the MLP carrying ``A_l^T`` (and no more than needed).

    Recursion ``z_l = M_l h_{l-1} + c``, ``A_l = M_l D_{l-1} A_{l-1}`` with ``D`` the
    detached slopes; carried as ``T_l = A_l^T`` so each Linear layer is one matrix
    product on ``(N * n, U)``. For the last hidden layer, when its input Jacobian is
    still shared by the batch (a 2-hidden-layer MLP) and ``U_{l-1}`` is not much larger
    than ``n``, the row norms are computed without the ``(N, n, U)`` Jacobians from the
    Gram matrix ``G = A_{l-1} A_{l-1}^T``:

        ||A_l[i, k]||^2 = sum_{j <= j'} c_jj' M_kj M_kj' G_jj' D_ij D_ij'

    (``c`` = 1 on the diagonal, 2 off it): one ``(N, P(P+1)/2) x (P(P+1)/2, U)`` product
    forward and one backward.
    """
    N = X.shape[0]
    h = X.reshape(N, -1)
    n = h.shape[1]
    if h.shape[1] != plan.first.in_features:
        raise ValueError(f"x_batch has {h.shape[1]} features per point, but the network's first "
                         f"Linear layer expects {plan.first.in_features}")
    grad = torch.is_grad_enabled()
    T = None  # A^T; None = identity
    zs, sqs, ons, Ts, grams = [], [], [], [], []
    D = None
    L = len(plan.hidden)
    for li, (lins, act) in enumerate(plan.hidden):
        gram_here = (allow_gram and li == L - 1 and li >= 1 and T is not None and T.dim() == 2
                     and len(lins) > 0 and _use_gram(T.shape[1], n, grad))
        if gram_here:
            A_prev = T.t()  # (P, n), shared
            M = lins[0].weight
            for lin in lins:
                h = F.linear(h, lin.weight, lin.bias)
            for lin in lins[1:]:
                M = lin.weight @ M
            P = A_prev.shape[0]
            iu, ju, flat, mult = _triu_flat(P, h.device)
            G = A_prev @ A_prev.t()
            # pairs along dim 0 (contiguous row copies; selecting columns was ~3x slower)
            Mt = M.t().contiguous()  # (P, U)
            Qt = Mt.index_select(0, iu) * Mt.index_select(0, ju) * \
                (G.reshape(-1).index_select(0, flat) * mult.to(G.dtype)).unsqueeze(1)  # (K, U)
            Dt = D.t().contiguous()  # (P, N)
            DDt = (Dt.unsqueeze(1) * Dt.unsqueeze(0)).reshape(P * P, N).index_select(0, flat)
            sq = DDt.t() @ Qt  # (N, U)
            Ts.append(None)
            grams.append((M, D, A_prev))
        else:
            if D is not None:  # T = A^T of the previous layer's pre-activation
                T = T * D.unsqueeze(1)
            for lin in lins:
                h = F.linear(h, lin.weight, lin.bias)
                T = lin.weight.t() if T is None else F.linear(T, lin.weight)
            if T is None:
                T = torch.eye(n, dtype=h.dtype, device=h.device)
            sq = (T * T).sum(-2)
            Ts.append(T)
            grams.append(None)
        z = h
        on = z > 0  # comparisons are not recorded by autograd
        alpha = _slope(act)
        D = on.to(z.dtype) if alpha == 0.0 else \
            z.detach().new_full(z.shape, alpha).masked_fill_(on, 1.0)
        zs.append(z)
        sqs.append(sq)
        ons.append(on)
        h = z * D
    for lin in plan.head:
        h = F.linear(h, lin.weight, lin.bias)
    return _Geo(zs, sqs, ons, Ts, grams, h, n)


def _distances(geo: _Geo) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(dist, inv, live)``: (N, U) distances ``|z| / ||A[k]||`` (``inf`` where the row is
    zero), inverse row norms (1 where zero, so gradients stay finite) and the non-zero rows, or
    ``live = None`` when every row is non-zero (the common case, no masking needed)."""
    N = geo.z[0].shape[0]
    z = torch.cat(geo.z, 1) if len(geo.z) > 1 else geo.z[0]
    sqs = [s.expand(N, -1) if s.dim() == 1 else s for s in geo.sq]
    sq = torch.cat(sqs, 1) if len(sqs) > 1 else sqs[0]
    live = sq > torch.finfo(sq.dtype).tiny
    if bool(live.all()):
        inv = sq.rsqrt()
        return z.abs() * inv, inv, None
    inv = torch.where(live, sq, 1.0).rsqrt()
    return torch.where(live, z.abs() * inv, math.inf), inv, live


def _rows(geo: _Geo, idx: torch.Tensor) -> torch.Tensor:
    """Rows ``A[i, idx[i, j]]`` (N, k, n) of the concatenated Jacobians."""
    N, k = idx.shape
    n = geo.n
    sizes = [z.shape[1] for z in geo.z]
    if all(g is None for g in geo.gram) and N * n * sum(sizes) <= 1 << 20:
        # small Jacobians: one table (N, n, U), one gather
        Ts = [T.expand(N, -1, -1) if T.dim() == 2 else T for T in geo.T]
        table = torch.cat(Ts, 2) if len(Ts) > 1 else Ts[0]
        return torch.gather(table, 2, idx.unsqueeze(1).expand(N, n, k)).transpose(1, 2)
    out, start = None, 0
    for T, gram, U in zip(geo.T, geo.gram, sizes):
        local = (idx - start).clamp(0, U - 1)
        if gram is not None:
            M, D, A_prev = gram
            R = (M[local] * D.unsqueeze(1)) @ A_prev
        elif T.dim() == 2:
            R = T.t()[local]
        else:
            R = torch.gather(T, 2, local.unsqueeze(1).expand(N, n, k)).transpose(1, 2)
        if out is None:
            out = R
        else:
            inside = ((idx >= start) & (idx < start + U)).unsqueeze(-1)
            out = torch.where(inside, R, out)
        start += U
    return out


_PAIRS: dict = {}


def _smallest(d: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` smallest entries of each row and their columns, ascending.

    ``torch.topk`` on CPU was measured 2-6x slower than ``k`` rounds of ``min`` for
    batches of more than ~2e4 distances (and faster below), so both are used.
    """
    if d.numel() < 20000 or d.device.type != "cpu":
        return torch.topk(d, k, dim=1, largest=False)
    x = d.clone()
    vals, idxs = [], []
    for j in range(k):
        v, i = x.min(dim=1, keepdim=True)
        vals.append(v)
        idxs.append(i)
        if j < k - 1:
            x.scatter_(1, i, math.inf)
    return torch.cat(vals, 1), torch.cat(idxs, 1)


def _nearest_cosines(geo: _Geo, dist: torch.Tensor, inv: torch.Tensor, n_nearest: int,
                     live: torch.Tensor | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``cos`` (N, k(k-1)/2) between the normals of the pairs among each point's ``k``
    nearest boundaries, and which pairs are valid (both boundaries exist; None = all)."""
    U = dist.shape[1]
    k = min(int(n_nearest), U)
    if k < 2:
        empty = dist[:, :0]
        return empty, empty.bool()
    d, idx = _smallest(dist.detach(), k)
    u = _rows(geo, idx) * torch.gather(inv, 1, idx).unsqueeze(-1)
    key = (k, str(idx.device))
    if key not in _PAIRS:
        ia, ib = torch.triu_indices(k, k, offset=1, device=idx.device)
        _PAIRS[key] = (ia, ib, ia * k + ib)
    ia, ib, flat = _PAIRS[key]
    cos = (u @ u.transpose(1, 2)).reshape(u.shape[0], k * k)[:, flat]
    if live is None:
        return cos, None
    fin = torch.isfinite(d)
    return cos, fin[:, ia] & fin[:, ib]


def batch_cell_geometry(net: nn.Module, x) -> CellGeometry:
    """Distances and normals of every unit boundary on the cells of a batch.

    Parameters
    ----------
    net : torch.nn.Module
        MLP of Linear and ReLU / LeakyReLU layers (Flatten, Identity, Dropout allowed;
        Dropout is the identity here in either mode: the cells of the evaluated network).
    x : array-like or Tensor (N, n_in) (or (N, ...) before a leading Flatten)

    Returns
    -------
    CellGeometry

    Notes
    -----
    Recursion ``A_1 = W_1``, ``A_{l+1} = W_{l+1} diag(D_l) A_l`` and ``h_l = D_l z_l``
    (exact for ReLU and leaky ReLU, whose pieces have zero offset), with
    ``D_l = 1`` where ``z_l > 0`` and ``alpha`` (0 for ReLU) elsewhere, detached.
    Cost: ``O(N * sum_l U_l U_{l-1} n)`` -- one matrix product per layer on the
    ``(N, n, U)`` transposed Jacobians, i.e. ``n`` forward passes' worth of arithmetic.
    This materialises every Jacobian and normal; :class:`GeometricRegularizer` and
    :class:`~cellgeom.nn.tracker.GeometryTracker` compute only what their statistics need.
    The network is validated once and its plan cached (see :class:`GeometricRegularizer`).

    Raises
    ------
    UnsupportedLayerError
        A layer is not piecewise linear or not one of the supported MLP layers.
    ValueError
        ``x`` is empty or does not have the network's input shape.
    """
    plan = _get_plan(net, x)
    X = check_input(x, plan.rule, plan.dtype, plan.device, "x_batch")
    if not plan.hidden:
        raise UnsupportedLayerError("the network has no ReLU / LeakyReLU layer, hence one cell")
    geo = _forward(plan, X, allow_gram=False)
    N, n = X.shape[0], geo.n
    dist, inv, live = _distances(geo)
    As = [T.t().expand(N, -1, -1) if T.dim() == 2 else T.transpose(1, 2) for T in geo.T]
    Acat = torch.cat(As, dim=1)
    normal = Acat * inv.unsqueeze(-1)
    if live is not None:
        normal = torch.where(live.unsqueeze(-1), normal, 0.0)
    pattern = torch.cat(geo.on, 1).cpu().numpy()
    return CellGeometry(X.reshape(N, n), geo.z, As, geo.out, dist, normal, pattern,
                        [z.shape[1] for z in geo.z])

