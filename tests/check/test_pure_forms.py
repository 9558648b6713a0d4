"""A functional pair is called in the form a probe call confirms (the output follows gamma and
beta by the affine law), never in a guessed one: JAX-style parameter records, cs231n option
dicts under any prefix, fwd/bwd names, state passed in and returned; a pair no form fits is a
usage error listing the forms tried, never a FAIL."""

from __future__ import annotations

import numpy as np
import pytest

from bncheck.check import verify
from bncheck.cli import main
from tests.frameworks import needs
from tests.paths import IMPLS

HERE = IMPLS / "pure_styles.py"
HELDOUT = IMPLS / "heldout"
ONE = {"ndims": (2, 4), "dtypes": ("float64",)}


def test_parameters_first_in_a_dict_is_found_and_passes() -> None:
    report = verify(f"{HERE}:jaxbn", **ONE)
    assert report.result == "pass", report.to_text()
    text = "\n".join(report.mapping)
    assert "jaxbn_forward(params, x)" in text and "('scale', 'bias')" in text


def test_the_same_form_with_a_wrong_gradient_fails_on_it() -> None:
    report = verify(f"{HERE}:jaxbad", **ONE)
    assert report.result == "fail"
    assert {c.id for c in report.failed} >= {"backward/4d/float64"}
    assert not any(c.id.startswith("forward/") for c in report.failed)


def test_a_cs231n_option_dict_under_a_prefix_is_not_passed_as_eps() -> None:
    report = verify(f"{HERE}:bn", convention="keras", **ONE)
    assert report.result == "pass", report.to_text()
    assert any("bn_forward(x, gamma, beta, bn_param)" in line for line in report.mapping)
    assert any(c.id == "running/2d/float64" and c.status == "pass" for c in report.checks)


def test_fwd_and_bwd_names_pair_up() -> None:
    report = verify(f"{HERE}:norm", **ONE)
    assert report.result == "pass", report.to_text()


def test_a_pair_no_form_fits_is_a_usage_error_listing_what_was_tried(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["verify", f"{HERE}:odd"]) == 2
    err = capsys.readouterr().err
    assert "no way of calling the pair behaved as a BN" in err and "Tried:" in err


@pytest.mark.parametrize(
    ("target", "convention", "result"),
    [
        ("h05_pure_state_dataclass.py", "torch", "pass"),
        ("h28_pure_state_cumulative.py", "cumulative", "fail"),
        ("h01_d2l_moving_stats.py:batch_norm", "keras", "pass"),
    ],
)
def test_state_kept_by_the_caller_is_fed_back(target: str, convention: str, result: str) -> None:
    report = verify(f"{HELDOUT / target}", convention=convention, **ONE)
    assert report.result == result, report.to_text()
    if result == "fail":
        assert {c.id.split("/")[0] for c in report.failed} <= {"running", "eval"}


def test_a_backward_that_recomputes_from_the_inputs_is_called_by_its_parameter_names() -> None:
    report = verify(f"{HERE}:recompute", **ONE)
    assert report.result == "pass", report.to_text()
    assert any("recompute_backward(x, gamma, dy, eps)" in line for line in report.mapping)


def test_the_same_form_with_no_mean_path_fails_and_is_named() -> None:
    report = verify(f"{HERE}:recompute_nomean", **ONE)
    assert report.result == "fail"
    assert {d["id"] for d in report.diagnosis} == {"missing-mu-path"}


def test_dict_results_are_read_by_their_keys() -> None:
    report = verify(f"{HERE}:dicts", **ONE)
    assert report.result == "pass", report.to_text()


def test_a_dict_whose_output_cannot_be_told_is_refused_not_guessed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # its signature is the classic forward(x, gamma, beta, eps): the classic adapter, whose
    # probe cannot read the dict, refuses (exit 2), never a FAIL on a guessed output
    assert main(["verify", f"{HERE}:ambiguous"]) == 2
    assert "which of them is its output cannot be told" in capsys.readouterr().err


def test_from_dict_prefers_a_named_output_and_needs_one_to_stand_out() -> None:
    from tests.internals import target_common as pure

    shape = (2, 3)
    y, other = np.ones(shape), np.zeros(shape)
    assert pure.from_dict({"cache": other, "out": y}, shape, pure.Y_KEYS)[0] is y
    assert pure.from_dict({"a": y, "b": 1.0}, shape, pure.Y_KEYS) == [y, 1.0]
    assert pure.from_dict({"a": y, "b": other}, shape, pure.Y_KEYS) is None
    assert pure.from_dict((y, other), shape, pure.Y_KEYS) is None
    rest = {"dx": y, "dgamma": 1, "dbeta": 2}
    assert pure.from_dict(rest, shape, pure.DX_KEYS)[1] is rest  # several others: the dict


@needs("jax")
def test_a_pure_jax_init_apply_vjp_set_plugs_in_and_passes() -> None:
    # JAX arrays in the records and the gradients; float64 run with jax_enable_x64 on (JAX's
    # default computes float64 input in float32); vjp takes no eps, so apply keeps its own
    report = verify(str(IMPLS / "jax_pure.py"), convention="torch", ndims=(2,))
    assert report.result == "pass", report.to_text()
    text = "\n".join(report.mapping)
    assert "vjp(params, state, x, dy)" in text and "jax_enable_x64 on" in text
    assert "eps: not a parameter" in text
