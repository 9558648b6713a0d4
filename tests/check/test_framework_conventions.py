"""The framework conventions verify checks as such (issue 25), without any framework: the
zero-debiased and filled running averages judged by their own convention, the fit that names a
zero-debiased average started away from 0 (Equinox's mode="batch"), float32 arithmetic named on
the running statistics, Equinox's ema-mode train step against finite differences, and the
variance the one-pass probe reads from y."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bncheck.check.finite_diff import richardson_diff
from bncheck.check.norms import BATCH_NORM
from bncheck.check.truth import exact_batchnorm
from tests.internals import debias, judge_running, mixed_train, probes

C, M = 3, 16


def _batches(n: int = 5) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.normal(3.0, 2.0, size=(M, C)) for _ in range(n)]


def _hidden(batches: list[np.ndarray], d: float, start: tuple[float, float]) -> list[Any]:
    """Independently: hidden averages from ``start``, reported divided by 1 − d^t."""
    hm, hv, out = np.full(C, start[0]), np.full(C, start[1]), []
    for t, x in enumerate(batches, start=1):
        hm = d * hm + (1 - d) * x.mean(0)
        hv = d * hv + (1 - d) * x.var(0)
        out.append((hm / (1 - d**t), hv / (1 - d**t)))
    return out


def _judge(observed: Any, batches: Any, declared: str, momentum: float = 0.99) -> Any:
    s0 = {"running_mean": np.zeros(C), "running_var": np.ones(C)}
    result, _, _ = judge_running(
        "running/2d/float64", s0, batches, observed, M, momentum, declared, 1e-5
    )
    return result


def test_a_zero_debiased_average_passes_as_such_and_fails_as_keras() -> None:
    batches = _batches()
    observed = _hidden(batches, 0.99, (0.0, 0.0))
    assert _judge(observed, batches, "zero-debiased").status == "pass"
    keras = _judge(observed, batches, "keras")
    assert keras.status == "fail" and "debias-nonzero-start" not in keras.diagnosis


def test_a_debiased_average_started_at_one_is_named_with_its_fitted_start() -> None:
    batches = _batches()
    observed = _hidden(batches, 0.99, (0.0, 1.0))
    result = _judge(observed, batches, "zero-debiased")
    assert result.status == "fail"
    assert result.diagnosis == ["debias-nonzero-start"]
    assert "variance 1 instead of 0" in result.explanation
    assert "99·start after one step" in result.explanation
    # the same start on a different decay is refitted, not assumed
    observed = _hidden(batches, 0.9, (0.0, 2.5))
    result = _judge(observed, batches, "zero-debiased", momentum=0.9)
    assert result.diagnosis == ["debias-nonzero-start"] and "variance 2.5" in result.explanation


def test_the_debias_fit_does_not_name_a_trajectory_of_another_shape() -> None:
    batches = _batches()
    observed = _hidden(batches, 0.99, (0.0, 1.0))
    observed[2] = (observed[2][0], observed[2][1] * 1.01)  # one step off the model
    result = _judge(observed, batches, "zero-debiased")
    assert result.status == "fail" and result.diagnosis == []
    assert debias.fit_debias_start(batches, observed, 1.0, False) is None  # no decay in (0, 1)


def test_a_filled_ema_passes_as_such() -> None:
    batches = _batches()
    m, v, observed = np.zeros(C), np.ones(C), []
    for t, x in enumerate(batches, start=1):
        a = 1.0 if t == 1 else 0.01
        m, v = (1 - a) * m + a * x.mean(0), (1 - a) * v + a * x.var(0)
        observed.append((m, v))
    assert _judge(observed, batches, "filled-ema").status == "pass"
    assert _judge(observed, batches, "keras").status == "fail"


def test_float32_arithmetic_is_named_on_float64_running_statistics() -> None:
    batches = _batches()
    m, v, observed = np.zeros(C, np.float32), np.ones(C, np.float32), []
    for x in batches:  # the keras update computed in float32, handed back as float64
        x32 = x.astype(np.float32)
        m = np.float32(0.99) * m + np.float32(0.01) * x32.mean(0)
        v = np.float32(0.99) * v + np.float32(0.01) * x32.var(0)
        observed.append((m.astype(np.float64), v.astype(np.float64)))
    result = _judge(observed, batches, "keras")
    assert result.status == "fail" and result.diagnosis == ["float32-arithmetic"]
    # float64 numbers off by as much are not float32 arithmetic
    shifted = [(a + 1e-9, b) for a, b in observed]
    assert "float32-arithmetic" not in _judge(shifted, batches, "keras").diagnosis


@pytest.mark.parametrize("decay", [0.0, 0.5, 0.99])
def test_the_mixed_train_step_gradients_are_the_derivatives_of_its_output(decay: float) -> None:
    rng = np.random.default_rng(1)
    x, dy = rng.normal(1.0, 2.0, size=(6, 2)), rng.normal(size=(6, 2))
    g, b = np.array([1.5, -0.5]), np.array([0.2, 0.1])
    old_m, old_v, eps = np.array([0.5, -1.0]), np.array([2.0, 0.5]), 1e-3
    out = mixed_train.mixed_train_outputs(x, g, b, dy, eps, old_m, old_v, decay)

    def loss(z: np.ndarray) -> float:
        y = mixed_train.mixed_train_outputs(z, g, b, dy, eps, old_m, old_v, decay)["y"]
        return float((y * dy).sum())

    fd = richardson_diff(loss, x)
    np.testing.assert_allclose(out["dx"], fd, rtol=1e-7, atol=1e-9)
    if decay == 0.0:  # no running share: plain BN
        truth = exact_batchnorm(x, g, b, eps=eps, spec=BATCH_NORM)
        np.testing.assert_allclose(out["y"], truth.y, rtol=1e-13, atol=1e-14)


def test_the_probe_reads_the_variance_y_was_normalized_by() -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(size=(16, C)) + 1e8
    two_pass = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5)
    one_pass_var = (x * x).mean(0) - x.mean(0) ** 2
    one_pass = (x - x.mean(0)) / np.sqrt(np.abs(one_pass_var) + 1e-5)
    true = x.var(0)
    assert np.max(np.abs(probes.variance_from_y(x, two_pass, 1e-5) - true) / true) < 1e-6
    assert np.max(np.abs(probes.variance_from_y(x, one_pass, 1e-5) - true) / true) > 1e-3
