"""The rounded multiphase volume estimator against exact volumes (closed forms, Qhull):
95% intervals cover, units do not matter, facet volumes by the pyramid identity."""
from __future__ import annotations

import functools
from math import factorial

import numpy as np
import pytest

from cellgeom.geometry import Box, chebyshev_center, polytope_volume
from cellgeom.geometry.volume_mc import estimate_cell, split_rhat


def _thin_simplex(n, spread):
    """{x >= 0, sum x_i / w_i <= 1}, widths w over ``spread``: volume prod(w) / n!."""
    w = np.geomspace(1.0, spread, n) / np.sqrt(spread)
    A = np.vstack([-np.eye(n), (1 / w)[None, :]])
    b = np.concatenate([np.zeros(n), [1.0]])
    return A, b, float(np.prod(w) / factorial(n))


@functools.lru_cache(maxsize=1)
def _relu_cell_7d():
    """The 7-D cell of issue #22: nn.Sequential(Linear(7, 6), ReLU, Linear(6, 1)), torch
    seed 7, domain [-1, 1]^7, all six units off; exact volume 0.0034921 (Qhull)."""
    torch = pytest.importorskip("torch")
    from cellgeom.models.network import NetworkCells

    torch.manual_seed(7)
    net = torch.nn.Sequential(torch.nn.Linear(7, 6), torch.nn.ReLU(), torch.nn.Linear(6, 1))
    A, b, _ = NetworkCells(net).constraints(["000000"])[0]
    box_A, box_b = Box(-np.ones(7), np.ones(7)).halfspaces()
    A, b = np.vstack([box_A, A]), np.concatenate([box_b, b])
    return A, b, polytope_volume(A, b)


def _round_cell_8d():
    """A rotated unit cube in 8-D (volume 1; not axis-aligned, so rounding has work)."""
    n = 8
    Q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((n, n)))
    return np.vstack([Q, -Q]), np.concatenate([np.ones(n), np.zeros(n)]), 1.0


def _coverage(A, b, true, seeds, **kw):
    c, _ = chebyshev_center(A, b)
    covered, refused, rel = 0, 0, []
    for seed in seeds:
        est = estimate_cell(A, b, c, rng=seed, **kw)
        if not est.mixed:
            refused += 1
            continue
        half = 1.96 * est.se_log
        covered += est.volume * np.exp(-half) <= true <= est.volume * np.exp(half)
        rel.append(est.volume / true)
    return covered, refused, np.array(rel)


def test_relu_cell_of_issue_22_has_the_exact_volume():
    A, b, true = _relu_cell_7d()
    assert true == pytest.approx(0.0034921, rel=1e-4)


@pytest.mark.slow
def test_95_percent_intervals_cover_at_90_to_99_percent():
    """Oracle: exact volumes; 30 seeds on each of a thin 7-D ReLU cell, a thin 10-D simplex
    (widths over 100x) and a round 8-D polytope; intervals refused for poor mixing count
    as not covering."""
    total, covered = 0, 0
    for A, b, true in (_relu_cell_7d(), _thin_simplex(10, 100.0), _round_cell_8d()):
        cov, refused, rel = _coverage(A, b, true, range(30))
        assert refused <= 3
        assert abs(rel.mean() - 1) < 0.08  # measured: thin 10-D simplex 7% low
        total += 30
        covered += cov
    assert 0.90 <= covered / total <= 0.99


def test_intervals_cover_on_a_thin_6d_simplex():
    """Oracle: prod(w) / n! (quick version of the coverage test: 8 seeds)."""
    A, b, true = _thin_simplex(6, 100.0)
    covered, refused, rel = _coverage(A, b, true, range(8))
    assert refused <= 1 and covered >= 7
    assert abs(rel.mean() - 1) < 0.06


def test_unrounded_chains_in_a_thin_cell_are_flagged():
    """Without rounding the chains do not mix in the thin ReLU cell: R-hat refuses."""
    A, b, _ = _relu_cell_7d()
    c, _ = chebyshev_center(A, b)
    est = estimate_cell(A, b, c, rng=0, rounding=False)
    assert not est.mixed and est.rhat > 1.25 and est.se == np.inf


def test_volume_does_not_depend_on_units():
    """Oracle: vol(D P) = det(D) vol(P) = det(D) prod(w) / n!, with axes scaled from 1e-3
    to 1e3: the estimate and its error bar are the same up to the factor det(D)."""
    A, b, true = _thin_simplex(8, 10.0)
    D = np.geomspace(1e-3, 1e3, 8)
    c, _ = chebyshev_center(A, b)
    plain = estimate_cell(A, b, c, rng=3)
    scaled = estimate_cell(A / D, b, c * D, rng=3)
    for est, factor in ((plain, 1.0), (scaled, np.prod(D))):
        assert est.mixed and est.se_log < 0.15
        assert abs(np.log(est.volume / factor / true)) <= 3 * est.se_log
    assert scaled.se_log == pytest.approx(plain.se_log, rel=0.5)


def test_facet_volumes_of_a_cube_by_the_pyramid_identity():
    """Oracle: every facet of [0, 1]^7 has volume 1; the centroid is the centre."""
    n = 7
    A, b = Box(np.zeros(n), np.ones(n)).halfspaces()
    est = estimate_cell(A, b, np.full(n, 0.5), rng=0, facet_rows=np.arange(2 * n))
    assert est.mixed
    assert est.volume == pytest.approx(1.0, abs=4 * est.se)
    assert np.all(np.abs(est.facet_volumes - 1.0) <= 4 * est.facet_se)
    assert np.all(est.facet_volumes > 0)
    np.testing.assert_allclose(est.centroid, 0.5, atol=0.05)


def test_split_rhat_separates_stuck_chains():
    """Oracle: R-hat ~ 1 for independent draws, >> 1 for chains stuck at different levels."""
    rng = np.random.default_rng(0)
    good = rng.standard_normal((200, 8))
    stuck = good + np.arange(8)[None, :]
    assert split_rhat(good) < 1.05 and split_rhat(stuck) > 2
