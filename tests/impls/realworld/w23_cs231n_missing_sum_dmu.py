"""cs231n style with ``bn_param`` (2-D only) whose backward transcribes the paper's
back-propagation equations one by one, taking the dJ/dmu_B equation as printed in the source
document (eq. 18, without the sum over i), so dmu is a per-element array.

WRONG (one mistake): dJ/dmu_B without the sum over i. Forward, dgamma, dbeta, running averages
(cs231n: momentum 0.9, biased) and test mode are right.
"""

# ruff: noqa: RUF059  (unpacked shapes kept as the original style writes them)

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
        mu_B = np.mean(x, axis=0)
        var_B = np.mean((x - mu_B) ** 2, axis=0)
        x_hat = (x - mu_B) / np.sqrt(var_B + eps)
        out = gamma * x_hat + beta
        cache = (x, x_hat, mu_B, var_B, gamma, eps)
        running_mean = momentum * running_mean + (1 - momentum) * mu_B
        running_var = momentum * running_var + (1 - momentum) * var_B
    elif mode == "test":
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
    else:
        raise ValueError(f'Invalid forward batchnorm mode "{mode}"')

    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout, cache):
    x, x_hat, mu_B, var_B, gamma, eps = cache
    m = x.shape[0]
    dl_dxhat = dout * gamma
    dl_dvar = np.sum(dl_dxhat * (x - mu_B), axis=0) * -0.5 * (var_B + eps) ** -1.5
    dl_dmu = (
        dl_dxhat * -1.0 / np.sqrt(var_B + eps) + dl_dvar * np.sum(-2.0 * (x - mu_B), axis=0) / m
    )
    dx = dl_dxhat / np.sqrt(var_B + eps) + dl_dvar * 2.0 * (x - mu_B) / m + dl_dmu / m
    dgamma = np.sum(dout * x_hat, axis=0)
    dbeta = np.sum(dout, axis=0)
    return dx, dgamma, dbeta
