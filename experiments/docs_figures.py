"""Regenerate the tutorial pictures in docs/img/ (tutorial_*.png) with the current code.

Usage: .venv/bin/python experiments/docs_figures.py
Each block is the code shown on the matching docs/tutorials/*.md page.
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.datasets import load_iris, make_blobs, make_moons  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.tree import DecisionTreeClassifier  # noqa: E402

import cellgeom  # noqa: E402
from cellgeom.viz import PartitionDisplay, plot_spectrum  # noqa: E402

IMG = Path(__file__).resolve().parents[1] / "docs" / "img"


def save(fig, name):
    fig.savefig(IMG / name, dpi=100, bbox_inches="tight")
    plt.close(fig)
    print("wrote", IMG / name)


# trees
iris = load_iris()
X, y = iris.data[:, 2:4], iris.target
tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
disp = PartitionDisplay.from_estimator(tree, X, cells="all", color_by="prediction",
                                       show_nerve=True)
save(disp.figure_, "tutorial_tree.png")

# forests
forest = RandomForestClassifier(n_estimators=25, max_depth=4, random_state=0).fit(X, y)
part = cellgeom.partition(forest, data=X, cells="all", progress=False)
cx = cellgeom.build_complex(part)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
cellgeom.plot_partition(cx, color_by="prediction", data=X, ax=axes[0])
cellgeom.plot_partition(cx, color_by="volume", show_nerve=True, edge_color_by="face_volume",
                        ax=axes[1])
save(fig, "tutorial_forest.png")

# k-means
Xb, _ = make_blobs(400, centers=6, random_state=1)
km = KMeans(n_clusters=6, n_init=4, random_state=0).fit(Xb)
part = cellgeom.partition(km, data=Xb, cells="all", progress=False)
cx = cellgeom.build_complex(part)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
cellgeom.plot_partition(cx, color_by="n_points", data=Xb, show_nerve=True, ax=axes[0])
plot_spectrum(cx, p=0, ax=axes[1])
save(fig, "tutorial_kmeans.png")

# networks
from cellgeom.nn.examples import train_moons_network  # noqa: E402

Xm, ym = make_moons(400, noise=0.15, random_state=0)
net, acc = train_moons_network(Xm, ym)
part = cellgeom.partition(net, data=Xm, cells="all", progress=False)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
cellgeom.plot_partition(part, color_by="n_points", data=Xm, data_color=ym, ax=axes[0])
first = cellgeom.HyperplaneArrangement(net[0].weight.detach().double().numpy(),
                                       net[0].bias.detach().double().numpy())
cellgeom.plot_partition(cellgeom.partition(first, data=Xm, cells="all", progress=False),
                        color_by="volume", data=Xm, data_color=ym, ax=axes[1])
axes[0].set_title(f"network cells ({part.n_cells}); accuracy {acc:.2f}")
axes[1].set_title("first layer only")
save(fig, "tutorial_network.png")

# boosting libraries
import lightgbm as lgb  # noqa: E402
import numpy as np  # noqa: E402

Xm, ym = make_moons(400, noise=0.25, random_state=0)
booster = lgb.LGBMClassifier(n_estimators=30, num_leaves=6, learning_rate=0.2,
                             verbose=-1).fit(Xm, ym)
part = cellgeom.partition(booster, data=Xm, cells="all", progress=False)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
cellgeom.plot_partition(part, color_by="proba_1", data=Xm, data_color=ym, ax=axes[0])
cellgeom.plot_partition(part, color_by=np.log10(part.cells["volume"]), ax=axes[1])
axes[0].set_title(f"LightGBM, 30 trees: {part.n_cells} boxes, P(class 1)")
axes[1].set_title("log10 box area")
save(fig, "tutorial_boosting.png")
