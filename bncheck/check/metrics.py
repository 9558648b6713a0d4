"""Error metrics against a high-precision truth, and the judgement of an output with the
budgets of :mod:`bncheck.check.tolerances`.

Metric (docs/design.md, numerics policy). Normwise ULP: per channel,
``max_i |a_i − r_i| / spacing(max_i |r_i|)`` with the spacing taken in the dtype being judged.
One rounding of the truth to that dtype costs at most 0.5; a value of k means the worst entry is
k units of the channel's largest value off.

Judgements. :func:`compare` judges each channel of an output with the probabilistic budget,
``error_budget(output, dtype, m, K_j, kappa_s_j, K2_j) + 1`` (the +1: the truth's own
rounding), with the conditions of :mod:`bncheck.check.conditions`;
:func:`assert_within_worst_case` judges bncheck's own float64 BN with the worst-case bound.

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

Measured against the budget (tests/check/test_tolerances.py), a plain two-pass float32 BN with
recursive sums: m = 1000 centred, y 3.8 ULP of a 1.0e3 budget; m = 4096 at offset 1e4, y 2.0e3
of 3.8e6 (relative ~2e-4: a correct float32 BN legitimately loses that much there). In float64
(m = 64) the budgets are ~3e2-2e3 ULP (~1e-13 relative), so eps counted twice (4.6e10 ULP) and
m − 1 in the variance (6.4e13 ULP) fail.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from bncheck.check.conditions import channel_columns, column_conditions
from bncheck.check.norms import NormSpec, resolve
from bncheck.check.tolerances import TOLERANCES, error_budgets, unit_roundoff, worst_case_k

__all__ = [
    "Comparison",
    "assert_within_worst_case",
    "channel_ulps",
    "compare",
    "normwise_ulp",
]

F64 = NDArray[np.float64]


class Comparison(NamedTuple):
    """Result of :func:`compare`: the worst channel's normwise ULP and its budget, and the worst
    entry (its index in the full array, the computed value and the truth there).

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.metrics import compare
    >>> x, dy = np.eye(3, 2), np.ones((3, 2))
    >>> dbeta = dy.sum(axis=0)
    >>> result = compare(dbeta, dbeta, "dbeta", np.float64, x=x, eps=1e-5, axis=1, dy=dy)
    >>> result.passed, result.worst_index, result.worst_actual
    (True, (0,), 3.0)
    """

    ulp: float
    budget: float
    passed: bool
    worst_index: tuple[int, ...]
    worst_actual: float
    worst_truth: float


def channel_ulps(
    actual: ArrayLike,
    truth: ArrayLike,
    dtype: DTypeLike,
    *,
    axis: int | None = None,
    spec: NormSpec | None = None,
) -> F64:
    """Per-channel normwise ULP, shape (C,) (shape (1,) when ``axis`` and ``spec`` are None).

    ``spec`` (:mod:`bncheck.check.norms`) makes the "channels" its columns, the values that
    share statistics; ``axis`` is the BN channel axis.

    A non-finite computed value counts as an infinite error.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.metrics import channel_ulps
    >>> truth = np.array([[1.0, 4.0], [-0.5, 2.0]])
    >>> channel_ulps(truth + [[2.0**-10, 0.0], [0.0, 0.0]], truth, "float16", axis=1)
    array([1., 0.])
    """
    a = np.asarray(actual, dtype=np.float64)
    r = np.asarray(truth, dtype=np.float64)
    if a.shape != r.shape:
        raise ValueError(f"actual has shape {a.shape}; expected {r.shape}, the truth's shape")
    if a.size == 0:
        return np.zeros(1)
    if axis is None and spec is None:
        a, r = a.reshape(-1, 1), r.reshape(-1, 1)
    else:
        sp = resolve(spec, axis)
        a, r = channel_columns(a, sp), channel_columns(r, sp)
    dt: np.dtype[Any] = np.dtype(dtype)
    scale = np.max(np.abs(r), axis=0)
    # spacing of the channel's largest value; a channel that is exactly 0 is judged against
    # the smallest subnormal of the dtype, so any nonzero error there shows as huge.
    unit = np.spacing(scale.astype(dt)).astype(np.float64)
    with np.errstate(invalid="ignore"):
        err = np.where(np.isfinite(a), np.abs(a - r), np.inf)
    return np.asarray(np.max(err, axis=0) / unit)


def normwise_ulp(
    actual: ArrayLike,
    truth: ArrayLike,
    dtype: DTypeLike,
    *,
    axis: int | None = None,
    spec: NormSpec | None = None,
) -> float:
    """The worst per-channel normwise error of ``actual`` against ``truth``, in ULP of ``dtype``.

        ulp = max_channels  max_i |a_i − r_i| / spacing_dtype(max_i |r_i|)

    ``axis`` is the channel axis of ``actual``; None treats the whole array as one channel (use
    that for per-channel vectors such as dgamma, whose "channel" is the vector itself).
    ``spec`` instead of ``axis``: the columns of a :class:`~bncheck.check.norms.NormSpec`.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.metrics import normwise_ulp
    >>> truth = np.array([1.0, 0.25])
    >>> normwise_ulp(np.float32(truth) + [0.0, 2.0**-23], truth, np.float32)
    1.0
    """
    return float(np.max(channel_ulps(actual, truth, dtype, axis=axis, spec=spec)))


def compare(
    actual: ArrayLike,
    truth: ArrayLike,
    output: str,
    dtype: DTypeLike,
    *,
    x: ArrayLike,
    eps: float,
    axis: int | None = None,
    dy: ArrayLike | None = None,
    gamma: ArrayLike | None = None,
    spec: NormSpec | None = None,
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

    ``axis`` is the BN channel axis (default 1); ``spec`` (:mod:`bncheck.check.norms`) gives
    the axes of another normalization instead: a "channel" is then a column (the values sharing
    statistics) for y and dx, and dgamma, dbeta have the parameters' shape.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.metrics import compare
    >>> x = np.array([[1.0], [2.0], [4.0], [5.0]])
    >>> y = (x - 3.0) / np.sqrt(2.5)  # BN of x with eps = 0: mean 3, variance 2.5
    >>> result = compare(y, y, "y", np.float64, x=x, eps=0.0, axis=1)
    >>> result.ulp, round(result.budget), result.passed
    (0.0, 241, True)
    >>> compare(1.01 * y, y, "y", np.float64, x=x, eps=0.0, axis=1).passed
    False
    """
    a = np.asarray(actual, dtype=np.float64)
    r = np.asarray(truth, dtype=np.float64)
    xa = np.asarray(x)
    sp = resolve(spec, axis)
    m = sp.m(xa.shape)
    per_channel = output in ("y", "dx")
    scale = (
        np.max(np.abs(channel_columns(r, sp)), axis=0)
        if per_channel and r.size
        else np.abs(r).max(initial=0)
    )
    cond = column_conditions(
        output, xa, eps, sp, dy, gamma=gamma, y_scale=scale if output == "y" else None
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
    budgets = (
        error_budgets(output, dtype, m=m, condition=k, shift_condition=cond.kappa_s, k2=k2) + 1.0
    )
    with np.errstate(invalid="ignore"):
        err = np.where(np.isfinite(a), np.abs(a - r), np.inf)
    if per_channel:
        with np.errstate(over="ignore"):  # err / subnormal on exactly-zero channels
            ulps = channel_ulps(a, r, dtype, spec=sp)
        err_c = np.max(channel_columns(err, sp), axis=0) if err.size else np.zeros(1)
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
        # the first largest error of column j (rows in C order of the reduced axes)
        i = int(np.argmax(channel_columns(err, sp)[:, j]))
        flat = int(sp.flat_index(err.shape)[i, j])
        idx = tuple(int(v) for v in np.unravel_index(flat, err.shape))
    else:
        idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(err)), err.shape))
    return Comparison(float(ulps[j]), float(budgets[j]), passed, idx, float(a[idx]), float(r[idx]))


