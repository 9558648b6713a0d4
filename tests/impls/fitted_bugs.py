"""Functional BNs ``<prefix>_forward(x, gamma, beta, eps)`` / ``<prefix>_backward(dy, cache)``
whose backward is wrong by a constant that is a size of the batch or a sign, or by where it
puts eps: the mistakes the diagnosis must name from its fitted constants (issue 20, "every
fitted value explained"). Each is written as such a mistake is written in real code, not from
the diagnosis' closed form; each docstring gives the closed form the test expects, per channel
of m values (x_hat = (x − mu)/sqrt(var + eps)):

    dx = c·gamma/sqrt(var + eps)·(dy − a·mean(dy) − b·x_hat·mean(dy·x_hat)),

correct at c = a = b = 1. The forward is correct in every one. Channel axis 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _axes(x: np.ndarray) -> tuple[int, ...]:
    return (0, *range(2, x.ndim))


def _b(v: np.ndarray, x: np.ndarray) -> np.ndarray:
    return v.reshape(1, -1, *[1] * (x.ndim - 2))


def _forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    ax = _axes(x)
    mu = x.mean(axis=ax, keepdims=True)
    xc = x - mu
    var = (xc**2).mean(axis=ax, keepdims=True)
    inv = 1.0 / np.sqrt(var + eps)
    x_hat = xc * inv
    return _b(gamma, x) * x_hat + _b(beta, x), (x, xc, var, inv, x_hat, gamma, eps)


def not_divided_by_m_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    return _forward(x, gamma, beta, eps)


def not_divided_by_m_backward(dy: np.ndarray, cache: Any) -> Any:
    """The compact formula with its leading 1/m left out: c = m, a = b = 1."""
    x, _, _, inv, x_hat, gamma, _ = cache
    ax = _axes(x)
    m = x.size // x.shape[1]
    dbeta = dy.sum(axis=ax)
    dgamma = (dy * x_hat).sum(axis=ax)
    dx = _b(gamma, x) * inv * (m * dy - _b(dbeta, x) - x_hat * _b(dgamma, x))
    return dx, dgamma, dbeta


def means_over_n_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    return _forward(x, gamma, beta, eps)


def means_over_n_backward(dy: np.ndarray, cache: Any) -> Any:
    """The backward's means divide by N = x.shape[0], not by N·H·W: a = b = m/N = H·W in 4-D
    (and right in 2-D, where m = N)."""
    x, _, _, inv, x_hat, gamma, _ = cache
    ax = _axes(x)
    n = x.shape[0]
    dbeta = dy.sum(axis=ax)
    dgamma = (dy * x_hat).sum(axis=ax)
    dx = _b(gamma, x) * inv * (dy - _b(dbeta, x) / n - x_hat * _b(dgamma, x) / n)
    return dx, dgamma, dbeta


def sums_not_means_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    return _forward(x, gamma, beta, eps)


def sums_not_means_backward(dy: np.ndarray, cache: Any) -> Any:
    """Σ dy and Σ dy·x_hat where their means belong: a = b = m."""
    x, _, _, inv, x_hat, gamma, _ = cache
    ax = _axes(x)
    dbeta = dy.sum(axis=ax)
    dgamma = (dy * x_hat).sum(axis=ax)
    dx = _b(gamma, x) * inv * (dy - _b(dbeta, x) - x_hat * _b(dgamma, x))
    return dx, dgamma, dbeta


def xhat_term_sign_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    return _forward(x, gamma, beta, eps)


def xhat_term_sign_backward(dy: np.ndarray, cache: Any) -> Any:
    """The staged chain rule with dL/dvar's −1/2 written +1/2: the x_hat term changes sign,
    b = −1 (the mean path's dvar·mean(−2·xc) is zero either way)."""
    x, xc, var, inv, x_hat, gamma, eps = cache
    ax = _axes(x)
    m = x.size // x.shape[1]
    dbeta = dy.sum(axis=ax)
    dgamma = (dy * x_hat).sum(axis=ax)
    dx_hat = dy * _b(gamma, x)
    dvar = (dx_hat * xc).sum(axis=ax, keepdims=True) * 0.5 * (var + eps) ** -1.5
    dmu = (-dx_hat * inv).sum(axis=ax, keepdims=True)
    dx = dx_hat * inv + dvar * 2.0 * xc / m + dmu / m
    return dx, dgamma, dbeta


def mean_term_sign_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    return _forward(x, gamma, beta, eps)


def mean_term_sign_backward(dy: np.ndarray, cache: Any) -> Any:
    """dL/dmu taken as +Σ dx_hat·inv: the mean(dy) term changes sign, a = −1."""
    x, xc, var, inv, x_hat, gamma, eps = cache
    ax = _axes(x)
    m = x.size // x.shape[1]
    dbeta = dy.sum(axis=ax)
    dgamma = (dy * x_hat).sum(axis=ax)
    dx_hat = dy * _b(gamma, x)
    dvar = (dx_hat * xc).sum(axis=ax, keepdims=True) * -0.5 * (var + eps) ** -1.5
    dmu = (dx_hat * inv).sum(axis=ax, keepdims=True)
    dx = dx_hat * inv + dvar * 2.0 * xc / m + dmu / m
    return dx, dgamma, dbeta


def backward_eps_on_std_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float
) -> Any:
    return _forward(x, gamma, beta, eps)


