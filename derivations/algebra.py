"""Sum/KroneckerDelta algebra for a batch of symbolic size m.

SymPy differentiates ``Sum(f(x[i]), (i, 1, m))`` with respect to ``x[k]`` into sums of
``KroneckerDelta(i, k)``, but its own ``doit()`` on those sums is very slow (tens of seconds) and
leaves ``Piecewise(..., k <= m)`` behind. The helpers here finish the job with the one fact SymPy
does not know: every free index k, l lies in 1..m, so ``Σ_i KroneckerDelta(i, k)·f(i) = f(k)``.

Everything is then rewritten in terms of the batch statistics, ``x_i = mu + sigma·x_hat_i`` with
``sigma = sqrt(var + eps)``, where three sums are known exactly (eqs 6–8):
``Σ 1 = m``, ``Σ x_hat_i = 0`` and ``Σ x_hat_i² = m·var/(var + eps) = m·(sigma² − eps)/sigma²``.
The remaining sums (``Σ delta_i·x_hat_i`` and so on) become the named per-channel sums of the
closed forms and of the generated code.
"""

from __future__ import annotations

import sympy as sp
from sympy import Add, KroneckerDelta, Mul, Pow, Sum

# Sizes, indices and the IndexedBase variables. Names mirror the equations and the generated code.
M = sp.Symbol("m", integer=True, positive=True)
I = sp.Symbol("i", integer=True, positive=True)  # noqa: E741 - the summation index of the source
K = sp.Symbol("k", integer=True, positive=True)  # free index of a first-order result
L = sp.Symbol("l", integer=True, positive=True)  # free index of a second-order result
X = sp.IndexedBase("x", real=True)
DELTA = sp.IndexedBase("delta", real=True)
V = sp.IndexedBase("v_x", real=True)  # the x-part of the direction of a Hessian-vector product
X_HAT = sp.IndexedBase("x_hat", real=True)
GAMMA = sp.Symbol("gamma", real=True)
BETA = sp.Symbol("beta", real=True)
EPS = sp.Symbol("epsilon", positive=True)
MU = sp.Symbol("mu", real=True)
SIGMA = sp.Symbol("sigma", positive=True)  # sqrt(var + eps), only inside the algebra
INV_STD = sp.Symbol("inv_std", positive=True)
FREE_INDICES = (K, L)


def batch_sum(body: sp.Expr) -> sp.Expr:
    """``Σ_{i=1}^{m} body`` with the canonical summation index ``i``."""
    return Sum(body, (I, 1, M))


def reduce_sums(expr: sp.Expr) -> sp.Expr:
    """Sum out every KroneckerDelta and split every Sum into sums of monomials.

    The result is a rational function of ``m``, the free-index entries (``x[k]``, ``delta[k]``…),
    the scalars, and atoms ``Sum(monomial(i), (i, 1, m))`` that cannot be reduced further.
    """
    if not expr.args:
        return expr
    if isinstance(expr, Sum):
        body = reduce_sums(expr.function)
        for idx, lo, hi in expr.limits:  # innermost first
            if lo != 1 or hi != M:
                raise ValueError(f"sum limits ({lo}, {hi}) must be (1, m)")
            body = _sum_out(body, idx)
        return body
    return expr.func(*[reduce_sums(a) for a in expr.args])


def _kronecker_of(factor: sp.Expr, idx: sp.Symbol) -> KroneckerDelta | None:
    base = factor.base if isinstance(factor, Pow) else factor  # KD**p == KD
    if isinstance(base, KroneckerDelta) and idx in base.free_symbols:
        return base
    return None


def _sum_out(body: sp.Expr, idx: sp.Symbol) -> sp.Expr:
    terms = []
    for term in Add.make_args(sp.expand(body)):
        coeff, dep = [], []
        for factor in Mul.make_args(term):
            (dep if idx in factor.free_symbols else coeff).append(factor)
        c = Mul(*coeff)
        deltas = [(f, kd) for f in dep if (kd := _kronecker_of(f, idx)) is not None]
        if deltas:
            factor, kd = deltas[0]
            (other,) = (a for a in kd.args if a != idx)
            rest = Mul(*(f for f in dep if f is not factor))
            # Σ_i KroneckerDelta(i, k)·f(i) = f(k), because 1 <= k <= m for every free index.
            terms.append(c * rest.subs(idx, other))
        elif not dep:
            terms.append(c * M)
        else:
            terms.append(c * batch_sum(Mul(*dep).subs(idx, I)))
    return Add(*terms)


