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
  a sum over all channels, b = ((var + eps)/var)^(3/2) a dvar without eps, c = m a dx not
  divided by m, a = b = H·W means over N instead of N·H·W, c = sqrt(var + eps)/D' eps moved
  in the backward alone, ... Each coefficient is read as a size of the batch or a sign by
  :mod:`~bncheck.check._verify.diagnosis.sizes` (two expressions of one value: ambiguous, and
  said so), and every reading of (c, a, b) is confirmed by its model; several readings that
  reproduce dx alike (and name different mistakes) name nothing;
- dgamma and dbeta: which of Σ dy·x_hat, Σ dy·(x − mu), Σ dy they equal, or the right sum times
  a size or a sign (a mean: 1/m).

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
from bncheck.check._verify.diagnosis.sizes import Reading, Sizes, readings
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


def _sizes(st: _Stats) -> Sizes:
    """The sizes the fitted constants are read against: Batch Normalization's (N, C, ...) ones,
    else the m values of each of the C columns."""
    if st.spec == BATCH_NORM:
        return Sizes.of_shape(st.shape)
    return Sizes(m=st.m, c=st.x.shape[1])


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
    y_right: bool = False,
) -> Finding:
    """Name what dx, dgamma and dbeta compute (only the outputs in ``failed`` are judged);
    ``dtype`` and ``spec`` as for :func:`diagnose_forward`. ``y_right``: the forward's y of
    the same input is within its budget, so a mistake of eps made throughout (which moves y
    too) is ruled out, and eps moved in the backward only is named."""
    ids: list[str] = []
    notes: list[str] = []
    st = _Stats(x, gamma, eps, dy, spec=spec)
    sizes = _sizes(st)
    outputs = {"dx": dx, "dgamma": dgamma, "dbeta": dbeta}
    got = {n: outputs[n] for n in failed if n in outputs}
    row = ""  # a catalogue row that reproduces dx: the other outputs it reproduces too
    if "dx" in failed:
        found = _fit_dx(st, eps, x, dy, dx, dtype, sizes)
        if not found.ids:
            # a row of the catalogue that reproduces every failed output, else dx alone
            for judged in (got, {"dx": dx}):
                cat = _catalogue(tuple(judged), x, gamma, beta, eps, dy, judged, dtype, spec)
                if cat is not None:
                    if len(judged) == len(got):
                        return Finding(cat.ids, found.fitted)
                    found, row = Finding(cat.ids, found.fitted), cat.ids[0]
                    break
        whole = [i.removeprefix("backward-") for i in found.ids if i.startswith("backward-eps")]
        if (
            whole
            and not y_right
            and _catalogue_row(whole[0], x, gamma, beta, eps, dy, got, dtype, spec)
        ):
            # where eps sits, recomputed in the backward: the same backward as that mistake
            # made throughout (forward too); only the forward tells the two apart
            return Finding(
                [],
                f"{found.fitted}; ambiguous: {found.ids[0]} (eps moved in the backward only) "
                f"or {whole[0]} (throughout, the forward too) reproduce the backward alike; "
                "not named",
            )
        ids += found.ids
        notes.append(found.fitted)
        if not found.ids:
            return Finding([], "; ".join(notes))
    pair: list[str] = [
        n
        for n in ("dgamma", "dbeta")
        if n in failed
        and not (row and _catalogue_row(row, x, gamma, beta, eps, dy, {n: got[n]}, dtype, spec))
    ]
    if pair:
        found = _fit_param_grads(st, eps, x, dy, dgamma, dbeta, pair, dtype, sizes)
        if not found.ids:
            return Finding([], "; ".join([*notes, found.fitted]))
        ids += [i for i in found.ids if i not in ids]
        notes.append(found.fitted)
    return Finding(ids, "; ".join(n for n in notes if n))


# the readings of dx's coefficients: what each value means, by coefficient and expression
_SIGN_IDS = {"c": "dx-sign", "a": "dmu-path-sign", "b": "dvar-path-sign"}
_SCALED_IDS = {"c": "dx-scaled", "a": "dmu-path-scaled", "b": "dvar-path-scaled"}
_TERMS = {"c": "dx", "a": "the mean(dy) term", "b": "the x_hat term"}
#: the backward's own denominator, when it differs from the forward's sqrt(var + eps)
_BACKWARD_EPS = {
    "backward-eps-outside-sqrt": ("eps added to the standard deviation", "sqrt(var) + eps"),
    "backward-eps-missing": ("eps left out", "sqrt(var)"),
    "backward-eps-twice": ("eps added twice", "sqrt(var + 2·eps)"),
}


