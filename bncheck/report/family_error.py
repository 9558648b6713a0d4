"""``family_error.md``: how far from the truth typical LayerNorms, RMSNorms and GroupNorms are.

The normalization family's counterpart of ``numerical_error.md``: members × dtypes × regimes ×
implementations × outputs (y, dx, dgamma, dbeta), each in normwise ULP of the dtype against the
mpmath truth of the same input values (:func:`bncheck.check.truth.exact_batchnorm` over the
member's reduction set, :func:`bncheck.check.truth.exact_rmsnorm`). y and dx are judged per set
of values sharing the statistics (``bncheck.check.metrics.normwise_ulp`` with the member's
spec), dgamma and dbeta over the whole vector. One plot: the error of y and dx against
mean/spread.

Implementations (:data:`IMPLEMENTATIONS`): bncheck's own (``bncheck.family``), a naive staged
NumPy version (two-pass statistics and the chain rule step by step, in the input dtype, as a
cs231n ``layernorm_backward`` is written) and, for the centered members, the one-pass variance
E[x²] − E[x]². Their arithmetic is fixed by bncheck's code: every sum is
:func:`bncheck.check.baselines.fixed_sum` (a pairwise tree whose order does not depend on the
CPU's SIMD features, unlike NumPy's own reductions) and the only other operations are +, −, ×,
÷ and sqrt, correctly rounded everywhere; so the numbers are the same on any machine. The
frameworks' members, whose arithmetic is not, are measured in
``bncheck.report.family_frameworks``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tabulate import tabulate

from bncheck.check.baselines import fixed_sum
from bncheck.check.metrics import normwise_ulp
from bncheck.check.norms import Member, NormSpec
from bncheck.check.regimes import BETA_KINDS, GAMMA_KINDS, Regime, make_dy, make_x
from bncheck.check.tolerances import TARGET_ULP
from bncheck.check.truth import exact_batchnorm, exact_rmsnorm
from bncheck.family import (
    groupnorm_backward,
    groupnorm_forward,
    layernorm_backward,
    layernorm_forward,
    rmsnorm_backward,
    rmsnorm_forward,
)
from bncheck.report import _plot
from bncheck.report.build import HEADER, Built
from bncheck.report.numerical_error import fmt

__all__ = [
    "IMPLEMENTATIONS",
    "NORMS",
    "ROWS",
    "Norm",
    "Row",
    "build",
    "case",
    "errors",
    "exact",
    "measure",
    "tables",
]

OUTPUTS = ("y", "dx", "dgamma", "dbeta")
DTYPES = ("float16", "float32", "float64")
EPS = 1e-5
Array = NDArray[Any]
#: (y, dx, dgamma, dbeta), dbeta None for RMSNorm, all in x's dtype
Result = tuple[Any, Any, Any, Any]
#: implementation(norm, x, gamma, beta, dy) -> Result; beta is None for RMSNorm
Impl = Callable[["Norm", Array, Array, Array | None, Array], Result]

GROUPS = 4


@dataclass(frozen=True)
class Norm:
    """A member of the report: its title, :class:`~bncheck.check.norms.Member` and how an
    input of ``sets`` sets of ``m`` values is shaped."""

    key: str
    short: str
    title: str
    member: Member

    def shape(self, sets: int, m: int) -> tuple[int, ...]:
        """(sets, m) for LayerNorm and RMSNorm over the last axis; GroupNorm with 4 groups of 2
        channels: (sets/4, 8, 2, m/4), so each set is 2 channels × 2 × m/4 positions."""
        if self.member.kind == "group":
            return (max(sets // GROUPS, 1), 2 * GROUPS, 2, m // 4)
        return (sets, m)


NORMS: tuple[Norm, ...] = (
    Norm("layernorm", "LayerNorm", "LayerNorm over the last axis", Member("layer", 1)),
    Norm("rmsnorm", "RMSNorm", "RMSNorm over the last axis", Member("rms", 1)),
    Norm(
        "groupnorm",
        "GroupNorm",
        f"GroupNorm, {GROUPS} groups of 2 channels",
        Member("group", groups=GROUPS),
    ),
)


@dataclass(frozen=True)
class Row:
    """A regime of the report: how x is drawn, sets × values per set (full and quick), the
    dtypes it applies to, and dy (``normal``, or ``affine``: gamma·dy = 2x + 3, for RMSNorm
    2x, which the backward projects out: dx cancels down to its eps part)."""

    label: str
    regime: str | Regime
    size: tuple[int, int] = (4, 64)
    quick_size: tuple[int, int] = (4, 16)
    dtypes: tuple[str, ...] = DTYPES
    dy: str = "normal"


#: the regimes of ``numerical_error.md`` (bncheck.report.numerical_error.ROWS), sized for sets
ROWS: tuple[Row, ...] = (
    Row("standard", "standard"),
    Row("mean/spread 1e2", "offset_1e2"),
    Row("mean/spread 1e4", "offset_1e4"),
    Row("mean/spread 1e6", Regime(1e6, 1.0), dtypes=("float32", "float64")),
    Row("variance below eps", "var_below_eps"),
    Row("heavy tails (t, 2 dof)", "heavy_tails_t2"),
    Row("m = 4", "standard", (16, 4), (8, 4)),
    Row("gamma·dy = 2x + 3", "standard", dy="affine"),
    Row("m = 1024", "standard", (4, 1024), (4, 128), dtypes=("float16", "float32")),
)


def case(
    norm: Norm, row: Row, dtype: str, quick: bool, seed: int = 1
) -> tuple[Array, Array, Array | None, Array]:
    """(x, gamma, beta, dy) of one row, in ``dtype``; beta None for RMSNorm."""
    sets, m = row.quick_size if quick else row.size
    shape = norm.shape(sets, m)
    member = norm.member
    view_shape = member.view_shape(shape)
    spec = member.spec(len(view_shape))
    rng = np.random.default_rng([seed, NORMS.index(norm), *shape])
    x = make_x(rng, view_shape, 1, row.regime, EPS, dtype, spec=spec).reshape(shape)
    pshape = member.param_shape(shape)
    count = int(np.prod(pshape))
    gamma = GAMMA_KINDS["moderate"](rng, count).reshape(pshape).astype(dtype)
    beta = BETA_KINDS["normal"](rng, count).reshape(pshape).astype(dtype)
    if row.dy == "affine":  # gamma·dy (almost, after rounding) in the span the backward removes
        g = _expand(norm, gamma.astype(np.float64), shape)
        target = 2.0 * x.astype(np.float64) + (3.0 if member.centered else 0.0)
        dy = (target / g).astype(dtype)
    else:
        dy = make_dy(rng, "normal", view_shape, 1, dtype, spec=spec).reshape(shape)
    return x, gamma, beta if member.has_beta else None, dy


def _expand(norm: Norm, p: Array, shape: tuple[int, ...]) -> Array:
    """A parameter broadcast to x's shape."""
    if norm.member.kind == "group":
        return np.broadcast_to(p.reshape(1, -1, *[1] * (len(shape) - 2)), shape)
    return np.broadcast_to(p, shape)


