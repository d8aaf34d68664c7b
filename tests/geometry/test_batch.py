"""The batched kernel against the per-cell Qhull vertex route (``qhull_oracle``) and against
SciPy's Qhull volumes."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial import ConvexHull, HalfspaceIntersection

from cellgeom.geometry import (
    Box,
    batch_polytope_geometry,
    chebyshev_centers,
)

from .qhull_oracle import qhull_geometry


def arrangement_cells(n, k, seed, n_points=40, scale=1.0):
    """Cells of k random hyperplanes through the box [0, scale]^n holding random points.

    Box rows come first, as in the partition builder. Returns [(A, b)], centres, tol.
    """
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(k, n))
    b = -np.einsum("ij,ij->i", W, scale * rng.random((k, n)))
    box_A, box_b = Box(np.zeros(n), scale * np.ones(n)).halfspaces()
    keys = {tuple(np.sign(W @ x + b) > 0) for x in scale * rng.random((n_points, n))}
    polys = []
    for key in sorted(keys):
        s = np.where(key, -1.0, 1.0)  # the cell {x : s_i (w_i x + b_i) <= 0}
        polys.append((np.vstack([box_A, s[:, None] * W]), np.concatenate([box_b, -s * b])))
    centers, radii = chebyshev_centers(polys)
    tol = 1e-9 * scale
    keep = radii > tol
    return [p for p, ok in zip(polys, keep) if ok], centers[keep], tol


def scipy_volume(A, b, interior):
    hs = HalfspaceIntersection(np.hstack([A, -b[:, None]]), interior)
    return ConvexHull(hs.intersections).volume


def assert_same_geometry(got, ref, atol=1e-9):
    """Every field equal to the vertex route's (vertices as a set)."""
    assert got.volume == pytest.approx(ref.volume, rel=1e-9, abs=atol)
    np.testing.assert_allclose(got.centroid, ref.centroid, atol=atol)
    assert got.facet_rows.tolist() == ref.facet_rows.tolist()
    for name in ("facet_normals", "facet_offsets", "facet_volumes", "facet_centroids"):
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), atol=atol,
                                   err_msg=name)
    assert got.hinge_facets.tolist() == ref.hinge_facets.tolist()
    for name in ("hinge_volumes", "hinge_centroids", "hinge_angles"):
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), atol=atol,
                                   err_msg=name)
    assert got.vertices.shape == ref.vertices.shape
    # same vertex set: every vertex of one has a partner in the other
    dist = np.linalg.norm(got.vertices[:, None] - ref.vertices[None], axis=2)
    assert dist.min(axis=1).max() < 1e-9 and dist.min(axis=0).max() < 1e-9


def check_cells(polys, centers, tol):
    got = batch_polytope_geometry(polys, centers, tol=tol)
    assert len(got) == len(polys)
    for (A, b), c, g in zip(polys, centers, got):
        assert_same_geometry(g, qhull_geometry(A, b, c, tol=tol))
        assert g.volume == pytest.approx(scipy_volume(A, b, c), rel=1e-9)
    return got


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(k=st.integers(1, 25), seed=st.integers(0, 10**6))
def test_random_planar_arrangement_cells_equal_the_vertex_route(k, seed):
    check_cells(*arrangement_cells(2, k, seed))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(k=st.integers(1, 12), seed=st.integers(0, 10**6))
def test_random_spatial_arrangement_cells_equal_the_vertex_route(k, seed):
    check_cells(*arrangement_cells(3, k, seed))


@pytest.mark.parametrize("n", [2, 3])
def test_tolerance_relative_to_a_large_domain(n):
    polys, centers, tol = arrangement_cells(n, 8, seed=5, scale=1e3)
    got = check_cells(polys, centers, tol)
    assert sum(g.volume for g in got) <= 1e3**n * (1 + 1e-12)


@pytest.mark.parametrize("n", [2, 3])
def test_full_arrangement_tiles_the_box_and_closes(n):
    """Every cell of a small arrangement: volumes sum to the box, Minkowski closure holds."""
    rng = np.random.default_rng(11)
    k = 5
    W = rng.normal(size=(k, n))
    b = -np.einsum("ij,ij->i", W, rng.random((k, n)))
    box_A, box_b = Box(np.zeros(n), np.ones(n)).halfspaces()
    polys = []
    for code in range(2**k):
        s = np.array([1.0 if code >> i & 1 else -1.0 for i in range(k)])
        polys.append((np.vstack([box_A, s[:, None] * W]), np.concatenate([box_b, -s * b])))
    centers, radii = chebyshev_centers(polys)
    keep = radii > 1e-9
    polys = [p for p, ok in zip(polys, keep) if ok]
    got = check_cells(polys, centers[keep], 1e-9)
    assert sum(g.volume for g in got) == pytest.approx(1.0, abs=1e-12)
    for g in got:
        closure = (g.facet_volumes[:, None] * g.facet_normals).sum(axis=0)
        assert np.linalg.norm(closure) < 1e-9 * g.facet_volumes.sum()