@dataclass(frozen=True)
class _Option:
    """One reading of one fitted coefficient of dx: its value (per channel, or one number), the
    mistakes it means and what it says on the fit line."""

    value: Any
    ids: tuple[str, ...] = ()
    expr: str = ""  # the size expression read ("m", "−1", ...): "" for other readings
    phrase: str = ""
    reading: str = ""  # the reading as text ("m = 16")
    intercept: Any = None  # the mean path as an intercept (dmu summed over every channel)
    tied_b: tuple[tuple[Any, str], ...] = ()  # a backward eps: the b values that go with c


def _size_option(coef: str, reading: Reading, name: str) -> _Option:
    """What the value of ``reading`` (read as the expression ``name``) means for ``coef``."""
    value = float(reading.value)
    if value == 1.0:
        return _Option(1.0, expr=name)
    text = str(reading) if len(reading.names) == 1 else str(Reading(reading.value, (name,)))
    negative = name.startswith("−")
    magnitude = name[1:] if negative else name
    ids: list[str] = [_SIGN_IDS[coef]] if negative else []
    if coef == "c" and magnitude == "m":
        ids.append("dx-not-divided-by-m")
        what = "dx not divided by m" + (" and of the wrong sign" if negative else "")
    elif magnitude == "1":
        what = f"sign error on {_TERMS[coef]}"
    else:
        ids.append(_SCALED_IDS[coef])
        what = f"{_TERMS[coef]} scaled by a size of the batch" + (
            " and of the wrong sign" if negative else ""
        )
    return _Option(value, tuple(ids), name, f"{what}: {coef} = {text}", text)


def _coefficient_options(coef: str, fitted: F64, sizes: Sizes, tol: float) -> list[_Option]:
    """The size readings of one coefficient (one option per name of an ambiguous value), and 0
    for a or b (a missing path)."""
    options = [
        _size_option(coef, r, name) for r in readings(fitted, sizes, tol) for name in r.names
    ]
    if coef != "c" and _close(fitted, 0.0, tol):
        path = "missing-mu-path" if coef == "a" else "missing-var-path"
        options.append(_Option(0.0, (path,), "0", "", f"{coef} = 0"))
    return options


def _compose(c: _Option, a: _Option, b: _Option, sizes: Sizes) -> tuple[tuple[str, ...], str]:
    """The mistakes one reading of (c, a, b) means, and its phrase: the coefficients' own ids,
    with the patterns of one mistake (a = b = H·W: statistics over N) merged."""
    if c.expr == "(m − 1)/m" and a.expr == "0" and b.expr == "m/(m − 1)":
        return ("missing-sum-dmu",), ""
    if a.expr == "0" and b.expr == "0":
        neither = "neither the path through mu_B nor through sigma²_B"
        return (*c.ids, "missing-mu-and-var-paths"), "; ".join(p for p in (c.phrase, neither) if p)
    parts = [c, a, b]
    if a.expr == b.expr and a.expr not in ("", "0", "1", "−1"):
        negative = a.expr.startswith("−")
        e = a.expr[1:] if negative else a.expr
        signs = ["dmu-path-sign", "dvar-path-sign"] if negative else []
        if e == "m":
            merged, what = "backward-sums-not-means", "sums instead of means in the backward"
        elif e == sizes.spatial_name:
            merged = "backward-means-over-n"
            what = f"statistics over N instead of N·{e}"
        else:
            merged, what = "backward-means-scaled", "both terms through the statistics scaled"
        if negative:
            what += ", with the wrong sign"
        ids = (*c.ids, *signs, merged)
        return ids, "; ".join(p for p in (c.phrase, f"{what}: a = b = {a.reading}") if p)
    ids = tuple(dict.fromkeys(i for p in parts for i in p.ids))
    return ids, "; ".join(p.phrase for p in parts if p.phrase)


