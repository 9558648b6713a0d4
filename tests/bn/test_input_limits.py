"""Limits on inputs and settings: BNCHECK_NUM_THREADS is capped at the usable CPUs; inputs
have 2 to 5 dimensions; an empty batch cannot train (issue 12, rows 16 and 19)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import bncheck
from bncheck import BatchNorm, BatchNormError
from tests.internals import compiled as _native

# -- row 16: BNCHECK_NUM_THREADS ---------------------------------------------------------------


@pytest.fixture
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget which values were already warned about."""
    monkeypatch.setattr(_native, "_THREADS_WARNED", set())


def test_a_thread_count_above_the_usable_cpus_is_capped_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, fresh_warnings: None
) -> None:
    cpus = _native._usable_cpus()
    monkeypatch.setenv("BNCHECK_NUM_THREADS", "100000")
    with pytest.warns(RuntimeWarning) as record:
        assert _native.num_threads() == cpus
    assert len(record) == 1
    message = str(record[0].message)
    assert "BNCHECK_NUM_THREADS='100000'" in message and f"{cpus} usable CPUs" in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second warning would raise
        assert _native.num_threads() == cpus
        # a kernel call with many channels starts at most one thread per CPU
        assert len(_native._ranges(100_000, 1 << 20)) <= cpus


def test_a_capped_thread_count_still_computes_the_same_result(
    monkeypatch: pytest.MonkeyPatch, fresh_warnings: None
) -> None:
    x = np.random.default_rng(0).normal(size=(2048, 256))
    monkeypatch.setenv("BNCHECK_NUM_THREADS", "1")
    y1, _ = bncheck.batchnorm_forward(x, None, None)
    monkeypatch.setenv("BNCHECK_NUM_THREADS", "100000")
    with pytest.warns(RuntimeWarning, match="usable CPUs"):
        y2, _ = bncheck.batchnorm_forward(x, None, None)
    np.testing.assert_array_equal(y1, y2)


def test_a_thread_count_within_the_usable_cpus_is_used_as_given_without_a_warning(
    monkeypatch: pytest.MonkeyPatch, fresh_warnings: None
) -> None:
    monkeypatch.setattr(_native, "_usable_cpus", lambda: 4)
    for n in (1, 4):
        monkeypatch.setenv("BNCHECK_NUM_THREADS", str(n))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert _native.num_threads() == n
    monkeypatch.setenv("BNCHECK_NUM_THREADS", "5")
    with pytest.warns(RuntimeWarning, match=r"'5' exceeds the 4 usable CPUs; bncheck uses 4"):
        assert _native.num_threads() == 4


