"""bncheck.report.running_stats: files, determinism, and simulations against closed forms.

Statistical budget: every simulated number is compared with its closed form as a z-score with
the standard error measured from the replicas, and must lie within Z = 5 of it. For a correct
implementation the chance of one false alarm among the ~100 comparisons here is about 1e-4;
the seeds are fixed, so a pass stays a pass.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest

from bncheck.report import running_simulation as rm
from bncheck.report.build import HEADER
from bncheck.report.running_stats import SECTIONS, SEED, build
from tests.internals import plot as _plot
from tests.internals import running_exact as rx

Z = 5.0


@pytest.fixture(scope="module")
def quick_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any, list[str]]:
    """Two quick builds into separate directories, and the progress steps of the first."""
    steps: list[str] = []
    first = tmp_path_factory.mktemp("first")
    second = tmp_path_factory.mktemp("second")
    built = build(first, quick=True, progress=steps.append)
    build(second, quick=True)
    return first, second, built, steps


@pytest.fixture(scope="module")
def quick() -> dict[str, Any]:
    """The quick build's measurements, from the same seeds as the report."""
    return {
        name: measure(np.random.default_rng([SEED, k]), rm.QUICK)
        for k, (name, measure, _) in enumerate(SECTIONS, start=1)
    }


# -- files -----------------------------------------------------------------------------------
def test_quick_build_writes_the_markdown_and_seven_pngs(quick_dirs: Any) -> None:
    out, _, built, _ = quick_dirs
    names = [p.name for p in built.paths]
    assert names[0] == "running_stats.md"
    assert len(names) == 8
    assert all(re.fullmatch(r"running_\w+\.png", n) for n in names[1:])
    assert all(p.parent == out and p.stat().st_size > 0 for p in built.paths)
    assert sorted(p.name for p in out.iterdir()) == sorted(names)


def test_markdown_starts_with_the_generated_header(quick_dirs: Any) -> None:
    text = (quick_dirs[0] / "running_stats.md").read_text(encoding="utf-8")
    assert text.startswith(HEADER + "# Running statistics\n")
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_every_markdown_link_points_to_a_written_file_and_every_png_is_linked(
    quick_dirs: Any,
) -> None:
    out, _, built, _ = quick_dirs
    text = (out / "running_stats.md").read_text(encoding="utf-8")
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links == [p.name for p in built.paths[1:]]
    assert all((out / link).is_file() for link in links)


def test_each_section_has_a_table_and_a_plot(quick_dirs: Any) -> None:
    text = (quick_dirs[0] / "running_stats.md").read_text(encoding="utf-8")
    sections = text.split("\n## ")[1:]
    assert len(sections) == len(SECTIONS)
    for sec in sections:
        assert "\n|---" in sec or "\n|--" in sec, sec[:60]
        assert "](running_" in sec


def test_progress_is_called_once_per_section(quick_dirs: Any) -> None:
    assert quick_dirs[3] == [name for name, _, _ in SECTIONS]


def test_summary_has_three_lines_with_measured_numbers(quick_dirs: Any) -> None:
    summary = quick_dirs[2].summary
    assert len(summary) == 3
    assert all(isinstance(s, str) and "\n" not in s and re.search(r"\d\.\d", s) for s in summary)


def test_building_twice_gives_the_same_bytes(quick_dirs: Any) -> None:
    _, second, built, _ = quick_dirs
    for path in built.paths:
        assert path.read_bytes() == (second / path.name).read_bytes(), path.name


def test_no_number_is_printed_with_more_than_four_significant_digits(quick_dirs: Any) -> None:
    text = (quick_dirs[0] / "running_stats.md").read_text(encoding="utf-8")
    for number in re.findall(r"(?<![\w.])\d+\.\d+(?:e[-+]\d+)?", text):
        digits = number.split("e")[0].replace(".", "").lstrip("0")
        assert len(digits) <= 4, number


# -- plotting helpers ------------------------------------------------------------------------
def _render(path: Path) -> bytes:
    with _plot.figure(path, ncols=2) as (_, (ax1, ax2)):
        x = np.linspace(0.0, 1.0, 50)
        ax1.plot(x, _plot.rounded(np.sin(x)), label="sin")
        ax2.bar([1, 2], [3.0, 4.0])
        _plot.log_xticks(ax1, [0.1, 1.0])
        ax1.legend()
    return path.read_bytes()


def test_save_png_is_byte_deterministic_and_ignores_global_rcparams(tmp_path: Path) -> None:
    first = _render(tmp_path / "a.png")
    with matplotlib.rc_context({"lines.linewidth": 7.0, "font.size": 20.0, "axes.grid": False}):
        second = _render(tmp_path / "b.png")
    assert first == second
    assert first.startswith(b"\x89PNG") and b"Software" not in first
    assert b"matplotlib" not in first.lower()


