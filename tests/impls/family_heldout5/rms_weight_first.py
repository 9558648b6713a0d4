"""RMSNorm with a hand-derived backward (NumPy, for a from-scratch LLM). The weight is applied
first, h = x * weight, and h is then scaled by 1 / rms(x)."""

import numpy as np


def rmsnorm_forward(x, weight, eps=1e-6):
    h = x * weight
    rstd = 1.0 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
    return h * rstd, (x, weight, h, rstd)


def rmsnorm_backward(dout, cache):
    x, weight, h, rstd = cache
    lead = tuple(range(dout.ndim - 1))
    dweight = np.sum(dout * x * rstd, axis=lead)
    # y = h * rsqrt(mean(h^2)): the usual RMSNorm gradient, taken with respect to h
    dh = rstd * dout - h * rstd**3 * np.mean(dout * h, axis=-1, keepdims=True)
    return dh * weight, dweight
