"""Family targets wrong only where a kernel breaks: past 4096 values per set, on Fortran-ordered
input, past 8 sets (tiling). Each is exact elsewhere: only verify's kernel cases
(``FAMILY_KERNEL_CASES``) reach the inputs that expose them. ``layernorm_strided`` is correct:
a float32 RMS/Layer norm whose sums run over strided memory (NumPy's naive summation) stays
within the budgets."""

import numpy as np

BLOCK = 4096


def _backward(dout, cache):
    xh, gamma, inv = cache
    d = dout * gamma
    dx = inv * (d - d.mean(axis=1, keepdims=True) - xh * (d * xh).mean(axis=1, keepdims=True))
    return dx, (dout * xh).sum(axis=0), dout.sum(axis=0)


def _finish(x, mu, gamma, beta, eps):
    var = ((x - mu) ** 2).mean(axis=1, keepdims=True)
    inv = 1 / np.sqrt(var + eps)
    xh = (x - mu) * inv
    return gamma * xh + beta, (xh, gamma, inv)


# -- a blocked mean that drops the values past the first block --------------------------------


def layernorm_blocked_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mu = x[:, :BLOCK].sum(axis=1, keepdims=True) / x.shape[1]
    return _finish(x, mu, gamma, beta, eps)


def layernorm_blocked_backward(dout, cache):
    return _backward(dout, cache)


# -- a mean read from memory as if x were C-ordered -----------------------------------------


def layernorm_memory_order_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    flat = np.ravel(x, order="K")  # memory order: rows only when x is C-ordered
    mu = flat.reshape(x.shape).mean(axis=1, keepdims=True)
    return _finish(x, mu, gamma, beta, eps)


def layernorm_memory_order_backward(dout, cache):
    return _backward(dout, cache)


# -- rows in tiles of 8, the last partial tile given the first row's statistics --------------


def layernorm_tiled_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mu = x.mean(axis=1, keepdims=True)
    n = x.shape[0]
    if n > 8 and n % 8:
        mu = mu.copy()
        mu[n - n % 8 :] = mu[0]
    return _finish(x, mu, gamma, beta, eps)


def layernorm_tiled_backward(dout, cache):
    return _backward(dout, cache)


# -- correct: float32 sums over strided memory ----------------------------------------------


def layernorm_strided_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mu = x.mean(axis=1, keepdims=True)
    return _finish(x, mu, gamma, beta, eps)


def layernorm_strided_backward(dout, cache):
    return _backward(dout, cache)


# -- a group norm whose "wide" path (8 groups or more) takes each group's mean from its first
#    channel only: right for the 2 or 3 groups of the probes --------------------------------


def spatial_groupnorm_wide_forward(x, gamma, beta, G, gn_param):
    eps = gn_param.get("eps", 1e-5)
    n, c = x.shape[:2]
    xg = x.reshape(n, G, -1)
    mu = xg.mean(axis=2, keepdims=True)
    if G >= 8:
        first = x.reshape(n, G, c // G, -1)[:, :, 0]
        mu = first.mean(axis=2, keepdims=True)
    inv = 1 / np.sqrt(((xg - mu) ** 2).mean(axis=2, keepdims=True) + eps)
    xh = ((xg - mu) * inv).reshape(x.shape)
    return gamma * xh + beta, (xh, gamma, inv, G)


def spatial_groupnorm_wide_backward(dout, cache):
    xh, gamma, inv, G = cache
    n = dout.shape[0]
    axes = (0, *range(2, dout.ndim))
    d = (dout * gamma).reshape(n, G, -1)
    h = xh.reshape(n, G, -1)
    dx = inv * (d - d.mean(axis=2, keepdims=True) - h * (d * h).mean(axis=2, keepdims=True))
    return (
        dx.reshape(dout.shape),
        (dout * xh).sum(axis=axes, keepdims=True),
        dout.sum(axis=axes, keepdims=True),
    )
