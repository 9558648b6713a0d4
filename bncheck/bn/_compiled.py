"""ctypes bindings to the compiled kernels (``bncheck/bn/_csrc``), and the per-channel plans
built from them. Private: :mod:`bncheck.bn.functional` is the public face.

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
import warnings
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
    spec = importlib.util.find_spec("bncheck.bn._bn")
    if spec is None or spec.origin is None:
        _ERROR = (
            "bncheck's compiled kernels (bncheck.bn._bn) are not built; reinstall with "
            "`pip install -e .` (needs a C compiler)"
        )
        return None
    try:
        lib = ctypes.CDLL(spec.origin)
    except OSError as exc:  # pragma: no cover - a broken build
        _ERROR = f"bncheck's compiled kernels failed to load from {spec.origin}: {exc}"
        return None
    sig: dict[str, list[Any]] = {
        "bn_sum_dd": [_P] + [_N] * 5 + [_P] * 4,
        "bn_sqdev_dd": [_P] + [_N] * 5 + [_P] * 4,
        "bn_sqdev_fast": [_P] + [_N] * 5 + [_P] * 3,
        "bn_affine_dd": [_P] + [_N] * 5 + [_P] * 6,
        "bn_affine_fast": [_P] + [_N] * 5 + [_P] * 4,
        "bn_bsums_dd": [_P, _P] + [_N] * 5 + [_P] * 9,
        "bn_bsums_semi": [_P, _P] + [_N] * 5 + [_P] * 9,
        "bn_dx_dd": [_P, _P] + [_N] * 5 + [_P] * 9,
        "bn_dx_fast": [_P, _P] + [_N] * 5 + [_P] * 5,
    }
    try:
        for name, args in sig.items():
            for suffix in ("_f32", "_f64"):
                fn = getattr(lib, name + suffix)
                fn.argtypes = args
                fn.restype = None
        lib.bn_divide.argtypes = [_N, _D, _P, _P]
        lib.bn_scales.argtypes = [_N, _D, _D, *[_P] * 8]
        lib.bn_backward_coefs.argtypes = [_N, _D, _D, *[_P] * 20]
        for name in ("bn_divide", "bn_scales", "bn_backward_coefs"):
            getattr(lib, name).restype = None
    except AttributeError as exc:
        _ERROR = (
            f"bncheck's compiled kernels at {spec.origin} are from another version ({exc}); "
            "rebuild them with `pip install -e .`"
        )
        return None
    _LIB = lib
    return lib


def available() -> bool:
    """Whether the compiled kernels loaded."""
    return _load() is not None


def load_error() -> str | None:
    """Why the compiled kernels did not load (None when they did)."""
    _load()
    return _ERROR


#: BNCHECK_NUM_THREADS values already warned about (warn once for each)
_THREADS_WARNED: set[str] = set()


def _usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def num_threads() -> int:
    """Threads per kernel call: ``BNCHECK_NUM_THREADS`` if set, capped at the usable CPUs (with
    a warning, once), else the usable CPUs (at most 8)."""
    env = os.environ.get("BNCHECK_NUM_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError as exc:
            raise ValueError(f"BNCHECK_NUM_THREADS={env!r}; expected a positive integer") from exc
        if n < 1:
            raise ValueError(f"BNCHECK_NUM_THREADS={env!r}; expected a positive integer")
        cpus = _usable_cpus()
        if n > cpus:
            if env not in _THREADS_WARNED:
                _THREADS_WARNED.add(env)
                warnings.warn(
                    f"BNCHECK_NUM_THREADS={env!r} exceeds the {cpus} usable CPUs; "
                    f"bncheck uses {cpus} threads",
                    RuntimeWarning,
                    stacklevel=2,
                )
            return cpus
        return n
    return max(1, min(8, _usable_cpus()))


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


def _groups(ranges: list[tuple[int, int]], size: int) -> list[list[tuple[int, int]]]:
    """Share ``ranges`` among the threads: one group per thread, each about as many channels."""
    channels = sum(b - a for a, b in ranges)
    n = max(1, min(num_threads(), len(ranges))) if size >= PARALLEL_MIN else 1
    groups: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    done = 0
    for a, b in ranges:
        groups[min(n - 1, done * n // max(channels, 1))].append((a, b))
        done += b - a
    return [g for g in groups if g]


def _run(
    kernel: Callable[..., None],
    arrays: Sequence[Array],
    shape: tuple[int, int, int],
    per_channel: Sequence[Array | None],
    ranges: list[tuple[int, int]],
) -> None:
    """Call ``kernel(*arrays, outer, C, inner, c0, c1, *per_channel)`` on every range.

    The ranges are shared among threads (:func:`_groups`). Every worker holds references to
    the arrays whose addresses it passes, and this function returns only after every worker
    has finished, even when interrupted (KeyboardInterrupt): no kernel can outlive its
    buffers. A worker's exception is re-raised here.
    """
    outer, c, inner = shape
    keep = (tuple(arrays), tuple(per_channel))  # alive for as long as any worker runs
    head = [_ptr(a) for a in arrays]
    tail = [_ptr(a) for a in per_channel]
    per_value = outer * inner
    groups = _groups(ranges, per_value * sum(b - a for a, b in ranges))
    errors: list[BaseException] = []

    # Each worker holds `keep`, so the buffers it writes stay alive as long as it runs, even
    # if an interrupt ends this call early (memory safety does not depend on the joins).
    def work(group: list[tuple[int, int]], _keep: Any = keep) -> None:
        try:
            for a, b in group:
                kernel(*head, outer, c, inner, a, b, *tail)
        except BaseException as exc:  # pragma: no cover - ctypes argument errors
            errors.append(exc)

    if len(groups) == 1:
        work(groups[0])
    else:
        # Fresh threads per call (not a pool): safe in a forked child, and their start-up cost
        # is small beside a call on PARALLEL_MIN values or more.
        threads: list[threading.Thread] = []
        try:
            for g in groups[1:]:
                t = threading.Thread(target=work, args=(g,), daemon=True)
                threads.append(t)
                t.start()
            work(groups[0])
        finally:
            _join_all(threads)
    if errors:
        raise errors[0]


def _join_all(threads: list[threading.Thread]) -> None:
    """Join every running worker; an interrupt while waiting (KeyboardInterrupt, a signal
    handler's exception) is re-raised only after they have finished."""
    pending: BaseException | None = None
    for t in threads:
        while t.is_alive():
            try:
                t.join()
            except BaseException as exc:
                pending = pending or exc
    if pending is not None:
        raise pending


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
    unused = np.zeros(c)  # bn_sum_dd shares bn_sqdev_dd's arguments; it ignores mu
    _run(_kernel("bn_sum_dd", x.dtype), [x], shape, [unused, unused, mh, ml], ranges)
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


def _merged(channels: NDArray[np.intp]) -> list[tuple[int, int]]:
    """Sorted channel indices as ranges of neighbours: [1, 2, 3, 7] -> [(1, 4), (7, 8)]."""
    out: list[tuple[int, int]] = []
    for j in channels.tolist():
        if out and out[-1][1] == j:
            out[-1] = (out[-1][0], j + 1)
        else:
            out.append((j, j + 1))
    return out


def _refine_variance(
    x: Array,
    shape: tuple[int, int, int],
    ranges: list[tuple[int, int]],
    mean_hi: F64,
    mean_lo: F64,
    eps: float,
    stats: tuple[F64, F64, F64],
) -> tuple[F64, F64, F64]:
    """var, inv_hi, inv_lo with the channels in ``ranges`` recomputed from a double-double
    Σ (x − mu)² (the float32 forward's is plain double)."""
    c = shape[1]
    m = float(shape[0] * shape[2])
    m2h, m2l = np.zeros(c), np.zeros(c)
    _run(_kernel("bn_sqdev_dd", x.dtype), [x], shape, [mean_hi, mean_lo, m2h, m2l], ranges)
    fresh = [np.empty(c) for _ in range(5)]  # var, inv (hi, lo), scale (hi, lo)
    _lib().bn_scales(c, m, eps, _ptr(m2h), _ptr(m2l), None, *map(_ptr, fresh))
    out = tuple(a.copy() for a in stats)
    for a, b in ranges:
        for dst, src in zip(out, fresh[:3], strict=True):
            dst[a:b] = src[a:b]
    return out[0], out[1], out[2]


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
    *,
    exact_var: bool = True,
) -> tuple[Array, F64, F64, int, float]:
    """Train-mode backward on C-contiguous (outer, C, inner) arrays of one dtype.

    ``exact_var`` says whether var/inv came from a double-double Σ (x − mu)² (float64 and
    float16 forwards) or a plain-double one (float32 forward); for a float64 backward of a
    float32 forward (dy wider than x) it is refined first. Returns dx (dtype of x), dgamma
    and dbeta (float64, shape (C,), rounded once from double-double), how many float32
    channels needed the double-double bracket, and a bound on max |dx| (inf if unknown).
    """
    lib = _lib()
    shape = (x.shape[0], x.shape[1], x.shape[2])
    c = shape[1]
    m = float(shape[0] * shape[2])
    ranges = _ranges(c, x.size)
    narrow = x.dtype != np.float64
    if not narrow and not exact_var:
        var, inv_hi, inv_lo = _refine_variance(
            x, shape, ranges, mean_hi, mean_lo, eps, (var, inv_hi, inv_lo)
        )
    sums = [np.zeros(c) for _ in range(7)]  # S1, S2, S3 as (hi, lo); Z
    first = "bn_bsums_semi" if narrow else "bn_bsums_dd"
    _run(_kernel(first, x.dtype), [x, dy], shape, [mean_hi, mean_lo, *sums], ranges)
    coefs = [np.empty(c) for _ in range(9)]  # ah, al, bh, bl, kh, kl, dgamma, dbeta, amp
    lib.bn_backward_coefs(
        c, m, eps, *map(_ptr, (*sums, var, inv_hi, inv_lo, gamma)), *map(_ptr, coefs)
    )
    # |dx_i| <= |k|·||dy − a|| <= |k|·sqrt(Σ dy²): only when that bound reaches the dtype's
    # largest value can dx overflow, and only then is dx scanned (by the caller).
    with np.errstate(over="ignore", invalid="ignore"):
        dx_bound = float(np.max(np.abs(coefs[4]) * np.sqrt(sums[4]), initial=0.0))
    ah, al, bh, bl, kh, kl, dgamma, dbeta, amp = coefs
    dx = np.empty_like(x)
    dd_args = [mean_hi, mean_lo, ah, al, bh, bl, kh, kl, dx]
    if not narrow:
        _run(_kernel("bn_dx_dd", x.dtype), [x, dy], shape, dd_args, ranges)
        return dx, dgamma, dbeta, 0, dx_bound
    _run(
        _kernel("bn_dx_fast", x.dtype),
        [x, dy],
        shape,
        [mean_hi, ah - mean_lo * bh, bh, kh, dx],
        ranges,
    )
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(~(amp <= AMPLIFICATION_LIMIT))
    if bad.size == 0:
        return dx, dgamma, dbeta, 0, dx_bound
    # Where the bracket cancels, it leaves about (1 − var/(var + eps))·dy: the forward's
    # plain-double variance is then not enough either. Recompute it and the sums in
    # double-double for these channels, then their coefficients and dx.
    redo = _merged(bad)
    var, inv_hi, inv_lo = _refine_variance(
        x, shape, redo, mean_hi, mean_lo, eps, (var, inv_hi, inv_lo)
    )
    _run(_kernel("bn_bsums_dd", x.dtype), [x, dy], shape, [mean_hi, mean_lo, *sums], redo)
    lib.bn_backward_coefs(
        c,
        m,
        eps,
        *map(_ptr, (*sums[:4], None, None, sums[6], var, inv_hi, inv_lo, gamma)),
        *map(_ptr, coefs),
    )
    _run(_kernel("bn_dx_dd", x.dtype), [x, dy], shape, dd_args, redo)
    return dx, dgamma, dbeta, int(bad.size), dx_bound


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
