"""The axis-aligned domain box that every partition is clipped to."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Box"]


@dataclass(frozen=True, eq=False)
class Box:
    """An axis-aligned box ``{x : lo <= x <= hi}`` in R^n.

    Parameters
    ----------
    lo, hi : array_like of shape (n,)
        Lower and upper corners. Both must be finite, of the same length, with
        ``lo < hi`` in every coordinate.

    Examples
    --------
    >>> box = Box([0, 0], [1, 2])
    >>> box.dim, box.volume
    (2, 2.0)
    """

    lo: np.ndarray
    hi: np.ndarray

    def __init__(self, lo, hi):
        lo_arr = np.atleast_1d(np.asarray(lo, dtype=float)).copy()
        hi_arr = np.atleast_1d(np.asarray(hi, dtype=float)).copy()
        if lo_arr.ndim != 1 or hi_arr.ndim != 1:
            raise ValueError(
                f"Box corners must be 1-D, got lo of shape {lo_arr.shape} and hi of "
                f"shape {hi_arr.shape}."
            )
        if lo_arr.shape != hi_arr.shape:
            raise ValueError(
                f"Box corners have different dimensions: lo has {lo_arr.size}, hi has "
                f"{hi_arr.size}."
            )
        if lo_arr.size == 0:
            raise ValueError("Box must have at least one dimension.")
        if not (np.all(np.isfinite(lo_arr)) and np.all(np.isfinite(hi_arr))):
            raise ValueError(
                "Box corners must be finite (an unbounded domain has no finite cell volumes); "
                f"got lo={lo_arr.tolist()}, hi={hi_arr.tolist()}."
            )
        bad = np.flatnonzero(~(lo_arr < hi_arr))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"Box needs lo < hi in every coordinate, but coordinate {i} has "
                f"lo={float(lo_arr[i])!r} >= hi={float(hi_arr[i])!r}."
            )
        lo_arr.setflags(write=False)
        hi_arr.setflags(write=False)
        object.__setattr__(self, "lo", lo_arr)
        object.__setattr__(self, "hi", hi_arr)

    # -- construction -------------------------------------------------------
    @classmethod
    def from_data(cls, X, pad: float = 0.05) -> Box:
        """Bounding box of the rows of ``X`` padded by ``pad`` times each side length.

        A side of zero length (a constant feature) is padded by ``pad`` times the
        largest side, or by ``pad`` itself if every side is zero.
        """
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(
                f"Box.from_data needs a non-empty 2-D array, got shape {X.shape}."
            )
        if not np.all(np.isfinite(X)):
            raise ValueError("Box.from_data: data contains NaN or infinite values.")
        lo, hi = X.min(axis=0), X.max(axis=0)
        side = hi - lo
        fallback = side.max() if side.max() > 0 else 1.0
        side = np.where(side > 0, side, fallback)
        return cls(lo - pad * side, hi + pad * side)

    @classmethod
    def coerce(cls, domain, dim: int | None = None) -> Box:
        """Accept a Box or a ``(lo, hi)`` pair; check its dimension against ``dim``."""
        if not isinstance(domain, Box):
            try:
                lo, hi = domain
            except (TypeError, ValueError):
                raise ValueError(
                    "domain must be a cellgeom.Box or a (lo, hi) pair, got "
                    f"{type(domain).__name__}."
                ) from None
            domain = cls(lo, hi)
        if dim is not None and domain.dim != dim:
            raise ValueError(
                f"domain box has dimension {domain.dim}, but the model's input has "
                f"dimension {dim}."
            )
        return domain

    # -- properties -----------------------------------------------------------
    @property
    def dim(self) -> int:
        """Dimension n of the box."""
        return int(self.lo.size)

    @property
    def widths(self) -> np.ndarray:
        """Side lengths ``hi - lo``."""
        return self.hi - self.lo

    @property
    def volume(self) -> float:
        """n-volume ``prod(hi - lo)``."""
        return float(np.prod(self.widths))

    @property
    def scale(self) -> float:
        """Largest side length: the length unit that tolerances are relative to."""
        return float(self.widths.max())

    @property
    def float_step(self) -> float:
        """The float64 step of the box's coordinates in its unit frame ``u = (x - c) / h``
        (``h`` the half-sides), along the axis where it is coarsest:
        ``max_j spacing(max(|lo_j|, |hi_j|)) / h_j`` (dimensionless). A point moved by less
        than this in the frame may round back to where it was; tolerances below it are
        below the coordinates' own resolution.

        Examples
        --------
        A side of 2e-3 at 1e6: its coordinates' step 1.2e-10 is 1.2e-7 of its half-side.

        >>> box = Box([0.0, 1e6], [1.0, 1e6 + 2e-3])
        >>> bool(np.isclose(box.float_step, np.spacing(1e6) / 1e-3, rtol=1e-6))
        True
        """
        halves = self.widths / 2
        halves = np.where(halves > 0, halves, 1.0)
        bound = np.maximum(np.abs(self.lo), np.abs(self.hi))
        return float(np.max(np.spacing(bound) / halves))

    @property
    def elongation(self) -> tuple[float, int, int]:
        """``(largest side / smallest side, its axis, the smallest's axis)``; the ratio is
        inf for a box flat on some axis. Tolerances relative to :attr:`scale` are that
        much coarser along the smallest side."""
        widths = self.widths
        wide, narrow = int(np.argmax(widths)), int(np.argmin(widths))
        ratio = widths[wide] / widths[narrow] if widths[narrow] > 0 else np.inf
        return float(ratio), wide, narrow

    @property
    def center(self) -> np.ndarray:
        return (self.lo + self.hi) / 2

    def halfspaces(self) -> tuple[np.ndarray, np.ndarray]:
        """H-representation ``A x <= b`` with 2n rows.

        Row ``2 i`` is the lower face ``-x_i <= -lo_i`` and row ``2 i + 1`` the upper
        face ``x_i <= hi_i``; this numbering is the ``boundary`` id used in the
        ``faces`` tables.
        """
        n = self.dim
        A = np.zeros((2 * n, n))
        idx = np.arange(n)
        A[2 * idx, idx] = -1.0
        A[2 * idx + 1, idx] = 1.0
        b = np.empty(2 * n)
        b[0::2] = -self.lo
        b[1::2] = self.hi
        return A, b

    def contains(self, X, atol: float = 0.0) -> np.ndarray:
        """Boolean mask of the rows of ``X`` inside the closed box."""
        X = np.asarray(X, dtype=float)
        return np.all((X >= self.lo - atol) & (X <= self.hi + atol), axis=1)

    def scaled(self, s: float) -> Box:
        """The box scaled by ``s > 0`` about the origin."""
        return Box(self.lo * s, self.hi * s)

    def __repr__(self) -> str:
        return f"Box(lo={self.lo.tolist()}, hi={self.hi.tolist()})"

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, Box)
            and np.array_equal(self.lo, other.lo)
            and np.array_equal(self.hi, other.hi)
        )

    def __hash__(self) -> int:
        return hash((self.lo.tobytes(), self.hi.tobytes()))
