"""The diagnosis fits (``bncheck.check._verify.diagnosis.fits``), tested directly: outputs are
built from the closed forms the fits are defined by (module docstring), with chosen
coefficients, and each must be named as exactly the mistake those coefficients mean, per
channel in every channel; coefficients that differ between channels, or several models the
output matches alike, name nothing.

The closed forms, per channel of m values (x_hat = (x − mu)·inv, inv = 1/sqrt(var + eps)):

- y = s·(x − mu) + t, with s = gamma/D for the denominator D a mistake uses;
- dx = c·gamma·inv·(dy − a·mean(dy) − b·x_hat·mean(dy·x_hat)): c = a = b = 1 is correct;
- dgamma = Σ dy·x_hat and dbeta = Σ dy, or what a mistake puts there.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.internals import fits

M, C = 16, 3
EPS = 1e-5
GAMMA = np.array([1.5, -0.7, 2.0])
BETA = np.array([0.3, -1.2, 0.8])


class Case:
    """An (M, C) batch and the per-channel statistics, computed here (not by bncheck)."""

    def __init__(self, scale: float = 1.0, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        self.x = rng.normal(0.5, scale, size=(M, C))
        self.dy = rng.normal(0.2, 1.0, size=(M, C))
        self.mu = self.x.mean(axis=0)
        self.xc = self.x - self.mu
        self.var = (self.xc**2).mean(axis=0)
        self.inv = 1.0 / np.sqrt(self.var + EPS)
        self.x_hat = self.xc * self.inv
        self.s1 = self.dy.sum(axis=0)
        self.s2 = (self.dy * self.x_hat).sum(axis=0)

    def dx(self, c: Any = 1.0, a: Any = 1.0, b: Any = 1.0) -> Any:
        return (
            np.asarray(c)
            * GAMMA
            * self.inv
            * (self.dy - np.asarray(a) * self.s1 / M - np.asarray(b) * self.x_hat * self.s2 / M)
        )

    def backward(self, dx: Any, dgamma: Any = None, dbeta: Any = None, failed: Any = None) -> Any:
        dgamma = self.s2 if dgamma is None else dgamma
        dbeta = self.s1 if dbeta is None else dbeta
        return fits.diagnose_backward(
            self.x, GAMMA, BETA, EPS, self.dy, dx, dgamma, dbeta, failed or ["dx"]
        )


CASE = Case()
SUM_DMU = 1.0 - 1.0 / M  # dx = g·inv·(dy − dy/m − x_hat·S2/m): c = 1 − 1/m, a = 0, b = 1/c

# -- dx: each coefficient, each value ---------------------------------------------------------

DX = [
    pytest.param(1.0, 1.0, 1.0, [], id="correct"),
    pytest.param(-1.0, 1.0, 1.0, ["dx-sign"], id="c=-1"),
    pytest.param(1.0 / GAMMA, 1.0, 1.0, ["missing-gamma"], id="c=1/gamma"),
    pytest.param(1.0, 0.0, 1.0, ["missing-mu-path"], id="a=0"),
    pytest.param(1.0, 1.0, 0.0, ["missing-var-path"], id="b=0"),
    pytest.param(1.0, 0.0, 0.0, ["missing-mu-and-var-paths"], id="a=b=0"),
    pytest.param(-1.0, 0.0, 1.0, ["dx-sign", "missing-mu-path"], id="c=-1,a=0"),
    pytest.param(1.0 / GAMMA, 1.0, 0.0, ["missing-gamma", "missing-var-path"], id="c=1/g,b=0"),
    pytest.param(SUM_DMU, 0.0, 1.0 / SUM_DMU, ["missing-sum-dmu"], id="c=1-1/m,a=0"),
    pytest.param(1.0 + 1.0 / M, 0.0, 1.0, [], id="c=1+1/m-is-nothing"),
    pytest.param(2.0, 1.0, 1.0, [], id="c=2-is-nothing"),
    pytest.param(1.0, 0.5, 1.0, [], id="a=0.5-is-nothing"),
    pytest.param(1.0, 1.0, 1.005, [], id="b-off-by-0.5%-with-eps-negligible-is-nothing"),
]


@pytest.mark.parametrize(("c", "a", "b", "ids"), DX)
def test_the_dx_fit_names_exactly_what_its_coefficients_mean(
    c: Any, a: Any, b: Any, ids: list[str]
) -> None:
    found = CASE.backward(CASE.dx(c, a, b))
    assert found.ids == ids, found.fitted


@pytest.mark.parametrize(
    ("c", "a", "b"),
    [
        pytest.param([1.0, 1.0, -1.0], 1.0, 1.0, id="c=-1-in-one-channel"),
        pytest.param(1.0, [0.0, 0.0, 0.5], 1.0, id="a=0-in-two-channels-of-three"),
        pytest.param(1.0, [1.0, 0.0, 1.0], 1.0, id="a=0-in-one-channel"),
        pytest.param(1.0, 1.0, [0.0, 0.0, 0.5], id="b=0-in-two-channels-of-three"),
    ],
)
def test_a_coefficient_that_differs_between_channels_names_no_mistake(
    c: Any, a: Any, b: Any
) -> None:
    found = CASE.backward(CASE.dx(np.array(c), np.array(a), np.array(b)))
    assert found.ids == [], found.fitted


def test_a_mean_path_summed_over_all_channels_is_named() -> None:
    """dmu summed over every channel: each channel's intercept is −Σ_c gamma·inv·S1 / m."""
    shared = -(GAMMA * CASE.inv * CASE.s1).sum() / M
    dx = CASE.dx(1.0, 0.0, 1.0) + shared
    assert CASE.backward(dx).ids == ["dmu-sum-all-channels"]


