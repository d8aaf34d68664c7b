"""The ``cellgeom`` command line: ``demo``, ``analyze`` and ``info``.

Exit codes: 0 success; 2 usage errors (the message names the bad argument, also a
DATA table whose feature count does not match MODEL); 1 failures, with a one-line
cause (the traceback only with ``--debug``). Output cut short by a closed pipe
(``cellgeom analyze ... | head``) is not an error: the command finishes its files.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from .loading import (
    DATA_SUFFIXES,
    UsageError,
    expected_features,
    load_data,
    load_model,
)

__all__ = ["main", "UsageError", "build_parser", "cmd_analyze", "cmd_demo", "cmd_info",
           "print_summary"]

REPORT_SUFFIXES = (".html", ".htm")


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


def _n_jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n == 0 or n < -1:
        raise argparse.ArgumentTypeError(f"expected -1 (all cores) or a positive integer, got "
                                         f"{text!r}")
    return n


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


def _output(label: str, path: str | None, suffixes=None, what: str = "") -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{label} {path!r} is a directory; give a file name.")
    if not p.parent.exists():
        raise UsageError(f"{label} {path!r}: directory {str(p.parent)!r} does not exist.")
    if suffixes and p.suffix.lower() not in suffixes:
        raise UsageError(f"{label} {path!r}: {what}; give a name ending in "
                         f"{' or '.join(suffixes)}.")
    try:  # before the run, not after it (os.access says yes to root on read-only mounts)
        with tempfile.TemporaryFile(dir=p.parent):
            pass
    except OSError as exc:
        raise UsageError(f"{label} {path!r}: cannot write in {str(p.parent)!r} "
                         f"({exc.strerror or exc}).") from None
    return p


def _distinct_paths(**paths) -> None:
    """Refuse an output that is an input or the other output: it would be overwritten."""
    seen: dict = {}
    for label, path in paths.items():
        if path is None:
            continue
        key = Path(path).resolve()
        if key in seen:
            raise UsageError(f"{label} {str(path)!r} is the same file as {seen[key]}; "
                             "give another name (it would be overwritten).")
        seen[key] = label


def _check_labels(model, labels) -> None:
    """Refuse labels of another kind (numbers / strings) than the classifier's classes,
    before the partition is built: scikit-learn's score fails on them after it."""
    from ..models._sklearn import final_estimator

    classes = getattr(final_estimator(model), "classes_", None)
    if labels is None or classes is None or isinstance(classes, list):
        return
    numeric = np.asarray(classes).dtype.kind in "biuf"
    if numeric != (np.asarray(labels).dtype.kind in "biuf"):
        raise UsageError(
            f"--labels are {'strings' if numeric else 'numbers'} (e.g. {str(labels[0])!r}), but "
            f"the model's classes are {'numbers' if numeric else 'strings'} "
            f"({', '.join(map(str, classes[:5]))}{', ...' if len(classes) > 5 else ''}).")


# -- output that survives a closed pipe ---------------------------------------------------------
def _say(text: str = "") -> None:
    """Print to stdout; once the reader has gone (``| head``), drop the rest silently."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        _silence_stdout()


def _silence_stdout() -> None:
    """Send later writes, and the interpreter's final flush, to /dev/null."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real descriptor (captured output)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives until exit
    finally:
        os.close(devnull)


# -- commands ----------------------------------------------------------------------------------
def print_summary(cx, metrics=None) -> None:
    """Print the report's summary as an aligned two-column table."""
    from ..report import summary_rows

    rows = summary_rows(cx, metrics=metrics)
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        _say(f"  {k:<{width}}  {v}")


def _check_feature_count(model, model_path: Path, X: np.ndarray, data_path: Path) -> None:
    n = expected_features(model)
    if n is not None and X.shape[1] != n:
        raise UsageError(f"DATA {data_path.name!r} has {X.shape[1]} feature column(s), but "
                         f"MODEL {model_path.name!r} ({type(model).__name__}) expects {n}; "
                         "give DATA with exactly the model's input features (name a label "
                         "column with --labels).")


