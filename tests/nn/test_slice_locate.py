"""SliceRegions.locate on planes whose two sides differ by many orders of magnitude."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import cellgeom  # noqa: E402

# the same plane of the input, once with unit-scale (s, t) and once with s 4e4 long and t
# 4e-3 wide: the slack of the point test must be relative on each axis
PLANES = {"unit": ([1.0, 0.0], [0.0, 1.0], (-2.0, 2.0, -2.0, 2.0)),
          "stretched": ([1e-4, 0.0], [0.0, 1e3], (-2e4, 2e4, -2e-3, 2e-3))}


@pytest.mark.parametrize("plane", list(PLANES))
def test_locate_agrees_with_the_patterns(plane):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16),
                              torch.nn.ReLU(), torch.nn.Linear(16, 3)).eval()
    u, v, extent = PLANES[plane]
    regions = cellgeom.nn.slice_partition(net, [0.0, 0.0], u, v, extent, min_area=0)
    rng = np.random.default_rng(0)
    st = rng.uniform([extent[0], extent[2]], [extent[1], extent[3]], (20_000, 2))
    truth = cellgeom.nn.activation_patterns(net, regions.to_points(st)).keys
    found = regions.locate(st)
    assert (found >= 0).all()
    assert not (regions.keys[found] != truth).any(axis=1).any()