# -- the implementations --------------------------------------------------------------------


def bncheck_norm(norm: Norm, x: Array, g: Array, b: Array | None, dy: Array) -> Result:
    """bncheck's own member (``bncheck.family``)."""
    kind = norm.member.kind
    if kind == "layer":
        y, cache = layernorm_forward(x, g, b, eps=EPS)
        grads = layernorm_backward(dy, cache)
    elif kind == "rms":
        y, cache = rmsnorm_forward(x, g, eps=EPS)
        grads = rmsnorm_backward(dy, cache)
    else:
        y, cache = groupnorm_forward(x, g, b, norm.member.groups, eps=EPS)
        grads = groupnorm_backward(dy, cache)
    return y, grads.dx, grads.dgamma, grads.dbeta


class _Sets:
    """x's member view as (m, K) columns, one per set, and the way back."""

    def __init__(self, norm: Norm, x: Array) -> None:
        self.member = norm.member
        self.shape = x.shape
        self.view_shape = self.member.view_shape(x.shape)
        self.spec: NormSpec = self.member.spec(len(self.view_shape))

    def cols(self, a: Array) -> Array:
        return self.spec.columns(self.member.view(a), dtype=None)

    def param_cols(self, p: Array) -> Array:
        return self.spec.param_columns(self.member.param_view(p), self.view_shape)

    def back(self, cols: Array) -> Array:
        return np.asarray(self.spec.from_columns(cols, self.view_shape)).reshape(self.shape)

    def param_total(self, cols: Array, pshape: tuple[int, ...]) -> Array:
        """Σ of (m, K) terms over the values sharing each parameter, in a fixed order, rounded
        to the terms' dtype: the parameter's gradient."""
        full = np.asarray(self.spec.from_columns(cols, self.view_shape))
        keep = self.spec.param_axes(full.ndim)
        other = tuple(i for i in range(full.ndim) if i not in keep)
        k = int(np.prod([full.shape[i] for i in keep]))
        rows = np.transpose(full, other + keep).reshape(-1, k)
        return fixed_sum(rows).astype(cols.dtype).reshape(pshape)


