"""The normalization family's error report (``bncheck.report.family_error``) and its
frameworks page (``bncheck.report.family_frameworks``): the regimes, that a wrong
implementation shows, that the numbers do not depend on the machine, and that the frameworks
page skips cleanly without them."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bncheck.check.tolerances import TARGET_ULP, worst_case_k
from bncheck.report import family_error as fe
from bncheck.report import numerical_error as ne
from tests.frameworks import marks
from tests.paths import COMMITTED_QUICK
from tests.reportdiff import first_difference

NORM = {n.key: n for n in fe.NORMS}
ROW = {r.label: r for r in fe.ROWS}


def _set_stats(norm: fe.Norm, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per set of values sharing statistics: the mean and the standard deviation (float64)."""
    member = norm.member
    view = member.view(x.astype(np.float64))
    cols = member.spec(view.ndim).columns(view)
    return cols.mean(axis=0), cols.std(axis=0)


def test_the_regimes_are_those_of_the_bn_report() -> None:
    bn = {r.label: r for r in ne.ROWS}
    shared = [r for r in fe.ROWS if r.label in bn]
    assert [r.label for r in shared] == [
        "standard",
        "mean/spread 1e2",
        "mean/spread 1e4",
        "mean/spread 1e6",
        "variance below eps",
        "heavy tails (t, 2 dof)",
        "m = 4",
    ]
    for row in shared:
        assert row.regime == bn[row.label].regime, row.label
        assert row.dtypes == bn[row.label].dtypes, row.label
    # float16 cannot hold a mean 1e6 times its spread
    assert "float16" not in ROW["mean/spread 1e6"].dtypes


@pytest.mark.parametrize("key", list(NORM))
def test_each_row_draws_sets_with_its_statistics(key: str) -> None:
    norm = NORM[key]
    for row in fe.ROWS:
        x, gamma, beta, dy = fe.case(norm, row, "float64", quick=False)
        member = norm.member
        assert (beta is None) == (key == "rmsnorm")
        assert beta is None or beta.shape == gamma.shape
        assert gamma.shape == member.param_shape(x.shape)
        m = member.spec(len(member.view_shape(x.shape))).m(member.view_shape(x.shape))
        assert m == row.size[1], (row.label, x.shape)
        mean, std = _set_stats(norm, x)
        if row.label.startswith("mean/spread"):
            ratio = float(row.label.split()[-1])
            assert np.allclose(np.abs(mean) / std, ratio, rtol=0.5), row.label
        if row.label == "variance below eps":
            assert np.all(std**2 < fe.EPS), row.label
    # gamma·dy is affine in x (RMSNorm: proportional), to the rounding of dy
    for key_, const in (("layernorm", 3.0), ("rmsnorm", 0.0)):
        if key_ == key:
            x, gamma, _, dy = fe.case(norm, ROW["gamma·dy = 2x + 3"], "float64", quick=False)
            assert np.allclose(gamma * dy, 2 * x + const, rtol=1e-14, atol=1e-13)


def test_the_one_pass_variance_is_not_measured_for_rmsnorm() -> None:
    table = fe.measure(quick=True)
    names = {(key, name) for key, _, _, name in table}
    assert ("rmsnorm", "one-pass E[x²]−E[x]²") not in names
    assert ("layernorm", "one-pass E[x²]−E[x]²") in names
    assert ("groupnorm", "one-pass E[x²]−E[x]²") in names
    # RMSNorm has no beta: its dbeta is NaN, printed as three outputs per cell
    for (key, *_), errs in table.items():
        assert math.isnan(errs[3]) == (key == "rmsnorm")


def test_bncheck_meets_its_targets_and_the_naive_code_is_a_correct_formula() -> None:
    table = fe.measure(quick=True)
    for (key, dtype, label, name), errs in table.items():
        if name == "bncheck":
            assert max(e for e in errs if not math.isnan(e)) <= TARGET_ULP[dtype], (key, label)
        if name == "naive staged" and dtype == "float64" and label == "standard":
            # the recursive-summation bound of the worst case (bncheck.check.tolerances): a
            # correct two-pass formula in float64 stays within it on well-conditioned sets
            m = fe.ROWS[0].quick_size[1]
            assert max(e for e in errs if not math.isnan(e)) <= worst_case_k(m), key


