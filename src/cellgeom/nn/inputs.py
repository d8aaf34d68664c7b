"""What input a network accepts: a check of the batch's shape before anything runs."""
from __future__ import annotations

import math
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .steps import ActivationStep, AffineStep

__all__ = ["check_input", "first_layer"]


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
        elif not isinstance(st, (ActivationStep, AffineStep)):
            break
    return _fits_any, "(batch, ...)"


def check_input(X, rule, dtype: torch.dtype, device, what: str = "X") -> torch.Tensor:
    """``X`` as a tensor of ``dtype`` on ``device``, checked against an input ``rule``.

    ``rule`` is ``(fits, description)`` as made by the network parser (kept by
    :class:`PiecewiseLinearNetwork`); callers that cache it (the geometric regularizer)
    check a batch without re-walking the network.
    """
    if isinstance(X, np.ndarray) and not X.flags.writeable:
        # torch would share the read-only buffer (and warn "The given NumPy array is not
        # writable"): a copy, only then
        X = X.copy()
    X = torch.as_tensor(X, dtype=dtype, device=device)
    fits, desc = rule
    if X.dim() < 2:
        raise ValueError(f"{what} has shape {tuple(X.shape)}, but the network expects "
                         f"{desc}; pass x[None] for a single point")
    if X.shape[0] == 0:
        raise ValueError(f"{what} is an empty batch (shape {tuple(X.shape)})")
    if not fits(X):
        raise ValueError(f"{what} has shape {tuple(X.shape)}, but the network expects {desc}")
    # NaN compares false with every breakpoint: it would get a pattern, and a cell, of its own
    if not bool(torch.isfinite(X).all()):
        raise ValueError(f"{what} contains NaN or infinite values")
    return X


def first_layer(network) -> tuple[int | None, str]:
    """``(in_features, kind)`` of the first op on the input past flattening and dropout;
    ``in_features`` None unless it is a linear layer, nn.Linear or ``F.linear`` (how
    torch.export writes one: its modules are plain containers)."""
    aten = torch.ops.aten
    passing = (torch.flatten, aten.flatten.using_ints, aten.dropout.default, F.dropout)
    for op in network.ops:
        if op.kind in ("input", "const", "guard", "add") or op.info.get("shape"):
            continue  # adds (``x + c``) were never steps: they do not fix the shape
        m, t = (op.step.module if op.step is not None else None), op.node.target
        if isinstance(m, (nn.Flatten, nn.Identity, nn.Dropout)) or t in passing:
            continue
        if isinstance(m, nn.Linear):
            return int(m.in_features), "nn.Linear"
        w = op.node.args[1] if len(op.node.args) > 1 else None
        if t in (F.linear, aten.linear.default) and getattr(w, "op", None) == "get_attr":
            return int(network._call(w, (), {}).shape[-1]), "F.linear"
        return None, type(m).__name__ if m is not None else "a function"
    return None, "a function"
