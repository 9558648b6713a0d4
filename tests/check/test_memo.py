"""The truths' in-process memo (bncheck.check.memo): equal arguments share a result, any other
bit is another computation, and what a caller gets is its own copy."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bncheck.check import memo
from bncheck.check.norms import BATCH_NORM, NormSpec
from bncheck.check.truth import exact_batchnorm


def _counted() -> tuple[Any, list[int]]:
    calls: list[int] = []

    @memo.memoized
    def f(x: Any, y: Any = None, *, eps: float = 1e-5, spec: Any = None) -> dict[str, Any]:
        calls.append(1)
        return {"out": np.asarray(x, dtype=np.float64) * 2 + eps, "none": None}

    return f, calls


def test_equal_values_share_one_computation_whatever_the_memory_layout() -> None:
    f, calls = _counted()
    x = np.arange(12.0).reshape(3, 4)
    first = f(x)
    again = f(np.asfortranarray(x))  # the same values in another layout: the same key
    assert len(calls) == 1
    np.testing.assert_array_equal(first["out"], again["out"])


@pytest.mark.parametrize(
    "other",
    [
        lambda x: np.nextafter(x, np.inf),  # one ulp in every value
        lambda x: x.astype(np.float32),  # the same values in another dtype
        lambda x: x.reshape(4, 3),  # the same bytes in another shape
        lambda x: np.where(np.arange(x.size).reshape(x.shape) == 5, -x, x),  # one value
    ],
    ids=["ulp", "dtype", "shape", "one-value"],
)
def test_any_other_bit_dtype_or_shape_is_another_computation(other: Any) -> None:
    f, calls = _counted()
    x = np.arange(1.0, 13.0).reshape(3, 4)
    f(x)
    f(other(x))
    assert len(calls) == 2


def test_scalars_and_specs_are_part_of_the_key() -> None:
    f, calls = _counted()
    x = np.ones(3)
    f(x, eps=1e-5)
    f(x, eps=1e-3)
    f(x, eps=1e-5, spec=BATCH_NORM)
    f(x, eps=1e-5, spec=NormSpec(reduce=(-1,), params=(-1,)))
    f(x, np.float32(2.0))
    f(x, np.float64(2.0))  # the same value in another dtype
    assert len(calls) == 6
    f(x, eps=1e-3)
    f(x, eps=1e-5, spec=NormSpec(reduce=(-1,), params=(-1,)))  # an equal spec: kept
    assert len(calls) == 6


def test_a_caller_writing_into_its_result_does_not_change_the_next_callers() -> None:
    f, _ = _counted()
    x = np.arange(3.0)
    out = f(x)
    out["out"][:] = -1.0
    assert f(x)["out"].tolist() == [1e-5, 2 + 1e-5, 4 + 1e-5]


def test_an_exception_is_not_kept() -> None:
    calls: list[int] = []

    @memo.memoized
    def fails(x: Any) -> Any:
        calls.append(1)
        raise ArithmeticError("no")

    for _ in range(2):
        with pytest.raises(ArithmeticError):
            fails(np.ones(2))
    assert len(calls) == 2


def test_an_unhashable_argument_is_refused_not_guessed() -> None:
    f, _ = _counted()
    with pytest.raises(TypeError):
        f(np.ones(2), spec={"axis": 1})
    with pytest.raises(TypeError):
        f(np.array([object()], dtype=object))


def test_the_least_recently_used_results_go_first_past_the_byte_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    f, calls = _counted()
    monkeypatch.setattr(memo, "MAX_BYTES", 3 * 8 * 100)  # three results of 100 float64
    xs = [np.full(100, float(i)) for i in range(4)]
    for x in xs[:3]:
        f(x)
    f(xs[0])  # used again: now the most recent
    f(xs[3])  # a fourth: xs[1], the least recently used, goes
    assert len(calls) == 4
    f(xs[0])
    f(xs[2])
    assert len(calls) == 4
    f(xs[1])
    assert len(calls) == 5
    big = np.zeros(1000)  # larger than the bound alone: computed, never kept
    f(big)
    f(big)
    assert len(calls) == 7


def test_the_memoized_truth_is_the_truth_computed_afresh() -> None:
    rng = np.random.default_rng(3)
    x, dy = 1e3 + rng.standard_normal((6, 2)), rng.standard_normal((6, 2))
    g, b = rng.standard_normal(2), rng.standard_normal(2)
    fresh = exact_batchnorm.__wrapped__(x, g, b, dy, eps=1e-5)  # type: ignore[attr-defined]
    for _ in range(2):
        kept = exact_batchnorm(x, g, b, dy, eps=1e-5)
        for name in fresh._fields:
            np.testing.assert_array_equal(getattr(kept, name), getattr(fresh, name))
