"""Emit ``bncheck/check/family_reference.py`` and the family's section of the derivation report.

The loop structure is a template (one set at a time, one value at a time); every formula in it
is printed from a SymPy result of ``family``. Sums over a set become named locals computed
with ``math.fsum`` (correctly rounded), so the reference adds no summation error of its own.
"""

from __future__ import annotations

from collections.abc import Mapping

import sympy as sp
from bncheck.derivations import family
from bncheck.derivations.algebra import DELTA, EPS, INV_STD, MU, X_HAT, I, K, L, V, X, tex
from bncheck.derivations.codegen import COMMAND, statement
from bncheck.derivations.family import (
    BET,
    CENTERED,
    GAM,
    INV_RMS,
    RMS,
    V_BET,
    V_GAM,
    FamilyFirstOrder,
    FamilySecondOrder,
)
from sympy import Indexed, Sum

OUTPUT = "bncheck/check/family_reference.py"
_ELEMENT = {
    DELTA: "delta",
    GAM: "gamma",
    BET: "beta",
    V: "v_x",
    V_GAM: "v_gamma",
    V_BET: "v_beta",
    X_HAT: "x_hat",
    X: "x",
}
_ORDER = tuple(_ELEMENT)
_SCALARS = {INV_STD: "inv_std", INV_RMS: "inv_rms", MU: "mu", EPS: "eps"}
_STAT = {CENTERED: "inv_std", RMS: "inv_rms"}


def sum_name(atom: Sum) -> str:
    """``Sum(delta[i]*gamma[i]*x_hat[i])`` → ``sum_delta_gamma_x_hat``."""
    powers = {}
    for factor in sp.Mul.make_args(atom.function):
        base, exp = factor.as_base_exp()
        if isinstance(base, Indexed):
            powers[base.base] = int(exp)
    parts = [
        _ELEMENT[b] + (f"_pow{powers[b]}" if powers[b] > 1 else "") for b in _ORDER if b in powers
    ]
    return "sum_" + "_".join(parts)


def _atoms(expr: sp.Expr) -> list[Sum]:
    return sorted(expr.atoms(Sum), key=sum_name)


def code(expr: sp.Expr) -> str:
    """Python source of a per-element or per-set formula (free index → ``i``)."""
    if expr == 0:
        return "0.0"
    expr = expr.xreplace({a: sp.Symbol(sum_name(a)) for a in _atoms(expr)})
    repl: dict[sp.Basic, sp.Basic] = {
        e: sp.Symbol(f"{_ELEMENT[e.base]}[i, c]") for e in expr.atoms(Indexed)
    }
    repl.update({s: sp.Symbol(name) for s, name in _SCALARS.items()})
    return sp.sstr(expr.xreplace(repl).subs({K: I, L: I}))


def _sum_lines(exprs: list[sp.Expr], indent: str) -> list[str]:
    atoms = sorted({a for e in exprs for a in _atoms(e)}, key=sum_name)
    out = []
    for a in atoms:
        body = code(a.function.subs(a.limits[0][0], I))
        out += statement(indent, sum_name(a), f"math.fsum({body} for i in range(m))")
    return out


def _stats(kind: str) -> list[str]:
    if kind == CENTERED:
        mu = code(family.set_mean().args[1].function)
        var = code(sp.expand((X[I] - MU) ** 2).factor())
        return [
            f"        mu = math.fsum({mu} for i in range(m)) / m  # (6)",
            f"        var = math.fsum({var} for i in range(m)) / m  # (7), biased",
            "        inv_std = 1.0 / math.sqrt(var + eps)  # (8)",
            "        for i in range(m):",
            f"            x_hat[i, c] = {code((X[I] - MU) * INV_STD)}  # (8)",
        ]
    ms = code(family.mean_square().args[1].function)
    return [
        f"        ms = math.fsum({ms} for i in range(m)) / m  # mean of x²",
        "        inv_rms = 1.0 / math.sqrt(ms + eps)",
        "        for i in range(m):",
        f"            x_hat[i, c] = {code(X[I] * INV_RMS)}",
    ]


