"""Two conditions users create and the checks create for them: a trained layer's own reset of
its running statistics (``reset_running_stats()``: the running check follows 3 more batches
from it, ``_running_after_reset``), and an autograd layer's parameters frozen
(``requires_grad_(False)``: the identities check judges dx again, ``_frozen_edges``). Each is
driven here by a fake target process, whose right answers are written out in float64; and the
two adapter ops behind them (``LayerDriver.freeze`` and ``reset_running``) on their boundaries.
The planted mistakes are those of tests/impls/heldout20 rows 6 and 9."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

from bncheck.check import CheckResult
from bncheck.check.strategies import BNCase
from bncheck.exceptions import TargetError
from tests.frameworks import needs
from tests.internals import frozen_edges, judge_running, layer_driver, running_after_reset

C = 3
PASSED_ID = "running/2d/float64"


class ResettingTarget:
    """A layer of PyTorch's cumulative convention (momentum None: the batch's weight is
    1/(t + 1), unbiased variance) with a reset; ``keep_count``: the reset leaves the counter
    (heldout20 row 6), ``reset_var``: the variance it resets to."""

    def __init__(self, keep_count: bool = False, reset_var: float = 1.0, has_reset: bool = True):
        self.keep_count, self.reset_var, self.has_reset = keep_count, reset_var, has_reset
        self.mean, self.var, self.count = np.full(C, 0.4), np.full(C, 1.7), 6
        self.resets = 0

    def call(self, op: str, *args: Any, names: Any = ()) -> tuple[Any, list[str]]:
        if op == "reset_running":
            if not self.has_reset:
                raise TargetError("reset_running raised AttributeError: no reset_running_stats()")
            self.resets += 1
            self.mean, self.var = np.zeros(C), np.full(C, self.reset_var)
            self.count = self.count if self.keep_count else 0
            return None, []
        if op == "state":
            return {"running_mean": self.mean.copy(), "running_var": self.var.copy()}, []
        assert op == "forward" and args[1] is True
        x = np.asarray(args[0], np.float64)
        self.count += 1
        a = 1.0 / self.count
        self.mean = (1 - a) * self.mean + a * x.mean(axis=0)
        self.var = (1 - a) * self.var + a * x.var(axis=0, ddof=1)
        return x, []


def reset_run(target: ResettingTarget) -> Any:
    batches = [np.random.default_rng(k).normal(3.0, 2.0, size=(16, C)) for k in range(3)]
    judge = functools.partial(
        judge_running,
        PASSED_ID,
        m=16,
        momentum=None,
        declared="torch",
        eps=1e-5,
        input_dtype=np.dtype(np.float64),
        statistics="batch",
        held=("cumulative", True),
    )
    passed = _passed()
    s0 = {"running_mean": np.zeros(C), "running_var": np.ones(C)}
    return running_after_reset(target, passed, s0, C, batches, judge)


def _passed() -> CheckResult:
    return CheckResult(PASSED_ID, "pass", message="12 training batches followed")


def test_a_reset_that_starts_afresh_passes_and_says_it_was_followed() -> None:
    target = ResettingTarget()
    result = reset_run(target)
    assert target.resets == 1
    assert result.status == "pass", result.message
    assert result.message == "12 training batches followed; 3 more after reset_running_stats()"


def test_a_reset_that_keeps_the_cumulative_counter_fails() -> None:
    result = reset_run(ResettingTarget(keep_count=True))
    assert result.status == "fail"
    assert result.message.startswith("after reset_running_stats(), the running statistics")


def test_a_reset_to_other_statistics_than_a_new_instances_fails_and_shows_them() -> None:
    result = reset_run(ResettingTarget(reset_var=0.0))
    assert result.status == "fail"
    assert "other running statistics than a new instance starts with" in result.message
    assert "[0. 0. 0.]" in result.message


def test_a_layer_without_a_reset_keeps_the_main_sequences_verdict() -> None:
    target = ResettingTarget(has_reset=False)
    result = reset_run(target)
    assert result.status == "pass" and result.message == "12 training batches followed"


# -- frozen parameters ---------------------------------------------------------------------------


def bn_grads(x: np.ndarray, gamma: np.ndarray, dy: np.ndarray, eps: float) -> tuple[Any, ...]:
    mu, var = x.mean(axis=0), x.var(axis=0)
    inv = 1.0 / np.sqrt(var + eps)
    x_hat = (x - mu) * inv
    dgamma, dbeta = (dy * x_hat).sum(axis=0), dy.sum(axis=0)
    dx = gamma * inv * (dy - dbeta / len(x) - x_hat * dgamma / len(x))
    return x_hat, dx, dgamma, dbeta


class FreezableTarget:
    """An autograd-like layer; ``reuse``: its backward reuses dgamma and dbeta inside dx and
    puts 0 for one that is frozen (heldout20 row 9); ``freezable`` False: a layer with a
    backward of its own, which answers ``freeze`` as a target process does without it."""

    def __init__(self, reuse: bool = False, freezable: bool = True) -> None:
        self.reuse, self.freezable = reuse, freezable
        self.frozen: set[str] = set()
        self.frozen_runs = 0

    def call(self, op: str, *args: Any, names: Any = ()) -> tuple[Any, list[str]]:
        if op == "new":
            self.frozen = set()
            return {}, []
        if op == "freeze":
            if not self.freezable:
                raise TargetError("freeze raised AttributeError: not an autograd layer")
            self.frozen = set(args[0])
            self.frozen_runs += 1
            return None, []
        if op == "set_params":
            self.gamma, self.beta = (np.asarray(a, np.float64) for a in args)
            return None, []
        if op == "state":
            return {"gamma": self.gamma.copy(), "beta": self.beta.copy(), "eps": 1e-5}, []
        if op == "forward":
            self.x = np.asarray(args[0], np.float64)
            x_hat = bn_grads(self.x, self.gamma, self.x, 1e-5)[0]
            return self.gamma * x_hat + self.beta, []
        assert op == "backward"
        dy = np.asarray(args[0], np.float64)
        x_hat, dx, dgamma, dbeta = bn_grads(self.x, self.gamma, dy, 1e-5)
        if self.reuse:
            sg = 0.0 * dgamma if "gamma" in self.frozen else dgamma
            sb = 0.0 * dbeta if "beta" in self.frozen else dbeta
            inv = 1.0 / np.sqrt(self.x.var(axis=0) + 1e-5)
            dx = self.gamma * inv * (dy - sb / len(dy) - x_hat * sg / len(dy))
        return (
            dx,
            None if "gamma" in self.frozen else dgamma,
            None if "beta" in self.frozen else dbeta,
        ), []


def frozen_case() -> BNCase:
    rng = np.random.default_rng(5)
    return BNCase(
        rng.normal(2.0, 3.0, size=(12, C)),
        np.array([1.5, -0.7, 2.0]),
        np.array([0.3, -1.2, 0.8]),
        rng.normal(size=(12, C)),
        1e-5,
        1,
        "test",
    )


def test_a_backward_right_whichever_parameter_is_frozen_passes() -> None:
    target = FreezableTarget()
    assert frozen_edges(target, frozen_case()) == []
    assert target.frozen_runs == 3  # the probe, then gamma, then beta


def test_a_backward_that_drops_a_frozen_parameters_path_from_dx_fails_for_each() -> None:
    broken = frozen_edges(FreezableTarget(reuse=True), frozen_case())
    assert broken is not None and len(broken) == 2
    assert broken[0].startswith("with gamma frozen (requires_grad False), dx off by")
    assert broken[1].startswith("with beta frozen (requires_grad False), dx off by")


def test_a_layer_that_cannot_be_frozen_is_not_asked() -> None:
    target = FreezableTarget(freezable=False)
    assert frozen_edges(target, frozen_case()) is None


# -- the two ops ---------------------------------------------------------------------------------


class PlainLayer:
    def __init__(self, resettable: bool) -> None:
        self.gamma, self.beta = np.ones(C), np.zeros(C)
        self.running_mean, self.running_var = np.full(C, 0.5), np.full(C, 2.0)
        if resettable:
            self.reset_running_stats = self._reset

    def _reset(self) -> None:
        self.running_mean[:], self.running_var[:] = 0.0, 1.0


def driver_of(obj: Any, running: bool = True) -> Any:
    driver = layer_driver(None, "PlainLayer", instance=obj)
    driver.obj = obj
    driver.running = (object(), object()) if running else None
    driver.params = (object(), object())
    return driver


def test_reset_running_calls_the_layers_own_reset() -> None:
    layer = PlainLayer(resettable=True)
    driver_of(layer).reset_running()
    assert np.array_equal(layer.running_var, np.ones(C))


@pytest.mark.parametrize(("resettable", "running"), [(False, True), (True, False)])
def test_reset_running_does_not_apply_without_a_reset_or_without_running_statistics(
    resettable: bool, running: bool
) -> None:
    layer = PlainLayer(resettable)
    with pytest.raises(AttributeError, match="reset_running_stats"):
        driver_of(layer, running).reset_running()
    assert np.array_equal(layer.running_var, np.full(C, 2.0))  # nothing changed


def test_freeze_does_not_apply_to_a_layer_with_a_backward_of_its_own() -> None:
    driver = driver_of(PlainLayer(True))
    with pytest.raises(AttributeError, match="autograd layers only"):
        driver.freeze(["gamma"])
    assert driver.frozen == frozenset()


@needs("torch")
def test_freeze_turns_off_the_named_tensors_gradient_until_the_next_instance() -> None:
    import torch

    class TensorLayer:
        def __init__(self) -> None:
            self.weight = torch.ones(C, requires_grad=True)
            self.bias = torch.zeros(C, requires_grad=True)

    class Slot:
        def __init__(self, name: str) -> None:
            self.name = name

        def get(self, obj: Any) -> Any:
            return getattr(obj, self.name)

        def label(self) -> str:
            return self.name

    layer = TensorLayer()
    driver = driver_of(layer)
    driver.autograd = True
    driver.params = (Slot("weight"), Slot("bias"))
    driver.freeze(["gamma", "unknown"])
    assert driver.frozen == frozenset({"gamma"})
    assert not layer.weight.requires_grad and layer.bias.requires_grad
