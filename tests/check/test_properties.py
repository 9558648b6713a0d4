"""Cross-implementation properties: bncheck vs the generated reference vs finite differences vs
the exact truth, and the identities of docs/design.md (numerics policy) not covered in
test_batchnorm.py.

Tolerances: the derived budgets of bncheck.check.tolerances (a correct plain float64 BN passes them;
all three implementations here are at least that good), the error estimates of
bncheck.check.finite_diff, and for the identities the bounds derived next to each test.
"""

from __future__ import annotations

from typing import Any

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import bncheck
from bncheck.bn.running import merge_shards
from bncheck.check.conditions import channel_condition, output_condition
from bncheck.check.finite_diff import RICHARDSON_STEPS
from bncheck.check.gradient_check import check_directional, complex_batchnorm_forward
from bncheck.check.metrics import compare
from bncheck.check.strategies import BNCase, bn_cases
from bncheck.check.tolerances import TOLERANCES, error_budget
from bncheck.check.truth import exact_batchnorm
from tests.plain_bn import plain_bn

generated = pytest.importorskip("bncheck.check.reference")

U = TOLERANCES["float64"].unit_roundoff
F64 = np.dtype(np.float64)
OUTPUTS = ("y", "dx", "dgamma", "dbeta")


def as_2d(case: BNCase) -> BNCase:
    """The same case as (m, C) with channels last (the generated reference's layout)."""
    ax = case.axis % case.x.ndim

    def cols(a: np.ndarray) -> np.ndarray:
        moved = np.moveaxis(a, ax, -1)
        return np.ascontiguousarray(moved.reshape(-1, moved.shape[-1]))

    return case._replace(x=cols(case.x), dy=cols(case.dy), axis=1)


def truth_of(case: BNCase) -> dict[str, Any]:
    t = exact_batchnorm(case.x, case.gamma, case.beta, case.dy, eps=case.eps, axis=case.axis)
    return {"y": t.y, "dx": t.dx, "dgamma": t.dgamma, "dbeta": t.dbeta}


def assert_within_budget(name: str, outputs: dict[str, Any], case: BNCase, truth: Any) -> None:
    for out in OUTPUTS:
        cmp = compare(
            outputs[out], truth[out], out, F64, x=case.x, eps=case.eps, axis=case.axis, dy=case.dy
        )
        assert cmp.passed, f"{name} {out} ({case.regime}): {cmp}"


@given(bn_cases(dtypes=(np.float64,), max_ndim=4, affine=True))
def test_bncheck_the_generated_reference_and_the_exact_truth_agree(case: BNCase) -> None:
    c2 = as_2d(case)
    truth = truth_of(c2)
    y, cache = bncheck.batchnorm_forward(c2.x, c2.gamma, c2.beta, eps=c2.eps, axis=1)
    dx, dgamma, dbeta = bncheck.batchnorm_backward(c2.dy, cache)
    mine = {"y": y, "dx": dx, "dgamma": dgamma, "dbeta": dbeta}
    z = generated.forward(c2.x, c2.gamma, c2.beta, c2.eps)
    gdx, gdgamma, gdbeta = generated.backward(c2.dy, c2.x, c2.gamma, c2.eps)
    theirs = {"y": z, "dx": gdx, "dgamma": gdgamma, "dbeta": gdbeta}
    assert_within_budget("bncheck", mine, c2, truth)
    assert_within_budget("generated", theirs, c2, truth)


