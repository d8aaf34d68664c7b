"""A piecewise-linear PyTorch model as a step graph, and affine maps pushed through it.

:func:`as_network` traces the model (:mod:`cellgeom.nn.trace`: torch.fx, or torch.export
where fx cannot) once, checks that every node is piecewise affine, and returns a
:class:`PiecewiseLinearNetwork`. Any forward code is accepted as long as it is made of
piecewise-affine operations: ``nn.Sequential``, :class:`Residual`, a ``class Net(nn.Module)``
with ``F.relu``, residual adds, concatenated branches, ``torch.maximum``, pooling, views...

:meth:`PiecewiseLinearNetwork.propagate` pushes, for a batch of points, the forward value
together with an affine bundle ``const + sum_i s_i tan_i`` through the graph: three streams
evaluated node by node, the full affine map on the value and the constant, its linear part
on the tangents, and at every nonlinear unit the slope of the active piece (decided by the
value, or imposed). Starting from ``const = 0`` and ``tan = identity basis`` gives the
pullback ``z_l = A_l x + c_l``; starting from a plane ``origin + s u + t v`` gives the
pre-activations as affine functions of ``(s, t)``.
"""
from __future__ import annotations

import copy
import weakref
from collections.abc import Sequence

import torch
from torch import fx, nn

from ._cache import _CACHE_SIZE, _NETWORKS, _same_values, _snapshot, _state_signature
from .inputs import _fits_any, _input_rule, check_input
from .op_rules import join_batches, probe_error
from .sklearn_mlp import is_sklearn_mlp, mlp_as_torch
from .steps import ActivationLayer, MaxPoolStep, SelectStep, Step
from .trace import (
    Op,
    TrainingModeError,
    UnsupportedLayerError,
    _NeedsExample,
    describe,
    fits_trace,
    trace_network,
)

__all__ = [
    "Residual", "UnsupportedLayerError", "TrainingModeError", "NonFiniteWeightError",
    "PiecewiseLinearNetwork", "ActivationLayer", "as_network", "check_input",
]


class NonFiniteWeightError(ValueError):
    """A parameter or buffer of the network holds NaN or inf."""


