"""BNs without the affine step (PyTorch's ``affine=False``, Flax's ``use_scale=False,
use_bias=False``, a hand-written layer holding no gamma or beta): judged with gamma = 1 and
beta = 0, the backward on dx alone (there is no dgamma or dbeta to give), and the running
statistics and eval mode checked as for any BN. Before, such a layer was INCOMPLETE with its
eval never run (hand-written), a false FAIL "dgamma is None" (Flax, Keras) or a usage error
(PyTorch)."""

from __future__ import annotations

from typing import Any

import pytest

from bncheck.check import verify
from tests.frameworks import needs
from tests.paths import IMPLS

TARGET = str(IMPLS / "affine_free.py")

FAST: dict[str, Any] = {"ndims": (2, 4), "dtypes": ("float64", "float32")}


def _checks(report: Any) -> dict[str, str]:
    return {c.id: c.status for c in report.checks}


def _named(report: Any) -> set[str]:
    return {d["id"] for d in report.diagnosis}


@pytest.mark.parametrize("name", ["AffineFreeBN", "AffineFreeTupleBN"])
def test_a_correct_layer_without_parameters_passes_with_eval_and_running_checked(
    name: str,
) -> None:
    """dx alone, or (dx, None, None): both are a parameter-free backward."""
    report = verify(f"{TARGET}:{name}", **FAST)
    assert report.result == "pass", [
        (c.id, c.status, c.message) for c in report.checks if c.status != "pass"
    ]
    status = _checks(report)
    for ndim in (2, 4):
        for dtype in ("float64", "float32"):
            assert status[f"backward/{ndim}d/{dtype}"] == "pass"
            assert status[f"running/{ndim}d/{dtype}"] == "pass"
            assert status[f"eval/{ndim}d/{dtype}"] == "pass"
        assert status[f"backward-fd/{ndim}d/float64"] == "pass"
        assert status[f"identities/{ndim}d/float64"] == "pass"
    said = "\n".join(report.mapping)
    assert "backward(dy) -> dx only: no parameters, so no dgamma or dbeta" in said


def test_an_eval_that_uses_the_batch_statistics_fails() -> None:
    report = verify(f"{TARGET}:AffineFreeEvalBug", **FAST)
    status = _checks(report)
    assert not report.passed
    assert status["eval/2d/float64"] == "fail" and status["backward/2d/float64"] == "pass"


def test_a_missing_mean_path_is_named_from_dx_alone() -> None:
    report = verify(f"{TARGET}:AffineFreeMeanPathBug", **FAST)
    assert not report.passed
    assert "missing-mu-path" in _named(report)


def test_parameters_under_unknown_names_are_not_taken_for_none() -> None:
    """p and q move y by the affine law and the backward leaves dp, dq behind: parameters,
    found by behaviour, so the wrong dbeta (twice Σ dy) is found, not skipped."""
    report = verify(f"{TARGET}:OddlyNamedParamsBN", **FAST)
    assert not report.passed
    assert "dbeta-scaled" in _named(report)
    assert any("parameters: p, q" in m for m in report.mapping)


def test_a_layer_norm_without_affine_step_passes_on_dx_alone() -> None:
    report = verify(f"{TARGET}:LayerNormNoAffine", dtypes=("float64",))
    assert report.result == "pass", [(c.id, c.status) for c in report.checks]
    assert any("none at all, so a backward that gives dx alone" in m for m in report.mapping)
    assert {c.id: c.status for c in report.checks}["identities/2d/float64"] == "pass"


def test_a_layer_norm_with_parameters_in_a_closure_is_never_a_pass() -> None:
    report = verify(f"{TARGET}:LayerNormClosureParams", dtypes=("float64",))
    assert report.result == "incomplete", [(c.id, c.status) for c in report.checks]
    assert not any("none at all" in m for m in report.mapping)


@needs("torch")
@pytest.mark.parametrize("build", ["C, affine=False", "C"])
def test_torch_batchnorm1d_without_affine_is_verified_like_with_it(build: str) -> None:
    report = verify("torch.nn.BatchNorm1d", mapping={"build": build}, ndims=(2,))
    assert report.result == "pass", [
        (c.id, c.status, c.message) for c in report.checks if c.status != "pass"
    ]
    assert _checks(report)["eval/2d/float64"] == "pass"


@needs("torch")
def test_torch_batchnorm_without_running_statistics_has_no_eval_mode_to_check() -> None:
    """track_running_stats=False: PyTorch normalizes with the batch statistics in eval mode
    too (its documentation); running_mean is None. Not a failure, and said so."""
    report = verify(
        "torch.nn.BatchNorm1d", mapping={"build": "C, track_running_stats=False"}, ndims=(2,)
    )
    assert report.result == "pass", [
        (c.id, c.status, c.message) for c in report.checks if c.status != "pass"
    ]
    assert _checks(report)["eval/2d/float64"] == "skip"
    assert any("track_running_stats=False" in m for m in report.mapping)


