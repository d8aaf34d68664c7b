"""The nerve of a partition: which sets of cells form simplices.

Rule "dual" (default): the dual cell complex of the partition in its domain,
triangulated (see :mod:`cellgeom.complex.dual`). Rule "facet": an edge per pair of
cells sharing a face of positive (n-1)-volume, a p-simplex per set of p+1 cells
sharing a piece of positive (n-p)-volume all of whose faces are simplices. Rule
"cech": a simplex per set of cells whose closures intersect at all.

Simplices are built dimension by dimension: the candidates of dimension p are the
cliques of the edges that extend a (p-1)-simplex and have every facet among the
(p-1)-simplices, generated in chunks (bounded temporaries), with no cap on the count.
"""
from __future__ import annotations

import itertools
import os

import numpy as np
from tqdm.auto import tqdm

from .chains import SimplexIndex
from .dual import dual_nerve, has_dual_structure

__all__ = ["nerve", "build_nerve", "RULES", "clique_chunks", "estimate_rows", "check_dimension",
           "facet_edges", "facet_pair_volumes", "stage", "stage_bar", "check_max_dim"]

RULES = ("dual", "facet", "cech")

#: rows of candidates (of any width) generated at once: bounds the temporaries
CHUNK_ROWS = 2_000_000

#: extensions examined to estimate the size of a dimension (:func:`estimate_rows`)
ESTIMATE_ROWS = 1_000_000


def nerve(partition, rule: str = "dual", max_dim: int | None = None):
    """Simplices of the nerve and the diagonal of each Gram matrix; see :func:`build_nerve`."""
    return build_nerve(partition, rule, max_dim)[:2]


_BAR = "complex"


def stage_bar(progress: bool) -> tqdm:
    """The progress bar of a complex's build: the running stage and the elapsed time, no
    total (the stages are few and uneven: the top dimension can take most of the time)."""
    return tqdm(desc=_BAR, bar_format="{desc} [{elapsed}]", disable=not progress,
                leave=False)


def stage(bar, name: str) -> None:
    """Show on a build's progress bar (:func:`stage_bar`, or None) that the stage ``name``
    starts now, counting the stage before it as done."""
    if bar is None or bar.disable:
        return
    running = bar.desc != _BAR  # a stage was named before
    bar.set_description_str(f"{_BAR}: {name}", refresh=False)
    # count the stage before as done; update draws the bar when its interval has passed
    if not (running and bar.update(1)):
        bar.refresh()


def check_max_dim(max_dim) -> None:
    """Raise ValueError unless ``max_dim`` is None or a non-negative integer."""
    if max_dim is not None and (isinstance(max_dim, bool)
                                or not isinstance(max_dim, (int, np.integer)) or max_dim < 0):
        raise ValueError(f"max_dim must be a non-negative integer or None, got {max_dim!r}.")


def _index_of(simplices, faces):
    index = SimplexIndex(simplices[:1])
    for s, f in zip(simplices[1:], faces[1:]):
        index.add(s, f)
    return index


