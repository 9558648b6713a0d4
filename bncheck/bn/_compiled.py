"""The compiled kernels (the extension module ``bncheck.bn._bn``, built from
``bncheck/bn/_csrc``): loading, the thread count, and the calls. Private:
:mod:`bncheck.bn.functional` and :mod:`bncheck.bn.inference` are the public face.

Arrays reach the kernels as C-contiguous (outer, C, inner) views, the channel in the middle
(:func:`working` makes them).
The extension checks every argument (buffer protocol: C order, element type, shape, writable
outputs), releases the GIL and splits the channels into ranges, one per OpenMP thread
(:func:`num_threads`); each range's arithmetic does not depend on the split, so results are
identical for any number of threads. The per-channel plans (which kernel runs on which
channels) are in ``_csrc/plan.h``; this module allocates the outputs and chooses the thread
count.
"""

from __future__ import annotations

import importlib
import os
import warnings
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
Array = NDArray[Any]

__all__ = [
    "AMPLIFICATION_LIMIT",
    "available",
    "backward",
    "checksum",
    "forward",
    "inference",
    "load_error",
    "num_threads",
    "traffic",
    "working",
]

#: below this many values per call, threads cost more than they save
PARALLEL_MIN = 1 << 17

#: float32 channels whose plain-double dx bracket could amplify rounding by more than this
#: are computed in double-double instead (backward_channels in _csrc/plan.h): 4·u64·2^21 =
#: 2^-30, a 1/64 of a float32 ULP of max |dx|.
AMPLIFICATION_LIMIT = 2.0**21

#: the entry points this version of bncheck calls
_ENTRY_POINTS = ("forward", "backward", "inference", "checksum", "ranges")

#: How long (in pause instructions) an idle OpenMP thread of bncheck's spins before it sleeps,
#: when the user set neither ``OMP_WAIT_POLICY`` nor ``GOMP_SPINCOUNT``: GNU OpenMP's default,
#: 300000, keeps a thread spinning for milliseconds after every call, and on a busy machine
#: that CPU time is taken from the threads doing the work. GNU OpenMP reads it once, when it
#: loads, so it is set only while the extension is imported (:func:`_import_extension`).
GOMP_SPINCOUNT = "10000"

_MODULE: ModuleType | None = None
_ERROR: str | None = None

#: threads the last kernel call ran on (1 when serial); for tests and benchmarks
last_threads = 0


def _load() -> ModuleType | None:
    global _MODULE, _ERROR
    if _MODULE is not None or _ERROR is not None:
        return _MODULE
    try:
        module = _import_extension()
    except ImportError as exc:
        _ERROR = (
            f"bncheck's compiled kernels (bncheck.bn._bn) are not built or do not load ({exc}); "
            "reinstall with `pip install -e .` (needs a C compiler)"
        )
        return None
    missing = [name for name in _ENTRY_POINTS if not hasattr(module, name)]
    if missing:
        _ERROR = (
            f"bncheck's compiled kernels at {module.__file__} are from another version "
            f"(no {', '.join(missing)}); rebuild them with `pip install -e .`"
        )
        return None
    _MODULE = module
    return module


