"""The truth for inputs too large for mpmath: Batch Normalization, and the normalization family
(any reduction set; RMSNorm), in double-double arithmetic.

The mpmath truth (:mod:`bncheck.check.truth`) costs about 10 µs per value, a few seconds for
the 65 536+ values per channel that verify's kernel inputs reach. Above
``LARGE_TRUTH.mpmath_values`` values (:data:`bncheck.check.tolerances.LARGE_TRUTH`) the checks
use this reference instead: the same formulas, eqs (6)–(9) and the closed-form gradients, in
double-double arithmetic (a value is an unevaluated sum hi + lo of two float64, about 106
significant bits), vectorized in NumPy, with every per-channel sum exact (``math.fsum`` of the
hi and lo parts gives the rounded sum, and ``math.fsum`` of those parts minus it the rest; the
same for each parameter's sum).
Each result is rounded once to float64, as the truth's are.

Its error budget (derived in :mod:`bncheck.check.tolerances`, row ``LARGE_TRUTH``): every
double-double operation has a relative error below 2^-100 of its operands' size, so a result
is off from the exact value by at most ~2^-100 times the largest intermediate it is formed from,
divided by its own size: that ratio (the cancellation: |mean|/std in x − mu, the bracket
m·dy − Σdy − x_hat·Σdy·x_hat against its terms) is measured here per value, and when it
exceeds ``LARGE_TRUTH.max_cancellation`` (2^40, so the error stays below 2^-60 relative, far
under the half ulp of float64 every truth is allowed) the reference refuses
(:class:`TooIllConditioned`) and the caller falls back to mpmath. Below it the result is the
correctly rounded truth, or one of its two neighbours when the exact value lies within 2^-60 of
a rounding boundary, which the "+1 ulp for the truth's own rounding" of every budget already
allows (:func:`bncheck.check.metrics.compare`).

Shares no code with :mod:`bncheck.bn` (whose kernels it judges) nor with the mpmath truth; its
error-free transformations (Knuth's two_sum, Dekker's split and two_prod) are those of
:mod:`bncheck.family.dd`, which the BN kernels do not use.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bncheck.check.memo import memoized
from bncheck.check.norms import BATCH_NORM, NormSpec
from bncheck.check.tolerances import LARGE_TRUTH
from bncheck.exceptions import BncheckError
from bncheck.family.dd import fast_two_sum, two_prod, two_sum

__all__ = ["TooIllConditioned", "dd_batchnorm", "dd_norm", "use_large_truth"]

F64 = NDArray[np.float64]
DD = tuple[Any, Any]


class TooIllConditioned(BncheckError, ArithmeticError):
    """The double-double reference would cancel more than its budget allows."""


def use_large_truth(x: Any) -> bool:
    """Whether a case is large enough that the checks use :func:`dd_batchnorm`."""
    return int(np.asarray(x).size) > LARGE_TRUTH.mpmath_values


# -- double-double operations on the error-free transformations of bncheck.family.dd ----------


def _add(a: DD, b: DD) -> DD:
    s, e = two_sum(a[0], b[0])
    t, f = two_sum(a[1], b[1])
    s, e = fast_two_sum(s, e + t)
    return fast_two_sum(s, e + f)


def _neg(a: DD) -> DD:
    return -a[0], -a[1]


def _mul(a: DD, b: DD) -> DD:
    p, e = two_prod(a[0], b[0])
    return fast_two_sum(p, e + (a[0] * b[1] + a[1] * b[0]))


def _div(a: DD, b: DD) -> DD:
    q1 = a[0] / b[0]
    r = _add(a, _neg(_mul((q1, 0.0 * q1), b)))
    q2 = r[0] / b[0]
    r = _add(r, _neg(_mul((q2, 0.0 * q2), b)))
    q3 = r[0] / b[0]
    q = fast_two_sum(q1, q2)
    return _add(q, (q3, 0.0 * q3))


def _sqrt(a: DD) -> DD:
    s = np.sqrt(a[0])
    p, e = two_prod(s, s)
    r = ((a[0] - p) - e + a[1]) / (2.0 * s)
    return fast_two_sum(s, r)


def _column_sums(a: DD) -> DD:
    """Per-column (axis 0) sums of a double-double (m, C) array, as double-doubles: exact up to
    the representation of the result."""
    hi = np.empty(a[0].shape[1])
    lo = np.empty_like(hi)
    for j, (high, low) in enumerate(zip(a[0].T.tolist(), a[1].T.tolist(), strict=True)):
        parts = high + low
        total = math.fsum(parts)
        parts.append(-total)
        hi[j], lo[j] = total, math.fsum(parts)
    return hi, lo


def _scalar(v: Any) -> DD:
    v = np.asarray(v, dtype=np.float64)
    return v, np.zeros_like(v)


def _cancellation(result: DD, *terms: Any) -> float:
    """The largest ratio of the terms' size to the result's, over the values."""
    size = np.zeros_like(np.abs(result[0]))
    for t in terms:
        size = np.maximum(size, np.abs(t))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(size == 0, 0.0, size / np.abs(result[0]))
    return float(np.max(ratio, initial=0.0))


def dd_batchnorm(
    x: Any, gamma: Any, beta: Any, dy: Any | None, *, eps: float
) -> dict[str, F64 | None]:
    """y, dx, dgamma and dbeta of train-mode Batch Normalization over channel axis 1, rounded
    once to float64 from double-double values (see the module docstring for its error).

    Raises :class:`TooIllConditioned` when a value cancels more than the budget allows.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check._verify.checks.large_truth import dd_batchnorm
    >>> from bncheck.check.truth import exact_batchnorm
    >>> rng = np.random.default_rng(0)
    >>> x, dy = 1e3 + rng.standard_normal((50, 3)), rng.standard_normal((50, 3))
    >>> g, b = np.array([1.5, -0.5, 2.0]), np.array([0.1, 0.2, -0.3])
    >>> t, d = exact_batchnorm(x, g, b, dy, eps=1e-5), dd_batchnorm(x, g, b, dy, eps=1e-5)
    >>> all(np.array_equal(getattr(t, k), d[k]) for k in ("y", "dx", "dgamma", "dbeta"))
    True
    """
    return dd_norm(x, gamma, beta, dy, eps=eps, spec=BATCH_NORM)


@memoized
def dd_norm(
    x: Any,
    gamma: Any,
    beta: Any,
    dy: Any | None,
    *,
    eps: float,
    spec: NormSpec,
    centered: bool = True,
) -> dict[str, F64 | None]:
    """y, dx, dgamma and dbeta of eqs (6)–(9) over the columns of ``spec`` (any reduction set,
    gamma and beta over ``spec``'s parameter axes: per column as in Batch Normalization, or
    per element as in Layer Normalization), or of RMSNorm (``centered=False``: no mean, no
    beta), rounded once to float64 from double-double values; every sum (per column, per
    parameter) exact up to its double-double representation.

    dx = inv/m·(m·delta − Σ delta − x̂·Σ delta·x̂) with delta = gamma·dy (RMSNorm: without
    Σ delta), inv = 1/sqrt(var + eps); dgamma = Σ dy·x̂ and dbeta = Σ dy over every axis but
    the parameter axes. Raises :class:`TooIllConditioned` when a value cancels more than the
    budget allows (module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check._verify.checks.large_truth import dd_norm
    >>> from bncheck.check.norms import NormSpec
    >>> from bncheck.check.truth import exact_batchnorm
    >>> ln = NormSpec(reduce=(-1,), params=(-1,), name="layer norm")
    >>> rng = np.random.default_rng(0)
    >>> x, dy = 1e3 + rng.standard_normal((4, 9)), rng.standard_normal((4, 9))
    >>> g, b = 1 + rng.standard_normal(9), rng.standard_normal(9)
    >>> t = exact_batchnorm(x, g, b, dy, eps=1e-5, spec=ln)
    >>> d = dd_norm(x, g, b, dy, eps=1e-5, spec=ln)
    >>> all(np.array_equal(getattr(t, k), d[k]) for k in ("y", "dx", "dgamma", "dbeta"))
    True
    """
    xa = np.asarray(x)
    shape = xa.shape
    xc = spec.columns(xa, dtype=np.float64)
    m = xc.shape[0]
    pshape = spec.parameter_shape(shape)

    def param(v: Any, fill: float) -> DD:
        p = np.full(pshape, fill) if v is None else np.asarray(v, dtype=np.float64)
        return _scalar(spec.param_columns(p.reshape(pshape), shape))

    g = param(gamma, 1.0)
    limit = LARGE_TRUTH.max_cancellation
    if centered:
        mu = _div(_column_sums(_scalar(xc)), _scalar(float(m)))  # (6)
        d = _add(_scalar(xc), _neg(mu))
        if _cancellation(d, xc) > limit:
            raise TooIllConditioned("x − mean cancels beyond the double-double budget")
    else:
        d = _scalar(xc)
    var = _div(_column_sums(_mul(d, d)), _scalar(float(m)))  # (7), biased (RMSNorm: mean x²)
    inv = _div(_scalar(np.ones(xc.shape[1])), _sqrt(_add(var, _scalar(float(eps)))))
    x_hat = _mul(d, inv)  # (8)
    scaled = _mul(g, x_hat)
    y = scaled
    if centered:
        b = param(beta, 0.0)
        y = _add(scaled, b)  # (9)
        if _cancellation(y, scaled[0], b[0]) > limit:
            raise TooIllConditioned("gamma·x_hat + beta cancels beyond the double-double budget")
    out: dict[str, F64 | None] = {
        "y": spec.from_columns(y[0] + y[1], shape),
        "dx": None,
        "dgamma": None,
        "dbeta": None,
    }
    if dy is None:
        return out
    dyc = spec.columns(np.asarray(dy), dtype=np.float64)
    delta = _mul(_scalar(dyc), g)
    prod = _mul(delta, x_hat)
    s2 = _column_sums(prod)
    if _cancellation(s2, np.sum(np.abs(prod[0]), axis=0)) > limit:
        raise TooIllConditioned("the sum of dy·x_hat cancels beyond the double-double budget")
    md = _mul(delta, _scalar(float(m)))
    t2 = _mul(x_hat, s2)
    terms = [md[0], t2[0]]
    bracket = _add(md, _neg(t2))
    if centered:
        s1 = _column_sums(delta)
        terms.append(np.broadcast_to(s1[0], md[0].shape))
        bracket = _add(bracket, _neg(s1))
    if _cancellation(bracket, *terms) > limit:
        raise TooIllConditioned("the backward's bracket cancels beyond the double-double budget")
    dx = _div(_mul(bracket, inv), _scalar(float(m)))
    out["dx"] = spec.from_columns(dx[0] + dx[1], shape)
    dg = _param_sums(spec, _mul(_scalar(dyc), x_hat), shape)
    out["dgamma"] = (dg[0] + dg[1]).reshape(pshape)
    if centered:
        db = _param_sums(spec, _scalar(dyc), shape)
        out["dbeta"] = (db[0] + db[1]).reshape(pshape)
    return out


def _param_sums(spec: NormSpec, cols: DD, shape: tuple[int, ...]) -> DD:
    """The exact sums of a double-double in ``spec``'s column layout over every axis of x but
    the parameter axes: one double-double per parameter (flat, in the parameter's order)."""
    axes = spec.param_axes(len(shape))
    other = tuple(i for i in range(len(shape)) if i not in axes)
    size = int(np.prod([shape[a] for a in axes], dtype=np.int64))

    def per_param(part: Any) -> Any:
        full = spec.from_columns(part, shape)
        return np.transpose(full, other + axes).reshape(-1, size)

    return _column_sums((per_param(cols[0]), per_param(cols[1])))