def test_without_the_variable_the_default_is_the_usable_cpus_at_most_8(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BNCHECK_NUM_THREADS", raising=False)
    for cpus, want in ((1, 1), (2, 2), (64, 8)):
        monkeypatch.setattr(_native, "_usable_cpus", lambda cpus=cpus: cpus)
        assert _native.num_threads() == want


# -- row 19: 2 to 5 dimensions; an empty batch cannot train ------------------------------------

X6 = np.random.default_rng(1).normal(size=(2, 3, 2, 1, 2, 2))
X7 = X6[..., None]
X4 = X6[..., 0, :, :]
DY4 = np.ones_like(X4)
C = np.zeros(3), np.ones(3)


def _hand_made_cache() -> Any:
    _, cache = bncheck.batchnorm_forward(X4, None, None)
    return cache._replace(x=X6)


def _layer(x: np.ndarray, training: bool) -> Callable[[], Any]:
    return lambda: BatchNorm(3).train(training)(x)


# (id, call, regex the message must match)
TOO_MANY_DIMS: list[tuple[str, Callable[[], Any], str]] = [
    (
        "forward 6-D",
        lambda: bncheck.batchnorm_forward(X6, None, None),
        r"x has ndim=6 \(shape \(2, 3, 2, 1, 2, 2\)\); expected 2 to 5 dimensions",
    ),
    (
        "forward 7-D",
        lambda: bncheck.batchnorm_forward(X7, None, None),
        r"x has ndim=7 \(shape \(2, 3, 2, 1, 2, 2, 1\)\); expected 2 to 5 dimensions",
    ),
    (
        "forward 6-D channels-last",
        lambda: bncheck.batchnorm_forward(X6, None, None, axis=-1),
        r"x has ndim=6 .*expected 2 to 5 dimensions",
    ),
    (
        "inference 6-D",
        lambda: bncheck.batchnorm_inference(X6, None, None, *C),
        r"x has ndim=6 .*expected 2 to 5 dimensions",
    ),
    (
        "backward 6-D dy",
        lambda: bncheck.batchnorm_backward(X6, bncheck.batchnorm_forward(X4, None, None)[1]),
        r"dy has ndim=6 \(shape \(2, 3, 2, 1, 2, 2\)\); expected 2 to 5 dimensions",
    ),
    (
        "backward hand-made 6-D cache",
        lambda: bncheck.batchnorm_backward(X4, _hand_made_cache()),
        r"cache.x has ndim=6 .*expected 2 to 5 dimensions",
    ),
    ("layer training 6-D", _layer(X6, True), r"x has ndim=6 .*expected 2 to 5 dimensions"),
    ("layer eval 6-D", _layer(X6, False), r"x has ndim=6 .*expected 2 to 5 dimensions"),
    ("layer eval 1-D", _layer(np.ones(3), False), r"x has ndim=1 .*expected at least 2"),
]


@pytest.mark.parametrize(
    ("call", "pattern"), [c[1:] for c in TOO_MANY_DIMS], ids=[c[0] for c in TOO_MANY_DIMS]
)
def test_an_input_outside_2_to_5_dimensions_is_refused(
    call: Callable[[], Any], pattern: str
) -> None:
    with pytest.raises(BatchNormError, match=pattern):
        call()


@pytest.mark.parametrize("training", [True, False], ids=["training", "eval"])
def test_a_layer_refusing_a_6d_input_changes_no_state(training: bool) -> None:
    bn = BatchNorm(3)
    bn(X4)
    bn.train(training)
    before = bn.state_dict()
    grads = bn.backward(DY4) if training else None
    with pytest.raises(BatchNormError, match="expected 2 to 5 dimensions"):
        bn(X6)
    after = bn.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    if grads is not None:  # the last good forward can still be differentiated
        for a, b in zip(bn.backward(DY4), grads, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("ndim", [2, 3, 4, 5])
def test_2_to_5_dimensions_are_accepted(ndim: int) -> None:
    x = np.random.default_rng(ndim).normal(size=(2, 3, 2, 2, 2)[:ndim])
    _, cache = bncheck.batchnorm_forward(x, None, None)
    assert bncheck.batchnorm_backward(np.ones_like(x), cache).dx.shape == x.shape
    bn = BatchNorm(3)
    bn(x)
    bn.backward(np.ones_like(x))


EMPTY = {
    "(0, 3)": ((0, 3), 1),
    "(0, 3, 4, 4)": ((0, 3, 4, 4), 1),
    "(2, 3, 0)": ((2, 3, 0), 1),
    "channels-last (0, 2, 3)": ((0, 2, 3), -1),
}


@pytest.mark.parametrize("shape_axis", EMPTY.values(), ids=list(EMPTY))
def test_an_empty_training_batch_is_refused_with_a_clear_message(
    shape_axis: tuple[tuple[int, ...], int],
) -> None:
    shape, axis = shape_axis
    x = np.zeros(shape)
    with pytest.raises(BatchNormError) as info:
        bncheck.batchnorm_forward(x, None, None, axis=axis)
    message = str(info.value)
    assert message.startswith("x has 0 values per channel; training needs at least 2")
    assert str(shape) in message and "eval mode" not in message


def test_a_layer_refusing_an_empty_training_batch_changes_no_state_and_eval_still_works() -> None:
    bn = BatchNorm(3)
    bn(np.random.default_rng(2).normal(size=(4, 3)))
    before = bn.state_dict()
    with pytest.raises(BatchNormError, match="x has 0 values per channel; training needs"):
        bn(np.zeros((0, 3)))
    after = bn.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    y = bn.eval()(np.zeros((0, 3), np.float32))
    assert y.shape == (0, 3) and y.dtype == np.float32
    grads = bn.backward(np.zeros((0, 3), np.float32))
    assert grads.dx.shape == (0, 3)
    assert grads.dgamma is not None and not grads.dgamma.any()


def test_one_value_per_channel_keeps_its_eval_mode_advice() -> None:
    with pytest.raises(BatchNormError, match=r"1 value per channel.*use eval mode instead"):
        bncheck.batchnorm_forward(np.ones((1, 3)), None, None)
