"""The piecewise-linear steps a network is made of, and how each acts on an affine bundle.

* :class:`AffineStep` -- Linear, Conv1d/2d, eval-mode BatchNorm (folded into
  ``y = s * x + t`` with ``s = gamma / sqrt(var + eps)``, ``t = beta - mean * s``),
  AvgPool, AdaptiveAvgPool, Flatten, Unflatten, Dropout (identity in eval), Identity;
* :class:`ActivationStep` -- an elementwise activation with breakpoints
  ``t_1 < ... < t_{p-1}``; on piece ``j`` it is ``sigma(z) = slope_j z + offset_j``.
  The pattern of a unit is its piece index ``#{j : z > t_j}`` (so ReLU's pattern is
  ``z > 0``, matching torch's derivative 0 at 0);
* :class:`MaxPoolStep` -- the pattern of an output is the position of the maximum
  in its window (first maximum on ties, as torch);
* :class:`SelectStep` -- ``torch.maximum`` / ``torch.minimum`` of two tensors, a unit with
  pre-activation ``a - b``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Step", "AffineStep", "ActivationStep", "MaxPoolStep", "SelectStep",
           "ActivationLayer"]


@dataclass
class Step:
    name: str
    module: nn.Module


@dataclass
class AffineStep(Step):
    """An affine layer; ``linear`` is its map without the constant term."""

    def full(self, y: torch.Tensor) -> torch.Tensor:
        return self.module(y)  # eval-mode BatchNorm uses its running statistics here

    def linear(self, y: torch.Tensor) -> torch.Tensor:
        m = self.module
        if isinstance(m, nn.Linear):
            return F.linear(y, m.weight)
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            return m._conv_forward(y, m.weight, None)
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            return y * _channel_view(_bn_scale(m), y)
        return m(y)  # pooling by averaging, reshapes, identities: linear, no constant


@dataclass
class ActivationStep(Step):
    """Elementwise piecewise-linear activation: breakpoints, per-piece slopes and offsets."""

    breakpoints: tuple[float, ...]
    slopes: list  # per piece: float or per-channel tensor (PReLU)
    offsets: tuple[float, ...]
    kind: str
    layer_index: int = -1

    @property
    def n_pieces(self) -> int:
        return len(self.breakpoints) + 1

    def pieces(self, z: torch.Tensor) -> torch.Tensor:
        """Piece index ``#{j : z > t_j}`` per unit (int64, shape of ``z``)."""
        out = (z > self.breakpoints[0]).long()
        for t in self.breakpoints[1:]:
            out += z > t
        return out

    def slope_offset(self, pattern: torch.Tensor, like: torch.Tensor):
        """Slope and offset of the active piece, broadcast to ``pattern`` (batch first)."""
        offsets = torch.tensor(self.offsets, dtype=like.dtype, device=like.device)
        if not any(torch.is_tensor(s) for s in self.slopes):  # one table look-up
            slopes = torch.tensor(self.slopes, dtype=like.dtype, device=like.device)
            return slopes[pattern], offsets[pattern]
        slope = torch.zeros(pattern.shape, dtype=like.dtype, device=like.device)
        for j, s in enumerate(self.slopes):  # PReLU: per-channel slopes
            s = _channel_view(s, pattern) if torch.is_tensor(s) else s
            slope = torch.where(pattern == j, s, slope)
        return slope, offsets[pattern]

    def apply(self, z: torch.Tensor) -> torch.Tensor:
        """The activation itself, never in place (the input is kept in the records)."""
        m = self.module
        if self.kind == "prelu":
            return F.prelu(z, m.weight)
        if self.kind == "relu":
            return F.relu(z)
        if self.kind == "leaky_relu":
            return F.leaky_relu(z, float(self.slopes[0]))
        lo, hi = self.breakpoints[0], self.breakpoints[-1]
        return {"hardtanh": lambda: F.hardtanh(z, lo, hi),
                "softshrink": lambda: F.softshrink(z, hi),
                "hardshrink": lambda: F.hardshrink(z, hi),
                "threshold": lambda: F.threshold(z, lo, self.offsets[0]),
                "clamp_min": lambda: torch.clamp(z, min=lo),
                "clamp_max": lambda: torch.clamp(z, max=hi),
                "abs": lambda: torch.abs(z)}[self.kind]()


