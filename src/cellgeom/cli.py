"""The ``cellgeom`` command line: ``demo``, ``analyze`` and ``info``.

Exit codes: 0 success; 2 usage errors (the message names the bad argument);
1 failures, with a one-line cause (the traceback only with ``--debug``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

__all__ = ["main", "UsageError"]

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
TORCH_SUFFIXES = (".pt2", ".pt", ".pth", ".ts")
DATA_SUFFIXES = (".npy", ".csv", ".parquet")


class UsageError(Exception):
    """A bad command-line argument (exit code 2); the message names it."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own usage errors: exit 2, naming the argument
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


# -- argument types --------------------------------------------------------------------------
def _domain(text: str):
    """``auto`` or ``LO,HI`` (the same bounds on every axis)."""
    if text == "auto":
        return "auto"
    parts = text.split(",")
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'auto' or LO,HI (two numbers), got {text!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise argparse.ArgumentTypeError(f"needs finite LO < HI, got {text!r}")
    return lo, hi


def _existing_file(label: str, path: str, suffixes) -> Path:
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{label} {path!r} does not exist.")
    if p.is_dir():
        raise UsageError(f"{label} {path!r} is a directory, not a file.")
    if suffixes and p.suffix.lower() not in suffixes:
        raise UsageError(f"{label} {path!r} has an unsupported extension {p.suffix!r}; "
                         f"accepted: {', '.join(suffixes)}.")
    return p


def _output(label: str, path: str | None) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{label} {path!r} is a directory; give a file name.")
    if not p.parent.exists():
        raise UsageError(f"{label} {path!r}: directory {str(p.parent)!r} does not exist.")
    return p


# -- loading models ----------------------------------------------------------------------------
_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "cellgeom.", "collections.")


def load_model(path: Path, allow_pickle: bool = False):
    """Load MODEL by its extension (skops, joblib/pickle, torch.export, TorchScript)."""
    suffix = path.suffix.lower()
    if suffix == ".skops":
        import skops.io as sio

        untrusted = sio.get_untrusted_types(file=path)
        foreign = [t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES)]
        if foreign:
            raise RuntimeError(
                f"MODEL {str(path)!r} contains types outside scikit-learn/NumPy/SciPy "
                f"({', '.join(foreign)}); load it yourself with skops.io.load(trusted=...) "
                "after review.")
        return sio.load(path, trusted=untrusted)
    if suffix in PICKLE_SUFFIXES:
        if not allow_pickle:
            raise UsageError(
                f"MODEL {str(path)!r} is a pickle/joblib file: loading it runs arbitrary code "
                "stored in the file. Pass --allow-pickle only if you trust its source, or save "
                "the model with skops (skops.io.dump(model, 'model.skops')).")
        import joblib

        return joblib.load(path)
    if suffix == ".pt2":
        import torch

        return _exported_to_sequential(torch.export.load(str(path)), path)
    if suffix in (".pt", ".pth", ".ts"):
        import torch

        try:
            return _script_to_sequential(torch.jit.load(str(path), map_location="cpu"), path)
        except RuntimeError as exc:
            if "constants.pkl" not in str(exc) and "archive" not in str(exc).lower():
                raise
        if not allow_pickle:
            raise UsageError(
                f"MODEL {str(path)!r} is not TorchScript: it is a torch.save pickle, and loading "
                "it runs arbitrary code. Save the network with torch.export.save (.pt2) or "
                "torch.jit.save, or pass --allow-pickle if you trust the file.")
        return torch.load(str(path), map_location="cpu", weights_only=False)
    raise UsageError(f"MODEL {str(path)!r} has an unsupported extension {suffix!r}; accepted: "
                     f".skops, {', '.join(PICKLE_SUFFIXES)} (with --allow-pickle), "
                     f"{', '.join(TORCH_SUFFIXES)}.")


def _exported_to_sequential(program, path):
    """An ``nn.Sequential`` equal to a torch.export program made of linear/ReLU steps."""
    import torch
    from torch import nn

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
    import torch
    from torch import nn

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


# -- loading data ------------------------------------------------------------------------------
def load_data(path: Path) -> np.ndarray:
    """DATA as a float matrix from .npy, .csv or .parquet (numeric columns only)."""
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            X = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise RuntimeError(f"DATA {str(path)!r} could not be read as .npy: {exc}") from None
    else:
        if suffix == ".csv":
            df = pd.read_csv(path)
        else:
            try:
                df = pd.read_parquet(path)
            except ImportError as exc:
                raise RuntimeError(f"reading DATA {str(path)!r} needs pyarrow: {exc}") from None
        bad = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
        if bad:
            raise RuntimeError(f"DATA {str(path)!r} has non-numeric column(s) {bad}; keep only "
                               "the model's input features.")
        X = df.to_numpy(dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] == 0:
        raise RuntimeError(f"DATA {str(path)!r} must be a non-empty 2-D table, got shape "
                           f"{X.shape}.")
    return np.asarray(X, dtype=float)


