"""Polytope kernels against independent routes: SciPy Qhull volumes, brute-force LP facets."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog
from scipy.spatial import ConvexHull, HalfspaceIntersection

from cellgeom.geometry import (
    Box,
    affine_hull_dimension,
    chebyshev_center,
    chebyshev_centers,
    nonredundant_rows_lp,
    polytope_geometry,
    polytope_volume,
)


def random_polytope(n, m, seed):
    """m random halfspaces tangent-ish to the unit ball plus redundant copies, in R^n."""
    rng = np.random.default_rng(seed)
    normals = rng.normal(size=(m, n))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    offsets = 0.5 + rng.random(m)
    # a few redundant rows far away and one exact duplicate
    box_A, box_b = Box(-np.ones(n) * 1.2, np.ones(n) * 1.2).halfspaces()  # keeps it bounded
    A = np.vstack([normals, normals[:3], 3 * normals[:2], box_A])
    b = np.concatenate([offsets, offsets[:3] + 5.0, 3 * offsets[:2], box_b])
    return A, b


def scipy_volume(A, b, interior):
    hs = HalfspaceIntersection(np.hstack([A, -b[:, None]]), interior)
    return ConvexHull(hs.intersections).volume


def brute_force_facets(A, b, tol=1e-9):
    """Row i is a facet iff max a_i x over the polytope without row i exceeds b_i."""
    norms = np.linalg.norm(A, axis=1)
    A_u, b_u = A / norms[:, None], b / norms
    out = []
    seen = []
    for i in range(len(A)):
        if any(np.allclose(np.r_[A_u[i], b_u[i]], s, atol=1e-12) for s in seen):
            continue
        seen.append(np.r_[A_u[i], b_u[i]])
        # drop row i and its copies (a scaled copy is the same inequality)
        mask = ~np.all(np.isclose(np.c_[A_u, b_u], np.r_[A_u[i], b_u[i]], atol=1e-12), axis=1)
        rhs = b_u.copy()
        res = linprog(-A_u[i], A_ub=np.vstack([A_u[mask], A_u[i]]),
                      b_ub=np.r_[rhs[mask], b_u[i] + 1], bounds=[(None, None)] * A.shape[1],
                      method="highs")
        if -res.fun > b_u[i] + tol:
            out.append(i)
    return sorted(out)


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6])
def test_volume_equals_scipy_halfspace_intersection_route(n):
    for seed in range(3):
        A, b = random_polytope(n, 4 * n, seed)
        c, r = chebyshev_center(A, b)
        assert r > 0
        g = polytope_geometry(A, b, c)
        assert g.volume == pytest.approx(scipy_volume(A, b, c), rel=1e-9)
        assert polytope_volume(A, b) == pytest.approx(g.volume, rel=1e-12)


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6])
def test_facets_equal_brute_force_lp_and_the_lp_kernel(n):
    for seed in range(3):
        A, b = random_polytope(n, 4 * n, seed)
        c, _ = chebyshev_center(A, b)
        g = polytope_geometry(A, b, c)
        expected = brute_force_facets(A, b)
        assert sorted(g.facet_rows.tolist()) == expected
        assert nonredundant_rows_lp(A, b, c).tolist() == expected


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 5), seed=st.integers(0, 10**6))
def test_minkowski_closure_and_centroid_inside(n, seed):
    A, b = random_polytope(n, 3 * n + 2, seed)
    c, _ = chebyshev_center(A, b)
    g = polytope_geometry(A, b, c)
    closure = (g.facet_volumes[:, None] * g.facet_normals).sum(axis=0)
    assert np.linalg.norm(closure) < 1e-9 * g.facet_volumes.sum()
    assert np.all(A @ g.centroid <= b + 1e-12)


def test_box_volume_closed_form_and_centroid():
    box = Box([0, -1, 2], [1, 1, 5])
    A, b = box.halfspaces()
    g = polytope_geometry(A, b, box.center)
    assert g.volume == pytest.approx(box.volume, rel=1e-12) == 6.0
    np.testing.assert_allclose(g.centroid, box.center, atol=1e-12)
    assert len(g.facet_rows) == 6
    assert len(g.hinge_facets) == 12  # the cube's edges
    np.testing.assert_allclose(g.hinge_angles, np.pi / 2)
    np.testing.assert_allclose(sorted(g.hinge_volumes), sorted([1] * 4 + [2] * 4 + [3] * 4))


def test_simplex_dihedral_angles_and_volume():
    # standard 3-simplex: volume 1/6; angle between x=0 and y=0 facets is pi/2, between a
    # coordinate facet and the slanted one arccos(1/sqrt(3))
    A = np.array([[-1.0, 0, 0], [0, -1, 0], [0, 0, -1], [1, 1, 1]])
    b = np.array([0.0, 0, 0, 1])
    c, r = chebyshev_center(A, b)
    g = polytope_geometry(A, b, c)
    assert g.volume == pytest.approx(1 / 6, rel=1e-12)
    slanted = np.flatnonzero(g.facet_rows == 3)[0]
    for (i, j), angle in zip(g.hinge_facets, g.hinge_angles):
        expected = np.arccos(1 / np.sqrt(3)) if slanted in (i, j) else np.pi / 2
        assert angle == pytest.approx(expected, abs=1e-12)


def test_unbounded_polytope_is_a_clear_error():
    with pytest.raises(ValueError, match="unbounded"):
        chebyshev_center(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([1.0, 1.0]))


def test_batched_chebyshev_detects_empty_and_flat_cells():
    box_A, box_b = Box([0, 0], [1, 1]).halfspaces()
    full = (box_A, box_b)
    flat = (np.vstack([box_A, [[1, 0], [-1, 0]]]), np.r_[box_b, 0.5, -0.5])  # x = 0.5 segment
    empty = (np.vstack([box_A, [[1, 0]]]), np.r_[box_b, -0.5])  # x <= -0.5 in the box
    centers, radii = chebyshev_centers([full, flat, empty, full])
    assert radii[0] == pytest.approx(0.5) and radii[3] == pytest.approx(0.5)
    assert abs(radii[1]) < 1e-12
    assert radii[2] < 0
    assert affine_hull_dimension(*full) == 2
    assert affine_hull_dimension(*flat) == 1
    assert affine_hull_dimension(*empty) == -1


def _exact_inradius_2d(A, b):
    """Oracle: the Chebyshev radius of a bounded polygon by enumeration; the optimum is a
    point at equal distance r from three of its lines (a 3 x 3 linear system), feasible
    for all of them."""
    import itertools

    norms = np.linalg.norm(A, axis=1)
    A, b = A / norms[:, None], b / norms
    best = -np.inf
    for rows in itertools.combinations(range(len(b)), 3):
        M = np.column_stack([A[list(rows)], np.ones(3)])
        if abs(np.linalg.det(M)) < 1e-12:
            continue
        x0, x1, r = np.linalg.solve(M, b[list(rows)])
        if np.all(A @ [x0, x1] + r <= b + 1e-12):
            best = max(best, r)
    return best


def test_batched_chebyshev_radii_are_optimal_to_rounding():
    """The block LP's radii equal the exact ones to 1e-10 relative, thin polygons
    included (the partition-level check: test_network_plane_tables)."""
    rng = np.random.default_rng(3)
    box_A, box_b = Box([-1, -1], [1, 1]).halfspaces()
    polys = []
    for k in range(60):
        normals = rng.normal(size=(4, 2))
        offsets = normals @ rng.uniform(-0.3, 0.3, 2) + rng.uniform(0.01, 0.5, 4)
        if k % 3 == 0:  # a sliver: two nearly opposite rows close together
            normals[1] = -normals[0] + rng.normal(size=2) * 1e-3
            offsets[1] = -offsets[0] + 1e-3
        polys.append((np.vstack([box_A, normals]), np.r_[box_b, offsets]))
    _, radii = chebyshev_centers(polys)
    exact = np.array([_exact_inradius_2d(A, b) for A, b in polys])
    assert (exact > 0).sum() > 40
    np.testing.assert_allclose(radii[exact > 0], exact[exact > 0], rtol=1e-10, atol=1e-13)


def _cube_cut(n, W, c):
    eye = np.eye(n)
    return np.vstack([W, eye, -eye]), np.concatenate([c, np.ones(n), np.ones(n)])


def test_volume_in_8d_where_qhull_hulls_fail():
    """Oracles: symmetry (a plane through the centre halves [-1,1]^8: 128), the chamber
    x_1 <= ... <= x_8 of the cube (2^8 / 8!), and 10^6-point Monte Carlo for the cube cut
    by six random planes, where Qhull's hull of the vertices fails ("wide merge") and the
    former Qhull route returned a volume of 0."""
    n = 8
    w = np.random.default_rng(5).normal(size=(1, n))
    assert polytope_volume(*_cube_cut(n, w, np.zeros(1))) == pytest.approx(128, rel=1e-12)
    chain = np.eye(n)[:-1] - np.eye(n, k=1)[:-1]  # x_i - x_{i+1} <= 0
    assert polytope_volume(*_cube_cut(n, chain, np.zeros(n - 1))) == pytest.approx(
        2.0**n / math.factorial(n), rel=1e-12)
    rng = np.random.default_rng(1)
    W, c = rng.normal(size=(6, n)), 0.3 * rng.normal(size=6)
    X = np.random.default_rng(11).uniform(-1, 1, size=(1_000_000, n))
    share = np.mean(np.all(X @ W.T <= c, axis=1))
    mc, se = 2.0**n * share, 2.0**n * np.sqrt(share * (1 - share) / len(X))
    assert abs(polytope_volume(*_cube_cut(n, W, c)) - mc) < 4 * se  # 2.8559 vs 2.86 +- 0.03


def test_flat_piece_qhull_refuses_is_zero_only_when_flat():
    """A 2-D piece whose points Qhull refuses: exactly collinear points (bounding box of
    no area) count as 0; a wrong 0 is never returned for a piece with area."""
    from cellgeom.geometry.polytope import _hull_volume_centroid

    line = np.c_[np.linspace(0, 2, 5), np.zeros(5)]  # in its principal frame, as called
    assert _hull_volume_centroid(line, line.mean(axis=0))[0] == 0.0
    square = np.array([[0.0, 0], [1, 0], [0, 1], [1, 1]])
    assert _hull_volume_centroid(square, square.mean(axis=0))[0] == pytest.approx(1.0)


def test_piece_qhull_refuses_without_being_flat_is_measured_on_joggled_input():
    """The vertices of a 6-D common piece of five 10-D k-means cells, where Qhull stops with
    a precision error ("wide merge"; build_complex failed on it). Joggled input gives the
    volume that a Delaunay triangulation of the same points (another Qhull algorithm, via
    the paraboloid lifting) sums to; "Q12" (allow wide merges) would lose 0.1%."""
    from pathlib import Path

    from scipy.spatial import Delaunay, QhullError

    from cellgeom.geometry.polytope import _hull_volume_centroid

    points = np.load(Path(__file__).parent / "data" / "qhull_wide_merge_6d.npy")
    with pytest.raises(QhullError):
        ConvexHull(points)
    volume, centroid = _hull_volume_centroid(points, points.mean(axis=0))
    tri = Delaunay(points - points.mean(axis=0), qhull_options="QJ")
    corners = points[tri.simplices]
    pieces = np.abs(np.linalg.det(corners[:, 1:] - corners[:, :1])) / math.factorial(6)
    assert volume == pytest.approx(pieces.sum(), rel=1e-6)
    np.testing.assert_allclose(centroid, pieces @ corners.mean(axis=1) / pieces.sum(),
                               atol=1e-6 * np.ptp(points))
