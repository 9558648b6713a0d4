"""bncheck.verify: correct implementations pass, each known mistake is caught and diagnosed,
and a misbehaving target is a failed check, never a crash or a hang of bncheck."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import bncheck
from bncheck.check import verify
from bncheck.check.testing import BatchNormVerificationError, assert_batchnorm_correct
from bncheck.cli import main
from bncheck.exceptions import LoadError, TargetImportFailed
from tests.frameworks import needs
from tests.internals import MISTAKES
from tests.paths import IMPLS

F = str(IMPLS / "functional.py")
L = str(IMPLS / "layers.py")
B = str(IMPLS / "broken.py")

CORRECT = [
    (f"{F}:staged", "any"),
    (f"{F}:compact", "any"),
    (f"{F}:npvar", "any"),
    (f"{F}:native32", "any"),
    (f"{L}:torch_layer", "torch"),
    (f"{L}:torch_cumulative_layer", "cumulative"),
    (f"{L}:keras_layer", "keras"),
    (str(IMPLS / "cs231n_style.py"), "keras"),
    ("bncheck", "any"),
    ("bncheck.BatchNorm", "torch"),
    (str(IMPLS / "variants.py") + ":zero_debiased", "zero-debiased"),
]


@pytest.mark.parametrize(
    ("target", "convention"), CORRECT, ids=[t[0].split("/")[-1] for t in CORRECT]
)
def test_correct_implementations_pass(target: str, convention: str) -> None:
    report = verify(target, convention=convention, timeout=20)
    assert report.passed, [(c.id, c.message) for c in report.failed]
    assert not report.diagnosis
    ran = [c for c in report.checks if c.status == "pass"]
    assert any(c.id.startswith("forward/") for c in ran)
    assert any(c.id.startswith("backward/") for c in ran)


# (target, convention, a check that must fail, the diagnosis it must get)
WRONG = [
    (f"{F}:missing_mu_path", "any", "backward/2d/float64", "missing-mu-path"),
    (f"{F}:missing_var_path", "any", "backward/2d/float64", "missing-var-path"),
    (f"{F}:missing_sum_dmu", "any", "backward/2d/float64", "missing-sum-dmu"),
    (f"{F}:eps_outside_sqrt", "any", "forward/2d/float64", "eps-outside-sqrt"),
    (f"{F}:unbiased_normalize", "any", "forward/2d/float64", "unbiased-normalize"),
    (f"{F}:dgamma_from_xc", "any", "backward/2d/float64", "dgamma-from-xc"),
    (f"{F}:dbeta_mean", "any", "backward/2d/float64", "dbeta-mean"),
    (f"{F}:missing_gamma", "any", "backward/2d/float64", "missing-gamma"),
    (f"{F}:wrong_axes", "any", "forward/4d/float64", "wrong-axes"),
    (f"{F}:eps_twice", "any", "forward/2d/float64", "eps-twice"),
    (f"{L}:torch_biased_running_var", "torch", "running", "running-var-bias"),
    (f"{L}:torch_swapped_momentum", "torch", "running", "momentum-swapped"),
    (f"{L}:eval_uses_batch_stats", "torch", "eval", "eval-batch-stats"),
    (f"{L}:updates_state_in_eval", "torch", "eval-state", "state-updated-in-eval"),
    (f"{F}:mutates_input", "any", "no-mutation", "input-mutated"),
]


V = str(IMPLS / "variants.py")
# the catalogue rows no file above covers: each one-mistake BN of tests/impls/variants.py
MORE = [
    (f"{V}:dgamma_sign", "any", "backward/2d/float64", "dgamma-sign"),
    (f"{V}:dbeta_sign", "any", "backward/2d/float64", "dbeta-sign"),
    (f"{V}:dgamma_mean", "any", "backward/2d/float64", "dgamma-mean"),
    (f"{V}:eps_missing", "any", "forward/2d/float64", "eps-missing"),
    (f"{V}:missing_gamma_in_forward", "any", "forward/2d/float64", "missing-gamma-forward"),
    (f"{V}:missing_beta", "any", "forward/2d/float64", "missing-beta"),
    (f"{V}:y_sign", "any", "forward/2d/float64", "y-sign"),
    (f"{V}:eval_eps_twice", "torch", "eval", "eval-eps-twice"),
    (f"{V}:eval_eps_missing", "torch", "eval", "eval-eps-missing"),
    (f"{V}:accumulates_gradients", "torch", "second-call", "stateful-second-call"),
    (f"{V}:perturbed_per_call", "any", "repeatable", "not-repeatable"),
    (f"{V}:frozen_running", "torch", "running", "running-stats-frozen"),
    (f"{V}:one_pass_variance", "any", "forward/2d/float64", "one-pass-variance"),
    (f"{V}:workspace_cache", "any", "older-cache", "cache-overwritten"),
    (f"{V}:workspace_output", "any", "no-mutation", "output-overwritten"),
    (f"{V}:debias_from_one", "zero-debiased", "running", "debias-nonzero-start"),
    (f"{V}:eval_folded_once", "torch", "eval", "eval-stale"),
    (f"{V}:pooled_running", "torch", "running", "running-stats-shared"),
]
WRONG += MORE


def test_every_catalogue_mistake_has_a_wrong_implementation() -> None:
    # here or in the corpus of real-world styles (tests/check/test_verify_realworld.py)
    from tests.realworld_cases import CASES

    covered = {w[3] for w in WRONG} | {d for c in CASES for d in c.diagnosis}
    from tests.impls.distributed import CASES as SYNC  # tests/check/test_verify_distributed.py

    covered |= {d for c in SYNC for d in c[1]}
    # the constants of the fits (tests/check/test_fitted_constants.py)
    from tests.impls.fitted_bugs import DIAGNOSES as FITTED

    covered |= {d for ranks in FITTED.values() for ids in ranks for d in ids}
    # the normalization family (tests/check/test_verify_family.py)
    from tests.impls.family import DIAGNOSES as FAMILY

    covered |= {d for ids in FAMILY.values() for d in ids}
    assert covered == {m.id for m in MISTAKES}


@pytest.mark.parametrize(
    ("target", "convention", "check", "mistake"), WRONG, ids=[w[3] for w in WRONG]
)
def test_each_known_mistake_fails_with_its_diagnosis(
    target: str, convention: str, check: str, mistake: str
) -> None:
    report = verify(target, convention=convention, timeout=20)
    assert not report.passed
    failed = {c.id: c for c in report.failed}
    # behaviour checks run on every rank and dtype: "eval" stands for eval/<n>d/<dtype>
    hits = [c for name, c in failed.items() if name == check or name.startswith(check + "/")]
    assert hits, sorted(failed)
    assert all(mistake in c.diagnosis for c in hits), [(c.id, c.diagnosis) for c in hits]
    # updates_state_in_eval also normalizes eval with the batch statistics: two mistakes
    also = {"eval-batch-stats"} if mistake == "state-updated-in-eval" else set()
    assert {d["id"] for d in report.diagnosis} == {mistake} | also
    assert not report.unexplained


def test_eps_twice_is_caught_in_float64_although_its_effect_is_small() -> None:
    # eps = 1e-5 on unit-variance data changes y by ~2.5e-6 relative, far below float32
    # noise in many regimes but ~1e10 float64 ULP: the float64 check must see it.
    report = verify(f"{F}:eps_twice", dtypes=("float64",), ndims=(2,))
    fwd = next(c for c in report.checks if c.id == "forward/2d/float64")
    assert fwd.status == "fail" and fwd.worst is not None and fwd.budget is not None
    assert fwd.worst > 1e3 * fwd.budget


def test_a_failure_shows_a_shrunk_counterexample_and_the_worst_entries() -> None:
    report = verify(f"{F}:missing_var_path", dtypes=("float64",), ndims=(2,))
    check = next(c for c in report.failed if c.id == "backward/2d/float64")
    assert check.counterexample is not None
    shape = check.counterexample["shape"]
    assert shape[1] == 1 and shape[0] < 16  # one channel, fewer rows than the probe's 16
    assert check.worst_entries and {"index", "got", "truth"} <= set(check.worst_entries[0])


BROKEN = [
    ("raises", "forward raised RuntimeError: boom in forward"),
    ("nan", "contains nan"),
    ("none", "backward returned NoneType; expected (dx, dgamma, dbeta)"),
    ("shape", "has shape (15, 3); expected (16, 3)"),
    ("exits", "the target process exited (code 3)"),
    ("sysexit", "called sys.exit(4)"),
    ("floods", "MB to stdout/stderr"),
]


@pytest.mark.parametrize(("prefix", "message"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_misbehaving_target_is_a_failed_check_not_a_crash(prefix: str, message: str) -> None:
    report = verify(f"{B}:{prefix}", timeout=1.0, ndims=(2,))
    assert not report.passed
    assert any(message in c.message for c in report.failed), [c.message for c in report.failed]


def test_a_target_that_does_not_answer_in_time_is_not_checked_never_failed_nor_passed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A timeout is no evidence of a wrong BN (a framework compiling its kernels on a loaded
    machine answers late, a hung target never; bncheck cannot tell them apart): the checks it
    stopped are not checked, the verification incomplete (exit 4), never a pass."""
    report = verify(f"{B}:hangs", timeout=1.0, ndims=(2,))
    assert not report.passed and report.result == "incomplete" and not report.failed
    assert report.not_checked and all(
        "did not return within 1 s" in c.message and "did not answer in time" in c.message
        for c in report.not_checked
    )
    code = main(["verify", f"{B}:hangs", "--timeout", "1", "--ndims", "2"])
    assert code == 4
    assert capsys.readouterr().out.rstrip().splitlines()[-1].startswith("Result: INCOMPLETE")


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (str(IMPLS / "no_protocol.py"), "has no forward/backward"),
        (str(IMPLS / "missing.py"), "does not exist"),
        (f"{F}:nothing", "has no 'nothing'"),
        ("no_such_module_xyz", "(?i)no module named"),
    ],
    ids=["no protocol", "no file", "no attribute", "no module"],
)
def test_a_target_that_cannot_be_loaded_raises_load_error(target: str, message: str) -> None:
    with pytest.raises(LoadError, match=message):
        verify(target)


