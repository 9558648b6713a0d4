"""Second order: what a double-backward must compute, train and eval mode.

The backward pass maps (delta, x, gamma) to (dx, dgamma, dbeta) = ∇_{x,gamma,beta} J with
J = Σ delta_i·z_i. Its vector-Jacobian product with a cotangent (v_x, v_gamma, v_beta) is the
gradient of the scalar

    G = Σ_k v_x[k]·dJ/dx_k + v_gamma·dJ/dgamma + v_beta·dJ/dbeta

with respect to x, gamma and delta. Because the backward is itself a gradient, ``dG/dx`` and
``dG/dgamma`` are the Hessian-vector product of J in (x, gamma); ``dG/ddelta`` is the forward's
Jacobian-vector product (the backward is linear in delta). SymPy differentiates G, built from the
reduced first-order sums, with respect to x[l], gamma and delta[l] for symbolic m.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy as sp
from bncheck.derivations.algebra import BETA, DELTA, GAMMA, K, L, M, V, X, closed_form, to_inv_std
from bncheck.derivations.symbolic import (
    Point,
    concrete_train_loss,
    eval_closed_form,
    eval_first_order,
    eval_loss,
    evaluate,
    exactly_equal,
    first_order,
    random_point,
    train_loss,
)

V_GAMMA = sp.Symbol("v_gamma", real=True)
V_BETA = sp.Symbol("v_beta", real=True)


@dataclass(frozen=True)
class SecondOrder:
    """Closed forms with free index l.

    hvp_x    = Σ_k v_x[k]·∂²J/∂x_k∂x_l          (Hessian of J in x times v_x)
    mixed_x  = v_gamma·∂²J/∂gamma∂x_l            (x–gamma mixed term)
    d_x      = hvp_x + mixed_x                   (= ∂G/∂x_l)
    d_gamma  = Σ_k v_x[k]·∂²J/∂x_k∂gamma          (= ∂G/∂gamma; ∂²J/∂gamma² is d2_gamma)
    d_delta  = ∂G/∂delta_l                        (the forward's JVP in (v_x, v_gamma, v_beta))
    d2_gamma = ∂²J/∂gamma², d2_beta = ∂²J/∂beta²  (both 0: J is linear in gamma and beta)
    """

    hvp_x: sp.Expr
    mixed_x: sp.Expr
    d_x: sp.Expr
    d_gamma: sp.Expr
    d_delta: sp.Expr
    d2_gamma: sp.Expr
    d2_beta: sp.Expr


def _g(reduced_dx: sp.Expr, reduced_dgamma: sp.Expr, reduced_dbeta: sp.Expr | int) -> sp.Expr:
    return sp.Sum(V[K] * reduced_dx, (K, 1, M)) + V_GAMMA * reduced_dgamma + V_BETA * reduced_dbeta


def _derive(eval_mode: bool) -> SecondOrder:
    fo = eval_first_order() if eval_mode else first_order()
    J = eval_loss() if eval_mode else train_loss()

    def close(e: sp.Expr) -> sp.Expr:
        return eval_closed_form(e) if eval_mode else to_inv_std(closed_form(e))

    G = _g(fo.reduced_dx, fo.reduced_dgamma, fo.reduced_dbeta)
    hvp = close(sp.diff(_g(fo.reduced_dx, 0, 0), X[L]))
    mixed = close(sp.diff(_g(0, fo.reduced_dgamma, 0), X[L]))
    return SecondOrder(
        hvp_x=hvp,
        mixed_x=mixed,
        d_x=sp.factor(hvp + mixed),  # ∂G/∂x_l: differentiation is linear in G
        d_gamma=close(sp.diff(G, GAMMA)),
        d_delta=close(sp.diff(G, DELTA[L])),
        d2_gamma=close(sp.diff(J, GAMMA, 2)),
        d2_beta=close(sp.diff(J, BETA, 2)),
    )


@functools.cache
def second_order() -> SecondOrder:
    """Train mode: every path through mu_B and sigma2_B, differentiated twice."""
    return _derive(eval_mode=False)


@functools.cache
def eval_second_order() -> SecondOrder:
    """Eval mode: z is affine in x, so only the gamma-mixed terms survive."""
    return _derive(eval_mode=True)


def _concrete_g(m: int, fixed: dict[sp.Expr, sp.Expr]) -> sp.Expr:
    """G at concrete m, with the inputs in ``fixed`` set to numbers before differentiating."""
    # gamma and beta stay symbolic in J: G needs dJ/dgamma and dJ/dbeta.
    J = concrete_train_loss(m).xreplace({s: v for s, v in fixed.items() if s not in (GAMMA, BETA)})
    grads = [sp.diff(J, X[k]) for k in range(1, m + 1)]
    return (
        sp.Add(*[V[k] * g for k, g in zip(range(1, m + 1), grads, strict=True)])
        + V_GAMMA * sp.diff(J, GAMMA)
        + V_BETA * sp.diff(J, BETA)
    ).xreplace(fixed)


def concrete_second_order_agrees(m: int, seed: int = 0) -> bool:
    """Direct second derivatives at concrete m == the symbolic-m closed forms, exactly."""
    so = second_order()
    point = random_point(m, seed, extra=(V,))
    point = Point(
        point.m,
        point.arrays,
        {**point.scalars, V_GAMMA: sp.Rational(3, 7), V_BETA: sp.Rational(-5, 3)},
    )
    subs = point.substitutions()

    def direct(wrt: sp.Expr, keep: set[sp.Expr]) -> sp.Expr:
        # Inputs that are not differentiated are fixed first: same derivative, less algebra.
        G = _concrete_g(m, {s: v for s, v in subs.items() if s not in keep})
        return sp.diff(G, wrt).xreplace(subs)

    xs = {X[j] for j in range(1, m + 1)}
    deltas = {DELTA[j] for j in range(1, m + 1)}
    checks = [exactly_equal(direct(GAMMA, xs | {GAMMA}), evaluate(so.d_gamma, point, {}))]
    for ell in range(1, m + 1):
        checks.append(exactly_equal(direct(X[ell], xs), evaluate(so.d_x, point, {L: ell})))
        checks.append(
            exactly_equal(direct(DELTA[ell], xs | deltas), evaluate(so.d_delta, point, {L: ell}))
        )
    return all(checks)
