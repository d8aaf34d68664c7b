"""What each piece of a traced graph is: the tables of piecewise-affine operations.

Used by :mod:`cellgeom.nn.trace`: the errors it raises (naming the graph node, its module
and the user's source line), the supported leaf modules, the functions and methods that are
linear (``same``), affine (with the map without its constant term), additions, the
elementwise activations written as functions (``F.relu``, ``F.leaky_relu``, ``clamp``...),
and the refusal of a final softmax / sigmoid, which points the user to the logits.
"""
from __future__ import annotations

import operator
import re

import torch
import torch.nn.functional as F
from torch import fx, nn

from .steps import ActivationStep

__all__ = ["UnsupportedLayerError", "TrainingModeError", "describe", "refuse", "activation_step",
           "source_line", "supported_base", "probe_error", "transposed_conv_linear",
           "smooth_head_error", "join_batches"]

WHY = "only piecewise-linear networks have cells (linear regions)"


class UnsupportedLayerError(ValueError, TypeError):
    """A layer is not piecewise affine, so the network has no cells."""


class TrainingModeError(ValueError):
    """BatchNorm or Dropout is in training mode: the map is not a fixed function."""


# ------------------------------------------------------------------------ leaf modules
AFFINE_MODULES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.AvgPool1d,
                  nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.Flatten,
                  nn.Unflatten, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Identity,
                  nn.ZeroPad1d, nn.ZeroPad2d)
ACTIVATION_MODULES = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.Hardtanh, nn.Softshrink,
                      nn.Hardshrink, nn.Threshold)
MAXPOOL_MODULES = (nn.MaxPool1d, nn.MaxPool2d)
# affine, but not an AffineStep (its map without bias is :func:`transposed_conv_linear`)
TRANSPOSED_CONV_MODULES = (nn.ConvTranspose1d, nn.ConvTranspose2d)
# linear without constant (evaluated as written on every stream): resampling, permutations
RESAMPLE_MODULES = (nn.Upsample, nn.PixelShuffle, nn.PixelUnshuffle)
SUPPORTED = ("Linear, Conv1d/2d, ConvTranspose1d/2d, BatchNorm1d/2d (eval), AvgPool, "
             "AdaptiveAvgPool, MaxPool, Upsample (every mode), PixelShuffle / PixelUnshuffle, "
             "Flatten, Unflatten, ZeroPad1d/2d, Dropout, Identity, ReLU, LeakyReLU, PReLU, "
             "Hardtanh/ReLU6, Softshrink, Hardshrink, Threshold, and in forward code: F.relu / "
             "torch.relu, F.leaky_relu, F.hardtanh, F.threshold, clamp, abs, F.max_pool / "
             "F.avg_pool, F.conv_transpose1d/2d, F.interpolate, F.pixel_shuffle, F.pad, "
             "flatten / unflatten / view / reshape / permute / flip / repeat / expand, "
             "indexing, x + y, torch.cat, torch.maximum / minimum, torch.amax / amin and "
             "torch.max / min over a dim (the values), torch.einsum with one input-dependent "
             "operand, multiplication by constants")


def supported_base(m: nn.Module, bases) -> type | None:
    """The supported class ``m`` derives from, if ``m`` does not override its forward."""
    for base in type(m).__mro__:
        if base in bases:
            return base if type(m).forward is base.forward else None
    return None


# --------------------------------------------------------------------- describing nodes
def describe(node: fx.Node, gm: fx.GraphModule | None = None) -> str:
    """``layer 'path' (Type)`` for module calls, else the operation, the graph node, the
    module it sits in and the user's source line."""
    if node.op == "call_module" and gm is not None:
        m = gm.get_submodule(node.target)
        return f"layer '{node.target}' ({type(m).__name__})"
    what = getattr(node.target, "__name__", str(node.target))
    if node.op == "call_method":
        what = f"method .{node.target}()"
    text = f"operation {what} (graph node '{node.name}'"
    stack = node.meta.get("nn_module_stack")
    if stack:
        path, kind = list(stack.values())[-1]
        kind = kind if isinstance(kind, str) else kind.__name__
        text += f", in layer '{path}' ({kind.rsplit('.', 1)[-1]})"
    src = source_line(node)
    if src:
        text += f", at {src}"
    return text + ")"


_FRAME = re.compile(r'File "([^"]+)", line (\d+), in \S+\n\s+(.*)')


