"""Reading the command line's files: models (skops, pickle, PyTorch, native booster files),
data tables (.npy, .csv with or without a header, .parquet) and labels.

Every refusal is a :class:`UsageError` (exit code 2) naming the argument and the file.
"""
from __future__ import annotations

import csv
import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["UsageError", "Table", "load_model", "load_data", "expected_features", "MODEL_SUFFIXES",
           "DATA_SUFFIXES", "csv_has_header"]

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
TORCH_SUFFIXES = (".pt2", ".pt", ".pth", ".ts")
#: native model files of the boosting libraries: suffix -> library
BOOSTER_SUFFIXES = {".json": "xgboost", ".ubj": "xgboost", ".txt": "lightgbm",
                    ".cbm": "catboost"}
MODEL_SUFFIXES = (".skops", *PICKLE_SUFFIXES, *TORCH_SUFFIXES, *BOOSTER_SUFFIXES)
DATA_SUFFIXES = (".npy", ".csv", ".parquet")


class UsageError(Exception):
    """A bad command-line argument (exit code 2); the message names it."""


# -- models ----------------------------------------------------------------------------------
_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "cellgeom.", "collections.")
#: the boosting libraries' own estimator and booster classes, as skops names them
_TRUSTED_BOOSTER_TYPES = frozenset({
    "xgboost.core.Booster", "xgboost.sklearn.XGBClassifier", "xgboost.sklearn.XGBRegressor",
    "lightgbm.basic.Booster", "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
    "catboost.core.CatBoost", "catboost.core.CatBoostClassifier",
    "catboost.core.CatBoostRegressor",
})


def load_model(path: Path, allow_pickle: bool = False):
    """Load MODEL by its extension.

    ``.skops`` (scikit-learn models and the XGBoost / LightGBM / CatBoost wrappers and
    boosters), joblib/pickle (only with ``allow_pickle``), PyTorch (``.pt2``
    torch.export, ``.pt``/``.pth``/``.ts`` TorchScript) and the boosting libraries'
    native files: XGBoost ``.json``/``.ubj`` (``save_model``; a scikit-learn wrapper's
    file gives the wrapper back), LightGBM ``.txt`` (``Booster.save_model``) and
    CatBoost ``.cbm`` (``save_model``).
    """
    suffix = path.suffix.lower()
    if suffix == ".skops":
        return _load_skops(path)
    if suffix in PICKLE_SUFFIXES:
        if not allow_pickle:
            raise UsageError(
                f"MODEL {str(path)!r} is a pickle/joblib file: loading it runs arbitrary code "
                "stored in the file. Pass --allow-pickle only if you trust its source, or save "
                "the model with skops (skops.io.dump(model, 'model.skops')).")
        import joblib

        try:
            return joblib.load(path)
        except (ImportError, AttributeError):
            raise  # a readable pickle of a class this environment lacks: its own message
        except Exception as exc:  # noqa: BLE001 - unpickling errors of a bad file vary
            raise RuntimeError(
                f"MODEL {str(path)!r} is not a readable pickle/joblib file "
                f"({type(exc).__name__}: {exc}); it may be truncated or corrupt: save it "
                "again with joblib.dump(model, path).") from None
    if suffix in TORCH_SUFFIXES:
        from ..nn.io import PickledNetworkError, load_network

        try:
            return load_network(path, allow_pickle=allow_pickle)
        except PickledNetworkError as exc:
            raise UsageError(f"MODEL {exc}") from None
    if suffix in BOOSTER_SUFFIXES:
        return _load_booster(path, BOOSTER_SUFFIXES[suffix])
    raise UsageError(f"MODEL {str(path)!r} has an unsupported extension {suffix!r}; accepted: "
                     f".skops, {', '.join(PICKLE_SUFFIXES)} (with --allow-pickle), "
                     f"{', '.join(TORCH_SUFFIXES)}, XGBoost .json/.ubj, LightGBM .txt, "
                     "CatBoost .cbm.")


