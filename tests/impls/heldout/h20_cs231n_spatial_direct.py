"""Assignment-style layers: batchnorm_forward / batchnorm_backward for (N, D) with a
bn_param dict, and spatial_batchnorm_forward / spatial_batchnorm_backward for (N, C, H, W)
written directly on the 4-D array instead of reshaping.
"""
import numpy as np


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))
    cache = None
    if mode == "train":
        mu = x.mean(axis=0)
        var = x.var(axis=0)
        std = np.sqrt(var + eps)
        xhat = (x - mu) / std
        out = gamma * xhat + beta
        cache = (xhat, gamma, std)
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
    elif mode == "test":
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
    else:
        raise ValueError('Invalid forward batchnorm mode "%s"' % mode)
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out.astype(x.dtype, copy=False), cache


def batchnorm_backward(dout, cache):
    xhat, gamma, std = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    dx = (N * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0)) / (N * std)
    return dx.astype(dout.dtype, copy=False), dgamma, dbeta


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    C = x.shape[1]
    g = gamma.reshape(1, C, 1, 1)
    b = beta.reshape(1, C, 1, 1)
    running_mean = bn_param.get("running_mean", np.zeros(C, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(C, dtype=x.dtype))
    cache = None
    if mode == "train":
        mu = x.mean(axis=0, keepdims=True)          # (1, C, H, W)
        var = x.var(axis=0, keepdims=True)
        std = np.sqrt(var + eps)
        xhat = (x - mu) / std
        out = g * xhat + b
        cache = (xhat, g, std)
        running_mean = momentum * running_mean + (1 - momentum) * mu.mean(axis=(0, 2, 3))
        running_var = momentum * running_var + (1 - momentum) * var.mean(axis=(0, 2, 3))
    elif mode == "test":
        out = g * (x - running_mean.reshape(1, C, 1, 1)) / np.sqrt(running_var.reshape(1, C, 1, 1) + eps) + b
    else:
        raise ValueError('Invalid forward batchnorm mode "%s"' % mode)
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out.astype(x.dtype, copy=False), cache


def spatial_batchnorm_backward(dout, cache):
    xhat, g, std = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=(0, 2, 3))
    dgamma = (dout * xhat).sum(axis=(0, 2, 3))
    dxhat = dout * g
    dx = (N * dxhat - dxhat.sum(axis=0, keepdims=True)
          - xhat * (dxhat * xhat).sum(axis=0, keepdims=True)) / (N * std)
    return dx.astype(dout.dtype, copy=False), dgamma, dbeta
