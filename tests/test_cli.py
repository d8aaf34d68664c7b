"""Command line: exit codes 0 / 1 / 2, messages naming the argument, results equal to the API's."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cellgeom
from cellgeom.cli import UsageError, main

CELLGEOM = shutil.which("cellgeom", path=str(Path(sys.executable).parent)) or "cellgeom"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A saved forest (skops), a saved network (torch.export, TorchScript) and data files."""
    import joblib
    import skops.io as sio
    import torch
    from sklearn.datasets import load_iris, make_moons
    from sklearn.ensemble import RandomForestClassifier

    d = tmp_path_factory.mktemp("cli")
    iris = load_iris()
    X = iris.data[:, 2:4]
    forest = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(
        X, iris.target)
    sio.dump(forest, d / "forest.skops")
    joblib.dump(forest, d / "forest.joblib")
    np.save(d / "iris.npy", X)
    frame = pd.DataFrame(X, columns=["petal_length", "petal_width"])
    frame.to_csv(d / "iris.csv", index=False)
    frame.to_parquet(d / "iris.parquet")
    frame.assign(species=iris.target_names[iris.target]).to_csv(d / "labels.csv", index=False)
    Xm, _ = make_moons(120, noise=0.1, random_state=0)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 6), torch.nn.ReLU(), torch.nn.Linear(6, 5),
                              torch.nn.LeakyReLU(0.1), torch.nn.Linear(5, 2)).eval()
    torch.export.save(torch.export.export(net, (torch.zeros(1, 2),)), str(d / "net.pt2"))
    torch.jit.save(torch.jit.script(net), str(d / "net.ts"))
    torch.save(net, d / "net_pickled.pt")
    np.save(d / "moons.npy", Xm)
    np.save(d / "three.npy", np.zeros((5, 3)))
    return {"dir": d, "forest": forest, "X": X, "net": net, "Xm": Xm}



@pytest.fixture(autouse=True)
def _run_in_a_scratch_directory(tmp_path, monkeypatch):
    """The CLI writes report.html into the working directory by default: not the repo's."""
    monkeypatch.chdir(tmp_path)


def run(*args):
    return main([str(a) for a in args])


def _same_partition(saved: Path, model, X, cells="data"):
    cx = cellgeom.load(saved)
    ref = cellgeom.partition(model, data=X, cells=cells, progress=False)
    assert cx.partition.keys == ref.keys
    np.testing.assert_allclose(cx.partition.cells["volume"], ref.cells["volume"], rtol=1e-9)
    assert cx.betti_numbers() == cellgeom.build_complex(ref).betti_numbers()
    return cx


def test_analyze_saved_forest_skops(files, capsys):
    d = files["dir"]
    code = run("analyze", d / "forest.skops", d / "iris.csv", "--out", d / "forest.html",
               "--save", d / "forest.npz", "--cells", "all", "--quiet")
    out = capsys.readouterr().out
    assert code == 0
    assert "Betti numbers" in out and "Euler characteristic" in out
    assert (d / "forest.html").read_text().startswith("<!DOCTYPE html>")
    _same_partition(d / "forest.npz", files["forest"], files["X"], cells="all")
    code = run("info", d / "forest.npz")
    out = capsys.readouterr().out
    assert code == 0 and "schema version 1" in out and "RandomForestClassifier" in out


def test_analyze_saved_network_torch_export_and_torchscript(files, capsys):
    d = files["dir"]
    for name in ("net.pt2", "net.ts"):
        code = run("analyze", d / name, d / "moons.npy", "--out", d / f"{name}.html",
                   "--save", d / f"{name}.npz", "--domain", "-2,3", "--quiet")
        assert code == 0, capsys.readouterr().err
        cx = cellgeom.load(d / f"{name}.npz")
        ref = cellgeom.partition(files["net"], domain=([-2, -2], [3, 3]), data=files["Xm"],
                                 progress=False)
        assert cx.partition.keys == ref.keys
        np.testing.assert_allclose(cx.partition.cells["volume"], ref.cells["volume"],
                                   rtol=1e-9)
        np.testing.assert_array_equal(cx.partition.domain.lo, [-2, -2])


