"""Laplacians of a Riemannian nerve complex (THEORY.md section 4).

Every function takes a :class:`~cellgeom.RiemannianComplex` and returns a
``scipy.sparse`` matrix (CSR, float64); nothing dense of size cells x cells is
ever formed.

Conventions
-----------
- ``B_p`` is ``cx.boundary(p)`` (rows (p-1)-simplices, columns p-simplices) and
  ``M_p`` is ``cx.gram(p)``; ``M_0 = diag(vol_n C_i)`` (units length^n),
  ``M_1 = diag(vol_{n-1} F_e)`` (length^(n-1)), ``M_p = diag(vol_{n-p})``.
- The *chain* Hodge Laplacian takes adjoints in the Gram inner products,
  ``<a, b>_p = a^T M_p b``: the adjoint of ``B_{p+1}`` is
  ``M_{p+1}^{-1} B_{p+1}^T M_p``, so

      L_p = B_{p+1} M_{p+1}^{-1} B_{p+1}^T M_p + M_p^{-1} B_p^T M_{p-1} B_p.

  It is self-adjoint in ``M_p`` (``M_p L_p`` is symmetric) and positive
  semi-definite there; its kernel is the space of harmonic p-chains, of
  dimension the Betti number ``b_p``: the cycles c (``B_p c = 0``) whose
  lowered form ``M_p c`` is a cocycle (``B_{p+1}^T M_p c = 0``). Chains are
  measures, not functions: for p = 0 the kernel is ``M_0^{-1}`` times the
  locally constant functions, ``c_i = const / vol C_i`` on each component
  (``M_0 c`` is constant), not the constants themselves. In THEORY.md
  section 9 the chain ``L_0 = B_1 M_1^{-1} B_1^T M_0`` has eigenvalues
  0, 1, 1, 2. The function-side operator whose kernel is the constants is
  :func:`cell_laplacian`.
- ``normalized=True`` returns the symmetric form ``M_p^{1/2} L_p M_p^{-1/2}``
  (similar to ``L_p``: the same spectrum; eigenvectors ``u = M_p^{1/2} v``).
- ``gram=False`` sets every Gram matrix to the identity: the combinatorial
  Hodge Laplacian ``B_p^T B_p + B_{p+1} B_{p+1}^T`` (what TopoNetX's
  ``hodge_laplacian_matrix`` computes).
- The cell-signal Laplacian (finite volumes) is
  ``Delta_0 = M_0^{-1} B_1 W B_1^T`` with ``W = diag(vol F_e / h_e)``
  ("flux"; h_e the distance between the two cells' centroids, so W has units
  length^(n-2) and Delta_0 units length^-2, like -div grad) or
  ``W = diag(vol F_e)`` ("face"), ``vol F_e`` the face the two cells share
  (``cx.edges["face_volume"]``; on a "facet" complex the chain ``L_0`` without the
  inverse). An edge between cells sharing no facet (a fan diagonal of the "dual" rule)
  carries no flux and is left out.
  ``(Delta_0 f)_i = (1/vol C_i) sum_j w_ij (f_i - f_j)``: its kernel is the
  functions constant on each connected component.

The ``"dihedral"`` metric makes ``M_1`` non-diagonal; its inverse is then dense
in general, so operators needing ``M_1^{-1}`` are returned as a
:class:`scipy.sparse.linalg.LinearOperator` (a sparse LU of ``M_1`` applied on
demand) instead of a matrix.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, splu

from ._deprecation import renamed_keywords
from ._measured import check_gram_measured

__all__ = [
    "hodge_laplacian",
    "hodge_stiffness",
    "cell_laplacian",
    "cell_stiffness",
    "extended_laplacian",
    "extended_stiffness",
    "vertex_measure",
]


def _check_complex(cx) -> None:
    for attr in ("boundary", "gram", "simplices", "n_simplices"):
        if not hasattr(cx, attr):
            raise ValueError(
                f"expected a cellgeom RiemannianComplex, got {type(cx).__name__}; build one with "
                "cellgeom.build_complex(partition)."
            )


def _check_rank(cx, p) -> int:
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 0:
        raise ValueError(f"rank p must be a non-negative integer, got {p!r}.")
    if p > cx.dim:
        raise ValueError(f"rank p={p} exceeds the complex's dimension {cx.dim}.")
    return int(p)


def _is_diagonal(M: sp.spmatrix) -> bool:
    M = sp.csr_matrix(M)
    rows = np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))
    return bool(np.all((rows == M.indices) | (M.data == 0)))


def _gram(cx, p: int, gram: bool) -> sp.csr_matrix:
    n = cx.n_simplices(p)
    if not gram:
        return sp.identity(n, format="csr")
    M = sp.csr_matrix(cx.gram(p), dtype=float)
    if M.shape != (n, n):
        raise ValueError(f"gram({p}) has shape {M.shape}, expected ({n}, {n}).")
    check_gram_measured(M.data, p, cx)
    return M


def _gram_diagonal(cx, p: int, gram: bool) -> np.ndarray | None:
    """The diagonal of M_p (None for ``gram=False``: the identity, never formed)."""
    if not gram:
        return None
    n = cx.n_simplices(p)
    M = cx.gram(p)
    if M.shape != (n, n):
        raise ValueError(f"gram({p}) has shape {M.shape}, expected ({n}, {n}).")
    d = np.asarray(M.diagonal(), dtype=float)
    check_gram_measured(d, p, cx)
    return d



def _check_positive(d: np.ndarray, p: int) -> None:
    if np.any(d <= 0):
        bad = int(np.flatnonzero(d <= 0)[0])
        raise ValueError(
            f"Gram matrix M_{p} has a non-positive diagonal entry ({d[bad]:.3g} at simplex {bad}): "
            "a simplex of zero volume; its inverse does not exist."
        )


def _diag_inverse(M: sp.spmatrix, p: int) -> sp.csr_matrix:
    d = M.diagonal()
    _check_positive(d, p)
    return sp.diags(1.0 / d, format="csr")


def _scaled(B: sp.spmatrix, row=None, col=None) -> sp.csr_matrix:
    """``diag(row) B diag(col)`` by scaling the stored entries (no diagonal products);
    ``None`` is the identity (B itself is returned when both are)."""
    if row is None and col is None:
        return sp.csr_matrix(B, dtype=float)
    out = sp.csr_matrix(B, dtype=float, copy=True)
    if row is not None:
        out.data *= np.repeat(row, np.diff(out.indptr))
    if col is not None:
        out.data *= col[out.indices]
    return out


def _stiffness(cx, p: int, gram: bool, form: str = "S") -> sp.csr_matrix:
    """``S_p = M_p B_{p+1} M_{p+1}^{-1} B_{p+1}^T M_p + B_p^T M_{p-1} B_p`` (``form="S"``),
    ``L_p = M_p^{-1} S_p`` ("L") or ``M_p^{-1/2} S_p M_p^{-1/2}`` ("N"), for diagonal Gram
    matrices. Each term is one sparse product of a boundary matrix and its cached CSR
    transpose, the diagonal factors applied to their stored entries (never as matrix
    products, never to the product), and the two terms are added only when both exist."""
    d = _gram_diagonal(cx, p, gram)
    up_left = up_right = down_left = down_right = None  # None: the identity
    if d is not None and form == "S":
        up_left = up_right = d
    elif d is not None:
        _check_positive(d, p)
        if form == "L":
            up_right, down_left = d, 1.0 / d
        else:
            up_left = up_right = np.sqrt(d)
            down_left = down_right = 1.0 / up_left
    terms = []
    if p + 1 <= cx.dim:
        up = _gram_diagonal(cx, p + 1, gram)
        if up is not None:
            _check_positive(up, p + 1)
        s = None if up is None else 1.0 / np.sqrt(up)
        terms.append(_scaled(cx.boundary(p + 1), up_left, s)
                     @ _scaled(_cobound(cx, p + 1), s, up_right))
    if p >= 1:
        down = _gram_diagonal(cx, p - 1, gram)
        s = None if down is None else np.sqrt(down)
        terms.append(_scaled(_cobound(cx, p), down_left, s)
                     @ _scaled(cx.boundary(p), s, down_right))
    n = cx.n_simplices(p)
    if not terms:
        return sp.csr_matrix((n, n))
    return sp.csr_matrix(terms[0] if len(terms) == 1 else terms[0] + terms[1])


def _cobound(cx, p: int) -> sp.csr_matrix:
    """B_p^T in CSR form (a complex's cached coboundary; else the transpose converted)."""
    get = getattr(cx, "coboundary", None)
    return get(p) if callable(get) else sp.csr_matrix(cx.boundary(p).T)


@renamed_keywords(weighted="gram")
def hodge_stiffness(cx, p: int, gram: bool = True) -> tuple[sp.spmatrix, sp.spmatrix]:
    """The symmetric pair ``(S_p, M_p)`` with ``L_p = M_p^{-1} S_p``.

    ``S_p = M_p B_{p+1} M_{p+1}^{-1} B_{p+1}^T M_p + B_p^T M_{p-1} B_p`` is symmetric
    positive semi-definite; the generalised eigenproblem ``S_p v = lambda M_p v`` has
    the spectrum of ``L_p``. Needs a diagonal ``M_{p+1}`` (always true for p >= 1 and
    for the "diagonal" metric). ``gram=False``: every M is the identity.

    Returns
    -------
    S_p : csr_matrix (n_p, n_p)
    M_p : csr_matrix (n_p, n_p)
    """
    _check_complex(cx)
    p = _check_rank(cx, p)
    M = _gram(cx, p, gram)
    if gram and p + 1 <= cx.dim and not _is_diagonal(cx.gram(p + 1)):
        raise ValueError(
            f"hodge_stiffness needs a diagonal M_{p + 1}; the complex's metric "
            f"{cx.metric!r} is not. Use hodge_laplacian (a LinearOperator) instead."
        )
    if gram and not _is_diagonal(M):  # the "dihedral" M_1: general products
        terms = []
        if p + 1 <= cx.dim:
            MB = M @ cx.boundary(p + 1)
            terms.append(MB @ _diag_inverse(_gram(cx, p + 1, gram), p + 1) @ MB.T)
        if p >= 1:
            B = cx.boundary(p)
            terms.append(B.T @ _gram(cx, p - 1, gram) @ B)
        S = terms[0] if len(terms) == 1 else terms[0] + terms[1]
        return sp.csr_matrix(S), M
    return _stiffness(cx, p, gram), M


@renamed_keywords(weighted="gram")
def hodge_laplacian(cx, p: int, gram: bool = True, normalized: bool = False):
    """Weighted Hodge Laplacian on p-chains of the complex.

    .. math:: L_p = B_{p+1} M_{p+1}^{-1} B_{p+1}^T M_p + M_p^{-1} B_p^T M_{p-1} B_p

    Parameters
    ----------
    cx : RiemannianComplex
    p : int
        Rank, 0 <= p <= cx.dim.
    gram : bool
        True: the adjoints use the complex's Gram matrices ``M_p``. False: every Gram
        matrix is the identity, giving the combinatorial Laplacian
        ``B_p^T B_p + B_{p+1} B_{p+1}^T``.
    normalized : bool
        Return the symmetric form ``M_p^{1/2} L_p M_p^{-1/2}`` (needs a diagonal M_p).

    Returns
    -------
    csr_matrix (n_p, n_p), or LinearOperator when a needed inverse Gram is not
    diagonal (metric "dihedral"). Units: length (each term is a ratio of Gram
    volumes one dimension apart, length^(n-p) / length^(n-p-1)); dimensionless
    when ``gram=False``.

    Examples
    --------
    >>> import cellgeom
    >>> from cellgeom.analysis.laplacians import hodge_laplacian
    >>> arr = cellgeom.HyperplaneArrangement([[1, 0], [0, 1]], [-0.3, -0.6])
    >>> part = cellgeom.partition(arr, domain=([0, 0], [1, 1]), cells="all", progress=False)
    >>> import numpy as np
    >>> def spectrum(L):
    ...     return np.round(np.sort(np.linalg.eigvals(L.toarray()).real), 6) + 0.0
    >>> spectrum(hodge_laplacian(cellgeom.build_complex(part, progress=False), 0))
    array([0.      , 1.      , 1.613854, 2.466146])
    >>> spectrum(hodge_laplacian(cellgeom.build_complex(part, rule="facet", progress=False), 0))
    array([0., 1., 1., 2.])
    """
    _check_complex(cx)
    p = _check_rank(cx, p)
    M = _gram(cx, p, gram)
    M_diag = not gram or _is_diagonal(M)
    up_diag = not gram or p + 1 > cx.dim or _is_diagonal(cx.gram(p + 1))
    if M_diag and up_diag:
        return _stiffness(cx, p, gram, "N" if normalized else "L")
    if normalized:
        raise ValueError(
            f"normalized=True needs a diagonal M_{p}; metric {cx.metric!r} couples edges. "
            "Use normalized=False, or build the complex with metric='diagonal'."
        )
    return _hodge_operator(cx, p, M, M_diag)


def _hodge_operator(cx, p, M, M_diag) -> LinearOperator:
    """L_p as a LinearOperator when M_p or M_{p+1} is not diagonal (sparse LU solves)."""
    n = M.shape[0]
    lu_M = splu(sp.csc_matrix(M)) if not M_diag else None
    d_M = M.diagonal()

    def Minv(v):
        if lu_M is not None:
            return lu_M.solve(v)
        return v / (d_M if v.ndim == 1 else d_M[:, None])
    up = None
    if p + 1 <= cx.dim:
        B = sp.csr_matrix(cx.boundary(p + 1), dtype=float)
        Mup = sp.csc_matrix(cx.gram(p + 1), dtype=float)
        lu_up = splu(Mup)
        up = (B, lu_up)
    down = None
    if p >= 1:
        Bd = sp.csr_matrix(cx.boundary(p), dtype=float)
        down = (Bd, sp.csr_matrix(cx.gram(p - 1), dtype=float))

    def matvec(v):
        v = np.asarray(v, dtype=float)
        out = np.zeros_like(v)
        if up is not None:
            B, lu_up = up
            out += B @ lu_up.solve(np.asarray(B.T @ (M @ v)))
        if down is not None:
            Bd, Mdown = down
            out += Minv(np.asarray(Bd.T @ (Mdown @ (Bd @ v))))
        return out

    return LinearOperator((n, n), matvec=matvec, matmat=matvec, dtype=float)


# -- cell-signal Laplacians --------------------------------------------------------------------
def _edge_weights(cx, edge_weight: str) -> np.ndarray:
    if edge_weight not in ("flux", "face"):
        raise ValueError(f"edge_weight must be 'flux' or 'face', got {edge_weight!r}.")
    if cx.dim < 1:
        return np.zeros(0)
    face = cx.edges["face_volume"].to_numpy(dtype=float)
    if edge_weight == "face":
        return face
    h = cx.edges["length"].to_numpy(dtype=float)
    if np.any((h <= 0) & (face > 0)):
        bad = int(np.flatnonzero((h <= 0) & (face > 0))[0])
        raise ValueError(
            f"edge {cx.simplices(1)[bad].tolist()} joins two cells with the same centroid "
            '(h = 0): the "flux" weight vol F / h is undefined; use edge_weight="face".'
        )
    return np.where(face > 0, face / np.where(h > 0, h, 1.0), 0.0)


@renamed_keywords(data_weights="measure")
def vertex_measure(cx, measure=None) -> np.ndarray:
    """The vertex measure D used to turn stiffness into an operator, shape (n_0,).

    ``measure=None``: the cell volumes (``M_0``, units length^n). ``"counts"``: the
    cells' data counts ``n_i`` (must all be positive). An array: the measure of each cell
    (positive, finite).
    """
    _check_complex(cx)
    m = cx.n_simplices(0)
    if measure is None:
        d = np.asarray(cx.gram(0).diagonal(), dtype=float)
    elif isinstance(measure, str):
        if measure != "counts":
            raise ValueError(f"measure must be None, 'counts' or an array, got {measure!r}.")
        d = cx.cells["n_points"].to_numpy(dtype=float)
    else:
        d = np.asarray(measure, dtype=float).ravel()
        if d.shape != (m,):
            raise ValueError(f"measure must have one entry per cell ({m}), got shape "
                             f"{np.shape(measure)}.")
    if not np.all(np.isfinite(d)) or np.any(d <= 0):
        bad = int(np.flatnonzero(~(np.isfinite(d) & (d > 0)))[0])
        raise ValueError(
            f"the vertex measure must be positive and finite; cell {bad} has {d[bad]!r} "
            "(an empty cell under measure='counts'?)."
        )
    return d


@renamed_keywords(weights="edge_weight")
def cell_stiffness(cx, edge_weight: str = "flux") -> sp.csr_matrix:
    """Symmetric stiffness ``K = B_1 W B_1^T`` of the cell Laplacian, (n_0, n_0).

    ``f^T K f = sum_edges w_e (f_a - f_b)^2`` (the discrete Dirichlet energy).
    """
    _check_complex(cx)
    m = cx.n_simplices(0)
    if cx.dim < 1 or cx.n_simplices(1) == 0:
        return sp.csr_matrix((m, m))
    w = _edge_weights(cx, edge_weight)
    # edges between cells that share no facet (fan diagonals) carry no flux: left out
    keep = np.flatnonzero(w != 0)
    edges = cx.simplices(1)[keep]
    a, b, w = edges[:, 0], edges[:, 1], w[keep]
    deg = np.bincount(np.concatenate([a, b]), weights=np.concatenate([w, w]), minlength=m)
    touched = np.flatnonzero(deg)
    return sp.csr_matrix((np.concatenate([-w, -w, deg[touched]]),
                          (np.concatenate([a, b, touched]), np.concatenate([b, a, touched]))),
                         shape=(m, m))


@renamed_keywords(weights="edge_weight")
def cell_laplacian(cx, edge_weight: str = "flux") -> sp.csr_matrix:
    """Finite-volume cell-signal Laplacian ``Delta_0 = M_0^{-1} B_1 W B_1^T``.

    .. math:: (\\Delta_0 f)_i = \\frac{1}{\\mathrm{vol}\\, C_i}
              \\sum_{j \\sim i} w_{ij} (f_i - f_j)

    Parameters
    ----------
    cx : RiemannianComplex
    edge_weight : {"flux", "face"}
        The edge weight ``w_ij``. "flux": ``w_ij = vol_{n-1}(F_ij) / h_ij`` (h the
        centroid distance), the two-point flux approximation of ``-div grad`` (units length^-2).
        "face": ``w_ij = vol_{n-1}(F_ij)``.

    Returns
    -------
    csr_matrix (n_0, n_0); self-adjoint in M_0, kernel = constants per component.
    """
    K = cell_stiffness(cx, edge_weight)
    return _scaled(K, 1.0 / vertex_measure(cx))


# -- extended Laplacian -------------------------------------------------------------------------
def _simplex_weight_list(cx, simplex_weight) -> list[float]:
    if simplex_weight is None:
        return []
    if isinstance(simplex_weight, dict):
        items = simplex_weight
    else:
        arr = np.atleast_1d(np.asarray(simplex_weight, dtype=float))
        items = {p + 2: float(v) for p, v in enumerate(arr)}
    out = [0.0] * max(0, cx.dim - 1)
    for p, w in items.items():
        if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 2:
            raise ValueError(f"simplex_weight keys are simplex dimensions >= 2, got {p!r}.")
        if not np.isfinite(w) or w < 0:
            raise ValueError(f"simplex_weight[{p}] must be a finite non-negative number, "
                             f"got {w!r}.")
        if p <= cx.dim:
            out[p - 2] = float(w)
    return out


@renamed_keywords(dim_weights="simplex_weight", weights="edge_weight")
def extended_stiffness(cx, simplex_weight=None, edge_weight: str = "flux") -> sp.csr_matrix:
    """Symmetric stiffness of the extended Laplacian, (n_0, n_0).

    .. math:: K = B_1 W B_1^T + \\sum_{p \\ge 2} w_p \\sum_{\\sigma \\in K_p}
              m_\\sigma \\big(I_\\sigma - \\tfrac{1}{p+1} 1_\\sigma 1_\\sigma^T\\big)

    with ``m_sigma`` the Gram diagonal (volume of the common piece) of sigma and
    the bracket acting on sigma's p+1 vertices: ``f^T K f`` adds
    ``w_p m_sigma sum_{v in sigma} (f_v - mean_sigma f)^2`` per simplex, so
    multi-way contacts smooth too and constants stay in the kernel.

    ``simplex_weight``: None (no higher terms), a sequence ``(w_2, w_3, ...)`` or a
    dict ``{p: w_p}``; ``edge_weight`` as in :func:`cell_laplacian`.
    """
    K = cell_stiffness(cx, edge_weight)
    m = K.shape[0]
    coo = K.tocoo()
    rows_all, cols_all, vals_all = [coo.row], [coo.col], [coo.data]
    for idx, w in enumerate(_simplex_weight_list(cx, simplex_weight)):
        p = idx + 2
        if w == 0 or cx.n_simplices(p) == 0:
            continue
        simp = cx.simplices(p)
        vol = np.asarray(cx.simplex_volumes(p), dtype=float)
        k = p + 1
        # I - 11^T/k on the vertices: pairs (u, v) of each simplex
        rows = np.repeat(simp, k, axis=1).ravel()
        cols = np.tile(simp, (1, k)).ravel()
        block = (np.eye(k) - 1.0 / k).ravel()
        vals = (w * vol)[:, None] * block[None, :]
        rows_all.append(rows)
        cols_all.append(cols)
        vals_all.append(vals.ravel())
    if len(vals_all) == 1:
        return K
    # one assembly: the duplicates (pairs shared by several simplices) are summed
    return sp.csr_matrix((np.concatenate(vals_all),
                          (np.concatenate(rows_all), np.concatenate(cols_all))), shape=(m, m))


@renamed_keywords(dim_weights="simplex_weight", data_weights="measure", weights="edge_weight")
def extended_laplacian(cx, simplex_weight=None, measure=None,
                       edge_weight: str = "flux") -> sp.csr_matrix:
    """Extended cell Laplacian ``L = D^{-1} K`` (THEORY.md section 4).

    ``K`` is :func:`extended_stiffness` (``Delta_0``'s stiffness plus the
    higher-simplex terms), ``D`` the vertex measure: the cell volumes ``M_0`` by
    default, so with ``simplex_weight=None`` this equals :func:`cell_laplacian`; the
    data-fidelity option ``measure="counts"`` uses the cells' data counts
    ``n_i`` instead (or an array, the measure of each cell). ``L`` is self-adjoint in
    ``D`` and its kernel is the constants on each connected component.

    Parameters
    ----------
    cx : RiemannianComplex
    simplex_weight : sequence or dict, optional
        ``w_p`` for p = 2, 3, ...; see :func:`extended_stiffness`.
    measure : None, "counts" or array (n_0,), optional
        The vertex measure D; see :func:`vertex_measure`.
    edge_weight : {"flux", "face"}
        Edge weights of the cell-Laplacian part.

    Returns
    -------
    csr_matrix (n_0, n_0)
    """
    K = extended_stiffness(cx, simplex_weight, edge_weight)
    return _scaled(K, 1.0 / vertex_measure(cx, measure))