def _missing_mean_path(norm: fe.Norm, x: Any, g: Any, b: Any, dy: Any) -> fe.Result:
    """A planted mistake: the backward without the path through the mean (dx = dn/std +
    dvar·2·xc/m, the sum over the set forgotten)."""
    y, dx, dgamma, dbeta = fe.IMPLEMENTATIONS["naive staged"](norm, x, g, b, dy)
    if not norm.member.centered:
        return y, dx, dgamma, dbeta
    x64, g64, dy64 = (np.asarray(a, dtype=np.float64) for a in (x, g, dy))
    member = norm.member
    spec = member.spec(len(member.view_shape(x.shape)))
    view_shape = member.view_shape(x.shape)
    xs = spec.columns(member.view(x64))
    dn = spec.columns(member.view(dy64)) * spec.param_columns(member.param_view(g64), view_shape)
    # the mean path adds −Σ dn/std / m to every dx of a set (var's own mean-term vanishes)
    std = np.sqrt(xs.var(axis=0) + fe.EPS)
    wrong = spec.columns(member.view(np.asarray(dx, dtype=np.float64))) + dn.sum(
        axis=0
    ) / std / len(xs)
    back = np.asarray(spec.from_columns(wrong, view_shape)).reshape(x.shape)
    return y, back.astype(x.dtype), dgamma, dbeta


def test_a_planted_wrong_backward_shows_in_the_table() -> None:
    impls = {"bncheck": fe.IMPLEMENTATIONS["bncheck"], "planted": _missing_mean_path}
    table = fe.measure(quick=True, impls=impls)
    for key in ("layernorm", "groupnorm"):
        y, dx, _, _ = table[(key, "float64", "standard", "planted")]
        assert y <= TARGET_ULP["float64"]  # the forward is right
        assert dx > 1e6, key  # dx is off by O(1) relative: ~2^52 ULP
    text = "\n".join(fe.tables(table))
    assert "| planted" in text or "planted |" in text


def _optional_cpu_features() -> list[str]:
    """The SIMD features NumPy dispatches to on this CPU beyond its baseline."""
    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # NumPy 1.x
        from numpy.core import _multiarray_umath as umath  # type: ignore[no-redef]
    found: dict[str, bool] = dict(getattr(umath, "__cpu_features__", {}))
    return [f for f in getattr(umath, "__cpu_dispatch__", []) if found.get(f)]


_CHILD = """
import sys
from pathlib import Path
sys.modules["torch"] = None
from bncheck.report import family_error
family_error.build(Path(sys.argv[1]), quick=True)
"""


def test_the_quick_report_is_the_same_in_another_process_without_simd_features(
    tmp_path: Path,
) -> None:
    env = dict(os.environ)
    env["NPY_DISABLE_CPU_FEATURES"] = " ".join(_optional_cpu_features())
    env["BNCHECK_NUM_THREADS"] = "1"
    subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path)], env=env, check=True, timeout=300)
    made = (tmp_path / "family_error.md").read_bytes()
    committed = (COMMITTED_QUICK / "family_error.md").read_bytes()
    assert made == committed, first_difference("reports/quick/family_error.md", made, committed)


def test_the_quick_report_states_the_verdict_and_shows_its_plot(
    quick_reports: tuple[Path, list[Path]],
) -> None:
    folder = quick_reports[0]
    text = (folder / "family_error.md").read_text(encoding="utf-8")
    assert "on every row and output: met." in text
    assert "![error against the offset](family_error_offset.png)" in text
    assert (folder / "family_error_offset.png").stat().st_size > 0
    for norm in fe.NORMS:
        assert f"### {norm.title}" in text
    # the quick report links no frameworks' page (the quick build has none)
    assert "family_error_frameworks.md" not in text


_NO_FRAMEWORKS = """
import sys
from pathlib import Path
for name in ("torch", "jax", "flax", "keras"):
    sys.modules[name] = None
from bncheck.report import family_frameworks
built = family_frameworks.build(Path(sys.argv[1]), quick=True)
print(len(built.paths))
"""


def test_the_frameworks_page_without_frameworks_says_what_was_not_measured(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _NO_FRAMEWORKS, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert done.stdout.strip() == "1"
    text = (tmp_path / "family_error_frameworks.md").read_text(encoding="utf-8")
    assert "no framework installed" in text
    assert "Not installed here, so not measured: PyTorch CPU, Flax" in text
    assert "## Error by member" not in text


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("PyTorch CPU", marks=marks("torch")),
        pytest.param("Flax", marks=marks("jax")),
        pytest.param("Keras (JAX)", marks=marks("keras")),
    ],
)
def test_each_framework_runs_every_member(name: str) -> None:
    from bncheck.report.family_frameworks import FRAMEWORKS

    impl = FRAMEWORKS[name]
    for norm in fe.NORMS:
        c = fe.case(norm, fe.ROWS[0], "float32", quick=True)
        got = impl(norm, *c)
        assert got[0].shape == c[0].shape and got[1].shape == c[0].shape
        assert got[2].shape == c[1].shape
        assert (got[3] is None) == (c[2] is None)
        # a correct float32 layer on standard data: within the float32 worst-case bound
        errs = [e for e in fe.errors(norm, impl, c, fe.exact(norm, *c)) if not math.isnan(e)]
        assert max(errs) <= worst_case_k(fe.ROWS[0].quick_size[1]), (name, norm.key, errs)