def test_a_target_whose_import_raises_import_error_is_not_loaded_with_its_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(TargetImportFailed, match="this module cannot be imported") as info:
        verify(str(IMPLS / "import_fails.py"))
    assert "import_fails.py" in info.value.traceback  # the target's own frame
    assert main(["verify", str(IMPLS / "import_fails.py")]) == 3  # neither FAIL nor usage
    assert capsys.readouterr().out.rstrip().splitlines()[-1].startswith("Result: NOT LOADED")


def test_a_target_that_crashes_while_loading_is_a_failed_check_with_its_traceback(
    tmp_path: Path,
) -> None:
    target = tmp_path / "crashes.py"
    target.write_text("SCALE = 1 / 0  # the target's own bug, at import\n")
    report = verify(str(target))
    assert not report.passed
    (load,) = report.failed
    assert load.id == "load" and "ZeroDivisionError" in load.message
    assert "crashes.py" in load.message  # the target's own frame
    assert main(["verify", str(target)]) == 1  # a failed check, not a usage error


def test_python_objects_are_targets_too() -> None:
    def forward(x: Any, gamma: Any, beta: Any, eps: float) -> Any:
        return bncheck.batchnorm_forward(x, gamma, beta, eps=eps)

    assert verify((forward, bncheck.batchnorm_backward), ndims=(2,)).passed  # closures: forked
    assert verify(bncheck, ndims=(2,)).passed  # a module
    report = verify(bncheck.BatchNorm, convention="torch", ndims=(2,))  # a layer class
    assert report.passed and report.kind == "layer"
    assert any("train()/eval()" in line for line in report.mapping)
    report = verify(bncheck.BatchNorm(3, convention="keras"), convention="keras", ndims=(2,))
    assert report.passed  # an instance (copied for every check)


