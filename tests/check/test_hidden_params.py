"""A target whose parameters cannot be found or set is judged with gamma = 1 and beta = 0, as
its report says, never with the cases' own parameters, which it was never given (before, the
truth used them: a correct layer failed with missing-gamma and missing-beta named)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bncheck.check import verify
from tests.frameworks import needs
from tests.paths import IMPLS


def test_a_layer_with_its_affine_step_in_a_closure_is_judged_as_gamma_1_beta_0() -> None:
    """The closure holds the numbers 1 and 0, not arrays: a frozen identity, so the layer has
    no parameters (as PyTorch's affine=False), and its backward is checked on dx alone, its
    running statistics and eval mode as any BN's (tests/check/test_param_free.py)."""
    report = verify(
        f"{IMPLS / 'hidden_params.py'}:HiddenAffineBN", convention="torch", dtypes=("float64",)
    )
    assert any("parameters: none found" in m for m in report.mapping), report.mapping
    assert any("dx only: no parameters" in m for m in report.mapping), report.mapping
    forward = [c for c in report.checks if c.id.startswith("forward/")]
    assert forward and all(c.status == "pass" for c in forward), forward
    assert not report.failed, [(c.id, c.message[:120]) for c in report.failed]
    assert not report.diagnosis
    assert report.result == "pass"
    assert {c.id: c.status for c in report.checks}["eval/2d/float64"] == "pass"


def test_parameters_held_in_a_closure_are_never_taken_for_none() -> None:
    """gamma and beta as arrays of C values in a closure, their gradients kept there: the
    backward gives dx alone, but dgamma and dbeta exist and cannot be judged: never a pass."""
    report = verify(
        f"{IMPLS / 'hidden_params.py'}:ClosureParamsBN", convention="torch", dtypes=("float64",)
    )
    assert not any("dx only: no parameters" in m for m in report.mapping), report.mapping
    assert report.result == "incomplete", [(c.id, c.status) for c in report.checks]


FLAX_NO_AFFINE = """import flax.linen as nn


def make(c):
    return nn.BatchNorm(use_running_average=None, use_scale=False, use_bias=False,
                        use_fast_variance=False)
"""


@pytest.mark.slow
@needs("jax")
def test_a_flax_bn_without_scale_or_bias_has_its_forward_judged_with_gamma_1_beta_0(
    tmp_path: Path,
) -> None:
    path = tmp_path / "flax_no_affine.py"
    path.write_text(FLAX_NO_AFFINE, encoding="utf-8")
    report = verify(f"{path}:make", ndims=(2,), dtypes=("float64",))
    assert any("parameters: none (the layer has no trainable" in m for m in report.mapping), (
        report.mapping
    )
    forward = [c for c in report.checks if c.id.startswith("forward/")]
    assert forward and all(c.status == "pass" for c in forward), forward
    assert not any(d["id"].startswith("missing-") for d in report.diagnosis), report.diagnosis
    assert report.result == "pass", [(c.id, c.status, c.message[:100]) for c in report.checks]
