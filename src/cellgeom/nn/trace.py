"""Trace a PyTorch model, as its user wrote it, into the piecewise-linear step graph.

:func:`trace_network` runs ``torch.fx`` symbolic tracing (``torch.export`` when fx cannot,
e.g. for control flow on shapes) and classifies every node of the graph:

* ``input`` / ``const`` -- the input, and anything that does not depend on it
  (parameters, buffers, numbers);
* ``same`` -- a node that is linear in its one input-dependent tensor (reshapes,
  ``view`` / ``flatten`` / ``permute`` / indexing off the batch axis, concatenation,
  average pooling, upsampling in every mode, pixel shuffles, multiplication or division by
  a constant, ``x @ W``, ``torch.einsum`` with one input-dependent operand) or a shape
  computation: it is evaluated as written on every stream;
* ``affine`` -- linear plus a constant term (``F.linear`` / ``F.conv*`` /
  ``F.conv_transpose*`` and ConvTranspose modules with a bias,
  eval ``F.batch_norm``, ``F.pad`` with a value, Linear / Conv / BatchNorm modules): the
  tangents take the map without its constant;
* ``add`` -- ``x + y``, ``x - y`` (residual adds, biases): constants leave the tangents;
* ``act`` / ``maxpool`` / ``select`` -- the nonlinear units whose patterns make the cell key:
  elementwise piecewise-linear activations (ReLU, leaky ReLU, Hardtanh, clamp, abs, ...),
  max pooling, and ``torch.maximum`` / ``torch.minimum`` of two tensors (a unit with
  pre-activation ``a - b``); a maximum over axes (``torch.amax``, ``x.max(dim).values``)
  is first rewritten as a chain of ``torch.maximum`` (:mod:`cellgeom.nn.reductions`).

Anything else (smooth functions, products of two input-dependent tensors, comparisons,
operations that mix the batch) is refused with :class:`UnsupportedLayerError` naming the
graph node, the module it sits in and the user's source line.
"""
from __future__ import annotations

import contextlib
import copy
import operator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import fx, nn

from .op_rules import (
    _A,
    _ADD,
    _PRODUCTS,
    _SAME_FUNCS,
    _SAME_METHODS,
    _SHAPE_ATTRS,
    ACTIVATION_MODULES,
    AFFINE_MODULES,
    EINSUMS,
    MAXPOOL_MODULES,
    RESAMPLE_MODULES,
    SUPPORTED,
    TRANSPOSED_CONV_MODULES,
    WHY,
    TrainingModeError,
    UnsupportedLayerError,
    _activation_module,
    _arg,
    _check_module,
    _clamp_step,
    _linear_map,
    _pool_module,
    activation_step,
    describe,
    refuse,
    smooth_head_error,
    supported_base,
    transposed_conv_linear,
)
from .reductions import ShapeProbeError, check_axes, lower_reductions
from .steps import ActivationStep, AffineStep, MaxPoolStep, SelectStep, Step

__all__ = ["UnsupportedLayerError", "TrainingModeError", "Op", "trace_network", "trace_graph",
           "TraceError", "fits_trace"]


@dataclass(eq=False)
class Op:
    """One node of the step graph: its fx node, kind (module docstring) and step."""

    node: fx.Node
    kind: str
    step: Step | None = None
    dep: bool = True
    linear: object = None  # affine ops: the map without constant, on the node's args
    info: dict = field(default_factory=dict)


class _Tracer(fx.Tracer):
    """Supported layers (and every other ``torch.nn`` module, to be refused by name) are
    leaves; containers and user modules are traced through."""

    def __init__(self, stack_traces: bool = False):
        super().__init__()
        self.record_stack_traces = stack_traces  # costly: only to explain a refusal

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if supported_base(m, AFFINE_MODULES + ACTIVATION_MODULES + MAXPOOL_MODULES
                          + TRANSPOSED_CONV_MODULES + RESAMPLE_MODULES):
            return True
        if isinstance(m, nn.Sequential) and type(m).forward is nn.Sequential.forward:
            return False
        return m.__module__.startswith("torch.nn") or m.__module__.startswith("torch.ao.nn")


