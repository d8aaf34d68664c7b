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
    if suffix in TORCH_SUFFIXES:
        from .nn.io import PickledNetworkError, load_network

        try:
            return load_network(path, allow_pickle=allow_pickle)
        except PickledNetworkError as exc:
            raise UsageError(f"MODEL {exc}") from None
    raise UsageError(f"MODEL {str(path)!r} has an unsupported extension {suffix!r}; accepted: "
                     f".skops, {', '.join(PICKLE_SUFFIXES)} (with --allow-pickle), "
                     f"{', '.join(TORCH_SUFFIXES)}.")


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
    from .complex import build_complex
    from .geometry import Box
    from .models import partition
    from .report import write_report

    domain = None
    if args.domain != "auto":
        lo, hi = args.domain
        domain = Box(np.full(X.shape[1], lo), np.full(X.shape[1], hi))
    progress = not args.quiet
    part = partition(model, domain=domain, data=X, cells=args.cells, progress=progress)
    cx = build_complex(part)
    print(f"{model_path.name} on {data_path.name}: {X.shape[0]} points")
    print_summary(cx)
    if out is not None:
        write_report(cx, out, title=f"cellgeom: {model_path.name}",
                     data=X if part.dim == 2 else None, progress=progress)
        print(f"report written to {out}")
    if save is not None:
        cx.save(save)
        print(f"complex saved to {save}")
    return 0


def cmd_info(args) -> int:
    path = _existing_file("FILE", args.file, None)
    from .complex import load
    from .complex.io import read_metadata

    meta = read_metadata(path)
    cx = load(path)
    print(f"{path.name}: cellgeom complex, schema version {meta['schema_version']} "
          f"(written by cellgeom {meta['cellgeom_version']})")
    print_summary(cx)
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

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
    from ._version import __version__

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
