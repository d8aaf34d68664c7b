"""Saving and loading complexes: the oracle is the object that was saved (exact equality)."""
from __future__ import annotations

import json
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cellgeom
from cellgeom.complex.io import CorruptFileError, check_bytes, read_metadata, save_complex


def _complex(seed: int, dim: int = 2, k: int = 4, cells: str = "all", rule: str = "facet",
             metric: str = "diagonal"):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(k, dim))
    b = rng.normal(size=k) * 0.4
    X = rng.uniform(-1, 1, size=(40, dim))
    arr = cellgeom.HyperplaneArrangement(W, b)
    part = cellgeom.partition(arr, domain=([-1] * dim, [1] * dim), data=X, cells=cells,
                              progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cellgeom.build_complex(part, rule=rule, metric=metric)


def assert_same_complex(a, b):
    """Every table, array and matrix equal bit for bit."""
    pa, pb = a.partition, b.partition
    assert pa.keys == pb.keys
    np.testing.assert_array_equal(pa.domain.lo, pb.domain.lo)
    np.testing.assert_array_equal(pa.domain.hi, pb.domain.hi)
    assert pa.info == pb.info
    for name in ("cells", "facets", "hinges"):
        pd.testing.assert_frame_equal(getattr(pa, name), getattr(pb, name), check_exact=True)
    pd.testing.assert_frame_equal(pa.faces, pb.faces, check_exact=True)
    pd.testing.assert_frame_equal(a.edges, b.edges, check_exact=True)
    assert pa.has_vertices == pb.has_vertices
    if pa.has_vertices:
        for u, v in zip(pa._vertices, pb._vertices):
            np.testing.assert_array_equal(u, v)
            assert u.dtype == v.dtype
    assert (a.rule, a.metric, a.dim) == (b.rule, b.metric, b.dim)
    assert a.n_simplices() == b.n_simplices()
    for p in range(a.dim + 1):
        np.testing.assert_array_equal(a.simplices(p), b.simplices(p))
        np.testing.assert_array_equal(a.simplex_volumes(p), b.simplex_volumes(p))
        Ga, Gb = a.gram(p), b.gram(p)
        assert Ga.shape == Gb.shape
        np.testing.assert_array_equal(Ga.toarray(), Gb.toarray())
        np.testing.assert_array_equal(a.boundary(p).toarray(), b.boundary(p).toarray())
    assert a.gram_min_eigenvalue == b.gram_min_eigenvalue or (
        np.isnan(a.gram_min_eigenvalue) and np.isnan(b.gram_min_eigenvalue))
    assert a.betti_numbers() == b.betti_numbers()
    assert a.euler_characteristic() == b.euler_characteristic()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), dim=st.sampled_from([1, 2, 3]), k=st.integers(1, 5),
       cells=st.sampled_from(["all", "data"]), rule=st.sampled_from(["facet", "cech"]),
       metric=st.sampled_from(["diagonal", "dihedral"]))
def test_round_trip_of_random_complexes_is_exact(tmp_path, seed, dim, k, cells, rule, metric):
    cx = _complex(seed, dim, k, cells, rule, metric)
    path = tmp_path / "cx.npz"
    cx.save(path)
    back = cellgeom.load(path)
    assert_same_complex(cx, back)
    assert back.partition.model is None
    assert back.partition.model_description.endswith("HyperplaneArrangement")
    # locate works without the model (halfspaces), and agrees with the model's locator
    X = np.random.default_rng(seed).uniform(-0.99, 0.99, size=(30, dim))
    found = cx.partition.locate(X)
    assert np.array_equal(back.partition.locate(X)[found >= 0], found[found >= 0])
    # saving the loaded complex gives the same bytes (deterministic format)
    path2 = tmp_path / "again.npz"
    back.save(path2)
    assert path2.read_bytes() == path.read_bytes()


def test_file_is_readable_with_numpy_alone_without_pickle(tmp_path):
    cx = _complex(1)
    path = tmp_path / "cx.npz"
    cx.save(path)
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["__meta__"]))
        assert meta["format"] == "cellgeom.complex" and meta["schema_version"] == 1
        np.testing.assert_array_equal(z["complex/simplices_1"], cx.simplices(1))
        cols = meta["tables"]["cells"]["columns"]
        vol = next(c for c in cols if c["name"] == "volume")
        np.testing.assert_array_equal(z[vol["array"]], cx.cells["volume"].to_numpy())
        for name, spec in meta["arrays"].items():
            assert z[name].dtype.str == spec["dtype"] and list(z[name].shape) == spec["shape"]
    assert read_metadata(path)["complex"]["rule"] == "facet"


