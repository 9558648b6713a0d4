"""cs231n spatial BN as several public solutions write it: x.reshape(N*H*W, C) with no transpose
to channels-last first, so each column mixes channels and positions (2-D is right)."""

# ruff: noqa: UP031, F841 (kept as the public code writes it)

import numpy as np


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)

    N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))

    out, cache = None, None
    if mode == "train":
        sample_mean = x.mean(axis=0)

        running_mean = momentum * running_mean + (1 - momentum) * sample_mean

        sample_var = x.var(axis=0)
        running_var = momentum * running_var + (1 - momentum) * sample_var

        x_norm = (x - sample_mean) / np.sqrt(sample_var + eps)
        out = gamma * x_norm + beta

        cache = {}
        cache["gamma"] = gamma
        cache["beta"] = beta
        cache["x_norm"] = x_norm
        cache["x"] = x
        cache["sample_mean"] = sample_mean
        cache["sample_var"] = sample_var
        cache["eps"] = eps
        cache["N"], cache["D"] = N, D
    elif mode == "test":
        x_norm = (x - running_mean) / np.sqrt(running_var + eps)
        out = gamma * x_norm + beta
    else:
        raise ValueError('Invalid forward batchnorm mode "%s"' % mode)

    # Store the updated running means back into bn_param
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var

    return out, cache


def batchnorm_backward(dout, cache):
    dgamma = np.sum(dout * cache["x_norm"], axis=0)
    dbeta = np.sum(dout, axis=0)

    x = cache["x"]
    mu = cache["sample_mean"]
    sigma = cache["sample_var"]
    eps = cache["eps"]
    gamma = cache["gamma"]
    beta = cache["beta"]
    N = cache["N"]

    b = x - mu
    c = sigma + eps
    d = np.sqrt(c)
    e = 1 / d
    f = b * e
    g = gamma * f
    y = g + beta

    dx = (
        -(2 / N)
        * (x - mu)
        * np.sum(dout * gamma * b, axis=0)
        * (1 / d**2)
        * (1 / 2)
        * (1 / np.sqrt(c))
        - (1 / N) * np.sum(dout * gamma * e, axis=0)
        + dout * gamma * e
    )

    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout, cache):
    dgamma = np.sum(dout * cache["x_norm"], axis=0)
    dbeta = np.sum(dout, axis=0)

    v = cache["sample_var"] + cache["eps"]

    dx = cache["gamma"] * (
        dout / v ** (1 / 2)
        - (1 / (cache["N"] * v ** (3 / 2)))
        * (
            np.sum(dout * v, axis=0)
            + (cache["x"] - cache["sample_mean"])
            * np.sum(dout * (cache["x"] - cache["sample_mean"]), axis=0)
        )
    )

    return dx, dgamma, dbeta


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    out, cache = None, None
    N, C, H, W = x.shape
    x = x.reshape(N * H * W, C)
    out, cache = batchnorm_forward(x, gamma, beta, bn_param)

    out = out.reshape(N, C, H, W)

    return out, cache


def spatial_batchnorm_backward(dout, cache):
    dx, dgamma, dbeta = None, None, None

    N, C, H, W = dout.shape
    dout = dout.reshape(N * H * W, C)
    dx, dgamma, dbeta = batchnorm_backward_alt(dout, cache)

    dx = dx.reshape(N, C, H, W)

    return dx, dgamma, dbeta
