"""Differentiable geometric penalties on the cells of a batch (THEORY.md section 7).

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
:class:`GeometricRegularizer` turns them into penalties.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .layers import ActivationStep, AffineStep, UnsupportedLayerError, as_network
from .patterns import group_by_pattern

__all__ = ["CellGeometry", "GeometricRegularizer", "PenaltyParts", "batch_cell_geometry",
           "face_neighbors"]

_PARTS = ("margin", "small_cell", "sharp_angle", "face_disagreement")
_OK_AFFINE = (nn.Linear, nn.Flatten, nn.Identity, nn.Dropout)


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


def _plan(net: nn.Module) -> tuple[list[tuple[str, nn.Module, float]], object]:
    """MLP steps ``("linear"|"act"|"id", module, slope below zero)`` and the network."""
    network = as_network(net, None)  # raises for non-piecewise-linear layers, keeps the module
    plan = []
    for st in network.steps:
        m = st.module
        if isinstance(st, AffineStep) and isinstance(m, _OK_AFFINE):
            plan.append(("linear" if isinstance(m, nn.Linear) else "id", m, 0.0))
        elif isinstance(st, ActivationStep) and st.kind in ("relu", "leaky_relu"):
            plan.append(("act", m, float(st.slopes[0])))
        else:
            raise UnsupportedLayerError(
                f"layer '{st.name}' ({type(m).__name__}) is not supported by the geometric "
                "regularizer, which handles MLPs of Linear, Flatten, Identity, Dropout, ReLU and "
                "LeakyReLU layers")
    if not any(k == "linear" for k, _, _ in plan):
        raise UnsupportedLayerError("the network has no Linear layer")
    return plan, network


def batch_cell_geometry(net: nn.Module, x) -> CellGeometry:
    """Distances and normals of every unit boundary on the cells of a batch.

    Parameters
    ----------
    net : torch.nn.Module
        MLP of Linear and ReLU / LeakyReLU layers (Flatten, Identity, eval Dropout allowed).
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
    ``(N, U, n)`` Jacobians, i.e. ``n`` forward passes' worth of arithmetic.

    Raises
    ------
    UnsupportedLayerError
        A layer is not piecewise linear or not one of the supported MLP layers.
    ValueError
        ``x`` is empty or does not have the network's input shape.
    """
    plan, network = _plan(net)
    X = network.check_input(x, "x_batch")
    first = next(m for k, m, _ in plan if k == "linear")
    h = X.reshape(X.shape[0], -1)
    if h.shape[1] != first.in_features:
        raise ValueError(f"x_batch has {h.shape[1]} features per point, but the network's first "
                         f"Linear layer expects {first.in_features}")
    N, n = h.shape
    A = None  # None = identity
    zs, As, pats = [], [], []
    for kind, m, alpha in plan:
        if kind == "linear":
            h = F.linear(h, m.weight, m.bias)
            A = m.weight if A is None else torch.matmul(m.weight, A)
        elif kind == "act":
            z = h
            if A is None:
                A = torch.eye(n, dtype=h.dtype, device=h.device)
            A = A.expand(N, *A.shape[-2:]) if A.dim() == 2 else A
            on = (z > 0).detach()
            D = torch.where(on, torch.ones_like(z), torch.full_like(z, alpha)).detach()
            zs.append(z)
            As.append(A)
            pats.append(on.cpu().numpy())
            h = D * z
            A = D.unsqueeze(-1) * A
    if not zs:
        raise UnsupportedLayerError("the network has no ReLU / LeakyReLU layer, hence one cell")
    zcat, Acat = torch.cat(zs, dim=1), torch.cat(As, dim=1)
    sq = (Acat * Acat).sum(-1)
    live = sq > torch.finfo(sq.dtype).tiny
    norm = torch.sqrt(torch.where(live, sq, torch.ones_like(sq)))
    dist = torch.where(live, zcat.abs() / norm, torch.full_like(norm, math.inf))
    normal = torch.where(live.unsqueeze(-1), Acat / norm.unsqueeze(-1), torch.zeros_like(Acat))
    return CellGeometry(X.reshape(N, -1), zs, As, h, dist, normal,
                        np.concatenate(pats, axis=1), [z.shape[1] for z in zs])


def face_neighbors(pattern: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of distinct patterns that differ in exactly one unit (cells sharing a face).

    Parameters
    ----------
    pattern : ndarray (G, U) of bool
        Distinct cell patterns.

    Returns
    -------
    a, b : ndarray (E,) of int
        Cell indices with ``a < b``.
    unit : ndarray (E,) of int
        The flipped unit.

    Notes
    -----
    Hashing, no ``G x G`` array: with random 64-bit weights ``r_k`` the key is
    ``h(s) = sum_k s_k r_k mod 2^64``; flipping unit ``k`` moves it by ``-+ r_k``, so the
    ``G * U`` candidate keys are looked up in the sorted keys and confirmed by
    comparing the patterns.
    """
    P = np.asarray(pattern, dtype=bool)
    G, U = P.shape
    if G < 2 or U == 0:
        return (np.zeros(0, np.intp),) * 3
    r = np.random.default_rng(0).integers(0, 2**63, size=U, dtype=np.uint64) * np.uint64(2) + \
        np.uint64(1)
    with np.errstate(over="ignore"):
        h = (P.astype(np.uint64) * r).sum(axis=1, dtype=np.uint64)
        cand = h[:, None] + np.where(P, np.uint64(0) - r, r)
    order = np.argsort(h)
    hs = h[order]
    pos = np.clip(np.searchsorted(hs, cand), 0, G - 1)
    hit = hs[pos] == cand
    a, k = np.nonzero(hit)
    b = order[pos[a, k]]
    keep = (a < b) & ((P[a] != P[b]).sum(axis=1) == 1)
    return a[keep], b[keep], k[keep]


