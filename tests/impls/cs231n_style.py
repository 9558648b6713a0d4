"""A correct cs231n-style BN: ``batchnorm_forward(x, gamma, beta, bn_param)``.

Running statistics as in the cs231n assignment: keras-like, momentum 0.9, biased variance.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def batchnorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, bn_param: dict[str, Any]
) -> Any:
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    d = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(d, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(d, dtype=x.dtype))
    cache = None
    if mode == "train":
        mu = x.mean(axis=0)
        var = x.var(axis=0)
        x_hat = (x - mu) / np.sqrt(var + eps)
        out = gamma * x_hat + beta
        cache = (x_hat, gamma, np.sqrt(var + eps))
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
    else:
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout: np.ndarray, cache: Any) -> Any:
    x_hat, gamma, std = cache
    m = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx = gamma / (m * std) * (m * dout - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta
