"""Error metrics against a high-precision truth.

Normwise ULP (DESIGN §5): per channel, ``max_i |a_i − r_i| / spacing(max_i |r_i|)`` with the
spacing taken in the dtype being judged. One rounding of the truth to that dtype costs at most
0.5; a value of k means the worst entry is k units of the channel's largest value off.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

__all__ = ["normwise_ulp"]


def normwise_ulp(
    actual: ArrayLike, truth: ArrayLike, dtype: DTypeLike, *, axis: int | None = None
) -> float:
    """The worst per-channel normwise error of ``actual`` against ``truth``, in ULP of ``dtype``.

    ``axis`` is the channel axis of ``actual``; None treats the whole array as one channel (use
    that for per-channel vectors such as dgamma, whose "channel" is the vector itself).
    """
    a = np.asarray(actual, dtype=np.float64)
    r = np.asarray(truth, dtype=np.float64)
    if a.shape != r.shape:
        raise ValueError(f"actual has shape {a.shape}; expected {r.shape}, the truth's shape")
    if a.size == 0:
        return 0.0
    if axis is None:
        a, r = a.reshape(-1, 1), r.reshape(-1, 1)
    else:
        a = np.moveaxis(a, axis, -1).reshape(-1, a.shape[axis])
        r = np.moveaxis(r, axis, -1).reshape(-1, r.shape[axis])
    dt: np.dtype[Any] = np.dtype(dtype)
    scale = np.max(np.abs(r), axis=0)
    # spacing of the channel's largest value; a channel that is exactly 0 is judged against
    # the smallest subnormal of the dtype, so any nonzero error there shows as huge.
    unit = np.spacing(scale.astype(dt)).astype(np.float64)
    err = np.max(np.abs(a - r), axis=0)
    return float(np.max(err / unit))