# -- commands ----------------------------------------------------------------------------------
def print_summary(cx, out=None) -> None:
    """Print the report's summary as an aligned two-column table."""
    from .report import summary_rows

    out = out or sys.stdout
    rows = summary_rows(cx)
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{width}}  {v}", file=out)


def cmd_analyze(args) -> int:
    model_path = _existing_file("MODEL", args.model, None)
    data_path = _existing_file("DATA", args.data, DATA_SUFFIXES)
    out = _output("--out", args.out)
    save = _output("--save", args.save)
    model = load_model(model_path, allow_pickle=args.allow_pickle)
    X = load_data(data_path)
    import cellgeom

    domain = None
    if args.domain != "auto":
        lo, hi = args.domain
        domain = cellgeom.Box(np.full(X.shape[1], lo), np.full(X.shape[1], hi))
    progress = not args.quiet
    part = cellgeom.partition(model, domain=domain, data=X, cells=args.cells, progress=progress)
    cx = cellgeom.complex(part)
    print(f"{model_path.name} on {data_path.name}: {X.shape[0]} points")
    print_summary(cx)
    if out is not None:
        cellgeom.report(cx, out, title=f"cellgeom: {model_path.name}",
                        data=X if part.dim == 2 else None, progress=progress)
        print(f"report written to {out}")
    if save is not None:
        cx.save(save)
        print(f"complex saved to {save}")
    return 0


def cmd_info(args) -> int:
    path = _existing_file("FILE", args.file, None)
    from .complex.io import load, read_metadata

    meta = read_metadata(path)
    cx = load(path)
    print(f"{path.name}: cellgeom complex, schema version {meta['schema_version']} "
          f"(written by cellgeom {meta['cellgeom_version']})")
    print_summary(cx)
    return 0


def cmd_demo(args) -> int:
    from .report.demo import run_demo

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {args.out!r} exists and is not a directory.")
    run_demo(out, quiet=args.quiet)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cellgeom", description="Exact cell geometry of ML models.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def common(p):
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        p.add_argument("--debug", action="store_true", help="show tracebacks on failure")

    demo = sub.add_parser("demo", help="train small models on bundled data and write reports",
                          description="Train a random forest (iris) and a ReLU network "
                          "(make_moons), analyse both and write their HTML reports.")
    demo.add_argument("--out", default="demo-output", help="output directory (default: "
                      "demo-output)")
    common(demo)
    demo.set_defaults(func=cmd_demo)

    an = sub.add_parser("analyze", help="partition a saved model on data; report and save",
                        description="Build the cells of MODEL on DATA, print a summary, write "
                        "an HTML report and optionally save the complex.")
    an.add_argument("model", metavar="MODEL", help=".skops; .joblib/.pkl with --allow-pickle; "
                    "PyTorch .pt2 (torch.export) or .pt/.ts (TorchScript)")
    an.add_argument("data", metavar="DATA", help=".npy, .csv or .parquet (numeric features)")
    an.add_argument("--domain", type=_domain, default="auto", metavar="LO,HI|auto",
                    help="domain box, the same bounds on every axis (default: data box + 5%%)")
    an.add_argument("--cells", choices=("data", "all"), default="data",
                    help="cells holding data (default) or every cell of the domain")
    an.add_argument("--out", default="report.html", help="HTML report (default: report.html)")
    an.add_argument("--save", default=None, metavar="COMPLEX.npz", help="save the complex")
    an.add_argument("--allow-pickle", action="store_true",
                    help="allow loading joblib/pickle models (runs code from the file)")
    common(an)
    an.set_defaults(func=cmd_analyze)

    info = sub.add_parser("info", help="summary of a saved complex",
                          description="Verify and summarise a complex saved with --save or "
                          "RiemannianComplex.save.")
    info.add_argument("file", metavar="FILE", help="a saved complex (.npz)")
    common(info)
    info.set_defaults(func=cmd_info)
    return parser


def _version() -> str:
    from . import __version__

    return f"cellgeom {__version__}"


_NEG = {f"-{c}" for c in "0123456789."}


def _join_negative_domain(argv: list[str]) -> list[str]:
    """``--domain -2,3`` would read as an option to argparse: pass it as ``--domain=-2,3``."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] == "--domain" and i + 1 < len(argv) and argv[i + 1][:2] in _NEG:
            out.append(f"--domain={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cellgeom`` command; returns the exit code."""
    parser = build_parser()
    argv = _join_negative_domain(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        if args.debug:
            raise
        print(f"cellgeom {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cellgeom: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line per failure, traceback with --debug
        if args.debug:
            raise
        cause = " ".join(str(exc).split()) or type(exc).__name__
        print(f"cellgeom {args.command}: error: {type(exc).__name__}: {cause}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