@dataclass
class PenaltyParts:
    """Result of :class:`GeometricRegularizer`: the weighted total and each part.

    Attributes
    ----------
    total : Tensor ()
        ``sum_p weight_p * part_p`` over the enabled penalties (differentiable).
    parts : dict of str -> Tensor ()
        The unweighted enabled penalties (differentiable).
    stats : dict of str -> float
        Detached diagnostics of the batch: ``median_margin``, ``min_inradius``,
        ``median_inradius``, ``sharpness`` (mean ``|cos|`` of nearest pairs), ``n_cells``,
        ``n_faces``.
    """

    total: torch.Tensor
    parts: dict
    stats: dict


class GeometricRegularizer(nn.Module):
    """Penalties on the geometry of the cells around a batch of data points.

    Parameters
    ----------
    margin : float or None
        Margin ``m``; enables ``P_margin = mean_i sum_k relu(m - d_ik)``, the hinge on the
        distances of the points to every unit boundary of their cells.
    small_cell : float or None
        Threshold ``r0``; enables ``P_small = mean_i relu(r0 - r_i)`` with the inradius
        proxy ``r_i = min_k d_ik`` (largest ball centred at ``x_i`` inside its cell).
    sharp_angle : float or None
        Angle ``theta0`` in degrees; enables
        ``P_sharp = mean_{i, (a, b)} relu(|cos(u_ia, u_ib)| - cos(theta0))`` over the pairs
        among the ``n_nearest`` nearest boundaries of each point, ``u = A[k] / ||A[k]||``.
        ``|cos| -> 1`` means nearly parallel boundaries: a sharp wedge or a thin slab.
    face_disagreement : bool
        Enables ``P_face = f^T B_1 M_1 B_1^T f / N = sum_e w_e ||f_a - f_b||^2 / N`` over
        the pairs ``e = (a, b)`` of the batch's cells that differ by one flipped unit ``k``
        (they share a face), with ``f_a`` the mean output (softmax probabilities if
        ``probabilities``) of the points of cell ``a`` and the face-size proxy
        ``w_e = sum_{i in a u b} exp(-d_ik / s)``, ``s`` the median finite distance of the
        batch: many points close to the shared face stand for a large face.
    weights : mapping of str to float, optional
        Weight of each part (``"margin"``, ``"small_cell"``, ``"sharp_angle"``,
        ``"face_disagreement"``); default 1.
    n_nearest : int, default 3
        Boundaries per point used for the dihedral angles.
    probabilities : bool, default True
        Compare softmax (sigmoid for one output) probabilities rather than raw outputs.

    Notes
    -----
    All parts are sums over points, units and cell pairs, so they are invariant under
    relabelling the cells and under permuting hidden units (with the matching weight
    permutation). Hinges are not smooth at their kinks; away from them (and from
    boundaries, where the cell changes) each part is a smooth function of the parameters.
    """

    def __init__(self, margin: float | None = None, small_cell: float | None = None,
                 sharp_angle: float | None = None, face_disagreement: bool = False, *,
                 weights: Mapping[str, float] | None = None, n_nearest: int = 3,
                 probabilities: bool = True):
        super().__init__()
        self.margin, self.small_cell, self.sharp_angle = margin, small_cell, sharp_angle
        self.face_disagreement = face_disagreement
        self.weights = dict(weights or {})
        self.n_nearest, self.probabilities = n_nearest, probabilities

    def _validate(self) -> None:
        for name in ("margin", "small_cell"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise ValueError(f"{name} must be a positive distance or None, got {v!r}")
        if self.sharp_angle is not None and not 0 < self.sharp_angle <= 90:
            raise ValueError(f"sharp_angle must be in (0, 90] degrees, got {self.sharp_angle!r}")
        bad = set(self.weights) - set(_PARTS)
        if bad:
            raise ValueError(f"unknown weights {sorted(bad)}; expected keys among {_PARTS}")
        if int(self.n_nearest) < 2:
            raise ValueError(f"n_nearest must be >= 2, got {self.n_nearest!r}")

    def enabled(self) -> list[str]:
        """Names of the enabled penalties."""
        on = {"margin": self.margin is not None, "small_cell": self.small_cell is not None,
              "sharp_angle": self.sharp_angle is not None,
              "face_disagreement": bool(self.face_disagreement)}
        return [k for k in _PARTS if on[k]]

    def forward(self, net: nn.Module, x_batch, logits: torch.Tensor | None = None
                ) -> PenaltyParts:
        """Penalties of ``net`` on the cells of ``x_batch``.

        Parameters
        ----------
        net : torch.nn.Module
            ReLU / LeakyReLU MLP (see :func:`batch_cell_geometry`).
        x_batch : Tensor (N, n_in)
        logits : Tensor (N, m), optional
            The network's outputs on the batch, if already computed; used for ``f``.

        Returns
        -------
        PenaltyParts
        """
        self._validate()
        geo = batch_cell_geometry(net, x_batch)
        N = geo.distance.shape[0]
        out = geo.output if logits is None else logits
        if out.shape[0] != N:
            raise ValueError(f"logits has {out.shape[0]} rows, but x_batch has {N} points")
        dist = geo.distance
        finite = torch.isfinite(dist)
        d0 = torch.where(finite, dist, torch.zeros_like(dist))
        zero = (d0.sum() + out.sum()) * 0.0  # a differentiable zero
        parts, stats = {}, {}
        if self.margin is not None:
            hinge = torch.where(finite, F.relu(self.margin - d0), torch.zeros_like(d0))
            parts["margin"] = hinge.sum(1).mean()
        r = dist.min(dim=1).values
        if self.small_cell is not None:
            rr = torch.where(torch.isfinite(r), r, torch.full_like(r, self.small_cell))
            parts["small_cell"] = F.relu(self.small_cell - rr).mean()
        cos_pairs, pair_ok = self._nearest_cosines(geo)
        if self.sharp_angle is not None:
            thr = math.cos(math.radians(self.sharp_angle))
            pen = torch.where(pair_ok, F.relu(cos_pairs.abs() - thr), torch.zeros_like(cos_pairs))
            parts["sharp_angle"] = pen.sum() / pair_ok.sum().clamp(min=1) + zero
        first, inverse = group_by_pattern(np.packbits(geo.pattern, axis=1))
        n_faces = 0
        if self.face_disagreement:
            parts["face_disagreement"], n_faces = self._face(geo, out, first, inverse, zero)
        total = zero
        for k, v in parts.items():
            total = total + float(self.weights.get(k, 1.0)) * v
        with torch.no_grad():
            fin = dist[finite]
            stats = {"median_margin": float(fin.median()) if fin.numel() else math.inf,
                     "min_inradius": float(r.min()), "median_inradius": float(r.median()),
                     "sharpness": float(cos_pairs.abs()[pair_ok].mean()) if pair_ok.any()
                     else math.nan,
                     "n_cells": int(len(first)), "n_faces": int(n_faces)}
        return PenaltyParts(total, parts, stats)

    def _nearest_cosines(self, geo: CellGeometry) -> tuple[torch.Tensor, torch.Tensor]:
        """``cos`` between the normals of pairs among each point's nearest boundaries."""
        U = geo.distance.shape[1]
        k = min(int(self.n_nearest), U)
        if k < 2:
            empty = geo.distance[:, :0]
            return empty, empty.bool()
        d, idx = torch.topk(geo.distance.detach(), k, dim=1, largest=False)
        u = torch.gather(geo.normal, 1, idx.unsqueeze(-1).expand(-1, -1, geo.normal.shape[2]))
        ia, ib = torch.triu_indices(k, k, offset=1, device=idx.device)
        cos = (u[:, ia] * u[:, ib]).sum(-1)
        ok = torch.isfinite(d[:, ia]) & torch.isfinite(d[:, ib])
        return cos, ok

    def _face(self, geo: CellGeometry, out: torch.Tensor, first: np.ndarray,
              inverse: np.ndarray, zero: torch.Tensor) -> tuple[torch.Tensor, int]:
        a, b, unit = face_neighbors(geo.pattern[first])
        if len(a) == 0:
            return zero, 0
        if self.probabilities:
            f = torch.sigmoid(out) if out.shape[1] == 1 else torch.softmax(out, dim=1)
        else:
            f = out
        dev = out.device
        inv = torch.as_tensor(inverse, device=dev)
        G = len(first)
        counts = torch.zeros(G, dtype=f.dtype, device=dev).index_add_(
            0, inv, torch.ones(len(inv), dtype=f.dtype, device=dev))
        fc = torch.zeros(G, f.shape[1], dtype=f.dtype, device=dev).index_add(0, inv, f)
        fc = fc / counts.unsqueeze(1)
        dist = geo.distance
        finite = torch.isfinite(dist)
        fin = dist[finite]
        eps = torch.finfo(dist.dtype).eps
        s = fin.median().clamp(min=eps) if fin.numel() else dist.new_ones(())
        # w_e = sum over points of a and b of exp(-d_{i, unit_e} / s)
        ta, tb, tu = (torch.as_tensor(v, device=dev) for v in (a, b, unit))
        d0 = torch.where(finite, dist, torch.zeros_like(dist))
        near = torch.where(finite, torch.exp(-d0 / s), torch.zeros_like(dist))  # (N, U)
        per_cell = torch.zeros(G, dist.shape[1], dtype=dist.dtype, device=dev).index_add(
            0, inv, near)  # (G, U): sum over the cell's points
        w = per_cell[ta, tu] + per_cell[tb, tu]
        diff = ((fc[ta] - fc[tb]) ** 2).sum(1)
        return (w * diff).sum() / dist.shape[0] + zero, len(a)
