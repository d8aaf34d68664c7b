"""scikit-learn's MLPClassifier and MLPRegressor as partitions: a ReLU MLP's linear regions.

With ``activation="relu"`` (scikit-learn's default) the network is piecewise affine, and
its cells are those of the same network written in PyTorch: the fitted ``coefs_`` and
``intercepts_`` become ``nn.Linear`` layers in float64 (``W^T``, as scikit-learn computes
``X @ W + b``) and the torch adapter builds the cells, so every option, route and table is
the network one's. A pipeline's affine steps fold into the first layer
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
from ._sklearn import check_fitted_model, model_name
from .registry import register_adapter

__all__ = ["mlp_as_torch"]


def mlp_as_torch(model, affine=None):
    """The fitted MLP as an eval-mode ``torch.nn.Sequential`` in float64.

    Parameters
    ----------
    model : MLPClassifier or MLPRegressor
        Fitted, with ``activation`` "relu" or "identity".
    affine : (T, c), optional
        Inputs ``z = T x + c`` of the MLP (a pipeline's leading steps): the returned
        network takes ``x``.

    Returns
    -------
    torch.nn.Sequential
        Same outputs as the MLP's last layer before its squashing (logits or values); for
        a binary classifier two outputs ``(0, z)``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn.neural_network import MLPRegressor
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> mlp = MLPRegressor(hidden_layer_sizes=(8,), max_iter=50, random_state=0)
    >>> mlp = mlp.fit(X, X[:, 0])
    >>> net = mlp_as_torch(mlp)
    >>> bool(np.allclose(net(torch.tensor(X)).detach().numpy()[:, 0], mlp.predict(X)))
    True
    """
    try:
        import torch
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"partitioning a scikit-learn {model_name(model)} builds it in PyTorch, which is "
            "not installed: pip install 'cellgeom[torch]'.") from None
    check_fitted_model(model)
    if model.activation not in ("relu", "identity"):
        raise ValueError(
            f"{model_name(model)}(activation={model.activation!r}) is not piecewise affine: "
            "cellgeom partitions ReLU networks (activation='relu', the default) into their "
            "linear regions, and 'identity' ones (one cell).")
    weights = [np.asarray(W, dtype=float) for W in model.coefs_]
    biases = [np.asarray(b, dtype=float) for b in model.intercepts_]
    if any(not (np.all(np.isfinite(W)) and np.all(np.isfinite(b)))
           for W, b in zip(weights, biases)):
        raise ValueError(f"{model_name(model)} has NaN or infinite weights (a diverged fit).")
    if affine is not None:
        T, c = (np.asarray(a, dtype=float) for a in affine)
        weights[0], biases[0] = T.T @ weights[0], c @ weights[0] + biases[0]
    if getattr(model, "out_activation_", None) == "logistic" and weights[-1].shape[1] == 1:
        # binary: (0, z), so that the arg-max is class 1 exactly where z > 0
        weights[-1] = np.hstack([np.zeros_like(weights[-1]), weights[-1]])
        biases[-1] = np.concatenate([[0.0], biases[-1]])
    layers = []
    for i, (W, b) in enumerate(zip(weights, biases)):
        linear = torch.nn.Linear(W.shape[0], W.shape[1], dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
            linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
        if i < len(weights) - 1 and model.activation == "relu":
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).eval()


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
    from .network import NetworkCells, _partition_cells

    check_fitted_model(model)
    output = _output(model)
    net = mlp_as_torch(model, _affine)
    record = model if _model is None else _model
    n = int(record.n_features_in_)
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
