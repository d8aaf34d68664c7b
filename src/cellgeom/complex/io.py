"""The file format of a saved :class:`RiemannianComplex` with its partition.

This module knows the format, not the class: :meth:`RiemannianComplex.save` and
:func:`cellgeom.load` (in :mod:`cellgeom.complex.riemannian`) call it.

File format (schema version 1)
------------------------------
A ``.npz`` file (a zip archive of ``.npy`` arrays) that NumPy alone can read with
``np.load(path, allow_pickle=False)``; nothing in it is pickled.

- ``__meta__``: a 0-d unicode array holding a JSON document: ``format``
  (``"cellgeom.complex"``), ``schema_version``, ``cellgeom_version``, the
  complex's ``rule``/``metric``/``dim``/``gram_min_eigenvalue``, the partition's
  ``class``, ``model`` (a description of the model; the model itself is not
  stored), ``info`` (exact JSON; tuples and non-finite floats are tagged), and for
  each table its columns in order with their pandas dtype and the array holding
  them.
- ``partition/domain_lo``, ``partition/domain_hi``, ``partition/keys``;
  ``partition/vertices/{indptr,ids,coords}`` when the cells' vertices are known.
- ``table/<name>/<j>``: column ``j`` of table ``<name>`` (``cells``, ``facets``,
  ``hinges``, ``edges``), stored column-wise with its own dtype (strings as
  fixed-width unicode).
- ``complex/simplices_<p>``, ``complex/volumes_<p>`` and the CSR parts of each Gram
  matrix ``complex/gram_<p>/{data,indices,indptr}``.

Integrity: the archive's comment is ``cellgeom-sha256:`` followed by the hex
SHA-256 of every byte of the file before those 64 hex digits, so any altered
byte or a truncation is detected before anything is parsed. The file is
written to a temporary file in the target directory and moved into place with
:func:`os.replace`, so a reader never sees a half-written file.

Reading without cellgeom::

    import json, numpy as np
    z = np.load("complex.npz", allow_pickle=False)
    meta = json.loads(str(z["__meta__"]))
    edges = z["complex/simplices_1"]
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._version import __version__
from ..core import BoxPartition, Partition
from ..geometry import Box

__all__ = ["SCHEMA_VERSION", "CorruptFileError", "atomic_write", "check_bytes",
           "read_complex_parts", "read_metadata", "save_complex"]

SCHEMA_VERSION = 1
FORMAT = "cellgeom.complex"
_MAGIC = b"cellgeom-sha256:"
_DIGEST_LEN = 64
_TABLES = ("cells", "facets", "hinges")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


class CorruptFileError(ValueError):
    """A saved complex failed its integrity check (altered, truncated or not ours)."""


# -- JSON with exact round-trip of the values partitions keep in ``info`` ---------------------
def _encode(value: Any, where: str) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return {"__ndarray__": _encode(value.tolist(), where), "dtype": value.dtype.str}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise ValueError(f"{where} has non-string keys; they cannot be saved as JSON.")
        return {k: _encode(v, f"{where}[{k!r}]") for k, v in value.items()}
    warnings.warn(
        f"{where} holds a {type(value).__name__}, which cannot be saved without pickle; "
        "its repr is stored instead.",
        UserWarning,
        stacklevel=4,
    )
    return {"__repr__": repr(value)}


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__float__"}:
            return float(value["__float__"])
        if set(value) == {"__tuple__"}:
            return tuple(_decode(v) for v in value["__tuple__"])
        if set(value) == {"__ndarray__", "dtype"}:
            return np.array(_decode(value["__ndarray__"]), dtype=np.dtype(value["dtype"]))
        if set(value) == {"__repr__"}:
            return value["__repr__"]
        return {k: _decode(v) for k, v in value.items()}
    return value


# -- tables, column-wise -------------------------------------------------------------------------
def _table_to_arrays(name: str, table: pd.DataFrame, arrays: dict) -> dict:
    columns = []
    for j, col in enumerate(table.columns):
        series = table[col]
        dtype = str(series.dtype)
        values = series.to_numpy()
        extra = {}
        if isinstance(series.dtype, pd.CategoricalDtype):  # codes, categories and order
            categories = series.cat.categories
            if categories.dtype.kind not in "biuf" and not all(
                    isinstance(v, str) for v in categories):
                raise ValueError(f"column {col!r} of the {name} table is categorical with "
                                 "categories that are neither numbers nor strings; they "
                                 "cannot be saved without pickle.")
            values = series.cat.codes.to_numpy()
            extra = {"categories": categories.tolist(), "ordered": bool(series.cat.ordered)}
        elif isinstance(series.dtype, pd.api.extensions.ExtensionDtype) and \
                series.dtype.kind in "biuf":  # nullable: values with NA as 0, and the mask
            mask = series.isna().to_numpy()
            values = series.to_numpy(dtype=series.dtype.numpy_dtype, na_value=0)
            arrays[f"table/{name}/{j}/mask"] = mask
            extra = {"mask": f"table/{name}/{j}/mask"}
        elif series.dtype.kind in "biuf":
            values = np.asarray(values)
        elif all(isinstance(v, str) for v in values):
            values = np.asarray(values, dtype=str) if len(values) else np.zeros(0, dtype="<U1")
        else:
            raise ValueError(
                f"column {col!r} of the {name} table has dtype {dtype} with non-string objects; "
                "only numeric, boolean and string columns can be saved without pickle."
            )
        key = f"table/{name}/{j}"
        arrays[key] = values
        columns.append({"name": _encode(col, f"{name} column name"), "dtype": dtype,
                        "array": key, **extra})
    meta = {"columns": columns, "n_rows": len(table)}
    if not (isinstance(table.index, pd.RangeIndex) and table.index.start == 0
            and table.index.step == 1):
        arrays[f"table/{name}/index"] = np.asarray(table.index.to_numpy())
        meta["index"] = f"table/{name}/index"
    return meta


def _table_from_arrays(meta: dict, z) -> pd.DataFrame:
    data = {}
    for col in meta["columns"]:
        values = z[col["array"]]
        if len(values) != meta["n_rows"]:
            raise CorruptFileError(f"column {col['name']!r} has {len(values)} rows, expected "
                                   f"{meta['n_rows']}.")
        if "categories" in col:
            column = pd.Series(pd.Categorical.from_codes(
                values, categories=col["categories"], ordered=col["ordered"]))
        elif "mask" in col:
            column = pd.Series(values).astype(col["dtype"])
            column[z[col["mask"]]] = pd.NA
        else:
            column = pd.Series(values, dtype=col["dtype"])
        data[_decode(col["name"])] = column
    index = z[meta["index"]] if "index" in meta else pd.RangeIndex(meta["n_rows"])
    table = pd.DataFrame(data, index=index)
    if not data:
        table = pd.DataFrame(index=index)
    return table


# -- saving --------------------------------------------------------------------------------------
def _model_description(partition) -> str | None:
    model = partition.model
    if model is None:
        return getattr(partition, "model_description", None)
    return f"{type(model).__module__}.{type(model).__qualname__}"


def save_complex(cx, path) -> Path:
    """Write a :class:`~cellgeom.RiemannianComplex` and its partition to ``path``.

    The format is described in :mod:`cellgeom.complex.io`: a ``.npz`` archive of
    arrays plus JSON metadata, readable with NumPy alone, no pickle, with a
    SHA-256 checksum over the whole file. The write is atomic.

    Parameters
    ----------
    cx : RiemannianComplex
    path : str or Path
        Target file; ``.npz`` is conventional but not enforced.

    Returns
    -------
    Path
        The path written.
    """
    if not all(hasattr(cx, a) for a in ("partition", "_simplices", "_volumes", "_grams")):
        raise TypeError(f"save_complex takes a RiemannianComplex, got {type(cx).__name__}.")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"path {str(path)!r} is a directory; give a file name.")
    part = cx.partition
    arrays: dict[str, np.ndarray] = {
        "partition/domain_lo": np.asarray(part.domain.lo, dtype=float),
        "partition/domain_hi": np.asarray(part.domain.hi, dtype=float),
        "partition/keys": (np.asarray(part.keys, dtype=str) if part.keys
                           else np.zeros(0, dtype="<U1")),
    }
    if isinstance(part, BoxPartition):
        arrays["partition/box_lo"] = np.asarray(part.lo, dtype=float)
        arrays["partition/box_hi"] = np.asarray(part.hi, dtype=float)
    if part._vertices is not None:
        indptr, ids, coords = part._vertices
        arrays["partition/vertices/indptr"] = np.asarray(indptr)
        arrays["partition/vertices/ids"] = np.asarray(ids)
        arrays["partition/vertices/coords"] = np.asarray(coords)
    tables = {name: _table_to_arrays(name, getattr(part, name), arrays) for name in _TABLES}
    tables["edges"] = _table_to_arrays("edges", cx.edges, arrays)
    for p in range(cx.dim + 1):
        arrays[f"complex/simplices_{p}"] = np.asarray(cx._simplices[p])
        arrays[f"complex/volumes_{p}"] = np.asarray(cx._volumes[p])
        G = sp.csr_matrix(cx._grams[p])
        arrays[f"complex/gram_{p}/data"] = G.data
        arrays[f"complex/gram_{p}/indices"] = G.indices
        arrays[f"complex/gram_{p}/indptr"] = G.indptr
    meta = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "cellgeom_version": __version__,
        "complex": {
            "rule": cx.rule, "metric": cx.metric, "dim": cx.dim, "max_dim": cx.max_dim,
            "gram_min_eigenvalue": _encode(cx.gram_min_eigenvalue, "gram_min_eigenvalue"),
            "gram_shapes": [list(cx._grams[p].shape) for p in range(cx.dim + 1)],
        },
        "partition": {
            "class": type(part).__name__,
            "model": _model_description(part),
            "info": _encode(part.info, "partition.info"),
            "has_vertices": part._vertices is not None,
        },
        "tables": tables,
        "arrays": {k: {"dtype": v.dtype.str, "shape": list(v.shape)} for k, v in arrays.items()},
    }
    arrays["__meta__"] = np.array(json.dumps(meta, allow_nan=False))
    payload = _zip_bytes(arrays)
    atomic_write(path, payload)
    return path


def _zip_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asarray(arr), allow_pickle=False)
        zf.comment = _MAGIC + b"0" * _DIGEST_LEN
    raw = buf.getvalue()
    body = raw[:-_DIGEST_LEN]
    return body + hashlib.sha256(body).hexdigest().encode("ascii")


def atomic_write(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` atomically: a temporary file in the same directory,
    fsync, then :func:`os.replace`, so a reader never sees a half-written file.

    An OS error (no permission, disk full) names ``path``, the file the caller asked
    for, not the hidden temporary file, which is removed.
    """
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise ValueError(f"directory {str(directory)!r} of path does not exist.")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    except OSError as exc:
        _discard(tmp)
        raise type(exc)(exc.errno, f"cannot write {str(path)!r}: {exc.strerror or exc}",
                        str(path)) from None
    except BaseException:
        _discard(tmp)
        raise


