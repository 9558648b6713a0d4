"""Channels-last BN function pair written with einsum.  CORRECT (for channels-last input).

Style: TensorFlow-from-scratch code (NHWC, channels on the last axis, (N, C) for dense
layers): reductions are einsums over every leading axis ("nhwc->c", "nc->c"), the variance
two-pass, and the backward in the compact form
dx = gamma * rstd / M * (M*dy - sum(dy) - x_hat * sum(dy * x_hat)).
Channels-last only, so it is verified with --axis -1.

    bncheck verify nhwc_einsum.py --axis -1
"""

import numpy as np


def _lead(x):
    return "nhwd"[: x.ndim - 1] + "c"


def nhwc_forward(x, gamma, beta, eps=1e-5):
    M = x.size // x.shape[-1]
    s = _lead(x)
    mean = np.einsum(f"{s}->c", x) / M
    xc = x - mean
    var = np.einsum(f"{s},{s}->c", xc, xc) / M
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = xc * rstd
    return xhat * gamma + beta, (xhat, rstd, gamma, M)


def nhwc_backward(dy, cache):
    xhat, rstd, gamma, M = cache
    s = _lead(dy)
    dbeta = np.einsum(f"{s}->c", dy)
    dgamma = np.einsum(f"{s},{s}->c", dy, xhat)
    dx = (gamma * rstd / M) * (M * dy - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta
