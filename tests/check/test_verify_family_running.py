"""``bncheck verify`` on InstanceNorm targets with running statistics (issue 23, point 3) and
the family's memory layouts (point 6): the planted layers of tests/impls/family_running.py and
the held-out ones of tests/impls/family_heldout/ get their verdicts and names; a target
without running statistics says they were not applicable; the instance statistics the
running check expects are PyTorch's; a kernel wrong on Fortran-ordered input only fails."""

from __future__ import annotations

import numpy as np
import pytest

import bncheck
from tests.frameworks import needs
from tests.impls.family_running import DIAGNOSES
from tests.internals import family_checks, running_set_size
from tests.paths import IMPLS

PLANTED = str(IMPLS / "family_running.py")
HELDOUT = IMPLS / "family_heldout"

#: the held-out files (MANIFEST.md): class, expected names ([] = pass)
HELD = {
    "fh01_torchlike_module.py": ("InstanceNorm2d", []),
    "fh02_keras_moving_biased.py": ("InstanceNormalization", ["running-var-bias"]),
    "fh03_mode_string_swapped.py": ("SpatialInstanceNorm", ["momentum-swapped"]),
    "fh04_flag_eval_instance_stats.py": ("InstanceNorm", ["eval-batch-stats"]),
}


def _verify(target: object, **kw: object) -> bncheck.check.VerificationReport:
    kw.setdefault("dtypes", ("float64",))
    kw.setdefault("ndims", (4,))
    return bncheck.verify(target, **kw)  # type: ignore[arg-type]


def _named(report: bncheck.check.VerificationReport) -> set[str]:
    return {d for c in report.checks if c.status == "fail" for d in c.diagnosis}


def _assert_verdict(report: bncheck.check.VerificationReport, want: list[str]) -> None:
    fails = [(c.id, c.message) for c in report.checks if c.status == "fail"]
    assert report.passed is (not want), fails
    assert _named(report) == set(want), fails
    assert [c.id for c in report.checks if c.status == "fail" and not c.diagnosis] == []


@pytest.mark.parametrize("name", list(DIAGNOSES))
def test_planted_instance_norms_get_their_verdict_and_names(name: str) -> None:
    report = _verify(f"{PLANTED}:{name}")
    _assert_verdict(report, DIAGNOSES[name])
    running = [c for c in report.checks if c.key.family == "running"]
    if name == "InstanceNormPlain":
        assert [c.status for c in running] == ["skip"]
        why = report.coverage["running"]["not_run"]["-"]
        assert "not applicable" in why and "no running statistics" in why
    else:
        assert [c.id for c in running] == ["running/4d/float64"]
        assert running[0].status == (
            "fail"
            if "running" in str(DIAGNOSES[name]) or "momentum" in str(DIAGNOSES[name])
            else "pass"
        )


@pytest.mark.parametrize("file", list(HELD))
def test_heldout_instance_norms(file: str) -> None:
    cls, want = HELD[file]
    report = _verify(f"{HELDOUT / file}:{cls}", norm="instance")
    _assert_verdict(report, want)
    assert report.coverage["running"]["ran"] == ["4d/float64"]


def test_running_statistics_are_the_averaged_instance_statistics() -> None:
    # a layer keeping BN's pooled batch variance instead fails the running check: the
    # expectation is the per-instance statistics averaged over the batch, not BN's
    report = _verify(f"{PLANTED}:InstanceNormPooledRunning", dtypes=("float64", "float32"))
    running = [c for c in report.checks if c.key.family == "running"]
    assert [c.status for c in running] == ["fail", "fail"]
    assert all(c.worst is not None and c.worst > 1e3 for c in running)
    # the set of the unbiased factor: the values of one instance, not of the whole channel
    assert running_set_size((4, 3, 3, 2), "instance") == 6
    assert running_set_size((4, 3, 3, 2), "batch") == 24
    assert running_set_size((4, 3, 5), "instance") == 5


def test_running_statistics_without_an_eval_switch_are_not_checked() -> None:
    report = _verify(f"{PLANTED}:InstanceNormNoSwitch")
    rows = {c.id: c for c in report.checks if c.key.family in ("running", "eval")}
    assert {c.status for c in rows.values()} == {"not-checked"}
    assert "no train/eval switch" in rows["running"].message
    assert not report.passed


def test_a_kernel_wrong_on_fortran_order_only_fails() -> None:
    report = _verify(f"{PLANTED}:layernorm_corder", ndims=(2,), norm="layer")
    fwd = next(c for c in report.checks if c.id == "forward/2d/float64")
    assert fwd.status == "fail" and "Fortran-ordered" in fwd.message
    assert fwd.counterexample is not None and fwd.counterexample["layout"] == "F"
    assert "C-contiguous are within budget" in fwd.explanation
    # its C-contiguous checks pass: the failure is the layout's
    status = {c.id: c.status for c in report.checks}
    assert status["identities/2d/float64"] == "pass"
    assert status["backward-fd/2d/float64"] == "pass"


def test_a_correct_family_target_passes_every_layout() -> None:
    from bncheck.check.norms import Member

    cases = family_checks.make_cases(Member("instance"), 4, "float64", 0, 2, layouts=True)
    layouts = {c.layout for c in cases}
    assert layouts == {"C", "F", "transposed", "channels_last", "sliced", "reversed"}
    f = next(c for c in cases if c.layout == "F")
    assert f.x.flags.f_contiguous and not f.x.flags.c_contiguous
    r = next(c for c in cases if c.layout == "reversed")
    assert all(s < 0 for s in r.x.strides)
    report = _verify(f"{PLANTED}:InstanceNormPlain")
    assert report.passed


@needs("torch")
def test_torch_instance_norm_with_running_statistics() -> None:
    import torch

    report = _verify(
        torch.nn.InstanceNorm2d(3, track_running_stats=True), dtypes=("float64", "float32")
    )
    # its backward fails on a batch of one laid out channels-last, a PyTorch bug (the test of
    # that in test_verify_family.py); what is checked here is its running statistics and eval
    failed = [c.id for c in report.checks if c.status == "fail"]
    assert set(failed) <= {"backward/4d/float64", "backward/4d/float32"}, failed
    assert report.coverage["running"]["ran"] == ["4d/float64", "4d/float32"]
    assert report.coverage["eval"]["ran"] == ["4d/float64", "4d/float32"]
    plain = _verify(torch.nn.InstanceNorm2d)
    assert {c.id for c in plain.checks if c.status == "fail"} <= set(failed) | {
        "backward/4d/float64",
        "backward/4d/float32",
    }
    assert "not applicable" in plain.coverage["running"]["not_run"]["-"]


@needs("torch")
def test_torch_instance_norm_momentum_is_kept() -> None:
    import torch

    report = _verify(torch.nn.InstanceNorm1d(3, track_running_stats=True, momentum=0.3), ndims=(3,))
    assert report.passed
    assert any("momentum=0.3" in line for line in report.mapping)
    assert np.isfinite(next(c for c in report.checks if c.id == "running/3d/float64").worst)
