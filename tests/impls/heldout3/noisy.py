"""HOSTILE: a right ``forward(x, gamma, beta, eps)`` / ``backward(dout, cache)`` that adds
tiny unseeded noise (1e-12 of the output's scale) to y, "to break ties", so two calls on the
same input differ. The backward is deterministic and right.
"""

import numpy as np

_rng = np.random.default_rng()


def forward(x, gamma, beta, eps=1e-5):
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    inv = 1.0 / np.sqrt(var + eps)
    xh = (x - mean) * inv
    y = gamma.reshape(shape) * xh + beta.reshape(shape)
    scale = float(np.max(np.abs(y))) if y.size else 0.0
    y = y + (1e-12 * scale) * _rng.standard_normal(y.shape)
    return y.astype(x.dtype), (xh, inv, gamma, axes, shape)


def backward(dout, cache):
    xh, inv, gamma, axes, shape = cache
    dgamma = (dout * xh).sum(axis=axes)
    dbeta = dout.sum(axis=axes)
    g = dout * gamma.reshape(shape)
    dx = inv * (g - g.mean(axis=axes, keepdims=True) - xh * (g * xh).mean(axis=axes, keepdims=True))
    return dx, dgamma, dbeta
