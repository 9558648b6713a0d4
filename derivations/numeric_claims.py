"""Checks for the source documents' numeric and shape claims (not equations of the derivation).

Each check returns an ``Outcome``; nothing here knows the expected verdict.
Rounding rule for percentages: a claimed whole percent p holds when the true probability,
in percent, is within 1/2 of p (it rounds to p at the nearest whole percent).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import sympy as sp
from bncheck.derivations.algebra import DELTA, EPS
from sympy.stats import Normal, cdf

DIGITS = 30


@dataclass(frozen=True)
class Outcome:
    holds: bool
    counterexample: dict[str, str] | None = None
    truth: str | None = None  # the derived value, for the report
    corrected: str | None = None  # a computed correct form, when the check can produce one


def normal_mass(params: Mapping[str, object]) -> Outcome:
    """P(lo <= X <= hi) for X ~ N(mean, variance), exact (erf) then to 30 digits."""
    mean, var = sp.sympify(params["mean"]), sp.sympify(params["variance"])
    lo, hi, percent = (sp.sympify(params[k]) for k in ("lo", "hi", "percent"))
    F = cdf(Normal("X", mean, sp.sqrt(var)))
    mass = sp.simplify(F(hi) - F(lo))
    pct = sp.N(100 * mass, DIGITS)
    holds = bool(abs(pct - percent) < sp.Rational(1, 2))
    truth = f"{sp.latex(mass)} = {sp.N(pct, 6)}%"
    cex = None
    if not holds:
        cex = {
            "interval": f"[{lo}, {hi}]",
            "distribution": f"N({mean}, {var})",
            "printed": f"{percent}%",
            "derived": f"{sp.N(pct, 6)}%",
        }
    return Outcome(holds, cex, truth, f"{sp.N(pct, 4)}% (≈ {round(float(pct))}%)")


def sigmoid_bound(params: Mapping[str, object]) -> Outcome:
    """Is σ'(x) = σ(x)(1 − σ(x)) < bound for every |x| > outside?

    With t = e^x, σ'(x) = t/(1 + t)². σ' is continuous, σ'(0) = 1/4 > bound and σ' → 0 as
    |x| → ∞, so {σ' >= bound} is [−x*, x*] when the equation σ' = bound has exactly the two
    solutions ±x*; the claim holds iff x* <= outside.
    """
    outside, bound = sp.sympify(params["outside"]), sp.sympify(params["bound"])
    t, x = sp.Symbol("t", positive=True), sp.Symbol("x", real=True)
    roots = sp.solve(sp.Eq(t / (1 + t) ** 2, bound), t)
    xs = sorted((sp.log(r) for r in roots), key=lambda e: float(e))
    if len(xs) != 2 or sp.simplify(xs[0] + xs[1]) != 0:
        raise ValueError(f"unexpected solutions of sigma'(x) = {bound}: {xs}")
    x_star = xs[1]
    dsig = sp.exp(x) / (1 + sp.exp(x)) ** 2
    at_edge = dsig.subs(x, outside)
    truth = (
        f"σ'(x) = {bound} at x = ±{sp.latex(x_star)} ≈ ±{sp.N(x_star, 6)}; "
        f"σ'({outside}) = {sp.N(at_edge, 6)}"
    )
    holds = bool(sp.N(x_star - outside, DIGITS) <= 0)
    cex = None
    if not holds:
        probe = sp.Rational(math.floor(float((outside + x_star) / 2) * 100), 100)
        value = dsig.subs(x, probe)
        if not (probe > outside and sp.N(value - bound, DIGITS) > 0):
            raise ValueError("no counterexample probe between the printed and true threshold")
        cex = {
            "x": str(probe),
            "printed": f"σ'(x) < {bound}",
            "derived": f"σ'({probe}) = {sp.N(value, 8)}",
        }
    corrected = (
        f"σ'(x) < {bound} only for |x| > {sp.latex(x_star)} ≈ {sp.N(x_star, 5)}; "
        f"for |x| > {outside}, σ'(x) < σ'({outside}) ≈ {sp.N(at_edge, 4)}"
    )
    return Outcome(holds, cex, truth, corrected)


def variance(params: Mapping[str, object]) -> Outcome:
    """A variance E[(X − μ)²] of a real X is >= 0 because (X − μ)² >= 0."""
    value = sp.sympify(params["variance"])
    x, mu = sp.Symbol("X", real=True), sp.Symbol("mu", real=True)
    if not ((x - mu) ** 2).is_nonnegative:
        raise ValueError("SymPy could not show (X - mu)^2 >= 0")
    holds = bool(value >= 0)
    cex = (
        None
        if holds
        else {
            "variance": str(value),
            "printed": f"Var[X] = {value}",
            "derived": "Var[X] = E[(X − μ)²] >= 0",
        }
    )
    return Outcome(holds, cex, "Var[X] = E[(X − μ)²] ≥ 0")


def _shapes() -> dict[str, tuple[int, int]]:
    """Shapes from (6)–(11) with SymPy matrices for batchSize = 3, Features = 2."""
    m, f = 3, 2
    xm = sp.Matrix(m, f, lambda a, b: sp.Symbol(f"x_{a}{b}"))
    gam = sp.Matrix(1, f, lambda a, b: sp.Symbol(f"gamma_{b}"))
    bet = sp.Matrix(1, f, lambda a, b: sp.Symbol(f"beta_{b}"))
    ones = sp.ones(m, 1)
    mu = ones.T * xm / m  # (6)
    centered = xm - ones * mu
    var = ones.T * centered.applyfunc(lambda e: e**2) / m  # (7)
    n = sp.Matrix(m, f, lambda a, b: centered[a, b] / sp.sqrt(var[0, b] + EPS))  # (8)
    z = sp.Matrix(m, f, lambda a, b: gam[0, b] * n[a, b] + bet[0, b])  # (9)
    d = sp.Matrix(m, f, lambda a, b: DELTA[a, b])
    J = sum(d[a, b] * z[a, b] for a in range(m) for b in range(f))
    dz = sp.Matrix(m, f, lambda a, b: sp.Symbol(f"z_{a}{b}"))
    delta = sp.Matrix(
        m,
        f,
        lambda a, b: sp.diff(  # (10): δ = dJ/dZ, Z as the variables
            sum(d[r, c] * dz[r, c] for r in range(m) for c in range(f)), dz[a, b]
        ),
    )
    dgamma = sp.Matrix(1, f, lambda a, b: sp.diff(J, gam[0, b]))  # (11)
    return {
        "mu_B": mu.shape,
        "sigma2_B": var.shape,
        "N": n.shape,
        "Z": z.shape,
        "delta": delta.shape,
        "dgamma": dgamma.shape,
    }


_DIMS = {"batchSize": 3, "Features": 2, "1": 1}


def shape(params: Mapping[str, object]) -> Outcome:
    quantity = str(params["quantity"])
    printed = tuple(str(p) for p in params["printed"])  # type: ignore[attr-defined]
    actual = _shapes()[quantity]
    names = {v: k for k, v in _DIMS.items()}
    truth = f"[{', '.join(names[d] for d in actual)}]"
    holds = tuple(_DIMS[p] for p in printed) == actual
    cex = (
        None
        if holds
        else {
            "batchSize": "3",
            "Features": "2",
            "printed": f"[{', '.join(printed)}]",
            "derived": truth,
        }
    )
    return Outcome(holds, cex, truth, truth)


def broadcast(params: Mapping[str, object]) -> Outcome:
    left, right, printed = (tuple(params[k]) for k in ("left", "right", "printed"))  # type: ignore[call-overload]
    actual = tuple(int(d) for d in np.broadcast_shapes(left, right))
    holds = actual == printed
    cex = None if holds else {"printed": str(printed), "derived": str(actual)}
    return Outcome(holds, cex, f"{actual}", str(actual))
