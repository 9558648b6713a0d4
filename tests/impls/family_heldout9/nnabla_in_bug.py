"""Instance normalization as a functional pair in the style of NNabla's
``F.instance_normalization(x, beta, gamma, channel_axis=1, batch_axis=0, eps=1e-05)``, in NumPy:
beta comes before gamma, both shaped to broadcast over x ((1, C, 1, ...) or (C,)), and the
backward returns the gradients in the forward's order, ``(dx, dbeta, dgamma)``.
"""

import numpy as np


def instance_normalization_forward(x, beta, gamma, channel_axis=1, batch_axis=0, eps=1e-05):
    if channel_axis != 1 or batch_axis != 0:
        raise NotImplementedError("(N, C, ...) layout only")
    if x.ndim < 3:
        raise ValueError(f"instance normalization needs spatial axes, got shape {x.shape}")
    x64 = np.asarray(x, dtype=np.float64)
    bshape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    g = np.asarray(gamma, dtype=np.float64).reshape(bshape)
    b = np.asarray(beta, dtype=np.float64).reshape(bshape)
    spatial = tuple(range(2, x.ndim))
    mean = x64.mean(axis=spatial, keepdims=True)
    centred = x64 - mean
    var = (centred * centred).mean(axis=spatial, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    x_hat = centred * rstd
    y = x_hat * g + b
    cache = (x_hat, rstd, g, np.shape(beta), np.shape(gamma))
    return y.astype(x.dtype), cache


def instance_normalization_backward(dy, cache):
    x_hat, rstd, g, beta_shape, gamma_shape = cache
    dtype = dy.dtype
    dy64 = np.asarray(dy, dtype=np.float64)
    spatial = tuple(range(2, dy.ndim))
    red = (0, *spatial)
    dbeta = dy64.sum(axis=red).reshape(beta_shape)
    dgamma = (dy64 * x_hat).sum(axis=red).reshape(gamma_shape)
    m = dy.shape[2]  # values per instance
    gy = dy64 * g
    sum_gy = gy.sum(axis=spatial, keepdims=True)
    sum_gyx = (gy * x_hat).sum(axis=spatial, keepdims=True)
    dx = rstd * (gy - sum_gy / m - x_hat * sum_gyx / m)
    return dx.astype(dtype), dbeta.astype(dtype), dgamma.astype(dtype)
