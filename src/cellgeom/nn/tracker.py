"""Watch the cell geometry of a network on a fixed probe set while it trains."""
from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import torch
from torch import nn

from .batch_geometry import _distances, _forward, _get_plan, _nearest_cosines
from .cell_hashing import _cells_and_faces
from .inputs import check_input
from .layers import UnsupportedLayerError

__all__ = ["GeometryTracker", "local_complexity"]


def local_complexity(net, X, radius: float) -> np.ndarray:
    """Number of unit boundaries within ``radius`` of each point, per activation layer.

    The local complexity of Humayun, Balestriero and Baraniuk (2024, "Deep networks always
    grok"), computed exactly from the pullback on each point's cell: unit ``k`` of layer
    ``l`` counts when ``d_lk(x) = |A_l[k] x + c_l[k] - t| / ||A_l[k]|| <= radius`` (``t``
    the nearest breakpoint of the activation; THEORY.md section 6), i.e. when the unit's
    boundary hyperplane on the cell of ``x`` passes within ``radius``. For the first layer
    this is the boundary itself; deeper boundaries bend where they leave the cell, so the
    count is that of the boundaries' local hyperplanes (exact for ``radius`` up to the
    distance to the cell's own boundary).

    Parameters
    ----------
    net : torch.nn.Module
        Any piecewise-linear network (:func:`cellgeom.nn.as_network`); ReLU / leaky-ReLU
        MLPs take the fast route of the tracker.
    X : array-like (N, *input_shape)
    radius : float

    Returns
    -------
    ndarray (N, L) of int
        Counts per point and activation (or max) layer; max-pool layers count 0.
    """
    from .forms import unit_boundary_distance
    from .layers import as_network
    from .pullback import pullback

    if not radius > 0:
        raise ValueError(f"radius must be a positive distance, got {radius!r}")
    try:
        plan = _get_plan(net, X)
        chain = bool(plan.hidden)
    except UnsupportedLayerError:
        chain = False
    if chain:
        with torch.no_grad():
            Xt = check_input(X, plan.rule, plan.dtype, plan.device, "X")
            geo = _forward(plan, Xt, allow_gram=False)
            d = _distances(geo)[0].double().cpu().numpy()
        sizes = np.cumsum([0] + [z.shape[1] for z in geo.z])
        return np.stack([(d[:, a:b] <= radius).sum(axis=1) for a, b in
                         zip(sizes[:-1], sizes[1:])], axis=1)
    network = as_network(net)
    maps = pullback(network, X)
    out = []
    Xf = np.asarray(X, dtype=float).reshape(len(maps[0].A), -1)
    for m, st in zip(maps[:-1], network.layer_steps):
        if m.kind == "maxpool":
            out.append(np.zeros(len(Xf), dtype=np.int64))
            continue
        d = unit_boundary_distance(m.A, m.c, Xf, getattr(st, "breakpoints", (0.0,)))
        out.append((d <= radius).sum(axis=1))
    return np.stack(out, axis=1)


