"""Clear errors: each message names the offending layer, parameter or shape (oracle: the
message text), and ``import cellgeom`` alone never imports torch."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from cellgeom.nn import (
    NonFiniteWeightError,
    Residual,
    TrainingModeError,
    UnsupportedLayerError,
    activation_patterns,
    pullback,
    slice_partition,
)


@pytest.mark.parametrize("act", [nn.GELU, nn.Sigmoid, nn.Tanh, lambda: nn.Softmax(dim=1)])
def test_smooth_activation_is_rejected_naming_the_layer(act):
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 3), act(), nn.Linear(3, 1))
    name = type(act()).__name__
    with pytest.raises(UnsupportedLayerError, match=rf"layer '3' \({name}\)") as info:
        pullback(net.eval(), torch.zeros(1, 2))
    assert "piecewise-linear" in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)


def test_nested_unsupported_layer_has_its_full_path():
    net = nn.Sequential(nn.Linear(2, 3), Residual(nn.Sequential(nn.Linear(3, 3), nn.Sigmoid())))
    with pytest.raises(UnsupportedLayerError, match=r"layer '1.body.1' \(Sigmoid\)"):
        activation_patterns(net.eval(), np.zeros((1, 2)))


def test_attention_and_custom_forward_are_rejected():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)

        def forward(self, x):  # a product of two input-dependent tensors (was "* 2",
            return self.lin(x) * x  # accepted since issue #17: scalar multiples are affine)

    class MyLinear(nn.Linear):
        def forward(self, x):
            return super().forward(x) ** 2

    for bad, name in ((Block(), "Block"), (MyLinear(2, 2), "MyLinear"),
                      (nn.MultiheadAttention(2, 1), "MultiheadAttention")):
        with pytest.raises(UnsupportedLayerError, match=rf"layer '1' \({name}\)"):
            pullback(nn.Sequential(nn.Linear(2, 2), bad).eval(), torch.zeros(1, 2))


def test_refusal_names_graph_node_and_source_line():
    """Oracle: the message text names the fx node, its module and this file's line."""
    class Gate(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)

        def forward(self, x):
            return torch.sigmoid(self.lin(x)) * 3.0

    with pytest.raises(UnsupportedLayerError) as info:
        activation_patterns(nn.Sequential(Gate()).eval(), np.zeros((1, 2)))
    msg = str(info.value)
    assert "graph node 'sigmoid'" in msg and "layer '0' (Gate)" in msg
    assert "test_layers.py:" in msg and "torch.sigmoid(self.lin(x))" in msg


def test_training_mode_batchnorm_and_dropout_are_rejected():
    net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.ReLU())
    with pytest.raises(TrainingModeError, match=r"layer '1' \(BatchNorm1d\).*eval"):
        pullback(net, torch.zeros(1, 2))
    with pytest.raises(TrainingModeError, match=r"layer '0' \(Dropout\)"):
        pullback(nn.Sequential(nn.Dropout(0.5), nn.Linear(2, 1)), torch.zeros(1, 2))
    bn = nn.BatchNorm1d(3, track_running_stats=False).eval()
    with pytest.raises(UnsupportedLayerError, match="batch statistics"):
        pullback(nn.Sequential(nn.Linear(2, 3), bn), torch.zeros(1, 2))
    pullback(net.eval(), torch.zeros(1, 2))  # fine once in eval mode


def test_wrong_input_shape_names_expected_and_actual():
    mlp = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1)).eval()
    with pytest.raises(ValueError, match=r"shape \(5, 3\).*\(batch, \.\.\., 4\)"):
        pullback(mlp, torch.zeros(5, 3))
    with pytest.raises(ValueError, match=r"shape \(4,\).*x\[None\]"):
        activation_patterns(mlp, np.zeros(4))
    conv = nn.Sequential(nn.Conv2d(1, 2, 2), nn.ReLU(), nn.Flatten(), nn.Linear(8, 1)).eval()
    with pytest.raises(ValueError, match=r"shape \(2, 9\).*\(batch, 1, height, width\)"):
        activation_patterns(conv, np.zeros((2, 9)))
    with pytest.raises(ValueError, match=r"does not fit the network"):  # caught inside the net
        activation_patterns(conv, np.zeros((2, 1, 4, 4)))
    with pytest.raises(ValueError, match="u has 3 values"):
        slice_partition(mlp, np.zeros(4), np.zeros(3), np.ones(4), 1.0)


