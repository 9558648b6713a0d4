"""Error budgets on degenerate channels (issue 12, row 11): finite and meaningful in every dtype.

A constant channel has x_hat = 0: y = beta and dgamma = 0 exactly, whatever gamma. The budgets
used to divide by a lower bound of the output's scale that vanishes there (y: |gamma|·nu/2,
dgamma: max|S2|), giving inf (a wrong y passed) or nan (bncheck's own float16 BN failed with
"dgamma: 0 ulp > budget nan").
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings

import bncheck
from bncheck.check.metrics import compare
from bncheck.check.strategies import BNCase, bn_cases
from bncheck.check.truth import exact_batchnorm
from tests.plain_bn import OUTPUTS, plain_bn

DTYPES = (np.float16, np.float32, np.float64)


def _truth(case: BNCase) -> dict[str, Any]:
    t = exact_batchnorm(case.x, case.gamma, case.beta, case.dy, eps=case.eps, axis=case.axis)
    return {"y": t.y, "dx": t.dx, "dgamma": t.dgamma, "dbeta": t.dbeta}


def _judge(case: BNCase, outputs: dict[str, Any], *, gamma: bool = True) -> dict[str, Any]:
    truth = _truth(case)
    return {
        n: compare(
            outputs[n],
            truth[n],
            n,
            case.x.dtype,
            x=case.x,
            eps=case.eps,
            axis=case.axis,
            dy=case.dy,
            gamma=case.gamma if gamma else None,
        )
        for n in outputs
    }


def constant_case(dtype: Any, *, beta0: float = 1.0, seed: int = 0) -> BNCase:
    """Channel 0 constant (1.5), channels 1 and 2 ordinary; dy > 0 in channel 0."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((8, 3))
    x[:, 0] = 1.5
    dy = rng.standard_normal((8, 3))
    dy[:, 0] = rng.uniform(0.5, 1.5, 8)
    gamma = np.array([1.25, -0.75, 1.5])
    beta = np.array([beta0, 0.5, -0.25])
    cast = [a.astype(dtype) for a in (x, gamma, beta, dy)]
    return BNCase(cast[0], cast[1], cast[2], cast[3], 1e-2, 1, "constant channel")


def _outputs(case: BNCase, impl: str = "plain") -> dict[str, Any]:
    if impl == "bncheck":
        y, cache = bncheck.batchnorm_forward(case.x, case.gamma, case.beta, eps=case.eps)
        dx, dgamma, dbeta = bncheck.batchnorm_backward(case.dy, cache)
        return {"y": y, "dx": dx, "dgamma": dgamma, "dbeta": dbeta}
    out = plain_bn(case.x, case.gamma, case.beta, case.dy, case.eps, case.axis)
    return {n: getattr(out, n) for n in OUTPUTS}


