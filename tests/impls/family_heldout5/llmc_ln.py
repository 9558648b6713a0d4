"""NumPy port of a C reference LayerNorm for a (B, T, C) residual stream: the forward caches
mean and rstd, the backward follows the per-row loop of the C code (vectorised)."""

import numpy as np

EPS = 1e-5


def layernorm_forward(inp, weight, bias):
    mean = inp.mean(axis=-1, keepdims=True)
    xshift = inp - mean
    var = (xshift * xshift).mean(axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt(var + EPS)
    norm = xshift * rstd
    out = norm * weight + bias
    return out, (inp, weight, mean, rstd)


def layernorm_backward(dout, cache):
    inp, weight, mean, rstd = cache
    lead = tuple(range(dout.ndim - 1))
    norm = (inp - mean) * rstd
    dbias = dout.sum(axis=lead)
    dweight = (norm * dout).sum(axis=lead)
    dnorm = dout * weight
    # the two reductions of the C loop: mean(dnorm) and mean(dnorm * norm)
    dnorm_norm_mean = (dnorm * norm).mean(axis=-1, keepdims=True)
    dinp = (dnorm - norm * dnorm_norm_mean) * rstd
    return dinp, dweight, dbias