def _centered_atom(atom: Sum, mu: sp.Expr, sigma: sp.Expr, batch: bool) -> sp.Expr:
    body = sp.expand(atom.function.subs(X[I], mu + sigma * X_HAT[I]))
    out = []
    for term in Add.make_args(body):
        coeff, dep = [], []
        for factor in Mul.make_args(term):
            (dep if I in factor.free_symbols else coeff).append(factor)
        c, d = Mul(*coeff), Mul(*dep)
        if d == 1:
            out.append(c * M)
        elif batch and d == X_HAT[I]:
            out.append(sp.S.Zero)  # Σ x_hat_i = 0 by (6), (8)
        elif batch and d == X_HAT[I] ** 2:
            out.append(c * M * (SIGMA**2 - EPS) / SIGMA**2)  # Σ x_hat_i² = m·var/(var+eps)
        else:
            out.append(c * batch_sum(d))
    return Add(*out)


def center(expr: sp.Expr, mu: sp.Expr = MU, batch: bool = True) -> sp.Expr:
    """Rewrite a reduced expression with ``x_i = mu + sigma·x_hat_i``.

    ``batch=True``: mu and sigma are the batch statistics of the same x (train mode), so the
    identities of eqs (6)–(8) apply. ``batch=False`` (eval mode): mu and sigma are given numbers.
    """
    out = expr.replace(lambda e: isinstance(e, Sum), lambda s: _centered_atom(s, mu, SIGMA, batch))
    out = out.subs({X[j]: mu + SIGMA * X_HAT[j] for j in FREE_INDICES})
    # sqrt(var_B + eps) with var_B written in sums is now sqrt(sigma²): factor bases to see it.
    return out.replace(
        lambda e: isinstance(e, Pow) and not e.base.is_Atom,
        lambda e: Pow(sp.factor(e.base), e.exp),
    )


def closed_form(expr: sp.Expr) -> sp.Expr:
    """Reduced, centered and factored train-mode form of ``expr``, in ``sigma`` and x_hat sums."""
    out = sp.factor(sp.cancel(center(reduce_sums(expr))))
    leftover = out.free_symbols & {MU}
    if leftover or out.has(X):
        raise ValueError(f"closed form still depends on x or mu: {out}")
    return out


def is_identically_zero(expr: sp.Expr) -> bool:
    """True when ``expr`` (a train-mode quantity at the batch statistics) is 0 for every input.

    Sound in one direction only: 0 as a rational function of the atoms means 0 for all x. A
    nonzero result is not a proof of inequality; the audit then looks for a counterexample.
    """
    return sp.cancel(center(reduce_sums(expr))) == 0


def to_inv_std(expr: sp.Expr) -> sp.Expr:
    """Replace ``sigma = sqrt(var + eps)`` by ``1/inv_std`` for printing and code."""
    return sp.factor(expr.subs(SIGMA, 1 / INV_STD))


def sum_atoms(expr: sp.Expr) -> list[Sum]:
    """The Sum atoms of ``expr`` in a deterministic order."""
    return sorted(expr.atoms(Sum), key=sp.default_sort_key)


_TEX_NAMES = {
    X_HAT: sp.IndexedBase(r"\hat{x}"),
    V: sp.IndexedBase(r"v_x"),
    INV_STD: sp.Symbol(r"\mathrm{inv\_std}"),
    SIGMA: sp.Symbol(r"\sqrt{\sigma^2_B + \epsilon}"),
}


def tex(expr: sp.Expr) -> str:
    """LaTeX with the reader's names (x̂ for x_hat, inv_std as a word)."""
    return sp.latex(expr.xreplace(_TEX_NAMES))