class Residual(nn.Module):
    """Residual block ``y = body(x) + shortcut(x)``; ``shortcut=None`` is the identity.

    A convenience: the same block written as forward code (``return f(x) + x``) traces to
    the same graph.
    """

    def __init__(self, body: nn.Module, shortcut: nn.Module | None = None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + (x if self.shortcut is None else self.shortcut(x))


class _Stop(Exception):
    pass


class PiecewiseLinearNetwork:
    """A traced, validated piecewise-linear network, ready for patterns, pullbacks and slices.

    Attributes
    ----------
    module : torch.nn.Module
        The network (a ``dtype`` copy when a dtype was asked for); never modified.
    graph_module : torch.nn.Module
        The module the traced graph's nodes refer to (``module`` itself, or the module of
        its torch.export program).
    ops : list of Op
        The graph's nodes, classified (:mod:`cellgeom.nn.trace`), in topological order.
    steps : list of Step
        The steps of the ops that have one (modules, activations, pools), in order.
    layers : list of ActivationLayer
        The nonlinear units (activations, max-pools, maxima) in forward order; their
        patterns make up the cell key.
    layer_steps : list of ActivationStep, MaxPoolStep or SelectStep
        The steps behind ``layers``.
    chain : bool
        Whether the graph is a chain (each op reads the previous op's output only).
    dtype : torch.dtype
    source_dtype : torch.dtype or None
        The user's dtype when ``module`` is a converted copy: tensors of that dtype which the
        conversion misses (constants in forward) are cast to ``dtype`` as the network runs.
    """

    def __init__(self, module: nn.Module, dtype: torch.dtype, example=None, source_dtype=None):
        self.module, self.dtype, self.source_dtype = module, dtype, source_dtype
        p = next(iter(module.parameters()), None)
        self.device = p.device if p is not None else torch.device("cpu")
        self.ops, self._checked = None, False
        self._shape_cache: dict = {}
        try:
            self._build(example)
        except _NeedsExample:  # fx failed: torch.export on the first input seen
            self._input_rule = (_fits_any, "(batch, ...)")

    def _build(self, example) -> None:
        self.graph_module, self.ops = trace_network(self.module, example, self.source_dtype)
        self._shape_cache = {}
        self.steps = [op.step if op.step is not None else Step(op.node.name, None)
                      for op in self.ops if op.kind in ("affine", "act", "maxpool", "select")
                      or (op.kind == "same" and not op.info.get("shape"))]
        self.layer_steps = [op.step for op in self.ops if op.kind in ("act", "maxpool", "select")]
        for i, st in enumerate(self.layer_steps):
            st.layer_index = i
        self.layers = [ActivationLayer(s.name, getattr(s, "kind", "maxpool")
                                       if not isinstance(s, MaxPoolStep) else "maxpool",
                                       s.n_pieces) for s in self.layer_steps]
        self.chain = self._is_chain()
        self._input_rule = _input_rule(self.steps)
        out = self.ops[-1].node.args[0]
        while isinstance(out, (tuple, list)) and len(out) == 1:  # torch.export: (out,)
            out = out[0]
        self._out = out
        if not isinstance(out, fx.Node):
            raise UnsupportedLayerError(
                "the network returns a tuple or a structure; cellgeom needs one output tensor")

    def _is_chain(self) -> bool:
        prev = None
        for op in self.ops:
            if op.kind in ("const", "output", "guard") or op.info.get("shape"):
                continue
            if op.kind != "input":
                deps = op.info.get("tensor_args", [])
                if len(deps) != 1 or deps[0] is not prev or op.kind == "select":
                    return False
            prev = op.node
        return True

    def _ensure(self, X: torch.Tensor) -> None:
        if not fits_trace(self.ops, X):  # none yet, or max chains sized for another shape
            self._build(X[:1])

    def __getstate__(self):  # the traced graph is rebuilt on unpickling
        return {"module": self.module, "dtype": self.dtype, "source_dtype": self.source_dtype}

    def __setstate__(self, state):
        self.__init__(state["module"], state["dtype"], source_dtype=state.get("source_dtype"))

    def check_input(self, X, what: str = "X") -> torch.Tensor:
        """``X`` as a tensor of the network's dtype, shape (batch, *input_shape).

        Raises ValueError naming the expected and the actual shape, or an empty batch.
        """
        return check_input(X, self._input_rule, self.dtype, self.device, what)

    def probe(self, X: torch.Tensor):
        """Forward one point; a shape mismatch inside the network becomes a ValueError.

        The first probe also checks that no operation mixes the points of a batch (the
        first point's values at every node are the same alone and next to another point).
        """
        try:
            self._ensure(X)
            out = self.propagate(X[:1])
            if not self._checked:
                self._check_batch(X[:1])
                self._checked = True
            return out
        except RuntimeError as err:
            raise probe_error(err, X.shape, getattr(self, "graph_module", None)) from err

    def layer_shapes(self, X: torch.Tensor) -> list[tuple[tuple, tuple | None]]:
        """Per activation layer, the shape of its input (one point, batch axis dropped) and
        for max-pool its output shape, for inputs shaped like ``X`` (probed once per input
        shape: they depend on the architecture only)."""
        key = tuple(X.shape[1:])
        if key not in self._shape_cache:
            records, _ = self.probe(X[:1])
            self._shape_cache[key] = [(tuple(r["value"].shape[1:]), r.get("out_shape"))
                                      for r in records]
        return self._shape_cache[key]

    @torch.no_grad()
    def _check_batch(self, x1: torch.Tensor) -> None:
        other = x1 * 0.5 + 0.25
        env1, env2 = {}, {}
        self._run({"v": x1}, [], None, [], 1, trace=env1)
        self._run({"v": torch.cat([x1, other])}, [], None, [], 1, trace=env2)
        for op in self.ops:
            a, b = env1.get(op.node), env2.get(op.node)
            if not (torch.is_tensor(a) and torch.is_tensor(b)):
                continue
            bad = a.shape[:1] != (1,) or b.shape[:1] != (2,) or a.shape[1:] != b.shape[1:]
            if not bad and a.is_floating_point():  # batched kernels round differently
                tol = 1e3 * torch.finfo(a.dtype).eps
                scale = float(a.abs().max()) if a.numel() else 0.0
                bad = not torch.allclose(a[0], b[0], rtol=tol, atol=tol * (1 + scale))
            elif not bad:
                bad = not torch.equal(a[0], b[0])
            if bad:
                raise UnsupportedLayerError(
                    f"{describe(op.node, self.graph_module)} mixes the points of a batch (its "
                    "value for one point depends on the others); every operation must act on "
                    "each point alone")

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
            the layer's input (pre-activation; for a maximum ``a - b``),
            and for max-pool ``flat`` (indices of the maxima) and ``out_shape``.
        final : dict with ``value``, ``const``, ``tan`` of the output.
        """
        ref = value if value is not None else const
        self._ensure(ref)
        streams, m = {}, 1
        if value is not None:
            streams["v"] = value
        if const is not None:
            streams["c"] = const
        if tan is not None:
            b, m = tan.shape[:2]
            streams["t"] = tan.reshape((b * m,) + tuple(tan.shape[2:]))
        records: list = []
        try:
            final = self._run(streams, imposed or [], stop_at, records, m)
        except _Stop:
            final = None
        return records, final

    def _get(self, op_node, s, env, shared):
        return env[s][op_node] if op_node in env[s] else shared[op_node]

    def _call(self, node: fx.Node, args, kwargs):
        if node.op == "call_module":
            return self.graph_module.get_submodule(node.target)(*args, **kwargs)
        if node.op == "call_method":
            return getattr(args[0], node.target)(*args[1:], **kwargs)
        if node.op == "get_attr":
            obj = self.graph_module
            for part in node.target.split("."):
                obj = getattr(obj, part)
            return obj
        return node.target(*args, **kwargs)

    def _run(self, streams, imposed, stop_at, records, m, trace=None):
        at = [None]  # the node being computed, named by probe() if it fails
        try:
            return self._run_ops(streams, imposed, stop_at, records, m, trace, at)
        except RuntimeError as err:
            err.cellgeom_node = at[0]
            raise

    def _run_ops(self, streams, imposed, stop_at, records, m, trace, at):
        env = {s: {} for s in streams}
        shared: dict = {}
        cast = self.source_dtype is not None and self.source_dtype != self.dtype
        for op in self.ops:
            node = at[0] = op.node
            if op.kind == "input":
                for s, x in streams.items():
                    env[s][node] = x
                continue
            if op.kind == "const":
                args, kwargs = fx.node.map_arg((node.args, node.kwargs), shared.__getitem__)
                v = self._call(node, args, kwargs)
                if cast and torch.is_tensor(v) and v.dtype == self.source_dtype:
                    v = v.to(self.dtype)  # as the module's own tensors were
                shared[node] = v
                continue
            if op.kind == "guard":
                continue
            if op.kind == "output":
                out = self._out
                final = {"value": None, "const": None, "tan": None}
                for s, key in (("v", "value"), ("c", "const"), ("t", "tan")):
                    if s in streams:
                        final[key] = env[s][out]
                if final["tan"] is not None:
                    t = final["tan"]
                    final["tan"] = t.reshape((t.shape[0] // m, m) + tuple(t.shape[1:]))
                return final
            argv = {s: fx.node.map_arg((node.args, node.kwargs),
                                       lambda n, s=s: env[s][n] if n in env[s] else shared[n])
                    for s in streams}
            if op.kind in ("act", "maxpool", "select"):
                outs = self._nonlinear(op, argv, imposed, stop_at, records, m)
            else:
                outs = {s: self._linear(op, s, *argv[s]) for s in streams}
            for s, v in outs.items():
                env[s][node] = v
                if trace is not None and s == "v":
                    trace[node] = v
        raise RuntimeError("the graph has no output node")

    def _linear(self, op: Op, s: str, args, kwargs):
        node = op.node
        if op.kind == "same" or s != "t":
            if op.kind == "affine" and op.step is not None:
                return op.step.full(args[0])
            return self._call(node, *join_batches(node, args, kwargs))
        if op.kind == "affine":
            if op.step is not None:
                return op.step.linear(args[0])
            return op.linear(*args, **kwargs)
        # add / sub on the tangents: constant operands drop out
        tensors = op.info["tensor_args"]
        if not tensors:
            return self._call(node, args, kwargs)
        sign = op.info["sign"]
        alpha = kwargs.get("alpha", args[2] if len(node.args) > 2 and node.op == "call_function"
                           and not isinstance(node.args[2], fx.Node) else 1)
        out = None
        for pos, coef in ((0, 1.0), (1, sign * alpha)):
            arg = node.args[pos] if pos < len(node.args) else node.kwargs.get("other")
            if arg in tensors:
                term = args[pos] if pos < len(args) else kwargs["other"]
                term = term if coef == 1.0 else term * coef
                out = term if out is None else out + term
        return out

    def _nonlinear(self, op: Op, argv, imposed, stop_at, records, m):
        st, i = op.step, op.step.layer_index
        parts = {s: a[0] for s, a in argv.items()}  # s -> (args tuple)
        if isinstance(st, SelectStep):
            tensors = op.info["tensor_args"]
            nodes = op.node.args

            def side(s, k):
                val = parts[s][k]
                if s == "t" and nodes[k] not in tensors:
                    return torch.zeros((), dtype=self.dtype, device=self.device)
                return val
            z = {s: side(s, 0) - side(s, 1) for s in parts}
        else:
            z = {s: parts[s][0] for s in parts}
        v, c, t = z.get("v"), z.get("c"), z.get("t")
        # the batch: a constant of batch 1 (one origin, shared by every imposed pattern)
        # broadcasts against the tangents and patterns of B rows
        b = v.shape[0] if v is not None else t.shape[0] // m if t is not None else c.shape[0]
        rec = {"name": self.layers[i].name, "value": v, "const": c,
               "tan": None if t is None else t.reshape((b, m) + tuple(t.shape[1:]))}
        if v is None and i >= len(imposed):  # nothing decides this layer's pattern
            if stop_at != i:
                raise ValueError(f"no pattern for layer {i}: pass points or impose it")
            records.append(rec)
            raise _Stop
        given = i < len(imposed)
        if isinstance(st, MaxPoolStep):
            return self._maxpool(st, rec, v, c, t, given, imposed, stop_at, records, m)
        if given:
            pattern = torch.as_tensor(imposed[i], device=self.device).long()
        elif isinstance(st, SelectStep):
            pattern = (v > 0).long()
        else:
            pattern = st.pieces(v)
        rec["pattern"] = pattern
        if isinstance(st, SelectStep):
            rec["slope"] = pattern.to(self.dtype)
            records.append(rec)
            if stop_at == i:
                raise _Stop
            pick_a = pattern.bool() if st.kind == "max" else ~pattern.bool()
            out = {}
            for s in parts:
                a_, b_ = parts[s][0], parts[s][1]
                if s == "t":
                    sel = pick_a.unsqueeze(1).expand((b, m) + tuple(pick_a.shape[1:]))
                    sel = sel.reshape((b * m,) + tuple(pick_a.shape[1:]))
                    a_ = a_ if op.node.args[0] in op.info["tensor_args"] else 0.0
                    b_ = b_ if op.node.args[1] in op.info["tensor_args"] else 0.0
                    out[s] = torch.where(sel, a_, b_)
                else:
                    out[s] = torch.where(pick_a, a_, b_)
            return out
        slope = offset = None
        if c is not None or t is not None or given:  # the affine pieces are needed
            slope, offset = st.slope_offset(pattern, v if v is not None else c)
        rec["slope"] = slope
        records.append(rec)
        if stop_at == i:
            raise _Stop
        out = {}
        if v is not None:
            out["v"] = slope * v + offset if given else st.apply(v)
        if c is not None:
            out["c"] = slope * c + offset
        if t is not None:
            tt = t.reshape((b, m) + tuple(t.shape[1:]))
            out["t"] = (slope.unsqueeze(1) * tt).reshape(t.shape)
        return out

    def _maxpool(self, st, rec, v, c, t, given, imposed, stop_at, records, m):
        i = st.layer_index
        ref = v if v is not None else c
        in_sp = tuple(ref.shape[2:])
        if given:
            pattern = torch.as_tensor(imposed[i], device=self.device).long()
            flat, pooled = st.to_flat(pattern, in_sp), None
        else:
            pooled, flat = st.select(v)
            pattern = st.to_position(flat, in_sp)
        rec.update(pattern=pattern, flat=flat, out_shape=tuple(pattern.shape[1:]))
        records.append(rec)
        if stop_at == i:
            raise _Stop
        out = {}
        if v is not None:
            out["v"] = pooled if pooled is not None else st.gather(v, flat)
        if c is not None:
            out["c"] = st.gather(c, flat)
        if t is not None:
            out["t"] = st.gather(t, flat)
        return out


def as_network(net, dtype: torch.dtype | None = torch.float64) -> PiecewiseLinearNetwork:
    """Trace and validate ``net`` and wrap it as a :class:`PiecewiseLinearNetwork`.

    Parameters
    ----------
    net : torch.nn.Module, PiecewiseLinearNetwork or scikit-learn MLP
        Any module whose forward is piecewise affine (see :mod:`cellgeom.nn.trace`).
        Returned unchanged if already wrapped and of the asked dtype. A fitted ReLU
        MLPClassifier / MLPRegressor becomes its torch twin
        (:func:`~cellgeom.nn.sklearn_mlp.mlp_as_torch`: logits, not probabilities).
    dtype : torch.dtype or None, default torch.float64
        Compute in this dtype on a copy of the network (float32 weights are exact in
        float64, so the copy is the same function computed more accurately). ``None``
        keeps the network's own dtype.

    Raises
    ------
    UnsupportedLayerError
        A layer or operation is not piecewise affine (names the layer, e.g.
        ``layer '3' (GELU)``, or the graph node and its source line).
    TrainingModeError
        BatchNorm or Dropout in training mode.
    NonFiniteWeightError
        A parameter or buffer holds NaN or inf (names it).
    """
    if isinstance(net, PiecewiseLinearNetwork):
        if dtype is None or net.dtype == dtype:
            return net
        net = net.module
    if is_sklearn_mlp(net):  # its torch twin: same function, float64 weights
        net = mlp_as_torch(net)
    if not isinstance(net, nn.Module):
        raise TypeError("net must be a torch.nn.Module or a fitted scikit-learn MLPClassifier "
                        f"/ MLPRegressor, got {type(net).__name__}")
    mods, meta, tensors = _state_signature(net)
    key = (id(net), dtype)
    cached = _NETWORKS.get(key)
    if (cached is not None and cached[0]() is net and cached[1] == (mods, meta)
            and _same_values(cached[2], tensors)):
        _NETWORKS.move_to_end(key)
        return cached[3]  # same module, modes, tensors and values
    network = _as_network(net, dtype)
    _NETWORKS[key] = (weakref.ref(net), (mods, meta), _snapshot(tensors), network)
    _NETWORKS.move_to_end(key)
    while len(_NETWORKS) > _CACHE_SIZE:
        _NETWORKS.popitem(last=False)
    return network


def _as_network(net: nn.Module, dtype) -> PiecewiseLinearNetwork:
    own = next((p.dtype for p in net.parameters()), dtype or torch.float32)
    for kind, items in (("parameter", net.named_parameters()), ("buffer", net.named_buffers())):
        for pname, p in items:
            if p.is_floating_point() and not bool(torch.isfinite(p).all()):
                what = "NaN" if bool(torch.isnan(p).any()) else "inf"
                raise NonFiniteWeightError(f"{kind} '{pname}' of the network contains {what}")
    if dtype is not None and own != dtype:
        net = copy.deepcopy(net).to(dtype)  # same module paths, so errors name the user's layers
        return PiecewiseLinearNetwork(net, dtype, source_dtype=own)
    return PiecewiseLinearNetwork(net, dtype or own)
