"""THEORY.md section 9: two lines x = 0.3, y = 0.6 in the unit square, every number.

The numbers of section 9 are those of the "facet" nerve (asked for explicitly since
"dual" became the default); the "dual" complex of the same example is tested in
test_dual.py."""
import numpy as np
import pytest

import cellgeom


@pytest.fixture(scope="module")
def example():
    arr = cellgeom.HyperplaneArrangement([[1.0, 0.0], [0.0, 1.0]], [-0.3, -0.6])
    part = cellgeom.partition(arr, domain=cellgeom.Box([0, 0], [1, 1]), cells="all",
                              progress=False)
    return part, cellgeom.build_complex(part, rule="facet")


def _by_key(part):
    return {k: i for i, k in enumerate(part.keys)}


def test_cell_areas_and_centroids_match_theory(example):
    part, _ = example
    idx = _by_key(part)
    expected = {"00": (0.18, (0.15, 0.3)), "10": (0.42, (0.65, 0.3)),
                "01": (0.12, (0.15, 0.8)), "11": (0.28, (0.65, 0.8))}
    for key, (area, centroid) in expected.items():
        i = idx[key]
        assert part.volumes[i] == pytest.approx(area, abs=1e-12)
        np.testing.assert_allclose(part.centroids[i], centroid, atol=1e-12)


def test_faces_match_theory_and_diagonal_cells_meet_only_at_a_point(example):
    part, cx = example
    idx = _by_key(part)
    faces = part.faces[part.faces["cell_b"] >= 0]
    got = {frozenset((part.keys[a], part.keys[b])): v
           for a, b, v in faces[["cell_a", "cell_b", "volume"]].itertuples(index=False)}
    expected = {frozenset(("00", "10")): 0.6, frozenset(("01", "11")): 0.4,
                frozenset(("00", "01")): 0.3, frozenset(("10", "11")): 0.7}
    assert set(got) == set(expected)
    for pair, v in expected.items():
        assert got[pair] == pytest.approx(v, abs=1e-12)
    assert sum(got.values()) == pytest.approx(2.0, abs=1e-12)
    edges = {tuple(e) for e in cx.simplices(1).tolist()}
    assert tuple(sorted((idx["00"], idx["11"]))) not in edges
    assert tuple(sorted((idx["01"], idx["10"]))) not in edges
    dim, vol, point = part.common_piece([idx["00"], idx["11"]])
    assert dim == 0 and vol == 1.0
    np.testing.assert_allclose(point, [0.3, 0.6], atol=1e-12)


def test_spectra_match_theory(example):
    _, cx = example
    B = cx.boundary(1).toarray()
    M0 = cx.gram(0).toarray()
    M1 = cx.gram(1).toarray()
    np.testing.assert_allclose(np.sort(np.diag(M1)), [0.3, 0.4, 0.6, 0.7], atol=1e-12)
    np.testing.assert_allclose(np.linalg.eigvalsh(B @ M1 @ B.T),
                               [0, 0.829180, 1, 2.170820], atol=1e-6)
    ev = np.sort(np.linalg.eigvals(np.linalg.solve(M0, B @ M1 @ B.T)).real)
    np.testing.assert_allclose(ev, [0, 4.166667, 4.761905, 8.928571], atol=1e-6)
    ev = np.sort(np.linalg.eigvals(B @ np.linalg.solve(M1, B.T) @ M0).real)
    np.testing.assert_allclose(ev, [0, 1, 1, 2], atol=1e-9)


def test_euler_characteristic_is_zero_and_facet_nerve_is_a_four_cycle(example):
    _, cx = example
    assert cx.n_simplices() == [4, 4]
    assert cx.euler_characteristic() == 0
    assert cx.betti_numbers() == [1, 1]
    # Euler vertex curvature sum_k (-1)^k f_k(v)/(k+1): each vertex has 2 edges -> 1 - 2/2 = 0
    degree = np.bincount(cx.simplices(1).ravel(), minlength=4)
    np.testing.assert_array_equal(1 - degree / 2, 0)


def test_cech_nerve_is_the_full_tetrahedron(example):
    part, _ = example
    cech = cellgeom.build_complex(part, rule="cech")
    assert cech.n_simplices() == [4, 6, 4, 1]
    assert cech.betti_numbers() == [1, 0, 0, 0]


def test_right_angles_make_dihedral_equal_diagonal(example):
    part, cx = example
    dihedral = cellgeom.build_complex(part, rule="facet", metric="dihedral")
    np.testing.assert_allclose(dihedral.gram(1).toarray(), cx.gram(1).toarray(), atol=1e-15)
    np.testing.assert_allclose(part.hinges["angle"], np.pi / 2, atol=1e-12)
