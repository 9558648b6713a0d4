"""RMSNorm as a stateless pair: the forward returns y only, the backward recomputes from
(x, gamma) instead of keeping a cache (saves activation memory).

    y = rmsnorm_forward(x, gamma, eps=1e-6)
    dx, dgamma = rmsnorm_backward(dy, x, gamma, eps=1e-6)
"""

import numpy as np


def rmsnorm_forward(x, gamma, eps=1e-6):
    r = 1.0 / np.sqrt(np.mean(np.square(x), axis=-1, keepdims=True) + eps)
    return x * r * gamma


def rmsnorm_backward(dy, x, gamma, eps=1e-6):
    r = 1.0 / np.sqrt(np.mean(np.square(x), axis=-1, keepdims=True) + eps)
    xhat = x * r
    lead = tuple(range(x.ndim - 1))
    dgamma = np.sum(dy * xhat, axis=lead)
    g = dy * gamma
    dx = r * (g - xhat * np.mean(g * xhat, axis=-1, keepdims=True))
    return dx, dgamma
