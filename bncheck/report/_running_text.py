"""The text and tables of each section of ``running_stats.md``, from its simulation's record
(the numbers beside their closed forms, and what they show)."""

from __future__ import annotations

import math

import numpy as np

from bncheck.bn.running import CONVENTIONS
from bncheck.report import _running_exact as rx
from bncheck.report import running_simulation as rm
from bncheck.report._running_format import (
    Lines,
    md_table,
    momentum_text,
    pct,
    pm,
    run_label,
    sig,
    tiny,
)

__all__ = ["bias", "conventions", "convergence", "drift", "gap", "merge", "precise"]


def conventions(res: rm.Conventions) -> Lines:
    steps = res.mean_traj.shape[1] - 1
    rows = []
    for i, (conv, mom, unb) in enumerate(res.runs):
        c = CONVENTIONS[conv]
        default = unb == c.unbiased
        a = "1/t" if mom is None else sig(mom if c.momentum_is_new_weight else 1 - mom)
        stored = ("unbiased m/(m−1)·σ²_B" if unb else "biased σ²_B") + (" *" if default else "")
        rows.append(
            [
                run_label(conv, mom),
                a,
                stored,
                pct(1 - res.keep[i]),
                sig(res.mean_traj[i, -1], 4),
                sig(res.expected_mean[i, -1], 4),
                sig(res.var_traj[i, -1], 4),
                sig(res.expected_var[i, -1], 4),
            ]
        )
    rows.append(["population", "", "", "", sig(res.mu, 4), "", sig(res.sigma2, 4), ""])
    rows.append(
        [
            f"all {steps * res.m} values of the stream",
            "",
            "unbiased",
            "",
            sig(res.stream_mean, 4),
            "",
            sig(res.stream_var, 4),
            "",
        ]
    )
    slow = int(np.argmax(res.keep))
    slow_label = run_label(res.runs[slow][0], res.runs[slow][1])
    biased_cum = res.var_traj[-1, -1]
    torch01 = res.runs.index(("torch", 0.1, True))
    keras09 = res.runs.index(("keras", 0.9, True))
    same = float(
        np.max(np.abs(res.var_traj[torch01] - res.var_traj[keras09]) / res.var_traj[torch01])
    )
    lines = [
        "## 1. The conventions side by side",
        "",
        f"One stream of {steps} batches of m = {res.m} values from N({sig(res.mu)}, "
        f"{sig(res.sigma2)}) through bncheck's `BatchNorm` in each convention (running mean 0 "
        "and running variance 1 at the start; * marks the convention's default variance). "
        '"moved" is 1 − Π(1 − a_t), the share of the way from the initial values to the '
        "stream's expectation; E[·] is the closed form (1 − moved)·R_0 + moved·target with "
        "target mu, and sigma² (unbiased) or (m−1)/m·sigma² (biased).",
        "",
        *md_table(
            "run | a (new batch) | running var stores | moved | "
            "running mean | E[mean] | running var | E[var]",
            rows,
        ),
        f"After {steps} steps {slow_label} has moved only {pct(1 - res.keep[slow])} of the "
        "way from its initial values, so its running statistics still mostly reflect "
        "(0, 1); the cumulative average keeps nothing of them. The biased cumulative variance "
        f"{sig(biased_cum, 4)} aims at (m−1)/m·sigma² = {sig((res.m - 1) / res.m * res.sigma2, 4)}"
        f", not sigma² = {sig(res.sigma2, 4)}. keras(0.9) is torch(0.1) under another name "
        f"(largest relative difference of the running variances: {tiny(same)}).",
        "",
    ]
    return lines


