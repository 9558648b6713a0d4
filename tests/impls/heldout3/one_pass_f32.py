"""A "fast" BN layer: ``FastBatchNorm(C)``, ``layer(x, training=True)``, ``layer.backward(
grad)`` returning dx with the parameter gradients in ``grad_gamma``/``grad_beta``; PyTorch
running statistics (momentum 0.1, unbiased).

PLANTED MISTAKE: the batch variance is computed in one pass in the input dtype,
var = E[x^2] - E[x]^2 (clamped at 0), which cancels catastrophically when |mean| >> std,
most visibly in float32. Everything else is right.
"""

import numpy as np


class FastBatchNorm:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.gamma = np.ones(num_features, np.float32)
        self.beta = np.zeros(num_features, np.float32)
        self.running_mean = np.zeros(num_features, np.float32)
        self.running_var = np.ones(num_features, np.float32)

    def __call__(self, x, training=True):
        axes = (0, *range(2, x.ndim))
        shp = (1, -1) + (1,) * (x.ndim - 2)
        if training:
            mean = x.mean(axis=axes)
            var = np.maximum((x * x).mean(axis=axes) - mean * mean, 0)
            n = x.size // x.shape[1]
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * (
                n / (n - 1)
            )
        else:
            mean = self.running_mean.astype(x.dtype)
            var = self.running_var.astype(x.dtype)
        inv = (1.0 / np.sqrt(var + self.eps)).astype(x.dtype)
        xh = (x - mean.reshape(shp)) * inv.reshape(shp)
        self._saved = (xh, inv, axes, shp)
        g, b = self.gamma.astype(x.dtype), self.beta.astype(x.dtype)
        return g.reshape(shp) * xh + b.reshape(shp)

    def backward(self, grad):
        xh, inv, axes, shp = self._saved
        self.grad_gamma = (grad * xh).sum(axis=axes)
        self.grad_beta = grad.sum(axis=axes)
        d = grad * self.gamma.astype(grad.dtype).reshape(shp)
        return inv.reshape(shp) * (
            d - d.mean(axis=axes, keepdims=True) - xh * (d * xh).mean(axis=axes, keepdims=True)
        )
