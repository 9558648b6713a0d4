"""cs231n assignment style with the spatial (convolutional) pair as well:
``batchnorm_forward/backward`` for (N, D) and ``spatial_batchnorm_forward(x, gamma, beta,
bn_param)`` / ``spatial_batchnorm_backward(dout, cache)`` for (N, C, H, W), the spatial pair
reshaping to (N*H*W, C) and calling the vanilla one. The assignment's contract for both
backwards is ``(dx, dgamma, dbeta)``.

WRONG (one mistake, in one place): ``spatial_batchnorm_backward`` unpacks the vanilla
backward correctly but returns ``dx, dbeta, dgamma``. The vanilla pair is right; running
averages (momentum 0.9 on the old value, biased variance) and test mode are right.
"""

import numpy as np


def batchnorm_forward(x, gamma, beta, bn_param):
    if x.ndim != 2:
        raise ValueError("batchnorm_forward expects 2D input (N, D); use spatial_batchnorm_forward")
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    _N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D))
    running_var = bn_param.get("running_var", np.ones(D))
    x64 = x.astype(np.float64)
    cache = None
    if mode == "train":
        mu = x64.mean(axis=0)
        var = x64.var(axis=0)
        std = np.sqrt(var + eps)
        z = (x64 - mu) / std
        out = gamma * z + beta
        cache = {"z": z, "std": std, "gamma": np.asarray(gamma, np.float64), "dtype": x.dtype}
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
    elif mode == "test":
        out = gamma * (x64 - running_mean) / np.sqrt(running_var + eps) + beta
    else:
        raise ValueError(mode)
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out.astype(x.dtype), cache


def batchnorm_backward(dout, cache):
    z, std, gamma, dtype = cache["z"], cache["std"], cache["gamma"], cache["dtype"]
    g = dout.astype(np.float64)
    N = g.shape[0]
    dbeta = g.sum(axis=0)
    dgamma = (g * z).sum(axis=0)
    dz = g * gamma
    dx = (N * dz - dz.sum(axis=0) - z * (dz * z).sum(axis=0)) / (N * std)
    return dx.astype(dtype), dgamma.astype(dtype), dbeta.astype(dtype)


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    N, C, H, W = x.shape
    flat = x.transpose(0, 2, 3, 1).reshape(-1, C)
    out, cache = batchnorm_forward(flat, gamma, beta, bn_param)
    out = out.reshape(N, H, W, C).transpose(0, 3, 1, 2)
    return out, cache


def spatial_batchnorm_backward(dout, cache):
    N, C, H, W = dout.shape
    flat = dout.transpose(0, 2, 3, 1).reshape(-1, C)
    dx, dgamma, dbeta = batchnorm_backward(flat, cache)
    dx = dx.reshape(N, H, W, C).transpose(0, 3, 1, 2)
    return dx, dbeta, dgamma