def test_dvar_without_eps_is_named_only_where_eps_makes_its_coefficient_differ_from_1() -> None:
    tiny = Case(scale=1e-3)  # var ~ 1e-6 < eps: ((var + eps)/var)^(3/2) is about 40
    b = ((tiny.var + EPS) / tiny.var) ** 1.5
    assert np.all(b > 10)
    assert tiny.backward(tiny.dx(1.0, 1.0, b)).ids == ["dvar-without-eps"]
    wide = Case(scale=1.0)  # var ~ 1: the same mistake changes b by ~1.5e-5, within rounding
    b_wide = ((wide.var + EPS) / wide.var) ** 1.5
    assert wide.backward(wide.dx(1.0, 1.0, b_wide)).ids == []


def test_a_dx_not_of_the_fitted_form_is_unexplained() -> None:
    found = CASE.backward(CASE.dx() + 0.3 * CASE.x**2)
    assert found.ids == [] and "not of that form" in found.fitted


# -- dgamma and dbeta -------------------------------------------------------------------------

SXC = (CASE.dy * CASE.xc).sum(axis=0)
PARAMS = [
    pytest.param(CASE.s2 / M, None, ["dgamma"], ["dgamma-mean"], id="dgamma-mean"),
    pytest.param(SXC, None, ["dgamma"], ["dgamma-from-xc"], id="dgamma-from-xc"),
    pytest.param(-CASE.s2, None, ["dgamma"], ["dgamma-sign"], id="dgamma-sign"),
    pytest.param(None, CASE.s1 / M, ["dbeta"], ["dbeta-mean"], id="dbeta-mean"),
    pytest.param(None, -CASE.s1, ["dbeta"], ["dbeta-sign"], id="dbeta-sign"),
    pytest.param(CASE.s1, CASE.s2, ["dgamma", "dbeta"], ["swapped-dgamma-dbeta"], id="swapped"),
    pytest.param(2 * CASE.s2, None, ["dgamma"], [], id="dgamma-doubled-is-nothing"),
    # a size of the batch is a reading (issue 20): m·Σ dy·x_hat is dgamma scaled by m
    pytest.param(CASE.s2 * M, None, ["dgamma"], ["dgamma-scaled"], id="dgamma-times-m-is-scaled"),
]


@pytest.mark.parametrize(("dgamma", "dbeta", "failed", "ids"), PARAMS)
def test_the_parameter_gradients_are_named_by_the_sum_they_equal(
    dgamma: Any, dbeta: Any, failed: list[str], ids: list[str]
) -> None:
    found = CASE.backward(CASE.dx(), dgamma, dbeta, failed)
    assert found.ids == ids, found.fitted


def _in_channel_0(wrong: Any, right: Any) -> Any:
    return np.where(np.arange(C) == 0, wrong, right)


@pytest.mark.parametrize(
    ("dgamma", "dbeta", "failed"),
    [
        pytest.param(
            _in_channel_0(CASE.s1, CASE.s2),
            _in_channel_0(CASE.s2, CASE.s1),
            ["dgamma", "dbeta"],
            id="swapped-in-one-channel",
        ),
        pytest.param(
            _in_channel_0(SXC, CASE.s2), None, ["dgamma"], id="dgamma-from-xc-in-one-channel"
        ),
    ],
)
def test_parameter_gradients_that_match_a_mistake_in_one_channel_name_nothing(
    dgamma: Any, dbeta: Any, failed: list[str]
) -> None:
    found = CASE.backward(CASE.dx(), dgamma, dbeta, failed)
    assert found.ids == [], found.fitted


