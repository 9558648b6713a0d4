"""The eval checks (``bncheck.check._verify.checks.running.check_eval``), driven by a fake target
process: every branch of the check (state that is not C floats, an output of the wrong shape,
running statistics that are not finite, a float16 statistic that overflowed, a pass, an eval
that changes state or does not repeat), each judged on both of its check ids.

The fake target computes eval-mode BN in float64 from its own running statistics,
gamma·(x − running_mean)/sqrt(running_var + eps) + beta, written out here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bncheck.exceptions import TargetError
from tests.internals import check_eval

C = 3
SHAPE = (8, C)
IDS = ["eval/2d/float64", "eval-state/2d/float64"]


class FakeTarget:
    """Answers ``state`` and ``forward`` as a target process does, returning (value, notes)."""

    def __init__(self, dtype: str = "float64", **state: Any) -> None:
        self.dtype = dtype
        self.state: dict[str, Any] = {
            "running_mean": np.array([0.1, -0.2, 0.3], dtype),
            "running_var": np.array([1.0, 0.5, 2.0], dtype),
            "gamma": np.array([1.5, -0.7, 2.0], dtype),
            "beta": np.array([0.3, -1.2, 0.8], dtype),
            "eps": 1e-5,
        }
        self.state.update(state)
        self.calls = 0
        self.trained = 0
        self.loaded = 0
        self.refills = 0
        self.on_forward: Any = None

    def eval_bn(self, x: Any) -> Any:
        try:
            s = {k: np.asarray(v, np.float64) for k, v in self.state.items() if k != "eps"}
            np.broadcast_shapes(s["running_mean"].shape, s["running_var"].shape, x.shape)
        except (TypeError, ValueError):
            return np.zeros(x.shape, self.dtype)  # statistics it cannot use
        with np.errstate(all="ignore"):  # statistics a test made inf, NaN or negative
            y = s["gamma"] * (x - s["running_mean"]) / np.sqrt(s["running_var"] + 1e-5) + s["beta"]
        return y.astype(self.dtype)

    def call(self, op: str, *args: Any, names: Any = ()) -> tuple[Any, list[str]]:
        if op == "state":
            return {
                k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in self.state.items()
            }, []
        if op == "eval_grad":  # as a target process answers for an adapter without autograd
            raise TargetError("eval_grad raised AttributeError: no attribute 'eval_grad'")
        if op == "set_params":
            self.state["gamma"], self.state["beta"] = (np.array(a, self.dtype) for a in args)
            return None, []
        if op == "reload":  # as a target process answers for an adapter without it
            raise TargetError("reload raised AttributeError: no layer object to save")
        if op == "refill":  # the next input in the last one's array: a layer taking arrays
            self.refills += 1
            return None, []
        if op in ("backward", "new"):  # a layer with no backward after eval, made once
            raise TargetError(f"{op} raised NotImplementedError: not offered")
        if op == "set_running":  # statistics written as a checkpoint load writes them
            self.loaded += 1
            self.state["running_mean"], self.state["running_var"] = (
                np.array(a, self.dtype) for a in args
            )
            return None, []
        assert op == "forward"
        if args[1] is True:  # a training forward: PyTorch's update (momentum 0.1, unbiased)
            self.trained += 1
            x = np.asarray(args[0], np.float64)
            with np.errstate(all="ignore"):
                for key, batch in (("running_mean", x.mean(0)), ("running_var", x.var(0, ddof=1))):
                    old = np.asarray(self.state[key], np.float64)
                    self.state[key] = (0.9 * old + 0.1 * batch).astype(self.dtype)
            return x, []
        self.calls += 1
        if self.on_forward is not None:
            return self.on_forward(self, args[0]), []
        return self.eval_bn(np.asarray(args[0], np.float64)), []


def run(target: FakeTarget, dtype: str = "float64") -> list[Any]:
    ids = [i.replace("float64", dtype) for i in IDS]
    return check_eval(target, np.random.default_rng(0), C, SHAPE, dtype, ids)


def statuses(results: list[Any]) -> list[str]:
    return [r.status for r in results]


def test_a_correct_eval_passes_both_checks() -> None:
    target = FakeTarget()
    results = run(target)
    assert statuses(results) == ["pass", "pass"]
    assert [r.id for r in results] == IDS
    assert target.trained == 1  # the eval after one more training batch ran
    assert target.loaded == 1  # and the one after statistics were written into the layer
    assert target.refills == 1  # and the one on new values in the last input's array


def test_an_eval_stale_after_statistics_are_loaded_fails() -> None:
    """eval's inverse std refreshed only by training: right until statistics are written into
    the layer (as load_state_dict writes them), wrong after."""
    target = FakeTarget()
    cached: dict[str, Any] = {}

    def stale_var(t: FakeTarget, x: Any) -> Any:
        if t.trained or "var" not in cached:  # training refreshes it; loading does not
            cached["var"] = np.array(t.state["running_var"], np.float64)
        s = {k: np.asarray(v, np.float64) for k, v in t.state.items() if k != "eps"}
        y = s["gamma"] * (x - s["running_mean"]) / np.sqrt(cached["var"] + 1e-5) + s["beta"]
        return y.astype(t.dtype)

    target.on_forward = stale_var
    ev, st = run(target)
    assert (ev.status, st.status) == ("fail", "pass")
    assert "written into the layer" in ev.message


def test_an_eval_answering_a_seen_batch_from_a_memo_fails() -> None:
    """A memo of inputs: the batch it was trained on gets its train output back in eval."""
    target = FakeTarget()
    seen = np.random.default_rng(3).normal(size=SHAPE)

    def memo(t: FakeTarget, x: Any) -> Any:
        x = np.asarray(x, np.float64)
        if np.array_equal(x, seen):  # the train output (batch statistics), memoized
            return ((x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5)).astype(t.dtype)
        return t.eval_bn(x)

    target.on_forward = memo
    ev, _ = check_eval(target, np.random.default_rng(0), C, SHAPE, "float64", IDS, seen=seen)
    assert ev.status == "fail" and "trained on" in ev.message


def test_statistics_it_cannot_write_leave_eval_judged_by_the_other_evals() -> None:
    target = FakeTarget()
    original = target.call

    def refuse(op: str, *args: Any, names: Any = ()) -> tuple[Any, list[str]]:
        if op == "set_running":
            raise TargetError("set_running raised AttributeError: no running statistics")
        return original(op, *args, names=names)

    target.call = refuse  # type: ignore[method-assign]
    assert statuses(run(target)) == ["pass", "pass"]


def test_an_eval_that_keeps_what_it_folded_at_its_first_call_fails_as_stale() -> None:
    """eval's (scale, shift) computed at the first eval call and kept: right once, wrong after
    one more training batch and new gamma, beta (named eval-stale: it is the first eval's)."""
    target = FakeTarget()
    kept: dict[str, Any] = {}

    def folded(t: FakeTarget, x: Any) -> Any:
        if not kept:
            kept.update({k: np.array(v) for k, v in t.state.items() if k != "eps"})
        s = kept
        y = s["gamma"] * (x - s["running_mean"]) / np.sqrt(s["running_var"] + 1e-5) + s["beta"]
        return y.astype(t.dtype)

    target.on_forward = folded
    ev, st = run(target)
    assert (ev.status, st.status) == ("fail", "pass")
    # the first later eval to meet it fails it: after statistics are loaded, or after training
    assert ev.diagnosis == ["eval-stale"], ev
    assert "written into the layer" in ev.message or "after one more training" in ev.message


def test_an_eval_wrong_after_more_training_in_another_way_fails_unnamed() -> None:
    """The later eval off in a way that is not the first eval's statistics: failed, with no
    name (an eval-stale name would be a guess)."""
    target = FakeTarget()

    def later_off(t: FakeTarget, x: Any) -> Any:
        y = t.eval_bn(np.asarray(x, np.float64))
        return y if t.trained == 0 else y + 1.0

    target.on_forward = later_off
    ev, _ = run(target)
    assert ev.status == "fail" and ev.diagnosis == []


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        pytest.param("running_mean", None, "running_mean is None", id="mean-absent"),
        pytest.param("running_var", np.ones(C + 1), "shape (4,)", id="var-C+1-values"),
        pytest.param("running_var", np.ones(C, np.int64), "3 float values", id="var-ints"),
        pytest.param("running_mean", "zeros", "'zeros'", id="mean-a-string"),
    ],
)
def test_running_statistics_that_are_not_c_floats_fail_both_checks(
    key: str, value: Any, message: str
) -> None:
    results = run(FakeTarget(**{key: value}))
    assert statuses(results) == ["fail", "fail"]
    assert all(message in r.message and key in r.message for r in results)


