"""cs231n style with ``bn_params`` (plural), 2-D only, that folds eps into the variance once
(``sample_var = np.var(x, axis=0) + eps``, then divides by ``np.sqrt(sample_var)``), feeds that
eps-carrying variance into ``running_var``, and adds eps again in test mode.

WRONG (one mistake): eps stored inside the running variance and added again in eval. Training
output and gradients are right (sqrt(var + eps) in the end).
"""

# ruff: noqa: RUF059  (unpacked shapes kept as the original style writes them)

import numpy as np


def batchnorm_forward(x, gamma, beta, bn_params):
    mode = bn_params["mode"]
    eps = bn_params.get("eps", 1e-5)
    momentum = bn_params.get("momentum", 0.9)

    B, N = x.shape
    running_mean = bn_params.get("running_mean", np.zeros(N, dtype=x.dtype))
    running_var = bn_params.get("running_var", np.zeros(N, dtype=x.dtype))

    if mode == "train":
        sample_mean = np.mean(x, axis=0)
        sample_var = np.var(x, axis=0) + eps
        x_hat = (x - sample_mean) / np.sqrt(sample_var)
        output = gamma * x_hat + beta
        cache = (x_hat, gamma, sample_var)
        running_mean = momentum * running_mean + (1 - momentum) * sample_mean
        running_var = momentum * running_var + (1 - momentum) * sample_var
    elif mode == "test":
        x_hat = (x - running_mean) / np.sqrt(running_var + eps)
        output = gamma * x_hat + beta
        cache = None
    else:
        raise ValueError(f"Invalid forward batchnorm mode {mode}")

    bn_params["running_mean"] = running_mean
    bn_params["running_var"] = running_var
    return output, cache


def batchnorm_backward(dout, cache):
    x_hat, gamma, var_eps = cache
    B = dout.shape[0]
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * x_hat, axis=0)
    dx_hat = dout * gamma
    dx = (B * dx_hat - np.sum(dx_hat, axis=0) - x_hat * np.sum(dx_hat * x_hat, axis=0)) / (
        B * np.sqrt(var_eps)
    )
    return dx, dgamma, dbeta
