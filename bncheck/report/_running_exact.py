"""Simulations 5–7 behind ``running_stats.md``: running and batch statistics against exact ones
(precise BN, the train/eval output gap, count-weighted against equal-weight shard merging).
Pure: arrays in, NamedTuples out, no I/O; notation and the other sections in
:mod:`bncheck.report.running_simulation`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from bncheck.bn.functional import batchnorm_forward
from bncheck.bn.inference import batchnorm_inference
from bncheck.bn.running import get_convention, merge_shards
from bncheck.report._portable import matmul
from bncheck.report.running_simulation import F64, FloatArray, expected_sigma_b, layer

__all__ = ["Gap", "Merging", "Precise", "merging", "precise_bn", "train_eval_gap"]


# -- 5. precise BN -----------------------------------------------------------------------------
#: the running estimators trained alongside the drifting weights: (label, convention, momentum)
PRECISE_RUNS: tuple[tuple[str, str, float | None], ...] = (
    ("EMA torch(0.1)", "torch", 0.1),
    ("EMA keras(0.99)", "keras", 0.99),
    ("cumulative", "cumulative", None),
)


class Precise(NamedTuple):
    n_data: int
    m: int
    channels: int
    train_steps: int
    labels: tuple[str, ...]
    # rows: PRECISE_RUNS; columns: RMS over channels of (R_mean − mu)/sigma, R_var/sigma² − 1,
    # and the RMS eval-output difference against normalizing with the exact statistics
    run_err: F64  # (runs, 3)
    ks: F64  # 1..K recomputation batches
    precise_err: F64  # (K, 3): the same three, RMS over reps, for precise BN after k batches
    theory_mean: F64  # (K,): sqrt((N − m)/((N − 1)·m·k))
    theory_var: F64  # (K,): sqrt(2/((m − 1)·k)), normal data, N ≫ m·k


def _errors(rmean: FloatArray, rvar: FloatArray, h: F64, mu: F64, var: F64, eps: float) -> F64:
    y_run = batchnorm_inference(h, None, None, rmean, rvar, eps=eps, axis=1)
    y_exact = batchnorm_inference(h, None, None, mu, var, eps=eps, axis=1)
    return np.array(
        [
            math.sqrt(np.mean((rmean - mu) ** 2 / var)),
            math.sqrt(np.mean((rvar / var - 1.0) ** 2)),
            math.sqrt(np.mean((y_run - y_exact) ** 2)),
        ]
    )


def precise_bn(
    rng: np.random.Generator,
    n_data: int,
    train_steps: int,
    k_max: int,
    reps: int,
    m: int = 32,
    channels: int = 32,
    d: int = 8,
) -> Precise:
    """Training with drifting weights, then the running statistics against the exact ones.

    The BN input is h = x·W_t for rows x of a fixed data set (N rows, d features, mean 1) and
    weights moving linearly, W_t = W_0 + (t/T)·Δ, as under a constant learning rate. Exact
    population statistics of the final model: bncheck's batch mean and biased variance of
    X·W_T over all N rows. Precise BN: freeze W_T and average k batches with the cumulative
    (unbiased) convention; its mean error has variance sigma²·(N − m)/((N − 1)·m·k) (batches
    drawn independently, each without replacement).
    """
    eps = 1e-5
    x_data = rng.normal(1.0, 1.0, size=(n_data, d))
    w0 = rng.normal(0.0, 1.0 / math.sqrt(d), size=(d, channels))
    delta = rng.normal(0.0, 0.6 / math.sqrt(d), size=(d, channels))
    layers = [
        layer(channels, conv, mom, get_convention(conv).unbiased) for _, conv, mom in PRECISE_RUNS
    ]
    for t in range(1, train_steps + 1):
        idx = rng.choice(n_data, size=m, replace=False)
        h = matmul(x_data[idx], w0 + (t / train_steps) * delta)
        for bn in layers:
            bn(h)
    h_all = matmul(x_data, w0 + delta)
    _, cache = batchnorm_forward(h_all, None, None, eps=eps, axis=1)
    mu, var = cache.mean, cache.var
    run_err = np.array(
        [_errors(bn.running_mean, bn.running_var, h_all, mu, var, eps) for bn in layers]
    )
    sq = np.zeros((k_max, 3))
    for _ in range(reps):
        bn = layer(channels, "cumulative", None, True)
        for k in range(k_max):
            bn(h_all[rng.choice(n_data, size=m, replace=False)])
            sq[k] += _errors(bn.running_mean, bn.running_var, h_all, mu, var, eps) ** 2
    ks = np.arange(1, k_max + 1, dtype=np.float64)
    return Precise(
        n_data,
        m,
        channels,
        train_steps,
        tuple(r[0] for r in PRECISE_RUNS),
        run_err,
        ks,
        np.sqrt(sq / reps),
        np.sqrt((n_data - m) / ((n_data - 1) * m * ks)),
        np.sqrt(2.0 / ((m - 1) * ks)),
    )


# -- 6. train/eval output gap -----------------------------------------------------------------
class Gap(NamedTuple):
    ms: tuple[int, ...]
    sim: F64  # E[(y_train − y_eval)²] per m
    se: F64
    exact: F64  # 2 − 2·E[sigma_B]/sigma (eps → 0)
    asymptotic: F64  # 3/(2m)
    bins: F64  # centres of x_hat bins
    cond_ms: tuple[int, ...]
    cond: F64  # (len(cond_ms), bins): m·E[(y_train − y_eval)² | x_hat in bin]


def train_eval_gap(rng: np.random.Generator, ms: tuple[int, ...], values: int) -> Gap:
    """y_train normalizes with the batch statistics, y_eval with the population's (mu, sigma²).

    Exact for eps → 0: averaged over the batch, Σ_i (x_i − mu_B)(x_i − mu) = m·sigma_B², so
    E[y_train·y_eval] = E[sigma_B]/sigma while E[y_train²] = E[y_eval²] = 1, hence
    E[(y_train − y_eval)²] = 2 − 2·E[sigma_B]/sigma ≈ 3/(2m). Conditionally on
    x_hat = (x − mu)/sigma, the delta method gives y_train − y_eval ≈ −δmu − x_hat·δv/2 with
    Var δmu = 1/m, Var δv ≈ 2/m, so E[(y_train − y_eval)² | x_hat] ≈ (1 + x_hat²/2)/m.
    """
    mu, sigma, eps = 1.0, 2.0, 1e-5
    edges = np.linspace(-3.0, 3.0, 13)
    cond_ms = tuple(m for m in ms if m in (16, 64))
    sim, se = np.empty(len(ms)), np.empty(len(ms))
    cond = np.empty((len(cond_ms), len(edges) - 1))
    for j, m in enumerate(ms):
        reps = values // m
        x = rng.normal(mu, sigma, size=(m, reps))
        y_train, _ = batchnorm_forward(x, None, None, eps=eps, axis=1)
        pop_mu, pop_var = np.full(reps, mu), np.full(reps, sigma**2)
        y_eval = batchnorm_inference(x, None, None, pop_mu, pop_var, eps=eps, axis=1)
        d2 = (y_train - y_eval) ** 2
        per_batch = d2.mean(axis=0)
        sim[j], se[j] = per_batch.mean(), per_batch.std(ddof=1) / math.sqrt(reps)
        if m in cond_ms:
            x_hat = ((x - mu) / sigma).ravel()
            which = np.digitize(x_hat, edges) - 1
            ok = (which >= 0) & (which < len(edges) - 1)
            counts = np.bincount(which[ok], minlength=len(edges) - 1)
            total = np.bincount(which[ok], weights=d2.ravel()[ok], minlength=len(edges) - 1)
            cond[cond_ms.index(m)] = m * total / np.maximum(counts, 1)
    exact = np.array([2.0 - 2.0 * expected_sigma_b(m) for m in ms])
    centres = (edges[:-1] + edges[1:]) / 2
    return Gap(
        tuple(ms),
        sim,
        se,
        exact,
        1.5 / np.asarray(ms, dtype=np.float64),
        centres,
        cond_ms,
        cond,
    )


# -- 7. count-weighted against equal-weight merging -------------------------------------------
SHARD_PATTERNS: tuple[tuple[int, ...], ...] = (
    (16, 16, 16, 16),
    (8, 56),
    (2, 6, 24, 32),
    (4, 4, 4, 52),
    (1, 3, 60),
    (40, 16, 4, 2, 1, 1),
)


class Merging(NamedTuple):
    patterns: tuple[tuple[int, ...], ...]
    replicas: int
    chan_err: F64  # (patterns, 2): max over replicas of |mean err|/sigma, |var err|/sigma²
    eq_mean_rms: F64  # (patterns,): RMS of (equal-weight mean − whole mean)/sigma
    eq_mean_theory: F64  # sqrt(Σ_s (1/S − n_s/n)²/n_s)
    eq_var_bias: F64  # E[equal-weight var − whole var]/sigma²
    eq_var_se: F64
    eq_var_theory: F64  # (1/S)·Σ (n_s − 1)/n_s − (n − 1)/n


def merging(rng: np.random.Generator, replicas: int) -> Merging:
    """Shards of one batch of n = 64 values from N(5, 2²), merged two ways, against the truth.

    The whole-batch truth is bncheck's batch mean and biased variance of all n values. Chan's
    count-weighted merge (:func:`bncheck.bn.running.merge_shards`) reproduces it to rounding. The
    equal-weight average of the shard means differs from it by Σ_s (1/S − n_s/n)·mean_s, of
    variance sigma²·Σ_s (1/S − n_s/n)²/n_s; the equal-weight average of the shards' biased
    variances has expectation sigma²·(1/S)·Σ_s (n_s − 1)/n_s instead of sigma²·(n − 1)/n.
    """
    mu, sigma = 5.0, 2.0
    k = len(SHARD_PATTERNS)
    chan_err, eq_rms, eq_th = np.empty((k, 2)), np.empty(k), np.empty(k)
    eq_bias, eq_se, eq_vth = np.empty(k), np.empty(k), np.empty(k)
    for j, sizes in enumerate(SHARD_PATTERNS):
        n, s = sum(sizes), len(sizes)
        x = rng.normal(mu, sigma, size=(n, replicas))
        _, cache = batchnorm_forward(x, None, None, axis=1)
        shards = np.split(x, np.cumsum(sizes)[:-1], axis=0)
        means = np.stack([sh.mean(axis=0) for sh in shards])
        m2s = np.stack([((sh - sh.mean(axis=0)) ** 2).sum(axis=0) for sh in shards])
        total, c_mean, c_m2 = merge_shards(list(sizes), means, m2s)
        chan_err[j] = [
            np.max(np.abs(c_mean - cache.mean)) / sigma,
            np.max(np.abs(c_m2 / total - cache.var)) / sigma**2,
        ]
        eq_mean = means.mean(axis=0)
        eq_var = (m2s / np.asarray(sizes, dtype=np.float64)[:, None]).mean(axis=0)
        eq_rms[j] = math.sqrt(np.mean((eq_mean - cache.mean) ** 2)) / sigma
        eq_th[j] = math.sqrt(sum((1 / s - ns / n) ** 2 / ns for ns in sizes))
        dv = (eq_var - cache.var) / sigma**2
        eq_bias[j], eq_se[j] = dv.mean(), dv.std(ddof=1) / math.sqrt(replicas)
        eq_vth[j] = sum((ns - 1) / ns for ns in sizes) / s - (n - 1) / n
    return Merging(SHARD_PATTERNS, replicas, chan_err, eq_rms, eq_th, eq_bias, eq_se, eq_vth)
