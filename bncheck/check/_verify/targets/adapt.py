"""Map any layer onto the protocol ``bncheck verify`` speaks, in a few lines.

``bncheck verify`` detects the common ways layers are written (see the README). For anything
else, write a factory that wraps the layer with :func:`adapt` and point verify at it::

    from bncheck.check._verify.targets import adapt
    from numpy_ml.neural_nets.layers import BatchNorm1D

    def target(num_features):
        bn = BatchNorm1D(momentum=0.9, epsilon=1e-5)
        return adapt(bn, forward=lambda x, train: bn.forward(x, retain_derived=train),
                     backward=lambda dy: (bn.backward(dy), bn.gradients["scaler"],
                                          bn.gradients["intercept"]),
                     gamma="parameters.scaler", beta="parameters.intercept", axis=-1)

``bncheck verify mine.py:target`` then takes it. The strings are paths from the layer: each
step an attribute, a dict key or an index (``"params.0"``, ``"grads[1]"``,
``"stats['mean']"``). Values are read and written in the shape and kind the layer keeps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bncheck.check._verify.targets.values import Path

__all__ = ["Adapted", "adapt"]


def _read(root: Any, path: str) -> Any:
    """The value at ``path``; AttributeError/KeyError/IndexError/TypeError when it is not."""
    where = Path.parse(path)
    if not where.exists(root):
        raise KeyError(path)
    return where.get(root)


def _write(root: Any, path: str, value: Any) -> None:
    Path.parse(path).set(root, np.asarray(value))


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
    momentum read and written through the paths given to :func:`adapt`.

    Made by :func:`adapt`. Reading a value without a path gives None; writing one raises
    AttributeError. A value written is stored as an array in the shape the layer keeps.

    Attributes
    ----------
    layer : object
        The wrapped layer.
    paths : dict of str to str
        The paths found on the layer, by field name.
    bncheck_axis : int
        The channel axis the layer expects.
    gamma, beta, running_mean, running_var, eps, momentum
        Read and written through ``paths``.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check import adapt
    >>> class Layer:
    ...     def __init__(self):
    ...         self.params = {"scale": np.ones((1, 2)), "shift": np.zeros((1, 2))}
    >>> layer = Layer()
    >>> t = adapt(layer, forward=lambda x, train: x, backward=lambda dy: (dy, None, None),
    ...           gamma="params.scale", beta="params.shift")
    >>> t.gamma = [2.0, 3.0]  # written through the path, in the shape the layer keeps
    >>> layer.params["scale"].tolist()
    [[2.0, 3.0]]
    >>> t.running_mean is None  # the layer has no running_mean
    True
    """

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
        """The layer's output for ``x``, through the ``forward`` given to :func:`adapt`.

        Parameters
        ----------
        x : array
            Input, channels on the axis the layer expects.
        train : bool
            Training (True) or eval (False) mode.

        Returns
        -------
        y
            What the layer returns.

        Examples
        --------
        >>> import numpy as np
        >>> import bncheck
        >>> bn = bncheck.BatchNorm(2)
        >>> def forward(x, train):
        ...     bn.train(train)
        ...     return bn(x)
        >>> t = bncheck.adapt(bn, forward=forward, backward=bn.backward)
        >>> np.round(t.forward(np.array([[0.0, 1.0], [2.0, 5.0]]), train=True), 4).tolist()
        [[-1.0, -1.0], [1.0, 1.0]]
        """
        return self._forward(x, train)

    def backward(self, dy: Any) -> Any:
        """Gradients for the last forward, through the ``backward`` given to :func:`adapt`.

        Parameters
        ----------
        dy : array
            The upstream gradient, the shape of the last forward's input.

        Returns
        -------
        tuple
            ``(dx, dgamma, dbeta)``.

        Examples
        --------
        >>> import numpy as np
        >>> import bncheck
        >>> bn = bncheck.BatchNorm(2)
        >>> t = bncheck.adapt(bn, forward=lambda x, train: bn(x), backward=bn.backward)
        >>> y = t.forward(np.array([[0.0, 1.0], [2.0, 5.0]]), True)
        >>> dx, dgamma, dbeta = t.backward(np.ones((2, 2)))
        >>> dbeta.tolist(), np.allclose(dx, 0.0)  # a uniform dy gives dx = 0
        ([2.0, 2.0], True)
        """
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
        Paths from the layer: attributes, dict keys and indices, e.g. ``"parameters.scaler"``,
        ``"params.0"``, ``"grads[1]"``; None where the layer has no such value.
    axis : int
        The channel axis the layer expects (``-1`` for channels-last); bncheck moves its
        inputs there and the outputs back.

    Returns
    -------
    Adapted
        The wrapped layer; return it from a factory that ``bncheck verify`` is pointed at.

    Raises
    ------
    ValueError
        A path other than the role's default name is not found on the layer (a missing
        default name reads as None: the layer has no such value).

    Examples
    --------
    >>> import bncheck
    >>> from bncheck.check import adapt
    >>> bn = bncheck.BatchNorm(3)
    >>> def forward(x, train):
    ...     bn.train(train)
    ...     return bn(x)
    >>> t = adapt(bn, forward=forward, backward=bn.backward)
    >>> t.gamma.shape
    (3,)
    """
    paths = {
        "gamma": gamma,
        "beta": beta,
        "running_mean": running_mean,
        "running_var": running_var,
        "eps": eps,
        "momentum": momentum,
    }
    present = {}
    for key, path in paths.items():
        try:
            _read(layer, path) if path is not None else None
            present[key] = path
        except (AttributeError, KeyError, IndexError, TypeError, ValueError):
            if path != key:  # a path the user wrote, not the default name
                raise ValueError(f"adapt(): {key}={path!r} is not found on the layer") from None
            present[key] = None  # a default name the layer does not have
    return Adapted(layer, forward, backward, present, axis)
