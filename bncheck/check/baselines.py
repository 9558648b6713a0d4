"""Other ways to write BN, for the reports and benchmarks to compare bncheck against.

- ``staged``: the source document's chain rule, step by step (eqs (6)–(9) forward, (11)–(21)
  backward with the sums where they belong), computing in the input dtype. This is what most
  hand-written BNs look like.
- ``onepass``: the "fast variance" var = E[x²] − E[x]² of one pass over the data (Flax's
  ``use_fast_variance`` and Keras' synchronized BN), otherwise like ``staged``. It cancels
  catastrophically when |mean| >> spread.

Both take (N, C, ...) with the channel axis 1. They are correct formulas, differing from bncheck
only in numerics.

Reproducibility. The reports print these baselines' errors digit for digit and a test compares
them with the committed copies, so their arithmetic must not depend on the machine. NumPy's own
reductions and transcendental functions do: their kernels are chosen at run time by the CPU's
SIMD features (``np.power`` becomes a vendor math library call on AVX-512, for one), and in
float32 the staged backward amplifies a one-ulp change of an intermediate into a different
printed error. So by default every reduction here is :func:`fixed_sum`, a pairwise tree of
element-wise additions whose order this module fixes, and the only other operations are +, −,
×, ÷ and sqrt, which IEEE 754 rounds correctly on every machine. ``reduce=numpy_sum`` gives
NumPy's own reductions (what the speed benchmark times as "naive NumPy").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "IMPLEMENTATIONS",
    "fixed_sum",
    "numpy_sum",
    "onepass_forward",
    "staged_backward",
    "staged_forward",
]

Array = NDArray[Any]
#: a per-channel reduction: (array (N, C, ...)) -> (1, C, 1, ...) sums over every other axis,
#: in the accumulation dtype (float32 for float16, as NumPy accumulates; else the input's)
Reduce = Callable[[Array], Array]


def fixed_sum(a: Array) -> Array:
    """Σ over every axis but 1, keepdims, in a fixed pairwise order and in a's dtype.

    The m values of each channel are halved repeatedly: row i is added to row i + ⌊n/2⌋ (an odd
    last row is carried over), element-wise, so the order of the additions depends only on m.
    Pairwise like NumPy's sum (error O(log m)·u), but the same bits on any CPU. float16 is
    summed in float32, and the float32 sum is returned, as NumPy accumulates it.

    Parameters
    ----------
    a : array (N, C, ...)
        The channel axis is 1.

    Returns
    -------
    array of shape (1, C, 1, ...)
        In a's dtype (float32 for float16).

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.baselines import fixed_sum
    >>> a = np.arange(12.0).reshape(3, 2, 2)
    >>> fixed_sum(a).shape, fixed_sum(a).ravel().tolist()
    ((1, 2, 1), [27.0, 39.0])
    >>> fixed_sum(a.astype(np.float16)).dtype
    dtype('float32')
    """
    c = a.shape[1]
    rows = np.moveaxis(a, 1, -1).reshape(-1, c)
    if a.dtype == np.float16:
        rows = rows.astype(np.float32)
    while rows.shape[0] > 1:
        half = rows.shape[0] // 2
        folded = rows[:half] + rows[half : 2 * half]
        rows = np.concatenate([folded, rows[2 * half :]]) if rows.shape[0] % 2 else folded
    if rows.shape[0] == 0:
        rows = np.zeros((1, c), dtype=rows.dtype)
    return rows.reshape(1, c, *[1] * (a.ndim - 2))


def numpy_sum(a: Array) -> Array:
    """Σ over every axis but 1, keepdims, by NumPy (order chosen by NumPy and the CPU).

    Parameters
    ----------
    a : array (N, C, ...)
        The channel axis is 1.

    Returns
    -------
    array of shape (1, C, 1, ...)
        In a's dtype (float32 for float16).

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.baselines import numpy_sum
    >>> numpy_sum(np.arange(12.0).reshape(3, 2, 2)).ravel().tolist()
    [27.0, 39.0]
    """
    acc = np.float32 if a.dtype == np.float16 else a.dtype
    return np.asarray(a.sum(axis=(0, *range(2, a.ndim)), keepdims=True, dtype=acc))


def _per_channel(v: Array, x: Array) -> Array:
    return v.reshape(1, -1, *[1] * (x.ndim - 2)).astype(x.dtype)


def _count(x: Array) -> int:
    return int(x.size // x.shape[1])


def _mean(a: Array, reduce: Reduce) -> Array:
    """The per-channel mean: the sum divided in the accumulation dtype, then rounded to a's."""
    total = reduce(a)
    mean: Array = (total / total.dtype.type(_count(a))).astype(a.dtype)
    return mean


def _total(a: Array, reduce: Reduce) -> Array:
    """The per-channel sum, rounded to a's dtype, flat (C,)."""
    return reduce(a).astype(a.dtype).reshape(-1)


