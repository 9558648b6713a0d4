"""No copy of x in the family's forward, and the checksum that replaces it (docs/numerics.md,
"Edits of x after the forward"), tested both ways:

- no copy: the cache keeps the caller's array itself (a read-only view), and the peak extra
  memory of a forward is the output plus per-set vectors (tracemalloc);
- an edit of x between a forward and its backward is detected for every member, dtype and
  kernel (and with dy of another dtype, where the backward reads x widened and the checksum is
  computed on its own), the error naming the reduction sets; the same values written back are
  no edit.

The checksum is checked against its definition computed value by value in plain Python (the
BN's per-channel checksum with the reduction sets as the channels).
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from bncheck import BatchNormError, family
from tests.checksums import reference_checksum

DTYPES = [np.float16, np.float32, np.float64]


def _call(kind: str, x: Any) -> tuple[Any, Any, Callable[[Any, Any], Any]]:
    c = x.shape[-1] if kind in ("layernorm", "rmsnorm") else x.shape[1]
    g = np.linspace(0.5, 1.5, c)
    if kind == "layernorm":
        y, cache = family.layernorm_forward(x, g, np.zeros(c))
        return y, cache, family.layernorm_backward
    if kind == "rmsnorm":
        y, cache = family.rmsnorm_forward(x, g)
        return y, cache, family.rmsnorm_backward
    if kind == "groupnorm":
        y, cache = family.groupnorm_forward(x, g, np.zeros(c), 2)
        return y, cache, family.groupnorm_backward
    y, cache = family.instancenorm_forward(x, g, np.zeros(c))
    return y, cache, family.instancenorm_backward


KINDS = ["layernorm", "rmsnorm", "groupnorm", "instancenorm"]


@pytest.fixture(params=["compiled", "numpy"])
def kernels(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BNCHECK_KERNELS", request.param)
    return str(request.param)


def _sets(kind: str, shape: tuple[int, ...]) -> int:
    if kind in ("layernorm", "rmsnorm"):  # over the last axis: every other index a set
        return int(np.prod(shape[:-1]))
    return shape[0] * (2 if kind == "groupnorm" else shape[1])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_the_cache_keeps_x_itself_and_its_checksum_is_the_definition(
    kind: str, dtype: Any, kernels: str
) -> None:
    x = np.random.default_rng(2).normal(size=(3, 4, 5)).astype(dtype)
    _, cache, _ = _call(kind, x)
    assert np.shares_memory(cache.x, x) and not cache.x.flags.writeable
    assert x.flags.writeable  # the caller's own array is untouched
    sets = _sets(kind, x.shape)
    assert cache.x_sum is not None and cache.x_sum.tolist() == reference_checksum(
        x.reshape(sets, -1), 0
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dy_dtype", [None, np.float32, np.float64])
def test_an_edit_of_x_is_refused_naming_the_set_and_the_same_values_are_no_edit(
    kind: str, dtype: Any, dy_dtype: Any, kernels: str
) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 4, 5)).astype(dtype)
    dy = rng.normal(size=x.shape).astype(dy_dtype or dtype)
    _, cache, backward = _call(kind, x)
    want = backward(dy, cache)  # no false alarm, whatever dtype the backward reads x in
    sets = _sets(kind, x.shape)
    flat = x.reshape(sets, -1)  # a view: the same memory
    last = sets - 1
    for edit in ("ulp", "swap", "sign"):
        old = flat[last].copy()
        if edit == "ulp":
            flat[last, 1] = np.nextafter(flat[last, 1], np.inf)
        elif edit == "swap":
            flat[last, [0, 3]] = flat[last, [3, 0]]
        else:
            flat[last, 2] = -flat[last, 2]
        message = rf"^x was modified after the forward: reduction set {last} \(of {sets}\) "
        with pytest.raises(BatchNormError, match=message):
            backward(dy, cache)
        flat[last] = old
        again = backward(dy, cache)
        assert again.dx.tobytes() == want.dx.tobytes()
    x[...] = rng.normal(size=x.shape)  # the next batch written into the same buffer
    with pytest.raises(BatchNormError, match=rf"reduction sets 0, 1, .*\({sets} of {sets}\)"):
        backward(dy, cache)


@pytest.mark.parametrize("kind", KINDS)
def test_a_forward_allocates_the_output_and_no_copy_of_x(kind: str, kernels: str) -> None:
    x = np.random.default_rng(4).normal(size=(64, 32, 64)).astype(np.float32)
    _call(kind, x)  # warm up (imports, first-call allocations)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        y, cache, _ = _call(kind, x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the output, and per-set vectors (statistics, checksum: ≤ 64·32 sets × 40 bytes); the
    # NumPy kernels compute in float64 temporaries and are not held to this
    if kernels == "compiled":
        assert peak < x.nbytes + 200_000, f"peak {peak} bytes for a {x.nbytes}-byte input"
    assert y.nbytes == x.nbytes and np.shares_memory(cache.x, x)


def test_the_kernels_own_copy_is_kept_when_it_needs_one() -> None:
    """float16 (widened) and a non-contiguous x: the kernel reads a copy; the cache keeps the
    caller's float16 array (its checksum is of the widened values) or the kernel's copy."""
    rng = np.random.default_rng(6)
    x16 = rng.normal(size=(4, 6)).astype(np.float16)
    _, cache16 = family.layernorm_forward(x16)
    assert np.shares_memory(cache16.x, x16)
    xs = rng.normal(size=(4, 12))[:, ::2]
    _, caches = family.layernorm_forward(xs)
    assert not np.shares_memory(caches.x, xs) and caches.x.flags.c_contiguous
    xs[...] = 0.0  # the copy is private: nothing to detect, the backward is the forward's
    dx = family.layernorm_backward(np.ones((4, 6)), caches).dx
    assert np.isfinite(dx).all()
