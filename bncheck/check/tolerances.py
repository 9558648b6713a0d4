"""The one table of tolerances: every error bound bncheck uses, per dtype, with its derivation.

:data:`TOLERANCES` has one row (:class:`Tolerances`) per dtype bncheck computes in. The package
(``bncheck verify``), the tests and the reports read their tolerances from here; nothing else
states a tolerance. The error metric they are expressed in (normwise ULP) and the judgement of
an output against the truth (``compare``) are in :mod:`bncheck.check.metrics`.

=====================  ==========  ==========  ==========  ====================================
row field              float16     float32     float64     what it bounds
=====================  ==========  ==========  ==========  ====================================
``unit_roundoff``      2^-11       2^-24       2^-53       u = eps/2, the unit of every budget
``target_ulp``         2           2           4           bncheck's own BN (normwise ULP)
``rounded_once_ulp``   1           1           —           bncheck's BN, narrow dtypes (tests)
``worst_case``         —           —           2(m + 10)   bncheck's BN in float64 (tests)
``running``            (8t + 4m)   (8t + 4m)   (8t + 4m)   running statistics (verify), × u
``summation_lambda``   6           6           6           the probabilistic budget (verify)
``fit_residual``       3e-2        1e-3        1e-6        the diagnosis' fits (verify)
``probe``              —           1e4, 5e-2,  1e8, 1e-6,  framework probe steps (verify)
                                   1e-4        1e-9
``fd_noise``           (the probabilistic budget of y and dx, × u)   finite differences
``MODEL_MATCH``        4·budget + 64 ULP (every dtype)         a mistake's model (verify)
``LARGE_TRUTH``        > 4096 values: double-double truth, cancellation <= 2^40 (verify)
=====================  ==========  ==========  ==========  ====================================

Accuracy targets (``target_ulp``, :data:`TARGET_ULP`). The required accuracy of bncheck's own BN
(the compiled kernels) against the mpmath truth, for y, dx, dgamma and dbeta; targets, not
budgets: a test that misses one is a bug to fix, never a threshold to loosen. A correctly
rounded result is within 0.5 normwise ULP of the truth, 1 in float64 (where the truth is itself
a float64, rounded once); the targets leave the kernels' double-double arithmetic a factor of
about 4 above that. Measured: 0.5 to 1 (docs/numerics.md).

Rounded once (``rounded_once_ulp``, float16 and float32). bncheck computes in float64 and rounds
once. The float64 part errs by at most about (m + 10)·u64·(1 + |mu|/sigma) relative to the
output scale; for the inputs the tests draw (m <= 10^3, |mu|/sigma <= 10^4) that is <= 1.2e-9,
about 2% of a float32 ULP (2^-23 = 1.2e-7 relative). So the result is the truth rounded once, up
to that sliver: at most 0.5 ULP of the entry, hence <= 0.5 normwise ULP. Budget: 1 normwise ULP
(0.5 for the rounding, the rest covers the sliver with a wide margin).

Worst case (``worst_case``, float64; :func:`worst_case_k`, :func:`worst_case_scales`).
Recursive-summation bounds (Higham, Accuracy and Stability, §4.2): a sum of k terms errs by at
most gamma_k = k·u/(1 − k·u) times the sum of |terms|, u = 2^-53. Every quantity of BN is a few
such sums followed by a bounded number (<= 10) of roundings, so each output entry errs by at
most K·u times the *scale* of its terms, with K = 2·(m + 10) (the factor 2 covers products of
two perturbed sums to first order). The scales, per channel:

    y:      |gamma|·(max|x_hat| + 1) + |beta|        (the +1: error of mu over sigma)
    dx:     |gamma|·inv_std·(max|dy| + mean|dy| + max|x_hat|·mean|dy·x_hat| + max|dy|)
    dgamma: Σ|dy·x_hat| + max|x_hat|·Σ|dy|           (x_hat's own error times dy)
    dbeta:  Σ|dy|

These are worst-case bounds, not estimates: a correct float64 BN cannot exceed them, and a
wrong formula (a missing path, eps twice) is off by far more than K·u.

Running statistics (``running``, :func:`running_budget`). After t updates with batches of m
values per channel, verify allows a target's running mean and variance to differ from the
float64 expectation e (the convention applied to the exact batch statistics) by
(8t + 4m)·u·max(|e|, 1), u of the dtype the target stores them in. Per update, at most 8
roundings of relative size u touch the statistic: 1 − a, the two products and the sum of
new = (1 − a)·old + a·batch, the unbiased factor m/(m − 1) and its product, and the cast of the
result to the dtype (7, counted as 8). The update carries the earlier error with weight
1 − a in [0, 1], so these accumulate at most linearly: 8t·u. The batch statistics, summed in the
dtype, err by at most gamma_m ~ m·u times Σ|terms| (Higham §4.2): the mean by m·u·mean|x| <=
m·u·(|mu| + sigma), and the two-pass variance, insensitive to the mean's error to first order,
by (m + 3)·u·var; each batch's error enters with weight a, and the weights of all batches in the
final value sum to at most 1, so together they cost at most the worst batch's. For the check's
batches (mean 3, spread 2, m >= 16: |mu| + sigma <= 1.7·|mu|) that is <= 1.7·m·u relative, and
4m·u leaves a factor above 2. The floor 1 of the scale covers statistics near 0 (the initial
running mean).

Probabilistic budget (``summation_lambda``; :func:`error_budget`). The normwise ULP that a
*correct but not careful* BN may reach: a plain two-pass BN computing everything in ``dtype``
with recursive summation along the batch; ``bncheck verify`` and the reports judge other BNs
with it (:func:`bncheck.check.metrics.compare`). Notation per channel: u the unit roundoff,
M = max|x_i|, D = max|x_i − mu|, s = sqrt(var + eps), nu = D/s = max|x_hat|, delta = dy,
S1 = Σ delta, S2 = Σ delta·x_hat, P = max_i |delta_i − S1/m − x_hat_i·S2/m| (so that
max|dx| = |gamma|·s^-1·P).

Summation. A sum of m terms errs by at most γ_m·Σ|terms| (worst case), but γ_m = m·u/(1 − m·u)
is hopeless here: for float32, m = 4096 and an offset of 1e4 it allows a relative error above 1
and so would pass any output. We use the probabilistic bound of Higham & Mary (SIAM J. Sci.
Comput. 41(5), 2019, Thm 3.1): if the rounding errors are independent and mean-zero, the sum
errs by at most ``γ̃_m(λ) = exp(λ·√m·u + m·u²/(1 − u)) − 1`` times Σ|terms| with probability
at least ``1 − 2m·exp(−λ²(1 − u)²/2)``. We take λ = 6 (:data:`LAMBDA`). Write g = γ̃_m/u + 2
(the +2 covers the division by m and one cast) for the summation error in units of u.

First-order analysis of the two-pass BN (each elementwise operation errs by <= u relative; a
bounded number of them lies on any path, covered by the constant c of :data:`BUDGET_TABLE`):

- the mean errs by Δmu <= g·u·M; x − mu then errs by Δmu + u·|x − mu| (a *common* shift);
- the two-pass variance is insensitive to the shift to first order (Σ (x_i − mu) = 0): its
  relative error is <= (g + 3)·u + Δmu²/(var + eps), the last term second order;
- y: |Δy| <= |gamma|·(Δmu/s + nu·Δs/s) + c·u·max|y|, and max|y| >= |gamma|·nu/2 because the
  x_hat_i take both signs. Hence ``K_y = 2·kappa_c + 3`` with the centering condition
  ``kappa_c = M/D`` (the normwise condition of x -> x − mu);
- dx: errors of s, of S1/m, of S2/m (its common-shift part is (Δmu/s)·S1) and of x_hat_i·S2/m,
  collected relative to P:
  ``K_dx = [P/2 + max|delta| + r1 + a1 + (kappa_s + 2 nu)·a2 + nu·(r2 + kappa_s·a1 +
  (1 + nu)·r1)] / P`` with a1 = |S1|/m, a2 = |S2|/m, r1 = mean|delta|, r2 = mean|delta·x_hat|
  and ``kappa_s = M/s`` (:func:`bncheck.check.metrics.channel_condition`);
- dgamma: ``K_dgamma = max_j [Σ|delta·x_hat| + kappa_s·|S1| + (1 + nu)·Σ|delta|]_j / max|S2|``;
- dbeta: ``K_dbeta = max_j (Σ|delta|)_j / max|S1|`` (the condition of the sum).

Then, in normwise ULP (spacing(v) > u·v, so an error of E·u·max|r| is fewer than E ULP),

    budget = (g + c)·K + g²·u·kappa_s²·K2

where the second term is the Δmu²/(var + eps) <= (g·u·kappa_s)² part of the relative error of s
(at most half of it; the other half covers the cross terms), times the output's sensitivity K2
to a relative error of s (2 for y; [P + 2 nu (a2 + nu r1)]/P for dx; Σ|delta·x_hat|/max|S2|
for dgamma; dbeta does not depend on s), plus 1 ULP for the rounding of the truth in
``compare``. This is a bound, not a fit: no constant was chosen from measurements.

Finite differences (:func:`fd_noise`, :data:`FD_NOISE_MARGIN`).
:func:`bncheck.check.gradient_check.check_directional` differences a forward (Richardson) with
an error model that needs the normwise relative error of one evaluation of the forward and of
the backward (its ``noise`` and ``vjp_noise``). An implementation within its budgets errs by
at most them, so u·budget is always a sound noise, and it is what the backward is allowed:
``bncheck verify``'s ``backward-fd`` judges the backward, so its rounding gets its whole dx
budget, never what it measured (its error is what is being looked for). For the forward it
knows more: it has measured the target's own error of y on the differenced case against the
truth, and the evaluations it differences are the same arithmetic on the same data moved by
O(h), so their rounding errors are of the same size. Its forward noise is FD_NOISE_MARGIN = 8
times that measured error (at least 1 ULP: a measured 0 is a lucky sample, not a noiseless
target), never more than the budget of y (a forward that is wrong rather than noisy is failed
by the forward check, and must not make the differences toothless). The margin 8 covers the
spread of the largest rounding error over nearby points (the maximum over many entries of a
few ULP each); it is a stated assumption, the one number here not derived from a bound. The
estimator's own truncation error is measured, not assumed (a second extrapolation level); the
rounding of x + t·v to the dtype and of the dot products (2·u, summed exactly) is added by the
checker, and the VJP's rounding is normwise per block (dx, dgamma, dbeta).

Matching a mistake's model (:data:`MODEL_MATCH`). A model of a mistake is evaluated in float64
arithmetic with NumPy's reductions, not exactly, and its inputs are the statistics the model
fits; it matches a target's output when they agree within ``budgets``·budget + ``ulp`` normwise
ULP of the target's dtype. The factor 4 covers the model's own rounding (a correct two-pass
evaluation, within one budget of its truth) on top of the target's (one budget), with a factor
2 to spare for the fitted statistics (the one-pass variance is fitted from y); the 64 ULP floor
covers outputs whose budget is tiny against the model's float64 rounding near exact zeros. Used
by the fits (:mod:`~bncheck.check._verify.diagnosis.fits`), the one-pass model and the
distributed models; a wrong formula is off by orders of magnitude more (eps twice: 4.6e10 ULP
in float64).

Fit residuals (``fit_residual``). The fits describe a failing output by a few per-channel
parameters (y = s·(x − mu) + t; dx = c·gamma·inv·(dy − a·mean(dy) − b·x_hat·mean(dy·x_hat)))
fitted by least squares, and read a mistake off them only when the output *has* that form: the
largest residual of the fit, relative to the channel's largest |output|, is at most
``fit_residual``. A correct-form output computed in the dtype leaves a residual of its rounding,
about (g + c)·K·u of its scale: for the probes' moderate conditions (K up to ~10, m <= 64) that
is ~2e-2 in float16 (u = 4.9e-4), ~1e-5 in float32 and ~1e-14 in float64, and the thresholds sit
above it (float32 and float64 by two and eight orders, as a float32-computing target must still
show its form on float64 input); an output of another form (statistics over the wrong axes, a
nonlinearity) leaves an O(1) residual. These are classification thresholds, not budgets: no
target passes or fails by them; they only decide whether the fitted values are read as a named
mistake, which is then confirmed by a model within :data:`MODEL_MATCH`. The parameter
gradients' fit compares dgamma and dbeta with candidate sums within max(1e-6, fit_residual)
relative, and a fitted coefficient equals a candidate value within ``FIT_COEFFICIENT`` (2e-3)
relative: the coefficients are ratios of such outputs. The same two thresholds read a fitted
constant as an expression of the batch's sizes or a sign (c = m, a = −1, a = b = H·W:
:mod:`~bncheck.check._verify.diagnosis.sizes`), ``FIT_DVAR_COEFFICIENT`` for b; a reading only
proposes a name, which the model with the expression's exact value must confirm within
:data:`MODEL_MATCH` (so 16.02 is not read as m = 16 in float64, where MODEL_MATCH is ~1e-13).

Framework probes (``probe``, float32 and float64). ``bncheck verify`` reads a Flax or Keras
layer's conventions off probe train steps (:mod:`~bncheck.check._verify.targets.
framework_probes`), in the dtype the layer computes in: the running update's weight a is
recovered as (new − old)/(batch − old), which loses about u·|old|/|batch − old| ~ 10·u relative
on the probe batches (mean 2, spread 1.5, old = 0 or 1); it is taken as constant across
channels, and compared with the momentum, within ``update_tol`` (1e-9 in float64: ~5e6·u64;
1e-4 in float32: ~1.7e3·u32), and the batch variance within 100·``update_tol`` relative (it is
divided by a). One pass: on a batch of mean ``one_pass_offset`` and variance ~1 (1e8 in float64,
1e4 in float32), E[x²] − E[x]² loses about u·offset² of the variance (all of it: 1e16·u64 ~ 1,
1e8·u32 ~ 6), a two-pass variance ~(g + 3)·u ~ 1e-15 (float32: ~1e-6, and up to ~1e-3 with the
mean's error); a relative error above ``one_pass_limit`` (1e-6, 5e-2) is one pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import DTypeLike, NDArray

__all__ = [
    "BUDGET_TABLE",
    "FD_NOISE_MARGIN",
    "FIT_COEFFICIENT",
    "FIT_DVAR_COEFFICIENT",
    "INFERENCE",
    "LAMBDA",
    "LARGE_TRUTH",
    "MODEL_MATCH",
    "TARGET_ULP",
    "TOLERANCES",
    "FrameworkProbe",
    "Inference",
    "LargeTruth",
    "ModelMatch",
    "RunningBudget",
    "Tolerances",
    "WorstCase",
    "error_budget",
    "error_budgets",
    "fd_noise",
    "fit_residual",
    "for_dtype",
    "running_budget",
    "summation_factor",
    "unit_roundoff",
    "worst_case_k",
]

F64 = NDArray[np.float64]

#: Confidence parameter of the probabilistic summation bound (Higham & Mary 2019).
LAMBDA = 6.0


@dataclass(frozen=True, kw_only=True)
class WorstCase:
    """K(m) = factor·(m + roundings), in units of u·scale (module docstring, "Worst case").

    Examples
    --------
    >>> from bncheck.check.tolerances import TOLERANCES
    >>> TOLERANCES["float64"].worst_case
    WorstCase(factor=2.0, roundings=10)
    """

    #: covers products of two perturbed sums to first order
    factor: float
    #: the bounded number of roundings after the sums
    roundings: int


@dataclass(frozen=True, kw_only=True)
class RunningBudget:
    """(per_step·t + per_value·m)·u (module docstring, "Running statistics").

    Examples
    --------
    >>> from bncheck.check.tolerances import TOLERANCES
    >>> TOLERANCES["float16"].running
    RunningBudget(per_step=8, per_value=4)
    """

    #: roundings per update of the running statistics
    per_step: int
    #: the batch statistics' summation error, in units of m·u
    per_value: int


@dataclass(frozen=True, kw_only=True)
class FrameworkProbe:
    """The probe steps of a framework layer in one dtype (module docstring, "Framework probes").

    Examples
    --------
    >>> from bncheck.check.tolerances import TOLERANCES
    >>> TOLERANCES["float64"].probe
    FrameworkProbe(update_tol=1e-09, one_pass_offset=100000000.0, one_pass_limit=1e-06)
    """

    #: the running update's weight against the momentum (and 100× it for the variance)
    update_tol: float
    #: the mean of the one-pass probe batch (variance ~1)
    one_pass_offset: float
    #: the relative error of the batch variance beyond which it is one-pass
    one_pass_limit: float


@dataclass(frozen=True, kw_only=True)
class ModelMatch:
    """A mistake's model matches an output within ``budgets``·budget + ``ulp`` normwise ULP
    (module docstring, "Matching a mistake's model").

    Examples
    --------
    >>> from bncheck.check.tolerances import MODEL_MATCH
    >>> MODEL_MATCH.allowed(10.0)
    104.0
    """

    budgets: float
    ulp: float

    def allowed(self, budget: float) -> float:
        """budgets·budget + ulp: the normwise ULP a model may be off for an output of
        ``budget``.

        Examples
        --------
        >>> from bncheck.check.tolerances import MODEL_MATCH
        >>> MODEL_MATCH.allowed(0.0)
        64.0
        """
        return self.budgets * budget + self.ulp


#: The slack of a mistake's model, evaluated in float64 (module docstring).
MODEL_MATCH = ModelMatch(budgets=4.0, ulp=64.0)

#: A fitted coefficient equals a candidate value within this relative tolerance (module
#: docstring, "Fit residuals").
FIT_COEFFICIENT = 2e-3


@dataclass(frozen=True, kw_only=True)
class Inference:
    """The thresholds by which verify reads a value a target does not state off its outputs
    (float64 probes, so each is far above float64 rounding and far below what it tells apart).

    - ``informative_step``: a channel's first running-mean update tells the momentum only if the
      batch mean moved the statistic by more than this, relative to |batch mean| + 1 (a step of
      1e-3 leaves the recovered weight ~1e-13 relative rounding, while a channel whose batch
      mean sits on the old value says nothing);
    - ``weight_spread``: the weights recovered in the informative channels are one momentum only
      if they agree within this, relative (rounding gives ~1e-13; a per-channel or batch-size
      dependent update differs by far more);
    - ``eps_visible``: an eps estimate 1/s² − var counts only where it exceeds this fraction of
      the channel's variance (below it, rounding of the slope dominates);
    - ``eps_agreement``: channels of variances 1e-2, 1e-4, 1e-6 must give one eps within this,
      relative (eps outside the root would give estimates differing by orders of magnitude).

    Examples
    --------
    >>> from bncheck.check.tolerances import INFERENCE
    >>> INFERENCE.informative_step, INFERENCE.eps_agreement
    (0.001, 0.01)
    """

    informative_step: float
    weight_spread: float
    eps_visible: float
    eps_agreement: float


#: verify's inference thresholds (:class:`Inference`)
INFERENCE = Inference(
    informative_step=1e-3, weight_spread=1e-6, eps_visible=1e-6, eps_agreement=1e-2
)


@dataclass(frozen=True, kw_only=True)
class LargeTruth:
    """When verify judges against the double-double reference instead of the mpmath truth
    (:mod:`bncheck.check._verify.checks.large_truth`), and the cancellation it accepts.

    - ``mpmath_values``: cases of more values than this (C·m) use the reference: mpmath costs
      about 10 µs per value, so a 65 536-value channel alone would take seconds;
    - ``max_cancellation``: the reference computes every value in double-double (about 106
      bits; each operation errs by at most ~2^-100 of its operands' size), so a value formed by
      cancelling operands ρ times its own size errs by at most ρ·2^-100 relative. It refuses a
      case with ρ > 2^40 anywhere (x − mean, gamma·x_hat + beta, the backward's bracket
      m·dy − Σdy − x_hat·Σ(dy·x_hat), the sum Σ(dy·x_hat)), so its results are within 2^-60
      relative of the exact values before the one rounding to float64: the correctly rounded
      truth, or a neighbour when the exact value lies within 2^-60 of a rounding boundary,
      which the +1 ULP every budget allots to the truth's own rounding covers
      (:func:`bncheck.check.metrics.compare`). No budget changes: the reference stands in
      for the truth exactly where it is as good as the truth.

    Examples
    --------
    >>> from bncheck.check.tolerances import LARGE_TRUTH
    >>> LARGE_TRUTH.mpmath_values, LARGE_TRUTH.max_cancellation == 2.0**40
    (4096, True)
    """

    mpmath_values: int
    max_cancellation: float


#: the truth for large inputs (:class:`LargeTruth`)
LARGE_TRUTH = LargeTruth(mpmath_values=4096, max_cancellation=2.0**40)

#: The fitted variance-path coefficient b reads as "dvar without eps" within this relative
#: tolerance of ((var + eps)/var)^(3/2), and only where that value differs from 1 by more than
#: the same margin (so that eps that does not matter cannot be named as missing): five times
#: FIT_COEFFICIENT, since b is fitted through the x_hat·mean(dy·x_hat) term, the smallest of the
#: fit's terms (for the same reason every reading of b as a size or a sign uses it: a float32
#: target's b is off by ~1e-3 on the probes' hardest regime); like every fit threshold it only
#: proposes a name that a model then confirms within MODEL_MATCH.
FIT_DVAR_COEFFICIENT = 1e-2


@dataclass(frozen=True, kw_only=True)
class Tolerances:
    """Every tolerance bncheck uses for one dtype: a row of :data:`TOLERANCES`.

    The module docstring derives each field.

    Examples
    --------
    >>> from bncheck.check.tolerances import TOLERANCES
    >>> TOLERANCES["float32"].rounded_once_ulp, TOLERANCES["float64"].rounded_once_ulp
    (1.0, None)
    """

    dtype: str
    #: u = eps/2 of the dtype
    unit_roundoff: float
    #: accuracy target of bncheck's own BN, normwise ULP
    target_ulp: float
    #: bncheck's BN computed in float64 and rounded once to this dtype, normwise ULP (None in
    #: float64, which has ``worst_case`` instead)
    rounded_once_ulp: float | None
    #: the worst-case bound of a float64 computation (None for the narrow dtypes)
    worst_case: WorstCase | None
    #: the running-statistics budget of verify
    running: RunningBudget
    #: λ of the probabilistic summation bound of :func:`error_budget`
    summation_lambda: float
    #: the largest relative residual of a fit for its form to count (verify's diagnosis)
    fit_residual: float
    #: the framework probe steps computed in this dtype (None: no probe runs in it)
    probe: FrameworkProbe | None


_WORST_CASE = WorstCase(factor=2.0, roundings=10)
_RUNNING = RunningBudget(per_step=8, per_value=4)

#: The one table of tolerances, keyed by dtype name.
TOLERANCES: dict[str, Tolerances] = {
    "float16": Tolerances(
        dtype="float16",
        unit_roundoff=2.0**-11,
        target_ulp=2.0,
        rounded_once_ulp=1.0,
        worst_case=None,
        running=_RUNNING,
        summation_lambda=LAMBDA,
        fit_residual=3e-2,
        probe=None,
    ),
    "float32": Tolerances(
        dtype="float32",
        unit_roundoff=2.0**-24,
        target_ulp=2.0,
        rounded_once_ulp=1.0,
        worst_case=None,
        running=_RUNNING,
        summation_lambda=LAMBDA,
        fit_residual=1e-3,
        probe=FrameworkProbe(update_tol=1e-4, one_pass_offset=1e4, one_pass_limit=5e-2),
    ),
    "float64": Tolerances(
        dtype="float64",
        unit_roundoff=2.0**-53,
        target_ulp=4.0,
        rounded_once_ulp=None,
        worst_case=_WORST_CASE,
        running=_RUNNING,
        summation_lambda=LAMBDA,
        fit_residual=1e-6,
        probe=FrameworkProbe(update_tol=1e-9, one_pass_offset=1e8, one_pass_limit=1e-6),
    ),
}

#: The accuracy targets of bncheck's own BN, normwise ULP by dtype name (a column of the table).
TARGET_ULP: Mapping[str, float] = {name: row.target_ulp for name, row in TOLERANCES.items()}


def _float_dtype(dtype: DTypeLike, name: str = "dtype") -> np.dtype[Any]:
    try:
        dt: np.dtype[Any] = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"{name}={dtype!r} is not a dtype; expected a floating dtype") from exc
    if dt.kind != "f":
        raise ValueError(
            f"{name}={dtype!r} is not a floating dtype; expected one of {', '.join(TOLERANCES)}"
        )
    return dt


def for_dtype(dtype: DTypeLike) -> Tolerances:
    """The row of :data:`TOLERANCES` for ``dtype`` (a name, a NumPy type or a dtype).

    Raises ValueError for a dtype without a row.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.tolerances import for_dtype
    >>> for_dtype(np.float32).target_ulp
    2.0
    >>> for_dtype("float64").worst_case
    WorstCase(factor=2.0, roundings=10)
    """
    name = _float_dtype(dtype).name
    if name not in TOLERANCES:
        raise ValueError(
            f"dtype={dtype!r} has no tolerances; expected one of {', '.join(TOLERANCES)}"
        )
    return TOLERANCES[name]


def unit_roundoff(dtype: DTypeLike) -> float:
    """u = eps/2 of the dtype: 2^-11 (float16), 2^-24 (float32), 2^-53 (float64).

    The table's value for its dtypes; eps/2 of any other floating dtype (a layer under verify
    may store its statistics in, say, longdouble).

    Examples
    --------
    >>> from bncheck.check.tolerances import unit_roundoff
    >>> unit_roundoff("float16") == 2.0**-11
    True
    """
    dt = _float_dtype(dtype)
    row = TOLERANCES.get(dt.name)
    return row.unit_roundoff if row is not None else float(np.finfo(dt).eps) / 2.0


def worst_case_k(m: int) -> float:
    """K(m) = 2·(m + 10): the worst-case float64 bound, in units of u·scale, for m values per
    channel (module docstring, "Worst case").

    Examples
    --------
    >>> from bncheck.check.tolerances import worst_case_k
    >>> worst_case_k(64)
    148.0
    """
    wc = TOLERANCES["float64"].worst_case
    assert wc is not None
    return wc.factor * (m + wc.roundings)


def running_budget(t: int, m: int, dtype: DTypeLike) -> float:
    """(8t + 4m)·u: the allowed error of running statistics after t updates with batches of m
    values per channel, relative to max(|expected|, 1) (module docstring, "Running
    statistics"); u of ``dtype``, the dtype they are stored in.

    Examples
    --------
    >>> from bncheck.check.tolerances import running_budget
    >>> running_budget(1, 16, "float32") == (8 + 64) * 2.0**-24
    True
    """
    row = TOLERANCES.get(_float_dtype(dtype).name)
    rb = _RUNNING if row is None else row.running  # a dtype without a row: the shared budget
    return (rb.per_step * t + rb.per_value * m) * unit_roundoff(dtype)


def fit_residual(dtype: DTypeLike) -> float:
    """The ``fit_residual`` of ``dtype``'s row; float64's for a dtype without a row (module
    docstring, "Fit residuals").

    Examples
    --------
    >>> from bncheck.check.tolerances import fit_residual
    >>> fit_residual("float16"), fit_residual("float32"), fit_residual("longdouble")
    (0.03, 0.001, 1e-06)
    """
    row = TOLERANCES.get(_float_dtype(dtype).name, TOLERANCES["float64"])
    return row.fit_residual


#: how many times its measured error one evaluation of a target may err at the nearby points a
#: finite difference evaluates (module docstring, "Finite differences")
FD_NOISE_MARGIN = 8.0


def fd_noise(
    budgets: Sequence[float], dtype: DTypeLike, *, measured: Sequence[float] | None = None
) -> float:
    """The normwise relative error of one forward or backward evaluation of a target, the
    ``noise`` of :func:`bncheck.check.gradient_check.check_directional` (module docstring,
    "Finite differences"): u·max(budgets) for a target known only to be within its budgets
    (normwise ULP of ``dtype``). With ``measured``, the target's own normwise ULP error per
    output on the case being differenced (against the truth), each output's noise is
    :data:`FD_NOISE_MARGIN` times its measured error (at least 1 ULP) and never more than its
    budget. A budget that is not finite counts as 1 ULP.

    Examples
    --------
    >>> from bncheck.check.tolerances import FD_NOISE_MARGIN, fd_noise
    >>> fd_noise([300.0, 1000.0], "float64") == 1000.0 * 2.0**-53
    True
    >>> fd_noise([300.0, 1000.0], "float64", measured=[2.0, 0.5]) == 8 * 2 * 2.0**-53
    True
    >>> fd_noise([300.0, 1000.0], "float64", measured=[5e3, 0.5]) == 300.0 * 2.0**-53
    True
    """
    bounds = [float(b) if np.isfinite(b) else 1.0 for b in budgets] or [1.0]
    if measured is None:
        return max(bounds) * unit_roundoff(dtype)
    noise = [
        min(FD_NOISE_MARGIN * max(float(e), 1.0), b) if np.isfinite(e) else b
        for e, b in zip(measured, bounds, strict=True)
    ]
    return max(noise) * unit_roundoff(dtype)


class _Row(NamedTuple):
    """c: elementwise roundings on a path (doubled for products of perturbed factors);
    second_order: whether the output depends on the statistics (then Δmu² matters)."""

    c: float
    second_order: bool


#: One row per output: the constant c and whether the Δmu² term applies.
BUDGET_TABLE: dict[str, _Row] = {
    "y": _Row(16.0, True),
    "dx": _Row(16.0, True),
    "dgamma": _Row(16.0, True),
    "dbeta": _Row(4.0, False),
}


def summation_factor(m: int, dtype: DTypeLike) -> float:
    """g = γ̃_m(λ)/u + 2 with γ̃_m(λ) = exp(λ√m·u + m·u²/(1 − u)) − 1 (in units of u).

    Examples
    --------
    >>> from bncheck.check.tolerances import summation_factor
    >>> round(summation_factor(100, "float32"), 3)  # λ·√m + 2 to first order
    62.0
    """
    u = unit_roundoff(dtype)
    return math.expm1(LAMBDA * math.sqrt(m) * u + m * u * u / (1.0 - u)) / u + 2.0


def error_budget(
    output: str,
    dtype: DTypeLike,
    *,
    m: int,
    condition: float,
    shift_condition: float = 1.0,
    scale_sensitivity: float | None = None,
) -> float:
    """Allowed normwise ULP of ``output`` for a correct plain two-pass BN computing in ``dtype``.

        budget = (g + c) · K  +  g² · u · kappa_s² · K2

    See the module docstring ("Probabilistic budget") for the derivation of every term.

    Parameters
    ----------
    output : {"y", "dx", "dgamma", "dbeta"}
    dtype : the dtype the implementation computes in (and is judged in)
    m : values per channel
    condition : K, the output's first-order condition
        (:func:`bncheck.check.metrics.output_condition`)
    shift_condition : kappa_s = max|x|/sqrt(var + eps)
        (:func:`bncheck.check.metrics.channel_condition`); it enters only the second-order
        term (the squared error of the mean in the variance)
    scale_sensitivity : K2, the output's sensitivity to a relative error of s, in units of the
        output's scale (2 for y); None uses the bound 2·K. Ignored for dbeta.

    Examples
    --------
    >>> from bncheck.check.tolerances import error_budget
    >>> round(error_budget("dbeta", "float32", m=100, condition=1.0), 3)
    66.0
    """
    k2 = 2.0 * condition if scale_sensitivity is None else scale_sensitivity
    return float(
        error_budgets(
            output, dtype, m=m, condition=condition, shift_condition=shift_condition, k2=k2
        )
    )


def error_budgets(
    output: str, dtype: DTypeLike, *, m: int, condition: Any, shift_condition: Any, k2: Any
) -> Any:
    """:func:`error_budget` of many columns at once (arrays of K, kappa_s and K2 of the same
    shape): the same formula, element by element, the same floats.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.tolerances import error_budget, error_budgets
    >>> k = np.array([1.0, 3.0])
    >>> many = error_budgets("dx", "float32", m=100, condition=k, shift_condition=k, k2=2 * k)
    >>> one = [error_budget("dx", "float32", m=100, condition=c, shift_condition=c) for c in k]
    >>> bool(np.array_equal(many, one))
    True
    """
    if output not in BUDGET_TABLE:
        raise ValueError(f"output={output!r} is unknown; expected one of {sorted(BUDGET_TABLE)}")
    if m < 1:
        raise ValueError(f"m={m} must be >= 1")
    row = BUDGET_TABLE[output]
    u = unit_roundoff(dtype)
    g = summation_factor(m, dtype)
    k = np.asarray(condition, dtype=np.float64)
    base = (g + row.c) * k
    if not row.second_order:
        return base
    ks = np.asarray(shift_condition, dtype=np.float64)
    return base + g * g * u * (ks * ks) * np.asarray(k2, dtype=np.float64)
