"""Activation patterns of a batch: the discrete state that names each point's cell.

The pattern of a unit is the index of its active linear piece (``z > 0`` for
ReLU-like units, 0/1/2 for Hardtanh-like ones); the pattern of a max-pool output
is the position of the maximum inside its window. Two points lie in the same cell
iff all patterns agree, so the cell key is the concatenation of every layer's
pattern, stored compactly: each unit of a layer with ``p`` pieces takes
``ceil(log2 p)`` bits (1 for ReLU), and the bit string is ``np.packbits``-ed.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .layers import as_network

__all__ = ["ActivationPatterns", "activation_patterns", "pack_patterns", "group_by_pattern"]


@dataclass
class ActivationPatterns:
    """Patterns of a batch of ``N`` points.

    Attributes
    ----------
    layers : list of ndarray (N, units)
        Per activation / max-pool layer: bool for two-piece activations, else small
        unsigned ints (active piece, or position of the maximum in each window).
    names : list of str
        Module path of each layer.
    n_pieces : list of int
        Number of pieces (window size for max-pool) of each layer.
    unit_shapes : list of tuple
        Shape of each layer's units, without the batch axis.
    keys : ndarray (N, n_bytes) of uint8, or (N, total_units) of small ints
        Cell key of each point: the packed bits of all layers (``pack=True``) or
        the concatenated patterns.
    output : ndarray (N, *output_shape)
        The network's output for the batch.
    """

    layers: list
    names: list
    n_pieces: list
    unit_shapes: list
    keys: np.ndarray
    output: np.ndarray

    @property
    def flat(self) -> np.ndarray:
        """Concatenated patterns, shape (N, total_units)."""
        return _concat(self.layers)


def _concat(layers: Sequence[np.ndarray]) -> np.ndarray:
    dtype = np.result_type(*[np.uint8 if a.dtype == bool else a.dtype for a in layers])
    return np.concatenate([a.astype(dtype, copy=False) for a in layers], axis=1)


def _small_uint(p: int):
    return bool if p == 2 else (np.uint8 if p <= 256 else np.uint16)


def pack_patterns(layers: Sequence[np.ndarray], n_pieces: Sequence[int]) -> np.ndarray:
    """Bit-pack per-layer patterns into one key row per point.

    Parameters
    ----------
    layers : sequence of array (N, units_l) of int or bool
        Piece index of every unit, ``0 <= pattern < n_pieces[l]``.
    n_pieces : sequence of int

    Returns
    -------
    ndarray (N, ceil(sum_l units_l * ceil(log2 n_pieces_l) / 8)) of uint8
    """
    bits = []
    for a, p in zip(layers, n_pieces):
        a = np.asarray(a).reshape(len(a), -1)
        nb = max(1, math.ceil(math.log2(p))) if p > 1 else 0
        if nb == 1:
            bits.append(a.astype(bool))
        elif nb > 1:
            shifts = np.arange(nb, dtype=np.uint16)
            b = (a.astype(np.uint16)[..., None] >> shifts) & 1
            bits.append(b.reshape(len(a), -1).astype(bool))
    if not bits:
        return np.zeros((len(layers[0]) if layers else 0, 0), dtype=np.uint8)
    return np.packbits(np.concatenate(bits, axis=1), axis=1)


def activation_patterns(net, X, pack: bool = True, *, dtype: torch.dtype | None = torch.float64,
                        batch_size: int = 65536) -> ActivationPatterns:
    """Activation patterns and cell keys of a batch, from one forward pass.

    Parameters
    ----------
    net : torch.nn.Module or PiecewiseLinearNetwork
        Piecewise-linear network in eval mode.
    X : array-like (N, *input_shape)
    pack : bool, default True
        Bit-pack the keys (else keys are the concatenated small-int patterns).
    dtype : torch.dtype or None, default torch.float64
        Arithmetic (on a copy of the network); None keeps the network's own dtype.
    batch_size : int
        Points per forward pass.

    Returns
    -------
    ActivationPatterns

    Raises
    ------
    ValueError
        ``X`` has the wrong shape (message gives expected and actual) or is empty.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(),
    ...                           torch.nn.Linear(3, 1)).eval()
    >>> pats = activation_patterns(net, np.random.default_rng(0).normal(size=(100, 2)))
    >>> pats.layers[0].shape, pats.keys.shape
    ((100, 3), (100, 1))
    >>> first, inverse = group_by_pattern(pats.keys)  # one group per cell met
    """
    network = as_network(net, dtype)
    Xt = network.check_input(X, "X")
    network.probe(Xt)
    per_layer: list[list[np.ndarray]] = [[] for _ in network.layers]
    outputs, unit_shapes = [], None
    for i in range(0, Xt.shape[0], batch_size):
        records, final = network.propagate(Xt[i:i + batch_size])
        unit_shapes = [tuple(r["pattern"].shape[1:]) for r in records]
        for lst, r in zip(per_layer, records):
            small = torch.int16 if r["pattern"].max() > 255 else torch.uint8  # before the copy
            lst.append(r["pattern"].reshape(r["pattern"].shape[0], -1).to(small).cpu().numpy())
        outputs.append(final["value"].cpu().numpy())
    n_pieces = [layer.n_pieces for layer in network.layers]
    layers = [np.concatenate(lst).astype(_small_uint(p), copy=False)
              for lst, p in zip(per_layer, n_pieces)]
    if not layers:  # an affine network: one cell, empty keys
        keys = np.zeros((Xt.shape[0], 0), np.uint8)
    else:
        keys = pack_patterns(layers, n_pieces) if pack else _concat(layers)
    return ActivationPatterns(layers, [la.name for la in network.layers], n_pieces,
                              unit_shapes, keys, np.concatenate(outputs))


def group_by_pattern(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group points with equal keys (equal cells) by hashing the key rows.

    Parameters
    ----------
    keys : ndarray (N, k)
        One key row per point (``ActivationPatterns.keys``).

    Returns
    -------
    first : ndarray (G,) of int
        Index of the first point of each group; groups are numbered in order of
        first appearance, so group 0 holds point 0.
    inverse : ndarray (N,) of int
        Group of each point: ``keys[first][inverse] == keys``.
    """
    keys = np.ascontiguousarray(keys)
    if keys.ndim != 2:
        raise ValueError(f"keys must have shape (N, k), got {keys.shape}")
    if keys.shape[1] == 0:  # a network without activations has a single cell
        return np.zeros(min(1, len(keys)), dtype=np.intp), np.zeros(len(keys), dtype=np.intp)
    # one opaque bytes value per row, so np.unique compares whole keys at once
    rows = keys.view(np.dtype((np.void, keys.dtype.itemsize * keys.shape[1]))).ravel()
    _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return first[order], rank[inverse.ravel()]
