"""The layer plan of a ReLU / leaky-ReLU MLP for the batch geometry hot path.

:func:`_get_plan` validates a network once (it traces it with
:func:`~cellgeom.nn.layers.as_network`) and keeps, per module, what
:mod:`cellgeom.nn.batch_geometry` needs: the Linear modules between the activations, the
activations and the input rule. Parameter *values* are read at every call, so the plan
holds while the network trains.

A network that torch.fx cannot trace (torch.export, e.g. a forward with a shape
``assert``) or whose maxima over an axis need their sizes is traced on its first input:
here on the batch the plan is asked for, else on zeros shaped as its first nn.Linear's
input. On the torch.export graph, Linear layers are ``aten.linear`` calls; each is mapped
back to the user's nn.Linear whose parameters it reads (by identity), so that gradients
reach them.
"""
from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import fx, nn

from .layers import PiecewiseLinearNetwork, UnsupportedLayerError, as_network
from .op_rules import describe
from .sklearn_mlp import is_sklearn_mlp, mlp_as_torch
from .steps import AffineStep

_OK_AFFINE = (nn.Linear, nn.Flatten, nn.Identity, nn.Dropout)
_DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout)
_A = torch.ops.aten
_LINEAR_FUNCS = (F.linear, _A.linear.default)
# functions that leave a flat (batch, features) row as it is (eval dropout, copies)
_PASS_FUNCS = (_A.dropout.default, F.dropout, _A.clone.default, _A.contiguous.default,
               _A.alias.default, _A.detach.default)
_FLATTEN_FUNCS = (torch.flatten, _A.flatten.using_ints)
_HANDLES = ("the geometric regularizer (and GeometryTracker, batch_cell_geometry) handles "
            "MLPs of Linear, Flatten, Identity, Dropout, ReLU and LeakyReLU layers")


@dataclass(eq=False)
class _Plan:
    """What the hot path needs of a network, validated once per structure.

    ``hidden[l]`` is ``(Linear layers before activation l, activation module)``; ``head``
    the Linear layers after the last activation. Only modules and the input rule are kept
    (never the network itself, so the weak-keyed cache can drop it); parameter *values*
    are read at every call.
    """

    hidden: list
    head: tuple
    first: nn.Linear
    rule: tuple
    signature: tuple
    dtype: torch.dtype
    device: torch.device
    dropout_masks: bool = False  # a Dropout in training mode: net(x) is not the plan's map


_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _signature(m: nn.Module, out: list) -> list:
    """Identity and train/eval flag of every submodule (and Dropout's ``p``), depth first."""
    out.append(id(m))
    out.append(m.training)
    if isinstance(m, nn.Dropout):
        out.append(m.p)
    for c in m._modules.values():
        if c is not None:
            _signature(c, out)
    return out


@contextlib.contextmanager
def _dropout_as_eval(net: nn.Module):
    """Dropout layers in training mode switched to eval while the network is traced.

    A regularizer is called inside a training loop, where ``net.train()`` turns Dropout's
    random masks on; the plan skips Dropout (the identity of eval mode) whatever its mode,
    so the penalty measures the cells of the network as it will be evaluated. BatchNorm in
    training mode still raises (it is no layer of the plan, and its batch statistics make
    the map no fixed function)."""
    switched = [m for m in net.modules() if isinstance(m, _DROPOUT) and m.training]
    for m in switched:
        m.eval()
    try:
        yield
    finally:
        for m in switched:
            m.train()


def _fits_shape(X, shape: tuple) -> bool:
    return tuple(X.shape[1:]) == shape


def _example(network: PiecewiseLinearNetwork, net: nn.Module, x) -> torch.Tensor:
    """One point to trace ``network`` on: the first of the batch ``x``, else zeros shaped as
    the input of the module's first nn.Linear (a network traced on its first input)."""
    if x is not None:
        return network.check_input(x, "x_batch")[:1]
    lin = next((m for m in net.modules() if isinstance(m, nn.Linear)), None)
    if lin is None:
        raise UnsupportedLayerError("the network has no Linear layer")
    return torch.zeros((1, lin.in_features), dtype=network.dtype, device=network.device)


def _attr(gm: nn.Module, node) -> object:
    """The tensor a ``get_attr`` node reads, else None."""
    if not (isinstance(node, fx.Node) and node.op == "get_attr"):
        return None
    obj = gm
    for part in str(node.target).split("."):
        obj = getattr(obj, part, None)
    return obj


def _linear_module(node: fx.Node, gm: nn.Module, net: nn.Module) -> nn.Linear | None:
    """The user's nn.Linear whose weight and bias (the same tensors) an ``F.linear`` /
    ``aten.linear`` node reads, else None."""
    w = node.args[1] if len(node.args) > 1 else node.kwargs.get("weight")
    b = node.args[2] if len(node.args) > 2 else node.kwargs.get("bias")
    W, B = _attr(gm, w), (None if b is None else _attr(gm, b))
    if W is None or (b is not None and B is None):
        return None
    return next((m for m in net.modules() if isinstance(m, nn.Linear) and m.weight is W
                 and m.bias is B), None)


