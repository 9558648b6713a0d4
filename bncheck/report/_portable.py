"""Arithmetic whose bits do not depend on the machine, for the numbers the reports print.

NumPy chooses many kernels at run time by the CPU's SIMD features: ``np.power`` and the
logarithms become vendor math-library calls on AVX-512, and ``@`` goes to whichever BLAS kernel
the CPU gets. Their last bits differ between machines, so the reports use these instead: only
+, −, ×, ÷ and sqrt (correctly rounded by IEEE 754 everywhere) in an order fixed here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["ipow", "matmul", "round_sig"]

F64 = NDArray[np.float64]


def ipow(base: float, n: ArrayLike) -> F64:
    """base ** n for whole n ≥ 0, element-wise, by repeated squaring (a fixed product order)."""
    k = np.asarray(n)
    e = k.astype(np.int64)
    if not np.array_equal(e, k) or (e < 0).any():
        raise ValueError(f"n={n!r}: expected whole numbers >= 0")
    out = np.ones(e.shape, dtype=np.float64)
    square = np.float64(base)
    while (e > 0).any():
        out = np.where(e & 1, out * square, out)
        square = square * square
        e = e >> 1
    return out


def matmul(a: F64, b: F64) -> F64:
    """a @ b for 2-D arrays, summing over the inner index in order (no BLAS)."""
    out = np.zeros((a.shape[0], b.shape[1]), dtype=np.float64)
    for k in range(a.shape[1]):
        out = out + a[:, k : k + 1] * b[k : k + 1, :]
    return out


def round_sig(values: ArrayLike, sig: int) -> F64:
    """values rounded to ``sig`` significant digits (NaN/Inf kept), by Python's correctly
    rounded decimal conversion rather than a logarithm."""
    a = np.asarray(values, dtype=np.float64)
    flat: list[Any] = [float(f"{v:.{sig - 1}e}") if np.isfinite(v) else v for v in a.ravel()]
    return np.array(flat, dtype=np.float64).reshape(a.shape)
