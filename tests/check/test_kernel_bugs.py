"""The kernel-style bugs of issue 20 fail a default verify (before the kernel inputs they passed:
tests/impls/heldout/BASELINE.md, "hollow pass"), correct kernels still pass, and eval of an
autograd target is judged with gradient recording on as well as off."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bncheck.check import verify
from bncheck.check.strategies import MIXED_LAYOUTS
from bncheck.exceptions import TargetError
from tests.frameworks import needs
from tests.internals import check_eval
from tests.paths import IMPLS

HELDOUT = IMPLS / "heldout"


def _families(report: Any) -> set[str]:
    return {c.id.split("/")[0] for c in report.failed}


def test_a_block_merge_wrong_only_past_4096_values_per_channel_fails() -> None:
    report = verify(f"{HELDOUT / 'h02_blocked_merge_kernel.py'}:blocked")
    assert not report.passed
    assert {"forward", "backward"} <= _families(report)
    # every failing case has more than 4096 values per channel, not a multiple of 4096
    for check in report.failed:
        if check.counterexample is not None:
            shape = check.counterexample["shape"]
            m = int(np.prod(shape)) // shape[1]
            assert m > 4096 and m % 4096, shape


def test_a_kernel_wrong_on_fortran_ordered_input_fails() -> None:
    report = verify(f"{HELDOUT / 'h06_zero_copy_ravel.py'}:fast")
    assert not report.passed
    assert {"forward", "backward"} <= _families(report)
    layouts = {c.counterexample["layout"] for c in report.failed if c.counterexample}
    assert layouts and layouts <= {"F", "transposed"}, layouts


def test_a_kernel_wrong_in_8_channel_tiles_fails() -> None:
    report = verify(str(HELDOUT / "h08_simd_channel_tiles.py"))
    assert not report.passed
    assert {"forward", "backward"} <= _families(report)
    for check in report.failed:
        if check.counterexample is not None:
            assert check.counterexample["shape"][1] >= 8


@pytest.mark.parametrize(
    "target",
    [f"{HELDOUT / 'h13_blocked_tiled_kernel.py'}:blocked", "bncheck.BatchNorm"],
    ids=["blocked-tiled-kernel", "bncheck"],
)
def test_a_correct_kernel_passes_every_kernel_input(target: str) -> None:
    report = verify(target)
    assert report.passed, [(c.id, c.message[:200]) for c in report.failed]
    forward = [c for c in report.checks if c.id.startswith("forward/")]
    assert forward and all("layouts" in c.message for c in forward)


# -- eval with gradient recording ----------------------------------------------------------------

C = 3
SHAPE = (8, C)


class AutogradFake:
    """A target process of an autograd target: ``eval_grad`` switches its eval forwards to run
    with gradient recording on; ``by_grad`` makes it pick batch statistics (and update its
    running ones) by gradient recording instead of by its mode, as the planted bug does."""

    def __init__(self, by_grad: bool, train_formula: bool = False) -> None:
        self.by_grad = by_grad
        self.train_formula = train_formula
        self.x: Any = None
        self.grad = False
        self.state = {
            "running_mean": np.array([0.1, -0.2, 0.3]),
            "running_var": np.array([1.0, 0.5, 2.0]),
            "gamma": np.array([1.5, -0.7, 2.0]),
            "beta": np.array([0.3, -1.2, 0.8]),
            "eps": 1e-5,
        }

    def call(self, op: str, *args: Any, names: Any = ()) -> tuple[Any, list[str]]:
        s = self.state
        if op == "eval_grad":
            self.grad = bool(args[0])
            return None, []
        if op == "state":
            return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}, []
        if op == "set_running":
            s["running_mean"], s["running_var"] = (np.array(a, np.float64) for a in args)
            return None, []
        if op == "reload":  # as a target process answers for an adapter without it
            raise TargetError("reload raised AttributeError: no layer object to save")
        if op == "refill":  # likewise (a target taking no NumPy array of bncheck's)
            raise TargetError("refill raised AttributeError: not offered")
        if op == "backward":  # of the last eval forward: the eval-mode gradients (or, planted,
            dy = np.asarray(args[0], np.float64)  # the batch statistics' formula)
            inv = 1.0 / np.sqrt(s["running_var"] + 1e-5)
            x_hat = (self.x - s["running_mean"]) * inv
            dx = s["gamma"] * inv * dy
            if self.train_formula:
                dx = dx - s["gamma"] * inv * (dy.mean(0) + x_hat * (dy * x_hat).mean(0))
            return (dx, (dy * x_hat).sum(0), dy.sum(0)), []
        if op == "set_params":
            s["gamma"], s["beta"] = (np.array(a, np.float64) for a in args)
            return None, []
        assert op == "forward"
        x = np.asarray(args[0], np.float64)
        if args[1] is True:  # a training forward: PyTorch's update of the running statistics
            s["running_mean"] = 0.9 * s["running_mean"] + 0.1 * x.mean(axis=0)
            s["running_var"] = 0.9 * s["running_var"] + 0.1 * x.var(axis=0, ddof=1)
            return x, []
        self.x = x
        mean, var = s["running_mean"], s["running_var"]
        if self.by_grad and self.grad:
            mean, var = x.mean(axis=0), x.var(axis=0)
            s["running_mean"] = 0.9 * s["running_mean"] + 0.1 * mean
        return s["gamma"] * (x - mean) / np.sqrt(var + 1e-5) + s["beta"], []


def test_an_eval_chosen_by_gradient_recording_fails_eval_and_eval_state() -> None:
    ids = ["eval/2d/float64", "eval-state/2d/float64"]
    ev, st = check_eval(
        AutogradFake(by_grad=True), np.random.default_rng(0), C, SHAPE, "float64", ids
    )
    assert ev.status == "fail" and "gradient recording on" in ev.message
    assert "eval-batch-stats" in ev.diagnosis
    assert st.status == "fail" and st.diagnosis == ["state-updated-in-eval"]
    fake = AutogradFake(by_grad=False)
    ok = check_eval(fake, np.random.default_rng(0), C, SHAPE, "float64", ids)
    assert [r.status for r in ok] == ["pass", "pass"] and fake.grad is False


def test_a_backward_after_eval_using_the_training_formula_fails_eval() -> None:
    """The backward of an eval forward (recording gradients) must be the eval-mode one (the
    statistics are constants there): one using the batch statistics' formula fails eval."""
    ids = ["eval/2d/float64", "eval-state/2d/float64"]
    ev, st = check_eval(
        AutogradFake(by_grad=False, train_formula=True),
        np.random.default_rng(0),
        C,
        SHAPE,
        "float64",
        ids,
    )
    assert (ev.status, st.status) == ("fail", "pass")
    assert "backward of an eval forward" in ev.message and "dx off" in ev.message


