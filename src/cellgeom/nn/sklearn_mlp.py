"""scikit-learn's ReLU MLPs (MLPClassifier, MLPRegressor) as the equivalent torch network.

Every function of :mod:`cellgeom.nn` that takes a network (``pullback``,
``slice_partition``, ``activation_patterns``, ...) accepts a fitted scikit-learn MLP too:
:func:`~cellgeom.nn.layers.as_network` converts it here. The fitted ``coefs_`` and
``intercepts_`` become float64 ``nn.Linear`` layers (``W^T``, as scikit-learn computes
``X @ W + b``) with ReLU between them; the output layer's squashing (logistic, softmax) is
monotone and left out, so the outputs are the logits (a binary classifier's single logit
``z`` as the two outputs ``(0, z)``, whose arg-max is the class ``predict`` gives) or the
regression values.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["mlp_as_torch", "is_sklearn_mlp"]

_MLPS = ("MLPClassifier", "MLPRegressor")


def is_sklearn_mlp(obj) -> bool:
    """Whether ``obj`` is a scikit-learn MLPClassifier / MLPRegressor (or a subclass),
    without importing scikit-learn."""
    return any(c.__name__ in _MLPS and c.__module__.startswith("sklearn.")
               for c in type(obj).__mro__)


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
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model)
    if model.activation not in ("relu", "identity"):
        raise ValueError(
            f"{type(model).__name__}(activation={model.activation!r}) is not piecewise affine: "
            "cellgeom partitions ReLU networks (activation='relu', the default) into their "
            "linear regions, and 'identity' ones (one affine map: a single cell, or a "
            "classifier's arg-max regions).")
    weights = [np.asarray(W, dtype=float) for W in model.coefs_]
    biases = [np.asarray(b, dtype=float) for b in model.intercepts_]
    if any(not (np.all(np.isfinite(W)) and np.all(np.isfinite(b)))
           for W, b in zip(weights, biases)):
        raise ValueError(f"{type(model).__name__} has NaN or infinite weights (a diverged fit).")
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
