"""scikit-learn adapters: tree leaf adjacency vs all pairs; a 100-tree forest in 30-D.

The all-pairs reference is what one writes without the tree: for each leaf box,
test every later box at once (NumPy-vectorised over the partner), O(m^2 n). At 10k
leaves it runs in full; at 100k (about 20 minutes) it is timed on 1,000 evenly spaced
rows and scaled by the share of the pairs they test. cellgeom's side is the route of
``partition(tree)``: from the fitted tree, the node boxes (``leaf_boxes``) and
``tree_adjacency`` with its full output (pairs, axes, face volumes and centroids). The
generic sweep over the leaf boxes (``box_adjacency``, the route before) is timed in
the same run for comparison. At 100k leaves the row after times what a user runs:
``partition(tree)`` (cells="all") and ``build_complex(max_dim=1)``.
"""
from __future__ import annotations

import time

import numpy as np
from _measure import measure
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree import DecisionTreeRegressor

import cellgeom
from cellgeom.geometry.boxes import box_adjacency
from cellgeom.geometry.tree_adjacency import tree_adjacency
from cellgeom.models.trees import TreeArrays, leaf_boxes


def _fitted_tree(n_leaves: int, n: int, seed: int = 0):
    """A tree fitted to noise in [0, 1]^n."""
    rng = np.random.default_rng(seed)
    X = rng.random((4 * n_leaves, n))
    return DecisionTreeRegressor(max_leaf_nodes=n_leaves,
                                 random_state=seed).fit(X, rng.random(len(X)))


def _node_boxes(model, n: int):
    """The tree as arrays, every node's box in [0, 1]^n, and its non-empty leaves (the
    cells of its partition, in node order)."""
    tree = TreeArrays.from_sklearn(model)
    lo, hi = leaf_boxes(tree, cellgeom.Box(np.zeros(n), np.ones(n)))
    leaves = np.flatnonzero(tree.left < 0)
    return tree, lo, hi, leaves[np.all(hi[leaves] > lo[leaves], axis=1)]


def _tree_faces(model, n: int):
    """Everything from the fitted tree to the faces of its partition, as partition(tree)
    does: node boxes, the non-empty leaves numbered, ``tree_adjacency``."""
    tree, lo, hi, leaves = _node_boxes(model, n)
    number = np.full(tree.left.size, -1, dtype=np.int64)
    number[leaves] = np.arange(leaves.size)
    return tree_adjacency(tree.left, tree.right, tree.feature, lo, hi, number)


def _tree_boxes(model, n: int):
    """The leaf boxes of the tree's partition (non-empty leaves, in node order)."""
    _, lo, hi, leaves = _node_boxes(model, n)
    return lo[leaves], hi[leaves]


def _all_pairs(lo, hi, rows=None):
    pairs = []
    m = lo.shape[0]
    for a in (range(m - 1) if rows is None else rows):
        ov = np.minimum(hi[a], hi[a + 1:]) - np.maximum(lo[a], lo[a + 1:])
        touch = (hi[a] == lo[a + 1:]) | (lo[a] == hi[a + 1:])
        pos = ov > 0
        # a face: touching on exactly one axis, positive overlap on all others
        ok = (touch.sum(1) == 1) & ((pos | touch).all(1))
        pairs.append(np.column_stack([np.full(ok.sum(), a), a + 1 + np.flatnonzero(ok)]))
    return np.vstack(pairs)


def _interleaved(func, small_args, big_args, repeat):
    """(result on the small arguments, best time on them, best time on the big ones),
    the two timed in turn."""
    best_small = best_big = float("inf")
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = func(*small_args)
        t1 = time.perf_counter()
        func(*big_args)
        best_small = min(best_small, t1 - t0)
        best_big = min(best_big, time.perf_counter() - t1)
    return result, best_small, best_big


def _forest_partition_and_complex(model, X):
    part = cellgeom.partition(model, data=X, progress=False)
    _ = part.faces
    cx = cellgeom.build_complex(part)
    return part, cx