def test_corrupting_any_byte_is_detected(tmp_path):
    cx = _complex(2, k=2)
    path = tmp_path / "cx.npz"
    cx.save(path)
    raw = path.read_bytes()
    for i in range(len(raw)):  # every byte of the file, checked in memory
        altered = bytearray(raw)
        altered[i] ^= 0x5A
        with pytest.raises(CorruptFileError, match="SHA-256|truncated"):
            check_bytes(bytes(altered), "bad.npz")
    bad = tmp_path / "bad.npz"
    for i in np.random.default_rng(0).choice(len(raw), 40, replace=False):  # and via load()
        altered = bytearray(raw)
        altered[i] ^= 0x01
        bad.write_bytes(bytes(altered))
        with pytest.raises(CorruptFileError, match="bad.npz"):
            cellgeom.load(bad)


@settings(max_examples=30, deadline=None)
@given(cut=st.floats(0.0, 1.0, exclude_max=True))
def test_truncation_is_detected(tmp_path_factory, cut):
    tmp = tmp_path_factory.mktemp("trunc")
    cx = _complex(3, k=3)
    path = tmp / "cx.npz"
    cx.save(path)
    raw = path.read_bytes()
    (tmp / "t.npz").write_bytes(raw[: int(cut * len(raw))])
    with pytest.raises(CorruptFileError, match="truncated"):
        cellgeom.load(tmp / "t.npz")


def test_foreign_and_missing_files_give_clear_errors(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.arange(3))
    with pytest.raises(CorruptFileError, match="not written by cellgeom"):
        cellgeom.load(tmp_path / "plain.npz")
    (tmp_path / "text.npz").write_text("hello " * 50)
    with pytest.raises(CorruptFileError, match="not a saved cellgeom complex"):
        cellgeom.load(tmp_path / "text.npz")
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        cellgeom.load(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="directory"):
        cellgeom.load(tmp_path)


