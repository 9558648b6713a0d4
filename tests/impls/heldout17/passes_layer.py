"""Layer with forward_pass / backward_pass, documented as following PyTorch's running
statistics.  PLANTED BUG: momentum applied the wrong way round.

Style: ML-from-scratch layers, `forward_pass(X, training=True)` and
`backward_pass(accum_grad)`, the parameter gradients kept on the layer as `grad_gamma` /
`grad_beta`.  The docstring of the class promises PyTorch's convention (momentum 0.1 is the
weight of the batch, unbiased running variance).

The one bug: the update is written `momentum * running + (1 - momentum) * batch` (the Keras
form) with PyTorch's momentum 0.1, so each batch gets weight 0.9 instead of 0.1.  Forward,
backward and eval (which uses whatever statistics are kept) are right.

    bncheck verify passes_layer.py:BatchNormalization --convention torch
"""

import numpy as np


class BatchNormalization:
    """Batch normalization, running statistics as torch.nn.BatchNorm (momentum=0.1)."""

    def __init__(self, n_channels, momentum=0.1, eps=1e-5):
        self.momentum = momentum
        self.eps = eps
        self.gamma = np.ones(n_channels)
        self.beta = np.zeros(n_channels)
        self.running_mean = np.zeros(n_channels)
        self.running_var = np.ones(n_channels)
        self.grad_gamma = np.zeros(n_channels)
        self.grad_beta = np.zeros(n_channels)

    def _shape(self, X):
        return (1, X.shape[1]) + (1,) * (X.ndim - 2)

    def forward_pass(self, X, training=True):
        axes = (0, *range(2, X.ndim))
        shp = self._shape(X)
        if training:
            mean = np.mean(X, axis=axes)
            var = np.var(X, axis=axes)
            n = X.size // X.shape[1]
            # BUG: the Keras form of the update with PyTorch's momentum
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mean
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * (
                var * n / (n - 1)
            )
        else:
            mean, var = self.running_mean, self.running_var
        self.X_centered = X - mean.reshape(shp)
        self.stddev_inv = 1 / np.sqrt(var + self.eps)
        X_norm = self.X_centered * self.stddev_inv.reshape(shp)
        return self.gamma.reshape(shp) * X_norm + self.beta.reshape(shp)

    def backward_pass(self, accum_grad):
        axes = (0, *range(2, accum_grad.ndim))
        shp = self._shape(accum_grad)
        inv = self.stddev_inv.reshape(shp)
        X_norm = self.X_centered * inv
        self.grad_gamma = np.sum(accum_grad * X_norm, axis=axes)
        self.grad_beta = np.sum(accum_grad, axis=axes)
        batch_size = accum_grad.size // accum_grad.shape[1]
        g = self.gamma.reshape(shp) * inv / batch_size
        return g * (
            batch_size * accum_grad
            - np.sum(accum_grad, axis=axes, keepdims=True)
            - X_norm * np.sum(accum_grad * X_norm, axis=axes, keepdims=True)
        )
