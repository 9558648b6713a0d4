"""A functional pair is called in the form a probe call confirms (the output follows gamma and
beta by the affine law), never in a guessed one: JAX-style parameter records, cs231n option
dicts under any prefix, fwd/bwd names, state passed in and returned; a pair no form fits is a
usage error listing the forms tried, never a FAIL."""

from __future__ import annotations

import pytest

from bncheck.check import verify
from bncheck.cli import main
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