def bias(res: rm.Bias) -> Lines:
    rel_b = res.sim[0] - 1.0
    rows = [
        [
            str(m),
            pm(res.sim[0, j], res.se[0, j]),
            sig(res.theory[0, j], 4),
            pct(rel_b[j]),
            pct(res.theory[0, j] - 1),
            pm(res.sim[1, j], res.se[1, j]),
            sig(res.theory[1, j], 4),
        ]
        for j, m in enumerate(res.ms)
    ]
    z = np.abs(res.sim - res.theory) / res.se
    j8 = res.ms.index(8) if 8 in res.ms else 0
    lines = [
        "## 2. Bias of the running variance against m",
        "",
        f"torch(momentum={sig(res.momentum)}) after {res.steps} batches, with the biased "
        f"(sigma2_B, the keras default) and the unbiased (m/(m−1)·sigma2_B, the torch default) "
        f"variance stored, {res.replicas} replicas fed the same data; E[running var]/sigma² "
        "± one standard error. Closed form: "
        "E[R_T] = (1−a)^T·R_0 + (1 − (1−a)^T)·c·sigma² with c = (m−1)/m (biased) or 1 "
        "(unbiased); the (1−a)^T term is the remainder of the initial value R_0 = 1.",
        "",
        *md_table(
            "m | biased: sim | closed form | relative bias | "
            "closed form (≈ −1/m) | unbiased: sim | closed form",
            rows,
        ),
        f"The biased running variance underestimates sigma² by 1/m: {pct(rel_b[j8])} at "
        f"m = {res.ms[j8]} (closed form {pct(res.theory[0, j8] - 1)}), while the unbiased "
        "one has no bias; both agree with their closed forms within "
        f"{sig(float(z.max()), 2)} standard errors at every m.",
        "",
    ]
    return lines


def _first_below(values: rm.F64, level: float) -> int | None:
    hit = np.nonzero(values <= level)[0]
    return int(hit[0]) + 1 if len(hit) else None


def convergence(res: rm.Convergence) -> Lines:
    T = len(res.steps)
    marks = sorted({t for t in (1, 10, 100, 1000, T) if t <= T})
    rows = []
    for i, mom in enumerate(res.momenta):
        for t in marks:
            k = t - 1
            rows.append(
                [
                    momentum_text(mom),
                    str(t),
                    pm(
                        math.sqrt(res.mse_mean[i, k]),
                        res.se_mean[i, k] / (2 * math.sqrt(res.mse_mean[i, k])),
                    ),
                    sig(math.sqrt(res.theory_mean[i, k]), 4),
                    pm(
                        math.sqrt(res.mse_var[i, k]),
                        res.se_var[i, k] / (2 * math.sqrt(res.mse_var[i, k])),
                    ),
                    sig(math.sqrt(res.theory_var[i, k]), 4),
                ]
            )
    facts = []
    for i, mom in enumerate(res.momenta):
        if mom is None:
            continue
        # (1−a)^{2t}·(e_0² − s) = 3s: the closed form's MSE reaches 4s, s the stationary level
        s = res.noise_mean[i] ** 2
        e0_sq = res.mu**2  # R_0 = 0
        t_th = math.log(3 * s / (e0_sq - s)) / (2 * math.log(1 - mom))
        t_sim = _first_below(res.mse_mean[i], 4 * s)
        seen = f"{t_sim}" if t_sim is not None else f"not within {T}"
        facts.append(f"{sig(mom)}: {seen} steps (closed form {sig(t_th)})")
    lines = [
        "## 3. Convergence against steps",
        "",
        f"torch convention (unbiased variance), batches of m = {res.m} from "
        f"N({sig(res.mu)}, {sig(res.sigma2)}), starting from running mean 0 and variance 1. "
        "RMS error of the running statistics over the replicas against the population, beside "
        "the closed form E[e_t²] = (1−a)^{2t}·e_0² + a/(2−a)·(1 − (1−a)^{2t})·V_b for the EMA "
        "and V_b/t for the cumulative average, where V_b = sigma²/m (mean) or "
        "2·sigma⁴/(m−1) (unbiased variance, normal data). Derivation: e_t = (1−a)·e_{t−1} + "
        "a·(b_t − θ) with independent batch noise, so the mean error decays as (1−a)^t and the "
        "variance sums the geometric series a²·V_b·Σ(1−a)^{2k}; its limit a/(2−a)·V_b is the "
        "stationary noise that no amount of training removes.",
        "",
        *md_table(
            "momentum | step t | RMS err mean: sim | closed form | RMS err var: sim | closed form",
            rows,
        ),
        "Stationary RMS noise of the running mean sqrt(a/(2−a)·sigma²/m): "
        + ", ".join(
            f"{sig(mom)}: {sig(res.noise_mean[i])}"
            for i, mom in enumerate(res.momenta)
            if mom is not None
        )
        + "; the cumulative average keeps shrinking as sigma/sqrt(m·t). Steps until the mean's "
        "MSE is within 4× its stationary level (the initial error forgotten): "
        + "; ".join(facts)
        + ". A small momentum is quieter but slower by the same factor.",
        "",
    ]
    return lines


