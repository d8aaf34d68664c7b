"""Maxima and minima over axes as chains of ``torch.maximum`` / ``torch.minimum``.

``torch.amax(x, dim)``, ``x.amax(dim)``, ``torch.max(x, dim).values`` (or ``[0]``) and their
minima are rewritten, in a copy of the traced graph and before it is classified
(:mod:`cellgeom.nn.trace`), into the left fold

    ``max(... max(max(x_0, x_1), x_2) ..., x_{k-1})``

of the ``k`` entries along each reduced axis (``torch.narrow`` slices, then a squeeze unless
``keepdim``): ``k - 1`` units of the kind ``torch.maximum`` already is (a
:class:`~cellgeom.nn.steps.SelectStep` with pre-activation ``m_{i-1} - x_i``), exactly what
the same chain written by hand gives, so patterns, pullbacks, slices and partitions all
handle it. Using the indices (``torch.max(x, 1)[1]``, ``.indices``) is refused, as is a
maximum over the batch axis.

The chain needs ``k``. torch.export records the shapes on its graph; on the torch.fx route
they come from running the graph on an example input (the first batch the network sees),
so an input of another shape needs the network traced again on it
(:func:`cellgeom.nn.trace.fits_trace`), and a guard node (:func:`check_axes`) checks the
sizes on every input.
"""
from __future__ import annotations

import copy
import operator

import torch
from torch import fx

from .op_rules import _A, _arg, refuse

__all__ = ["check_axes", "lower_reductions", "ShapeProbeError"]

_AMAX = {torch.amax: torch.maximum, torch.amin: torch.minimum, "amax": torch.maximum,
         "amin": torch.minimum, _A.amax.default: torch.maximum,
         _A.amin.default: torch.minimum}
_WITH_INDICES = {torch.max: torch.maximum, torch.min: torch.minimum, "max": torch.maximum,
                 "min": torch.minimum, _A.max.dim: torch.maximum, _A.min.dim: torch.minimum}


class ShapeProbeError(Exception):
    """The graph could not be run on the example input to size a reduced axis."""


def check_axes(x: torch.Tensor, dims: tuple, sizes: tuple) -> torch.Tensor:
    """``x`` itself, once its axes ``dims`` are checked to have the ``sizes`` that a maximum
    over them was rewritten for (a RuntimeError otherwise, reported as an input that does
    not fit the network as traced).

    It guards a network run on an input of another shape than the one its chains were
    sized on (:func:`cellgeom.nn.trace.fits_trace` tells when to trace it again)."""
    for d, k in zip(dims, sizes):
        if x.shape[d] != k:
            raise RuntimeError(f"the maximum / minimum over axis {d} was traced for {k} "
                               f"entries, this input has {x.shape[d]} (the chain of maxima "
                               "is sized on the input the network was traced on; torch may "
                               "run the model at both sizes: trace a copy of it, "
                               "copy.deepcopy(net), for inputs of this size)")
    return x


def _reduction(node: fx.Node):
    """``(fold, dims, keepdim, returns_tuple)`` of a maximum / minimum over axes, else None
    (an elementwise ``torch.maximum(a, b)`` or a full reduction: see the trace)."""
    if node.op not in ("call_function", "call_method"):
        return None
    t = node.target
    if isinstance(t, str) != (node.op == "call_method"):
        return None
    if t in _AMAX:
        dims = _arg(node, "dim", 1, ())
        return _AMAX[t], dims, bool(_arg(node, "keepdim", 2, False)), False
    if t in _WITH_INDICES:
        dim = _arg(node, "dim", 1)
        if dim is None or isinstance(dim, fx.Node):
            return None
        return _WITH_INDICES[t], dim, bool(_arg(node, "keepdim", 2, False)), True
    return None


def lower_reductions(root, graph: fx.Graph, example: torch.Tensor | None = None,
                     source_dtype: torch.dtype | None = None) -> tuple[fx.Graph, bool]:
    """``(graph, pending)``: a copy of ``graph`` with every maximum / minimum over axes
    rewritten as a chain (``graph`` itself when there is none).

    Axis sizes come from torch.export's shapes on the graph, else from running it on
    ``example``; without either, each axis gets 2 entries so that the rest of the graph can
    be checked, and ``pending`` is True (the caller traces again with an example).

    Raises UnsupportedLayerError (naming the node) for a maximum over the batch axis or
    whose indices are used; ShapeProbeError when the graph fails on ``example``.
    """
    if not _found(graph):
        return graph, False
    graph = _copy(graph)  # the traced graph may be the user's GraphModule's
    found = _found(graph)
    shapes = {n: _meta_shape(n.args[0]) for n in found}
    pending = False
    if any(s is None for s in shapes.values()):
        if example is not None:
            shapes = _run_shapes(root, graph, found, example, source_dtype)
        else:
            pending = True
    for node in found:
        _rewrite(node, graph, root, shapes.get(node))
    graph.lint()
    return graph, pending


def _copy(graph: fx.Graph) -> fx.Graph:
    """The nodes of ``graph`` in a new graph (names and meta kept; not its code generator,
    which the network never uses: it runs the nodes)."""
    new = fx.Graph()
    out = new.graph_copy(graph, {}, return_output_node=True)
    if out is not None:
        value, old = out
        new.output(value).meta = copy.copy(old.meta)
    return new


