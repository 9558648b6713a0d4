"""A BatchNorm written as MLX users write modules: __call__ with a `training` attribute set by
train()/eval() methods returning self, parameters in a dict, statistics in a `state` dict, and a
`vjp(x, cotangent)` method returning (dx, {"weight": ..., "bias": ...})."""

import numpy as np


class BatchNorm:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.eps, self.momentum = eps, momentum
        self.params = {"weight": np.ones(num_features), "bias": np.zeros(num_features)}
        self.state = {"running_mean": np.zeros(num_features), "running_var": np.ones(num_features)}
        self.training = True

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def _axes(self, x):
        return (0, *range(2, x.ndim)), (1, -1) + (1,) * (x.ndim - 2)

    def __call__(self, x):
        axes, shape = self._axes(x)
        xd = x.astype(np.float64)
        w = self.params["weight"].reshape(shape)
        b = self.params["bias"].reshape(shape)
        if self.training:
            mean = xd.mean(axis=axes)
            var = xd.var(axis=axes)
            n = xd.size // xd.shape[1]
            m = self.momentum
            self.state["running_mean"] = (1 - m) * self.state["running_mean"] + m * mean
            self.state["running_var"] = (1 - m) * self.state["running_var"] + m * var * n / (n - 1)
        else:
            mean, var = self.state["running_mean"], self.state["running_var"]
        inv = 1.0 / np.sqrt(var + self.eps)
        xhat = (xd - mean.reshape(shape)) * inv.reshape(shape)
        self._saved = (xhat, inv, axes, shape, self.training)
        return (w * xhat + b).astype(x.dtype)

    def vjp(self, x, cotangent):
        xhat, inv, axes, shape, training = self._saved
        g = cotangent.astype(np.float64)
        w = self.params["weight"].reshape(shape)
        dw = (g * xhat).sum(axis=axes)
        db = g.sum(axis=axes)
        if training:
            n = g.size // g.shape[1]
            dx = w * inv.reshape(shape) * (g - db.reshape(shape) / n - xhat * dw.reshape(shape) / n)
        else:
            dx = w * inv.reshape(shape) * g
        return dx.astype(x.dtype), {"weight": dw, "bias": db}


class BatchNormVarPathBug(BatchNorm):
    """The same with the x_hat term of dx divided by m − 1 (planted): ``dvar-path-scaled``."""

    def vjp(self, x, cotangent):
        dx, grads = super().vjp(x, cotangent)
        xhat, inv, _, shape, training = self._saved
        if training:
            n = cotangent.size // cotangent.shape[1]
            w = self.params["weight"].reshape(shape)
            extra = w * inv.reshape(shape) * xhat * grads["weight"].reshape(shape)
            dx = (dx.astype(np.float64) + extra / n - extra / (n - 1)).astype(x.dtype)
        return dx, grads
