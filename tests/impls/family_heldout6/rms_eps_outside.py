"""RMSNorm with eps added outside the square root, cs231n-style function pair.

``rmsnorm_forward(x, gamma, eps)`` divides by ``sqrt(mean(x**2)) + eps`` (the "std + eps"
habit carried over from hand-written normalizers) instead of ``sqrt(mean(x**2) + eps)``;
``rmsnorm_backward(dout, cache)`` is the exact gradient of that forward, so the pair is
self-consistent. Normalization over the last axis, float64 arithmetic.

PLANTED BUG (one): eps outside the sqrt in the forward (the backward follows it).
"""

import numpy as np


def rmsnorm_forward(x, gamma, eps=1e-6):
    xd = x.astype(np.float64)
    rms = np.sqrt(np.mean(xd * xd, axis=-1, keepdims=True))
    denom = rms + eps
    x_norm = xd / denom
    out = x_norm * gamma
    return out.astype(x.dtype), (xd, rms, denom, x_norm, gamma, x.dtype)


def rmsnorm_backward(dout, cache):
    xd, rms, denom, x_norm, gamma, dtype = cache
    d = dout.astype(np.float64)
    n = xd.shape[-1]
    lead = tuple(range(d.ndim - 1))
    dgamma = np.sum(d * x_norm, axis=lead)
    g = d * gamma
    dx = g / denom - xd * np.sum(g * xd, axis=-1, keepdims=True) / (n * rms * denom**2)
    return dx.astype(dtype), dgamma.astype(dtype)
