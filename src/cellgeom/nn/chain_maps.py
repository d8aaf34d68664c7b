"""Plane maps of a dense chain (Linear layers and elementwise activations), layer by layer.

The slice engine (:mod:`cellgeom.nn.slices`) needs, on every polygon of a layer's input
partition, the layer's pre-activations as affine functions of the plane coordinates
``(s, t)``. For any traced graph they come from pushing the plane map through the network
with the earlier patterns imposed; for the common MLP, a chain of ``nn.Linear`` layers and
elementwise activations, each polygon can instead carry its last activation's output map,
and a layer costs one matrix product for all polygons.
"""
from __future__ import annotations

import numpy as np
import torch

from .steps import ActivationStep

__all__: list[str] = []


class _DenseChain:
    """The plane map pushed through a chain of ``nn.Linear`` layers and elementwise
    activations in NumPy, one layer at a time: each polygon carries the affine map of its
    last activation's output, so a layer costs one matrix product for all polygons instead
    of a propagation from the input through every earlier layer (the general route,
    :func:`_plane_coeffs`). Same numbers up to rounding.

    Maps are stored as rows ``(p, 3, units)``: the ``s``, ``t`` and constant coefficients of
    every unit, so that a layer is ``rows @ W.T``.
    """

    def __init__(self, maps, origin, u, v):
        self.maps = maps  # per activation layer: (W, c) from the previous one's output
        self.rows = np.stack([u, v, origin])[None]  # x = s u + t v + origin

    @classmethod
    def from_network(cls, network, origin, u, v):
        """The chain's maps, or None unless the network is a chain of Linear layers and
        elementwise activations with scalar slopes, in float64, every activation preceded
        by at least one Linear (consecutive Linear layers are multiplied out)."""
        if not network.chain or network.dtype != torch.float64:
            return None
        maps, W, c = [], None, None
        for op in network.ops:
            if op.kind in ("input", "output", "guard"):
                continue
            lin = getattr(op.step, "module", None)
            if op.kind == "affine" and isinstance(lin, torch.nn.Linear):
                w = lin.weight.detach().cpu().numpy().astype(float)
                b = (lin.bias.detach().cpu().numpy().astype(float) if lin.bias is not None
                     else np.zeros(w.shape[0]))
                W, c = (w, b) if W is None else (w @ W, w @ c + b)
                continue
            if op.kind != "act" or W is None or not isinstance(op.step, ActivationStep) \
                    or any(torch.is_tensor(x) for x in op.step.slopes):
                return None
            maps.append((W, c))
            W = c = None
        return cls(maps, origin, u, v)

    def coeffs(self, layer: int, c0: int, c1: int) -> tuple[np.ndarray, np.ndarray]:
        """Pre-activations of ``layer`` on polygons ``c0:c1``: as the kernel reads them,
        (p, U, 3) contiguous, and as rows (p, 3, U)."""
        W, c = self.maps[layer]
        rows = self.rows if len(self.rows) == 1 else self.rows[c0:c1]
        z = (rows.reshape(-1, rows.shape[2]) @ W.T).reshape(len(rows), 3, -1)
        z[:, 2] += c
        if len(rows) == 1:  # the first layer: one map for every polygon
            z = np.broadcast_to(z, (c1 - c0,) + z.shape[1:])
        return np.ascontiguousarray(z.transpose(0, 2, 1)), z

    @staticmethod
    def output_rows(step, z: np.ndarray, parent: np.ndarray, pattern: np.ndarray):
        """The activation's output on the new pieces as rows: ``slope z + offset``."""
        table = np.asarray(step.slopes, dtype=float)
        rows = z[parent]
        if np.array_equal(table, [0.0, 1.0]) and not any(step.offsets):  # ReLU: a mask
            rows *= pattern[:, None, :]
        else:
            rows *= table[pattern][:, None, :]
            rows[:, 2] += np.asarray(step.offsets, dtype=float)[pattern]
        return rows
