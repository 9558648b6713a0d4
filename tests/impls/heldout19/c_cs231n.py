"""cs231n assignment-2 style layers: `batchnorm_forward(x, gamma, beta, bn_param)` with
`bn_param["mode"]` "train"/"test", running statistics kept in bn_param (momentum 0.9 on the
old value, BIASED sample variance: the keras convention with momentum 0.9), eps 1e-5;
`batchnorm_backward(dout, cache)`, `batchnorm_backward_alt` (the simplified formula), and
`spatial_batchnorm_forward`/`spatial_batchnorm_backward` for (N, C, H, W) by reshaping to
(N*H*W, C). Correct.
"""

import numpy as np


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    _N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.ones(D, dtype=x.dtype))
    out, cache = None, None
    if mode == "train":
        sample_mean = x.mean(axis=0)
        xmu = x - sample_mean
        sample_var = (xmu**2).mean(axis=0)
        std = np.sqrt(sample_var + eps)
        x_hat = xmu / std
        out = gamma * x_hat + beta
        cache = (x_hat, gamma, xmu, std, eps)
        running_mean = momentum * running_mean + (1 - momentum) * sample_mean
        running_var = momentum * running_var + (1 - momentum) * sample_var
    elif mode == "test":
        x_hat = (x - running_mean) / np.sqrt(running_var + eps)
        out = gamma * x_hat + beta
    else:
        raise ValueError(f'Invalid forward batchnorm mode "{mode}"')
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout, cache):
    x_hat, gamma, xmu, std, _eps = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma
    ivar = 1.0 / std
    dvar = np.sum(dx_hat * xmu, axis=0) * -0.5 * ivar**3
    dmu = -np.sum(dx_hat * ivar, axis=0) + dvar * np.mean(-2.0 * xmu, axis=0)
    dx = dx_hat * ivar + dvar * 2.0 * xmu / N + dmu / N
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout, cache):
    x_hat, gamma, _xmu, std, _eps = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
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
