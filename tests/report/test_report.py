"""HTML report: one offline file whose numbers are the complex's, rendered by headless Chromium."""
from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import cellgeom
from cellgeom.report import summary_rows


def _cx(k=6, seed=0, dim=2, cells="all"):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(120, dim))
    arr = cellgeom.HyperplaneArrangement(rng.normal(size=(k, dim)), rng.normal(size=k) * 0.4)
    part = cellgeom.partition(arr, domain=([-1] * dim, [1] * dim), data=X, cells=cells,
                              progress=False)
    return cellgeom.build_complex(part), X


@pytest.fixture(scope="module")
def report_2d(tmp_path_factory):
    cx, X = _cx()
    path = tmp_path_factory.mktemp("rep") / "report.html"
    out = cellgeom.write_report(cx, path, title="Test <report>", data=X, progress=False)
    return cx, out


def test_importing_report_does_not_import_matplotlib():
    code = "import sys, cellgeom, cellgeom.report; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_report_is_one_offline_file_with_the_complex_numbers(report_2d):
    cx, path = report_2d
    text = path.read_text(encoding="utf-8")
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.html"]  # atomic, no temp
    # self-contained: no external references at all
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", text)
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in text
    assert "<title>Test &lt;report&gt;</title>" in text
    # the summary states the complex's own numbers
    summary = dict(summary_rows(cx))
    assert summary["Betti numbers"] == ", ".join(map(str, cx.betti_numbers()))
    assert summary["Euler characteristic"] == str(cx.euler_characteristic())
    assert summary["cells"].startswith(f"{cx.partition.n_cells} (all mode")
    for k, v in summary.items():
        assert f"<td>{html.escape(k)}</td><td class=\"str\">{html.escape(v)}</td>" in text
    # pictures are decodable inline PNGs
    pngs = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(pngs) == 3
    assert all(base64.b64decode(p)[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    # the map: one polygon per cell, and hover data = the cell table row
    assert text.count("<polygon data-cell=") == cx.partition.n_cells
    data = json.loads(re.search(r'id="cell-data">(.*?)</script>', text, re.S).group(1))
    assert data["columns"][:3] == ["cell", "key", "volume"]
    assert [row[1] for row in data["rows"]] == cx.partition.keys
    for row, vol in zip(data["rows"], cx.partition.cells["volume"]):
        assert float(row[2]) == pytest.approx(vol, rel=1e-5)
    assert text.count('class="sortable"') >= 4  # largest, smallest, cells, edges


def test_higher_dimensional_and_partition_input(tmp_path):
    cx, _ = _cx(k=4, dim=3)
    out = cellgeom.write_report(cx.partition, tmp_path / "r3.html", progress=False)
    text = out.read_text()
    assert "cellmap" not in text.split("<script>")[0] or "<polygon" not in text
    assert "histogram of cell volumes" in text
    cx.partition.cells["vertex_curvature"] = np.linspace(-1, 2, cx.partition.n_cells)
    text = cellgeom.write_report(cx, tmp_path / "r3c.html", progress=False).read_text()
    assert "Most curved (|vertex_curvature|)" in text


def test_bad_arguments_are_named(tmp_path):
    cx, X = _cx(k=2)
    with pytest.raises(TypeError, match="Partition or RiemannianComplex"):
        cellgeom.write_report(X, tmp_path / "x.html")
    with pytest.raises(ValueError, match="is a directory"):
        cellgeom.write_report(cx, tmp_path, progress=False)
    with pytest.raises(ValueError, match="does not exist"):
        cellgeom.write_report(cx, tmp_path / "nope" / "x.html", progress=False)
    with pytest.raises(ValueError, match="data has 3 features"):
        cellgeom.write_report(cx, tmp_path / "x.html", data=np.zeros((3, 3)), progress=False)


# -- headless Chromium -------------------------------------------------------------------------
_CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--enable-logging=stderr", "--v=0"]

_PROBE = """<script>
window.__errs = [];
window.addEventListener('error', function (e) { window.__errs.push('error: ' + e.message); });
(function () { var ce = console.error;
  console.error = function () { window.__errs.push('console.error: ' +
    Array.prototype.join.call(arguments, ' ')); ce.apply(console, arguments); }; })();
window.addEventListener('load', function () {
  var out = {errors: window.__errs};
  var poly = document.querySelectorAll('#cellmap polygon')[2];
  poly.dispatchEvent(new MouseEvent('mouseover', {bubbles: true, clientX: 50, clientY: 50}));
  var tip = document.getElementById('tooltip');
  out.tooltip = tip.textContent; out.display = tip.style.display;
  var table = document.querySelector('#cells table');
  var th = table.querySelectorAll('th')[2];  /* the volume column */
  th.click();
  out.sorted = Array.prototype.map.call(table.tBodies[0].rows,
    function (r) { return parseFloat(r.cells[2].getAttribute('data-v')); });
  var pre = document.createElement('pre'); pre.id = '__probe';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
});
</script>"""


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser") or \
        shutil.which("google-chrome")


def _run_chromium(args, tmp_path, name):
    exe = _chromium()
    profile = tmp_path / f"profile-{name}"
    cmd = [exe, *_CHROME_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.browser
@pytest.mark.skipif(_chromium() is None, reason="headless Chromium is not installed "
                    "(apt-get install chromium; CI installs it)")
def test_report_renders_in_chromium_without_console_errors(report_2d, tmp_path):
    cx, path = report_2d
    # 1. the untouched file: no console messages of level warning/error, screenshot not blank
    shot = tmp_path / "shot.png"
    res = _run_chromium(["--window-size=1280,1800", f"--screenshot={shot}", path.as_uri()],
                        tmp_path, "shot")
    console = [ln for ln in res.stderr.splitlines() if ":CONSOLE" in ln or "Uncaught" in ln]
    assert console == [], console
    import matplotlib.image as mpimg

    img = mpimg.imread(shot)
    assert img.shape[0] >= 1000 and img.shape[1] == 1280
    assert img[..., :3].std() > 0.05  # not blank
    assert len(np.unique((img[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 200
    # 2. a copy with a probe: script errors, hover tooltip, click-to-sort
    probe = tmp_path / "probe.html"
    probe.write_text(path.read_text(encoding="utf-8").replace("<head>", "<head>" + _PROBE, 1),
                     encoding="utf-8")
    res = _run_chromium(["--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
                        tmp_path, "dom")
    match = re.search(r'<pre id="__probe">(.*?)</pre>', res.stdout, re.S)
    assert match, res.stderr[-2000:]
    out = json.loads(html.unescape(match.group(1)))
    assert out["errors"] == []
    assert out["display"] == "block"
    row = cx.partition.cells.iloc[2]
    assert row["key"] in out["tooltip"] and "volume" in out["tooltip"]
    assert f"{row['volume']:.6g}" in out["tooltip"]
    assert out["sorted"] == sorted(cx.partition.cells["volume"].tolist())
