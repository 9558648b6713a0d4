"""Checking a BN's gradients by finite differences in O(1) calls.

:func:`check_directional` tests a backward pass (a VJP) against differences of the forward in
one random direction: ``<u, J v>`` by differences of ``t -> <u, F(x + t·v)>`` (the estimators
and their error model are :mod:`bncheck.check.finite_diff`) against ``<J^T u, v>`` from the
VJP. :func:`complex_batchnorm_forward` is a train-mode BN written as complex-analytic code, so
that the complex step differentiates it to working precision.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bncheck.check.finite_diff import (
    COMPLEX_STEP,
    RICHARDSON_STEPS,
    STEPS,
    Method,
    as_float_array,
    directional_derivative,
    dtype_of,
)
from bncheck.check.norms import NormSpec, resolve
from bncheck.check.tolerances import unit_roundoff

__all__ = ["DirectionalResult", "check_directional", "complex_batchnorm_forward"]


class DirectionalResult(NamedTuple):
    """``<u, J v>`` two ways: by differences (``fd``) and from the VJP (``vjp``).

    Attributes
    ----------
    fd, vjp : float
        ``<u, J v>`` by differences of the forward, and ``<J^T u, v>`` from the VJP.
    rel_discrepancy : float
        ``|fd − vjp| / max(|fd|, |vjp|)``.
    fd_error : float
        Estimates the error of ``fd`` (truncation + rounding).
    tolerance : float
        ``fd_error`` plus the rounding of the two inner products.
    passed : bool
        ``|fd − vjp| <= tolerance``.
    method : str
        "central", "richardson" or "complex".
    h : float
        The step in t that was taken.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.bn import batchnorm_backward, batchnorm_forward
    >>> from bncheck.check.gradient_check import check_directional
    >>> x = np.random.default_rng(0).standard_normal((8, 3))
    >>> y, cache = batchnorm_forward(x, None, None)
    >>> result = check_directional(lambda z: batchnorm_forward(z, None, None)[0],
    ...                            lambda u: batchnorm_backward(u, cache).dx, x,
    ...                            rng=np.random.default_rng(1))
    >>> result.passed, abs(result.fd - result.vjp) <= result.tolerance
    (True, True)
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
    u: ArrayLike | None = None,
    v: ArrayLike | None = None,
    blocks: Sequence[slice] | None = None,
    vjp_noise: float | None = None,
) -> DirectionalResult:
    """Test a VJP against differences of the forward in one random direction, O(1) calls.

    Draws u (shape of ``forward(x)``) and v (shape of x) from N(0, 1), unless given, and
    compares (1 + 1, 4 or 6 forward calls for complex, central, richardson)

        fd  = d/dt <u, forward(x + t·v)> at t = 0     (``method``: central/richardson/complex)
        vjp = <backward_vjp(u), v>                     (J^T u from the backward pass)

    ``noise`` is the normwise relative error of one forward evaluation and of the VJP (default
    2^-45 ~ 256·u64; for a BN, u times the larger derived budget of bncheck.check.tolerances, or
    what :func:`bncheck.check.tolerances.fd_noise` makes of a measured error). The dot products
    <u, y> and <g, v> are summed exactly (``math.fsum``) from products rounded once, so they add
    2·u64 to it (for method="complex", NumPy's sum: size·u64). With Phi = Σ|u_i·y_i| the
    evaluation error of phi(t) = <u, forward(x + t v)> is eps_phi = (noise + 2·u64)·Phi +
    u·Σ|x_i·g_i| (the second term: rounding x + t·v to x's dtype, with g = J^T u = grad phi).
    Error estimate of fd:

    - central: |D(2h) − D(h)|/3 (truncation of D(h)) + eps_phi/h;
    - richardson: (16/15)·|R(h) − R(h/2)| (R's O(h⁴) truncation, by a second extrapolation
      level) + 3·eps_phi/h;
    - complex: noise·max|g|·Σ|v_i| with g = J^T u (no cancellation in the step itself).

    ``tolerance = fd_error + (vjp_noise + 2·u64)·Σ_b max|g_b|·Σ|v_b|`` (the VJP's own rounding,
    normwise within each block b of ``blocks``, or over all of x when none are given: a VJP whose
    parts are computed and judged apart, such as a BN's dx, dgamma and dbeta, errs normwise in
    each part, not relative to the largest of all).

    Parameters
    ----------
    forward : callable
        ``forward(x) -> y``; must accept complex input for method="complex".
    backward_vjp : callable
        ``backward_vjp(u) -> J^T u``, an array of x's shape.
    x : array_like
        The point.
    rng : numpy.random.Generator
        Draws the directions u and v.
    method : "central", "richardson" or "complex"
        How ``fd`` is computed (default richardson).
    h : float, optional
        The step in t; defaults as in :func:`directional_derivative`.
    noise : float
        The normwise relative error of one forward evaluation and of the VJP (see above).
    u, v : array_like, optional
        The cotangent (shape of ``forward(x)``: an upstream gradient dy) and the direction
        (shape of x) to use instead of random ones; ``rng`` then draws only what is missing.
    blocks : sequence of slice, optional
        Parts of x (flattened) whose VJP entries err normwise apart (see above).
    vjp_noise : float, optional
        The normwise relative error allowed to the VJP, when it differs from the forward's
        ``noise`` (default: ``noise``). A checker that knows the forward's error (measured)
        but must allow the backward its whole budget gives the two apart.

    Returns
    -------
    DirectionalResult

    Raises
    ------
    ValueError
        An unknown ``method``, or ``backward_vjp`` returned another shape than x's.

    Examples
    --------
    A BN backward against the complex step through the complex-safe forward:

    >>> import numpy as np
    >>> from bncheck.bn import batchnorm_backward, batchnorm_forward
    >>> from bncheck.check.gradient_check import check_directional, complex_batchnorm_forward
    >>> x = np.random.default_rng(0).standard_normal((8, 3))
    >>> gamma, beta = np.full(3, 1.5), np.zeros(3)
    >>> y, cache = batchnorm_forward(x, gamma, beta)
    >>> result = check_directional(lambda z: complex_batchnorm_forward(z, gamma, beta),
    ...                            lambda u: batchnorm_backward(u, cache).dx, x,
    ...                            rng=np.random.default_rng(1), method="complex")
    >>> result.passed, result.rel_discrepancy < 1e-12
    (True, True)
    """
    xa = as_float_array(x)
    y0 = np.asarray(forward(xa))
    u_dir = rng.standard_normal(y0.shape) if u is None else np.asarray(u, dtype=np.float64)
    v_dir = rng.standard_normal(xa.shape) if v is None else np.asarray(v, dtype=np.float64)
    if u_dir.shape != y0.shape or v_dir.shape != xa.shape:
        raise ValueError(
            f"u has shape {u_dir.shape} and v {v_dir.shape}; expected {y0.shape} "
            f"(forward(x)'s) and {xa.shape} (x's)"
        )
    g = np.asarray(backward_vjp(u_dir), dtype=np.float64)
    if g.shape != xa.shape:
        raise ValueError(f"backward_vjp returned shape {g.shape}; expected {xa.shape}, x's shape")
    u64 = unit_roundoff(np.dtype(np.float64))
    vjp = math.fsum((g * v_dir).ravel().tolist())
    # normwise: an error of noise·max|g_b| in every entry of a block (BN's backward cancels
    # terms of size max|g| to form small entries, so entrywise |g_i·v_i| would understate it)
    flat_g, flat_v = np.abs(g).ravel(), np.abs(v_dir).ravel()
    parts = list(blocks) if blocks else [slice(None)]
    gv_scale = math.fsum(
        float(np.max(flat_g[b], initial=0.0)) * float(np.sum(flat_v[b])) for b in parts
    )
    # products rounded once and summed exactly: 2·u64 (NumPy's complex sum: size·u64)
    summing = (xa.size + y0.size) * u64 if method == "complex" else 2 * u64
    rel = noise + summing
    rel_vjp = (noise if vjp_noise is None else vjp_noise) + summing
    # forward's rounding, plus rounding x + t·v to x's dtype: |Δx_i| <= u|x_i| moves phi by
    # <= u·Σ|x_i·g_i| since g = J^T u = grad phi.
    x_rounding = unit_roundoff(dtype_of(xa)) * float(np.sum(np.abs(xa.astype(np.float64) * g)))
    eps_phi = rel * float(np.sum(np.abs(u_dir * np.real(y0)))) + x_rounding
    vmax = float(np.max(np.abs(v_dir)))

    def phi(z: NDArray[Any]) -> Any:
        terms = u_dir * np.asarray(forward(z))
        if np.iscomplexobj(terms):
            return np.sum(terms)
        return math.fsum(terms.ravel().tolist())

    if method == "complex":
        step = COMPLEX_STEP / vmax if h is None else float(h)
        fd = directional_derivative(phi, xa, v_dir, method="complex", h=step)
        fd_error = rel * gv_scale
    elif method in ("central", "richardson"):
        dt = dtype_of(xa)
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
    tolerance = fd_error + rel_vjp * gv_scale
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
    spec: NormSpec | None = None,
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

    Parameters
    ----------
    x : array_like, at least 2 dimensions
        Input, real or complex.
    gamma, beta : array_like of shape (C,) or None
        Scale and shift (None: 1, respectively 0).
    eps : float
        Added to the variance inside the square root.
    axis : int
        The channel axis (Batch Normalization).
    spec : NormSpec, optional
        Another normalization's axes (:mod:`bncheck.check.norms`; then ``axis`` must be 1):
        the statistics reduce ``spec``'s reduced axes, gamma and beta span its parameter axes.

    Returns
    -------
    complex128 array, the shape of x

    Raises
    ------
    ValueError
        ``x`` has fewer than 2 dimensions.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.bn import batchnorm_forward
    >>> from bncheck.check.gradient_check import complex_batchnorm_forward
    >>> x = np.random.default_rng(0).standard_normal((8, 3))
    >>> y = complex_batchnorm_forward(x, None, None)
    >>> y.dtype, np.allclose(y.real, batchnorm_forward(x, None, None)[0]), not y.imag.any()
    (dtype('complex128'), True, True)
    """
    xc = np.asarray(x).astype(np.complex128)
    if xc.ndim < 2:
        raise ValueError(f"x has shape {xc.shape}; expected at least 2 dimensions")
    sp = resolve(spec, axis)
    axes = sp.reduced(xc.ndim)
    m = sp.m(xc.shape)
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
        g = sp.expand_param(np.asarray(gamma).astype(np.complex128), xc.ndim)
        y_re, y_im = y_re * g.real - y_im * g.imag, y_re * g.imag + y_im * g.real
    if beta is not None:
        b = sp.expand_param(np.asarray(beta).astype(np.complex128), xc.ndim)
        y_re, y_im = y_re + b.real, y_im + b.imag
    y = np.empty(np.broadcast_shapes(y_re.shape, y_im.shape), dtype=np.complex128)
    y.real, y.imag = y_re, y_im
    return y  # (9)