def _mean(a: Array) -> Array:
    """Per column: the fixed-order sum divided in the accumulation dtype, rounded to a's."""
    total = fixed_sum(a)
    mean: Array = (total / total.dtype.type(a.shape[0])).astype(a.dtype)
    return mean


def _total(a: Array) -> Array:
    total: Array = fixed_sum(a).astype(a.dtype)
    return total


def _naive(onepass: bool) -> Impl:
    def run(norm: Norm, x: Array, g: Array, b: Array | None, dy: Array) -> Result:
        with np.errstate(all="ignore"):
            return _staged(norm, x, g, b, dy, onepass)

    return run


def _staged(norm: Norm, x: Array, g: Array, b: Array | None, dy: Array, onepass: bool) -> Result:
    """The chain rule step by step in x's dtype, over each set: mu (6), var (7), x_hat (8),
    y (9); backward through x_hat, var and mu (eqs (11)–(21) with per-element gamma). RMSNorm:
    no mu, var replaced by mean(x²)."""
    sets = _Sets(norm, x)
    dt = x.dtype.type
    xs, gs, ds = sets.cols(x), sets.param_cols(g), sets.cols(dy)
    m = dt(xs.shape[0])
    centered = norm.member.centered
    if not centered:
        xc = xs
        var = _mean(xs * xs)  # mean(x²)
    elif onepass:
        mu = _mean(xs)
        var = np.maximum(_mean(xs * xs) - mu * mu, dt(0))
        xc = xs - mu
    else:
        mu = _mean(xs)  # (6)
        xc = xs - mu
        var = _mean(xc * xc)  # (7)
    eps = dt(EPS)
    std = np.sqrt(var + eps)
    x_hat = xc / std  # (8)
    y = gs * x_hat
    if b is not None:
        y = y + sets.param_cols(b)  # (9)
    dn = ds * gs  # (14)
    # (16): (var + eps)^(-3/2) as 1/((var + eps)·sqrt(var + eps)), each step correctly rounded
    dvar = _total(dn * xc) * dt(-0.5) / ((var + eps) * std)
    dx = dn / std + dvar * dt(2) * xc / m  # (13)
    if centered:
        dmu = -_total(dn / std) + dvar * _mean(dt(-2) * xc)  # (18)
        dx = dx + dmu / m
    pshape = g.shape
    dgamma = sets.param_total(ds * x_hat, pshape)  # (11)
    dbeta = None if b is None else sets.param_total(ds, pshape)  # (12)
    return sets.back(y), sets.back(dx), dgamma, dbeta


#: name -> implementation; the one-pass variance does not apply to RMSNorm (no mean)
IMPLEMENTATIONS: dict[str, Impl] = {
    "bncheck": bncheck_norm,
    "naive staged": _naive(False),
    "one-pass E[x²]−E[x]²": _naive(True),
}