def source_line(node: fx.Node) -> str | None:
    """``file:line: code`` of the innermost user frame that made the node."""
    frames = _FRAME.findall(node.stack_trace or "")
    torch_dir = torch.__file__.rsplit("/", 1)[0]
    user = [f for f in frames if not f[0].startswith(torch_dir)]
    if not user:
        return None
    file, line, code = user[-1]
    return f"{file}:{line}: {code.strip()}"


def refuse(node: fx.Node, gm, why: str) -> UnsupportedLayerError:
    return UnsupportedLayerError(f"{describe(node, gm)} is not supported: {why}. {WHY}; "
                                 f"supported: {SUPPORTED}")


# torch's messages for mixed dtypes or devices: a fault of the network, not of the input
_NOT_SHAPE = re.compile(r"dtype|scalar type|same device|device type")


def probe_error(err: RuntimeError, shape, gm) -> Exception:
    """What to raise when the network fails on an input of ``shape``: a ValueError about
    the input, unless torch's message is about dtypes or devices (then a RuntimeError);
    both name the graph node that failed (``err.cellgeom_node``, set by the run)."""
    node = getattr(err, "cellgeom_node", None)
    where = f" ({describe(node, gm)})" if node is not None else ""
    if _NOT_SHAPE.search(str(err)):
        return RuntimeError(f"the network fails{where}: {err}")
    return ValueError(f"input of shape {tuple(shape)} does not fit the network{where}: {err}")


# ------------------------------------------------------------------------ the op tables
_A = torch.ops.aten
_SAME_FUNCS = {
    torch.flatten, torch.reshape, torch.permute, torch.transpose, torch.squeeze, torch.unsqueeze,
    torch.cat, torch.concat, torch.stack, torch.chunk, torch.split, torch.neg, torch.mean,
    torch.sum, torch.flip, torch.zeros_like, F.avg_pool1d, F.avg_pool2d, F.adaptive_avg_pool1d,
    F.adaptive_avg_pool2d, operator.getitem, operator.neg, operator.mul, operator.truediv,
    operator.floordiv, operator.matmul, torch.mul, torch.div, torch.matmul, getattr, torch.narrow,
    operator.pos, torch.unflatten, torch.tile,
    _A.view.default, _A.reshape.default, _A._unsafe_view.default, _A.flatten.using_ints,
    _A.permute.default, _A.transpose.int, _A.t.default, _A.squeeze.dim, _A.squeeze.dims,
    _A.unsqueeze.default, _A.cat.default, _A.stack.default, _A.neg.default, _A.mean.dim,
    _A.sum.dim_IntList, _A.avg_pool2d.default, _A.avg_pool1d.default,
    _A.adaptive_avg_pool2d.default, _A.adaptive_avg_pool1d.default, _A._adaptive_avg_pool2d.default,
    _A.mul.Tensor, _A.mul.Scalar, _A.div.Tensor, _A.div.Scalar, _A.mm.default, _A.matmul.default,
    _A.clone.default, _A.contiguous.default, _A.slice.Tensor, _A.select.int, _A.alias.default,
    _A.split.Tensor, _A.split_with_sizes.default, _A.chunk.default, _A.expand.default,
    _A.dropout.default, _A.detach.default, _A.lift_fresh_copy.default,
    # the torch.export spelling of what the fx route accepts above (``h.flip``, ``h[:, [..]]``,
    # ``+h``, ``torch.zeros_like(h)``, ``h.mT``...); ``numpy_T`` moves the batch axis and is
    # then refused by the batch check, as ``h.T`` is on the fx route
    _A.flip.default, _A.narrow.default, _A.view_as.default, _A.positive.default,
    _A.squeeze.default, _A.unflatten.int, _A.index.Tensor, _A.zeros_like.default,
    _A.mT.default, _A.numpy_T.default, _A.repeat.default, _A.tile.default,
    # resampling and permutations: linear in the input, every mode (nearest, (bi/tri)linear,
    # bicubic, area = adaptive average pooling, antialiased); einsum: linear when one operand
    # depends on the input (two are refused by the trace)
    F.interpolate, F.upsample, F.upsample_nearest, F.upsample_bilinear, F.pixel_shuffle,
    F.pixel_unshuffle, torch.einsum, F.adaptive_avg_pool3d,
} | {getattr(getattr(_A, name), overload) for name in (
    "upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d", "_upsample_nearest_exact1d",
    "_upsample_nearest_exact2d", "_upsample_nearest_exact3d", "upsample_linear1d",
    "upsample_bilinear2d", "upsample_bicubic2d", "upsample_trilinear3d",
    "_upsample_bilinear2d_aa", "_upsample_bicubic2d_aa", "pixel_shuffle", "pixel_unshuffle",
    "einsum", "adaptive_avg_pool3d", "_adaptive_avg_pool3d")
    for overload in ("default", "vec") if hasattr(getattr(_A, name), overload)}
