"""Validation at the public edge: one error type, messages of the form ``name=value ...``.

Every public function validates its arguments with these helpers *before* it computes or
changes anything, so a call that raises leaves all state exactly as it was
(:func:`check_operands`: the arguments every BN function shares). A result that overflows its
dtype is reported here too (:func:`raise_overflow`).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bncheck.exceptions import BatchNormError

FLOAT_DTYPES: tuple[np.dtype[Any], ...] = (
    np.dtype(np.float16),
    np.dtype(np.float32),
    np.dtype(np.float64),
)
_FLOAT_NAMES = "float16, float32 or float64"

__all__ = ["FLOAT_DTYPES", "BatchNormError"]


def short_repr(value: object) -> str:
    """A short printable form of a value for an error message."""
    if isinstance(value, np.ndarray):
        return f"array(shape={value.shape}, dtype={value.dtype})"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_float_array(name: str, value: object) -> NDArray[np.floating[Any]]:
    """Return ``value`` as a float16/32/64 ndarray (no copy when it already is one)."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name}={short_repr(value)} must be a float array ({_FLOAT_NAMES})")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:  # e.g. a ragged nested list
        raise TypeError(f"{name}={short_repr(value)} is not an array ({exc})") from None
    if arr.dtype not in FLOAT_DTYPES:
        hint = ""
        if arr.dtype.kind in "iub":
            hint = f"; convert it first, e.g. {name}.astype(np.float64)"
        elif arr.dtype.kind == "c":
            hint = "; BN is defined for real inputs only"
        raise TypeError(f"{name} has dtype {arr.dtype}; expected {_FLOAT_NAMES}{hint}")
    return arr


def check_all_finite(name: str, arr: NDArray[np.floating[Any]]) -> None:
    """Raise if ``arr`` holds NaN or Inf, naming the first offending index."""
    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        index = tuple(int(i) for i in bad)
        raise BatchNormError(
            f"{name} contains NaN or Inf ({name}[{', '.join(map(str, index))}]="
            f"{arr[index]!r}); expected finite values"
        )


#: Inputs have 2 to 5 dimensions: (N, C), (N, C, L), (N, C, H, W) or (N, C, D, H, W).
MIN_NDIM, MAX_NDIM = 2, 5


def check_ndim(name: str, arr: NDArray[Any]) -> None:
    """An input of 2 to 5 dimensions."""
    if arr.ndim < MIN_NDIM:
        raise BatchNormError(
            f"{name} has ndim={arr.ndim} (shape {arr.shape}); expected at least 2 dimensions, "
            "a batch axis and a channel axis, e.g. (N, C) or (N, C, H, W)"
        )
    if arr.ndim > MAX_NDIM:
        raise BatchNormError(
            f"{name} has ndim={arr.ndim} (shape {arr.shape}); expected 2 to 5 dimensions, "
            "e.g. (N, C), (N, C, L), (N, C, H, W) or (N, C, D, H, W)"
        )


def check_axis(axis: object, ndim: int) -> int:
    """Normalize a (possibly negative) channel axis for an array of ``ndim`` dimensions."""
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"axis={short_repr(axis)} must be an int (the channel axis)")
    ax = int(axis)
    if not -ndim <= ax < ndim:
        raise BatchNormError(
            f"axis={ax} is out of range for an input with ndim={ndim}; "
            f"expected {-ndim} <= axis < {ndim}"
        )
    return ax % ndim


def check_positive_finite(name: str, value: object) -> float:
    """A real scalar > 0 and finite, such as eps."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}={short_repr(value)} must be a real number > 0")
    v = float(value)
    if not np.isfinite(v):
        raise BatchNormError(f"{name}={v!r} must be finite and > 0")
    if v <= 0:
        raise BatchNormError(f"{name}={v!r} must be > 0")
    return v


def check_unit_interval(name: str, value: object) -> float:
    """A real scalar in [0, 1], such as momentum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}={short_repr(value)} must be a real number in [0, 1]")
    v = float(value)
    if not 0.0 <= v <= 1.0:  # also False for NaN
        raise BatchNormError(f"{name}={v!r} must be in [0, 1]")
    return v


def check_channel_vector(
    name: str, value: object, num_channels: int, *, allow_none: bool = False
) -> NDArray[np.floating[Any]] | None:
    """A finite float vector of shape (C,), or None when ``allow_none``."""
    if value is None:
        if allow_none:
            return None
        raise TypeError(f"{name}=None is not allowed; expected a float array of shape (C,)")
    arr = check_float_array(name, value)
    if arr.shape != (num_channels,):
        raise BatchNormError(
            f"{name} has shape {arr.shape}; expected ({num_channels},), one value per channel "
            "of x along the channel axis"
        )
    check_all_finite(name, arr)
    return arr


def check_num_features(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"num_features={short_repr(value)} must be a positive int")
    if int(value) < 1:
        raise BatchNormError(f"num_features={int(value)} must be >= 1")
    return int(value)


#: x, the normalized channel axis, gamma and beta as float64 (or None), eps
Operands = tuple[
    NDArray[np.floating[Any]], int, NDArray[np.float64] | None, NDArray[np.float64] | None, float
]


def check_operands(
    x: ArrayLike, gamma: ArrayLike | None, beta: ArrayLike | None, eps: float, axis: int
) -> Operands:
    """Validate the arguments every BN function shares; return x, the normalized axis, gamma
    and beta as float64, and eps."""
    xa = check_float_array("x", x)
    check_ndim("x", xa)
    ax = check_axis(axis, xa.ndim)
    eps_f = check_positive_finite("eps", eps)
    channels = xa.shape[ax]
    if channels == 0:
        raise BatchNormError(f"x has shape {xa.shape}: 0 channels along axis={ax}")
    g = check_channel_vector("gamma", gamma, channels, allow_none=True)
    b = check_channel_vector("beta", beta, channels, allow_none=True)
    g64 = None if g is None else g.astype(np.float64)
    b64 = None if b is None else b.astype(np.float64)
    return xa, ax, g64, b64, eps_f


def raise_overflow(name: str, out: NDArray[np.floating[Any]]) -> None:
    """``out`` (computed from finite inputs) holds Inf/NaN: its values exceed the dtype."""
    bad = int(np.size(out) - np.count_nonzero(np.isfinite(out)))
    raise BatchNormError(
        f"{name} overflows {out.dtype}: {bad} of its {out.size} values exceed "
        f"{np.finfo(out.dtype).max:.4g} (gamma, dy or 1/sqrt(var + eps) too large for the "
        "dtype); compute in a wider dtype or rescale"
    )