def staged_forward(
    x: Array, gamma: Array, beta: Array, eps: float, *, reduce: Reduce = fixed_sum
) -> tuple[Array, Any]:
    """mu (6), var (7), x_hat (8), y (9), each a separate array in x's dtype.

    Parameters
    ----------
    x : array (N, C, ...)
        The channel axis is 1.
    gamma, beta : arrays of shape (C,)
        Scale and shift.
    eps : float
        Added to the variance inside the square root.
    reduce : callable
        The per-channel sum: :func:`fixed_sum` (default, the same bits on any CPU) or
        :func:`numpy_sum`.

    Returns
    -------
    y : array, x's shape and dtype
    cache : tuple
        For :func:`staged_backward`.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.bn import batchnorm_forward
    >>> from bncheck.check.baselines import staged_forward
    >>> x = np.random.default_rng(0).standard_normal((16, 3))
    >>> gamma, beta = np.full(3, 2.0), np.ones(3)
    >>> y, cache = staged_forward(x, gamma, beta, 1e-5)
    >>> np.allclose(y, batchnorm_forward(x, gamma, beta)[0])
    True
    """
    dt = x.dtype.type
    mu = _mean(x, reduce)  # (6)
    xc = x - mu
    var = _mean(xc * xc, reduce)  # (7)
    std = np.sqrt(var + dt(eps))
    x_hat = xc / std  # (8)
    y = _per_channel(gamma, x) * x_hat + _per_channel(beta, x)  # (9)
    return y, (xc, var, std, x_hat, gamma, dt(eps), reduce)


def onepass_forward(
    x: Array, gamma: Array, beta: Array, eps: float, *, reduce: Reduce = fixed_sum
) -> tuple[Array, Any]:
    """var = E[x²] − E[x]² (clamped at 0, as the frameworks do), otherwise as staged.

    Parameters
    ----------
    x, gamma, beta, eps, reduce
        As for :func:`staged_forward`.

    Returns
    -------
    y : array, x's shape and dtype
    cache : tuple
        For :func:`staged_backward`.

    Examples
    --------
    In float32, with |mean| = 1e4 and a spread of 1, E[x²] − E[x]² cancels catastrophically:

    >>> import numpy as np
    >>> from bncheck.bn import batchnorm_forward
    >>> from bncheck.check.baselines import onepass_forward, staged_forward
    >>> x = (1e4 + np.random.default_rng(0).standard_normal((64, 2))).astype(np.float32)
    >>> gamma, beta = np.ones(2, np.float32), np.zeros(2, np.float32)
    >>> exact = batchnorm_forward(x.astype(np.float64), None, None)[0]
    >>> onepass = np.abs(onepass_forward(x, gamma, beta, 1e-5)[0] - exact).max()
    >>> staged = np.abs(staged_forward(x, gamma, beta, 1e-5)[0] - exact).max()
    >>> bool(onepass > 1.0), bool(staged < 1e-3)
    (True, True)
    """
    dt = x.dtype.type
    mu = _mean(x, reduce)
    var = np.maximum(_mean(x * x, reduce) - mu * mu, dt(0))
    xc = x - mu
    std = np.sqrt(var + dt(eps))
    x_hat = xc / std
    y = _per_channel(gamma, x) * x_hat + _per_channel(beta, x)
    return y, (xc, var, std, x_hat, gamma, dt(eps), reduce)


def staged_backward(dy: Array, cache: Any) -> tuple[Array, Array, Array]:
    """The chain rule through n_i, sigma2_B and mu_B (eqs (11)–(21), sums included).

    Parameters
    ----------
    dy : array, the shape and dtype of x
        The upstream gradient.
    cache : tuple
        From :func:`staged_forward` or :func:`onepass_forward`.

    Returns
    -------
    dx : array, x's shape and dtype
    dgamma, dbeta : arrays of shape (C,), x's dtype

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.bn import batchnorm_backward, batchnorm_forward
    >>> from bncheck.check.baselines import staged_backward, staged_forward
    >>> rng = np.random.default_rng(0)
    >>> x, dy = rng.standard_normal((16, 3)), rng.standard_normal((16, 3))
    >>> gamma, beta = np.full(3, 2.0), np.ones(3)
    >>> dx, dgamma, dbeta = staged_backward(dy, staged_forward(x, gamma, beta, 1e-5)[1])
    >>> np.allclose(dx, batchnorm_backward(dy, batchnorm_forward(x, gamma, beta)[1]).dx)
    True
    """
    xc, var, std, x_hat, gamma, eps, reduce = cache
    dt = dy.dtype.type
    m = dt(_count(dy))
    dbeta = _total(dy, reduce)  # (12)
    dgamma = _total(dy * x_hat, reduce)  # (11)
    dn = dy * _per_channel(gamma, dy)  # (14)
    # (16): (var + eps)^(-3/2) written as 1 / ((var + eps)·sqrt(var + eps)), both correctly
    # rounded (np.power is not, and differs between CPUs)
    dvar = _total(dn * xc, reduce).reshape(var.shape) * dt(-0.5) / ((var + eps) * std)
    dmu = -_total(dn / std, reduce).reshape(var.shape) + dvar * _mean(
        dt(-2) * xc, reduce
    )  # (18) with the sum over i
    dx = dn / std + dvar * dt(2) * xc / m + dmu / m  # (13)
    return dx, dgamma, dbeta


#: name -> (forward, backward), each taking and returning arrays in the input dtype
IMPLEMENTATIONS: dict[str, tuple[Any, Any]] = {
    "naive staged": (staged_forward, staged_backward),
    "one-pass E[x²]−E[x]²": (onepass_forward, staged_backward),
}