# -- the forward ------------------------------------------------------------------------------

SD = np.sqrt(CASE.var)
FORWARD = [
    pytest.param(GAMMA / np.sqrt(CASE.var + EPS), BETA, [], id="correct"),
    pytest.param(GAMMA / (SD + EPS), BETA, ["eps-outside-sqrt"], id="eps-outside-sqrt"),
    pytest.param(GAMMA / np.sqrt(CASE.var + 2 * EPS), BETA, ["eps-twice"], id="eps-twice"),
    pytest.param(GAMMA / SD, BETA, ["eps-missing"], id="eps-missing"),
    pytest.param(
        GAMMA / np.sqrt(CASE.var * M / (M - 1) + EPS), BETA, ["unbiased-normalize"], id="unbiased"
    ),
    pytest.param(1.0 / np.sqrt(CASE.var + EPS), BETA, ["missing-gamma-forward"], id="no-gamma"),
    pytest.param(GAMMA / np.sqrt(CASE.var + EPS), 0.0, ["missing-beta"], id="no-beta"),
    pytest.param(-GAMMA / np.sqrt(CASE.var + EPS), -BETA, ["y-sign"], id="y-sign"),
    pytest.param(GAMMA / SD, 0.0, ["eps-missing", "missing-beta"], id="eps-missing-and-no-beta"),
    pytest.param(1.1 * GAMMA / np.sqrt(CASE.var + EPS), BETA, [], id="a-10%-scale-is-nothing"),
]


@pytest.mark.parametrize(("s", "t", "ids"), FORWARD)
def test_the_forward_fit_names_the_denominator_and_the_affine_mistake(
    s: Any, t: Any, ids: list[str]
) -> None:
    y = s * CASE.xc + t
    assert fits.diagnose_forward(CASE.x, GAMMA, BETA, EPS, y).ids == ids


def test_a_forward_not_affine_in_x_within_a_channel_is_unexplained() -> None:
    found = fits.diagnose_forward(CASE.x, GAMMA, BETA, EPS, CASE.x**2)
    assert found.ids == [] and "not an affine function" in found.fitted


# -- eval mode --------------------------------------------------------------------------------

RM = np.array([0.1, -0.4, 2.0])
RV = np.array([0.5, 2.0, 0.05])


def eval_y(name: str) -> Any:
    x, g, b = CASE.x, GAMMA, BETA
    return {
        "correct": g * (x - RM) / np.sqrt(RV + EPS) + b,
        "eval-batch-stats": g * CASE.x_hat + b,
        "eval-drops-affine": (x - RM) / np.sqrt(RV + EPS),
        "eval-eps-outside-sqrt": g * (x - RM) / (np.sqrt(RV) + EPS) + b,
        "eval-eps-twice": g * (x - RM) / np.sqrt(RV + 2 * EPS) + b,
        "eval-eps-missing": g * (x - RM) / np.sqrt(RV) + b,
        "both": CASE.x_hat,
    }[name]


@pytest.mark.parametrize(
    ("name", "ids"),
    [
        pytest.param("correct", [], id="correct"),
        pytest.param("eval-batch-stats", ["eval-batch-stats"], id="batch-stats"),
        pytest.param("eval-drops-affine", ["eval-drops-affine"], id="drops-affine"),
        pytest.param("eval-eps-outside-sqrt", ["eval-eps-outside-sqrt"], id="eps-outside"),
        pytest.param("eval-eps-twice", ["eval-eps-twice"], id="eps-twice"),
        pytest.param("eval-eps-missing", ["eval-eps-missing"], id="eps-missing"),
        pytest.param("both", ["eval-batch-stats", "eval-drops-affine"], id="batch-and-no-affine"),
    ],
)
def test_the_eval_diagnosis_names_the_one_model_the_output_matches(
    name: str, ids: list[str]
) -> None:
    assert fits.diagnose_eval(CASE.x, GAMMA, BETA, RM, RV, EPS, eval_y(name)).ids == ids


def test_eval_models_the_output_matches_alike_name_nothing_and_say_so() -> None:
    """Running statistics equal to the batch's, gamma = 1 and beta = 0: using the batch
    statistics, dropping the affine step and both give the same output; none is named."""
    found = fits.diagnose_eval(CASE.x, None, None, CASE.mu, CASE.var, EPS, CASE.x_hat)
    assert found.ids == []
    assert "eval-batch-stats" in found.fitted and "eval-drops-affine" in found.fitted
    assert "alike" in found.fitted
