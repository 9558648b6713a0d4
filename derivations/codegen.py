"""Emit ``bncheck/check/reference.py``: loop-level NumPy code printed from the SymPy results.

The loop structure (one channel at a time, one sample at a time) is a template; every formula in
it — the statistics of (6)–(8), (9), and each gradient — is printed from a SymPy expression of
``symbolic`` / ``second_order``. Sums over the batch become named per-channel locals computed
with ``math.fsum`` (correctly rounded), so the reference adds no summation error of its own.
"""

from __future__ import annotations

import sympy as sp
from bncheck.derivations.algebra import (
    BETA,
    DELTA,
    EPS,
    GAMMA,
    INV_STD,
    MU,
    X_HAT,
    I,
    V,
    X,
    sum_atoms,
)
from bncheck.derivations.second_order import V_BETA, V_GAMMA, SecondOrder
from bncheck.derivations.symbolic import RUN_MEAN, RUN_VAR, FirstOrder, mu_of_x, n_of, var_of_mu
from sympy import Indexed, Sum

COMMAND = "`bncheck derive` (or `python -m bncheck.derivations`)"
_ELEMENT = {X: "x", DELTA: "delta", X_HAT: "x_hat", V: "v_x"}
_CHANNEL = {
    GAMMA: "gamma",
    BETA: "beta",
    V_GAMMA: "v_gamma",
    V_BETA: "v_beta",
    RUN_MEAN: "mean",
    RUN_VAR: "var",
}
_SUM_ORDER = (DELTA, V, X_HAT, X)

#: The generated reference works on the column layout of ``bncheck.check.norms.NormSpec``
#: (``NormSpec.columns``): an (m, K) array, the m values sharing statistics down axis 0, one
#: column per group along axis 1 (for Batch Normalization, ``BATCH_NORM``: K = C channels).
#: The layout is the same for every spec, so the generator takes none; what it needs is
#: that gamma and beta are one value per column (``NormSpec.param_is_column``), which is the
#: derivation's model (gamma, beta symbols per channel). Kept as a number here: derivations
#: imports nothing from bncheck.
_K = 1


def sum_name(atom: Sum) -> str:
    """``Sum(delta[i]*x_hat[i])`` → ``sum_delta_x_hat``."""
    powers = {e.base: 1 for e in atom.function.atoms(Indexed)}
    for factor in sp.Mul.make_args(atom.function):
        base, exp = factor.as_base_exp()
        if isinstance(base, Indexed):
            powers[base.base] = int(exp)
    parts = [
        _ELEMENT[b] + (f"_pow{powers[b]}" if powers[b] > 1 else "")
        for b in _SUM_ORDER
        if b in powers
    ]
    return "sum_" + "_".join(parts)


def code(expr: sp.Expr) -> str:
    """Python source of a per-element or per-channel formula (free index → ``i``)."""
    if expr == 0:
        return "0.0"
    repl: dict[sp.Basic, sp.Basic] = {a: sp.Symbol(sum_name(a)) for a in sum_atoms(expr)}
    expr = expr.xreplace(repl)
    repl = {e: sp.Symbol(f"{_ELEMENT[e.base]}[i, c]") for e in expr.atoms(Indexed)}
    repl.update({s: sp.Symbol(f"{name}[c]") for s, name in _CHANNEL.items()})
    return sp.sstr(expr.xreplace(repl))


def statement(indent: str, lhs: str, rhs: str, comment: str = "") -> list[str]:
    """``lhs = rhs`` with the comment above, wrapped at + and − to stay within 100 columns."""
    out = [f"{indent}# {comment}"] if comment else []
    line = f"{indent}{lhs} = {rhs}"
    if len(line) <= 100:
        return [*out, line]
    # The whole right-hand side is parenthesised, so a break before any + or − is valid Python.
    pieces, start = [], 0
    for pos in range(len(rhs)):
        if rhs.startswith((" + ", " - "), pos) and pos > start:
            pieces.append(rhs[start:pos])
            start = pos + 1
    pieces.append(rhs[start:])
    lines, current = [f"{indent}{lhs} = ("], f"{indent}    "
    for piece in pieces:
        if len(current) + len(piece) > 100 and current.strip():
            lines.append(current.rstrip())
            current = f"{indent}    "
        current += piece + " "
    lines += [current.rstrip(), f"{indent})"]
    return [*out, *lines]


def sum_lines(exprs: list[sp.Expr], indent: str) -> list[str]:
    atoms = sorted({a for e in exprs for a in sum_atoms(e)}, key=sum_name)
    out = []
    for a in atoms:
        body = code(a.function.subs(a.limits[0][0], I))
        out += statement(indent, sum_name(a), f"math.fsum({body} for i in range(m))")
    return out