@dataclass
class MaxPoolStep(Step):
    """Max pooling; the pattern is the position of the maximum inside each window.

    Positions are row-major inside the (kernel_h, kernel_w) window; torch's own
    ``return_indices`` (flat indices into each channel's input) decides them, so
    ties go to the first maximum exactly as in the network.
    """

    layer_index: int = -1

    def _pair(self, attr: str) -> tuple[int, int]:
        v = getattr(self.module, attr)
        v = (v,) if isinstance(v, int) else tuple(v)
        if isinstance(self.module, nn.MaxPool1d):  # a 1 x L image
            return (0 if attr == "padding" else 1), v[0]
        return v * 2 if len(v) == 1 else v

    @property
    def n_pieces(self) -> int:
        return math.prod(self._pair("kernel_size"))

    def _starts(self, out_spatial, device):
        """Top-left input coordinate of every window, shapes (Ho, 1) and (1, Wo)."""
        s, p = self._pair("stride"), self._pair("padding")
        ho, wo = (1, out_spatial[0]) if len(out_spatial) == 1 else out_spatial
        h0 = torch.arange(ho, device=device).reshape(-1, 1) * s[0] - p[0]
        w0 = torch.arange(wo, device=device).reshape(1, -1) * s[1] - p[1]
        return h0, w0

    def to_flat(self, pos: torch.Tensor, in_spatial) -> torch.Tensor:
        """Window positions (B, C, *out_spatial) -> flat indices into each channel."""
        k, d = self._pair("kernel_size"), self._pair("dilation")
        h0, w0 = self._starts(pos.shape[2:], pos.device)
        width = in_spatial[-1]
        pos2 = pos.reshape(pos.shape[:2] + h0.shape[:1] + w0.shape[1:])
        h = h0 + (pos2 // k[1]) * d[0]
        w = w0 + (pos2 % k[1]) * d[1]
        return (h * width + w).reshape(pos.shape)

    def to_position(self, flat: torch.Tensor, in_spatial) -> torch.Tensor:
        k, d = self._pair("kernel_size"), self._pair("dilation")
        h0, w0 = self._starts(flat.shape[2:], flat.device)
        width = in_spatial[-1]
        flat2 = flat.reshape(flat.shape[:2] + h0.shape[:1] + w0.shape[1:])
        r = (flat2 // width - h0) // d[0]
        c = (flat2 % width - w0) // d[1]
        return (r * k[1] + c).reshape(flat.shape)

    def select(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled values and flat indices of the maxima (torch's own choice)."""
        m = self.module
        pool = F.max_pool1d if isinstance(m, nn.MaxPool1d) else F.max_pool2d
        return pool(v, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode,
                    return_indices=True)

    @staticmethod
    def gather(y: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
        """Entries ``flat`` (B, C, *out) of ``y`` (B*m, C, *in), for m tangents per point."""
        rep = y.shape[0] // flat.shape[0]
        idx = flat.reshape(flat.shape[0], flat.shape[1], -1)
        idx = idx.repeat_interleave(rep, dim=0) if rep > 1 else idx
        out = y.reshape(y.shape[0], y.shape[1], -1).gather(2, idx)
        return out.reshape((y.shape[0],) + tuple(flat.shape[1:]))

    def window_index(self, in_shape, out_shape) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit index (into the flattened input) of every window entry, shape (C*L_out, K),
        and whether the entry lies inside the input (not in the padding)."""
        c, in_sp, out_sp = in_shape[0], tuple(in_shape[1:]), tuple(out_shape[1:])
        k, d = self._pair("kernel_size"), self._pair("dilation")
        h0, w0 = self._starts(out_sp, "cpu")
        pos = torch.arange(self.n_pieces)
        h = h0.reshape(-1, 1, 1) + (pos // k[1] * d[0]).reshape(1, 1, -1)
        w = w0.reshape(1, -1, 1) + (pos % k[1] * d[1]).reshape(1, 1, -1)
        h, w = torch.broadcast_tensors(h, w)  # (Ho, Wo, K)
        height, width = (in_sp[0] if len(in_sp) == 2 else 1), in_sp[-1]
        valid = ((h >= 0) & (h < height) & (w >= 0) & (w < width)).reshape(1, -1, self.n_pieces)
        unit = (h * width + w).reshape(1, -1, self.n_pieces) + \
            math.prod(in_sp) * torch.arange(c).reshape(-1, 1, 1)
        return unit.reshape(-1, self.n_pieces), valid.expand(c, -1, -1).reshape(-1, self.n_pieces)


@dataclass
class SelectStep(Step):
    """``torch.maximum(a, b)`` (``kind="max"``) or ``torch.minimum`` as a unit with
    pre-activation ``z = a - b``: its pattern is ``z > 0`` (``a`` selected by the maximum),
    and the output is ``b + relu(z)`` or ``a - relu(z)``, affine on each side."""

    kind: str = "max"
    layer_index: int = -1
    n_pieces: int = 2
    breakpoints: tuple = (0.0,)


@dataclass
class ActivationLayer:
    """What the cell key is made of: one entry per activation or max-pool step."""

    name: str
    kind: str
    n_pieces: int


def _channel_view(w: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Reshape a per-channel vector to broadcast over ``y`` (batch, C, *rest)."""
    if w.numel() == 1:
        return w.reshape(())
    return w.reshape((1, -1) + (1,) * (y.dim() - 2))


def _bn_scale(m) -> torch.Tensor:
    s = torch.rsqrt(m.running_var + m.eps)
    return s * m.weight if m.weight is not None else s
