"""Bad input: one table of cases across the public API. Each names the argument and the value."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import bncheck
from bncheck import BatchNorm, BatchNormError

RNG = np.random.default_rng(0)
X = RNG.normal(size=(4, 3))
G, B = np.ones(3), np.zeros(3)
RM, RV = np.zeros(3), np.ones(3)


def fwd(**kw: Any) -> Callable[[], Any]:
    args = {"x": X, "gamma": G, "beta": B} | kw
    extra = {k: args.pop(k) for k in ("eps", "axis") if k in args}
    return lambda: bncheck.batchnorm_forward(args["x"], args["gamma"], args["beta"], **extra)


def inf(**kw: Any) -> Callable[[], Any]:
    args = {"x": X, "gamma": G, "beta": B, "running_mean": RM, "running_var": RV} | kw
    extra = {k: args.pop(k) for k in ("eps", "axis") if k in args}
    return lambda: bncheck.batchnorm_inference(**args, **extra)


def bwd(dy: Any, cache: Any = None) -> Callable[[], Any]:
    return lambda: bncheck.batchnorm_backward(
        dy, bncheck.batchnorm_forward(X, G, B)[1] if cache is None else cache
    )


def layer(**kw: Any) -> Callable[[], Any]:
    return lambda: BatchNorm(3, **kw)


def nan_at(a: np.ndarray, idx: tuple[int, ...], value: float = np.nan) -> np.ndarray:
    b = a.copy()
    b[idx] = value
    return b


# (id, call, exception type, regex the message must match)
# fmt: off
CASES: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("int x", fwd(x=np.ones((4, 3), dtype=np.int64)), TypeError, r"x has dtype int64; expected"),
    ("bool x", fwd(x=np.ones((4, 3), dtype=bool)), TypeError, r"x has dtype bool"),
    ("complex x", fwd(x=X.astype(complex)), TypeError, r"x has dtype complex128.*real"),
    ("object x", fwd(x=X.astype(object)), TypeError, r"x has dtype object"),
    ("str x", fwd(x="abc"), TypeError, r"x='abc' must be a float array"),
    ("ragged x", fwd(x=[[1.0, 2.0], [3.0]]), TypeError, r"x=\[\[1.0, 2.0\], \[3.0\]\] is not an array"),
    ("NaN in x", fwd(x=nan_at(X, (2, 1))), BatchNormError, r"x contains NaN or Inf \(x\[2, 1\]"),
    ("Inf in x", fwd(x=nan_at(X, (0, 0), np.inf)), BatchNormError, r"x contains NaN or Inf"),
    ("NaN gamma", fwd(gamma=nan_at(G, (1,))), BatchNormError, r"gamma contains NaN"),
    ("Inf beta", fwd(beta=nan_at(B, (2,), -np.inf)), BatchNormError, r"beta contains NaN or Inf"),
    ("NaN dy", bwd(nan_at(X, (3, 2))), BatchNormError, r"dy contains NaN or Inf \(dy\[3, 2\]"),
    ("int dy", bwd(np.ones((4, 3), dtype=np.int32)), TypeError, r"dy has dtype int32"),
    ("dy shape", bwd(np.ones((4, 2))), BatchNormError, r"dy has shape \(4, 2\); expected \(4, 3\)"),
    ("bad cache", bwd(X, cache=(1, 2)), TypeError, r"cache=tuple must be the BatchNormCache"),
    ("gamma shape", fwd(gamma=np.ones(4)), BatchNormError, r"gamma has shape \(4,\); expected \(3,\)"),
    ("beta 2-D", fwd(beta=np.ones((1, 3))), BatchNormError, r"beta has shape \(1, 3\)"),
    ("int gamma", fwd(gamma=np.ones(3, dtype=int)), TypeError, r"gamma has dtype int64"),
    ("eps negative", fwd(eps=-1e-5), BatchNormError, r"eps=-1e-05 must be > 0"),
    ("eps zero", fwd(eps=0.0), BatchNormError, r"eps=0.0 must be > 0"),
    ("eps NaN", fwd(eps=float("nan")), BatchNormError, r"eps=nan must be finite"),
    ("eps inf", fwd(eps=float("inf")), BatchNormError, r"eps=inf must be finite"),
    ("eps str", fwd(eps="0.1"), TypeError, r"eps='0.1' must be a real number"),
    ("axis too big", fwd(axis=2), BatchNormError, r"axis=2 is out of range .* ndim=2; expected -2 <= axis < 2"),
    ("axis too negative", fwd(axis=-3), BatchNormError, r"axis=-3 is out of range"),
    ("axis float", fwd(axis=1.0), TypeError, r"axis=1.0 must be an int"),
    ("x 1-D", fwd(x=np.ones(3)), BatchNormError, r"x has ndim=1 .*expected at least 2"),
    ("x 0-D", fwd(x=np.float64(1.0)), BatchNormError, r"x has ndim=0"),
    ("m = 1 in training", fwd(x=np.ones((1, 3))), BatchNormError, r"1 value per channel.*at least 2"),
    ("m = 1 in 4-D", fwd(x=np.ones((1, 3, 1, 1))), BatchNormError, r"1 value per channel"),
    ("zero channels", fwd(x=np.ones((4, 0)), gamma=None, beta=None), BatchNormError, r"0 channels"),
    ("running_var shape", inf(running_var=np.ones(2)), BatchNormError, r"running_var has shape \(2,\)"),
    ("running_mean NaN", inf(running_mean=nan_at(RM, (0,))), BatchNormError, r"running_mean contains NaN"),
    ("running_var negative", inf(running_var=np.array([1.0, -0.5, 1.0])), BatchNormError,
     r"running_var has a negative entry \(running_var\[1\]=.*-0.5"),
    ("running_mean None", inf(running_mean=None), TypeError, r"running_mean=None is not allowed"),
    ("inference NaN x", inf(x=nan_at(X, (1, 1))), BatchNormError, r"x contains NaN"),
    ("momentum > 1", layer(momentum=1.5), BatchNormError, r"momentum=1.5 must be in \[0, 1\]"),
    ("momentum < 0", layer(momentum=-0.1), BatchNormError, r"momentum=-0.1 must be in \[0, 1\]"),
    ("momentum NaN", layer(momentum=float("nan")), BatchNormError, r"momentum=nan must be in"),
    ("momentum str", layer(momentum="0.1"), TypeError, r"momentum='0.1' must be a real number"),
    ("keras momentum None", layer(convention="keras", momentum=None), BatchNormError,
     r"momentum=None is not supported by convention='keras'"),
    ("cumulative momentum", layer(convention="cumulative", momentum=0.1), BatchNormError,
     r"momentum=0.1 is not used by convention='cumulative'"),
    ("unknown convention", layer(convention="tf"), BatchNormError,
     r"convention='tf' is unknown; expected one of 'torch', 'keras', 'cumulative'"),
    ("layer eps", layer(eps=0), BatchNormError, r"eps=0.0 must be > 0"),
    ("layer dtype", layer(dtype=np.int32), TypeError, r"dtype=int32 must be float16, float32"),
    ("layer unbiased", layer(unbiased="yes"), TypeError, r"unbiased='yes' must be True, False"),
    ("num_features 0", lambda: BatchNorm(0), BatchNormError, r"num_features=0 must be >= 1"),
    ("num_features float", lambda: BatchNorm(2.5), TypeError, r"num_features=2.5 must be"),
    ("layer channels", lambda: BatchNorm(4)(X), BatchNormError,
     r"x has shape \(4, 3\) with 3 channels along axis=1; expected num_features=4"),
    ("backward first", lambda: BatchNorm(3).backward(X), BatchNormError, r"before forward"),
]
# fmt: on


@pytest.mark.parametrize(
    ("call", "exc", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_raises_a_clear_error(
    call: Callable[[], Any], exc: type[Exception], pattern: str
) -> None:
    with pytest.raises(exc, match=pattern):
        call()


def test_batchnorm_error_is_a_value_error() -> None:
    assert issubclass(BatchNormError, ValueError)


def test_a_finite_x_whose_sums_overflow_is_named_as_such() -> None:
    x = np.array([[1e308, 1.0], [1e308, 2.0], [-1e308, 3.0]])
    with pytest.raises(BatchNormError, match=r"x is finite but its per-channel sums overflow"):
        bncheck.batchnorm_forward(x, None, None)


def test_failed_calls_leave_the_input_untouched() -> None:
    x = nan_at(X, (0, 1))
    before = x.copy()
    with pytest.raises(BatchNormError):
        bncheck.batchnorm_forward(x, G, B)
    np.testing.assert_array_equal(x, before)
    assert re.search("nan", repr(x[0, 1]))