def _is_full_flatten(node: fx.Node) -> bool:
    """``flatten(x, 1)`` / ``flatten(x, 1, -1)``: each point to one row."""
    start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
    end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
    return start == 1 and end == -1


def _refusal(op, gm, why: str) -> UnsupportedLayerError:
    return UnsupportedLayerError(f"{describe(op.node, gm)} is not supported: {why}; {_HANDLES}")


def _layers(network: PiecewiseLinearNetwork, net: nn.Module) -> tuple[list, list]:
    """``(hidden, head)`` of a chain network, or UnsupportedLayerError naming the first op
    the plan cannot run."""
    gm = network.graph_module
    for op in network.ops:  # maxima first: they also break the chain, which says less
        if op.kind in ("select", "maxpool"):
            why = ("a maximum / minimum of two tensors (torch.maximum, or a maxout: "
                   "torch.amax / max over an axis, which cellgeom rewrites as a chain of "
                   "maxima)" if op.kind == "select" else "max pooling")
            raise _refusal(op, gm, f"{why} is no ReLU / LeakyReLU unit, and the plan's "
                                   "recursion A_(l+1) = W D A_l holds for those only (use "
                                   "cellgeom.nn.pullback or local_complexity for this "
                                   "network)")
    if not network.chain:
        raise UnsupportedLayerError(
            "the geometric regularizer handles MLPs whose layers form a chain (Linear, "
            "Flatten, Identity, Dropout, ReLU and LeakyReLU, one after the other); this "
            "network has branches or residual adds")
    hidden, lins = [], []
    for op in network.ops:
        if op.kind in ("input", "const", "guard", "output") or op.info.get("shape"):
            continue
        st, t = op.step, op.node.target
        m = st.module if st is not None else None
        if op.kind == "act":
            if st.kind not in ("relu", "leaky_relu"):
                raise _refusal(op, gm, f"its activation ({st.kind}) is not ReLU / LeakyReLU")
            hidden.append((tuple(lins), m))
            lins = []
        elif isinstance(st, AffineStep) and isinstance(m, _OK_AFFINE):
            if isinstance(m, nn.Linear):
                lins.append(m)
        elif op.kind == "affine" and t in _LINEAR_FUNCS:  # torch.export's nn.Linear
            lin = _linear_module(op.node, gm, net)
            if lin is None:
                raise _refusal(op, gm, "its weight and bias are not those of an nn.Linear "
                                       "of the network")
            lins.append(lin)
        elif op.kind != "same" or not (t in _PASS_FUNCS or (t in _FLATTEN_FUNCS
                                                             and _is_full_flatten(op.node))):
            raise _refusal(op, gm, "it is none of these layers")
    return hidden, lins


def _build_plan(net: nn.Module, signature: tuple, x=None) -> _Plan:
    with _dropout_as_eval(net):  # the geometry of the network as evaluated (see above)
        network = as_network(net, None)  # raises for non-piecewise-linear layers
        lazy = network.ops is None
        if lazy:  # traced on a first input (torch.export, sized maxima): this batch's
            ex = _example(network, net, x)
            network.probe(ex)
    hidden, head = _layers(network, net)
    first = next((lins[0] for lins, _ in hidden if lins), head[0] if head else None)
    if first is None:
        raise UnsupportedLayerError("the network has no Linear layer")
    if lazy:  # the graph holds for the traced shape only (torch.export specialises it)
        shape = tuple(ex.shape[1:])
        rule = (partial(_fits_shape, shape=shape), f"(batch, {', '.join(map(str, shape))})")
    else:
        rule = network._input_rule
    masks = any(isinstance(m, _DROPOUT) and m.training and m.p > 0 for m in net.modules())
    return _Plan(hidden, tuple(head), first, rule, signature, first.weight.dtype,
                 first.weight.device, masks)


def _get_plan(net, x=None) -> _Plan:
    """The network's plan: cached per module, rebuilt (re-validated) when its module tree,
    a train/eval flag, or the dtype / device of its first Linear layer changes. ``x``: the
    batch it is asked for, on which a network not yet traced is traced."""
    if isinstance(net, PiecewiseLinearNetwork):
        net = net.module
    if is_sklearn_mlp(net):  # its torch twin, built per call (a fitted model, not trained)
        net = mlp_as_torch(net)
    if not isinstance(net, nn.Module):
        raise TypeError("net must be a torch.nn.Module or a fitted scikit-learn MLPClassifier "
                        f"/ MLPRegressor, got {type(net).__name__}")
    sig = tuple(_signature(net, []))
    plan = _PLANS.get(net)
    if plan is None or plan.signature != sig or plan.first.weight.dtype != plan.dtype or \
            plan.first.weight.device != plan.device:
        plan = _build_plan(net, sig, x)
        _PLANS[net] = plan
    return plan
