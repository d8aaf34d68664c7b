"""Loading a saved piecewise-linear network: torch.export (.pt2), TorchScript, torch.save.

The exported or scripted graph is translated back into an ``nn.Sequential`` of the
layers cellgeom supports, so the adapters see an ordinary module.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

__all__ = ["PickledNetworkError", "load_network"]


class PickledNetworkError(ValueError):
    """A ``torch.save`` pickle was given without ``allow_pickle=True``."""


def _unreadable(path: Path, kind: str, exc: Exception) -> ValueError:
    """The error for a file that torch cannot read as ``kind``: its name and torch's cause
    in one line (torch's own errors do not name the file)."""
    cause = " ".join(str(exc).split())[:200] or type(exc).__name__
    return ValueError(f"{str(path)!r} is not a readable {kind} ({type(exc).__name__}: "
                      f"{cause}); it may be truncated or corrupt.")


def load_network(path, allow_pickle: bool = False) -> nn.Module:
    """Load a network saved with ``torch.export.save`` (.pt2), ``torch.jit.save``
    (.pt, .pth, .ts) or, with ``allow_pickle=True``, ``torch.save``.

    Parameters
    ----------
    path : str or Path
    allow_pickle : bool
        Unpickling a ``torch.save`` file runs code stored in it; refused unless True.

    Returns
    -------
    torch.nn.Module
        An ``nn.Sequential`` in eval mode for exported and scripted sequential networks of
        Linear and ReLU-like layers; any other exported program is returned as its module
        (``program.module()``), which :func:`cellgeom.nn.as_network` traces (export it with
        a dynamic batch dimension, ``dynamic_shapes``, if its forward reshapes by the
        batch size).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    if suffix == ".pt2":
        # torch logs a warning with a traceback before its own error on a bad archive
        export_log = logging.getLogger("torch.export")
        level = export_log.level
        export_log.setLevel(logging.ERROR)
        try:
            program = torch.export.load(str(path))
        except Exception as exc:  # noqa: BLE001 - zip, pickle and schema errors of a bad file
            raise _unreadable(path, "torch.export program (.pt2)", exc) from None
        finally:
            export_log.setLevel(level)
        try:
            return _exported_to_sequential(program, path)
        except RuntimeError:  # branches, convolutions...: the exported graph itself, which
            return program.module()  # cellgeom.nn traces at the aten level
    if suffix in (".pt", ".pth", ".ts"):
        try:
            return _script_to_sequential(torch.jit.load(str(path), map_location="cpu"), path)
        except RuntimeError as exc:
            if "constants.pkl" not in str(exc) and "archive" not in str(exc).lower():
                raise
        if not allow_pickle:
            raise PickledNetworkError(
                f"{str(path)!r} is not TorchScript: it is a torch.save pickle, and loading "
                "it runs arbitrary code. Save the network with torch.export.save (.pt2) or "
                "torch.jit.save, or pass allow_pickle=True (--allow-pickle) if you trust the file.")
        try:
            return torch.load(str(path), map_location="cpu", weights_only=False)
        except (ImportError, AttributeError):
            raise  # a readable pickle of a class this environment lacks: its own message
        except Exception as exc:  # noqa: BLE001 - unpickling errors of a bad file vary
            raise _unreadable(path, "torch.save file", exc) from None
    raise ValueError(f"{str(path)!r}: unsupported extension {suffix!r} for a network; accepted: "
                     ".pt2, .pt, .pth, .ts.")


def _exported_to_sequential(program, path):
    """An ``nn.Sequential`` equal to a torch.export program made of linear/ReLU steps."""
    gm = program.module()
    params = dict(gm.named_parameters())
    params.update(dict(gm.named_buffers()))
    layers, prev = [], None

    def tensor(node):
        if node is None:
            return None
        if node.op == "get_attr":
            return params[node.target].detach().clone()
        raise RuntimeError(f"MODEL {str(path)!r}: weight input {node.name} is not a stored "
                           "parameter.")

    ops = torch.ops.aten
    for node in gm.graph.nodes:
        if node.op in ("placeholder", "output", "get_attr"):
            if node.op == "placeholder" and prev is None:
                prev = node
            continue
        if node.op != "call_function":
            continue
        name = getattr(node.target, "__name__", str(node.target))
        if node.target in (ops.linear.default,):
            if node.args[0] is not prev and layers:
                raise RuntimeError(f"MODEL {str(path)!r}: only sequential networks are "
                                   "supported (a branch was found at " + node.name + ").")
            w, b = tensor(node.args[1]), tensor(node.args[2] if len(node.args) > 2 else None)
            lin = nn.Linear(w.shape[1], w.shape[0], bias=b is not None, dtype=w.dtype)
            with torch.no_grad():
                lin.weight.copy_(w)
                if b is not None:
                    lin.bias.copy_(b)
            layers.append(lin)
        elif node.target in (ops.relu.default, ops.relu_.default):
            layers.append(nn.ReLU())
        elif node.target in (ops.leaky_relu.default, ops.leaky_relu_.default):
            layers.append(nn.LeakyReLU(node.args[1] if len(node.args) > 1 else 0.01))
        elif node.target in (ops.hardtanh.default,):
            layers.append(nn.Hardtanh(*node.args[1:3]))
        elif node.target in (ops.flatten.using_ints, ops.dropout.default, ops.clone.default):
            layers.append(nn.Identity() if "flatten" not in name else nn.Flatten())
        elif "getitem" in name or "tree_" in name or "guards" in str(node.target):
            continue
        else:
            raise RuntimeError(f"MODEL {str(path)!r}: operation {name} of the exported program "
                               "is not supported (use Linear and ReLU/LeakyReLU/Hardtanh).")
        prev = node
    if not layers:
        raise RuntimeError(f"MODEL {str(path)!r}: the exported program has no Linear layer.")
    return nn.Sequential(*layers).eval()


def _script_to_sequential(module, path):
    """An ``nn.Sequential`` equal to a scripted Sequential of supported layers."""
    kind = getattr(module, "original_name", type(module).__name__)
    children = list(module.named_children())
    if kind == "Sequential":
        return nn.Sequential(*[_script_to_sequential(c, path) for _, c in children]).eval()
    if kind == "Linear":
        w = module.weight.detach().clone()
        b = module.bias.detach().clone() if module.bias is not None else None
        lin = nn.Linear(w.shape[1], w.shape[0], bias=b is not None, dtype=w.dtype)
        with torch.no_grad():
            lin.weight.copy_(w)
            if b is not None:
                lin.bias.copy_(b)
        return lin
    simple = {"ReLU": nn.ReLU, "Identity": nn.Identity, "Flatten": nn.Flatten,
              "Dropout": nn.Identity}
    if kind in simple:
        return simple[kind]()
    if kind == "LeakyReLU":
        return nn.LeakyReLU(float(module.negative_slope))
    raise RuntimeError(f"MODEL {str(path)!r}: TorchScript module {kind!r} is not supported; "
                       "script an nn.Sequential of Linear and ReLU/LeakyReLU layers.")
