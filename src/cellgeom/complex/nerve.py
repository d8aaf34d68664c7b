"""The nerve of a partition: which sets of cells form simplices.

Rule "facet" (default): an edge per pair of cells sharing a face of positive
(n-1)-volume, a p-simplex per set of p+1 cells sharing a piece of positive
(n-p)-volume all of whose faces are simplices. Rule "cech": a simplex per set
of cells whose closures intersect at all.
"""
from __future__ import annotations

import itertools

import numpy as np

from .chains import _row_keys

__all__ = ["nerve"]


def nerve(partition, rule: str = "facet", max_dim: int | None = None,
          max_simplices: int = 5_000_000):
    """Simplices of the nerve and the volume of each simplex's common piece.

    Returns
    -------
    simplices : list of int arrays, ``simplices[p]`` of shape (n_p, p+1)
        Sorted vertex tuples, rows in lexicographic order.
    volumes : list of float arrays
        ``volumes[0]`` cell n-volumes; ``volumes[1]`` face (n-1)-volumes under
        "facet"; in general the volume of the common piece in its own dimension
        (1 for a point).
    """
    if rule not in ("facet", "cech"):
        raise ValueError(f"rule must be 'facet' or 'cech', got {rule!r}.")
    n = partition.dim
    m = partition.n_cells
    if max_dim is not None and (not isinstance(max_dim, (int, np.integer)) or max_dim < 0):
        raise ValueError(f"max_dim must be a non-negative integer or None, got {max_dim!r}.")
    simplices = [np.arange(m, dtype=np.int64)[:, None]]
    volumes = [partition.volumes.astype(float)]
    if rule == "facet":
        top = n if max_dim is None else min(max_dim, n)
        edges, edge_vol = _facet_edges(partition)
    else:
        top = max_dim
        groups = _touching_groups(partition)
        edges, edge_vol = _cech_edges(partition, groups)
    if top is not None and top < 1:
        return simplices, volumes
    simplices.append(edges)
    volumes.append(edge_vol)
    p = 2
    while (top is None or p <= top) and len(simplices[-1]):
        if rule == "facet":
            cand = _extend_cliques(simplices[-1], edges, m)
            keep, vol = _facet_filter(partition, cand, n - p)
            new, new_vol = cand[keep], vol[keep]
        else:
            new = _cech_simplices(groups, p)
            new_vol = np.array([partition.common_piece(s)[1] for s in new]) if len(new) else \
                np.zeros(0)
        if len(new) == 0:
            break
        if sum(len(s) for s in simplices) + len(new) > max_simplices:
            raise ValueError(
                f"the {rule!r} nerve has more than {max_simplices} simplices up to dimension {p};"
                " pass max_dim to truncate it."
            )
        simplices.append(new)
        volumes.append(new_vol)
        p += 1
    return simplices, volumes


def _facet_edges(partition):
    faces = partition.faces
    inner = faces[(faces["cell_b"] >= 0) & (faces["volume"] > 0)]
    pairs = np.sort(inner[["cell_a", "cell_b"]].to_numpy(dtype=np.int64), axis=1)
    vol = inner["volume"].to_numpy(dtype=float)
    order = np.lexsort((pairs[:, 1], pairs[:, 0]))
    pairs, vol = pairs[order], vol[order]
    if len(pairs) > 1:
        # a pair can appear twice only if an adapter split one face: add the pieces up
        uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
        if len(uniq) < len(pairs):
            vol = np.bincount(inverse.ravel(), weights=vol, minlength=len(uniq))
            pairs = uniq
    return pairs.reshape(-1, 2), vol


def _extend_cliques(prev, edges, m):
    """(p)-cliques from (p-1)-simplices, vectorised: extend each simplex by a neighbour w of
    its last vertex with w above it, then keep the candidates whose every facet is a
    (p-1)-simplex (found by hashing rows, as for boundary matrices)."""
    width = prev.shape[1] + 1
    if len(prev) == 0 or len(edges) == 0:
        return np.zeros((0, width), dtype=np.int64)
    # upper adjacency in CSR form: for vertex v, its neighbours w > v
    order = np.lexsort((edges[:, 1], edges[:, 0]))
    up = edges[order]
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(up[:, 0], minlength=m), out=indptr[1:])
    last = prev[:, -1]
    counts = indptr[last + 1] - indptr[last]
    rows = np.repeat(np.arange(len(prev)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    w = up[indptr[last][rows] + offsets, 1]
    cand = np.column_stack([prev[rows], w])
    if len(cand) == 0:
        return cand.reshape(0, width)
    prev_keys = np.sort(_row_keys(np.ascontiguousarray(prev, dtype=np.int64)))
    ok = np.ones(len(cand), dtype=bool)
    for i in range(width - 1):  # the facet without vertex i (the one without w is prev)
        face = np.ascontiguousarray(np.delete(cand, i, axis=1), dtype=np.int64)
        keys = _row_keys(face)
        pos = np.minimum(np.searchsorted(prev_keys, keys), len(prev_keys) - 1)
        ok &= prev_keys[pos] == keys
    cand = cand[ok]
    return cand[np.lexsort(cand.T[::-1])]


def _facet_filter(partition, cand, piece_dim):
    batched = getattr(partition, "common_pieces", None)
    if callable(batched):  # closed forms (boxes) take all candidates at once
        dims, volumes = batched(cand)
        keep = dims >= piece_dim
        return keep, np.where(keep, volumes, 0.0)
    keep = np.zeros(len(cand), dtype=bool)
    vol = np.zeros(len(cand))
    for i, s in enumerate(cand):
        dim, volume, _ = partition.common_piece(s)
        if dim >= piece_dim:
            keep[i], vol[i] = True, volume
    return keep, vol


def _touching_groups(partition):
    """Sets of cells sharing a point: the cells around each vertex of the partition.

    In a face-to-face partition every point shared by some cells lies in a face
    of each, so a shared vertex exists; other partitions supply their own
    ``touching_groups``.
    """
    custom = getattr(partition, "touching_groups", None)
    if callable(custom):
        return custom()
    if not partition.has_vertices:
        raise ValueError(
            'rule="cech" needs the cells\' vertices (the exact low-dimensional route); '
            'use rule="facet" for this partition.'
        )
    groups: dict[int, list[int]] = {}
    for c in range(partition.n_cells):
        for v in partition.cell_vertex_ids(c).tolist():
            groups.setdefault(v, []).append(c)
    uniq = {tuple(sorted(set(g))) for g in groups.values()}
    return sorted(uniq, key=lambda g: (-len(g), g))


def _cech_simplices(groups, p):
    found = set()
    for g in groups:
        if len(g) > p:
            found.update(itertools.combinations(g, p + 1))
    return np.asarray(sorted(found), dtype=np.int64).reshape(-1, p + 1)


def _cech_edges(partition, groups):
    pairs = _cech_simplices(groups, 1)
    fac_pairs, fac_vol = _facet_edges(partition)
    lookup = {tuple(p): v for p, v in zip(fac_pairs.tolist(), fac_vol)}
    vol = np.array([lookup[tuple(p)] if tuple(p) in lookup else partition.common_piece(p)[1]
                    for p in pairs.tolist()], dtype=float)
    return pairs, vol
