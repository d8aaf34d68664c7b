"""Command line inputs (issue #23): CSV headers, native booster files, --volume / --n-jobs,
--labels, the feature count, --out names and closed pipes.

Oracles: the same partition built from Python (keys and volumes), the files' own row counts,
the model's own score, and the exit codes the docs state (0 / 1 / 2).
"""
from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

import cellgeom
from cellgeom.cli import main
from cellgeom.cli.loading import csv_has_header

CELLGEOM = shutil.which("cellgeom", path=str(Path(sys.executable).parent)) or "cellgeom"



@pytest.fixture(autouse=True)
def _run_in_a_scratch_directory(tmp_path, monkeypatch):
    """The CLI writes report.html into the working directory by default: not the repo's."""
    monkeypatch.chdir(tmp_path)


def run(*args):
    return main([str(a) for a in args])


@pytest.fixture
def no_report(monkeypatch):
    """Tests of the inputs skip drawing the report (tested in tests/report); the CLI's call
    is recorded."""
    import cellgeom.report as report

    calls = []
    monkeypatch.setattr(report, "write_report", lambda cx, out, **kw: calls.append(kw))
    return calls


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    import skops.io as sio

    d = tmp_path_factory.mktemp("cli_inputs")
    data = load_iris()
    X, y = data.data[:, 2:4], data.target
    forest = RandomForestClassifier(n_estimators=4, max_depth=3, random_state=0).fit(X, y)
    sio.dump(forest, d / "forest.skops")
    return {"dir": d, "X": X, "y": y, "forest": forest}


def _keys(path):
    return cellgeom.load(path).partition.keys


