"""Geometric regularization of small MLPs on make_moons and load_digits (THEORY.md section 7).

For each data set, penalty in {none, margin, small_cell, sharp_angle, face_disagreement} and
seed in {0, 1, 2}: train an MLP with cross-entropy (+ the penalty), then measure on the test
set: accuracy, accuracy under Gaussian input noise and under an FGSM attack, and the geometry
statistics of GeometryTracker (data-containing cells, median margin, inradius quantiles,
sharpness) plus the face-disagreement value. Writes docs/regularization.md (tables) and
figures under docs/img/. Runs in a few minutes on one CPU core:

    .venv/bin/python experiments/regularization.py [--quick]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_digits, make_moons  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from torch import nn  # noqa: E402

torch.set_num_threads(1)  # small nets: one thread; the machine is shared

from cellgeom.nn.regularizer import GeometricRegularizer  # noqa: E402
from cellgeom.nn.tracker import GeometryTracker  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PENALTIES = ["none", "margin", "small_cell", "sharp_angle", "face_disagreement"]
# statistic each penalty should move, and the direction it should move it
OWN = {"margin": ("margin_median", +1), "small_cell": ("inradius_q10", +1),
       "sharp_angle": ("sharpness", -1), "face_disagreement": ("face_value", -1)}
CONFIG = {
    "moons": dict(hidden=32, epochs=100, batch=128, lr=1e-2, noise=0.3, fgsm=0.15,
                  reg=dict(margin=0.1, small_cell=0.05, sharp_angle=30.0),
                  weights=dict(margin=0.05, small_cell=2.0, sharp_angle=1.0,
                               face_disagreement=1.0)),
    "digits": dict(hidden=32, epochs=15, batch=128, lr=3e-3, noise=1.0, fgsm=0.25,
                   reg=dict(margin=0.5, small_cell=0.2, sharp_angle=60.0),
                   weights=dict(margin=0.05, small_cell=2.0, sharp_angle=1.0,
                                face_disagreement=1.0)),
}


def load(name: str):
    if name == "moons":
        X, y = make_moons(600, noise=0.2, random_state=0)
    else:
        X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    sc = StandardScaler().fit(Xtr)
    Xtr, Xte = (torch.as_tensor(sc.transform(a), dtype=torch.float32) for a in (Xtr, Xte))
    return Xtr, Xte, torch.as_tensor(ytr), torch.as_tensor(yte)


def make_net(n_in: int, n_out: int, hidden: int, seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                         nn.ReLU(), nn.Linear(hidden, n_out))


def regularizer(penalty: str, cfg: dict) -> GeometricRegularizer | None:
    if penalty == "none":
        return None
    kw = {penalty: True} if penalty == "face_disagreement" else {penalty: cfg["reg"][penalty]}
    return GeometricRegularizer(**kw, weights={penalty: cfg["weights"][penalty]})


def fgsm_accuracy(net, X, y, eps: float) -> float:
    X = X.clone().requires_grad_(True)
    nn.functional.cross_entropy(net(X), y).backward()
    with torch.no_grad():
        return float((net(X + eps * X.grad.sign()).argmax(1) == y).float().mean())


def run_one(name: str, penalty: str, seed: int, data, cfg: dict, track: bool = False):
    Xtr, Xte, ytr, yte = data
    net = make_net(Xtr.shape[1], int(ytr.max()) + 1, cfg["hidden"], seed)
    reg = regularizer(penalty, cfg)
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
    g = torch.Generator().manual_seed(seed)
    tracker = GeometryTracker(net, Xte, every=max(1, cfg["epochs"] // 10)) if track else None
    t0 = time.perf_counter()
    for epoch in range(cfg["epochs"]):
        perm = torch.randperm(len(Xtr), generator=g)
        for i in range(0, len(Xtr), cfg["batch"]):
            idx = perm[i:i + cfg["batch"]]
            opt.zero_grad()
            logits = net(Xtr[idx])
            loss = nn.functional.cross_entropy(logits, ytr[idx])
            if reg is not None:
                loss = loss + reg(net, Xtr[idx], logits).total
            loss.backward()
            opt.step()
        if tracker is not None:
            tracker.step(epoch)
    train_s = time.perf_counter() - t0
    with torch.no_grad():
        acc = float((net(Xte).argmax(1) == yte).float().mean())
        gn = torch.Generator().manual_seed(100 + seed)
        noisy = Xte + cfg["noise"] * torch.randn(Xte.shape, generator=gn)
        acc_noise = float((net(noisy).argmax(1) == yte).float().mean())
        face = GeometricRegularizer(face_disagreement=True)(net, Xte).parts["face_disagreement"]
    row = dict(data=name, penalty=penalty, seed=seed, acc=acc, acc_noise=acc_noise,
               acc_fgsm=fgsm_accuracy(net, Xte, yte, cfg["fgsm"]), train_s=train_s,
               face_value=float(face), **GeometryTracker(net, Xte).measure())
    return row, tracker


def effect_sizes(df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for name, sub in df.groupby("data"):
        base = sub[sub.penalty == "none"]
        for pen, (stat, sign) in OWN.items():
            on = sub[sub.penalty == pen]
            b, o = base[stat].to_numpy(), on[stat].to_numpy()
            pooled = np.sqrt((b.var(ddof=1) + o.var(ddof=1)) / 2)
            rows.append(dict(data=name, penalty=pen, statistic=stat, expected="up" if sign > 0
                             else "down", baseline=b.mean(), penalised=o.mean(),
                             ratio=o.mean() / b.mean() if b.mean() else np.nan,
                             cohens_d=(o.mean() - b.mean()) / pooled if pooled > 0 else np.nan,
                             right_direction=bool(sign * (o.mean() - b.mean()) > 0),
                             all_seeds=bool(np.all(sign * (np.sort(o) - np.sort(b)) > 0))))
    return pd.DataFrame(rows)


def main(quick: bool = False) -> None:
    seeds = [0] if quick else [0, 1, 2]
    rows, trackers = [], {}
    for name in ("moons", "digits"):
        cfg = dict(CONFIG[name])
        if quick:
            cfg["epochs"] = max(2, cfg["epochs"] // 10)
        data = load(name)
        for pen in PENALTIES:
            for seed in seeds:
                row, tr = run_one(name, pen, seed, data, cfg, track=seed == 0)
                rows.append(row)
                if tr is not None:
                    trackers[(name, pen)] = tr
                print(f"{name:6s} {pen:18s} seed {seed}: acc {row['acc']:.3f} "
                      f"cells {row['n_cells']} margin {row['margin_median']:.3g} "
                      f"({row['train_s']:.1f}s)", flush=True)
    df = pd.DataFrame(rows)
    eff = effect_sizes(df)
    write_report(df, eff, trackers, quick)


def markdown(df: pd.DataFrame) -> str:
    """A pipe table (no tabulate dependency); floats with 3 significant digits."""
    def cell(v):
        return f"{v:.3g}" if isinstance(v, (float, np.floating)) else str(v)
    lines = ["| " + " | ".join(map(str, df.columns)) + " |",
             "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def write_report(df, eff, trackers, quick: bool) -> None:
    img = ROOT / "docs" / "img"
    img.mkdir(parents=True, exist_ok=True)
    cols = ["acc", "acc_noise", "acc_fgsm", "n_cells", "margin_median", "inradius_q10",
            "inradius_min", "sharpness", "face_value", "train_s"]
    summary = df.groupby(["data", "penalty"], sort=False)[cols].agg(["mean", "std"])
    flat = pd.DataFrame({c: [f"{m:.3g} ± {s:.2g}" for m, s in zip(summary[(c, "mean")],
                                                                    summary[(c, "std")])]
                         for c in cols}, index=summary.index).reset_index()
    for name in ("moons", "digits"):
        fig, axes = plt.subplots(2, 2, figsize=(10, 7), constrained_layout=True)
        for pen in PENALTIES:
            tr = trackers.get((name, pen))
            if tr is None:
                continue
            t = tr.table
            for ax, c in zip(axes.ravel(), ("n_cells", "margin_median", "inradius_q10",
                                            "sharpness")):
                ax.plot(t["epoch"], t[c], label=pen)
                ax.set(xlabel="epoch", ylabel=c + " (test set)")
        axes[0, 0].set_yscale("log")
        axes[0, 0].legend(fontsize=8)
        fig.suptitle(f"{name}: geometry during training (seed 0)")
        fig.savefig(img / f"regularization_{name}.png", dpi=90)
        plt.close(fig)
    suffix = "_quick" if quick else ""
    df.to_csv(ROOT / "docs" / "img" / f"regularization_runs{suffix}.csv", index=False)
    text = [f"<!-- generated by experiments/regularization.py{' --quick' if quick else ''} -->",
            "## Results (mean ± std over seeds)", "", markdown(flat), "",
            "## Does each penalty move its own statistic? (effect sizes vs no penalty)", "",
            markdown(eff), ""]
    (ROOT / "docs" / f"regularization_results{suffix}.md").write_text("\n".join(text))
    print("\n".join(text))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    main(ap.parse_args().quick)
