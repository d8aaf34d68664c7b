"""scikit-learn's MLPClassifier and MLPRegressor as partitions: a ReLU MLP's linear regions.

With ``activation="relu"`` (scikit-learn's default) the network is piecewise affine, and
its cells are those of the same network written in PyTorch: the fitted ``coefs_`` and
``intercepts_`` become ``nn.Linear`` layers in float64 (``W^T``, as scikit-learn computes
``X @ W + b``) and the torch adapter builds the cells, so every option, route and table is
the network one's (:func:`cellgeom.nn.mlp_as_torch`, which every function of
:mod:`cellgeom.nn` applies to such a model). A pipeline's affine steps fold into the first layer
(``W_1^T (T x + c) + b_1``), so the cells are in the raw input space.

The output layer's squashing (logistic, softmax) is monotone and does not cut cells: a
classifier's cells are refined by its arg-max comparisons as a torch classifier's are, and
a binary classifier's single logit ``z`` becomes the two outputs ``(0, z)``, so the class is
1 exactly where ``z > 0``, as ``predict`` says. The ``prediction`` column holds the
classes themselves (``classes_``).

PyTorch is needed (the ``torch`` extra); it is imported only when such a model is
partitioned.
"""
from __future__ import annotations

import numpy as np

from ..core import check_data
from ._sklearn import check_fitted_model, model_name, n_features_of
from .registry import register_adapter

__all__: list[str] = []  # an adapter: reached through cellgeom.partition


def _output(model) -> str:
    """The torch adapter's ``output``: "classes" for single-label classifiers, "values"
    for a regressor with one output; the rest is refused, naming why."""
    if model_name(model) == "MLPRegressor" or not hasattr(model, "classes_"):
        if model.n_outputs_ != 1:
            raise ValueError(
                f"{model_name(model)} with {model.n_outputs_} outputs: cellgeom partitions a "
                "regressor with one output (its prediction column is that value).")
        return "values"
    if getattr(model, "out_activation_", None) == "logistic" and model.n_outputs_ > 1:
        raise ValueError(
            f"{model_name(model)} fitted on multilabel targets ({model.n_outputs_} labels, "
            "each decided on its own): cellgeom partitions single-label classifiers.")
    return "classes"


@register_adapter("sklearn.neural_network._multilayer_perceptron.MLPClassifier",
                  name="MLPClassifier")
@register_adapter("sklearn.neural_network._multilayer_perceptron.MLPRegressor",
                  name="MLPRegressor")
def _partition_mlp(model, *, domain, data, cells, progress=True, upto_layer=None, tol=None,
                   include_neighbors=False, exact_dim=6, volume="auto", n_jobs=None,
                   executor=None, facet_method="simplex", _affine=None, _model=None,
                   _transform=None):
    """Adapter: ``cellgeom.partition(mlp, domain, data, cells=...)``; the options are the
    torch adapter's (``upto_layer``, ``include_neighbors``, ``exact_dim``, ``volume``,
    ``facet_method``)."""
    try:
        from ..nn.sklearn_mlp import mlp_as_torch
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"partitioning a scikit-learn {model_name(model)} builds it in PyTorch, which is "
            "not installed: pip install 'cellgeom[torch]'.") from None
    from .network import NetworkCells, _partition_cells

    check_fitted_model(model)
    output = _output(model)
    net = mlp_as_torch(model, _affine)
    record = model if _model is None else _model
    n = n_features_of(record)
    if data is not None:  # a DataFrame by its column names, as the model was fitted
        data = check_data(data, n, feature_names=getattr(record, "feature_names_in_", None))
    cell_model = NetworkCells(net, upto_layer, (n,), output)
    part = _partition_cells(cell_model, net, domain, data, cells, progress, tol,
                            include_neighbors, exact_dim, volume, n_jobs, executor,
                            facet_method)
    if output == "classes" and part.n_cells:
        part.cells["prediction"] = np.asarray(model.classes_)[
            part.cells["prediction"].to_numpy(dtype=np.int64)]
    part.model = record
    return part
