"""d2l-style batch normalization in NumPy (as c_d2l.py: the function returns the new moving
statistics; momentum = weight of the batch, biased moving variance, eps 1e-5). The backward
first rescales the upstream gradient by a power of two so that its largest entry lies in
[0.5, 1) ("keeps float16/float32 sums from overflowing"), works on the scaled gradient and
scales the results back; scaling by a power of two is exact.
"""

import numpy as np


def _axes(X):
    return (0, *tuple(range(2, X.ndim)))


def _shape(X):
    return (1, X.shape[1]) + (1,) * (X.ndim - 2)


def batch_norm(X, gamma, beta, moving_mean, moving_var, eps=1e-5, momentum=0.1, training=True):
    shape = _shape(X)
    g = np.reshape(gamma, shape)
    b = np.reshape(beta, shape)
    if not training:
        X_hat = (X - np.reshape(moving_mean, shape)) / np.sqrt(np.reshape(moving_var, shape) + eps)
        return (g * X_hat + b).astype(X.dtype, copy=False), moving_mean, moving_var, None
    axes = _axes(X)
    mean = X.mean(axis=axes, keepdims=True)
    var = ((X - mean) ** 2).mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    X_hat = (X - mean) * inv_std
    Y = g * X_hat + b
    new_mean = (1.0 - momentum) * moving_mean + momentum * mean.reshape(np.shape(moving_mean))
    new_var = (1.0 - momentum) * moving_var + momentum * var.reshape(np.shape(moving_var))
    cache = {"X_hat": X_hat, "gamma": g, "inv_std": inv_std, "axes": axes}
    return Y.astype(X.dtype, copy=False), new_mean, new_var, cache


def batch_norm_backward(dY, cache):
    X_hat, g, inv_std, axes = cache["X_hat"], cache["gamma"], cache["inv_std"], cache["axes"]
    with np.errstate(divide="ignore", invalid="ignore"):
        # scale dY by a power of two: exact, and no overflow in the sums below
        peak = np.max(np.abs(dY))
        s = np.exp2(np.ceil(np.log2(peak)))
        d = dY / s
        m = d.size // X_hat.shape[1]
        dbeta = d.sum(axis=axes)
        dgamma = (d * X_hat).sum(axis=axes)
        shape = g.shape
        dX = (g * inv_std / m) * (m * d - dbeta.reshape(shape) - X_hat * dgamma.reshape(shape))
        dX, dgamma, dbeta = dX * s, dgamma * s, dbeta * s
    return dX.astype(dY.dtype, copy=False), dgamma.astype(dY.dtype), dbeta.astype(dY.dtype)
