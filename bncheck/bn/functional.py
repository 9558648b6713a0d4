"""Vectorized Batch Normalization: the train-mode forward and backward.

Per channel, over the m values x_1..x_m that share it (m = N for (N, C), N·H·W for
(N, C, H, W)), equations (6)–(9) of the source document:

    mu     = (1/m) Σ x_i                         (6)
    var    = (1/m) Σ (x_i − mu)²                  (7)  biased
    x_hat  = (x_i − mu) / sqrt(var + eps)         (8)
    y      = gamma · x_hat + beta                 (9)

and the backward pass, all paths (direct, through mu and through var) collected:

    dbeta  = Σ dy_i
    dgamma = Σ dy_i · x_hat_i
    dx_i   = gamma / sqrt(var + eps) · (dy_i − dbeta/m − x_hat_i · dgamma/m)

Numerics: every per-channel sum is compensated and the result rounded once to the dtype, in
the compiled kernels (the default) or, where they are missing, the NumPy kernels (``kernels()``
says which). How each dtype is computed, the accuracy targets and the one known limit are in
docs/numerics.md.

Eval mode (``batchnorm_inference``, ``inference_backward``) is :mod:`bncheck.bn.inference`; the
cache and gradient types are defined in ``bncheck.bn._types`` and re-exported here.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bncheck.bn import _compiled as _native
from bncheck.bn._numpy_kernels import (
    Stats,
    backward_numpy,
    checksum,
    forward_numpy,
)
from bncheck.bn._types import F64, BatchNormCache, BatchNormGrads, FloatArray
from bncheck.bn._validation import (
    BatchNormError,
    check_all_finite,
    check_float_array,
    check_ndim,
    check_operands,
    raise_overflow,
)

#: set once the missing compiled kernels have been warned about
_WARNED: list[bool] = []

__all__ = [
    "BatchNormCache",
    "BatchNormGrads",
    "batchnorm_backward",
    "batchnorm_forward",
    "kernels",
]


def kernels() -> str:
    """Which kernels compute BN.

    Returns
    -------
    str
        ``"compiled"`` (bncheck's C kernels, the default) or ``"numpy"`` (the fallback, used
        when the C kernels are not built, or forced with the environment variable
        ``BNCHECK_KERNELS=numpy``). Falling back without being asked warns once
        (``RuntimeWarning``).

    Raises
    ------
    BatchNormError
        ``BNCHECK_KERNELS`` is set to something else than ``compiled`` or ``numpy``, or to
        ``compiled`` while the C kernels cannot be loaded.

    Examples
    --------
    >>> from bncheck.bn import kernels
    >>> kernels() in ("compiled", "numpy")
    True
    """
    choice = os.environ.get("BNCHECK_KERNELS", "").strip().lower()
    if choice not in ("", "compiled", "numpy"):
        raise BatchNormError(f"BNCHECK_KERNELS={choice!r}; expected 'compiled', 'numpy' or unset")
    if choice == "numpy":
        return "numpy"
    if _native.available():
        return "compiled"
    if choice == "compiled":
        raise BatchNormError(f"BNCHECK_KERNELS='compiled' but {_native.load_error()}")
    if not _WARNED:
        _WARNED.append(True)
        warnings.warn(
            f"{_native.load_error()}; bncheck falls back to its slower NumPy kernels",
            RuntimeWarning,
            stacklevel=3,
        )
    return "numpy"


def _check_stats_finite(name: str, arr: FloatArray, *stats: NDArray[Any]) -> None:
    """Cheap NaN/Inf detection: a NaN or Inf in ``arr`` makes its sums non-finite.

    Only when a sum is non-finite is the whole array scanned, to name the bad entry or to tell
    an overflow of finite values apart.
    """
    if all(np.isfinite(s).all() for s in stats):
        return
    check_all_finite(name, arr)
    raise BatchNormError(
        f"{name} is finite but its per-channel sums overflow float64 "
        f"(max |{name}| = {float(np.max(np.abs(arr))):.3e}); rescale the input"
    )


def batchnorm_forward(
    x: ArrayLike,
    gamma: ArrayLike | None,
    beta: ArrayLike | None,
    *,
    eps: float = 1e-5,
    axis: int = 1,
) -> tuple[FloatArray, BatchNormCache]:
    """Train-mode Batch Normalization, equations (6)–(9).

    Parameters
    ----------
    x : array of float16, float32 or float64, 2 to 5 dimensions
        Input; statistics reduce over every axis except ``axis``.
    gamma, beta : arrays of shape (C,) or None
        Scale and shift; None means no scale (gamma = 1), respectively no shift (beta = 0).
    eps : float > 0
        Added to the biased batch variance inside the square root.
    axis : int
        The channel axis; negative values count from the end (-1 for channels-last).

    Returns
    -------
    y : array, same shape and dtype as x
        ``gamma · (x − mu) / sqrt(var + eps) + beta`` with the biased batch variance.
    cache : BatchNormCache
        For :func:`batchnorm_backward`; also exposes ``mean``, ``var`` and ``x_hat``.

    Raises
    ------
    TypeError
        A non-float input.
    BatchNormError
        NaN/Inf, wrong shapes, fewer than 2 or more than 5 dimensions, eps <= 0, axis out of
        range, or fewer than 2 values per channel.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.bn import batchnorm_forward
    >>> x = np.random.default_rng(0).normal(5.0, 3.0, size=(16, 3))
    >>> y, cache = batchnorm_forward(x, np.ones(3), np.zeros(3))
    >>> y.shape, y.dtype
    ((16, 3), dtype('float64'))
    >>> np.allclose(y, (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + 1e-5))
    True

    Channels-last input, float32 in and out:

    >>> x4 = np.random.default_rng(0).standard_normal((2, 4, 4, 3)).astype(np.float32)
    >>> y4, _ = batchnorm_forward(x4, None, None, axis=-1)
    >>> y4.shape, y4.dtype
    ((2, 4, 4, 3), dtype('float32'))
    """
    xa, ax, g, b, eps_f = check_operands(x, gamma, beta, eps, axis)
    m = xa.size // xa.shape[ax]
    if m == 0:
        raise BatchNormError(
            f"x has 0 values per channel; training needs at least 2 (x has shape {xa.shape}, "
            f"channel axis={ax}: an empty batch has no batch mean or variance)"
        )
    if m < 2:
        raise BatchNormError(
            f"x has shape {xa.shape}: {m} value per channel along axis={ax}; training needs at "
            "least 2 values per channel to estimate a batch variance (use eval mode instead)"
        )
    # No copy of x: the cache keeps x itself (C-contiguous, as the kernels read it: a private
    # copy only when x is not) with its checksum, which the backward verifies.
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if kernels() == "compiled":
            x_kept: FloatArray = np.ascontiguousarray(xa)
            y, mean_hi, mean_lo, var, inv_std, inv_lo, x_sum = _forward_compiled(
                x_kept, ax, g, b, eps_f
            )
        else:
            x_kept = xa
            y, mean_hi, mean_lo, var, inv_std = forward_numpy(xa, ax, g, b, eps_f)
            inv_lo = np.zeros_like(inv_std)
            x_sum = checksum(xa, ax)
    # NaN/Inf in x surface in the statistics (no separate O(n) scan).
    _check_stats_finite("x", xa, mean_hi, var)
    # |x_hat| <= sqrt(m − 1) (Samuelson), so |y| <= |gamma|·sqrt(m − 1) + |beta|: y is scanned
    # only when that bound reaches the dtype's largest value.
    bound = (1.0 if g is None else np.abs(g)) * np.sqrt(m - 1.0) + (0.0 if b is None else np.abs(b))
    if not np.max(bound) < float(np.finfo(xa.dtype).max) and not np.isfinite(y).all():
        raise_overflow("y", y)
    cache = BatchNormCache(
        x_kept, mean_hi, mean_lo, var, inv_std, g, b is not None, eps_f, ax, inv_lo, x_sum
    )
    return y, cache


def _forward_compiled(
    x: FloatArray, ax: int, g: F64 | None, b: F64 | None, eps: float
) -> tuple[FloatArray, F64, F64, F64, F64, F64, NDArray[np.uint32]]:
    y3, *stats, x_sum = _native.forward(_native.working(x, ax), g, b, eps)
    y = y3.reshape(x.shape).astype(x.dtype, copy=False)
    mean_hi, mean_lo, var, inv_hi, inv_lo = stats
    return y, mean_hi, mean_lo, var, inv_hi, inv_lo, x_sum


def input_checksum(x: FloatArray, axis: int) -> NDArray[np.uint32]:
    """The checksum of x per channel (uint32, shape (C,); docs/numerics.md), from the kernels
    in use; the compiled and the NumPy kernels compute the same value."""
    if kernels() == "compiled":
        return _native.checksum(_native.working(x, axis))
    return checksum(x, axis)


def check_unchanged(
    expected: NDArray[Any] | None, got: NDArray[Any], unit: str = "channel"
) -> None:
    """Raise BatchNormError when x's checksum now (``got``) differs from the forward's
    (``expected``; None: not recorded, nothing to check), naming the channels (or the
    ``unit`` the checksums are of: the family's "reduction set") that changed."""
    if expected is None:
        return
    changed = np.flatnonzero(np.asarray(expected) != got)
    if changed.size == 0:
        return
    shown = ", ".join(str(int(c)) for c in changed[:8]) + (", ..." if changed.size > 8 else "")
    raise BatchNormError(
        "x was modified after the forward: "
        + (
            f"{unit}s {shown} ({changed.size} of {got.size}) no longer hold"
            if changed.size > 1
            else f"{unit} {shown} (of {got.size}) no longer holds"
        )
        + " the values the forward normalized, so "
        "this backward would be wrong. bncheck keeps a reference to x, not a copy: leave x "
        "unchanged until its backward has run, or run the forward again on the new values"
    )


def batchnorm_backward(dy: ArrayLike, cache: BatchNormCache) -> BatchNormGrads:
    """Train-mode backward pass: gradients of the loss w.r.t. x, gamma and beta.

    With S1 = Σ dy and S2 = Σ dy · x_hat per channel (sums over the m values):

        dbeta = S1,   dgamma = S2,
        dx    = gamma / sqrt(var + eps) · (dy − S1/m − x_hat · S2/m).

    The last two terms are the paths through mu_B and sigma2_B; dropping either is the classic
    bug.

    Parameters
    ----------
    dy : float array, the shape of x
        The upstream gradient dL/dy.
    cache : BatchNormCache
        The second result of :func:`batchnorm_forward`.

    Returns
    -------
    BatchNormGrads
        ``(dx, dgamma, dbeta)`` in x's dtype; dgamma/dbeta are None when the forward had no
        gamma/beta (pass ``None`` there).

    Raises
    ------
    TypeError
        ``cache`` is not a BatchNormCache, or ``dy`` is not a float array.
    BatchNormError
        ``dy`` has another shape than x, holds NaN/Inf, or a result overflows x's dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.bn import batchnorm_backward, batchnorm_forward
    >>> rng = np.random.default_rng(0)
    >>> x, dy = rng.standard_normal((8, 3)), rng.standard_normal((8, 3))
    >>> y, cache = batchnorm_forward(x, np.full(3, 2.0), np.zeros(3))
    >>> dx, dgamma, dbeta = batchnorm_backward(dy, cache)
    >>> np.allclose(dbeta, dy.sum(axis=0)), np.allclose(dgamma, (dy * cache.x_hat).sum(axis=0))
    (True, True)
    >>> np.allclose(dx.sum(axis=0), 0.0)  # the path through mu_B: dx sums to 0 per channel
    True
    """
    if not isinstance(cache, BatchNormCache):
        raise TypeError(
            f"cache={type(cache).__name__} must be the BatchNormCache returned by batchnorm_forward"
        )
    dya = check_float_array("dy", dy)
    check_ndim("dy", dya)
    x = cache.x
    check_ndim("cache.x", x)
    if dya.shape != x.shape:
        raise BatchNormError(f"dy has shape {dya.shape}; expected {x.shape}, the shape of x")
    ax, c = cache.axis, x.shape[cache.axis]
    cache = _checked_cache(cache, c)
    dx_bound = math.inf  # the NumPy kernels give no bound: dx is scanned
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if kernels() == "compiled":
            dx, s2, s1, dx_bound, x_sum = _backward_compiled(dya, cache)
            if cache.x_sum is not None:
                # the checksum of the x the sums read (computed with them), or of x as given
                got = x_sum if x_sum is not None else input_checksum(x, ax)
                check_unchanged(cache.x_sum, got)
        else:
            check_unchanged(cache.x_sum, checksum(x, ax))
            stats = Stats(cache.mean_hi, cache.mean_lo, cache.var, cache.inv_std)
            dx, s1, s2 = backward_numpy(dya, x, stats, cache.gamma, cache.eps, ax)
    _check_stats_finite("dy", dya, s1, s2)
    if not dx_bound < float(np.finfo(x.dtype).max) and not np.isfinite(dx).all():
        raise_overflow("dx", dx)
    with np.errstate(over="ignore"):
        dgamma = None if cache.gamma is None else s2.astype(x.dtype)
        dbeta = s1.astype(x.dtype) if cache.has_beta else None
    for name, v in (("dgamma", dgamma), ("dbeta", dbeta)):
        if v is not None and not np.isfinite(v).all():
            raise_overflow(name, v)
    return BatchNormGrads(dx, dgamma, dbeta)


def _checked_cache(cache: BatchNormCache, channels: int) -> BatchNormCache:
    """The cache's per-channel statistics as contiguous float64 vectors of shape (C,): the
    compiled kernels read them as raw memory, so a cache edited by hand must not reach them in
    another dtype, layout or length."""
    fields: dict[str, Any] = {}
    for name in ("mean_hi", "mean_lo", "var", "inv_std", "inv_std_lo", "gamma"):
        v = getattr(cache, name)
        if v is None and name in ("inv_std_lo", "gamma"):
            continue
        a = np.asarray(v)
        if a.shape != (channels,) or not np.issubdtype(a.dtype, np.floating):
            raise BatchNormError(
                f"cache.{name} has shape {a.shape} and dtype {a.dtype}; expected a float "
                f"vector of shape ({channels},), as batchnorm_forward returns it"
            )
        fields[name] = np.ascontiguousarray(a, dtype=np.float64)
    if cache.x_sum is not None:
        a = np.asarray(cache.x_sum)
        if a.shape != (channels,) or a.dtype != np.uint32:
            raise BatchNormError(
                f"cache.x_sum has shape {a.shape} and dtype {a.dtype}; expected a uint32 vector "
                f"of shape ({channels},), as batchnorm_forward returns it"
            )
    return cache._replace(**fields)


def _backward_compiled(
    dy: FloatArray, cache: BatchNormCache
) -> tuple[FloatArray, F64, F64, float, NDArray[np.uint32] | None]:
    """dx, dgamma and dbeta (float64) from the compiled kernels, a bound on max |dx|, and the
    checksum of x when the forward recorded one and the kernels read x as the forward did
    (else None)."""
    x, ax = cache.x, cache.axis
    inv_lo = np.zeros_like(cache.inv_std) if cache.inv_std_lo is None else cache.inv_std_lo
    x_w, dy_w = _native.working(x, ax), _native.working(dy, ax)
    read_as = x_w.dtype  # the forward's checksum is of x in this dtype
    if x_w.dtype != dy_w.dtype:  # e.g. float32 x, float64 dy: both widened, nothing lost
        x_w = x_w.astype(np.float64, copy=False)
        dy_w = dy_w.astype(np.float64, copy=False)
    dx3, dgamma, dbeta, _, dx_bound, x_sum = _native.backward(
        x_w,
        dy_w,
        cache.mean_hi,
        cache.mean_lo,
        cache.var,
        cache.inv_std,
        inv_lo,
        cache.gamma,
        cache.eps,
        exact_var=x.dtype != np.float32,  # the float32 forward's Σ(x − mu)² is plain
        with_checksum=cache.x_sum is not None and x_w.dtype == read_as,
    )
    return dx3.reshape(x.shape).astype(x.dtype, copy=False), dgamma, dbeta, dx_bound, x_sum
