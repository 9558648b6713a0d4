"""The checks of a Layer, Group, Instance or RMS normalization target (``bncheck verify`` on a
family member; docs/design.md, "The normalization family").

1. ``norm``: which member the target computes is fitted from its behaviour. On a probe input
   whose sets of values all have different statistics (per-sample, per-channel and
   per-position offsets), the target runs once per candidate member that applies to the
   shape (batch; layer and RMS over the last k axes; instance; group with G | C, G given to
   the target as its argument or constructor value) with gamma = 1 and beta = 0, and its y is
   compared with that candidate's normalization. The candidate it reproduces (relative
   normwise distance below :data:`FIT_MATCH`) is found; a stated member (``--norm``) or the
   member the target's name claims (``layernorm_forward``, ``torch.nn.GroupNorm``) is what
   is then checked, and a different member found is a failure named
   ``wrong-reduction-axes`` (or ``rms-subtracts-mean``: an RMSNorm that computes LayerNorm;
   ``layer-without-mean``: a LayerNorm that computes RMSNorm).
2. ``forward/<n>d/<dtype>`` and ``backward/<n>d/<dtype>``: the target against the mpmath truth
   of the member (:func:`bncheck.check.truth.exact_batchnorm` over its spec, or
   :func:`bncheck.check.truth.exact_rmsnorm`) on seeded cases in four regimes (standard,
   large mean, tiny variance against eps, random affine) and ``examples`` more random ones,
   judged by :func:`bncheck.check.metrics.compare` with the member's spec; RMSNorm by
   :func:`rms_compare` (the recursive-summation bound). As the BN's kernel cases, x and dy
   are handed over in every memory layout of :data:`bncheck.check.strategies.LAYOUTS`
   (Fortran order, transposed, channels-last, sliced, negative strides: one case of the base
   shape each, the regimes C-contiguous); a target that raises on a layout but not on the
   same values C-contiguous refuses it (an interface finding, the C copy judged instead).
   Then the kernel cases (:data:`FAMILY_KERNEL_CASES`, laid out by :func:`kernel_shape`): set
   counts and set sizes across the boundaries where kernels break (8+ sets, more than 4096
   values per set), each in a memory layout, judged against the double-double reference
   above 4096 values. A failure is diagnosed by
   :mod:`bncheck.check._verify.diagnosis.family_fits`.
3. ``backward-fd/<n>d/float64``: the target's backward against Richardson differences of its
   own forward in a random direction of (x, gamma, beta)
   (:func:`bncheck.check.gradient_check.check_directional`, the BN's error model).
4. ``identities/<n>d/float64``: Σ dx = 0 over every set and dbeta = Σ dy (centered members);
   Σ x·dx = eps·r²·Σ(gamma·dy·x_hat) over every set (RMSNorm, r = 1/sqrt(mean(x²) + eps)),
   each within the recursive-summation bound of its terms.
5. ``running``/``eval``: an InstanceNorm target that keeps running statistics (a layer's
   found by behaviour, as the BN layer's are; ``torch.nn.InstanceNorm*d`` with
   ``track_running_stats=True``) has them checked by the BN running check
   (:func:`bncheck.check._verify.checks.running.check_running_and_eval` with
   ``statistics="instance"``: the exact per-instance mean and unbiased variance averaged over
   the batch, held to PyTorch's convention, the one that defines them) and its eval output
   against the truth with its own running statistics; an eval output that is the train output
   (the input's own instance statistics) is named ``eval-batch-stats``. Any other target: not
   applicable, with why, except a torch module's eval output, which must equal its train
   output bitwise.

The inputs are fixed probes, seeded random cases and the kernel cases, not the BN's Hypothesis
search and shrinking: a failure lists its whole input up to 4096 values, and describes a
larger one (shape, layout, regime).
"""

from __future__ import annotations

import contextvars
import dataclasses
import re
from typing import Any

import numpy as np

from bncheck.check._verify.checks.case import LISTED_VALUES
from bncheck.check._verify.checks.forward_backward import refusal
from bncheck.check._verify.checks.large_truth import TooIllConditioned, dd_norm, use_large_truth
from bncheck.check._verify.checks.running import check_running_and_eval
from bncheck.check._verify.diagnosis.family_fits import diagnose_family, model_outputs
from bncheck.check._verify.diagnosis.one_pass import diagnose_one_pass
from bncheck.check._verify.process.worker import TargetProcess
from bncheck.check._verify.results import (
    CheckId,
    CheckResult,
    Options,
    broke_on_rank,
    rejects_rank,
)
from bncheck.check._verify.targets.family import NO_SWITCH
from bncheck.check.finite_diff import RICHARDSON_STEPS
from bncheck.check.gradient_check import check_directional
from bncheck.check.metrics import compare
from bncheck.check.norms import Member
from bncheck.check.strategies import LAYOUTS, case_layouts, layout_text, with_layout
from bncheck.check.tolerances import INFERENCE, fd_noise, unit_roundoff, worst_case_k
from bncheck.check.truth import exact_batchnorm, exact_rmsnorm
from bncheck.exceptions import BncheckError, LoadError, TargetError

__all__ = [
    "FAMILY_KERNEL_CASES",
    "FIT_MATCH",
    "candidates",
    "fit_member",
    "kernel_cases",
    "kernel_shape",
    "rms_compare",
    "run_family",
]

#: a candidate member fits when the target's y is within this relative normwise distance of
#: it: far above float32 rounding (the probe runs in float64; a target computing in float32
#: still fits), far below the difference between any two members on the probe (O(1))
FIT_MATCH = 1e-3

#: what a layer built with a wrong size raises (torch, NumPy): a mismatch of bncheck's guess
#: of its constructor's arguments, never the layer refusing an input rank
_MISMATCH = re.compile(
    r"must match the size|size mismatch|cannot be multiplied|could not be broadcast|"
    r"shape mismatch|is invalid for input of size|incompatible shapes|non-broadcastable",
    re.IGNORECASE,
)

#: probe shapes per rank: C = 6 (groups of 2 and 3), sets of different sizes on every axis
PROBE_SHAPES = {2: (8, 6), 3: (4, 6, 5), 4: (3, 6, 4, 3), 5: (2, 6, 3, 2, 2)}
#: the eps the family checks give the target and judge it by; a target that ignores the eps
#: it is given (a constant of its own) is judged by its own, found from its outputs
#: (:func:`own_eps`) and set for the run
EPS = 1e-5
_RUN_EPS: contextvars.ContextVar[float] = contextvars.ContextVar("family_eps", default=EPS)


def _eps() -> float:
    """The eps of the run under way (:data:`EPS` unless the target keeps its own)."""
    return _RUN_EPS.get()


def probe_shape(member: Member, ndim: int) -> tuple[int, ...]:
    """The probe shape of rank ``ndim`` for ``member``: :data:`PROBE_SHAPES`, with C = 2·G for
    a group member whose G does not divide its 6 channels (a stated ``group:4`` is then
    tried as it is, never skipped as not applying)."""
    shape = PROBE_SHAPES[ndim]
    if member.kind == "group" and shape[1] % member.groups:
        return (shape[0], 2 * member.groups, *shape[2:])
    return shape


def candidates(shape: tuple[int, ...]) -> list[Member]:
    """Every member that applies to an input of ``shape``, in the order a tie is broken."""
    n, c = len(shape), shape[1]
    out = [Member("layer", k) for k in range(1, n)]
    out += [Member("rms", k) for k in range(1, n)]
    # over the channel axis (ConvNeXt's channels_first LayerNorm); on 2-D the same as k = 1,
    # tried there too so a member checked as it is compared on every rank
    out += [Member("layer", channel=True), Member("rms", channel=True)]
    out.append(Member("batch"))
    if n >= 3:
        out.append(Member("instance"))
    out += [Member("group", groups=g) for g in range(2, c) if c % g == 0]
    # then one group (a LayerNorm's sets with a per-channel affine: GroupNorm(1, C)) and one
    # channel per group (an InstanceNorm's sets): a group norm stated or named with either is
    # compared as it is, while a group norm that takes any G it is told still ties first at
    # a G that groups several channels into several groups
    out.append(Member("group", groups=1))
    if n >= 3:
        out.append(Member("group", groups=c))
    return out


