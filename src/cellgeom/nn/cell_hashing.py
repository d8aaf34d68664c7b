"""Cells and shared faces of a batch, from its activation patterns, by exact hashing.

Two points share a cell iff their patterns agree; two cells of a batch share a face (in
the generic case) iff their patterns differ in exactly one unit. Both are found without
any cells x cells array (except a bounded Hamming product for small batches).
"""
from __future__ import annotations

import numpy as np
import torch

from .patterns import group_by_pattern

__all__ = ["face_neighbors"]

_HASH: dict = {}


def _unit_hash_weights(U: int, device) -> torch.Tensor:
    """Distinct positive integer weights ``r_k`` (float64) with ``sum_k r_k < 2**52``."""
    key = (U, str(device))
    if key not in _HASH:
        span = max(1, 2 ** 52 // (U * U) - 1)
        g = torch.Generator().manual_seed(0)
        r = torch.randint(0, span, (U,), generator=g, dtype=torch.int64) * U + \
            torch.arange(1, U + 1)
        _HASH[key] = r.to(torch.float64).to(device)
    return _HASH[key]


def _cells_and_faces(pattern: torch.Tensor, faces: bool = True):
    """Group points by pattern and find the pairs of cells that differ in one unit.

    Parameters
    ----------
    pattern : bool Tensor (N, U)

    Returns
    -------
    inverse : Tensor (N,) cell of each point; G : number of cells;
    a, b, unit : Tensors (E,) with ``a < b`` (None if ``faces`` is False).

    Notes
    -----
    Cells: exact integer hashing in float64, ``h(s) = sum_k s_k r_k`` with distinct
    weights ``r_k``, grouped by ``torch.unique``; a key collision between different
    patterns (probability ~ N^2 / 2^52) is detected by comparing every pattern with its
    cell's and then the exact NumPy grouping is used. Faces: for up to ~2^25 ``G^2 U``
    one Hamming-distance product of the ``+-1`` patterns of the cells; beyond, as
    :func:`face_neighbors`, the ``G * U`` keys of the one-unit flips (``h -+ r_k``) are
    looked up with ``searchsorted`` and confirmed by comparing patterns.
    """
    N, U = pattern.shape
    dev = pattern.device
    if U == 0:
        z = torch.zeros(0, dtype=torch.long, device=dev)
        return torch.zeros(N, dtype=torch.long, device=dev), 1, z, z, z
    r = _unit_hash_weights(U, dev)
    keys, inverse = torch.unique(pattern.to(torch.float64) @ r, sorted=True,
                                 return_inverse=True)
    G = keys.numel()
    rep = pattern.new_zeros(G, U).index_copy_(0, inverse, pattern)
    if not torch.equal(rep[inverse], pattern):  # a hash collision: exact path
        P = pattern.cpu().numpy()
        first, inv = group_by_pattern(np.packbits(P, axis=1))
        inverse = torch.as_tensor(inv, device=dev)
        if not faces:
            return inverse, len(first), None, None, None
        a, b, k = (torch.as_tensor(v, device=dev) for v in face_neighbors(P[first]))
        return inverse, len(first), a, b, k
    if not faces:
        return inverse, G, None, None, None
    if G * G * U <= 1 << 25 and U < 1 << 24:  # Hamming distance 1: S_a . S_b = U - 2
        S = torch.where(rep, 1.0, -1.0)
        a, b = torch.triu(S @ S.t() == U - 2, 1).nonzero(as_tuple=True)
        k = (rep[a] != rep[b]).to(torch.uint8).argmax(1)
        return inverse, G, a, b, k
    cand = keys.unsqueeze(1) + torch.where(rep, -r, r)
    pos = torch.searchsorted(keys, cand).clamp_(max=G - 1)
    hit = keys[pos] == cand
    a, k = hit.nonzero(as_tuple=True)
    b = pos[a, k]
    keep = a < b
    a, b, k = a[keep], b[keep], k[keep]
    one = (rep[a] != rep[b]).sum(1) == 1
    return inverse, G, a[one], b[one], k[one]


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
