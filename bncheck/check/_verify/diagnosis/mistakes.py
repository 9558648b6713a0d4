"""The catalogue of known BN mistakes: one table, used to diagnose a failing target.

Each numeric row computes, in float64, what an implementation with that one mistake outputs
for a given input; a failing target whose outputs match a row's (within the same error budget
as the truth comparison) is diagnosed with that row. Behaviour rows (running statistics, eval
mode, mutation) are matched by the checks that observe the behaviour and carry no formula.

Notation (per channel, m values): xc = x − mu, var = mean(xc²), inv = 1/sqrt(var + eps),
x_hat = xc·inv, S1 = Σ dy, S2 = Σ dy·x_hat. The correct results are y = g·x_hat + b,
dgamma = S2, dbeta = S1, dx = g·inv·(dy − S1/m − x_hat·S2/m).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bncheck.bn.running import CONVENTIONS, Convention
from bncheck.check.norms import BATCH_NORM, NormSpec

F64 = NDArray[np.float64]
Outputs = dict[str, F64]

__all__ = ["MISTAKES", "Mistake", "mistake_outputs"]


@dataclass(frozen=True)
class Mistake:
    """A known BN mistake. ``outputs``: what it changes (outputs, or a behaviour check id)."""

    id: str
    description: str
    fix: str
    outputs: tuple[str, ...]
    compute: Callable[..., Outputs] | None = None
    #: a mistake of BN's (N, C, H, W) layout itself (only that rank, only BATCH_NORM)
    only_ndim: int | None = None


class _S:
    """Per-channel quantities of the correct computation on (m, C) columns."""

    def __init__(self, x: F64, dy: F64, eps: float, ddof: int = 0, eps_outside: bool = False):
        self.m = x.shape[0]
        self.xc = x - x.mean(axis=0)
        self.var = (self.xc**2).sum(axis=0) / (self.m - ddof)
        self.sd = np.sqrt(self.var) + eps if eps_outside else np.sqrt(self.var + eps)
        self.inv = 1.0 / self.sd
        self.x_hat = self.xc * self.inv
        self.dy = dy
        self.s1 = dy.sum(axis=0)
        self.s2 = (dy * self.x_hat).sum(axis=0)


def _wrap(
    fn: Callable[[F64, F64, F64, F64, float], Outputs],
) -> Callable[..., Outputs]:
    """Lift a (m, C)-columns formula to arrays of x's layout (the columns of ``spec``)."""

    def lifted(x: F64, g: F64, b: F64, dy: F64, eps: float, spec: NormSpec = BATCH_NORM) -> Outputs:
        out = fn(spec.columns(x), g, b, spec.columns(dy), eps)
        return {k: (spec.from_columns(v, x.shape) if v.ndim == 2 else v) for k, v in out.items()}

    return lifted


def _dx(s: _S, g: F64, mu_term: F64 | float, var_term: F64 | float) -> F64:
    dx: F64 = g * s.inv * (s.dy - mu_term - var_term)
    return dx


@_wrap
def _missing_mu_path(x: F64, g: F64, b: F64, dy: F64, eps: float) -> Outputs:
    s = _S(x, dy, eps)
    return {"dx": _dx(s, g, 0.0, s.x_hat * s.s2 / s.m)}


@_wrap
def _missing_var_path(x: F64, g: F64, b: F64, dy: F64, eps: float) -> Outputs:
    s = _S(x, dy, eps)
    return {"dx": _dx(s, g, s.s1 / s.m, 0.0)}


@_wrap
def _missing_sum_dmu(x: F64, g: F64, b: F64, dy: F64, eps: float) -> Outputs:
    # the source's eq (18): dJ/dmu_B = −delta·gamma/sqrt(var + eps), per element, no Σ
    s = _S(x, dy, eps)
    return {"dx": _dx(s, g, s.dy / s.m, s.x_hat * s.s2 / s.m)}