EINSUMS = {torch.einsum, _A.einsum.default}
_SAME_METHODS = {"flatten", "view", "reshape", "permute", "transpose", "squeeze", "unsqueeze",
                 "contiguous", "clone", "size", "dim", "mean", "sum", "neg", "chunk", "split",
                 "flip", "mul", "div", "__mul__", "__truediv__", "t", "narrow", "view_as",
                 "reshape_as", "detach", "numel", "unflatten", "repeat", "tile", "expand",
                 "expand_as"}
_ADD = {operator.add: 1, operator.iadd: 1, torch.add: 1, operator.sub: -1, operator.isub: -1,
        torch.sub: -1, "add": 1, "add_": 1, "sub": -1, "sub_": -1, "__add__": 1,
        "__sub__": -1, "__radd__": 1, _A.add.Tensor: 1, _A.sub.Tensor: -1, _A.add_.Tensor: 1,
        _A.add.Scalar: 1, _A.sub.Scalar: -1}
_PRODUCTS = {operator.mul, operator.truediv, operator.floordiv, operator.matmul, torch.mul,
             torch.div, torch.matmul, "mul", "div", "__mul__", "__truediv__", _A.mul.Tensor,
             _A.div.Tensor, _A.mm.default, _A.matmul.default}
_SHAPE_ATTRS = {"shape", "ndim", "dtype", "device"}


def _arg(node: fx.Node, name: str, pos: int, default=None):
    if name in node.kwargs:
        return node.kwargs[name]
    return node.args[pos] if len(node.args) > pos else default


def _activation_module(node: fx.Node, gm) -> nn.Module | None:
    """The activation module equal to a functional call, or None if it is not one."""
    t = node.target
    if t in (F.relu, torch.relu, torch.relu_, F.relu_, "relu", "relu_", _A.relu.default,
             _A.relu_.default):
        return nn.ReLU()
    if t in (F.relu6, _A.relu6.default):
        return nn.Hardtanh(0.0, 6.0)
    if t in (F.leaky_relu, "leaky_relu", _A.leaky_relu.default, _A.leaky_relu_.default):
        return nn.LeakyReLU(float(_arg(node, "negative_slope", 1, 0.01)))
    if t in (F.hardtanh, _A.hardtanh.default, _A.hardtanh_.default):
        return nn.Hardtanh(float(_arg(node, "min_val", 1, -1.0)),
                           float(_arg(node, "max_val", 2, 1.0)))
    if t in (F.softshrink, _A.softshrink.default):
        return nn.Softshrink(float(_arg(node, "lambd", 1, 0.5)))
    if t in (F.hardshrink, _A.hardshrink.default):
        return nn.Hardshrink(float(_arg(node, "lambd", 1, 0.5)))
    if t in (F.threshold, F.threshold_, torch.threshold, torch.threshold_,
             _A.threshold.default, _A.threshold_.default):
        thr, val = _arg(node, "threshold", 1), _arg(node, "value", 2)
        if not all(isinstance(v, (int, float)) for v in (thr, val)):
            raise refuse(node, gm, "threshold needs constant number arguments")
        return nn.Threshold(float(thr), float(val))  # x if x > threshold else value
    return None


def activation_step(name: str, m: nn.Module) -> ActivationStep:
    """The step of an activation module (breakpoints, slopes and offsets of its pieces)."""
    if isinstance(m, nn.ReLU):
        return ActivationStep(name, m, (0.0,), [0.0, 1.0], (0.0, 0.0), "relu")
    if isinstance(m, nn.LeakyReLU):
        return ActivationStep(name, m, (0.0,), [m.negative_slope, 1.0], (0.0, 0.0), "leaky_relu")
    if isinstance(m, nn.PReLU):
        return ActivationStep(name, m, (0.0,), [m.weight, 1.0], (0.0, 0.0), "prelu")
    if isinstance(m, nn.Hardtanh):
        lo, hi = float(m.min_val), float(m.max_val)
        return ActivationStep(name, m, (lo, hi), [0.0, 1.0, 0.0], (lo, 0.0, hi), "hardtanh")
    if isinstance(m, nn.Softshrink):
        la = float(m.lambd)
        return ActivationStep(name, m, (-la, la), [1.0, 0.0, 1.0], (la, 0.0, -la), "softshrink")
    if isinstance(m, nn.Hardshrink):
        la = float(m.lambd)
        return ActivationStep(name, m, (-la, la), [1.0, 0.0, 1.0], (0.0, 0.0, 0.0), "hardshrink")
    thr, val = float(m.threshold), float(m.value)  # nn.Threshold: z if z > thr else value
    return ActivationStep(name, m, (thr,), [0.0, 1.0], (val, 0.0), "threshold")