def test_worked_example_unit_square_two_lines():
    """THEORY section 9: lines x = 0.3 and y = 0.6 in the unit square."""
    box_A, box_b = Box([0, 0], [1, 1]).halfspaces()
    W = np.array([[1.0, 0.0], [0.0, 1.0]])
    b = np.array([-0.3, -0.6])
    polys, expected = [], {(0, 0): .18, (1, 0): .42, (0, 1): .12, (1, 1): .28}
    for key in expected:
        s = np.where(np.array(key) > 0, -1.0, 1.0)
        polys.append((np.vstack([box_A, s[:, None] * W]), np.concatenate([box_b, -s * b])))
    centers, _ = chebyshev_centers(polys)
    got = check_cells(polys, centers, 1e-9)
    for g, vol in zip(got, expected.values()):
        assert g.volume == pytest.approx(vol, abs=1e-12)
        assert len(g.facet_rows) == 4 and len(g.hinge_facets) == 4
        np.testing.assert_allclose(g.hinge_angles, np.pi / 2, atol=1e-12)
        np.testing.assert_array_equal(g.hinge_volumes, 1.0)


@pytest.mark.parametrize("n", [2, 3])
def test_row_on_a_box_side_and_duplicate_rows_report_the_first(n):
    box_A, box_b = Box(np.zeros(n), np.ones(n)).halfspaces()
    cut = np.zeros(n)
    cut[0] = 1.0
    # model rows: the box side x_0 <= 1 again (scaled by 3), a cut x_0 <= 0.5 twice
    A = np.vstack([box_A, 3 * cut, cut, cut, 2 * cut])
    b = np.concatenate([box_b, [3.0, 0.5, 0.5, 1.0]])
    c = np.full(n, 0.25)
    g = check_cells([(A, b)], c[None], 1e-9)[0]
    m = box_A.shape[0]
    assert m + 1 in g.facet_rows.tolist()  # the first copy of the cut
    assert not {m, m + 2, m + 3} & set(g.facet_rows.tolist())
    assert g.volume == pytest.approx(0.5, rel=1e-12)


@pytest.mark.parametrize("n", [2, 3])
def test_model_row_on_a_box_side_is_reported_as_the_box_row(n):
    box_A, box_b = Box(np.zeros(n), np.ones(n)).halfspaces()
    on_side = np.zeros(n)
    on_side[0] = 2.0  # 2 x_0 <= 2: the box side x_0 <= 1
    cut = np.zeros(n)
    cut[-1] = 1.0  # x_{n-1} <= 0.5
    A = np.vstack([box_A, on_side, cut])
    b = np.concatenate([box_b, [2.0, 0.5]])
    g = check_cells([(A, b)], np.full((1, n), 0.25), 1e-9)[0]
    side = int(np.flatnonzero((box_A == on_side / 2).all(axis=1))[0])
    m = box_A.shape[0]
    assert side in g.facet_rows.tolist() and m not in g.facet_rows.tolist()
    assert m + 1 in g.facet_rows.tolist()


def test_rows_touching_only_at_a_vertex_or_an_edge_are_not_facets():
    # 2-D: the line x + y = 0 touches the unit square at its corner only
    box_A, box_b = Box([0, 0], [1, 1]).halfspaces()
    A = np.vstack([box_A, [[-1.0, -1.0]], [[1.0, 1.0]]])
    b = np.concatenate([box_b, [0.0, 2.0]])  # and x + y <= 2 touches the opposite corner
    g = check_cells([(A, b)], np.array([[0.5, 0.5]]), 1e-9)[0]
    assert sorted(g.facet_rows.tolist()) == [0, 1, 2, 3]
    # 3-D: x + y <= 2 touches the cube along an edge, x + y + z <= 3 at a corner only;
    # x <= y passes through the edge x = y = 0 where two box faces meet
    box_A, box_b = Box([0, 0, 0], [1, 1, 1]).halfspaces()
    A = np.vstack([box_A, [[1.0, 1.0, 0.0]], [[1.0, 1.0, 1.0]], [[1.0, -1.0, 0.0]]])
    b = np.concatenate([box_b, [2.0, 3.0, 0.0]])
    g = check_cells([(A, b)], np.array([[0.2, 0.6, 0.5]]), 1e-9)[0]
    assert 6 not in g.facet_rows.tolist() and 7 not in g.facet_rows.tolist()
    assert 8 in g.facet_rows.tolist()
    assert g.volume == pytest.approx(0.5, rel=1e-12)