def test_nan_and_inf_weights_name_the_parameter():
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)).eval()
    with torch.no_grad():
        net[2].weight[0, 1] = float("nan")
    with pytest.raises(NonFiniteWeightError, match=r"parameter '2.weight'.*NaN"):
        pullback(net, torch.zeros(1, 2))
    bn = nn.BatchNorm1d(3).eval()
    bn.running_var[1] = float("inf")
    with pytest.raises(ValueError, match=r"buffer '1.running_var'.*inf"):
        activation_patterns(nn.Sequential(nn.Linear(2, 3), bn), np.zeros((1, 2)))


def test_empty_batch_is_rejected():
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU()).eval()
    with pytest.raises(ValueError, match="empty batch"):
        activation_patterns(net, np.zeros((0, 2)))
    with pytest.raises(ValueError, match="empty batch"):
        pullback(net, np.zeros((0, 2)))


def test_non_finite_inputs_are_rejected():
    """NaN compares false with every breakpoint: it got a pattern (and a cell) of its own."""
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU()).eval()
    for bad in (np.nan, np.inf):
        X = np.array([[0.0, 1.0], [bad, 0.0]])
        with pytest.raises(ValueError, match="X contains NaN or infinite"):
            activation_patterns(net, X)
        with pytest.raises(ValueError, match="x contains NaN or infinite"):
            pullback(net, X)
        with pytest.raises(ValueError, match="origin.*NaN or infinite"):
            slice_partition(net, X[1], [1, 0], [0, 1], 1.0)
        with pytest.raises(ValueError, match="u and v must be finite"):
            slice_partition(net, np.zeros(2), X[1], [0, 1], 1.0)


def test_bad_extent_is_rejected():
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU()).eval()
    with pytest.raises(ValueError, match="s0 < s1"):
        slice_partition(net, np.zeros(2), [1, 0], [0, 1], (1, 0, 0, 1))


@pytest.mark.parametrize("u,v", [([0, 0], [0, 1]), ([1, 2], [-2, -4]), ([1, 0], [1, 0])])
def test_a_slice_needs_a_plane(u, v):
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU()).eval()
    with pytest.raises(ValueError, match="u and v must span a plane"):
        slice_partition(net, np.zeros(2), u, v, 1.0)


@pytest.mark.parametrize("kwargs,message", [(dict(min_area=-1.0), "min_area"),
                                            (dict(min_area=np.nan), "min_area"),
                                            (dict(tol=0.0), "tol")])
def test_slice_tolerances_are_checked(kwargs, message):
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU()).eval()
    with pytest.raises(ValueError, match=message):
        slice_partition(net, np.zeros(2), [1, 0], [0, 1], 1.0, **kwargs)


def test_import_cellgeom_and_nn_forms_do_not_import_torch():
    code = ("import sys, cellgeom; from cellgeom.nn import volume_form; "
            "import cellgeom.nn.forms; assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_name_in_cellgeom_nn_is_an_attribute_error():
    import cellgeom.nn

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        cellgeom.nn.nope  # noqa: B018
    assert "slice_partition" in dir(cellgeom.nn)


def test_cellgeom_nn_exports_the_regularization_api():
    """Oracle: the classes defined in their own modules; ``__all__`` and ``dir`` list them."""
    import cellgeom.nn
    from cellgeom.nn.batch_geometry import batch_cell_geometry
    from cellgeom.nn.regularizer import GeometricRegularizer, PenaltyParts
    from cellgeom.nn.tracker import GeometryTracker

    want = {"GeometricRegularizer": GeometricRegularizer, "GeometryTracker": GeometryTracker,
            "PenaltyParts": PenaltyParts, "batch_cell_geometry": batch_cell_geometry}
    for name, obj in want.items():
        assert name in cellgeom.nn.__all__ and name in dir(cellgeom.nn)
        assert getattr(cellgeom.nn, name) is obj
    for name in cellgeom.nn.__all__:  # everything listed resolves
        assert getattr(cellgeom.nn, name) is not None
