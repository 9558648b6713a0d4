"""bncheck.check.strategies: the strategies draw what they claim."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import find, given, settings

from bncheck.check.regimes import BETA_KINDS, DY_KINDS, GAMMA_KINDS, REGIME_TABLE, make_dy, make_x
from bncheck.check.strategies import (
    BNCase,
    betas,
    bn_cases,
    gammas,
    large_m_shapes,
    shapes,
    upstream_gradients,
)

ALL_DTYPES = (np.float16, np.float32, np.float64)


def columns(a: np.ndarray, axis: int) -> np.ndarray:
    moved = np.moveaxis(a.astype(np.float64), axis, -1)
    return moved.reshape(-1, moved.shape[-1])


@given(shapes())
def test_shapes_are_2d_to_5d_with_at_least_two_values_per_channel(
    drawn: tuple[tuple[int, ...], int],
) -> None:
    shape, axis = drawn
    assert 2 <= len(shape) <= 5
    assert -len(shape) <= axis < len(shape)
    assert int(np.prod(shape)) // shape[axis] >= 2


@given(large_m_shapes(max_m=300))
def test_large_batches_have_m_in_the_asked_range(drawn: tuple[tuple[int, ...], int]) -> None:
    shape, axis = drawn
    assert axis == 1 and 64 <= int(np.prod(shape)) // shape[1] <= 300


@given(bn_cases(dtypes=ALL_DTYPES, max_large_m=256))
def test_cases_are_finite_in_their_dtype_with_per_channel_parameters(case: BNCase) -> None:
    dt = case.x.dtype
    assert dt in [np.dtype(d) for d in ALL_DTYPES]
    assert case.dy.dtype == dt and case.dy.shape == case.x.shape
    assert np.all(np.isfinite(case.x)) and np.all(np.isfinite(case.dy))
    assert case.m >= 2 and case.regime in REGIME_TABLE
    c = case.x.shape[case.axis]
    for p in (case.gamma, case.beta):
        assert p is None or (p.shape == (c,) and p.dtype == dt and np.all(np.isfinite(p)))
    if case.beta is not None:
        assert np.any(case.beta != 0)
    assert case.eps > 0


@given(bn_cases(dtypes=ALL_DTYPES))
def test_upstream_gradients_are_never_uniform_within_a_channel(case: BNCase) -> None:
    dy = columns(case.dy, case.axis)
    assert np.all(dy.max(axis=0) > dy.min(axis=0))


@pytest.mark.parametrize("kind", list(DY_KINDS))
@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_every_gradient_kind_is_non_uniform_even_in_float16(kind: str, dtype: type) -> None:
    # a sparse (2, 3) gradient is often all zero in a channel before the fix-up
    for seed in range(50):
        dy = make_dy(np.random.default_rng(seed), kind, (2, 3), 1, dtype)
        assert dy.dtype == dtype and np.all(np.isfinite(dy))
        assert np.all(dy[0] != dy[1])
    drawn = find(upstream_gradients((4, 2), -1, dtype, (kind,)), lambda dy: True)
    assert np.all(drawn.max(axis=0) > drawn.min(axis=0))


def test_every_regime_and_kind_is_drawn_by_default_and_large_m_when_asked() -> None:
    seen: dict[str, set[str]] = {"regime": set(), "gamma": set(), "beta": set(), "dy": set()}
    ms: list[int] = []

    @settings(max_examples=300, derandomize=True, database=None)
    @given(bn_cases(max_large_m=512, affine=True))
    def collect(case: BNCase) -> None:
        seen["regime"].add(case.regime)
        seen["gamma"].add(case.gamma_kind)
        seen["beta"].add(case.beta_kind)
        seen["dy"].add(case.dy_kind)
        ms.append(case.m)

    collect()
    assert seen["regime"] == set(REGIME_TABLE)
    assert seen["gamma"] == set(GAMMA_KINDS) and seen["beta"] == set(BETA_KINDS)
    assert seen["dy"] == set(DY_KINDS)
    assert min(ms) == 2 and max(ms) >= 64


def channel_stats(regime: str, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = columns(make_x(np.random.default_rng(0), (4000, 3), 1, regime, eps), 1)
    return x, x.mean(axis=0), x.var(axis=0)


@pytest.mark.parametrize("eps", [1e-5, 1e-3])
def test_near_constant_regimes_put_the_variance_near_and_below_eps(eps: float) -> None:
    # the sample variance of 4000 Gaussian values is within ±10% of the population's (6 sd)
    for regime, lo, hi in [
        ("var_near_eps", 0.8, 1.2),
        ("var_below_eps", 0.8e-2, 1.2e-2),
        ("var_far_below_eps", 0.8e-4, 1.2e-4),
    ]:
        _, mean, var = channel_stats(regime, eps)
        assert np.all((lo * eps <= var) & (var <= hi * eps)), regime
        assert np.all(np.abs(mean) > 5 * np.sqrt(var)), regime  # near-constant, not centred


def test_offset_regimes_have_the_claimed_mean_to_spread_ratio() -> None:
    for regime in ("offset_1e2", "offset_1e4"):
        _, mean, var = channel_stats(regime, 1e-5)
        ratio = np.abs(mean) / np.sqrt(var)
        np.testing.assert_allclose(ratio, REGIME_TABLE[regime].offset, rtol=0.1)


def test_heavy_tail_regimes_have_outliers_and_stay_finite() -> None:
    for regime in ("heavy_tails_cauchy", "heavy_tails_t2"):
        x, _, _ = channel_stats(regime, 1e-5)
        med = np.median(x, axis=0)
        iqr = np.subtract(*np.percentile(x, [75, 25], axis=0))
        assert np.all(np.abs(x - med).max(axis=0) > 10 * iqr), regime
    x16 = make_x(np.random.default_rng(1), (4000, 2), 1, "heavy_tails_cauchy", 1e-5, np.float16)
    assert np.all(np.isfinite(x16)) and np.all(np.isfinite(x16.astype(np.float64) ** 2))


def test_gamma_kinds_are_far_from_one_and_negative() -> None:
    rng = np.random.default_rng(0)
    far = GAMMA_KINDS["far"](rng, 400)
    assert np.abs(far).min() < 1e-2 and np.abs(far).max() > 1e2
    assert np.any(far < 0) and np.any(far > 0)
    assert np.all(GAMMA_KINDS["negative"](rng, 400) < 0)
    moderate = np.abs(GAMMA_KINDS["moderate"](rng, 400))
    assert np.all((moderate >= 0.5) & (moderate <= 2.0))
    assert np.all(np.abs(BETA_KINDS["large"](rng, 400)) > 50)


@given(gammas(5, np.float16), betas(5, np.float16))
def test_parameters_stay_representable_in_float16(g: np.ndarray, b: np.ndarray) -> None:
    for p in (g, b):
        assert p.dtype == np.float16 and p.shape == (5,)
        assert np.all(np.isfinite(p)) and np.all(np.abs(p.astype(np.float64)) <= 64)
