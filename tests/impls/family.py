"""Planted Layer, Group and RMS normalization targets for ``bncheck verify`` (issue 23): correct
ones in cs231n's forms, a hand-written layer, and wrong ones with the mistakes the family's
diagnosis names. ``DIAGNOSES``: target -> the mistake ids verify must name (empty: it passes).
"""

import numpy as np


def _ln_stats(x, axis):
    mu = x.mean(axis=axis, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axis, keepdims=True)
    return mu, var


def _ln_forward(x, gamma, beta, eps, axis=-1, ddof=0, eps_outside=False):
    mu = x.mean(axis=axis, keepdims=True)
    xc = x - mu
    m = x.shape[axis]
    var = (xc**2).sum(axis=axis, keepdims=True) / (m - ddof)
    inv = 1 / (np.sqrt(var) + eps) if eps_outside else 1 / np.sqrt(var + eps)
    xh = xc * inv
    return gamma * xh + beta, (xh, gamma, inv, axis)


def _ln_backward(dout, cache, mu_path=True, var_path=True):
    xh, gamma, inv, axis = cache
    d = dout * gamma
    dx = d.copy()
    if mu_path:
        dx = dx - d.mean(axis=axis, keepdims=True)
    if var_path:
        dx = dx - xh * (d * xh).mean(axis=axis, keepdims=True)
    dx = inv * dx
    other = tuple(range(dout.ndim - 1)) if axis == -1 else (1,)
    return dx, (dout * xh).sum(axis=other), dout.sum(axis=other)


# -- LayerNorm, cs231n's form: layernorm_forward(x, gamma, beta, ln_param) ------------------


def layernorm_forward(x, gamma, beta, ln_param):
    return _ln_forward(x, gamma, beta, ln_param.get("eps", 1e-5))


def layernorm_backward(dout, cache):
    return _ln_backward(dout, cache)


def layernorm_swapgrads_forward(x, gamma, beta, ln_param):
    return _ln_forward(x, gamma, beta, ln_param.get("eps", 1e-5))


def layernorm_swapgrads_backward(dout, cache):
    """Returns (dx, dbeta, dgamma) under cs231n's (dx, dgamma, dbeta) contract."""
    dx, dgamma, dbeta = _ln_backward(dout, cache)
    return dx, dbeta, dgamma


def layernorm_overbatch_forward(x, gamma, beta, ln_param):
    """Statistics over the batch axis: a BatchNorm named layernorm."""
    return _ln_forward(x, gamma, beta, ln_param.get("eps", 1e-5), axis=0)


def layernorm_overbatch_backward(dout, cache):
    xh, gamma, inv, _ = cache
    d = dout * gamma
    dx = inv * (d - d.mean(axis=0) - xh * (d * xh).mean(axis=0))
    return dx, (dout * xh).sum(axis=0), dout.sum(axis=0)


def layernorm_nomu_forward(x, gamma, beta, ln_param):
    return _ln_forward(x, gamma, beta, ln_param.get("eps", 1e-5))


def layernorm_nomu_backward(dout, cache):
    return _ln_backward(dout, cache, mu_path=False)


def layernorm_novar_forward(x, gamma, beta, ln_param):
    return _ln_forward(x, gamma, beta, ln_param.get("eps", 1e-5))


def layernorm_novar_backward(dout, cache):
    return _ln_backward(dout, cache, var_path=False)


def layernorm_epsout_forward(x, gamma, beta, ln_param):
    return _ln_forward(x, gamma, beta, ln_param.get("eps", 1e-5), eps_outside=True)


def layernorm_epsout_backward(dout, cache):
    return _ln_backward(dout, cache)


# -- GroupNorm, cs231n's spatial form: gamma and beta of shape (1, C, 1, 1) -----------------


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    eps = gn_param.get("eps", 1e-5)
    n = x.shape[0]
    xg = x.reshape(n, G, -1)
    mu = xg.mean(axis=2, keepdims=True)
    inv = 1 / np.sqrt(((xg - mu) ** 2).mean(axis=2, keepdims=True) + eps)
    xh = ((xg - mu) * inv).reshape(x.shape)
    return gamma * xh + beta, (xh, gamma, inv, G)


def spatial_groupnorm_backward(dout, cache):
    xh, gamma, inv, G = cache
    n = dout.shape[0]
    axes = (0, *range(2, dout.ndim))
    dgamma = (dout * xh).sum(axis=axes, keepdims=True)
    dbeta = dout.sum(axis=axes, keepdims=True)
    d = (dout * gamma).reshape(n, G, -1)
    h = xh.reshape(n, G, -1)
    dx = inv * (d - d.mean(axis=2, keepdims=True) - h * (d * h).mean(axis=2, keepdims=True))
    return dx.reshape(dout.shape), dgamma, dbeta


# -- channels grouped in the wrong order: group k holds channels k, k + G, k + 2G, ... ------