def _score(model, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The model's own score on (DATA, labels): accuracy for classifiers, R^2 for
    regressors (scikit-learn's ``score``), arg-max accuracy for a torch classifier."""
    from sklearn.base import is_classifier, is_regressor

    if callable(getattr(model, "score", None)) and (is_classifier(model)
                                                    or is_regressor(model)):
        name = "accuracy on DATA" if is_classifier(model) else "R^2 on DATA"
        return {name: float(model.score(X, y))}
    if callable(getattr(model, "modules", None)) and np.asarray(y).dtype.kind in "iu":
        from ..models.network import NetworkCells

        out = NetworkCells(model).outputs(X)
        if out.ndim == 2 and out.shape[1] > 1:
            return {"accuracy on DATA": float(np.mean(out.argmax(axis=1) == y))}
    return {}


def cmd_analyze(args) -> int:
    model_path = _existing_file("MODEL", args.model, None)
    data_path = _existing_file("DATA", args.data, DATA_SUFFIXES)
    out = _output("--out", args.out, REPORT_SUFFIXES,
                  "the report is one self-contained HTML file")
    save = _output("--save", args.save)
    _distinct_paths(MODEL=model_path, DATA=data_path, **{"--out": out, "--save": save})
    labels_file = None if args.labels is None else Path(args.labels)
    if labels_file is not None and labels_file.is_file():
        _distinct_paths(**{"--labels": labels_file, "--out": out, "--save": save})
    model = load_model(model_path, allow_pickle=args.allow_pickle)
    table = load_data(data_path, header=args.header, labels=args.labels)
    X = table.X
    _check_feature_count(model, model_path, X, data_path)
    _check_labels(model, table.labels)
    from ..complex import build_complex
    from ..complex.dual import buildable_rule
    from ..geometry import Box
    from ..models import partition
    from ..report import write_report

    domain = None
    if args.domain != "auto":
        lo, hi = args.domain
        domain = Box(np.full(X.shape[1], lo), np.full(X.shape[1], hi))
    options = {} if args.volume is None else {"volume": args.volume}
    progress = not args.quiet
    data = table.frame() if table.columns is not None else X
    try:
        part = partition(model, domain=domain, data=data, cells=args.cells, progress=progress,
                         n_jobs=args.n_jobs, **options)
    except TypeError as exc:
        if options and "unexpected keyword argument" in str(exc):
            raise UsageError(f"--volume does not apply to {type(model).__name__}: "
                             f"{' '.join(str(exc).split())}") from None
        raise
    except ValueError as exc:
        if options and str(exc).startswith("volume"):
            raise UsageError(f"--volume {args.volume!r}: {exc}") from None
        raise
    # the high-dimensional route has facets only: its facet nerve, which the summary
    # labels (rule, and what its Betti numbers count), not a warning
    cx = build_complex(part, rule=buildable_rule(part), progress=progress)
    if table.columns is not None:  # named columns in the model's order, as partition read them
        import pandas as pd

        X = part.points(data, name="DATA")
        names = part.feature_names
        scored = X if names is None else pd.DataFrame(X, columns=names)
    else:
        scored = X
    metrics = {} if table.labels is None else _score(model, scored, table.labels)
    read = ""
    if table.header is not None:
        read = (f" (header row: {', '.join(table.columns)})" if table.header
                else " (no header row)")
    _say(f"{model_path.name} on {data_path.name}{read}: {X.shape[0]} points")
    print_summary(cx, metrics=metrics)
    if table.labels is not None and not metrics:
        _say(f"  (no score: a {type(model).__name__} has no scikit-learn score or class "
             "outputs; --labels are used for the per-cell label counts)")
    if out is not None:
        write_report(cx, out, title=f"cellgeom: {model_path.name}", data=X,
                     labels=table.labels, metrics=metrics, progress=progress)
        _say(f"report written to {out}")
    if save is not None:
        cx.save(save)
        _say(f"complex saved to {save}")
    return 0


def cmd_info(args) -> int:
    path = _existing_file("FILE", args.file, None)
    from ..complex import load
    from ..complex.io import read_metadata

    meta = read_metadata(path)
    cx = load(path)
    _say(f"{path.name}: cellgeom complex, schema version {meta['schema_version']} "
         f"(written by cellgeom {meta['cellgeom_version']})")
    print_summary(cx)
    return 0


def cmd_demo(args) -> int:
    from ..demo import run_demo

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
    an.add_argument("model", metavar="MODEL", help=".skops (scikit-learn, XGBoost, LightGBM, "
                    "CatBoost); .joblib/.pkl with --allow-pickle; PyTorch .pt2 (torch.export) "
                    "or .pt/.ts (TorchScript); native booster files: XGBoost .json/.ubj, "
                    "LightGBM .txt, CatBoost .cbm")
    an.add_argument("data", metavar="DATA", help=".npy, .csv or .parquet (numeric features; "
                    "a CSV header row is detected)")
    an.add_argument("--domain", type=_domain, default="auto", metavar="LO,HI|auto",
                    help="domain box, the same bounds on every axis (default: data box + 5%%)")
    an.add_argument("--cells", choices=("data", "all"), default="data",
                    help="cells holding data (default) or every cell of the domain")
    header = an.add_mutually_exclusive_group()
    header.add_argument("--header", dest="header", action="store_const", const=True,
                        default=None, help="the CSV's first row is a header")
    header.add_argument("--no-header", dest="header", action="store_const", const=False,
                        help="the CSV's first row is data (default: detected)")
    an.add_argument("--labels", default=None, metavar="COLUMN|FILE",
                    help="labels of DATA: a column of the CSV/parquet (removed from the "
                    "features) or a .npy/.csv file; the report shows them and the model's "
                    "score")
    an.add_argument("--volume", default=None, metavar="MODE",
                    help="cell volumes of networks and other polytope models in high "
                    "dimension (partition(volume=...)), e.g. exact, estimate, data, none")
    an.add_argument("--n-jobs", type=_n_jobs, default=None, metavar="N",
                    help="worker processes for the per-cell work (-1: all cores)")
    an.add_argument("--out", default="report.html", metavar="REPORT.html",
                    help="HTML report (default: report.html)")
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
    from .._version import __version__

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
    try:
        args = parser.parse_args(argv)
    except BrokenPipeError:  # --help | head
        _silence_stdout()
        return 0
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # a write outside _say: stop quietly, as a pipe reader expects
        _silence_stdout()
        return 141
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
