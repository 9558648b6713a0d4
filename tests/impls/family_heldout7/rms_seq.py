"""RMSNorm over the feature (last) axis, NumPy pair, with separate code paths for
(tokens, dim), (batch, seq, dim) and anything else."""

import numpy as np


def rmsnorm_forward(x, gamma, eps=1e-6):
    if x.ndim == 2:
        ms = np.mean(x * x, axis=1, keepdims=True)
    elif x.ndim == 3:
        ms = np.mean(x * x, axis=1, keepdims=True)
    else:
        flat = x.reshape(-1, x.shape[-1])
        ms = np.mean(flat * flat, axis=1, keepdims=True).reshape((*x.shape[:-1], 1))
    rrms = 1.0 / np.sqrt(ms + eps)
    xn = x * rrms
    return xn * gamma, (xn, rrms, gamma)


def rmsnorm_backward(dout, cache):
    xn, rrms, gamma = cache
    dgamma = (dout * xn).reshape(-1, xn.shape[-1]).sum(axis=0)
    g = dout * gamma
    dx = rrms * (g - xn * np.mean(g * xn, axis=-1, keepdims=True))
    return dx, dgamma
