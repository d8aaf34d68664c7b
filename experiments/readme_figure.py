"""Regenerate docs/img/readme_example.png: the README's ten-line example, run as is.

Usage: .venv/bin/python experiments/readme_figure.py
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "img" / "readme_example.png"

# --- the README example (keep in sync with README.md) ---
import numpy as np  # noqa: E402
from sklearn.datasets import make_moons  # noqa: E402

import cellgeom  # noqa: E402

X, y = make_moons(300, noise=0.1, random_state=0)
rng = np.random.default_rng(0)
model = cellgeom.HyperplaneArrangement(rng.normal(size=(8, 2)), rng.normal(size=8) * 0.5)
part = cellgeom.partition(model, data=X, cells="all")     # every cell in the padded data box
cx = cellgeom.build_complex(part)                                # nerve + Gram matrices
print(part.cells[["key", "volume", "n_points"]].head(), cx.betti_numbers())
ax = cellgeom.plot_partition(part, color_by="n_points", data=X, show_nerve=True)
# --- end of the example ---

ax.set_title("cells of 8 random lines on make_moons: data count, nerve")
ax.figure.savefig(OUT, dpi=120, bbox_inches="tight")
plt.close(ax.figure)
print(f"wrote {OUT}")
