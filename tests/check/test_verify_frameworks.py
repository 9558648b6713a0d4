"""Flax (linen, nnx) and Keras 3 BNs under verify, as they are: found through the same protocol
detection as other targets (classes, instances, user subclasses and wrappers, dotted names),
their conventions detected and reported in the mapping, each known mistake named, and a usage
error naming the extra when the framework is not installed. A default verification's seconds are
recorded (``record_property``), not asserted: speed is measured by
benchmarks/bench_verify_frameworks.py, never by a timed test.

Skipped without the extras (``pip install 'bncheck[jax]'`` / ``'bncheck[keras]'``). The
configurations are cut to what each test needs (a default verification costs ~20-40 s, most of
it XLA compiling the step for each new input shape).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bncheck.check import VerificationReport, verify
from tests.frameworks import hidden, needs
from tests.paths import IMPLS, REPO

FW = IMPLS / "frameworks"


def _timed(target: str, **kwargs: Any) -> tuple[VerificationReport, float]:
    start = time.perf_counter()
    report = verify(target, timeout=30, **kwargs)
    return report, time.perf_counter() - start


def _ids(report: VerificationReport) -> set[str]:
    return {d["id"] for d in report.diagnosis}


def _mapping(report: VerificationReport) -> str:
    return "\n".join(report.mapping)


# -- Flax linen ---------------------------------------------------------------------------------


@needs("jax")
def test_flax_linen_batchnorm_fails_by_its_one_pass_variance(record_property: Any) -> None:
    report, seconds = _timed("flax.linen.BatchNorm")
    record_property("seconds", round(seconds, 1))
    assert report.kind == "flax.linen"
    text = _mapping(report)
    assert "moved to the last axis" in text  # Flax's axis=-1, found and said
    assert "momentum=0.99 is the weight of the OLD value (bncheck's 'keras' convention)" in text
    assert "biased batch variance in the running variance" in text
    assert "ONE PASS, E[x²] − E[x]² (the layer's use_fast_variance=True, as it documents)" in text
    assert "eps: epsilon = 1e-05" in text
    # use_fast_variance=True fails the accuracy budget on large-mean inputs, in both dtypes;
    # a real finding, named; the running statistics follow the keras convention and eval holds
    assert not report.passed
    assert _ids(report) == {"one-pass-variance"}
    assert not report.unexplained
    failed = {c.id.split("/")[0] for c in report.failed}
    assert failed == {"forward", "backward"}
    running = [c for c in report.checks if c.id.startswith("running/")]
    assert running and all(c.status == "pass" and "keras" in c.message for c in running)


@needs("jax")
def test_a_flax_linen_wrapper_with_the_two_pass_variance_passes() -> None:
    report, _ = _timed(f"{FW / 'flax_linen_bns.py'}:TwoPassBN", ndims=(4,))
    assert report.passed, [(c.id, c.message[:200]) for c in report.failed]
    text = _mapping(report)
    assert "it calls BatchNorm" in text and "__call__(x, train=...)" in text
    assert "new = 0.9·old + 0.1·batch; momentum=0.9 is the weight of the OLD value" in text
    assert "batch variance: two-pass" in text


@needs("jax")
def test_a_flax_linen_instance_keeps_its_channels_first_axis() -> None:
    report, _ = _timed(
        f"{FW / 'flax_linen_bns.py'}:channels_first", ndims=(4,), dtypes=("float32",)
    )
    assert report.passed, [(c.id, c.message[:200]) for c in report.failed]
    assert "channels: axis 1" in _mapping(report)


@needs("jax")
def test_a_flax_linen_subclass_that_stops_the_mean_gradient_is_named() -> None:
    report, _ = _timed(
        f"{FW / 'flax_linen_bns.py'}:NoMeanGradientBN", ndims=(2,), dtypes=("float64",)
    )
    assert not report.passed
    assert _ids(report) == {"missing-mu-path"}
    assert not report.unexplained


# -- Flax nnx -----------------------------------------------------------------------------------


@needs("jax")
def test_flax_nnx_batchnorm_fails_by_its_one_pass_variance() -> None:
    report, _ = _timed("flax.nnx.BatchNorm", ndims=(2,))
    assert report.kind == "flax.nnx"
    text = _mapping(report)
    assert "flax.nnx.BatchNorm(C, rngs=nnx.Rngs(0))" in text
    assert "momentum=0.99 is the weight of the OLD value" in text and "ONE PASS" in text
    assert _ids(report) == {"one-pass-variance"}
    assert not report.unexplained


@needs("jax")
def test_a_flax_nnx_instance_with_the_two_pass_variance_passes() -> None:
    report, _ = _timed(f"{FW / 'flax_nnx_bns.py'}:two_pass", ndims=(4,), dtypes=("float32",))
    assert report.passed, [(c.id, c.message[:200]) for c in report.failed]
    assert "a copy (nnx.clone) of the instance" in _mapping(report)
    assert all(c.id.split("/")[1] == "4d" for c in report.checks if "/" in c.id)


@needs("jax")
def test_a_flax_nnx_subclass_with_eps_outside_the_root_is_named() -> None:
    report, _ = _timed(
        f"{FW / 'flax_nnx_bns.py'}:EpsOutsideSqrtBN", ndims=(2,), dtypes=("float64",)
    )
    assert _ids(report) == {"eps-outside-sqrt", "eval-eps-outside-sqrt"}
    assert not report.unexplained


# -- Keras 3 ------------------------------------------------------------------------------------


@needs("keras")
def test_keras_batchnormalization_computes_float64_in_float32(record_property: Any) -> None:
    report, seconds = _timed("keras.layers.BatchNormalization")
    record_property("seconds", round(seconds, 1))
    assert report.kind == "keras"
    text = _mapping(report)
    assert "on Keras' jax backend" in text and "moved to the last axis" in text
    assert "eps: epsilon = 0.001" in text
    assert "momentum=0.99 is the weight of the OLD value (bncheck's 'keras' convention)" in text
    assert "biased batch variance" in text and "batch variance: two-pass" in text
    # Keras' dtype promotion maps float64 to float32 off TensorFlow: its BN computes float64
    # input in float32 and casts back; found by the probe and named by the float64 checks
    assert "float64 input is computed in float32" in text
    assert _ids(report) == {"float32-arithmetic"}
    assert not report.unexplained
    float32 = [c for c in report.checks if c.id.endswith("/float32")]
    # every float32 check that applies passes (older-cache applies to functional targets only)
    assert float32 and all(c.status == "pass" or c.key.family == "older-cache" for c in float32)


@needs("keras")
def test_a_keras_instance_built_for_channels_first_passes_in_float32() -> None:
    report, _ = _timed(f"{FW / 'keras_bns.py'}:channels_first", ndims=(4,), dtypes=("float32",))
    assert report.passed, [(c.id, c.message[:200]) for c in report.failed]
    text = _mapping(report)
    assert "channels: axis 1" in text and "eps: epsilon = 1e-05" in text


@pytest.mark.parametrize(
    ("name", "convention", "mistake"),
    [
        ("SwappedMomentumBN", "keras", "momentum-swapped"),
        ("NoVarianceGradientBN", "any", "missing-var-path"),
    ],
)
@needs("keras")
def test_a_keras_subclass_with_a_known_mistake_is_named(
    name: str, convention: str, mistake: str
) -> None:
    report, _ = _timed(
        f"{FW / 'keras_bns.py'}:{name}", convention=convention, ndims=(2,), dtypes=("float32",)
    )
    assert not report.passed
    assert _ids(report) == {mistake}
    assert not report.unexplained


# -- without the framework ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "extra"),
    [("flax.linen.BatchNorm", "jax"), ("keras.layers.BatchNormalization", "keras")],
)
def test_a_framework_that_is_not_installed_is_a_usage_error_naming_the_extra(
    target: str, extra: str, tmp_path: Path
) -> None:
    # the framework made unimportable in a fresh process (whether or not it is installed)
    top = target.split(".")[0]
    done = subprocess.run(
        [sys.executable, "-m", "bncheck", "verify", target],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env=hidden(tmp_path, top),
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"pip install 'bncheck[{extra}]'" in done.stderr + done.stdout