def assert_within_worst_case(
    name: str,
    actual: ArrayLike,
    truth: ArrayLike,
    scale: ArrayLike,
    m: int,
    axis: int | None,
    *,
    spec: NormSpec | None = None,
) -> None:
    """Raise AssertionError unless |actual − truth| <= K(m)·u·scale per channel (float64).

    ``axis`` is the channel axis of ``actual``; None for a per-channel vector (dgamma, dbeta).
    ``spec``: the columns of another :class:`~bncheck.check.norms.NormSpec` as the channels.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.metrics import assert_within_worst_case
    >>> truth, scale = np.array([1.0, 2.0]), np.ones(2)
    >>> assert_within_worst_case("dbeta", truth + 1e-15, truth, scale, m=8, axis=None)
    >>> bad = truth + 1e-12
    >>> assert_within_worst_case("dbeta", bad, truth, scale, m=8, axis=None)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    AssertionError: dbeta: channel 0 error 1.000e-12 exceeds the float64 budget 3.997e-15 (K=36, ...
    """
    a = np.asarray(actual, dtype=np.float64)
    r = np.asarray(truth, dtype=np.float64)
    s = np.asarray(scale, dtype=np.float64)
    if axis is None and spec is None:
        err = np.abs(a - r)
    else:
        sp = resolve(spec, axis)
        err = np.abs(channel_columns(a, sp) - channel_columns(r, sp)).max(0)
    k = worst_case_k(m)
    bound = k * TOLERANCES["float64"].unit_roundoff * s
    if not np.all(err <= bound):
        worst = int(np.argmax(err / bound))
        raise AssertionError(
            f"{name}: channel {worst} error {err.flat[worst]:.3e} exceeds the float64 budget "
            f"{bound.flat[worst]:.3e} (K={k:.0f}, scale={s.flat[worst]:.3e})"
        )