def test_rounded_keeps_six_significant_digits_and_special_values() -> None:
    got = _plot.rounded([1.23456789, -9.87654321e-8, 0.0, np.inf, np.nan])
    assert got[0] == 1.23457 and got[1] == -9.87654e-8 and got[2] == 0.0
    assert np.isinf(got[3]) and np.isnan(got[4])


# -- closed forms ----------------------------------------------------------------------------
def test_ema_mse_closed_form_matches_the_variance_recursion() -> None:
    a, e0, vb = 0.1, -3.0, 0.25
    bias, var = e0, 0.0
    for t in range(1, 60):
        bias, var = (1 - a) * bias, (1 - a) ** 2 * var + a**2 * vb
        assert rm.ema_mse(a, float(t), e0, vb) == pytest.approx(bias**2 + var, rel=1e-12)


def test_expected_sigma_b_has_its_known_values() -> None:
    assert rm.expected_sigma_b(2) == pytest.approx(1 / math.sqrt(math.pi), rel=1e-14)
    assert rm.expected_sigma_b(3) == pytest.approx(math.sqrt(2 / 3) * math.sqrt(math.pi) / 2)
    for m in (100, 1000):  # 2 − 2E[sigma_B]/sigma → 3/(2m)
        assert (2 - 2 * rm.expected_sigma_b(m)) * m == pytest.approx(1.5, rel=2 / m)


# -- simulations against the closed forms (quick sizes) --------------------------------------
def test_running_variance_bias_agrees_with_the_closed_form(quick: dict[str, Any]) -> None:
    res: rm.Bias = quick["bias"]
    assert np.all(np.abs(res.sim - res.theory) <= Z * res.se)
    # and the biased one is detectably biased where 1/m exceeds the noise
    j = res.ms.index(8)
    assert res.theory[0, j] < 1 - 1 / 8 + 1e-3 and res.sim[0, j] < 1 - Z * res.se[0, j]


def test_convergence_agrees_with_the_closed_form_at_the_reported_steps(
    quick: dict[str, Any],
) -> None:
    res: rm.Convergence = quick["convergence"]
    steps = len(res.steps)
    for t in sorted({1, 10, 100, steps}):
        k = t - 1
        assert np.all(np.abs(res.mse_mean[:, k] - res.theory_mean[:, k]) <= Z * res.se_mean[:, k])
        assert np.all(np.abs(res.mse_var[:, k] - res.theory_var[:, k]) <= Z * res.se_var[:, k])


def test_drift_lag_agrees_with_the_closed_form(quick: dict[str, Any]) -> None:
    res: rm.Drift = quick["drift"]
    assert np.all(np.abs(res.lag - res.lag_theory) <= Z * res.lag_se)
    assert np.all(np.abs(res.lag_window - res.lag_window_theory) <= Z * res.lag_window_se)
    i = res.momenta.index(0.1)
    assert res.lag_steady[i] == pytest.approx(9.0)


def test_precise_bn_converges_like_its_closed_form_and_beats_the_cumulative_average(
    quick: dict[str, Any],
) -> None:
    res: rx.Precise = quick["precise BN"]
    # channels share the data (rank d), so only a factor-2 band for the RMS over channels
    ratio = res.precise_err[-1, :2] / np.array([res.theory_mean[-1], res.theory_var[-1]])
    assert np.all((ratio > 0.5) & (ratio < 2.0))
    assert np.all(res.precise_err[-1] < res.run_err[-1])


def test_train_eval_gap_agrees_with_the_exact_form(quick: dict[str, Any]) -> None:
    res: rx.Gap = quick["train/eval gap"]
    assert np.all(np.abs(res.sim - res.exact) <= Z * res.se)


def test_count_weighted_merge_is_exact_and_equal_weight_has_its_predicted_bias(
    quick: dict[str, Any],
) -> None:
    res: rx.Merging = quick["merging"]
    assert np.all(res.chan_err < 1e-12)
    assert np.all(np.abs(res.eq_var_bias - res.eq_var_theory) <= Z * res.eq_var_se)
    # RMS of a mean over R replicas: relative standard error ≈ 1/sqrt(2R)
    tol = Z / math.sqrt(2 * res.replicas)
    unequal = res.eq_mean_theory > 0
    rel = res.eq_mean_rms[unequal] / res.eq_mean_theory[unequal] - 1
    assert np.all(np.abs(rel) <= tol)


# The full build is not rebuilt here: it is the main job's (the README's first command, which CI
# runs before the tests, and which fails if any section does), 68 s of a test run on 2 cores.
