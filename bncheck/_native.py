"""ctypes bindings to the compiled kernels (``bncheck/_ckernels``), and the per-channel plans
built from them. Private: :mod:`bncheck.batchnorm` is the public face.

Arrays reach the kernels as C-contiguous (outer, C, inner) views, the channel in the middle.
Each kernel call handles a range of channels; large arrays are split into one range per
thread (:func:`num_threads`). ctypes releases the GIL during a call, so the ranges run in
parallel; each range's arithmetic does not depend on the split, so results are identical for
any number of threads.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
Array = NDArray[Any]

__all__ = [
    "available",
    "backward",
    "forward",
    "inference",
    "load_error",
    "num_threads",
]

_P = ctypes.c_void_p
_N = ctypes.c_ssize_t
_D = ctypes.c_double

#: below this many values per call, threads cost more than they save
PARALLEL_MIN = 1 << 17

_LIB: ctypes.CDLL | None = None
_ERROR: str | None = None


def _load() -> ctypes.CDLL | None:
    global _LIB, _ERROR
    if _LIB is not None or _ERROR is not None:
        return _LIB
    spec = importlib.util.find_spec("bncheck._bn")
    if spec is None or spec.origin is None:
        _ERROR = (
            "bncheck's compiled kernels (bncheck._bn) are not built; reinstall with "
            "`pip install -e .` (needs a C compiler)"
        )
        return None
    try:
        lib = ctypes.CDLL(spec.origin)
    except OSError as exc:  # pragma: no cover - a broken build
        _ERROR = f"bncheck's compiled kernels failed to load from {spec.origin}: {exc}"
        return None
    sig: dict[str, list[Any]] = {
        "bn_sum_dd": [_P] + [_N] * 5 + [_P] * 2,
        "bn_sqdev_dd": [_P] + [_N] * 5 + [_P] * 4,
        "bn_sqdev_fast": [_P] + [_N] * 5 + [_P] * 3,
        "bn_affine_dd": [_P] + [_N] * 5 + [_P] * 6,
        "bn_affine_fast": [_P] + [_N] * 5 + [_P] * 4,
        "bn_bsums_dd": [_P, _P] + [_N] * 5 + [_P] * 8,
        "bn_bsums_semi": [_P, _P] + [_N] * 5 + [_P] * 8,
        "bn_dx_dd": [_P, _P] + [_N] * 5 + [_P] * 9,
        "bn_dx_fast": [_P, _P] + [_N] * 5 + [_P] * 5,
    }
    for name, args in sig.items():
        for suffix in ("_f32", "_f64"):
            fn = getattr(lib, name + suffix)
            fn.argtypes = args
            fn.restype = None
    lib.bn_divide.argtypes = [_N, _D, _P, _P]
    lib.bn_scales.argtypes = [_N, _D, _D, *[_P] * 8]
    lib.bn_backward_coefs.argtypes = [_N, _D, _D, *[_P] * 19]
    for name in ("bn_divide", "bn_scales", "bn_backward_coefs"):
        getattr(lib, name).restype = None
    _LIB = lib
    return lib


def available() -> bool:
    """Whether the compiled kernels loaded."""
    return _load() is not None


def load_error() -> str | None:
    """Why the compiled kernels did not load (None when they did)."""
    _load()
    return _ERROR


def num_threads() -> int:
    """Threads per kernel call: ``BNCHECK_NUM_THREADS`` if set, else the usable CPUs (at most 8)."""
    env = os.environ.get("BNCHECK_NUM_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError as exc:
            raise ValueError(
                f"BNCHECK_NUM_THREADS={env!r}; expected a positive integer"
            ) from exc
        if n < 1:
            raise ValueError(f"BNCHECK_NUM_THREADS={env!r}; expected a positive integer")
        return n
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus))


def _ptr(a: Array | None) -> int | None:
    return None if a is None else int(a.ctypes.data)


def _suffix(dtype: np.dtype[Any]) -> str:
    return "_f32" if dtype == np.float32 else "_f64"


def _ranges(channels: int, size: int) -> list[tuple[int, int]]:
    """Channel ranges, one per thread (a single range for small arrays)."""
    threads = num_threads()  # read (and validated) on every call, whatever the size
    n = min(threads, channels) if size >= PARALLEL_MIN else 1
    bounds = [channels * i // n for i in range(n + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(n) if bounds[i] < bounds[i + 1]]


def _run(
    kernel: Callable[..., None],
    arrays: Sequence[Array],
    shape: tuple[int, int, int],
    per_channel: Sequence[Array | None],
    ranges: list[tuple[int, int]],
) -> None:
    """Call ``kernel(*arrays, outer, C, inner, c0, c1, *per_channel)`` on every range."""
    outer, c, inner = shape
    head = [_ptr(a) for a in arrays]
    tail = [_ptr(a) for a in per_channel]

    def call(r: tuple[int, int]) -> None:
        kernel(*head, outer, c, inner, r[0], r[1], *tail)

    if len(ranges) == 1:
        call(ranges[0])
        return
    # Fresh threads per call (not a pool): safe in a forked child, and their start-up cost is
    # small beside a call on PARALLEL_MIN values or more.
    threads = [threading.Thread(target=call, args=(r,)) for r in ranges[1:]]
    for t in threads:
        t.start()
    try:
        call(ranges[0])
    finally:
        for t in threads:
            t.join()


def _lib() -> ctypes.CDLL:
    lib = _load()
    if lib is None:
        raise RuntimeError(_ERROR)
    return lib


def _kernel(name: str, dtype: np.dtype[Any]) -> Callable[..., None]:
    fn: Callable[..., None] = getattr(_lib(), name + _suffix(dtype))
    return fn


def forward(x: Array, gamma: F64 | None, beta: F64 | None, eps: float) -> tuple[Array, ...]:
    """Train-mode forward on a C-contiguous (outer, C, inner) float32/float64 array.

    Returns y (dtype of x), mean_hi, mean_lo, var, inv_hi, inv_lo (float64, shape (C,)).
    """
    lib = _lib()
    shape = (x.shape[0], x.shape[1], x.shape[2])
    c = shape[1]
    m = float(shape[0] * shape[2])
    ranges = _ranges(c, x.size)
    mh, ml = np.empty(c), np.empty(c)
    _run(_kernel("bn_sum_dd", x.dtype), [x], shape, [mh, ml], ranges)
    lib.bn_divide(c, m, _ptr(mh), _ptr(ml))
    m2h, m2l = np.empty(c), np.zeros(c)
    if x.dtype == np.float64:
        _run(_kernel("bn_sqdev_dd", x.dtype), [x], shape, [mh, ml, m2h, m2l], ranges)
    else:
        _run(_kernel("bn_sqdev_fast", x.dtype), [x], shape, [mh, ml, m2h], ranges)
    var, ih, il, sh, sl = (np.empty(c) for _ in range(5))
    lib.bn_scales(c, m, eps, _ptr(m2h), _ptr(m2l), _ptr(gamma), *map(_ptr, (var, ih, il, sh, sl)))
    y = np.empty_like(x)
    _affine(x, shape, ranges, mh, ml, sh, sl, beta, y)
    return y, mh, ml, var, ih, il


def _affine(
    x: Array,
    shape: tuple[int, int, int],
    ranges: list[tuple[int, int]],
    mh: F64,
    ml: F64,
    sh: F64,
    sl: F64,
    beta: F64 | None,
    y: Array,
) -> None:
    """y = (x − (mh + ml))·(sh + sl) + beta: double-double for float64, plain double (rounded
    once to float32, with beta − ml·sh folded) for float32."""
    b = np.zeros(shape[1]) if beta is None else beta
    if x.dtype == np.float64:
        _run(_kernel("bn_affine_dd", x.dtype), [x], shape, [mh, ml, sh, sl, b, y], ranges)
    else:
        _run(_kernel("bn_affine_fast", x.dtype), [x], shape, [mh, sh, b - ml * sh, y], ranges)


#: float32 channels whose plain-double dx bracket could amplify rounding by more than this
#: are computed in double-double instead (bn_backward_coefs in bn.c): 4·u64·2^21 = 2^-30, a
#: 1/64 of a float32 ULP of max |dx|.
AMPLIFICATION_LIMIT = 2.0**21


def backward(
    x: Array,
    dy: Array,
    mean_hi: F64,
    mean_lo: F64,
    var: F64,
    inv_hi: F64,
    inv_lo: F64,
    gamma: F64 | None,
    eps: float,
) -> tuple[Array, F64, F64, int]:
    """Train-mode backward on C-contiguous (outer, C, inner) arrays of one dtype.

    Returns dx (dtype of x), dgamma and dbeta (float64, shape (C,), rounded once from
    double-double), and how many float32 channels needed the double-double bracket.
    """
    lib = _lib()
    shape = (x.shape[0], x.shape[1], x.shape[2])
    c = shape[1]
    m = float(shape[0] * shape[2])
    ranges = _ranges(c, x.size)
    sums = [np.zeros(c) for _ in range(6)]  # S1, S2, S3 as (hi, lo)
    narrow = x.dtype != np.float64
    first = "bn_bsums_semi" if narrow else "bn_bsums_dd"
    _run(_kernel(first, x.dtype), [x, dy], shape, [mean_hi, mean_lo, *sums], ranges)
    s3h, s3l = (sums[4], sums[5]) if narrow else (None, None)
    coefs = [np.empty(c) for _ in range(9)]  # ah, al, bh, bl, kh, kl, dgamma, dbeta, amp
    lib.bn_backward_coefs(
        c, m, eps, *map(_ptr, (*sums[:4], s3h, s3l, var, inv_hi, inv_lo, gamma)),
        *map(_ptr, coefs),
    )
    ah, al, bh, bl, kh, kl, dgamma, dbeta, amp = coefs
    dx = np.empty_like(x)
    dd_args = [mean_hi, mean_lo, ah, al, bh, bl, kh, kl, dx]
    if not narrow:
        _run(_kernel("bn_dx_dd", x.dtype), [x, dy], shape, dd_args, ranges)
        return dx, dgamma, dbeta, 0
    _run(_kernel("bn_dx_fast", x.dtype), [x, dy], shape, [mean_hi, ah - mean_lo * bh, bh, kh, dx],
         ranges)
    with np.errstate(invalid="ignore"):
        redo = [(int(j), int(j) + 1) for j in np.flatnonzero(~(amp <= AMPLIFICATION_LIMIT))]
    if not redo:
        return dx, dgamma, dbeta, 0
    # Where the bracket cancels, it leaves about (1 - var/(var + eps))·dy: the forward's
    # plain-double variance is then not enough either. Recompute it in double-double for these
    # channels, then their coefficients and dx.
    m2h, m2l = np.zeros(c), np.zeros(c)
    for r in redo:
        _run(_kernel("bn_sqdev_dd", x.dtype), [x], shape, [mean_hi, mean_lo, m2h, m2l], [r])
        _run(_kernel("bn_bsums_dd", x.dtype), [x, dy], shape, [mean_hi, mean_lo, *sums], [r])
    v2, ih2, il2, _, _ = stats = [np.empty(c) for _ in range(5)]
    lib.bn_scales(c, m, eps, _ptr(m2h), _ptr(m2l), None, *map(_ptr, stats))
    idx = [r[0] for r in redo]
    var, inv_hi, inv_lo = var.copy(), inv_hi.copy(), inv_lo.copy()
    var[idx], inv_hi[idx], inv_lo[idx] = v2[idx], ih2[idx], il2[idx]
    lib.bn_backward_coefs(
        c, m, eps, *map(_ptr, (*sums[:4], None, None, var, inv_hi, inv_lo, gamma)),
        *map(_ptr, coefs),
    )
    for r in redo:
        _run(_kernel("bn_dx_dd", x.dtype), [x, dy], shape, dd_args, [r])
    return dx, dgamma, dbeta, len(redo)


def inference(
    x: Array, gamma: F64 | None, beta: F64 | None, mean: F64, var: F64, eps: float
) -> Array:
    """Eval-mode forward on a C-contiguous (outer, C, inner) float32/float64 array."""
    lib = _lib()
    shape = (x.shape[0], x.shape[1], x.shape[2])
    c = shape[1]
    ranges = _ranges(c, x.size)
    v = np.ascontiguousarray(var, dtype=np.float64)
    scratch = [np.empty(c) for _ in range(5)]  # var, inv (hi, lo), scale (hi, lo)
    lib.bn_scales(c, 1.0, eps, _ptr(v), None, _ptr(gamma), *map(_ptr, scratch))
    mh = np.ascontiguousarray(mean, dtype=np.float64)
    y = np.empty_like(x)
    _affine(x, shape, ranges, mh, np.zeros(c), scratch[3], scratch[4], beta, y)
    return y