def backward_eps_on_std_backward(dy: np.ndarray, cache: Any) -> Any:
    """The backward recomputes its standard deviation as sqrt(var) + eps (the forward used
    sqrt(var + eps)) and x_hat from it: with r = sqrt(var + eps)/(sqrt(var) + eps) per
    channel, c = r, a = 1, b = r², and dgamma = r·Σ dy·x_hat."""
    x, xc, var, _, _, gamma, eps = cache
    ax = _axes(x)
    m = x.size // x.shape[1]
    std = np.sqrt(var) + eps
    x_hat = xc / std
    dbeta = dy.sum(axis=ax)
    dgamma = (dy * x_hat).sum(axis=ax)
    dx = _b(gamma, x) / std * (dy - _b(dbeta, x) / m - x_hat * _b(dgamma, x) / m)
    return dx, dgamma, dbeta


def backward_eps_on_std_cached_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float
) -> Any:
    return _forward(x, gamma, beta, eps)


def backward_eps_on_std_cached_backward(dy: np.ndarray, cache: Any) -> Any:
    """As above, but x_hat (and so dgamma) cached from the forward: c = r, a = 1, b = 1."""
    x, _, var, _, x_hat, gamma, eps = cache
    ax = _axes(x)
    m = x.size // x.shape[1]
    dbeta = dy.sum(axis=ax)
    dgamma = (dy * x_hat).sum(axis=ax)
    std = np.sqrt(var) + eps
    dx = _b(gamma, x) / std * (dy - _b(dbeta, x) / m - x_hat * _b(dgamma, x) / m)
    return dx, dgamma, dbeta


def unbiased_inv_backward_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float
) -> Any:
    return _forward(x, gamma, beta, eps)


def unbiased_inv_backward_backward(dy: np.ndarray, cache: Any) -> Any:
    """A negative case: the backward normalizes with the unbiased variance (np.var(ddof=1))
    while the forward used the biased one. c = sqrt(var + eps)/sqrt(var·m/(m − 1) + eps) is
    no constant of the sizes (about sqrt((m − 1)/m), a root), though b = c² comes within a
    percent of (m − 1)/m: nothing may be named."""
    x, xc, _, _, _, gamma, eps = cache
    ax = _axes(x)
    m = x.size // x.shape[1]
    var_u = (xc**2).sum(axis=ax, keepdims=True) / (m - 1)
    inv = 1.0 / np.sqrt(var_u + eps)
    x_hat = xc * inv
    dbeta = dy.sum(axis=ax)
    dgamma = (dy * x_hat).sum(axis=ax)
    dx = _b(gamma, x) * inv * (dy - _b(dbeta, x) / m - x_hat * _b(dgamma, x) / m)
    return dx, dgamma, dbeta


