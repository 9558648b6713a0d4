"""LayerNorm as an fprop/bprop pair in NumPy (old Caffe2/ONNX spelling of the axis:
``begin_norm_axis``, the axes from it to the end are normalized)."""

import numpy as np


def layer_norm_fprop(x, gamma, beta, eps=1e-5, begin_norm_axis=-1):
    axis = begin_norm_axis % x.ndim
    axes = tuple(range(axis, x.ndim))
    mu = np.mean(x, axis=axes, keepdims=True)
    xmu = x - mu
    var = np.mean(xmu**2, axis=axes, keepdims=True)
    ivar = 1.0 / np.sqrt(var + eps)
    xhat = xmu * ivar
    out = gamma * xhat + beta
    return out, (xhat, ivar, gamma, axes)


def layer_norm_bprop(dout, cache):
    xhat, ivar, gamma, axes = cache
    outer = tuple(range(0, axes[0]))
    dgamma = np.sum(dout * xhat, axis=outer)
    dbeta = np.sum(dout, axis=outer)
    dxhat = dout * gamma
    n = int(np.prod([xhat.shape[a] for a in axes]))
    dx = (ivar / n) * (
        n * dxhat
        - np.sum(dxhat, axis=axes, keepdims=True)
        - xhat * np.sum(dxhat * xhat, axis=axes, keepdims=True)
    )
    return dx, dgamma, dbeta
