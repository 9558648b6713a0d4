"""RMSNorm over the last axis, LLaMA style, as a function pair: ``rms_norm_forward(x,
weight, eps=1e-6)`` -> (y, cache), ``rms_norm_backward(dy, cache)`` -> (dx, dweight).

PLANTED MISTAKE: eps is added outside the square root, y = x / (sqrt(mean(x^2)) + eps) *
weight, instead of x / sqrt(mean(x^2) + eps) * weight. The backward is the exact gradient of
that forward.
"""

import numpy as np


def rms_norm_forward(x, weight, eps=1e-6):
    rms = np.sqrt(np.mean(x * x, axis=-1, keepdims=True))
    denom = rms + eps
    y = x / denom * weight
    return y, (x, rms, denom, weight)


def rms_norm_backward(dy, cache):
    x, rms, denom, weight = cache
    d = x.shape[-1]
    dweight = (dy * x / denom).reshape(-1, d).sum(axis=0)
    g = dy * weight
    dx = g / denom - x * (g * x).sum(axis=-1, keepdims=True) / (d * rms * denom**2)
    return dx, dweight