def spatial_groupnorm_interleaved_forward(x, gamma, beta, G, gn_param):
    eps = gn_param.get("eps", 1e-5)
    n, c = x.shape[:2]
    xg = x.reshape(n, c // G, G, -1).swapaxes(1, 2).reshape(n, G, -1)  # c -> group c % G
    mu = xg.mean(axis=2, keepdims=True)
    inv = 1 / np.sqrt(((xg - mu) ** 2).mean(axis=2, keepdims=True) + eps)
    back = ((xg - mu) * inv).reshape(n, G, c // G, -1).swapaxes(1, 2).reshape(x.shape)
    return gamma * back + beta, (back, gamma, inv, G)


def spatial_groupnorm_interleaved_backward(dout, cache):
    xh, gamma, inv, G = cache
    n, c = dout.shape[:2]
    axes = (0, *range(2, dout.ndim))
    dgamma = (dout * xh).sum(axis=axes, keepdims=True)
    dbeta = dout.sum(axis=axes, keepdims=True)

    def grouped(a):
        return a.reshape(n, c // G, G, -1).swapaxes(1, 2).reshape(n, G, -1)

    d, h = grouped(dout * gamma), grouped(xh)
    dx = inv * (d - d.mean(axis=2, keepdims=True) - h * (d * h).mean(axis=2, keepdims=True))
    return dx.reshape(n, G, c // G, -1).swapaxes(1, 2).reshape(dout.shape), dgamma, dbeta


# -- one-pass variance, E[x²] − E[x]² (as Flax's use_fast_variance=True), clamped at 0 -------


def layernorm_onepass_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mu = x.mean(axis=-1, keepdims=True)
    var = np.maximum((x * x).mean(axis=-1, keepdims=True) - mu * mu, 0)
    inv = 1 / np.sqrt(var + eps)
    xh = (x - mu) * inv
    return gamma * xh + beta, (xh, gamma, inv, -1)


def layernorm_onepass_backward(dout, cache):
    return _ln_backward(dout, cache)


def spatial_groupnorm_onepass_forward(x, gamma, beta, G, gn_param):
    eps = gn_param.get("eps", 1e-5)
    n = x.shape[0]
    xg = x.reshape(n, G, -1)
    mu = xg.mean(axis=2, keepdims=True)
    inv = 1 / np.sqrt(np.maximum((xg * xg).mean(axis=2, keepdims=True) - mu * mu, 0) + eps)
    xh = ((xg - mu) * inv).reshape(x.shape)
    return gamma * xh + beta, (xh, gamma, inv, G)


def spatial_groupnorm_onepass_backward(dout, cache):
    return spatial_groupnorm_backward(dout, cache)


# -- RMSNorm: rmsnorm_forward(x, gamma, eps) ------------------------------------------------


def rmsnorm_forward(x, gamma, eps):
    r = 1 / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps)
    return gamma * x * r, (x, gamma, r)


def rmsnorm_backward(dout, cache):
    x, gamma, r = cache
    xh = x * r
    d = dout * gamma
    dx = r * (d - xh * (d * xh).mean(axis=-1, keepdims=True))
    return dx, (dout * xh).reshape(-1, x.shape[-1]).sum(axis=0)


def rmsnorm_centered_forward(x, gamma, eps):
    """Subtracts the mean: a LayerNorm without beta, named RMSNorm."""
    xc = x - x.mean(axis=-1, keepdims=True)
    r = 1 / np.sqrt((xc * xc).mean(axis=-1, keepdims=True) + eps)
    return gamma * xc * r, (xc, gamma, r)


def rmsnorm_centered_backward(dout, cache):
    xc, gamma, r = cache
    xh = xc * r
    d = dout * gamma
    dx = r * (d - d.mean(axis=-1, keepdims=True) - xh * (d * xh).mean(axis=-1, keepdims=True))
    return dx, (dout * xh).reshape(-1, xc.shape[-1]).sum(axis=0)


def rmsnorm_epsout_forward(x, gamma, eps):
    rms = np.sqrt((x * x).mean(axis=-1, keepdims=True))
    r = 1 / (rms + eps)
    return gamma * x * r, (x, gamma, r)


def rmsnorm_epsout_backward(dout, cache):
    return rmsnorm_backward(dout, cache)


def layernorm_nomean_forward(x, gamma, beta, eps):
    """Forgets the mean: an RMSNorm (plus beta), named LayerNorm (as T5's, by design)."""
    r = 1 / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps)
    y = gamma * x * r
    return (y if beta is None else y + beta), (x, gamma, r)


def layernorm_nomean_backward(dout, cache):
    dx, dgamma = rmsnorm_backward(dout, cache)
    return dx, dgamma, dout.reshape(-1, cache[0].shape[-1]).sum(axis=0)


# -- a hand-written layer -------------------------------------------------------------------


class LayerNorm:
    """LayerNorm over the last axis with forward(x) and backward(dout) -> dx."""

    def __init__(self, dim, eps=1e-5):
        self.gamma, self.beta, self.eps = np.ones(dim), np.zeros(dim), eps

    def forward(self, x):
        self.out, self.cache = _ln_forward(x, self.gamma, self.beta, self.eps)
        return self.out

    def backward(self, dout):
        dx, self.dgamma, self.dbeta = _ln_backward(dout, self.cache)
        return dx


DIAGNOSES = {
    "layernorm": [],
    "layernorm_overbatch": ["wrong-reduction-axes"],
    "layernorm_nomu": ["missing-mu-path"],
    "layernorm_novar": ["missing-var-path"],
    "layernorm_epsout": ["eps-outside-sqrt"],
    "layernorm_swapgrads": ["swapped-dgamma-dbeta"],
    "spatial_groupnorm": [],
    "layernorm_onepass": ["one-pass-variance"],
    "spatial_groupnorm_interleaved": ["wrong-reduction-axes"],
    "spatial_groupnorm_onepass": ["one-pass-variance"],
    "rmsnorm": [],
    "rmsnorm_centered": ["rms-subtracts-mean"],
    "rmsnorm_epsout": ["eps-outside-sqrt"],
    "layernorm_nomean": ["layer-without-mean"],
    "LayerNorm": [],
}