def build_nerve(partition, rule: str = "dual", max_dim: int | None = None, bar=None):
    """Simplices of the nerve and the diagonal of each Gram matrix.

    ``bar`` (a tqdm bar, optional) is told each stage as it starts (:func:`stage`), and
    the estimated number of simplices of a dimension when they were counted.

    Returns
    -------
    simplices : list of int arrays, ``simplices[p]`` of shape (n_p, p+1)
        Sorted vertex tuples, rows in lexicographic order.
    volumes : list of float arrays
        ``volumes[0]`` cell n-volumes; ``volumes[1]`` face (n-1)-volumes for
        edges between cells sharing a facet; in general the volume of the common
        piece in its own dimension (1 for a point), shared out over a fan under
        "dual" (see :mod:`cellgeom.complex.dual`).
    facets : (pairs, volumes) or None
        :func:`facet_edges` of the partition when the rule needed it (computed once).
    index : SimplexIndex
        The lookup of the simplices, with the facets found while building them.

    Raises
    ------
    MemoryError
        Before building a dimension p >= 2 whose simplices would not fit in the memory
        available when the build began (:func:`check_dimension`): pass
        ``max_dim=p - 1``.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}.")
    n = partition.dim
    m = partition.n_cells
    check_max_dim(max_dim)
    avail = _available_bytes()

    def guard(index, p, edges, row_bytes=0.0, held=0.0):
        est = check_dimension(index, p, edges, avail, row_bytes, held)
        if est is not None and bar is not None and not bar.disable:
            bar.set_description_str(f"{_BAR}: {p}-simplices (about {est:.3g})")
        return est

    if rule in ("dual", "facet"):
        stage(bar, "facet edges")
        facets = facet_edges(partition)
    else:
        facets = None
    if rule == "dual" and has_dual_structure(partition):
        simplices, volumes, faces = dual_nerve(
            partition, max_dim, clique_chunks,
            lambda pairs: facet_pair_volumes(partition, pairs, facets), facets[0],
            stage=lambda name: stage(bar, name), guard=guard)
        return simplices, volumes, facets, _index_of(simplices, faces)
    # "facet" (build_complex turns "dual" on a partition without vertices into "facet",
    # the dual complex wherever at most k+1 cells meet at a codimension-k face)
    simplices = [np.arange(m, dtype=np.int64)[:, None]]
    volumes = [partition.volumes.astype(float)]
    stage(bar, "1-simplices")
    if rule in ("facet", "dual"):
        top = n if max_dim is None else min(max_dim, n)
        edges, edge_vol = facets
    else:
        top = max_dim
        groups = _touching_groups(partition)
        edges, edge_vol = _cech_edges(partition, groups)
    if top is not None and top < 1:
        return simplices, volumes, facets, SimplexIndex(simplices)
    simplices.append(edges)
    volumes.append(edge_vol)
    index = SimplexIndex(simplices[:1])
    index.add(edges, np.column_stack([edges[:, 1], edges[:, 0]]) if len(edges) else None)
    p = 2
    while (top is None or p <= top) and len(simplices[-1]):
        stage(bar, f"{p}-simplices")
        if rule == "cech":
            new = _cech_simplices(groups, p)
            new_vol = np.array([partition.common_piece(s)[1] for s in new]) if len(new) else \
                np.zeros(0)
        else:
            guard(index, p, edges)
            kept, kept_vol, kept_faces = [], [], []
            for cand, faces in clique_chunks(index, p, edges):
                keep, vol = _facet_filter(partition, cand, n - p, bar, f"{p}-simplices")
                kept.append(cand[keep])
                kept_vol.append(vol[keep])
                kept_faces.append(faces[keep])
            new = np.concatenate(kept) if kept else np.zeros((0, p + 1), np.int64)
            new_vol = np.concatenate(kept_vol) if kept_vol else np.zeros(0)
            new_faces = np.concatenate(kept_faces) if kept_faces else None
        if len(new) == 0:
            break
        simplices.append(new)
        volumes.append(new_vol)
        index.add(new, None if rule == "cech" else new_faces)
        p += 1
    return simplices, volumes, facets, index


def facet_edges(partition):
    """Pairs ``a < b`` of cells sharing a face of positive (n-1)-volume (lexicographic
    order) and that volume (pieces of one pair added up; NaN where it was not measured:
    the high-dimensional route with ``volume="none"`` certifies its facets by LP and
    leaves their volumes NaN)."""
    # the faces table's interior rows, read from the facets (each shared piece once, from
    # its lower cell) without building that table
    facets = partition.facets
    cell = facets["cell"].to_numpy(dtype=np.int64)
    across = facets["neighbor"].to_numpy(dtype=np.int64)
    vol = facets["volume"].to_numpy(dtype=float)
    inner = (across >= 0) & (cell < across) & ~(vol <= 0)  # NaN: a facet, not measured
    pairs = np.column_stack([cell[inner], across[inner]])
    vol = vol[inner]
    m = max(partition.n_cells, 1)
    key = pairs[:, 0] * m + pairs[:, 1]
    uniq, inverse = np.unique(key, return_inverse=True)
    # a pair can appear twice only if an adapter split one face: add the pieces up
    vol = np.bincount(inverse.ravel(), weights=vol, minlength=len(uniq))
    return np.column_stack([uniq // m, uniq % m]).reshape(-1, 2), vol


def facet_pair_volumes(partition, pairs, facets=None) -> np.ndarray:
    """(n-1)-volume of the face shared by each pair of cells (rows ``a < b``); 0 where the
    two cells share no facet. ``facets``: :func:`facet_edges` of the partition, if known."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    edges, vol = facet_edges(partition) if facets is None else facets
    m = max(partition.n_cells, 1)
    key = edges[:, 0] * m + edges[:, 1]
    want = pairs[:, 0] * m + pairs[:, 1]
    if len(key) == 0:
        return np.zeros(len(pairs))
    # looked up in sorted order: millions of lookups in random order miss the cache
    order = np.argsort(want, kind="stable")
    pos = np.empty(len(want), dtype=np.int64)
    pos[order] = np.minimum(np.searchsorted(key, want[order]), len(key) - 1)
    return np.where(key[pos] == want, vol[pos], 0.0)