FLAX = """
import flax.linen as nn


def bn():
    return nn.BatchNorm(
        use_running_average=None, use_scale=False, use_bias=False, use_fast_variance=False
    )
"""


@needs("jax")
def test_flax_batchnorm_without_scale_and_bias_passes(tmp_path: Any) -> None:
    path = tmp_path / "flax_affine_free.py"
    path.write_text(FLAX)
    report = verify(f"{path}:bn", ndims=(2,))
    assert report.result == "pass", [
        (c.id, c.status, c.message) for c in report.checks if c.status != "pass"
    ]
    status = _checks(report)
    assert status["backward/2d/float64"] == "pass" and status["eval/2d/float64"] == "pass"
    assert any("parameters: none (the layer has no trainable arrays" in m for m in report.mapping)


ONE_PARAM = """
import flax.linen as nn
import haiku as hk
import keras


def flax_shift_only():
    return nn.BatchNorm(use_running_average=None, use_scale=False, use_fast_variance=False)


def flax_scale_only():
    return nn.BatchNorm(use_running_average=None, use_bias=False, use_fast_variance=False)


def keras_shift_only():
    return keras.layers.BatchNormalization(axis=1, scale=False, dtype="float64")


def _haiku_net(x, is_training):
    bn = hk.BatchNorm(
        create_scale=False, create_offset=True, decay_rate=0.9, data_format="channels_first"
    )
    return bn(x, is_training=is_training)


haiku_shift_only = hk.transform_with_state(_haiku_net)
"""


def _only(source: str, framework: str) -> str:
    """``source`` with the imports and definitions of the other frameworks left out (each block
    of it names its framework: nn, hk or keras), so a test needs its framework alone."""
    marks = {"flax": "nn.", "haiku": "hk.", "keras": "keras."}
    imports = {
        "flax": "import flax.linen as nn",
        "haiku": "import haiku as hk",
        "keras": "import keras",
    }
    blocks = source.strip().split("\n\n\n")
    body = blocks[1:]  # blocks[0]: the imports
    kept = [b for b in body if marks[framework] in b]
    return imports[framework] + "\n\n\n" + "\n\n\n".join(kept) + "\n"


@needs("jax")
@pytest.mark.parametrize(
    ("name", "absent", "kept"),
    [
        ("flax_shift_only", "gamma", "bias"),
        ("flax_scale_only", "beta", "scale"),
    ],
)
def test_a_flax_batchnorm_with_one_affine_parameter_is_checked_with_the_other_at_identity(
    tmp_path: Any, name: str, absent: str, kept: str
) -> None:
    """``use_scale=False`` (or ``use_bias=False``): the one parameter it has is found, the other
    is 1 or 0 and its gradient is not asked for (it was a false FAIL, "dgamma is None", with
    the parameter it has left unfound); a correct layer passes, its gradient checked."""
    path = tmp_path / "one_param.py"
    path.write_text(_only(ONE_PARAM, "flax"))
    report = verify(f"{path}:{name}", ndims=(2,), dtypes=("float64",))
    assert report.result == "pass", [
        (c.id, c.status, c.message) for c in report.checks if c.status != "pass"
    ]
    status = _checks(report)
    assert status["backward/2d/float64"] == status["identities/2d/float64"] == "pass"
    said = "\n".join(report.mapping)
    assert f"no {absent} (the layer has none" in said and kept in said


@needs("haiku")
def test_a_haiku_batchnorm_without_scale_is_failed_for_its_variance_only(
    tmp_path: Any,
) -> None:
    """``create_scale=False``: Haiku's one-pass variance fails forward and backward (named);
    the gradient checks that do not depend on the variance (finite differences, identities)
    pass, where every one of them failed on "dgamma is None"."""
    path = tmp_path / "one_param.py"
    path.write_text(_only(ONE_PARAM, "haiku"))
    report = verify(f"{path}:haiku_shift_only", ndims=(2,), dtypes=("float64",))
    status = _checks(report)
    assert status["forward/2d/float64"] == "fail" and "one-pass-variance" in _named(report)
    assert status["backward-fd/2d/float64"] == status["identities/2d/float64"] == "pass"
    assert not any("is None" in c.message for c in report.checks)


@needs("keras")
def test_a_keras_batchnormalization_without_scale_checks_its_beta(tmp_path: Any) -> None:
    path = tmp_path / "one_param.py"
    path.write_text(_only(ONE_PARAM, "keras"))
    report = verify(f"{path}:keras_shift_only", ndims=(2,), dtypes=("float32",))
    status = _checks(report)
    assert status["backward/2d/float32"] == "pass", [
        (c.id, c.status, c.message) for c in report.checks if c.status != "pass"
    ]
    assert any("no gamma (the layer has none" in m for m in report.mapping)