def trace_graph(net: nn.Module, example: torch.Tensor | None = None,
                stack_traces: bool = False, source_dtype: torch.dtype | None = None
                ) -> tuple[nn.Module, fx.Graph]:
    """``(root, graph)``: the fx graph of ``net`` and the module its nodes refer to; with
    ``torch.export`` (needs ``example``) when fx cannot.

    ``source_dtype``: the dtype of the user's network when ``net`` is a copy converted to
    ``example``'s dtype. If torch.export cannot run the copy (a float32 constant tensor in
    forward meets float64 weights in ``x @ P``), it exports the network converted back
    (exact: the copy's values came from that dtype) and converts the program's module;
    its traced constants are cast when the network runs (:class:`PiecewiseLinearNetwork`).
    """
    if isinstance(net, fx.GraphModule):
        return net, net.graph
    try:
        return net, _Tracer(stack_traces).trace(net)
    except Exception as err:  # fx cannot trace data-dependent Python (control flow...)
        if example is None:
            raise _NeedsExample(err) from err
        # a batch of two and a dynamic batch axis, so nothing bakes the batch size in
        two = example[:1].expand((2,) + tuple(example.shape[1:])).clone()
        try:
            root = _export(net, two)
        except Exception as err2:
            root = None
            if source_dtype is not None and source_dtype != two.dtype:
                with contextlib.suppress(Exception):
                    twin = copy.deepcopy(net).to(source_dtype)
                    root = _export(twin, two.to(source_dtype)).to(two.dtype)
            if root is None:
                raise TraceError(
                    f"the network could be traced neither by torch.fx ({err}) nor by "
                    f"torch.export ({type(err2).__name__}: {err2}); {WHY}") from err2
        return root, root.graph


def _export(net: nn.Module, two: torch.Tensor) -> nn.Module:
    program = torch.export.export(net, (two,), strict=False, dynamic_shapes=(
        {0: torch.export.Dim("batch")},))
    return program.module()


class TraceError(UnsupportedLayerError):
    """Neither torch.fx nor torch.export could trace the network (e.g. torch.export ran it
    on an example input of the wrong shape)."""


class _NeedsExample(Exception):
    """fx failed; torch.export needs an example input (given on first use)."""



def _module_op(node: fx.Node, gm) -> Op:
    m = gm.get_submodule(node.target)
    if supported_base(m, AFFINE_MODULES):
        _check_module(node, m, gm)
        return Op(node, "affine", AffineStep(node.target, m))
    if supported_base(m, ACTIVATION_MODULES):
        return Op(node, "act", activation_step(node.target, m))
    if supported_base(m, MAXPOOL_MODULES):
        _check_module(node, m, gm)
        return Op(node, "maxpool", MaxPoolStep(node.target, m))
    if supported_base(m, TRANSPOSED_CONV_MODULES):  # affine: the map without its bias
        return Op(node, "affine", linear=transposed_conv_linear(m))
    if supported_base(m, RESAMPLE_MODULES):  # linear, no constant
        return Op(node, "same")
    err = smooth_head_error(node, gm)
    if err is not None:
        raise err
    raise UnsupportedLayerError(
        f"{describe(node, gm)} is not supported: {WHY}. Supported: {SUPPORTED}; write residual "
        "blocks as forward code (x + f(x)) or with cellgeom.nn.Residual")


# by identity: an aten overload's __name__ is "maximum.default", not "maximum"
_MAXIMA = (torch.maximum, torch.max, "maximum", "max", _A.maximum.default, _A.max.other,
           _A.max.default)
_MINIMA = (torch.minimum, torch.min, "minimum", "min", _A.minimum.default, _A.min.other,
           _A.min.default)


