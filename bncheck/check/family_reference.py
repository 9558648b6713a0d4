"""Loop-level reference of the normalization family, generated from SymPy results.

generated — do not edit. Written by `bncheck derive` (or `python -m bncheck.derivations`)
from `bncheck.derivations.family` (eqs (6)–(9) over a general reduction set with per-element
affine parameters, and RMSNorm; every formula below is printed from a SymPy result).

Arrays are float64 of shape (m, K) in the column layout of `bncheck.check.norms.NormSpec`
(`NormSpec.columns`): each column is one reduction set (the m values sharing mu and sigma²), and
gamma, beta and the cotangents are given per element in the same layout
(`NormSpec.param_columns`). J = Σ delta·y. The parameter gradients are per element: a parameter
shared by several elements (BN, InstanceNorm and GroupNorm share gamma_c within and across sets)
gets the sum of its elements' gradients (`NormSpec.param_sum`).

centered_*: Batch, Layer, Instance and Group Normalization, y = gamma·x_hat + beta,
    x_hat = (x − mu)/sqrt(var + eps) over the set;
rms_*: RMSNorm, y = gamma·x_hat, x_hat = x/sqrt(mean(x²) + eps) over the set (no beta).

*_forward(x, gamma[, beta], eps) -> y
*_backward(delta, x, gamma, eps) -> (dx, dgamma[, dbeta])
*_double_backward(delta, x, gamma, eps, v_x, v_gamma[, v_beta]) -> (d_delta, d_x, d_gamma)

The double backward is the vector-Jacobian product of the backward with the cotangent
(v_x, v_gamma[, v_beta]): with G = <dx, v_x> + <dgamma, v_gamma> + <dbeta, v_beta>, d_x = dG/dx,
d_gamma = dG/dgamma and d_delta = dG/ddelta (the forward's Jacobian-vector product); nothing in
the backward depends on beta, so dG/dbeta = 0.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]


def _matrices(*arrays: ArrayLike) -> tuple[Array, ...]:
    """Every argument as a float64 (m, K) array, all of one shape."""
    out = tuple(np.array(a, dtype=np.float64) for a in arrays)
    for a in out:
        if a.ndim != 2 or a.shape != out[0].shape:
            raise ValueError(f"every array must have the shape (m, K) of x, got {a.shape}")
    return out


def centered_forward(x: Array, gamma: Array, beta: Array, eps: float) -> Array:
    """Forward y = beta[i] + gamma[i]*x_hat[i]."""
    x, gamma, beta = _matrices(x, gamma, beta)
    m, C = x.shape
    y = np.empty((m, C))
    x_hat = np.empty((m, C))
    for c in range(C):
        mu = math.fsum(x[i, c] for i in range(m)) / m  # (6)
        var = math.fsum((mu - x[i, c])**2 for i in range(m)) / m  # (7), biased
        inv_std = 1.0 / math.sqrt(var + eps)  # (8)
        for i in range(m):
            x_hat[i, c] = inv_std*(-mu + x[i, c])  # (8)
        for i in range(m):
            y[i, c] = beta[i, c] + gamma[i, c]*x_hat[i, c]
    return y


def centered_backward(
    delta: Array,
    x: Array,
    gamma: Array,
    eps: float,
) -> tuple[Array, Array, Array]:
    """Per-element gradients of J = Σ delta·y: (dx, dgamma, dbeta)."""
    delta, x, gamma = _matrices(delta, x, gamma)
    m, C = x.shape
    dx = np.empty((m, C))
    dgamma = np.empty((m, C))
    dbeta = np.empty((m, C))
    x_hat = np.empty((m, C))
    for c in range(C):
        mu = math.fsum(x[i, c] for i in range(m)) / m  # (6)
        var = math.fsum((mu - x[i, c])**2 for i in range(m)) / m  # (7), biased
        inv_std = 1.0 / math.sqrt(var + eps)  # (8)
        for i in range(m):
            x_hat[i, c] = inv_std*(-mu + x[i, c])  # (8)
        sum_delta_gamma = math.fsum(delta[i, c]*gamma[i, c] for i in range(m))
        sum_delta_gamma_x_hat = math.fsum(delta[i, c]*gamma[i, c]*x_hat[i, c] for i in range(m))
        for i in range(m):
            dx[i, c] = (
                inv_std*(delta[i, c]*gamma[i, c]*m - sum_delta_gamma
                - sum_delta_gamma_x_hat*x_hat[i, c])/m
            )
            dgamma[i, c] = delta[i, c]*x_hat[i, c]
            dbeta[i, c] = delta[i, c]
    return dx, dgamma, dbeta


def centered_double_backward(
    delta: Array,
    x: Array,
    gamma: Array,
    eps: float,
    v_x: Array,
    v_gamma: Array,
    v_beta: Array,
) -> tuple[Array, Array, Array]:
    """Double backward: (dG/ddelta, dG/dx, dG/dgamma), see the module docstring."""
    delta, x, gamma, v_x, v_gamma, v_beta = _matrices(delta, x, gamma, v_x, v_gamma, v_beta)
    m, C = x.shape
    d_delta = np.empty((m, C))
    d_x = np.empty((m, C))
    d_gamma = np.empty((m, C))
    x_hat = np.empty((m, C))
    for c in range(C):
        mu = math.fsum(x[i, c] for i in range(m)) / m  # (6)
        var = math.fsum((mu - x[i, c])**2 for i in range(m)) / m  # (7), biased
        inv_std = 1.0 / math.sqrt(var + eps)  # (8)
        for i in range(m):
            x_hat[i, c] = inv_std*(-mu + x[i, c])  # (8)
        sum_delta_gamma = math.fsum(delta[i, c]*gamma[i, c] for i in range(m))
        sum_delta_gamma_v_x = math.fsum(delta[i, c]*gamma[i, c]*v_x[i, c] for i in range(m))
        sum_delta_gamma_x_hat = math.fsum(delta[i, c]*gamma[i, c]*x_hat[i, c] for i in range(m))
        sum_delta_v_gamma = math.fsum(delta[i, c]*v_gamma[i, c] for i in range(m))
        sum_delta_v_gamma_x_hat = math.fsum(delta[i, c]*v_gamma[i, c]*x_hat[i, c] for i in range(m))
        sum_v_x = math.fsum(v_x[i, c] for i in range(m))
        sum_v_x_x_hat = math.fsum(v_x[i, c]*x_hat[i, c] for i in range(m))
        for i in range(m):
            d_delta[i, c] = (
                (gamma[i, c]*inv_std*m*v_x[i, c] - gamma[i, c]*inv_std*sum_v_x
                - gamma[i, c]*inv_std*sum_v_x_x_hat*x_hat[i, c] + m*v_beta[i, c]
                + m*v_gamma[i, c]*x_hat[i, c])/m
            )
            d_x[i, c] = (
                inv_std*(-delta[i, c]*gamma[i, c]*inv_std*m*sum_v_x_x_hat
                + delta[i, c]*m**2*v_gamma[i, c] - inv_std*m*sum_delta_gamma_v_x*x_hat[i, c]
                - inv_std*m*sum_delta_gamma_x_hat*v_x[i, c]
                + inv_std*sum_delta_gamma*sum_v_x*x_hat[i, c]
                + inv_std*sum_delta_gamma*sum_v_x_x_hat + inv_std*sum_delta_gamma_x_hat*sum_v_x
                + 3*inv_std*sum_delta_gamma_x_hat*sum_v_x_x_hat*x_hat[i, c] - m*sum_delta_v_gamma
                - m*sum_delta_v_gamma_x_hat*x_hat[i, c])/m**2
            )
            d_gamma[i, c] = (
                delta[i, c]*inv_std*(m*v_x[i, c] - sum_v_x - sum_v_x_x_hat*x_hat[i, c])/m
            )
    return d_delta, d_x, d_gamma


def rms_forward(x: Array, gamma: Array, eps: float) -> Array:
    """Forward y = gamma[i]*x_hat[i]."""
    x, gamma = _matrices(x, gamma)
    m, C = x.shape
    y = np.empty((m, C))
    x_hat = np.empty((m, C))
    for c in range(C):
        ms = math.fsum(x[i, c]**2 for i in range(m)) / m  # mean of x²
        inv_rms = 1.0 / math.sqrt(ms + eps)
        for i in range(m):
            x_hat[i, c] = inv_rms*x[i, c]
        for i in range(m):
            y[i, c] = gamma[i, c]*x_hat[i, c]
    return y


def rms_backward(delta: Array, x: Array, gamma: Array, eps: float) -> tuple[Array, Array]:
    """Per-element gradients of J = Σ delta·y: (dx, dgamma)."""
    delta, x, gamma = _matrices(delta, x, gamma)
    m, C = x.shape
    dx = np.empty((m, C))
    dgamma = np.empty((m, C))
    x_hat = np.empty((m, C))
    for c in range(C):
        ms = math.fsum(x[i, c]**2 for i in range(m)) / m  # mean of x²
        inv_rms = 1.0 / math.sqrt(ms + eps)
        for i in range(m):
            x_hat[i, c] = inv_rms*x[i, c]
        sum_delta_gamma_x_hat = math.fsum(delta[i, c]*gamma[i, c]*x_hat[i, c] for i in range(m))
        for i in range(m):
            dx[i, c] = inv_rms*(delta[i, c]*gamma[i, c]*m - sum_delta_gamma_x_hat*x_hat[i, c])/m
            dgamma[i, c] = delta[i, c]*x_hat[i, c]
    return dx, dgamma


def rms_double_backward(
    delta: Array,
    x: Array,
    gamma: Array,
    eps: float,
    v_x: Array,
    v_gamma: Array,
) -> tuple[Array, Array, Array]:
    """Double backward: (dG/ddelta, dG/dx, dG/dgamma), see the module docstring."""
    delta, x, gamma, v_x, v_gamma = _matrices(delta, x, gamma, v_x, v_gamma)
    m, C = x.shape
    d_delta = np.empty((m, C))
    d_x = np.empty((m, C))
    d_gamma = np.empty((m, C))
    x_hat = np.empty((m, C))
    for c in range(C):
        ms = math.fsum(x[i, c]**2 for i in range(m)) / m  # mean of x²
        inv_rms = 1.0 / math.sqrt(ms + eps)
        for i in range(m):
            x_hat[i, c] = inv_rms*x[i, c]
        sum_delta_gamma_v_x = math.fsum(delta[i, c]*gamma[i, c]*v_x[i, c] for i in range(m))
        sum_delta_gamma_x_hat = math.fsum(delta[i, c]*gamma[i, c]*x_hat[i, c] for i in range(m))
        sum_delta_v_gamma_x_hat = math.fsum(delta[i, c]*v_gamma[i, c]*x_hat[i, c] for i in range(m))
        sum_v_x_x_hat = math.fsum(v_x[i, c]*x_hat[i, c] for i in range(m))
        for i in range(m):
            d_delta[i, c] = (
                (gamma[i, c]*inv_rms*m*v_x[i, c] - gamma[i, c]*inv_rms*sum_v_x_x_hat*x_hat[i, c]
                + m*v_gamma[i, c]*x_hat[i, c])/m
            )
            d_x[i, c] = (
                inv_rms*(-delta[i, c]*gamma[i, c]*inv_rms*m*sum_v_x_x_hat
                + delta[i, c]*m**2*v_gamma[i, c] - inv_rms*m*sum_delta_gamma_v_x*x_hat[i, c]
                - inv_rms*m*sum_delta_gamma_x_hat*v_x[i, c]
                + 3*inv_rms*sum_delta_gamma_x_hat*sum_v_x_x_hat*x_hat[i, c]
                - m*sum_delta_v_gamma_x_hat*x_hat[i, c])/m**2
            )
            d_gamma[i, c] = delta[i, c]*inv_rms*(m*v_x[i, c] - sum_v_x_x_hat*x_hat[i, c])/m
    return d_delta, d_x, d_gamma
