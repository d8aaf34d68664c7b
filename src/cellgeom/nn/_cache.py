"""The cache behind :func:`cellgeom.nn.as_network`: one validated network per user module
and dtype, kept while the module's structure, modes and weight values are unchanged."""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

#: validated networks per (user module, dtype), least recently used first, with a weak
#: reference checking the module's identity and a snapshot of the weights they were built
#: from. Bounded rather than weak-keyed: a network built without a dtype copy refers to
#: the user's module, which would keep a weak key alive for ever.
_NETWORKS: OrderedDict = OrderedDict()
_CACHE_SIZE = 8

_SCALARS = (bool, int, float, str, type(None))


def _state_signature(net: nn.Module) -> tuple:
    """What a cached network depends on besides the weights' values: every submodule (its
    identity, class, train/eval flag, scalar settings such as ``negative_slope`` or
    ``stride``, an instance-level ``forward`` and its hooks), and every parameter and buffer
    (identity, version counter, storage address, shape, strides, dtype, device). The last
    item is the tensors themselves, whose values :func:`_same_values` compares."""
    mods = []
    for m in net.modules():
        settings = tuple((k, v) for k, v in vars(m).items() if not k.startswith("_")
                         and (isinstance(v, _SCALARS) or (isinstance(v, tuple) and all(
                             isinstance(x, _SCALARS) for x in v))))
        hooks = tuple(id(h) for d in (m._forward_hooks, m._forward_pre_hooks) for h in d.values())
        mods.append((id(m), type(m), m.training, settings, id(vars(m).get("forward")), hooks))
    tensors = [t for t in (*net.parameters(), *net.buffers()) if t is not None]
    meta = tuple((id(t), t._version, t.data_ptr(), tuple(t.shape), t.stride(), t.dtype, t.device)
                 for t in tensors)
    return tuple(mods), meta, tuple(tensors)


def _snapshot(tensors: tuple) -> tuple:
    """Copies of the weights a network is built from. In-place changes through ``.data``
    (``p.data.mul_(2)``) bump no version counter, so only the values themselves tell."""
    with torch.no_grad():
        return tuple(t.detach().clone() for t in tensors)


def _same_values(snapshot: tuple, tensors: tuple) -> bool:
    """Whether every tensor still holds the snapshot's values, bit for bit (NaN never
    compares equal, so a NaN weight always rebuilds and is refused there)."""
    with torch.no_grad():
        return all(torch.equal(a, b.detach()) for a, b in zip(snapshot, tensors))
