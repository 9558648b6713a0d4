"""Finite differences: central, Richardson, complex step, and O(1) directional checks.

With u the unit roundoff of the dtype the function is evaluated in and ``f`` accurate to a
relative ``u`` (absolute error eps_f ~ u·|f|), the one-dimensional estimates and their errors:

- central:    D(h) = (f(x + h) − f(x − h)) / 2h,   error ~ h²|f'''|/6 + eps_f/h.
  Minimized at h = (3·eps_f/|f'''|)^(1/3), i.e. ``(3u)^(1/3)·scale`` (:data:`STEPS`): float64
  ~6.9e-6, float32 ~5.6e-3, float16 ~0.11, with ``scale`` the length over which f varies.
- Richardson: R(h) = (4·D(h/2) − D(h)) / 3,         error ~ h⁴|f⁽⁵⁾|/480 + 3·eps_f/h.
  The h² terms cancel. Minimized at h = (360u)^(1/5)·scale (:data:`RICHARDSON_STEPS`).
- complex step: f'(x) ≈ Im f(x + i·h) / h,          error ~ h²|f'''|/6 + u·|f'|.
  There is no subtraction, hence no cancellation: h = 1e-20 gives f' to working precision.
  ``f`` must be complex-analytic code: no abs, no conj, no np.var (which takes |·|²);
  :func:`bncheck.check.gradient_check.complex_batchnorm_forward` is such a BN.

A full gradient costs O(size) evaluations; a directional derivative ``<grad f, v>`` costs O(1)
(2, 4 or 1 evaluations), which is what :func:`bncheck.check.gradient_check.check_directional`
uses to test a backward pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "RICHARDSON_STEPS",
    "STEPS",
    "central_diff",
    "complex_step_diff",
    "directional_derivative",
    "richardson_diff",
    "step_error_curve",
]

F64 = NDArray[np.float64]
Method = Literal["central", "richardson", "complex"]
ScalarFn = Callable[[NDArray[Any]], Any]


def _u(dtype: np.dtype[Any]) -> float:
    return float(np.finfo(dtype).eps) / 2.0


_FLOATS: list[np.dtype[Any]] = [np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)]

#: Central-difference step per dtype: (3u)^(1/3), for a function varying on a scale of 1.
STEPS: dict[np.dtype[Any], float] = {d: (3.0 * _u(d)) ** (1.0 / 3.0) for d in _FLOATS}

#: Outer Richardson step per dtype: (360u)^(1/5), for a function varying on a scale of 1.
RICHARDSON_STEPS: dict[np.dtype[Any], float] = {d: (360.0 * _u(d)) ** 0.2 for d in _FLOATS}

#: Complex step: far below any rounding, as there is no cancellation.
COMPLEX_STEP = 1e-20


def dtype_of(x: NDArray[Any]) -> np.dtype[Any]:
    return x.dtype if x.dtype in _FLOATS else np.dtype(np.float64)


def _real(v: Any) -> float:
    return float(np.real(v))


def as_float_array(x: ArrayLike) -> NDArray[Any]:
    xa = np.asarray(x)
    return xa if xa.dtype in _FLOATS else xa.astype(np.float64)


def _central_1d(f: ScalarFn, x: NDArray[Any], h: float, flat: int) -> float:
    """(f(x + h e_i) − f(x − h e_i)) / (x_i+ − x_i−): the step actually taken, exactly."""
    xp, xm = x.copy(), x.copy()
    xp.flat[flat] = x.flat[flat] + h
    xm.flat[flat] = x.flat[flat] - h
    step = float(xp.flat[flat]) - float(xm.flat[flat])  # exact: both are floats of x's dtype
    return (_real(f(xp)) - _real(f(xm))) / step


def central_diff(f: ScalarFn, x: ArrayLike, *, h: float | None = None) -> F64:
    """Gradient of a scalar function by central differences, O(size) evaluations.

        df/dx_i ≈ (f(x + h e_i) − f(x − h e_i)) / (2h)

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar``, evaluated in x's dtype.
    x : array_like
        The point; non-float input is taken as float64.
    h : float, optional
        The step; defaults to ``STEPS[x.dtype]``. The denominator is the step actually taken
        after rounding x ± h to x's dtype.

    Returns
    -------
    float64 array, the shape of x

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.finite_diff import central_diff
    >>> grad = central_diff(lambda x: np.sum(x * x * x), np.array([1.0, 2.0]))
    >>> np.round(grad, 6).tolist()  # 3·x²
    [3.0, 12.0]
    """
    xa = as_float_array(x)
    step = STEPS[dtype_of(xa)] if h is None else float(h)
    return np.array([_central_1d(f, xa, step, i) for i in range(xa.size)]).reshape(xa.shape)


def richardson_diff(f: ScalarFn, x: ArrayLike, *, h: float | None = None) -> F64:
    """Gradient by Richardson-extrapolated central differences, O(size) evaluations.

        R_i = (4·D_i(h/2) − D_i(h)) / 3,   error O(h⁴)

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar``, evaluated in x's dtype.
    x : array_like
        The point; non-float input is taken as float64.
    h : float, optional
        The outer step; defaults to ``RICHARDSON_STEPS[x.dtype]``.

    Returns
    -------
    float64 array, the shape of x

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.finite_diff import richardson_diff
    >>> grad = richardson_diff(lambda x: np.sum(x * x * x), np.array([1.0, 2.0]))
    >>> np.round(grad, 8).tolist()
    [3.0, 12.0]
    """
    xa = as_float_array(x)
    step = RICHARDSON_STEPS[dtype_of(xa)] if h is None else float(h)
    out = np.empty(xa.size)
    for i in range(xa.size):
        d1 = _central_1d(f, xa, step, i)
        d2 = _central_1d(f, xa, step / 2, i)
        out[i] = (4.0 * d2 - d1) / 3.0
    return out.reshape(xa.shape)


def complex_step_diff(f: ScalarFn, x: ArrayLike, *, h: float = COMPLEX_STEP) -> F64:
    """Gradient by the complex step, O(size) evaluations; ``f`` must accept complex input.

    df/dx_i ≈ Im f(x + i·h·e_i) / h

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar``, complex-analytic code (no abs, no conj, no np.var).
    x : array_like
        The point, evaluated as complex128.
    h : float
        The imaginary step (default 1e-20: no cancellation, so no rounding trade-off).

    Returns
    -------
    float64 array, the shape of x

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.finite_diff import complex_step_diff
    >>> grad = complex_step_diff(lambda x: np.sum(x * x * x), [1.0, 2.0])
    >>> np.round(grad, 12).tolist()  # no cancellation: f' to working precision
    [3.0, 12.0]
    """
    xc = np.asarray(x).astype(np.complex128)
    out = np.empty(xc.size)
    for i in range(xc.size):
        xi = xc.flat[i]
        xc.flat[i] = xi + 1j * h
        out[i] = float(np.imag(f(xc))) / h
        xc.flat[i] = xi
    return out.reshape(xc.shape)


def directional_derivative(
    f: ScalarFn,
    x: ArrayLike,
    v: ArrayLike,
    *,
    method: Method = "central",
    h: float | None = None,
) -> float:
    """``<grad f(x), v>`` = d/dt f(x + t·v) at t = 0, from 2, 4 or 1 evaluations.

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar``; complex-analytic for ``method="complex"``.
    x, v : array_like
        The point and the direction (the same shape).
    method : "central", "richardson" or "complex"
        2, 4 or 1 evaluations of ``f``.
    h : float, optional
        The step in t; it defaults to the dtype's step divided by max|v_i|, so that no
        coordinate moves by more than the step of :data:`STEPS` (central),
        :data:`RICHARDSON_STEPS` (richardson) or 1e-20 (complex).

    Returns
    -------
    float
        The estimate of ``<grad f(x), v>`` (0.0 when v is zero).

    Raises
    ------
    ValueError
        An unknown ``method``.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.finite_diff import directional_derivative
    >>> f, x, v = lambda x: np.sum(x * x * x), np.array([1.0, 2.0]), np.array([1.0, 1.0])
    >>> [round(directional_derivative(f, x, v, method=m), 8)
    ...  for m in ("central", "richardson", "complex")]  # 3·1² + 3·2²
    [15.0, 15.0, 15.0]
    """
    xa = as_float_array(x)
    va = np.asarray(v, dtype=np.float64)
    vmax = float(np.max(np.abs(va))) if va.size else 0.0
    if vmax == 0.0:
        return 0.0
    if method == "complex":
        step = COMPLEX_STEP / vmax if h is None else float(h)
        return float(np.imag(f(xa.astype(np.complex128) + (1j * step) * va))) / step
    dt = dtype_of(xa)

    def d(step: float) -> float:
        xp = (xa + step * va).astype(dt)
        xm = (xa - step * va).astype(dt)
        return (_real(f(xp)) - _real(f(xm))) / (2.0 * step)

    if method == "central":
        return d(STEPS[dt] / vmax if h is None else float(h))
    if method == "richardson":
        step = RICHARDSON_STEPS[dt] / vmax if h is None else float(h)
        return (4.0 * d(step / 2) - d(step)) / 3.0
    raise ValueError(f"method={method!r} is unknown; expected 'central', 'richardson' or 'complex'")


def step_error_curve(
    f: ScalarFn,
    x: ArrayLike,
    v: ArrayLike,
    steps: ArrayLike,
    method: Method = "central",
    *,
    exact: float | None = None,
) -> list[tuple[float, float]]:
    """``[(h, |D_h − exact|), ...]``: the error of a directional derivative against the step.

    For central differences this is the V of truncation (~h², falling) against rounding
    (~eps_f/h, rising).

    Parameters
    ----------
    f, x, v, method
        As for :func:`directional_derivative`.
    steps : array_like
        The steps h to try.
    exact : float, optional
        The true derivative; defaults to the complex-step derivative (``f`` must then be
        complex-safe).

    Returns
    -------
    list of (float, float)
        ``(h, |D_h − exact|)`` for each step, in the order given.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.finite_diff import step_error_curve
    >>> f, x, v = lambda x: np.sum(x * x * x), np.array([1.0, 2.0]), np.array([1.0, 1.0])
    >>> curve = step_error_curve(f, x, v, [1e-1, 1e-5, 1e-12])
    >>> min(curve, key=lambda point: point[1])  # h = 0.1: truncation; 1e-12: rounding
    (1e-05, ...)
    """
    if exact is None:
        exact = directional_derivative(f, x, v, method="complex")
    return [
        (float(h), abs(directional_derivative(f, x, v, method=method, h=float(h)) - exact))
        for h in np.asarray(steps, dtype=np.float64).ravel()
    ]