def _clamp_step(node: fx.Node) -> ActivationStep | None:
    lo, hi = _arg(node, "min", 1), _arg(node, "max", 2)
    if any(isinstance(v, fx.Node) for v in (lo, hi)) or (lo is None and hi is None):
        return None
    if lo is not None and hi is not None:
        return ActivationStep(node.name, nn.Hardtanh(float(lo), float(hi)), (float(lo), float(hi)),
                              [0.0, 1.0, 0.0], (float(lo), 0.0, float(hi)), "hardtanh")
    if lo is not None:  # max(x, lo)
        return ActivationStep(node.name, None, (float(lo),), [0.0, 1.0], (float(lo), 0.0),
                              "clamp_min")
    return ActivationStep(node.name, None, (float(hi),), [1.0, 0.0], (0.0, float(hi)),
                          "clamp_max")


def _check_module(node: fx.Node, m: nn.Module, gm) -> None:
    desc = describe(node, gm)
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        if m.training:
            raise TrainingModeError(
                f"{desc} is in training mode and normalises with batch statistics; call "
                "net.eval() so that it is a fixed affine map")
        if m.running_mean is None:
            raise UnsupportedLayerError(
                f"{desc} has track_running_stats=False, so it normalises with batch statistics "
                f"even in eval mode and is not a fixed affine map; {WHY}")
    if isinstance(m, (nn.Dropout, nn.Dropout1d, nn.Dropout2d)) and m.training and m.p > 0:
        raise TrainingModeError(f"{desc} is in training mode (random masks); call net.eval()")
    if isinstance(m, nn.Flatten) and m.start_dim == 0:
        raise UnsupportedLayerError(f"{desc} flattens the batch axis")
    if isinstance(m, MAXPOOL_MODULES) and m.return_indices:
        raise UnsupportedLayerError(f"{desc} returns indices; set return_indices=False")


def _pool_module(node: fx.Node) -> nn.Module:
    one = node.target in (F.max_pool1d, _A.max_pool1d.default)
    cls = nn.MaxPool1d if one else nn.MaxPool2d
    k = _arg(node, "kernel_size", 1)
    stride = _arg(node, "stride", 2) or None
    return cls(k, stride, _arg(node, "padding", 3, 0), _arg(node, "dilation", 4, 1),
               ceil_mode=bool(_arg(node, "ceil_mode", 5, False)))


def _linear_map(node: fx.Node, gm):
    """For an affine function node: the map of its args without the constant term, or None."""
    t = node.target
    if t in (F.linear, _A.linear.default):
        return lambda x, w, *a, **k: F.linear(x, w)
    if t in (F.conv1d, F.conv2d, _A.conv1d.default, _A.conv2d.default, F.conv_transpose1d,
             F.conv_transpose2d, _A.conv_transpose1d.default, _A.conv_transpose2d.input,
             _A.convolution.default):  # the bias is argument 2 of each
        def conv(x, w, b=None, *rest, **kw):
            kw.pop("bias", None)
            return t(x, w, None, *rest, **kw)
        return conv
    if t in (F.batch_norm,):
        if _arg(node, "training", 5, False):
            raise TrainingModeError(f"{describe(node, gm)} normalises with batch statistics "
                                    "(training=True); pass training=False (eval mode)")

        def bn(x, mean, var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5,
               **kw):
            eps = kw.get("eps", eps)
            s = torch.rsqrt(var + eps)
            s = s * weight if weight is not None else s
            return x * s.reshape((1, -1) + (1,) * (x.dim() - 2))
        return bn
    if t is _A.batch_norm.default and node.args[5]:
        raise TrainingModeError(f"{describe(node, gm)} normalises with batch statistics "
                                "(training=True); call net.eval()")
    if t is _A._native_batch_norm_legit_no_training.default or t is _A.batch_norm.default:
        def bn_aten(x, weight, bias, mean, var, *rest):
            eps = rest[-1] if t is _A._native_batch_norm_legit_no_training.default else rest[-2]
            s = torch.rsqrt(var + eps)
            s = s * weight if weight is not None else s
            y = x * s.reshape((1, -1) + (1,) * (x.dim() - 2))
            return (y, None, None) if t is not _A.batch_norm.default else y
        return bn_aten
    if t in (_A.rsub.Scalar,):  # ``c - alpha * x`` (torch.export's ``1.0 - h``)
        return lambda x, other, alpha=1: x * -alpha
    if t in (F.pad, _A.pad.default, _A.constant_pad_nd.default):
        def pad(x, p, *rest, **kw):
            if t is F.pad or t is _A.pad.default:
                mode = kw.get("mode", rest[0] if rest else "constant")
                if mode == "constant":
                    return F.pad(x, p, "constant", 0.0)
                return F.pad(x, p, mode)
            return _A.constant_pad_nd.default(x, p, 0.0)
        return pad
    if t in (F.dropout, F.dropout1d, F.dropout2d, F.alpha_dropout):
        if _arg(node, "training", 2, True) and float(_arg(node, "p", 1, 0.5)) > 0:
            raise TrainingModeError(f"{describe(node, gm)} drops units at random "
                                    "(training=True); pass training=self.training and eval()")
        return "same"
    return None


