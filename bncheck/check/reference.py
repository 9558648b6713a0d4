"""Loop-level Batch Normalization reference, generated from the SymPy derivation.

generated — do not edit. Written by `bncheck derive` (or `python -m bncheck.derivations`)
from the package `bncheck.derivations` (eqs (6)–(9) of Microsoft AI-Edu, the Batch Normalization
chapter; every formula below is printed from a SymPy result).

Arrays are float64 of shape (m, C): rows are the m batch values, columns the channels (the
chapter's [batchSize, Features]); gamma, beta, mean, var, v_gamma, v_beta have shape (C,).
J = Σ delta·z.

forward(x, gamma, beta, eps) -> z                                 train mode, (6)–(9)
backward(delta, x, gamma, eps) -> (dx, dgamma, dbeta)             dJ/dx, dJ/dgamma, dJ/dbeta
eval_forward(x, gamma, beta, mean, var, eps) -> z                 running statistics
eval_backward(delta, x, gamma, mean, var, eps) -> (dx, dgamma, dbeta)
double_backward(delta, x, gamma, eps, v_x, v_gamma, v_beta) -> (d_delta, d_x, d_gamma)
eval_double_backward(delta, x, gamma, mean, var, eps, v_x, v_gamma, v_beta)
    -> (d_delta, d_x, d_gamma)

The double backward is the vector-Jacobian product of `backward` with the cotangent
(v_x, v_gamma, v_beta): with G = <dx, v_x> + <dgamma, v_gamma> + <dbeta, v_beta>,
d_x = dG/dx (Hessian of J in x times v_x, plus the gamma-mixed term), d_gamma = dG/dgamma and
d_delta = dG/ddelta (the forward's Jacobian-vector product; backward is linear in delta).
dbeta depends on delta only, and J is linear in gamma and beta, so nothing else appears.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]


def _matrix(a: ArrayLike, name: str) -> Array:
    out = np.array(a, dtype=np.float64)
    if out.ndim != 2:
        raise ValueError(f"{name} must have shape (m, C), got shape {out.shape}")
    return out


def _vector(a: ArrayLike, channels: int) -> Array:
    out = np.array(a, dtype=np.float64).reshape(-1)
    if out.shape != (channels,):
        raise ValueError(f"per-channel array must have {channels} entries, got {out.size}")
    return out


def _statistics(x: Array, c: int, eps: float) -> tuple[float, float, float]:
    """mu, var, inv_std of channel c."""
    m = x.shape[0]
    mu = math.fsum(x[i, c] for i in range(m)) / m  # (6)
    var = math.fsum((-mu + x[i, c])**2 for i in range(m)) / m  # (7), biased
    inv_std = 1.0 / math.sqrt(var + eps)  # (8)
    return mu, var, inv_std


def forward(x: Array, gamma: Array, beta: Array, eps: float) -> Array:
    """Train-mode forward z = gamma·x_hat + beta."""
    x = _matrix(x, "x")
    gamma = _vector(gamma, x.shape[1])
    beta = _vector(beta, x.shape[1])
    m, C = x.shape
    z = np.empty((m, C))
    x_hat = np.empty((m, C))
    for c in range(C):
        mu, var, inv_std = _statistics(x, c, eps)  # (6)-(8)
        for i in range(m):
            x_hat[i, c] = inv_std*(-mu + x[i, c])  # (8)
        for i in range(m):
            # (9)
            z[i, c] = beta[c] + gamma[c]*x_hat[i, c]
    return z


def backward(delta: Array, x: Array, gamma: Array, eps: float) -> tuple[Array, Array, Array]:
    """Train-mode gradients of J = Σ delta·z: (dJ/dx, dJ/dgamma, dJ/dbeta)."""
    delta, x = _matrix(delta, "delta"), _matrix(x, "x")
    gamma = _vector(gamma, x.shape[1])
    m, C = x.shape
    dx = np.empty((m, C))
    dgamma = np.empty(C)
    dbeta = np.empty(C)
    x_hat = np.empty((m, C))
    for c in range(C):
        mu, var, inv_std = _statistics(x, c, eps)  # (6)-(8)
        for i in range(m):
            x_hat[i, c] = inv_std*(-mu + x[i, c])  # (8)
        sum_delta = math.fsum(delta[i, c] for i in range(m))
        sum_delta_x_hat = math.fsum(delta[i, c]*x_hat[i, c] for i in range(m))
        # (11)
        dgamma[c] = sum_delta_x_hat
        # (12)
        dbeta[c] = sum_delta
        for i in range(m):
            # dJ/dx_i: (13) with every path through mu_B and sigma2_B, summed over the batch
            dx[i, c] = gamma[c]*inv_std*(delta[i, c]*m - sum_delta - sum_delta_x_hat*x_hat[i, c])/m
    return dx, dgamma, dbeta


def double_backward(
    delta: Array,
    x: Array,
    gamma: Array,
    eps: float,
    v_x: Array,
    v_gamma: Array,
    v_beta: Array,
) -> tuple[Array, Array, Array]:
    """Train-mode double backward: (dG/ddelta, dG/dx, dG/dgamma), see the module docstring."""
    delta, x = _matrix(delta, "delta"), _matrix(x, "x")
    v_x = _matrix(v_x, "v_x")
    gamma = _vector(gamma, x.shape[1])
    v_gamma, v_beta = _vector(v_gamma, x.shape[1]), _vector(v_beta, x.shape[1])
    m, C = x.shape
    d_delta = np.empty((m, C))
    d_x = np.empty((m, C))
    d_gamma = np.empty(C)
    x_hat = np.empty((m, C))
    for c in range(C):
        mu, var, inv_std = _statistics(x, c, eps)  # (6)-(8)
        for i in range(m):
            x_hat[i, c] = inv_std*(-mu + x[i, c])  # (8)
        sum_delta = math.fsum(delta[i, c] for i in range(m))
        sum_delta_v_x = math.fsum(delta[i, c]*v_x[i, c] for i in range(m))
        sum_delta_x_hat = math.fsum(delta[i, c]*x_hat[i, c] for i in range(m))
        sum_v_x = math.fsum(v_x[i, c] for i in range(m))
        sum_v_x_x_hat = math.fsum(v_x[i, c]*x_hat[i, c] for i in range(m))
        # sum_k v_x[k]·d²J/dx_k dgamma
        d_gamma[c] = inv_std*(m*sum_delta_v_x - sum_delta*sum_v_x - sum_delta_x_hat*sum_v_x_x_hat)/m
        for i in range(m):
            # sum_k v_x[k]·d²J/dx_k dx_i
            hvp_x = (
                -gamma[c]*inv_std**2*(delta[i, c]*m*sum_v_x_x_hat + m*sum_delta_v_x*x_hat[i, c]
                + m*sum_delta_x_hat*v_x[i, c] - sum_delta*sum_v_x*x_hat[i, c]
                - sum_delta*sum_v_x_x_hat - sum_delta_x_hat*sum_v_x
                - 3*sum_delta_x_hat*sum_v_x_x_hat*x_hat[i, c])/m**2
            )
            # v_gamma·d²J/dgamma dx_i
            mixed_x = inv_std*v_gamma[c]*(delta[i, c]*m - sum_delta - sum_delta_x_hat*x_hat[i, c])/m
            d_x[i, c] = hvp_x + mixed_x
            # dG/ddelta_i: the forward's JVP (backward is linear in delta)
            d_delta[i, c] = (
                (gamma[c]*inv_std*m*v_x[i, c] - gamma[c]*inv_std*sum_v_x
                - gamma[c]*inv_std*sum_v_x_x_hat*x_hat[i, c] + m*v_beta[c]
                + m*v_gamma[c]*x_hat[i, c])/m
            )
    return d_delta, d_x, d_gamma


def eval_forward(x: Array, gamma: Array, beta: Array, mean: Array, var: Array, eps: float) -> Array:
    """Eval-mode forward z = gamma·x_hat + beta."""
    x = _matrix(x, "x")
    gamma = _vector(gamma, x.shape[1])
    beta = _vector(beta, x.shape[1])
    mean, var = _vector(mean, x.shape[1]), _vector(var, x.shape[1])
    m, C = x.shape
    z = np.empty((m, C))
    x_hat = np.empty((m, C))
    for c in range(C):
        inv_std = 1.0 / math.sqrt(var[c] + eps)  # (8), running variance
        for i in range(m):
            x_hat[i, c] = inv_std*(-mean[c] + x[i, c])  # (8)
        for i in range(m):
            # (9)
            z[i, c] = beta[c] + gamma[c]*x_hat[i, c]
    return z


def eval_backward(
    delta: Array,
    x: Array,
    gamma: Array,
    mean: Array,
    var: Array,
    eps: float,
) -> tuple[Array, Array, Array]:
    """Eval-mode gradients of J = Σ delta·z: (dJ/dx, dJ/dgamma, dJ/dbeta)."""
    delta, x = _matrix(delta, "delta"), _matrix(x, "x")
    gamma = _vector(gamma, x.shape[1])
    mean, var = _vector(mean, x.shape[1]), _vector(var, x.shape[1])
    m, C = x.shape
    dx = np.empty((m, C))
    dgamma = np.empty(C)
    dbeta = np.empty(C)
    x_hat = np.empty((m, C))
    for c in range(C):
        inv_std = 1.0 / math.sqrt(var[c] + eps)  # (8), running variance
        for i in range(m):
            x_hat[i, c] = inv_std*(-mean[c] + x[i, c])  # (8)
        sum_delta = math.fsum(delta[i, c] for i in range(m))
        sum_delta_x_hat = math.fsum(delta[i, c]*x_hat[i, c] for i in range(m))
        # (11)
        dgamma[c] = sum_delta_x_hat
        # (12)
        dbeta[c] = sum_delta
        for i in range(m):
            # dJ/dx_i: (13) with every path through mu_B and sigma2_B, summed over the batch
            dx[i, c] = delta[i, c]*gamma[c]*inv_std
    return dx, dgamma, dbeta


def eval_double_backward(
    delta: Array,
    x: Array,
    gamma: Array,
    mean: Array,
    var: Array,
    eps: float,
    v_x: Array,
    v_gamma: Array,
    v_beta: Array,
) -> tuple[Array, Array, Array]:
    """Eval-mode double backward: (dG/ddelta, dG/dx, dG/dgamma), see the module docstring."""
    delta, x = _matrix(delta, "delta"), _matrix(x, "x")
    v_x = _matrix(v_x, "v_x")
    gamma = _vector(gamma, x.shape[1])
    v_gamma, v_beta = _vector(v_gamma, x.shape[1]), _vector(v_beta, x.shape[1])
    mean, var = _vector(mean, x.shape[1]), _vector(var, x.shape[1])
    m, C = x.shape
    d_delta = np.empty((m, C))
    d_x = np.empty((m, C))
    d_gamma = np.empty(C)
    x_hat = np.empty((m, C))
    for c in range(C):
        inv_std = 1.0 / math.sqrt(var[c] + eps)  # (8), running variance
        for i in range(m):
            x_hat[i, c] = inv_std*(-mean[c] + x[i, c])  # (8)
        sum_delta_v_x = math.fsum(delta[i, c]*v_x[i, c] for i in range(m))
        # sum_k v_x[k]·d²J/dx_k dgamma
        d_gamma[c] = inv_std*sum_delta_v_x
        for i in range(m):
            # sum_k v_x[k]·d²J/dx_k dx_i
            hvp_x = 0.0
            # v_gamma·d²J/dgamma dx_i
            mixed_x = delta[i, c]*inv_std*v_gamma[c]
            d_x[i, c] = hvp_x + mixed_x
            # dG/ddelta_i: the forward's JVP (backward is linear in delta)
            d_delta[i, c] = gamma[c]*inv_std*v_x[i, c] + v_beta[c] + v_gamma[c]*x_hat[i, c]
    return d_delta, d_x, d_gamma