def _import_extension() -> ModuleType:
    """Import bncheck.bn._bn with :data:`GOMP_SPINCOUNT` in the environment for the OpenMP
    runtime it loads (unless the user chose a wait policy), then restore the environment."""
    tune = not any(os.environ.get(v) for v in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"))
    if tune:
        os.environ["GOMP_SPINCOUNT"] = GOMP_SPINCOUNT
    try:
        # Imported here, on first use, not at the top: the extension may be missing (then
        # bncheck falls back to NumPy), and GOMP_SPINCOUNT must be set only while it loads.
        return importlib.import_module("bncheck.bn._bn")
    finally:
        if tune:
            os.environ.pop("GOMP_SPINCOUNT", None)


def available() -> bool:
    """Whether the compiled kernels loaded."""
    return _load() is not None


def load_error() -> str | None:
    """Why the compiled kernels did not load (None when they did)."""
    _load()
    return _ERROR


def openmp() -> bool:
    """Whether the kernels were built with OpenMP (else every call runs on one thread)."""
    return bool(getattr(_ext(), "OPENMP", False))


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


def _threads(channels: int, size: int) -> int:
    """How many channel ranges (threads) a call on ``size`` values splits into."""
    threads = num_threads()  # read (and validated) on every call, whatever the size
    return max(1, min(threads, channels)) if size >= PARALLEL_MIN else 1


def _ranges(channels: int, size: int) -> list[tuple[int, int]]:
    """The channel ranges of a call on ``size`` values, one per thread (a single range for
    small arrays), as the extension splits them."""
    ranges: list[tuple[int, int]] = _ext().ranges(channels, _threads(channels, size))
    return ranges


def _ext() -> Any:
    module = _load()
    if module is None:
        raise RuntimeError(_ERROR)
    return module


def _ran(threads: int) -> None:
    global last_threads
    last_threads = threads


def _as3(a: Array, axis: int) -> Array:
    """A C-contiguous array as its (outer, C, inner) view."""
    outer = int(np.prod(a.shape[:axis], dtype=np.int64))
    inner = int(np.prod(a.shape[axis + 1 :], dtype=np.int64))
    return a.reshape(outer, a.shape[axis], inner)


def working(a: Array, axis: int) -> Array:
    """The kernels' operand: (outer, C, inner), C-contiguous, float32 or float64 (float16 is
    widened to float64, exactly)."""
    a3 = _as3(np.ascontiguousarray(a), axis)
    return a3.astype(np.float64) if a3.dtype == np.float16 else a3


def _vec(v: Any) -> Any:
    """A per-channel vector (or None) as the extension takes it: contiguous and aligned float64
    (a copy only when it is not already). The extension reads it as doubles and refuses a
    misaligned one, e.g. a view at an odd byte offset; x and dy may be misaligned."""
    return None if v is None else np.require(v, np.float64, ("C", "A"))


def forward(x: Array, gamma: F64 | None, beta: F64 | None, eps: float) -> tuple[Array, ...]:
    """Train-mode forward on a C-contiguous (outer, C, inner) float32/float64 array.

    Returns y (dtype of x), mean_hi, mean_lo, var, inv_hi, inv_lo (float64, shape (C,)) and
    the checksum of x (uint32, shape (C,); computed in the pass that sums x).
    """
    c = x.shape[1]
    threads = _threads(c, x.size)
    y = np.empty_like(x)
    mean_hi, mean_lo, var, inv_hi, inv_lo = (np.empty(c) for _ in range(5))
    x_sum = np.empty(c, np.uint32)
    gamma, beta = _vec(gamma), _vec(beta)
    _ran(
        _ext().forward(
            x, gamma, beta, eps, threads, y, mean_hi, mean_lo, var, inv_hi, inv_lo, x_sum
        )
    )
    return y, mean_hi, mean_lo, var, inv_hi, inv_lo, x_sum


def checksum(x: Array) -> NDArray[np.uint32]:
    """The checksum of a C-contiguous (outer, C, inner) float32/float64 array, per channel
    (uint32, shape (C,)): the one the forward computes (``_csrc/scalars.h``)."""
    c = x.shape[1]
    x_sum = np.empty(c, np.uint32)
    _ran(_ext().checksum(x, _threads(c, x.size), x_sum))
    return x_sum


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
    with_checksum: bool = False,
) -> tuple[Array, F64, F64, int, float, NDArray[np.uint32] | None]:
    """Train-mode backward on C-contiguous (outer, C, inner) arrays of one dtype.

    ``exact_var`` says whether var/inv came from a double-double Σ (x − mu)² (float64 and
    float16 forwards) or a plain-double one (float32 forward); for a float64 backward of a
    float32 forward (dy wider than x) it is refined first. Returns dx (dtype of x), dgamma
    and dbeta (float64, shape (C,), rounded once from double-double), how many float32
    channels needed the double-double bracket, a bound on max |dx| (NaN or inf if
    unknown: the caller then scans dx) and, ``with_checksum``, the checksum of x (uint32,
    shape (C,); computed in the pass that reads x for the sums), else None.
    """
    c = x.shape[1]
    threads = _threads(c, x.size)
    refine = x.dtype == np.float64 and not exact_var
    dx = np.empty_like(x)
    dgamma, dbeta = np.empty(c), np.empty(c)
    x_sum = np.empty(c, np.uint32) if with_checksum else None
    mean_hi, mean_lo, var, inv_hi, inv_lo, gamma = (
        _vec(v) for v in (mean_hi, mean_lo, var, inv_hi, inv_lo, gamma)
    )
    redone, dx_bound, ran = _ext().backward(
        x,
        dy,
        mean_hi,
        mean_lo,
        var,
        inv_hi,
        inv_lo,
        gamma,
        eps,
        AMPLIFICATION_LIMIT,
        refine,
        threads,
        dx,
        dgamma,
        dbeta,
        x_sum,
    )
    _ran(ran)
    return dx, dgamma, dbeta, int(redone), float(dx_bound), x_sum


def traffic(x: Array, dy: Array, y: Array, dx: Array, *, train: bool) -> int:
    """Stream the bytes a two-pass BN must move over C-contiguous (outer, C, inner) arrays of
    one dtype, on the threads a kernel call on x would use; returns how many ran (the traffic
    floor of ``bncheck bench``: not a BN)."""
    threads = num_threads() if x.size >= PARALLEL_MIN else 1
    ran: int = _ext().traffic(x, dy, y, dx, train, threads)
    return ran


def inference(
    x: Array,
    gamma: F64 | None,
    beta: F64 | None,
    mean: F64,
    var: F64,
    eps: float,
    *,
    with_checksum: bool = False,
) -> tuple[Array, bool, NDArray[np.uint32] | None]:
    """Eval-mode forward on a C-contiguous (outer, C, inner) float32/float64 array, with the
    running statistics as float64 vectors of shape (C,). Returns y (dtype of x), whether
    every value of y is finite (checked in the same pass) and, ``with_checksum``, the checksum
    of x (uint32, shape (C,); in the same pass), else None."""
    gamma, beta, mean, var = (_vec(v) for v in (gamma, beta, mean, var))
    y = np.empty_like(x)
    x_sum = np.empty(x.shape[1], np.uint32) if with_checksum else None
    threads = _threads(x.shape[1], x.size)
    finite, ran = _ext().inference(x, gamma, beta, mean, var, eps, threads, y, x_sum)
    _ran(ran)
    return y, bool(finite), x_sum
