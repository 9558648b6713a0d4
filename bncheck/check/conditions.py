"""Conditions and scales: the per-channel quantities of an input that the budgets of
:mod:`bncheck.check.tolerances` are multiplied by.

- :func:`channel_condition` (kappa_s) and :func:`output_condition` (K): the first-order
  conditions of the probabilistic budget (derived in the docstring of
  :mod:`bncheck.check.tolerances`, "Probabilistic budget"), with which
  :func:`bncheck.check.metrics.compare` judges an output;
- :func:`worst_case_scales`: the scales of the worst-case float64 bound ("Worst case").
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bncheck.check.memo import memoized
from bncheck.check.norms import NormSpec, resolve
from bncheck.check.tolerances import BUDGET_TABLE

__all__ = ["channel_condition", "output_condition", "worst_case_scales"]

F64 = NDArray[np.float64]


def channel_columns(a: ArrayLike, spec: NormSpec | int) -> F64:
    """x's layout -> (m, K) float64 columns of ``spec`` (an int: BN's channel axis)."""
    sp = spec if isinstance(spec, NormSpec) else resolve(None, spec)
    return np.asarray(sp.columns(a))


class _Stats(NamedTuple):
    m: int
    big_m: F64  # max|x|
    d: F64  # max|x − mu|
    s: F64  # sqrt(var + eps)
    x_hat: F64  # (m, C)


def _stats(x: ArrayLike, eps: float, spec: NormSpec) -> _Stats:
    xc = channel_columns(x, spec)
    mu = xc.mean(axis=0)
    dev = xc - mu
    dev -= dev.mean(axis=0)  # a second correction pass: x − mu accurate also at large offsets
    s = np.sqrt(np.mean(dev * dev, axis=0) + eps)
    return _Stats(xc.shape[0], np.abs(xc).max(axis=0), np.abs(dev).max(axis=0), s, dev / s)


def channel_condition(
    x: ArrayLike, eps: float, axis: int | None = None, *, spec: NormSpec | None = None
) -> F64:
    """kappa_s = max(1, max_i|x_i| / sqrt(var + eps)) per channel, shape (C,) (per column of
    ``spec``, :mod:`bncheck.check.norms`; None: BN over ``axis``, default 1).

    How much BN's centering x_i − mu magnifies the rounding of the (large) x_i relative to the
    normalization scale s: an error Δmu of the mean becomes Δmu/s in x_hat, and
    Δmu ~ u·max|x|. It is 1 for centred data and ~1e4 when the mean is 1e4 spreads away.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.conditions import channel_condition
    >>> x = np.array([[-1.0, 99.0], [1.0, 101.0]])
    >>> channel_condition(x, eps=0.0, axis=1)
    array([  1., 101.])
    """
    st = _stats(x, eps, resolve(spec, axis))
    return np.maximum(1.0, st.big_m / st.s)


class _Conditions(NamedTuple):
    k: F64  # K, first-order condition of the output
    k2: F64  # sensitivity of the output to a relative error of s
    kappa_s: F64
    num: F64  # K·den: the first-order error bound in units of u·(output's unit, see `to_abs`)
    num2: F64  # K2·den
    den: F64  # the lower bound of the output's scale that K is relative to
    to_abs: F64  # num·to_abs is in the output's own units (|gamma|/s for dx, else 1)


def _ratio(num: F64, den: F64) -> F64:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(den > 0, num / np.where(den > 0, den, 1.0), np.inf))


@memoized
def column_conditions(
    output: str,
    x: ArrayLike,
    eps: float,
    spec: NormSpec,
    dy: ArrayLike | None,
    gamma: ArrayLike | None = None,
    y_scale: ArrayLike | None = None,
) -> _Conditions:
    """K and K2 per channel, as ``num/den`` (:mod:`bncheck.check.metrics`, "Degenerate
    channels").

    For y, without ``gamma`` the scale is bounded below by |gamma|·nu/2 (gamma cancels); with
    ``gamma`` and ``y_scale`` (max|y| of the truth per channel) by max(|gamma|·nu/2, y_scale),
    which is also positive on a constant channel. dx needs ``gamma`` only to convert its
    bound to absolute units (``to_abs``), for a channel whose true dx is exactly 0.

    A ``spec`` whose gamma varies along a column (Layer Normalization) is handled by
    :func:`_conditions_per_value`.
    """
    if output not in BUDGET_TABLE:
        raise ValueError(f"output={output!r} is unknown; expected one of {sorted(BUDGET_TABLE)}")
    if not spec.params_per_column(np.ndim(x)) or (
        output in ("dgamma", "dbeta") and not spec.param_is_column(np.ndim(x))
    ):
        return _conditions_per_value(output, x, eps, spec, dy, gamma, y_scale)
    st = _stats(x, eps, spec)
    kappa_s = np.maximum(1.0, st.big_m / st.s)
    nu = st.d / st.s
    c = st.big_m.shape[0]
    ones = np.ones(c)
    g_abs = (
        ones
        if gamma is None
        else np.abs(spec.param_columns(_vec(gamma), np.shape(x))[0].astype(np.float64))
    )
    if output == "y":
        if gamma is None or y_scale is None:
            den = nu / 2  # x_hat takes both signs, so max|y| >= |gamma|·nu/2 (gamma = 1 here)
        else:
            den = np.maximum(g_abs * nu / 2, np.broadcast_to(_vec(y_scale), (c,)))
        # (g + c)·K bounds [|gamma|·g·M/s + |gamma|·nu·(g + 3)/2 + c·max|y|] / max|y|
        num = np.maximum(2 * den, g_abs * st.big_m / st.s) + 3 * den
        num2 = 2 * den
        return _Conditions(_ratio(num, den), _ratio(num2, den), kappa_s, num, num2, den, ones)
    if dy is None:
        raise ValueError(f"dy is required to judge {output}: its condition depends on dy")
    delta = channel_columns(dy, spec)
    m = st.m
    s1 = delta.sum(axis=0)
    s2 = (delta * st.x_hat).sum(axis=0)
    abs_d = np.abs(delta)
    abs_dn = np.abs(delta * st.x_hat)
    if output == "dbeta":
        num = abs_d.sum(axis=0)
        den = np.full(c, np.max(np.abs(s1)))
        zero = np.zeros(c)
        return _Conditions(_ratio(num, den), zero, kappa_s, num, zero, den, ones)
    if output == "dgamma":
        num = abs_dn.sum(axis=0) + kappa_s * np.abs(s1) + (1.0 + nu) * abs_d.sum(axis=0)
        num2 = abs_dn.sum(axis=0)
        den = np.full(c, np.max(np.abs(s2)))
        return _Conditions(_ratio(num, den), _ratio(num2, den), kappa_s, num, num2, den, ones)
    a1, a2 = np.abs(s1) / m, np.abs(s2) / m
    r1, r2 = abs_d.mean(axis=0), abs_dn.mean(axis=0)
    p = np.abs(delta - s1 / m - st.x_hat * (s2 / m)).max(axis=0)
    num = (
        p / 2
        + abs_d.max(axis=0)
        + r1
        + a1
        + (kappa_s + 2 * nu) * a2
        + nu * (r2 + kappa_s * a1 + (1.0 + nu) * r1)
    )
    num2 = p + 2 * nu * (a2 + nu * r1)
    to_abs = g_abs / st.s
    return _Conditions(_ratio(num, p), _ratio(num2, p), kappa_s, num, num2, p, to_abs)


def _conditions_per_value(
    output: str,
    x: ArrayLike,
    eps: float,
    spec: NormSpec,
    dy: ArrayLike | None,
    gamma: ArrayLike | None,
    y_scale: ArrayLike | None,
) -> _Conditions:
    """K and K2 when gamma varies along a column, or a parameter spans several columns (Layer
    and Instance Normalization): the same first-order analysis with each value's own gamma.

    y and dx stay per column. With delta = gamma·dy (the gradient of x_hat), the backward is
    dx = (delta − S1/m − x_hat·S2/m)/s, BN's with gamma = 1 and delta for dy, so its K and K2
    are BN's with delta (``to_abs`` = 1/s). For y the bound uses G = max|gamma| of the column,
    |Δy_i| <= G·(g·u·M/s + nu·(g + 3)·u/2) + c·u·max|y|, relative to den = max|y| of the truth
    (``y_scale``; without it gamma is taken as 1 and den = nu/2, as for BN). dgamma and dbeta
    are sums over the values sharing a parameter, possibly from several columns, each value
    carrying its column's error of mu and s: bounded by the sums of the per-value bounds,
    Σ|delta·x_hat| + Σ kappa_s·|delta| + Σ (1 + nu)·|delta| (dgamma) and Σ|delta| (dbeta),
    with delta = dy, relative to the largest |sum|; one "channel" per parameter.
    """
    xa = np.asarray(x, dtype=np.float64)
    st = _stats(xa, eps, spec)
    kappa_s = np.maximum(1.0, st.big_m / st.s)
    nu = st.d / st.s
    pshape = spec.parameter_shape(xa.shape)
    g_cols = (
        np.ones(st.x_hat.shape)
        if gamma is None
        else np.asarray(
            spec.param_columns(np.asarray(gamma, np.float64).reshape(pshape), xa.shape),
            dtype=np.float64,
        )
    )
    if output == "y":
        g_max = np.abs(g_cols).max(axis=0)
        if gamma is None or y_scale is None:
            den = nu / 2
            g_max = np.ones_like(den)
        else:
            den = np.asarray(y_scale, dtype=np.float64).reshape(-1) * np.ones_like(nu)
        num = np.maximum(2 * den, g_max * st.big_m / st.s) + 3 * np.maximum(den, g_max * nu / 2)
        num2 = 2 * np.maximum(den, g_max * nu / 2)
        ones = np.ones_like(den)
        return _Conditions(_ratio(num, den), _ratio(num2, den), kappa_s, num, num2, den, ones)
    if dy is None:
        raise ValueError(f"dy is required to judge {output}: its condition depends on dy")
    dyc = channel_columns(dy, spec)
    if output in ("dgamma", "dbeta"):
        kap = np.broadcast_to(kappa_s, dyc.shape)
        one_nu = np.broadcast_to(1.0 + nu, dyc.shape)

        def per_param(cols: F64) -> F64:
            return spec.param_sum(spec.from_columns(cols, xa.shape)).reshape(-1)

        s1 = per_param(dyc)
        s2 = per_param(dyc * st.x_hat)
        if output == "dbeta":
            num = per_param(np.abs(dyc))
            den = np.full(num.shape, np.max(np.abs(s1)))
            zero = np.zeros(num.shape)
            ones = np.ones(num.shape)
            return _Conditions(_ratio(num, den), zero, np.ones(num.shape), num, zero, den, ones)
        num2 = per_param(np.abs(dyc * st.x_hat))
        num = num2 + per_param(kap * np.abs(dyc)) + per_param(one_nu * np.abs(dyc))
        den = np.full(num.shape, np.max(np.abs(s2)))
        kappa_p = np.full(num.shape, np.max(kappa_s))
        ones = np.ones(num.shape)
        return _Conditions(_ratio(num, den), _ratio(num2, den), kappa_p, num, num2, den, ones)
    delta = g_cols * dyc
    m = st.m
    s1 = delta.sum(axis=0)
    s2 = (delta * st.x_hat).sum(axis=0)
    abs_d = np.abs(delta)
    abs_dn = np.abs(delta * st.x_hat)
    a1, a2 = np.abs(s1) / m, np.abs(s2) / m
    r1, r2 = abs_d.mean(axis=0), abs_dn.mean(axis=0)
    p = np.abs(delta - s1 / m - st.x_hat * (s2 / m)).max(axis=0)
    num = (
        p / 2
        + abs_d.max(axis=0)
        + r1
        + a1
        + (kappa_s + 2 * nu) * a2
        + nu * (r2 + kappa_s * a1 + (1.0 + nu) * r1)
    )
    num2 = p + 2 * nu * (a2 + nu * r1)
    return _Conditions(_ratio(num, p), _ratio(num2, p), kappa_s, num, num2, p, 1.0 / st.s)


def _vec(a: ArrayLike) -> F64:
    return np.asarray(a, dtype=np.float64).reshape(-1)


def output_condition(
    output: str,
    x: ArrayLike,
    eps: float,
    axis: int | None = None,
    dy: ArrayLike | None = None,
    *,
    spec: NormSpec | None = None,
) -> F64:
    """The first-order condition K of ``output`` per channel, shape (C,) (the docstring of
    :mod:`bncheck.check.tolerances`, "Probabilistic budget").

    For y, K = 2·kappa_c + 3 with kappa_c = max(1, max|x| / max|x − mu|). For dx, dgamma and
    dbeta ``dy`` is required. For the per-channel vectors dgamma and dbeta each entry is that
    channel's numerator divided by the largest |S2|, respectively |S1|, over all channels (the
    normwise condition is their maximum).

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.conditions import output_condition
    >>> x = np.array([[-1.0, 99.0], [1.0, 101.0]])
    >>> output_condition("y", x, eps=0.0, axis=1)
    array([  5., 205.])
    """
    return column_conditions(output, x, eps, resolve(spec, axis), dy).k


def worst_case_scales(
    x: ArrayLike,
    gamma: ArrayLike | None,
    beta: ArrayLike | None,
    dy: ArrayLike,
    eps: float,
    axis: int | None = None,
    *,
    spec: NormSpec | None = None,
) -> dict[str, F64]:
    """Per-channel scales of the worst-case float64 bound, by output (the docstring of
    :mod:`bncheck.check.tolerances`, "Worst case"), for :func:`bncheck.check.metrics.
    assert_within_worst_case`.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.conditions import worst_case_scales
    >>> x = np.array([[-1.0, 0.0], [1.0, 4.0]])
    >>> scales = worst_case_scales(x, None, None, np.ones_like(x), 0.0, axis=1)
    >>> scales["y"], scales["dbeta"]
    (array([2., 2.]), array([2., 2.]))
    """
    sp = resolve(spec, axis)
    if not sp.param_is_column(np.ndim(x)):
        raise ValueError(
            f"spec={sp!r}: the worst-case scales are derived for one gamma per "
            "column (Batch Normalization)"
        )
    xc = channel_columns(x, sp)
    dyc = channel_columns(dy, sp)
    c = xc.shape[1]
    g = np.ones(c) if gamma is None else np.abs(np.asarray(gamma, dtype=np.float64))
    b = np.zeros(c) if beta is None else np.abs(np.asarray(beta, dtype=np.float64))
    var = xc.var(axis=0)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = np.abs(xc - xc.mean(axis=0)) * inv_std
    mx = x_hat.max(axis=0)
    sdy = np.abs(dyc).sum(axis=0)
    sdyx = np.abs(dyc * x_hat).sum(axis=0)
    m = xc.shape[0]
    max_dy = np.abs(dyc).max(axis=0)
    return {
        "y": g * (mx + 1.0) + b,
        "dx": g * inv_std * (2 * max_dy + sdy / m + mx * sdyx / m),
        "dgamma": sdyx + mx * sdy,
        "dbeta": sdy,
    }
