"""The normalization family: eqs (6)–(9) over a general reduction set, and RMSNorm on its own.

Batch, Layer, Instance and Group Normalization compute the same equations (6)–(9); they differ
only in *which* values form a set sharing mu and sigma² (the "reduction set", m values), and
in which values share an affine parameter:

    BN   the set: one channel over the batch (and space); gamma, beta: one per channel (= per set)
    LN   the set: one sample over the normalized trailing axes; gamma, beta: one per element
    IN   the set: one (sample, channel) over space; gamma, beta: one per channel (shared by N sets)
    GN   the set: one (sample, group) over C/G channels and space; gamma, beta: one per channel

So the model derived here takes **per-element** affine parameters gamma_i, beta_i over a set of
symbolic size m, J = Σ_i delta_i·(gamma_i·n_i + beta_i): every member is this model with some
gamma_i equal. A parameter p shared by a collection P of elements (within a set and across
sets) gets, by the chain rule, dJ/dp = Σ_{i∈P} dJ/dgamma_i (the per-element gradients are
derived here; summing them is linear and needs no derivation).

RMSNorm (y_i = gamma_i·x_i/sqrt(mean(x²) + eps), no mean, no beta) is derived on its own.

Both are differentiated by SymPy for symbolic m (first order, and second order as the
vector-Jacobian product of the backward, as in ``second_order``), reduced with
``algebra.reduce_sums`` and rewritten in x_hat; each result is checked exactly against direct
differentiation of the written-out expression at small concrete m.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp
from bncheck.derivations.algebra import (
    DELTA,
    EPS,
    GAMMA,
    INV_STD,
    MU,
    SIGMA,
    X_HAT,
    I,
    K,
    L,
    M,
    V,
    X,
    batch_sum,
    closed_form,
    reduce_sums,
    to_inv_std,
)
from sympy import Add, Mul, Pow, Sum

#: per-element affine parameters and the cotangents of the double backward
GAM = sp.IndexedBase("gamma", real=True)
BET = sp.IndexedBase("beta", real=True)
V_GAM = sp.IndexedBase("v_gamma", real=True)
V_BET = sp.IndexedBase("v_beta", real=True)
#: RMSNorm: s = sqrt(mean(x²) + eps) inside the algebra, inv_rms = 1/s in the results
S_RMS = sp.Symbol("s", positive=True)
INV_RMS = sp.Symbol("inv_rms", positive=True)

CENTERED, RMS = "centered", "rms"
KINDS = (CENTERED, RMS)


# --- the models ------------------------------------------------------------------------------


def set_mean() -> sp.Expr:
    return batch_sum(X[I]) / M  # (6)


def set_var() -> sp.Expr:
    return batch_sum((X[I] - set_mean()) ** 2) / M  # (7), biased


def mean_square() -> sp.Expr:
    return batch_sum(X[I] ** 2) / M  # mean square, RMSNorm's only statistic


def loss(kind: str) -> sp.Expr:
    """J = Σ delta_i·y_i over one reduction set of symbolic size m."""
    if kind == CENTERED:
        n = (X[I] - set_mean()) / sp.sqrt(set_var() + EPS)  # (8)
        return batch_sum(DELTA[I] * (GAM[I] * n + BET[I]))  # (9), per-element affine
    return batch_sum(DELTA[I] * GAM[I] * X[I] / sp.sqrt(mean_square() + EPS))


def concrete_loss(kind: str, m: int) -> sp.Expr:
    """J written out over x[1]..x[m]: no Sum, no KroneckerDelta."""
    js = range(1, m + 1)
    if kind == CENTERED:
        mu = sp.Add(*[X[j] for j in js]) / m
        var = sp.Add(*[(X[j] - mu) ** 2 for j in js]) / m
        return sp.Add(
            *[DELTA[j] * (GAM[j] * (X[j] - mu) / sp.sqrt(var + EPS) + BET[j]) for j in js]
        )
    ms = sp.Add(*[X[j] ** 2 for j in js]) / m
    return sp.Add(*[DELTA[j] * GAM[j] * X[j] / sp.sqrt(ms + EPS) for j in js])


def _rms_atom(atom: Sum) -> sp.Expr:
    """A Sum atom with x_i = s·x_hat_i, using Σ x_hat_i² = m·(s² − eps)/s² (definition of s)."""
    body = sp.expand(atom.function.subs(X[I], S_RMS * X_HAT[I]))
    out = []
    for term in Add.make_args(body):
        coeff, dep = [], []
        for factor in Mul.make_args(term):
            (dep if I in factor.free_symbols else coeff).append(factor)
        c, d = Mul(*coeff), Mul(*dep)
        if d == 1:
            out.append(c * M)
        elif d == X_HAT[I] ** 2:
            out.append(c * M * (S_RMS**2 - EPS) / S_RMS**2)
        else:
            out.append(c * batch_sum(d))
    return Add(*out)


def _rms_closed(expr: sp.Expr) -> sp.Expr:
    """Reduced RMSNorm expression rewritten in x_hat = x·inv_rms and named sums."""
    out = reduce_sums(expr)
    out = out.replace(lambda e: isinstance(e, Sum), _rms_atom)
    out = out.subs({X[j]: S_RMS * X_HAT[j] for j in (K, L)})
    out = out.replace(
        lambda e: isinstance(e, Pow) and not e.base.is_Atom,
        lambda e: Pow(sp.factor(e.base), e.exp),
    )
    out = sp.factor(sp.cancel(out))
    if out.has(X):
        raise ValueError(f"RMS closed form still depends on x: {out}")
    return sp.factor(out.subs(S_RMS, 1 / INV_RMS))


def close(kind: str, expr: sp.Expr) -> sp.Expr:
    """Closed form in inv_std (inv_rms) and sums over x_hat of a reduced-able expression."""
    if kind == CENTERED:
        return to_inv_std(closed_form(expr))
    return _rms_closed(expr)


# --- first order ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FamilyFirstOrder:
    """Per-element first-order gradients, free index k. ``dbeta`` is 0 for RMSNorm (no beta)."""

    kind: str
    raw_dx: sp.Expr
    reduced_dx: sp.Expr
    reduced_dgamma: sp.Expr
    reduced_dbeta: sp.Expr
    dx: sp.Expr
    dgamma: sp.Expr
    dbeta: sp.Expr


@functools.cache
def first_order(kind: str) -> FamilyFirstOrder:
    J = loss(kind)
    raw = sp.diff(J, X[K])
    reduced = {
        "dx": reduce_sums(raw),
        "dgamma": reduce_sums(sp.diff(J, GAM[K])),
        "dbeta": reduce_sums(sp.diff(J, BET[K])),
    }
    return FamilyFirstOrder(
        kind=kind,
        raw_dx=raw,
        reduced_dx=reduced["dx"],
        reduced_dgamma=reduced["dgamma"],
        reduced_dbeta=reduced["dbeta"],
        dx=close(kind, reduced["dx"]),
        dgamma=close(kind, reduced["dgamma"]),
        dbeta=close(kind, reduced["dbeta"]) if reduced["dbeta"] != 0 else sp.S.Zero,
    )


# --- second order -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FamilySecondOrder:
    """Free index l. G = Σ_k v_x[k]·dJ/dx_k + Σ_k v_gamma[k]·dJ/dgamma_k + Σ_k v_beta[k]·dJ/dbeta_k.

    d_x = ∂G/∂x_l, d_gamma = ∂G/∂gamma_l, d_delta = ∂G/∂delta_l (the forward's JVP);
    ∂G/∂beta_l = 0 (nothing in the backward depends on beta).
    """

    kind: str
    d_x: sp.Expr
    d_gamma: sp.Expr
    d_delta: sp.Expr


def _g(fo: FamilyFirstOrder) -> sp.Expr:
    g = sp.Sum(V[K] * fo.reduced_dx, (K, 1, M)) + sp.Sum(V_GAM[K] * fo.reduced_dgamma, (K, 1, M))
    if fo.reduced_dbeta != 0:
        g += sp.Sum(V_BET[K] * fo.reduced_dbeta, (K, 1, M))
    return g


@functools.cache
def second_order(kind: str) -> FamilySecondOrder:
    G = _g(first_order(kind))
    return FamilySecondOrder(
        kind=kind,
        d_x=close(kind, sp.diff(G, X[L])),
        d_gamma=close(kind, sp.diff(G, GAM[L])),
        d_delta=close(kind, sp.diff(G, DELTA[L])),
    )


# --- exact checks at concrete m ---------------------------------------------------------------


@dataclass(frozen=True)
class FamilyPoint:
    m: int
    values: dict[sp.Expr, sp.Rational]


def random_point(m: int, seed: int) -> FamilyPoint:
    """Deterministic small rationals for every input of one set; distinct x (sigma² > 0)."""
    rng = random.Random(seed)

    def rat() -> sp.Rational:
        return sp.Rational(rng.randint(-12, 12), rng.randint(1, 5))

    xs: list[sp.Rational] = []
    while len(xs) < m:
        if (r := rat()) not in xs:
            xs.append(r)
    values: dict[sp.Expr, sp.Rational] = {X[j + 1]: v for j, v in enumerate(xs)}
    for base in (DELTA, GAM, BET, V, V_GAM, V_BET):
        values.update({base[j]: rat() for j in range(1, m + 1)})
    values[EPS] = sp.Rational(1, rng.randint(2, 40))
    return FamilyPoint(m, values)


def evaluate(
    kind: str, expr: sp.Expr, point: FamilyPoint, indices: dict[sp.Symbol, int]
) -> sp.Expr:
    """Exact value of a symbolic-m closed form at ``point``."""
    m = point.m
    xs = [point.values[X[j]] for j in range(1, m + 1)]
    eps = point.values[EPS]
    if kind == CENTERED:
        mu = sp.Add(*xs) / m
        s = sp.sqrt(sp.Add(*[(v - mu) ** 2 for v in xs]) / m + eps)
        hat = [(v - mu) / s for v in xs]
        stats = {INV_STD: 1 / s, SIGMA: s, MU: mu}
    else:
        s = sp.sqrt(sp.Add(*[v**2 for v in xs]) / m + eps)
        hat = [v / s for v in xs]
        stats = {INV_RMS: 1 / s, S_RMS: s}
    e = expr.xreplace({**indices, M: m})
    e = e.replace(lambda a: isinstance(a, Sum), lambda a: a.doit())
    subs = dict(point.values)
    subs.update({X_HAT[j + 1]: h for j, h in enumerate(hat)})
    subs.update(stats)
    return sp.radsimp(sp.expand(e.xreplace(subs)))


def _equal(a: sp.Expr, b: sp.Expr) -> bool:
    diff = sp.radsimp(sp.expand(a - b))
    return bool(diff == 0 or sp.simplify(diff) == 0)


def concrete_first_order_agrees(kind: str, m: int, seed: int = 0) -> bool:
    """dJ/dx_k, dJ/dgamma_k, dJ/dbeta_k by direct differentiation == the closed forms."""
    fo = first_order(kind)
    J = concrete_loss(kind, m)
    point = random_point(m, seed)
    checks = []
    for k in range(1, m + 1):
        for wrt, closed in ((X[k], fo.dx), (GAM[k], fo.dgamma), (BET[k], fo.dbeta)):
            direct = sp.diff(J, wrt).xreplace(point.values)
            checks.append(_equal(direct, evaluate(kind, closed, point, {K: k})))
        direct_x = sp.diff(J, X[k]).xreplace(point.values)
        checks.append(_equal(direct_x, evaluate(kind, fo.raw_dx, point, {K: k})))
    return all(checks)


def concrete_second_order_agrees(kind: str, m: int, seed: int = 0) -> bool:
    """∂G/∂x_l, ∂G/∂gamma_l, ∂G/∂delta_l by direct differentiation == the closed forms."""
    so = second_order(kind)
    point = random_point(m, seed)
    vals = point.values
    js = range(1, m + 1)
    xs, gs, ds, bs = ({b[j] for j in js} for b in (X, GAM, DELTA, BET))

    def direct(wrt: sp.Expr, keep: set[sp.Expr]) -> sp.Expr:
        # Inputs that are not differentiated are fixed first: same derivative, less algebra;
        # gamma and beta stay symbolic in J because G needs dJ/dgamma_k and dJ/dbeta_k.
        J = concrete_loss(kind, m)
        J = J.xreplace({s: v for s, v in vals.items() if s not in keep | gs | bs})
        G = sp.Add(
            *[V[k] * sp.diff(J, X[k]) for k in js],
            *[V_GAM[k] * sp.diff(J, GAM[k]) for k in js],
            *[V_BET[k] * sp.diff(J, BET[k]) for k in js],
        )
        G = G.xreplace({s: v for s, v in vals.items() if s not in keep})
        return sp.diff(G, wrt).xreplace(vals)

    checks = []
    for ell in js:
        for wrt, keep, closed in (
            (X[ell], xs, so.d_x),
            (GAM[ell], xs | gs, so.d_gamma),
            (DELTA[ell], xs | ds, so.d_delta),
        ):
            checks.append(_equal(direct(wrt, keep), evaluate(kind, closed, point, {L: ell})))
    return all(checks)


def specializes_to_batch_norm(bn_dx: sp.Expr, bn_dgamma_sum: sp.Expr) -> bool:
    """With gamma_i = gamma for every i of the set (BN's per-channel gamma), the family's dx is
    BN's (``symbolic.first_order().dx``) and Σ_k dJ/dgamma_k is BN's dJ/dgamma: the general
    set contains BN as the case of one parameter per set."""
    fo = first_order(CENTERED)

    def one_gamma(e: sp.Expr) -> sp.Expr:
        e = e.replace(lambda a: isinstance(a, sp.Indexed) and a.base == GAM, lambda a: GAMMA)
        return reduce_sums(e)

    dx = one_gamma(fo.dx)
    dgamma = reduce_sums(sp.Sum(one_gamma(fo.dgamma).subs(K, I), (I, 1, M)))
    return bool(
        sp.simplify(sp.expand(dx - reduce_sums(bn_dx))) == 0
        and sp.simplify(sp.expand(dgamma - reduce_sums(bn_dgamma_sum))) == 0
    )


#: the checks ``run`` requires, by name: (kind, order, m)
CHECK_SIZES = (2, 3, 4)


def checks() -> dict[str, Callable[[], bool]]:
    out: dict[str, Callable[[], bool]] = {}
    for kind in KINDS:
        for m in CHECK_SIZES:
            out[f"{kind}: first order, m = {m}"] = functools.partial(
                concrete_first_order_agrees, kind, m, m
            )
            out[f"{kind}: second order, m = {m}"] = functools.partial(
                concrete_second_order_agrees, kind, m, m
            )
    return out