@pytest.mark.parametrize(
    "output",
    [
        pytest.param(lambda t, x: np.zeros((8, C + 1)), id="wrong-shape"),
        pytest.param(lambda t, x: np.zeros(SHAPE, np.int64), id="ints"),
        pytest.param(lambda t, x: [0.0] * 8, id="a-list"),
    ],
)
def test_an_eval_output_of_the_wrong_shape_or_kind_fails_both_checks(output: Any) -> None:
    target = FakeTarget()
    target.on_forward = output
    results = run(target)
    assert statuses(results) == ["fail", "fail"]
    assert all("eval forward returned" in r.message for r in results)


@pytest.mark.parametrize(
    ("key", "values"),
    [
        pytest.param("running_mean", [np.inf, 0.0, 0.0], id="mean-inf"),
        pytest.param("running_mean", [0.0, np.nan, 0.0], id="mean-nan"),
        pytest.param("running_var", [1.0, np.inf, 1.0], id="var-inf"),
        pytest.param("running_var", [1.0, 1.0, -1.0], id="var-below-minus-eps"),
        pytest.param("running_var", [1.0, 1.0, -1e-5], id="var-exactly-minus-eps"),
    ],
)
def test_running_statistics_that_are_not_finite_or_not_above_minus_eps_fail_both_checks(
    key: str, values: list[float]
) -> None:
    results = run(FakeTarget(**{key: np.array(values)}))
    assert statuses(results) == ["fail", "fail"]
    assert all("not finite, or running_var + eps <= 0" in r.message for r in results)


