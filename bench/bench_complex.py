"""The nerve complex of big tree partitions: construction and Betti numbers vs GUDHI.

Rows (issue #19):

- complex + Betti numbers of a 2-D tree partition (100,000 leaves, about 600k simplices
  under the default "dual" rule): ``build_complex`` + ``betti_numbers`` against GUDHI
  given the very same simplices (``SimplexTree.insert_batch`` per dimension, then
  ``compute_persistence(persistence_dim_max=True)`` and ``betti_numbers``); the two
  Betti vectors must agree before the row is written.
- the same Betti numbers alone: cellgeom's exact ranks (union-find for B_1, compiled
  column reduction with clearing above) on the built complex, boundary matrices included,
  against GUDHI's persistence on its already built simplex tree.
- the full nerve of a 4-D tree partition (100,000 leaves): every dimension of the default
  complex, with its size and peak memory; no reference tool builds it.
"""
from __future__ import annotations

import numpy as np
from _measure import measure


def _tree_partition(n_leaves: int, dim: int, seed: int = 0):
    from sklearn.tree import DecisionTreeRegressor

    import cellgeom

    rng = np.random.default_rng(seed)
    N = int(n_leaves * 1.6)
    X = rng.uniform(0, 1, size=(N, dim))
    y = np.sin(6 * X[:, 0]) + np.cos(4 * X[:, 1]) + 0.3 * rng.normal(size=N)
    tree = DecisionTreeRegressor(max_leaf_nodes=n_leaves, random_state=seed).fit(X, y)
    return cellgeom.partition(tree, data=X, cells="all", progress=False)


def _ours(part):
    import cellgeom

    cx = cellgeom.build_complex(part)
    return cx, cx.betti_numbers()


def _fresh_betti(cx):
    cx._boundaries, cx._index = {}, None  # boundary matrices rebuilt inside the timing
    return cx.betti_numbers()


def _gudhi_tree(cx):
    import gudhi

    st = gudhi.SimplexTree()
    for p in range(cx.dim + 1):
        s = cx.simplices(p)
        st.insert_batch(np.ascontiguousarray(s.T), np.zeros(len(s)))
    return st


def _gudhi_betti(st, top):
    st.compute_persistence(persistence_dim_max=True)
    b = list(st.betti_numbers())
    return b + [0] * (top + 1 - len(b))


def _gudhi_all(cx):
    return _gudhi_betti(_gudhi_tree(cx), cx.dim)


def run(quick: bool) -> list[dict]:
    try:
        import gudhi  # noqa: F401
    except ImportError:  # pragma: no cover - dev dependency
        gudhi = None
    rows = []
    n_leaves = 5_000 if quick else 100_000
    part = _tree_partition(n_leaves, 2)
    (cx, betti), t_ours, mb_ours = measure(_ours, part, repeat=2)
    size = f"{part.n_cells} cells, {sum(cx.n_simplices())} simplices {cx.n_simplices()}"
    if gudhi is not None:
        ref, t_ref, mb_ref = measure(_gudhi_all, cx, repeat=2)
        if ref != betti:
            raise AssertionError(f"Betti numbers differ: cellgeom {betti}, GUDHI {ref}")
        note = (f"default rule 'dual'; Betti numbers {betti} equal GUDHI's; reference: GUDHI "
                "SimplexTree from the same simplices (insert_batch) + persistence")
    else:
        t_ref = mb_ref = None
        note = "GUDHI not installed: no reference"
    rows.append(dict(benchmark="complex + Betti numbers, 2-D tree", size=size,
                     cellgeom_s=t_ours, cellgeom_mb=mb_ours,
                     reference="GUDHI SimplexTree + persistence (same simplices)",
                     reference_s=t_ref, reference_mb=mb_ref, notes=note))
    b2, t_b, mb_b = measure(_fresh_betti, cx, repeat=2)
    assert b2 == betti
    if gudhi is not None:
        st = _gudhi_tree(cx)
        _, t_gb, mb_gb = measure(_gudhi_betti, st, cx.dim, repeat=1, trace_memory=False)
    else:
        t_gb = mb_gb = None
    rows.append(dict(benchmark="Betti numbers alone, 2-D tree complex", size=size,
                     cellgeom_s=t_b, cellgeom_mb=mb_b,
                     reference="GUDHI compute_persistence + betti_numbers (tree built)",
                     reference_s=t_gb, reference_mb=mb_gb,
                     notes="cellgeom: boundary matrices from integer keys, rank B_1 by "
                           "union-find, higher ranks by a compiled reduction with clearing"))
    part4 = _tree_partition(n_leaves, 4, seed=1)
    import cellgeom

    cx4, t4, mb4 = measure(cellgeom.build_complex, part4, repeat=1)
    rows.append(dict(benchmark="full nerve (all dimensions), 4-D tree", size=(
        f"{part4.n_cells} cells, {sum(cx4.n_simplices())} simplices {cx4.n_simplices()}"),
        cellgeom_s=t4, cellgeom_mb=mb4, reference="", reference_s=None, reference_mb=None,
        notes="default rule 'dual', no dimension cap, built dimension by dimension in "
              f"chunks; Betti numbers {cx4.betti_numbers()}"))
    return rows


if __name__ == "__main__":
    import sys

    for r in run(quick="--quick" in sys.argv):
        print(r)