def _applies(norm: Norm, name: str) -> bool:
    return norm.member.centered or not name.startswith("one-pass")


# -- measuring ------------------------------------------------------------------------------


def errors(norm: Norm, impl: Impl, c: tuple[Any, ...], truth: Result) -> list[float]:
    """Normwise ULP of y, dx (per set), dgamma, dbeta (over the vector); NaN: cannot run, or
    no such output (RMSNorm's dbeta)."""
    x = c[0]
    try:
        got = impl(norm, *c)
    except Exception:  # an implementation that cannot run this dtype
        return [math.nan] * 4
    member = norm.member
    spec = member.spec(len(member.view_shape(x.shape)))
    out = []
    for name, actual, exact in zip(OUTPUTS, got, truth, strict=True):
        if exact is None or actual is None:
            out.append(math.nan)
            continue
        with np.errstate(all="ignore"):
            a = np.asarray(actual, dtype=np.float64)
            if not np.isfinite(a).all():
                out.append(math.inf)
            elif name in ("y", "dx"):
                out.append(normwise_ulp(member.view(a), member.view(exact), x.dtype, spec=spec))
            else:
                out.append(normwise_ulp(a, exact, x.dtype))
    return out


def exact(norm: Norm, x: Array, g: Array, b: Array | None, dy: Array) -> Result:
    """The mpmath truth (y, dx, dgamma, dbeta) of one case, in float64, x's and the
    parameters' shapes (dbeta None for RMSNorm)."""
    member = norm.member
    xv, dyv = member.view(x), member.view(dy)
    spec = member.spec(xv.ndim)
    pshape = g.shape
    if member.centered:
        assert b is not None
        t = exact_batchnorm(xv, member.param_view(g), member.param_view(b), dyv, eps=EPS, spec=spec)
        assert t.dx is not None and t.dgamma is not None and t.dbeta is not None
        return (
            t.y.reshape(x.shape),
            t.dx.reshape(x.shape),
            t.dgamma.reshape(pshape),
            t.dbeta.reshape(pshape),
        )
    r = exact_rmsnorm(xv, g, dyv, eps=EPS, spec=spec)
    assert r.dx is not None and r.dgamma is not None
    return r.y.reshape(x.shape), r.dx.reshape(x.shape), r.dgamma.reshape(pshape), None


@functools.cache
def _truth(norm: Norm, row: Row, dtype: str, quick: bool) -> Result:
    """The truth of a row's case, read-only, computed once per process (the frameworks' page,
    built after this report in the same worker, reuses it)."""
    truth = exact(norm, *case(norm, row, dtype, quick))
    for a in truth:
        if a is not None:
            np.asarray(a).setflags(write=False)
    return truth


Table = dict[tuple[str, str, str, str], list[float]]


def measure(
    *,
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
    impls: dict[str, Impl] | None = None,
) -> Table:
    """(member key, dtype, row label, implementation) -> normwise ULP of y, dx, dgamma,
    dbeta (NaN where it does not apply)."""
    impls = IMPLEMENTATIONS if impls is None else impls
    table: Table = {}
    for norm in NORMS:
        if progress is not None:
            progress(norm.key)
        for dtype in DTYPES:
            for row in ROWS:
                if dtype not in row.dtypes:
                    continue
                c = case(norm, row, dtype, quick)
                truth = _truth(norm, row, dtype, quick)
                for name, impl in impls.items():
                    if _applies(norm, name):
                        table[(norm.key, dtype, row.label, name)] = errors(norm, impl, c, truth)
    return table


RATIOS = (0.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6)


