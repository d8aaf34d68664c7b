"""Walk a PyTorch module into piecewise-linear steps and push affine maps through them.

A network has cells only if every layer is piecewise affine. :func:`as_network`
checks this once and returns a :class:`PiecewiseLinearNetwork`: a list of steps
(:mod:`cellgeom.nn.steps`: affine, activation, max-pool, residual).

:meth:`PiecewiseLinearNetwork.propagate` pushes, for a batch of points, the
forward value together with an affine bundle ``const + sum_i s_i tan_i``: the
linear part of every step acts on the tangents and the full affine step on the
constant. Starting from ``const = 0`` and ``tan = identity basis`` gives the
pullback ``z_l = A_l x + c_l``; starting from a plane ``origin + s u + t v``
gives the pre-activations as affine functions of ``(s, t)``.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from functools import partial

import torch
from torch import nn

from .steps import (
    ActivationLayer,
    ActivationStep,
    AffineStep,
    MaxPoolStep,
    ResidualStep,
    Step,
)

__all__ = [
    "Residual", "UnsupportedLayerError", "TrainingModeError", "NonFiniteWeightError",
    "PiecewiseLinearNetwork", "ActivationLayer", "as_network", "check_input",
]

_WHY = "only piecewise-linear networks have cells (linear regions)"


class UnsupportedLayerError(ValueError, TypeError):
    """A layer is not piecewise affine, so the network has no cells."""


class TrainingModeError(ValueError):
    """BatchNorm or Dropout is in training mode: the map is not a fixed function."""


class NonFiniteWeightError(ValueError):
    """A parameter or buffer of the network holds NaN or inf."""


class Residual(nn.Module):
    """Residual block ``y = body(x) + shortcut(x)``; ``shortcut=None`` is the identity."""

    def __init__(self, body: nn.Module, shortcut: nn.Module | None = None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + (x if self.shortcut is None else self.shortcut(x))


# ----------------------------------------------------------------------- parsing
_AFFINE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.AvgPool1d,
           nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.Flatten, nn.Unflatten,
           nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Identity)
_ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.Hardtanh, nn.Softshrink, nn.Hardshrink,
                nn.Threshold)


def _supported_base(m: nn.Module, bases) -> type | None:
    """The supported class ``m`` derives from, if ``m`` does not override its forward."""
    for base in type(m).__mro__:
        if base in bases:
            return base if type(m).forward is base.forward else None
    return None


def _describe(path: str, m: nn.Module) -> str:
    return f"layer '{path}' ({type(m).__name__})" if path else f"the network ({type(m).__name__})"


def _activation(path: str, m: nn.Module) -> ActivationStep:
    if isinstance(m, nn.ReLU):
        return ActivationStep(path, m, (0.0,), [0.0, 1.0], (0.0, 0.0), "relu")
    if isinstance(m, nn.LeakyReLU):
        return ActivationStep(path, m, (0.0,), [m.negative_slope, 1.0], (0.0, 0.0), "leaky_relu")
    if isinstance(m, nn.PReLU):
        return ActivationStep(path, m, (0.0,), [m.weight, 1.0], (0.0, 0.0), "prelu")
    if isinstance(m, nn.Hardtanh):
        lo, hi = float(m.min_val), float(m.max_val)
        return ActivationStep(path, m, (lo, hi), [0.0, 1.0, 0.0], (lo, 0.0, hi), "hardtanh")
    if isinstance(m, nn.Softshrink):
        la = float(m.lambd)
        return ActivationStep(path, m, (-la, la), [1.0, 0.0, 1.0], (la, 0.0, -la), "softshrink")
    if isinstance(m, nn.Hardshrink):
        la = float(m.lambd)
        return ActivationStep(path, m, (-la, la), [1.0, 0.0, 1.0], (0.0, 0.0, 0.0), "hardshrink")
    thr, val = float(m.threshold), float(m.value)  # nn.Threshold: z if z > thr else value
    return ActivationStep(path, m, (thr,), [0.0, 1.0], (val, 0.0), "threshold")


def _parse(m: nn.Module, path: str) -> list[Step]:
    join = (lambda k: f"{path}.{k}") if path else (lambda k: str(k))
    if type(m) is nn.Sequential or _supported_base(m, (nn.Sequential,)):
        return [s for k, child in m.named_children() for s in _parse(child, join(k))]
    if type(m) is Residual:
        body = _parse(m.body, join("body"))
        short = None if m.shortcut is None else _parse(m.shortcut, join("shortcut"))
        return [ResidualStep(path, m, body, short)]
    base = _supported_base(m, _AFFINE)
    if base is not None:
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            if m.training:
                raise TrainingModeError(
                    f"{_describe(path, m)} is in training mode and normalises with batch "
                    "statistics; call net.eval() so that it is a fixed affine map")
            if m.running_mean is None:
                raise UnsupportedLayerError(
                    f"{_describe(path, m)} has track_running_stats=False, so it normalises with "
                    f"batch statistics even in eval mode and is not a fixed affine map; {_WHY}")
        if isinstance(m, (nn.Dropout, nn.Dropout1d, nn.Dropout2d)) and m.training and m.p > 0:
            raise TrainingModeError(
                f"{_describe(path, m)} is in training mode (random masks); call net.eval()")
        if isinstance(m, nn.Flatten) and m.start_dim == 0:
            raise UnsupportedLayerError(f"{_describe(path, m)} flattens the batch axis")
        return [AffineStep(path, m)]
    if _supported_base(m, _ACTIVATIONS) is not None:
        return [_activation(path, m)]
    if _supported_base(m, (nn.MaxPool1d, nn.MaxPool2d)) is not None:
        if m.return_indices:
            raise UnsupportedLayerError(f"{_describe(path, m)} returns indices; set "
                                        "return_indices=False")
        return [MaxPoolStep(path, m)]
    hint = ("; write residual blocks with cellgeom.nn.Residual and plain blocks as "
            "nn.Sequential" if not isinstance(m, _ACTIVATIONS) else "")
    raise UnsupportedLayerError(
        f"{_describe(path, m)} is not supported: {_WHY}. Supported: Linear, Conv1d/2d, "
        "BatchNorm1d/2d (eval), AvgPool, MaxPool, Flatten, Dropout, Identity, ReLU, LeakyReLU, "
        f"PReLU, Hardtanh/ReLU6, Softshrink, Hardshrink, Threshold, nn.Sequential, Residual{hint}")


def _walk(steps, out):
    for st in steps:
        if isinstance(st, ResidualStep):
            _walk(st.body, out)
            _walk(st.shortcut or [], out)
        elif isinstance(st, (ActivationStep, MaxPoolStep)):
            st.layer_index = len(out)
            out.append(st)
    return out


def _fits_any(X) -> bool:
    return True


def _fits_last(X, f: int) -> bool:
    return X.shape[-1] == f


def _fits_numel(X, f: int) -> bool:
    return math.prod(X.shape[1:]) == f


def _fits_channels(X, c: int, nd: tuple) -> bool:
    return X.dim() in nd and X.shape[1] == c


def _input_rule(steps):
    """What the first shape-fixing layer accepts: (test on the input tensor, description).

    The test is a ``functools.partial`` of a module-level function, so a network (and a
    partition that holds one) pickles.
    """
    flatten = False
    for st in steps:
        m = st.module
        if isinstance(st, ResidualStep):
            return _input_rule(st.body)
        if isinstance(m, nn.Flatten):
            flatten = True
        elif isinstance(m, nn.Linear):
            f = m.in_features
            if flatten:
                return partial(_fits_numel, f=f), f"(batch, ...) with {f} values"
            return partial(_fits_last, f=f), f"(batch, ..., {f})"
        elif isinstance(m, nn.BatchNorm1d):
            c = m.num_features
            return partial(_fits_channels, c=c, nd=(2, 3)), \
                f"(batch, {c}) or (batch, {c}, length)"
        elif isinstance(m, (nn.Conv1d, nn.Conv2d, nn.BatchNorm2d)):
            c = getattr(m, "in_channels", None) or m.num_features
            nd, rest = (3, "length") if isinstance(m, nn.Conv1d) else (4, "height, width")
            return partial(_fits_channels, c=c, nd=(nd,)), f"(batch, {c}, {rest})"
        elif not isinstance(st, ActivationStep):
            break
    return _fits_any, "(batch, ...)"


def check_input(X, rule, dtype: torch.dtype, device, what: str = "X") -> torch.Tensor:
    """``X`` as a tensor of ``dtype`` on ``device``, checked against an input ``rule``.

    ``rule`` is ``(fits, description)`` as made by the network parser (kept by
    :class:`PiecewiseLinearNetwork`); callers that cache it (the geometric regularizer)
    check a batch without re-walking the network.
    """
    X = torch.as_tensor(X, dtype=dtype, device=device)
    fits, desc = rule
    if X.dim() < 2:
        raise ValueError(f"{what} has shape {tuple(X.shape)}, but the network expects "
                         f"{desc}; pass x[None] for a single point")
    if X.shape[0] == 0:
        raise ValueError(f"{what} is an empty batch (shape {tuple(X.shape)})")
    if not fits(X):
        raise ValueError(f"{what} has shape {tuple(X.shape)}, but the network expects {desc}")
    return X


class PiecewiseLinearNetwork:
    """A validated piecewise-linear network, ready for patterns, pullbacks and slices.

    Attributes
    ----------
    module : torch.nn.Module
        The network (a ``dtype`` copy when a dtype was asked for); never modified.
    steps : list of Step
    layers : list of ActivationLayer
        The activation and max-pool steps in forward (depth-first) order; their
        patterns make up the cell key.
    layer_steps : list of ActivationStep or MaxPoolStep
        The steps behind ``layers``.
    dtype : torch.dtype
    """

    def __init__(self, module: nn.Module, steps: list[Step], dtype: torch.dtype):
        self.module, self.steps, self.dtype = module, steps, dtype
        self.layer_steps = _walk(steps, [])
        self.layers = [ActivationLayer(s.name or type(s.module).__name__,
                                       getattr(s, "kind", "maxpool"), s.n_pieces)
                       for s in self.layer_steps]
        self._input_rule = _input_rule(steps)
        p = next(iter(module.parameters()), None)
        self.device = p.device if p is not None else torch.device("cpu")

    def check_input(self, X, what: str = "X") -> torch.Tensor:
        """``X`` as a tensor of the network's dtype, shape (batch, *input_shape).

        Raises ValueError naming the expected and the actual shape, or an empty batch.
        """
        return check_input(X, self._input_rule, self.dtype, self.device, what)

    def probe(self, X: torch.Tensor):
        """Forward one point; a shape mismatch inside the network becomes a ValueError."""
        try:
            return self.propagate(X[:1])
        except RuntimeError as err:
            raise ValueError(f"input of shape {tuple(X.shape)} does not fit the network: "
                             f"{err}") from err

    # ------------------------------------------------------------------ propagation
    @torch.no_grad()
    def propagate(self, value, const=None, tan=None, imposed: Sequence | None = None,
                  stop_at: int | None = None):
        """Push a batch through the network.

        Parameters
        ----------
        value : tensor (B, *input_shape) or None
            Points; their forward values decide every pattern that is not imposed.
        const, tan : tensors (B, *input_shape) and (B, m, *input_shape), optional
            An affine bundle ``const + sum_i w_i tan[:, i]`` carried along: the
            constant through each full affine step, the tangents through its
            linear part, both multiplied by the active slopes.
        imposed : list of pattern tensors (B, *unit_shape), optional
            Patterns to use for the first ``len(imposed)`` activation layers.
        stop_at : int, optional
            Stop after recording the pre-activation of activation layer ``stop_at``.

        Returns
        -------
        records : list of dict
            Per activation layer: ``name``, ``pattern``, ``slope`` (the elementwise
            ``D``; None when only values are pushed), ``value``, ``const``, ``tan`` of
            the layer's input (pre-activation),
            and for max-pool ``flat`` (indices of the maxima) and ``out_shape``.
        final : dict with ``value``, ``const``, ``tan`` of the output.
        """
        state = {"value": value, "const": const, "tan": tan}
        records: list = []
        try:
            state = self._run(self.steps, state, records, imposed or [], stop_at)
        except _Stop:
            state = None
        return records, state

    def _run(self, steps, state, records, imposed, stop_at):
        for st in steps:
            if isinstance(st, ResidualStep):
                b = self._run(st.body, dict(state), records, imposed, stop_at)
                s = state if st.shortcut is None else self._run(st.shortcut, dict(state),
                                                                  records, imposed, stop_at)
                state = {k: None if b[k] is None else b[k] + s[k] for k in b}
            elif isinstance(st, AffineStep):
                state = self._affine(st, state)
            else:
                state = self._nonlinear(st, state, records, imposed, stop_at)
        return state

    @staticmethod
    def _affine(st: AffineStep, state):
        out = {k: None if state[k] is None else st.full(state[k]) for k in ("value", "const")}
        tan = state["tan"]
        if tan is not None:
            b, m = tan.shape[:2]
            t = st.linear(tan.reshape((b * m,) + tuple(tan.shape[2:])))
            tan = t.reshape((b, m) + tuple(t.shape[1:]))
        out["tan"] = tan
        return out

    def _nonlinear(self, st, state, records, imposed, stop_at):
        i = st.layer_index
        v, c, t = state["value"], state["const"], state["tan"]
        rec = {"name": self.layers[i].name, "value": v, "const": c, "tan": t}
        if v is None and i >= len(imposed):  # nothing decides this layer's pattern
            if stop_at != i:
                raise ValueError(f"no pattern for layer {i}: pass points or impose it")
            records.append(rec)
            raise _Stop
        if isinstance(st, MaxPoolStep):
            ref = v if v is not None else c
            in_sp = tuple(ref.shape[2:])
            if i < len(imposed):
                pattern = torch.as_tensor(imposed[i], device=self.device).long()
                flat, pooled = st.to_flat(pattern, in_sp), None
            else:
                pooled, flat = st.select(v)
                pattern = st.to_position(flat, in_sp)
            rec.update(pattern=pattern, flat=flat, out_shape=tuple(pattern.shape[1:]))
            records.append(rec)
            if stop_at == i:
                raise _Stop
            new = {"value": pooled if pooled is not None or v is None else st.gather(v, flat),
                   "const": None if c is None else st.gather(c, flat), "tan": None}
            if t is not None:
                b, m = t.shape[:2]
                new["tan"] = st.gather(t.reshape((b * m,) + tuple(t.shape[2:])), flat).reshape(
                    (b, m) + tuple(pattern.shape[1:]))
            return new
        given = i < len(imposed)
        pattern = torch.as_tensor(imposed[i], device=self.device).long() if given \
            else st.pieces(v)
        rec["pattern"] = pattern
        slope = offset = None
        if c is not None or t is not None or given:  # the affine pieces are needed
            slope, offset = st.slope_offset(pattern, v if v is not None else c)
        rec["slope"] = slope
        records.append(rec)
        if stop_at == i:
            raise _Stop
        value = None if v is None else (slope * v + offset if given else st.apply(v))
        return {"value": value,
                "const": None if c is None else slope * c + offset,
                "tan": None if t is None else slope.unsqueeze(1) * t}


class _Stop(Exception):
    pass


def as_network(net, dtype: torch.dtype | None = torch.float64) -> PiecewiseLinearNetwork:
    """Validate ``net`` and wrap it as a :class:`PiecewiseLinearNetwork`.

    Parameters
    ----------
    net : torch.nn.Module or PiecewiseLinearNetwork
        Built from the supported layers (module docstring). Returned unchanged if
        already wrapped and of the asked dtype.
    dtype : torch.dtype or None, default torch.float64
        Compute in this dtype on a copy of the network (float32 weights are exact in
        float64, so the copy is the same function computed more accurately). ``None``
        keeps the network's own dtype.

    Raises
    ------
    UnsupportedLayerError
        A layer is not piecewise affine (names the layer, e.g. ``layer '3' (GELU)``).
    TrainingModeError
        BatchNorm or Dropout in training mode.
    NonFiniteWeightError
        A parameter or buffer holds NaN or inf (names it).
    """
    if isinstance(net, PiecewiseLinearNetwork):
        if dtype is None or net.dtype == dtype:
            return net
        net = net.module
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    steps = _parse(net, "")
    for kind, items in (("parameter", net.named_parameters()), ("buffer", net.named_buffers())):
        for pname, p in items:
            if p.is_floating_point() and not bool(torch.isfinite(p).all()):
                what = "NaN" if bool(torch.isnan(p).any()) else "inf"
                raise NonFiniteWeightError(f"{kind} '{pname}' of the network contains {what}")
    own = next((p.dtype for p in net.parameters()), dtype or torch.float32)
    if dtype is not None and own != dtype:
        net = copy.deepcopy(net).to(dtype)
        steps = _parse(net, "")
    return PiecewiseLinearNetwork(net, steps, dtype or own)
