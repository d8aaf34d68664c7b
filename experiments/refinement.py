"""Refinement experiment: 5-fold CV score of base models vs their simplicial-spline refinement.

Run from the repository root (1-3 minutes on 2 cores):

    .venv/bin/python experiments/refinement.py

Writes the result table into docs/refinement.md (between the RESULTS markers) and the
picture docs/img/refinement_tree.png (a tree's piecewise-constant surface next to its
refinement on a 2-D problem). Everything is seeded; the numbers are whatever they are.

Models (kept small so the whole run takes minutes): a decision tree (max_depth=6), a random
forest (10 trees, max_depth=5), gradient boosting (20 stages, max_depth=2; for multi-class
this is 20 trees per class) and k-means (k=10) used as a predictor (the mean / majority class
of each cluster: the spline with lambda -> 0 on the k-means cells). k-means runs after
standardisation and PCA to 4 dimensions (Voronoi cells in 10-64 dimensions need the volume
estimator, which is too slow for a 5-fold loop); its base and refined models see the same
4-D inputs. Scores: R^2 for load_diabetes, accuracy for the classification sets.
"""
from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("POT_BACKEND_DISABLE_PYTORCH", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sklearn.base import clone  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.datasets import (  # noqa: E402
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_wine,
)
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.ensemble import (  # noqa: E402
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.model_selection import KFold, StratifiedKFold  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor  # noqa: E402

from cellgeom.analysis.spline import SimplicialSpline  # noqa: E402

SEED = 0
SPLINE_KW = dict(n_lambdas=15)


def models(regression: bool):
    """(name, base estimator, refined estimator) triples."""
    if regression:
        tree = DecisionTreeRegressor(max_depth=6, random_state=SEED)
        forest = RandomForestRegressor(n_estimators=10, max_depth=5, random_state=SEED)
        gb = GradientBoostingRegressor(n_estimators=20, max_depth=2, random_state=SEED)
        task = "regression"
    else:
        tree = DecisionTreeClassifier(max_depth=6, random_state=SEED)
        forest = RandomForestClassifier(n_estimators=10, max_depth=5, random_state=SEED)
        gb = GradientBoostingClassifier(n_estimators=20, max_depth=2, random_state=SEED)
        task = "classification"
    out = [(name, m, SimplicialSpline(m, **SPLINE_KW))
           for name, m in (("decision tree", tree), ("random forest", forest),
                           ("gradient boosting", gb))]
    km = KMeans(10, n_init=3, random_state=SEED)

    def pipe(spline):
        return make_pipeline(StandardScaler(), PCA(4, random_state=SEED), spline)

    out.append(("k-means (k=10, PCA-4)",
                pipe(SimplicialSpline(km, lam=1e-9, task=task)),
                pipe(SimplicialSpline(km, task=task, **SPLINE_KW))))
    return out


def _spline_of(est):
    return est.steps[-1][1] if hasattr(est, "steps") else est


def cross_validate(base, refined, X, y, regression):
    split = KFold(5, shuffle=True, random_state=SEED) if regression else \
        StratifiedKFold(5, shuffle=True, random_state=SEED)
    sb, sr, lams, cells, gaps = [], [], [], [], []
    for train, test in split.split(X, y):
        b = clone(base).fit(X[train], y[train])
        r = clone(refined).fit(X[train], y[train])
        sb.append(b.score(X[test], y[test]))
        sr.append(r.score(X[test], y[test]))
        spl = _spline_of(r)
        lams.append(spl.lambda_)
        cells.append(spl.partition_.n_cells)
        Xt = r[:-1].transform(X[test]) if hasattr(r, "steps") else X[test]
        gaps.append(float(np.mean(spl.partition_.locate(Xt) < 0)))
    return np.array(sb), np.array(sr), np.array(lams), np.array(cells), np.array(gaps)


def run_table():
    datasets = [("load_diabetes (R^2)", load_diabetes, True),
                ("load_breast_cancer (acc.)", load_breast_cancer, False),
                ("load_wine (acc.)", load_wine, False),
                ("load_digits (acc.)", load_digits, False)]
    rows = []
    for dname, loader, regression in datasets:
        X, y = loader(return_X_y=True)
        for mname, base, refined in models(regression):
            t0 = time.perf_counter()
            sb, sr, lams, cells, gaps = cross_validate(base, refined, X, y, regression)
            dt = time.perf_counter() - t0
            rows.append((dname, mname, sb, sr, lams, cells, gaps, dt))
            print(f"{dname:28s} {mname:24s} base {sb.mean():.3f}  refined {sr.mean():.3f}  "
                  f"lambda {np.median(lams):.2g}  cells {int(np.median(cells))}  {dt:.0f}s",
                  flush=True)
    return rows


def table_markdown(rows) -> str:
    lines = ["| data set (score) | base model | base, mean ± sd | refined, mean ± sd | "
             "difference | folds improved | chosen lambda (median, range) | cells (median) "
             "| test points in no data cell | time (s) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for dname, mname, sb, sr, lams, cells, gaps, dt in rows:
        d = sr - sb
        lines.append(
            f"| {dname} | {mname} | {sb.mean():.3f} ± {sb.std():.3f} | "
            f"{sr.mean():.3f} ± {sr.std():.3f} | {d.mean():+.3f} | {int((d > 0).sum())}/5 | "
            f"{np.median(lams):.2g} ({lams.min():.2g}-{lams.max():.2g}) | "
            f"{int(np.median(cells))} | {100 * gaps.mean():.0f}% | {dt:.0f} |")
    return "\n".join(lines)


def picture(path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(SEED)
    X = rng.uniform(-1, 1, size=(400, 2))
    y = np.sin(3 * X[:, 0]) * np.cos(2 * X[:, 1]) + 0.15 * rng.normal(size=len(X))
    tree = DecisionTreeRegressor(max_depth=6, min_samples_leaf=4, random_state=SEED)
    spline = SimplicialSpline(tree).fit(X, y)
    base = spline.base_model_
    g = np.linspace(-1.05, 1.05, 300)
    G = np.column_stack([a.ravel() for a in np.meshgrid(g, g)])
    zb = base.predict(G).reshape(len(g), len(g))
    zr = spline.predict(G).reshape(len(g), len(g))
    truth = (np.sin(3 * G[:, 0]) * np.cos(2 * G[:, 1])).reshape(len(g), len(g))
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), constrained_layout=True)
    vmin, vmax = truth.min(), truth.max()
    for ax, z, title in zip(axes, (truth, zb, zr), (
            "truth sin(3x)cos(2y) (400 noisy samples)",
            f"decision tree (depth 6): {base.get_n_leaves()} leaves",
            f"simplicial spline, lambda={spline.lambda_:.2g} (GCV), tau={spline.tau_:.2g}")):
        im = ax.imshow(z, origin="lower", extent=(g[0], g[-1], g[0], g[-1]), vmin=vmin,
                       vmax=vmax, cmap="viridis")
        ax.set_title(title, fontsize=10)
        ax.set_aspect("equal")
    axes[0].scatter(X[:, 0], X[:, 1], s=3, c="k", alpha=0.4)
    fig.colorbar(im, ax=axes, shrink=0.8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    rmse_b = float(np.sqrt(np.mean((zb - truth) ** 2)))
    rmse_r = float(np.sqrt(np.mean((zr - truth) ** 2)))
    return rmse_b, rmse_r


def main() -> int:
    warnings.filterwarnings("ignore")
    t0 = time.perf_counter()
    rmse_b, rmse_r = picture(ROOT / "docs" / "img" / "refinement_tree.png")
    print(f"picture: grid RMSE to the truth, tree {rmse_b:.3f}, spline {rmse_r:.3f}")
    rows = run_table()
    text = (table_markdown(rows) + "\n\nPicture (2-D, 300x300 grid): RMSE to the noise-free "
            f"truth {rmse_b:.3f} for the tree, {rmse_r:.3f} for its refinement.\n"
            f"Total run time {time.perf_counter() - t0:.0f} s.")
    doc = ROOT / "docs" / "refinement.md"
    begin, end = "<!-- RESULTS BEGIN -->", "<!-- RESULTS END -->"
    if doc.exists() and begin in doc.read_text():
        body = doc.read_text()
        body = body[: body.index(begin) + len(begin)] + "\n" + text + "\n" + \
            body[body.index(end):]
    else:
        body = f"# Refinement results\n\n{begin}\n{text}\n{end}\n"
    doc.write_text(body)
    print(f"wrote {doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