def error_vs_offset(quick: bool) -> dict[tuple[str, str, str], list[tuple[float, list[float]]]]:
    """(member key, dtype, implementation) -> [(mean/spread, [ulp y, dx, dgamma, dbeta])]."""
    size = (4, 8) if quick else (4, 32)
    curves: dict[tuple[str, str, str], list[tuple[float, list[float]]]] = {}
    for norm in NORMS:
        for dtype in ("float32", "float64"):
            for ratio in RATIOS:
                row = Row(f"{ratio:g}", Regime(ratio, 1.0), size, size)
                c = case(norm, row, dtype, quick, seed=2)
                truth = exact(norm, *c)
                for name, impl in IMPLEMENTATIONS.items():
                    if _applies(norm, name):
                        errs = errors(norm, impl, c, truth)
                        curves.setdefault((norm.key, dtype, name), []).append((ratio, errs))
    return curves


# -- rendering ------------------------------------------------------------------------------


def _names(table: Table, key: str) -> list[str]:
    return list(dict.fromkeys(n for k, _, _, n in table if k == key))


def _cell(errs: list[float], centered: bool) -> str:
    return " / ".join(fmt(v) for v in (errs if centered else errs[:3]))


def tables(table: Table) -> list[str]:
    """Per member, one Markdown table per dtype: regimes × implementations."""
    lines = []
    for norm in NORMS:
        names = _names(table, norm.key)
        if not names:
            continue
        centered = norm.member.centered
        lines += [f"### {norm.title}", ""]
        what = "y / dx / dgamma / dbeta" if centered else "y / dx / dgamma"
        lines += [f"Each cell: {what}, normwise ULP.", ""]
        for dtype in DTYPES:
            rows = [
                [
                    row.label,
                    *[_cell(table[(norm.key, dtype, row.label, n)], centered) for n in names],
                ]
                for row in ROWS
                if (norm.key, dtype, row.label, names[0]) in table
            ]
            lines += [f"#### {dtype}", ""]
            lines += [tabulate(rows, headers=["regime", *names], tablefmt="github"), ""]
    return lines


def _worst(table: Table, dtype: str, name: str) -> tuple[float, str]:
    """The largest error of ``name`` in ``dtype`` over members, rows and outputs, and where."""
    best = (-1.0, "")
    for (key, dt, label, impl), errs in table.items():
        finite = [e for e in errs if not math.isnan(e)]
        if dt == dtype and impl == name and finite and max(finite) > best[0]:
            short = next(n.short for n in NORMS if n.key == key)
            best = (max(finite), f"{short}, {label}")
    return best


def _summary(table: Table) -> list[str]:
    own = {dt: _worst(table, dt, "bncheck") for dt in DTYPES}
    missed = [dt for dt in DTYPES if not own[dt][0] <= TARGET_ULP[dt]]
    others = []
    for name in dict.fromkeys(n for _, _, _, n in table):
        if name != "bncheck":
            worst = _worst(table, "float32", name)
            others.append(f"{name} up to {fmt(worst[0])} ({worst[1]})")

    def y_at(key: str, name: str) -> str:
        errs = table.get((key, "float32", "mean/spread 1e4", name))
        return fmt(errs[0]) if errs else "n/a"

    return [
        "Targets (docs/numerics.md, the normalization family: the BN's): bncheck's LayerNorm, "
        f"RMSNorm and GroupNorm within {TARGET_ULP['float16']:g} normwise ULP in float16 and "
        f"float32 and {TARGET_ULP['float64']:g} in float64 on every row and output: "
        + ("met." if not missed else "NOT met in " + ", ".join(missed) + ".")
        + " Worst: "
        + "; ".join(f"{dt} {fmt(own[dt][0])} ({own[dt][1]})" for dt in DTYPES)
        + ".",
        "In float32 the others reach: " + "; ".join(others) + ".",
        "float32 at mean/spread 1e4, error of y: LayerNorm "
        f"{y_at('layernorm', 'naive staged')} ULP naive, "
        f"{y_at('layernorm', 'one-pass E[x²]−E[x]²')} one-pass, "
        f"{y_at('layernorm', 'bncheck')} bncheck; RMSNorm (no centering, nothing cancels) "
        f"{y_at('rmsnorm', 'naive staged')} naive.",
    ]