def test_headerless_csv_keeps_its_first_row(tmp_path, capsys, no_report):
    """400 rows without a header: 400 points (the first row was silently dropped before)."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (400, 2))
    np.savetxt(tmp_path / "plain.csv", X, delimiter=",")
    arr = cellgeom.HyperplaneArrangement([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0])
    import skops.io as sio

    sio.dump(arr, tmp_path / "arr.skops")
    assert run("analyze", tmp_path / "arr.skops", tmp_path / "plain.csv", "--quiet",
               "--out", tmp_path / "r.html", "--save", tmp_path / "cx.npz") == 0
    out = capsys.readouterr().out
    assert "plain.csv (no header row): 400 points" in out
    cx = cellgeom.load(tmp_path / "cx.npz")
    assert int(cx.cells["n_points"].sum()) == 400
    # forced: --header takes the first row as names (399 points), --no-header keeps it
    assert run("analyze", tmp_path / "arr.skops", tmp_path / "plain.csv", "--quiet",
               "--header", "--out", tmp_path / "r2.html") == 0
    assert ": 399 points" in capsys.readouterr().out
    assert run("analyze", tmp_path / "arr.skops", tmp_path / "plain.csv", "--quiet",
               "--no-header", "--out", tmp_path / "r3.html") == 0
    assert ": 400 points" in capsys.readouterr().out


@pytest.mark.parametrize("text, header", [
    ("a,b\n1,2\n", True),                   # names
    ("0.5,1.5\n1,2\n", False),              # numbers
    ("0,1\n0.25,1.75\n0.5,0.1\n", True),    # pandas' default column names over floats
    ("0,1\n1,0\n0,0\n", False),             # binary data whose first row reads 0,1
    ("1e-3,-2\n3,4\n", False),
])
def test_csv_header_detection(tmp_path, text, header):
    (tmp_path / "t.csv").write_text(text)
    assert csv_has_header(tmp_path / "t.csv") is header


def test_csv_header_names_the_axes_of_the_report(iris, tmp_path, capsys):
    d = iris["dir"]
    pd.DataFrame(iris["X"], columns=["petal_length", "petal_width"]).to_csv(
        tmp_path / "named.csv", index=False)
    assert run("analyze", d / "forest.skops", tmp_path / "named.csv", "--quiet",
               "--out", tmp_path / "r.html", "--save", tmp_path / "cx.npz") == 0
    assert "(header row: petal_length, petal_width): 150 points" in capsys.readouterr().out
    assert cellgeom.load(tmp_path / "cx.npz").partition.info["feature_names"] == [
        "petal_length", "petal_width"]
    assert ">petal_length</text>" in (tmp_path / "r.html").read_text()


def test_wrong_feature_count_exits_2_naming_expected_and_actual(iris, tmp_path, capsys,
                                                                no_report):
    np.save(tmp_path / "three.npy", np.zeros((5, 3)))
    assert run("analyze", iris["dir"] / "forest.skops", tmp_path / "three.npy",
               "--quiet") == 2
    err = capsys.readouterr().err
    assert "has 3 feature column(s)" in err and "expects 2" in err
    assert "RandomForestClassifier" in err and "Traceback" not in err


def test_out_must_be_an_html_name_and_nothing_is_written(iris, tmp_path, capsys):
    np.save(tmp_path / "x.npy", iris["X"])
    assert run("analyze", iris["dir"] / "forest.skops", tmp_path / "x.npy", "--quiet",
               "--out", tmp_path / "x.pdf") == 2
    err = capsys.readouterr().err
    assert "--out" in err and "x.pdf" in err and ".html" in err
    assert not (tmp_path / "x.pdf").exists()


def test_volume_and_n_jobs_reach_partition(iris, tmp_path, capsys, monkeypatch, no_report):
    import cellgeom.models as models

    seen = {}
    real = models.partition

    def spy(model, **kw):
        seen.update(kw)
        return real(model, **kw)

    monkeypatch.setattr(models, "partition", spy)
    np.save(tmp_path / "x.npy", iris["X"])
    arr = cellgeom.HyperplaneArrangement([[1.0, 0.0], [0.0, 1.0]], [-3.0, -1.0])
    import skops.io as sio

    sio.dump(arr, tmp_path / "arr.skops")
    assert run("analyze", iris["dir"] / "forest.skops", tmp_path / "x.npy", "--quiet",
               "--n-jobs", "1", "--out", tmp_path / "f.html") == 0
    assert seen["n_jobs"] == 1 and "volume" not in seen
    # --volume on a model whose cells are exact boxes: a usage error naming the option
    assert run("analyze", iris["dir"] / "forest.skops", tmp_path / "x.npy", "--quiet",
               "--volume", "none", "--out", tmp_path / "f.html") == 2
    err = capsys.readouterr().err
    assert "--volume" in err and "RandomForestClassifier" in err
    with pytest.raises(SystemExit) as exc_info:  # argparse's own check
        run("analyze", iris["dir"] / "forest.skops", tmp_path / "x.npy", "--n-jobs", "0")
    assert exc_info.value.code == 2 and "--n-jobs" in capsys.readouterr().err


def test_volume_is_passed_to_a_network(tmp_path, monkeypatch, no_report):
    torch = pytest.importorskip("torch")
    import cellgeom.models as models

    seen = {}
    real = models.partition

    def spy(model, **kw):
        seen.update(kw)
        return real(model, **kw)

    monkeypatch.setattr(models, "partition", spy)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.ReLU(),
                              torch.nn.Linear(4, 2)).eval()
    torch.export.save(torch.export.export(net, (torch.zeros(1, 2),)), str(tmp_path / "n.pt2"))
    X = np.random.default_rng(0).uniform(-1, 1, (50, 2))
    np.save(tmp_path / "x.npy", X)
    assert run("analyze", tmp_path / "n.pt2", tmp_path / "x.npy", "--quiet", "--volume",
               "exact", "--n-jobs", "1", "--out", tmp_path / "n.html",
               "--save", tmp_path / "n.npz") == 0
    assert seen["volume"] == "exact" and seen["n_jobs"] == 1
    ref = cellgeom.partition(net, data=X, progress=False)
    assert _keys(tmp_path / "n.npz") == ref.keys


def _booster_files(d, X, y):
    """Each library's native file and a skops file of its scikit-learn wrapper."""
    import skops.io as sio

    out = []
    xgb = pytest.importorskip("xgboost")
    m = xgb.XGBClassifier(n_estimators=4, max_depth=2).fit(X, y)
    m.save_model(d / "xgb.json")
    m.save_model(d / "xgb.ubj")
    m.get_booster().save_model(d / "xgb_booster.json")
    sio.dump(m, d / "xgb.skops")
    out += [("xgb.json", m), ("xgb.ubj", m), ("xgb_booster.json", m), ("xgb.skops", m)]
    lgb = pytest.importorskip("lightgbm")
    m = lgb.LGBMClassifier(n_estimators=4, num_leaves=4, verbose=-1).fit(X, y)
    m.booster_.save_model(str(d / "lgb.txt"))
    sio.dump(m, d / "lgb.skops")
    out += [("lgb.txt", m), ("lgb.skops", m)]
    cb = pytest.importorskip("catboost")
    m = cb.CatBoostClassifier(iterations=4, depth=2, verbose=0, allow_writing_files=False)
    m.fit(X, y)
    m.save_model(str(d / "cat.cbm"))
    sio.dump(m, d / "cat.skops")
    out += [("cat.cbm", m), ("cat.skops", m)]
    return out


def test_native_booster_files_and_skops_wrappers_are_accepted(iris, tmp_path, capsys,
                                                               no_report):
    """XGBoost .json/.ubj, LightGBM .txt, CatBoost .cbm and skops files of the wrappers:
    the same cells as partition() of the model in memory."""
    X, y = iris["X"], iris["y"]
    np.save(tmp_path / "x.npy", X)
    for name, model in _booster_files(tmp_path, X, y):
        code = run("analyze", tmp_path / name, tmp_path / "x.npy", "--quiet", "--out",
                   tmp_path / f"{name}.html", "--save", tmp_path / f"{name}.npz")
        assert code == 0, (name, capsys.readouterr().err)
        ref = cellgeom.partition(model, data=X, progress=False)
        loaded = cellgeom.load(tmp_path / f"{name}.npz").partition
        assert loaded.n_cells == ref.n_cells, name
        np.testing.assert_allclose(np.sort(loaded.cells["volume"]),
                                   np.sort(ref.cells["volume"]), rtol=1e-9)
    (tmp_path / "bad.json").write_text('{"not": "a model"}')
    (tmp_path / "bad.txt").write_text("hello\n")
    for name, library in (("bad.json", "xgboost"), ("bad.txt", "LightGBM")):
        assert run("analyze", tmp_path / name, tmp_path / "x.npy", "--quiet") == 2
        err = capsys.readouterr().err
        assert "MODEL" in err and name in err and library in err and "Traceback" not in err