def _load_skops(path: Path):
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # noqa: BLE001 - zip, JSON or schema errors of a bad file
        raise RuntimeError(
            f"MODEL {str(path)!r} is not a readable skops file ({type(exc).__name__}: "
            f"{exc}); it may be truncated or corrupt: save it again with "
            "skops.io.dump(model, path).") from None
    foreign = [t for t in untrusted
               if not t.startswith(_TRUSTED_PREFIXES) and t not in _TRUSTED_BOOSTER_TYPES]
    if foreign:
        raise RuntimeError(
            f"MODEL {str(path)!r} contains types outside scikit-learn/NumPy/SciPy and the "
            f"boosting libraries ({', '.join(foreign)}); load it yourself with "
            "skops.io.load(trusted=...) after review.")
    try:
        return sio.load(path, trusted=untrusted)
    except Exception as exc:  # noqa: BLE001 - a member unreadable past the schema
        raise RuntimeError(
            f"MODEL {str(path)!r} is not a readable skops file ({type(exc).__name__}: "
            f"{exc}); it may be truncated or corrupt.") from None


def _load_booster(path: Path, library: str):
    import importlib

    try:
        importlib.import_module(library)
    except ImportError:
        raise RuntimeError(f"MODEL {str(path)!r} is read as a {library} model file, which "
                           f"needs {library}: pip install 'cellgeom[boosting]'.") from None
    try:
        if library == "xgboost":
            return _load_xgboost(path)
        if library == "lightgbm":
            return _load_lightgbm(path)
        import catboost

        model = catboost.CatBoost()
        model.load_model(str(path))
        return model
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - each library raises its own error type
        # the message without the native stack trace XGBoost appends to it
        cause = " ".join(str(exc).split("Stack trace:")[0].split())[:300] or type(exc).__name__
        raise UsageError(f"MODEL {str(path)!r} is not a {library} model file ({cause}); "
                         f"{path.suffix} files are read as {library} models.") from None


def _load_xgboost(path: Path):
    import xgboost

    booster = xgboost.Booster()
    booster.load_model(str(path))
    # a wrapper's save_model records its kind; give the wrapper back (classes, probabilities)
    kind = json.loads(booster.attr("scikit_learn") or "{}").get("_estimator_type")
    wrapper = {"classifier": xgboost.XGBClassifier,
               "regressor": xgboost.XGBRegressor}.get(kind)
    if wrapper is None:
        return booster
    model = wrapper()
    model.load_model(str(path))
    return model


def _load_lightgbm(path: Path):
    import lightgbm

    with open(path, encoding="utf-8", errors="replace") as fh:
        first = fh.readline().strip()
    if first != "tree":  # LightGBM's text format starts with the line "tree"
        raise UsageError(f"MODEL {str(path)!r} is not a LightGBM model file (its first line is "
                         f"{first[:40]!r}, not 'tree'); .txt files are read as LightGBM models "
                         "saved with Booster.save_model.")
    return lightgbm.Booster(model_file=str(path))


def expected_features(model) -> int | None:
    """Number of input features the model takes, when it says so; None otherwise."""
    n = getattr(model, "n_features_in_", None)
    if n is not None and int(n) > 0:  # a CatBoost model read from a file says 0
        return int(n)
    module = type(model).__module__
    if module.startswith("xgboost"):
        return int(model.num_features())
    if module.startswith("lightgbm") and hasattr(model, "num_feature"):
        return int(model.num_feature())
    if module.startswith("catboost") and getattr(model, "feature_names_", None):
        return len(model.feature_names_)
    modules = getattr(model, "modules", None)
    if callable(modules):  # a torch module: the first layer's input width (duck-typed)
        first = next((m for m in modules() if hasattr(m, "in_features")), None)
        if first is not None:
            return int(first.in_features)
    return None


# -- data --------------------------------------------------------------------------------------
@dataclass
class Table:
    """DATA as read: the feature matrix, column names (None without a header), labels."""

    X: np.ndarray
    columns: list[str] | None
    header: bool | None  # CSV: whether the first row was read as a header
    labels: np.ndarray | None = None

    def frame(self):
        """The features as a DataFrame with the file's column names (None without names)."""
        if self.columns is None:
            return None
        import pandas as pd

        return pd.DataFrame(self.X, columns=self.columns)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_has_header(path: Path) -> bool:
    """Whether the first row of a CSV file is a header.

    A row with a field that is not a number is a header. A row of numbers is data,
    except the integers 0..k-1 of a pandas frame written with its default column
    names when the rows below hold non-integers (integer data, e.g. binary features
    whose first row reads 0,1, stays data).
    """
    with open(path, newline="", encoding="utf-8-sig") as fh:
        sample = fh.read(65536)
    rows = list(csv.reader(sample.splitlines()[:2]))
    if not rows or not rows[0]:
        return False
    first = [f.strip() for f in rows[0]]
    if not all(_is_number(f) for f in first):
        return True
    if first == [str(j) for j in range(len(first))]:
        below = [f.strip() for row in csv.reader(sample.splitlines()[1:50]) for f in row]
        return any(not _is_integer(f) for f in below if f)
    return False


