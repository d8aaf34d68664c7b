"""Box: the float64 resolution of its coordinates in the unit frame."""
import numpy as np
import pytest

from cellgeom.geometry import Box


def test_float_step_is_the_coarsest_axis_in_the_frame():
    """A probe nearer than the float64 step of the user's coordinates rounds back: along
    a short side far from 0 that step is large in the frame."""
    box = Box([0.0, 1e4 - 5e-4], [1e4, 1e4 + 5e-4])
    assert box.float_step == pytest.approx(np.spacing(1e4 + 5e-4) / 5e-4, rel=1e-12)
    # a step of float_step in the frame moves the short side's coordinate; a tenth does not
    x = 1e4 + 2e-4
    assert x + box.float_step * 5e-4 != x
    assert x + 0.1 * box.float_step * 5e-4 == x


def test_float_step_of_a_cube_is_its_largest_coordinates_step():
    assert Box(-np.ones(3), np.ones(3)).float_step == np.spacing(1.0)
    assert Box([1e12, 0.0], [1e12 + 2.0, 2.0]).float_step == np.spacing(1e12 + 2.0)