def _fit_dx(st: _Stats, eps: float, x: Any, dy: Any, dx: Any, dtype: Any, sizes: Sizes) -> Finding:
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
    g = st.gamma
    # the overall factor: a size or a sign, 1/gamma, or the ratio of the forward's denominator
    # to another placement of eps (the backward's own, with b = c² when it recomputes x_hat)
    c_options = _coefficient_options("c", cc, sizes, FIT_COEFFICIENT)
    if _close(cc * g, 1.0) and not _close(g, 1.0):
        c_options.append(_Option(1.0 / g, ("missing-gamma",), reading="c = 1/gamma"))
    sd = np.sqrt(st.var)
    denominators = {
        "backward-eps-outside-sqrt": sd + eps,
        "backward-eps-missing": sd,
        "backward-eps-twice": np.sqrt(st.var + 2 * eps),
    }
    with np.errstate(all="ignore"):
        for mistake_id, den in denominators.items():
            ratio = np.sqrt(st.var + eps) / den
            if _close(cc, ratio) and not _close(ratio, 1.0):
                where, text = _BACKWARD_EPS[mistake_id]
                den_text = f"({text})" if " " in text else text
                phrase = (
                    f"{where} in the backward only: c = sqrt(var + eps)/{den_text} = {_fmt(ratio)}"
                )
                c_options.append(
                    _Option(
                        ratio,
                        (mistake_id,),
                        "",
                        phrase,
                        tied_b=((ratio**2, "b = c²"), (1.0, "b = 1")),
                    )
                )
    # the mean path: a size or a sign, missing, or summed over all channels
    a_options = _coefficient_options("a", a, sizes, FIT_COEFFICIENT)
    intercept = q * gi
    if c > 1:
        global_staged = -(g * st.inv * st.s1).sum() / m  # np.sum(dxhat * -inv) / m
        global_compact = -gi * st.s1.sum() / m  # gamma·inv·np.sum(dy) / m
        for shared in (global_staged, global_compact):
            if _close(intercept, shared):
                a_options.append(
                    _Option(
                        None, ("dmu-sum-all-channels",), intercept=np.broadcast_to(shared, (c,))
                    )
                )
                break
    # the variance path: a size or a sign, missing, or dvar without eps
    b_options = _coefficient_options("b", b, sizes, FIT_DVAR_COEFFICIENT)
    dvar_no_eps = ((st.var + eps) / st.var) ** 1.5
    if _close(b, dvar_no_eps, FIT_DVAR_COEFFICIENT) and not _close(
        dvar_no_eps, 1.0, FIT_DVAR_COEFFICIENT
    ):
        b_options.append(_Option(dvar_no_eps, ("dvar-without-eps",)))
    confirmed: dict[tuple[str, ...], str] = {}
    for co in c_options:
        b_choices = (
            [_Option(v, phrase="", reading=t) for v, t in co.tied_b] if co.tied_b else b_options
        )
        for ao in a_options:
            for bo in b_choices:
                if ao.expr and bo.expr and ao.expr != bo.expr and ao.value == bo.value:
                    continue  # one ambiguous value read as two names at once: not a reading
                if co.tied_b and ao.ids:
                    continue  # a backward eps with the mean path right
                model = _dx_model(st, co, ao, bo)
                if _matches(dx, model, "dx", x, eps, dy, dtype, st.spec):
                    ids, phrase = _compose(co, ao, bo, sizes)
                    confirmed.setdefault(ids, phrase)
    if not confirmed:
        return Finding([], fitted)
    if len(confirmed) > 1:
        alike = " or ".join(
            f"({p or ', '.join(ids) or 'the correct form'})" for ids, p in confirmed.items()
        )
        return Finding([], f"{fitted}; ambiguous at these sizes, not named: {alike}")
    ((ids, phrase),) = confirmed.items()
    if not ids:
        return Finding([], fitted + " (the form of dx is right)")
    return Finding(list(ids), f"{phrase}; {fitted}" if phrase else fitted)


def _dx_model(st: _Stats, c: _Option, a: _Option, b: _Option) -> F64:
    """dx = c·gamma·inv·(dy − a·mean(dy) − b·x_hat·mean(dy·x_hat)) with the read values, in
    the target's layout (a mean path summed over every channel enters as its intercept)."""
    gi = st.gamma * st.inv
    m = st.x.shape[0]
    cv, bv = np.asarray(c.value, dtype=np.float64), np.asarray(b.value, dtype=np.float64)
    scale = cv * gi
    if a.intercept is not None:
        mean_term = -np.asarray(a.intercept, dtype=np.float64)
    else:
        mean_term = scale * np.asarray(a.value, dtype=np.float64) * st.s1 / m
    cols = scale * st.dy - mean_term - scale * bv * st.x_hat * st.s2 / m
    out: F64 = st.spec.from_columns(cols, st.shape)
    return out


