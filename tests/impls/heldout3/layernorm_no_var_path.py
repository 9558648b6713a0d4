"""LayerNorm over the last axis as a class: ``LayerNorm(normalized_shape, eps)``,
``forward(x)``, ``backward(grad)`` returning dx and storing ``dgamma``/``dbeta``.

PLANTED MISTAKE: the backward leaves out the path through the variance, so
dx = rstd * (g - mean(g)) with g = grad * gamma (no - xhat * mean(g * xhat) term).
Forward is right.
"""

import numpy as np


class LayerNorm:
    def __init__(self, normalized_shape, eps=1e-5):
        self.eps = eps
        self.gamma = np.ones(normalized_shape)
        self.beta = np.zeros(normalized_shape)
        self.dgamma = np.zeros(normalized_shape)
        self.dbeta = np.zeros(normalized_shape)

    def forward(self, x):
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        self.rstd = 1.0 / np.sqrt(var + self.eps)
        self.xhat = (x - mean) * self.rstd
        return (self.xhat * self.gamma + self.beta).astype(x.dtype)

    def backward(self, grad):
        lead = tuple(range(grad.ndim - 1))
        self.dgamma = (grad * self.xhat).sum(axis=lead)
        self.dbeta = grad.sum(axis=lead)
        g = grad * self.gamma
        dx = self.rstd * (g - g.mean(axis=-1, keepdims=True))
        return dx.astype(grad.dtype)