class GeometryTracker:
    """Record the data-containing cells of ``X_probe`` and their geometry during training.

    Parameters
    ----------
    net : torch.nn.Module
        ReLU / LeakyReLU MLP (see :func:`cellgeom.nn.batch_cell_geometry`).
    X_probe : array-like (N, n_in)
        Fixed probe points (e.g. a subsample of the training set).
    every : int, default 1
        Record on every ``every``-th call of :meth:`step`; the others return at once.
    n_nearest : int, default 3
        Nearest boundaries per point whose pairwise angles make the sharpness.
    radius : float, optional
        Also record the local complexity (Humayun, Balestriero and Baraniuk 2024, "Deep
        networks always grok") at this radius.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per recorded call: ``step``, ``epoch``, ``n_cells`` (distinct activation
        patterns of the probe points = data-containing cells), ``cells_per_point``,
        ``margin_q10`` / ``margin_median`` (quantiles of the distances ``|z_k| / ||A[k]||``
        of the points to every unit boundary of their cells), ``inradius_min`` /
        ``inradius_q10`` / ``inradius_median`` (of ``r_i = min_k d_ik``, the largest ball
        centred at ``x_i`` in its cell), ``sharpness`` (mean ``|cos|`` between the normals
        of pairs among each point's ``n_nearest`` nearest boundaries; 1 = parallel),
        ``splits_1 .. splits_L`` (distinct patterns of the first ``l`` activation layers:
        how the partition is refined layer by layer), with ``radius`` set
        ``local_complexity_1 .. _L`` and ``local_complexity`` (mean over the probe points of
        the number of unit boundaries of layer ``l`` / of all layers within ``radius`` of the
        point, see :func:`local_complexity`) and ``seconds`` (cost of the call).

    Notes
    -----
    One forward pass of the probe set under ``torch.no_grad`` carrying the row norms of
    the Jacobians (the same core as :class:`~cellgeom.nn.regularizer.GeometricRegularizer`,
    network plan cached): ``N * sum_l U_l U_{l-1} n`` multiply-adds, or by Gram matrices
    ``N U_2 U_1 (U_1 + 1) / 2`` for a 2-hidden-layer MLP whose input is not narrow; then
    quantiles, the nearest-boundary angles and one exact hash of the patterns per layer,
    all in torch. Every statistic is computed on each recorded call; to make recording
    cheaper still, record every few steps with ``every``.
    """

    def __init__(self, net: nn.Module, X_probe, every: int = 1, *, n_nearest: int = 3,
                 radius: float | None = None):
        if int(every) < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        if radius is not None and not radius > 0:
            raise ValueError(f"radius must be a positive distance or None, got {radius!r}")
        self.net, self.every, self.n_nearest = net, int(every), int(n_nearest)
        self.radius = radius
        p = next(net.parameters(), None)
        dtype = p.dtype if p is not None else torch.float32
        # a tensor probe is detached: it may be a batch that required grad in training
        self.X_probe = (X_probe.detach().to(dtype=dtype) if torch.is_tensor(X_probe)
                        else torch.as_tensor(np.asarray(X_probe), dtype=dtype))
        self._calls = 0
        self._rows: list[dict] = []
        with torch.no_grad():  # validate network and probe shape now, not mid-training
            self._geometry()

    @property
    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self._rows)

    def step(self, epoch: int | None = None) -> dict | None:
        """Record the geometry now (on every ``every``-th call); returns the row or None."""
        self._calls += 1
        if (self._calls - 1) % self.every:
            return None
        t0 = time.perf_counter()
        row = {"step": self._calls - 1, "epoch": epoch, **self.measure()}
        row["seconds"] = time.perf_counter() - t0
        self._rows.append(row)
        return row

    def _geometry(self):
        plan = _get_plan(self.net, self.X_probe)
        X = check_input(self.X_probe, plan.rule, plan.dtype, plan.device, "x_batch")
        if not plan.hidden:
            raise UnsupportedLayerError("the network has no ReLU / LeakyReLU layer, hence one "
                                        "cell")
        return _forward(plan, X)

    def measure(self) -> dict:
        """The geometry statistics of the current network on the probe set."""
        with torch.no_grad():
            geo = self._geometry()
            N = geo.z[0].shape[0]
            dist, inv, live = _distances(geo)
            d = dist.double().cpu().numpy()  # quantiles: NumPy's partition beats torch's sort
            fin = d.reshape(-1) if live is None else d[live.cpu().numpy()]
            r = d.min(axis=1)
            if live is not None:
                r = r[np.isfinite(r)]
            P = torch.cat(geo.on, 1)
            splits, start = {}, 0
            for i, z in enumerate(geo.z, 1):
                start += z.shape[1]
                splits[f"splits_{i}"] = int(_cells_and_faces(P[:, :start], faces=False)[1])
            row = {"n_cells": splits[f"splits_{len(geo.z)}"]}
            row["cells_per_point"] = row["n_cells"] / N
            qf = np.quantile(fin, [0.1, 0.5]) if fin.size else [math.nan, math.nan]
            qr = np.quantile(r, [0.1, 0.5]) if r.size else [math.nan, math.nan]
            row.update(margin_q10=float(qf[0]), margin_median=float(qf[1]),
                       inradius_min=float(r.min()) if r.size else math.nan,
                       inradius_q10=float(qr[0]), inradius_median=float(qr[1]),
                       sharpness=self._sharpness(geo, dist, inv, live))
            row.update(splits)
            if self.radius is not None:  # local complexity: boundaries near each point
                start = 0
                for i, z in enumerate(geo.z, 1):
                    near = d[:, start:start + z.shape[1]] <= self.radius
                    row[f"local_complexity_{i}"] = float(near.sum(axis=1).mean())
                    start += z.shape[1]
                row["local_complexity"] = float((d <= self.radius).sum(axis=1).mean())
        return row

    def _sharpness(self, geo, dist: torch.Tensor, inv: torch.Tensor, live) -> float:
        cos, ok = _nearest_cosines(geo, dist, inv, self.n_nearest, live)
        cos = cos.abs() if ok is None else cos.abs()[ok]
        return float(cos.mean()) if cos.numel() else math.nan

    def plot(self, ax=None, x: str | None = None):
        """Plot the recorded statistics over training, one panel each.

        Parameters
        ----------
        ax : array of matplotlib Axes (at least 4), optional
            Created (2 x 2) if not given.
        x : str, optional
            Column for the horizontal axis; default ``epoch`` if recorded, else ``step``.

        Returns
        -------
        ndarray of Axes
        """
        import matplotlib.pyplot as plt

        t = self.table
        if t.empty:
            raise ValueError("GeometryTracker has no records yet; call step() during training")
        if x is None:
            x = "epoch" if t["epoch"].notna().all() else "step"
        if ax is None:
            _, ax = plt.subplots(2, 2, figsize=(9, 6), constrained_layout=True)
        axes = np.asarray(ax).ravel()
        if axes.size < 4:
            raise ValueError(f"plot needs 4 axes, got {axes.size}")
        split_cols = [c for c in t.columns if c.startswith("splits_")]
        for c in split_cols:
            axes[0].plot(t[x], t[c], label=c.replace("splits_", "after layer "))
        axes[0].set(ylabel="cells with data", yscale="log")
        axes[0].legend(fontsize=7)
        for c in ("margin_q10", "margin_median"):
            axes[1].plot(t[x], t[c], label=c)
        axes[1].set(ylabel="distance to unit boundaries", yscale="log")
        axes[1].legend(fontsize=7)
        for c in ("inradius_min", "inradius_q10", "inradius_median"):
            axes[2].plot(t[x], t[c].clip(lower=1e-12), label=c)
        axes[2].set(ylabel="inradius proxy", yscale="log")
        axes[2].legend(fontsize=7)
        axes[3].plot(t[x], t["sharpness"])
        axes[3].set(ylabel="mean |cos| nearest boundaries")
        for a in axes[:4]:
            a.set_xlabel(x)
        return axes