def test_data_formats_npy_csv_parquet_agree_and_text_columns_are_named(files, capsys):
    d = files["dir"]
    keys = []
    for name in ("iris.npy", "iris.csv", "iris.parquet"):
        assert run("analyze", d / "forest.skops", d / name, "--save", d / f"{name}.npz",
                   "--out", d / f"{name}.html", "--quiet") == 0
        keys.append(cellgeom.load(d / f"{name}.npz").partition.keys)
    assert keys[0] == keys[1] == keys[2]
    capsys.readouterr()
    assert run("analyze", d / "forest.skops", d / "labels.csv", "--quiet") == 1
    err = capsys.readouterr().err
    assert "non-numeric column(s) ['species']" in err and "labels.csv" in err


def test_pickle_is_refused_without_allow_pickle(files, capsys):
    d = files["dir"]
    code = run("analyze", d / "forest.joblib", d / "iris.npy", "--out", d / "p.html")
    err = capsys.readouterr().err
    assert code == 2
    assert "forest.joblib" in err and "--allow-pickle" in err and "arbitrary code" in err
    assert "skops" in err and "Traceback" not in err
    assert not (d / "p.html").exists()
    code = run("analyze", d / "net_pickled.pt", d / "moons.npy", "--quiet")
    assert code == 2 and "--allow-pickle" in capsys.readouterr().err
    code = run("analyze", d / "forest.joblib", d / "iris.npy", "--out", d / "p.html",
               "--allow-pickle", "--quiet")
    assert code == 0 and (d / "p.html").exists()


@pytest.mark.parametrize("args, named", [
    (["analyze", "{d}/missing.skops", "{d}/iris.npy"], "MODEL"),
    (["analyze", "{d}/forest.skops", "{d}/missing.npy"], "DATA"),
    (["analyze", "{d}/forest.skops", "{d}/forest.skops"], "DATA"),
    (["analyze", "{d}/iris.npy", "{d}/iris.npy"], "MODEL"),
    (["analyze", "{d}/forest.skops", "{d}/iris.npy", "--domain", "1,0"], "--domain"),
    (["analyze", "{d}/forest.skops", "{d}/iris.npy", "--domain", "abc"], "--domain"),
    (["analyze", "{d}/forest.skops", "{d}/iris.npy", "--cells", "some"], "--cells"),
    (["analyze", "{d}/forest.skops", "{d}/iris.npy", "--out", "{d}/no/r.html"], "--out"),
    (["analyze", "{d}/forest.skops", "{d}/iris.npy", "--save", "{d}"], "--save"),
    (["analyze", "{d}/forest.skops"], "DATA"),
    (["analyze", "{d}/forest.skops", "{d}/iris.npy", "--save", "{d}/forest.skops"], "--save"),
    (["analyze", "{d}/forest.skops", "{d}/iris.npy", "--out", "{d}/same.html", "--save",
      "{d}/same.html"], "--save"),
    (["analyze", "{d}/forest.skops", "{d}/labels.csv", "--labels", "species"], "--labels"),
    (["analyze", "{d}/forest.skops", "{d}/iris.npy", "--bogus"], "--bogus"),
    (["info", "{d}/missing.npz"], "FILE"),
    (["info"], "FILE"),
    (["frobnicate"], "COMMAND"),
    ([], "COMMAND"),
])
def test_every_bad_argument_exits_2_naming_it(files, capsys, args, named):
    d = str(files["dir"])
    with pytest.raises(SystemExit) as exc_info:
        code = main([a.format(d=d) for a in args])
        raise SystemExit(code)
    assert exc_info.value.code == 2
    err = capsys.readouterr().err
    assert named in err, err
    assert "Traceback" not in err


