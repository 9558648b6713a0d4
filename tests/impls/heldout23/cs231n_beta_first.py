"""cs231n assignment style: ``batchnorm_forward(x, gamma, beta, bn_param)`` and
``batchnorm_backward(dout, cache)`` for (N, D) input.

The assignment's contract (its docstring and the solver's ``dx, dgamma, dbeta =
batchnorm_backward(dout, cache)``) is ``(dx, dgamma, dbeta)``.

WRONG (one mistake): the backward returns ``dx, dbeta, dgamma``: the caller receives Σdy as
dgamma and Σdy·x_hat as dbeta. The values themselves are right. Running averages as the
assignment's (momentum 0.9 on the old value, biased variance), test mode right.
"""

import numpy as np


def batchnorm_forward(x, gamma, beta, bn_param):
    if x.ndim != 2:
        raise ValueError("batchnorm_forward expects 2D input of shape (N, D)")
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    _n, d = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(d, dtype=np.float64))
    running_var = bn_param.get("running_var", np.ones(d, dtype=np.float64))

    xf = x.astype(np.float64)
    g = np.asarray(gamma, dtype=np.float64)
    b = np.asarray(beta, dtype=np.float64)
    if mode == "train":
        sample_mean = xf.mean(axis=0)
        xmu = xf - sample_mean
        sample_var = np.mean(xmu**2, axis=0)
        ivar = 1.0 / np.sqrt(sample_var + eps)
        xhat = xmu * ivar
        out = g * xhat + b
        cache = (xhat, ivar, g, x.dtype)
        running_mean = momentum * running_mean + (1 - momentum) * sample_mean
        running_var = momentum * running_var + (1 - momentum) * sample_var
    elif mode == "test":
        xhat = (xf - running_mean) / np.sqrt(running_var + eps)
        out = g * xhat + b
        cache = None
    else:
        raise ValueError(f'Invalid forward batchnorm mode "{mode}"')

    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out.astype(x.dtype), cache


def batchnorm_backward(dout, cache):
    xhat, ivar, gamma, dtype = cache
    dout = dout.astype(np.float64)
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dx = (gamma * ivar / n) * (n * dout - dbeta - xhat * dgamma)
    return dx.astype(dtype), dbeta.astype(dtype), dgamma.astype(dtype)
