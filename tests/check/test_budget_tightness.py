"""How tight a budget is: bncheck.check.tolerances' budgets pinned to their derivation, and
compare() judging with exactly them.

Every other test of the budgets asks whether a correct BN passes and a wrong one fails, which a
budget 10 times too large still does. Here the numbers themselves are pinned:

- ``error_budget`` equals the formula of the errors module's docstring, computed here from
  scratch with the derivation's constants written out (c = 16, 16, 16, 4; λ = 6);
- ``compare`` judges each channel against ``error_budget(K_j, kappa_s_j, K2_j) + 1`` with K,
  K2 and kappa_s recomputed here from their definitions (module docstring), and reports that
  budget;
- an output ½ budget off passes and one 3 budgets off fails, per channel, for y, dx, dgamma and
  dbeta, in float16, float32 and float64, with and without gamma.

The tolerances of the finite-difference checks are budgets too, and as loose a one passes as
quietly: Richardson extrapolation with the wrong coefficients is only second order, and its
own error estimate then grows with it (h² instead of h⁴, ~1e-6 instead of ~1e-9). So the
tolerance of ``bncheck.check.gradient_check.check_directional`` and the budget of the verifier's
``backward-fd`` check are pinned by a backward 1e-8 off, which both must reject; and central
differences in float16/float32, whose x ± h rounds, must divide by the step actually taken (a
linear function evaluated exactly then has an exact derivative).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import pytest
from numpy.typing import NDArray

import bncheck
from bncheck.check import verify
from bncheck.check.finite_diff import central_diff
from bncheck.check.gradient_check import check_directional
from bncheck.check.metrics import compare
from bncheck.check.tolerances import error_budget
from bncheck.check.truth import exact_batchnorm

F64 = NDArray[np.float64]
DTYPES = (np.float16, np.float32, np.float64)
OUTPUTS = ("y", "dx", "dgamma", "dbeta")

#: the derivation's constants: λ of the probabilistic summation bound, and per output the
#: elementwise roundings c and whether the second-order (Δmu²) term applies
LAMBDA = 6.0
ROWS: dict[str, tuple[float, bool]] = {
    "y": (16.0, True),
    "dx": (16.0, True),
    "dgamma": (16.0, True),
    "dbeta": (4.0, False),
}
#: relative agreement of two float64 evaluations of the same budget formula
SAME = 1e-9


def unit(dtype: Any) -> float:
    return {np.float16: 2.0**-11, np.float32: 2.0**-24, np.float64: 2.0**-53}[dtype]


def derived_budget(
    output: str, dtype: Any, m: int, k: float, kappa_s: float, k2: float | None
) -> float:
    """(g + c)·K + g²·u·kappa_s²·K2 with g = (exp(λ√m·u + m·u²/(1 − u)) − 1)/u + 2."""
    u = unit(dtype)
    g = math.expm1(LAMBDA * math.sqrt(m) * u + m * u * u / (1.0 - u)) / u + 2.0
    c, second_order = ROWS[output]
    k2 = 2.0 * k if k2 is None else k2
    return (g + c) * k + (g * g * u * kappa_s**2 * k2 if second_order else 0.0)


#: (K, kappa_s, K2); K2 None: error_budget's default 2·K
POINTS = ((1.0, 1.0, 2.0), (5.0, 10.0, 2.0), (3e3, 1e4, 7.5), (7.0, 3.0, None))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("output", OUTPUTS)
def test_error_budget_is_the_derived_formula(output: str, dtype: Any) -> None:
    for m in (1, 2, 16, 1000, 65536):
        for k, kappa_s, k2 in POINTS:
            got = error_budget(
                output, dtype, m=m, condition=k, shift_condition=kappa_s, scale_sensitivity=k2
            )
            want = derived_budget(output, dtype, m, k, kappa_s, k2)
            assert got == pytest.approx(want, rel=1e-12), (m, k, kappa_s, k2)


class Terms(NamedTuple):
    """Per channel: K, K2 and kappa_s of one output (their definitions in
    bncheck.check.tolerances)."""

    k: F64
    k2: F64
    kappa_s: F64


def _columns(a: NDArray[Any]) -> F64:
    arr = np.asarray(a, dtype=np.float64)
    return np.moveaxis(arr, 1, -1).reshape(-1, arr.shape[1])


def terms(
    output: str, x: NDArray[Any], eps: float, dy: NDArray[Any], gamma: F64 | None, y: F64
) -> Terms:
    """K, K2, kappa_s per channel from their definitions (channel axis 1).

    M = max|x|, D = max|x − mu|, s = sqrt(var + eps), nu = D/s, kappa_s = max(1, M/s),
    delta = dy, S1 = Σ delta, S2 = Σ delta·x_hat, P = max|delta − S1/m − x_hat·S2/m|.
    """
    xc, delta = _columns(x), _columns(dy)
    m = xc.shape[0]
    mu = np.array([math.fsum(col) / m for col in xc.T])
    dev = xc - mu
    s = np.sqrt(np.array([math.fsum(col) / m for col in (dev * dev).T]) + eps)
    x_hat = dev / s
    big_m, nu = np.abs(xc).max(axis=0), np.abs(dev).max(axis=0) / s
    kappa_s = np.maximum(1.0, big_m / s)
    if output == "y":
        # the scale of y is at least |gamma|·nu/2 (x_hat takes both signs), and max|y| itself
        # when gamma is known; K bounds [|gamma|·g·M/s + |gamma|·nu·(g + 3)/2 + c·max|y|]
        g = np.ones(xc.shape[1]) if gamma is None else np.abs(gamma)
        den = nu / 2 if gamma is None else np.maximum(g * nu / 2, np.abs(_columns(y)).max(0))
        k = (np.maximum(2 * den, g * big_m / s) + 3 * den) / den
        return Terms(k, np.full_like(k, 2.0), kappa_s)
    s1, s2 = delta.sum(axis=0), (delta * x_hat).sum(axis=0)
    abs_sum, abs_dot = np.abs(delta).sum(axis=0), np.abs(delta * x_hat).sum(axis=0)
    if output == "dbeta":
        return Terms(abs_sum / np.abs(s1).max(), np.zeros_like(s1), kappa_s)
    if output == "dgamma":
        k = (abs_dot + kappa_s * np.abs(s1) + (1.0 + nu) * abs_sum) / np.abs(s2).max()
        return Terms(k, abs_dot / np.abs(s2).max(), kappa_s)
    p = np.abs(delta - s1 / m - x_hat * (s2 / m)).max(axis=0)
    a1, a2 = np.abs(s1) / m, np.abs(s2) / m
    r1, r2 = abs_sum / m, abs_dot / m
    k = (
        p / 2
        + np.abs(delta).max(axis=0)
        + r1
        + a1
        + (kappa_s + 2 * nu) * a2
        + nu * (r2 + kappa_s * a1 + (1.0 + nu) * r1)
    ) / p
    k2 = (p + 2 * nu * (a2 + nu * r1)) / p
    return Terms(k, k2, kappa_s)


class Judged(NamedTuple):
    """One output of one case: inputs, truth, and the budget of each channel (the whole
    vector's, once, for dgamma and dbeta)."""

    x: NDArray[Any]
    dy: NDArray[Any]
    gamma: F64 | None
    truth: F64
    budgets: F64  # error_budget(...) + 1 per channel

    def compare(self, actual: F64, output: str, dtype: Any, eps: float) -> Any:
        return compare(
            actual,
            self.truth,
            output,
            dtype,
            x=self.x,
            eps=eps,
            axis=1,
            dy=self.dy,
            gamma=self.gamma,
        )


EPS = 1e-5
SHAPES = {"(16, 3)": (16, 3), "(4, 3, 2, 2)": (4, 3, 2, 2)}


def judged(output: str, dtype: Any, shape: tuple[int, ...], with_gamma: bool) -> Judged:
    rng = np.random.default_rng([len(shape), np.dtype(dtype).itemsize, with_gamma])
    c = shape[1]
    x = (3.0 + 2.0 * rng.standard_normal(shape)).astype(dtype)
    gamma = (rng.uniform(0.5, 2.0, c) * rng.choice([-1.0, 1.0], c)).astype(dtype)
    beta = rng.normal(size=c).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    t = exact_batchnorm(x, gamma, beta, dy, eps=EPS, axis=1)
    truth = np.asarray(getattr(t, output), dtype=np.float64)
    g = gamma.astype(np.float64) if with_gamma else None
    tm = terms(output, x, EPS, dy, g, t.y)
    m = x.size // c
    per_channel = np.array(
        [
            error_budget(output, dtype, m=m, condition=k, shift_condition=ks, scale_sensitivity=k2)
            + 1.0
            for k, k2, ks in zip(tm.k, tm.k2, tm.kappa_s, strict=True)
        ]
    )
    budgets = per_channel if output in ("y", "dx") else np.array([per_channel.max()])
    return Judged(x, dy, g, truth, budgets)


def off_by(j: Judged, output: str, dtype: Any, factors: F64) -> F64:
    """The truth with, in each channel (the whole vector for dgamma/dbeta), its largest entry
    moved by factor·budget spacings of the dtype: a normwise ULP of factor·budget there (to
    within the half spacing a float64 truth rounds the move to)."""
    per_channel = output in ("y", "dx")
    moved = np.moveaxis(j.truth, 1, 0) if per_channel else j.truth.reshape(1, -1)
    rows = moved.reshape(moved.shape[0], -1).copy()  # (C, m), or (1, C)
    for row, (factor, budget) in enumerate(zip(factors, j.budgets, strict=True)):
        i = int(np.argmax(np.abs(rows[row])))
        spacing = float(np.spacing(np.abs(rows[row, i]).astype(dtype)))
        rows[row, i] += factor * budget * spacing
    if not per_channel:
        return rows.reshape(j.truth.shape)
    return np.moveaxis(rows.reshape(moved.shape), 0, 1)


CASES = [
    pytest.param(
        output,
        dtype,
        shape,
        with_gamma,
        id=f"{output}-{dtype.__name__}-{name}-{'gamma' if with_gamma else 'no gamma'}",
    )
    for output in OUTPUTS
    for dtype in DTYPES
    for name, shape in SHAPES.items()
    for with_gamma in (True, False)
]


@pytest.mark.parametrize(("output", "dtype", "shape", "with_gamma"), CASES)
def test_compare_judges_each_channel_with_exactly_its_error_budget(
    output: str, dtype: Any, shape: tuple[int, ...], with_gamma: bool
) -> None:
    j = judged(output, dtype, shape, with_gamma)
    n = len(j.budgets)
    for ch in range(n):
        # channel ch alone ½ budget off: it passes, and it is the channel reported
        half = j.compare(off_by(j, output, dtype, np.eye(n)[ch] * 0.5), output, dtype, EPS)
        assert half.passed, (ch, half)
        assert half.budget == pytest.approx(j.budgets[ch], rel=SAME), ch
        assert half.ulp == pytest.approx(0.5 * j.budgets[ch], rel=1e-6, abs=0.5), ch


@pytest.mark.parametrize(("output", "dtype", "shape", "with_gamma"), CASES)
def test_half_a_budget_off_passes_and_three_budgets_off_fail(
    output: str, dtype: Any, shape: tuple[int, ...], with_gamma: bool
) -> None:
    j = judged(output, dtype, shape, with_gamma)
    n = len(j.budgets)
    everywhere = j.compare(off_by(j, output, dtype, np.full(n, 0.5)), output, dtype, EPS)
    assert everywhere.passed, everywhere
    for ch in range(n):
        # every channel ½ budget off, channel ch 3 budgets off: that channel fails the output
        factors = np.where(np.arange(n) == ch, 3.0, 0.5)
        three = j.compare(off_by(j, output, dtype, factors), output, dtype, EPS)
        assert not three.passed, (ch, three)
        assert three.budget == pytest.approx(j.budgets[ch], rel=SAME), ch
        assert three.ulp == pytest.approx(3.0 * j.budgets[ch], rel=1e-6, abs=0.5), ch


# -- the finite-difference checks -----------------------------------------------------------

#: a backward this far off (relative) must fail the float64 finite-difference checks: their
#: fourth-order tolerances are ~1e-9 of the result (~1e-11 for the verifier's)
OFF = 1e-8


def _bn(x: F64, gamma: F64, beta: F64) -> tuple[Any, Any]:
    """A float64 BN forward of x and the VJP of its backward."""
    _, cache = bncheck.batchnorm_forward(x, gamma, beta)

    def forward(z: Any) -> Any:
        return bncheck.batchnorm_forward(z, gamma, beta)[0]

    def vjp(u: Any) -> Any:
        return bncheck.batchnorm_backward(u, cache).dx

    return forward, vjp


@pytest.mark.parametrize("offset", [0.0, 1e2])
def test_richardson_check_directional_rejects_a_backward_1e_8_off(offset: float) -> None:
    rng = np.random.default_rng(9)
    x = offset + rng.standard_normal((16, 3))
    forward, vjp = _bn(x, rng.normal(size=3), rng.normal(size=3))
    good = check_directional(forward, vjp, x, rng=np.random.default_rng(1), method="richardson")
    assert good.passed, good
    assert good.tolerance <= OFF / 2 * abs(good.vjp), good  # ~2e-9 of |vjp|: fourth order
    bad = check_directional(
        forward, lambda u: vjp(u) * (1 + OFF), x, rng=np.random.default_rng(1), method="richardson"
    )
    assert not bad.passed, bad


def off_forward(x: Any, gamma: Any, beta: Any, eps: float) -> Any:
    return bncheck.batchnorm_forward(x, gamma, beta, eps=eps)


def off_backward(dy: Any, cache: Any) -> Any:
    """bncheck's backward with dx 1e-8 (relative) off."""
    grads = bncheck.batchnorm_backward(dy, cache)
    return grads.dx * (1 + OFF), grads.dgamma, grads.dbeta


def test_the_verifiers_finite_difference_check_rejects_a_backward_1e_8_off() -> None:
    report = verify((off_forward, off_backward), ndims=(2,), dtypes=("float64",))
    fd = next(c for c in report.checks if c.id == "backward-fd/2d/float64")
    assert fd.status == "fail", fd
    assert fd.budget is not None and fd.budget <= 1e-3 * OFF, fd  # relative, ~1e-11


@pytest.mark.parametrize("dtype", [np.float16, np.float32], ids=lambda d: d.__name__)
def test_central_differences_divide_by_the_step_actually_taken(dtype: Any) -> None:
    # x ± h rounds to the dtype; f is linear and evaluated exactly (small integers times the
    # dtype's values, summed in float64), so the difference quotient is exact only with the
    # step x_+ − x_− in the denominator, not the nominal 2h.
    x = np.random.default_rng(3).uniform(-3.0, 3.0, 8).astype(dtype)
    c = np.arange(1.0, 9.0)
    derivative = central_diff(lambda z: float(np.sum(c * z.astype(np.float64))), x)
    np.testing.assert_array_equal(derivative, c)