def test_failures_exit_1_with_one_line_and_traceback_only_with_debug(files, capsys):
    d = files["dir"]
    # issue #23 changed this case from exit 1 to the documented usage error (exit 2),
    # naming the expected and the actual feature count
    code = run("analyze", d / "forest.skops", d / "three.npy", "--quiet")
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "3 feature" in err and "Traceback" not in err
    assert "expects 2" in err and "forest.skops" in err and "three.npy" in err
    # its own saved file: under pytest-xdist another test's output may not exist here
    assert run("analyze", d / "forest.skops", d / "iris.npy", "--save", d / "own.npz",
               "--out", d / "own.html", "--quiet") == 0
    capsys.readouterr()
    raw = bytearray((d / "own.npz").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (d / "bad.npz").write_bytes(bytes(raw))
    assert run("info", d / "bad.npz") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "SHA-256" in err
    with pytest.raises(UsageError, match="has 3 feature column"):
        run("analyze", d / "forest.skops", d / "three.npy", "--quiet", "--debug")


def test_console_script_help_and_exit_codes(files):
    env = dict(os.environ, COLUMNS="100")
    for cmd in ([], ["demo"], ["analyze"], ["info"]):
        res = subprocess.run([CELLGEOM, *cmd, "--help"], capture_output=True, text=True,
                             env=env, timeout=120)
        assert res.returncode == 0 and "usage: cellgeom" in res.stdout
    res = subprocess.run([CELLGEOM, "analyze", str(files["dir"] / "x.skops"), "d.npy"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 2 and "MODEL" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.slow
def test_demo_writes_the_reports(tmp_path):
    """`cellgeom demo` (what `make demo` runs) trains, analyses and writes every report."""
    res = subprocess.run([CELLGEOM, "demo", "--out", str(tmp_path / "demo"), "--quiet"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    names = sorted(p.name for p in (tmp_path / "demo").iterdir())
    assert names == ["first_layer_moons.html", "first_layer_moons.npz", "forest_iris.html",
                     "forest_iris.npz", "index.html", "network_moons.html", "network_moons.npz"]
    for stem in ("forest_iris", "network_moons", "first_layer_moons"):
        cx = cellgeom.load(tmp_path / "demo" / f"{stem}.npz")
        assert cx.partition.info["cells"] == "all"
        np.testing.assert_allclose(cx.cells["volume"].sum(), cx.partition.domain.volume,
                                   rtol=1e-9)
        assert "<polygon data-cell=" in (tmp_path / "demo" / f"{stem}.html").read_text()


@pytest.mark.parametrize("content", [b"garbage", b""])
def test_corrupt_pickle_file_is_named_in_one_line(files, capsys, tmp_path, content):
    """Oracle: exit 1 and one line naming the file (it was joblib's bare 'invalid literal
    for int() with base 10')."""
    bad = tmp_path / "broken.pkl"
    bad.write_bytes(content)
    assert run("analyze", bad, files["dir"] / "iris.npy", "--allow-pickle", "--quiet") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err and "Traceback" not in err
    assert "not a readable pickle/joblib file" in err


@pytest.mark.parametrize("name,flags,message", [
    ("broken.pt2", (), "not a readable torch.export program"),
    ("broken.pt", ("--allow-pickle",), "not a readable torch.save file")])
def test_corrupt_network_file_is_named_in_one_line(files, capsys, tmp_path, name, flags,
                                                   message):
    """Oracle: exit 1 and one line naming the file; torch's own errors (BadZipFile,
    UnpicklingError) did not name it, and the .pt2 loader logged a traceback first."""
    bad = tmp_path / name
    bad.write_bytes(b"garbage")
    assert run("analyze", bad, files["dir"] / "moons.npy", "--quiet", *flags) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err and message in err


@pytest.mark.parametrize("name,content,message", [
    ("empty.npy", b"", "could not be read as .npy"),
    ("empty.csv", b"", "could not be read as .csv"),
    ("ragged.csv", b"1,2\n3,4,5,6\n", "could not be read as .csv"),
    ("binary.csv", b"\xff\xfe\x00garbage\n", "could not be read as .csv")])
def test_unreadable_data_is_named_in_one_line(files, capsys, tmp_path, name, content, message):
    bad = tmp_path / name
    bad.write_bytes(content)
    assert run("analyze", files["dir"] / "net.pt2", bad, "--quiet") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err and message in err
    # the same file given as the labels
    assert run("analyze", files["dir"] / "net.pt2", files["dir"] / "moons.npy", "--labels",
               bad, "--quiet") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"--labels {str(bad)!r}" in err and message in err


def test_corrupt_skops_file_is_named_in_one_line(files, capsys, tmp_path):
    """Oracle: exit 1 and one line naming the file (it was a bare 'BadZipFile')."""
    d = files["dir"]
    bad = tmp_path / "broken.skops"
    bad.write_bytes((d / "forest.skops").read_bytes()[:200])
    assert run("analyze", bad, d / "iris.npy", "--quiet") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err and "Traceback" not in err
    assert "skops" in err
