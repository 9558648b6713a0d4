"""cs231n assignment-2 style batch normalization: `batchnorm_forward(x, gamma, beta, bn_param)`
with `bn_param["mode"]` "train"/"test", momentum 0.9 on the old value, biased running
variance, eps 1e-5; the spatial pair for (N, C, H, W). The backward also supports a forward
made in "test" mode (frozen statistics: dx = gamma * dout / sqrt(running_var + eps)); it
keeps the bn_param dict in the cache and looks there for the mode and eps.
"""

import numpy as np


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    _N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.ones(D, dtype=x.dtype))
    if mode == "train":
        mean = x.mean(axis=0)
        xmu = x - mean
        var = (xmu**2).mean(axis=0)
        std = np.sqrt(var + eps)
        x_hat = xmu / std
        running_mean = momentum * running_mean + (1 - momentum) * mean
        running_var = momentum * running_var + (1 - momentum) * var
    elif mode == "test":
        std = np.sqrt(running_var + eps)
        x_hat = (x - running_mean) / std
    else:
        raise ValueError(f'Invalid forward batchnorm mode "{mode}"')
    out = gamma * x_hat + beta
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    cache = (x_hat, gamma, std, bn_param)
    return out, cache


def batchnorm_backward(dout, cache):
    x_hat, gamma, std, bn_param = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    if bn_param["mode"] == "test":
        dx = gamma * dout / std
    else:
        dx = (gamma / (N * std)) * (N * dout - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    N, C, H, W = x.shape
    x2 = x.transpose(0, 2, 3, 1).reshape(-1, C)
    out2, cache = batchnorm_forward(x2, gamma, beta, bn_param)
    return out2.reshape(N, H, W, C).transpose(0, 3, 1, 2), cache


def spatial_batchnorm_backward(dout, cache):
    N, C, H, W = dout.shape
    d2 = dout.transpose(0, 2, 3, 1).reshape(-1, C)
    dx2, dgamma, dbeta = batchnorm_backward(d2, cache)
    return dx2.reshape(N, H, W, C).transpose(0, 3, 1, 2), dgamma, dbeta
