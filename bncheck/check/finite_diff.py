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
  :func:`complex_batchnorm_forward` is such a BN.

A full gradient costs O(size) evaluations; a directional derivative ``<grad f, v>`` costs O(1)
(2, 4 or 1 evaluations), which is what :func:`check_directional` uses to test a backward pass:
``<u, J v>`` by differences of ``t -> <u, F(x + t·v)>`` against ``<J^T u, v>`` from the VJP.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bncheck.bn._numpy_kernels import expand

__all__ = [
    "RICHARDSON_STEPS",
    "STEPS",
    "DirectionalResult",
    "central_diff",
    "check_directional",
    "complex_batchnorm_forward",
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


def _dtype_of(x: NDArray[Any]) -> np.dtype[Any]:
    return x.dtype if x.dtype in _FLOATS else np.dtype(np.float64)


def _real(v: Any) -> float:
    return float(np.real(v))


def _as_float_array(x: ArrayLike) -> NDArray[Any]:
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

    ``h`` defaults to ``STEPS[x.dtype]``; the denominator is the step actually taken after
    rounding x ± h to x's dtype.
    """
    xa = _as_float_array(x)
    step = STEPS[_dtype_of(xa)] if h is None else float(h)
    return np.array([_central_1d(f, xa, step, i) for i in range(xa.size)]).reshape(xa.shape)


def richardson_diff(f: ScalarFn, x: ArrayLike, *, h: float | None = None) -> F64:
    """Gradient by Richardson-extrapolated central differences, O(size) evaluations.

        R_i = (4·D_i(h/2) − D_i(h)) / 3,   error O(h⁴)

    ``h`` defaults to ``RICHARDSON_STEPS[x.dtype]``.
    """
    xa = _as_float_array(x)
    step = RICHARDSON_STEPS[_dtype_of(xa)] if h is None else float(h)
    out = np.empty(xa.size)
    for i in range(xa.size):
        d1 = _central_1d(f, xa, step, i)
        d2 = _central_1d(f, xa, step / 2, i)
        out[i] = (4.0 * d2 - d1) / 3.0
    return out.reshape(xa.shape)


def complex_step_diff(f: ScalarFn, x: ArrayLike, *, h: float = COMPLEX_STEP) -> F64:
    """Gradient by the complex step, O(size) evaluations; ``f`` must accept complex input.

    df/dx_i ≈ Im f(x + i·h·e_i) / h
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

    ``h`` is the step in t; it defaults to the dtype's step divided by max|v_i|, so that no
    coordinate moves by more than the step of :data:`STEPS` (central), :data:`RICHARDSON_STEPS`
    (richardson) or 1e-20 (complex).
    """
    xa = _as_float_array(x)
    va = np.asarray(v, dtype=np.float64)
    vmax = float(np.max(np.abs(va))) if va.size else 0.0
    if vmax == 0.0:
        return 0.0
    if method == "complex":
        step = COMPLEX_STEP / vmax if h is None else float(h)
        return float(np.imag(f(xa.astype(np.complex128) + (1j * step) * va))) / step
    dt = _dtype_of(xa)

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
    (~eps_f/h, rising). ``exact`` defaults to the complex-step derivative (``f`` must then be
    complex-safe).
    """
    if exact is None:
        exact = directional_derivative(f, x, v, method="complex")
    return [
        (float(h), abs(directional_derivative(f, x, v, method=method, h=float(h)) - exact))
        for h in np.asarray(steps, dtype=np.float64).ravel()
    ]


class DirectionalResult(NamedTuple):
    """``<u, J v>`` two ways: by differences (``fd``) and from the VJP (``vjp``).

    ``fd_error`` estimates the error of ``fd`` (truncation + rounding); ``tolerance`` adds the
    rounding of the two inner products; ``passed`` is ``|fd − vjp| <= tolerance``.
    """

    fd: float
    vjp: float
    rel_discrepancy: float
    fd_error: float
    tolerance: float
    passed: bool
    method: str
    h: float


def check_directional(
    forward: Callable[[NDArray[Any]], NDArray[Any]],
    backward_vjp: Callable[[NDArray[np.float64]], NDArray[Any]],
    x: ArrayLike,
    *,
    rng: np.random.Generator,
    method: Method = "richardson",
    h: float | None = None,
    noise: float = 2.0**-45,
) -> DirectionalResult:
    """Test a VJP against differences of the forward in one random direction, O(1) calls.

    Draws u (shape of ``forward(x)``) and v (shape of x) from N(0, 1) and compares (1 + 1, 4 or
    6 forward calls for complex, central, richardson)

        fd  = d/dt <u, forward(x + t·v)> at t = 0     (``method``: central/richardson/complex)
        vjp = <backward_vjp(u), v>                     (J^T u from the backward pass)

    ``noise`` is the normwise relative error of one forward evaluation and of the VJP (default
    2^-45 ~ 256·u64; for a BN, u times the larger derived budget of bncheck.check.tolerances). With
    Phi = Σ|u_i·y_i| the evaluation error of phi(t) = <u, forward(x + t v)> is
    eps_phi = (noise + size·u64)·Phi + u·Σ|x_i·g_i| (the second term: rounding x + t·v to x's
    dtype, with g = J^T u = grad phi). Error estimate of fd:

    - central: |D(2h) − D(h)|/3 (truncation of D(h)) + eps_phi/h;
    - richardson: (16/15)·|R(h) − R(h/2)| (R's O(h⁴) truncation, by a second extrapolation
      level) + 3·eps_phi/h;
    - complex: noise·max|g|·Σ|v_i| with g = J^T u (no cancellation in the step itself).

    ``tolerance = fd_error + (noise + size·u64)·max|g|·Σ|v_i|`` (the VJP's own rounding).
    ``forward`` must accept complex input for method="complex".
    """
    xa = _as_float_array(x)
    y0 = np.asarray(forward(xa))
    u_dir = rng.standard_normal(y0.shape)
    v_dir = rng.standard_normal(xa.shape)
    g = np.asarray(backward_vjp(u_dir), dtype=np.float64)
    if g.shape != xa.shape:
        raise ValueError(f"backward_vjp returned shape {g.shape}; expected {xa.shape}, x's shape")
    u64 = _u(np.dtype(np.float64))
    vjp = float(np.sum(g * v_dir))
    # normwise: an error of noise·max|g| in every entry of g (BN's backward cancels terms of
    # size max|g| to form small entries, so entrywise |g_i·v_i| would understate it)
    gv_scale = float(np.max(np.abs(g))) * float(np.sum(np.abs(v_dir)))
    rel = noise + (xa.size + y0.size) * u64
    # forward's rounding, plus rounding x + t·v to x's dtype: |Δx_i| <= u|x_i| moves phi by
    # <= u·Σ|x_i·g_i| since g = J^T u = grad phi.
    eps_phi = rel * float(np.sum(np.abs(u_dir * np.real(y0)))) + _u(_dtype_of(xa)) * float(
        np.sum(np.abs(xa.astype(np.float64) * g))
    )
    vmax = float(np.max(np.abs(v_dir)))

    def phi(z: NDArray[Any]) -> Any:
        return np.sum(u_dir * np.asarray(forward(z)))

    if method == "complex":
        step = COMPLEX_STEP / vmax if h is None else float(h)
        fd = directional_derivative(phi, xa, v_dir, method="complex", h=step)
        fd_error = noise * gv_scale
    elif method in ("central", "richardson"):
        dt = _dtype_of(xa)
        base = STEPS[dt] if method == "central" else RICHARDSON_STEPS[dt]
        step = base / vmax if h is None else float(h)
        d1 = directional_derivative(phi, xa, v_dir, method="central", h=step)
        if method == "central":
            d2 = directional_derivative(phi, xa, v_dir, method="central", h=2 * step)
            fd, fd_error = d1, abs(d2 - d1) / 3.0 + eps_phi / step
        else:
            d2 = directional_derivative(phi, xa, v_dir, method="central", h=step / 2)
            d4 = directional_derivative(phi, xa, v_dir, method="central", h=step / 4)
            fd = (4.0 * d2 - d1) / 3.0
            # R(h) − R(h/2) = (15/16)·(error of R(h)) to leading order, plus their rounding.
            fd_error = abs(fd - (4.0 * d4 - d2) / 3.0) * 16.0 / 15.0 + 3.0 * eps_phi / step
    else:
        raise ValueError(
            f"method={method!r} is unknown; expected 'central', 'richardson' or 'complex'"
        )
    tolerance = fd_error + rel * gv_scale
    diff = abs(fd - vjp)
    denom = max(abs(fd), abs(vjp), np.finfo(np.float64).tiny)
    return DirectionalResult(
        fd, vjp, diff / denom, fd_error, tolerance, bool(diff <= tolerance), method, step
    )


def complex_batchnorm_forward(
    x: ArrayLike,
    gamma: ArrayLike | None,
    beta: ArrayLike | None,
    *,
    eps: float = 1e-5,
    axis: int = 1,
) -> NDArray[np.complex128]:
    """Train-mode BN forward in complex arithmetic, safe for the complex step.

        mu  = (1/m) Σ x_i,   var = (1/m) Σ (x_i − mu)·(x_i − mu),
        y_i = gamma·(x_i − mu)/sqrt(var + eps) + beta

    Only analytic operations: products instead of |·|² (np.var would conjugate), the principal
    square root (analytic near the positive real axis, where var + eps lies). Real inputs give
    the real BN; x, gamma and beta may carry imaginary perturbations. Returns complex128.

    The complex arithmetic is written out on real and imaginary parts with +, −, ×, ÷ and sqrt,
    so the result has the same bits on every CPU (NumPy's complex multiply fuses into FMAs
    where the CPU has them).
    """
    xc = np.asarray(x).astype(np.complex128)
    if xc.ndim < 2:
        raise ValueError(f"x has shape {xc.shape}; expected at least 2 dimensions")
    ax = axis % xc.ndim
    axes = tuple(a for a in range(xc.ndim) if a != ax)
    m = xc.size // xc.shape[ax]
    re, im = xc.real.copy(), xc.imag.copy()
    mu_re = np.sum(re, axis=axes, keepdims=True) / m  # (6)
    mu_im = np.sum(im, axis=axes, keepdims=True) / m
    d_re, d_im = re - mu_re, im - mu_im
    # (7), no conjugate: (a + bi)² = (a² − b²) + 2ab·i
    v_re = np.sum(d_re * d_re - d_im * d_im, axis=axes, keepdims=True) / m + eps
    v_im = np.sum(2.0 * (d_re * d_im), axis=axes, keepdims=True) / m
    # principal root of v (real part > 0): s = t + (v_im / 2t)·i, t = sqrt((|v| + v_re)/2)
    t = np.sqrt((np.sqrt(v_re * v_re + v_im * v_im) + v_re) / 2.0)
    s_re, s_im = t, v_im / (2.0 * t)
    # (8): (d_re + d_im·i) / (s_re + s_im·i)
    den = s_re * s_re + s_im * s_im
    y_re = (d_re * s_re + d_im * s_im) / den
    y_im = (d_im * s_re - d_re * s_im) / den
    if gamma is not None:
        g = expand(np.asarray(gamma).astype(np.complex128), xc.ndim, ax)
        y_re, y_im = y_re * g.real - y_im * g.imag, y_re * g.imag + y_im * g.real
    if beta is not None:
        b = expand(np.asarray(beta).astype(np.complex128), xc.ndim, ax)
        y_re, y_im = y_re + b.real, y_im + b.imag
    y = np.empty(np.broadcast_shapes(y_re.shape, y_im.shape), dtype=np.complex128)
    y.real, y.imag = y_re, y_im
    return y  # (9)