def dgamma_over_n_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    return _forward(x, gamma, beta, eps)


def dgamma_over_n_backward(dy: np.ndarray, cache: Any) -> Any:
    """dx and dbeta right; dgamma averaged over the batch axis N (sum then / x.shape[0]):
    dgamma = Σ dy·x_hat / N, read as 1/m in 2-D (dgamma-mean) and 1/N in 4-D (dgamma-scaled)."""
    x, _, _, inv, x_hat, gamma, _ = cache
    ax = _axes(x)
    m = x.size // x.shape[1]
    dbeta = dy.sum(axis=ax)
    dgamma = (dy * x_hat).sum(axis=ax)
    dx = _b(gamma, x) * inv * (dy - _b(dbeta, x) / m - x_hat * _b(dgamma, x) / m)
    return dx, dgamma / x.shape[0], dbeta


def _compact(dy: np.ndarray, cache: Any, *, k: float, ka: float, kb: float) -> Any:
    """g·inv·(k·dy − ka·Σdy − kb·x_hat·Σ(dy·x_hat))/m-style backward with the counts given."""
    x, _, _, inv, x_hat, gamma, _ = cache
    ax = _axes(x)
    dbeta = dy.sum(axis=ax)
    dgamma = (dy * x_hat).sum(axis=ax)
    dx = _b(gamma, x) * inv * (k * dy - _b(dbeta, x) / ka - x_hat * _b(dgamma, x) / kb)
    return dx, dgamma, dbeta


def count_minus_one_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    return _forward(x, gamma, beta, eps)


def count_minus_one_backward(dy: np.ndarray, cache: Any) -> Any:
    """The compact formula with its leading 1/m written 1/(m − 1), an unbiased count:
    dx = g·inv/(m − 1)·(m·dy − Σdy − x_hat·Σ(dy·x_hat)), so c = m/(m − 1), a = b = 1."""
    x, _, _, inv, x_hat, gamma, _ = cache
    ax = _axes(x)
    m = x.size // x.shape[1]
    dbeta = dy.sum(axis=ax)
    dgamma = (dy * x_hat).sum(axis=ax)
    dx = _b(gamma, x) * inv / (m - 1) * (m * dy - _b(dbeta, x) - x_hat * _b(dgamma, x))
    return dx, dgamma, dbeta


def mean_path_unbiased_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float
) -> Any:
    return _forward(x, gamma, beta, eps)


def mean_path_unbiased_backward(dy: np.ndarray, cache: Any) -> Any:
    """Σdy divided by m − 1 in the mean path alone: a = m/(m − 1)."""
    m = cache[0].size // cache[0].shape[1]
    return _compact(dy, cache, k=1.0, ka=m - 1, kb=m)


def var_path_unbiased_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float
) -> Any:
    return _forward(x, gamma, beta, eps)


def var_path_unbiased_backward(dy: np.ndarray, cache: Any) -> Any:
    """The staged chain rule with dvar/dx = 2·(x − mu)/(m − 1), the unbiased variance's
    derivative, in a forward that normalizes with the biased one: b = m/(m − 1)."""
    x, xc, var, inv, x_hat, gamma, eps = cache
    ax = _axes(x)
    m = x.size // x.shape[1]
    dbeta = dy.sum(axis=ax)
    dgamma = (dy * x_hat).sum(axis=ax)
    dx_hat = dy * _b(gamma, x)
    dvar = (dx_hat * xc).sum(axis=ax, keepdims=True) * -0.5 * (var + eps) ** -1.5
    dmu = (-dx_hat * inv).sum(axis=ax, keepdims=True)
    dx = dx_hat * inv + dvar * 2.0 * xc / (m - 1) + dmu / m
    return dx, dgamma, dbeta


def means_unbiased_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    return _forward(x, gamma, beta, eps)