def test_verify_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="convention='tf'"):
        verify("bncheck", convention="tf")
    with pytest.raises(ValueError, match="dtypes contains 'int8'"):
        verify("bncheck", dtypes=("int8",))


def test_cli_exit_codes_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", f"{F}:compact", "--ndims", "2"]) == 0
    assert "Result: PASS" in capsys.readouterr().out
    assert main(["verify", f"{F}:missing_mu_path", "--ndims", "2", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] is False
    assert "missing-mu-path" in {d["id"] for d in data["diagnosis"]}
    assert {c["id"] for c in data["checks"]} >= {"forward/2d/float64", "backward/2d/float64"}
    assert main(["verify", str(IMPLS / "no_protocol.py")]) == 2
    assert "cannot use target" in capsys.readouterr().err


def test_cli_text_report_names_the_mistake(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", f"{L}:torch_swapped_momentum", "--convention", "torch"]) == 1
    out = capsys.readouterr().out
    assert "momentum-swapped" in out and "FAIL running" in out


def test_the_bncheck_command_runs_verify_in_a_subprocess() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bncheck", "verify", f"{F}:staged", "--ndims", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_assert_batchnorm_correct_passes_and_raises() -> None:
    assert assert_batchnorm_correct(f"{F}:compact", ndims=(2,)).passed
    with pytest.raises(BatchNormVerificationError, match="missing-var-path") as info:
        assert_batchnorm_correct(f"{F}:missing_var_path", ndims=(2,))
    assert not info.value.report.passed


def test_the_pytest_plugin_provides_the_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        def test_good(assert_batchnorm_correct):
            assert_batchnorm_correct({F + ":compact"!r}, ndims=(2,))

        def test_bad(assert_batchnorm_correct):
            assert_batchnorm_correct({F + ":dbeta_mean"!r}, ndims=(2,))
        """
    )
    result = pytester.runpytest_subprocess("-p", "bncheck")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*dbeta-mean*"])


@needs("torch")
def test_torch_modules_are_verified_through_autograd() -> None:
    report = verify("torch.nn.BatchNorm1d", convention="torch", ndims=(2, 3))
    assert report.passed and report.kind == "torch"


def test_a_layer_without_a_momentum_attribute_has_it_inferred(tmp_path: Path) -> None:
    target = tmp_path / "nomomentum.py"
    target.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(IMPLS)!r})\n"
        "from layers import Layer\n"
        "class NoMomentum(Layer):\n"
        "    def __init__(self, c):\n"
        "        super().__init__(c)\n"
        "        self._m = self.__dict__.pop('momentum')\n"
        "    def __getattr__(self, name):\n"
        "        if name == 'momentum':\n"
        "            return self.__dict__['_m']\n"
        "        raise AttributeError(name)\n",
        encoding="utf-8",
    )
    report = verify(f"{target}:NoMomentum", convention="torch", ndims=(2,))
    assert report.passed, [(c.id, c.message) for c in report.failed]
    running = next(c for c in report.checks if c.id == "running/2d/float64")
    assert "no numeric momentum; the first update weighs the batch 0.1" in running.message


def test_an_output_in_another_dtype_is_an_interface_warning_not_a_numeric_failure(
    tmp_path: Path,
) -> None:
    target = tmp_path / "upcast.py"
    target.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(IMPLS)!r})\n"
        "from functional import compact_forward, compact_backward\n"
        "def forward(x, g, b, eps):\n"
        "    return compact_forward(x.astype('float64'), g.astype('float64'), b, eps)\n"
        "backward = compact_backward\n",
        encoding="utf-8",
    )
    report = verify(str(target), ndims=(2,))
    assert report.passed  # the numbers are right
    assert any("dtype float64 for float32 input" in w for w in report.contract)
    strict = verify(str(target), ndims=(2,), strict=True)
    assert [c.id for c in strict.failed] == ["contract"]


def test_assert_batchnorm_correct_finds_a_relative_file_beside_the_calling_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # not where the target is
    assert assert_batchnorm_correct("../impls/functional.py:compact", ndims=(2,)).passed


def test_the_output_is_coherent_worst_entries_belong_to_the_shrunk_case() -> None:
    report = verify(f"{F}:missing_mu_path", dtypes=("float64", "float32"), ndims=(2, 4))
    for check in report.failed:
        if check.counterexample is None:
            continue
        shape = tuple(check.counterexample["shape"])
        for entry in check.worst_entries:
            index = tuple(entry["index"])
            bound = shape if entry["output"] in ("y", "dx") else (shape[1],)
            inside = len(index) == len(bound) and all(
                i < n for i, n in zip(index, bound, strict=True)
            )
            assert inside, (check.id, index, shape)
        # one number per check: the table's worst error is the one the message starts with
        if check.worst is not None and check.message.startswith(("dx", "y", "dgamma", "dbeta")):
            assert f"{check.worst:.3g}" in check.message
    text = report.to_text()
    assert "np.float" not in text and "1 checks" not in text
    data = json.loads(report.to_json())
    by_id = {c["id"]: c for c in data["checks"]}
    for check in report.failed:
        assert by_id[check.id]["worst"] == check.worst


def test_one_failed_check_reads_as_one_check(tmp_path: Path) -> None:
    report = verify(
        f"{L}:torch_swapped_momentum", convention="torch", ndims=(2,), dtypes=("float64",)
    )
    assert len(report.failed) == 1
    assert report.to_text().endswith("Result: FAIL (1 check failed)")


@needs("torch")
def test_torch_momentum_none_is_the_cumulative_average_of_the_torch_convention() -> None:
    import torch

    report = verify(torch.nn.BatchNorm1d(3, momentum=None), convention="torch", ndims=(2,))
    assert report.passed, report.to_text()
    running = next(c for c in report.checks if c.id == "running/2d/float64")
    assert "follows cumulative" in running.message


@needs("torch")
def test_a_torch_modules_parameters_and_buffers_under_any_names_are_found_by_behaviour() -> None:
    report = verify(f"{IMPLS / 'torch_buffers.py'}:OddBuffersBN", convention="torch", ndims=(2,))
    assert report.passed, report.to_text()
    assert any("avg" in m and "spread" in m and "by behaviour" in m for m in report.mapping)
    # its gain and offset too (a torch module's own parameters, told apart by the affine law)
    assert any("gain, offset" in m and "by behaviour" in m for m in report.mapping), report.mapping
    assert next(c for c in report.checks if c.id == "eval/2d/float64").status == "pass"