def probe_input(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """x whose every candidate set has its own mean and spread: offsets per sample, per
    channel and per last-axis position on top of N(0, 1) values."""
    rng = np.random.default_rng([seed, 23, len(shape)])
    x = rng.standard_normal(shape)
    for axis in {0, 1, len(shape) - 1}:
        side = [1] * len(shape)
        side[axis] = shape[axis]
        x = x + 1.5 * rng.standard_normal(side)
    return np.asarray(x * (1 + rng.random(shape[1]).reshape([1, -1] + [1] * (len(shape) - 2))))


def normalized(member: Member, x: np.ndarray, eps: float) -> np.ndarray:
    """gamma = 1, beta = 0 output of ``member`` in float64 NumPy (for the fit only)."""
    xv = member.view(x)
    spec = member.spec(xv.ndim)
    cols = spec.columns(xv)
    if member.centered:
        cols = cols - cols.mean(axis=0)
    out = cols / np.sqrt((cols**2).mean(axis=0) + eps)
    return np.asarray(spec.from_columns(out, xv.shape)).reshape(x.shape)


def own_eps(proc: TargetProcess, member: Member, ndim: int, dtype: str = "float64") -> float | None:
    """The eps of a target that ignores the one it is given (a constant of its own, as
    ``EPS = 1e-6`` in its file): None when its outputs follow the eps given, or when they do
    not tell one eps. With gamma = 1 and beta = 0 each set's output is d/sqrt(v + eps) (d the
    deviations, or x itself for RMSNorm; v their mean square), so the slope s of y against d
    gives eps = 1/s² − v; sets of variances 1e-2 down to 1e-10 must agree (eps outside the
    root would give estimates differing by orders of magnitude), as for the BN. ``dtype``: the
    probe's (an eps of its own may depend on it: ``nn.RMSNorm(eps=None)`` takes
    ``finfo(dtype).eps``)."""
    shape = probe_shape(member, ndim)
    pshape = member.param_shape(shape)
    gamma, beta = np.ones(pshape), np.zeros(pshape) if member.has_beta else None
    xv = member.view(probe_input(shape, 99))
    spec = member.spec(xv.ndim)
    cols = spec.columns(xv)
    z = (cols - cols.mean(axis=0)) / cols.std(axis=0)
    scales = np.array([1e-1, 1e-2, 1e-3, 1e-4, 1e-5] * cols.shape[1])[: cols.shape[1]]
    x = np.asarray(spec.from_columns(z * scales, xv.shape)).reshape(shape).astype(dtype)
    gamma = gamma.astype(dtype)
    beta = None if beta is None else beta.astype(dtype)
    try:
        y_told = _run(proc, member, x, gamma, beta, EPS, None)[0]
        y_other = _run(proc, member, x, gamma, beta, 1e-3, None)[0]
        ys = [np.asarray(y, dtype=np.float64).reshape(shape) for y in (y_told, y_other)]
    except (TargetError, TypeError, ValueError) as exc:
        if isinstance(exc, TargetError) and exc.fatal:
            raise
        return None
    if not np.all(np.isfinite(ys[0])) or not np.allclose(ys[0], ys[1], rtol=1e-12, atol=0):
        return None  # it follows the eps it is given
    d = spec.columns(member.view(x))
    if member.centered:
        d = d - d.mean(axis=0)
    got = spec.columns(member.view(ys[0]))
    v = (d**2).mean(axis=0)
    with np.errstate(all="ignore"):
        slope = (got * d).sum(axis=0) / (d**2).sum(axis=0)
        estimates = 1.0 / slope**2 - v
    # a set's estimate counts where eps stands out of its v: the outputs' rounding moves
    # 1/s² by about 2u·v, a share of 0.5 % (half the agreement asked) at eps = 400u·v
    visible = max(INFERENCE.eps_visible, 400 * float(np.finfo(dtype).eps) / 2)
    seen = estimates[estimates > visible * v]
    if seen.size == 0 or np.any(seen <= 0) or not np.all(np.isfinite(seen)):
        return None
    if np.max(seen) > (1.0 + INFERENCE.eps_agreement) * np.min(seen):
        return None
    found = float(f"{float(np.median(seen)):.3g}")
    return None if abs(found / EPS - 1.0) <= INFERENCE.eps_agreement else found


def _run(
    proc: TargetProcess,
    member: Member,
    x: np.ndarray,
    gamma: Any,
    beta: Any,
    eps: float,
    dy: np.ndarray | None,
    frozen: tuple[str, ...] = (),
) -> tuple[Any, Any, Any, Any]:
    """(y, dx, dgamma, dbeta) of one fresh call of the target computing ``member``;
    ``frozen``: the parameters frozen before it (the ``freeze`` op of torch targets)."""
    proc.call("variant", member.text())
    proc.call("new", int(x.shape[1]), x.dtype.name, eps, x.ndim)
    proc.call("set_params", gamma, beta, names=("gamma", "beta"))
    if frozen:
        proc.call("freeze", list(frozen))
    y, _ = proc.call("forward", x, True, names=("x",))
    if dy is None:
        return y, None, None, None
    grads, _ = proc.call("backward", dy, names=("dy",))
    return y, grads[0], grads[1], grads[2]


def fit_member(
    proc: TargetProcess, ndim: int, seed: int, dists: dict[str, float] | None = None
) -> tuple[Member | None, float, list[str]]:
    """The member the target computes on a probe of rank ``ndim`` (None: none fits), its
    distance, and the candidates tried with theirs (for the report)."""
    shape = PROBE_SHAPES[ndim]
    x = probe_input(shape, seed)
    best: tuple[float, int, Member] | None = None
    tried = []
    for order, cand in enumerate(candidates(shape)):
        pshape = cand.param_shape(shape)
        try:
            y, _, _, _ = _run(
                proc,
                cand,
                x,
                np.ones(pshape),
                np.zeros(pshape) if cand.has_beta else None,
                _eps(),
                None,
            )
        except TargetError as exc:
            if exc.fatal:
                raise
            tried.append(f"{cand.text()}: raised")
            continue
        ref = normalized(cand, x, _eps())
        try:
            got = np.asarray(y, dtype=np.float64).reshape(shape)
        except (TypeError, ValueError):
            tried.append(f"{cand.text()}: output of another shape")
            continue
        with np.errstate(all="ignore"):
            dist = float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))
        if not np.isfinite(dist):
            dist = float("inf")
        tried.append(f"{cand.text()}: {dist:.1e}")
        if dists is not None:
            dists[cand.text()] = dist
        if best is None or (dist, order) < (best[0], best[1]):
            best = (dist, order, cand)
    if best is None or best[0] > FIT_MATCH:
        return None, best[0] if best else float("inf"), tried
    return best[2], best[0], tried


# -- the cases ------------------------------------------------------------------------------


@dataclasses.dataclass
class Case:
    x: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray | None
    dy: np.ndarray
    regime: str
    #: the memory layouts x and dy are handed over in (a key of LAYOUTS, or of MIXED_LAYOUTS)
    layout: str = "C"

    def contiguous(self) -> Case:
        """The same values C-contiguous."""
        return dataclasses.replace(
            self, x=np.ascontiguousarray(self.x), dy=np.ascontiguousarray(self.dy), layout="C"
        )


REGIMES = ("standard", "large-mean", "tiny-variance", "random-affine")


def _shapes(
    member: Member, ndim: int, count: int, rng: np.random.Generator
) -> list[tuple[int, ...]]:
    unit = member.groups if member.kind == "group" else 1
    base = {2: (6, 4 * unit), 3: (3, 2 * unit, 5), 4: (2, 2 * unit, 3, 3), 5: (2, unit, 2, 3, 2)}
    shapes = [base[ndim]]
    for _ in range(count):
        c = unit * int(rng.integers(1, 4))
        rest = [int(rng.integers(1, 6)) for _ in range(ndim - 2)]
        shapes.append((int(rng.integers(2, 7)), c, *rest))
    return [
        s
        for s in shapes
        if member.fits(s) and member.spec(len(member.view_shape(s))).m(member.view_shape(s)) >= 2
    ]


def make_cases(
    member: Member, ndim: int, dtype: str, seed: int, examples: int, layouts: bool = False
) -> list[Case]:
    """The regimes on the base shape and ``examples`` random shapes, C-contiguous; with
    ``layouts``, one more case of the base shape (random affine) per other memory layout."""
    rng = np.random.default_rng([seed, 231, ndim])
    dt = np.dtype(dtype)
    out = []
    for i, shape in enumerate(_shapes(member, ndim, examples, rng)):
        for regime in REGIMES if i == 0 else (REGIMES[i % len(REGIMES)],):
            z = rng.standard_normal(shape)
            pshape = member.param_shape(shape)
            gamma, beta = np.ones(pshape), np.zeros(pshape)
            if regime == "large-mean":
                z = 1000.0 + z
            elif regime == "tiny-variance":
                z = 3.0 + 1e-3 * z
            if regime in ("random-affine", "standard"):
                gamma = 1 + 0.5 * rng.standard_normal(pshape)
                beta = rng.standard_normal(pshape)
            x = z.astype(dt)
            out.append(
                Case(
                    x,
                    gamma.astype(dt),
                    beta.astype(dt) if member.has_beta else None,
                    rng.standard_normal(shape).astype(dt),
                    regime,
                )
            )
    if layouts and out:
        shape = out[0].x.shape
        pshape = member.param_shape(shape)
        for layout in LAYOUTS:
            if layout == "C":
                continue
            z = rng.standard_normal(shape).astype(dt)
            dy = rng.standard_normal(shape).astype(dt)
            out.append(
                Case(
                    with_layout(z, layout, 1),
                    (1 + 0.5 * rng.standard_normal(pshape)).astype(dt),
                    rng.standard_normal(pshape).astype(dt) if member.has_beta else None,
                    with_layout(dy, layout, 1),
                    "random-affine",
                    layout,
                )
            )
    return out


#: The kernel cases of the family: (K sets, m values per set, layout), the reduction-set
#: analogue of the BN's kernel table (:data:`bncheck.check._verify.checks.inputs.KERNEL_CASES`,
#: its 2-D rows with channels read as sets): set counts across vector and tile boundaries
#: (1, 2, 5, 7, 8, 16, 17, 33, 64, 65, 129, 2053), set sizes across block boundaries up to
#: more than 4096 and 65 536 values, every memory layout, and x and dy in different layouts
#: (:data:`bncheck.check.strategies.MIXED_LAYOUTS`). :func:`kernel_cases` lays each out
#: for the member and rank (a group member: K rounded up to whole samples of G groups).
FAMILY_KERNEL_CASES: tuple[tuple[int, int, str], ...] = (
    (17, 2, "F"),
    (8, 5, "reversed"),
    (16, 33, "sliced"),
    (2, 3, "C"),
    (7, 9, "transposed"),
    (33, 129, "F"),
    (65, 17, "reversed"),
    (129, 2, "sliced"),
    (64, 1025, "C"),
    (5, 4097, "C"),
    (2053, 7, "F"),
    (2, 65537, "transposed"),
    (7, 9, "F-x"),
    (17, 2, "F-dy"),
)
#: the most values a kernel case of a group member may have (G = 32 multiplies the sets);
#: its sets are cut to fit, keeping more than 4096 values each
KERNEL_MAX_VALUES = 1 << 18


def _smallest_factor(n: int) -> int:
    return next((f for f in range(2, int(n**0.5) + 1) if n % f == 0), n)