def test_unbounded_input_is_a_clear_error():
    A = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    b = np.array([1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="unbounded"):
        batch_polytope_geometry([(A, b)], [[0.0, 0.0]])


@pytest.mark.parametrize("n", [1, 4])
def test_other_dimensions_take_the_vertex_route(n):
    box = Box(np.zeros(n), np.ones(n))
    A, b = box.halfspaces()
    cut = np.ones(n) / np.sqrt(n)
    A, b = np.vstack([A, cut]), np.append(b, 0.5 * np.sqrt(n) / 2 + 0.2)
    c = np.full(n, 0.2)
    got = batch_polytope_geometry([(A, b)], c[None])[0]
    assert_same_geometry(got, qhull_geometry(A, b, c))


def test_cells_with_different_row_counts_in_one_batch():
    polys2, c2, _ = arrangement_cells(2, 9, seed=3)
    polys3, c3, _ = arrangement_cells(2, 3, seed=4)
    polys = polys2[:5] + polys3 + polys2[5:]
    centers = np.vstack([c2[:5], c3, c2[5:]])
    check_cells(polys, centers, 1e-9)
    assert batch_polytope_geometry([], np.zeros((0, 2))) == []


def test_spatial_vertices_where_more_than_three_planes_meet():
    """Octahedron (4 planes at each vertex), a hip roof on a box (5 planes at its apex,
    the box top touching there only), and all cells of planes through one common point
    (every cell has a vertex where many planes meet)."""
    signs = np.array([[sx, sy, sz] for sx in (1, -1) for sy in (1, -1) for sz in (1, -1)],
                     dtype=float)
    octa = (signs, np.ones(8))
    box_A, box_b = Box([0, 0, 0], [1, 1, 1]).halfspaces()
    roof = (np.vstack([box_A, [[0, -1, 1], [0, 1, 1], [-1, 0, 1], [1, 0, 1]]]),
               np.concatenate([box_b, [0.5, 1.5, 0.5, 1.5]]))
    polys = [octa, roof]
    centers = [np.array([0.1, -0.05, 0.02]), np.array([0.5, 0.5, 0.2])]
    rng = np.random.default_rng(7)
    W = rng.normal(size=(6, 3))
    b = -W @ np.full(3, 0.5)
    for code in range(2**6):
        s = np.array([1.0 if code >> i & 1 else -1.0 for i in range(6)])
        polys.append((np.vstack([box_A, s[:, None] * W]), np.concatenate([box_b, -s * b])))
    cheb, radii = chebyshev_centers(polys[2:])
    keep = [True, True] + list(radii > 1e-9)
    polys = [p for p, ok in zip(polys, keep) if ok]
    centers = np.vstack(centers + [c for c, ok in zip(cheb, keep[2:]) if ok])
    got = check_cells(polys, centers, 1e-9)
    assert got[0].volume == pytest.approx(4 / 3) and len(got[0].vertices) == 6
    assert len(got[0].hinge_facets) == 12
    assert len(got[1].vertices) == 9 and len(got[1].facet_rows) == 9
    assert got[1].volume == pytest.approx(2 / 3)
    assert sum(g.volume for g in got[2:]) == pytest.approx(1.0, abs=1e-12)
    apex_count = sum(np.any(np.linalg.norm(g.vertices - 0.5, axis=1) < 1e-12) for g in got[2:])
    assert apex_count == len(got) - 2


def test_spatial_slivers_below_and_near_the_tolerance():
    """Corners cut off the cube by triangles of size around tol: the cut is a facet
    exactly when the vertex route says so, whatever the Gram test leaves undecided."""
    box_A, box_b = Box([0, 0, 0], [1, 1, 1]).halfspaces()
    polys = []
    for size in [1e-11, 3e-10, 1e-9, 1.5e-9, 3e-9, 1e-8, 1e-6]:
        polys.append((np.vstack([box_A, [[1.0, 1.0, 1.0]]]), np.append(box_b, 3.0 - size)))
        # a thin wedge along an edge: width ~ size
        polys.append((np.vstack([box_A, [[1.0, 1.0, 0.0]]]), np.append(box_b, 2.0 - size)))
    check_cells(polys, np.full((len(polys), 3), 0.5), 1e-9)


def test_rank_two_matches_the_svd():
    from cellgeom.geometry.face_lattice import _spans
    from cellgeom.geometry.polytope import _affine_rank

    rng = np.random.default_rng(3)
    tol = 1e-9
    sets = []
    for width in np.logspace(-12, -6, 61):  # near-collinear sets, off-axis width about tol
        k = rng.integers(3, 7)
        t = rng.random(k) * rng.choice([1e-3, 1.0, 1e3])
        pts = np.column_stack([t, width * rng.standard_normal(k),
                               1e-16 * rng.standard_normal(k)])
        sets.append(pts)
    for off in [1e-12, 5e-10, 2e-9]:  # and some off the plane
        sets.append(np.column_stack([rng.random(4), rng.random(4), off * rng.standard_normal(4)]))
    # the rank test of the compiled kernel, for points near the plane z = 0
    N, U = np.array([[0.0, 0.0, 1.0]]), np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    G, y = np.empty((3, 3)), np.empty(3)
    got = np.array([_spans(p, np.arange(len(p)), len(p), N, 1, U, tol, G, y) for p in sets])
    want = [_affine_rank(p, tol) == 2 for p in sets]
    assert got.tolist() == want
    assert 0 < sum(want) < len(want)


def test_unbounded_spatial_input_is_a_clear_error():
    A = np.array([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [-1, 0, 0], [0, -1, 0]])
    with pytest.raises(ValueError, match="unbounded"):
        batch_polytope_geometry([(A, np.ones(5))], [[0.0, 0.0, 0.0]])


@pytest.mark.parametrize("n, method", [(3, "simplex"), (20, "simplex"), (20, "highs")])
def test_weighted_chebyshev_is_the_euclidean_one_of_the_scaled_polytope(n, method):
    """Weights ``w_i = ||S a_i||`` (S diagonal): the ellipsoid ``|S^-1 (x - c)| <= r``
    inside ``A x <= b`` is the ball of ``(A S) y <= b`` mapped by ``x = S y``, so the
    radii agree and the centre is a feasible ellipsoid centre (the block LP below 17-D,
    the compiled walk and HiGHS's dual form above)."""
    rng = np.random.default_rng(n)
    scale = 10.0 ** rng.uniform(-3, 3, n)
    polys = arrangement_cells(n, n + 3, seed=n, n_points=30)[0][:12]
    assert len(polys) >= 5
    weights = [np.linalg.norm(A * scale, axis=1) for A, _ in polys]
    centers, radii = chebyshev_centers(polys, method=method, weights=weights)
    _, ref = chebyshev_centers([(A * scale, b) for A, b in polys], method=method)
    np.testing.assert_allclose(radii, ref, rtol=1e-7)
    for (A, b), w, c, r in zip(polys, weights, centers, radii):
        assert np.all(A @ c + w * r <= b + 1e-9 * np.abs(b).max())


def test_chebyshev_weights_are_checked():
    A, b = Box(np.zeros(2), np.ones(2)).halfspaces()
    with pytest.raises(ValueError, match="one weight per row"):
        chebyshev_centers([(A, b)], weights=[np.ones(3)])
    with pytest.raises(ValueError, match="positive"):
        chebyshev_centers([(A, b)], weights=[np.array([1.0, 0.0, 1.0, 1.0])])


@pytest.mark.parametrize("dim", [2, 3])
def test_hinge_angles_near_0_and_pi_keep_their_digits(dim):
    """Oracle: the wedge's own angle. Two planes 1e-8 rad apart meet at an interior angle
    of 1e-8 on one side and pi - 1e-8 on the other; pi - arccos(cosine) gave 0 and pi."""
    import cellgeom

    W = np.zeros((3, dim))
    W[0, 0], W[1, 0], W[1, 1], W[2, 1] = 1.0, -1.0, 1e-8, 1.0
    arr = cellgeom.HyperplaneArrangement(W, [0.0, 0.25e-8, 0.0])
    part = cellgeom.partition(arr, domain=cellgeom.Box(-np.ones(dim), np.ones(dim)),
                              cells="all", progress=False)
    angles = part.hinges["angle"].to_numpy()
    assert angles.min() == pytest.approx(1e-8, rel=1e-6)
    assert np.pi - angles.max() == pytest.approx(1e-8, rel=1e-6)
