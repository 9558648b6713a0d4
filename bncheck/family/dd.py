"""Vectorized double-double arithmetic for the NumPy kernels of the family.

A double-double (hi, lo) stands for hi + lo with |lo| <= ulp(hi)/2. The error-free
transformations are Knuth's two_sum and Dekker's two_prod (splitting at 2^27 + 1: NumPy has no
fused multiply-add); ``dd_sum`` adds along an axis by a pairwise tree of two_sums whose
rounding errors are collected in a second, plain sum, so its error is about u² log2(n)
relative to Σ|terms| plus one rounding of the result.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
DD = tuple[F64, F64]

_SPLIT = 134217729.0  # 2^27 + 1


def two_sum(a: Any, b: Any) -> DD:
    """(s, e) with s = fl(a + b) and s + e = a + b exactly (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def fast_two_sum(a: Any, b: Any) -> DD:
    """|a| >= |b| (or a == 0)."""
    s = a + b
    return s, b - (s - a)


def split(a: Any) -> DD:
    """(hi, lo) with hi + lo = a and hi of 26 significant bits (Dekker's split)."""
    t = _SPLIT * a
    hi = t - (t - a)
    return hi, a - hi


def two_prod(a: Any, b: Any) -> DD:
    """(p, e) with p = fl(a·b) and p + e = a·b exactly, barring overflow (Dekker)."""
    p = a * b
    ah, al = split(a)
    bh, bl = split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def dd_add(a: DD, b: DD) -> DD:
    s, e = two_sum(a[0], b[0])
    return fast_two_sum(s, e + (a[1] + b[1]))


def dd_mul(a: DD, b: DD) -> DD:
    p, e = two_prod(a[0], b[0])
    return fast_two_sum(p, e + (a[0] * b[1] + a[1] * b[0]))


def dd_mul_d(a: DD, b: Any) -> DD:
    p, e = two_prod(a[0], b)
    return fast_two_sum(p, e + a[1] * b)


def dd_div_d(a: DD, b: Any) -> DD:
    """(hi, lo) / b for a double b."""
    q = a[0] / b
    p, e = two_prod(q, b)
    r = ((a[0] - p) - e + a[1]) / b
    return fast_two_sum(q, r)


def dd_rsqrt(a: DD) -> DD:
    """1/sqrt(hi + lo), hi > 0: one Newton step in double-double from the double estimate."""
    y = 1.0 / np.sqrt(a[0])
    # r = 1 - a·y², in double-double; the step y + y·r/2 doubles the correct bits
    y2 = two_prod(y, y)
    ay2 = dd_mul(a, y2)
    r = dd_add((np.ones_like(y), np.zeros_like(y)), (-ay2[0], -ay2[1]))
    corr = y * (r[0] + r[1]) * 0.5
    return fast_two_sum(y, corr)


def dd_sum(hi: F64, lo: F64 | None = None, axis: int = -1) -> DD:
    """Σ (hi + lo) along ``axis`` as a double-double (reduced axis removed)."""
    v = np.moveaxis(np.asarray(hi, dtype=np.float64), axis, -1)
    err = np.zeros(v.shape[:-1])
    if lo is not None:
        err = err + np.sum(np.moveaxis(lo, axis, -1), axis=-1)
    while v.shape[-1] > 1:
        n = v.shape[-1]
        if n % 2:
            v = np.concatenate([v, np.zeros((*v.shape[:-1], 1))], axis=-1)
        s, e = two_sum(v[..., 0::2], v[..., 1::2])
        err = err + np.sum(e, axis=-1)
        v = s
    return fast_two_sum_any(v[..., 0], err)


def round_dd(hi: F64, lo: F64, dtype: Any) -> NDArray[Any]:
    """hi + lo (|lo| <= ulp(hi)/2) rounded once to ``dtype``: for float16 and float32, first
    to odd at double precision (53 >= 24 + 2 bits, so the second rounding is then correct), then
    to nearest; float64: hi + lo."""
    dt = np.dtype(dtype)
    if dt == np.float64:
        return np.asarray(hi + lo)
    h = np.array(hi, dtype=np.float64)
    bits = h.view(np.int64)
    step = (~bits & 1).astype(bool) & (lo != 0) & np.isfinite(h)
    toward = (lo > 0) == (h > 0)
    bits[step & toward] += 1
    bits[step & ~toward] -= 1
    with np.errstate(over="ignore"):  # an overflow is reported by the caller
        return h.astype(dt)


def fast_two_sum_any(a: F64, b: F64) -> DD:
    """two_sum when the order of magnitudes is not known."""
    return two_sum(a, b)