def _function_op(node: fx.Node, gm) -> Op:
    t = node.target
    if node.op == "call_method" and t in ("relu", "relu_", "clamp", "clamp_", "clip", "abs",
                                          "maximum", "minimum", "max", "min"):
        pass  # handled below with the functions
    elif node.op == "call_method" and t in _SAME_METHODS:
        return Op(node, "same")
    if t in _ADD:
        return Op(node, "add", info={"sign": _ADD[t]})
    if t is check_axes:  # the guard of a rewritten maximum over an axis (reductions.py)
        return Op(node, "same")
    act = _activation_module(node, gm)
    if act is not None:
        return Op(node, "act", activation_step(node.name, act))
    if t in (torch.clamp, torch.clip, "clamp", "clamp_", "clip", _A.clamp.default,
             _A.clamp_.default, _A.clip.default, _A.clip_.default, _A.clamp_min.default,
             _A.clamp_max.default):
        if t is _A.clamp_min.default:
            step = ActivationStep(node.name, None, (float(node.args[1]),), [0.0, 1.0],
                                  (float(node.args[1]), 0.0), "clamp_min")
        elif t is _A.clamp_max.default:
            step = ActivationStep(node.name, None, (float(node.args[1]),), [1.0, 0.0],
                                  (0.0, float(node.args[1])), "clamp_max")
        else:
            step = _clamp_step(node)
        if step is None:
            raise refuse(node, gm, "clamp needs constant number bounds")
        return Op(node, "act", step)
    if t in (torch.abs, "abs", _A.abs.default):
        return Op(node, "act", ActivationStep(node.name, None, (0.0,), [-1.0, 1.0], (0.0, 0.0),
                                              "abs"))
    if t in (F.max_pool1d, F.max_pool2d, _A.max_pool2d.default, _A.max_pool1d.default):
        if _arg(node, "return_indices", 6, False):
            raise refuse(node, gm, "max pooling that returns indices")
        pool = _pool_module(node)
        return Op(node, "maxpool", MaxPoolStep(node.name, pool))
    if t in _MAXIMA or t in _MINIMA:
        if len(node.args) != 2 or node.kwargs or not isinstance(node.args[1], fx.Node):
            raise refuse(node, gm, "a maximum / minimum over all entries mixes the points "
                                   "of a batch; reduce over the axes of one point "
                                   "(torch.amax(x, dim=1), x.max(dim=1).values) or take the "
                                   "elementwise torch.maximum(a, b) of two tensors")
        kind = "max" if t in _MAXIMA else "min"
        return Op(node, "select", SelectStep(node.name, None, kind))
    lin = _linear_map(node, gm)
    if lin == "same":
        return Op(node, "same")
    if lin is not None:
        return Op(node, "affine", linear=lin)
    if t in _SAME_FUNCS:
        return Op(node, "same")
    err = smooth_head_error(node, gm)
    if err is not None:
        raise err
    raise refuse(node, gm, "it is not piecewise affine, or not known to cellgeom")


def trace_network(net: nn.Module, example: torch.Tensor | None = None,
                  source_dtype: torch.dtype | None = None) -> tuple[nn.Module, list[Op]]:
    """The root module of the traced graph and its classified ops, in topological order
    (``source_dtype``: see :func:`trace_graph`).

    Raises
    ------
    UnsupportedLayerError, TrainingModeError
        Naming the graph node (and module, source line) that is not piecewise affine.
    """
    root, graph = trace_graph(net, example, source_dtype=source_dtype)
    try:
        return root, _lower_and_classify(root, graph, example, source_dtype)
    except (UnsupportedLayerError, TrainingModeError):
        if isinstance(net, fx.GraphModule) or root is not net:
            raise
    root, graph = trace_graph(net, example, stack_traces=True)  # again, to name source lines
    return root, _lower_and_classify(root, graph, example, source_dtype)


def _lower_and_classify(root, graph, example, source_dtype) -> list[Op]:
    """Maxima over axes as chains of maxima (:mod:`cellgeom.nn.reductions`), then the
    classified ops. When the chains need the axis sizes of an example input, the graph is
    checked first with placeholder sizes (its refusals come before anything runs), then
    run on ``example`` (without one, the network is traced on its first input)."""
    lowered, pending = lower_reductions(root, graph)
    ops = _classify(root, lowered)
    if not pending:
        return ops
    if example is None:
        raise _NeedsExample(None)
    shape = tuple(example.shape[1:])
    try:
        lowered, _ = lower_reductions(root, graph, example, source_dtype)
    except ShapeProbeError as err:
        raise TraceError(f"the network fails on an example input of shape {shape}, run to "
                         f"size the axes of its maximum / minimum over an axis ({err})"
                         ) from err
    ops = _classify(root, lowered)
    next(op for op in ops if op.kind == "input").info["sized_on"] = shape  # see fits_trace
    return ops


def fits_trace(ops: list[Op] | None, X: torch.Tensor) -> bool:
    """Whether the traced graph ``ops`` holds for inputs shaped like ``X``.

    False when there is no graph yet (``ops`` None: a network traced on its first input),
    or when its maxima over axes were sized by running the graph (the torch.fx route) on
    an input of another shape: their chains have as many units as the axes had entries,
    so an input whose reduced axes are longer or shorter needs the network traced again
    on it (a graph traced by torch.export, or without such maxima, holds for every input
    it runs on).
    """
    if ops is None:
        return False
    shape = next((op.info.get("sized_on") for op in ops if op.kind == "input"), None)
    return shape is None or tuple(X.shape[1:]) == shape


