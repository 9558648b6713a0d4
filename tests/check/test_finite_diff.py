"""bncheck.check.finite_diff on functions with known derivatives, including the error against the
step.

Error model (module docstring of bncheck.check.finite_diff), u = 2^-53, eps_f the error of one f
call: central h²|f'''|/6 + eps_f/h; Richardson h⁴|f⁽⁵⁾|/480 + 3·eps_f/h; complex step h²|f'''|/6 +
u|f'|. np.exp and np.sin are accurate to about 1 ulp, so eps_f <= 2u·|f| per value with a margin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import bncheck
from bncheck.check.conditions import channel_condition, output_condition
from bncheck.check.finite_diff import (
    RICHARDSON_STEPS,
    STEPS,
    central_diff,
    complex_step_diff,
    directional_derivative,
    richardson_diff,
    step_error_curve,
)
from bncheck.check.gradient_check import check_directional, complex_batchnorm_forward
from bncheck.check.tolerances import TOLERANCES, error_budget

U = TOLERANCES["float64"].unit_roundoff
F64 = np.dtype(np.float64)


def exp_sum(a: np.ndarray) -> Callable[[np.ndarray], Any]:
    """f(x) = Σ exp(a_i x_i): every derivative is known, d^k/dx_i^k = a_i^k exp(a_i x_i)."""
    return lambda x: np.sum(np.exp(a * x))


@given(st.integers(0, 2**32 - 1))
def test_central_differences_of_a_separable_exponential_are_within_their_error_bound(
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    a, x = rng.uniform(-2, 2, 6), rng.uniform(-1, 1, 6)
    f = exp_sum(a)
    exact = a * np.exp(a * x)
    h = STEPS[F64]
    fx = float(np.sum(np.abs(np.exp(a * x)))) * np.exp(2 * h)  # |f| near x, all terms > 0
    for method, grad, trunc, rnd in [
        (central_diff, central_diff(f, x), h**2 / 6 * np.abs(a) ** 3, 1.0),
        (richardson_diff, richardson_diff(f, x), RICHARDSON_STEPS[F64] ** 4 / 480 * a**4, 3.0),
    ]:
        step = h if method is central_diff else RICHARDSON_STEPS[F64]
        # |f'''| (|f⁽⁵⁾|) on [x − h, x + h], and eps_f = (size + 2)·u·|f| (np.sum + np.exp)
        bound = trunc * np.exp(np.abs(a) * (np.abs(x) + step)) * 1.01 + rnd * 8 * U * fx / step
        assert np.all(np.abs(grad - exact) <= bound), method.__name__


def test_central_truncation_error_is_h_squared_f3_over_6() -> None:
    x0 = np.array([0.3])
    exact = float(np.exp(0.3))
    for h in (1e-2, 3e-2, 1e-1):
        err = float(central_diff(lambda x: np.exp(x[0]), x0, h=h)[0]) - exact
        # D(h) − f' = h²f'''/6 + h⁴f⁽⁵⁾/120 + …: the ratio to the first term is 1 + h²/20 + …;
        # rounding adds <= 4u·e/h, i.e. <= 24u/h³ relative (< 1e-9 here).
        ratio = err / (h**2 * exact / 6)
        assert abs(ratio - 1 - h**2 / 20) <= h**4 / 500 + 24 * U / h**3


def test_richardson_truncation_error_is_h4_f5_over_480() -> None:
    x0 = np.array([0.3])
    exact = float(np.exp(0.3))
    for h in (5e-2, 1e-1, 2e-1):
        err = float(richardson_diff(lambda x: np.exp(x[0]), x0, h=h)[0]) - exact
        # R(h) − f' = −h⁴f⁽⁵⁾/480 − (5/16)h⁶f⁽⁷⁾/5040 + …: ratio 1 + 0.0298·h² + O(h⁴);
        # rounding 3·4u·e/h is <= 1440·4u/h⁵ relative.
        ratio = err / (-(h**4) * exact / 480)
        assert abs(ratio - 1 - (5 / 16) / 5040 * 480 * h**2) <= h**4 / 100 + 5760 * U / h**5


def test_the_central_error_curve_is_a_v_with_its_minimum_near_the_tabled_step() -> None:
    x0, v = np.array([0.7]), np.array([1.0])
    exact = float(np.exp(0.7))
    steps = np.logspace(-13, -1, 49)
    curve = step_error_curve(lambda x: np.exp(x[0]), x0, v, steps, "central", exact=exact)
    hs, errs = np.array(curve).T
    best = hs[np.argmin(errs)]
    assert STEPS[F64] / 30 <= best <= STEPS[F64] * 30
    assert errs[0] >= 100 * errs.min() and errs[-1] >= 100 * errs.min()
    # left arm: the rounding floor eps_f/h (eps_f <= 4u·|f| near x0); right arm: h²|f'''|/6
    assert np.all(errs <= 4 * U * exact / hs + hs**2 * exact * np.exp(hs) / 6)
    assert errs[0] >= 100 * hs[0] ** 2 * exact / 6  # the left end is rounding, not truncation


def test_the_complex_step_has_no_rounding_floor() -> None:
    # Squire & Trapp's test function; its derivative exactly by mpmath.
    def f(x: Any) -> Any:
        return np.exp(x[0]) / np.sqrt(np.sin(x[0]) ** 3 + np.cos(x[0]) ** 3)

    def fm(t: Any) -> Any:
        return mpmath.exp(t) / mpmath.sqrt(mpmath.sin(t) ** 3 + mpmath.cos(t) ** 3)

    x0 = 1.5
    with mpmath.workdps(40):
        exact = float(mpmath.diff(fm, mpmath.mpf(x0)))
    for h in (1e-8, 1e-20, 1e-100, 1e-300):
        got = float(complex_step_diff(f, np.array([x0]), h=h)[0])
        # truncation h²|f'''|/6 vanishes below h ~ 1e-8 here; the rest is the ~10 roundings
        # of evaluating f at a relative u each.
        assert abs(got - exact) <= 16 * U * abs(exact) + h**2 * 1e3
    central_best = abs(float(central_diff(f, np.array([x0]))[0]) - exact)
    assert central_best > 1e3 * U * abs(exact)  # central differences cannot get there


CALLS = [("central", 2), ("richardson", 4), ("complex", 1)]


@pytest.mark.parametrize(("method", "calls"), CALLS, ids=[c[0] for c in CALLS])
def test_directional_derivatives_cost_o1_calls_and_match_the_gradient(
    method: Any, calls: int
) -> None:
    rng = np.random.default_rng(5)
    a, x, v = rng.uniform(-1, 1, 200), rng.uniform(-1, 1, 200), rng.standard_normal(200)
    count = [0]

    def f(z: np.ndarray) -> Any:
        count[0] += 1
        return np.sum(np.exp(a * z))

    got = directional_derivative(f, x, v, method=method)
    assert count[0] == calls  # independent of the 200 coordinates
    exact = float(np.sum(a * np.exp(a * x) * v))
    scale = float(np.sum(np.abs(a * np.exp(a * x) * v)))
    fx = float(np.sum(np.exp(a * x)))
    h = {"central": STEPS[F64], "richardson": RICHARDSON_STEPS[F64]}.get(method, 0.0)
    h = h / np.max(np.abs(v))
    vmax = float(np.max(np.abs(v)))
    trunc = {"central": h**2 / 6 * vmax**3, "richardson": h**4 / 480 * vmax**5}.get(method, 0.0)
    rnd = {"central": 1.0, "richardson": 3.0}.get(method, 0.0)
    # eps_f = (size + 2)·u·|f| for np.sum of exps; complex: ~size·u·Σ|terms|
    bound = trunc * fx * np.e + rnd * 202 * U * fx / max(h, 1e-300) + 202 * U * scale
    assert abs(got - exact) <= bound


def linear_map(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((7, 5)), rng.standard_normal(5)


@pytest.mark.parametrize("method", ["central", "richardson", "complex"])
def test_check_directional_accepts_a_right_vjp_and_rejects_one_off_by_1e_6(method: Any) -> None:
    a, x = linear_map(1)

    def forward(z: np.ndarray) -> np.ndarray:
        return a @ z + 0.1 * z[0] * z[1] * np.ones(7)  # nonlinear in z

    def vjp(u: np.ndarray) -> np.ndarray:
        g = a.T @ u
        g[0] += 0.1 * x[1] * u.sum()
        g[1] += 0.1 * x[0] * u.sum()
        return g

    good = check_directional(forward, vjp, x, rng=np.random.default_rng(0), method=method)
    assert good.passed, good
    bad = check_directional(
        forward, lambda u: vjp(u) * (1 + 1e-6), x, rng=np.random.default_rng(0), method=method
    )
    assert not bad.passed and bad.rel_discrepancy > bad.tolerance / abs(bad.vjp)


def bn_pair(
    x: np.ndarray, g: np.ndarray, b: np.ndarray, eps_back: float = 1e-5
) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    def forward(z: Any) -> Any:
        if np.iscomplexobj(z):
            return complex_batchnorm_forward(z, g, b)
        return bncheck.batchnorm_forward(z, g, b)[0]

    def vjp(u: Any) -> Any:
        return bncheck.batchnorm_backward(u, bncheck.batchnorm_forward(x, g, b, eps=eps_back)[1]).dx

    return forward, vjp


@pytest.mark.parametrize("method", ["central", "richardson", "complex"])
@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_check_directional_catches_eps_twice_in_the_bn_backward(method: Any, offset: float) -> None:
    rng = np.random.default_rng(9)
    x = offset + rng.standard_normal((16, 3))
    g, b = rng.normal(size=3), rng.normal(size=3)
    forward, vjp = bn_pair(x, g, b)
    # The forward's own relative error: the derived float64 budget of y (bncheck.check.tolerances),
    # which grows with the offset's condition ~1e4.
    m = x.shape[0]
    k = output_condition("y", x, 1e-5, 1)
    ks = channel_condition(x, 1e-5, 1)
    noise = U * max(
        error_budget("y", np.float64, m=m, condition=float(a), shift_condition=float(c))
        for a, c in zip(k, ks, strict=True)
    )
    kw: dict[str, Any] = {"method": method, "noise": noise}
    ok = check_directional(forward, vjp, x, rng=np.random.default_rng(1), **kw)
    assert ok.passed, ok
    _, vjp_bad = bn_pair(x, g, b, eps_back=2e-5)
    bad = check_directional(forward, vjp_bad, x, rng=np.random.default_rng(1), **kw)
    if method == "central" and offset:
        # at offset 1e4 the rounding floor of central differences (noise/h ~ 1e-5) hides a
        # 5e-6 change: the reason for Richardson and the complex step.
        assert bad.passed
    else:
        assert not bad.passed, bad


def test_complex_batchnorm_forward_is_bn_and_np_var_would_break_the_complex_step() -> None:
    rng = np.random.default_rng(4)
    x, dy = rng.standard_normal((6, 3, 2)), rng.standard_normal((6, 3, 2))
    g, b = rng.normal(size=3), rng.normal(size=3)
    y, cache = bncheck.batchnorm_forward(x, g, b)
    yc = complex_batchnorm_forward(x, g, b)
    assert np.all(yc.imag == 0)
    # both are float64 two-pass BNs: within (m + 10)·u relative to the output scale
    scale = np.abs(g) * (np.abs(cache.x_hat).max(axis=(0, 2)) + 1) + np.abs(b)
    assert np.all(np.abs(yc.real - y).max(axis=(0, 2)) <= 2 * (12 + 10) * U * scale)
    dx = bncheck.batchnorm_backward(dy, cache).dx
    v = rng.standard_normal(x.shape)
    cs = directional_derivative(
        lambda z: np.sum(dy * complex_batchnorm_forward(z, g, b)), x, v, method="complex"
    )
    assert abs(cs - np.sum(dx * v)) <= 64 * U * np.sum(np.abs(dx * v))

    def var_based(z: Any) -> Any:  # np.var takes |z − mean|²: the imaginary part is lost
        return np.sum(dy * (z - z.mean(axis=(0, 2), keepdims=True)) / np.sqrt(np.var(z) + 1e-5))

    assert not np.iscomplexobj(np.var(x + 1e-20j * v))  # the perturbation is dropped
    wrong = directional_derivative(var_based, x, v, method="complex")
    right = directional_derivative(var_based, x, v, method="richardson")
    assert abs(wrong - right) > 1e-3 * abs(right)
