"""Differential forms: orthogonal maps have volume form 1, top minors are determinants,
k-minors obey Cauchy-Binet, and face transport equals a direct computation on a simplex."""
from itertools import combinations
from math import comb, factorial

import numpy as np
import pytest
from scipy.stats import ortho_group

from cellgeom.nn import (
    pullback_form,
    pullback_metric,
    transport_face_volume,
    unit_boundary_distance,
    volume_form,
)

rng = np.random.default_rng(0)


def test_volume_form_of_orthogonal_map_is_one():
    Q = ortho_group.rvs(5, size=4, random_state=1)
    np.testing.assert_allclose(volume_form(pullback_metric(Q)), 1.0, rtol=1e-12)


def test_volume_form_is_abs_det_for_square_maps_and_zero_when_rank_deficient():
    A = rng.normal(size=(6, 4, 4))
    np.testing.assert_allclose(volume_form(pullback_metric(A)), np.abs(np.linalg.det(A)),
                               rtol=1e-9)
    A[:, 3] = A[:, 0] + A[:, 1]  # rank 3
    assert (volume_form(pullback_metric(A)) == 0).all()
    dead = rng.normal(size=(3, 4))
    assert volume_form(pullback_metric(dead, np.array([1.0, 1.0, 0.0]))) == 0  # 2 active < n


def test_pullback_metric_weights_rows_by_slopes():
    """Oracle: A^T diag(D) A written out."""
    A, D = rng.normal(size=(2, 5, 3)), rng.uniform(size=(2, 5))
    want = np.stack([A[i].T @ np.diag(D[i]) @ A[i] for i in range(2)])
    np.testing.assert_allclose(pullback_metric(A, D), want, atol=1e-12)


def test_top_form_of_square_map_is_determinant():
    A = rng.normal(size=(3, 4, 4))
    np.testing.assert_allclose(pullback_form(A, 4)[..., 0, 0], np.linalg.det(A), rtol=1e-10)
    np.testing.assert_allclose(pullback_form(A, 1), A)
    np.testing.assert_allclose(pullback_form(A, 0), 1.0)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_k_minors_obey_cauchy_binet(k):
    A, B = rng.normal(size=(5, 4)), rng.normal(size=(4, 6))
    np.testing.assert_allclose(pullback_form(A @ B, k), pullback_form(A, k) @ pullback_form(B, k),
                               atol=1e-10)


def test_pullback_form_indices_are_lexicographic_combinations():
    A = rng.normal(size=(4, 3))
    minors, rows, cols = pullback_form(A, 2, return_indices=True)
    assert minors.shape == (comb(4, 2), comb(3, 2))
    assert [tuple(r) for r in rows] == list(combinations(range(4), 2))
    assert minors[2, 1] == pytest.approx(np.linalg.det(A[np.ix_(rows[2], cols[1])]))
    with pytest.raises(ValueError, match="k must be"):
        pullback_form(A, 4)


def _simplex_volume(P):
    """k-volume of the simplex with vertices P (k+1, m) by the Gram determinant."""
    E = P[1:] - P[0]
    return np.sqrt(np.linalg.det(E @ E.T)) / factorial(len(E))


@pytest.mark.parametrize("m", [4, 6])
def test_face_transport_equals_image_of_simplex_facet(m):
    """Oracle: the (n-1)-volume of the mapped facet vertices, computed directly."""
    n = 4
    S = rng.normal(size=(n + 1, n))
    facet = S[1:]  # the facet opposite vertex 0
    E = facet[1:] - facet[0]
    normal = np.linalg.svd(E)[2][-1]
    A = rng.normal(size=(m, n))
    got = transport_face_volume(A, normal, _simplex_volume(facet))
    assert got == pytest.approx(_simplex_volume(facet @ A.T), rel=1e-10)


def test_face_transport_square_formula():
    """Oracle: |det A| * ||A^{-T} nu|| * vol for invertible square A."""
    A, nu = rng.normal(size=(3, 5, 5)), rng.normal(size=(3, 5))
    nu /= np.linalg.norm(nu, axis=1, keepdims=True)
    want = np.abs(np.linalg.det(A)) * np.linalg.norm(
        np.linalg.solve(np.swapaxes(A, 1, 2), nu[..., None])[..., 0], axis=1) * 2.5
    np.testing.assert_allclose(transport_face_volume(A, nu, 2.5), want, rtol=1e-10)
    assert transport_face_volume(rng.normal(size=(2, 5)), nu[0], 1.0) == 0  # rank 2 < 4


def test_unit_boundary_distance_is_euclidean_distance_to_hyperplane():
    """Oracle: project x onto the hyperplane and measure."""
    A, c, x = rng.normal(size=(5, 3)), rng.normal(size=5), rng.normal(size=3)
    d = unit_boundary_distance(A, c, x)
    for k in range(5):
        proj = x - (A[k] @ x + c[k]) / (A[k] @ A[k]) * A[k]
        assert A[k] @ proj + c[k] == pytest.approx(0, abs=1e-12)
        assert d[k] == pytest.approx(np.linalg.norm(x - proj))
    A[2] = 0
    assert np.isinf(unit_boundary_distance(A, c, x)[2])
    two = unit_boundary_distance(A, c, x, breakpoints=(-1.0, 1.0))
    assert two[0] == pytest.approx(min(abs(A[0] @ x + c[0] + 1), abs(A[0] @ x + c[0] - 1))
                                   / np.linalg.norm(A[0]))
