"""d2l-style batch normalization in NumPy: one function receives the moving statistics and
returns the output together with the NEW moving statistics (the caller keeps the state), as
the "Dive into Deep Learning" chapter writes it: `momentum` is the weight of the batch
(moving = (1 - momentum) * moving + momentum * batch), the moving variance is the biased batch
variance, eps 1e-5. (N, C) or (N, C, ...) with channels on axis 1. Prediction mode when
`training` is False. A hand-derived backward takes the cache. Correct.
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
    m = dY.size // X_hat.shape[1]
    dbeta = dY.sum(axis=axes)
    dgamma = (dY * X_hat).sum(axis=axes)
    shape = g.shape
    dX = (g * inv_std / m) * (m * dY - dbeta.reshape(shape) - X_hat * dgamma.reshape(shape))
    return dX.astype(dY.dtype, copy=False), dgamma.astype(dY.dtype), dbeta.astype(dY.dtype)
