"""Map any layer onto the protocol ``bncheck verify`` speaks, in a few lines.

``bncheck verify`` detects the common ways layers are written (see the README). For anything
else, write a factory that wraps the layer with :func:`adapt` and point verify at it::

    from bncheck.check._verify import adapt
    from numpy_ml.neural_nets.layers import BatchNorm1D

    def target(num_features):
        bn = BatchNorm1D(momentum=0.9, epsilon=1e-5)
        return adapt(bn, forward=lambda x, train: bn.forward(x, retain_derived=train),
                     backward=lambda dy: (bn.backward(dy), bn.gradients["scaler"],
                                          bn.gradients["intercept"]),
                     gamma="parameters.scaler", beta="parameters.intercept", axis=-1)

``bncheck verify mine.py:target`` then takes it. The strings are paths from the layer: each
step an attribute or a dict key. Values are read and written in the shape the layer keeps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["Adapted", "adapt"]


def _step(obj: Any, key: str) -> Any:
    return obj[key] if isinstance(obj, dict) else getattr(obj, key)


def _read(root: Any, path: str) -> Any:
    obj = root
    for key in path.split("."):
        obj = _step(obj, key)
    return obj


def _write(root: Any, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    obj = root
    for key in parents:
        obj = _step(obj, key)
    old: Any = obj.get(last) if isinstance(obj, dict) else getattr(obj, last, None)
    new = np.asarray(value).copy()
    if hasattr(old, "shape") and int(np.prod(old.shape)) == new.size:
        new = new.reshape(old.shape)
    if isinstance(obj, dict):
        obj[last] = new
    else:
        setattr(obj, last, new)


def _path_property(field: str) -> property:
    def get(self: Adapted) -> Any:
        path = self.paths.get(field)
        return None if path is None else _read(self.layer, path)

    def put(self: Adapted, value: Any) -> None:
        path = self.paths.get(field)
        if path is None:
            raise AttributeError(f"adapt(): no path given for {field}")
        _write(self.layer, path, value)

    return property(get, put)


class Adapted:
    """A layer seen through the protocol of ``bncheck verify``: ``forward(x, train)``,
    ``backward(dy) -> (dx, dgamma, dbeta)``, and gamma, beta, running_mean, running_var, eps,
    momentum read and written through the paths given to :func:`adapt`."""

    gamma = _path_property("gamma")
    beta = _path_property("beta")
    running_mean = _path_property("running_mean")
    running_var = _path_property("running_var")
    eps = _path_property("eps")
    momentum = _path_property("momentum")

    def __init__(
        self,
        layer: Any,
        forward: Callable[[Any, bool], Any],
        backward: Callable[[Any], Any],
        paths: dict[str, str | None],
        axis: int,
    ) -> None:
        self.layer = layer
        self._forward, self._backward = forward, backward
        self.paths = {k: v for k, v in paths.items() if v is not None}
        self.bncheck_axis = axis

    def forward(self, x: Any, train: bool = True) -> Any:
        return self._forward(x, train)

    def backward(self, dy: Any) -> Any:
        return self._backward(dy)


def adapt(
    layer: Any,
    *,
    forward: Callable[[Any, bool], Any],
    backward: Callable[[Any], Any],
    gamma: str | None = "gamma",
    beta: str | None = "beta",
    running_mean: str | None = "running_mean",
    running_var: str | None = "running_var",
    eps: str | None = "eps",
    momentum: str | None = "momentum",
    axis: int = 1,
) -> Adapted:
    """Wrap ``layer`` for ``bncheck verify``.

    Parameters
    ----------
    layer : object
        The layer; the paths below start from it.
    forward : callable
        ``forward(x, train) -> y``: train (True) or eval (False) mode.
    backward : callable
        ``backward(dy) -> (dx, dgamma, dbeta)`` for the last forward.
    gamma, beta, running_mean, running_var, eps, momentum : str or None
        Dotted paths from the layer (attributes or dict keys, e.g. ``"parameters.scaler"``);
        None where the layer has no such value.
    axis : int
        The channel axis the layer expects (``-1`` for channels-last); bncheck moves its
        inputs there and the outputs back.

    Examples
    --------
    >>> import bncheck
    >>> bn = bncheck.BatchNorm(3)
    >>> def forward(x, train):
    ...     bn.train(train)
    ...     return bn(x)
    >>> t = adapt(bn, forward=forward, backward=bn.backward)
    >>> t.gamma.shape
    (3,)
    """
    paths = {
        "gamma": gamma, "beta": beta, "running_mean": running_mean,
        "running_var": running_var, "eps": eps, "momentum": momentum,
    }  # fmt: skip
    present = {}
    for key, path in paths.items():
        try:
            _read(layer, path) if path is not None else None
            present[key] = path
        except (AttributeError, KeyError, TypeError):
            if key in ("gamma", "beta") and path not in ("gamma", "beta"):
                raise ValueError(f"adapt(): {key}={path!r} is not found on the layer") from None
            present[key] = None  # a default name the layer does not have
    return Adapted(layer, forward, backward, present, axis)
