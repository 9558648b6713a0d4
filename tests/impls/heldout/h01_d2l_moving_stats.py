"""Batch normalization the way a textbook chapter writes it.

One function does the whole job: it receives the moving statistics, and hands back the
output together with the *updated* moving statistics, so the caller keeps the state.
`momentum` is the weight of the old value (0.9 keeps 90 % of the history).  The backward
pass is derived by hand from the cache the forward returns.

Inputs are (N, C) for fully connected layers or (N, C, H, W) for convolutions.
"""
import numpy as np


def _bcast_shape(X):
    return (1, X.shape[1]) + (1,) * (X.ndim - 2)


def _reduce_axes(X):
    return (0,) + tuple(range(2, X.ndim))


def batch_norm(X, gamma, beta, moving_mean, moving_var, eps=1e-5, momentum=0.9,
               is_training=True):
    """Returns (Y, new_moving_mean, new_moving_var, cache); cache is None in prediction."""
    assert X.ndim in (2, 3, 4, 5), "expects (N, C) or (N, C, spatial...)"
    shape = _bcast_shape(X)
    g = np.reshape(gamma, shape)
    b = np.reshape(beta, shape)
    if not is_training:
        # prediction: use the moving averages
        X_hat = (X - np.reshape(moving_mean, shape)) / np.sqrt(np.reshape(moving_var, shape) + eps)
        return (g * X_hat + b).astype(X.dtype, copy=False), moving_mean, moving_var, None

    axes = _reduce_axes(X)
    mean = X.mean(axis=axes, keepdims=True)
    var = ((X - mean) ** 2).mean(axis=axes, keepdims=True)
    X_hat = (X - mean) / np.sqrt(var + eps)
    # exponential moving average, momentum is the share of the past
    new_mean = momentum * moving_mean + (1.0 - momentum) * mean.reshape(moving_mean.shape)
    new_var = momentum * moving_var + (1.0 - momentum) * var.reshape(moving_var.shape)
    Y = g * X_hat + b
    cache = {"X_hat": X_hat, "gamma": g, "inv_std": 1.0 / np.sqrt(var + eps), "axes": axes}
    return Y.astype(X.dtype, copy=False), new_mean, new_var, cache


def batch_norm_backward(dY, cache):
    """Gradients of batch_norm in training mode: (dX, dgamma, dbeta)."""
    X_hat, g, inv_std, axes = cache["X_hat"], cache["gamma"], cache["inv_std"], cache["axes"]
    m = dY.size // X_hat.shape[1]
    dbeta = dY.sum(axis=axes)
    dgamma = (dY * X_hat).sum(axis=axes)
    dX_hat = dY * g
    # chain rule through the mean and the variance, collapsed
    dX = (inv_std / m) * (m * dX_hat
                          - dX_hat.sum(axis=axes, keepdims=True)
                          - X_hat * (dX_hat * X_hat).sum(axis=axes, keepdims=True))
    return dX.astype(dY.dtype, copy=False), dgamma, dbeta
