"""NNabla-flavoured functional BN on NumPy. The argument order is NNabla's:
`batch_normalization_forward(x, beta, gamma, mean, variance, axes=(1,), decay_rate=0.9,
eps=1e-5, batch_stat=True) -> y` (beta BEFORE gamma). With `batch_stat=True` it normalizes
by the batch and updates `mean` and `variance` IN PLACE (nothing but y is returned:
the caller owns those arrays, as NNabla's parameter variables); with `batch_stat=False` it
normalizes by them. The backward recomputes from the forward's inputs and returns the
gradients in the forward's input order: `batch_normalization_backward(dy, x, beta, gamma,
mean, variance, axes=(1,), eps=1e-5, batch_stat=True) -> (dx, dbeta, dgamma)`.

Running statistics: mean <- decay_rate*mean + (1-decay_rate)*batch mean, variance likewise
with the unbiased batch variance (the torch convention, momentum 0.1).

No planted mistake.
"""

import numpy as np


def _geometry(x, axes):
    (ax,) = tuple(a % x.ndim for a in axes)
    red = tuple(i for i in range(x.ndim) if i != ax)
    shp = tuple(x.shape[i] if i == ax else 1 for i in range(x.ndim))
    return red, shp


def _stats(x, red, shp):
    xd = x.astype(np.float64, copy=False)
    mu = xd.mean(axis=red, keepdims=True)
    xc = xd - mu
    var = (xc * xc).mean(axis=red, keepdims=True)
    return xd, mu, xc, var


def batch_normalization_forward(
    x, beta, gamma, mean, variance, axes=(1,), decay_rate=0.9, eps=1e-5, batch_stat=True
):
    red, shp = _geometry(x, axes)
    g = np.asarray(gamma, np.float64).reshape(shp)
    b = np.asarray(beta, np.float64).reshape(shp)
    if batch_stat:
        xd, mu, xc, var = _stats(x, red, shp)
        m = xd.size // mu.size
        mean[...] = decay_rate * mean + (1 - decay_rate) * mu.reshape(mean.shape)
        unbiased = var * (m / (m - 1)) if m > 1 else var
        variance[...] = decay_rate * variance + (1 - decay_rate) * unbiased.reshape(variance.shape)
    else:
        xc = x.astype(np.float64, copy=False) - np.asarray(mean, np.float64).reshape(shp)
        var = np.asarray(variance, np.float64).reshape(shp)
    y = g * xc / np.sqrt(var + eps) + b
    return y.astype(x.dtype, copy=False)


def batch_normalization_backward(
    dy, x, beta, gamma, mean, variance, axes=(1,), eps=1e-5, batch_stat=True
):
    red, shp = _geometry(x, axes)
    g = np.asarray(gamma, np.float64).reshape(shp)
    d = dy.astype(np.float64, copy=False)
    if batch_stat:
        _xd, _mu, xc, var = _stats(x, red, shp)
    else:
        xc = x.astype(np.float64, copy=False) - np.asarray(mean, np.float64).reshape(shp)
        var = np.asarray(variance, np.float64).reshape(shp)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = xc * rstd
    dbeta = d.sum(axis=red, keepdims=True)
    dgamma = (d * xhat).sum(axis=red, keepdims=True)
    if batch_stat:
        m = d.size // dbeta.size
        dx = g * rstd * (d - (dbeta + xhat * dgamma) / m)
    else:
        dx = g * rstd * d
    gshape = np.shape(gamma)
    return (
        dx.astype(dy.dtype, copy=False),
        dbeta.reshape(gshape).astype(dy.dtype),
        dgamma.reshape(gshape).astype(dy.dtype),
    )
