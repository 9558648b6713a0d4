"""Group normalization as a Sonnet 1 module, in NumPy (channels last, TensorFlow's NHWC).

A Sonnet 1 module is configured in its constructor and connected by calling it:
``__call__`` forwards to ``_build(inputs)``, and its variables are created on the first
connection, from the input's shape (here ``gamma`` and ``beta``, one per channel, the last
axis). TensorFlow would give the gradients; this module writes its backward by hand:
``backward(grad_outputs)`` returns the input gradient and keeps the variables' gradients in
``self._grads``, keyed by variable name as TF names them.
"""

import numpy as np


class AbstractModule:
    def __init__(self, name):
        self._name = name
        self._is_connected = False
        self._variables = {}

    @property
    def module_name(self):
        return self._name

    def __call__(self, *args, **kwargs):
        out = self._build(*args, **kwargs)
        self._is_connected = True
        return out

    def get_variables(self):
        return tuple(self._variables.values())

    def _get_variable(self, var_name, value):
        full = f"{self._name}/{var_name}"
        if full not in self._variables:
            self._variables[full] = value
        return self._variables[full]


class GroupNorm(AbstractModule):
    """``GroupNorm(groups, eps=1e-5, offset=True, scale=True, name="group_norm")``: channels
    last; each sample's channels split into ``groups`` consecutive groups."""

    def __init__(self, groups, eps=1e-5, offset=True, scale=True, name="group_norm"):
        super().__init__(name=name)
        self._groups = groups
        self._eps = eps
        self._offset = offset
        self._scale = scale
        self._gamma = None
        self._beta = None
        self._grads = {}
        self._cache = None

    def _build(self, inputs):
        channels = inputs.shape[-1]
        if channels % self._groups:
            raise ValueError(f"{channels} channels do not split into {self._groups} groups")
        if self._gamma is None:
            self._gamma = self._get_variable("gamma", np.ones(channels, dtype=np.float64))
            self._beta = self._get_variable("beta", np.zeros(channels, dtype=np.float64))
        x = np.asarray(inputs, dtype=np.float64)
        n = x.shape[0]
        # (N, ..., C) -> (N, ..., G, C/G): statistics over every axis but the batch and G
        xg = x.reshape((*x.shape[:-1], self._groups, channels // self._groups))
        axes = (*tuple(range(1, xg.ndim - 2)), xg.ndim - 1)
        mean = xg.mean(axis=axes, keepdims=True)
        centred = xg - mean
        var = (centred * centred).mean(axis=axes, keepdims=True)
        rstd = 1.0 / np.sqrt(var + self._eps)
        x_hat = centred * rstd
        self._cache = (x_hat, rstd, axes, x.shape, n)
        out = x_hat.reshape(x.shape)
        if self._scale:
            out = out * self._gamma
        if self._offset:
            out = out + self._beta
        return out.astype(inputs.dtype)

    def backward(self, grad_outputs):
        x_hat, rstd, axes, shape, n = self._cache
        dtype = grad_outputs.dtype
        dy = np.asarray(grad_outputs, dtype=np.float64)
        flat_hat = x_hat.reshape(shape)
        lead = tuple(range(dy.ndim - 1))
        self._grads = {
            f"{self._name}/gamma": (dy * flat_hat).sum(axis=lead).astype(dtype),
            f"{self._name}/beta": dy.sum(axis=lead).astype(dtype),
        }
        g = dy * self._gamma if self._scale else dy
        g = g.reshape(x_hat.shape)
        count = x_hat.size // n
        sum_g = g.sum(axis=axes, keepdims=True)
        sum_gx = (g * x_hat).sum(axis=axes, keepdims=True)
        dx = rstd * (g - sum_g / count - x_hat * sum_gx / count)
        return dx.reshape(shape).astype(dtype)