def _discard(tmp: str | None) -> None:
    if tmp is not None and os.path.exists(tmp):
        os.unlink(tmp)


# -- loading -------------------------------------------------------------------------------------
def _verified_bytes(path: Path) -> bytes:
    if not path.exists():
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    if path.is_dir():
        raise ValueError(f"path {str(path)!r} is a directory, not a saved complex.")
    return check_bytes(path.read_bytes(), str(path))


def check_bytes(raw: bytes, name: str = "<bytes>") -> bytes:
    """Verify the SHA-256 trailer of a saved complex held in memory; return ``raw``.

    Raises :class:`CorruptFileError` naming ``name`` when a byte was altered or
    the data is truncated.
    """
    path = name
    tail = raw[-(_DIGEST_LEN + len(_MAGIC)):]
    if len(raw) < 100 or not tail.startswith(_MAGIC):
        if raw[:2] == b"PK":
            raise CorruptFileError(
                f"{str(path)!r} is a zip/npz file without the cellgeom checksum: it was not "
                "written by cellgeom, or it is truncated.")
        raise CorruptFileError(f"{str(path)!r} is not a saved cellgeom complex (or it is "
                               "truncated): no checksum trailer found.")
    digest = bytes(raw[-_DIGEST_LEN:])
    actual = hashlib.sha256(raw[:-_DIGEST_LEN]).hexdigest().encode("ascii")
    if digest != actual:
        raise CorruptFileError(
            f"{str(path)!r} failed its SHA-256 check: the file was altered or truncated after "
            "it was written.")
    return raw


