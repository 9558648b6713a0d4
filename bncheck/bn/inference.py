"""Eval-mode Batch Normalization: the forward with running statistics and its backward.

y = gamma · (x − running_mean) / sqrt(running_var + eps) + beta per channel, computed as one
fused pass y = x·s + t (scale s and shift t per channel, in float64) by the compiled kernels,
or by the NumPy kernels where those are missing; the result is rounded once to the dtype.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bncheck.bn import _compiled as _native
from bncheck.bn._numpy_kernels import channel_sum, checksum, expand, inference_numpy
from bncheck.bn._types import F64, BatchNormGrads, FloatArray
from bncheck.bn._validation import (
    BatchNormError,
    check_all_finite,
    check_channel_vector,
    check_float_array,
    check_operands,
    raise_overflow,
)
from bncheck.bn.functional import kernels

__all__ = ["batchnorm_inference", "inference_backward"]


def batchnorm_inference(
    x: ArrayLike,
    gamma: ArrayLike | None,
    beta: ArrayLike | None,
    running_mean: ArrayLike,
    running_var: ArrayLike,
    *,
    eps: float = 1e-5,
    axis: int = 1,
) -> FloatArray:
    """Eval-mode Batch Normalization with fixed statistics.

        y = gamma · (x − running_mean) / sqrt(running_var + eps) + beta

    Any number of values per channel (m = 1 is fine). Computed in float64 and rounded once to
    x's dtype.

    Parameters
    ----------
    x : array of float16, float32 or float64, 2 to 5 dimensions
        Input.
    gamma, beta : arrays of shape (C,) or None
        Scale and shift; None means no scale (gamma = 1), respectively no shift (beta = 0).
    running_mean, running_var : arrays of shape (C,)
        The fixed statistics; ``running_var`` must be >= 0.
    eps : float > 0
        Added to ``running_var`` inside the square root.
    axis : int
        The channel axis; negative values count from the end.

    Returns
    -------
    y : array, same shape and dtype as x

    Raises
    ------
    TypeError
        A non-float input.
    BatchNormError
        NaN/Inf, wrong shapes, a negative ``running_var``, eps <= 0, axis out of range, or a
        ``y`` that overflows x's dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.bn import batchnorm_inference
    >>> x = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> y = batchnorm_inference(x, None, None, np.array([1.0, 2.0]), np.array([4.0, 1.0]))
    >>> np.round(y, 4).tolist()
    [[0.0, 0.0], [1.0, 2.0]]
    """
    y, _, _ = inference_forward(
        x, gamma, beta, running_mean, running_var, eps=eps, axis=axis, with_checksum=False
    )
    return y


def inference_forward(
    x: ArrayLike,
    gamma: ArrayLike | None,
    beta: ArrayLike | None,
    running_mean: ArrayLike,
    running_var: ArrayLike,
    *,
    eps: float,
    axis: int,
    with_checksum: bool,
) -> tuple[FloatArray, FloatArray, NDArray[np.uint32] | None]:
    """:func:`batchnorm_inference`, also returning x as checked (the caller's array when it
    was one: no copy) and, ``with_checksum``, its checksum per channel (computed in the pass
    that writes y; the layer's eval-mode backward verifies it), else None."""
    xa, ax, g, b, eps_f = check_operands(x, gamma, beta, eps, axis)
    mean, inv_std = _check_running(running_mean, running_var, xa.shape[ax], eps_f)
    x_sum: NDArray[np.uint32] | None = None
    with np.errstate(invalid="ignore", over="ignore"):
        if kernels() == "compiled":
            rv = np.asarray(running_var, dtype=np.float64)
            y3, finite, x_sum = _native.inference(
                _native.working(xa, ax), g, b, mean, rv, eps_f, with_checksum=with_checksum
            )
            y = y3.reshape(xa.shape).astype(xa.dtype, copy=False)
            # the kernel checked y3 as it wrote it; float16 (computed in float64) can still
            # overflow when rounded back
            finite = finite and (y.dtype == y3.dtype or bool(np.isfinite(y).all()))
        else:
            y = inference_numpy(xa, ax, g, b, mean, inv_std)
            finite = bool(np.isfinite(y).all())
            x_sum = checksum(xa, ax) if with_checksum else None
    # NaN/Inf in x show up in y, and so does an overflow of y.
    if not finite:
        check_all_finite("x", xa)
        raise_overflow("y", y)
    return y, xa, x_sum


def _check_running(
    running_mean: ArrayLike, running_var: ArrayLike, channels: int, eps: float
) -> tuple[F64, F64]:
    """Validate running statistics; return mean and 1/sqrt(var + eps) in float64."""
    rm = check_channel_vector("running_mean", running_mean, channels)
    rv = check_channel_vector("running_var", running_var, channels)
    assert rm is not None and rv is not None  # allow_none=False
    if (rv < 0).any():
        i = int(np.argmax(rv < 0))
        raise BatchNormError(
            f"running_var has a negative entry (running_var[{i}]={rv[i]!r}); "
            "expected variances >= 0"
        )
    rv64 = rv.astype(np.float64)
    return rm.astype(np.float64), 1.0 / np.sqrt(rv64 + eps)


def inference_backward(
    dy: ArrayLike,
    x: ArrayLike,
    gamma: ArrayLike | None,
    running_mean: ArrayLike,
    running_var: ArrayLike,
    *,
    eps: float = 1e-5,
    axis: int = 1,
    has_beta: bool = True,
) -> BatchNormGrads:
    """Backward of :func:`batchnorm_inference`: the statistics are constants, so

    dx = gamma · dy / sqrt(running_var + eps),  dgamma = Σ dy · x_hat,  dbeta = Σ dy.

    Parameters
    ----------
    dy : float array, the shape of x
        The upstream gradient dL/dy.
    x, gamma, running_mean, running_var, eps, axis
        As given to :func:`batchnorm_inference`.
    has_beta : bool
        Whether the forward had a shift: False gives ``dbeta=None``.

    Returns
    -------
    BatchNormGrads
        ``(dx, dgamma, dbeta)`` in x's dtype; dgamma is None when gamma is None.

    Raises
    ------
    TypeError
        A non-float input.
    BatchNormError
        NaN/Inf, wrong shapes, a negative ``running_var``, eps <= 0 or axis out of range.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.bn import inference_backward
    >>> x, dy = np.array([[1.0, 2.0], [3.0, 4.0]]), np.ones((2, 2))
    >>> gamma, mean, var = np.array([2.0, 3.0]), np.array([1.0, 2.0]), np.array([4.0, 1.0])
    >>> dx, dgamma, dbeta = inference_backward(dy, x, gamma, mean, var)
    >>> np.round(dx, 4).tolist(), np.round(dgamma, 4).tolist(), dbeta.tolist()
    ([[1.0, 3.0], [1.0, 3.0]], [1.0, 2.0], [2.0, 2.0])
    """
    xa, ax, g, _, eps_f = check_operands(x, gamma, None, eps, axis)
    mean, inv_std = _check_running(running_mean, running_var, xa.shape[ax], eps_f)
    dya = check_float_array("dy", dy)
    if dya.shape != xa.shape:
        raise BatchNormError(f"dy has shape {dya.shape}; expected {xa.shape}, the shape of x")
    check_all_finite("x", xa)
    check_all_finite("dy", dya)
    x_hat = np.subtract(xa, expand(mean, xa.ndim, ax), dtype=np.float64)
    x_hat *= expand(inv_std, xa.ndim, ax)
    s2 = channel_sum(dya * x_hat, ax)
    scale = inv_std if g is None else g * inv_std
    dx = np.multiply(dya, expand(scale, xa.ndim, ax), dtype=np.float64).astype(xa.dtype)
    dgamma = None if g is None else s2.astype(xa.dtype)
    return BatchNormGrads(dx, dgamma, channel_sum(dya, ax).astype(xa.dtype) if has_beta else None)