def test_a_float16_running_mean_that_overflowed_fails_both_checks() -> None:
    """A float16 mean of inputs near 60000 overflows (float16's largest value is 65504)."""
    with np.errstate(over="ignore"):
        mean = np.array([6e4, 6e4, 6e4], np.float16) * np.float16(2)
    assert np.isinf(mean).all()
    target = FakeTarget("float16", running_mean=mean)
    results = run(target, "float16")
    assert statuses(results) == ["fail", "fail"]
    assert all("not finite" in r.message for r in results)


def test_a_running_variance_just_above_minus_eps_is_judged() -> None:
    target = FakeTarget(running_var=np.array([1.0, 1.0, -0.5e-5]))
    target.on_forward = lambda t, x: np.zeros(SHAPE)
    results = run(target)
    assert results[0].status == "fail" and "off by" in results[0].message


def test_an_eval_that_changes_a_running_statistic_fails_eval_state_only() -> None:
    target = FakeTarget()

    def drifting(t: FakeTarget, x: Any) -> Any:
        y = t.eval_bn(np.asarray(x, np.float64))
        t.state["running_mean"] = t.state["running_mean"] + 0.01
        return y

    target.on_forward = drifting
    ev, st = run(target)
    assert (ev.status, st.status) == ("pass", "fail")
    assert "changed running_mean" in st.message and st.diagnosis == ["state-updated-in-eval"]


def test_an_eval_that_does_not_repeat_fails_eval_state() -> None:
    target = FakeTarget()
    # the second eval call differs from the first (and the later ones agree with the first)
    target.on_forward = lambda t, x: t.eval_bn(np.asarray(x, np.float64)) + 1e-3 * (t.calls == 2)
    ev, st = run(target)
    assert (ev.status, st.status) == ("pass", "fail")
    assert "second eval call" in st.message


def test_a_second_eval_call_that_raises_fails_eval_state() -> None:
    target = FakeTarget()

    def once(t: FakeTarget, x: Any) -> Any:
        if t.calls > 1:
            raise TargetError("boom")
        return t.eval_bn(np.asarray(x, np.float64))

    target.on_forward = once
    ev, st = run(target)
    assert (ev.status, st.status) == ("pass", "fail")
    assert "a second eval call failed: boom" in st.message


def test_a_wrong_eval_output_fails_eval_with_its_diagnosis() -> None:
    target = FakeTarget()
    target.on_forward = lambda t, x: np.asarray(x, np.float64) * 0 + 1.0  # a constant
    ev, st = run(target)
    assert ev.status == "fail" and ev.worst is not None and ev.worst > ev.budget
    assert st.status == "pass"  # wrong, but the same every time and changing nothing