def clique_chunks(index: SimplexIndex, p: int, edges: np.ndarray, subset=None):
    """Candidate p-simplices, in chunks, lexicographically ordered across chunks, with the
    indices of their facets.

    Each (p-1)-simplex is extended by every neighbour w of its last vertex with
    w above it (the edges as an upper adjacency in CSR form); a candidate is kept when
    every facet is a (p-1)-simplex. The facet without vertex i < p is that of the
    extended simplex plus w, so its key is ``faces_{p-1}[row, i] * n + w``: one sorted
    lookup per facet, no recursion. Yields ``(cand, faces)``, ``faces[:, i]`` the index
    of the facet without vertex i (the last column the extended (p-1)-simplex).
    ``subset`` (increasing indices of (p-1)-simplices, optional): extend only those (the
    candidates whose extended simplex is among them, as the full run yields them).
    """
    yield from _chunks(index, p, edges, subset, check=True)


def _chunks(index, p, edges, subset, check):
    """:func:`clique_chunks`; ``check``: refuse (:func:`_check_memory`) when the rows
    yielded could not be kept (not when they are only counted)."""
    prev = index.simplices[p - 1]
    if subset is not None:
        subset = np.asarray(subset, dtype=np.int64)
        prev = prev[subset]
    m = index.n_vertices
    width = p + 1
    if len(prev) == 0 or len(edges) == 0:
        return
    up, indptr = _upper_adjacency(edges, m)
    counts_all = indptr[prev[:, -1] + 1] - indptr[prev[:, -1]]
    prev_faces = index.faces(p - 1)
    keys = index.sorted_keys(p - 1)
    order_prev = index._order[p - 1]
    avail = _available_bytes() if check else None
    yielded = 0
    cum = np.cumsum(counts_all)
    ends = np.searchsorted(cum, np.arange(CHUNK_ROWS, int(cum[-1]), CHUNK_ROWS)) + 1
    start = 0
    for stop in np.unique(np.append(ends, len(prev))).tolist():
        if stop <= start:
            continue
        block = prev[start:stop]
        start_row = start
        last = block[:, -1]
        counts = counts_all[start:stop]
        start = stop
        if counts.sum() == 0:
            continue
        rows = np.repeat(np.arange(len(block)), counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        w = up[indptr[last][rows] + offsets, 1]
        ids = start_row + rows  # the extended (p-1)-simplex of each row
        if subset is not None:
            ids = subset[ids]
        # facet by facet, only the rows whose earlier facets were all found are looked up
        # (most extensions are rejected)
        alive = np.arange(len(w))
        found = []  # per facet so far: its position among the sorted keys, per alive row
        for i in range(p):  # the facet without vertex i: (prev without vertex i) + w
            key = prev_faces[ids[alive], i] * m + w[alive]
            pos = np.minimum(np.searchsorted(keys, key), len(keys) - 1)
            hit = keys[pos] == key
            alive = alive[hit]
            found = [f[hit] for f in found] + [pos[hit]]
        faces = np.empty((len(alive), width), dtype=np.int64)
        for i, pos in enumerate(found):
            faces[:, i] = pos if order_prev is None else order_prev[pos]
        faces[:, p] = ids[alive]
        cand = np.empty((len(alive), width), dtype=np.int64)
        cand[:, :p] = block[rows[alive]]
        cand[:, p] = w[alive]
        if len(cand):
            yielded += len(cand)
            _check_memory(p, yielded, width, avail)
            yield cand, faces


def _upper_adjacency(edges, m):
    """The edges ``a < b`` sorted, and the CSR pointer of each vertex's upper neighbours."""
    order = np.lexsort((edges[:, 1], edges[:, 0]))
    up = edges[order]
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(up[:, 0], minlength=m), out=indptr[1:])
    return up, indptr


def _extension_counts(index, p, edges):
    """Per (p-1)-simplex, the candidates extending it: its last vertex's upper neighbours
    (what :func:`clique_chunks` tries)."""
    prev = index.simplices[p - 1]
    return np.bincount(edges[:, 0], minlength=index.n_vertices)[prev[:, -1]]


