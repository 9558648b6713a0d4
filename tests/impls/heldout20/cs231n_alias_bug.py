"""cs231n assignment-2 style batch normalization: `batchnorm_forward(x, gamma, beta, bn_param)`
with `bn_param["mode"]` "train"/"test", momentum 0.9 on the old value, biased running
variance (as the assignment has it), eps 1e-5; `batchnorm_backward(dout, cache)` and the
spatial pair for (N, C, H, W). The running arrays are created on first use and updated IN
PLACE, to save an allocation per step.
"""

import numpy as np


def _initial(D, dtype, _made={}):  # noqa: B006 (the planted mistake: one dict for every call)
    # one pair of fresh statistics per width and dtype
    key = (D, np.dtype(dtype).str)
    if key not in _made:
        _made[key] = (np.zeros(D, dtype=dtype), np.ones(D, dtype=dtype))
    return _made[key]


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    _N, D = x.shape
    if "running_mean" not in bn_param:
        bn_param["running_mean"], bn_param["running_var"] = _initial(D, x.dtype)
    running_mean = bn_param["running_mean"]
    running_var = bn_param["running_var"]
    if mode == "train":
        sample_mean = x.mean(axis=0)
        xmu = x - sample_mean
        sample_var = (xmu**2).mean(axis=0)
        std = np.sqrt(sample_var + eps)
        x_hat = xmu / std
        out = gamma * x_hat + beta
        cache = (x_hat, gamma, std)
        running_mean *= momentum
        running_mean += (1 - momentum) * sample_mean
        running_var *= momentum
        running_var += (1 - momentum) * sample_var
    elif mode == "test":
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
        cache = None
    else:
        raise ValueError(f'Invalid forward batchnorm mode "{mode}"')
    return out, cache


def batchnorm_backward(dout, cache):
    x_hat, gamma, std = cache
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