def _plot_offsets(
    curves: dict[tuple[str, str, str], list[tuple[float, list[float]]]], path: Path
) -> None:
    with _plot.figure(path, nrows=2, ncols=3, height=6.4) as (fig, axes):
        for j, norm in enumerate(NORMS):
            for i, out in enumerate(("y", "dx")):
                ax = axes[3 * i + j]
                for (key, dtype, name), pts in curves.items():
                    if key != norm.key:
                        continue
                    xs = [max(r, 1.0) for r, _ in pts]
                    ys = _plot.rounded([max(e[OUTPUTS.index(out)], 0.1) for _, e in pts], 3)
                    color = _plot.COLORS[list(IMPLEMENTATIONS).index(name)]
                    style = "-" if dtype == "float32" else "--"
                    ax.plot(xs, ys, style, color=color, marker="o", label=f"{name} ({dtype})")
                _plot.log_xticks(ax, [1.0, 1e2, 1e4, 1e6], ["0", "1e2", "1e4", "1e6"])
                ax.set_yscale("log")
                ax.set_xlabel("mean / spread")
                ax.set_ylabel(f"error of {out}, normwise ULP")
                ax.set_title(f"{norm.short}: {out}")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=3)


def build(
    out: Path, *, quick: bool = False, progress: Callable[[str], None] | None = None
) -> Built:
    out.mkdir(parents=True, exist_ok=True)
    table = measure(quick=quick, progress=progress)
    if progress is not None:
        progress("error against the offset")
    png = out / "family_error_offset.png"
    _plot_offsets(error_vs_offset(quick), png)
    summary = _summary(table)
    sizes = ", ".join(
        f"{n.short} {n.shape(*(ROWS[0].quick_size if quick else ROWS[0].size))}" for n in NORMS
    )
    lines = [
        HEADER,
        "# Numerical error of LayerNorm, RMSNorm and GroupNorm implementations",
        "",
        "The regimes, truth and metric of [numerical_error.md](numerical_error.md) for the "
        "normalization family. Error of each output in **normwise ULP** of the dtype: y and dx "
        "per set of values sharing the statistics (max |a − r| over the set divided by the "
        "spacing of its largest |r|), dgamma and dbeta over the whole vector, with r the "
        "mpmath truth (50 digits) of the *same* input values, rounded once; 0.5 is a correctly "
        "rounded result. eps = 1e-5 for every member; gamma per element (LayerNorm, "
        "RMSNorm) or per channel (GroupNorm), of both signs, beta ≠ 0, dy standard normal "
        "except in the row `gamma·dy = 2x + 3` (RMSNorm: 2x), which the backward projects out, "
        f"so dx cancels down to its eps part. Shapes (standard rows): {sizes}; the rows `m = …` "
        "change the set size. "
        + ("**Quick version** (small shapes, for CI). " if quick else "")
        + "Implementations: `bncheck` (bncheck.family), `naive staged` (two-pass statistics "
        "and the chain rule step by step in the input dtype, as a hand-written "
        "`layernorm_backward` is) and `one-pass E[x²]−E[x]²` (the same with the variance of "
        "one pass; not for RMSNorm, which has no mean); `n/a`: cannot run that case. Their "
        "sums run in an order bncheck fixes, so every number here is the same on any machine"
        + (
            "; the frameworks' members, whose arithmetic is not, are in "
            "[family_error_frameworks.md](family_error_frameworks.md)."
            if not quick
            else "."
        ),
        "",
        *[f"- {s}" for s in summary],
        "",
        "## Error by member, dtype and regime",
        "",
        *tables(table),
        "## Error against mean/spread",
        "",
        "Centering makes LayerNorm and GroupNorm as ill-conditioned as BN when the mean is large "
        "against the spread: a float32 implementation that computes in float32 loses about "
        "log10(mean/spread) digits, and the one-pass variance all of them by 1e4. RMSNorm "
        "subtracts nothing, so its error does not grow with the offset. bncheck computes in "
        "double-double and rounds once.",
        "",
        f"![error against the offset]({png.name})",
    ]
    md = out / "family_error.md"
    md.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Built([md, png], summary)
