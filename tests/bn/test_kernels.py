"""bncheck.bn._compiled: the compiled kernels behind batchnorm_forward/backward/inference.

What is checked here, against the mpmath truth (``bncheck.check.truth``) in normwise ULP of
the dtype (``bncheck.check.tolerances.normwise_ulp``) with the issue's targets (2 ULP for float16
and float32, 4 ULP for float64):

- the tests run the compiled kernels, not the NumPy fallback;
- results are bitwise identical for any ``BNCHECK_NUM_THREADS``;
- layouts the kernels must normalize first (views, Fortran order, channels-last, 3-D, 5-D,
  float16, dy in another dtype than x), and what the cache keeps of x (a reference when x is
  C-contiguous, with a checksum; a private copy when the kernels need one);
- the float32 double-double fallback of the backward, and that the fast path is the common one;
- eval mode, running mean near or far from the data;
- the NumPy fallback (``BNCHECK_KERNELS=numpy``), judged with the condition-aware budget;
- bad environment values, and that a layer whose forward raises keeps its state.

The extension's threads (fork included) and its argument checks: ``test_kernel_threads.py``.

The truth costs ~30 µs a value, so the cases compared with it keep C·m <= ~2000.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pytest
from numpy.typing import NDArray

import bncheck
from bncheck.bn.functional import kernels
from bncheck.check.metrics import compare, normwise_ulp
from bncheck.check.tolerances import TARGET_ULP
from bncheck.check.truth import exact_batchnorm, exact_inference
from tests.internals import compiled as _native
from tests.internals import working as _working

FArray = NDArray[np.floating[Any]]


def params(rng: np.random.Generator, c: int, dtype: Any) -> tuple[FArray, FArray]:
    """gamma (both signs, away from 0) and beta of shape (C,)."""
    gamma = (rng.uniform(0.5, 2.0, c) * rng.choice([-1.0, 1.0], c)).astype(dtype)
    return gamma, rng.normal(size=c).astype(dtype)


def train(
    x: FArray, gamma: FArray | None, beta: FArray | None, dy: FArray, eps: float, axis: int
) -> tuple[FArray, bncheck.BatchNormGrads]:
    y, cache = bncheck.batchnorm_forward(x, gamma, beta, eps=eps, axis=axis)
    return y, bncheck.batchnorm_backward(dy, cache)


def train_ulps(
    x: FArray, gamma: FArray, beta: FArray, dy: FArray, eps: float, axis: int
) -> dict[str, float]:
    """Normwise ULP of y, dx, dgamma, dbeta against the truth, in x's dtype."""
    y, (dx, dgamma, dbeta) = train(x, gamma, beta, dy, eps, axis)
    truth = exact_batchnorm(x, gamma, beta, dy, eps=eps, axis=axis)
    dt = x.dtype
    return {
        "y": normwise_ulp(y, truth.y, dt, axis=axis),
        "dx": normwise_ulp(dx, truth.dx, dt, axis=axis),
        "dgamma": normwise_ulp(dgamma, truth.dgamma, dt),
        "dbeta": normwise_ulp(dbeta, truth.dbeta, dt),
    }


def assert_within_target(ulps: dict[str, float], dtype: Any) -> None:
    target = TARGET_ULP[np.dtype(dtype).name]
    over = {k: round(v, 2) for k, v in ulps.items() if not v <= target}
    assert not over, f"over the {target} ULP target in {np.dtype(dtype).name}: {over}"


def bits(a: FArray | None) -> bytes:
    assert a is not None
    return np.ascontiguousarray(a).tobytes()


# -- 1. the compiled kernels run ---------------------------------------------------------------


def test_the_tests_run_the_compiled_kernels_not_the_numpy_fallback() -> None:
    assert _native.load_error() is None
    assert kernels() == "compiled"


# -- 2. thread-count independence --------------------------------------------------------------