def test_newer_schema_version_is_refused_by_name(tmp_path):
    from cellgeom.complex import io as cio

    cx = _complex(4, k=2)
    path = tmp_path / "cx.npz"
    cx.save(path)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["__meta__"]))
    meta["schema_version"] = 99
    arrays["__meta__"] = np.array(json.dumps(meta))
    (tmp_path / "v99.npz").write_bytes(cio._zip_bytes(arrays))
    with pytest.raises(ValueError, match="schema version 99"):
        cellgeom.load(tmp_path / "v99.npz")


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    from cellgeom.complex import io as cio

    cx = _complex(5, k=2)
    path = tmp_path / "cx.npz"
    cx.save(path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(cio.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        _complex(6, k=3).save(path)
    assert path.read_bytes() == before  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cx.npz"]
    with zipfile.ZipFile(path) as zf:
        assert zf.comment.startswith(b"cellgeom-sha256:")


def test_info_values_round_trip_exactly_and_unsupported_columns_are_named(tmp_path):
    cx = _complex(7, k=2)
    cx.partition.info.update(pair=(1, 2.5), big=np.int64(7), inf=float("inf"),
                             arr=np.arange(3, dtype=np.int32), nested={"a": [1, (2, 3)]})
    cx.save(tmp_path / "cx.npz")
    info = cellgeom.load(tmp_path / "cx.npz").partition.info
    assert info["pair"] == (1, 2.5) and info["inf"] == float("inf")
    assert info["nested"] == {"a": [1, (2, 3)]}
    assert info["arr"].dtype == np.int32 and info["arr"].tolist() == [0, 1, 2]
    cx.partition.cells["bad"] = [object()] * cx.partition.n_cells
    with pytest.raises(ValueError, match="column 'bad' of the cells table"):
        cx.save(tmp_path / "bad.npz")
    with pytest.raises(TypeError, match="RiemannianComplex"):
        save_complex(cx.partition, tmp_path / "p.npz")


def test_box_partition_saves_and_loads_as_a_box_partition(tmp_path):
    """#20: a saved tree partition loads as a BoxPartition (its lo/hi boxes, box hinges and
    closed-form common pieces), not as a generic Partition. Oracle: the saved object."""
    from sklearn.tree import DecisionTreeRegressor

    from cellgeom.core import BoxPartition

    rng = np.random.default_rng(11)
    X = rng.uniform(-1, 1, size=(200, 2))
    tree = DecisionTreeRegressor(max_depth=4, random_state=0).fit(X, np.sin(3 * X[:, 0]))
    cx = cellgeom.build_complex(cellgeom.partition(tree, data=X, cells="all", progress=False),
                                rule="cech")
    assert isinstance(cx.partition, BoxPartition)
    cx.save(tmp_path / "tree.npz")
    back = cellgeom.load(tmp_path / "tree.npz")
    assert type(back.partition) is BoxPartition
    np.testing.assert_array_equal(back.partition.lo, cx.partition.lo)
    np.testing.assert_array_equal(back.partition.hi, cx.partition.hi)
    assert_same_complex(cx, back)
    Xt = rng.uniform(-1, 1, size=(100, 2))
    np.testing.assert_array_equal(back.partition.locate(Xt), cx.partition.locate(Xt))


@pytest.mark.parametrize("stage", ["mkstemp", "replace"])
def test_permission_error_names_the_users_path_not_the_temporary_file(tmp_path, monkeypatch,
                                                                     stage):
    """Oracle: the message holds the path the user asked for and no hidden temp name (the
    process may run as root, where chmod does not deny: the OS error is simulated)."""
    from cellgeom.complex import io as cio

    path = tmp_path / "cx.npz"

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".cx.npz.x1y2.tmp"))

    target = cio.tempfile if stage == "mkstemp" else cio.os
    monkeypatch.setattr(target, stage, denied)
    with pytest.raises(PermissionError) as info:
        _complex(5, k=2).save(path)
    assert str(path) in str(info.value) and ".tmp" not in str(info.value)
    assert info.value.filename == str(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("library", ["sklearn", "lightgbm"])
def test_loaded_box_partition_locates_points_on_thresholds_as_the_model(tmp_path, library):
    """Without the model, a loaded box partition locates by its boxes: exactly, with
    x <= t going left. Integer features put training points on thresholds, and LightGBM
    splits them at +-1e-35 (cells 2e-35 wide), where the generic test with tolerance sent
    223 of 600 points to another cell."""
    rng = np.random.default_rng(0)
    X = rng.integers(-2, 3, size=(600, 2)).astype(float)
    y = (X[:, 0] == 0) * 5.0 + X[:, 1]
    if library == "lightgbm":
        lgb = pytest.importorskip("lightgbm")
        model = lgb.LGBMRegressor(n_estimators=5, num_leaves=8, min_child_samples=5,
                                  verbose=-1).fit(X, y)
    else:
        from sklearn.ensemble import RandomForestRegressor
        model = RandomForestRegressor(5, max_depth=4, random_state=0).fit(X, y)
    part = cellgeom.partition(model, data=X, cells="all", progress=False)
    cellgeom.build_complex(part, progress=False).save(tmp_path / "boxes.npz")
    loaded = cellgeom.load(tmp_path / "boxes.npz").partition
    corners = np.vstack([part.lo, part.hi, (part.lo + part.hi) / 2])  # on every boundary
    inside = np.all((corners >= part.domain.lo) & (corners <= part.domain.hi), axis=1)
    for points in (X, corners[inside]):
        np.testing.assert_array_equal(loaded.locate(points), part.locate(points))
    np.testing.assert_allclose(loaded.cells["prediction"].to_numpy()[loaded.locate(X)],
                               model.predict(X), rtol=1e-6)


def test_categorical_and_nullable_columns_round_trip_exactly(tmp_path):
    """Ordered categoricals came back unordered with sorted categories; nullable booleans
    failed with NumPy's 'Object arrays cannot be saved' without naming the column."""
    arr = cellgeom.HyperplaneArrangement([[1, 0], [0, 1]], [-0.3, -0.6])
    part = cellgeom.partition(arr, domain=([0, 0], [1, 1]), cells="all", progress=False)
    cx = cellgeom.build_complex(part, progress=False)
    cx.cells["grade"] = pd.Categorical(["b", "a", "b", "a"], categories=["b", "a"],
                                       ordered=True)
    cx.cells["code"] = pd.Categorical([3, 1, 3, 2])
    cx.cells["flag"] = pd.array([True, None, False, True], dtype="boolean")
    cx.cells["count"] = pd.array([1, None, 3, 4], dtype="Int64")
    cx.save(tmp_path / "c.npz")
    pd.testing.assert_frame_equal(cellgeom.load(tmp_path / "c.npz").cells, cx.cells)
