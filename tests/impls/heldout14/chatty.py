"""A correct functional BN that talks: it prints a 40-line banner on import and one progress
line per call to stdout (print and a raw os.write to file descriptor 1) and to stderr, about
250 bytes a call in all. talk_forward(x, gamma, beta, eps) -> (y, cache);
talk_backward(dy, cache) -> (dx, dgamma, dbeta). The arithmetic is right.
"""

import os
import sys

import numpy as np

for _i in range(40):
    print(f"[chatty-bn] init {_i:02d}: kernels=numpy  dtype-policy=follow-input  eps-default=1e-5")

_N = 0


def _log(msg):
    global _N
    _N += 1
    print(f"[chatty-bn] #{_N} {msg}")
    os.write(1, f"[chatty-bn raw] #{_N}\n".encode())
    print(f"[chatty-bn] note #{_N}: {msg[:40]}", file=sys.stderr)


def talk_forward(x, gamma, beta, eps=1e-5):
    axes = (0, *tuple(range(2, x.ndim)))
    bs = (1, -1) + (1,) * (x.ndim - 2)
    xd = np.asarray(x, np.float64)
    mu = xd.mean(axis=axes, keepdims=True)
    xc = xd - mu
    var = (xc * xc).mean(axis=axes, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = xc * rstd
    g = np.asarray(gamma, np.float64).reshape(bs)
    y = xhat * g + np.asarray(beta, np.float64).reshape(bs)
    _log(
        f"forward x{tuple(x.shape)} {x.dtype} mean[0]={float(mu.flat[0]):.4g} "
        f"var[0]={float(var.flat[0]):.4g}"
    )
    return y.astype(x.dtype), (xhat, rstd, g, axes)


def talk_backward(dy, cache):
    xhat, rstd, g, axes = cache
    d = np.asarray(dy, np.float64)
    m = d.size // d.shape[1]
    db = d.sum(axis=axes, keepdims=True)
    dg = (d * xhat).sum(axis=axes, keepdims=True)
    dx = g * rstd / m * (m * d - db - xhat * dg)
    _log(f"backward dy{tuple(dy.shape)} |dbeta|max={float(np.abs(db).max()):.4g}")
    return dx.astype(dy.dtype), dg.reshape(-1).astype(dy.dtype), db.reshape(-1).astype(dy.dtype)