THREAD_SHAPES = {
    "(N, C)": ((4096, 48), 1),
    "(N, C, H, W)": ((16, 12, 32, 32), 1),
    "channels-last": ((12, 32, 32, 16), -1),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape_axis", THREAD_SHAPES.values(), ids=list(THREAD_SHAPES))
def test_results_are_bitwise_identical_for_any_thread_count(
    monkeypatch: pytest.MonkeyPatch, dtype: Any, shape_axis: tuple[tuple[int, ...], int]
) -> None:
    shape, axis = shape_axis
    rng = np.random.default_rng(11)
    x = (5.0 + 3.0 * rng.standard_normal(shape)).astype(dtype)
    c = shape[axis]
    gamma, beta = params(rng, c, dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    # Every third channel gets dy = x: the float32 backward redoes those in double-double, so
    # the split must not change which channels are redone, nor their result.
    idx = [slice(None)] * len(shape)
    idx[axis] = slice(0, c, 3)
    dy[tuple(idx)] = x[tuple(idx)]
    assert x.size >= _native.PARALLEL_MIN
    if dtype == np.float32:
        _, cache = bncheck.batchnorm_forward(x, gamma, beta, axis=axis)
        assert native_backward(x, dy, cache)[3] == len(range(0, c, 3))
    runs = {}
    # BNCHECK_NUM_THREADS is capped at the usable CPUs: pretend to have 8, so that 3 splits
    # happen on any machine
    monkeypatch.setattr(_native, "_usable_cpus", lambda: 8)
    for n in (1, 2, 3):
        monkeypatch.setenv("BNCHECK_NUM_THREADS", str(n))
        assert len(_native._ranges(c, x.size)) == n  # the split really happens
        y, (dx, dgamma, dbeta) = train(x, gamma, beta, dy, 1e-5, axis)
        assert _native.last_threads == (n if _native.openmp() else 1)  # on n threads
        runs[n] = [bits(y), bits(dx), bits(dgamma), bits(dbeta)]
    for n in (2, 3):
        same = [a == b for a, b in zip(runs[1], runs[n], strict=True)]
        assert all(same), f"threads=1 vs {n}: y, dx, dgamma, dbeta identical = {same}"


def test_eval_mode_is_bitwise_identical_for_any_thread_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(12)
    x = (1e4 + rng.standard_normal((16, 12, 32, 32))).astype(np.float32)
    gamma, beta = params(rng, 12, np.float32)
    rm, rv = 1e4 + rng.normal(size=12), rng.uniform(0.5, 2.0, 12)
    outs = []
    monkeypatch.setattr(_native, "_usable_cpus", lambda: 8)  # no cap at this machine's CPUs
    for n in (1, 2, 3):
        monkeypatch.setenv("BNCHECK_NUM_THREADS", str(n))
        assert len(_native._ranges(12, x.size)) == n
        outs.append(bits(bncheck.batchnorm_inference(x, gamma, beta, rm, rv)))
        assert _native.last_threads == (n if _native.openmp() else 1)
    assert outs[0] == outs[1] == outs[2]


# -- 3. layouts --------------------------------------------------------------------------------


class Layout(NamedTuple):
    """One layout case: x (and dy) are ``view(base)`` for a C-contiguous ``base``."""

    dtype: Any
    base_shape: tuple[int, ...]
    axis: int
    view: Callable[[FArray], FArray]
    dy_dtype: Any = None  # None: x's dtype


def _same(a: FArray) -> FArray:
    return a


LAYOUTS: dict[str, Layout] = {
    "transposed (N, C) view, float32": Layout(np.float32, (24, 60), 1, lambda a: a.T),
    "transposed (N, C) view, float64": Layout(np.float64, (24, 60), 1, lambda a: a.T),
    "strided slice of (N, C, H, W)": Layout(
        np.float64, (8, 6, 10, 12), 1, lambda a: a[::2, :, 1::2, ::3]
    ),
    "Fortran order (N, C, H, W), float32": Layout(np.float32, (6, 5, 7, 8), 1, np.asfortranarray),
    "channels-last axis=-1, float32": Layout(np.float32, (5, 6, 7, 8), -1, _same),
    "channels-last axis=-1, float64": Layout(np.float64, (5, 6, 7, 8), -1, _same),
    "channels-last transposed view": Layout(
        np.float32, (8, 7, 5, 6), -1, lambda a: a.transpose(3, 1, 2, 0)
    ),
    "3-D (N, C, L)": Layout(np.float32, (10, 7, 12), 1, _same),
    "5-D (N, C, D, H, W)": Layout(np.float64, (3, 4, 4, 5, 6), 1, _same),
    "5-D channels-last float32": Layout(np.float32, (3, 4, 5, 6, 4), -1, _same),
    "float16 (N, C, H, W)": Layout(np.float16, (8, 6, 5, 5), 1, _same),
    "float16 channels-last": Layout(np.float16, (6, 5, 5, 7), -1, _same),
    "float16 transposed view": Layout(np.float16, (9, 50), 1, lambda a: a.T),
    "float32 x, float64 dy": Layout(np.float32, (64, 12), 1, _same, np.float64),
    "float32 x, float64 dy, (N, C, H, W)": Layout(np.float32, (6, 5, 6, 7), 1, _same, np.float64),
    "float64 x, float32 dy": Layout(np.float64, (64, 12), 1, _same, np.float32),
    "float16 x, float32 dy": Layout(np.float16, (64, 12), 1, _same, np.float32),
}


def build_layout(row: Layout, seed: int) -> tuple[FArray, FArray, FArray, FArray]:
    rng = np.random.default_rng(seed)
    x = row.view((3.0 + 2.0 * rng.standard_normal(row.base_shape)).astype(row.dtype))
    dy = row.view(rng.standard_normal(row.base_shape).astype(row.dy_dtype or row.dtype))
    gamma, beta = params(rng, x.shape[row.axis], row.dtype)
    return x, gamma, beta, dy


@pytest.mark.parametrize("row", LAYOUTS.values(), ids=list(LAYOUTS))
def test_every_layout_and_dtype_matches_the_exact_truth(row: Layout) -> None:
    x, gamma, beta, dy = build_layout(row, 21)
    if row.view is not _same:
        assert not x.flags.c_contiguous  # the case really is a non-C-contiguous input
    y, grads = train(x, gamma, beta, dy, 1e-5, row.axis)
    for name, out in (("y", y), *zip(("dx", "dgamma", "dbeta"), grads, strict=True)):
        assert out is not None and out.dtype == x.dtype, f"{name}: {out.dtype}, x is {x.dtype}"
    assert y.shape == x.shape and grads.dx.shape == x.shape
    assert_within_target(train_ulps(x, gamma, beta, dy, 1e-5, row.axis), x.dtype)


@pytest.mark.parametrize("row", LAYOUTS.values(), ids=list(LAYOUTS))
def test_the_callers_x_and_dy_are_not_modified(row: Layout) -> None:
    x, gamma, beta, dy = build_layout(row, 22)
    x0, dy0 = x.copy(), dy.copy()
    train(x, gamma, beta, dy, 1e-5, row.axis)
    assert bits(x) == bits(x0)
    assert bits(dy) == bits(dy0)


@pytest.mark.parametrize(
    "row",
    [LAYOUTS["3-D (N, C, L)"], LAYOUTS["transposed (N, C) view, float64"]],
    ids=["C-contiguous", "view"],
)
def test_mutating_x_after_the_forward_never_gives_a_wrong_backward(row: Layout) -> None:
    x, gamma, beta, dy = build_layout(row, 23)
    _, cache = bncheck.batchnorm_forward(x, gamma, beta, axis=row.axis)
    before = bncheck.batchnorm_backward(dy, cache)
    contiguous = x.flags.c_contiguous
    # a C-contiguous x is kept as it is (no copy); a view the kernels cannot read is copied
    assert np.shares_memory(cache.x, x) == contiguous
    x[...] = 7.0 * x + 1.0
    if contiguous:  # the backward would read the edited values: it refuses, naming the edit
        with pytest.raises(bncheck.BatchNormError, match=r"^x was modified after"):
            bncheck.batchnorm_backward(dy, cache)
    else:  # the private copy is unchanged: the same gradients
        after = bncheck.batchnorm_backward(dy, cache)
        assert [bits(a) for a in before] == [bits(a) for a in after]


# -- 4. the float32 double-double fallback of the backward ------------------------------------


def native_backward(x: FArray, dy: FArray, cache: bncheck.BatchNormCache) -> tuple[Any, ...]:
    """``_native.backward`` called the way ``batchnorm._backward_compiled`` calls it."""
    ax = cache.axis
    inv_lo = np.zeros_like(cache.inv_std) if cache.inv_std_lo is None else cache.inv_std_lo
    return _native.backward(
        _working(cache.x, ax),
        _working(dy, ax),
        cache.mean_hi,
        cache.mean_lo,
        cache.var,
        cache.inv_std,
        inv_lo,
        cache.gamma,
        cache.eps,
    )


@pytest.mark.parametrize("m", [3, 4, 5, 8])
def test_float32_dy_equal_to_x_is_redone_in_double_double_and_meets_the_target(m: int) -> None:
    # dy = x: d is exactly parallel to x_hat, so the bracket keeps only eps/(var + eps) of dy
    # (~1e-11 at spread 1e3): every channel must take the double-double path.
    rng = np.random.default_rng(m)
    c = 6
    x = (1e3 * rng.standard_normal((m, c))).astype(np.float32)
    gamma, beta = params(rng, c, np.float32)
    dy = x.copy()
    _, cache = bncheck.batchnorm_forward(x, gamma, beta)
    dx, _, _, n_redone, *_ = native_backward(x, dy, cache)
    assert n_redone == c
    assert bits(dx.reshape(x.shape)) == bits(bncheck.batchnorm_backward(dy, cache).dx)
    assert_within_target(train_ulps(x, gamma, beta, dy, 1e-5, 1), np.float32)


@pytest.mark.parametrize("shape", [(64, 16), (4, 16, 4, 4)], ids=["(N, C)", "(N, C, H, W)"])
def test_float32_random_dy_takes_the_fast_path_in_every_channel(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(41)
    x = (2.0 + rng.standard_normal(shape)).astype(np.float32)
    gamma, beta = params(rng, shape[1], np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    _, cache = bncheck.batchnorm_forward(x, gamma, beta)
    assert native_backward(x, dy, cache)[3] == 0
    assert_within_target(train_ulps(x, gamma, beta, dy, 1e-5, 1), np.float32)


# -- 5. eval mode ------------------------------------------------------------------------------

#: (data offset, running_mean − data offset): the subtraction x − running_mean cancels in the
#: second row, the output is large (~1e4/sigma) in the third
EVAL_REGIMES = {
    "running stats near the data": (0.0, 0.0),
    "data and running_mean at 1e4": (1e4, 0.0),
    "running_mean 1e4 from the data": (0.0, 1e4),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("regime", EVAL_REGIMES.values(), ids=list(EVAL_REGIMES))
@pytest.mark.parametrize("axis", [1, -1])
def test_eval_mode_matches_the_exact_truth(
    dtype: Any, regime: tuple[float, float], axis: int
) -> None:
    offset, shift = regime
    rng = np.random.default_rng(51)
    x = (offset + rng.standard_normal((6, 5, 4, 7))).astype(dtype)
    c = x.shape[axis]
    gamma, beta = params(rng, c, dtype)
    rm = offset + shift + 0.1 * rng.standard_normal(c)
    rv = rng.uniform(0.5, 2.0, c)
    y = bncheck.batchnorm_inference(x, gamma, beta, rm, rv, axis=axis)
    assert y.dtype == dtype
    truth = exact_inference(x, gamma, beta, rm, rv, eps=1e-5, axis=axis)
    ulp = normwise_ulp(y, truth, dtype, axis=axis)
    assert ulp <= TARGET_ULP[np.dtype(dtype).name], f"{ulp:.2f} ULP"


# -- 6. the NumPy fallback --------------------------------------------------------------------

FALLBACK_CASES = {
    "float32 (N, C), m = 64": (np.float32, (64, 10), 1),
    "float64 (N, C, H, W)": (np.float64, (4, 6, 5, 5), 1),
    "float32 channels-last": (np.float32, (4, 5, 5, 6), -1),
}


@pytest.mark.parametrize("case", FALLBACK_CASES.values(), ids=list(FALLBACK_CASES))
def test_the_numpy_fallback_is_a_correct_bn_and_agrees_with_the_compiled_kernels(
    monkeypatch: pytest.MonkeyPatch, case: tuple[Any, tuple[int, ...], int]
) -> None:
    dtype, shape, axis = case
    rng = np.random.default_rng(61)
    x = (3.0 + 2.0 * rng.standard_normal(shape)).astype(dtype)
    gamma, beta = params(rng, shape[axis], dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    eps = 1e-5
    monkeypatch.setenv("BNCHECK_KERNELS", "numpy")
    assert kernels() == "numpy"
    y, (dx, dgamma, dbeta) = train(x, gamma, beta, dy, eps, axis)
    fallback = {"y": y, "dx": dx, "dgamma": dgamma, "dbeta": dbeta}
    monkeypatch.setenv("BNCHECK_KERNELS", "compiled")
    assert kernels() == "compiled"
    y, (dx, dgamma, dbeta) = train(x, gamma, beta, dy, eps, axis)
    compiled = {"y": y, "dx": dx, "dgamma": dgamma, "dbeta": dbeta}
    truth = exact_batchnorm(x, gamma, beta, dy, eps=eps, axis=axis)
    for name, out in fallback.items():
        against = {"truth": getattr(truth, name), "compiled": compiled[name]}
        for what, ref in against.items():
            res = compare(out, ref, name, dtype, x=x, eps=eps, axis=axis, dy=dy)
            assert res.passed, f"{name} vs {what}: {res.ulp:.2f} ULP > budget {res.budget:.1f}"


# -- 7. bad environment values ----------------------------------------------------------------

#: (variable, value, error type); every message must name the variable and the value
BAD_ENV = {
    "unknown kernels": ("BNCHECK_KERNELS", "gpu", bncheck.BatchNormError),
    "zero threads": ("BNCHECK_NUM_THREADS", "0", ValueError),
    "negative threads": ("BNCHECK_NUM_THREADS", "-2", ValueError),
    "threads not a number": ("BNCHECK_NUM_THREADS", "two", ValueError),
}

#: large enough that the kernels split it over threads (and so read BNCHECK_NUM_THREADS)
LARGE = (4096, 48)


def _raises_naming(
    monkeypatch: pytest.MonkeyPatch, bad: tuple[str, str, type], call: Callable[[], object]
) -> None:
    var, value, error = bad
    monkeypatch.setenv(var, value)
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert re.search(rf"{var}\s*=\s*'?{re.escape(value)}'?", message), message


@pytest.mark.parametrize("bad", BAD_ENV.values(), ids=list(BAD_ENV))
def test_a_bad_environment_value_is_rejected_by_every_entry_point(
    monkeypatch: pytest.MonkeyPatch, bad: tuple[str, str, type]
) -> None:
    rng = np.random.default_rng(71)
    x = rng.standard_normal(LARGE).astype(np.float32)
    _, cache = bncheck.batchnorm_forward(x, None, None)  # before the bad value is set
    c = LARGE[1]
    calls: dict[str, Callable[[], object]] = {
        "forward": lambda: bncheck.batchnorm_forward(x, None, None),
        "backward": lambda: bncheck.batchnorm_backward(x, cache),
        "inference": lambda: bncheck.batchnorm_inference(x, None, None, np.zeros(c), np.ones(c)),
    }
    for call in calls.values():
        _raises_naming(monkeypatch, bad, call)


@pytest.mark.parametrize("bad", BAD_ENV.values(), ids=list(BAD_ENV))
def test_a_bad_environment_value_is_rejected_for_small_inputs_too(
    monkeypatch: pytest.MonkeyPatch, bad: tuple[str, str, type]
) -> None:
    # A configuration error must not depend on the size of the batch: otherwise it surfaces
    # only once the inputs grow past PARALLEL_MIN.
    x = np.random.default_rng(72).standard_normal((8, 3))
    _raises_naming(monkeypatch, bad, lambda: bncheck.batchnorm_forward(x, None, None))


@pytest.mark.parametrize("bad", BAD_ENV.values(), ids=list(BAD_ENV))
def test_a_layer_whose_forward_fails_on_a_bad_environment_keeps_its_state(
    monkeypatch: pytest.MonkeyPatch, bad: tuple[str, str, type]
) -> None:
    rng = np.random.default_rng(73)
    layer = bncheck.BatchNorm(LARGE[1], dtype=np.float32)
    layer(rng.standard_normal(LARGE).astype(np.float32))  # non-trivial state first
    before = (bits(layer.running_mean), bits(layer.running_var), layer.num_batches_tracked)
    assert before[2] == 1
    x = (3.0 + rng.standard_normal(LARGE)).astype(np.float32)
    _raises_naming(monkeypatch, bad, lambda: layer(x))
    after = (bits(layer.running_mean), bits(layer.running_var), layer.num_batches_tracked)
    assert after == before
    monkeypatch.delenv(bad[0])
    layer(x)
    assert layer.num_batches_tracked == 2


# -- 8. review findings: constant dy, empty batches, mixed dtypes, overflow, caches ----------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, axis", [((64, 5), 1), ((8, 5, 3, 3), 1), ((6, 4, 5), -1)])
def test_a_constant_dy_gives_exactly_zero_dx_and_dgamma(
    dtype: str, shape: tuple[int, ...], axis: int
) -> None:
    # loss = Σ c_j·y: dy is constant per channel, and dx and dgamma are 0 in exact arithmetic
    rng = np.random.default_rng(5)
    x = (100.0 + rng.standard_normal(shape)).astype(dtype)
    c = shape[axis]
    gamma, beta = params(rng, c, dtype)
    consts = rng.normal(size=c).astype(dtype)
    view = [1] * len(shape)
    view[axis] = c
    dy = np.broadcast_to(consts.reshape(view), shape).astype(dtype)
    _, grads = train(x, gamma, beta, dy, 1e-5, axis)
    assert grads.dgamma is not None and grads.dbeta is not None
    assert np.count_nonzero(grads.dx) == 0
    assert np.count_nonzero(grads.dgamma) == 0
    m = x.size // c
    np.testing.assert_array_equal(grads.dbeta, (consts.astype(np.float64) * m).astype(dtype))


@pytest.mark.parametrize("shape, axis", [((0, 3), 1), ((0, 3, 4, 4), 1), ((2, 3, 0), 1)])
def test_eval_mode_on_an_empty_batch_returns_an_empty_array(
    shape: tuple[int, ...], axis: int
) -> None:
    x = np.zeros(shape, dtype=np.float32)
    c = shape[axis]
    y = bncheck.batchnorm_inference(x, None, None, np.zeros(c), np.ones(c), axis=axis)
    assert y.shape == shape and y.dtype == np.float32


@pytest.mark.parametrize("m", [8, 64, 1000])
def test_float32_x_with_a_float64_dy_that_cancels_meets_the_float32_target(m: int) -> None:
    # the float64 backward of a float32 forward must not reuse its plain-double variance
    rng = np.random.default_rng(m)
    x = (1e3 * rng.standard_normal((m, 2))).astype(np.float32)
    gamma, beta = params(rng, 2, np.float32)
    dy = x.astype(np.float64)
    _, grads = train(x, gamma, beta, dy, 1e-5, 1)  # type: ignore[arg-type]
    truth = exact_batchnorm(x, gamma, beta, dy, eps=1e-5, axis=1)
    ulp = normwise_ulp(grads.dx, truth.dx, np.float32, axis=1)
    assert ulp <= TARGET_ULP["float32"], ulp


def test_an_output_that_overflows_is_an_error_that_names_it() -> None:
    rng = np.random.default_rng(6)
    x = rng.standard_normal((16, 3)).astype(np.float32)
    big = np.full(3, 3e38, dtype=np.float32)
    with pytest.raises(bncheck.BatchNormError, match=r"^y overflows float32"):
        bncheck.batchnorm_forward(x, big, None)
    _, cache = bncheck.batchnorm_forward(x * np.float32(1e-3), None, None, eps=1e-10)
    dy = np.full_like(x, 1e36)  # |dx| ~ 1e36 / 1e-3
    dy[0] = -1e36
    with pytest.raises(bncheck.BatchNormError, match=r"^dx overflows float32"):
        bncheck.batchnorm_backward(dy, cache)
    with pytest.raises(bncheck.BatchNormError, match=r"^y overflows float32"):
        bncheck.batchnorm_inference(x, big, None, np.zeros(3), np.full(3, 1e-3))


def test_a_cache_edited_into_another_shape_or_dtype_is_rejected_or_converted() -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((32, 4))
    dy = rng.standard_normal((32, 4))
    _, cache = bncheck.batchnorm_forward(x, np.ones(4), None)
    reference = bncheck.batchnorm_backward(dy, cache)
    with pytest.raises(bncheck.BatchNormError, match=r"cache\.var has shape \(3,\)"):
        bncheck.batchnorm_backward(dy, cache._replace(var=cache.var[:3]))
    strided = np.repeat(cache.mean_hi, 2)[::2]  # same values, not contiguous
    got = bncheck.batchnorm_backward(dy, cache._replace(mean_hi=strided))
    assert bits(got.dx) == bits(reference.dx)