def estimate_rows(index: SimplexIndex, p: int, edges: np.ndarray,
                  budget: int | None = None) -> tuple[float, float]:
    """The number of candidate p-simplices :func:`clique_chunks` yields (every p-simplex
    is one), counted without building them.

    Exact when the (p-1)-simplices have at most ``budget`` (default
    :data:`ESTIMATE_ROWS`) extensions in all; else
    counted on evenly spaced (p-1)-simplices holding about ``budget`` of them and scaled
    by their share (the order of a second, where the build can take hours).

    Returns
    -------
    estimate : float
    share : float
        The share of the extensions examined (1.0: the count is exact).
    """
    prev = index.simplices[p - 1]
    if len(prev) == 0 or len(edges) == 0:
        return 0.0, 1.0
    budget = ESTIMATE_ROWS if budget is None else int(budget)
    ext = _extension_counts(index, p, edges)
    total = int(ext.sum())
    subset = None
    share = 1.0
    if total > budget:
        subset = np.arange(0, len(prev), -(-total // budget), dtype=np.int64)
        share = float(ext[subset].sum()) / total
    count = sum(len(cand) for cand, _ in _chunks(index, p, edges, subset, check=False))
    return (count / share if share > 0 else 0.0), share


def check_dimension(index: SimplexIndex, p: int, edges: np.ndarray, avail,
                    row_bytes: float = 0.0, held: float = 0.0) -> float | None:
    """Refuse, before it is built, a dimension p whose simplices would not fit in memory.

    The need is the complex built so far (simplices, facet indices and keys of the
    dimensions below p), ``held`` bytes kept besides (the strata the build extends), and
    per estimated p-simplex (:func:`estimate_rows`) its row, facet indices, key and
    weight plus ``row_bytes`` (what the rule stores per simplex while building it).

    Parameters
    ----------
    index : SimplexIndex
        The simplices of dimensions 0..p-1.
    p : int
    edges : int array (k, 2)
        The 1-simplices.
    avail : int or None
        Bytes of memory available when the build began (None: unknown, nothing checked).
    row_bytes, held : float

    Returns
    -------
    float or None
        The estimated number of p-simplices when they were counted (None when even an
        upper bound fits: nothing was counted).

    Raises
    ------
    MemoryError
        When the estimate exceeds 80% of ``avail``; the message names the dimension
        reached, the estimate and ``max_dim=p-1``.
    """
    if avail is None or p < 2 or len(index.simplices) < p or len(edges) == 0:
        return None
    have = held + sum(a.nbytes for a in index.simplices)
    have += sum(a.nbytes for a in index._keys) + sum(
        0 if f is None else f.nbytes for f in index._faces)
    per_row = (2 * p + 5) * 8 + row_bytes
    bound = _extension_counts(index, p, edges).sum()
    if have + bound * per_row <= 0.8 * avail:
        return None  # every extension fits: no need to count
    est, share = estimate_rows(index, p, edges)
    need = have + est * per_row
    if need > 0.8 * avail:
        sizes = [len(s) for s in index.simplices]
        how = "counted" if share >= 1 else \
            f"estimated from {100 * share:.2g}% of the extensions of the {p - 1}-simplices"
        raise MemoryError(
            f"the complex would not fit in memory: its {p}-simplices number about "
            f"{est:.3g} ({how}), and with the simplices built so far (per dimension "
            f"{sizes}) they need about {need / 2**30:.1f} GiB, more than the "
            f"{avail / 2**30:.1f} GiB available when the build began. The complex grows "
            f"quickly with the dimension here; pass max_dim={p - 1} to stop at dimension "
            f"{p - 1}.")
    return est


def _check_memory(p, n_rows, width, avail):
    """Refuse, with the estimate, a dimension whose simplices cannot fit in memory: the
    rows kept so far (at most ``n_rows``), their index keys, a copy while concatenating."""
    need = n_rows * (width + 2) * 8 * 2
    if avail is not None and need > 0.8 * avail:
        raise MemoryError(
            f"the {p}-simplices need more than {need / 2**30:.1f} GiB ({n_rows:,} candidate "
            f"rows so far) of the {avail / 2**30:.1f} GiB available when the build began; "
            f"pass max_dim={p - 1} to stop below dimension {p}."
        )


def _available_bytes():
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _facet_filter(partition, cand, piece_dim, bar=None, name=""):
    batched = getattr(partition, "common_pieces", None)
    if callable(batched):  # closed forms (boxes) take all candidates at once
        dims, volumes = batched(cand)
        keep = dims >= piece_dim
        return keep, np.where(keep, volumes, 0.0)
    keep = np.zeros(len(cand), dtype=bool)
    vol = np.zeros(len(cand))
    for i, s in enumerate(cand):
        # one LP each, and a Monte Carlo volume for a piece of more than 6 dimensions
        # (about a second): the stage counts them
        if bar is not None and not bar.disable and i % 4 == 0:
            bar.set_description_str(f"{_BAR}: {name} ({i} of {len(cand)} checked)")
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
            'use rule="dual" or rule="facet" for this partition.'
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
    fac_pairs, fac_vol = facet_edges(partition)
    lookup = {tuple(p): v for p, v in zip(fac_pairs.tolist(), fac_vol)}
    vol = np.array([lookup[tuple(p)] if tuple(p) in lookup else partition.common_piece(p)[1]
                    for p in pairs.tolist()], dtype=float)
    return pairs, vol
