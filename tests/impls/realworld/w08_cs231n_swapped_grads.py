"""cs231n style with the fourth parameter named ``param`` (2-D only, compact backward), whose
backward returns its gradients in the wrong order, ``return dx, dbeta, dgamma``.

WRONG (one mistake): dgamma and dbeta swapped in the returned tuple. Forward, dx, running
averages (cs231n: momentum 0.9, biased) and test mode are right.
"""

# ruff: noqa: RUF059  (unpacked shapes kept as the original style writes them)

import numpy as np


def batchnorm_forward(x, gamma, beta, param):
    mode = param["mode"]
    eps = param.get("eps", 1e-5)
    momentum = param.get("momentum", 0.9)
    N, D = x.shape
    running_mean = param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = param.get("running_var", np.zeros(D, dtype=x.dtype))

    cache = None
    if mode == "train":
        mean = x.mean(axis=0)
        var = x.var(axis=0)
        std = np.sqrt(var + eps)
        z = (x - mean) / std
        out = gamma * z + beta
        cache = (z, std, gamma)
        running_mean = momentum * running_mean + (1 - momentum) * mean
        running_var = momentum * running_var + (1 - momentum) * var
    elif mode == "test":
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
    else:
        raise ValueError(mode)

    param["running_mean"] = running_mean
    param["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout, cache):
    z, std, gamma = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(dout * z, axis=0)
    dx = gamma / (N * std) * (N * dout - dbeta - z * dgamma)
    return dx, dbeta, dgamma
