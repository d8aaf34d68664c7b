"""The partition data model: cells as H-representations with their geometry.

A :class:`Partition` is what every adapter returns and what ``complex/`` reads.
It imports nothing of cellgeom but the geometry kernels.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ..geometry import Box, common_piece, flat_volume_centroid
from .validation import check_data, vector_columns

__all__ = ["Partition"]


class Partition:
    """Cells of a model inside a domain box, with their exact geometry.

    Attributes
    ----------
    domain : Box
    dim : int
        Input dimension n.
    n_cells : int
    keys : list of str
        The model's discrete state of each cell (sign vector, leaf tuple, ...).
    cells : DataFrame, one row per cell
        ``key``, ``volume`` (n-volume), ``inradius`` (Chebyshev radius),
        ``n_points`` (data points in the cell), ``is_data`` (the cell holds data),
        ``n_facets``, ``center_*`` (Chebyshev centre), ``centroid_*``; adapters add
        ``prediction`` and their own columns.
    facets : DataFrame, one row per facet of each cell
        ``cell``, ``label`` (the model's hyperplane / unit / site that supports the
        facet; ``-1 - j`` for row ``j`` of the domain box), ``neighbor`` (index of the
        cell across it; -1 on the domain boundary; -2 for a cell that is not part
        of this partition, named by ``neighbor_key``), ``volume`` ((n-1)-volume),
        ``offset`` and ``normal_*`` (outward unit normal: ``normal . x = offset``),
        ``centroid_*``.
    faces : DataFrame, one row per face
        Interior faces once with ``cell_a < cell_b``, the normal pointing from
        ``cell_a`` into ``cell_b``; domain-boundary faces with ``cell_b = -1`` and
        ``boundary`` the box row; faces towards cells outside the partition with
        ``cell_b = -2`` and ``key_b``.
    hinges : DataFrame, one row per (hinge, cell)
        ``hinge`` (id of the (n-2)-face), ``cell``, ``label_a``/``label_b`` and
        ``neighbor_a``/``neighbor_b`` (the two facets of the cell meeting there),
        ``angle`` (interior dihedral angle of the cell, radians), ``volume``
        ((n-2)-volume; 1 for points), ``boundary`` (on the domain boundary),
        ``centroid_*``.
    model : object
        The model the partition was built from (None for raw geometry).
    info : dict
        How it was built: ``cells`` mode, tolerance (``tol``; per axis ``tol_axes`` on
        the polytope route), number of dropped empty or lower-dimensional cells
        (``n_dropped``), volume method, points outside (``n_points_outside``), data
        points on cell boundaries placed in a neighbouring cell
        (``n_points_on_boundaries``) and any left in no cell (``n_points_in_no_cell``).
    """

    def __init__(
        self,
        *,
        domain: Box,
        keys: list[str],
        cells: pd.DataFrame,
        facets: pd.DataFrame,
        hinges: pd.DataFrame,
        model: Any = None,
        locator: Callable[[np.ndarray], np.ndarray] | None = None,
        info: dict | None = None,
        vertices: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ):
        self.domain = domain
        self.keys = list(keys)
        self.cells = cells
        self.facets = facets
        self.hinges = hinges
        self.model = model
        self.info = dict(info or {})
        self._locator = locator
        # (indptr, global vertex id per cell-vertex, global coordinates) or None
        self._vertices = vertices
        self._faces: pd.DataFrame | None = None
        self._csr: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._key_index: dict[str, int] | None = None

    # -- basic properties -------------------------------------------------------
    @property
    def dim(self) -> int:
        return self.domain.dim

    @property
    def n_cells(self) -> int:
        return len(self.keys)

    def __len__(self) -> int:
        return self.n_cells

    def __repr__(self) -> str:
        model = type(self.model).__name__ if self.model is not None else "None"
        return (
            f"<Partition of {model}: {self.n_cells} cells in {self.dim}-D, "
            f"{len(self.faces)} faces, {self.hinges['hinge'].nunique() if len(self.hinges) else 0}"
            f" hinges, cells={self.info.get('cells', '?')!r}>"
        )

    @property
    def volumes(self) -> np.ndarray:
        """Cell n-volumes, shape (n_cells,)."""
        return self.cells["volume"].to_numpy()

    @property
    def centroids(self) -> np.ndarray:
        """Cell centroids, shape (n_cells, n)."""
        return self.cells[vector_columns("centroid", self.dim)].to_numpy()

    @property
    def centers(self) -> np.ndarray:
        """Chebyshev centres (interior points), shape (n_cells, n)."""
        return self.cells[vector_columns("center", self.dim)].to_numpy()

    @property
    def is_full(self) -> bool:
        """True when the cells tile the whole domain (``cells="all"``)."""
        return self.info.get("cells") == "all"

    def key_index(self, key: str) -> int:
        """Index of the cell with this key, -1 if absent."""
        if self._key_index is None:
            self._key_index = {k: i for i, k in enumerate(self.keys)}
        return self._key_index.get(key, -1)

    # -- H-representation -----------------------------------------------------------
    def halfspaces(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Non-redundant H-representation ``(A, b)`` of cell ``i``: ``A x <= b``.

        The rows are the cell's facets (domain-box facets included), with unit
        outward normals.
        """
        if not 0 <= i < self.n_cells:
            raise IndexError(f"cell index {i} out of range for {self.n_cells} cells")
        indptr, normals, offsets = self._halfspace_csr()
        rows = slice(indptr[i], indptr[i + 1])
        return normals[rows].copy(), offsets[rows].copy()

    def _halfspace_csr(self):
        if self._csr is None:
            order = np.argsort(self.facets["cell"].to_numpy(), kind="stable")
            cell = self.facets["cell"].to_numpy()[order]
            normals = self.facets[vector_columns("normal", self.dim)].to_numpy()[order]
            offsets = self.facets["offset"].to_numpy()[order]
            indptr = np.zeros(self.n_cells + 1, dtype=np.int64)
            np.cumsum(np.bincount(cell, minlength=self.n_cells), out=indptr[1:])
            self._csr = (indptr, normals, offsets)
        return self._csr

    # -- faces ---------------------------------------------------------------------------
    @property
    def faces(self) -> pd.DataFrame:
        """Faces table (see the class docstring); derived from ``facets``."""
        if self._faces is None:
            self._faces = _faces_from_facets(self.facets, self.keys, self.dim)
        return self._faces

    # -- vertices and common pieces ----------------------------------------------------
    def frame_tolerance(self) -> tuple[np.ndarray, float]:
        """The unit frame's half-sides ``s`` (user units) and its relative tolerance
        ``tol_u`` (dimensionless): the build's ``info["tol"]`` is ``tol_u`` times the
        largest half-side, and along axis j the tolerance is ``tol_u s_j``
        (``info["tol_axes"]``). Tests of thinness or incidence made in ``u = (x - o) / s``
        with ``tol_u`` hold on every axis of an elongated domain alike.

        Examples
        --------
        >>> import cellgeom
        >>> part = cellgeom.partition(cellgeom.HyperplaneArrangement([[1.0, 0.0]], [0.0]),
        ...                           domain=([-1, -10], [1, 10]), cells="all",
        ...                           progress=False)
        >>> halves, tol_u = part.frame_tolerance()
        >>> halves.tolist(), tol_u == part.info["tol"] / 10
        ([1.0, 10.0], True)
        """
        halves = np.asarray(self.domain.widths, dtype=float) / 2
        halves = np.where(halves > 0, halves, 1.0)
        tol = float(self.info.get("tol", 1e-9 * self.domain.scale))
        return halves, tol / float(halves.max())

    @property
    def has_vertices(self) -> bool:
        """Whether cell vertices were computed (the exact low-dimensional route; the
        high-dimensional route leaves an empty vertex table)."""
        return self._vertices is not None and len(self._vertices[2]) > 0

    @property
    def vertices(self) -> np.ndarray:
        """Coordinates of all cell vertices, merged across cells, shape (V, n)."""
        self._require_vertices()
        return self._vertices[2]

    def cell_vertex_ids(self, i: int) -> np.ndarray:
        """Global ids (rows of :attr:`vertices`) of the vertices of cell ``i``."""
        self._require_vertices()
        indptr, ids, _ = self._vertices
        return ids[indptr[i] : indptr[i + 1]]

    def cell_vertices(self, i: int) -> np.ndarray:
        """Vertices of cell ``i``; in 2-D ordered counter-clockwise (a polygon)."""
        pts = self.vertices[self.cell_vertex_ids(i)]
        if self.dim == 2 and len(pts) > 2:
            c = pts.mean(axis=0)
            pts = pts[np.argsort(np.arctan2(pts[:, 1] - c[1], pts[:, 0] - c[0]))]
        return pts

    def _require_vertices(self):
        if self._vertices is None:
            raise ValueError(
                "This partition has no cell vertices (they are computed on the exact route in "
                "low dimension only)."
            )

    def common_piece(self, cell_ids) -> tuple[int, float, np.ndarray]:
        """Dimension, volume (in its own dimension; 1 for a point) and centroid of the
        intersection of the closed cells ``cell_ids`` (-1, 0, NaN if empty).

        Face-to-face partitions with vertices use the common vertices (the piece is
        their convex hull); others solve LPs (:func:`cellgeom.geometry.common_piece`),
        and pieces of more than ``EXACT_PIECE_DIM`` dimensions get their volume as the
        cells got theirs (``info["volume_method"]``: "estimate" a Monte Carlo estimate,
        "data" or "none" NaN).
        """
        cell_ids = [int(c) for c in cell_ids]
        tol = self.info.get("tol", 1e-9 * self.domain.scale)
        if self.has_vertices and self.info.get("face_to_face"):
            common = set(self.cell_vertex_ids(cell_ids[0]).tolist())
            for c in cell_ids[1:]:
                common &= set(self.cell_vertex_ids(c).tolist())
            if not common:
                return -1, 0.0, np.full(self.dim, np.nan)
            pts = self.vertices[sorted(common)]
            # the dimension in the unit frame, where the tolerance holds on every axis
            halves, tol_u = self.frame_tolerance()
            centred = (pts - pts.mean(axis=0)) / halves
            sing = np.linalg.svd(centred, compute_uv=False) if len(pts) > 1 else np.zeros(0)
            k = int(np.sum(sing > tol_u))
            volume, centroid = flat_volume_centroid(pts, k, 0.0)  # k decided above
            return k, volume, centroid
        method = self.info.get("volume_method", "exact")
        volume = method if method in ("exact", "estimate") else "none"
        return common_piece([self.halfspaces(c) for c in cell_ids], tol=tol, volume=volume)

    # -- point location -----------------------------------------------------------------
    @property
    def feature_names(self) -> list[str] | None:
        """The input feature names the model was fitted with, or None: scikit-learn's
        ``feature_names_in_``, else ``info["model_feature_names"]`` (CatBoost's and the
        boosters' own names, and those of a loaded partition)."""
        names = getattr(self.model, "feature_names_in_", None)
        if names is None:
            names = self.info.get("model_feature_names")
        return None if names is None else [str(n) for n in names]

    def points(self, X, name: str = "X", allow_empty: bool = True) -> np.ndarray:
        """``X`` as a float array (N, dim) in the model's feature order.

        A DataFrame is matched to :attr:`feature_names` by column name (reordered when only
        the order differs, refused when a name is missing), as the model itself reads it;
        every function that places points in cells reads them through here.

        Examples
        --------
        >>> import pandas as pd
        >>> from sklearn.tree import DecisionTreeClassifier
        >>> import cellgeom
        >>> X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [0.0, 10.0, 0.0, 10.0]})
        >>> tree = DecisionTreeClassifier().fit(X, [0, 0, 1, 1])
        >>> part = cellgeom.partition(tree, data=X, progress=False)
        >>> part.points(X[["b", "a"]])[1].tolist()
        [1.0, 10.0]
        """
        return check_data(X, self.dim, name=name, allow_empty=allow_empty,
                          feature_names=self.feature_names)

    def locate(self, X) -> np.ndarray:
        """Index of the cell holding each row of ``X``; -1 outside the domain or
        outside every cell of the partition (e.g. a cell without data).

        A DataFrame is matched by column name to the names the model was fitted with
        (:meth:`points`)."""
        X = self.points(X, name="X")
        if X.shape[0] == 0:
            return np.zeros(0, dtype=np.int64)
        if self._locator is not None:
            # a point on a boundary may get a tie-broken key naming a dropped cell with no
            # interior: a locator with ``locate_in`` places it in a cell whose closure holds
            # it, which needs the partition's cells
            locate_in = getattr(self._locator, "locate_in", None)
            out = np.asarray(self._locator(X) if locate_in is None else locate_in(self, X),
                             dtype=np.int64)
        else:
            out = self._locate_by_halfspaces(X)
        out[~self.domain.contains(X)] = -1
        return out

    def _locate_by_halfspaces(self, X: np.ndarray) -> np.ndarray:
        """Generic point location: first cell whose inequalities hold (ties -> lowest index)."""
        import scipy.sparse as sp

        if self.n_cells == 0:  # every cell dropped (data thinner than tol): no arg-max
            return np.full(X.shape[0], -1, dtype=np.int64)
        indptr, normals, offsets = self._halfspace_csr()
        # a row nu . x <= c violated by more than the frame's tolerance: tol_u |S nu| in
        # the user's units (tol on a cube; on an elongated domain no row's tolerance spans
        # a short side)
        halves, tol_u = self.frame_tolerance()
        row_tol = tol_u * np.linalg.norm(normals * halves, axis=1)
        n_rows = normals.shape[0]
        cell_of_row = np.repeat(np.arange(self.n_cells), np.diff(indptr))
        row_to_cell = sp.csr_matrix((np.ones(n_rows), (cell_of_row, np.arange(n_rows))),
                                    shape=(self.n_cells, n_rows))
        out = np.full(X.shape[0], -1, dtype=np.int64)
        chunk = max(1, int(2e7 // max(n_rows + self.n_cells, 1)))  # bounds the dense blocks
        for start in range(0, X.shape[0], chunk):
            Xc = X[start : start + chunk]
            violated = ((Xc @ normals.T - offsets[None, :]) > row_tol).astype(np.float64)
            bad = np.asarray((row_to_cell @ violated.T).T)  # violations per (point, cell)
            inside = bad == 0
            has = inside.any(axis=1)
            out[start : start + chunk] = np.where(has, inside.argmax(axis=1), -1)
        return out

    # -- checks ---------------------------------------------------------------------------------
    def minkowski_residuals(self) -> np.ndarray:
        """Per cell, ``|| sum_F vol(F) nu_F ||`` over all facets (0 for a closed cell).

        The Minkowski closure check of THEORY.md section 2, relative to the
        cell's total facet area.
        """
        normals = self.facets[vector_columns("normal", self.dim)].to_numpy()
        vol = self.facets["volume"].to_numpy()
        cell = self.facets["cell"].to_numpy()
        sums = np.zeros((self.n_cells, self.dim))
        np.add.at(sums, cell, normals * vol[:, None])
        area = np.bincount(cell, weights=vol, minlength=self.n_cells)
        return np.linalg.norm(sums, axis=1) / np.where(area > 0, area, 1.0)


def _faces_from_facets(facets: pd.DataFrame, keys: list[str], dim: int) -> pd.DataFrame:
    nb = facets["neighbor"].to_numpy()
    cell = facets["cell"].to_numpy()
    keep = (nb < 0) | (cell < nb)
    # the kept rows taken block by block and the columns renamed and picked, not
    # re-stacked column by column (10x faster at 10^7 rows)
    f = facets.loc[keep]
    label = f["label"].to_numpy()
    faces = f.rename(columns={"cell": "cell_a", "neighbor": "cell_b", "neighbor_key": "key_b"})
    faces.insert(faces.columns.get_loc("label"), "boundary",
                 np.where(faces["cell_b"].to_numpy() == -1, -1 - label, -1))
    # the estimated route's error bar (pooled from both sides of a shared face) if any
    columns = (["cell_a", "cell_b", "key_b", "volume"]
               + (["volume_se"] if "volume_se" in f else [])
               + ["boundary", "label", "offset"]
               + vector_columns("normal", dim) + vector_columns("centroid", dim))
    return faces[columns].reset_index(drop=True)
