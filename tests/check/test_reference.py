"""The generated loop-level reference against bncheck's BN and against finite differences."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.typing import NDArray

import bncheck
from bncheck.check import reference as gen

F64 = NDArray[np.float64]
U = float(np.finfo(np.float64).eps) / 2  # unit roundoff of float64
# Error budget, first order. Both sides are float64 two-pass computations of the same formulas
# (the reference sums with math.fsum, i.e. correctly rounded). Each output is a handful of
# roundings of terms of size `scale` (below), except that x − mu loses relative accuracy by
# cond = 1 + max|x|·inv_std (cancellation when the mean is large compared to the spread), and a
# sum over m terms may add m roundings in the implementation. K = 32 covers the few roundings
# per term on both sides with a margin; a wrong formula is off by O(scale), i.e. ~1/u times more.
K = 32

_SHAPES = st.sampled_from(
    [
        ((6, 3), 1),
        ((5, 2), -1),
        ((3, 4), 0),
        ((4, 2, 3), 1),
        ((2, 3, 2, 2), 1),
        ((3, 2, 2, 2), -1),
        ((2, 2, 3, 1), 1),
    ]
)


def _floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@st.composite
def bn_inputs(draw: st.DrawFn) -> tuple[F64, F64, F64, F64, float, int]:
    shape, axis = draw(_SHAPES)
    c = shape[axis]
    x = draw(hnp.arrays(np.float64, shape, elements=_floats(-10, 10)))
    x = x + draw(_floats(-100, 100))  # an offset: makes cond > 1
    gamma = draw(hnp.arrays(np.float64, (c,), elements=_floats(-3, 3)))
    beta = draw(hnp.arrays(np.float64, (c,), elements=_floats(-3, 3)))
    dy = draw(hnp.arrays(np.float64, shape, elements=_floats(-1, 1)))
    eps = draw(st.sampled_from([1e-5, 1e-3]))
    return x, gamma, beta, dy, eps, axis


def _to_matrix(a: F64, axis: int) -> F64:
    moved = np.moveaxis(a, axis, -1)
    return moved.reshape(-1, moved.shape[-1])


def _close(actual: F64, expected: F64, tol: F64 | float, what: str) -> None:
    err = np.abs(np.asarray(actual) - np.asarray(expected))
    assert np.all(err <= tol), f"{what}: max error {err.max():.3e}, tolerance {np.min(tol):.3e}"


@given(bn_inputs())
def test_generated_first_order_agrees_with_bncheck_batchnorm(
    args: tuple[F64, F64, F64, F64, float, int],
) -> None:
    x, gamma, beta, dy, eps, axis = args
    y, cache = bncheck.batchnorm_forward(x, gamma, beta, eps=eps, axis=axis)
    dx, dgamma, dbeta = bncheck.batchnorm_backward(dy, cache)
    x2, dy2 = _to_matrix(x, axis), _to_matrix(dy, axis)
    m = x2.shape[0]
    z = gen.forward(x2, gamma, beta, eps)
    rdx, rdgamma, rdbeta = gen.backward(dy2, x2, gamma, eps)

    inv_std = 1 / np.sqrt(x2.var(axis=0) + eps)
    x_hat = (x2 - x2.mean(axis=0)) * inv_std
    cond = 1 + np.abs(x2).max(axis=0) * inv_std
    big_xhat = np.maximum(1, np.abs(x_hat).max(axis=0))
    sum_abs_dy = np.abs(dy2).sum(axis=0)
    _close(_to_matrix(np.asarray(y), axis), z, K * U * (np.abs(gamma) * cond + np.abs(beta)), "z")
    dx_scale = np.abs(gamma) * inv_std * np.abs(dy2).max(axis=0) * (2 + big_xhat**2)
    _close(_to_matrix(np.asarray(dx), axis), rdx, K * U * (m + cond) * dx_scale, "dx")
    _close(dgamma, rdgamma, K * U * (m + cond) * sum_abs_dy * big_xhat, "dgamma")
    _close(dbeta, rdbeta, K * U * m * sum_abs_dy, "dbeta")


@given(bn_inputs())
def test_generated_eval_forward_agrees_with_bncheck_inference(
    args: tuple[F64, F64, F64, F64, float, int],
) -> None:
    x, gamma, beta, _dy, eps, axis = args
    x2 = _to_matrix(x, axis)
    mean, var = x2.mean(axis=0) + 0.5, x2.var(axis=0) + 1.0
    y = bncheck.batchnorm_inference(x, gamma, beta, mean, var, eps=eps, axis=axis)
    inv_std = 1 / np.sqrt(var + eps)
    cond = 1 + (np.abs(x2).max(axis=0) + np.abs(mean)) * inv_std
    tol = K * U * (np.abs(gamma) * cond + np.abs(beta))
    _close(
        _to_matrix(np.asarray(y), axis),
        gen.eval_forward(x2, gamma, beta, mean, var, eps),
        tol,
        "eval z",
    )


# --- second order against central differences of the first-order reference ----------------------


def _g(delta: F64, x: F64, gamma: F64, eps: float, v: tuple[F64, F64, F64]) -> float:
    dx, dgamma, dbeta = gen.backward(delta, x, gamma, eps)
    return float(np.sum(dx * v[0]) + np.sum(dgamma * v[1]) + np.sum(dbeta * v[2]))


def _g_eval(
    delta: F64, x: F64, gamma: F64, mean: F64, var: F64, eps: float, v: tuple[F64, F64, F64]
) -> float:
    dx, dgamma, dbeta = gen.eval_backward(delta, x, gamma, mean, var, eps)
    return float(np.sum(dx * v[0]) + np.sum(dgamma * v[1]) + np.sum(dbeta * v[2]))


def _fd_gradient(f: Callable[[F64], float], p: F64, h: F64) -> tuple[F64, F64]:
    """Central differences with steps h and 2h, and the FD error bound.

    Error budget: D(h) − f' = f'''·h²/6 + O(h⁴) + rounding. D(h) − D(2h) = −f'''·h²/2 + …, so
    |D(h) − D(2h)|/3 estimates the truncation error of D(h); we allow 2× that plus the rounding
    error of the two evaluations of f, 4·u·|f|/h (|f| at most a few times its value here, since
    the cotangent and the inputs are O(1)), plus a floor of the same kind.
    """
    grad, bound = np.empty_like(p), np.empty_like(p)
    flat, gflat, bflat, hflat = p.reshape(-1), grad.reshape(-1), bound.reshape(-1), h.reshape(-1)
    for j in range(flat.size):

        def at(t: float, j: int = j) -> float:
            q = flat.copy()
            q[j] += t
            return f(q.reshape(p.shape))

        hj = hflat[j]
        d1 = (at(hj) - at(-hj)) / (2 * hj)
        d2 = (at(2 * hj) - at(-2 * hj)) / (4 * hj)
        fmag = abs(at(0.0)) + 1.0
        gflat[j] = d1
        bflat[j] = 2 * abs(d1 - d2) / 3 + 16 * U * fmag / hj
    return grad, bound


@st.composite
def second_order_inputs(draw: st.DrawFn) -> tuple[F64, F64, F64, float, tuple[F64, F64, F64]]:
    m, c = draw(st.integers(2, 5)), draw(st.integers(1, 3))
    x = draw(hnp.arrays(np.float64, (m, c), elements=_floats(-2, 2)))
    assume(bool(np.all(x.std(axis=0) > 0.3)))  # a well-conditioned batch: FD steps stay small
    delta = draw(hnp.arrays(np.float64, (m, c), elements=_floats(-1, 1)))
    gamma = draw(hnp.arrays(np.float64, (c,), elements=_floats(-2, 2)))
    v = (
        draw(hnp.arrays(np.float64, (m, c), elements=_floats(-1, 1))),
        draw(hnp.arrays(np.float64, (c,), elements=_floats(-1, 1))),
        draw(hnp.arrays(np.float64, (c,), elements=_floats(-1, 1))),
    )
    return x, delta, gamma, 1e-3, v


def _check_double_backward(
    x: F64,
    delta: F64,
    gamma: F64,
    eps: float,
    v: tuple[F64, F64, F64],
    d_x: F64,
    d_gamma: F64,
    d_delta: F64,
) -> None:
    h_x = 1e-4 * np.broadcast_to(x.std(axis=0), x.shape).copy()
    fd_x, b_x = _fd_gradient(lambda q: _g(delta, q, gamma, eps, v), x, h_x)
    fd_g, b_g = _fd_gradient(lambda q: _g(delta, x, q, eps, v), gamma, np.full(gamma.shape, 1e-4))
    fd_d, b_d = _fd_gradient(lambda q: _g(q, x, gamma, eps, v), delta, np.full(delta.shape, 1e-4))
    _close(d_x, fd_x, b_x, "d_x")
    _close(d_gamma, fd_g, b_g, "d_gamma")
    _close(d_delta, fd_d, b_d, "d_delta")


@given(second_order_inputs())
def test_generated_double_backward_agrees_with_finite_differences_of_backward(
    args: tuple[F64, F64, F64, float, tuple[F64, F64, F64]],
) -> None:
    x, delta, gamma, eps, v = args
    d_delta, d_x, d_gamma = gen.double_backward(delta, x, gamma, eps, *v)
    _check_double_backward(x, delta, gamma, eps, v, d_x, d_gamma, d_delta)


@given(second_order_inputs())
def test_generated_eval_double_backward_agrees_with_finite_differences_of_eval_backward(
    args: tuple[F64, F64, F64, float, tuple[F64, F64, F64]],
) -> None:
    x, delta, gamma, eps, v = args
    mean, var = x.mean(axis=0) - 0.25, x.var(axis=0) + 0.5
    d_delta, d_x, d_gamma = gen.eval_double_backward(delta, x, gamma, mean, var, eps, *v)
    h = np.full(x.shape, 1e-4)
    fd_x, b_x = _fd_gradient(lambda q: _g_eval(delta, q, gamma, mean, var, eps, v), x, h)
    fd_g, b_g = _fd_gradient(
        lambda q: _g_eval(delta, x, q, mean, var, eps, v), gamma, np.full(gamma.shape, 1e-4)
    )
    fd_d, b_d = _fd_gradient(lambda q: _g_eval(q, x, gamma, mean, var, eps, v), delta, h)
    _close(d_x, fd_x, b_x, "eval d_x")
    _close(d_gamma, fd_g, b_g, "eval d_gamma")
    _close(d_delta, fd_d, b_d, "eval d_delta")


@pytest.mark.parametrize("which", ["drop-mixed-term", "hvp-times-1.001", "d_gamma-sign"])
def test_the_finite_difference_check_rejects_a_wrong_double_backward(which: str) -> None:
    rng = np.random.default_rng(7)
    x, delta = rng.normal(size=(4, 2)), rng.normal(size=(4, 2))
    gamma = np.array([1.5, -0.7])
    v = (rng.normal(size=(4, 2)), np.array([0.8, -1.1]), np.array([0.3, 0.2]))
    d_delta, d_x, d_gamma = gen.double_backward(delta, x, gamma, 1e-3, *v)
    _check_double_backward(x, delta, gamma, 1e-3, v, d_x, d_gamma, d_delta)  # the real one passes
    mixed = gen.double_backward(delta, x, gamma, 1e-3, np.zeros_like(x), v[1], v[2])[1]
    wrong = {
        "drop-mixed-term": (d_x - mixed, d_gamma),
        "hvp-times-1.001": (mixed + 1.001 * (d_x - mixed), d_gamma),
        "d_gamma-sign": (d_x, -d_gamma),
    }[which]
    with pytest.raises(AssertionError):
        _check_double_backward(x, delta, gamma, 1e-3, v, wrong[0], wrong[1], d_delta)


def test_a_wrong_first_order_formula_is_outside_the_error_budget() -> None:
    rng = np.random.default_rng(3)
    x, dy = rng.normal(size=(8, 2)) + 50.0, rng.normal(size=(8, 2))
    gamma, eps = np.array([1.3, -0.4]), 1e-5
    dx = gen.backward(dy, x, gamma, eps)[0]
    # eps counted twice: a tiny error, still far outside K·u·cond·scale
    wrong = gen.backward(dy, x, gamma, 2 * eps)[0]
    inv_std = 1 / np.sqrt(x.var(axis=0) + eps)
    cond = 1 + np.abs(x).max(axis=0) * inv_std
    scale = np.abs(gamma) * inv_std * np.abs(dy).max(axis=0) * 6
    assert np.any(np.abs(wrong - dx) > K * U * (8 + cond) * scale)
