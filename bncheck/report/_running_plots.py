"""The PNG plots of ``running_stats.md`` (matplotlib): each section's simulation beside its
closed form, values rounded to 6 digits so regenerating on unchanged code changes no byte."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bncheck.report import _plot
from bncheck.report import _running_exact as rx
from bncheck.report import running_simulation as rm
from bncheck.report._portable import ipow
from bncheck.report._running_format import TINY, momentum_text, run_label

__all__ = [
    "plot_bias",
    "plot_conventions",
    "plot_convergence",
    "plot_drift",
    "plot_gap",
    "plot_merge",
    "plot_precise",
]


def plot_conventions(path: Path, res: rm.Conventions) -> None:
    steps = res.mean_traj.shape[1] - 1
    t = np.arange(steps + 1)
    with _plot.figure(path, ncols=2, height=4.4) as (_, (ax1, ax2)):
        colors: dict[tuple[str, float | None], str] = {}
        for i, (conv, mom, unb) in enumerate(res.runs):
            key = (conv, mom)
            # torch(0.1) and keras(0.9) coincide: draw the first wide and pale underneath
            wide: dict[str, Any] = {"lw": 4.0, "alpha": 0.35} if conv == "torch" else {}
            if key not in colors:
                colors[key] = _plot.COLORS[len(colors)]
                ax1.plot(
                    t,
                    _plot.rounded(res.mean_traj[i]),
                    color=colors[key],
                    label=run_label(conv, mom),
                    **wide,
                )
                ax1.plot(t, _plot.rounded(res.expected_mean[i]), color=colors[key], ls="--", lw=0.8)
            ax2.plot(
                t,
                _plot.rounded(res.var_traj[i]),
                color=colors[key],
                ls="-" if unb else ":",
                label=f"{run_label(conv, mom)} {'unbiased' if unb else 'biased'}",
                **wide,
            )
        ax1.axhline(res.mu, color="k", lw=0.8, label="population mu")
        ax2.axhline(res.sigma2, color="k", lw=0.8, label="sigma²")
        ax2.axhline(
            (res.m - 1) / res.m * res.sigma2, color="k", lw=0.8, ls=":", label="(m−1)/m·sigma²"
        )
        ax1.set(
            xlabel="step t",
            ylabel="running mean",
            title="running mean (dashed: closed-form expectation)",
        )
        ax2.set(xlabel="step t", ylabel="running variance", title="running variance")
        _plot.legend_below(ax1, ncols=3)
        _plot.legend_below(ax2, ncols=3)


def plot_bias(path: Path, res: rm.Bias) -> None:
    ms = np.asarray(res.ms, dtype=np.float64)
    rel_b = res.sim[0] - 1.0
    mm = _plot.rounded(np.geomspace(ms[0], ms[-1], 200))
    keep = float(ipow(1 - res.momentum, res.steps))
    with _plot.figure(path, ncols=2) as (_, (ax1, ax2)):
        for i, name in enumerate(("biased", "unbiased")):
            c = (mm - 1) / mm if i == 0 else np.ones_like(mm)
            th = keep / res.sigma2 + (1 - keep) * c
            ax1.plot(
                mm, _plot.rounded(th), color=_plot.COLORS[i], lw=0.9, label=f"{name}: closed form"
            )
            ax1.errorbar(
                ms,
                _plot.rounded(res.sim[i]),
                yerr=_plot.rounded(res.se[i]),
                fmt="o",
                color=_plot.COLORS[i],
                label=f"{name}: simulation",
            )
        ax1.set(
            xlabel="m (values per batch)",
            ylabel="E[running var] / sigma²",
            title="running variance after training",
        )
        _plot.log_xticks(ax1, ms)
        ax1.legend(loc="lower right")
        th_b = 1 - (keep / res.sigma2 + (1 - keep) * (mm - 1) / mm)
        ax2.plot(
            mm, _plot.rounded(th_b), color=_plot.COLORS[0], lw=0.9, label="closed form (≈ 1/m)"
        )
        ax2.errorbar(
            ms,
            _plot.rounded(-rel_b),
            yerr=_plot.rounded(res.se[0]),
            fmt="o",
            color=_plot.COLORS[0],
            label="biased: simulation",
        )
        ax2.set(
            yscale="log",
            xlabel="m (values per batch)",
            ylabel="1 − E[running var]/sigma²",
            title="underestimate of the biased variance",
        )
        _plot.log_xticks(ax2, ms)
        ax2.legend(loc="upper right")


def plot_convergence(path: Path, res: rm.Convergence) -> None:
    with _plot.figure(path, ncols=2) as (_, axes):
        for ax, sim, th, what in (
            (axes[0], res.mse_mean, res.theory_mean, "mean"),
            (axes[1], res.mse_var, res.theory_var, "variance"),
        ):
            for i, mom in enumerate(res.momenta):
                col = _plot.COLORS[i]
                ax.plot(
                    res.steps,
                    _plot.rounded(np.sqrt(sim[i])),
                    color=col,
                    label=f"momentum {momentum_text(mom)}",
                )
                ax.plot(res.steps, _plot.rounded(np.sqrt(th[i])), color="k", ls="--", lw=0.7)
            ax.set(
                xscale="log",
                yscale="log",
                xlabel="step t",
                ylabel=f"RMS error of the running {what}",
                title=f"running {what} (dashed: closed form)",
            )
        axes[0].legend(loc="lower left")


def plot_drift(path: Path, res: rm.Drift) -> None:
    with _plot.figure(path, ncols=2) as (_, (ax1, ax2)):
        ax1.plot(
            res.steps,
            _plot.rounded(res.speed * res.steps),
            color="k",
            lw=0.9,
            label="population mean",
        )
        for i, mom in enumerate(res.momenta):
            col = _plot.COLORS[i]
            ax1.plot(
                res.steps,
                _plot.rounded(res.mean_run[i]),
                color=col,
                label=f"momentum {momentum_text(mom)}",
            )
            # from t = 2: the cumulative lag (t − 1)/2 is 0 at t = 1
            ax2.plot(
                res.steps[1:],
                _plot.rounded(res.lag_curve[i, 1:]),
                color=col,
                label=f"momentum {momentum_text(mom)}",
            )
            ax2.plot(
                res.steps[1:],
                _plot.rounded(res.lag_curve_theory[i, 1:]),
                color="k",
                ls="--",
                lw=0.7,
            )
        ax1.set(
            xlabel="step t",
            ylabel="running mean (mean over replicas)",
            title="tracking a linear drift",
        )
        ax2.set(
            xscale="log",
            yscale="log",
            xlabel="step t",
            ylabel="lag (steps)",
            title="lag (mu_t − R_t)/v (dashed: closed form)",
        )
        ax2.set_ylim(0.3, None)
        ax1.legend(loc="upper left")


def plot_precise(path: Path, res: rx.Precise) -> None:
    with _plot.figure(path, ncols=2) as (_, axes):
        for q, (ax, th, what) in enumerate(
            (
                (axes[0], res.theory_mean, "mean error / sigma"),
                (axes[1], res.theory_var, "var relative error"),
            )
        ):
            ax.plot(
                res.ks,
                _plot.rounded(res.precise_err[:, q]),
                color="k",
                label="precise BN (simulation)",
            )
            ax.plot(res.ks, _plot.rounded(th), color="k", ls="--", lw=0.8, label="closed form")
            for i, lab in enumerate(res.labels):
                ax.axhline(
                    float(_plot.rounded(res.run_err[i, q])),
                    color=_plot.COLORS[i],
                    lw=1.2,
                    label=lab,
                )
            ax.set(
                xscale="log",
                yscale="log",
                xlabel="k (recomputation batches)",
                ylabel=what,
                title=f"{what}: precise BN after k batches",
            )
        _plot.legend_below(axes[0], ncols=3)
        _plot.legend_below(axes[1], ncols=3)


def plot_gap(path: Path, res: rx.Gap) -> None:
    ms = np.asarray(res.ms, dtype=np.float64)
    mm = np.arange(2, int(ms[-1]) + 1, dtype=np.float64)
    exact = np.array([2 - 2 * rm.expected_sigma_b(int(m)) for m in mm])
    with _plot.figure(path, ncols=2) as (_, (ax1, ax2)):
        ax1.plot(mm, _plot.rounded(exact), color="k", lw=0.9, label="exact 2 − 2E[sigma_B]/sigma")
        ax1.plot(mm, _plot.rounded(1.5 / mm), color="k", ls="--", lw=0.8, label="3/(2m)")
        ax1.errorbar(
            ms,
            _plot.rounded(res.sim),
            yerr=_plot.rounded(res.se),
            fmt="o",
            color=_plot.COLORS[0],
            label="simulation",
        )
        ax1.set(
            yscale="log",
            xlabel="m (values per batch)",
            ylabel="E[(y_train − y_eval)²]",
            title="mean squared train/eval gap",
        )
        _plot.log_xticks(ax1, ms)
        ax1.legend(loc="lower left")
        xs = np.linspace(-3, 3, 121)
        ax2.plot(
            xs,
            _plot.rounded(1 + xs**2 / 2),
            color="k",
            ls="--",
            lw=0.8,
            label="1 + x̂²/2 (delta method)",
        )
        for i, m in enumerate(res.cond_ms):
            ax2.plot(
                res.bins,
                _plot.rounded(res.cond[i]),
                "o-",
                color=_plot.COLORS[i + 1],
                label=f"simulation, m = {m}",
            )
        ax2.set(
            xlabel="x̂ = (x − mu)/sigma",
            ylabel="m · E[(y_train − y_eval)² | x̂]",
            title="gap by position in the distribution",
        )
        ax2.legend(loc="upper center")


def plot_merge(path: Path, res: rx.Merging) -> None:
    names = ["+".join(str(n) for n in p) for p in res.patterns]
    x = np.arange(len(names))
    w = 0.38
    # Chan's errors are rounding (< TINY): drawn as zero-height bars on a linear scale
    chan = f"count-weighted (Chan): < {TINY:.0e}"
    with _plot.figure(path, ncols=2) as (_, (ax1, ax2)):
        ax1.bar(
            x - w / 2,
            _plot.rounded(res.eq_mean_rms),
            w,
            color=_plot.COLORS[1],
            label="equal weight: RMS",
        )
        ax1.plot(
            x - w / 2, _plot.rounded(res.eq_mean_theory), "k_", ms=14, mew=1.5, label="closed form"
        )
        ax1.bar(x + w / 2, [0.0] * len(x), w, color=_plot.COLORS[0], label=chan)
        ax1.set(ylabel="mean error / sigma", title="merged mean against the whole batch")
        ax2.bar(
            x - w / 2,
            _plot.rounded(-res.eq_var_bias),
            w,
            yerr=_plot.rounded(res.eq_var_se),
            color=_plot.COLORS[1],
            label="equal weight: −bias",
        )
        ax2.plot(
            x - w / 2, _plot.rounded(-res.eq_var_theory), "k_", ms=14, mew=1.5, label="closed form"
        )
        ax2.bar(x + w / 2, [0.0] * len(x), w, color=_plot.COLORS[0], label=chan)
        ax2.set(ylabel="(whole var − merged var) / sigma²", title="merged variance: underestimate")
        for ax in (ax1, ax2):
            ax.set_xticks(x, names, rotation=20, fontsize=7)
            ax.set_xlabel("shard sizes")
            ax.legend(loc="upper left")
