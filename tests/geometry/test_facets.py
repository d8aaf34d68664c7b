"""Facet rows by certificates + warm-started simplex vs one relaxed LP per row (oracle)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cellgeom.geometry import chebyshev_center, nonredundant_rows_lp
from cellgeom.geometry.facets import facet_rows_simplex
from cellgeom.geometry.highdim import facet_rows_screened
from cellgeom.geometry.lp import normalize_rows, repeated_rows


def _random_cell(rng, n, k):
    """Box [0, 1]^n cut by k random halfspaces at random distances from an inner point."""
    W = rng.standard_normal((k, n))
    x0 = 0.5 + 0.2 * (rng.random(n) - 0.5)
    b = W @ x0 + rng.uniform(0.02, 0.6, k) * np.linalg.norm(W, axis=1)
    A = np.vstack([-np.eye(n), np.eye(n), W])
    return A, np.concatenate([np.zeros(n), np.ones(n), b])


def _decide(A, b):
    c, r = chebyshev_center(A, b)
    assert r > 0
    A_unit, b_unit, norms = normalize_rows(A, b)
    cand = (norms > 0) & ~repeated_rows(A_unit, b_unit, 1e-9)
    facet, stats = facet_rows_simplex(A_unit, b_unit, c, cand)
    return np.flatnonzero(facet), stats, c


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 14), k=st.integers(5, 80))
def test_facets_equal_one_lp_per_row(seed, n, k):
    A, b = _random_cell(np.random.default_rng(seed), n, k)
    rows, stats, c = _decide(A, b)
    np.testing.assert_array_equal(rows, nonredundant_rows_lp(A, b, c))
    candidates, lps, settled = stats
    assert candidates == A.shape[0] and 0 <= settled <= candidates


def test_degenerate_rows():
    """Duplicates, a looser parallel box row, a row touching only a vertex, a face row."""
    n = 3
    A = np.vstack([-np.eye(n), np.eye(n),
                   [[1.0, 1.0, 1.0]],      # cuts the corner (1, 1, 1): a facet
                   [[1.0, 1.0, 1.0]],      # its duplicate: never reported twice
                   [[0.0, 0.0, 2.0]],      # z <= 1.5: looser than the box row z <= 1
                   [[1.0, 0.0, 1.0]],      # x + z <= 2 touches only (1, ., 1): weakly redundant
                   [[-1.0, -1.0, 0.0]]])   # -x - y <= 0 touches the vertex-edge x = y = 0 only
    b = np.concatenate([np.zeros(n), np.ones(n), [2.5, 2.5, 3.0, 2.0, 0.0]])
    rows, _, c = _decide(A, b)
    np.testing.assert_array_equal(rows, nonredundant_rows_lp(A, b, c))
    assert 6 in rows and 7 not in rows and 8 not in rows and 9 not in rows


def test_thin_cell_in_64_dimensions():
    """A thin 64-D cell (most rows are facets, many certified without an LP)."""
    rng = np.random.default_rng(3)
    n, k = 64, 200
    W = rng.standard_normal((k, n))
    x0 = rng.random(n) * 0.2 + 0.4
    b = W @ x0 + rng.exponential(0.3, k)
    A = np.vstack([-np.eye(n), np.eye(n), W])
    b = np.concatenate([np.zeros(n), np.ones(n), b])
    rows, (candidates, lps, settled), c = _decide(A, b)
    np.testing.assert_array_equal(rows, nonredundant_rows_lp(A, b, c))
    assert settled > 0 and lps < candidates


def test_screened_wrapper_uses_chord_exits():
    rng = np.random.default_rng(1)
    A, b = _random_cell(rng, 8, 30)
    c, _ = chebyshev_center(A, b)
    oracle = nonredundant_rows_lp(A, b, c)
    rows, stats = facet_rows_screened(A, b, c, record=[np.array([oracle[0], -1])])
    np.testing.assert_array_equal(rows, oracle)


def test_needs_interior_point():
    A = np.vstack([-np.eye(2), np.eye(2)])
    b = np.array([0.0, 0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="interior"):
        facet_rows_simplex(A, b, np.zeros(2), np.ones(4, dtype=bool))