def _stats_lines() -> list[str]:
    var_body = code(
        var_of_mu(MU).function if isinstance(var_of_mu(MU), Sum) else var_of_mu(MU).args[1].function
    )
    return [
        f"    mu = math.fsum({code(mu_of_x().args[1].function)} for i in range(m)) / m  # (6)",
        f"    var = math.fsum({var_body} for i in range(m)) / m  # (7), biased",
        "    inv_std = 1.0 / math.sqrt(var + eps)  # (8)",
    ]


def _x_hat_line(eval_mode: bool) -> str:
    mean, var = (RUN_MEAN, RUN_VAR) if eval_mode else (MU, sp.Symbol("var"))
    rhs = n_of(I, mean, var).subs(sp.sqrt(var + EPS), 1 / INV_STD)
    return f"            x_hat[i, c] = {code(rhs)}  # (8)"


def _module_doc() -> str:
    return f'''"""Loop-level Batch Normalization reference, generated from the SymPy derivation.

generated — do not edit. Written by {COMMAND}
from the package `bncheck.derivations` (eqs (6)–(9) of Microsoft AI-Edu, the Batch Normalization
chapter; every formula below is printed from a SymPy result).

Arrays are float64 of shape (m, C): rows are the m batch values, columns the channels (the
chapter's [batchSize, Features]); gamma, beta, mean, var, v_gamma, v_beta have shape (C,).
J = Σ delta·z.

forward(x, gamma, beta, eps) -> z                                 train mode, (6)–(9)
backward(delta, x, gamma, eps) -> (dx, dgamma, dbeta)             dJ/dx, dJ/dgamma, dJ/dbeta
eval_forward(x, gamma, beta, mean, var, eps) -> z                 running statistics
eval_backward(delta, x, gamma, mean, var, eps) -> (dx, dgamma, dbeta)
double_backward(delta, x, gamma, eps, v_x, v_gamma, v_beta) -> (d_delta, d_x, d_gamma)
eval_double_backward(delta, x, gamma, mean, var, eps, v_x, v_gamma, v_beta)
    -> (d_delta, d_x, d_gamma)

The double backward is the vector-Jacobian product of `backward` with the cotangent
(v_x, v_gamma, v_beta): with G = <dx, v_x> + <dgamma, v_gamma> + <dbeta, v_beta>,
d_x = dG/dx (Hessian of J in x times v_x, plus the gamma-mixed term), d_gamma = dG/dgamma and
d_delta = dG/ddelta (the forward's Jacobian-vector product; backward is linear in delta).
dbeta depends on delta only, and J is linear in gamma and beta, so nothing else appears.
"""'''


_HELPERS = '''

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]


def _matrix(a: ArrayLike, name: str) -> Array:
    out = np.array(a, dtype=np.float64)
    if out.ndim != 2:
        raise ValueError(f"{name} must have shape (m, C), got shape {out.shape}")
    return out


def _vector(a: ArrayLike, channels: int) -> Array:
    out = np.array(a, dtype=np.float64).reshape(-1)
    if out.shape != (channels,):
        raise ValueError(f"per-channel array must have {channels} entries, got {out.size}")
    return out


def _statistics(x: Array, c: int, eps: float) -> tuple[float, float, float]:
    """mu, var, inv_std of channel c."""
    m = x.shape[0]
{stats}
    return mu, var, inv_std'''


def _function(
    name: str,
    args: str,
    doc: str,
    outputs: list[tuple[str, str]],
    prelude: list[str],
    per_channel: list[str],
    per_element: list[str],
    eval_mode: bool,
) -> str:
    """A function body: validation, the channel loop, x_hat, sums, per-channel, per-element."""
    alloc = [f"    {o} = np.empty({'(m, C)' if shape == 'mC' else 'C'})" for o, shape in outputs]
    stats = (
        "        inv_std = 1.0 / math.sqrt(var[c] + eps)  # (8), running variance"
        if eval_mode
        else "        mu, var, inv_std = _statistics(x, c, eps)  # (6)-(8)"
    )
    head = f"def {name}({args}) -> {_ret(outputs)}:"
    if len(head) > 100:
        params = "".join(f"    {a.strip()},\n" for a in args.split(", "))
        head = f"def {name}(\n{params}) -> {_ret(outputs)}:"
    lines = [
        head,
        f'    """{doc}"""',
        *prelude,
        "    m, C = x.shape",
        *alloc,
        "    x_hat = np.empty((m, C))",
        "    for c in range(C):",
        stats,
        "        for i in range(m):",
        _x_hat_line(eval_mode),
        *per_channel,
        "        for i in range(m):",
        *per_element,
        f"    return {', '.join(o for o, _ in outputs)}",
    ]
    return "\n".join(lines)


def _ret(outputs: list[tuple[str, str]]) -> str:
    return "Array" if len(outputs) == 1 else f"tuple[{', '.join('Array' for _ in outputs)}]"


