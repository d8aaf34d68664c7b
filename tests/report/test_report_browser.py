"""Reports in headless Chromium (issue #23): for a 2-D network, a 30-D forest and a 13-D
pipeline nothing overflows a 1280-pixel window, and the map has axes, a colour bar, the
data and a legend.

Oracle: the browser's own layout. A copy of each report carries a script that measures,
after load, the page, every section, table and summary cell (scrollWidth against
clientWidth) and every picture, and writes the numbers into the page; ``--dump-dom``
returns them. A screenshot of the untouched report must not be blank.
"""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

import cellgeom


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser") or \
        shutil.which("google-chrome")


pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(_chromium() is None, reason="headless Chromium is not "
                                 "installed (apt-get install chromium; .ci/run installs it)")]

WIDTH = 1280
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--window-size={WIDTH},2000", "--hide-scrollbars"]

MEASURE = """<script>
window.addEventListener('load', function () {
  function all(sel) { return Array.prototype.slice.call(document.querySelectorAll(sel)); }
  var root = document.documentElement, out = {width: root.clientWidth};
  out.page = [root.scrollWidth, root.clientWidth];
  out.sections = all('section, header').map(function (s) {
    return [s.id || s.tagName, s.scrollWidth, s.clientWidth]; });
  out.tables = all('.scroll').map(function (d) {
    return [d.closest('section').id, d.scrollWidth, d.clientWidth]; });
  out.summary = all('.summary td').map(function (td) {
    return [td.textContent.slice(0, 60), td.scrollWidth, td.clientWidth]; });
  out.long = all('td.long').length;
  out.cut = all('td.long').slice(0, 5).map(function (td) {
    return [getComputedStyle(td).textOverflow, td.getBoundingClientRect().width]; });
  out.images = all('img').map(function (im) {
    var r = im.getBoundingClientRect(); return [im.naturalWidth, r.left, r.right]; });
  var map = document.getElementById('cellmap');
  if (map) {
    var r = map.getBoundingClientRect();
    out.map = {right: r.right, left: r.left,
      xticks: map.querySelectorAll('.axis-x text').length,
      yticks: map.querySelectorAll('.axis-y text').length,
      names: all('#cellmap text.name').map(function (t) { return t.textContent; }),
      colorbar: map.querySelectorAll('.colorbar rect').length,
      legend: all('#cellmap .legend text').map(function (t) { return t.textContent; }),
      points: map.querySelectorAll('.points circle').length,
      cells: map.querySelectorAll('polygon').length};
  }
  var pre = document.createElement('pre'); pre.id = '__measure';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
});
</script>"""


def _network_2d(tmp_path):
    torch = pytest.importorskip("torch")
    from sklearn.datasets import make_moons

    X, y = make_moons(200, noise=0.15, random_state=0)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 10), torch.nn.ReLU(), torch.nn.Linear(10, 10),
                              torch.nn.ReLU(), torch.nn.Linear(10, 2)).eval()
    part = cellgeom.partition(net, data=X, cells="all", progress=False)
    return cellgeom.write_report(part, tmp_path / "network.html", data=X, labels=y,
                                 progress=False), X, part


def _forest_30d(tmp_path):
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    d = load_breast_cancer(as_frame=True)
    forest = RandomForestClassifier(n_estimators=25, max_depth=5, random_state=0).fit(
        d.data, d.target)
    part = cellgeom.partition(forest, data=d.data, progress=False)
    return cellgeom.write_report(part, tmp_path / "forest.html", data=d.data, labels=d.target,
                                 progress=False), d.data.to_numpy(), part


def _pipeline_13d(tmp_path):
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    d = load_wine(as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(
        d.data, d.target)
    part = cellgeom.partition(model, data=d.data, progress=False)
    return cellgeom.write_report(part, tmp_path / "pipeline.html", data=d.data,
                                 labels=d.target, metrics={"accuracy": model.score(
                                     d.data, d.target)}, progress=False), None, part


def _chrome(args, tmp_path, name):
    cmd = [_chromium(), *FLAGS, f"--user-data-dir={tmp_path / ('profile-' + name)}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("build", [_network_2d, _forest_30d, _pipeline_13d],
                         ids=["network-2d", "forest-30d", "pipeline-13d"])
def test_report_fits_the_window_and_the_map_is_complete(build, tmp_path):
    path, X, part = build(tmp_path)
    probe = tmp_path / "probe.html"
    probe.write_text(path.read_text(encoding="utf-8").replace("<head>", "<head>" + MEASURE, 1),
                     encoding="utf-8")
    res = _chrome(["--virtual-time-budget=5000", "--dump-dom", probe.as_uri()], tmp_path, "dom")
    match = re.search(r'<pre id="__measure">(.*?)</pre>', res.stdout, re.S)
    assert match, res.stderr[-2000:]
    m = json.loads(html.unescape(match.group(1)))
    assert m["width"] == WIDTH
    assert m["page"][0] <= m["page"][1], m["page"]
    wide = [s for s in m["sections"] if s[1] > s[2]]
    assert wide == [], wide
    wide = [t for t in m["tables"] if t[1] > t[2]]  # a table wider than its box scrolls
    assert wide == [], wide
    spill = [c for c in m["summary"] if c[1] > c[2] + 1]
    assert spill == [], spill
    assert m["images"] and all(w > 0 and 0 <= left and right <= WIDTH
                               for w, left, right in m["images"]), m["images"]
    if max(len(k) for k in part.keys) > 24:  # long keys are cut to a fixed width
        assert m["long"] > 0
        assert all(style == "ellipsis" and width < 300 for style, width in m["cut"])
    if part.dim == 2:
        mp = m["map"]
        assert 0 <= mp["left"] and mp["right"] <= WIDTH
        assert mp["xticks"] >= 4 and mp["yticks"] >= 4  # ticks and the axis name
        assert mp["names"][:2] == ["x_0", "x_1"] and mp["colorbar"] >= 1
        assert mp["points"] == len(X) and mp["cells"] == part.n_cells
        assert any("cell" in t for t in mp["legend"]) and any("label" in t
                                                                for t in mp["legend"])
    else:
        assert "map" not in m
    # the untouched page renders: a screenshot that is not blank
    shot = tmp_path / "shot.png"
    _chrome([f"--screenshot={shot}", path.as_uri()], tmp_path, "shot")
    import matplotlib.image as mpimg

    img = mpimg.imread(shot)
    assert img.shape[1] == WIDTH and img[..., :3].std() > 0.05
    assert len(np.unique((img[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 100
