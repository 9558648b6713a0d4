"""Flax linen and Keras 3 normalizations of the family under verify, as they are (no wrapper):
found by their class, configured per member as a torch.nn module is (axes, groups, verify's
eps), gradients by jax.vjp, the member fitted from the outputs. Each verdict is checked here
against an independent float64 computation before it is asserted: Flax's one-pass variance by
NumPy's E[x²] − E[x]² on the reported counterexample, Keras' float32 arithmetic by converting
its float64 errors to float32 units. The family names float32 arithmetic (float32 numbers
within the float32 budget on float64 input) and the one-pass variance (the BN's rounding model
on the member's columns, each reduction set a channel), both asserted here.

Skipped without the extras (``pip install 'bncheck[jax]'`` / ``'bncheck[keras]'``); a default
verification of one of these targets takes ~10 s (XLA compiles one step per input shape).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from bncheck.check import VerificationReport, verify
from bncheck.check.tolerances import unit_roundoff
from tests.frameworks import needs


def _failed(report: VerificationReport) -> list[Any]:
    return [c for c in report.checks if c.status == "fail"]


def _norm(report: VerificationReport) -> Any:
    return next(c for c in report.checks if c.id == "norm")


def _one_pass(x: np.ndarray) -> np.ndarray:
    """Layer norm over the last axis with the variance as E[x²] − E[x]² (float64)."""
    mu = x.mean(axis=-1, keepdims=True)
    var = np.maximum((x * x).mean(axis=-1, keepdims=True) - mu * mu, 0.0)
    return (x - mu) / np.sqrt(var + 1e-5)


def _two_pass(x: np.ndarray) -> np.ndarray:
    mu = x.mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + 1e-5)


@needs("jax")
def test_flax_linen_layernorm_fails_on_large_means_by_its_one_pass_variance() -> None:
    report = verify("flax.linen.LayerNorm", ndims=(2,), timeout=60)
    assert report.kind == "flax.linen"
    assert "checked as layer norm over the last axis" in _norm(report).message
    assert _norm(report).status == "pass"
    failed = _failed(report)
    assert {c.id for c in failed} == {
        "forward/2d/float64",
        "backward/2d/float64",
        "forward/2d/float32",
        "backward/2d/float32",
    }
    # only where the mean is large against the spread: cancellation in E[x²] − E[x]²
    assert all("large-mean" in c.message for c in failed)
    # independently: NumPy's one-pass variance in float64 on the same x is off by far more
    # than a two-pass one, in relative terms about u·mean²/var (1e3² · 1e-16 = 1e-10)
    forward = next(c for c in failed if c.id == "forward/2d/float64")
    shape = forward.counterexample["shape"]
    x = np.asarray(forward.counterexample["x"]).reshape(shape)
    err_one = np.max(np.abs(_one_pass(x) - _two_pass(x)))
    assert err_one > 1e4 * unit_roundoff(np.float64)
    # named, in both dtypes, by the one-pass model fitted on each run itself
    assert all(c.diagnosis == ["one-pass-variance"] for c in failed), [
        (c.id, c.diagnosis) for c in failed
    ]
    assert not report.unexplained


@needs("jax")
def test_flax_linen_instances_with_a_two_pass_variance_pass(tmp_path: Path) -> None:
    target = tmp_path / "flax_norms.py"
    target.write_text(
        "import flax.linen as nn\n"
        "ln = nn.LayerNorm(use_fast_variance=False)\n"
        "gn = nn.GroupNorm(num_groups=2, use_fast_variance=False)\n",
        encoding="utf-8",
    )
    # names that say nothing: the BN adapter refuses a LayerNorm, the family takes it
    # float64 alone: the fit and the two-pass arithmetic are the same in float32, and each
    # dtype is another set of XLA compilations
    ln = verify(f"{target}:ln", ndims=(2, 3), dtypes=("float64",), timeout=60)
    assert ln.passed, [c.id for c in _failed(ln)]
    assert "layer norm over the last axis (found from its outputs)" in _norm(ln).message
    assert any("its axes and groups too" in line for line in ln.mapping)
    gn = verify(f"{target}:gn", ndims=(4,), dtypes=("float64",), timeout=60)
    assert gn.passed, [c.id for c in _failed(gn)]
    # the instance's own num_groups, found by the fit
    assert "group norm with 2 groups of channels (found from its outputs)" in _norm(gn).message


@needs("jax")
def test_flax_linen_rmsnorm_passes() -> None:
    report = verify("flax.linen.RMSNorm", ndims=(2, 4), dtypes=("float64",), timeout=60)
    assert report.passed, [c.id for c in _failed(report)]
    assert "RMS norm over the last axis" in _norm(report).message
    assert any("gradients by" in line or "jax.vjp" in line for line in report.mapping)


@needs("jax")
def test_flax_linen_groupnorm_class_takes_the_groups_of_its_member() -> None:
    report = verify("flax.linen.GroupNorm", ndims=(4,), dtypes=("float64",), timeout=60)
    assert "group norm with 2 groups" in _norm(report).message
    failed = _failed(report)
    # Flax's GroupNorm also defaults to the one-pass variance: large means only
    assert failed and all("large-mean" in c.message for c in failed if c.key.family != "norm")


@needs("keras")
def test_keras_layernormalization_computes_float64_in_float32() -> None:
    report = verify("keras.layers.LayerNormalization", ndims=(2,), timeout=60)
    assert report.kind == "keras"
    assert "checked as layer norm over the last axis" in _norm(report).message
    failed = {c.id: c for c in _failed(report)}
    assert {"forward/2d/float64", "backward/2d/float64"} <= set(failed)
    assert not any(i.endswith("float32") for i in failed)
    # independently: the float64 errors, in float32 units, are within the float32 budget
    u64, u32 = unit_roundoff(np.float64), unit_roundoff(np.float32)
    f32 = next(c for c in report.checks if c.id == "forward/2d/float32")
    f64 = failed["forward/2d/float64"]
    assert f64.worst * u64 / u32 <= f32.budget
    assert f64.worst * u64 / u32 > 1.0  # and not float64 rounding
    assert {d["id"] for d in report.diagnosis} == {"float32-arithmetic"}
    assert not report.unexplained


@needs("keras")
def test_keras_group_and_rms_normalization_verify() -> None:
    gn = verify("keras.layers.GroupNormalization", ndims=(4,), dtypes=("float32",), timeout=60)
    assert gn.passed, [c.id for c in _failed(gn)]
    assert "group norm with 2 groups" in _norm(gn).message
    rms = verify("keras.layers.RMSNormalization", ndims=(2,), timeout=60)
    assert "RMS norm over the last axis" in _norm(rms).message
    # float32 passes; float64 fails by float32 arithmetic (the RMS budget's own path), and
    # independently: its float64 error in float32 units is within the float32 budget
    assert {c.id for c in _failed(rms)} >= {"forward/2d/float64"}
    assert not any(c.id.endswith("float32") for c in _failed(rms))
    f64 = next(c for c in rms.checks if c.id == "forward/2d/float64")
    f32 = next(c for c in rms.checks if c.id == "forward/2d/float32")
    assert f64.worst * unit_roundoff(np.float64) / unit_roundoff(np.float32) <= f32.budget
    assert {d["id"] for d in rms.diagnosis} == {"float32-arithmetic"}
    assert not rms.unexplained


@needs("jax")
def test_flax_nnx_layernorm_fails_on_large_means_and_rmsnorm_passes() -> None:
    ln = verify("flax.nnx.LayerNorm", ndims=(2,), dtypes=("float64",), timeout=60)
    assert ln.kind == "flax.nnx"
    assert "checked as layer norm over the last axis" in _norm(ln).message
    failed = _failed(ln)
    # the same one-pass variance as linen's (use_fast_variance=True by default)
    assert {c.id for c in failed} == {"forward/2d/float64", "backward/2d/float64"}
    assert all("large-mean" in c.message for c in failed)
    assert all(c.diagnosis == ["one-pass-variance"] for c in failed)
    rms = verify("flax.nnx.RMSNorm", ndims=(2,), timeout=60)
    assert rms.passed, [c.id for c in _failed(rms)]


@needs("jax")
def test_flax_nnx_classes_are_built_over_several_trailing_axes() -> None:
    # nnx keeps scale and bias flat: the class is built with prod(shape[-k:]) features and
    # reduction_axes = feature_axes = the last k axes, so every k fits, and a stated k is run
    rms = verify("flax.nnx.RMSNorm", norm="rms:2", ndims=(3, 4), dtypes=("float64",), timeout=60)
    assert rms.passed, [(c.id, c.message) for c in _failed(rms)]
    assert "RMS norm over the last 2 axes (stated with --norm)" in _norm(rms).message
    for fitted in ("rms:2: ", "rms:3: "):  # each within the fit's match of the built member
        assert fitted in _norm(rms).message


# -- the float32-arithmetic model on plain NumPy targets (no framework) ----------------------

_LAYERNORM = """
import numpy as np