def _function(
    name: str,
    kind: str,
    args: list[str],
    doc: str,
    outputs: list[str],
    per_set: list[str],
    per_element: list[str],
) -> str:
    ret = "Array" if len(outputs) == 1 else f"tuple[{', '.join('Array' for _ in outputs)}]"
    head = f"def {name}({', '.join(args)}) -> {ret}:"
    if len(head) > 100:
        head = f"def {name}(\n" + "".join(f"    {a},\n" for a in args) + f") -> {ret}:"
    arrays = [a.split(":")[0] for a in args if a.endswith("Array")]
    return "\n".join(
        [
            head,
            f'    """{doc}"""',
            f"    {', '.join(arrays)} = _matrices({', '.join(arrays)})",
            "    m, C = x.shape",
            *(f"    {o} = np.empty((m, C))" for o in outputs),
            "    x_hat = np.empty((m, C))",
            "    for c in range(C):",
            *_stats(kind),
            *per_set,
            "        for i in range(m):",
            *per_element,
            f"    return {', '.join(outputs)}",
        ]
    )


def _forward(kind: str) -> str:
    y = GAM[I] * X_HAT[I] + (BET[I] if kind == CENTERED else 0)
    args = ["x: Array", "gamma: Array"] + (["beta: Array"] if kind == CENTERED else [])
    return _function(
        f"{kind}_forward",
        kind,
        [*args, "eps: float"],
        f"Forward y = {sp.sstr(y.subs(I, sp.Symbol('i')))}.",
        ["y"],
        [],
        statement("            ", "y[i, c]", code(y)),
    )


def _backward(kind: str, fo: FamilyFirstOrder) -> str:
    outs = [("dx", fo.dx), ("dgamma", fo.dgamma)]
    if kind == CENTERED:
        outs.append(("dbeta", fo.dbeta))
    per_element: list[str] = []
    for o, e in outs:
        per_element += statement("            ", f"{o}[i, c]", code(e))
    return _function(
        f"{kind}_backward",
        kind,
        ["delta: Array", "x: Array", "gamma: Array", "eps: float"],
        "Per-element gradients of J = Σ delta·y: (" + ", ".join(o for o, _ in outs) + ").",
        [o for o, _ in outs],
        _sum_lines([e for _, e in outs], "        "),
        per_element,
    )


def _double_backward(kind: str, so: FamilySecondOrder) -> str:
    outs = [("d_delta", so.d_delta), ("d_x", so.d_x), ("d_gamma", so.d_gamma)]
    cot = ["v_x: Array", "v_gamma: Array"] + (["v_beta: Array"] if kind == CENTERED else [])
    per_element: list[str] = []
    for o, e in outs:
        per_element += statement("            ", f"{o}[i, c]", code(e))
    return _function(
        f"{kind}_double_backward",
        kind,
        ["delta: Array", "x: Array", "gamma: Array", "eps: float", *cot],
        "Double backward: (dG/ddelta, dG/dx, dG/dgamma), see the module docstring.",
        [o for o, _ in outs],
        _sum_lines([e for _, e in outs], "        "),
        per_element,
    )


_HEAD = f'''"""Loop-level reference of the normalization family, generated from SymPy results.

generated — do not edit. Written by {COMMAND}
from `bncheck.derivations.family` (eqs (6)–(9) over a general reduction set with per-element
affine parameters, and RMSNorm; every formula below is printed from a SymPy result).

Arrays are float64 of shape (m, K) in the column layout of `bncheck.check.norms.NormSpec`
(`NormSpec.columns`): each column is one reduction set (the m values sharing mu and sigma²), and
gamma, beta and the cotangents are given per element in the same layout
(`NormSpec.param_columns`). J = Σ delta·y. The parameter gradients are per element: a parameter
shared by several elements (BN, InstanceNorm and GroupNorm share gamma_c within and across sets)
gets the sum of its elements' gradients (`NormSpec.param_sum`).

centered_*: Batch, Layer, Instance and Group Normalization, y = gamma·x_hat + beta,
    x_hat = (x − mu)/sqrt(var + eps) over the set;
rms_*: RMSNorm, y = gamma·x_hat, x_hat = x/sqrt(mean(x²) + eps) over the set (no beta).

*_forward(x, gamma[, beta], eps) -> y
*_backward(delta, x, gamma, eps) -> (dx, dgamma[, dbeta])
*_double_backward(delta, x, gamma, eps, v_x, v_gamma[, v_beta]) -> (d_delta, d_x, d_gamma)

The double backward is the vector-Jacobian product of the backward with the cotangent
(v_x, v_gamma[, v_beta]): with G = <dx, v_x> + <dgamma, v_gamma> + <dbeta, v_beta>, d_x = dG/dx,
d_gamma = dG/dgamma and d_delta = dG/ddelta (the forward's Jacobian-vector product); nothing in
the backward depends on beta, so dG/dbeta = 0.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]


def _matrices(*arrays: ArrayLike) -> tuple[Array, ...]:
    """Every argument as a float64 (m, K) array, all of one shape."""
    out = tuple(np.array(a, dtype=np.float64) for a in arrays)
    for a in out:
        if a.ndim != 2 or a.shape != out[0].shape:
            raise ValueError(f"every array must have the shape (m, K) of x, got {{a.shape}}")
    return out'''


