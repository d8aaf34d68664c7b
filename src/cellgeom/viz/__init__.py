"""Pictures of partitions and complexes (matplotlib).

Every function takes an ``ax`` and returns the axes it drew on.
"""
from .partition import (
    PartitionDisplay,
    axis_names,
    cell_polygons,
    label_colours,
    plot_partition,
)
from .tables import operator_scale, plot_layer_counts, plot_spectrum, plot_training, spectrum

__all__ = ["PartitionDisplay", "axis_names", "cell_polygons", "label_colours", "operator_scale",
           "plot_layer_counts", "plot_partition", "plot_spectrum", "plot_training", "spectrum"]
