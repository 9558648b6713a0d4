"""bncheck.check.tolerances: the normwise-ULP metric and the condition-aware budget.

The budget must (a) let a correct plain two-pass BN that computes everything in float32 pass,
also when the mean is 1e4 spreads away and m is in the thousands, and (b) still reject a formula
whose effect is small (eps counted twice, m − 1 in the variance) in float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given

from bncheck.check.conditions import channel_condition, output_condition
from bncheck.check.metrics import compare, normwise_ulp
from bncheck.check.strategies import BNCase, bn_cases
from bncheck.check.tolerances import BUDGET_TABLE, error_budget, summation_factor, unit_roundoff
from bncheck.check.truth import exact_batchnorm
from tests.plain_bn import OUTPUTS, Plain, plain_bn


def judge(case: BNCase, out: Plain, dtype: Any) -> dict[str, Any]:
    t = exact_batchnorm(case.x, case.gamma, case.beta, case.dy, eps=case.eps, axis=case.axis)
    truth = {"y": t.y, "dx": t.dx, "dgamma": t.dgamma, "dbeta": t.dbeta}
    return {
        n: compare(
            getattr(out, n), truth[n], n, dtype, x=case.x, eps=case.eps, axis=case.axis, dy=case.dy
        )
        for n in OUTPUTS
        if truth[n] is not None
    }


def make_case(
    shape: tuple[int, ...], offset: float, dtype: Any, seed: int = 0, eps: float = 1e-5
) -> BNCase:
    """Channel axis 1; x = ±offset + N(0, 1), rounded to dtype *before* the truth sees it."""
    rng = np.random.default_rng(seed)
    c = shape[1]
    sign = rng.choice([-1.0, 1.0], size=c).reshape(1, c, *[1] * (len(shape) - 2))
    x = (offset * sign + rng.standard_normal(shape)).astype(dtype)
    gamma = (rng.uniform(0.5, 2.0, c) * rng.choice([-1.0, 1.0], c)).astype(dtype)
    beta = rng.normal(size=c).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    return BNCase(x, gamma, beta, dy, eps, 1, f"offset {offset:g}")


PLAIN_F32_CASES = [
    ((4096, 2), 1e4),
    ((2048, 3), 1e3),
    ((16, 3, 8, 8), 1e4),  # m = 1024
    ((8, 2, 4, 4, 4), 1e4),  # m = 512
    ((3, 4), 1e4),
    ((2, 3), 0.0),
    ((1000, 3), 0.0),
]


@pytest.mark.parametrize(
    ("shape", "offset"), PLAIN_F32_CASES, ids=[f"{s}-{o:g}" for s, o in PLAIN_F32_CASES]
)
def test_a_plain_two_pass_float32_bn_passes_at_offsets_up_to_1e4(
    shape: tuple[int, ...], offset: float
) -> None:
    case = make_case(shape, offset, np.float32)
    out = plain_bn(case.x, case.gamma, case.beta, case.dy, case.eps, case.axis)
    assert out.y.dtype == np.float32 and out.dx.dtype == np.float32
    for name, cmp in judge(case, out, np.float32).items():
        assert cmp.passed, f"{name}: {cmp.ulp:.3g} ULP > budget {cmp.budget:.3g}"


@given(bn_cases(dtypes=(np.float32, np.float64), max_ndim=4))
def test_a_plain_two_pass_bn_passes_in_every_regime(case: BNCase) -> None:
    out = plain_bn(case.x, case.gamma, case.beta, case.dy, case.eps, case.axis)
    for name, cmp in judge(case, out, case.x.dtype).items():
        assert cmp.passed, f"{case.regime} {name}: {cmp.ulp:.3g} ULP > budget {cmp.budget:.3g}"


MISTAKES = {"eps twice": {"eps_twice": True}, "m-1 in the variance": {"var_divisor": "m-1"}}


@pytest.mark.parametrize("mistake", list(MISTAKES))
@pytest.mark.parametrize("shape", [(64, 3), (8, 3, 4, 4)], ids=["2d", "4d"])
def test_a_small_formula_mistake_fails_in_float64(mistake: str, shape: tuple[int, ...]) -> None:
    # eps twice changes y by a relative eps/(2(var + eps)) ~ 5e-6 on unit-variance data: far
    # below float32 resolution of the budget, ~1e10 float64 ULP.
    case = make_case(shape, 0.0, np.float64, seed=3)
    right = judge(case, plain_bn(case.x, case.gamma, case.beta, case.dy, case.eps, 1), np.float64)
    assert all(c.passed for c in right.values()), right  # the control passes
    wrong = plain_bn(case.x, case.gamma, case.beta, case.dy, case.eps, 1, **MISTAKES[mistake])
    verdict = judge(case, wrong, np.float64)
    for name in ("y", "dx", "dgamma"):
        assert not verdict[name].passed, f"{name}: {verdict[name]}"


def test_the_budget_does_not_catch_eps_twice_in_float32_which_is_why_float64_is_needed() -> None:
    # Documents the limit: the same mistake hides inside the float32 budget.
    case = make_case((64, 3), 0.0, np.float32, seed=3)
    wrong = plain_bn(case.x, case.gamma, case.beta, case.dy, case.eps, 1, eps_twice=True)
    assert judge(case, wrong, np.float32)["y"].passed


def test_normwise_ulp_counts_spacings_of_the_channels_largest_value() -> None:
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(5, 3)).astype(np.float32).astype(np.float64)
    unit = np.spacing(np.abs(truth).max(axis=0).astype(np.float32)).astype(np.float64)
    actual = truth.copy()
    actual[2, :] += np.array([3.0, 1.0, 0.0]) * unit  # channel 0 is 3 spacings off
    assert normwise_ulp(actual, truth, np.float32, axis=1) == 3.0
    assert normwise_ulp(actual.T, truth.T, np.float32, axis=0) == 3.0
    assert normwise_ulp(truth, truth, np.float32, axis=1) == 0.0


def test_compare_reports_the_worst_entry_of_the_channel_closest_to_failing() -> None:
    case = make_case((6, 3, 2), 0.0, np.float64, seed=1)
    t = exact_batchnorm(case.x, case.gamma, case.beta, case.dy, eps=case.eps)
    actual = t.y.copy()
    unit = np.spacing(np.abs(t.y[:, 2]).max())
    actual[4, 2, 1] += 1e6 * unit
    cmp = compare(actual, t.y, "y", np.float64, x=case.x, eps=case.eps, axis=1)
    assert not cmp.passed
    assert cmp.worst_index == (4, 2, 1)
    assert cmp.worst_actual == actual[4, 2, 1] and cmp.worst_truth == t.y[4, 2, 1]
    assert cmp.ulp == pytest.approx(1e6, rel=1e-9)
    ok = compare(t.y, t.y, "y", np.float64, x=case.x, eps=case.eps, axis=1)
    assert ok.passed and ok.ulp == 0.0


def test_a_nan_output_fails_and_is_reported() -> None:
    case = make_case((5, 2), 0.0, np.float64)
    t = exact_batchnorm(case.x, case.gamma, case.beta, case.dy, eps=case.eps)
    bad = t.dgamma.copy()
    bad[1] = np.nan
    cmp = compare(bad, t.dgamma, "dgamma", np.float64, x=case.x, eps=case.eps, axis=1, dy=case.dy)
    assert not cmp.passed and cmp.ulp == np.inf and cmp.worst_index == (1,)


def test_the_budget_follows_its_formula() -> None:
    # (g + c)·K + g²·u·kappa_s²·K2 with g = (exp(λ√m u + m u²/(1 − u)) − 1)/u + 2
    for dtype in (np.float16, np.float32, np.float64):
        u = unit_roundoff(dtype)
        assert u == {np.float16: 2.0**-11, np.float32: 2.0**-24, np.float64: 2.0**-53}[dtype]
        for m in (2, 100, 4096):
            g = summation_factor(m, dtype)
            assert g >= 6.0 * np.sqrt(m) + 2.0  # γ̃_m >= λ√m·u
            for out, row in BUDGET_TABLE.items():
                b = error_budget(
                    out, dtype, m=m, condition=5.0, shift_condition=10.0, scale_sensitivity=2.0
                )
                second = g * g * u * 100.0 * 2.0 if row.second_order else 0.0
                assert b == pytest.approx((g + row.c) * 5.0 + second, rel=1e-12)
    with pytest.raises(ValueError, match="output='z' is unknown"):
        error_budget("z", np.float32, m=4, condition=1.0)


def test_the_centering_condition_grows_with_the_offset_and_ignores_scale() -> None:
    rng = np.random.default_rng(2)
    z = rng.standard_normal((50, 3))
    base = channel_condition(z, 1e-5, 1)
    shifted = channel_condition(z + 1e4, 1e-5, 1)
    assert np.all(base >= 1.0) and np.all(shifted > 1e3 * base)
    # BN(a·x; a²·eps) = BN(x; eps): the condition is scale invariant too (a = 2^10 is exact).
    np.testing.assert_allclose(channel_condition(1024 * z, 1024**2 * 1e-5, 1), base, rtol=1e-14)
    ky = output_condition("y", z + 1e4, 1e-5, 1)
    np.testing.assert_allclose(ky, 2 * np.abs(z + 1e4).max(0) / np.abs(z - z.mean(0)).max(0) + 3)
    with pytest.raises(ValueError, match="dy is required"):
        output_condition("dx", z, 1e-5, 1)


@pytest.mark.parametrize("output", ["y", "dx", "dgamma", "dbeta"])
def test_the_budgets_of_many_columns_are_the_budget_of_each(output: str) -> None:
    from bncheck.check.tolerances import error_budget, error_budgets

    rng = np.random.default_rng(0)
    k, ks, k2 = rng.uniform(0.5, 1e4, size=(3, 50))
    many = error_budgets(output, "float32", m=77, condition=k, shift_condition=ks, k2=k2)
    each = [
        error_budget(output, "float32", m=77, condition=a, shift_condition=b, scale_sensitivity=c)
        for a, b, c in zip(k, ks, k2, strict=True)
    ]
    assert np.array_equal(many, np.array(each))  # the same floats