def read_metadata(path) -> dict:
    """The JSON metadata of a saved complex (after the integrity check)."""
    raw = _verified_bytes(Path(path))
    with np.load(io.BytesIO(raw), allow_pickle=False) as z:
        return _check_meta(json.loads(str(z["__meta__"])), path)


def _check_meta(meta: dict, path) -> dict:
    if meta.get("format") != FORMAT:
        raise CorruptFileError(f"{str(path)!r} is not a saved cellgeom complex.")
    version = meta.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(
            f"{str(path)!r} has schema version {version}; this cellgeom reads version "
            f"{SCHEMA_VERSION}. Load it with the cellgeom version that wrote it "
            f"({meta.get('cellgeom_version')}).")
    return meta


def read_complex_parts(path) -> dict:
    """Read and verify a saved complex; return its parts (see :func:`cellgeom.load`).

    Returns
    -------
    dict
        ``partition`` (a :class:`~cellgeom.core.Partition` or
        :class:`~cellgeom.core.BoxPartition`, as saved), ``rule``, ``metric``,
        ``simplices``, ``volumes``, ``grams`` (lists per dimension),
        ``gram_min_eigenvalue`` and the ``edges`` table.

    Raises
    ------
    CorruptFileError
        When the file was altered or truncated (SHA-256 mismatch) or is not ours.
    """
    path = Path(path)
    raw = _verified_bytes(path)
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            meta = _check_meta(json.loads(str(z["__meta__"])), path)
            return _rebuild(meta, z)
    except (KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise CorruptFileError(f"{str(path)!r} passed its checksum but is not a valid saved "
                               f"complex: {exc}") from None


def _rebuild(meta: dict, z) -> dict:
    pm = meta["partition"]
    vertices = None
    if pm["has_vertices"]:
        vertices = tuple(z[f"partition/vertices/{k}"] for k in ("indptr", "ids", "coords"))
    tables = {name: _table_from_arrays(meta["tables"][name], z) for name in _TABLES}
    common = dict(domain=Box(z["partition/domain_lo"], z["partition/domain_hi"]),
                  keys=[str(k) for k in z["partition/keys"]], model=None, locator=None,
                  info=_decode(pm["info"]), vertices=vertices, cells=tables["cells"],
                  facets=tables["facets"])
    if pm["class"] == "BoxPartition" and "partition/box_lo" in z:
        part = BoxPartition(lo=z["partition/box_lo"], hi=z["partition/box_hi"], **common)
        part.hinges = tables["hinges"]  # exactly as saved, not recomputed
    else:
        part = Partition(hinges=tables["hinges"], **common)
    part.model_description = pm["model"]
    cm = meta["complex"]
    n = cm["dim"] + 1
    return {
        "partition": part, "rule": cm["rule"], "metric": cm["metric"],
        "max_dim": cm.get("max_dim"),  # files written before it was saved: None
        "simplices": [z[f"complex/simplices_{p}"] for p in range(n)],
        "volumes": [z[f"complex/volumes_{p}"] for p in range(n)],
        "grams": [sp.csr_matrix((z[f"complex/gram_{p}/data"], z[f"complex/gram_{p}/indices"],
                                 z[f"complex/gram_{p}/indptr"]),
                                shape=tuple(cm["gram_shapes"][p])) for p in range(n)],
        "gram_min_eigenvalue": _decode(cm["gram_min_eigenvalue"]),
        "edges": _table_from_arrays(meta["tables"]["edges"], z),
    }
