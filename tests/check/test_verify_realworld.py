"""bncheck verify on BNs written the way public code writes them (tests/impls/realworld/, with
the expected verdicts in tests/realworld_cases.py): each plugs in with no adapter, gets the
right verdict, names exactly its mistake, leaves no failure unexplained, and reports interface
deviations apart from the maths."""

from __future__ import annotations

import pytest

from bncheck.check import verify
from tests.frameworks import needs
from tests.realworld_cases import CASES, Case


@pytest.mark.parametrize("case", CASES, ids=[c.file.removesuffix(".py") for c in CASES])
def test_a_real_world_style_gets_its_verdict_and_diagnosis(case: Case) -> None:
    report = verify(case.spec, convention=case.convention, ndims=case.ndims, timeout=20)
    failed = sorted(c.id for c in report.failed)
    assert report.passed == case.passes, [(c.id, c.message[:200]) for c in report.failed]
    assert {d["id"] for d in report.diagnosis} == set(case.diagnosis), failed
    assert not report.unexplained, [(c.id, c.explanation) for c in report.unexplained]
    families = {name.split("/")[0] for name in failed}
    assert set(case.checks) <= families, (sorted(case.checks), failed)
    assert bool(report.contract) == case.contract_warning, report.contract
    assert report.mapping  # the report says how the target was plugged in
    assert not any(c.id == "load" for c in report.checks)


def test_the_corpus_covers_the_styles_and_mistakes_of_the_issue() -> None:
    correct = [c for c in CASES if c.passes]
    wrong = [c for c in CASES if not c.passes]
    assert len(CASES) >= 15 and len(correct) >= 10 and len(wrong) >= 14
    text = " ".join(c.mapping + " " + c.style for c in CASES)
    for form in (
        "train_flg",
        "training",
        "mode",
        "train()",
        "weight",
        "scale",
        "moving_mean",
        "lazy",
        "ctor(gamma, beta)",
        "dgamma",
        "grads",
        "(1, C)",
    ):
        assert form in text, form


@needs("torch")
def test_a_from_scratch_torch_textbook_layer_plugs_in_and_gets_running_var_bias() -> None:
    from tests.realworld_cases import DIRECTORY

    target = f"{DIRECTORY / 'd2l_torch_running_biased.py'}:BatchNorm"
    report = verify(target, convention="torch", timeout=30)
    assert not report.passed
    # it also picks its statistics by torch.is_grad_enabled(): eval with gradient recording on
    # normalizes with (and updates) the batch statistics
    assert {c.id.split("/")[0] for c in report.failed} == {"running", "eval", "eval-state"}
    assert {d["id"] for d in report.diagnosis} == {
        "running-var-bias",
        "eval-batch-stats",
        "state-updated-in-eval",
    }
    assert any("BatchNorm(num_features, <input rank>)" in m for m in report.mapping)
    assert any("held as shape (1, C)" in w for w in report.contract)
    keras_like = verify(target, convention="any", ndims=(2,), timeout=30)
    # biased variance with torch's momentum meaning is a known pair: only eval is wrong
    assert {c.id.split("/")[0] for c in keras_like.failed} == {"eval", "eval-state"}


@needs("torch")
def test_a_layer_of_torch_tensors_without_backward_is_checked_through_autograd() -> None:
    from tests.realworld_cases import DIRECTORY

    target = f"{DIRECTORY / 'w26_torch_tensors_unbiased_normalize.py'}:BatchNorm1d"
    report = verify(target, convention="torch", ndims=(2,), timeout=30)
    assert any("autograd" in m for m in report.mapping)
    assert {d["id"] for d in report.diagnosis} == {"unbiased-normalize"}
    assert not report.unexplained


def test_a_purely_numerical_flaw_fails_and_is_named_one_pass_variance() -> None:
    from tests.realworld_cases import DIRECTORY

    report = verify(str(DIRECTORY / "w27_one_pass_variance.py"), ndims=(2,))
    assert not report.passed
    # its error is rounding, not a formula: named by the one-pass model (one_pass.py), and in
    # particular not float32-arithmetic: it computes in float64
    assert {d["id"] for d in report.diagnosis} == {"one-pass-variance"}
    assert "forward/2d/float64" in {c.id for c in report.failed}
    assert not report.unexplained
