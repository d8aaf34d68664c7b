"""Axis labels are the model's feature names (its feature_names_in_), as scikit-learn records
them; the legend names the data and the nerve."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.tree import DecisionTreeClassifier  # noqa: E402

import cellgeom  # noqa: E402
from cellgeom.viz import PartitionDisplay, axis_names  # noqa: E402

IRIS = load_iris(as_frame=True)
FRAME = IRIS.data.iloc[:, 2:4]


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_axes_show_the_models_feature_names_by_default_and_given_names_win():
    tree = DecisionTreeClassifier(max_depth=2, random_state=0).fit(FRAME, IRIS.target)
    part = cellgeom.partition(tree, data=FRAME, cells="all", progress=False)
    ax = cellgeom.plot_partition(part, color_by="prediction", data=FRAME.to_numpy())
    assert (ax.get_xlabel(), ax.get_ylabel()) == tuple(FRAME.columns)
    ax = cellgeom.plot_partition(part, feature_names=["length", "width"])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("length", "width")
    disp = PartitionDisplay.from_estimator(tree, FRAME.to_numpy(), cells="all")
    assert disp.ax_.get_xlabel() == FRAME.columns[0]
    with pytest.raises(ValueError, match="feature_names must be a sequence of 2"):
        cellgeom.plot_partition(part, feature_names=["only one"])


def test_unnamed_axes_are_x0_x1_and_the_legend_names_data_and_nerve():
    arr = cellgeom.HyperplaneArrangement([[1.0, 0.0], [0.0, 1.0]], [-0.3, -0.6])
    part = cellgeom.partition(arr, domain=([0, 0], [1, 1]), cells="all", progress=False)
    assert axis_names(part) == ["x_0", "x_1"]
    ax = cellgeom.plot_partition(part, color_by="volume", data=[[0.1, 0.2], [0.5, 0.9]],
                                 show_nerve=True)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("$x_0$", "$x_1$")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["data (2 points)", "nerve (cells sharing a face)"]
