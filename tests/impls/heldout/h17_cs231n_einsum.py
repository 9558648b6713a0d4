"""An assignment-style layers module (batchnorm_forward / batchnorm_backward with a bn_param
dict, plus the spatial versions), written differently from the usual solution: one shared
normalisation helper for every layout, einsum for the reductions, and the spatial variant
done by moving the channel axis last and reusing the vanilla layer.

bn_param keys: mode ('train' | 'test'), eps, momentum, running_mean, running_var.
running = momentum * running + (1 - momentum) * batch, biased batch variance.
"""
import numpy as np


def _stats(x):
    m = x.shape[0]
    mu = np.einsum("nd->d", x) / m
    xc = x - mu
    var = np.einsum("nd,nd->d", xc, xc) / m
    return mu, xc, var


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))

    if mode == "train":
        mu, xc, var = _stats(x)
        rstd = 1.0 / np.sqrt(var + eps)
        xhat = xc * rstd
        out = np.einsum("nd,d->nd", xhat, gamma) + beta
        cache = (xhat, gamma, rstd)
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
    elif mode == "test":
        out = (x - running_mean) / np.sqrt(running_var + eps) * gamma + beta
        cache = None
    else:
        raise ValueError('Invalid forward batchnorm mode "%s"' % mode)

    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out.astype(x.dtype, copy=False), cache


def batchnorm_backward(dout, cache):
    xhat, gamma, rstd = cache
    m = dout.shape[0]
    dbeta = np.einsum("nd->d", dout)
    dgamma = np.einsum("nd,nd->d", dout, xhat)
    dx = np.einsum("d,nd->nd", gamma * rstd / m,
                   m * dout - dbeta - np.einsum("nd,d->nd", xhat, dgamma))
    return dx.astype(dout.dtype, copy=False), dgamma, dbeta


def batchnorm_backward_alt(dout, cache):
    return batchnorm_backward(dout, cache)


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    N, C, H, W = x.shape
    flat = x.transpose(0, 2, 3, 1).reshape(-1, C)
    out, cache = batchnorm_forward(flat, gamma, beta, bn_param)
    return out.reshape(N, H, W, C).transpose(0, 3, 1, 2), cache


def spatial_batchnorm_backward(dout, cache):
    N, C, H, W = dout.shape
    flat = dout.transpose(0, 2, 3, 1).reshape(-1, C)
    dx, dgamma, dbeta = batchnorm_backward(flat, cache)
    return dx.reshape(N, H, W, C).transpose(0, 3, 1, 2), dgamma, dbeta