def _grad_function(name: str, fo: FirstOrder, eval_mode: bool) -> str:
    stats_args = "mean: Array, var: Array, " if eval_mode else ""
    prelude = [
        '    delta, x = _matrix(delta, "delta"), _matrix(x, "x")',
        f"    gamma = _vector(gamma, x.shape[{_K}])",
    ]
    if eval_mode:
        prelude.append(f"    mean, var = _vector(mean, x.shape[{_K}]), _vector(var, x.shape[{_K}])")
    mode = "Eval" if eval_mode else "Train"
    return _function(
        name,
        f"delta: Array, x: Array, gamma: Array, {stats_args}eps: float",
        f"{mode}-mode gradients of J = Σ delta·z: (dJ/dx, dJ/dgamma, dJ/dbeta).",
        [("dx", "mC"), ("dgamma", "C"), ("dbeta", "C")],
        prelude,
        [
            *sum_lines([fo.dx, fo.dgamma, fo.dbeta], "        "),
            *statement("        ", "dgamma[c]", code(fo.dgamma), "(11)"),
            *statement("        ", "dbeta[c]", code(fo.dbeta), "(12)"),
        ],
        statement(
            "            ",
            "dx[i, c]",
            code(fo.dx),
            "dJ/dx_i: (13) with every path through mu_B and sigma2_B, summed over the batch",
        ),
        eval_mode,
    )


def _second_function(name: str, so: SecondOrder, eval_mode: bool) -> str:
    stats_args = "mean: Array, var: Array, " if eval_mode else ""
    prelude = [
        '    delta, x = _matrix(delta, "delta"), _matrix(x, "x")',
        '    v_x = _matrix(v_x, "v_x")',
        f"    gamma = _vector(gamma, x.shape[{_K}])",
        f"    v_gamma, v_beta = _vector(v_gamma, x.shape[{_K}]), _vector(v_beta, x.shape[{_K}])",
    ]
    if eval_mode:
        prelude.append(f"    mean, var = _vector(mean, x.shape[{_K}]), _vector(var, x.shape[{_K}])")
    mode = "Eval" if eval_mode else "Train"
    return _function(
        name,
        f"delta: Array, x: Array, gamma: Array, {stats_args}eps: float, "
        "v_x: Array, v_gamma: Array, v_beta: Array",
        f"{mode}-mode double backward: (dG/ddelta, dG/dx, dG/dgamma), see the module docstring.",
        [("d_delta", "mC"), ("d_x", "mC"), ("d_gamma", "C")],
        prelude,
        [
            *sum_lines([so.hvp_x, so.mixed_x, so.d_gamma, so.d_delta], "        "),
            *statement("        ", "d_gamma[c]", code(so.d_gamma), "sum_k v_x[k]·d²J/dx_k dgamma"),
        ],
        [
            *statement("            ", "hvp_x", code(so.hvp_x), "sum_k v_x[k]·d²J/dx_k dx_i"),
            *statement("            ", "mixed_x", code(so.mixed_x), "v_gamma·d²J/dgamma dx_i"),
            "            d_x[i, c] = hvp_x + mixed_x",
            *statement(
                "            ",
                "d_delta[i, c]",
                code(so.d_delta),
                "dG/ddelta_i: the forward's JVP (backward is linear in delta)",
            ),
        ],
        eval_mode,
    )


def _forward_function(eval_mode: bool) -> str:
    name = "eval_forward" if eval_mode else "forward"
    stats_args = "mean: Array, var: Array, " if eval_mode else ""
    prelude = [
        '    x = _matrix(x, "x")',
        f"    gamma = _vector(gamma, x.shape[{_K}])",
        f"    beta = _vector(beta, x.shape[{_K}])",
    ]
    if eval_mode:
        prelude.append(f"    mean, var = _vector(mean, x.shape[{_K}]), _vector(var, x.shape[{_K}])")
    z = GAMMA * X_HAT[I] + BETA  # (9)
    mode = "Eval" if eval_mode else "Train"
    return _function(
        name,
        f"x: Array, gamma: Array, beta: Array, {stats_args}eps: float",
        f"{mode}-mode forward z = gamma·x_hat + beta.",
        [("z", "mC")],
        prelude,
        [],
        statement("            ", "z[i, c]", code(z), "(9)"),
        eval_mode,
    )


def generate(fo: FirstOrder, efo: FirstOrder, so: SecondOrder, eso: SecondOrder) -> str:
    """The whole module text (deterministic)."""
    stats = "\n".join(line.replace("    ", "    ", 1) for line in _stats_lines())
    parts = [
        _module_doc() + _HELPERS.replace("{stats}", stats),
        _forward_function(False),
        _grad_function("backward", fo, False),
        _second_function("double_backward", so, False),
        _forward_function(True),
        _grad_function("eval_backward", efo, True),
        _second_function("eval_double_backward", eso, True),
    ]
    return "\n\n\n".join(parts) + "\n"
