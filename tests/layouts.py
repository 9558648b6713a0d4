"""The same values in the memory layouts a NumPy user may legally pass: views with other strides,
at odd byte offsets, broadcast or read-only.

Shared by tests/bn/test_layouts.py (each layout through the public API, against a C-contiguous
copy and a float64 reference) and benchmarks/sanitize.py (a fuzz of them under AddressSanitizer
and UndefinedBehaviorSanitizer).

:func:`relayout` returns a view ``v``; ``np.array(v)`` holds the values it presents (for
``broadcast`` these differ from the input's: one slice repeated), so a caller compares a BN of
``v`` with a BN of that aligned, C-contiguous copy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

#: every layout :func:`relayout` makes
LAYOUTS = (
    "c",  # C-contiguous and aligned: the layout the kernels read
    "fortran",  # column-major
    "negative",  # every axis reversed: negative strides, data pointer at the end of the block
    "stepped",  # every other element of a larger array along the last axis
    "transposed",  # the axes reversed in memory: a transpose of a C-contiguous array
    "misaligned",  # C-contiguous, one byte into a buffer: not aligned for the dtype
    "misaligned_readonly",  # the same in an immutable bytes object
    "broadcast",  # stride 0 along one axis (values repeated)
    "readonly",  # C-contiguous, not writeable
)


def relayout(a: NDArray[Any], layout: str, *, broadcast_axis: int = -1) -> NDArray[Any]:
    """A view holding ``a``'s values in ``layout`` (for ``broadcast``: ``a``'s first slice
    along ``broadcast_axis``, repeated)."""
    a = np.ascontiguousarray(a)
    if layout == "c":
        return a
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "negative":
        flip = tuple(slice(None, None, -1) for _ in a.shape)
        return np.ascontiguousarray(a[flip])[flip]
    if layout == "stepped":
        big = np.zeros((*a.shape[:-1], 2 * a.shape[-1]), a.dtype)
        big[..., ::2] = a
        return big[..., ::2]
    if layout == "transposed":
        return np.ascontiguousarray(a.T).T
    if layout in ("misaligned", "misaligned_readonly"):
        return misaligned(a, readonly=layout == "misaligned_readonly")
    if layout == "broadcast":
        first = np.take(a, [0], axis=broadcast_axis)
        return np.broadcast_to(first, a.shape)
    if layout == "readonly":
        r = a.copy()
        r.flags.writeable = False
        return r
    raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")


def misaligned(a: NDArray[Any], *, offset: int = 1, readonly: bool = False) -> NDArray[Any]:
    """A C-contiguous copy of ``a`` starting ``offset`` bytes into its buffer (for offset not a
    multiple of the alignment: NumPy's ``aligned`` flag is False)."""
    a = np.ascontiguousarray(a)
    if readonly:
        out = np.frombuffer(bytes(offset) + a.tobytes(), a.dtype, a.size, offset)
    else:
        buf = np.zeros(a.nbytes + offset, np.uint8)
        out = np.frombuffer(buf, a.dtype, a.size, offset)
        out[...] = a.reshape(-1)
    r = out.reshape(a.shape)
    assert r.flags.c_contiguous and (a.dtype.alignment == 1 or not r.flags.aligned)
    return r