def _fit_param_grads(
    st: _Stats,
    eps: float,
    x: Any,
    dy: Any,
    dgamma: Any,
    dbeta: Any,
    failed: list[str],
    dtype: Any,
    sizes: Sizes,
) -> Finding:
    dg = np.asarray(dgamma, dtype=np.float64).ravel()
    db = np.asarray(dbeta, dtype=np.float64).ravel()
    s1, s2 = st.s1, st.s2
    sxc = (st.dy * st.xc).sum(axis=0)
    fitted = f"dgamma/Σ(dy·x_hat) = {_fmt(dg / s2)}, dbeta/Σdy = {_fmt(db / s1)}"
    tol = max(fit_residual(np.float64), fit_residual(dtype))
    if _close(dg, s1, tol) and _close(db, s2, tol):
        return Finding(["swapped-dgamma-dbeta"], fitted)
    ids: list[str] = []
    phrases: list[str] = []
    with np.errstate(all="ignore"):
        sd = np.sqrt(st.var)
        ratios = {
            "backward-eps-outside-sqrt": np.sqrt(st.var + eps) / (sd + eps),
            "backward-eps-missing": np.sqrt(st.var + eps) / sd,
            "backward-eps-twice": np.sqrt(st.var + eps) / np.sqrt(st.var + 2 * eps),
        }
    # dgamma by the backward's own x_hat, where eps sits elsewhere (and matters)
    by_backward_eps = {k: s2 * v for k, v in ratios.items() if not _close(v, 1.0)}
    wanted = [("dgamma", dg, s2, {"dgamma-from-xc": sxc} | by_backward_eps), ("dbeta", db, s1, {})]
    for name, got, right, extra in wanted:
        if name not in failed:
            continue
        hits = _read_sum(name, got, right, extra, sizes, tol)
        if len(hits) != 1:
            alike = " or ".join(f"({p or ', '.join(i)})" for i, p in hits.items())
            why = f"; ambiguous at these sizes, not named: {alike}" if hits else ""
            return Finding([], fitted + why)
        ((found, phrase),) = hits.items()
        ids += [i for i in found if i not in ids]
        phrases += [phrase] if phrase else []
    if not ids:
        return Finding([], fitted)
    return Finding(ids, "; ".join([*phrases, fitted]))


def _read_sum(
    name: str, got: F64, right: F64, extra: dict[str, F64], sizes: Sizes, tol: float
) -> dict[tuple[str, ...], str]:
    """dgamma or dbeta read as ``right`` (Σ dy·x_hat, Σ dy) times a size or a sign, or as one of
    the ``extra`` candidate values: the mistakes of each reading that matches, and its phrase
    (none: unexplained; several: ambiguous)."""
    hits: dict[tuple[str, ...], str] = {}
    for mistake_id, value in extra.items():
        if _close(got, value, tol):
            hits[(mistake_id,)] = ""
    with np.errstate(all="ignore"):
        # one constant for every channel, by least squares (robust to a channel with a tiny sum)
        k = float(np.dot(got, right) / np.dot(right, right)) if np.any(right) else np.nan
    for reading in readings([k], sizes, FIT_COEFFICIENT):
        factor = float(reading.value)
        if factor == 1.0 or not _close(got, factor * right, tol):
            continue
        for expr in reading.names:
            negative = expr.startswith("−")
            magnitude = expr[1:] if negative else expr
            ids = [f"{name}-sign"] if negative else []
            what = ["of the wrong sign"] if negative else []
            if magnitude == "1/m":
                ids.append(f"{name}-mean")
                what.append("a mean, not a sum")
            elif magnitude != "1":
                ids.append(f"{name}-scaled")
                what.append("scaled by a size of the batch")
            sums = "Σ(dy·x_hat)" if name == "dgamma" else "Σdy"
            text = str(Reading(reading.value, (expr,)))
            phrase = f"{name} {', '.join(what)}: {name}/{sums} = {text}"
            hits.setdefault(tuple(ids), phrase)
    return hits


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


def _catalogue_row(
    mistake_id: str,
    x: Any,
    gamma: Any,
    beta: Any,
    eps: float,
    dy: Any,
    got: dict[str, Any],
    dtype: Any,
    spec: NormSpec,
) -> bool:
    """Whether the catalogue row ``mistake_id`` reproduces every output in ``got``."""
    row = next((m for m in MISTAKES if m.id == mistake_id), None)
    if row is None or not set(got) <= set(row.outputs):
        return False
    wrong = mistake_outputs(row, x, gamma, beta, dy, eps, spec=spec)
    return wrong is not None and all(
        _matches(v, wrong[k], k, x, eps, dy, dtype, spec) for k, v in got.items()
    )


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