def transposed_conv_linear(m: nn.Module):
    """The map of a ConvTranspose1d/2d module without its bias, on its forward's arguments
    (``output_size`` included)."""
    nd = 1 if isinstance(m, nn.ConvTranspose1d) else 2
    conv = F.conv_transpose1d if nd == 1 else F.conv_transpose2d

    def lin(x, output_size=None):
        pad = m._output_padding(x, output_size, m.stride, m.padding, m.kernel_size, nd,
                                m.dilation)
        return conv(x, m.weight, None, m.stride, m.padding, pad, m.groups, m.dilation)
    return lin


# ---------------------------------------------------- a final softmax / sigmoid: a hint
SMOOTH_HEAD_MODULES = (nn.Softmax, nn.LogSoftmax, nn.Sigmoid, nn.Softmax2d)
_SMOOTH_HEADS = {F.softmax, torch.softmax, F.log_softmax, torch.log_softmax, F.sigmoid,
                 torch.sigmoid, "softmax", "log_softmax", "sigmoid", _A._softmax.default,
                 _A.softmax.int, _A._log_softmax.default, _A.log_softmax.int,
                 _A.sigmoid.default}


def smooth_head_error(node: fx.Node, gm) -> UnsupportedLayerError | None:
    """The error for a softmax / log_softmax / sigmoid (module or function), else None;
    when it is the network's last operation, the error says to pass the logits."""
    m = gm.get_submodule(node.target) if node.op == "call_module" else None
    if not isinstance(m, SMOOTH_HEAD_MODULES) and (m is not None or node.op == "get_attr"
                                                   or node.target not in _SMOOTH_HEADS):
        return None
    what = "a softmax / log_softmax / sigmoid is smooth, not piecewise linear"
    if not node.users or any(u.op != "output" for u in node.users):
        return refuse(node, gm, what)
    return UnsupportedLayerError(
        f"{describe(node, gm)} is not supported: {what}. It is the network's final step, "
        "which does not change the cells: they are those of the logits. Pass the network "
        "without its final softmax / sigmoid (e.g. net[:-1] for an nn.Sequential, or a model "
        "whose forward returns the logits)")


_JOINS = {torch.cat, torch.concat, torch.stack, _A.cat.default, _A.stack.default}


def join_batches(node: fx.Node, args, kwargs):
    """The arguments of a concatenation, brought to one batch size.

    A constant pushed as ONE row (the origin, before any activation: see
    ``NetworkCells.layer_maps``) meets rows of B imposed patterns after a branch's
    activation. ``x + y`` broadcasts them; ``cat`` and ``stack`` do not, so a row of
    batch 1 is expanded to B (a view, no copy). Other operations pass unchanged.
    """
    if node.target not in _JOINS:
        return args, kwargs
    sizes: set = set()
    fx.node.map_aggregate((args, kwargs), lambda a: sizes.add(a.shape[0])
                          if torch.is_tensor(a) and a.dim() else None)
    if len(sizes) != 2 or 1 not in sizes:
        return args, kwargs
    b = max(sizes)
    return fx.node.map_aggregate(
        (args, kwargs), lambda a: a.expand((b,) + tuple(a.shape[1:]))
        if torch.is_tensor(a) and a.dim() and a.shape[0] == 1 else a)
