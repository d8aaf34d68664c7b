"""Regenerate docs/img/tutorial_conv_slice.png: the code of docs/tutorials/conv_slices.md.

Usage: .venv/bin/python experiments/conv_slice_figure.py
"""
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
page = (ROOT / "docs" / "tutorials" / "conv_slices.md").read_text()
code = re.search(r"```python\n(.*?)```", page, re.S).group(1)
namespace: dict = {}
exec(compile(code, "conv_slices.md", "exec"), namespace)  # the page's code, as written
namespace["fig"].savefig(ROOT / "docs" / "img" / "tutorial_conv_slice.png", dpi=100,
                         bbox_inches="tight")
plt.close(namespace["fig"])
print("wrote docs/img/tutorial_conv_slice.png,", namespace["regions"].n_regions, "regions")
