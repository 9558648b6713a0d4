"""Equations (6)–(9) for a symbolic batch size m, and their first-order gradients.

J = Σ_i delta_i·z_i is the scalar whose gradient a backward pass computes (delta_i = dJ/dz_i is
the upstream gradient, eq 10). SymPy differentiates J itself; ``algebra`` only sums out the
KroneckerDelta terms SymPy produces and rewrites the result in the batch statistics.

The same gradients are derived again, independently, at concrete m by differentiating the
explicit expression in x_1..x_m; ``evaluate`` compares both at exact rational inputs.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

import sympy as sp
from bncheck.derivations.algebra import (
    BETA,
    DELTA,
    EPS,
    GAMMA,
    INV_STD,
    MU,
    SIGMA,
    X_HAT,
    I,
    K,
    M,
    X,
    batch_sum,
    center,
    closed_form,
    reduce_sums,
    to_inv_std,
)
from sympy import Sum

# Symbols of the staged model: mu_B and sigma2_B held fixed while differentiating (the
# "partial" derivatives of the source document's hand derivation), substituted back afterwards.
MU_B = sp.Symbol("mu_B", real=True)
VAR_B = sp.Symbol("sigma_B^2", nonnegative=True)
N = sp.IndexedBase("n", real=True)  # n_i of eq (8) as an independent variable
Z = sp.IndexedBase("z", real=True)  # z_i of eq (9) as an independent variable
# Eval mode: running statistics are given numbers, not functions of x.
RUN_MEAN = sp.Symbol("mean", real=True)
RUN_VAR = sp.Symbol("var", nonnegative=True)


def mu_of_x() -> sp.Expr:
    """(6) mu_B = (1/m) Σ x_i."""
    return batch_sum(X[I]) / M


def var_of_mu(mu: sp.Expr) -> sp.Expr:
    """(7) sigma2_B = (1/m) Σ (x_i − mu)², as a function of mu (to hold mu fixed)."""
    return batch_sum((X[I] - mu) ** 2) / M


def n_of(idx: sp.Expr, mu: sp.Expr, var: sp.Expr) -> sp.Expr:
    """(8) n_i = (x_i − mu)/sqrt(var + eps)."""
    return (X[idx] - mu) / sp.sqrt(var + EPS)


def loss(mu: sp.Expr, var: sp.Expr) -> sp.Expr:
    """J = Σ delta_i·z_i with (9) z_i = gamma·n_i + beta."""
    return batch_sum(DELTA[I] * (GAMMA * n_of(I, mu, var) + BETA))


def at_batch(expr: sp.Expr) -> sp.Expr:
    """Put the staged symbols back: sigma2_B → (7), then mu_B → (6)."""
    return expr.subs(VAR_B, var_of_mu(MU_B)).subs(MU_B, mu_of_x())


def train_loss() -> sp.Expr:
    """J as a function of x alone: eqs (6)–(9) composed."""
    mu = mu_of_x()
    return loss(mu, var_of_mu(mu))


@dataclass(frozen=True)
class FirstOrder:
    """First-order results. ``raw_dx``: SymPy's own derivative (KroneckerDelta sums);
    ``reduced_dx``: the same with deltas summed out (sums of monomials in x); the rest are closed
    forms in ``inv_std`` and sums over x_hat (free index k)."""

    raw_dx: sp.Expr
    reduced_dx: sp.Expr
    reduced_dgamma: sp.Expr
    reduced_dbeta: sp.Expr
    dx: sp.Expr
    dgamma: sp.Expr
    dbeta: sp.Expr


@functools.cache
def first_order() -> FirstOrder:
    """dJ/dx_k, dJ/dgamma, dJ/dbeta for symbolic m (train mode)."""
    J = train_loss()
    raw_dx = sp.diff(J, X[K])
    red = {name: reduce_sums(sp.diff(J, var)) for name, var in (("g", GAMMA), ("b", BETA))}
    reduced_dx = reduce_sums(raw_dx)
    return FirstOrder(
        raw_dx=raw_dx,
        reduced_dx=reduced_dx,
        reduced_dgamma=red["g"],
        reduced_dbeta=red["b"],
        dx=to_inv_std(closed_form(reduced_dx)),
        dgamma=to_inv_std(closed_form(red["g"])),
        dbeta=to_inv_std(closed_form(red["b"])),
    )


def eval_loss() -> sp.Expr:
    """J in eval mode: (8) with the running mean and variance instead of mu_B, sigma2_B."""
    return loss(RUN_MEAN, RUN_VAR)


def eval_closed_form(expr: sp.Expr) -> sp.Expr:
    """Eval-mode closed form: x_i = mean + x_hat_i/inv_std with inv_std = 1/sqrt(var + eps)."""
    out = center(reduce_sums(expr), mu=RUN_MEAN, batch=False)
    out = out.subs(sp.sqrt(RUN_VAR + EPS), SIGMA)
    out = sp.factor(sp.cancel(out.subs(SIGMA, 1 / INV_STD)))
    if out.has(X) or out.has(RUN_MEAN) or out.has(RUN_VAR):
        raise ValueError(f"eval closed form still depends on x or the running statistics: {out}")
    return out


@functools.cache
def eval_first_order() -> FirstOrder:
    """Eval-mode gradients: mean and var are constants, so no path through the statistics."""
    J = eval_loss()
    raw = sp.diff(J, X[K])
    red = {v: reduce_sums(sp.diff(J, v)) for v in (GAMMA, BETA)}
    reduced = reduce_sums(raw)
    return FirstOrder(
        raw_dx=raw,
        reduced_dx=reduced,
        reduced_dgamma=red[GAMMA],
        reduced_dbeta=red[BETA],
        dx=eval_closed_form(reduced),
        dgamma=eval_closed_form(red[GAMMA]),
        dbeta=eval_closed_form(red[BETA]),
    )


# ---------------------------------------------------------------------------------------------
# Concrete m: explicit x_1..x_m, no Sum, no KroneckerDelta.


def concrete_train_loss(m: int) -> sp.Expr:
    """J for a concrete batch size: eqs (6)–(9) written out over x[1]..x[m]."""
    xs = [X[j] for j in range(1, m + 1)]
    mu = sp.Add(*xs) / m
    var = sp.Add(*[(xj - mu) ** 2 for xj in xs]) / m
    return sp.Add(
        *[DELTA[j] * (GAMMA * (X[j] - mu) / sp.sqrt(var + EPS) + BETA) for j in range(1, m + 1)]
    )


@dataclass(frozen=True)
class Point:
    """Exact rational inputs for one channel of a batch of size m."""

    m: int
    arrays: dict[sp.IndexedBase, tuple[sp.Rational, ...]]
    scalars: dict[sp.Symbol, sp.Rational]

    def substitutions(self) -> dict[sp.Expr, sp.Expr]:
        subs: dict[sp.Expr, sp.Expr] = dict(self.scalars)
        for base, values in self.arrays.items():
            subs.update({base[j + 1]: val for j, val in enumerate(values)})
        return subs


def random_point(m: int, seed: int, extra: tuple[sp.IndexedBase, ...] = ()) -> Point:
    """Deterministic small rationals; x has distinct entries so sigma2_B > 0."""
    rng = random.Random(seed)

    def rat() -> sp.Rational:
        return sp.Rational(rng.randint(-12, 12), rng.randint(1, 5))

    xs: list[sp.Rational] = []
    while len(xs) < m:
        if (r := rat()) not in xs:
            xs.append(r)
    arrays = {X: tuple(xs), DELTA: tuple(rat() for _ in range(m))}
    arrays.update({base: tuple(rat() for _ in range(m)) for base in extra})
    scalars = {
        GAMMA: sp.Rational(rng.randint(1, 9), rng.randint(1, 4)) * rng.choice((-1, 1)),
        BETA: rat(),
        EPS: sp.Rational(1, rng.randint(2, 40)),
    }
    return Point(m, arrays, scalars)


def evaluate(expr: sp.Expr, point: Point, indices: dict[sp.Symbol, int]) -> sp.Expr:
    """Exact value of a symbolic-m expression (raw, reduced or closed form) at ``point``."""
    m = point.m
    xs = point.arrays[X]
    mu = sp.Add(*xs) / m
    var = sp.Add(*[(xj - mu) ** 2 for xj in xs]) / m
    sigma = sp.sqrt(var + point.scalars[EPS])
    e = expr.xreplace({**indices, M: m})
    e = e.replace(lambda s: isinstance(s, Sum), lambda s: s.doit())
    subs = point.substitutions()
    subs.update({X_HAT[j + 1]: (xj - mu) / sigma for j, xj in enumerate(xs)})
    subs.update({SIGMA: sigma, INV_STD: 1 / sigma, MU: mu, RUN_MEAN: mu, RUN_VAR: var})
    return sp.radsimp(sp.expand(e.xreplace(subs)))


def exactly_equal(a: sp.Expr, b: sp.Expr) -> bool:
    """Exact equality of two algebraic numbers (rationals and square roots of rationals)."""
    diff = sp.radsimp(sp.expand(a - b))
    return bool(diff == 0 or sp.simplify(diff) == 0)


def concrete_first_order_agrees(m: int, seed: int = 0) -> bool:
    """Direct differentiation at concrete m == the symbolic-m results (raw and closed), exactly."""
    fo = first_order()
    J = concrete_train_loss(m)
    point = random_point(m, seed)
    subs = point.substitutions()
    checks = []
    for k in range(1, m + 1):
        direct = sp.diff(J, X[k]).xreplace(subs)
        checks.append(exactly_equal(direct, evaluate(fo.dx, point, {K: k})))
        checks.append(exactly_equal(direct, evaluate(fo.raw_dx, point, {K: k})))
    checks.append(exactly_equal(sp.diff(J, GAMMA).xreplace(subs), evaluate(fo.dgamma, point, {})))
    checks.append(exactly_equal(sp.diff(J, BETA).xreplace(subs), evaluate(fo.dbeta, point, {})))
    return all(checks)
