"""The Riemannian nerve complex of a partition."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..core import BoxPartition, Partition
from ..geometry import chebyshev_centers
from .chains import SimplexIndex, betti_from_boundaries
from .dual import has_dual_structure
from .gram import check_metric, gram_matrices, smallest_eigenvalue, warn_if_not_positive_definite
from .io import read_complex_parts, save_complex
from .nerve import RULES, build_nerve, check_max_dim, facet_pair_volumes, stage, stage_bar

__all__ = ["RiemannianComplex", "build_complex", "load"]


class RiemannianComplex:
    """The nerve K of a partition with a Gram matrix M_p on each chain space.

    Built by :func:`cellgeom.complex`. Vertices are the partition's cells (same
    order), simplices are sorted vertex tuples.

    Attributes
    ----------
    partition : Partition
    rule : {"dual", "facet", "cech"}
    metric : {"diagonal", "dihedral"}
    dim : int
        Largest p with a p-simplex.
    cells : DataFrame
        The partition's cell table (one row per vertex).
    edges : DataFrame
        One row per edge (1-simplex, in ``simplices(1)`` order): ``a < b``,
        ``face_volume`` (the (n-1)-volume of the face the two cells share; under
        "dual", 0 for the diagonal of a fan, whose cells meet in a lower-dimensional
        face; under "cech", the common piece's volume in its own dimension, as M_1),
        ``length`` (distance between the cells' centroids, h_ab). The Gram weights
        M_1 are ``gram(1)``; they equal ``face_volume`` on every edge between cells
        sharing a facet.
    gram_min_eigenvalue : float
        Smallest eigenvalue of M_1 (positive for "diagonal").
    max_dim : int or None
        The ``max_dim`` the complex was built with (None: every dimension); see
        :attr:`truncated`.
    """

    def __init__(self, partition, simplices, volumes, rule, metric, facets=None, index=None,
                 max_dim=None):
        self.partition = partition
        self.rule = rule
        self.metric = metric
        self.max_dim = max_dim
        self._simplices = simplices
        self._volumes = volumes
        self._grams = gram_matrices(partition, simplices, volumes, metric)
        self._boundaries: dict[int, tuple[sp.csr_matrix, sp.csr_matrix]] = {}  # B_p, B_p^T
        self._index: SimplexIndex | None = index
        self.gram_min_eigenvalue = (
            smallest_eigenvalue(self._grams[1]) if len(self._grams) > 1 else float("nan")
        )
        if metric == "dihedral" and len(self._grams) > 1:
            scale = float(np.max(volumes[1])) if len(volumes[1]) else 1.0
            warn_if_not_positive_definite(self.gram_min_eigenvalue, 1e-12 * scale)
        self.edges = self._edge_table(facets)

    def __repr__(self) -> str:
        counts = ", ".join(str(len(s)) for s in self._simplices)
        return (f"<RiemannianComplex rule={self.rule!r} metric={self.metric!r}: simplices per "
                f"dimension ({counts})>")

    # -- simplices and operators -------------------------------------------------------------
    @property
    def dim(self) -> int:
        return len(self._simplices) - 1

    @property
    def truncated(self) -> bool:
        """Whether simplices above :attr:`dim` exist that were not built: the build stopped
        at ``max_dim`` (for the dual complex, whose top dimension is the partition's,
        below that) and, for dim >= 1, this complex has dim-cycles (b_dim > 0; a
        (dim+1)-simplex has all its faces here and its boundary is such a cycle, so
        without them there is none to build). Then ``b_dim`` counts cycles some of which
        the missing simplices fill: an upper bound of the full complex's; ``b_0..b_{dim-1}``
        are exact. At dim 0 it is whether the cells were left without edges."""
        max_dim = getattr(self, "max_dim", None)  # (complexes pickled before it existed)
        if max_dim is None or self.dim < max_dim:
            return False
        if self.rule == "dual" and max_dim >= self.partition.dim:
            return False
        if self.dim == 0:
            return self.n_vertices > 1
        return self._betti()[-1] > 0

    def _betti(self) -> list[int]:
        """The Betti numbers of the complex as built (computed once)."""
        if getattr(self, "_betti_numbers", None) is None:
            sizes = self.n_simplices()
            self._betti_numbers = betti_from_boundaries(
                sizes, [self.boundary(p) for p in range(len(sizes))])
        return list(self._betti_numbers)

    def warn_if_truncated(self, what: str = "betti_numbers()") -> None:
        """A ``UserWarning`` saying what the top Betti number of a :attr:`truncated`
        complex counts (``what`` names the caller)."""
        if self.truncated:
            p = self.dim
            exact = {0: "", 1: " (b_0 is exact)"}.get(p, f" (b_0..b_{p - 1} are exact)")
            warnings.warn(
                f"{what}: this complex was built up to dimension {p} (max_dim={p}), and "
                f"{p + 1}-simplices that would fill some of its {p}-cycles were not built: "
                f"b_{p} is an upper bound of the full complex's{exact}, and the Euler "
                f"characteristic is the truncated complex's. Build with max_dim={p + 1} (or "
                f"None) for b_{p}.", UserWarning, stacklevel=3)

    @property
    def cells(self) -> pd.DataFrame:
        return self.partition.cells

    @property
    def n_vertices(self) -> int:
        return len(self._simplices[0])

    def simplices(self, p: int) -> np.ndarray:
        """p-simplices as sorted vertex tuples, shape (n_p, p+1); empty above ``dim``."""
        self._check_rank(p)
        if p > self.dim:
            return np.zeros((0, p + 1), dtype=np.int64)
        return self._simplices[p]

    def n_simplices(self, p: int | None = None):
        """Number of p-simplices, or the list over all p."""
        if p is None:
            return [len(s) for s in self._simplices]
        return len(self.simplices(p))

    def simplex_volumes(self, p: int) -> np.ndarray:
        """Volume of each p-simplex's common piece (the diagonal of M_p)."""
        self._check_rank(p)
        return self._volumes[p] if p <= self.dim else np.zeros(0)

    @property
    def index(self) -> SimplexIndex:
        """Integer-key lookup of vertex tuples among the simplices (built once)."""
        if self._index is None:
            self._index = SimplexIndex(self._simplices)
        return self._index

    def boundary(self, p: int) -> sp.csr_matrix:
        """B_p: rows (p-1)-simplices, columns p-simplices, entries (-1)^i (float64, CSR).

        ``boundary(0)`` is the zero map to the empty (-1)-chains, shape (0, n_0).
        Built once from integer simplex keys and cached on the complex.
        """
        return self._boundary_pair(p)[0]

    def coboundary(self, p: int) -> sp.csr_matrix:
        """B_p^T (rows p-simplices, columns (p-1)-simplices) in CSR form, cached with B_p."""
        return self._boundary_pair(p)[1]

    def _boundary_pair(self, p: int):
        self._check_rank(p)
        if p not in self._boundaries:
            if p == 0:
                pair = (sp.csr_matrix((0, self.n_vertices)), sp.csr_matrix((self.n_vertices, 0)))
            elif p > self.dim:
                k = self.n_simplices(p - 1)
                pair = (sp.csr_matrix((k, 0)), sp.csr_matrix((0, k)))
            else:
                pair = self.index.boundary_pair(p)
            self._boundaries[p] = pair
        return self._boundaries[p]

    def gram(self, p: int) -> sp.csr_matrix:
        """M_p: the Gram matrix of the Riemannian structure on p-chains."""
        self._check_rank(p)
        if p > self.dim:
            return sp.csr_matrix((0, 0))
        return self._grams[p]

    def euler_characteristic(self) -> int:
        """chi(K) = sum_p (-1)^p n_p (on a :attr:`truncated` complex, that of the complex
        as built, not the full one's: a ``UserWarning`` says so)."""
        self.warn_if_truncated("euler_characteristic()")
        return int(sum((-1) ** p * len(s) for p, s in enumerate(self._simplices)))

    def betti_numbers(self) -> list[int]:
        """Betti numbers b_0..b_dim over the rationals.

        ``b_p = n_p - rank B_p - rank B_{p+1}`` with exact ranks modulo the prime
        2^31 - 1 (equal to the ranks over Q unless that prime divides a torsion
        coefficient): rank B_1 by union-find, higher ranks by a compiled sparse column
        reduction from the top dimension down with clearing (a pivot row of B_{p+1}
        marks a column of B_p that reduces to zero).

        On a :attr:`truncated` complex (built with a ``max_dim`` below its top, with
        cycles there) the last number is that of the complex as built, an upper bound: a
        ``UserWarning`` says so.
        """
        self.warn_if_truncated()
        return self._betti()

    # -- tables and interop --
    def _edge_table(self, facets=None) -> pd.DataFrame:
        edges = self.simplices(1) if self.dim >= 1 else np.zeros((0, 2), dtype=np.int64)
        cen = self.partition.centroids
        length = np.linalg.norm(cen[edges[:, 0]] - cen[edges[:, 1]], axis=1) if len(edges) else \
            np.zeros(0)
        return pd.DataFrame({
            "a": edges[:, 0], "b": edges[:, 1],
            "face_volume": self._face_volumes(edges, facets),
            "length": length,
        })

    def _face_volumes(self, edges, facets=None):
        if len(edges) == 0:
            return np.zeros(0)
        if self.rule != "dual" or not hasattr(self.partition, "faces"):
            return np.asarray(self.simplex_volumes(1), dtype=float)  # M_1, as before
        return facet_pair_volumes(self.partition, edges, facets)

    def to_networkx(self):
        """The 1-skeleton as a ``networkx.Graph``.

        Nodes carry the cell table's ``key``, ``volume``, ``n_points`` and
        ``centroid``; edges carry ``face_volume`` and ``length``.
        """
        import networkx as nx

        G = nx.Graph()
        cen = self.partition.centroids
        cells = self.cells
        for i in range(self.n_vertices):
            G.add_node(i, key=cells["key"].iat[i], volume=float(cells["volume"].iat[i]),
                       n_points=int(cells["n_points"].iat[i]), centroid=tuple(cen[i]))
        for a, b, fv, ln in self.edges[["a", "b", "face_volume", "length"]].itertuples(
                index=False):
            G.add_edge(int(a), int(b), face_volume=float(fv), length=float(ln))
        return G

    def save(self, path) -> None:
        """Write the complex (with its partition) to ``path``; see :func:`cellgeom.load`."""
        save_complex(self, path)

    def to_toponetx(self):
        """The complex as a ``toponetx.SimplicialComplex`` (needs TopoNetX)."""
        try:
            from toponetx.classes import SimplicialComplex
        except ImportError as exc:  # pragma: no cover - optional
            raise ImportError("to_toponetx needs the optional package toponetx") from exc
        maximal = [tuple(s) for p in range(self.dim + 1) for s in self.simplices(p).tolist()]
        return SimplicialComplex(maximal)

    def _check_rank(self, p):
        if not isinstance(p, (int, np.integer)) or p < 0:
            raise ValueError(f"rank p must be a non-negative integer, got {p!r}.")


def build_complex(partition, rule: str = "dual", metric: str = "diagonal",
                  max_dim: int | None = None, *, progress: bool = True) -> RiemannianComplex:
    """The Riemannian nerve complex of a partition (THEORY.md section 3).

    Parameters
    ----------
    partition : Partition
    rule : {"dual", "facet", "cech"}
        "dual" (default): the dual cell complex of the partition in its domain,
        triangulated: vertices = cells, edges = shared facets, and each interior
        codimension-k face with all its cells present filled by a k-cell, a fan from
        its lowest-numbered cell. It has the domain's topology: a full partition of a
        box gives Betti numbers (1, 0, ..., 0). "facet": simplices are sets of cells
        sharing a piece of positive (n-p)-volume (edges = shared faces); every interior
        face met by more than k+1 cells (two lines crossing) leaves a hole. "cech": sets
        of cells whose closures intersect at all (contractible too, but with simplices
        up to the number of cells meeting at a point, without geometric weights).
        See docs/theory.md for when each is right. "dual" needs every face of the
        cells: boxes, and polytopes on the exact route (n <= exact_dim). On the
        high-dimensional route "facet" is built instead (``cx.rule`` says so), with a
        warning unless the partition is in general position (Voronoi cells: at most
        k+1 cells at a codimension-k face, where the two agree).
    metric : {"diagonal", "dihedral"}
        Gram matrix on 1-chains; "dihedral" adds the hinge couplings and warns
        when the result is not positive definite.
    max_dim : int, optional
        Highest simplex dimension built (default: n for "dual" and "facet", all for
        "cech").
    progress : bool, default True
        Show a progress bar over the stages of the build (facet edges, cell order,
        the simplices of each dimension, renumbering, Gram matrices), removed when done.
        A 100k-leaf tree in 8-D takes about 20 s for its vertices and edges.

    Raises
    ------
    MemoryError
        Before building a dimension p >= 2 whose simplices would not fit in the memory
        available when the build began (their number estimated from a sample of the
        candidates, in about a second): the message names the dimension reached, the
        estimate and the ``max_dim`` to pass. Many-featured trees hit it with the
        default ``max_dim``: a depth-8 tree on load_digits (91 leaves, 64-D) has 1.3
        million 3-simplices (about a minute) and about 16 million 4-simplices, which
        would need about 150 GB.

    Examples
    --------
    >>> import cellgeom
    >>> arr = cellgeom.HyperplaneArrangement([[1, 0], [0, 1]], [-0.3, -0.6])
    >>> part = cellgeom.partition(arr, domain=([0, 0], [1, 1]), cells="all", progress=False)
    >>> cx = cellgeom.build_complex(part)
    >>> cx.n_simplices(), cx.betti_numbers()
    ([4, 5, 2], [1, 0, 0])
    >>> cellgeom.build_complex(part, rule="facet").betti_numbers()
    [1, 1]
    """
    if not isinstance(partition, Partition):
        raise TypeError(
            f"build_complex() takes a cellgeom Partition, got {type(partition).__name__}; build "
            "one with cellgeom.partition(model, ...)."
        )
    if partition.n_cells == 0:
        raise ValueError("the partition has no cells: nothing to build a complex on.")
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}.")
    # every parameter checked before the build starts (it can run for minutes)
    check_max_dim(max_dim)
    check_metric(metric)
    if metric == "dihedral" and partition.dim >= 2 and not has_dual_structure(partition):
        raise ValueError(
            'metric="dihedral" couples faces through the dihedral angles at the hinges, which '
            f"the high-dimensional route does not compute ({partition.dim}-D cells, no "
            'vertices): it would silently equal "diagonal". Use metric="diagonal".')
    if rule == "dual" and not has_dual_structure(partition):
        rule = "facet"
        # up to edges the two differ only by fan diagonals, which carry no face
        if not partition.info.get("general_position") and (max_dim is None or max_dim >= 2):
            warnings.warn(
                'rule="dual" needs every face of the cells, which the high-dimensional '
                "route does not compute (it finds facets only): built the \"facet\" nerve "
                "instead (cx.rule is \"facet\"). It is the dual complex only where at most "
                "k+1 cells meet at each codimension-k face; where two unit boundaries or "
                "hyperplanes cross, four cells meet and the cycle around the crossing stays "
                "unfilled, so b_1 and up count crossings, not holes. Pass rule=\"facet\" "
                "to build it without this warning.", UserWarning, stacklevel=2)
    if rule != "facet" and has_dual_structure(partition):
        _warn_if_thinner_than_merging(partition)
    with stage_bar(progress) as bar:
        simplices, volumes, facets, index = build_nerve(partition, rule=rule,
                                                        max_dim=max_dim, bar=bar)
        _check_connected(partition, simplices, max_dim)
        stage(bar, "Gram matrices")
        return RiemannianComplex(partition, simplices, volumes, rule, metric, facets, index,
                                 max_dim=max_dim)


def _warn_if_thinner_than_merging(partition) -> None:
    """Warn when cells are thinner than the radius within which the dual rules merge
    vertices (``1e3 tol`` in the unit frame): vertices on their two sides become one, and
    the complex can have the wrong topology (seen: b_1 = 1 for a tiling of a square with a
    wedge 4e-9 thick, b_1 = 2 for a 4-D network with a unit scaled by 1e6)."""
    if isinstance(partition, BoxPartition) or "inradius" not in partition.cells:
        return
    halves, tol_u = partition.frame_tolerance()
    # the user's ball of radius r lies in the frame's: r / max(s) bounds its radius below;
    # the cells that bound leaves in doubt get their frame radius (the Chebyshev LP with
    # weights |s a_i|: the ball of u = (x - o) / s)
    radius = partition.cells["inradius"].to_numpy(dtype=float) / float(halves.max())
    doubt = np.flatnonzero(radius < 1e3 * tol_u)
    if doubt.size and not np.all(halves == halves[0]):
        polys = [partition.halfspaces(int(i)) for i in doubt]
        weights = [np.linalg.norm(A * halves, axis=1) for A, _ in polys]
        radius[doubt] = chebyshev_centers(polys, weights=weights)[1]
    thin = int(np.count_nonzero(radius < 1e3 * tol_u))
    if thin:
        warnings.warn(
            f"{thin} cell(s) are thinner than the radius within which the complex merges "
            f"vertices (1e3 x the partition's tol, {1e3 * tol_u * float(halves.max()):.3g}): "
            "vertices on their two sides are merged, which can change the complex's "
            "topology (Betti numbers, Euler characteristic) and its face volumes. Build the "
            "partition with a smaller tol (the merge radius follows it), or use "
            "rule=\"facet\".", UserWarning, stacklevel=3)


def _check_connected(partition, simplices, max_dim) -> None:
    """A full partition of a box is connected through its facets (the box minus its
    codimension-2 faces is), so a complex with several components from it is wrong (seen
    when one tolerance of the largest side served every axis of an elongated domain):
    refused rather than returned."""
    if partition.info.get("cells") != "all" or max_dim == 0 or partition.n_cells < 2 or \
            isinstance(partition, BoxPartition):  # exact boxes: no tolerance to miss by
        return
    from scipy.sparse.csgraph import connected_components

    edges = np.asarray(simplices[1] if len(simplices) > 1 else [], dtype=np.int64).reshape(-1, 2)
    m = partition.n_cells
    graph = sp.csr_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(m, m))
    n_parts = connected_components(graph, directed=False)[0]
    if n_parts > 1:
        raise RuntimeError(
            f"the complex of this full partition of a box has {n_parts} connected components; "
            "its cells tile a connected box, so faces between them were missed (a defect: "
            "please report it with the model).")


def load(path) -> RiemannianComplex:
    """Load a complex written by :meth:`RiemannianComplex.save`.

    The loaded complex and partition are exact copies of every table and matrix;
    a :class:`~cellgeom.core.BoxPartition` loads as one. The model is not stored:
    ``partition.model`` is None (``partition.model_description`` names it), and
    ``partition.locate`` works from the cells' halfspaces.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    RiemannianComplex

    Raises
    ------
    CorruptFileError
        When the file was altered or truncated (SHA-256 mismatch) or is not ours.
    """
    parts = read_complex_parts(path)
    cx = RiemannianComplex.__new__(RiemannianComplex)
    cx.partition = parts["partition"]
    cx.rule, cx.metric = parts["rule"], parts["metric"]
    cx.max_dim = parts["max_dim"]
    cx._simplices, cx._volumes, cx._grams = parts["simplices"], parts["volumes"], parts["grams"]
    cx._boundaries = {}
    cx._index = None
    cx.gram_min_eigenvalue = parts["gram_min_eigenvalue"]
    cx.edges = parts["edges"]
    return cx
