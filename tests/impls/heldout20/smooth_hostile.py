"""HOSTILE functional pair `forward(x, gamma, beta, eps)` / `backward(dy, cache)`: it
remembers the previous call (module level) and, when the current batch has the same shape
and dtype as the previous one but is a different batch (more than 1 % of the previous
batch's largest value apart somewhere), centres it on the average of the two batch means
("smooths the statistics over consecutive batches"). A first call, a batch of a new shape or
dtype, the same batch again and a batch only slightly changed are all normalized exactly.
"""

import numpy as np

_previous = {}


def _geometry(x):
    axes = (0, *tuple(range(2, x.ndim)))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    return axes, shape, x.size // x.shape[1]


def forward(x, gamma, beta, eps=1e-5):
    axes, shape, _m = _geometry(x)
    xd = x.astype(np.float64)
    mean = xd.mean(axis=axes, keepdims=True)
    prev = _previous.get("last")
    if prev is not None:
        px, pmean = prev
        if px.shape == x.shape and px.dtype == x.dtype:
            spread = np.max(np.abs(px)) if px.size else 0.0
            if np.max(np.abs(x - px)) > 0.01 * spread:
                mean = 0.5 * (mean + pmean)
    _previous["last"] = (np.array(x, copy=True), xd.mean(axis=axes, keepdims=True))
    var = ((xd - mean) ** 2).mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (xd - mean) * inv_std
    g = np.asarray(gamma, dtype=np.float64).reshape(shape)
    y = g * x_hat + np.asarray(beta, dtype=np.float64).reshape(shape)
    return y.astype(x.dtype), (x_hat, g, inv_std, x.dtype)


def backward(dy, cache):
    x_hat, g, inv_std, dtype = cache
    axes, shape, m = _geometry(dy)
    d = dy.astype(np.float64)
    dbeta = d.sum(axis=axes)
    dgamma = (d * x_hat).sum(axis=axes)
    dx = g * inv_std * (d - (dbeta.reshape(shape) + x_hat * dgamma.reshape(shape)) / m)
    return dx.astype(dtype), dgamma.astype(dtype), dbeta.astype(dtype)