def means_unbiased_backward(dy: np.ndarray, cache: Any) -> Any:
    """Both means of the backward over m − 1: a = b = m/(m − 1)."""
    m = cache[0].size // cache[0].shape[1]
    return _compact(dy, cache, k=1.0, ka=m - 1, kb=m - 1)


def dbeta_over_n_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> Any:
    return _forward(x, gamma, beta, eps)


def dbeta_over_n_backward(dy: np.ndarray, cache: Any) -> Any:
    """dbeta averaged over the batch axis: Σ dy / N (dbeta-mean in 2-D, 1/N in 4-D)."""
    m = cache[0].size // cache[0].shape[1]
    dx, dgamma, dbeta = _compact(dy, cache, k=1.0, ka=m, kb=m)
    return dx, dgamma, dbeta / cache[0].shape[0]


def _eps_moved_cached(dy: np.ndarray, cache: Any, std_of: Any) -> Any:
    x, _, var, _, x_hat, gamma, eps = cache
    ax = _axes(x)
    m = x.size // x.shape[1]
    dbeta = dy.sum(axis=ax)
    dgamma = (dy * x_hat).sum(axis=ax)
    std = std_of(var, eps)
    dx = _b(gamma, x) / std * (dy - _b(dbeta, x) / m - x_hat * _b(dgamma, x) / m)
    return dx, dgamma, dbeta


def backward_eps_missing_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float
) -> Any:
    return _forward(x, gamma, beta, eps)


def backward_eps_missing_backward(dy: np.ndarray, cache: Any) -> Any:
    """x_hat cached, but the backward's own 1/std is 1/sqrt(var): c = r, a = b = 1, with
    r = sqrt(var + eps)/sqrt(var)."""
    return _eps_moved_cached(dy, cache, lambda var, eps: np.sqrt(var))


def backward_eps_twice_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float
) -> Any:
    return _forward(x, gamma, beta, eps)


def backward_eps_twice_backward(dy: np.ndarray, cache: Any) -> Any:
    """x_hat cached, the backward's 1/std is 1/sqrt(var + 2·eps) (eps added again)."""
    return _eps_moved_cached(dy, cache, lambda var, eps: np.sqrt(var + 2 * eps))


#: what verify must name on each planted bug's failing backward checks, per rank (2-D, 4-D);
#: an empty set: the check fails and stays unexplained
DIAGNOSES: dict[str, tuple[set[str], set[str]]] = {
    "not_divided_by_m": ({"dx-not-divided-by-m"}, {"dx-not-divided-by-m"}),
    "means_over_n": (set(), {"backward-means-over-n"}),  # right in 2-D (m = N)
    "sums_not_means": ({"backward-sums-not-means"}, {"backward-sums-not-means"}),
    "xhat_term_sign": ({"dvar-path-sign"}, {"dvar-path-sign"}),
    "mean_term_sign": ({"dmu-path-sign"}, {"dmu-path-sign"}),
    "backward_eps_on_std": ({"backward-eps-outside-sqrt"}, {"backward-eps-outside-sqrt"}),
    "backward_eps_on_std_cached": ({"backward-eps-outside-sqrt"}, {"backward-eps-outside-sqrt"}),
    "backward_eps_missing": ({"backward-eps-missing"}, {"backward-eps-missing"}),
    "backward_eps_twice": ({"backward-eps-twice"}, {"backward-eps-twice"}),
    "count_minus_one": ({"dx-scaled"}, {"dx-scaled"}),
    "mean_path_unbiased": ({"dmu-path-scaled"}, {"dmu-path-scaled"}),
    "var_path_unbiased": ({"dvar-path-scaled"}, {"dvar-path-scaled"}),
    "means_unbiased": ({"backward-means-scaled"}, {"backward-means-scaled"}),
    "dgamma_over_n": ({"dgamma-mean"}, {"dgamma-scaled"}),
    "dbeta_over_n": ({"dbeta-mean"}, {"dbeta-scaled"}),
    "unbiased_inv_backward": (set(), set()),  # fails, unexplained: no constant of the sizes
}
