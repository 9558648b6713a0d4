"""The intermediate derivatives of the source document's hand derivation, derived by SymPy from
(6)–(9).

The source splits dJ/dx_i through n_i, sigma2_B and mu_B and writes partial derivatives without
saying what is held fixed. Each quantity below states its meaning and is derived in the staged
model: n_i(x_i, mu_B, sigma2_B) from (8), sigma2_B(x, mu_B) from (7), mu_B(x) from (6); J as a
function of (x, mu_B, sigma2_B) or of n or z where the source treats those as the variables.
All results are evaluated at the batch statistics; per-sample ones have the free index k.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy as sp
from bncheck.derivations.algebra import BETA, DELTA, GAMMA, I, K, X, batch_sum, reduce_sums
from bncheck.derivations.symbolic import (
    MU_B,
    VAR_B,
    N,
    Z,
    at_batch,
    loss,
    mu_of_x,
    n_of,
    train_loss,
    var_of_mu,
)


@dataclass(frozen=True)
class Quantity:
    meaning: str
    value: sp.Expr  # reduced, at the batch statistics; free index k when per-sample


def _q(meaning: str, expr: sp.Expr) -> Quantity:
    return Quantity(meaning, reduce_sums(at_batch(expr)))


@functools.cache
def quantities() -> dict[str, Quantity]:
    """Name → derived quantity. Names match the placeholders of ``source``."""
    j_staged = loss(MU_B, VAR_B)  # J(x, mu_B, sigma2_B), statistics held fixed
    var_mu = var_of_mu(MU_B)  # sigma2_B(x, mu_B), mu_B held fixed
    n_k = n_of(K, MU_B, VAR_B)
    return {
        "dJ/dz": _q(
            "∂J/∂z_k with J = Σ δ_i z_i (z as the variables)",
            sp.diff(batch_sum(DELTA[I] * Z[I]), Z[K]),
        ),
        "dJ/dn": _q(
            "∂J/∂n_k with J = Σ δ_i (γ n_i + β) (n as the variables)",
            sp.diff(batch_sum(DELTA[I] * (GAMMA * N[I] + BETA)), N[K]),
        ),
        "dz/dgamma": _q("∂z_k/∂γ of (9)", sp.diff(GAMMA * N[K] + BETA, GAMMA).subs(N[K], n_k)),
        "dz/dbeta": _q("∂z_k/∂β of (9)", sp.diff(GAMMA * N[K] + BETA, BETA)),
        "dz/dn": _q("∂z_k/∂n_k of (9)", sp.diff(GAMMA * N[K] + BETA, N[K])),
        "dJ/dgamma": _q(
            "dJ/dγ, J a function of x, γ, β through (6)–(9)", sp.diff(train_loss(), GAMMA)
        ),
        "dJ/dbeta": _q(
            "dJ/dβ, J a function of x, γ, β through (6)–(9)", sp.diff(train_loss(), BETA)
        ),
        "dJ/dx": _q("dJ/dx_k, total: every path through μ_B and σ²_B", sp.diff(train_loss(), X[K])),
        "dn/dx": _q("∂n_k/∂x_k of (8) with μ_B and σ²_B held fixed", sp.diff(n_k, X[K])),
        "dn/dvar": _q("∂n_k/∂σ²_B of (8) with x and μ_B held fixed", sp.diff(n_k, VAR_B)),
        "dn/dmu": _q("∂n_k/∂μ_B of (8) with x and σ²_B held fixed", sp.diff(n_k, MU_B)),
        "dJ/dvar": _q("∂J/∂σ²_B with x and μ_B held fixed", sp.diff(j_staged, VAR_B)),
        "dvar/dx": _q("∂σ²_B/∂x_k of (7) with μ_B held fixed", sp.diff(var_mu, X[K])),
        "dvar/dx total": _q(
            "dσ²_B/dx_k of (7) with μ_B = μ_B(x) (total)", sp.diff(var_of_mu(mu_of_x()), X[K])
        ),
        "dvar/dmu": _q("∂σ²_B/∂μ_B of (7) with x held fixed", sp.diff(var_mu, MU_B)),
        "dJ/dmu": _q(
            "dJ/dμ_B with x fixed, through n directly and through σ²_B(x, μ_B)",
            sp.diff(j_staged.subs(VAR_B, var_mu), MU_B),
        ),
        "dmu/dx": _q("∂μ_B/∂x_k of (6)", sp.diff(mu_of_x(), X[K])),
    }