def _found(graph: fx.Graph) -> list[fx.Node]:
    """The maxima / minima over axes of input-dependent tensors (those of constants are
    evaluated as written)."""
    dep, out = set(), []
    for n in graph.nodes:
        if n.op == "placeholder" or any(a in dep for a in n.all_input_nodes):
            dep.add(n)
            if _reduction(n) is not None:
                out.append(n)
    return out


def _meta_shape(x) -> tuple | None:
    val = x.meta.get("val") if isinstance(x, fx.Node) else None
    if not isinstance(val, torch.Tensor):
        return None
    try:
        return (None,) + tuple(int(d) for d in val.shape[1:])  # the batch axis is symbolic
    except (TypeError, ValueError, RuntimeError):
        return None


class _Sizes(fx.Interpreter):
    """Runs the graph until the inputs of all reductions are known, keeping their shapes."""

    def __init__(self, root, graph, wanted, cast):
        super().__init__(root, graph=graph)
        self.wanted, self.cast, self.shapes = wanted, cast, {}

    def run_node(self, n):
        out = super().run_node(n)
        if self.cast and torch.is_tensor(out) and out.dtype == self.cast[0]:
            out = out.to(self.cast[1])  # constants in forward, as the network runs them
        if n in self.wanted:
            self.shapes[n] = tuple(out.shape)
            if len(self.shapes) == len(self.wanted):
                raise _Done
        return out


class _Done(Exception):
    pass


def _run_shapes(root, graph, found, example, source_dtype) -> dict:
    wanted = {n.args[0] for n in found}
    cast = (source_dtype, example.dtype) if source_dtype not in (None, example.dtype) else None
    run = _Sizes(root, graph, wanted, cast)
    try:
        with torch.no_grad():
            run.run(example)
    except _Done:
        pass
    except Exception as err:
        raise ShapeProbeError(f"{type(err).__name__}: {err}") from err
    return {n: run.shapes.get(n.args[0]) for n in found}


def _dims(node, gm, dims, shape) -> list[int]:
    if not isinstance(node.args[0], fx.Node):
        raise refuse(node, gm, "a maximum / minimum of a constant")
    dims = [dims] if isinstance(dims, int) else list(dims or ())
    ndim = len(shape) if shape is not None else None
    if not dims:
        raise refuse(node, gm, "a maximum / minimum over all axes mixes the points of a "
                               "batch; reduce over the axes of one point (dim >= 1)")
    out = []
    for d in dims:
        if not isinstance(d, int):
            raise refuse(node, gm, "the reduced axis must be a constant int")
        if d < 0 and ndim is not None:
            d += ndim
        if d == 0:
            raise refuse(node, gm, "a maximum / minimum over the batch axis mixes the points "
                                   "of a batch; reduce over the axes of one point (dim >= 1)")
        if ndim is not None and not 0 < d < ndim:
            raise refuse(node, gm, f"its axis {d} is out of range for {ndim} axes")
        out.append(d)
    return sorted(set(out), reverse=True)  # squeezing the last axis first keeps the others


def _rewrite(node: fx.Node, graph: fx.Graph, gm, shape) -> None:
    fold, dims, keepdim, returns_tuple = _reduction(node)
    dims = _dims(node, gm, dims, shape)
    value_users, index_users = [], []
    if returns_tuple:
        for u in list(node.users):
            key = u.args[1] if u.op == "call_function" and len(u.args) == 2 else None
            if u.target not in (getattr, operator.getitem) or key not in (
                    0, 1, "values", "indices"):
                raise refuse(node, gm, f"its result (values, indices) is used as a whole by "
                                       f"'{u.name}'; use its values ([0] or .values) only")
            (value_users if key in (0, "values") else index_users).append(u)
        used = [u.name for u in index_users if u.users]
        if used:
            raise refuse(node, gm, f"the indices of the maximum / minimum are used ('{used[0]}'),"
                                   " and an arg-max is not piecewise linear; use the values "
                                   "only (torch.amax / torch.amin)")
    sizes = tuple(shape[d] for d in dims) if shape is not None else (2,) * len(dims)
    if any(k is None or k < 1 for k in sizes):
        raise refuse(node, gm, "a maximum / minimum over an empty axis")
    meta = {k: node.meta[k] for k in ("nn_module_stack", "stack_trace") if k in node.meta}

    def add(target, args, what):
        new = graph.create_node("call_function", target, args, name=f"{node.name}_{what}")
        new.meta.update(meta)
        return new
    kind = "max" if fold is torch.maximum else "min"
    with graph.inserting_before(node):
        cur = add(check_axes, (node.args[0], tuple(dims), sizes), "check")
        for d, k in zip(dims, sizes):
            best = add(torch.narrow, (cur, d, 0, 1), "entry")
            for i in range(1, k):
                best = add(fold, (best, add(torch.narrow, (cur, d, i, 1), "entry")), kind)
            cur = best if keepdim else add(torch.squeeze, (best, d), "squeeze")
    for u in value_users:
        u.replace_all_uses_with(cur)
    for u in value_users + index_users:
        graph.erase_node(u)
    node.replace_all_uses_with(cur)
    graph.erase_node(node)

