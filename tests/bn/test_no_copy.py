"""No copy of x on any path, and the checksum that replaces it (docs/numerics.md, "Edits of x
after the forward").

Tested both ways:

- no copy: the cache and the layer keep the caller's array itself, and the peak extra memory
  of a forward, of a backward and of an eval-mode forward is one input-sized array (the
  output) plus per-channel vectors (tracemalloc, which NumPy reports its buffers to);
- an edit of x between a forward and its backward is detected, by the functional backward
  and the layer's, train and eval, compiled and NumPy kernels (and with the kernels switched
  in between), and the error names the channels; writing back the same values is no edit.

The checksum itself is checked against a plain-Python computation of its definition (integer
arithmetic on each value's bits, one value at a time) on small arrays, and the compiled and
NumPy implementations against each other on arrays large enough for threads, for any thread
count.
"""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import bncheck
from bncheck import BatchNorm, BatchNormError
from tests.checksums import reference_checksum
from tests.internals import compiled as _native
from tests.internals import numpy_kernels as _numpy_kernels

FArray = NDArray[np.floating[Any]]

DTYPES = [np.float16, np.float32, np.float64]

SMALL = [((6, 3), 1), ((4, 3, 5), 1), ((2, 3, 2, 4), 1), ((3, 2, 2, 5), -1), ((2, 2, 3, 2, 2), 2)]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape_axis", SMALL, ids=str)
def test_both_kernels_compute_the_defined_checksum(shape_axis: Any, dtype: Any) -> None:
    shape, axis = shape_axis
    x = np.random.default_rng(1).normal(5.0, 3.0, size=shape).astype(dtype)
    ax = axis % x.ndim
    want = reference_checksum(x, ax)
    assert _numpy_kernels.checksum(x, ax).tolist() == want
    assert _native.checksum(_native.working(x, ax)).tolist() == want
    _, cache = bncheck.batchnorm_forward(x, None, None, axis=axis)
    assert cache.x_sum is not None and cache.x_sum.tolist() == want


def _big_cases() -> Iterator[tuple[FArray, int]]:
    rng = np.random.default_rng(2)
    for shape, axis in [((1500, 96), 1), ((9, 16, 40, 37), 1), ((3, 5, 9000), 1)]:
        for dtype in (np.float32, np.float64):
            yield rng.normal(size=shape).astype(dtype), axis
    # a view the kernels copy, and channels-last
    yield rng.normal(size=(96, 1500)).T, 1
    yield rng.normal(size=(8, 30, 30, 24)).astype(np.float32), 3