def test_labels_column_gives_the_models_score_in_summary_and_report(iris, tmp_path, capsys):
    frame = pd.DataFrame(iris["X"], columns=["petal_length", "petal_width"])
    frame.assign(species=load_iris().target_names[iris["y"]]).to_csv(tmp_path / "l.csv",
                                                                      index=False)
    frame.assign(code=iris["y"]).to_csv(tmp_path / "c.csv", index=False)
    model = iris["forest"]
    assert run("analyze", iris["dir"] / "forest.skops", tmp_path / "c.csv", "--labels",
               "code", "--quiet", "--out", tmp_path / "r.html") == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("accuracy on DATA"))
    assert float(line.split()[-1]) == pytest.approx(model.score(iris["X"], iris["y"]),
                                                    rel=1e-5)
    text = (tmp_path / "r.html").read_text()
    assert "accuracy on DATA" in text and "majority" in text and "purity" in text
    # a text label column without --labels is named, with the hint
    assert run("analyze", iris["dir"] / "forest.skops", tmp_path / "l.csv", "--quiet") == 1
    assert "--labels" in capsys.readouterr().err
    assert run("analyze", iris["dir"] / "forest.skops", tmp_path / "l.csv", "--quiet",
               "--labels", "nope") == 2
    assert "--labels 'nope'" in capsys.readouterr().err


def test_closed_pipe_is_not_an_error_and_the_files_are_still_written(iris, tmp_path):
    """`cellgeom analyze ... | head -n 1`: no "BrokenPipeError", the report is written."""
    np.save(tmp_path / "x.npy", iris["X"])
    cmd = " ".join(shlex.quote(str(a)) for a in (
        CELLGEOM, "analyze", iris["dir"] / "forest.skops", tmp_path / "x.npy", "--quiet",
        "--out", tmp_path / "r.html", "--save", tmp_path / "cx.npz"))
    res = subprocess.run(["bash", "-o", "pipefail", "-c", f"{cmd} | head -n 1"],
                         capture_output=True, text=True, timeout=300)
    assert res.stdout.startswith("forest.skops on x.npy: 150 points")
    assert res.stderr == "", res.stderr
    assert res.returncode == 0
    assert (tmp_path / "r.html").exists() and (tmp_path / "cx.npz").exists()


def test_csv_columns_in_another_order_are_matched_by_name_everywhere(tmp_path, capsys):
    """Oracle: the same file with the columns in the model's order (the score, the report's
    points in cells and the per-cell label counts were computed on the file's order, while
    the partition matched the names: accuracy 0.21 against 0.94)."""
    import skops.io as sio
    from sklearn.datasets import make_moons
    from sklearn.tree import DecisionTreeClassifier

    X, y = make_moons(200, noise=0.1, random_state=0)
    X[:, 1] *= 10
    frame = pd.DataFrame(X, columns=["a", "b"])
    sio.dump(DecisionTreeClassifier(max_depth=4, random_state=0).fit(frame, y),
             tmp_path / "m.skops")
    frame.assign(label=y).to_csv(tmp_path / "ordered.csv", index=False)
    frame[["b", "a"]].assign(label=y).to_csv(tmp_path / "swapped.csv", index=False)
    lines = {}
    for name in ("ordered", "swapped"):
        assert run("analyze", tmp_path / "m.skops", tmp_path / f"{name}.csv", "--labels",
                   "label", "--quiet", "--out", tmp_path / f"{name}.html") == 0
        out = capsys.readouterr().out
        lines[name] = [ln for ln in out.splitlines() if "accuracy" in ln or "in cells" in ln]
    assert lines["swapped"] == lines["ordered"]
    assert "200 in cells" in (tmp_path / "swapped.html").read_text()


def test_labels_of_a_model_without_a_score_say_so(iris, tmp_path, capsys):
    xgb = pytest.importorskip("xgboost")
    booster = xgb.XGBClassifier(n_estimators=2, max_depth=2).fit(iris["X"], iris["y"])
    booster.get_booster().save_model(str(tmp_path / "b.json"))
    np.save(tmp_path / "X.npy", iris["X"])
    np.save(tmp_path / "y.npy", iris["y"])
    assert run("analyze", tmp_path / "b.json", tmp_path / "X.npy", "--labels",
               tmp_path / "y.npy", "--quiet") == 0
    assert "no score" in capsys.readouterr().out