def _is_integer(text: str) -> bool:
    return text.lstrip("+-").isdigit()


@contextmanager
def _reading(what: str, kind: str):
    """Name the file in one line when it cannot be read as ``kind``: a pickled, empty or cut
    .npy (ValueError, EOFError, OSError), an empty, ragged or non-UTF-8 .csv (pandas'
    EmptyDataError and ParserError and UnicodeDecodeError are ValueErrors)."""
    try:
        yield
    except (ValueError, EOFError, OSError) as exc:
        raise RuntimeError(f"{what} could not be read as {kind} "
                           f"({type(exc).__name__}: {exc}).") from None


def load_data(path: Path, header: bool | None = None, labels: str | None = None) -> Table:
    """DATA from .npy, .csv (header detected unless ``header`` says) or .parquet.

    ``labels`` names a column of a .csv/.parquet with a header (taken out of the
    features) or a .npy/.csv file with one label per row.
    """
    import pandas as pd

    suffix = path.suffix.lower()
    columns, used_header = None, None
    if suffix == ".npy":
        with _reading(f"DATA {str(path)!r}", ".npy"):
            X = np.load(path, allow_pickle=False)
        frame = None
    else:
        if suffix == ".csv":
            with _reading(f"DATA {str(path)!r}", ".csv"):
                used_header = csv_has_header(path) if header is None else header
                frame = pd.read_csv(path, header=0 if used_header else None)
        else:
            try:
                frame = pd.read_parquet(path)
            except ImportError as exc:
                raise RuntimeError(f"reading DATA {str(path)!r} needs pyarrow: {exc}") from None
        if used_header is not False:
            columns = [str(c) for c in frame.columns]
    y = None
    if labels is not None:
        if frame is not None and columns is not None and labels in columns:
            y = frame[labels].to_numpy()
            frame = frame.drop(columns=frame.columns[columns.index(labels)])
            columns.remove(labels)
        else:
            y = _load_labels(labels, path)
    if frame is not None:
        bad = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
        if bad:
            hint = "" if labels is not None else " (name a label column with --labels)"
            raise RuntimeError(f"DATA {str(path)!r} has non-numeric column(s) "
                               f"{[str(c) for c in bad]}; keep only the model's input "
                               f"features{hint}.")
        X = frame.to_numpy(dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] == 0:
        raise RuntimeError(f"DATA {str(path)!r} must be a non-empty 2-D table, got shape "
                           f"{X.shape}.")
    if y is not None and len(y) != X.shape[0]:
        raise UsageError(f"--labels {labels!r} has {len(y)} labels but DATA {str(path)!r} has "
                         f"{X.shape[0]} rows.")
    return Table(np.asarray(X, dtype=float), columns, used_header, y)


def _load_labels(name: str, data_path: Path) -> np.ndarray:
    import pandas as pd

    p = Path(name)
    if not p.is_file():
        raise UsageError(f"--labels {name!r} is neither a column of DATA {str(data_path)!r} "
                         "(a .csv/.parquet with a header) nor a file.")
    suffix = p.suffix.lower()
    if suffix == ".npy":
        with _reading(f"--labels {name!r}", ".npy"):
            y = np.load(p, allow_pickle=False)
    elif suffix == ".csv":
        with _reading(f"--labels {name!r}", ".csv"):
            frame = pd.read_csv(p, header=0 if csv_has_header(p) else None)
        if frame.shape[1] != 1:
            raise UsageError(f"--labels {name!r} must have one column, got {frame.shape[1]}.")
        y = frame.iloc[:, 0].to_numpy()
    else:
        raise UsageError(f"--labels {name!r}: a label file is .npy or .csv, got {suffix!r}.")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise UsageError(f"--labels {name!r} must hold one label per row, got shape {y.shape}.")
    return y