def test_an_adapter_without_autograd_keeps_its_one_eval() -> None:
    class NoAutograd(AutogradFake):
        def call(self, op: str, *args: Any, names: Any = ()) -> tuple[Any, list[str]]:
            if op == "eval_grad":
                raise TargetError("eval_grad raised AttributeError")
            return super().call(op, *args, names=names)

    ids = ["eval/2d/float64", "eval-state/2d/float64"]
    results = check_eval(
        NoAutograd(by_grad=True), np.random.default_rng(0), C, SHAPE, "float64", ids
    )
    assert [r.status for r in results] == ["pass", "pass"]


@needs("torch")
def test_a_torch_layer_switching_by_is_grad_enabled_fails_and_its_fix_passes() -> None:
    target = IMPLS / "torch_eval_by_grad.py"
    wrong = verify(f"{target}:ByGradMode", convention="torch", timeout=30)
    assert not wrong.passed
    assert _families(wrong) == {"eval", "eval-state"}
    assert {d["id"] for d in wrong.diagnosis} == {"eval-batch-stats", "state-updated-in-eval"}
    right = verify(f"{target}:ByTrainingFlag", convention="torch", timeout=30)
    assert right.passed, [(c.id, c.message[:200]) for c in right.failed]


@needs("torch")
def test_a_tensor_layer_without_backward_switching_by_is_grad_enabled_fails() -> None:
    target = f"{IMPLS / 'torch_eval_by_grad.py'}:TensorLayerByGradMode"
    report = verify(target, convention="torch", ndims=(2,), timeout=30)
    assert _families(report) == {"eval", "eval-state"}
    assert {d["id"] for d in report.diagnosis} == {"eval-batch-stats", "state-updated-in-eval"}


def test_nan_on_a_view_with_gaps_is_a_wrong_answer_not_a_refused_layout() -> None:
    # the target raises nothing on a sliced view: its NaN gradients fail the backward there
    # (before, verify took any error on a layout as a refusal, judged the C copy, and passed)
    report = verify(f"{IMPLS / 'gapped_views.py'}:gapped", dtypes=("float64",))
    assert {c.id for c in report.failed} == {"backward/2d/float64", "backward/4d/float64"}
    assert all("contains nan" in c.message for c in report.failed)
    assert not any("refuses" in w for w in report.contract)


# -- x and dy in different layouts ---------------------------------------------------------------

MIXED_NOTE = "the target depends on the memory layout of x and dy: the two in different layouts"


def test_a_kernel_pairing_dy_with_x_in_memory_order_fails_only_on_mixed_layouts() -> None:
    # before the mixed kernel cases, x and dy always shared a layout and this passed
    target = IMPLS / "memory_order_pairing.py"
    report = verify(f"{target}:paired")
    assert {c.id.split("/")[0] for c in report.failed} == {"backward"}
    for check in report.failed:
        assert check.counterexample is not None
        assert check.counterexample["layout"] in MIXED_LAYOUTS, check.counterexample
        assert MIXED_NOTE in check.explanation
    right = verify(f"{target}:by_index")
    assert right.passed, [(c.id, c.message[:200]) for c in right.failed]


@needs("torch")
def test_torch_batchnorm2d_fails_its_backward_when_dy_and_x_differ_in_layout() -> None:
    # PyTorch 2.13's CPU BatchNorm2d: with a batch of one and a spatial side of 1, a dy whose
    # strides read as channels-last beside a C-contiguous x (or the reverse) gives wrong dx,
    # dweight and dbias (dbias is only the sum of dy); the same values both C-contiguous are
    # right. Shown by torch alone against a float64 formula, then found by verify.
    import torch

    x, dy = np.random.default_rng(0).standard_normal((2, 1, 17, 1, 2))
    m = torch.nn.BatchNorm2d(17).double()
    xt = torch.from_numpy(np.ascontiguousarray(x)).requires_grad_(True)
    m(xt).backward(torch.from_numpy(np.asfortranarray(dy)))
    assert m.bias.grad is not None
    assert not np.allclose(m.bias.grad.numpy(), dy.sum(axis=(0, 2, 3)))

    report = verify("torch.nn.BatchNorm2d", ndims=(4,), dtypes=("float64",))
    assert {c.id for c in report.failed} == {"backward/4d/float64"}
    (check,) = report.failed
    assert check.counterexample is not None
    assert check.counterexample["layout"] in MIXED_LAYOUTS
    assert check.counterexample["shape"][0] == 1
    assert MIXED_NOTE in check.explanation
