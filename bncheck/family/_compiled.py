"""The compiled kernels of the family (extension ``bncheck.family._family``, ``_csrc/``).

``available()`` says whether the extension loaded; ``forward`` and ``backward`` allocate the
outputs and call it with the thread count (``threads()``: ``BNCHECK_NUM_THREADS`` when set,
else the usable CPUs, at most 8; one thread below ``PARALLEL_MIN`` values). Results do not
depend on the thread count (docs/numerics.md).
"""

from __future__ import annotations

import contextlib
import importlib
import os
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bncheck.bn import kernels as bn_kernels
from bncheck.exceptions import BatchNormError
from bncheck.family._dd import dd_sum
from bncheck.family._numpy_kernels import SetStats

F64 = NDArray[np.float64]
PARALLEL_MIN = 1 << 17
MAX_THREADS = 8


def _load() -> ModuleType | None:
    # the BN kernels load first: the OpenMP runtime both share reads its settings when the
    # first of them loads, and the BN's loader sets them (GOMP_SPINCOUNT, see bncheck.bn)
    with contextlib.suppress(BatchNormError):
        bn_kernels()
    try:
        return importlib.import_module("bncheck.family._family")
    except ImportError:
        return None


_EXT = _load()


def available() -> bool:
    return _EXT is not None


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
) -> tuple[NDArray[Any], SetStats]:
    assert _EXT is not None
    nb, g, cg, inner = geo
    xk = np.ascontiguousarray(x, dtype=_wide(x.dtype))
    y = np.empty_like(xk)
    st = SetStats(*(np.empty((nb, g)) for _ in range(4)))
    params = [None if a is None else np.ascontiguousarray(a, np.float64) for a in (gamma, beta)]
    _EXT.forward(xk, y, *params, *st, nb, g, cg, inner, eps, rms, threads(x.size))
    with np.errstate(over="ignore"):  # an overflow is reported by the caller
        return y.astype(x.dtype, copy=False), st


def backward(
    dy: NDArray[Any],
    x: NDArray[Any],
    geo: tuple[int, int, int, int],
    gamma: F64 | None,
    st: SetStats,
    rms: bool,
    want_beta: bool,
    out_dtype: np.dtype[Any],
) -> tuple[NDArray[Any], F64 | None, F64 | None]:
    assert _EXT is not None
    nb, g, cg, inner = geo
    kd = _wide(np.dtype(out_dtype))
    xk = np.ascontiguousarray(x, dtype=kd)
    dyk = np.ascontiguousarray(dy, dtype=kd)
    dx = np.empty_like(xk)
    columns = inner == 1 and g == 1  # LayerNorm, RMSNorm: the kernel sums the columns
    part = np.empty((cg, 4) if columns else (nb * g * cg, 4))
    gk = None if gamma is None else np.ascontiguousarray(gamma, np.float64)
    stats = [np.ascontiguousarray(a, np.float64) for a in st]
    _EXT.backward(dyk, xk, dx, gk, *stats, part, nb, g, cg, inner, rms, threads(x.size))
    if not columns:  # per (set, channel) partial sums: add over the sets of each parameter
        p4 = part.reshape(nb, g * cg, 4).transpose(1, 0, 2)
        sg = dd_sum(p4[..., 0], p4[..., 1])
        sb = dd_sum(p4[..., 2], p4[..., 3])
        dgamma, dbeta = sg[0] + sg[1], sb[0] + sb[1]
    else:
        dgamma, dbeta = part[:, 0] + part[:, 1], part[:, 2] + part[:, 3]
    with np.errstate(over="ignore"):  # an overflow is reported by the caller
        dx = dx.astype(out_dtype, copy=False)
    return (
        dx,
        None if gamma is None else dgamma.reshape(g, cg),
        dbeta.reshape(g, cg) if want_beta else None,
    )
