"""Bad input to bncheck.family: a clear error naming the argument, before any computation."""

from __future__ import annotations

import numpy as np
import pytest

from bncheck import BatchNormError, family

X2 = np.ones((2, 4))
X4 = np.random.default_rng(0).standard_normal((2, 4, 3, 3))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: family.layernorm_forward("abc"), TypeError, r"x='abc' must be a float array"),
        (
            lambda: family.layernorm_forward(np.ones((2, 3), int)),
            TypeError,
            r"x has dtype int64.*astype",
        ),
        (
            lambda: family.layernorm_forward(np.ones((2, 0))),
            BatchNormError,
            r"x has shape \(2, 0\) with no values",
        ),
        (
            lambda: family.layernorm_forward(X2, normalized_ndim=3),
            BatchNormError,
            r"x has ndim=2.*at least 3",
        ),
        (
            lambda: family.layernorm_forward(X2, normalized_ndim=0),
            BatchNormError,
            r"normalized_ndim=0 must be >= 1",
        ),
        (
            lambda: family.layernorm_forward(X2, normalized_ndim=1.0),
            TypeError,
            r"normalized_ndim=1.0 must be an int",
        ),
        (
            lambda: family.layernorm_forward(X2, np.ones(3)),
            BatchNormError,
            r"gamma has shape \(3,\); expected \(4,\)",
        ),
        (
            lambda: family.layernorm_forward(X2, None, np.ones((2, 4))),
            BatchNormError,
            r"beta has shape \(2, 4\)",
        ),
        (
            lambda: family.layernorm_forward(X2, np.array([1, np.nan, 1, 1.0])),
            BatchNormError,
            r"gamma contains NaN or Inf \(gamma\[1\]",
        ),
        (
            lambda: family.layernorm_forward(X2, eps=0.0),
            BatchNormError,
            r"eps=0.0 must be finite and > 0",
        ),
        (lambda: family.layernorm_forward(X2, eps=float("nan")), BatchNormError, r"eps=nan"),
        (
            lambda: family.layernorm_forward(X2, eps="1"),
            TypeError,
            r"eps='1' must be a real number",
        ),
        (
            lambda: family.layernorm_forward(np.array([[1.0, np.inf]])),
            BatchNormError,
            r"x contains NaN or Inf \(x\[0, 1\]=inf\)",
        ),
        (lambda: family.rmsnorm_forward(X2, np.ones(5)), BatchNormError, r"gamma has shape \(5,\)"),
        (
            lambda: family.groupnorm_forward(X4, None, None, 3),
            BatchNormError,
            r"groups=3 does not divide the 4 channels",
        ),
        (
            lambda: family.groupnorm_forward(X4, None, None, 0),
            BatchNormError,
            r"groups=0 must be >= 1",
        ),
        (
            lambda: family.groupnorm_forward(X4, np.ones(2), None, 2),
            BatchNormError,
            r"gamma has shape \(2,\); expected \(4,\), one value per channel",
        ),
        (
            lambda: family.groupnorm_forward(np.ones(4), None, None, 1),
            BatchNormError,
            r"x has ndim=1.*\(N, C, \*spatial\)",
        ),
        (lambda: family.instancenorm_forward(np.ones(4)), BatchNormError, r"x has ndim=1"),
        (
            lambda: family.instancenorm_forward(X4, None, np.ones(3)),
            BatchNormError,
            r"beta has shape \(3,\)",
        ),
    ],
)
def test_bad_forward_arguments(call, error, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=match):
        call()


def test_bad_backward_arguments() -> None:
    y, cache = family.layernorm_forward(X4, np.ones((3, 3)), np.zeros((3, 3)), normalized_ndim=2)
    with pytest.raises(BatchNormError, match=r"dy has shape \(2, 4\); expected \(2, 4, 3, 3\)"):
        family.layernorm_backward(X2, cache)
    with pytest.raises(
        BatchNormError,
        match=r"cache comes from layernorm_forward; expected one from rmsnorm_forward",
    ):
        family.rmsnorm_backward(y, cache)
    with pytest.raises(TypeError, match=r"cache=\(1, 2\) must be the NormCache"):
        family.layernorm_backward(y, (1, 2))  # type: ignore[arg-type]
    bad = np.ones_like(y)
    bad[1, 2, 0, 1] = np.nan
    with pytest.raises(BatchNormError, match=r"dy contains NaN or Inf \(dy\[1, 2, 0, 1\]=nan\)"):
        family.layernorm_backward(bad, cache)


def test_outputs_that_overflow_their_dtype_are_reported() -> None:
    x = np.array([[0.0, 1.0]], np.float16)
    with pytest.raises(BatchNormError, match=r"y overflows float16"):
        family.layernorm_forward(
            x, np.array([6e4, 6e4], np.float16), np.array([6e4, 6e4], np.float16)
        )


def test_a_failed_call_changes_nothing_and_an_edit_of_x_is_caught() -> None:
    x = np.random.default_rng(1).standard_normal((3, 5))
    keep = x.copy()
    y, cache = family.layernorm_forward(x)
    assert np.shares_memory(cache.x, x) and not cache.x.flags.writeable  # no copy
    with pytest.raises(BatchNormError, match=r"dy has shape \(1, 1\)"):
        family.layernorm_backward(np.ones((1, 1)), cache)
    np.testing.assert_array_equal(x, keep)
    grads = family.layernorm_backward(np.ones_like(y), cache)  # the failed call changed nothing
    assert grads.dgamma is None and grads.dbeta is None
    x[1, 2] += 1.0  # the caller edits x after the forward
    with pytest.raises(BatchNormError, match=r"x was modified after the forward: reduction set 1 "):
        family.layernorm_backward(np.ones_like(y), cache)
    x[1, 2] = keep[1, 2]  # the same values back: not an edit
    again = family.layernorm_backward(np.ones_like(y), cache)
    assert again.dx.tobytes() == grads.dx.tobytes()
