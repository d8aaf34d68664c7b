"""Input checks of a network (``cellgeom.nn.inputs``)."""
import subprocess
import sys

# torch warns once per process ("This type of warning will be suppressed for the rest of
# this program"), so the check runs in a fresh interpreter with warnings as errors
_CODE = """
import warnings
import numpy as np, torch
from torch import nn
import cellgeom
from cellgeom.models.network import NetworkCells
warnings.simplefilter("error")
torch.manual_seed(0)
net = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1)).double().eval()
X = np.random.default_rng(0).normal(size=(50, 2))
part = cellgeom.partition(net, data=X, cells="all", progress=False)
ro = X.copy()
ro.flags.writeable = False
cells = NetworkCells(net)
assert (cells.keys(ro) == cells.keys(X)).all()
cells.network.check_input(ro)
np.testing.assert_array_equal(part.locate(ro), part.locate(X))
assert not ro.flags.writeable
"""


def test_read_only_arrays_give_no_torch_warning_and_the_same_keys():
    """Oracle: no warning at all, warnings being errors in a fresh interpreter (torch
    printed "The given NumPy array is not writable" for read-only inputs), and the keys
    and cells of a read-only array equal those of a writable copy."""
    subprocess.run([sys.executable, "-c", _CODE], check=True)