def run(quick: bool = False) -> list[dict]:
    rows = []
    n = 8
    small, big = (2_000, 20_000) if quick else (10_000, 100_000)
    key = lambda p: set(map(tuple, np.sort(p, axis=1).tolist()))  # noqa: E731
    model, model_big = _fitted_tree(small, n), _fitted_tree(big, n)
    lo, hi = _tree_boxes(model, n)
    # both sizes timed in turn, best of 5 each: the exponent compares the two, and this
    # VM's speed drifts by 10-30% over the seconds between separate series (fresh pages
    # cost more in some minutes than in others)
    ours, t_small, t_big = _interleaved(_tree_faces, (model, n), (model_big, n), repeat=9)
    _, _, mb_ours = measure(_tree_faces, model, n)
    _, t_box_small, _ = measure(box_adjacency, lo, hi, repeat=3, trace_memory=False)
    ref, t_ref, mb_ref = measure(_all_pairs, lo, hi)
    assert key(np.column_stack(ours[:2])) == key(ref)
    rows.append(dict(
        benchmark=f"tree leaf adjacency, {n}-D", size=f"{lo.shape[0]} leaves, {len(ref)} faces",
        cellgeom_s=t_small, reference="all pairs (NumPy, one row at a time)", reference_s=t_ref,
        cellgeom_mb=mb_ours, reference_mb=mb_ref,
        notes=f"speed-up {t_ref / t_small:.0f}x (target >= 100x); identical face sets; "
              "cellgeom: from the fitted tree, node boxes + tree_adjacency (pairs, axes, "
              f"face volumes and centroids); box_adjacency on the leaf boxes alone "
              f"{t_box_small:.3g} s"))
    m_small, faces_small = lo.shape[0], len(ref)
    del ours, ref
    model = model_big
    lo, hi = _tree_boxes(model, n)
    m = lo.shape[0]
    ours, _, mb_big = measure(_tree_faces, model, n)
    _, t_box_big, _ = measure(box_adjacency, lo, hi, repeat=3, trace_memory=False)
    sample = np.linspace(0, m - 2, 1_000).astype(int)
    ref, t_sample, _ = measure(_all_pairs, lo, hi, sample, trace_memory=False)
    t_ref = t_sample * (m * (m - 1) / 2) / float(np.sum(m - 1 - sample))  # work ~ partners
    # the sampled rows' faces, found by the tree route too
    rows_ours = np.column_stack(ours[:2])
    low = np.minimum(rows_ours[:, 0], rows_ours[:, 1])
    assert key(np.sort(rows_ours, axis=1)[np.isin(low, sample)]) == key(ref)
    exponent = np.log(t_big / t_small) / np.log(m / m_small)
    box_exponent = np.log(t_box_big / t_box_small) / np.log(m / m_small)
    # the output alone grows faster than the leaves: a time linear in the faces would
    # give this exponent
    face_exponent = np.log(len(ours[0]) / faces_small) / np.log(m / m_small)
    rows.append(dict(
        benchmark=f"tree leaf adjacency, {n}-D", size=f"{m} leaves, {len(ours[0])} faces",
        cellgeom_s=t_big, reference="all pairs, timed on 1,000 rows and scaled",
        reference_s=t_ref, cellgeom_mb=mb_big,
        notes=f"time ~ leaves^{exponent:.3f} from the row above (the two timed in turn, "
              f"best of 9 each; target <= 1.2; the faces "
              f"alone grow as leaves^{face_exponent:.2f}); box_adjacency on the leaf "
              f"boxes alone {t_box_big:.3g} s (~ leaves^{box_exponent:.2f}); peak "
              f"{mb_big:.0f} MB (target < 1.5 GB), of which the output is "
              f"{sum(x.nbytes for x in ours) / 2**20:.0f} MB; identical face sets on "
              "the sampled rows"))
    del ours, ref
    # the user's route at this size: partition(tree), then the complex's vertices and edges
    box = cellgeom.Box(np.zeros(n), np.ones(n))
    part, t_part, _ = measure(cellgeom.partition, model, box, cells="all", progress=False,
                              trace_memory=False)
    cx, t_cx, _ = measure(cellgeom.build_complex, part, max_dim=1, trace_memory=False)
    rows.append(dict(
        benchmark=f"partition(tree) + build_complex(max_dim=1), {n}-D",
        size=f"{part.n_cells} cells, {len(part.facets)} facet rows, {cx.n_simplices(1)} edges",
        cellgeom_s=t_part + t_cx,
        notes=f"partition {t_part:.1f} s (leaf boxes, tree_adjacency, the facets table), "
              f"complex {t_cx:.1f} s (rule 'dual'); one run each; no reference tool builds "
              "these"))
    del part, cx
    X, y = load_breast_cancer(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=20 if quick else 100, random_state=0).fit(X, y)
    # best of 3: the first call in a process also loads compiled kernels from disk
    (part, cx), t_f, mb_f = measure(_forest_partition_and_complex, forest, X, repeat=3)
    _, t_apply, mb_apply = measure(forest.apply, X, repeat=3)
    rows.append(dict(
        benchmark=f"random forest ({forest.n_estimators} trees) on load_breast_cancer, 30-D",
        size=f"{len(X)} points, {part.n_cells} data cells, {len(part.faces)} faces, "
             f"{cx.n_simplices(1)} edges",
        cellgeom_s=t_f, reference="forest.apply alone (leaf tuples, no geometry)",
        reference_s=t_apply, cellgeom_mb=mb_f, reference_mb=mb_apply,
        notes="cells=\"data\": boxes, faces, predictions and the default complex; best "
              "of 3"))
    return rows