def drift(res: rm.Drift) -> Lines:
    T = len(res.steps)
    rows = [
        [
            momentum_text(mom),
            "1/t" if mom is None else sig(mom),
            pm(res.lag_window[i], res.lag_window_se[i]),
            sig(res.lag_window_theory[i], 4),
            pm(res.lag[i], res.lag_se[i]),
            sig(res.lag_theory[i], 4),
            "∞ ((t−1)/2)" if mom is None else sig(res.lag_steady[i], 4),
            sig(res.speed * res.lag[i], 3),
        ]
        for i, mom in enumerate(res.momenta)
    ]
    i01 = res.momenta.index(0.1)
    icum = res.momenta.index(None)
    lines = [
        "## 4. A drifting stream",
        "",
        f"The population mean moves linearly, mu_t = v·t with v = {sig(res.speed)} per step "
        f"(sigma = 1, m = {res.m}, {T} steps, torch convention). Expected EMA: e_t = E[R_t] − "
        "mu_t satisfies e_t = (1−a)·e_{t−1} − (1−a)·v, whose fixed point is −v·(1−a)/a: the EMA "
        "tracks the drift with a constant lag L = (1−a)/a steps, reached as "
        "L·(1 − (1−a)^t). The cumulative average of v·1..v·t is v·(t+1)/2, a lag of (t−1)/2 "
        "steps that grows without bound.",
        "",
        *md_table(
            f"momentum | a | mean lag, t = {res.window}..{T}: sim | "
            f"closed form | lag at t = {T}: sim | closed form | "
            f"steady-state lag (1−a)/a | error v·lag at t = {T}",
            rows,
        ),
        "Lags in steps, mean over the replicas ± one standard error.",
        "",
        f"The EMA with momentum 0.1 tracks the drift with a lag of {sig(res.lag_window[i01])} "
        f"steps (theory {sig(res.lag_steady[i01])}); the cumulative average lags "
        f"{sig(res.lag[icum], 4)} steps after {T} steps (theory {sig(res.lag_theory[icum], 4)}) "
        "and is left behind "
        + ("further with every step." if res.lag[icum] > 2 * res.lag[i01] else "as well."),
        "",
    ]
    return lines


def precise(res: rx.Precise) -> Lines:
    K = len(res.ks)
    rows = [
        [lab, str(res.train_steps), *(sig(v) for v in res.run_err[i])]
        for i, lab in enumerate(res.labels)
    ]
    for k in sorted({10, K}):
        if k <= K:
            rows.append(
                [f"precise BN, {k} batches", str(k), *(sig(v) for v in res.precise_err[k - 1])]
            )
    rows.append(["exact (all N rows)", "—", "0", "0", "0"])
    ema = res.run_err[0]
    better = np.nonzero(np.all(res.precise_err <= ema, axis=1))[0]
    k_even = int(better[0]) + 1 if len(better) else None
    lines = [
        '## 5. EMA against exact population statistics ("precise BN")',
        "",
        f"A data set of N = {res.n_data} rows feeds BN through weights that move linearly "
        f"during {res.train_steps} training steps (h = x·W_t, {res.channels} channels, "
        f"batches of m = {res.m}), as under a constant learning rate. After training, each "
        "running estimate is compared with the exact statistics of the final model over all N "
        "rows (mean and variance of x·W_T). Precise BN freezes W_T and averages k batches "
        "with the cumulative convention. Errors are RMS over channels of (R_mean − mu)/sigma "
        "and R_var/sigma² − 1, and the RMS difference of the eval-mode outputs over the "
        "data set.",
        "",
        *md_table(
            "estimate | batches | mean error / sigma | var relative error | "
            "eval output RMS difference",
            rows,
        ),
        "The EMAs average over past weights (a lag of (1−a)/a steps) plus batch noise; the "
        "cumulative average mixes in the weights of the whole run. "
        + (
            f"Precise BN beats the torch(0.1) EMA on all three errors from k = {k_even} "
            f"batches (closed form for its mean error: sqrt((N−m)/((N−1)·m·k)) = "
            f"{sig(res.theory_mean[k_even - 1])} there)."
            if k_even is not None
            else f"Precise BN does not beat the torch(0.1) EMA within {K} batches."
        )
        + " The dashed lines in the plot are the closed forms for precise BN: "
        "sqrt((N−m)/((N−1)·m·k)) for the mean and ≈ sqrt(2/((m−1)·k)) for the variance "
        "(normal data, m·k ≪ N).",
        "",
    ]
    return lines


