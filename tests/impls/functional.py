"""Functional BNs ``<prefix>_forward(x, gamma, beta, eps)`` / ``<prefix>_backward(dy, cache)``.

Channel axis 1; statistics over every other axis. Correct ones are written four different ways;
each wrong one carries exactly one mistake of the catalogue (its prefix is the mistake id with
dashes as underscores).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _axes(x: np.ndarray) -> tuple[int, ...]:
    return (0, *range(2, x.ndim))


def _b(v: np.ndarray, x: np.ndarray) -> np.ndarray:
    return v.reshape(1, -1, *[1] * (x.ndim - 2))


# -- correct: the paper's staged chain rule -----------------------------------------------------


def staged_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    ax = _axes(x)
    mu = x.mean(axis=ax, keepdims=True)
    xc = x - mu
    var = (xc**2).mean(axis=ax, keepdims=True)
    std = np.sqrt(var + eps)
    x_hat = xc / std
    y = _b(gamma, x) * x_hat + _b(beta, x)
    return y, (x, xc, var, std, x_hat, gamma, eps)


def staged_backward(dy: np.ndarray, cache: Any) -> Any:
    x, xc, var, std, x_hat, gamma, eps = cache
    ax = _axes(x)
    m = x.size // x.shape[1]
    dbeta = dy.sum(axis=ax)
    dgamma = (dy * x_hat).sum(axis=ax)
    dx_hat = dy * _b(gamma, x)
    dvar = (dx_hat * xc).sum(axis=ax, keepdims=True) * -0.5 * (var + eps) ** -1.5
    dmu = (-dx_hat / std).sum(axis=ax, keepdims=True) + dvar * (-2.0 * xc).mean(
        axis=ax, keepdims=True
    )
    dx = dx_hat / std + dvar * 2.0 * xc / m + dmu / m
    return dx, dgamma, dbeta


# -- correct: the compact formula ---------------------------------------------------------------


def compact_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    ax = _axes(x)
    mu = x.mean(axis=ax, keepdims=True)
    inv = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=ax, keepdims=True) + eps)
    x_hat = (x - mu) * inv
    return _b(gamma, x) * x_hat + _b(beta, x), (x_hat, inv, gamma)


def compact_backward(dy: np.ndarray, cache: Any) -> Any:
    x_hat, inv, gamma = cache
    ax = _axes(x_hat)
    m = x_hat.size // x_hat.shape[1]
    dbeta = dy.sum(axis=ax)
    dgamma = (dy * x_hat).sum(axis=ax)
    dx = _b(gamma, x_hat) * inv / m * (m * dy - _b(dbeta, dy) - x_hat * _b(dgamma, dy))
    return dx, dgamma, dbeta


# -- correct: np.var based, and float32-native (computes in the input dtype) -------------------


def npvar_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    ax = _axes(x)
    mu = np.mean(x, axis=ax, keepdims=True)
    var = np.var(x, axis=ax, keepdims=True)
    x_hat = (x - mu) / np.sqrt(var + eps)
    return _b(gamma, x) * x_hat + _b(beta, x), (x_hat, np.sqrt(var + eps), gamma)


def npvar_backward(dy: np.ndarray, cache: Any) -> Any:
    x_hat, std, gamma = cache
    ax = _axes(x_hat)
    g = dy * _b(gamma, x_hat)
    dx = (
        g - g.mean(axis=ax, keepdims=True) - x_hat * (g * x_hat).mean(axis=ax, keepdims=True)
    ) / std
    return dx, (dy * x_hat).sum(axis=ax), dy.sum(axis=ax)


def native32_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    dt = x.dtype
    ax = _axes(x)
    g, b = gamma.astype(dt), beta.astype(dt)
    mu = x.mean(axis=ax, keepdims=True, dtype=dt)
    xc = x - mu
    var = (xc * xc).mean(axis=ax, keepdims=True, dtype=dt)
    inv = (dt.type(1) / np.sqrt(var + dt.type(eps))).astype(dt)
    x_hat = xc * inv
    return _b(g, x) * x_hat + _b(b, x), (x_hat, inv, g)


def native32_backward(dy: np.ndarray, cache: Any) -> Any:
    x_hat, inv, g = cache
    ax = _axes(x_hat)
    m = x_hat.dtype.type(x_hat.size // x_hat.shape[1])
    dbeta = dy.sum(axis=ax, dtype=x_hat.dtype)
    dgamma = (dy * x_hat).sum(axis=ax, dtype=x_hat.dtype)
    dx = _b(g, x_hat) * inv * (dy - _b(dbeta, dy) / m - x_hat * _b(dgamma, dy) / m)
    return dx, dgamma, dbeta


# -- wrong: one catalogue mistake each (built on the staged chain rule) -------------------------


def _staged(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    eps: float,
    *,
    ddof: int = 0,
    eps_outside: bool = False,
    eps_factor: float = 1.0,
    axes: tuple[int, ...] | None = None,
) -> Any:
    ax = _axes(x) if axes is None else axes
    m = int(np.prod([x.shape[a] for a in ax]))
    mu = x.mean(axis=ax, keepdims=True)
    xc = x - mu
    var = (xc**2).sum(axis=ax, keepdims=True) / (m - ddof)
    e = eps * eps_factor
    std = np.sqrt(var) + e if eps_outside else np.sqrt(var + e)
    x_hat = xc / std
    y = _b(gamma, x) * x_hat + _b(beta, x)
    return y, {
        "x": x,
        "xc": xc,
        "var": var,
        "std": std,
        "x_hat": x_hat,
        "gamma": gamma,
        "eps": e,
        "ax": ax,
        "m": m,
        "ddof": ddof,
        "eps_outside": eps_outside,
    }


def _staged_grad(dy: np.ndarray, c: dict[str, Any], **wrong: bool) -> Any:
    ax, m, xc, std, x_hat = c["ax"], c["m"], c["xc"], c["std"], c["x_hat"]
    gamma = np.ones_like(c["gamma"]) if wrong.get("no_gamma") else c["gamma"]
    dx_hat = dy * _b(gamma, dy)
    if c["eps_outside"]:
        sd = np.sqrt(c["var"])
        dvar = (dx_hat * xc).sum(axis=ax, keepdims=True) * -1.0 / std**2 / (2 * sd)
    else:
        dvar = (dx_hat * xc).sum(axis=ax, keepdims=True) * -0.5 * std**-3
    if wrong.get("no_sum_dmu"):
        dmu = -dx_hat / std  # the source's eq (18) without the sum
    else:
        dmu = (-dx_hat / std).sum(axis=ax, keepdims=True)
    dx = dx_hat / std
    if not wrong.get("no_var_path"):
        dx = dx + dvar * 2.0 * xc / (m - c["ddof"])
    if not wrong.get("no_mu_path"):
        dx = dx + dmu / m
    dgamma = (dy * (xc if wrong.get("dgamma_xc") else x_hat)).sum(axis=_axes(dy))
    dbeta = dy.sum(axis=_axes(dy))
    if wrong.get("dbeta_mean"):
        dbeta = dbeta / m
    return dx, dgamma, dbeta


def _pair(forward_kw: dict[str, Any], **wrong: bool) -> Any:
    def forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
        return _staged(x, gamma, beta, eps, **forward_kw)

    def backward(dy: np.ndarray, cache: Any) -> Any:
        return _staged_grad(dy, cache, **wrong)

    return forward, backward


missing_mu_path_forward, missing_mu_path_backward = _pair({}, no_mu_path=True)
missing_var_path_forward, missing_var_path_backward = _pair({}, no_var_path=True)
missing_sum_dmu_forward, missing_sum_dmu_backward = _pair({}, no_sum_dmu=True)
eps_outside_sqrt_forward, eps_outside_sqrt_backward = _pair({"eps_outside": True})
unbiased_normalize_forward, unbiased_normalize_backward = _pair({"ddof": 1})
eps_twice_forward, eps_twice_backward = _pair({"eps_factor": 2.0})
dgamma_from_xc_forward, dgamma_from_xc_backward = _pair({}, dgamma_xc=True)
dbeta_mean_forward, dbeta_mean_backward = _pair({}, dbeta_mean=True)
missing_gamma_forward, missing_gamma_backward = _pair({}, no_gamma=True)


def wrong_axes_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    """Reduces over axis 0 only: right for (N, C), wrong for (N, C, H, W)."""
    return _staged(x, gamma, beta, eps, axes=(0,))


def wrong_axes_backward(dy: np.ndarray, cache: Any) -> Any:
    return _staged_grad(dy, cache)


def tutorial_2d_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    """A BN written for (N, D) input as tutorials write it: correct on 2-D input. On 4-D input
    it runs (gamma broadcasts over the last axis, channels-last) and normalizes each position
    over N alone."""
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    x_hat = (x - mu) / np.sqrt(var + eps)
    return gamma * x_hat + beta, (x_hat, gamma, np.sqrt(var + eps))


def tutorial_2d_backward(dy: np.ndarray, cache: Any) -> Any:
    x_hat, gamma, std = cache
    m = dy.shape[0]
    dx_hat = dy * gamma
    dx = (m * dx_hat - dx_hat.sum(axis=0) - x_hat * (dx_hat * x_hat).sum(axis=0)) / (m * std)
    return dx, (dy * x_hat).sum(axis=0), dy.sum(axis=0)


def mutates_input_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    y, cache = staged_forward(x.copy(), gamma, beta, eps)
    x -= x.mean(axis=_axes(x), keepdims=True)  # in place: the caller's x changes
    return y, cache


mutates_input_backward = staged_backward