@_wrap
def _eps_outside_sqrt(x: F64, g: F64, b: F64, dy: F64, eps: float) -> Outputs:
    # y = g·xc/(sqrt(var) + eps); dL/dvar = −g·Σ dy·xc/(s²·2·sqrt(var)), dvar/dx = 2·xc/m
    s = _S(x, dy, eps, eps_outside=True)
    sdyxc = (dy * s.xc).sum(axis=0)
    dx = g * s.inv * (dy - s.s1 / s.m) - g * sdyxc * s.inv**2 * s.xc / (np.sqrt(s.var) * s.m)
    return {"y": g * s.x_hat + b, "dx": dx, "dgamma": s.s2}


@_wrap
def _unbiased_normalize(x: F64, g: F64, b: F64, dy: F64, eps: float) -> Outputs:
    # var_u = Σ xc²/(m − 1); dL/dvar_u = −g/2·Σ dy·xc·inv³, dvar_u/dx = 2·xc/(m − 1)
    s = _S(x, dy, eps, ddof=1)
    sdyxc = (dy * s.xc).sum(axis=0)
    dx = g * s.inv * (dy - s.s1 / s.m) - g * s.inv**3 * s.xc * sdyxc / (s.m - 1)
    return {"y": g * s.x_hat + b, "dx": dx, "dgamma": s.s2}


@_wrap
def _eps_twice(x: F64, g: F64, b: F64, dy: F64, eps: float) -> Outputs:
    s = _S(x, dy, 2 * eps)
    return {"y": g * s.x_hat + b, "dx": _dx(s, g, s.s1 / s.m, s.x_hat * s.s2 / s.m), "dgamma": s.s2}


@_wrap
def _eps_missing(x: F64, g: F64, b: F64, dy: F64, eps: float) -> Outputs:
    s = _S(x, dy, 0.0)
    return {"y": g * s.x_hat + b, "dx": _dx(s, g, s.s1 / s.m, s.x_hat * s.s2 / s.m), "dgamma": s.s2}


@_wrap
def _dgamma_from_xc(x: F64, g: F64, b: F64, dy: F64, eps: float) -> Outputs:
    s = _S(x, dy, eps)
    return {"dgamma": (dy * s.xc).sum(axis=0)}


@_wrap
def _dbeta_mean(x: F64, g: F64, b: F64, dy: F64, eps: float) -> Outputs:
    s = _S(x, dy, eps)
    return {"dbeta": s.s1 / s.m}


@_wrap
def _missing_gamma(x: F64, g: F64, b: F64, dy: F64, eps: float) -> Outputs:
    s = _S(x, dy, eps)
    return {"dx": _dx(s, np.ones_like(g), s.s1 / s.m, s.x_hat * s.s2 / s.m)}


def _wrong_axes(
    x: F64, g: F64, b: F64, dy: F64, eps: float, spec: NormSpec = BATCH_NORM
) -> Outputs:
    """(N, C, H, W) normalized over N only: statistics per (c, h, w) position."""
    n = x.shape[0]
    flat = np.asarray(x, dtype=np.float64).reshape(n, -1)
    d = np.asarray(dy, dtype=np.float64).reshape(n, -1)
    per = int(np.prod(x.shape[2:]))
    gf, bf = np.repeat(g, per), np.repeat(b, per)
    s = _S(flat, d, eps)
    dx = _dx(s, gf, s.s1 / s.m, s.x_hat * s.s2 / s.m)
    return {
        "y": (gf * s.x_hat + bf).reshape(x.shape),
        "dx": dx.reshape(x.shape),
        "dgamma": s.s2.reshape(x.shape[1], per).sum(axis=1),
    }