def kernel_shape(member: Member, ndim: int, sets: int, m: int) -> tuple[int, ...] | None:
    """A shape of rank ``ndim`` on which ``member`` has at least ``sets`` sets of ``m`` values
    (``m`` cut for a group member when the sets would exceed :data:`KERNEL_MAX_VALUES`), or
    None when the member does not apply at that rank.

    Examples
    --------
    >>> from bncheck.check.norms import Member
    >>> kernel_shape(Member("layer", 2), 4, 5, 4097), kernel_shape(Member("rms", 1), 2, 7, 9)
    ((5, 1, 17, 241), (7, 9))
    >>> kernel_shape(Member("group", groups=4), 4, 17, 33)
    (5, 12, 1, 11)
    >>> kernel_shape(Member("instance"), 2, 2, 3) is None  # no instance norm of 2-D input
    True
    """
    if ndim < 2:
        return None
    if member.channel:  # sets of m values along axis 1, one per (sample, position)
        shape: tuple[int, ...] = (sets, m, *([1] * (ndim - 2)))
    elif member.kind in ("layer", "rms"):
        if member.k >= ndim:
            return None
        lead = [sets] + [1] * (ndim - member.k - 1)
        f = _smallest_factor(m) if member.k > 1 else 1
        tail = [1] * (member.k - 2) + ([f, m // f] if member.k > 1 else [m])
        shape = (*lead, *tail)
    elif member.kind == "instance":
        if ndim < 3:
            return None
        n = 2 if sets % 2 == 0 else 1
        shape = (n, sets // n, *([1] * (ndim - 3)), m)
    elif member.kind == "group":
        g = member.groups
        n = -(-sets // g)
        m = max(2, min(m, KERNEL_MAX_VALUES // (n * g)))
        if ndim == 2:
            shape = (n, g * m)
        else:
            f = _smallest_factor(m)
            cg, rest = (f, m // f) if f < m else (1, m)
            shape = (n, g * cg, *([1] * (ndim - 3)), rest)
    else:
        return None
    if (
        not member.fits(shape)
        or member.spec(len(member.view_shape(shape))).m(member.view_shape(shape)) < 2
    ):
        return None
    return shape


def kernel_cases(member: Member, ndim: int, dtype: str, seed: int) -> list[Case]:
    """The cases of :data:`FAMILY_KERNEL_CASES` for ``member`` at rank ``ndim``, x and dy in
    their layouts, the regimes in turn, gamma of both signs."""
    dt = np.dtype(dtype)
    out = []
    for k, (sets, m, layout) in enumerate(FAMILY_KERNEL_CASES):
        shape = kernel_shape(member, ndim, sets, m)
        if shape is None:
            continue
        rng = np.random.default_rng([seed, 232, ndim, k])
        regime = REGIMES[k % len(REGIMES)]
        z = rng.standard_normal(shape)
        if regime == "large-mean":
            z = 1000.0 + z
        elif regime == "tiny-variance":
            z = 3.0 + 1e-3 * z
        pshape = member.param_shape(shape)
        gamma = (0.5 + rng.random(pshape)) * np.resize([1.0, -1.0], pshape)
        beta = rng.standard_normal(pshape) if member.has_beta else None
        xl, dl = case_layouts(layout)
        out.append(
            Case(
                with_layout(z.astype(dt), xl, 1),
                gamma.astype(dt),
                None if beta is None else beta.astype(dt),
                with_layout(rng.standard_normal(shape).astype(dt), dl, 1),
                regime,
                layout,
            )
        )
    return out


# -- judging --------------------------------------------------------------------------------


def rms_compare(
    name: str,
    got: np.ndarray,
    truth: np.ndarray,
    member: Member,
    case: Case,
    eps: float,
    dtype: Any = None,
) -> tuple[float, float]:
    """(error, budget) of one RMSNorm output (``dtype``: whose rounding the budget is in,
    default x's), both in units of u·(the output's scale in its
    column, or its size for dgamma), the worst column.

    The budget is the recursive-summation bound (Higham §4.2) the BN's worst case uses,
    K(n) = 2·(n + 10) roundings (:func:`bncheck.check.tolerances.worst_case_k`) times the
    size of the terms: mean(x²) is a sum of m non-negative terms (relative error <= γ_m),
    so y = gamma·x·r errs by K(m)·u·|gamma·x̂|; dx = r·(delta − x̂·Σ(delta·x̂)/m) by
    K(m)·u·r·(|delta| + |x̂|·Σ|delta·x̂|/m); dgamma, a sum of n terms dy·x̂ each carrying
    x̂'s relative error K(m)·u, by (K(n) + K(m))·u·Σ|dy·x̂|. One more unit covers the truth's
    own rounding to float64.
    """
    u = unit_roundoff(case.x.dtype if dtype is None else dtype)
    xv = member.view(case.x.astype(np.float64))
    spec = member.spec(xv.ndim)
    xc = spec.columns(xv)
    m = xc.shape[0]
    gc = spec.param_columns(member.param_view(case.gamma.astype(np.float64)), xv.shape)
    dc = spec.columns(member.view(case.dy.astype(np.float64)))
    r = 1 / np.sqrt((xc**2).mean(axis=0) + eps)
    xh = xc * r
    a, t = np.asarray(got, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if name == "dgamma":
        n = xc.size // max(a.size, 1)
        size = spec.param_sum(spec.from_columns(np.abs(dc * xh), xv.shape))
        size = np.asarray(size).reshape(a.shape)
        scale = float(np.max(np.abs(size), initial=0.0)) or 1.0
        err = float(np.max(np.abs(a - t), initial=0.0)) / (u * scale)
        return err, worst_case_k(n) + worst_case_k(xc.shape[0]) + 1
    if name == "y":
        terms = np.abs(gc * xh)
    else:
        delta = gc * dc
        terms = r * (np.abs(delta) + np.abs(xh) * np.abs(delta * xh).mean(axis=0))
    ac = spec.columns(member.view(a))
    tc = spec.columns(member.view(t))
    scale = np.max(terms, axis=0)
    scale[scale == 0] = 1.0
    err = np.max(np.abs(ac - tc), axis=0) / (u * scale)
    return float(np.max(err)), worst_case_k(m) + 1


def _truth(member: Member, case: Case, eps: float) -> dict[str, np.ndarray | None]:
    """The member's y, dx, dgamma, dbeta (None for RMSNorm) in x's and gamma's shapes: from
    mpmath, or above ``LARGE_TRUTH.mpmath_values`` values from the double-double reference
    (:func:`bncheck.check._verify.checks.large_truth.dd_norm`; mpmath again where it refuses)."""
    xv = member.view(case.x)
    spec = member.spec(xv.ndim)
    gv = member.param_view(case.gamma)
    dyv = member.view(case.dy)
    pshape = member.param_shape(case.x.shape)
    if use_large_truth(case.x):
        beta = None if case.beta is None else member.param_view(case.beta)
        try:
            dd = dd_norm(xv, gv, beta, dyv, eps=eps, spec=spec, centered=member.centered)
        except TooIllConditioned:
            pass
        else:
            return {
                "y": np.asarray(dd["y"]).reshape(case.x.shape),
                "dx": np.asarray(dd["dx"]).reshape(case.x.shape),
                "dgamma": np.asarray(dd["dgamma"]).reshape(pshape),
                "dbeta": None if dd["dbeta"] is None else np.asarray(dd["dbeta"]).reshape(pshape),
            }
    if member.centered:
        assert case.beta is not None
        t = exact_batchnorm(xv, gv, member.param_view(case.beta), dyv, eps=eps, spec=spec)
        assert t.dx is not None and t.dgamma is not None and t.dbeta is not None
        return {
            "y": t.y.reshape(case.x.shape),
            "dx": t.dx.reshape(case.x.shape),
            "dgamma": t.dgamma.reshape(pshape),
            "dbeta": t.dbeta.reshape(pshape),
        }
    r = exact_rmsnorm(xv, gv, dyv, eps=eps, spec=spec)
    assert r.dx is not None and r.dgamma is not None
    return {
        "y": r.y.reshape(case.x.shape),
        "dx": r.dx.reshape(case.x.shape),
        "dgamma": r.dgamma.reshape(pshape),
        "dbeta": None,
    }


def _run_laid_out(
    proc: TargetProcess, member: Member, case: Case, options: Options
) -> tuple[Case, tuple[Any, Any, Any, Any]]:
    """One run of ``case`` in its layout; a target that raises on that layout but not on the
    same values C-contiguous refuses the layout: an interface finding (a failure under
    --strict, as for BN targets), and the C-contiguous run is judged instead."""
    try:
        return case, _run(proc, member, case.x, case.gamma, case.beta, _eps(), case.dy)
    except TargetError as exc:
        if exc.fatal or case.layout == "C" or not refusal(str(exc)):
            raise
        plain = case.contiguous()
        try:
            run = _run(proc, member, plain.x, plain.gamma, plain.beta, _eps(), plain.dy)
        except TargetError:
            raise exc from None
        options.note(
            [
                f"refuses {layout_text(case.layout)} input (shape {tuple(case.x.shape)}): "
                f"{exc}; checked on a C-contiguous copy instead"
            ]
        )
        return plain, run


def _layout_only(proc: TargetProcess, member: Member, case: Case, stage: str) -> str:
    """An explanation when a failure on a non-C layout does not happen on the same values
    C-contiguous ("" when it does, or the rerun fails)."""
    plain = case.contiguous()
    try:
        got = _outputs(
            member, plain, _run(proc, member, plain.x, plain.gamma, plain.beta, _eps(), plain.dy)
        )
    except (TargetError, ValueError):
        return ""
    names = ("y",) if stage == "forward" else ("dx", "dgamma", "dbeta")
    judged = judge(member, plain, got, _eps())
    if all(judged[n][0] <= judged[n][1] for n in names if n in judged):
        xl, dl = case_layouts(case.layout)
        which = (
            "its input"
            if xl == dl
            else "x and dy: the two in different layouts, as a network's incoming gradient can be"
        )
        return (
            f"wrong on {layout_text(case.layout)} input only: the same values C-contiguous are "
            f"within budget (the target depends on the memory layout of {which})"
        )
    return ""


def judge(
    member: Member, case: Case, got: dict[str, Any], eps: float, dtype: Any = None
) -> dict[str, tuple[float, float]]:
    """(error, budget) per output of one run, against the truth (``dtype``: whose rounding
    the budgets are in, default x's)."""
    truth = _truth(member, case, eps)
    out: dict[str, tuple[float, float]] = {}
    xv = member.view(case.x)
    spec = member.spec(xv.ndim)
    for name in ("y", "dx", "dgamma", "dbeta"):
        t = truth[name]
        if t is None or name not in got:
            continue
        a = np.asarray(got[name], dtype=np.float64)
        if member.centered:
            view = member.view if name in ("y", "dx") else member.param_view
            cmp = compare(
                view(a),
                view(t),
                name,
                case.x.dtype if dtype is None else np.dtype(dtype),
                x=xv,
                eps=eps,
                dy=member.view(case.dy),
                gamma=member.param_view(case.gamma),
                spec=spec,
            )
            out[name] = (float(cmp.ulp), float(cmp.budget))
        else:
            out[name] = rms_compare(name, a, t, member, case, eps, dtype)
    return out


def _swapped_param_grads(member: Member, case: Case, got: dict[str, Any]) -> tuple[list[str], str]:
    """``swapped-dgamma-dbeta`` when the dgamma given is the truth's dbeta and the dbeta given
    the truth's dgamma (each within 1e-6 of its size; the two truths told apart by more), as
    a list or tuple of gradients in the other order than its parameters' gives them."""
    if "dgamma" not in got or "dbeta" not in got:
        return [], ""
    truth = _truth(member, case, _eps())
    want_g, want_b = truth.get("dgamma"), truth.get("dbeta")
    if want_g is None or want_b is None:
        return [], ""
    g = np.asarray(got["dgamma"], dtype=np.float64).reshape(np.shape(want_g))
    b = np.asarray(got["dbeta"], dtype=np.float64).reshape(np.shape(want_b))
    size = max(float(np.max(np.abs(want_g))), float(np.max(np.abs(want_b))), 1e-300)
    apart = float(np.max(np.abs(np.asarray(want_g) - np.asarray(want_b))))
    if apart <= 1e-3 * size:
        return [], ""
    if np.max(np.abs(g - want_b)) <= 1e-6 * size and np.max(np.abs(b - want_g)) <= 1e-6 * size:
        return ["swapped-dgamma-dbeta"], (
            "the dgamma it gives is the true dbeta and its dbeta the true dgamma (within 1e-6 "
            "of their size)"
        )
    return [], ""


def _checked(name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    if value is None:
        raise ValueError(f"{name} is None; expected an array of shape {shape}")
    a = np.asarray(value)
    if a.dtype.kind != "f":
        raise ValueError(f"{name} has dtype {a.dtype}; expected floats")
    if a.shape != shape:
        if a.size == int(np.prod(shape)):
            return np.asarray(a.reshape(shape))
        raise ValueError(f"{name} has shape {a.shape}; expected {shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} is not finite")
    return a


class ParamGradsMissing(BncheckError, ValueError):
    """The backward gave no dgamma (or dbeta): neither returned nor found on the target. Its
    y and dx are still judged; the parameter gradients are not checked (never a pass)."""


def beta_free(proc: TargetProcess) -> bool:
    """Whether the target said it has no beta (a LayerNorm with a weight only): its cases run
    with beta = 0 and it gives no dbeta."""
    return proc.description.get("beta_free") is True


def _without_beta(case: Case) -> Case:
    return case if case.beta is None else dataclasses.replace(case, beta=np.zeros_like(case.beta))


def param_free(proc: TargetProcess) -> bool:
    """Whether the target said it has no parameters at all (a member without its affine step,
    its backward giving dx alone): dgamma and dbeta are then not missing but absent, and the
    backward is judged on dx (the BN's ``checks/case.py`` has the same)."""
    return proc.description.get("param_free") is True


def params_free(proc: TargetProcess) -> bool:
    """Whether the target said its parameters cannot be set (none found): its cases run with
    gamma = 1 and beta = 0, the values it is judged with."""
    return proc.description.get("params_free") is True


def gamma_free(proc: TargetProcess) -> bool:
    """Whether the target said its gamma cannot be set while its beta can (a scale kept as
    a log-scale, or nowhere bncheck finds it): its cases run with gamma = 1."""
    return proc.description.get("gamma_free") is True


def _fitted_params(proc: TargetProcess, case: Case) -> Case:
    """``case`` as the target can be given it: beta = 0 for a target without beta, gamma = 1
    and beta = 0 for one whose parameters cannot be set, gamma = 1 for one whose gamma alone
    cannot be set."""
    if gamma_free(proc):
        case = dataclasses.replace(case, gamma=np.ones_like(case.gamma))
    if params_free(proc):
        case = dataclasses.replace(
            case,
            gamma=np.ones_like(case.gamma),
            beta=None if case.beta is None else np.zeros_like(case.beta),
        )
    return _without_beta(case) if beta_free(proc) else case


def _own_groups(proc: TargetProcess, member: Member, channels: int) -> Member:
    """The group member a module bncheck built for ``channels`` computes, by the G it holds
    (``num_groups``: a UNet's ``GroupNorm(gcd(32, C), C)`` chooses G from C), when that differs
    from the member fitted on the probe; ``member`` otherwise."""
    try:
        state, _ = proc.call("state")
    except TargetError as exc:
        if exc.fatal:
            raise
        return member
    groups = state.get("groups") if isinstance(state, dict) else None
    if (
        isinstance(groups, int)
        and not isinstance(groups, bool)
        and groups != member.groups
        and groups > 0
        and channels % groups == 0
    ):
        return Member("group", groups=groups)
    return member


def _outputs(
    member: Member,
    case: Case,
    run: tuple[Any, ...],
    partial: bool = False,
    no_beta: bool = False,
    no_params: bool = False,
) -> dict[str, np.ndarray]:
    """y, dx, dgamma and dbeta (centred members) of one run, checked for shape and finiteness.
    A missing dgamma or dbeta raises :class:`ParamGradsMissing`, or with ``partial`` (or
    ``no_params``: a target without parameters, :func:`param_free`) is left out (y and dx
    only)."""
    shape = case.x.shape
    pshape = member.param_shape(shape)
    out = {"y": _checked("y", run[0], shape), "dx": _checked("dx", run[1], shape)}
    names = ("dgamma", "dbeta") if member.has_beta and not no_beta else ("dgamma",)
    missing = [n for i, n in enumerate(names) if run[2 + i] is None]
    if missing and not partial and not no_params:
        raise ParamGradsMissing(
            f"the backward gave no {' and no '.join(missing)}: neither returned nor found "
            "on the target after backward (for a layer: a new or changed value of the "
            "parameters' size); the parameter gradients were not checked (return them from "
            "backward, or map the target with bncheck.adapt)"
        )
    for i, n in enumerate(names):
        if run[2 + i] is not None:
            out[n] = _checked(n, run[2 + i], pshape)
    return out


#: the numbers of groups a group norm that takes G as it is told also runs its kernel cases
#: with (8 and more: where a kernel's tiling over groups breaks), beside the member checked
MANY_GROUPS = (8, 32)


def check_forward_backward(
    proc: TargetProcess,
    member: Member,
    ndim: int,
    dtype: str,
    options: Options,
    found: list[str],
    *,
    groups_passed: bool = False,
) -> list[CheckResult]:
    """forward/<n>d/<dtype> and backward/<n>d/<dtype> of ``member``: the seeded cases, then
    the kernel cases (with ``groups_passed``, those of 8 and 32 groups too: each case judged
    against the member it was run as)."""
    ids = {s: str(CheckId(s, ndim, dtype)) for s in ("forward", "backward")}
    worst: dict[str, tuple[float, float, float]] = {}
    failed: dict[str, tuple[Case, dict[str, Any], str, Member]] = {}
    missing = ""
    runs = [
        (member, c)
        for c in make_cases(member, ndim, dtype, options.seed, options.examples, layouts=True)
    ]
    runs += [(member, c) for c in kernel_cases(member, ndim, dtype, options.seed)]
    for g in MANY_GROUPS if groups_passed else ():
        many = Member("group", groups=g)
        runs += [(many, c) for c in kernel_cases(many, ndim, dtype, options.seed)[::3]]
    no_beta = beta_free(proc)
    guessed = proc.description.get("guessed_build") is True
    for as_member, case in runs:
        case = _fitted_params(proc, case)
        try:
            case, run = _run_laid_out(proc, as_member, case, options)
            if as_member.kind == "group" and guessed:
                as_member = _own_groups(proc, as_member, case.x.shape[1])
            try:
                got = _outputs(as_member, case, run, no_beta=no_beta, no_params=param_free(proc))
            except ParamGradsMissing as exc:
                missing = str(exc)
                got = _outputs(as_member, case, run, partial=True, no_beta=no_beta)
        except TargetError as exc:
            if exc.fatal:
                return [CheckResult(i, "fail", message=str(exc)) for i in ids.values()]
            for s in ids:
                failed.setdefault(s, (case, {}, f"the target raised: {exc}", as_member))
            continue
        except ValueError as exc:
            for s in ids:
                failed.setdefault(s, (case, {}, str(exc), as_member))
            continue
        judged = judge(as_member, case, got, _eps())
        for stage, names in (("forward", ("y",)), ("backward", ("dx", "dgamma", "dbeta"))):
            bad = []
            for n in names:
                if n not in judged:
                    continue
                err, budget = judged[n]
                ratio = err / budget if budget > 0 else float("inf")
                if stage not in worst or ratio > worst[stage][0]:
                    worst[stage] = (ratio, err, budget)
                if not err <= budget:
                    bad.append(f"{n} off by {err:.3g} ulp (budget {budget:.3g})")
            if bad and stage not in failed:
                failed[stage] = (
                    case,
                    got,
                    f"{'; '.join(bad)} on {case.x.shape} {case.regime}"
                    + ("" if case.layout == "C" else f", {layout_text(case.layout)}")
                    + ("" if as_member == member else f", run as {as_member}"),
                    as_member,
                )
    results = []
    for stage, check_id in ids.items():
        w = worst.get(stage)
        if stage not in failed:
            status, why = (
                ("not-checked", missing) if stage == "backward" and missing else ("pass", "")
            )
            results.append(
                CheckResult(check_id, status, w[1] if w else None, w[2] if w else None, message=why)
            )
            continue
        case, got, message, member_run = failed[stage]
        diagnosis: list[str] = []
        explanation = ""
        # the models are compared on y (forward) or dx (backward): a backward whose dx is right
        # and whose parameter gradients are wrong is no model's (a dx within its budget matches
        # every model that differs from the truth by less, eps outside the root among them)
        compared = "y" if stage == "forward" else "dx"
        fits = bool(got) and (
            message.startswith(f"{compared} off") or f"; {compared} off" in message
        )
        if fits and dtype == "float64":
            diagnosis, explanation = diagnose_family(
                member_run,
                stage,
                case.x,
                case.gamma,
                case.beta,
                _eps(),
                case.dy,
                got.get("y"),
                got.get("dx"),
            )
        if not diagnosis and fits and dtype != "float64":
            diagnosis, explanation = _models_in_dtype(member_run, case, got, stage, dtype)
        if not diagnosis and got and dtype == "float64":
            diagnosis, explanation = _float32_arithmetic(member_run, case, got, stage)
        if not diagnosis and fits:
            diagnosis, explanation = _one_pass(member_run, case, got, stage, dtype)
        if not diagnosis and got and stage == "backward":
            diagnosis, explanation = _swapped_param_grads(member_run, case, got)
        if not diagnosis and found:
            diagnosis, explanation = list(found), "follows from the member found (norm above)"
        if not diagnosis and got and case.layout != "C":
            explanation = _layout_only(proc, member_run, case, stage)
        results.append(
            CheckResult(
                check_id,
                "fail",
                w[1] if w else None,
                w[2] if w else None,
                message=message,
                counterexample={
                    "shape": list(case.x.shape),
                    "dtype": dtype,
                    "regime": case.regime,
                    "layout": case.layout,
                    "eps": _eps(),
                    "x": case.x.astype(np.float64).tolist()
                    if case.x.size <= LISTED_VALUES
                    else None,
                },
                diagnosis=diagnosis,
                explanation=explanation,
            )
        )
    return results


def _float32_arithmetic(
    member: Member, case: Case, got: dict[str, Any], stage: str
) -> tuple[list[str], str]:
    """(["float32-arithmetic"], why) when the failed outputs of a float64 run are float32
    numbers (90% of each exactly representable: a float64 computation that loses digits, e.g.
    to a one-pass variance, does not hand those back) within the float32 budget (as the BN's
    :func:`bncheck.check._verify.checks.forward_backward.diagnose`); else ([], "")."""
    stage_names = ("y",) if stage == "forward" else ("dx", "dgamma", "dbeta")
    names = [n for n in stage_names if got.get(n) is not None]
    numbers = True
    for n in names:
        a = np.asarray(got[n], dtype=np.float64)
        with np.errstate(all="ignore"):
            if (a.astype(np.float32).astype(np.float64) == a).mean() < 0.9:
                numbers = False
    judged = judge(member, case, got, _eps(), np.float32)
    if not (names and all(judged[n][0] <= judged[n][1] for n in names if n in judged)):
        return [], ""
    if numbers:
        return ["float32-arithmetic"], (
            "float64 input computed in float32: the outputs are float32 numbers, within the "
            "float32 budget"
        )
    # float64 numbers with float32-sized errors: the statistics or x_hat computed in float32
    # and a last step in float64 (Llama's RMSNorm: a float64 weight times a float32 x_hat cast
    # back). Named so only when y is off too and a one-pass variance, which also loses
    # digits in float64, does not explain it (as the BN's diagnosis)
    wide = judge(member, case, got, _eps())
    if "y" not in wide or wide["y"][0] <= wide["y"][1]:
        return [], ""
    if _one_pass(member, case, got, stage, "float64")[0]:
        return [], ""
    if _models_in_dtype(member, case, got, stage, "float32")[0]:
        return [], ""  # a mistake's model (eps outside the root, ...) reproduces it as well
    return ["float32-arithmetic"], (
        "float64 input computed in float32 in part: errors of float32 size (within the float32 "
        "budget, far over the float64 one) on outputs that are float64 numbers, as when the "
        "statistics and x_hat are taken in float32 and a float64 weight multiplies the result"
    )


def _models_in_dtype(
    member: Member, case: Case, got: dict[str, Any], stage: str, dtype: str
) -> tuple[list[str], str]:
    """The mistakes of :mod:`~bncheck.check._verify.diagnosis.family_fits` whose float64
    model reproduces the failed output of a run in a narrower ``dtype`` within that dtype's
    budget (the model in place of the truth; y for the forward, dx for the backward); ([], "")
    when none does. Tried before the one-pass model: on a tiny variance a float32 one-pass
    variance may lose all of the variance, so its bound admits almost any variance, and a
    mistake whose own model reproduces the run explains it without that guess."""
    name = "y" if stage == "forward" else "dx"
    if got.get(name) is None:
        return [], ""
    models = model_outputs(member, stage, case.x, case.gamma, case.beta, _eps(), case.dy)
    found = []
    for mistake, model in models.items():
        if model is None or not np.all(np.isfinite(model)):
            continue
        err, budget = _judged_against(member, case, got[name], model, name, dtype)
        if err <= budget:
            found.append(mistake)
    if not found:
        return [], ""
    return found, (
        f"the {dtype} output matches the float64 model of {', '.join(found)} within the "
        f"{dtype} budget"
    )


def _judged_against(
    member: Member, case: Case, got: Any, model: Any, name: str, dtype: str
) -> tuple[float, float]:
    """(error, budget) of one output against ``model`` in place of the truth."""
    a = np.asarray(got, dtype=np.float64)
    t = np.asarray(model, dtype=np.float64)
    if not member.centered:
        return rms_compare(name, a, t, member, case, _eps(), dtype)
    xv = member.view(case.x)
    cmp = compare(
        member.view(a),
        member.view(t),
        name,
        np.dtype(dtype),
        x=xv,
        eps=_eps(),
        dy=member.view(case.dy),
        gamma=member.param_view(case.gamma),
        spec=member.spec(xv.ndim),
    )
    return float(cmp.ulp), float(cmp.budget)


def _one_pass(
    member: Member, case: Case, got: dict[str, Any], stage: str, dtype: str
) -> tuple[list[str], str]:
    """(["one-pass-variance"], what was fitted) when the failed outputs of a centred member
    (LayerNorm, GroupNorm, InstanceNorm) are those of a variance computed as E[x²] − E[x]² in
    the dtype: the BN's model (:mod:`bncheck.check._verify.diagnosis.one_pass`) on the
    member's columns, each reduction set a column, the affine divided out of y (gamma per
    element or channel: x_hat = (y − beta)/gamma) and folded into dy (delta = gamma·dy) for dx;
    else ([], "")."""
    if not member.centered:  # RMSNorm has no mean to cancel against
        return [], ""
    xv = member.view(case.x)
    spec, shape = member.spec(xv.ndim), xv.shape
    pshape = member.param_shape(case.x.shape)
    gamma = np.ones(pshape) if case.gamma is None else case.gamma
    beta = np.zeros(pshape) if case.beta is None else case.beta
    gc = spec.param_columns(member.param_view(np.asarray(gamma, np.float64)), shape)
    bc = spec.param_columns(member.param_view(np.asarray(beta, np.float64)), shape)
    y = got.get("y")
    if y is None or not np.all(gc != 0):
        return [], ""
    xc = spec.columns(xv)
    with np.errstate(all="ignore"):
        x_hat = (spec.columns(member.view(y)) - bc) / gc
        if stage == "forward":
            found = diagnose_one_pass(xc, None, None, _eps(), None, x_hat, {"y": x_hat}, dtype)
        elif got.get("dx") is not None:
            delta = gc * spec.columns(member.view(case.dy))
            dx = spec.columns(member.view(got["dx"]))
            found = diagnose_one_pass(xc, None, None, _eps(), delta, x_hat, {"dx": dx}, dtype)
        else:
            return [], ""
    if found is None:
        return [], ""
    ids, fitted = found
    return ids, fitted + " (each reduction set as a channel)"


def check_fd(proc: TargetProcess, member: Member, ndim: int, options: Options) -> CheckResult:
    check_id = str(CheckId("backward-fd", ndim, "float64"))
    case = make_cases(member, ndim, "float64", options.seed, 0)[0]
    no_beta = beta_free(proc)
    case = _fitted_params(proc, case)
    rng = np.random.default_rng([options.seed, 232, ndim])
    shape = case.x.shape
    pshape = member.param_shape(shape)
    n, c = case.x.size, int(np.prod(pshape))
    nb = c if member.has_beta and not no_beta else 0
    try:
        run = _run(proc, member, case.x, case.gamma, case.beta, _eps(), case.dy)
        try:
            got = _outputs(member, case, run, no_beta=no_beta, no_params=param_free(proc))
        except ParamGradsMissing as exc:
            return CheckResult(check_id, "not-checked", message=str(exc))

        def forward(z: np.ndarray) -> np.ndarray:
            beta = z[n + c :].reshape(pshape) if nb else None
            y = _run(
                proc, member, z[:n].reshape(shape), z[n : n + c].reshape(pshape), beta, _eps(), None
            )[0]
            return np.asarray(_checked("y", y, shape), dtype=np.float64)

        zeros = np.zeros(c)  # a target without parameters: no gradient, and v is 0 there
        grads = [got["dx"].ravel(), got.get("dgamma", zeros).ravel()]
        if nb:
            grads.append(got.get("dbeta", zeros).ravel())
        flat = np.concatenate(grads)

        def vjp(u: np.ndarray) -> np.ndarray:
            return flat

        judged = judge(member, case, got, _eps())
        parts = [case.x.ravel(), case.gamma.ravel()]
        if nb:
            assert case.beta is not None
            parts.append(case.beta.ravel())
        z0 = np.concatenate(parts)
        v = rng.standard_normal(z0.size)
        if "dgamma" not in got or params_free(proc):
            # no parameters, or none bncheck can set: the direction lies in x alone
            v[n:] = 0.0
        elif gamma_free(proc):  # a gamma it cannot set: none along gamma
            v[n : n + c] = 0.0
        # the step scales with the spread of the narrowest set (the BN's with that of x: its
        # sets are large); a set of a few values is curved on the scale of its own spread
        xv = member.view(case.x)
        cols = member.spec(xv.ndim).columns(xv)
        spread = float(np.min(np.sqrt(cols.var(axis=0) + _eps())))
        h = RICHARDSON_STEPS[np.dtype(np.float64)] * spread / float(np.max(np.abs(v)))
        blocks = [slice(0, n), slice(n, n + c)] + ([slice(n + c, n + c + nb)] if nb else [])
        res = check_directional(
            forward,
            vjp,
            z0,
            rng=rng,
            method="richardson",
            h=h,
            noise=fd_noise([judged["y"][1]], np.float64, measured=[judged["y"][0]]),
            vjp_noise=fd_noise([judged["dx"][1]], np.float64),
            u=case.dy,
            v=v,
            blocks=blocks,
        )
    except TargetError as exc:
        return CheckResult(check_id, "fail", message=str(exc))
    except ValueError as exc:
        return CheckResult(check_id, "fail", message=str(exc))
    denom = max(abs(res.fd), float(np.sum(np.abs(flat * v))), 1e-300)
    err = abs(res.fd - res.vjp)
    return CheckResult(
        check_id,
        "pass" if res.passed else "fail",
        err / denom,
        res.tolerance / denom,
        unit="rel",
        message=""
        if res.passed
        else f"<dy, J v>: finite differences {res.fd:.10g}, backward {res.vjp:.10g}",
    )


def identity_errors(
    member: Member, case: Case, got: dict[str, np.ndarray]
) -> dict[str, tuple[float, float]]:
    """(worst |lhs − rhs|/tolerance, 1) per identity of ``member`` on one float64 run (module
    docstring, 4.): each tolerance is 4·K(n)·u times the sum of the magnitudes of the terms
    summed, K the recursive-summation factor of :func:`~bncheck.check.tolerances.worst_case_k`."""
    u = unit_roundoff(np.float64)
    xv = member.view(case.x.astype(np.float64))
    spec = member.spec(xv.ndim)
    xc = spec.columns(xv)
    m = xc.shape[0]
    gc = spec.param_columns(member.param_view(case.gamma.astype(np.float64)), xv.shape)
    dc = spec.columns(member.view(case.dy))
    dxc = spec.columns(member.view(got["dx"]))
    delta = gc * dc
    out: dict[str, tuple[float, float]] = {}
    if member.centered:
        mu = xc.mean(axis=0)
        r = 1 / np.sqrt(((xc - mu) ** 2).mean(axis=0) + _eps())
        xh = (xc - mu) * r
        terms = r * (
            np.abs(delta)
            + np.abs(delta).mean(axis=0)
            + np.abs(xh) * np.abs(delta * xh).mean(axis=0)
        )
        tol = 4 * worst_case_k(m) * u * terms.sum(axis=0)
        out["sum dx = 0"] = (float(np.max(np.abs(dxc.sum(axis=0)) / tol)), 1.0)
        pshape = member.param_shape(case.x.shape)
        sum_dy = spec.param_sum(member.view(case.dy)).reshape(pshape)
        sum_abs = spec.param_sum(np.abs(member.view(case.dy))).reshape(pshape)
        n = case.x.size // max(int(np.prod(pshape)), 1)
        tol_b = 4 * worst_case_k(n) * u * sum_abs
        if "dbeta" in got:  # a target with no beta has no dbeta
            out["dbeta = sum dy"] = (float(np.max(np.abs(got["dbeta"] - sum_dy) / tol_b)), 1.0)
    else:
        r = 1 / np.sqrt((xc**2).mean(axis=0) + _eps())
        xh = xc * r
        rhs = _eps() * r**2 * (delta * xh).sum(axis=0)
        s = r * (np.abs(delta) + np.abs(xh) * np.abs(delta * xh).mean(axis=0))
        tol = (
            4
            * worst_case_k(m)
            * u
            * ((np.abs(xc) * s).sum(axis=0) + _eps() * r**2 * np.abs(delta * xh).sum(axis=0))
        )
        out["sum x*dx = eps r^2 sum(delta x_hat)"] = (
            float(np.max(np.abs((xc * dxc).sum(axis=0) - rhs) / tol)),
            1.0,
        )
    return out


def check_identities(
    proc: TargetProcess, member: Member, ndim: int, options: Options
) -> CheckResult:
    check_id = str(CheckId("identities", ndim, "float64"))
    case = make_cases(member, ndim, "float64", options.seed, 0)[0]
    no_beta = beta_free(proc)
    case = _fitted_params(proc, case)
    try:
        run = _run(proc, member, case.x, case.gamma, case.beta, _eps(), case.dy)
        got = _outputs(member, case, run, no_beta=no_beta, no_params=param_free(proc))
    except ParamGradsMissing as exc:
        return CheckResult(check_id, "not-checked", message=str(exc))
    except (TargetError, ValueError) as exc:
        return CheckResult(check_id, "fail", message=str(exc))
    found = identity_errors(member, case, got)
    worst = max(v[0] for v in found.values())
    bad = [k for k, v in found.items() if not v[0] <= 1.0]
    right = all(e <= b for e, b in judge(member, case, got, _eps()).values())
    if right:
        try:
            # a gamma bncheck cannot set cannot be given an entry of 0
            fixed = param_free(proc) or params_free(proc) or gamma_free(proc)
            bad += _edges(proc, member, case, no_beta, fixed)
        except TargetError as exc:
            if exc.fatal:
                raise
            bad.append(f"an edge case: {exc}")
    said = ", ".join(found) + (f"; {_EDGES_SAID}" if right else "")
    return CheckResult(
        check_id,
        "pass" if not bad else "fail",
        worst,
        1.0,
        unit="×budget",
        message=("violated: " + "; ".join(bad)) if bad else said,
    )


#: what the identities check says it also ran (:func:`_edges`)
_EDGES_SAID = (
    "also a gamma entry of 0 and a constant set of values (and for a torch target its gamma, "
    "then its beta, frozen), against the truth"
)


def _edges(
    proc: TargetProcess, member: Member, case: Case, no_beta: bool, no_params: bool
) -> list[str]:
    """Edge inputs a normalization meets in training, each on a fresh instance and judged
    against the truth like the base case (on which the target was right): a gamma entry of
    exactly 0 (a zero-initialised residual branch: a backward that recovers x_hat as
    (y − beta)/gamma gives NaN there) and one set of values all equal (variance 0: dx is
    gamma·(dy − mean dy)/sqrt(eps) there for the centered members, not 0). What fails,
    described."""
    edges: list[tuple[str, Case]] = []
    if not no_params:
        gamma = np.array(case.gamma, dtype=np.float64, copy=True)
        gamma.flat[0] = 0.0
        edges.append(("with a gamma entry of 0", dataclasses.replace(case, gamma=gamma)))
    xv = member.view(case.x)
    spec = member.spec(xv.ndim)
    cols = spec.columns(xv.astype(np.float64))
    cols[:, 0] = cols[0, 0]
    flat = spec.from_columns(cols, xv.shape).reshape(case.x.shape).astype(case.x.dtype)
    edges.append(
        ("with one set of values all equal (variance 0)", dataclasses.replace(case, x=flat))
    )
    broken = []
    for what, edge in edges:
        try:
            run = _run(proc, member, edge.x, edge.gamma, edge.beta, _eps(), edge.dy)
            got = _outputs(member, edge, run, no_beta=no_beta, no_params=no_params)
        except ParamGradsMissing:
            continue
        except (TargetError, ValueError) as exc:
            if isinstance(exc, TargetError) and exc.fatal:
                raise
            broken.append(f"{what}: {exc}")
            continue
        off = _off_truth(member, edge, got)
        if off:
            broken.append(f"{what}, {', '.join(off)}")
    if not no_params and proc.description.get("kind") == "torch":
        broken += _frozen_edges(proc, member, case, no_beta)
    return broken


def _off_truth(member: Member, case: Case, got: dict[str, np.ndarray]) -> list[str]:
    """Each output in ``got`` off its truth on ``case``, described ([] when all are within
    their budgets)."""
    return [
        f"{n} off by {e:.3g} (budget {b:.3g})"
        for n, (e, b) in judge(member, case, got, _eps()).items()
        if not e <= b
    ]


def _frozen_edges(proc: TargetProcess, member: Member, case: Case, no_beta: bool) -> list[str]:
    """A torch target with its gamma, then its beta, frozen as fine-tuning freezes them
    (``requires_grad_(False)``): dx and the other gradient do not depend on which parameters
    train, so they are judged against the truth again. A backward that reuses a parameter's
    gradient inside dx and skips it when it is not asked for shows here."""
    broken = []
    for role in ("gamma",) if no_beta else ("gamma", "beta"):
        try:
            run = _run(proc, member, case.x, case.gamma, case.beta, _eps(), case.dy, (role,))
            got = _outputs(member, case, run, partial=True, no_beta=no_beta)
        except (TargetError, ValueError) as exc:
            if isinstance(exc, TargetError) and exc.fatal:
                raise
            broken.append(f"with {role} frozen (requires_grad False): {exc}")
            continue
        got.pop("d" + role, None)
        off = _off_truth(member, case, got)
        if off:
            broken.append(f"with {role} frozen (requires_grad False), {', '.join(off)}")
    return broken


def check_running(
    proc: TargetProcess, member: Member, ranks: list[int], kind: str, options: Options
) -> list[CheckResult]:
    """running, eval and eval-state of an InstanceNorm target with running statistics (module
    docstring, 5.), on its first rank of 3 or more dimensions and each dtype but float16;
    the not-applicable rows (:func:`check_eval`) for any other target."""
    spatial = [n for n in ranks if n >= 3]
    found = ""
    if member.kind == "instance" and kind != "functional" and spatial:
        try:
            got, _ = proc.call("find_running", spatial[0])
            found = got if isinstance(got, str) else ""
        except TargetError as exc:
            if exc.fatal:
                raise
    if found.startswith(NO_SWITCH):
        why = (
            f"the layer keeps running statistics ({found[len(NO_SWITCH) :]}) but bncheck found "
            "no train/eval switch to use them; map it with --mode (see the README)"
        )
        return [
            CheckResult("running", "not-checked", message=why),
            CheckResult("eval", "not-checked", message=why),
        ]
    if not found and member.kind == "batch" and kind != "functional":
        # a layer that computes batch norm, reached here because the BN path could not drive
        # it: its running statistics and eval mode, which a BN has, go unread by this path
        why = (
            "a layer that computes batch norm keeps running statistics and an eval mode, which "
            "bncheck could not drive in this form (its BN discovery refused it); map them with "
            "bncheck.adapt or --mode (see the README)"
        )
        return [
            CheckResult("running", "not-checked", message=why),
            CheckResult("eval", "not-checked", message=why),
        ]
    if not found:
        return check_eval(proc, member, ranks[0], kind)
    rows: list[CheckResult] = []
    # InstanceNorm's running statistics are defined by PyTorch's (no other framework keeps
    # them): held to that convention unless --convention states another
    held = options.convention if options.convention != "any" else "torch"
    for dtype in options.dtypes:
        if dtype == "float16":
            continue
        found_rows = check_running_and_eval(
            proc,
            dataclasses.replace(options, channels=None, convention=held),
            spatial[0],
            dtype,
            statistics="instance",
        )
        rows += found_rows
        ev = next((r for r in found_rows if r.key.family == "eval"), None)
        if ev is not None and ev.status == "fail" and not ev.diagnosis:
            if _eval_uses_instance_stats(proc, spatial[0], dtype):
                ev.diagnosis = ["eval-batch-stats"]
                ev.explanation = (
                    "eval output = train output: it normalizes with the statistics of the "
                    "input's own instances, not the running statistics it keeps"
                )
    for r in rows:
        if r.key.family != "running":
            continue
        r.message = "; ".join(
            p
            for p in (
                r.message,
                f"running statistics: {found}",
                f"judged by {held!r}"
                + (
                    ", the convention of InstanceNorm's running statistics (PyTorch's)"
                    if held != options.convention
                    else ""
                ),
            )
            if p
        )
    return rows


def _eval_uses_instance_stats(proc: TargetProcess, ndim: int, dtype: str) -> bool:
    """Whether the target's eval output is its instance normalization with its own gamma and
    beta (the input's statistics, not the running ones), within :data:`FIT_MATCH`."""
    member = Member("instance")
    shape = PROBE_SHAPES[ndim]
    x = probe_input(shape, 5).astype(dtype)
    try:
        proc.call("new", shape[1], dtype, _eps(), ndim)
        state, _ = proc.call("state")
        y, _ = proc.call("forward", x, False, names=("x",))
    except TargetError as exc:
        if exc.fatal:
            raise
        return False
    g, b = state.get("gamma"), state.get("beta")
    if not isinstance(g, np.ndarray) or not isinstance(b, np.ndarray):
        return False
    side = [1, shape[1]] + [1] * (ndim - 2)
    ref = normalized(member, x.astype(np.float64), _eps()) * g.reshape(side) + b.reshape(side)
    try:
        got = np.asarray(y, dtype=np.float64).reshape(shape)
    except (TypeError, ValueError):
        return False
    with np.errstate(all="ignore"):
        dist = float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))
    return dist <= FIT_MATCH


def check_older_cache(
    proc: TargetProcess, member: Member, ndim: int, options: Options
) -> CheckResult:
    """``older-cache/<n>d/float64`` for a function pair: its backward with the cache of a first
    forward, called after a second forward of the same shape, gives the bits it gives right
    after the first (a cache sharing a workspace the next forward reuses does not)."""
    check_id = str(CheckId("older-cache", ndim, "float64"))
    first, second = make_cases(member, ndim, "float64", options.seed, 1)[:2]
    x2 = second.x if second.x.shape == first.x.shape else first.x[::-1].copy()
    try:
        alone = _run(proc, member, first.x, first.gamma, first.beta, _eps(), first.dy)[1:]
        _run(proc, member, first.x, first.gamma, first.beta, _eps(), None)
        proc.call("stash")
        proc.call("forward", x2, True, names=("x",))
        proc.call("unstash")
        grads, _ = proc.call("backward", first.dy, names=("dy",))
    except TargetError as exc:
        if exc.fatal:
            raise
        return CheckResult(check_id, "fail", message=str(exc))
    differ = [
        n
        for n, a, b in zip(("dx", "dgamma", "dbeta"), alone, grads, strict=True)
        if not (a is None and b is None)
        and not np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)
    ]
    if not differ:
        return CheckResult(check_id, "pass")
    return CheckResult(
        check_id,
        "fail",
        message="backward with the cache of a first forward, called after a second forward of "
        f"the same shape, gives other {', '.join(differ)} than right after the first forward: "
        "the cache shares memory (a workspace reused per shape) that the second forward "
        "overwrote",
        diagnosis=["cache-overwritten"],
    )


def check_second_call(
    proc: TargetProcess, member: Member, ndim: int, options: Options
) -> CheckResult:
    """``second-call/<n>d/float64``: on one instance, a training forward and backward after two
    others on other batches of the same shape give the bits a fresh instance gives on the same
    batch (state kept from an earlier call: a workspace, accumulated gradients). The outputs
    the earlier calls returned are watched meanwhile by the target process (an output buffer
    the next forward reuses is ``no-mutation``'s ``output-overwritten``)."""
    check_id = str(CheckId("second-call", ndim, "float64"))
    case = make_cases(member, ndim, "float64", options.seed, 0)[0]
    case = _fitted_params(proc, case)
    others = [(case.x * 0.5 + 1.0, case.dy[::-1].copy()), (case.x[::-1] * -2.0, case.dy * 3.0)]
    eps = _eps()
    try:
        fresh = _run(proc, member, case.x, case.gamma, case.beta, eps, case.dy)
        proc.call("new", int(case.x.shape[1]), "float64", eps, case.x.ndim)
        proc.call("set_params", case.gamma, case.beta, names=("gamma", "beta"))
        for x, dy in others:
            proc.call("forward", np.ascontiguousarray(x), True, names=("x",))
            proc.call("backward", np.ascontiguousarray(dy), names=("dy",))
        y, _ = proc.call("forward", case.x, True, names=("x",))
        grads, _ = proc.call("backward", case.dy, names=("dy",))
    except TargetError as exc:
        if exc.fatal:
            raise
        return CheckResult(check_id, "fail", message=f"a call after two others: {exc}")
    after = (y, *grads) if isinstance(grads, (tuple, list)) and len(grads) == 3 else (y,)
    differ = [
        n
        for n, a, b in zip(("y", "dx", "dgamma", "dbeta"), fresh, after, strict=False)
        if not (a is None and b is None)
        and not np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)
    ]
    if not differ:
        return CheckResult(
            check_id,
            "pass",
            message="the forward/backward after 2 others on one instance equals a fresh instance's",
        )
    return CheckResult(
        check_id,
        "fail",
        message=f"a forward/backward after 2 others on one instance gives other "
        f"{', '.join(differ)} than a fresh instance's on the same batch: state kept from the "
        "earlier calls (accumulated gradients, a workspace, an earlier batch's statistics)",
        diagnosis=["stateful-second-call"],
    )


def check_eval(proc: TargetProcess, member: Member, ndim: int, kind: str) -> list[CheckResult]:
    why = f"not applicable: {member} keeps no running statistics" + (
        " (a function has no eval mode)"
        if kind == "functional"
        else " (InstanceNorm's track_running_stats is off)"
        if kind == "torch" and member.kind == "instance"
        else ""
    )
    rows = [CheckResult("running", "skip", message=why)]
    if kind != "torch":
        rows.append(CheckResult("eval", "skip", message=why))
        return rows
    case = make_cases(member, ndim, "float64", 0, 0)[0]
    try:
        y_train = _run(proc, member, case.x, case.gamma, case.beta, _eps(), None)[0]
        proc.call("set_params", case.gamma, case.beta, names=("gamma", "beta"))
        y_eval, _ = proc.call("forward", case.x, False, names=("x",))
    except TargetError as exc:
        return [*rows, CheckResult("eval", "fail", message=str(exc))]
    same = np.array_equal(np.asarray(y_train), np.asarray(y_eval))
    if same:  # as inference runs it too: eval under torch.no_grad()
        try:
            proc.call("eval_grad", False)
            y_quiet, _ = proc.call("forward", case.x, False, names=("x",))
            proc.call("eval_grad", True)
        except TargetError as exc:
            if exc.fatal:
                raise
            y_quiet = None  # an adapter without the choice: its one eval stands
        if y_quiet is not None and not np.array_equal(np.asarray(y_train), np.asarray(y_quiet)):
            rows.append(
                CheckResult(
                    "eval",
                    "fail",
                    message="eval mode under torch.no_grad() changes the output of a "
                    "normalization without running statistics (with gradient recording on it "
                    "does not): an inference path of its own",
                )
            )
            return rows
    rows.append(
        CheckResult(
            "eval",
            "pass" if same else "fail",
            message="eval output = train output (no running statistics), with gradient "
            "recording on and under torch.no_grad()"
            if same
            else "eval mode changes the output of a normalization without running statistics",
        )
    )
    return rows


def run_family(
    proc: TargetProcess,
    kind: str,
    options: Options,
    stated: Member | None,
    claimed: str | None,
    explicit: bool = False,
) -> tuple[list[CheckResult], Member]:
    """Every family check on the loaded target; the member checked.

    Ranks: every rank asked for whose fit is the member checked, or another member (then
    ``norm`` fails and the checks run, carrying its name); a rank on which no member fits is
    checked when it was asked for explicitly (``--ndims``), the member was stated
    (``--norm``: what it computes on every rank it takes) or no rank fits, else skipped with
    what was found (cs231n's layernorm normalizes (N, D) only: its 3-D outputs are no
    member's)."""
    checks: list[CheckResult] = []
    ndims = [n for n in options.ndims if n in PROBE_SHAPES]
    fitted: dict[int, Member | None] = {}
    dists: dict[int, dict[str, float]] = {}
    nearest: dict[int, list[str]] = {}
    for ndim in ndims:
        dists[ndim] = {}
        member, _, tried = fit_member(proc, ndim, options.seed, dists[ndim])
        fitted[ndim] = member
        nearest[ndim] = sorted(tried, key=_distance)[:3]

    def fit_notes(checked: Member | None) -> list[str]:
        """Per rank, the member fitted; the member checked when it fits as well (a tie: G
        passed to the target, every grouping fits), so the report never names another."""
        out = []
        for n in ndims:
            f = fitted[n]
            if checked is not None and dists[n].get(checked.text(), float("inf")) <= FIT_MATCH:
                f = checked
            text = "no member fits"
            if f is not None:
                text = f"{f.text()} (distance {dists[n].get(f.text(), float('nan')):.1e})"
            out.append(f"{n}-D: {text} [nearest: {', '.join(nearest[n])}]")
        return out

    notes = fit_notes(None)
    found_any = _most_ranks(dists, None) if any(fitted.values()) else None
    if stated is not None:
        member, said = stated, "stated with --norm"
    elif claimed:
        member, said = _claimed_member(claimed, _most_ranks(dists, claimed)), "as its name says"
    elif found_any is not None:
        member, said = found_any, "found from its outputs"
    else:  # nothing said, claimed or found: a guess would be a verdict on a guess
        raise LoadError(
            "no normalization (batch, layer, group, instance, RMS over any axes) fits the "
            "target's outputs, and neither --norm nor its name says which it is: "
            + "; ".join(notes)
            + ". State it with --norm layer|group:G|instance|rms|batch"
        )
    wrong: list[str] = []
    rows = []
    for ndim in ndims:
        f = fitted[ndim]
        if f is None or _same(f, member) or not member.fits(PROBE_SHAPES[ndim]):
            continue
        if dists[ndim].get(member.text(), float("inf")) <= FIT_MATCH:
            continue  # it fits the member checked too (G passed to it: every grouping fits)
        if member.kind == "rms" and f.kind == "layer" and f.k == member.k:
            wrong = ["rms-subtracts-mean"]
        elif member.kind == "layer" and f.kind == "rms" and f.k == member.k:
            wrong = ["layer-without-mean"]
        else:
            wrong = ["wrong-reduction-axes"]
        rows.append(
            f"on {ndim}-D input it computes {f}, not {member}"
            + (f" (--norm {f.text()} checks it as that)" if stated is None else "")
        )
    checks.append(
        CheckResult(
            "norm",
            "fail" if wrong else "pass",
            message=f"checked as {member} ({said}); "
            + ("; ".join(rows) + "; " if rows else "")
            + "fitted: "
            + "; ".join(fit_notes(member)),
            diagnosis=wrong,
            explanation="fitted from its outputs on a probe, every candidate member tried"
            if wrong
            else "",
        )
    )
    if gamma_free(proc):
        # beta set, gamma not: every case ran at gamma = 1, where a backward that drops gamma
        # (or a forward that misuses it) is right; not a pass of what was never run
        checks.append(
            CheckResult(
                "parameters",
                "not-checked",
                message="gamma other than 1 not checked: the layer's scale could not be set "
                "(none found by name, none that y follows by the affine law: a log-scale "
                "or a value computed from others); name it with --gamma PATH where its "
                "forward reads gamma itself",
            )
        )
    any_fit = any(m is not None for m in fitted.values())
    guessed = proc.description.get("guessed_build") is True
    ranks = []
    for ndim in ndims:
        why = ""
        status = "skip"
        applies = member.fits(probe_shape(member, ndim))
        raised = _takes(proc, member, ndim) if applies else None
        if not applies:
            why = f"{ndim}-D input does not apply to {member}"
        elif raised is not None:
            if guessed and _MISMATCH.search(raised):
                status = "not-checked"
                why = (
                    f"on {ndim}-D input the {kind} bncheck built for {member} (its constructor's "
                    f"arguments guessed from their names) raised {raised}: a mismatch with "
                    f"bncheck's guess, not a refusal of {ndim}-D input; {ndim}-D was not checked "
                    "(state what it computes with --norm)"
                )
            elif rejects_rank(raised):
                why = f"it rejects {ndim}-D input: {raised}"
            else:  # its code took the input and broke on it: not checked, never passed
                status = "not-checked"
                why = broke_on_rank(ndim, raised)
        elif fitted[ndim] is None and any_fit and not explicit and stated is None:
            # cs231n's layernorm takes any rank through x.T but normalizes (N, D) only: skipped
            # and said, with what was nearest and how to have it checked all the same (with
            # --norm stated, what it computes is said: every rank it takes is checked as that)
            why = (
                f"on {ndim}-D input its outputs are no member of the family's (nearest: "
                f"{', '.join(nearest[ndim])}); {ndim}-D was not checked (it may normalize "
                f"other ranks only; --ndims {ndim} checks it as {member})"
            )
        if why:
            checks.append(CheckResult(str(CheckId("forward", ndim)), status, message=why))
        else:
            ranks.append(ndim)
    own = own_eps(proc, member, ranks[0]) if ranks else None
    token = _RUN_EPS.set(own if own is not None else EPS)
    try:
        if own is not None:
            norm = next(c for c in checks if c.id == "norm")
            norm.message += (
                f"; eps: {own:g}, its own (its outputs do not follow the eps it is given, "
                f"{EPS:g}; found from them, sets of variances 1e-2 to 1e-10 agreeing): "
                "checked with it"
            )
        return _run_ranks(proc, member, kind, options, checks, ranks, ndims, wrong, dists)
    finally:
        _RUN_EPS.reset(token)


def _run_ranks(
    proc: TargetProcess,
    member: Member,
    kind: str,
    options: Options,
    checks: list[CheckResult],
    ranks: list[int],
    ndims: list[int],
    wrong: list[str],
    dists: dict[int, dict[str, float]],
) -> tuple[list[CheckResult], Member]:
    """The checks of :func:`run_family` on the ranks it checks, at the run's eps."""
    if not ranks:  # nothing of the target's arithmetic was checked: never a PASS
        checks.append(
            CheckResult(
                "forward",
                "not-checked",
                message=f"no input rank asked for ({', '.join(f'{n}-D' for n in ndims)}) could "
                f"be checked as {member}: "
                + "; ".join(c.message for c in checks if c.id.startswith("forward/")),
            )
        )
    # a group norm that takes G as it is told (every grouping of the probe fits it: a
    # functional's argument, a class built per member) is also run with many groups
    groups_passed = member.kind == "group" and any(
        sum(1 for t, v in d.items() if t.startswith("group:") and v <= FIT_MATCH) >= 2
        for d in dists.values()
    )
    for ndim in ranks:
        for dtype in options.dtypes:
            if dtype == "float16":
                # asked for and not run: the verification is incomplete, never a pass
                checks += [
                    CheckResult(
                        str(CheckId(stage, ndim, dtype)),
                        "not-checked",
                        message="float16 was asked for (--dtypes); bncheck does not check the "
                        "normalization family in float16 yet",
                    )
                    for stage in ("forward", "backward")
                ]
                continue
            token = _dtype_eps(proc, member, ndim, dtype, checks)
            try:
                checks += check_forward_backward(
                    proc, member, ndim, dtype, options, wrong, groups_passed=groups_passed
                )
            finally:
                if token is not None:
                    _RUN_EPS.reset(token)
        if "float64" in options.dtypes:
            checks.append(check_fd(proc, member, ndim, options))
            checks.append(check_identities(proc, member, ndim, options))
            if not options.compiled_shapes:
                checks.append(check_second_call(proc, member, ndim, options))
        if kind == "functional":
            checks.append(check_older_cache(proc, member, ndim, options))
    if ranks:
        checks += check_running(proc, member, ranks, kind, options)
    _backward_only(checks)
    _carry(checks)
    return checks, member


def _dtype_eps(
    proc: TargetProcess, member: Member, ndim: int, dtype: str, checks: list[CheckResult]
) -> contextvars.Token[float] | None:
    """For a target keeping an eps of its own (found in float64, :func:`own_eps`), its eps in
    ``dtype`` when that differs (torch's ``nn.RMSNorm(eps=None)`` uses ``finfo(dtype).eps``),
    set for that dtype's checks and said in the ``norm`` check; None when it is the same."""
    if dtype == "float64" or _eps() == EPS:
        return None
    own = own_eps(proc, member, ndim, dtype)
    if own is None or own == _eps():
        return None
    norm = next((c for c in checks if c.id == "norm"), None)
    said = f"; in {dtype} its own eps is {own:g}"
    if norm is not None and said not in norm.message:
        norm.message += said
    return _RUN_EPS.set(own)


def _most_ranks(dists: dict[int, dict[str, float]], kind: str | None) -> Member | None:
    """The candidate (of ``kind``, when given) that fits the most ranks, the first tried on
    the lowest rank on a tie (ConvNeXt's LayerNorm over the channel axis fits 2-D, where it
    is also the layer norm over the last axis, and 3-D and 4-D: it is the one checked)."""
    count: dict[str, int] = {}
    for d in dists.values():
        for text, v in d.items():
            if v <= FIT_MATCH and (kind is None or Member.parse(text).kind == kind):
                count[text] = count.get(text, 0) + 1
    if kind == "group" and any(
        sum(1 for t, v in d.items() if t.startswith("group:") and v <= FIT_MATCH) >= 2
        for d in dists.values()
    ):  # it takes G as told: one group, or one channel per group, says nothing of how it
        # groups channels (a group norm grouping them in the wrong order fits both)
        trivial = {"group:1", f"group:{PROBE_SHAPES[2][1]}"}
        count = {t: n for t, n in count.items() if t not in trivial}
    if not count:
        return None
    return Member.parse(max(count, key=lambda t: count[t]))  # max keeps the first on a tie


def _distance(text: str) -> float:
    try:
        return float(text.rpartition(": ")[2])
    except ValueError:
        return float("inf")


def _backward_only(checks: list[CheckResult]) -> None:
    """A backward named ``eps-outside-sqrt`` (its dx is that forward's exact gradient) whose
    forward of the same rank and dtype passed: the backward alone places eps outside the
    root, ``backward-eps-outside-sqrt``."""
    for check in checks:
        if check.key.family != "backward" or "eps-outside-sqrt" not in check.diagnosis:
            continue
        forward = next(
            (
                c
                for c in checks
                if c.key.family == "forward"
                and c.key.ndim == check.key.ndim
                and c.key.dtype == check.key.dtype
            ),
            None,
        )
        if forward is not None and forward.status == "pass":
            check.diagnosis = [
                "backward-eps-outside-sqrt" if d == "eps-outside-sqrt" else d
                for d in check.diagnosis
            ]


def _carry(checks: list[CheckResult]) -> None:
    """A failed check not named in its own dtype (float32 cannot tell the models apart)
    carries the names of the same check on float64; a failed backward, finite differences or
    identities not named carry the names of the forward/backward of their rank (they follow
    from those mistakes: a backward written for the right forward is wrong for a wrong one)."""
    for check in checks:
        if (
            check.status != "fail"
            or check.diagnosis
            or check.key.family
            not in (
                "backward",
                "backward-fd",
                "identities",
            )
        ):
            continue
        stages = ("forward",) if check.key.family == "backward" else ("forward", "backward")
        named = [
            d
            for c in checks
            if c.status == "fail" and c.key.family in stages and c.key.ndim == check.key.ndim
            for d in c.diagnosis
        ]
        if named:
            check.diagnosis = list(dict.fromkeys(named))
            check.explanation = "follows from the forward/backward mistakes of this rank"
    for check in checks:
        if check.status != "fail" or check.diagnosis:
            continue
        named = [
            d
            for c in checks
            if c.status == "fail" and c.key.family == check.key.family
            for d in c.diagnosis
            # float32 arithmetic explains a float64 run only, never a float32 one
            if not (d == "float32-arithmetic" and check.key.dtype not in (None, "float64"))
        ]
        if named:
            check.diagnosis = list(dict.fromkeys(named))
            check.explanation = "named as in the same check on another dtype or rank"


def _takes(proc: TargetProcess, member: Member, ndim: int) -> str | None:
    """None when the target takes an input of rank ``ndim``; else what it raised
    ("ValueError: expected 4D input")."""
    shape = probe_shape(member, ndim)
    pshape = member.param_shape(shape)
    try:
        _run(
            proc,
            member,
            probe_input(shape, 0),
            np.ones(pshape),
            np.zeros(pshape) if member.has_beta else None,
            _eps(),
            None,
        )
    except TargetError as exc:
        if exc.fatal:
            raise
        text = str(exc)
        _, found, rest = text.partition(" raised ")
        return rest if found else text
    return None


def _same(a: Member, b: Member) -> bool:
    return a == b or (a.kind == b.kind == "group" and a.groups == b.groups)


def _claimed_member(claimed: str, found: Member | None) -> Member:
    """The member a name claims, its k or G taken from the fit when the fit agrees in kind."""
    if found is not None and found.kind == claimed:
        return found
    if claimed == "group":
        return Member("group", groups=found.groups if found and found.kind == "group" else 2)
    return Member(claimed)
