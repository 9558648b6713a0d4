"""cs231n style, 2-D only, with the fourth parameter called ``config`` (as in the assignment's
``optim.py`` helpers) and a backward written from the paper's equations (dvar, then dmu, then dx).

Correct. Running averages: running = momentum*running + (1-momentum)*sample, biased variance,
momentum 0.9. No spatial functions: only (N, D) input.
"""

# ruff: noqa: RUF059  (unpacked shapes kept as the original style writes them)

import numpy as np


def batchnorm_forward(x, gamma, beta, config):
    mode = config["mode"]
    eps = config.get("eps", 1e-5)
    momentum = config.setdefault("momentum", 0.9)

    N, D = x.shape
    running_mean = config.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = config.get("running_var", np.zeros(D, dtype=x.dtype))

    if mode == "train":
        mu = x.mean(axis=0)
        var = x.var(axis=0)
        x_norm = (x - mu) / np.sqrt(var + eps)
        out = gamma * x_norm + beta
        cache = (x, mu, var, gamma, eps)
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
    elif mode == "test":
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
        cache = None
    else:
        raise ValueError(f"unknown mode {mode!r}")

    config["running_mean"] = running_mean
    config["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout, cache):
    x, mu, var, gamma, eps = cache
    m = x.shape[0]
    x_mu = x - mu
    std_inv = 1.0 / np.sqrt(var + eps)

    dx_norm = dout * gamma
    dvar = np.sum(dx_norm * x_mu, axis=0) * -0.5 * std_inv**3
    dmu = np.sum(-dx_norm * std_inv, axis=0) + dvar * np.mean(-2.0 * x_mu, axis=0)

    dx = dx_norm * std_inv + dvar * 2.0 * x_mu / m + dmu / m
    dgamma = np.sum(dout * x_mu * std_inv, axis=0)
    dbeta = np.sum(dout, axis=0)
    return dx, dgamma, dbeta