def _reshape_no_transpose(
    x: F64, g: F64, b: F64, dy: F64, eps: float, spec: NormSpec = BATCH_NORM
) -> Outputs:
    """cs231n's spatial BN written as x.reshape(N·H·W, C) with no transpose to channels-last:
    the columns of that reshape mix channels and positions."""
    shape = x.shape
    c = shape[1]
    cols, dcols = x.reshape(-1, c), dy.reshape(-1, c)
    s = _S(cols, dcols, eps)
    dx = _dx(s, g, s.s1 / s.m, s.x_hat * s.s2 / s.m)
    return {
        "y": (g * s.x_hat + b).reshape(shape),
        "dx": dx.reshape(shape),
        "dgamma": s.s2,
        "dbeta": s.s1,
    }


def _names(keep: Callable[[Convention], bool]) -> str:
    """The conventions (rows of CONVENTIONS) that ``keep`` selects, as "a/b"."""
    return "/".join(name for name, conv in CONVENTIONS.items() if keep(conv))


MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "missing-mu-path",
        "dx lacks the path through mu_B (the −Σdy/m term)",
        "add dL/dmu_B · dmu_B/dx_i = −(gamma·inv_std/m)·Σ dy",
        ("dx",),
        _missing_mu_path,
    ),
    Mistake(
        "missing-var-path",
        "dx lacks the path through sigma2_B (−x_hat·Σ(dy·x_hat)/m)",
        "add dL/dsigma2_B · 2(x_i − mu_B)/m",
        ("dx",),
        _missing_var_path,
    ),
    Mistake(
        "missing-sum-dmu",
        "dJ/dmu_B without the sum over i (the source's eq 18 as printed)",
        "dJ/dmu_B = −gamma·inv_std·Σ_i dy_i",
        ("dx",),
        _missing_sum_dmu,
    ),
    Mistake(
        "eps-outside-sqrt",
        "normalizes by sqrt(var) + eps instead of sqrt(var + eps)",
        "x_hat = (x − mu)/sqrt(var + eps)",
        ("y", "dx", "dgamma"),
        _eps_outside_sqrt,
    ),
    Mistake(
        "unbiased-normalize",
        "normalizes with the unbiased variance Σ(x−mu)²/(m−1)",
        "training normalizes with the biased variance, eq (7): divide by m",
        ("y", "dx", "dgamma"),
        _unbiased_normalize,
    ),
    Mistake(
        "eps-twice",
        "eps added twice (sqrt(var + 2·eps))",
        "add eps once, inside the root",
        ("y", "dx", "dgamma"),
        _eps_twice,
    ),
    Mistake(
        "dgamma-from-xc",
        "dgamma = Σ dy·(x − mu), not normalized",
        "dgamma = Σ dy·x_hat",
        ("dgamma",),
        _dgamma_from_xc,
    ),
    Mistake(
        "dbeta-mean",
        "dbeta = mean(dy) instead of Σ dy",
        "dbeta = Σ dy (a sum, not a mean)",
        ("dbeta",),
        _dbeta_mean,
    ),
    Mistake(
        "missing-gamma",
        "dx lacks the factor gamma",
        "dx = gamma·inv_std·(…)",
        ("dx",),
        _missing_gamma,
    ),
    Mistake(
        "wrong-axes",
        "(N, C, H, W) reduced over N only, not over N, H and W",
        "reduce over every axis except the channel axis (a BN written for (N, D) input, "
        "x.mean(axis=0), does this on 4-D input: if it is meant for 2-D input only, "
        "--ndims 2 checks that alone)",
        ("y", "dx", "dgamma"),
        _wrong_axes,
        only_ndim=4,
    ),
    Mistake(
        "missing-mu-and-var-paths",
        "dx = gamma·dy/sqrt(var + eps): neither the path "
        "through mu_B nor the path through sigma2_B",
        "add both: dx = gamma·inv_std·(dy − mean(dy) − x_hat·mean(dy·x_hat))",
        ("dx",),
    ),
    Mistake(
        "dmu-sum-all-channels",
        "dJ/dmu_B summed over every channel (a sum without axis=0), not per channel",
        "sum over the batch axes only: np.sum(..., axis=0)",
        ("dx",),
    ),
    Mistake("dx-sign", "dx has the wrong sign", "dx = +gamma·inv_std·(dy − …)", ("dx",)),
    # constants of the dx fit read as a size of the batch or a sign (diagnosis/sizes.py):
    # named only when the model with the exact value reproduces dx; the fit line gives the value
    Mistake(
        "dx-not-divided-by-m",
        "dx is not divided by m: m times too large (c = m)",
        "dx = gamma·inv_std/m·(m·dy − Σdy − x_hat·Σ(dy·x_hat))",
        ("dx",),
    ),
    Mistake(
        "dx-scaled",
        "dx is off by a factor that is a size of the batch (the fit line gives which)",
        "dx = gamma·inv_std·(dy − mean(dy) − x_hat·mean(dy·x_hat)), with no other factor",
        ("dx",),
    ),
    Mistake(
        "dmu-path-sign",
        "the mean(dy) term of dx has the wrong sign (+Σdy/m instead of −Σdy/m)",
        "dx = gamma·inv_std·(dy − mean(dy) − x_hat·mean(dy·x_hat))",
        ("dx",),
    ),
    Mistake(
        "dvar-path-sign",
        "the x_hat term of dx has the wrong sign (+x_hat·mean(dy·x_hat) instead of −)",
        "dx = gamma·inv_std·(dy − mean(dy) − x_hat·mean(dy·x_hat))",
        ("dx",),
    ),
    Mistake(
        "dmu-path-scaled",
        "the mean(dy) term of dx is off by a factor that is a size of the batch "
        "(the fit line gives which)",
        "the path through mu_B is −Σdy/m, m the number of values per channel",
        ("dx",),
    ),
    Mistake(
        "dvar-path-scaled",
        "the x_hat term of dx is off by a factor that is a size of the batch "
        "(the fit line gives which)",
        "the path through sigma2_B is −x_hat·Σ(dy·x_hat)/m, m the number of values per channel",
        ("dx",),
    ),
    Mistake(
        "backward-sums-not-means",
        "the backward uses Σdy and Σ(dy·x_hat) where it needs their means (a = b = m)",
        "divide both sums by m, the number of values per channel",
        ("dx",),
    ),
    Mistake(
        "backward-means-over-n",
        "the backward's means divide by N instead of N·H·W: statistics over the batch axis "
        "alone (a = b = H·W)",
        "divide by m = N·H·W (every axis but the channel's), as the forward does",
        ("dx",),
    ),
    Mistake(
        "backward-means-scaled",
        "the backward's mean(dy) and mean(dy·x_hat) are divided by the wrong count (both off "
        "by the same size of the batch; the fit line gives which)",
        "divide both sums by m, the number of values per channel",
        ("dx",),
    ),
    Mistake(
        "backward-eps-outside-sqrt",
        "the backward divides by sqrt(var) + eps (eps added to the standard deviation) while "
        "the forward uses sqrt(var + eps)",
        "use the forward's inv_std = 1/sqrt(var + eps) in the backward (cache it)",
        ("dx", "dgamma"),
    ),
    Mistake(
        "backward-eps-missing",
        "the backward divides by sqrt(var) (no eps) while the forward uses sqrt(var + eps)",
        "use the forward's inv_std = 1/sqrt(var + eps) in the backward (cache it)",
        ("dx", "dgamma"),
    ),
    Mistake(
        "backward-eps-twice",
        "the backward divides by sqrt(var + 2·eps) while the forward uses sqrt(var + eps)",
        "use the forward's inv_std = 1/sqrt(var + eps) in the backward (cache it)",
        ("dx", "dgamma"),
    ),
    Mistake(
        "dvar-without-eps",
        "dJ/dsigma2_B uses var^(−3/2) instead of (var + eps)^(−3/2)",
        "dvar = −½·Σ dy·gamma·(x − mu)·(var + eps)^(−3/2)",
        ("dx",),
    ),
    Mistake(
        "swapped-dgamma-dbeta",
        "dgamma and dbeta are swapped",
        "return (dx, dgamma, dbeta) in that order: dgamma = Σ dy·x_hat, dbeta = Σ dy",
        ("dgamma", "dbeta"),
    ),
    Mistake(
        "dgamma-mean",
        "dgamma = mean(dy·x_hat) instead of Σ dy·x_hat",
        "a sum, not a mean",
        ("dgamma",),
    ),
    Mistake("dgamma-sign", "dgamma has the wrong sign", "dgamma = Σ dy·x_hat", ("dgamma",)),
    Mistake(
        "dgamma-scaled",
        "dgamma is Σ dy·x_hat times a size of the batch (the fit line gives which)",
        "dgamma = Σ dy·x_hat over every axis but the channel's, with no other factor",
        ("dgamma",),
    ),
    Mistake(
        "dbeta-scaled",
        "dbeta is Σ dy times a size of the batch (the fit line gives which)",
        "dbeta = Σ dy over every axis but the channel's, with no other factor",
        ("dbeta",),
    ),
    Mistake("dbeta-sign", "dbeta has the wrong sign", "dbeta = Σ dy", ("dbeta",)),
    Mistake(
        "eps-missing",
        "normalizes by sqrt(var) with no eps",
        "x_hat = (x − mu)/sqrt(var + eps)",
        ("y", "dx", "dgamma"),
        _eps_missing,
    ),
    Mistake(
        "missing-gamma-forward",
        "the forward output is not scaled by gamma",
        "y = gamma·x_hat + beta",
        ("y",),
    ),
    Mistake(
        "missing-beta", "the forward output does not add beta", "y = gamma·x_hat + beta", ("y",)
    ),
    Mistake("y-sign", "the forward output has the wrong sign", "y = gamma·x_hat + beta", ("y",)),
    Mistake(
        "float32-arithmetic",
        "computes in float32 internally (float64 input, float32 accuracy)",
        "compute in the input's dtype or wider; do not cast to float32",
        ("y", "dx", "dgamma", "dbeta"),
    ),
    Mistake(
        "eval-eps-in-running-var",
        "eps is stored inside the running variance (running_var "
        "= … + var + eps), so eval adds it a second time",
        "store the batch variance without eps; add eps only when normalizing",
        ("running",),
    ),
    Mistake(
        "eval-drops-affine",
        "eval mode returns x_hat without gamma and beta",
        "eval: y = gamma·(x − running_mean)/sqrt(running_var + eps) + beta",
        ("eval",),
    ),
    Mistake(
        "eval-eps-outside-sqrt",
        "eval mode divides by sqrt(running_var) + eps",
        "eval: divide by sqrt(running_var + eps)",
        ("eval",),
    ),
    Mistake(
        "eval-eps-twice", "eval mode adds eps twice", "add eps once, inside the root", ("eval",)
    ),
    Mistake(
        "eval-eps-missing",
        "eval mode divides by sqrt(running_var) with no eps",
        "eval: divide by sqrt(running_var + eps)",
        ("eval",),
    ),
    Mistake(
        "reshape-without-transpose",
        "(N, C, H, W) reshaped to (N·H·W, C) without moving "
        "the channel axis last first: each column mixes channels and positions",
        "x.transpose(0, 2, 3, 1).reshape(-1, C), and the inverse transpose afterwards",
        ("y", "dx", "dgamma", "dbeta"),
        _reshape_no_transpose,
        only_ndim=4,
    ),
    Mistake(
        "running-var-bias",
        "running variance biased where the convention wants unbiased (or the reverse)",
        f"{_names(lambda c: c.unbiased)} store m/(m−1)·sigma2_B, "
        f"{_names(lambda c: not c.unbiased)} sigma2_B",
        ("running",),
    ),
    Mistake(
        "momentum-swapped",
        "momentum used in the other convention's meaning "
        "(new = momentum·old + (1−momentum)·batch vs the reverse)",
        f"{_names(lambda c: c.allows_momentum and c.momentum_is_new_weight)}: new = "
        "(1−momentum)·old + momentum·batch; "
        f"{_names(lambda c: c.allows_momentum and not c.momentum_is_new_weight)}: the reverse",
        ("running",),
    ),
    # a fit, not a formula: matched by bncheck/check/_verify/diagnosis/debias.py
    Mistake(
        "debias-nonzero-start",
        "the running statistics are zero-debiased (hidden/(1 − d^t)) as if the hidden "
        "average started at 0, but it starts elsewhere (a running variance from 1): eval "
        "normalizes by statistics off by start·d^t/(1 − d^t) (99× the start after one step "
        "of d = 0.99, 9.5× after ten)",
        "start the hidden averages at 0 when dividing by 1 − d^t (or start them at 0 and 1 "
        "and do not debias)",
        ("running",),
    ),
    Mistake(
        "eval-batch-stats",
        "eval mode normalizes with the batch statistics",
        "eval must use running_mean and running_var",
        ("eval",),
    ),
    Mistake(
        "eval-stale",
        "eval keeps what it computed at an earlier eval (a folded scale and shift, a cached "
        "output): after more training or new gamma and beta it still normalizes with the "
        "running statistics and parameters of that earlier eval",
        "recompute the eval scale and shift from the current running statistics, gamma and "
        "beta (or invalidate the cache whenever any of them changes)",
        ("eval",),
    ),
    Mistake(
        "running-stats-shared",
        "the running statistics are shared between instances (a class-level or module-level "
        "buffer, updated in place): training one layer moves every other's",
        "give each instance its own running mean and variance (allocate them in __init__)",
        ("running",),
    ),
    Mistake(
        "state-updated-in-eval",
        "eval mode changes the running statistics",
        "update running statistics in training only",
        ("eval-state",),
    ),
    Mistake(
        "stateful-second-call",
        "a later forward/backward on the same instance is "
        "wrong (gradients accumulated across calls, statistics kept from an earlier "
        "batch, or corrections that start after a warm-up, as Batch Renormalization's)",
        "recompute everything from the current batch; reset gradients every backward",
        ("second-call",),
    ),
    Mistake(
        "running-stats-frozen",
        "the running mean and variance never change in training (the update is computed "
        "but not stored, or written to a copy): eval normalizes with their initial values",
        "assign the updated statistics back to the layer's own running mean and variance",
        ("running",),
    ),
    Mistake(
        "not-repeatable",
        "two calls on the same input give different results (unseeded randomness, a race "
        "between threads, uninitialized memory, or state kept across calls outside the "
        "instance)",
        "make each call a function of its inputs: seed or remove the randomness, make the "
        "reductions deterministic",
        ("repeatable",),
    ),
    Mistake(
        "cache-overwritten",
        "the cache a forward returns shares memory that the next forward overwrites (a "
        "workspace reused per shape), so a backward with an older cache uses the newer batch",
        "put arrays of its own in each cache (or copy out of a reused workspace)",
        ("older-cache",),
    ),
    Mistake(
        "output-overwritten",
        "an array the implementation returned (y or dx) is overwritten by a "
        "later call: it hands out a buffer it reuses (a workspace kept per shape), so a caller "
        "holding an earlier output (a second layer of the same shape, a skip connection) sees "
        "it change",
        "return arrays of the call's own (or copy out of the reused workspace)",
        ("no-mutation",),
    ),
    Mistake(
        "input-mutated",
        "the implementation modifies its input arrays in place",
        "work on copies; never write to x, gamma, beta or dy",
        ("no-mutation",),
    ),
    # the normalization family (verify --norm): matched by the member fit of
    # bncheck/check/_verify/checks/family.py
    Mistake(
        "wrong-reduction-axes",
        "the statistics are taken over the wrong set of values (a LayerNorm over the batch, "
        "an InstanceNorm over the batch as well, groups of the wrong channels): its outputs "
        "are another normalization's",
        "reduce over the axes of the normalization meant (the norm check says which it computes)",
        ("norm", "y", "dx", "dgamma"),
    ),
    Mistake(
        "rms-subtracts-mean",
        "an RMSNorm that subtracts the mean (it computes LayerNorm without beta)",
        "y = gamma·x/sqrt(mean(x²) + eps): no mean",
        ("norm", "y", "dx", "dgamma"),
    ),
    Mistake(
        "layer-without-mean",
        "a LayerNorm that does not subtract the mean (it computes RMSNorm over the same axes; "
        "T5's LayerNorm does so by design)",
        "subtract the mean: y = gamma·(x − mean)/sqrt(var + eps) + beta; or, if RMSNorm is "
        "meant, verify it with --norm rms",
        ("norm", "y", "dx", "dgamma"),
    ),
    # rounding, not a formula: matched by bncheck/check/_verify/diagnosis/one_pass.py
    Mistake(
        "one-pass-variance",
        "the batch variance is computed in one pass as E[x²] − E[x]² "
        "(Flax's use_fast_variance=True), which cancels catastrophically when the mean is "
        "large against the spread",
        "a two-pass variance, mean((x − mean)²) (Flax: "
        "use_fast_variance=False), or Welford's update",
        ("y", "dx", "dgamma"),
    ),
    # synchronized BN (verify --world-size): matched by diagnosis/sync_models.py
    Mistake(
        "sync-equal-weight-merge",
        "the ranks' statistics are averaged with equal weights "
        "(mean of the local means), wrong when shards hold different numbers of values",
        "weigh each rank by its count: mean = Σ n_r·mean_r / Σ n_r (all-reduce sums and "
        "counts, not means)",
        ("y", "dx", "dgamma", "running"),
    ),
    Mistake(
        "sync-missing-between-shard-variance",
        "the variance merges only the local "
        "variances (Σ n_r·var_r / n), without the spread of the local means",
        "add the between-shard term: var = [Σ M2_r + Σ n_r·(mean_r − mean)²] / n (Chan's "
        "merge), or all-reduce Σ(x − mean)² around the global mean",
        ("y", "dx", "dgamma", "running"),
    ),
    Mistake(
        "sync-local-gradient-sums",
        "backward uses each rank's own Σ dy and Σ dy·x_hat, not their sums over all ranks",
        "all-reduce Σ dy and Σ dy·x_hat in backward (an "
        "all-reduce autograd cannot see passes local gradients)",
        ("dx",),
    ),
    Mistake(
        "sync-one-pass-variance",
        "the variance is computed in one pass as E[x²] − E[x]² "
        "(all-reduced sums of x and x²), which cancels catastrophically when the mean is "
        "large against the spread",
        "merge (count, mean, Σ(x − mean)²) per rank with Chan's "
        "formula, or all-reduce Σ(x − mean)² around the global mean",
        ("y", "dx", "dgamma"),
    ),
)


def mistake_outputs(
    mistake: Mistake,
    x: Any,
    gamma: Any,
    beta: Any,
    dy: Any,
    eps: float,
    *,
    spec: NormSpec = BATCH_NORM,
) -> Outputs | None:
    """What an implementation with ``mistake`` outputs for this input (None: not numeric, not
    applicable to this input's ndim, or to ``spec``: the formulas are written for one gamma per
    column, as in Batch Normalization, and the layout rows for BN's (N, C, H, W) itself)."""
    if mistake.compute is None:
        return None
    xa = np.asarray(x, dtype=np.float64)
    if mistake.only_ndim is not None and (xa.ndim != mistake.only_ndim or spec != BATCH_NORM):
        return None
    if not spec.param_is_column(xa.ndim):
        return None
    c = spec.groups(xa.shape)
    g = np.ones(c) if gamma is None else np.asarray(gamma, dtype=np.float64)
    b = np.zeros(c) if beta is None else np.asarray(beta, dtype=np.float64)
    with np.errstate(all="ignore"):
        return mistake.compute(xa, g, b, np.asarray(dy, dtype=np.float64), eps, spec)
