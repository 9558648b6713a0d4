"""cs231n style with ``bn_params`` and ``spatial_batchnorm_forward/backward`` that adds eps to the
variance "for safety" and then again inside the square root (``np.sqrt(var_eps + eps)``); the
backward uses the cached std, so it is the exact derivative of that forward.

WRONG (one mistake): eps counted twice in training (sqrt(var + 2·eps)). The running averages
use the plain batch variance (cs231n: momentum 0.9, biased) and test mode adds eps once, so
they are right. (N, D) and, through the spatial functions, (N, C, H, W).
"""

# ruff: noqa: RUF059  (unpacked shapes kept as the original style writes them)

import numpy as np


def batchnorm_forward(x, gamma, beta, bn_params):
    mode = bn_params["mode"]
    eps = bn_params.get("eps", 1e-5)
    momentum = bn_params.get("momentum", 0.9)
    N, D = x.shape
    running_mean = bn_params.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_params.get("running_var", np.zeros(D, dtype=x.dtype))

    out, cache = None, None
    if mode == "train":
        sample_mean = np.mean(x, axis=0)
        sample_var = np.var(x, axis=0)
        var_eps = sample_var + eps  # keep the variance away from zero
        std = np.sqrt(var_eps + eps)
        x_hat = (x - sample_mean) / std
        out = gamma * x_hat + beta
        cache = (x_hat, std, gamma)
        running_mean = momentum * running_mean + (1 - momentum) * sample_mean
        running_var = momentum * running_var + (1 - momentum) * sample_var
    elif mode == "test":
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
    else:
        raise ValueError(f'Invalid forward batchnorm mode "{mode}"')

    bn_params["running_mean"] = running_mean
    bn_params["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout, cache):
    x_hat, std, gamma = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx = gamma / (N * std) * (N * dout - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta


def spatial_batchnorm_forward(x, gamma, beta, bn_params):
    N, C, H, W = x.shape
    out, cache = batchnorm_forward(x.transpose(0, 2, 3, 1).reshape(-1, C), gamma, beta, bn_params)
    return out.reshape(N, H, W, C).transpose(0, 3, 1, 2), cache


def spatial_batchnorm_backward(dout, cache):
    N, C, H, W = dout.shape
    dx, dgamma, dbeta = batchnorm_backward(dout.transpose(0, 2, 3, 1).reshape(-1, C), cache)
    return dx.reshape(N, H, W, C).transpose(0, 3, 1, 2), dgamma, dbeta