def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    xs = x.astype(DTYPE)
    mu = xs.mean(axis=1, keepdims=True)
    var = VARIANCE
    xhat = (xs - mu) / np.sqrt(var + DTYPE(eps))
    out = gamma.astype(DTYPE) * xhat + beta.astype(DTYPE)
    return out.astype(x.dtype), (xhat, gamma.astype(DTYPE), np.sqrt(var + DTYPE(eps)), x.dtype)

def layernorm_backward(dout, cache):
    xhat, gamma, s, dtype = cache
    d = dout.astype(xhat.dtype)
    dxhat = d * gamma
    dx = (dxhat - dxhat.mean(axis=1, keepdims=True)
          - xhat * (dxhat * xhat).mean(axis=1, keepdims=True)) / s
    return dx.astype(dtype), (d * xhat).sum(axis=0).astype(dtype), d.sum(axis=0).astype(dtype)
"""


def _layernorm_file(tmp_path: Path, dtype: str, variance: str) -> Path:
    target = tmp_path / f"ln_{dtype}.py"
    target.write_text(
        _LAYERNORM.replace("DTYPE", f"np.{dtype}").replace("VARIANCE", variance),
        encoding="utf-8",
    )
    return target


def test_a_layernorm_computing_float64_in_float32_is_named(tmp_path: Path) -> None:
    two_pass = "((xs - mu) ** 2).mean(axis=1, keepdims=True)"
    report = verify(f"{_layernorm_file(tmp_path, 'float32', two_pass)}:layernorm", ndims=(2,))
    assert {c.id for c in _failed(report)} >= {"forward/2d/float64", "backward/2d/float64"}
    assert not any(c.id.endswith("float32") for c in _failed(report))
    assert {d["id"] for d in report.diagnosis} == {"float32-arithmetic"}
    assert not report.unexplained


def test_a_float64_one_pass_variance_is_not_named_float32_arithmetic(tmp_path: Path) -> None:
    # float64 numbers that lose digits to cancellation are not float32 numbers
    one_pass = "np.maximum((xs * xs).mean(axis=1, keepdims=True) - mu * mu, 0.0)"
    report = verify(f"{_layernorm_file(tmp_path, 'float64', one_pass)}:layernorm", ndims=(2,))
    failed = _failed(report)
    assert any(c.id == "forward/2d/float64" for c in failed)
    assert all("large-mean" in c.message for c in failed if c.key.family == "forward")
    assert "float32-arithmetic" not in {d["id"] for d in report.diagnosis}


@needs("keras")
@needs("torch")
def test_keras_family_on_its_torch_backend_is_driven_by_torch_and_named() -> None:
    """KERAS_BACKEND=torch is honoured for the family too (gradients by torch.autograd.grad):
    float64 input computed in float32 (as on JAX) is named float32-arithmetic; GroupNorm's
    E[x²] − E[x]² in float32 fails the large-mean regime, named one-pass-variance, which a
    float32 NumPy one-pass variance on the reported counterexample confirms independently."""
    before = os.environ.get("KERAS_BACKEND")
    os.environ["KERAS_BACKEND"] = "torch"  # inherited by the target process
    try:
        ln = verify("keras.layers.LayerNormalization", ndims=(2,), timeout=60)
        gn = verify("keras.layers.GroupNormalization", ndims=(2,), timeout=60)
    finally:
        if before is None:
            del os.environ["KERAS_BACKEND"]
        else:
            os.environ["KERAS_BACKEND"] = before
    for report in (ln, gn):
        assert any("torch backend" in line for line in report.mapping), report.mapping
        assert any("torch.autograd.grad" in line for line in report.mapping)
        f64 = next(c for c in report.checks if c.id == "forward/2d/float64")
        assert f64.status == "fail" and f64.diagnosis == ["float32-arithmetic"]
    f32 = next(c for c in gn.checks if c.id == "forward/2d/float32")
    assert f32.status == "fail" and f32.diagnosis == ["one-pass-variance"]
    assert "large-mean" in f32.message
    ce = f32.counterexample
    x = np.asarray(ce["x"], dtype=np.float32).reshape(ce["shape"])
    assert "group norm with 2 groups" in _norm(gn).message  # the member checked
    groups = x.reshape(x.shape[0], 2, -1)
    mu = groups.mean(axis=-1, dtype=np.float32)
    one = (groups * groups).mean(axis=-1, dtype=np.float32) - mu * mu
    two = groups.astype(np.float64).var(axis=-1)
    assert np.max(np.abs(one - two) / two) > 1e-2  # float32 one-pass: no digits left
    ln_f32 = next(c for c in ln.checks if c.id == "forward/2d/float32")
    assert ln_f32.status == "pass"  # its LayerNorm is torch's own two-pass kernel


@needs("torch")
def test_a_torch_groupnorm_instance_says_it_is_checked_as_its_class(tmp_path: Path) -> None:
    """``GroupNorm(8, 32)`` passed as an instance is checked as the class at the checks' own
    channel counts (G fitted from its outputs); the report says so, naming the instance's
    sizes, where it used to name only the class (as if the instance's configuration ran)."""
    path = tmp_path / "gn_instance.py"
    path.write_text("import torch\n\ngn = torch.nn.GroupNorm(8, 32, eps=1e-5)\n")
    report = verify(f"{path}:gn", ndims=(2,), dtypes=("float64",))
    said = "\n".join(report.mapping)
    assert "an instance (num_groups=8, num_channels=32)" in said, said
    assert "checked as the class" in said
