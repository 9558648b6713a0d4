"""Measurements behind ``running_stats.md``: simulations of bncheck's running statistics and
the closed forms they are compared with. Pure: arrays in, NamedTuples out, no I/O.

Notation. A stream of batches of m values from N(mu, sigma²); the running estimate
R_t = (1 − a_t)·R_{t−1} + a_t·b_t folds in the batch statistic b_t with the new-batch weight
a_t (torch: a = momentum, keras: a = 1 − momentum, cumulative: a_t = 1/t). With e_t = R_t − θ
the error against the target θ = E[b_t] and V_b = Var(b_t):

    E[e_t]  = (1 − a)^t · e_0
    E[e_t²] = (1 − a)^{2t} · e_0²  +  a/(2 − a) · (1 − (1 − a)^{2t}) · V_b        (EMA)
    E[e_t²] = V_b / t                                                             (cumulative)

since Var(e_t) = (1 − a)²·Var(e_{t−1}) + a²·V_b sums a geometric series with ratio (1 − a)².
For normal data V_b = sigma²/m for the mean and 2·sigma⁴/(m − 1) for the unbiased variance
m/(m − 1)·sigma2_B (2·(m − 1)·sigma⁴/m² for the biased one), and E[sigma2_B] = (m − 1)/m·sigma².

Every simulation runs bncheck's own :class:`~bncheck.bn.layer.BatchNorm` (or
:func:`~bncheck.bn.running.update_running`, :func:`~bncheck.bn.running.merge_shards`) with
independent replicas along the channel axis, so one forward call advances all replicas.
Sections 1–4 of the report are simulated here; 5–7 (precise BN, the train/eval gap, shard
merging), which measure against exact statistics, in :mod:`bncheck.report._running_exact`.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from bncheck.bn.layer import BatchNorm
from bncheck.bn.running import get_convention, new_batch_weight
from bncheck.report._portable import ipow

__all__ = [
    "FULL",
    "QUICK",
    "Sizes",
    "bias_vs_m",
    "conventions",
    "convergence",
    "cumulative_mse",
    "drift",
    "ema_mse",
    "expected_sigma_b",
]

F64 = NDArray[np.float64]
FloatArray = NDArray[np.floating[Any]]


class Sizes(NamedTuple):
    """How much to simulate; :data:`FULL` for the committed report, :data:`QUICK` for CI."""

    conv_steps: int  # conventions: steps of the one fixed stream
    bias_ms: tuple[int, ...]
    bias_replicas: int
    bias_steps: int
    conv_replicas: int  # convergence and drift
    conv_T: int
    precise_N: int  # data set size
    precise_T: int  # training steps
    precise_K: int  # recomputation batches
    precise_reps: int
    gap_ms: tuple[int, ...]
    gap_values: int  # values per m (replicas = gap_values // m)
    merge_replicas: int


FULL = Sizes(
    30,
    (2, 4, 8, 16, 32, 64, 128, 256),
    2000,
    100,
    2000,
    1000,
    8192,
    1000,
    200,
    16,
    (2, 4, 8, 16, 32, 64, 128, 256),
    1 << 20,
    20000,
)
QUICK = Sizes(
    30,
    (2, 4, 8, 16, 32, 64),
    300,
    100,
    400,
    200,
    2048,
    200,
    40,
    3,
    (2, 4, 8, 16, 32, 64),
    1 << 15,
    2000,
)


def layer(c: int, convention: str, momentum: float | None, unbiased: bool) -> BatchNorm:
    return BatchNorm(c, convention=convention, momentum=momentum, unbiased=unbiased, affine=False)


def _weights(convention: str, momentum: float | None, steps: int) -> F64:
    """a_t for t = 1..steps, from the convention table."""
    conv = get_convention(convention)
    return np.array([new_batch_weight(conv, momentum, t) for t in range(1, steps + 1)])


def _keep(convention: str, momentum: float | None, steps: int) -> F64:
    """Π_{s ≤ t} (1 − a_s) for t = 0..steps: the weight the initial value keeps after t steps."""
    return np.concatenate([[1.0], np.cumprod(1.0 - _weights(convention, momentum, steps))])


def ema_mse(a: float, t: F64 | float, e0: float, v_b: float) -> F64:
    """E[e_t²] of an EMA with new-batch weight a: (1−a)^{2t}·e0² + a/(2−a)·(1−(1−a)^{2t})·V_b."""
    q = ipow(1.0 - a, 2 * np.asarray(t))
    return np.asarray(q * e0**2 + a / (2.0 - a) * (1.0 - q) * v_b, dtype=np.float64)


def cumulative_mse(t: F64 | float, v_b: float) -> F64:
    """E[e_t²] of the cumulative average (a_t = 1/t forgets the initial value at t = 1): V_b/t."""
    return np.asarray(v_b / np.asarray(t, dtype=np.float64), dtype=np.float64)


def expected_sigma_b(m: int) -> float:
    """E[sigma_B]/sigma for normal data, sigma_B² the biased variance (eq 7) of m values.

    m·sigma2_B/sigma² ~ chi²_{m−1}, and E[sqrt(chi²_k)] = sqrt(2)·Γ((k+1)/2)/Γ(k/2), so
    E[sigma_B]/sigma = sqrt(2/m)·Γ(m/2)/Γ((m−1)/2).
    """
    return math.sqrt(2.0 / m) * math.exp(math.lgamma(m / 2) - math.lgamma((m - 1) / 2))


# -- 1. conventions side by side --------------------------------------------------------------
#: (convention, momentum, unbiased): each convention's default first, then the other variance
CONVENTION_RUNS: tuple[tuple[str, float | None, bool], ...] = (
    ("torch", 0.1, True),
    ("torch", 0.1, False),
    ("keras", 0.99, False),
    ("keras", 0.99, True),
    ("keras", 0.9, False),
    ("keras", 0.9, True),
    ("cumulative", None, True),
    ("cumulative", None, False),
)


class Conventions(NamedTuple):
    runs: tuple[tuple[str, float | None, bool], ...]
    m: int
    mu: float
    sigma2: float
    stream_mean: float  # mean of all values of the stream
    stream_var: float  # unbiased variance of all values of the stream
    mean_traj: F64  # (runs, steps + 1): running mean after t steps, t = 0..steps
    var_traj: F64
    expected_mean: F64  # (runs, steps + 1): E[R_t] = keep_t·R_0 + (1 − keep_t)·target
    expected_var: F64
    keep: F64  # (runs,): Π (1 − a_t) over the stream, the weight the initial value keeps


def conventions(rng: np.random.Generator, steps: int, m: int = 8) -> Conventions:
    """One stream of ``steps`` batches of m values from N(2, 1.5²) through every run."""
    mu, sigma = 2.0, 1.5
    stream = rng.normal(mu, sigma, size=(steps, m, 1))
    n = len(CONVENTION_RUNS)
    keep_end = np.empty(n)
    mean_traj, var_traj = np.empty((n, steps + 1)), np.empty((n, steps + 1))
    exp_mean, exp_var = np.empty((n, steps + 1)), np.empty((n, steps + 1))
    for i, (conv, mom, unb) in enumerate(CONVENTION_RUNS):
        bn = layer(1, conv, mom, unb)
        mean_traj[i, 0], var_traj[i, 0] = bn.running_mean[0], bn.running_var[0]
        for t in range(steps):
            bn(stream[t])
            mean_traj[i, t + 1], var_traj[i, t + 1] = bn.running_mean[0], bn.running_var[0]
        keep = _keep(conv, mom, steps)
        keep_end[i] = keep[-1]
        target_var = sigma**2 * (1.0 if unb else (m - 1) / m)
        exp_mean[i] = keep * mean_traj[i, 0] + (1.0 - keep) * mu
        exp_var[i] = keep * var_traj[i, 0] + (1.0 - keep) * target_var
    flat = stream.ravel()
    return Conventions(
        CONVENTION_RUNS,
        m,
        mu,
        sigma**2,
        float(np.mean(flat)),
        float(np.var(flat, ddof=1)),
        mean_traj,
        var_traj,
        exp_mean,
        exp_var,
        keep_end,
    )


# -- 2. bias of the running variance against m ------------------------------------------------
class Bias(NamedTuple):
    ms: tuple[int, ...]
    momentum: float
    steps: int
    replicas: int
    sigma2: float
    sim: F64  # (2, len(ms)): E[running var]/sigma², row 0 biased, row 1 unbiased
    se: F64  # standard errors of sim
    theory: F64  # (2, len(ms)): keep·R_0/sigma² + (1 − keep)·c, c = (m−1)/m or 1


def bias_vs_m(rng: np.random.Generator, ms: tuple[int, ...], replicas: int, steps: int) -> Bias:
    """torch(0.1) running variance after ``steps`` batches, biased and unbiased, same data.

    Closed form: E[R_T] = (1−a)^T·R_0 + (1 − (1−a)^T)·c·sigma² with c = (m−1)/m (biased) or 1.
    """
    momentum, mu, sigma = 0.1, 1.0, 2.0
    keep = float(ipow(1.0 - momentum, steps))
    sim, se, theory = (np.empty((2, len(ms))) for _ in range(3))
    for j, m in enumerate(ms):
        layers = [layer(replicas, "torch", momentum, unb) for unb in (False, True)]
        for _ in range(steps):
            x = rng.normal(mu, sigma, size=(m, replicas))
            for bn in layers:
                bn(x)
        for i, bn in enumerate(layers):
            r = bn.running_var / sigma**2
            sim[i, j] = np.mean(r)
            se[i, j] = np.std(r, ddof=1) / math.sqrt(replicas)
            c = 1.0 if i == 1 else (m - 1) / m
            theory[i, j] = keep / sigma**2 + (1.0 - keep) * c
    return Bias(tuple(ms), momentum, steps, replicas, sigma**2, sim, se, theory)


# -- 3. convergence against steps ---------------------------------------------------------------
MOMENTA: tuple[float | None, ...] = (0.01, 0.1, 0.3, None)


class Convergence(NamedTuple):
    momenta: tuple[float | None, ...]
    m: int
    mu: float
    sigma2: float
    steps: F64  # 1..T
    mse_mean: F64  # (momenta, T): E[(R_t − mu)²] over replicas
    se_mean: F64
    mse_var: F64  # E[(R_t − sigma²)²], torch convention (unbiased)
    se_var: F64
    theory_mean: F64
    theory_var: F64
    noise_mean: F64  # stationary RMS noise a/(2−a)·V_b per momentum (0 for cumulative)
    noise_var: F64


def convergence(rng: np.random.Generator, replicas: int, steps: int, m: int = 16) -> Convergence:
    """torch convention (unbiased) with each momentum of :data:`MOMENTA`, on the same stream."""
    mu, sigma = 3.0, 2.0
    s2 = sigma**2
    layers = [layer(replicas, "torch", mom, True) for mom in MOMENTA]
    k = len(MOMENTA)
    # per momentum and step: mean and standard error over replicas of e², for mean and var
    mse, se = np.empty((2, k, steps)), np.empty((2, k, steps))
    root = math.sqrt(replicas)
    for t in range(steps):
        x = rng.normal(mu, sigma, size=(m, replicas))
        for i, bn in enumerate(layers):
            bn(x)
            for q, e2 in enumerate(((bn.running_mean - mu) ** 2, (bn.running_var - s2) ** 2)):
                mse[q, i, t], se[q, i, t] = e2.mean(), e2.std(ddof=1) / root
    ts = np.arange(1, steps + 1, dtype=np.float64)
    vb_mean, vb_var = s2 / m, 2.0 * s2**2 / (m - 1)
    th_mean, th_var = np.empty((k, steps)), np.empty((k, steps))
    noise = np.zeros((2, k))
    for i, mom in enumerate(MOMENTA):
        if mom is None:
            th_mean[i], th_var[i] = cumulative_mse(ts, vb_mean), cumulative_mse(ts, vb_var)
        else:
            th_mean[i] = ema_mse(mom, ts, 0.0 - mu, vb_mean)  # R_0 = 0
            th_var[i] = ema_mse(mom, ts, 1.0 - s2, vb_var)  # R_0 = 1
            noise[:, i] = [mom / (2 - mom) * vb_mean, mom / (2 - mom) * vb_var]
    return Convergence(
        MOMENTA,
        m,
        mu,
        s2,
        ts,
        mse[0],
        se[0],
        mse[1],
        se[1],
        th_mean,
        th_var,
        np.sqrt(noise[0]),
        np.sqrt(noise[1]),
    )


# -- 4. a drifting stream -----------------------------------------------------------------------
class Drift(NamedTuple):
    momenta: tuple[float | None, ...]
    m: int
    speed: float  # v: the population mean after t steps is v·t
    steps: F64  # 1..T
    mean_run: F64  # (momenta, T): running mean averaged over replicas
    lag: F64  # (momenta,): (mu_T − E[R_T])/v measured at t = T
    lag_se: F64
    lag_theory: F64  # L·(1 − (1−a)^T), L = (1−a)/a; cumulative (T − 1)/2
    lag_steady: F64  # L = (1 − a)/a (inf for cumulative)
    lag_curve: F64  # (momenta, T): measured (mu_t − mean R_t)/v
    lag_curve_theory: F64  # (momenta, T): L·(1 − (1−a)^t), cumulative (t − 1)/2
    window: int  # first step of the averaging window, 3T/4 + 1 .. T
    lag_window: F64  # (momenta,): lag averaged over the window (per replica, then mean)
    lag_window_se: F64
    lag_window_theory: F64


def drift(rng: np.random.Generator, replicas: int, steps: int, m: int = 16) -> Drift:
    """Population N(v·t, 1) at step t, R_0 = mu_0 = 0.

    EMA: e_t = E[R_t] − mu_t obeys e_t = (1−a)·e_{t−1} − (1−a)·v, fixed point −v·(1−a)/a, so
    E[R_t] = mu_t − v·L·(1 − (1−a)^t) with lag L = (1−a)/a steps. Cumulative:
    R_t = (1/t)·Σ_{s≤t} v·s = v·(t+1)/2, a lag of (t−1)/2 steps that grows without bound.
    """
    v = 0.02
    layers = [layer(replicas, "torch", mom, True) for mom in MOMENTA]
    mean_run = np.empty((len(MOMENTA), steps))
    first = 3 * steps // 4 + 1
    window_sum = np.zeros((len(MOMENTA), replicas))  # Σ over the window of (mu_t − R_t)/v
    for t in range(1, steps + 1):
        x = rng.normal(v * t, 1.0, size=(m, replicas))
        for i, bn in enumerate(layers):
            bn(x)
            mean_run[i, t - 1] = np.mean(bn.running_mean)
            if t >= first:
                window_sum[i] += (v * t - bn.running_mean) / v
    window_lag = window_sum / (steps - first + 1)
    mu_T = v * steps
    lag = np.array([(mu_T - np.mean(bn.running_mean)) / v for bn in layers])
    lag_se = np.array([np.std(bn.running_mean, ddof=1) / math.sqrt(replicas) / v for bn in layers])
    steady = np.array([math.inf if a is None else (1 - a) / a for a in MOMENTA])
    ts = np.arange(1, steps + 1, dtype=np.float64)
    curve = np.array(
        [(ts - 1) / 2 if a is None else (1 - a) / a * (1 - ipow(1 - a, ts)) for a in MOMENTA]
    )
    return Drift(
        MOMENTA,
        m,
        v,
        ts,
        mean_run,
        lag,
        lag_se,
        curve[:, -1].copy(),
        steady,
        (v * ts - mean_run) / v,
        curve,
        first,
        window_lag.mean(axis=1),
        window_lag.std(axis=1, ddof=1) / math.sqrt(replicas),
        curve[:, first - 1 :].mean(axis=1),
    )
