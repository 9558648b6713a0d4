"""Audit of the source documents' claims against the derivation: every verdict is computed here.

identity    every side of the printed chain against the first, after substituting the
            derivation's value for each placeholder (``staged``) and the batch statistics for
            mu_B, sigma2_B. ``holds``: the difference is 0 as a rational function of the
            remaining sums, for symbolic m (and, as a sanity check, at one exact point).
            ``fails``: an exact counterexample at rational inputs, m = 2 or 3, i = 1.
expectation x_1..x_m i.i.d. with mean mu and variance sigma²: E[x_i x_j] = mu² + sigma²·δ_ij.
ema         the recursion y_t = α y_{t−1} + (1 − α) c is solved (rsolve) and its limit taken; c
            is the expectation of the batch statistic fed in, compared with the target.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

import sympy as sp
from bncheck.derivations import numeric_claims
from bncheck.derivations.algebra import (
    BETA,
    DELTA,
    EPS,
    GAMMA,
    K,
    M,
    X,
    closed_form,
    is_identically_zero,
    reduce_sums,
    tex,
    to_inv_std,
)
from bncheck.derivations.numeric_claims import Outcome
from bncheck.derivations.source import CLAIMS, Claim, E, P
from bncheck.derivations.staged import quantities
from bncheck.derivations.symbolic import (
    MU_B,
    VAR_B,
    N,
    Point,
    at_batch,
    evaluate,
    exactly_equal,
    n_of,
)
from sympy import Add, Mul, Sum

POP_MEAN = sp.Symbol("mu", real=True)
POP_VAR = sp.Symbol("sigma^2", positive=True)
ALPHA = sp.Rational(9, 10)
POPULATION = (0, 4)  # two equally likely values: mean 2, variance 4


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    verdict: str
    counterexample: dict[str, str] | None
    corrected: str | None
    truth: str | None  # LaTeX/text of the derived value
    error: str | None  # LaTeX of printed − derived, for failing identities


def resolve(expr: sp.Expr) -> sp.Expr:
    """Placeholders → derived values, n_i → (8), then mu_B, sigma2_B → (6), (7); reduced."""
    q = quantities()
    for name, base in P.items():
        if name not in q:
            continue
        value = q[name].value
        if isinstance(base, sp.IndexedBase):
            expr = expr.replace(
                lambda e, b=base: isinstance(e, sp.Indexed) and e.base == b,
                lambda e, v=value: v.subs(K, e.indices[0]),
            )
        else:
            expr = expr.subs(base, value)
    expr = expr.replace(
        lambda e: isinstance(e, sp.Indexed) and e.base == N,
        lambda e: n_of(e.indices[0], MU_B, VAR_B),
    )
    return reduce_sums(at_batch(expr))


def audit_point(m: int, seed: int) -> Point:
    """Small integers; eps makes sigma2_B + eps a perfect square so the values are rational."""
    rng = random.Random(1000 * m + seed)
    xs = rng.sample(range(-6, 7), m)
    mu = sp.Rational(sum(xs), m)
    var = sum((sp.Integer(v) - mu) ** 2 for v in xs) / m
    eps = (math.isqrt(int(var)) + 1) ** 2 - var
    delta: tuple[sp.Integer, ...] = ()
    while sum(delta) == 0:  # a zero Σδ would make several derived values 0, less telling
        delta = tuple(sp.Integer(rng.choice([-3, -2, -1, 1, 2, 3])) for _ in range(m))
    scalars = {GAMMA: sp.Integer(rng.choice([-2, 2, 3])), BETA: sp.Integer(1), EPS: eps}
    return Point(m, {X: tuple(sp.Integer(v) for v in xs), DELTA: delta}, scalars)


def _inputs(point: Point) -> dict[str, str]:
    return {
        "m": str(point.m),
        "i": "1",
        "x": str(point.arrays[X]),
        "delta": str(point.arrays[DELTA]),
        "gamma": str(point.scalars[GAMMA]),
        "epsilon": str(point.scalars[EPS]),
    }


def _identity(sides: tuple[sp.Expr, ...]) -> Outcome:
    vals = [resolve(s) for s in sides]
    for printed in vals[1:]:
        if is_identically_zero(printed - vals[0]):
            point = audit_point(3, 0)
            if not exactly_equal(
                evaluate(printed, point, {K: 1}), evaluate(vals[0], point, {K: 1})
            ):
                raise AssertionError(f"proved equal but differs at a point: {printed}")
            continue
        for m, seed in itertools.product((2, 3), range(8)):
            point = audit_point(m, seed)
            a, b = evaluate(vals[0], point, {K: 1}), evaluate(printed, point, {K: 1})
            if not exactly_equal(a, b):
                cex = {**_inputs(point), "printed": str(b), "derived": str(a)}
                return Outcome(False, cex, _latex(vals[0]), _latex(printed - vals[0]))
        raise ValueError(f"undecided: not proved equal and no counterexample: {printed}")
    return Outcome(True, None, _latex(vals[0]))


def _closed(expr: sp.Expr) -> sp.Expr:
    return to_inv_std(closed_form(expr))


def _latex(expr: sp.Expr) -> str:
    return tex(_closed(expr))


# --- expectations over i.i.d. samples ------------------------------------------------------


def _moment(body: sp.Expr, idxs: list[sp.Symbol]) -> sp.Expr:
    degrees = {ix: sp.degree(body, X[ix]) for ix in idxs}
    if body != Mul(*(X[ix] ** d for ix, d in degrees.items())):
        raise NotImplementedError(f"not a monomial in x: {body}")
    present = [ix for ix, d in degrees.items() for _ in range(d)]
    if len(present) == 0:
        return sp.S.One
    if len(present) == 1:
        return POP_MEAN
    if len(present) == 2:
        return POP_MEAN**2 + POP_VAR * sp.KroneckerDelta(*present)  # KD(i, i) = 1
    raise NotImplementedError("moments above the second are not needed")


def expectation(expr: sp.Expr) -> sp.Expr:
    """E[expr] for an expression in sums over the batch, x_i i.i.d. (mean mu, variance sigma²)."""
    out = []
    for term in Add.make_args(sp.expand(reduce_sums(at_batch(expr)))):
        coeff, sums = sp.S.One, []
        for f in Mul.make_args(term):
            base, power = f.as_base_exp()
            if isinstance(base, Sum):
                sums += [base] * int(power)
            else:
                coeff *= f
        idxs = [sp.Symbol(f"i_{n}", integer=True, positive=True) for n in range(len(sums))]
        body = Mul(*(s.function.subs(s.limits[0][0], ix) for s, ix in zip(sums, idxs, strict=True)))
        value = _moment(body, idxs)
        for ix in idxs:
            value = Sum(value, (ix, 1, M))
        out.append(coeff * reduce_sums(value))
    return sp.factor(Add(*out))


def _expect_sides(expr: sp.Expr) -> sp.Expr:
    expr = expr.replace(lambda e: getattr(e, "func", None) == E, lambda e: expectation(e.args[0]))
    return expr.subs({P["E[x]"]: POP_MEAN, P["Var[x]"]: POP_VAR})


def _expectation_claim(sides: tuple[sp.Expr, ...]) -> Outcome:
    target, value = (_expect_sides(s) for s in sides)
    truth = f"{sp.latex(sides[1])} = {sp.latex(value)}"
    if sp.cancel(value - target) == 0:
        return Outcome(True, None, truth)
    at = {M: 2, POP_MEAN: 0, POP_VAR: 1}
    cex = {
        "m": "2",
        "mu": "0",
        "sigma^2": "1",
        "printed": str(value.subs(at)),
        "derived": str(target.subs(at)),
    }
    return Outcome(False, cex, truth)


@functools.cache
def ema_limit() -> tuple[sp.Expr, sp.Expr]:
    """Solve y_t = α y_{t−1} + (1 − α) c with y_0 given; return (y_t, lim y_t)."""
    t = sp.Symbol("t", integer=True, nonnegative=True)
    c, y0 = sp.symbols("c y_0", real=True)
    y = sp.Function("y")
    sol = sp.rsolve(y(t) - ALPHA * y(t - 1) - (1 - ALPHA) * c, y(t), {y(0): y0})
    return sol, sp.limit(sol, t, sp.oo)


def _population_mean(stat: sp.Expr, m: int) -> sp.Expr:
    """Exact E[stat] over every batch of m draws from POPULATION (equally likely)."""
    total = sp.S.Zero
    for batch in itertools.product(POPULATION, repeat=m):
        mu = sp.Rational(sum(batch), m)
        var = sum((sp.Integer(v) - mu) ** 2 for v in batch) / m
        total += stat.subs({MU_B: mu, VAR_B: var, M: m})
    return sp.nsimplify(total / len(POPULATION) ** m)


def _ema_claim(params: Mapping[str, object]) -> Outcome:
    update, target = sp.sympify(params["update"]), sp.sympify(params["target"])
    sol, lim = ema_limit()
    c = sp.Symbol("c", real=True)
    truth = f"y_t = {sp.latex(sol)} \\to {sp.latex(lim)}"
    target_pop = {P["E[x]"]: POP_MEAN, P["Var[x]"]: POP_VAR}
    if not update.has(sp.Pow) or all(p.exp.is_integer for p in update.atoms(sp.Pow)):
        fixed = lim.subs(c, expectation(update))
        if sp.cancel(fixed - target.subs(target_pop)) == 0:
            return Outcome(True, None, truth)
    pop_mean = sp.Rational(sum(POPULATION), len(POPULATION))
    pop = {
        POP_MEAN: pop_mean,
        POP_VAR: sum((v - pop_mean) ** 2 for v in POPULATION) / len(POPULATION),
    }
    for m in (2, 3):
        fixed = lim.subs(c, _population_mean(update, m))
        goal = target.subs(target_pop).subs(pop)
        if not exactly_equal(fixed, goal):
            cex = {
                "population": f"{POPULATION} equally likely",
                "m": str(m),
                "printed": f"fixed point {fixed}",
                "derived": f"target {goal}",
                "scale_error": str(sp.sqrt(goal / fixed)) if fixed else "inf",
            }
            return Outcome(False, cex, truth)
    raise ValueError(f"undecided EMA claim: {update}")


def _eps_guard(params: Mapping[str, object]) -> Outcome:
    """Does (8) with ε = 0 divide by zero exactly when ``guard`` is 0? Every batch in
    {−2..2}^m, m = 2, 3."""
    guard = sp.sympify(params["guard"])
    for m in (2, 3):
        for batch in itertools.product(range(-2, 3), repeat=m):
            mu = sp.Rational(sum(batch), m)
            var = sum((sp.Integer(v) - mu) ** 2 for v in batch) / m
            zero_division = sp.sqrt(var) == 0
            if (guard.subs({MU_B: mu, VAR_B: var}) == 0) != zero_division:
                cex = {
                    "x": str(batch),
                    "mu_B^2": str(mu**2),
                    "sigma2_B": str(var),
                    "printed": f"guard {sp.latex(guard)} = {guard.subs({MU_B: mu, VAR_B: var})}",
                    "derived": f"sqrt(sigma2_B + 0) = {sp.sqrt(var)}",
                }
                return Outcome(False, cex, "(8) divides by √(σ²_B + ε)")
    return Outcome(True, None, "(8) divides by √(σ²_B + ε)")


CHECKS = {
    "identity": lambda c, s: _identity(s),
    "expectation": lambda c, s: _expectation_claim(s),
    "ema": lambda c, s: _ema_claim(c),
    "eps_guard": lambda c, s: _eps_guard(c),
    "normal_mass": lambda c, s: numeric_claims.normal_mass(c),
    "sigmoid_bound": lambda c, s: numeric_claims.sigmoid_bound(c),
    "variance": lambda c, s: numeric_claims.variance(c),
    "shape": lambda c, s: numeric_claims.shape(c),
    "broadcast": lambda c, s: numeric_claims.broadcast(c),
}


def check(kind: str, sides: tuple[sp.Expr, ...], params: Mapping[str, object]) -> Outcome:
    """Verdict of one claim given as data (the table's row or a variant of it)."""
    return CHECKS[kind](params, sides)


def audit_claim(claim: Claim) -> Verdict:
    out = check(claim.kind, claim.sides, claim.params)
    corrected = None
    if not out.holds:
        if claim.corrected is not None:
            sides = claim.corrected if isinstance(claim.corrected, tuple) else ()
            params = claim.corrected if not isinstance(claim.corrected, tuple) else {}
            if not check(claim.kind, sides, params).holds:
                raise AssertionError(f"{claim.id}: the corrected form does not hold either")
            corrected = claim.corrected_text
        else:
            corrected = out.corrected
        if corrected is None:
            raise ValueError(f"{claim.id} fails but has no corrected form")
    return Verdict(
        claim,
        "holds" if out.holds else "fails",
        out.counterexample,
        corrected,
        out.truth,
        out.corrected if claim.kind == "identity" else None,
    )


@functools.cache
def audit() -> tuple[Verdict, ...]:
    return tuple(audit_claim(c) for c in CLAIMS)
