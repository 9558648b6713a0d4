"""The compiled kernels of the family (extension ``bncheck.family._family``, ``_csrc/``).

``available()`` says whether the extension loaded; ``forward`` and ``backward`` allocate the
outputs and call it with the thread count (``threads()``: ``BNCHECK_NUM_THREADS`` when set,
else the usable CPUs, at most 8; one thread below ``PARALLEL_MIN`` values). Results do not
depend on the thread count (docs/numerics.md).

float32 runs a fast path: each element in plain double with a rigorous error bound, redone in
double-double only when the bound does not decide its rounding. ``BNCHECK_FAMILY_FORCE_REDO=1``
redoes every element (a check of that path: the results must be the same bits).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bncheck.exceptions import BatchNormError
from bncheck.family._numpy_kernels import SetStats
from bncheck.family.dd import dd_sum, round_dd, two_sum

F64 = NDArray[np.float64]
PARALLEL_MIN = 1 << 17
MAX_THREADS = 8


#: GNU OpenMP's spin count while the extension loads, as for the BN's (docs/numerics.md,
#: "Threads"): unless the user chose a wait policy, an idle thread spins 10000 pauses, not
#: milliseconds, after a call. The runtime reads it once, when the first extension using it
#: loads: so the extension is loaded on first use, not when this module is imported.
GOMP_SPINCOUNT = "10000"

_EXT: ModuleType | None = None
_TRIED = False


def _load() -> ModuleType | None:
    global _EXT, _TRIED
    if _TRIED:
        return _EXT
    _TRIED = True
    tune = not any(os.environ.get(v) for v in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"))
    if tune:
        os.environ["GOMP_SPINCOUNT"] = GOMP_SPINCOUNT
    try:
        _EXT = importlib.import_module("bncheck.family._family")
    except ImportError:
        _EXT = None
    finally:
        if tune:
            os.environ.pop("GOMP_SPINCOUNT", None)
    return _EXT


def available() -> bool:
    return _load() is not None


def threads(size: int) -> int:
    """Threads for an input of ``size`` values."""
    text = os.environ.get("BNCHECK_NUM_THREADS", "").strip()
    if text:
        if not text.isdigit() or int(text) < 1:
            raise BatchNormError(f"BNCHECK_NUM_THREADS={text!r}; expected a positive integer")
        n = int(text)
    else:
        n = MAX_THREADS
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    n = min(n, usable or 1)
    return 1 if size < PARALLEL_MIN else n


def force_redo() -> bool:
    """Whether ``BNCHECK_FAMILY_FORCE_REDO`` asks to redo every float32 element in double-double."""
    text = os.environ.get("BNCHECK_FAMILY_FORCE_REDO", "").strip()
    if text not in ("", "0", "1"):
        raise BatchNormError(f"BNCHECK_FAMILY_FORCE_REDO={text!r}; expected 0 or 1")
    return text == "1"


def exact_stats(dtype: np.dtype[Any]) -> bool:
    """Whether the forward's 1/sqrt(var + eps) is a double-double: not for float32, whose
    variance is a plain double sum (relative error below 2^-40); the float32 backward recomputes
    it, any other backward must be given recomputed statistics."""
    return np.dtype(dtype) != np.float32


def is_fast(dtype: np.dtype[Any]) -> bool:
    """Whether the compiled backward of this output dtype recomputes the variance itself."""
    return np.dtype(dtype) == np.float32


def _parameter_sums(
    part: F64, sets: int, params: int, columns: bool, out_dtype: np.dtype[Any], check: bool
) -> tuple[NDArray[Any], NDArray[Any], NDArray[np.bool_]]:
    """dgamma and dbeta from the kernel's partial sums, each rounded once to ``out_dtype``, and
    which parameters' error bounds (float32 parts, when ``check``) do not decide that rounding
    (the caller then has those sums computed exactly). LayerNorm, RMSNorm: one row per
    parameter; otherwise per (set, parameter), added over the sets with ``dd_sum``."""
    if columns:
        sg, sb = two_sum(part[:, 0], part[:, 1]), two_sum(part[:, 2], part[:, 3])
        errs = part[:, 4:6] if check and part.shape[1] == 6 else None
    else:
        p4 = part.reshape(sets, params, part.shape[1]).transpose(1, 0, 2)
        sg, sb = dd_sum(p4[..., 0], p4[..., 1]), dd_sum(p4[..., 2], p4[..., 3])
        errs = p4[..., 4:6].sum(axis=1) * (1 + 2.0**-40) if check and part.shape[1] == 6 else None
    out = []
    undecided = np.zeros(params, dtype=bool)
    for k, (hi, lo) in enumerate((sg, sb)):
        out.append(round_dd(hi, lo, out_dtype))
        if errs is not None:
            e = errs[:, k] + np.abs(hi) * 2.0**-100  # dd_sum's own error
            with np.errstate(over="ignore", invalid="ignore"):
                below = round_dd(*two_sum(hi, -e), out_dtype)
                above = round_dd(*two_sum(hi, e), out_dtype)
            # compared as bits: a zero of undecided sign is undecided too
            undecided |= below.view(f"u{below.itemsize}") != above.view(f"u{above.itemsize}")
    return out[0], out[1], undecided


def _wide(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """float16 is computed by the float64 kernels (widening is exact)."""
    return np.dtype(np.float64) if dtype == np.float16 else dtype


def forward(
    x: NDArray[Any],
    geo: tuple[int, int, int, int],
    gamma: F64 | None,
    beta: F64 | None,
    eps: float,
    rms: bool,
) -> tuple[NDArray[Any], SetStats, NDArray[np.uint32], NDArray[Any]]:
    """y, the statistics, the checksum of each set of x (uint32, shape (Nb·G,), of the values
    the kernel read: float16 widened to float64) and the array the kernel read (x itself when
    it is a C-contiguous, aligned float32 or float64 array, else a private copy)."""
    ext = _load()
    assert ext is not None
    nb, g, cg, inner = geo
    xk = working(x)
    y = np.empty_like(xk)
    st = SetStats(*(np.empty((nb, g)) for _ in range(4)))
    x_sum = np.empty(nb * g, np.uint32)
    params = [None if a is None else np.ascontiguousarray(a, np.float64) for a in (gamma, beta)]
    ext.forward(
        xk, y, *params, *st, nb, g, cg, inner, eps, rms, threads(x.size), force_redo(), x_sum
    )
    with np.errstate(over="ignore"):  # an overflow is reported by the caller
        return y.astype(x.dtype, copy=False), st, x_sum, xk


def floor(
    x: NDArray[np.float32],
    y: NDArray[np.float32],
    dy: NDArray[np.float32] | None,
    dx: NDArray[np.float32] | None,
    geo: tuple[int, int, int, int],
    gamma: F64 | None,
    beta: F64 | None,
    eps: float,
    rms: bool,
) -> None:
    """The arithmetic floor the benchmark compares with (not a normalization bncheck offers):
    the member's two-pass forward into ``y`` (and with ``dy`` its backward into ``dx``) in
    plain double, float32 arrays of ``geo``'s C-contiguous layout, on the threads a kernel call
    on x would use; no compensated sums, no rounding check, no checksum (family.c, "the
    arithmetic floor")."""
    ext = _load()
    assert ext is not None
    nb, g, cg, inner = geo
    params = [None if a is None else np.ascontiguousarray(a, np.float64) for a in (gamma, beta)]
    ext.floor(x, y, dy, dx, *params, nb, g, cg, inner, eps, rms, threads(x.size))


def working(x: NDArray[Any], dtype: np.dtype[Any] | None = None) -> NDArray[Any]:
    """x as the kernels read it: C-contiguous and aligned, in ``dtype`` (default x's) widened
    (float16 → float64); x itself when it already is."""
    kd = _wide(np.dtype(x.dtype if dtype is None else dtype))
    return np.require(x, dtype=kd, requirements=("C", "A"))


def backward(
    dy: NDArray[Any],
    x: NDArray[Any],
    geo: tuple[int, int, int, int],
    gamma: F64 | None,
    st: SetStats,
    rms: bool,
    want_beta: bool,
    out_dtype: np.dtype[Any],
    eps: float,
) -> tuple[NDArray[Any], F64 | None, F64 | None, float, NDArray[np.uint32] | None]:
    """dx, dgamma and dbeta (each rounded once to ``out_dtype``), a bound on max |dx| (inf
    when the kernel gives none, float64: dx must then be scanned for overflow) and the checksum
    of each set of x as :func:`forward` computes it, from the pass that reads x (None when the
    backward reads x in another dtype than the forward did: the caller computes it)."""
    ext = _load()
    assert ext is not None
    nb, g, cg, inner = geo
    kd = _wide(np.dtype(out_dtype))
    xk = working(x, kd)
    dyk = working(dy, kd)
    x_sum = np.empty(nb * g, np.uint32) if kd == _wide(x.dtype) else None
    dx = np.empty_like(xk)
    columns = inner == 1 and g == 1  # LayerNorm, RMSNorm: the kernel sums the columns
    width = 6 if kd == np.float32 else 4  # float32: and an error bound of each partial sum
    part = np.empty(((cg if columns else nb * g * cg), width))
    gk = None if gamma is None else np.ascontiguousarray(gamma, np.float64)
    force = force_redo()
    bounds = np.full(nb * g, np.inf)  # the float32 kernel writes a bound per set

    # mode 0: the fast path; then, if a parameter sum's bound does not decide its rounding,
    # mode 2: those sums again, exactly (LayerNorm and RMSNorm: the columns flagged in
    # part[:, 4]; otherwise every (set, parameter) partial), dx and the bounds kept
    def run(mode: int, hashes: NDArray[np.uint32] | None) -> None:
        stats = [np.array(a, np.float64, order="C") for a in st]  # float32 rewrites inv: copies
        args = (part, bounds, nb, g, cg, inner, eps, rms, threads(x.size), force, mode, hashes)
        ext.backward(dyk, xk, dx, gk, *stats, *args)

    run(0, x_sum)
    *sums, undecided = _parameter_sums(part, nb, g * cg, columns, out_dtype, check=True)
    undecided |= force  # BNCHECK_FAMILY_FORCE_REDO: every sum exactly too
    if undecided.any():
        if columns:
            part[:, 4] = undecided
        run(2, None)
        *sums, _ = _parameter_sums(part, nb, g * cg, columns, out_dtype, check=False)
    dgamma, dbeta = sums
    with np.errstate(over="ignore"):  # an overflow is reported by the caller
        dx = dx.astype(out_dtype, copy=False)
    return (
        dx,
        None if gamma is None else dgamma.reshape(g, cg),
        dbeta.reshape(g, cg) if want_beta else None,
        float(np.max(bounds)),  # NaN stays NaN
        x_sum,
    )
