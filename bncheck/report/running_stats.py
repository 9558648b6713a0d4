"""``running_stats.md``: how bncheck's running statistics behave, measured beside the theory.

Seven sections, each a table and a PNG plot (``running_*.png``) with the closed form drawn where
one exists; the measurements and the formulas live in :mod:`bncheck.report.running_simulation`.
Deterministic: fixed seeds, numbers printed to 3–4 significant digits and plotted rounded to 6,
so regenerating on unchanged code changes no byte.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate

from bncheck.bn.running import CONVENTIONS
from bncheck.report import _plot
from bncheck.report import running_simulation as rm
from bncheck.report._portable import ipow
from bncheck.report.build import HEADER, Built

__all__ = ["SECTIONS", "SEED", "build"]

#: base seed; section k draws from ``np.random.default_rng([SEED, k])``
SEED = 20240605
#: values below this (relative to sigma or sigma²) are shown as "< TINY": rounding, not error
TINY = 1e-12

Lines = list[str]


def _g(x: float, d: int = 3) -> str:
    if math.isinf(x):
        return "∞"
    return f"{x:.{d}g}"


def _pm(x: float, se: float, d: int = 4) -> str:
    return f"{x:.{d}g} ± {se:.2g}"


def _pct(x: float, d: int = 3) -> str:
    return f"{100 * x:.{d}g}%"


def _tiny(x: float) -> str:
    return f"< {TINY:.0e}" if abs(x) < TINY else _g(x)


def _mom(momentum: float | None) -> str:
    return "None (cumulative)" if momentum is None else f"{momentum:g}"


def _table(headers: str, rows: Sequence[Sequence[str]]) -> Lines:
    """A github-format table; ``headers`` separated by " | " (numbers are already strings)."""
    names = headers.split(" | ")
    text = tabulate(
        [list(r) for r in rows], headers=names, tablefmt="github",
        disable_numparse=True, colalign=("left",) + ("right",) * (len(names) - 1),
    )  # fmt: skip
    return [*text.splitlines(), ""]


def _image(name: str, alt: str) -> Lines:
    return [f"![{alt}]({name})", ""]


def _run_label(conv: str, momentum: float | None) -> str:
    return conv if momentum is None else f"{conv}({momentum:g})"


# -- sections ----------------------------------------------------------------------------------
def _conventions(out: Path, res: rm.Conventions) -> tuple[Lines, Path]:
    steps = res.mean_traj.shape[1] - 1
    rows = []
    for i, (conv, mom, unb) in enumerate(res.runs):
        c = CONVENTIONS[conv]
        default = unb == c.unbiased
        a = "1/t" if mom is None else _g(mom if c.momentum_is_new_weight else 1 - mom)
        stored = ("unbiased m/(m−1)·σ²_B" if unb else "biased σ²_B") + (" *" if default else "")
        rows.append([
            _run_label(conv, mom), a, stored, _pct(1 - res.keep[i]),
            _g(res.mean_traj[i, -1], 4), _g(res.expected_mean[i, -1], 4),
            _g(res.var_traj[i, -1], 4), _g(res.expected_var[i, -1], 4),
        ])  # fmt: skip
    rows.append(["population", "", "", "", _g(res.mu, 4), "", _g(res.sigma2, 4), ""])
    rows.append([f"all {steps * res.m} values of the stream", "", "unbiased", "",
                 _g(res.stream_mean, 4), "", _g(res.stream_var, 4), ""])  # fmt: skip
    slow = int(np.argmax(res.keep))
    slow_label = _run_label(res.runs[slow][0], res.runs[slow][1])
    biased_cum = res.var_traj[-1, -1]
    torch01 = res.runs.index(("torch", 0.1, True))
    keras09 = res.runs.index(("keras", 0.9, True))
    same = float(np.max(np.abs(res.var_traj[torch01] - res.var_traj[keras09])
                        / res.var_traj[torch01]))  # fmt: skip
    lines = [
        "## 1. The conventions side by side",
        "",
        f"One stream of {steps} batches of m = {res.m} values from N({_g(res.mu)}, "
        f"{_g(res.sigma2)}) through bncheck's `BatchNorm` in each convention (running mean 0 "
        "and running variance 1 at the start; * marks the convention's default variance). "
        '"moved" is 1 − Π(1 − a_t), the share of the way from the initial values to the '
        "stream's expectation; E[·] is the closed form (1 − moved)·R_0 + moved·target with "
        "target mu, and sigma² (unbiased) or (m−1)/m·sigma² (biased).",
        "",
        *_table(
            "run | a (new batch) | running var stores | moved | "
            "running mean | E[mean] | running var | E[var]",
            rows,
        ),
        f"After {steps} steps {slow_label} has moved only {_pct(1 - res.keep[slow])} of the "
        "way from its initial values, so its running statistics still mostly reflect "
        "(0, 1); the cumulative average keeps nothing of them. The biased cumulative variance "
        f"{_g(biased_cum, 4)} aims at (m−1)/m·sigma² = {_g((res.m - 1) / res.m * res.sigma2, 4)}"
        f", not sigma² = {_g(res.sigma2, 4)}. keras(0.9) is torch(0.1) under another name "
        f"(largest relative difference of the running variances: {_tiny(same)}).",
        "",
        *_image("running_conventions.png", "running mean and variance per convention"),
    ]
    path = out / "running_conventions.png"
    t = np.arange(steps + 1)
    with _plot.figure(path, ncols=2, height=4.4) as (_, (ax1, ax2)):
        colors: dict[tuple[str, float | None], str] = {}
        for i, (conv, mom, unb) in enumerate(res.runs):
            key = (conv, mom)
            # torch(0.1) and keras(0.9) coincide: draw the first wide and pale underneath
            wide: dict[str, Any] = {"lw": 4.0, "alpha": 0.35} if conv == "torch" else {}
            if key not in colors:
                colors[key] = _plot.COLORS[len(colors)]
                ax1.plot(t, _plot.rounded(res.mean_traj[i]), color=colors[key],
                         label=_run_label(conv, mom), **wide)  # fmt: skip
                ax1.plot(t, _plot.rounded(res.expected_mean[i]), color=colors[key], ls="--",
                         lw=0.8)  # fmt: skip
            ax2.plot(t, _plot.rounded(res.var_traj[i]), color=colors[key], ls="-" if unb else ":",
                     label=f"{_run_label(conv, mom)} {'unbiased' if unb else 'biased'}",
                     **wide)  # fmt: skip
        ax1.axhline(res.mu, color="k", lw=0.8, label="population mu")
        ax2.axhline(res.sigma2, color="k", lw=0.8, label="sigma²")
        ax2.axhline((res.m - 1) / res.m * res.sigma2, color="k", lw=0.8, ls=":",
                    label="(m−1)/m·sigma²")  # fmt: skip
        ax1.set(xlabel="step t", ylabel="running mean",
                title="running mean (dashed: closed-form expectation)")  # fmt: skip
        ax2.set(xlabel="step t", ylabel="running variance", title="running variance")
        _plot.legend_below(ax1, ncols=3)
        _plot.legend_below(ax2, ncols=3)
    return lines, path


def _bias(out: Path, res: rm.Bias) -> tuple[Lines, Path]:
    ms = np.asarray(res.ms, dtype=np.float64)
    rel_b = res.sim[0] - 1.0
    rows = [
        [str(m), _pm(res.sim[0, j], res.se[0, j]), _g(res.theory[0, j], 4),
         _pct(rel_b[j]), _pct(res.theory[0, j] - 1), _pm(res.sim[1, j], res.se[1, j]),
         _g(res.theory[1, j], 4)]
        for j, m in enumerate(res.ms)
    ]  # fmt: skip
    z = np.abs(res.sim - res.theory) / res.se
    j8 = res.ms.index(8) if 8 in res.ms else 0
    lines = [
        "## 2. Bias of the running variance against m",
        "",
        f"torch(momentum={_g(res.momentum)}) after {res.steps} batches, with the biased "
        f"(sigma2_B, the keras default) and the unbiased (m/(m−1)·sigma2_B, the torch default) "
        f"variance stored, {res.replicas} replicas fed the same data; E[running var]/sigma² "
        "± one standard error. Closed form: "
        "E[R_T] = (1−a)^T·R_0 + (1 − (1−a)^T)·c·sigma² with c = (m−1)/m (biased) or 1 "
        "(unbiased); the (1−a)^T term is the remainder of the initial value R_0 = 1.",
        "",
        *_table(
            "m | biased: sim | closed form | relative bias | "
            "closed form (≈ −1/m) | unbiased: sim | closed form",
            rows,
        ),
        f"The biased running variance underestimates sigma² by 1/m: {_pct(rel_b[j8])} at "
        f"m = {res.ms[j8]} (closed form {_pct(res.theory[0, j8] - 1)}), while the unbiased "
        "one has no bias; both agree with their closed forms within "
        f"{_g(float(z.max()), 2)} standard errors at every m.",
        "",
        *_image("running_bias.png", "running variance bias against m"),
    ]
    path = out / "running_bias.png"
    mm = _plot.rounded(np.geomspace(ms[0], ms[-1], 200))
    keep = float(ipow(1 - res.momentum, res.steps))
    with _plot.figure(path, ncols=2) as (_, (ax1, ax2)):
        for i, name in enumerate(("biased", "unbiased")):
            c = (mm - 1) / mm if i == 0 else np.ones_like(mm)
            th = keep / res.sigma2 + (1 - keep) * c
            ax1.plot(mm, _plot.rounded(th), color=_plot.COLORS[i], lw=0.9,
                     label=f"{name}: closed form")  # fmt: skip
            ax1.errorbar(ms, _plot.rounded(res.sim[i]), yerr=_plot.rounded(res.se[i]), fmt="o",
                         color=_plot.COLORS[i], label=f"{name}: simulation")  # fmt: skip
        ax1.set(xlabel="m (values per batch)", ylabel="E[running var] / sigma²",
                title="running variance after training")  # fmt: skip
        _plot.log_xticks(ax1, ms)
        ax1.legend(loc="lower right")
        th_b = 1 - (keep / res.sigma2 + (1 - keep) * (mm - 1) / mm)
        ax2.plot(mm, _plot.rounded(th_b), color=_plot.COLORS[0], lw=0.9,
                 label="closed form (≈ 1/m)")  # fmt: skip
        ax2.errorbar(ms, _plot.rounded(-rel_b), yerr=_plot.rounded(res.se[0]), fmt="o",
                     color=_plot.COLORS[0], label="biased: simulation")  # fmt: skip
        ax2.set(
            yscale="log",
            xlabel="m (values per batch)",
            ylabel="1 − E[running var]/sigma²",
            title="underestimate of the biased variance",
        )
        _plot.log_xticks(ax2, ms)
        ax2.legend(loc="upper right")
    return lines, path


def _first_below(values: rm.F64, level: float) -> int | None:
    hit = np.nonzero(values <= level)[0]
    return int(hit[0]) + 1 if len(hit) else None


def _convergence(out: Path, res: rm.Convergence) -> tuple[Lines, Path]:
    T = len(res.steps)
    marks = sorted({t for t in (1, 10, 100, 1000, T) if t <= T})
    rows = []
    for i, mom in enumerate(res.momenta):
        for t in marks:
            k = t - 1
            rows.append([
                _mom(mom), str(t),
                _pm(math.sqrt(res.mse_mean[i, k]), res.se_mean[i, k] / (2 * math.sqrt(
                    res.mse_mean[i, k]))), _g(math.sqrt(res.theory_mean[i, k]), 4),
                _pm(math.sqrt(res.mse_var[i, k]), res.se_var[i, k] / (2 * math.sqrt(
                    res.mse_var[i, k]))), _g(math.sqrt(res.theory_var[i, k]), 4),
            ])  # fmt: skip
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
        facts.append(f"{_g(mom)}: {seen} steps (closed form {_g(t_th)})")
    lines = [
        "## 3. Convergence against steps",
        "",
        f"torch convention (unbiased variance), batches of m = {res.m} from "
        f"N({_g(res.mu)}, {_g(res.sigma2)}), starting from running mean 0 and variance 1. "
        "RMS error of the running statistics over the replicas against the population, beside "
        "the closed form E[e_t²] = (1−a)^{2t}·e_0² + a/(2−a)·(1 − (1−a)^{2t})·V_b for the EMA "
        "and V_b/t for the cumulative average, where V_b = sigma²/m (mean) or "
        "2·sigma⁴/(m−1) (unbiased variance, normal data). Derivation: e_t = (1−a)·e_{t−1} + "
        "a·(b_t − θ) with independent batch noise, so the mean error decays as (1−a)^t and the "
        "variance sums the geometric series a²·V_b·Σ(1−a)^{2k}; its limit a/(2−a)·V_b is the "
        "stationary noise that no amount of training removes.",
        "",
        *_table(
            "momentum | step t | RMS err mean: sim | closed form | RMS err var: sim | closed form",
            rows,
        ),
        "Stationary RMS noise of the running mean sqrt(a/(2−a)·sigma²/m): "
        + ", ".join(
            f"{_g(mom)}: {_g(res.noise_mean[i])}"
            for i, mom in enumerate(res.momenta)
            if mom is not None
        )
        + "; the cumulative average keeps shrinking as sigma/sqrt(m·t). Steps until the mean's "
        "MSE is within 4× its stationary level (the initial error forgotten): "
        + "; ".join(facts)
        + ". A small momentum is quieter but slower by the same factor.",
        "",
        *_image("running_convergence.png", "convergence of the running statistics"),
    ]
    path = out / "running_convergence.png"
    with _plot.figure(path, ncols=2) as (_, axes):
        for ax, sim, th, what in (
            (axes[0], res.mse_mean, res.theory_mean, "mean"),
            (axes[1], res.mse_var, res.theory_var, "variance"),
        ):
            for i, mom in enumerate(res.momenta):
                col = _plot.COLORS[i]
                ax.plot(res.steps, _plot.rounded(np.sqrt(sim[i])), color=col,
                        label=f"momentum {_mom(mom)}")  # fmt: skip
                ax.plot(res.steps, _plot.rounded(np.sqrt(th[i])), color="k", ls="--", lw=0.7)
            ax.set(xscale="log", yscale="log", xlabel="step t",
                   ylabel=f"RMS error of the running {what}",
                   title=f"running {what} (dashed: closed form)")  # fmt: skip
        axes[0].legend(loc="lower left")
    return lines, path


def _drift(out: Path, res: rm.Drift) -> tuple[Lines, Path]:
    T = len(res.steps)
    rows = [
        [_mom(mom), "1/t" if mom is None else _g(mom),
         _pm(res.lag_window[i], res.lag_window_se[i]), _g(res.lag_window_theory[i], 4),
         _pm(res.lag[i], res.lag_se[i]), _g(res.lag_theory[i], 4),
         "∞ ((t−1)/2)" if mom is None else _g(res.lag_steady[i], 4),
         _g(res.speed * res.lag[i], 3)]
        for i, mom in enumerate(res.momenta)
    ]  # fmt: skip
    i01 = res.momenta.index(0.1)
    icum = res.momenta.index(None)
    lines = [
        "## 4. A drifting stream",
        "",
        f"The population mean moves linearly, mu_t = v·t with v = {_g(res.speed)} per step "
        f"(sigma = 1, m = {res.m}, {T} steps, torch convention). Expected EMA: e_t = E[R_t] − "
        "mu_t satisfies e_t = (1−a)·e_{t−1} − (1−a)·v, whose fixed point is −v·(1−a)/a: the EMA "
        "tracks the drift with a constant lag L = (1−a)/a steps, reached as "
        "L·(1 − (1−a)^t). The cumulative average of v·1..v·t is v·(t+1)/2, a lag of (t−1)/2 "
        "steps that grows without bound.",
        "",
        *_table(
            f"momentum | a | mean lag, t = {res.window}..{T}: sim | "
            f"closed form | lag at t = {T}: sim | closed form | "
            f"steady-state lag (1−a)/a | error v·lag at t = {T}",
            rows,
        ),
        "Lags in steps, mean over the replicas ± one standard error.",
        "",
        f"The EMA with momentum 0.1 tracks the drift with a lag of {_g(res.lag_window[i01])} "
        f"steps (theory {_g(res.lag_steady[i01])}); the cumulative average lags "
        f"{_g(res.lag[icum], 4)} steps after {T} steps (theory {_g(res.lag_theory[icum], 4)}) "
        "and is left behind "
        + ("further with every step." if res.lag[icum] > 2 * res.lag[i01] else "as well."),
        "",
        *_image("running_drift.png", "running mean under a drifting population mean"),
    ]
    path = out / "running_drift.png"
    with _plot.figure(path, ncols=2) as (_, (ax1, ax2)):
        ax1.plot(res.steps, _plot.rounded(res.speed * res.steps), color="k", lw=0.9,
                 label="population mean")  # fmt: skip
        for i, mom in enumerate(res.momenta):
            col = _plot.COLORS[i]
            ax1.plot(res.steps, _plot.rounded(res.mean_run[i]), color=col,
                     label=f"momentum {_mom(mom)}")  # fmt: skip
            # from t = 2: the cumulative lag (t − 1)/2 is 0 at t = 1
            ax2.plot(res.steps[1:], _plot.rounded(res.lag_curve[i, 1:]), color=col,
                     label=f"momentum {_mom(mom)}")  # fmt: skip
            ax2.plot(res.steps[1:], _plot.rounded(res.lag_curve_theory[i, 1:]), color="k",
                     ls="--", lw=0.7)  # fmt: skip
        ax1.set(xlabel="step t", ylabel="running mean (mean over replicas)",
                title="tracking a linear drift")  # fmt: skip
        ax2.set(xscale="log", yscale="log", xlabel="step t", ylabel="lag (steps)",
                title="lag (mu_t − R_t)/v (dashed: closed form)")  # fmt: skip
        ax2.set_ylim(0.3, None)
        ax1.legend(loc="upper left")
    return lines, path


def _precise(out: Path, res: rm.Precise) -> tuple[Lines, Path]:
    K = len(res.ks)
    rows = [[lab, str(res.train_steps), *(_g(v) for v in res.run_err[i])]
            for i, lab in enumerate(res.labels)]  # fmt: skip
    for k in sorted({10, K}):
        if k <= K:
            rows.append([f"precise BN, {k} batches", str(k),
                         *(_g(v) for v in res.precise_err[k - 1])])  # fmt: skip
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
        *_table(
            "estimate | batches | mean error / sigma | var relative error | "
            "eval output RMS difference",
            rows,
        ),
        "The EMAs average over past weights (a lag of (1−a)/a steps) plus batch noise; the "
        "cumulative average mixes in the weights of the whole run. "
        + (
            f"Precise BN beats the torch(0.1) EMA on all three errors from k = {k_even} "
            f"batches (closed form for its mean error: sqrt((N−m)/((N−1)·m·k)) = "
            f"{_g(res.theory_mean[k_even - 1])} there)."
            if k_even is not None
            else f"Precise BN does not beat the torch(0.1) EMA within {K} batches."
        )
        + " The dashed lines in the plot are the closed forms for precise BN: "
        "sqrt((N−m)/((N−1)·m·k)) for the mean and ≈ sqrt(2/((m−1)·k)) for the variance "
        "(normal data, m·k ≪ N).",
        "",
        *_image("running_precise.png", "precise BN against the running estimates"),
    ]
    path = out / "running_precise.png"
    with _plot.figure(path, ncols=2) as (_, axes):
        for q, (ax, th, what) in enumerate(
            (
                (axes[0], res.theory_mean, "mean error / sigma"),
                (axes[1], res.theory_var, "var relative error"),
            )
        ):
            ax.plot(res.ks, _plot.rounded(res.precise_err[:, q]), color="k",
                    label="precise BN (simulation)")  # fmt: skip
            ax.plot(res.ks, _plot.rounded(th), color="k", ls="--", lw=0.8, label="closed form")
            for i, lab in enumerate(res.labels):
                ax.axhline(float(_plot.rounded(res.run_err[i, q])), color=_plot.COLORS[i],
                           lw=1.2, label=lab)  # fmt: skip
            ax.set(xscale="log", yscale="log", xlabel="k (recomputation batches)", ylabel=what,
                   title=f"{what}: precise BN after k batches")  # fmt: skip
        _plot.legend_below(axes[0], ncols=3)
        _plot.legend_below(axes[1], ncols=3)
    return lines, path


def _gap(out: Path, res: rm.Gap) -> tuple[Lines, Path]:
    rows = [[str(m), _pm(res.sim[j], res.se[j]), _g(res.exact[j], 4),
             _g(res.asymptotic[j], 4), _g(math.sqrt(res.sim[j]), 3)]
            for j, m in enumerate(res.ms)]  # fmt: skip
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
        *_table("m | E[(y_train − y_eval)²]: sim | exact | ≈ 3/(2m) | RMS gap", rows),
        f"At m = {res.ms[j16]} the mean squared gap is {_g(res.sim[j16], 4)} (exact "
        f"{_g(res.exact[j16], 4)}, 3/(2m) = {_g(res.asymptotic[j16], 4)}); the simulation is "
        f"within {_g(float(z.max()), 2)} standard errors of the exact form at every m, and "
        "the gap only vanishes as 1/m.",
        "",
        *_image("running_gap.png", "train/eval output gap against m"),
    ]
    path = out / "running_gap.png"
    ms = np.asarray(res.ms, dtype=np.float64)
    mm = np.arange(2, int(ms[-1]) + 1, dtype=np.float64)
    exact = np.array([2 - 2 * rm.expected_sigma_b(int(m)) for m in mm])
    with _plot.figure(path, ncols=2) as (_, (ax1, ax2)):
        ax1.plot(mm, _plot.rounded(exact), color="k", lw=0.9, label="exact 2 − 2E[sigma_B]/sigma")
        ax1.plot(mm, _plot.rounded(1.5 / mm), color="k", ls="--", lw=0.8, label="3/(2m)")
        ax1.errorbar(ms, _plot.rounded(res.sim), yerr=_plot.rounded(res.se), fmt="o",
                     color=_plot.COLORS[0], label="simulation")  # fmt: skip
        ax1.set(
            yscale="log",
            xlabel="m (values per batch)",
            ylabel="E[(y_train − y_eval)²]",
            title="mean squared train/eval gap",
        )
        _plot.log_xticks(ax1, ms)
        ax1.legend(loc="lower left")
        xs = np.linspace(-3, 3, 121)
        ax2.plot(xs, _plot.rounded(1 + xs**2 / 2), color="k", ls="--", lw=0.8,
                 label="1 + x̂²/2 (delta method)")  # fmt: skip
        for i, m in enumerate(res.cond_ms):
            ax2.plot(res.bins, _plot.rounded(res.cond[i]), "o-", color=_plot.COLORS[i + 1],
                     label=f"simulation, m = {m}")  # fmt: skip
        ax2.set(xlabel="x̂ = (x − mu)/sigma", ylabel="m · E[(y_train − y_eval)² | x̂]",
                title="gap by position in the distribution")  # fmt: skip
        ax2.legend(loc="upper center")
    return lines, path


def _merge(out: Path, res: rm.Merging) -> tuple[Lines, Path]:
    names = ["+".join(str(n) for n in p) for p in res.patterns]
    rows = [[names[j], _tiny(res.eq_mean_rms[j]), _g(res.eq_mean_theory[j], 4),
             _pm(res.eq_var_bias[j], res.eq_var_se[j], 3), _g(res.eq_var_theory[j], 4),
             _tiny(res.chan_err[j, 0]), _tiny(res.chan_err[j, 1])]
            for j in range(len(names))]  # fmt: skip
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
        *_table(
            "shards | equal: mean RMS err/sigma | closed form | "
            "equal: var bias/sigma² | closed form | "
            "Chan: max mean err/sigma | Chan: max var err/sigma²",
            rows,
        ),
        f"Equal weighting gets the mean right only for equal shards "
        f"({_tiny(res.eq_mean_rms[0])} for {names[0]}, up to "
        f"{_g(float(res.eq_mean_rms.max()))}·sigma otherwise); its variance drops the spread "
        f"between the shard means even for equal shards ({_pct(res.eq_var_bias[0])} of "
        f"sigma² for {names[0]}) and misses by {_pct(abs(res.eq_var_bias[worst]))} for "
        f"{names[worst]} (closed form {_pct(abs(res.eq_var_theory[worst]))}). The "
        f"count-weighted merge matches the whole batch to {_tiny(chan_max)} (rounding) for "
        "every pattern.",
        "",
        *_image("running_merge.png", "count-weighted against equal-weight merging"),
    ]
    path = out / "running_merge.png"
    x = np.arange(len(names))
    w = 0.38
    # Chan's errors are rounding (< TINY): drawn as zero-height bars on a linear scale
    chan = f"count-weighted (Chan): < {TINY:.0e}"
    with _plot.figure(path, ncols=2) as (_, (ax1, ax2)):
        ax1.bar(x - w / 2, _plot.rounded(res.eq_mean_rms), w, color=_plot.COLORS[1],
                label="equal weight: RMS")  # fmt: skip
        ax1.plot(x - w / 2, _plot.rounded(res.eq_mean_theory), "k_", ms=14, mew=1.5,
                 label="closed form")  # fmt: skip
        ax1.bar(x + w / 2, [0.0] * len(x), w, color=_plot.COLORS[0], label=chan)
        ax1.set(ylabel="mean error / sigma", title="merged mean against the whole batch")
        ax2.bar(x - w / 2, _plot.rounded(-res.eq_var_bias), w, yerr=_plot.rounded(res.eq_var_se),
                color=_plot.COLORS[1], label="equal weight: −bias")  # fmt: skip
        ax2.plot(x - w / 2, _plot.rounded(-res.eq_var_theory), "k_", ms=14, mew=1.5,
                 label="closed form")  # fmt: skip
        ax2.bar(x + w / 2, [0.0] * len(x), w, color=_plot.COLORS[0], label=chan)
        ax2.set(ylabel="(whole var − merged var) / sigma²", title="merged variance: "
                "underestimate")  # fmt: skip
        for ax in (ax1, ax2):
            ax.set_xticks(x, names, rotation=20, fontsize=7)
            ax.set_xlabel("shard sizes")
            ax.legend(loc="upper left")
    return lines, path


# -- the report --------------------------------------------------------------------------------
def _intro() -> Lines:
    rows = [[c.name, _mom(c.default_momentum).replace(" (cumulative)", ""),
             "unbiased m/(m−1)·σ²_B" if c.unbiased else "biased σ²_B", c.description]
            for c in CONVENTIONS.values()]  # fmt: skip
    return [
        HEADER.rstrip("\n"),
        "# Running statistics",
        "",
        "How bncheck's running (population) statistics behave under each convention, every "
        "number measured by simulating bncheck's own `BatchNorm`, `update_running` and "
        "`merge_shards` with fixed seeds, beside the closed form where one exists. Initial "
        "values: running mean 0, running variance 1. The conventions (`bncheck.bn.running."
        "CONVENTIONS`):",
        "",
        *_table("convention | default momentum | running var | update", rows),
    ]


Measure = Callable[[np.random.Generator, rm.Sizes], Any]
Render = Callable[[Path, Any], tuple[Lines, Path]]

#: (name, measurement, renderer) in report order; section k draws from default_rng([SEED, k])
SECTIONS: tuple[tuple[str, Measure, Render], ...] = (
    ("conventions", lambda g, s: rm.conventions(g, s.conv_steps), _conventions),
    ("bias", lambda g, s: rm.bias_vs_m(g, s.bias_ms, s.bias_replicas, s.bias_steps), _bias),
    ("convergence", lambda g, s: rm.convergence(g, s.conv_replicas, s.conv_T), _convergence),
    ("drift", lambda g, s: rm.drift(g, s.conv_replicas, s.conv_T), _drift),
    ("precise BN", lambda g, s: rm.precise_bn(
        g, s.precise_N, s.precise_T, s.precise_K, s.precise_reps), _precise),
    ("train/eval gap", lambda g, s: rm.train_eval_gap(g, s.gap_ms, s.gap_values), _gap),
    ("merging", lambda g, s: rm.merging(g, s.merge_replicas), _merge),
)  # fmt: skip


def build(
    out: Path, *, quick: bool = False, progress: Callable[[str], None] | None = None
) -> Built:
    """Write ``out/running_stats.md`` and its ``running_*.png``; return them and a summary.

    ``quick`` simulates less (for CI, a few seconds); ``progress(name)`` is called once per
    section, before it runs. The three summary lines are computed from the measurements.
    """
    sizes = rm.QUICK if quick else rm.FULL
    out.mkdir(parents=True, exist_ok=True)
    lines, pngs, found = _intro(), [], {}
    for k, (name, measure, render) in enumerate(SECTIONS, start=1):
        if progress is not None:
            progress(name)
        found[name] = measure(np.random.default_rng([SEED, k]), sizes)
        section, png = render(out, found[name])
        lines += section
        pngs.append(png)
    md = out / "running_stats.md"
    md.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    summary = _summary(
        found["bias"], found["drift"], found["precise BN"], found["train/eval gap"],
        found["merging"],
    )  # fmt: skip
    return Built([md, *pngs], summary)


def _summary(bias: rm.Bias, drift: rm.Drift, precise: rm.Precise, gap: rm.Gap,
             merge: rm.Merging) -> list[str]:  # fmt: skip
    j = bias.ms.index(8) if 8 in bias.ms else 0
    z_unb = float((np.abs(bias.sim[1] - bias.theory[1]) / bias.se[1]).max())
    i01, icum = drift.momenta.index(0.1), drift.momenta.index(None)
    K = len(precise.ks)
    j16 = gap.ms.index(16) if 16 in gap.ms else 0
    worst = int(np.argmax(np.abs(merge.eq_var_bias)))
    return [
        f"The biased running variance (keras default) is low by 1/m: "
        f"{_pct(bias.sim[0, j] - 1)} at m = {bias.ms[j]} (closed form "
        f"{_pct(bias.theory[0, j] - 1)}); the unbiased one (torch, cumulative) is within "
        f"{_g(z_unb, 2)} standard errors of sigma² at every m from {bias.ms[0]} to "
        f"{bias.ms[-1]}.",
        f"Under a linear drift the torch(0.1) EMA lags {_g(drift.lag_window[i01])} steps "
        f"(closed form (1−a)/a = {_g(drift.lag_steady[i01])}) while the cumulative average lags "
        f"{_g(drift.lag[icum], 4)} after {len(drift.steps)} steps; with moving weights, precise "
        f"BN over {K} batches has mean error {_g(precise.precise_err[-1, 0])}·sigma against "
        f"{_g(precise.run_err[0, 0])} (EMA) and {_g(precise.run_err[-1, 0])} (cumulative).",
        f"The train/eval output gap E[(y_train − y_eval)²] is {_g(gap.sim[j16], 4)} at "
        f"m = {gap.ms[j16]} (exact {_g(gap.exact[j16], 4)} ≈ 3/(2m)); equal-weight merging of "
        f"shards {'+'.join(map(str, merge.patterns[worst]))} underestimates the variance by "
        f"{_pct(abs(merge.eq_var_bias[worst]))} of sigma², Chan's count-weighted merge is exact "
        f"to {_tiny(float(merge.chan_err.max()))}.",
    ]