def pack(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.concatenate([x.ravel(), g, b])


@given(bn_cases(dtypes=(np.float64,), max_ndim=4, affine=True), st.integers(0, 2**32 - 1))
def test_the_backward_agrees_with_differences_of_the_forward_in_x_gamma_and_beta(
    case: BNCase, seed: int
) -> None:
    # theta = (x, gamma, beta); <u, J v> by the complex step and by Richardson against
    # <(dx, dgamma, dbeta), v> from bncheck's backward, u and v random.
    x, ax, eps = case.x, case.axis, case.eps
    c = x.shape[ax]
    n = x.size
    assert case.gamma is not None and case.beta is not None

    def split(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return theta[:n].reshape(x.shape), theta[n : n + c], theta[n + c :]

    def forward(theta: np.ndarray) -> np.ndarray:
        xs, g, b = split(theta)
        if np.iscomplexobj(theta):
            return complex_batchnorm_forward(xs, g, b, eps=eps, axis=ax)
        return bncheck.batchnorm_forward(xs, g, b, eps=eps, axis=ax)[0]

    _, cache = bncheck.batchnorm_forward(x, case.gamma, case.beta, eps=eps, axis=ax)

    def vjp(u: np.ndarray) -> np.ndarray:
        grads = bncheck.batchnorm_backward(u, cache)
        assert grads.dgamma is not None and grads.dbeta is not None
        return pack(grads.dx, grads.dgamma, grads.dbeta)

    theta = pack(x, case.gamma, case.beta)
    # normwise relative error of the forward and of the VJP: the larger derived float64
    # budget (bncheck.check.tolerances) of the outputs, whose cancellations the complex step shares
    ks = channel_condition(x, eps, ax)
    noise = U * max(
        error_budget(out, F64, m=case.m, condition=float(k), shift_condition=float(kk))
        for out in OUTPUTS
        for k, kk in zip(output_condition(out, x, eps, ax, case.dy), ks, strict=True)
    )
    # Richardson's step on the scale over which BN varies: the smallest sqrt(var + eps)
    xc = np.moveaxis(x, ax, -1).reshape(-1, c)
    scale = float(np.sqrt(xc.var(axis=0) + eps).min())
    for method, h in [("complex", None), ("richardson", RICHARDSON_STEPS[F64] * scale / 4)]:
        r = check_directional(
            forward, vjp, theta, rng=np.random.default_rng(seed), method=method, h=h, noise=noise
        )
        assert r.passed, f"{case.regime}: {r}"


def mp_batchnorm_loss(
    xs: list[Any], g: Any, b: Any, dy: list[Any], eps: Any
) -> tuple[Any, Any, list[Any]]:
    """J = Σ dy·z for one channel in mpmath; returns J, var, n."""
    m = len(xs)
    mu = mpmath.fsum(xs) / m
    var = mpmath.fsum((v - mu) ** 2 for v in xs) / m
    n = [(v - mu) / mpmath.sqrt(var + eps) for v in xs]
    return mpmath.fsum(d * (g * ni + b) for d, ni in zip(dy, n, strict=True)), var, n


@given(st.integers(0, 2**32 - 1), st.integers(2, 6), st.sampled_from([1e-5, 1e-2, 1.0]))
def test_design_identities_hold_for_gradients_taken_numerically_in_50_digits(
    seed: int, m: int, eps_f: float
) -> None:
    # dx by mpmath's own high-precision differentiation of J (no hand-derived formula), then
    #   Σ dx_i = 0,  Σ dx_i·n_i = gamma·eps·Σ(dy·n)/(var + eps)^(3/2),
    #   dbeta = Σ dy,  dgamma = Σ dy·n.
    rng = np.random.default_rng(seed)
    with mpmath.workdps(50):
        xs = [mpmath.mpf(float(v)) for v in rng.normal(1.0, 0.3, m)]
        dy = [mpmath.mpf(float(v)) for v in rng.standard_normal(m)]
        g, b, eps = (mpmath.mpf(float(v)) for v in (*rng.normal(size=2), eps_f))
        _, var, n = mp_batchnorm_loss(xs, g, b, dy, eps)

        def loss_at(i: int, t: Any) -> Any:
            return mp_batchnorm_loss([*xs[:i], t, *xs[i + 1 :]], g, b, dy, eps)[0]

        dx = [mpmath.diff(lambda t, i=i: loss_at(i, t), xs[i]) for i in range(m)]
        dgamma = mpmath.diff(lambda t: mp_batchnorm_loss(xs, t, b, dy, eps)[0], g)
        dbeta = mpmath.diff(lambda t: mp_batchnorm_loss(xs, g, t, dy, eps)[0], b)
        s2 = mpmath.fsum(d * ni for d, ni in zip(dy, n, strict=True))
        tol = mpmath.mpf(10) ** -30 * (1 + mpmath.fsum(abs(v) for v in dx))
        assert abs(mpmath.fsum(dx)) <= tol
        lhs = mpmath.fsum(d * ni for d, ni in zip(dx, n, strict=True))
        rhs = g * eps * s2 / (var + eps) ** mpmath.mpf(1.5)
        assert abs(lhs - rhs) <= tol
        assert abs(dbeta - mpmath.fsum(dy)) <= tol
        assert abs(dgamma - s2) <= tol


def dx_dot_n_residual(
    x: np.ndarray, dx: np.ndarray, g: np.ndarray, dy: np.ndarray, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """|Σ dx·n − gamma·eps·S2/(var + eps)^(3/2)| per channel, against its bound, for a
    computed dx and exact n, S2, var, on (m, C) float64 arrays.

    Bound: Σ|dx_i − dx*_i|·|n_i| <= (budget_dx·spacing(max|dx*|))·Σ|n_i| per channel (the
    derived budget), plus the rounding of n and of the sum ((m + 2)·u·Σ|dx·n|) and of the
    right-hand side (8u·|rhs|).
    """
    t = exact_batchnorm(x, np.ones(x.shape[1]), None, dy, eps=eps, axis=1)
    n, s2, var = t.y, t.dgamma, t.var
    assert t.dx is not None and s2 is not None
    dx_true = t.dx * g  # dx is linear in gamma: exact up to one rounding, covered by 8u
    m = x.shape[0]
    lhs = np.array([np.dot(dx[:, j], n[:, j]) for j in range(x.shape[1])])
    rhs = g * eps * s2 / (var + eps) ** 1.5
    k_dx = output_condition("dx", x, eps, 1, dy)
    k2 = channel_condition(x, eps, 1)
    budget = np.array(
        [
            error_budget("dx", F64, m=m, condition=float(a), shift_condition=float(b)) + 1
            for a, b in zip(k_dx, k2, strict=True)
        ]
    )
    err_dx = budget * np.spacing(np.abs(dx_true).max(axis=0))
    bound = (
        err_dx * np.abs(n).sum(axis=0)
        + (m + 2) * U * np.abs(dx * n).sum(axis=0)
        + 8 * U * (np.abs(rhs) + np.abs(dx_true * n).sum(axis=0))
    )
    return np.abs(lhs - rhs), bound


@given(bn_cases(dtypes=(np.float64,), min_ndim=2, max_ndim=2, affine=True))
def test_bncheck_satisfies_sum_dx_n_equals_gamma_eps_dgamma_over_s_cubed(case: BNCase) -> None:
    c2 = as_2d(case)
    assert c2.gamma is not None
    _, cache = bncheck.batchnorm_forward(c2.x, c2.gamma, c2.beta, eps=c2.eps, axis=1)
    dx = bncheck.batchnorm_backward(c2.dy, cache).dx
    resid, bound = dx_dot_n_residual(c2.x, dx, c2.gamma.astype(np.float64), c2.dy, c2.eps)
    assert np.all(resid <= bound), (resid, bound)


@pytest.mark.parametrize("mistake", [{}, {"eps_twice": True}, {"var_divisor": "m-1"}])
def test_the_dx_n_identity_catches_small_mistakes(mistake: dict[str, Any]) -> None:
    rng = np.random.default_rng(11)
    x, dy = rng.normal(2.0, 1.0, (50, 3)), rng.standard_normal((50, 3))
    g, b = rng.normal(size=3), rng.normal(size=3)
    dx = plain_bn(x, g, b, dy, 1e-3, 1, **mistake).dx
    resid, bound = dx_dot_n_residual(x, dx, g, dy, 1e-3)
    assert np.all(resid <= bound) == (not mistake)


@given(bn_cases(dtypes=(np.float32, np.float64), affine=True), st.integers(-20, 20))
def test_scaling_x_by_a_and_eps_by_a_squared_leaves_bn_unchanged(case: BNCase, k: int) -> None:
    # a = 2^k: a·x and a²·eps are exact and every operation of BN scales exactly, so y, dgamma
    # and dbeta are bit-identical and dx scales by exactly 1/a (no under/overflow at |k| <= 20
    # for these inputs in float64; float32 keeps the exponents in range as well).
    a = 2.0**k
    dt = case.x.dtype.type
    run = [
        bncheck.batchnorm_forward(xs, case.gamma, case.beta, eps=e, axis=case.axis)
        for xs, e in ((case.x, case.eps), (case.x * dt(a), case.eps * a * a))
    ]
    g0, g1 = (bncheck.batchnorm_backward(case.dy, cache) for _, cache in run)
    np.testing.assert_array_equal(run[0][0], run[1][0])
    np.testing.assert_array_equal(g0.dx, g1.dx * dt(a))
    np.testing.assert_array_equal(g0.dgamma, g1.dgamma)
    np.testing.assert_array_equal(g0.dbeta, g1.dbeta)


@given(
    st.lists(st.integers(2, 30), min_size=2, max_size=5),
    st.integers(0, 2**32 - 1),
    st.sampled_from([0.0, 1e2, 1e4]),
)
def test_bn_with_count_merged_shard_statistics_equals_bn_of_the_whole_batch(
    sizes: list[int], seed: int, offset: float
) -> None:
    # "sync BN": each shard reports (count, mean, M2); BN of the whole batch with the merged
    # statistics equals train-mode BN of the concatenated batch.
    rng = np.random.default_rng(seed)
    shards = [offset + rng.standard_normal((s, 2)) for s in sizes]
    whole = np.concatenate(shards)
    g, b = rng.normal(size=2), rng.normal(size=2)
    total, mean, m2 = merge_shards(
        sizes,
        np.array([s.mean(0) for s in shards]),
        np.array([((s - s.mean(0)) ** 2).sum(0) for s in shards]),
    )
    eps = 1e-5
    y_sync = bncheck.batchnorm_inference(whole, g, b, mean, m2 / total, eps=eps)
    truth = exact_batchnorm(whole, g, b, eps=eps).y
    # Merged statistics err by (4n + 6S)·u·scale (tests/bn/test_running.py) with scale =
    # |mean| + 4·sigma: y then errs by |gamma|·(Δmean + |x − mu|·Δvar/(2(var + eps)))/s.
    n = total
    xc = whole - whole.mean(0)
    var = (xc**2).mean(0)
    s = np.sqrt(var + eps)
    sc = np.abs(mean) + 4 * np.sqrt(var)
    k = (4 * n + 6 * len(sizes)) * U
    d_mean, d_var = k * sc, k * sc**2
    bound = np.abs(g) * (d_mean + np.abs(xc).max(0) * d_var / (2 * s**2)) / s
    bound += 8 * U * (np.abs(g) * np.abs(whole - mean).max(0) / s + np.abs(b))
    assert np.all(np.abs(y_sync - truth).max(0) <= bound)
    y_whole = bncheck.batchnorm_forward(whole, g, b, eps=eps)[0]
    assert compare(y_whole, truth, "y", F64, x=whole, eps=eps, axis=1).passed