def generate() -> str:
    """The whole module text (deterministic)."""
    parts = [_HEAD]
    for kind in family.KINDS:
        parts += [
            _forward(kind),
            _backward(kind, family.first_order(kind)),
            _double_backward(kind, family.second_order(kind)),
        ]
    return "\n\n\n".join(parts) + "\n"


def _eq(lhs: str, rhs: sp.Expr) -> str:
    return f"$$\n{lhs} = {tex(rhs)}\n$$\n"


def report_md(results: Mapping[str, bool], specializes: bool) -> str:
    """The family's section of reports/derivation.md."""
    out = [
        "\n# The normalization family (SymPy, symbolic set size m)\n\n",
        "Batch, Layer, Instance and Group Normalization are eqs (6)–(9) over different "
        "*reduction sets* (the m values sharing μ and σ²): BN one channel over the batch, "
        "LayerNorm one sample over its normalized trailing axes, InstanceNorm one (sample, "
        "channel), GroupNorm one (sample, group of C/G channels). They also differ in which "
        "values share an affine parameter, so the model takes per-element parameters "
        "γ_i, β_i over one set of symbolic size m; a parameter p shared by the elements P "
        "(within a set and across sets: BN, InstanceNorm, GroupNorm) gets "
        "dJ/dp = Σ_{i∈P} ∂J/∂γ_i by the chain rule. RMSNorm has no mean and no β and is derived "
        "on its own, with $\\hat{x}_i = x_i\\,\\mathrm{inv\\_rms}$, "
        "$\\mathrm{inv\\_rms} = 1/\\sqrt{\\frac{1}{m}\\sum_i x_i^2 + \\epsilon}$ and "
        "Σ x̂_i² = m·ms/(ms + ε) (ms = mean of x²). The reference code generated from these "
        f"results is `{OUTPUT}`.\n\n",
    ]
    for kind, title in ((CENTERED, "BN, LayerNorm, InstanceNorm, GroupNorm"), (RMS, "RMSNorm")):
        fo, so = family.first_order(kind), family.second_order(kind)
        k, ell = sp.latex(K), sp.latex(L)
        out += [
            f"## {title}\n\n",
            _eq("J", family.loss(kind)),
            "First order (per element):\n\n",
            _eq(rf"\frac{{\partial J}}{{\partial x_{k}}}", fo.dx),
            _eq(rf"\frac{{\partial J}}{{\partial \gamma_{k}}}", fo.dgamma),
        ]
        if kind == CENTERED:
            out.append(_eq(rf"\frac{{\partial J}}{{\partial \beta_{k}}}", fo.dbeta))
        out += [
            "Second order: G = Σ_k v_x[k]·∂J/∂x_k + Σ_k v_γ[k]·∂J/∂γ_k"
            + (" + Σ_k v_β[k]·∂J/∂β_k" if kind == CENTERED else "")
            + " (∂G/∂β = 0):\n\n",
            _eq(rf"\frac{{\partial G}}{{\partial x_{ell}}}", so.d_x),
            _eq(rf"\frac{{\partial G}}{{\partial \gamma_{ell}}}", so.d_gamma),
            _eq(rf"\frac{{\partial G}}{{\partial \delta_{ell}}}", so.d_delta),
        ]
    out += [
        "## Checks\n\n",
        "Each closed form is compared, exactly (`sympy.Rational` inputs), with direct "
        "differentiation of J written out over x_1..x_m, γ_1..γ_m, β_1..β_m at concrete m; "
        "and with γ_i = γ for every i (BN's one parameter per set) the family's ∂J/∂x_k and "
        "Σ_k ∂J/∂γ_k are the BN closed forms above.\n\n",
        "| check | exact equality |\n|---|---|\n",
        *(f"| {name} | {'yes' if ok else 'NO'} |\n" for name, ok in results.items()),
        f"| γ_i = γ gives the BN results | {'yes' if specializes else 'NO'} |\n",
    ]
    return "".join(out)
