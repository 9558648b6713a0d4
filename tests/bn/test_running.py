"""bncheck.bn.running: the convention table against exact rational closed forms."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bncheck import BatchNormError
from bncheck.bn.running import CONVENTIONS, merge_shards, resolve_momentum, update_running
from bncheck.check.tolerances import TOLERANCES
from tests.closed_forms import ema_closed_form, exact_stats

U64 = TOLERANCES["float64"].unit_roundoff


def batches(seed: int, k: int, m: int, c: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(2.0, 1.5, size=(m, c)) for _ in range(k)]


def run_updates(bs: list[np.ndarray], **kw: object) -> tuple[np.ndarray, np.ndarray, int]:
    c = bs[0].shape[1]
    mean, var, t = np.zeros(c), np.ones(c), 0
    for b in bs:
        mean, var, t = update_running(
            mean,
            var,
            b.mean(0),
            b.var(0),
            b.shape[0],
            num_batches_tracked=t,
            **kw,  # type: ignore[arg-type]
        )
    return mean, var, t


# (convention, momentum, unbiased override, exact weight of the new batch; None = 1/t)
LAWS = [
    ("torch", 0.1, None, Fraction(1, 10), True),
    ("torch", 0.25, False, Fraction(1, 4), False),
    ("torch", None, None, None, True),
    ("keras", 0.99, None, Fraction(1, 100), False),
    ("keras", 0.75, True, Fraction(1, 4), True),
    ("cumulative", None, None, None, True),
    ("cumulative", None, False, None, False),
]


@pytest.mark.parametrize(
    ("convention", "momentum", "unbiased", "weight", "uses_unbiased"),
    LAWS,
    ids=[f"{c}-{m}-{u}" for c, m, u, _, _ in LAWS],
)
def test_running_statistics_follow_the_closed_form_after_k_steps(
    convention: str,
    momentum: float | None,
    unbiased: bool | None,
    weight: Fraction | None,
    uses_unbiased: bool,
) -> None:
    k, m = 12, 5
    bs = batches(1, k, m)
    mean, var, t = run_updates(bs, convention=convention, momentum=momentum, unbiased=unbiased)
    assert t == k
    stats = [exact_stats(b) for b in bs]
    corr = Fraction(m, m - 1) if uses_unbiased else Fraction(1)
    for j in range(3):
        mus = [s[0][j] for s in stats]
        vs = [s[1][j] * corr for s in stats]
        if weight is None:  # cumulative: the arithmetic mean of the batch statistics
            want_mean, want_var = sum(mus) / k, sum(vs) / k
        else:
            # momentum like 0.1 is not exactly 1/10 in binary: the closed form uses the float's
            # exact value, so only rounding in the updates remains.
            w = Fraction(momentum if convention == "torch" else 1 - momentum)  # type: ignore[operator]
            want_mean = ema_closed_form(mus, w, Fraction(0))
            want_var = ema_closed_form(vs, w, Fraction(1))
        # budget: each of the k updates rounds <= 4 times, each batch statistic carries the
        # recursive-summation error gamma_m of np.mean/np.var (two passes): (4k + 4m)·u·scale.
        scale = max(abs(float(v)) for v in [*mus, *vs, 1])
        bound = (4 * k + 4 * m) * U64 * scale
        assert abs(mean[j] - float(want_mean)) <= bound
        assert abs(var[j] - float(want_var)) <= bound


@given(st.integers(0, 1024), st.booleans(), st.integers(0, 2**32 - 1))
def test_torch_momentum_a_equals_keras_momentum_one_minus_a(
    k: int, unbiased: bool, seed: int
) -> None:
    # a = k/1024 is dyadic, so 1 − a is exact and the two conventions must agree bit for bit.
    a = k / 1024
    bs = batches(seed, 4, 3)
    torch = run_updates(bs, convention="torch", momentum=a, unbiased=unbiased)
    keras = run_updates(bs, convention="keras", momentum=1 - a, unbiased=unbiased)
    np.testing.assert_array_equal(torch[0], keras[0])
    np.testing.assert_array_equal(torch[1], keras[1])


def test_torch_without_momentum_is_the_cumulative_convention() -> None:
    bs = batches(2, 7, 4)
    torch = run_updates(bs, convention="torch", momentum=None)
    cumulative = run_updates(bs, convention="cumulative")
    for a, b in zip(torch, cumulative, strict=True):
        np.testing.assert_array_equal(a, b)


def test_update_returns_new_arrays_and_keeps_the_dtype() -> None:
    mean, var = np.zeros(2, np.float32), np.ones(2, np.float32)
    new = update_running(mean, var, np.ones(2), np.ones(2), 4)
    assert new.mean.dtype == np.float32 and new.var.dtype == np.float32
    np.testing.assert_array_equal(mean, 0)
    np.testing.assert_array_equal(var, 1)


def test_the_default_momentum_comes_from_the_convention_table() -> None:
    assert resolve_momentum("torch") == 0.1
    assert resolve_momentum("keras") == 0.99
    assert resolve_momentum("cumulative") is None
    assert resolve_momentum("zero-debiased") == resolve_momentum("filled-ema") == 0.99
    assert set(CONVENTIONS) == {"torch", "keras", "cumulative", "zero-debiased", "filled-ema"}


@pytest.mark.parametrize("decay", [0.0, 0.5, 0.9, 0.99])
def test_zero_debiased_is_the_hidden_average_divided_by_one_minus_decay_to_the_t(
    decay: float,
) -> None:
    # independent: Haiku's form, a hidden average from 0 divided by 1 − decay^t
    rng = np.random.default_rng(3)
    mean, var, hidden_m, hidden_v = np.full(2, 7.0), np.full(2, 5.0), np.zeros(2), np.zeros(2)
    for t in range(1, 7):
        bm, bv = rng.normal(size=2), rng.uniform(0.5, 2, 2)
        hidden_m, hidden_v = (
            decay * hidden_m + (1 - decay) * bm,
            decay * hidden_v + (1 - decay) * bv,
        )
        mean, var, n = update_running(
            mean,
            var,
            bm,
            bv,
            4,
            convention="zero-debiased",
            momentum=decay,
            num_batches_tracked=t - 1,
        )
        assert n == t
        np.testing.assert_allclose(mean, hidden_m / (1 - decay**t), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(var, hidden_v / (1 - decay**t), rtol=1e-13)


def test_filled_ema_takes_the_first_batch_whole_then_weighs_it_one_minus_momentum() -> None:
    old_m, old_v = np.array([4.0]), np.array([9.0])
    first = update_running(
        old_m, old_v, np.array([1.0]), np.array([2.0]), 4, convention="filled-ema", momentum=0.9
    )
    assert first.mean.tolist() == [1.0] and first.var.tolist() == [2.0]  # biased, filled
    second = update_running(
        first.mean,
        first.var,
        np.array([3.0]),
        np.array([4.0]),
        4,
        convention="filled-ema",
        momentum=0.9,
        num_batches_tracked=1,
    )
    np.testing.assert_allclose([second.mean[0], second.var[0]], [0.9 + 0.3, 1.8 + 0.4])


def test_a_zero_debiased_average_that_never_moves_stays() -> None:
    # momentum (decay) 1: the weight of each new batch is 0 (no 0/0)
    out = update_running(
        np.ones(1),
        np.ones(1),
        np.zeros(1),
        np.zeros(1),
        4,
        convention="zero-debiased",
        momentum=1.0,
        num_batches_tracked=3,
    )
    assert out.mean.tolist() == [1.0] and out.var.tolist() == [1.0]


@given(st.lists(st.integers(1, 40), min_size=1, max_size=6), st.integers(0, 2**32 - 1))
def test_merging_shards_by_count_equals_the_whole_batch(sizes: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    shards = [rng.normal(3.0, 2.0, size=(n, 2)) for n in sizes]
    n, mean, m2 = merge_shards(
        sizes,
        np.array([s.mean(0) for s in shards]),
        np.array([((s - s.mean(0)) ** 2).sum(0) for s in shards]),
    )
    whole = np.concatenate(shards)
    exact_mean, exact_var = exact_stats(whole)
    assert n == sum(sizes)
    # each shard's statistics err by gamma_n·scale, each of the S − 1 merges rounds <= 6 times.
    bound = (4 * n + 6 * len(sizes)) * U64
    for j in range(2):
        scale = float(abs(exact_mean[j])) + 4 * float(exact_var[j]) ** 0.5
        assert abs(mean[j] - float(exact_mean[j])) <= bound * scale
        assert abs(m2[j] / n - float(exact_var[j])) <= bound * scale**2


def test_an_equal_weight_average_of_unequal_shards_is_biased() -> None:
    rng = np.random.default_rng(5)
    shards = [rng.normal(0.0, 1.0, size=(2, 1)), rng.normal(10.0, 1.0, size=(30, 1))]
    _n, mean, _ = merge_shards([2, 30], np.array([s.mean(0) for s in shards]), np.zeros((2, 1)))
    naive = np.mean([s.mean(0) for s in shards], axis=0)
    assert abs(mean[0] - np.concatenate(shards).mean()) < 1e-12
    assert abs(naive[0] - mean[0]) > 1.0


@pytest.mark.parametrize(
    ("counts", "shape", "pattern"),
    [
        ([], (0, 2), r"S >= 1"),
        ([2, 0], (2, 2), r"counts=\[2, 0\] must all be >= 1"),
        ([2, 3], (3, 2), r"expected \(S,\), \(S, C\)"),
    ],
    ids=["no shards", "empty shard", "shape mismatch"],
)
def test_merge_rejects_bad_shards(counts: list[int], shape: tuple[int, int], pattern: str) -> None:
    with pytest.raises(BatchNormError, match=pattern):
        merge_shards(counts, np.zeros(shape), np.zeros(shape))
