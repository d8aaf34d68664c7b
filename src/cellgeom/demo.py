"""``cellgeom demo``: train small real models on bundled data and write their reports.

1. A random forest on the petal features of scikit-learn's iris data set (boxes).
2. A ReLU network 2-16-16-2 trained on ``make_moons`` (convex polytopes), and
   the hyperplane arrangement of its first layer (``HyperplaneArrangement(W1, b1)``),
   whose cells the network's cells refine.

Each model goes through ``cellgeom.partition`` and ``cellgeom.build_complex``; each
gets an HTML report and a saved complex (``.npz``), and ``index.html`` links them.
"""
from __future__ import annotations

import html
import time
from pathlib import Path

from .complex import build_complex
from .models import HyperplaneArrangement, partition
from .report import summary_rows, write_report

__all__ = ["run_demo"]


def _analyse(name, title, model, X, out: Path, progress: bool, quiet: bool, **kw):
    t0 = time.perf_counter()
    part = partition(model, data=X, cells="all", progress=progress, **kw)
    cx = build_complex(part, progress=progress)
    page = write_report(cx, out / f"{name}.html", title=title, data=X, progress=progress)
    cx.save(out / f"{name}.npz")
    seconds = time.perf_counter() - t0
    if not quiet:
        print(f"\n{title}  ({seconds:.1f} s)")
        rows = summary_rows(cx)
        width = max(len(k) for k, _ in rows)
        for k, v in rows:
            print(f"  {k:<{width}}  {v}")
        print(f"  -> {page}")
    return name, title, part.n_cells, cx.betti_numbers()


def run_demo(out, quiet: bool = False) -> list[Path]:
    """Train the demo models, analyse them and write the reports into ``out``.

    Parameters
    ----------
    out : str or Path
        Output directory (created if missing).
    quiet : bool
        No progress bars and no printed summaries.

    Returns
    -------
    list of Path
        The HTML files written (the reports, then ``index.html``).
    """
    from sklearn.datasets import load_iris, make_moons
    from sklearn.ensemble import RandomForestClassifier

    from .nn.examples import train_moons_network

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    progress = not quiet
    done = []

    iris = load_iris()
    X, y = iris.data[:, 2:4], iris.target
    forest = RandomForestClassifier(n_estimators=25, max_depth=4, random_state=0).fit(X, y)
    done.append(_analyse("forest_iris", "Random forest (25 trees) on iris petal length/width",
                         forest, X, out, progress, quiet))

    Xm, ym = make_moons(400, noise=0.15, random_state=0)
    net, acc = train_moons_network(Xm, ym)
    done.append(_analyse("network_moons",
                         f"ReLU network 2-16-16-2 on make_moons (training accuracy {acc:.2f})",
                         net, Xm, out, progress, quiet))
    W1 = net[0].weight.detach().double().numpy()
    b1 = net[0].bias.detach().double().numpy()
    done.append(_analyse("first_layer_moons",
                         "First layer of the network: the arrangement of its 16 hyperplanes",
                         HyperplaneArrangement(W1, b1), Xm, out, progress, quiet))

    items = "".join(
        f'<li><a href="{name}.html">{html.escape(title)}</a> - {n} cells, Betti numbers '
        f'{", ".join(map(str, betti))} (<code>{name}.npz</code>)</li>'
        for name, title, n, betti in done)
    index = out / "index.html"
    index.write_text(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>cellgeom demo"
        "</title></head><body style=\"font-family:sans-serif;margin:2em\"><h1>cellgeom demo"
        f"</h1><ul>{items}</ul></body></html>\n", encoding="utf-8")
    if not quiet:
        print(f"\nopen {index}")
    return [out / f"{name}.html" for name, *_ in done] + [index]


if __name__ == "__main__":  # pragma: no cover
    run_demo(Path("demo-output"))
