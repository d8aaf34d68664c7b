"""The blend of SimplicialSpline keeps cell interiors. Oracles: the depth of a point in its
cell from the cell's half-spaces (min_F (b_F - a_F . x) / |a_F|, exact for a convex cell),
pandas group means of y per cell, and the inner-parallel-body bound (1 - t / r)^n."""
import numpy as np
import pandas as pd
import pytest

import cellgeom
from cellgeom.analysis.spline import SimplicialSpline
from cellgeom.analysis.spline_blending import KEPT_FRACTION, default_width


def _fan(angles_deg=(80, 85, 90, 95, 100)):
    """Lines through (0.5, 0.5) at small angles (thin wedges meeting at a vertex, where the
    facet planes of a far cell pass close to points deep in another) plus two more lines."""
    t = np.radians(angles_deg)
    W = np.column_stack([-np.sin(t), np.cos(t)])
    b = -W @ np.array([0.5, 0.5])
    W = np.vstack([W, [0.0, 1.0], [1.0, 0.0]])
    b = np.concatenate([b, [-0.2, -0.8]])
    return cellgeom.HyperplaneArrangement(W, b)


def _depth(part, X):
    """Cell of each point and its distance to that cell's boundary, from the half-spaces."""
    cell = part.locate(X)
    depth = np.full(len(X), -np.inf)
    for c in np.unique(cell[cell >= 0]):
        A, b = part.halfspaces(int(c))
        on = cell == c
        depth[on] = np.min((b[None, :] - X[on] @ A.T) / np.linalg.norm(A, axis=1), axis=1)
    return cell, depth


def _data(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, size=(n, 2))
    y = np.sin(5 * X[:, 0]) + X[:, 1] ** 2 + 0.1 * rng.normal(size=n)
    return X, y


@pytest.mark.parametrize("base", ["fan", "tree"])
def test_lambda_to_zero_equals_cell_means_farther_than_the_width_from_every_facet(base):
    """#20: with the default width and lam -> 0, at every point deeper than tau_ in its cell
    (so farther than tau_ from every facet of the partition) the refined model is the
    pandas mean of y over the training points of that cell."""
    from sklearn.tree import DecisionTreeRegressor

    X, y = _data(3000, 0)
    if base == "fan":
        kw = dict(base_model=_fan(), prefit=True, task="regression", cells="all",
                  domain=([0, 0], [1, 1]))
    else:
        kw = dict(base_model=DecisionTreeRegressor(max_depth=5, random_state=0))
    est = SimplicialSpline(lam=1e-10, **kw).fit(X, y)
    part = est.partition_
    means = pd.Series(y).groupby(part.locate(X)).mean()
    Xq = np.random.default_rng(1).uniform(0, 1, size=(20000, 2))
    cell, depth = _depth(part, Xq)
    far = (depth > est.tau_) & np.isin(cell, means.index)
    assert far.mean() > 0.8, "the default width keeps most of the domain unblended"
    np.testing.assert_allclose(est.predict(Xq[far]), means.loc[cell[far]].to_numpy(),
                               atol=1e-6)


@pytest.mark.parametrize("base", ["fan", "kmeans"])
def test_deeper_than_half_the_width_the_model_is_the_cell_value_for_any_width(base):
    """Oracle: cell_values_ of the containing cell, for a wide explicit tau, on the fan of
    thin wedges (whose facet planes pass close to points deep in other cells) and on a
    Voronoi partition (k-means)."""
    from sklearn.cluster import KMeans

    X, y = _data(2000, 2)
    model, tau = (_fan(), 0.3) if base == "fan" else \
        (KMeans(12, n_init=1, random_state=0).fit(X), 0.12)
    est = SimplicialSpline(model, prefit=True, task="regression", cells="all", lam=0.05,
                           tau=tau, domain=([0, 0], [1, 1])).fit(X, y)
    Xq = np.random.default_rng(3).uniform(0, 1, size=(20000, 2))
    cell, depth = _depth(est.partition_, Xq)
    deep = depth >= 0.5 * est.tau_ * (1 + 1e-9)
    assert deep.sum() > 1000
    np.testing.assert_allclose(est.predict(Xq[deep]), est.cell_values_[cell[deep], 0],
                               rtol=0, atol=1e-12)
    # and the blend is really there: within tau/2 of a face values mix
    shallow = (depth >= 0) & (depth < 0.1 * est.tau_)
    assert np.abs(est.predict(Xq[shallow]) - est.cell_values_[cell[shallow], 0]).max() > 1e-3


def test_default_width_keeps_ninety_percent_of_every_cell_as_thick_as_the_median():
    """Oracle: Monte Carlo fraction of each cell at depth >= tau/2 (the blend's reach) for
    cells whose inradius is at least the median; the bound (1 - tau / 2r)^n >= 0.9."""
    part = cellgeom.partition(_fan(), domain=([0, 0], [1, 1]), cells="all", progress=False)
    tau = default_width(part)
    r = part.cells["inradius"].to_numpy()
    assert tau == pytest.approx(2 * np.median(r) * (1 - KEPT_FRACTION ** 0.5))
    Xq = np.random.default_rng(4).uniform(0, 1, size=(200000, 2))
    cell, depth = _depth(part, Xq)
    for c in np.flatnonzero(r >= np.median(r)):
        on = cell == c
        kept = np.mean(depth[on] >= tau / 2)
        bound = (1 - tau / (2 * r[c])) ** 2
        assert bound >= KEPT_FRACTION - 1e-12
        assert kept >= bound - 4 * np.sqrt(bound * (1 - bound) / on.sum()) - 1e-3, (c, kept)


def test_cells_without_centroids_blend_about_their_chebyshev_centres():
    """Partitions without cell volumes (arrangements in 30-D, as in check_estimator's
    sample-weight check) have NaN centroids: the blender measures about the Chebyshev
    centres instead (|x - z| - R about any interior point z bounds the distance to the
    cell). Oracles: the cell value at depth >= tau/2, and u(x - eps n) = u(x + eps n) at
    face centroids."""
    from cellgeom.analysis.spline_blending import CellBlender, reference_points

    part = cellgeom.partition(_fan(), domain=([0, 0], [1, 1]), cells="all", progress=False)
    part.cells[["centroid_0", "centroid_1"]] = np.nan
    np.testing.assert_array_equal(reference_points(part), part.centers)
    values = np.random.default_rng(5).normal(size=(part.n_cells, 1))
    blend = CellBlender(part, 0.2)
    Xq = np.random.default_rng(6).uniform(0, 1, size=(20000, 2))
    cell, depth = _depth(part, Xq)
    deep = depth >= 0.1 * (1 + 1e-9)
    assert deep.sum() > 1000
    np.testing.assert_allclose(blend(Xq[deep], values)[:, 0], values[cell[deep], 0], atol=1e-12)
    faces = part.faces[part.faces["cell_b"] >= 0]
    c = faces[["centroid_0", "centroid_1"]].to_numpy()
    nrm = faces[["normal_0", "normal_1"]].to_numpy()
    jump = np.abs(blend(c - 1e-7 * nrm, values) - blend(c + 1e-7 * nrm, values))
    assert jump.max() < 1e-4
