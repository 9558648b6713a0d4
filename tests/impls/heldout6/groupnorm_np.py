"""GroupNorm over (N, C, *spatial), G passed as an argument; per-channel affine of shape (C,)."""

import numpy as np


def groupnorm_forward(x, gamma, beta, G, eps=1e-5):
    N, C = x.shape[:2]
    if C % G:
        raise ValueError(f"C={C} is not divisible by G={G}")
    xg = x.astype(np.float64).reshape(N, G, -1)  # each group's channels and positions together
    mu = xg.mean(axis=2, keepdims=True)
    xc = xg - mu
    var = (xc**2).mean(axis=2, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = (xc * rstd).reshape(x.shape)
    cshape = (1, C) + (1,) * (x.ndim - 2)
    out = gamma.reshape(cshape) * xhat + beta.reshape(cshape)
    return out.astype(x.dtype), {"xhat": xhat, "rstd": rstd, "gamma": gamma, "G": G, "dt": x.dtype}


def groupnorm_backward(dout, cache):
    xhat, rstd, gamma, G, dt = (cache[k] for k in ("xhat", "rstd", "gamma", "G", "dt"))
    N, C = dout.shape[:2]
    d = dout.astype(np.float64)
    red = (0, *range(2, d.ndim))
    dbeta = d.sum(axis=red)
    dgamma = (d * xhat).sum(axis=red)
    cshape = (1, C) + (1,) * (d.ndim - 2)
    dxhat = (d * gamma.astype(np.float64).reshape(cshape)).reshape(N, G, -1)
    xh = xhat.reshape(N, G, -1)
    m = xh.shape[2]
    dx = (
        rstd
        / m
        * (
            m * dxhat
            - dxhat.sum(axis=2, keepdims=True)
            - xh * (dxhat * xh).sum(axis=2, keepdims=True)
        )
    )
    return dx.reshape(dout.shape).astype(dt), dgamma.astype(gamma.dtype), dbeta.astype(gamma.dtype)
