"""Error metrics against a high-precision truth, and condition-aware error budgets.

Metric (docs/design.md, numerics policy). Normwise ULP: per channel,
``max_i |a_i − r_i| / spacing(max_i |r_i|)`` with the spacing taken in the dtype being judged.
One rounding of the truth to that dtype costs at most 0.5; a value of k means the worst entry is
k units of the channel's largest value off.

Budget. :func:`error_budget` is the normwise ULP that a *correct but not careful* BN may reach:
a plain two-pass BN computing everything in ``dtype`` with recursive (naive) summation along
the batch. Notation per channel: u the unit roundoff of the dtype (2^-11, 2^-24, 2^-53),
M = max|x_i|, D = max|x_i − mu|, s = sqrt(var + eps), nu = D/s = max|x_hat|, delta = dy,
S1 = Σ delta, S2 = Σ delta·x_hat, P = max_i |delta_i − S1/m − x_hat_i·S2/m| (so that
max|dx| = |gamma|·s^-1·P).

Summation. A sum of m terms computed in any order errs by at most γ_m·Σ|terms| (worst case,
Higham §4.2), but γ_m = m·u/(1 − m·u) is hopeless here: for float32, m = 4096 and an offset of
1e4 it allows a relative error above 1 and so would pass any output. We use the probabilistic
bound of Higham & Mary (SIAM J. Sci. Comput. 41(5), 2019, Thm 3.1): if the rounding errors are
independent and mean-zero, the sum errs by at most
``γ̃_m(λ) = exp(λ·√m·u + m·u²/(1 − u)) − 1`` times Σ|terms| with probability at least
``1 − 2m·exp(−λ²(1 − u)²/2)``. We take λ = 6 (:data:`LAMBDA`). Write g = γ̃_m/u + 2 (the +2
covers the division by m and one cast) for the summation error in units of u.

First-order analysis of the two-pass BN (each elementwise operation errs by <= u relative; a
bounded number of them lies on any path, covered by the constant c of :data:`BUDGET_TABLE`):

- the mean errs by Δmu <= g·u·M; x − mu then errs by Δmu + u·|x − mu| (a *common* shift);
- the two-pass variance is insensitive to the shift to first order (Σ (x_i − mu) = 0): its
  relative error is <= (g + 3)·u + Δmu²/(var + eps), the last term second order;
- y: |Δy| <= |gamma|·(Δmu/s + nu·Δs/s) + c·u·max|y|, and max|y| >= |gamma|·nu/2 because the
  x_hat_i take both signs. Hence ``K_y = 2·kappa_c + 3`` with the centering condition
  ``kappa_c = M/D`` (the normwise condition of x -> x − mu);
- dx: errors of s, of S1/m, of S2/m (its common-shift part is (Δmu/s)·S1) and of x_hat_i·S2/m,
  collected relative to P:
  ``K_dx = [P/2 + max|delta| + r1 + a1 + (kappa_s + 2 nu)·a2 + nu·(r2 + kappa_s·a1 +
  (1 + nu)·r1)] / P`` with a1 = |S1|/m, a2 = |S2|/m, r1 = mean|delta|, r2 = mean|delta·x_hat|
  and ``kappa_s = M/s`` (:func:`channel_condition`);
- dgamma: ``K_dgamma = max_j [Σ|delta·x_hat| + kappa_s·|S1| + (1 + nu)·Σ|delta|]_j / max|S2|``;
- dbeta: ``K_dbeta = max_j (Σ|delta|)_j / max|S1|`` (the condition of the sum).

Then, in normwise ULP (spacing(v) > u·v, so an error of E·u·max|r| is fewer than E ULP),

    budget = (g + c)·K + g²·u·kappa_s²·K2

where the second term is the Δmu²/(var + eps) <= (g·u·kappa_s)² part of the relative error of s
(at most half of it; the other half covers the cross terms), times the output's sensitivity K2
to a relative error of s (2 for y; [P + 2 nu (a2 + nu r1)]/P for dx; Σ|delta·x_hat|/max|S2|
for dgamma; dbeta does not depend on s),

plus 1 ULP for the rounding of the truth in :func:`compare`.

Degenerate channels. K is a first-order error bound ``num`` (in units of u) divided by a lower
bound ``den`` of the output's scale, and ``den`` can vanish: on a constant channel (D = 0,
x_hat = 0) for y (den = |gamma|·nu/2) and dgamma (max|S2|), for dbeta when dy sums to 0, for dx
when dy is affine in x_hat (P = 0). The bound itself stays finite there. So, for y, when
:func:`compare` is given gamma, den is the better lower bound max(|gamma|·nu/2, max|y|) (true
max|y| >= |beta| as well, because x_hat takes both signs or is 0): on a constant channel
K = 2·max(1, |gamma|·(M/s)/(2|beta|)) + 3, finite, and the mean's error, Δmu/s <= g·u·kappa_s
in x_hat, is what it allows. When the true output of a channel is exactly 0 (y with beta = 0;
dgamma, dbeta, dx as above) the spacing of 0 is a subnormal and normwise ULP against it would
be astronomical (or overflow) for a correct output and any budget alike; there :func:`compare`
measures the error in units of u·N, N = num in the output's own units (times |gamma|/s for dx),
so that K = 1 (per-channel vectors: num_j / max_j num_j) and the budget is about g + c. Without
gamma, y and dx keep an infinite budget on such channels (gamma cannot be inferred there).

This is a bound, not a fit: no
constant was chosen from measurements. Measured against it (tests/test_errors.py), a plain
two-pass float32 BN with recursive sums: m = 1000 centred, y 3.8 ULP of a 1.0e3 budget; m = 4096
at offset 1e4, y 2.0e3 of 3.8e6 (relative ~2e-4: a correct float32 BN legitimately loses that
much there). In float64 (m = 64) the budgets are ~3e2-2e3 ULP (~1e-13 relative), so eps counted
twice (4.6e10 ULP) and m − 1 in the variance (6.4e13 ULP) fail.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

__all__ = [
    "BUDGET_TABLE",
    "LAMBDA",
    "Comparison",
    "channel_condition",
    "channel_ulps",
    "compare",
    "error_budget",
    "normwise_ulp",
    "output_condition",
    "summation_factor",
    "unit_roundoff",
]

F64 = NDArray[np.float64]

#: Confidence parameter of the probabilistic summation bound (Higham & Mary 2019).
LAMBDA = 6.0


class _Row(NamedTuple):
    """c: elementwise roundings on a path (doubled for products of perturbed factors);
    second_order: whether the output depends on the statistics (then Δmu² matters)."""

    c: float
    second_order: bool


#: One row per output: the constant c and whether the Δmu² term applies.
BUDGET_TABLE: dict[str, _Row] = {
    "y": _Row(16.0, True),
    "dx": _Row(16.0, True),
    "dgamma": _Row(16.0, True),
    "dbeta": _Row(4.0, False),
}


class Comparison(NamedTuple):
    """Result of :func:`compare`: the worst channel's normwise ULP and its budget, and the worst
    entry (its index in the full array, the computed value and the truth there)."""

    ulp: float
    budget: float
    passed: bool
    worst_index: tuple[int, ...]
    worst_actual: float
    worst_truth: float


def unit_roundoff(dtype: DTypeLike) -> float:
    """u = eps/2 of the dtype: 2^-11 (float16), 2^-24 (float32), 2^-53 (float64)."""
    return float(np.finfo(np.dtype(dtype)).eps) / 2.0


def summation_factor(m: int, dtype: DTypeLike) -> float:
    """g = γ̃_m(λ)/u + 2 with γ̃_m(λ) = exp(λ√m·u + m·u²/(1 − u)) − 1 (in units of u)."""
    u = unit_roundoff(dtype)
    return math.expm1(LAMBDA * math.sqrt(m) * u + m * u * u / (1.0 - u)) / u + 2.0


def error_budget(
    output: str,
    dtype: DTypeLike,
    *,
    m: int,
    condition: float,
    shift_condition: float = 1.0,
    scale_sensitivity: float | None = None,
) -> float:
    """Allowed normwise ULP of ``output`` for a correct plain two-pass BN computing in ``dtype``.

        budget = (g + c) · K  +  g² · u · kappa_s² · K2

    Parameters
    ----------
    output : {"y", "dx", "dgamma", "dbeta"}
    dtype : the dtype the implementation computes in (and is judged in)
    m : values per channel
    condition : K, the output's first-order condition (:func:`output_condition`)
    shift_condition : kappa_s = max|x|/sqrt(var + eps) (:func:`channel_condition`); it enters
        only the second-order term (the squared error of the mean in the variance)
    scale_sensitivity : K2, the output's sensitivity to a relative error of s, in units of the
        output's scale (2 for y); None uses the bound 2·K. Ignored for dbeta.

    See the module docstring for the derivation of every term.
    """
    if output not in BUDGET_TABLE:
        raise ValueError(f"output={output!r} is unknown; expected one of {sorted(BUDGET_TABLE)}")
    if m < 1:
        raise ValueError(f"m={m} must be >= 1")
    row = BUDGET_TABLE[output]
    u = unit_roundoff(dtype)
    g = summation_factor(m, dtype)
    base = (g + row.c) * condition
    if not row.second_order:
        return float(base)
    k2 = 2.0 * condition if scale_sensitivity is None else scale_sensitivity
    return float(base + g * g * u * shift_condition**2 * k2)


def _columns(a: ArrayLike, axis: int) -> F64:
    """(…, C, …) -> (m, C) float64."""
    moved = np.moveaxis(np.asarray(a, dtype=np.float64), axis, -1)
    return moved.reshape(-1, moved.shape[-1])


class _Stats(NamedTuple):
    m: int
    big_m: F64  # max|x|
    d: F64  # max|x − mu|
    s: F64  # sqrt(var + eps)
    x_hat: F64  # (m, C)


def _stats(x: ArrayLike, eps: float, axis: int) -> _Stats:
    xc = _columns(x, axis)
    mu = xc.mean(axis=0)
    dev = xc - mu
    dev -= dev.mean(axis=0)  # a second correction pass: x − mu accurate also at large offsets
    s = np.sqrt(np.mean(dev * dev, axis=0) + eps)
    return _Stats(xc.shape[0], np.abs(xc).max(axis=0), np.abs(dev).max(axis=0), s, dev / s)


def channel_condition(x: ArrayLike, eps: float, axis: int) -> F64:
    """kappa_s = max(1, max_i|x_i| / sqrt(var + eps)) per channel, shape (C,).

    How much BN's centering x_i − mu magnifies the rounding of the (large) x_i relative to the
    normalization scale s: an error Δmu of the mean becomes Δmu/s in x_hat, and
    Δmu ~ u·max|x|. It is 1 for centred data and ~1e4 when the mean is 1e4 spreads away.
    """
    st = _stats(x, eps, axis)
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


def _conditions(
    output: str,
    x: ArrayLike,
    eps: float,
    axis: int,
    dy: ArrayLike | None,
    gamma: ArrayLike | None = None,
    y_scale: ArrayLike | None = None,
) -> _Conditions:
    """K and K2 per channel, as ``num/den`` (module docstring, "Degenerate channels").

    For y, without ``gamma`` the scale is bounded below by |gamma|·nu/2 (gamma cancels); with
    ``gamma`` and ``y_scale`` (max|y| of the truth per channel) by max(|gamma|·nu/2, y_scale),
    which is also positive on a constant channel. dx needs ``gamma`` only to convert its
    bound to absolute units (``to_abs``), for a channel whose true dx is exactly 0.
    """
    if output not in BUDGET_TABLE:
        raise ValueError(f"output={output!r} is unknown; expected one of {sorted(BUDGET_TABLE)}")
    st = _stats(x, eps, axis)
    kappa_s = np.maximum(1.0, st.big_m / st.s)
    nu = st.d / st.s
    c = st.big_m.shape[0]
    ones = np.ones(c)
    g_abs = ones if gamma is None else np.abs(np.broadcast_to(_vec(gamma), (c,)))
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
    delta = _columns(dy, axis)
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


def _vec(a: ArrayLike) -> F64:
    return np.asarray(a, dtype=np.float64).reshape(-1)


def output_condition(
    output: str, x: ArrayLike, eps: float, axis: int, dy: ArrayLike | None = None
) -> F64:
    """The first-order condition K of ``output`` per channel, shape (C,) (module docstring).

    For y, K = 2·kappa_c + 3 with kappa_c = max(1, max|x| / max|x − mu|). For dx, dgamma and
    dbeta ``dy`` is required. For the per-channel vectors dgamma and dbeta each entry is that
    channel's numerator divided by the largest |S2|, respectively |S1|, over all channels (the
    normwise condition is their maximum).
    """
    return _conditions(output, x, eps, axis, dy).k


def channel_ulps(
    actual: ArrayLike, truth: ArrayLike, dtype: DTypeLike, *, axis: int | None = None
) -> F64:
    """Per-channel normwise ULP, shape (C,) (shape (1,) when ``axis`` is None).

    A non-finite computed value counts as an infinite error.
    """
    a = np.asarray(actual, dtype=np.float64)
    r = np.asarray(truth, dtype=np.float64)
    if a.shape != r.shape:
        raise ValueError(f"actual has shape {a.shape}; expected {r.shape}, the truth's shape")
    if a.size == 0:
        return np.zeros(1)
    if axis is None:
        a, r = a.reshape(-1, 1), r.reshape(-1, 1)
    else:
        a, r = _columns(a, axis), _columns(r, axis)
    dt: np.dtype[Any] = np.dtype(dtype)
    scale = np.max(np.abs(r), axis=0)
    # spacing of the channel's largest value; a channel that is exactly 0 is judged against
    # the smallest subnormal of the dtype, so any nonzero error there shows as huge.
    unit = np.spacing(scale.astype(dt)).astype(np.float64)
    with np.errstate(invalid="ignore"):
        err = np.where(np.isfinite(a), np.abs(a - r), np.inf)
    return np.asarray(np.max(err, axis=0) / unit)


def normwise_ulp(
    actual: ArrayLike, truth: ArrayLike, dtype: DTypeLike, *, axis: int | None = None
) -> float:
    """The worst per-channel normwise error of ``actual`` against ``truth``, in ULP of ``dtype``.

        ulp = max_channels  max_i |a_i − r_i| / spacing_dtype(max_i |r_i|)

    ``axis`` is the channel axis of ``actual``; None treats the whole array as one channel (use
    that for per-channel vectors such as dgamma, whose "channel" is the vector itself).
    """
    return float(np.max(channel_ulps(actual, truth, dtype, axis=axis)))


def compare(
    actual: ArrayLike,
    truth: ArrayLike,
    output: str,
    dtype: DTypeLike,
    *,
    x: ArrayLike,
    eps: float,
    axis: int,
    dy: ArrayLike | None = None,
    gamma: ArrayLike | None = None,
) -> Comparison:
    """Judge one output of a BN against the truth with the condition-aware budget.

    ``actual`` and ``truth`` have the layout of x (y, dx) or shape (C,) (dgamma, dbeta);
    ``truth`` must be computed from the same input values (already rounded to ``dtype``).
    ``dy`` is needed for dx, dgamma and dbeta. ``gamma``, the gamma the truth was computed
    with, makes the budgets of y and dx finite on degenerate channels (a constant channel, a
    channel whose true output is exactly 0; see "Degenerate channels" in the module
    docstring); without it they stay infinite there, as gamma cannot be inferred. Per channel,
    passes when ``ulp_j <= error_budget(output, dtype, m, K_j, kappa_s_j) + 1`` (the +1: the
    truth's own rounding); the returned ulp and budget are those of the channel closest to
    failing. On a channel whose truth is exactly 0 the unit is u·N_j, N_j the first-order
    error scale of the analysis, instead of the spacing of 0.
    """
    a = np.asarray(actual, dtype=np.float64)
    r = np.asarray(truth, dtype=np.float64)
    xa = np.asarray(x)
    ax = axis % xa.ndim
    m = xa.size // xa.shape[ax]
    per_channel = output in ("y", "dx")
    scale = (
        np.max(np.abs(_columns(r, ax)), axis=0)
        if per_channel and r.size
        else np.abs(r).max(initial=0)
    )
    cond = _conditions(
        output, xa, eps, ax, dy, gamma=gamma, y_scale=scale if output == "y" else None
    )
    k, k2 = cond.k.copy(), cond.k2.copy()
    u = unit_roundoff(dtype)
    # Degenerate channels: the truth is exactly 0, so the spacing of 0 (a subnormal) would
    # make every error and every budget astronomical (or overflow). Judge them in units of
    # u·N, N = the analysis' first-order error scale in the output's units: K = num/N.
    exact_zero = np.broadcast_to(scale == 0, k.shape).copy()
    if output in ("y", "dx") and gamma is None:
        exact_zero[:] = False  # no absolute error scale without gamma (see the docstring)
    natural = cond.num * cond.to_abs
    if not per_channel:
        natural = np.full_like(natural, np.max(natural, initial=0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(exact_zero, np.where(natural > 0, cond.num * cond.to_abs / natural, 0), k)
        k2 = np.where(exact_zero, np.where(natural > 0, cond.num2 * cond.to_abs / natural, 0), k2)
    budgets = np.array(
        [
            error_budget(
                output,
                dtype,
                m=m,
                condition=float(kj),
                shift_condition=float(ks),
                scale_sensitivity=float(k2j),
            )
            + 1.0
            for kj, k2j, ks in zip(k, k2, cond.kappa_s, strict=True)
        ]
    )
    with np.errstate(invalid="ignore"):
        err = np.where(np.isfinite(a), np.abs(a - r), np.inf)
    if per_channel:
        with np.errstate(over="ignore"):  # err / subnormal on exactly-zero channels
            ulps = channel_ulps(a, r, dtype, axis=ax)
        err_c = np.max(_columns(err, ax), axis=0) if err.size else np.zeros(1)
    else:
        with np.errstate(over="ignore"):
            ulps = channel_ulps(a, r, dtype, axis=None)
        budgets = np.array([np.max(budgets)])
        err_c = np.array([np.max(err, initial=0.0)])
        exact_zero = exact_zero[:1]
        natural = natural[:1]
    if exact_zero.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            zero_ulps = np.where(err_c == 0, 0.0, err_c / (u * natural))
        ulps = np.where(exact_zero, zero_ulps, ulps)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(np.isinf(budgets), 0.0, ulps / budgets)
    passed = bool(np.all(ulps <= budgets))
    j = int(np.argmax(np.nan_to_num(ratio, nan=np.inf)))
    if per_channel:
        err_j = np.take(err, j, axis=ax)
        sub = [int(i) for i in np.unravel_index(int(np.argmax(err_j)), err_j.shape)]
        idx = (*sub[:ax], j, *sub[ax:])
    else:
        idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(err)), err.shape))
    return Comparison(float(ulps[j]), float(budgets[j]), passed, idx, float(a[idx]), float(r[idx]))