@pytest.mark.parametrize("impl", ["plain", "bncheck"])
@pytest.mark.parametrize("beta0", [1.0, 0.0], ids=["beta", "beta=0"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_a_correct_bn_passes_a_constant_channel_with_finite_budgets(
    dtype: Any, beta0: float, impl: str
) -> None:
    case = constant_case(dtype, beta0=beta0)
    for name, cmp in _judge(case, _outputs(case, impl)).items():
        assert math.isfinite(cmp.budget), (name, cmp)
        assert cmp.passed, f"{name}: {cmp.ulp:.3g} ulp > budget {cmp.budget:.3g}"


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_a_wrong_y_on_a_constant_channel_fails(dtype: Any) -> None:
    case = constant_case(dtype)
    out = _outputs(case)
    y = out["y"].copy()
    y[:, 0] = 0  # beta forgotten: on a constant channel y must be beta
    cmp = _judge(case, {"y": y})["y"]
    assert not cmp.passed and math.isfinite(cmp.budget) and cmp.worst_index[1] == 0
    # off by about a hundred times the bound on the mean's error (|gamma|·g·u·kappa_s): fails
    case0 = constant_case(dtype, beta0=0.0)
    y0 = _outputs(case0)["y"].copy()
    y0[:, 0] = np.asarray(case0.gamma[0], np.float64) * 100 * 20 * 2.0 ** -np.finfo(dtype).nmant
    cmp0 = _judge(case0, {"y": y0})["y"]
    assert not cmp0.passed and math.isfinite(cmp0.budget) and cmp0.worst_index[1] == 0


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_a_wrong_dgamma_on_a_constant_channel_fails(dtype: Any) -> None:
    case = constant_case(dtype)
    out = _outputs(case)
    dgamma = out["dgamma"].astype(np.float64)
    dgamma[0] = float(np.sum(case.dy[:, 0], dtype=np.float64))  # Σ dy: x_hat forgotten
    cmp = _judge(case, {"dgamma": dgamma.astype(dtype)})["dgamma"]
    assert not cmp.passed and math.isfinite(cmp.budget)
    # a single-channel constant case: the whole true dgamma is 0
    one = case._replace(
        x=case.x[:, :1], dy=case.dy[:, :1], gamma=case.gamma[:1], beta=case.beta[:1]
    )
    right = _judge(one, _outputs(one))["dgamma"]
    assert right.passed and math.isfinite(right.budget) and right.budget < 100
    wrong = _judge(one, {"dgamma": dgamma[:1].astype(dtype)})["dgamma"]
    assert not wrong.passed and math.isfinite(wrong.budget)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_a_zero_dx_channel_has_a_finite_budget(dtype: Any) -> None:
    # constant x and constant dy in channel 0: the true dx is exactly 0 there (P = 0)
    case = constant_case(dtype)
    dy = case.dy.copy()
    dy[:, 0] = dtype(0.75)
    case = case._replace(dy=dy)
    out = _outputs(case)
    cmp = _judge(case, {"dx": out["dx"]})["dx"]
    assert cmp.passed and math.isfinite(cmp.budget)
    wrong = out["dx"].copy()
    wrong[:, 0] = case.gamma[0]  # dx of order gamma where it must be ~0
    bad = _judge(case, {"dx": wrong})["dx"]
    assert not bad.passed and math.isfinite(bad.budget)


def test_the_float16_counterexample_of_the_issue_passes() -> None:
    # found by `bncheck verify bncheck --dtypes float16`: "dgamma: 0 ulp > budget nan"
    f16 = np.float16
    case = BNCase(
        np.array([[10000.0], [10000.0]], f16),
        np.array([0.9970703125], f16),
        np.array([-63.96875], f16),
        np.array([[-0.3544921875], [-0.9755859375]], f16),
        0.1,
        1,
        "offset_1e4",
    )
    out = _outputs(case, "bncheck")
    for gamma in (True, False):  # dgamma and dbeta need no gamma
        for name in ("dgamma", "dbeta"):
            cmp = _judge(case, {name: out[name]}, gamma=gamma)[name]
            assert cmp.passed and math.isfinite(cmp.budget), (name, cmp)
    for name, cmp in _judge(case, out).items():
        assert cmp.passed and math.isfinite(cmp.budget), (name, cmp)


@settings(max_examples=60, deadline=None)
@given(bn_cases(dtypes=(np.float32, np.float64), max_ndim=4))
def test_with_gamma_a_plain_two_pass_bn_still_passes_in_every_regime(case: BNCase) -> None:
    # the y budget with gamma is tighter (max|y| >= |beta| too): still a bound
    out = _outputs(case)
    truth = _truth(case)
    for name, cmp in _judge(case, {n: out[n] for n in OUTPUTS if truth[n] is not None}).items():
        assert cmp.passed, f"{case.regime} {name}: {cmp.ulp:.3g} ULP > budget {cmp.budget:.3g}"


def test_bncheck_passes_its_own_verification_in_float16() -> None:
    from bncheck.check import verify

    report = verify("bncheck", dtypes=("float16",), ndims=(2,))
    assert report.passed, [(c.id, c.message) for c in report.failed]