def gap(res: rx.Gap) -> Lines:
    rows = [
        [
            str(m),
            pm(res.sim[j], res.se[j]),
            sig(res.exact[j], 4),
            sig(res.asymptotic[j], 4),
            sig(math.sqrt(res.sim[j]), 3),
        ]
        for j, m in enumerate(res.ms)
    ]
    z = np.abs(res.sim - res.exact) / res.se
    j16 = res.ms.index(16) if 16 in res.ms else 0
    lines = [
        "## 6. Train/eval output gap against batch size",
        "",
        "The same value normalized with its batch's statistics (training, eq 8) and with the "
        "population's (eval). Exact, for eps → 0: summed over a batch, "
        "Σ (x_i − mu_B)(x_i − mu) = m·sigma_B², so E[y_train·y_eval] = E[sigma_B]/sigma while "
        "E[y_train²] = E[y_eval²] = 1, hence E[(y_train − y_eval)²] = 2 − 2·E[sigma_B]/sigma "
        "with E[sigma_B]/sigma = sqrt(2/m)·Γ(m/2)/Γ((m−1)/2) for normal data, ≈ 3/(2m). "
        "Per value, the delta method gives y_train − y_eval ≈ −δmu − x̂·δv/2 with "
        "Var δmu = 1/m and Var δv ≈ 2/m, so E[(y_train − y_eval)² | x̂] ≈ (1 + x̂²/2)/m: "
        "values in the tails see the largest gap.",
        "",
        *md_table("m | E[(y_train − y_eval)²]: sim | exact | ≈ 3/(2m) | RMS gap", rows),
        f"At m = {res.ms[j16]} the mean squared gap is {sig(res.sim[j16], 4)} (exact "
        f"{sig(res.exact[j16], 4)}, 3/(2m) = {sig(res.asymptotic[j16], 4)}); the simulation is "
        f"within {sig(float(z.max()), 2)} standard errors of the exact form at every m, and "
        "the gap only vanishes as 1/m.",
        "",
    ]
    return lines


def merge(res: rx.Merging) -> Lines:
    names = ["+".join(str(n) for n in p) for p in res.patterns]
    rows = [
        [
            names[j],
            tiny(res.eq_mean_rms[j]),
            sig(res.eq_mean_theory[j], 4),
            pm(res.eq_var_bias[j], res.eq_var_se[j], 3),
            sig(res.eq_var_theory[j], 4),
            tiny(res.chan_err[j, 0]),
            tiny(res.chan_err[j, 1]),
        ]
        for j in range(len(names))
    ]
    worst = int(np.argmax(np.abs(res.eq_var_bias)))
    chan_max = float(res.chan_err.max())
    lines = [
        "## 7. Count-weighted against equal-weight merging of unequal shards",
        "",
        f"One batch of n = {sum(res.patterns[0])} values from N(5, 4) split into shards of "
        f"unequal size, {res.replicas} replicas. Truth: the statistics of the whole batch. "
        "Count-weighted: Chan's merge of (count, mean, M2), `bncheck.bn.running.merge_shards`. "
        "Equal weight: the plain average of the shards' means and biased variances. "
        "Closed forms (iid data): the equal-weight mean errs by Σ_s (1/S − n_s/n)·mean_s, "
        "of RMS sigma·sqrt(Σ_s (1/S − n_s/n)²/n_s); the equal-weight variance has expectation "
        "sigma²·(1/S)·Σ_s (n_s − 1)/n_s instead of sigma²·(n − 1)/n.",
        "",
        *md_table(
            "shards | equal: mean RMS err/sigma | closed form | "
            "equal: var bias/sigma² | closed form | "
            "Chan: max mean err/sigma | Chan: max var err/sigma²",
            rows,
        ),
        f"Equal weighting gets the mean right only for equal shards "
        f"({tiny(res.eq_mean_rms[0])} for {names[0]}, up to "
        f"{sig(float(res.eq_mean_rms.max()))}·sigma otherwise); its variance drops the spread "
        f"between the shard means even for equal shards ({pct(res.eq_var_bias[0])} of "
        f"sigma² for {names[0]}) and misses by {pct(abs(res.eq_var_bias[worst]))} for "
        f"{names[worst]} (closed form {pct(abs(res.eq_var_theory[worst]))}). The "
        f"count-weighted merge matches the whole batch to {tiny(chan_max)} (rounding) for "
        "every pattern.",
        "",
    ]
    return lines
