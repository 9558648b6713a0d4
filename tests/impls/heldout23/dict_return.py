"""A layer whose backward returns one dict keyed by name, beta's gradient listed first:
``{"dx": ..., "dbeta": ..., "dgamma": ...}``.

Keras-style running statistics: momentum 0.9 is the weight of the OLD value, biased running
variance. ``forward(x, training=True)``.

CORRECT.
"""

import numpy as np


class BatchNormalization:
    def __init__(self, units, momentum=0.9, epsilon=1e-3):
        self.momentum = momentum
        self.epsilon = epsilon
        self.gamma = np.ones(units)
        self.beta = np.zeros(units)
        self.moving_mean = np.zeros(units)
        self.moving_variance = np.ones(units)
        self._ctx = None

    def forward(self, x, training=True):
        x64 = np.asarray(x, np.float64)
        red = (0, *range(2, x64.ndim))
        bshape = (1, -1) + (1,) * (x64.ndim - 2)
        if training:
            mean = x64.mean(red)
            variance = x64.var(red)
            m = self.momentum
            self.moving_mean = m * self.moving_mean + (1.0 - m) * mean
            self.moving_variance = m * self.moving_variance + (1.0 - m) * variance
        else:
            mean, variance = self.moving_mean, self.moving_variance
        inv = 1.0 / np.sqrt(variance + self.epsilon)
        xhat = (x64 - mean.reshape(bshape)) * inv.reshape(bshape)
        y = xhat * self.gamma.reshape(bshape) + self.beta.reshape(bshape)
        self._ctx = {
            "training": training,
            "xhat": xhat,
            "inv": inv,
            "red": red,
            "bshape": bshape,
            "dtype": np.asarray(x).dtype,
        }
        return y.astype(self._ctx["dtype"])

    def backward(self, grad_output):
        c = self._ctx
        g = np.asarray(grad_output, np.float64)
        red, bshape, xhat = c["red"], c["bshape"], c["xhat"]
        grads = {}
        grads["dbeta"] = g.sum(red)
        grads["dgamma"] = (g * xhat).sum(red)
        dxhat = g * self.gamma.reshape(bshape)
        if c["training"]:
            dxhat = (
                dxhat
                - dxhat.mean(red).reshape(bshape)
                - xhat * (dxhat * xhat).mean(red).reshape(bshape)
            )
        dx = dxhat * c["inv"].reshape(bshape)
        out = {"dx": dx.astype(c["dtype"])}
        out["dbeta"] = grads["dbeta"].astype(c["dtype"])
        out["dgamma"] = grads["dgamma"].astype(c["dtype"])
        return out
