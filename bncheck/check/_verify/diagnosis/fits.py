"""Diagnosis by fitting: describe what a wrong BN computes, then name the mistake.

Each output family has a few parameters that every known mistake sets to particular values:

- forward, per channel: y = s·(x − mu) + t; ``s·D/gamma`` and ``t − beta`` tell where eps
  sits (D = sqrt(var + eps), sqrt(var) + eps, sqrt(var + 2·eps), the unbiased variance, ...),
  whether gamma and beta are used, and the sign;
- backward, per channel: dx = c·gamma·inv·(dy − a·mean(dy) − b·x_hat·mean(dy·x_hat)), with
  inv = 1/sqrt(var + eps); c, a and b are fitted by least squares (the three terms are the
  direct path, the path through mu_B and the path through sigma²_B). The correct backward has
  c = a = b = 1; a = 0 is a missing path through mu_B, b = 0 one through sigma²_B, c = −1 a
  sign error, c = 1/gamma a missing gamma, a mean-path term that is the same in every channel
  a sum over all channels, b = ((var + eps)/var)^(3/2) a dvar without eps, ...
- dgamma and dbeta: which of Σ dy·x_hat, Σ dy·(x − mu), Σ dy, their means, they equal.

A named mistake is reported only when its model reproduces the target's output within the
error budget (:data:`bncheck.check.tolerances.MODEL_MATCH`, in the dtype the target computed
in, passed to every function: no state is kept between calls); otherwise the fitted values are
reported as "unexplained". Two mistakes at once are named when the fitted parameters say so
(c = 1/gamma and a = 0, say). The axes are a :class:`~bncheck.check.norms.NormSpec`
(default :data:`~bncheck.check.norms.BATCH_NORM`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bncheck.check._verify.diagnosis.mistakes import MISTAKES, mistake_outputs
from bncheck.check.metrics import compare
from bncheck.check.norms import BATCH_NORM, NormSpec
from bncheck.check.tolerances import (
    FIT_COEFFICIENT,
    FIT_DVAR_COEFFICIENT,
    MODEL_MATCH,
    fit_residual,
)

__all__ = ["Finding", "diagnose_backward", "diagnose_eval", "diagnose_forward"]

F64 = NDArray[np.float64]


@dataclass
class Finding:
    """Mistake ids that explain a failure (empty: unexplained) and the fitted values."""

    ids: list[str]
    fitted: str


def _matches(
    got: Any, model: Any, name: str, x: Any, eps: float, dy: Any, dtype: Any, spec: NormSpec
) -> bool:
    """Whether ``got`` equals the model's output within the error budget of ``dtype``, the
    dtype the target computed in (:data:`~bncheck.check.tolerances.MODEL_MATCH`: the model is
    evaluated in float64 arithmetic, not exactly)."""
    got_a, model_a = np.asarray(got, dtype=np.float64), np.asarray(model, dtype=np.float64)
    if got_a.shape != model_a.shape or not np.all(np.isfinite(model_a)):
        return False
    with np.errstate(all="ignore"):
        cmp = compare(got_a, model_a, name, dtype, x=x, eps=eps, dy=dy, spec=spec)
    return bool(cmp.ulp <= MODEL_MATCH.allowed(cmp.budget))


def _close(value: F64, target: F64 | float, tol: float = FIT_COEFFICIENT) -> bool:
    v = np.asarray(value, dtype=np.float64)
    t = np.broadcast_to(np.asarray(target, dtype=np.float64), v.shape)
    return bool(np.all(np.abs(v - t) <= tol * np.maximum(np.abs(t), 1.0)))


def _fmt(values: F64) -> str:
    v = np.asarray(values, dtype=np.float64)
    if v.size and np.allclose(v, v.flat[0], rtol=1e-3, atol=1e-6):
        return f"{float(v.flat[0]):.3g}"
    return "[" + ", ".join(f"{float(e):.3g}" for e in v.ravel()[:6]) + "]"


class _Stats:
    """Per-channel quantities of the correct computation, on (m, C) columns."""

    def __init__(
        self, x: Any, gamma: Any, eps: float, dy: Any = None, spec: NormSpec = BATCH_NORM
    ) -> None:
        self.spec = spec
        self.shape = np.asarray(x).shape
        self.x = spec.columns(x)
        self.m = self.x.shape[0]
        self.mu = self.x.mean(axis=0)
        self.xc = self.x - self.mu
        self.var = (self.xc**2).mean(axis=0)
        self.inv = 1.0 / np.sqrt(self.var + eps)
        self.x_hat = self.xc * self.inv
        c = self.x.shape[1]
        self.gamma = np.ones(c) if gamma is None else np.asarray(gamma, dtype=np.float64)
        if dy is not None:
            self.dy = spec.columns(dy)
            self.s1 = self.dy.sum(axis=0)
            self.s2 = (self.dy * self.x_hat).sum(axis=0)


# -- forward -----------------------------------------------------------------------------------


def diagnose_forward(
    x: Any,
    gamma: Any,
    beta: Any,
    eps: float,
    y: Any,
    *,
    dtype: Any = np.float64,
    spec: NormSpec = BATCH_NORM,
) -> Finding:
    """Fit y = s·(x − mu) + t per channel and name what s and t say; ``dtype`` is the dtype
    the target computed in (its budgets judge the models), ``spec`` its axes."""
    st = _Stats(x, gamma, eps, spec=spec)
    g = st.gamma
    b = np.zeros_like(g) if beta is None else np.asarray(beta, dtype=np.float64)
    yc = spec.columns(y)
    s = (yc * st.xc).sum(axis=0) / np.maximum((st.xc**2).sum(axis=0), 1e-300)
    t = yc.mean(axis=0)
    resid = yc - (s * st.xc + t)
    tol = fit_residual(dtype)
    affine = bool(np.all(np.abs(resid) <= tol * (np.abs(yc).max(axis=0) + 1.0)))
    if not affine:
        return _catalogue(("y",), x, gamma, beta, eps, None, {"y": y}, dtype, spec) or Finding(
            [],
            "y is not an affine function of x within a channel (statistics over the wrong "
            "axes, or a nonlinearity)",
        )
    sd = np.sqrt(st.var)
    m = st.m
    denominators = {
        "": np.sqrt(st.var + eps),
        "eps-outside-sqrt": sd + eps,
        "unbiased-normalize": np.sqrt(st.var * m / max(m - 1, 1) + eps),
        "eps-twice": np.sqrt(st.var + 2 * eps),
        "eps-missing": sd,
    }
    fitted = f"y = s·(x − mu) + t with s·sqrt(var + eps)/gamma = {_fmt(s * np.sqrt(st.var + eps) / g)}, t − beta = {_fmt(t - b)}"  # noqa: E501
    affines = (
        ("", g, b),
        ("missing-gamma-forward", np.ones_like(g), b),
        ("missing-beta", g, np.zeros_like(b)),
        ("y-sign", -g, -b),
        ("missing-gamma-forward missing-beta", np.ones_like(g), np.zeros_like(b)),
    )
    for label, den in denominators.items():
        for affine_id, scale, shift in affines:
            model = spec.from_columns(scale / den * st.xc + shift, st.shape)
            if _matches(y, model, "y", x, eps, None, dtype, spec):
                ids = [i for i in (label, *affine_id.split()) if i]
                return Finding(ids, fitted)
    return Finding([], fitted)


# -- backward ----------------------------------------------------------------------------------


def diagnose_backward(
    x: Any,
    gamma: Any,
    beta: Any,
    eps: float,
    dy: Any,
    dx: Any,
    dgamma: Any,
    dbeta: Any,
    failed: list[str],
    *,
    dtype: Any = np.float64,
    spec: NormSpec = BATCH_NORM,
) -> Finding:
    """Name what dx, dgamma and dbeta compute (only the outputs in ``failed`` are judged);
    ``dtype`` and ``spec`` as for :func:`diagnose_forward`."""
    ids: list[str] = []
    notes: list[str] = []
    st = _Stats(x, gamma, eps, dy, spec=spec)
    if "dx" in failed:
        found = _fit_dx(st, eps, x, dy, dx, dtype)
        if not found.ids:
            cat = _catalogue(("dx",), x, gamma, beta, eps, dy, {"dx": dx}, dtype, spec)
            if cat is not None:
                found = Finding(cat.ids, found.fitted)
        ids += found.ids
        notes.append(found.fitted)
        if not found.ids:
            return Finding([], "; ".join(notes))
    pair: list[str] = [n for n in ("dgamma", "dbeta") if n in failed]
    if pair:
        found = _fit_param_grads(st, eps, x, dy, dgamma, dbeta, pair, dtype)
        if not found.ids:
            return Finding([], "; ".join([*notes, found.fitted]))
        ids += [i for i in found.ids if i not in ids]
        notes.append(found.fitted)
    return Finding(ids, "; ".join(n for n in notes if n))


def _fit_dx(st: _Stats, eps: float, x: Any, dy: Any, dx: Any, dtype: Any) -> Finding:
    d = st.spec.columns(dx)
    m, c = d.shape
    gi = st.gamma * st.inv
    p, q, r = np.empty(c), np.empty(c), np.empty(c)
    worst = 0.0
    for j in range(c):
        basis = np.stack([gi[j] * st.dy[:, j], np.full(m, gi[j]), gi[j] * st.x_hat[:, j]], axis=1)
        coef, *_ = np.linalg.lstsq(basis, d[:, j], rcond=None)
        p[j], q[j], r[j] = coef
        fit = basis @ coef
        size = float(np.max(np.abs(d[:, j]))) + 1e-300
        worst = max(worst, float(np.max(np.abs(fit - d[:, j]))) / size)
    mean_dy, mean_dyx = st.s1 / m, st.s2 / m
    with np.errstate(all="ignore"):
        cc = p
        a = -q / (cc * mean_dy)
        b = -r / (cc * mean_dyx)
    fitted = (
        "dx = c·gamma/sqrt(var + eps)·(dy − a·mean(dy) − b·x_hat·mean(dy·x_hat)) fitted with "
        f"c = {_fmt(cc)}, a = {_fmt(a)}, b = {_fmt(b)}"
        + (f" (residual {worst:.1g} of |dx|)" if worst > fit_residual(dtype) / 100 else "")
    )
    if worst > fit_residual(dtype):
        return Finding([], fitted + "; dx is not of that form")
    ids: list[str] = []
    # the overall factor
    g = st.gamma
    if _close(cc, 1.0):
        pass
    elif _close(cc, -1.0):
        ids.append("dx-sign")
    elif _close(cc * g, 1.0) and not _close(g, 1.0):
        ids.append("missing-gamma")
    elif _close(cc, 1.0 - 1.0 / m) and _close(a, 0.0):
        ids.append("missing-sum-dmu")
    else:
        return Finding([], fitted)
    if "missing-sum-dmu" not in ids:
        # the mean path: per channel (a = 1), missing (a = 0), or summed over all channels
        global_staged = -(g * st.inv * st.s1).sum() / m  # np.sum(dxhat * -inv) / m
        global_compact = -gi * st.s1.sum() / m  # gamma·inv·np.sum(dy) / m
        intercept = q * gi
        if _close(a, 1.0):
            mean_ok = True
        elif _close(a, 0.0):
            ids.append("missing-mu-path")
            mean_ok = True
        elif c > 1 and (_close(intercept, global_staged) or _close(intercept, global_compact)):
            ids.append("dmu-sum-all-channels")
            mean_ok = True
        else:
            mean_ok = False
        # the variance path
        dvar_no_eps = ((st.var + eps) / st.var) ** 1.5
        if _close(b, 1.0):
            var_ok = True
        elif _close(b, 0.0):
            ids.append("missing-var-path")
            var_ok = True
        elif _close(b, dvar_no_eps, FIT_DVAR_COEFFICIENT) and not _close(
            dvar_no_eps, 1.0, FIT_DVAR_COEFFICIENT
        ):
            ids.append("dvar-without-eps")
            var_ok = True
        else:
            var_ok = False
        if not (mean_ok and var_ok):
            return Finding([], fitted)
        if "missing-mu-path" in ids and "missing-var-path" in ids:
            ids = [i for i in ids if i not in ("missing-mu-path", "missing-var-path")]
            ids.append("missing-mu-and-var-paths")
            fitted += ": neither the path through mu_B nor through sigma²_B"
    if not ids:
        return Finding([], fitted + " (the form of dx is right)")
    return Finding(ids, fitted)


def _fit_param_grads(
    st: _Stats,
    eps: float,
    x: Any,
    dy: Any,
    dgamma: Any,
    dbeta: Any,
    failed: list[str],
    dtype: Any,
) -> Finding:
    m = st.m
    dg = np.asarray(dgamma, dtype=np.float64).ravel()
    db = np.asarray(dbeta, dtype=np.float64).ravel()
    s1, s2 = st.s1, st.s2
    sxc = (st.dy * st.xc).sum(axis=0)
    fitted = f"dgamma/Σ(dy·x_hat) = {_fmt(dg / s2)}, dbeta/Σdy = {_fmt(db / s1)}"
    tol = max(fit_residual(np.float64), fit_residual(dtype))
    if _close(dg, s1, tol) and _close(db, s2, tol):
        return Finding(["swapped-dgamma-dbeta"], fitted)
    ids: list[str] = []
    if "dgamma" in failed:
        options = {"dgamma-from-xc": sxc, "dgamma-mean": s2 / m, "dgamma-sign": -s2}
        hit = next((k for k, v in options.items() if _close(dg, v, tol)), None)
        if hit is None:
            return Finding([], fitted)
        ids.append(hit)
    if "dbeta" in failed:
        options = {"dbeta-mean": s1 / m, "dbeta-sign": -s1}
        hit = next((k for k, v in options.items() if _close(db, v, tol)), None)
        if hit is None:
            return Finding([], fitted)
        ids.append(hit)
    return Finding(ids, fitted)


# -- the older catalogue rows that are not a parameter of the fits -----------------------------


def _catalogue(
    outputs: tuple[str, ...],
    x: Any,
    gamma: Any,
    beta: Any,
    eps: float,
    dy: Any,
    got: dict[str, Any],
    dtype: Any,
    spec: NormSpec,
) -> Finding | None:
    """Rows of the catalogue whose formulas reproduce every output in ``got``."""
    if dy is None:
        dy = np.zeros_like(np.asarray(x, dtype=np.float64))
    for mistake in MISTAKES:
        if mistake.compute is None or not set(got) <= set(mistake.outputs):
            continue
        wrong = mistake_outputs(mistake, x, gamma, beta, dy, eps, spec=spec)
        if wrong is None:
            continue
        if all(
            _matches(v, wrong[k], k, x, eps, dy, dtype, spec) for k, v in got.items() if k in wrong
        ):
            return Finding([mistake.id], f"matches the formula of {mistake.id}")
    return None


def explains_forward_mistake(
    forward_ids: list[str],
    x: Any,
    gamma: Any,
    beta: Any,
    eps: float,
    dy: Any,
    got: dict[str, Any],
    *,
    dtype: Any = np.float64,
    spec: NormSpec = BATCH_NORM,
) -> bool:
    """Whether a backward is the correct backward of a forward with these mistakes."""
    for mistake in MISTAKES:
        if mistake.id in forward_ids and mistake.compute is not None:
            wrong = mistake_outputs(mistake, x, gamma, beta, dy, eps, spec=spec)
            if wrong is not None and all(
                _matches(v, wrong[k], k, x, eps, dy, dtype, spec)
                for k, v in got.items()
                if k in wrong
            ):
                return True
    return False


# -- eval mode ---------------------------------------------------------------------------------


def diagnose_eval(
    x: Any,
    gamma: Any,
    beta: Any,
    rm: Any,
    rv: Any,
    eps: float,
    y: Any,
    *,
    spec: NormSpec = BATCH_NORM,
) -> Finding:
    """Which known eval-mode computation gives ``y`` (from the layer's own running stats),
    judged in y's dtype; the running statistics have one value per parameter (BN: channel)."""
    xa = np.asarray(x, dtype=np.float64)
    pshape = spec.parameter_shape(xa.shape)
    g = spec.expand_param(
        np.ones(pshape) if gamma is None else np.asarray(gamma, np.float64), xa.ndim
    )
    b = spec.expand_param(
        np.zeros(pshape) if beta is None else np.asarray(beta, np.float64), xa.ndim
    )
    mean = spec.expand_param(np.asarray(rm, np.float64), xa.ndim)
    var = spec.expand_param(np.asarray(rv, np.float64), xa.ndim)
    st = _Stats(xa, None, eps, spec=spec)
    batch = spec.from_columns(st.x_hat, st.shape)
    models: dict[str, Callable[[], Any]] = {
        "eval-batch-stats": lambda: g * batch + b,
        "eval-drops-affine": lambda: (xa - mean) / np.sqrt(var + eps),
        "eval-eps-outside-sqrt": lambda: g * (xa - mean) / (np.sqrt(var) + eps) + b,
        "eval-eps-twice": lambda: g * (xa - mean) / np.sqrt(var + 2 * eps) + b,
        "eval-eps-missing": lambda: g * (xa - mean) / np.sqrt(var) + b,
        "eval-batch-stats-drops-affine": lambda: batch,
    }
    dtype = np.asarray(y).dtype
    with np.errstate(all="ignore"):
        hits = [
            name
            for name, model in models.items()
            if _matches(y, model(), "y", xa, eps, None, dtype, spec)
        ]
    if len(hits) != 1:  # none, or several that this dtype cannot tell apart
        return Finding([], f"matches {', '.join(hits)} alike" if hits else "")
    if hits[0] == "eval-batch-stats-drops-affine":
        return Finding(["eval-batch-stats", "eval-drops-affine"], "")
    return Finding(hits, "")
