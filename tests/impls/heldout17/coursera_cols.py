"""Coursera deeplearning.ai style BN, features-first.  CORRECT.

Style: the course's from-scratch networks keep a layer's pre-activations features-first,
Z of shape (n_l, m) with one column per example, and parameters as column vectors gamma and
beta of shape (n_l, 1); statistics are taken over axis=1 with keepdims=True and the backward
returns (dZ, dgamma, dbeta) in the same column shapes.  `batch_norm_fwd_prop` and
`batch_norm_back_prop` are written that way.

bncheck hands (N, C, ...) arrays, so `columns_forward` / `columns_backward` lay the input out
as Z = (C, N*H*W) and back, as one does to reuse a dense-layer BN after a convolution.

    bncheck verify coursera_cols.py:columns
"""

import numpy as np


def batch_norm_fwd_prop(Z, gamma, beta, epsilon=1e-8):
    """Z: (n_l, m); gamma, beta: (n_l, 1).  Returns Z_tilde and a cache tuple."""
    mu = np.mean(Z, axis=1, keepdims=True)
    var = np.var(Z, axis=1, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + epsilon)
    Z_norm = (Z - mu) * inv_std
    Z_tilde = gamma * Z_norm + beta
    cache = (Z_norm, inv_std, gamma)
    return Z_tilde, cache


def batch_norm_back_prop(dZ_tilde, cache):
    """dZ_tilde: (n_l, m).  Returns dZ (n_l, m), dgamma (n_l, 1), dbeta (n_l, 1)."""
    Z_norm, inv_std, gamma = cache
    m = dZ_tilde.shape[1]
    dbeta = np.sum(dZ_tilde, axis=1, keepdims=True)
    dgamma = np.sum(dZ_tilde * Z_norm, axis=1, keepdims=True)
    dZ_norm = dZ_tilde * gamma
    dZ = (inv_std / m) * (
        m * dZ_norm
        - np.sum(dZ_norm, axis=1, keepdims=True)
        - Z_norm * np.sum(dZ_norm * Z_norm, axis=1, keepdims=True)
    )
    return dZ, dgamma, dbeta


def columns_forward(x, gamma, beta, eps=1e-5):
    """(N, C, ...) in, (N, C, ...) out, through the features-first code."""
    C = x.shape[1]
    rest = (x.shape[0], *x.shape[2:])
    Z = np.moveaxis(x, 1, 0).reshape(C, -1)
    Z_tilde, cache = batch_norm_fwd_prop(Z, gamma.reshape(C, 1), beta.reshape(C, 1), eps)
    y = np.moveaxis(Z_tilde.reshape((C, *rest)), 0, 1)
    return np.ascontiguousarray(y), (cache, rest)


def columns_backward(dout, cache):
    inner, rest = cache
    C = dout.shape[1]
    dZ_tilde = np.moveaxis(dout, 1, 0).reshape(C, -1)
    dZ, dgamma, dbeta = batch_norm_back_prop(dZ_tilde, inner)
    dx = np.ascontiguousarray(np.moveaxis(dZ.reshape((C, *rest)), 0, 1))
    return dx, dgamma.reshape(C), dbeta.reshape(C)