@pytest.mark.parametrize("threads", ["1", "2"])
def test_fused_and_standalone_checksums_agree_for_any_thread_count(
    threads: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BNCHECK_NUM_THREADS", threads)
    for x, ax in _big_cases():
        c = x.shape[ax]
        want = _numpy_kernels.checksum(x, ax)
        assert np.array_equal(_native.checksum(_native.working(x, ax)), want)
        _, cache = bncheck.batchnorm_forward(x, None, None, axis=ax)  # fused in Σ x
        assert np.array_equal(cache.x_sum, want)
        x3 = _native.working(x, ax)
        stats = [np.zeros(c), np.zeros(c), np.ones(c), np.ones(c), np.zeros(c)]
        *_, fused = _native.backward(x3, x3, *stats, None, 1e-5, with_checksum=True)
        assert np.array_equal(fused, want)  # fused in the backward sums
        _, _, in_eval = _native.inference(
            x3, None, None, np.zeros(c), np.ones(c), 1e-5, with_checksum=True
        )
        assert np.array_equal(in_eval, want)  # fused in the eval pass (split by rows)


# -- edits are detected -------------------------------------------------------------------


def _edits() -> dict[str, Callable[[FArray], None]]:
    def one_ulp(x: FArray) -> None:
        x[1, 2] = np.nextafter(x[1, 2], np.inf)

    def swap(x: FArray) -> None:  # two values of one channel exchanged
        x[[0, 3], 2] = x[[3, 0], 2]

    def sign(x: FArray) -> None:
        x[2, 2] = -x[2, 2]

    def refill(x: FArray) -> None:  # the next batch written into the same buffer
        x[...] = np.random.default_rng(9).normal(size=x.shape)

    return {"one ulp": one_ulp, "swap": swap, "sign": sign, "refill": refill}


EDITS = _edits()


@pytest.fixture(params=["compiled", "numpy"])
def kernels(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BNCHECK_KERNELS", request.param)
    return str(request.param)


def _channel_message(edit: str) -> str:
    return r"channels 0, 1, 2, 3 \(4 of 4\)" if edit == "refill" else r"channel 2 \(of 4\)"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("edit", list(EDITS))
def test_functional_backward_refuses_an_edited_x_and_names_it(
    edit: str, dtype: Any, kernels: str
) -> None:
    rng = np.random.default_rng(3)
    x, dy = (rng.normal(size=(8, 4)).astype(dtype) for _ in range(2))
    _, cache = bncheck.batchnorm_forward(x, np.ones(4), np.zeros(4))
    EDITS[edit](x)
    with pytest.raises(BatchNormError, match=r"^x was modified after the forward: ") as e:
        bncheck.batchnorm_backward(dy, cache)
    assert re.search(_channel_message(edit), str(e.value)), str(e.value)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("edit", list(EDITS))
def test_layer_backward_refuses_an_edited_x_and_names_it(
    edit: str, training: bool, kernels: str
) -> None:
    rng = np.random.default_rng(4)
    x, dy = rng.normal(size=(8, 4)), rng.normal(size=(8, 4))
    bn = BatchNorm(4).train(training)
    bn(x)
    EDITS[edit](x)
    with pytest.raises(BatchNormError, match=r"^x was modified after the forward: ") as e:
        bn.backward(dy)
    assert re.search(_channel_message(edit), str(e.value)), str(e.value)
    bn(x)  # a new forward on the new values: differentiable again
    assert bn.backward(dy).dx.shape == x.shape


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_writing_back_the_same_values_is_no_edit(training: bool, kernels: str) -> None:
    rng = np.random.default_rng(5)
    x, dy = rng.normal(size=(8, 4)), rng.normal(size=(8, 4))
    bn = BatchNorm(4).train(training)
    bn(x)
    want = bn.backward(dy)
    bn(x)
    x[...] = x.copy()
    got = bn.backward(dy)
    assert all(np.array_equal(a, b) for a, b in zip(want, got, strict=True))


@pytest.mark.parametrize("first", ["compiled", "numpy"])
def test_kernels_switched_between_forward_and_backward_agree_on_the_checksum(
    first: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = "numpy" if first == "compiled" else "compiled"
    rng = np.random.default_rng(6)
    x, dy = rng.normal(size=(16, 5, 3)), rng.normal(size=(16, 5, 3))
    monkeypatch.setenv("BNCHECK_KERNELS", first)
    _, cache = bncheck.batchnorm_forward(x, None, None)
    monkeypatch.setenv("BNCHECK_KERNELS", other)
    bncheck.batchnorm_backward(dy, cache)  # no false alarm
    x[3, 4, 1] += 1.0
    with pytest.raises(BatchNormError, match=r"channel 4 \(of 5\)"):
        bncheck.batchnorm_backward(dy, cache)


def test_an_edit_is_detected_when_dy_is_wider_than_x() -> None:
    # float32 x with float64 dy: the kernels read x widened, so its checksum is taken apart
    rng = np.random.default_rng(7)
    x = rng.normal(size=(8, 3)).astype(np.float32)
    dy = rng.normal(size=(8, 3))
    _, cache = bncheck.batchnorm_forward(x, None, None)
    assert bncheck.batchnorm_backward(dy, cache).dx.dtype == np.float32
    x[5, 0] *= 2
    with pytest.raises(BatchNormError, match=r"channel 0 \(of 3\)"):
        bncheck.batchnorm_backward(dy, cache)


def test_a_cache_with_a_bad_checksum_field_is_refused() -> None:
    x = np.random.default_rng(8).normal(size=(8, 3))
    _, cache = bncheck.batchnorm_forward(x, None, None)
    bad = cache._replace(x_sum=np.zeros(3, np.int64))
    with pytest.raises(BatchNormError, match=r"^cache.x_sum has shape \(3,\) and dtype int64"):
        bncheck.batchnorm_backward(x, bad)
    # a cache built without a checksum is not checked (nothing to compare with)
    assert bncheck.batchnorm_backward(x, cache._replace(x_sum=None)).dx.shape == x.shape


def test_grad_false_keeps_nothing_and_backward_says_so() -> None:
    x = np.random.default_rng(9).normal(size=(8, 3))
    for training in (True, False):
        bn = BatchNorm(3).train(training)
        bn(x, grad=False)
        with pytest.raises(BatchNormError, match=r"^backward\(\) after a forward with grad=False"):
            bn.backward(x)
        bn(x)
        assert bn.backward(x).dx.shape == x.shape
    with pytest.raises(TypeError, match=r"^grad=1 must be True or False$"):
        BatchNorm(3)(x, grad=1)  # type: ignore[arg-type]


# -- no copy ----------------------------------------------------------------------------------


def _peak_extra(run: Callable[[], Any]) -> int:
    """Peak bytes allocated (and traced) while ``run`` runs, above what was allocated before."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = run()
        peak = tracemalloc.get_traced_memory()[1]
        del result
    finally:
        tracemalloc.stop()
    return peak - base


#: per-channel vectors (about 40 float64 ones at C = 256) and Python objects
SLACK = 1 << 17


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2048, 256), (16, 256, 8, 8)], ids=["rows", "NCHW"])
def test_no_copy_of_x_the_peak_is_the_output(shape: Any, dtype: Any) -> None:
    # compiled kernels: every step allocates its output and per-channel vectors, nothing more
    # (a copy of x would add x.nbytes, far above SLACK)
    rng = np.random.default_rng(10)
    x, dy = rng.normal(size=shape).astype(dtype), rng.normal(size=shape).astype(dtype)
    limit = x.nbytes + SLACK
    y, cache = bncheck.batchnorm_forward(x, None, None)
    assert np.shares_memory(cache.x, x)
    del y
    assert _peak_extra(lambda: bncheck.batchnorm_forward(x, None, None)) <= limit
    assert _peak_extra(lambda: bncheck.batchnorm_backward(dy, cache)) <= limit
    bn = BatchNorm(shape[1], dtype=dtype)
    assert _peak_extra(lambda: bn(x)) <= limit
    assert _peak_extra(lambda: bn.backward(dy)) <= limit
    bn.eval()
    assert _peak_extra(lambda: bn(x)) <= limit
    assert _peak_extra(lambda: bn(x)) >= x.nbytes  # y at least: the probe does see NumPy's


def test_the_numpy_kernels_keep_x_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BNCHECK_KERNELS", "numpy")
    x = np.random.default_rng(11).normal(size=(64, 3, 5))
    _, cache = bncheck.batchnorm_forward(x, None, None)
    assert cache.x is x