def _classify(gm: nn.Module, graph: fx.Graph) -> list[Op]:
    ops, dep, shape = [], set(), set()
    for node in graph.nodes:
        inputs = node.all_input_nodes
        is_dep = node.op == "placeholder" or any(n in dep for n in inputs)
        if node.op == "placeholder":
            if dep:
                raise UnsupportedLayerError(
                    f"the network's forward takes several inputs (graph node '{node.name}'); "
                    "cellgeom needs one input tensor")
            dep.add(node)
            ops.append(Op(node, "input"))
            continue
        if node.op == "output":
            ops.append(Op(node, "output"))
            continue
        if not is_dep:
            ops.append(Op(node, "const", dep=False))
            continue
        dep.add(node)
        if _is_shape(node, dep, shape):
            shape.add(node)
            ops.append(Op(node, "same", info={"shape": True}))
            continue
        if node.op == "call_module" and str(node.target).startswith("_guards"):
            ops.append(Op(node, "guard"))  # torch.export's shape guards: nothing to compute
            continue
        if node.op == "call_module":
            op = _module_op(node, gm)
        elif node.op in ("call_function", "call_method"):
            op = _function_op(node, gm)
        else:  # get_attr cannot depend on the input
            raise refuse(node, gm, f"unexpected graph node kind {node.op}")
        if op.kind in ("act", "maxpool", "select") and op.step.name != node.target:
            op.step.name = node.name if node.op != "call_module" else node.target
        if op.kind == "select":
            a, b = node.args
            if not (isinstance(a, fx.Node) and a in dep) and not (
                    isinstance(b, fx.Node) and b in dep):
                raise refuse(node, gm, "maximum of constants")
        tensors = [a for a in _flat_args(node) if a in dep and a not in shape]
        op.info["tensor_args"] = tensors
        if node.target in _PRODUCTS and len(tensors) > 1:
            raise refuse(node, gm, "it multiplies (or divides) two input-dependent tensors")
        if node.target in EINSUMS and len(tensors) > 1:
            raise refuse(node, gm, "einsum is linear when exactly one operand depends on the "
                                   "input; here several do, and a product of input-dependent "
                                   "tensors (bilinear) is not piecewise linear")
        if op.kind == "affine" and op.linear is not None and len(tensors) > 1:
            raise refuse(node, gm, "its weight or bias depends on the input too (a product "
                                   "of input-dependent tensors)")
        if node.target in _PRODUCTS and len(tensors) == 1 and node.target in (
                operator.truediv, operator.floordiv, torch.div, "div", "__truediv__",
                _A.div.Tensor) and node.args[0] is not tensors[0]:
            raise refuse(node, gm, "it divides by an input-dependent tensor")
        if node.target in (torch.cat, torch.concat, torch.stack, _A.cat.default,
                           _A.stack.default):
            items = _arg(node, "tensors", 0, ())
            if any(not (isinstance(a, fx.Node) and a in tensors) for a in items):
                raise refuse(node, gm, "it concatenates the input-dependent tensors with "
                                       "constant ones")
        _check_inplace(node, op, gm)
        ops.append(op)
    return ops


def _flat_args(node: fx.Node) -> list:
    out = []
    fx.node.map_arg((node.args, node.kwargs), out.append)
    return out


def _is_shape(node: fx.Node, dep: set, shape: set) -> bool:
    """Whether an input-dependent node holds shape information (ints), not a tensor."""
    t = node.target
    if t is getattr and len(node.args) > 1 and node.args[1] in _SHAPE_ATTRS:
        return True
    if node.op == "call_method" and t in ("size", "dim", "numel"):
        return True
    if t in (_A.sym_size.int, _A.sym_numel.default):
        return True
    if node.op == "call_function" and t in (operator.getitem, operator.add, operator.sub,
                                            operator.mul, operator.floordiv, len):
        deps = [a for a in _flat_args(node) if a in dep]
        return bool(deps) and all(a in shape for a in deps)
    return False


_INPLACE = {"relu_", "add_", "sub_", "clamp_", torch.relu_, F.relu_, operator.iadd,
            operator.isub, F.threshold_, torch.threshold_, _A.relu_.default, _A.add_.Tensor,
            _A.sub_.Tensor, _A.clamp_.default, _A.clip_.default, _A.threshold_.default,
            _A.hardtanh_.default, _A.leaky_relu_.default}


def _check_inplace(node: fx.Node, op: Op, gm) -> None:
    """An in-place op changes its input for later users, which the graph does not show."""
    inplace = node.target in _INPLACE or node.kwargs.get("inplace", False) or (
        node.target is F.threshold and len(node.args) > 3 and node.args[3] is True)
    if not inplace or not node.args or not isinstance(node.args[0], fx.Node):
        return
    src = node.args[0]
    later = [u for u in src.users if u is not node]
    if any(_after(node, u) for u in later):
        raise refuse(node, gm, f"it modifies '{src.name}' in place and '{src.name}' is used "
                               "again afterwards; write the operation out of place")


def _after(a: fx.Node, b: fx.Node) -> bool:
    n = a.next
    while n is not None and n.op != "root":
        if n is b:
            return True
        n = n.next
    return False
