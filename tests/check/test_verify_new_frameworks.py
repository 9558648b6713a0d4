"""Equinox, Haiku, tinygrad, MyGrad and Keras on torch under verify, as they are (no wrapper):
each plugs in through the framework registry, its conventions are said under "Plugged in as",
the correct ones pass and the findings are named (issue 25). Each test skips without its
framework."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bncheck.check import VerificationReport, verify
from tests.frameworks import needs


def _run(target: str, **kwargs: Any) -> VerificationReport:
    return verify(target, timeout=60, **kwargs)


def _mapping(report: VerificationReport) -> str:
    return "\n".join(report.mapping)


@needs("mygrad")
def test_mygrad_batchnorm_passes_with_its_own_autodiff() -> None:
    report = _run("mygrad.nnet.batchnorm")
    assert report.kind == "mygrad"
    assert report.passed, [(c.id, c.message[:200]) for c in report.failed]
    assert "gradients by MyGrad's autodiff" in _mapping(report)


@needs("haiku")
def test_haiku_batchnorm_plugs_in_and_its_one_pass_variance_is_named() -> None:
    report = _run("haiku.BatchNorm", ndims=(2,))
    assert report.kind == "haiku"
    text = _mapping(report)
    assert "hk.transform_with_state" in text and "zero-debiased" in text
    assert "ONE PASS" in text
    assert not report.passed
    assert "one-pass-variance" in {d["id"] for d in report.diagnosis}
    # the zero-debiased average is Haiku's documented design, checked as such: its running
    # statistics pass under that convention (not a consequence of the one-pass variance)
    assert "convention: 'zero-debiased'" in text
    running = [c for c in report.checks if c.id.startswith(("running/", "eval/"))]
    assert running and all(c.status == "pass" for c in running), running


@needs("equinox")
def test_equinox_batchnorm_plugs_in_with_its_state() -> None:
    report = _run("equinox.nn.BatchNorm", ndims=(2,), dtypes=("float64",))
    assert report.kind == "equinox"
    text = _mapping(report)
    assert "eqx.nn.State" in text and "mode='ema'" in text
    # a fresh instance's first train step is plain BN: forward and backward pass
    first = [c for c in report.checks if c.id.split("/")[0] in ("forward", "backward")]
    assert first and all(c.status == "pass" for c in first)
    # ema mode is checked as documented: the filled running average, and a second train step
    # normalized by the running statistics mixed with the batch's
    assert "convention: 'filled-ema'" in text
    assert report.passed, [(c.id, c.message[:200]) for c in report.failed]
    second = [c for c in report.checks if c.id.startswith("second-call/")]
    assert second and "mixed with the batch's" in second[0].message


@needs("equinox")
def test_equinox_batch_mode_debiasing_is_named_with_its_fitted_start(tmp_path: Path) -> None:
    target = tmp_path / "eqx_batch.py"
    target.write_text(
        "import equinox as eqx\n\n\ndef bn(c):\n"
        "    return eqx.nn.BatchNorm(c, axis_name='batch', mode='batch')\n"
    )
    report = _run(f"{target}:bn", ndims=(2,), dtypes=("float64",))
    text = _mapping(report)
    assert "batch variance: two-pass" in text  # read from y, not from the debiased update
    failed = {c.id: c for c in report.failed}
    assert set(failed) == {"running/2d/float64"}, list(failed)
    running = failed["running/2d/float64"]
    assert running.diagnosis == ["debias-nonzero-start"]
    assert "variance 1 instead of 0" in running.explanation
    assert not report.unexplained


@needs("keras")
@needs("torch")
def test_keras_honours_keras_backend_torch() -> None:
    before = os.environ.get("KERAS_BACKEND")
    os.environ["KERAS_BACKEND"] = "torch"  # inherited by the target process
    try:
        report = _run("keras.layers.BatchNormalization", ndims=(2,), dtypes=("float32",))
    finally:
        if before is None:
            del os.environ["KERAS_BACKEND"]
        else:
            os.environ["KERAS_BACKEND"] = before
    text = _mapping(report)
    assert "on Keras' torch backend (KERAS_BACKEND=torch, as set" in text
    assert "torch.autograd.grad" in text
    assert "one-pass-variance" in {d["id"] for d in report.diagnosis}


@needs("keras")
@needs("torch")
def test_keras_on_torch_float64_computed_in_float32_is_named_on_running_and_eval() -> None:
    before = os.environ.get("KERAS_BACKEND")
    os.environ["KERAS_BACKEND"] = "torch"
    try:
        report = _run("keras.layers.BatchNormalization", ndims=(2,), dtypes=("float64",))
    finally:
        if before is None:
            del os.environ["KERAS_BACKEND"]
        else:
            os.environ["KERAS_BACKEND"] = before
    assert "convention: 'keras'" in _mapping(report)
    by_id = {c.id: c for c in report.checks}
    for check in ("running/2d/float64", "eval/2d/float64"):
        assert by_id[check].status == "fail"
        assert by_id[check].diagnosis == ["float32-arithmetic"], by_id[check]
    assert not report.unexplained
