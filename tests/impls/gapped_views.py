"""A BN right on every layout but views with gaps (a sliced array: neither C- nor
F-contiguous), where its backward's dx has NaN in every other entry, as a kernel reading the
gaps' memory would return. It raises nothing: NaN is a wrong answer on that layout, never a
refusal of it."""

import numpy as np


def _axes(x):
    return (0, *range(2, x.ndim))


def _view(v, x):
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def gapped_forward(x, gamma, beta, eps):
    ax = _axes(x)
    mu, var = x.mean(axis=ax), x.var(axis=ax)
    inv = 1.0 / np.sqrt(var + eps)
    xh = (x - _view(mu, x)) * _view(inv, x)
    gaps = not (x.flags.c_contiguous or x.flags.f_contiguous)
    return _view(gamma, x) * xh + _view(beta, x), (xh, inv, gamma, gaps)


def gapped_backward(dout, cache):
    xh, inv, gamma, gaps = cache
    ax = _axes(dout)
    m = dout.size // dout.shape[1]
    db, dg = dout.sum(axis=ax), (dout * xh).sum(axis=ax)
    dx = _view(gamma * inv, dout) * (dout - _view(db / m, dout) - xh * _view(dg / m, dout))
    if gaps:
        dx = np.array(dx)
        dx.reshape(-1)[1::2] = np.nan
    return dx, dg, db
