"""The diagnosis ``one-pass-variance``: a BN whose batch variance is E[x²] − E[x]².

A one-pass variance (Flax's ``use_fast_variance=True``, the default of ``flax.linen`` and
``flax.nnx`` BatchNorm; many hand-written BNs) is exact in exact arithmetic, so no float64
formula of the catalogue reproduces it: its error is rounding. E[x²] is a sum of m squares,
erring by up to g·u·E[x²] (g the summation factor of :func:`bncheck.check.tolerances.
summation_factor`), and the subtraction cancels whenever |mean| is large against the spread, so
the variance errs, relative to itself, by up to (g + 1)·u·E[x²]/var: all of it when
|mean|/spread ~ u^(−1/2) (1e3 in float32, 1e8 in float64). A two-pass variance is insensitive
to the mean's error to first order and errs by (g + 3)·u relative.

The model (as ``sync-one-pass-variance`` for synchronized BN, :mod:`~bncheck.check._verify.
sync_models`, with one shard): the correct mean, and per channel a variance fitted from y that
lies within the one-pass error bound (3g + 3)·u·E[x²] + 2(g + 16)·u·(var + eps) of the true
one and outside a two-pass error, 2(g + 16)·u·(var + eps), in some channel. Its gradients are
the exact ones of that computation: dx = gamma/s·(dy − S1/m − x_hat·S2/m) with the fitted s and
x_hat, dgamma = S2, dbeta = S1; a variance clamped at 0 (``max(0, E[x²] − E[x]²)``, as Flax
does, when rounding makes it negative) passes no gradient, so those channels lose the path
through sigma² (dx = gamma/s·(dy − S1/m)). The model is named only when it reproduces every
failed output, and the target's own y (a backward is a one-pass variance's only when its
forward is), within 4 budgets + 64 ULP (:data:`bncheck.check.tolerances.MODEL_MATCH`, the
slack of a model evaluated in float64).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from bncheck.check._verify.diagnosis.sync_models import Shards, cols, judge, uncols
from bncheck.check.tolerances import MODEL_MATCH, summation_factor, unit_roundoff

__all__ = ["ONE_PASS", "diagnose_one_pass", "fit_variance"]

F64 = NDArray[np.float64]
ONE_PASS = "one-pass-variance"
#: judge's slack for a model (the tolerance table's MODEL_MATCH)
_MODEL: dict[str, float] = {"slack": MODEL_MATCH.budgets, "floor": MODEL_MATCH.ulp}


def fit_variance(sh: Shards, gamma: F64, beta: F64, eps: float, y: Any, dtype: Any) -> F64 | None:
    """The variance per channel that gives y with the right mean, when it lies within the
    one-pass bound of the true variance and outside a two-pass error in some channel (else
    None: y is not explained by a one-pass variance).

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check._verify.diagnosis.one_pass import fit_variance
    >>> from bncheck.check._verify.diagnosis.sync_models import Shards
    >>> x = np.random.default_rng(0).normal(1e4, 1.0, size=(16, 2)).astype(np.float32)
    >>> mu, var = x.mean(0, dtype=np.float64), x.var(0, dtype=np.float64)
    >>> y = (x - mu) / np.sqrt(1.5 * var + 1e-5)  # the variance 50% off
    >>> fit_variance(Shards(x, [16]), np.ones(2), np.zeros(2), 1e-5, y, "float32") is not None
    True
    """
    yc = cols(y) - beta
    xc = sh.x - sh.mu
    with np.errstate(all="ignore"):
        slope = (yc * xc).sum(axis=0) / (xc**2).sum(axis=0)
        s = gamma / slope
        var = s**2 - eps
    if not (np.all(np.isfinite(var)) and np.all(s > 0)):
        return None
    u = unit_roundoff(dtype)
    g = summation_factor(sh.m, dtype)
    two_pass = 2 * (g + 16) * u * (sh.var + eps)
    bound = (3 * g + 3) * u * (sh.x**2).mean(axis=0) + two_pass
    error = np.abs(var - sh.var)
    if np.all(error <= bound) and np.any(error > two_pass):
        out: F64 = var
        return out
    return None


def _params(gamma: Any, beta: Any, c: int) -> tuple[F64, F64]:
    g = np.ones(c) if gamma is None else np.asarray(gamma, dtype=np.float64).reshape(c)
    b = np.zeros(c) if beta is None else np.asarray(beta, dtype=np.float64).reshape(c)
    return g, b


def diagnose_one_pass(
    x: Any,
    gamma: Any,
    beta: Any,
    eps: float,
    dy: Any,
    y: Any,
    got: dict[str, Any],
    dtype: Any,
) -> tuple[list[str], str] | None:
    """(["one-pass-variance"], what was fitted) when the failed outputs in ``got`` (y, or
    some of dx, dgamma, dbeta) are those of a one-pass variance (module docstring); else None.
    ``y`` is the target's own output for the same input (the variance is fitted from it).

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check._verify.diagnosis.one_pass import diagnose_one_pass
    >>> x = np.random.default_rng(0).normal(1e4, 1.0, size=(16, 2)).astype(np.float32)
    >>> mu = x.mean(0, dtype=np.float32)
    >>> var = np.maximum(0, (x * x).mean(0, dtype=np.float32) - mu * mu)  # one pass, float32
    >>> y = ((x - mu) / np.sqrt(var + np.float32(1e-5))).astype(np.float32)
    >>> diagnose_one_pass(x, None, None, 1e-5, None, y, {"y": y}, "float32")[0]
    ['one-pass-variance']
    """
    if y is None or np.shape(y) != np.shape(x):
        return None
    sh = Shards(x, [np.shape(x)[0]])
    c = sh.x.shape[1]
    g, b = _params(gamma, beta, c)
    with np.errstate(all="ignore"):
        var = fit_variance(sh, g, b, eps, y, dtype)
        if var is None:
            return None
        s = np.sqrt(var + eps)
        xh = (sh.x - sh.mu) / s
        extra = np.zeros(c)
        fitted = (
            f"y has the right mean and a variance off by up to "
            f"{float(np.max(np.abs(var - sh.var) / (sh.var + eps))):.2g} of itself, "
            "within the error of E[x²] − E[x]²"
        )
        # the model must reproduce the target's own y, whichever outputs failed: a backward
        # is a one-pass variance's only if its forward is (a y with a wrong mean, say, gives
        # a variance in the bound but is another mistake)
        model = uncols(g * xh + b, sh.shape)
        if not judge("y", y, model, sh, x, eps, dtype, extra, gamma=g, **_MODEL).passed:
            return None
        if set(got) == {"y"}:
            return [ONE_PASS], fitted
        d = cols(dy)
        s1, s2 = d.sum(axis=0), (d * xh).sum(axis=0)
        refs = {"dgamma": s2, "dbeta": s1}
        for name in ("dgamma", "dbeta"):
            if (
                name in got
                and not judge(
                    name, got[name], refs[name], sh, x, eps, dtype, extra, dy=dy, **_MODEL
                ).passed
            ):
                return None
        if "dx" not in got:
            return [ONE_PASS], fitted
        u = unit_roundoff(dtype)
        clamped = var <= 4 * u * eps  # max(0, E[x²] − E[x]²) took 0: no gradient through it
        full = d - s1 / sh.m - xh * s2 / sh.m
        for dx in (full, np.where(clamped, d - s1 / sh.m, full)):
            model = uncols(g / s * dx, sh.shape)
            if judge(
                "dx", got["dx"], model, sh, x, eps, dtype, extra, gamma=g, dy=dy, **_MODEL
            ).passed:
                return [ONE_PASS], fitted + "; dx, dgamma, dbeta its exact gradients"
    return None
