"""verify(..., world_size=K): a synchronized BN run in K processes over gloo, judged against the
single-process truth of the concatenated batch; the distributed mistakes named by their
models; a rank that raises, hangs or exits reported with its traceback, and no process left.

Needs PyTorch (skipped without it), except the option and missing-PyTorch checks at the end.
Each verification costs one spawned target process importing PyTorch (about 5-8 s here), so
the wrong implementations run on 2-D inputs only.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bncheck.check import verify
from bncheck.exceptions import LoadError
from tests.frameworks import needs
from tests.impls.distributed import CASES, DIRECTORY

REFERENCE = "bncheck.check.sync_batchnorm:SyncBatchNorm"
FAILING = DIRECTORY / "failing.py"


@needs("torch")
def test_the_reference_sync_batchnorm_passes_in_four_processes() -> None:
    start = time.perf_counter()
    report = verify(REFERENCE, world_size=4)
    seconds = time.perf_counter() - start
    assert report.passed, report.to_text()
    ids = [c.id for c in report.checks]
    for layout in ("shards=1,2,3,6", "shards=3,3,3,3"):
        for stage in ("forward", "backward", "running", "eval", "eval-state"):
            for config in ("2d/float64", "2d/float32", "4d/float64", "4d/float32"):
                assert f"{stage}/{config}/{layout}" in ids
    assert report.options["world_size"] == 4
    assert "4 processes, gloo" in report.kind
    assert any("process_group=<the world group>" in m for m in report.mapping)
    assert all("follows torch" in c.message for c in report.checks if c.id.startswith("running"))
    assert "Result: PASS" in report.to_text()
    assert seconds < 120, seconds  # the speed requirement on a 2-core machine


@pytest.mark.parametrize(
    ("spec", "mistakes", "families"), CASES, ids=[c[0].split(".")[0] for c in CASES]
)
@needs("torch")
def test_each_distributed_mistake_fails_and_is_named(
    spec: str, mistakes: tuple[str, ...], families: tuple[str, ...]
) -> None:
    report = verify(str(DIRECTORY / spec), world_size=4, ndims=(2,))
    assert not report.passed
    assert {d["id"] for d in report.diagnosis} == set(mistakes)
    assert not report.unexplained, [(c.id, c.message[:200]) for c in report.unexplained]
    failed = {c.id.split("/")[0] for c in report.failed}
    assert failed == set(families), failed
    if "sync-equal-weight-merge" in mistakes:  # equal shards hide it: only unequal ones fail
        assert all("shards=1,2,3,6" in c.id for c in report.failed)
    if "sync-one-pass-variance" in mistakes:
        # caught only on the offset channel (mean 2e3 against spread 2 in float32, 1e6 in
        # float64): the worst entry of every failed forward lies in channel 1
        for check in report.failed:
            if check.id.startswith("forward"):
                assert {e["index"][1] for e in check.worst_entries} == {1}


def _pids(path: Path) -> set[int]:
    return {int(p) for p in path.read_text().split()} if path.exists() else set()


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "State:\tZ" not in status


@needs("torch")
def test_a_failing_rank_is_a_failed_check_and_no_process_outlives_verify(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pidfile = tmp_path / "pids"
    monkeypatch.setenv("BNCHECK_TEST_PIDFILE", str(pidfile))
    start = time.perf_counter()
    report = verify(f"{FAILING}:FailsByCase", world_size=4, timeout=2)
    assert time.perf_counter() - start < 60
    by_id = {c.id: c for c in report.checks}
    raised = by_id["forward/2d/float64/shards=1,2,3,6"].message
    assert raised.startswith("rank 2 raised ValueError: rank 2 refuses this shard"), raised
    assert "failing.py" in raised and "sync_ranks.py" not in raised  # its frames, not verify's
    assert "rank(s) 0, 1, 3 stopped by verify after that failure" in raised
    assert by_id["forward/2d/float64/shards=3,3,3,3"].message.startswith("rank 2 raised")
    exited = by_id["forward/2d/float32/shards=1,2,3,6"].message  # fresh ranks after a raise
    assert exited.startswith("rank 0's process exited (code 3)"), exited
    hung = by_id["forward/4d/float64/shards=1,2,3,6"].message
    assert hung.startswith("rank 1 did not return within 2 s, hung (not in a collective)"), hung
    assert "failing.py" in hung and "time.sleep" in hung
    assert "rank 0 did not return within 2 s, waiting in a torch.distributed collective" in hung
    after = [
        c
        for c in report.checks
        if c.id.startswith(("forward/4d/float64/shards=3", "forward/4d/float32"))
    ]
    assert after and all(c.message == "not run: a rank hung in an earlier case" for c in after)
    assert all(
        c.status == "fail"
        for c in report.checks
        if c.id.split("/")[0] in ("forward", "backward", "running", "eval", "eval-state")
    )
    time.sleep(0.2)
    pids = _pids(pidfile)
    assert len(pids) >= 12  # three sets of ranks: after each failure, fresh ones
    assert not [p for p in pids if _alive(p)]


@needs("torch")
def test_a_function_target_passes_through_the_pytest_fixture(
    assert_batchnorm_correct: Callable[..., Any],
) -> None:
    # world_size passes through assert_batchnorm_correct (and the fixture) to verify; a
    # relative file is found beside this test file
    report = assert_batchnorm_correct(
        "../impls/distributed/functional_ok.py:sync_batch_norm",
        world_size=2,
        ndims=(2,),
        dtypes=("float32",),
    )
    assert report.kind.startswith("sync-function (2 processes")
    assert any(c.id.startswith("backward/") and c.status == "pass" for c in report.checks)
    assert all(c.status == "skip" for c in report.checks if c.id.startswith("running"))


# -- no processes: options, missing PyTorch, the models ------------------------------------------


@pytest.mark.parametrize("bad", [1, 17, 0, True, 2.0, "4"])
def test_world_size_outside_2_to_16_is_a_clear_error(bad: object) -> None:
    with pytest.raises(ValueError, match=r"world_size=.*expected a whole number from 2 to 16"):
        verify(REFERENCE, world_size=bad)  # type: ignore[arg-type]


def test_the_command_line_validates_world_size(capsys: pytest.CaptureFixture[str]) -> None:
    from bncheck.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["verify", REFERENCE, "--world-size", "1"])
    assert exc.value.code == 2
    assert "--world-size: '1': expected a whole number from 2 to 16" in capsys.readouterr().err


def test_without_pytorch_world_size_is_a_usage_error_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bncheck.cli import main
    from tests.internals import distributed

    real = importlib.util.find_spec
    monkeypatch.setattr(
        distributed.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "torch" else real(name, *a),
    )
    with pytest.raises(LoadError, match=r"pip install 'bncheck\[compare\]'"):
        verify(REFERENCE, world_size=2)
    assert main(["verify", REFERENCE, "--world-size", "2"]) == 2
    assert "pip install 'bncheck[compare]'" in capsys.readouterr().err


def test_the_reference_without_pytorch_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import bncheck.check.sync_batchnorm as module

    monkeypatch.delitem(vars(module), "SyncBatchNorm", raising=False)
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'bncheck\[compare\]'"):
        module.SyncBatchNorm  # noqa: B018


def _shards(rows: list[int], seed: int = 0) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(0.5, 2.0, size=(sum(rows), 3))
    x[:, 1] += 10.0 * np.repeat(np.arange(len(rows)), rows)  # shards with different means
    return x, rows


def test_the_models_tell_the_merges_apart_on_unequal_shards_only() -> None:
    from tests.internals import BETWEEN, EQUAL, Shards, models

    for rows, equal_is_right in (([1, 2, 3, 6], False), ([3, 3, 3, 3], True)):
        sh = Shards(*_shards(rows))
        by = {m.ids: m for m in models(sh, fit=False)}
        right = by[()]
        assert np.allclose(by[(EQUAL,)].mu, right.mu) == equal_is_right
        assert np.allclose(by[(EQUAL,)].var, right.var) == equal_is_right
        assert not np.allclose(by[(BETWEEN,)].var, right.var)  # always missing the spread
        # the merged statistics are the statistics of the whole batch (Chan)
        assert np.allclose(right.var, sh.x.var(axis=0))


def test_the_diagnosis_names_a_numpy_model_of_each_mistake_and_nothing_else() -> None:
    from bncheck.check.truth import exact_batchnorm
    from tests.internals import (
        EQUAL,
        LOCAL,
        Shards,
        diagnose_backward,
        diagnose_forward,
        judge,
        merge_term,
        uncols,
    )

    g, b, eps = np.array([1.5, -0.8, 1.2]), np.array([0.1, -0.3, 0.2]), 1e-5
    dy = np.random.default_rng(2).normal(size=(12, 3))
    for rows in ([1, 2, 3, 6], [3, 3, 3, 3]):
        x, _ = _shards(rows)
        sh = Shards(x, rows)
        extra = merge_term(sh, eps, np.float64)
        truth = exact_batchnorm(x, g, b, dy, eps=eps, axis=1)
        mu_e = sh.local_mu.mean(axis=0)
        var_e = np.mean([((sh.x[sh.rank == r] - mu_e) ** 2).mean(axis=0) for r in range(4)], 0)
        y_equal = uncols(g * (sh.x - mu_e) / np.sqrt(var_e + eps) + b, sh.shape)
        found = diagnose_forward(sh, g, b, eps, y_equal, truth.y, np.float64, extra, x)
        # on equal shards the equal-weight merge is right: y passes, and a y that fails
        # narrowly (3 budgets off) is not explained by a model equal to the truth there
        assert found.ids == ([EQUAL] if rows[0] == 1 else [])
        near = judge("y", truth.y, truth.y, sh, x, eps, np.float64, extra, gamma=g)
        y_off = truth.y * (1 + 3 * near.budget * 2.0**-52)
        assert not judge("y", y_off, truth.y, sh, x, eps, np.float64, extra, gamma=g).passed
        assert diagnose_forward(sh, g, b, eps, y_off, truth.y, np.float64, extra, x).ids == []
    # local sums (autograd through a plain all-reduce): dx = g/s·(dy − S1_r/m − x_hat·S2_r/m
    # + the rank's Σ x_hat/m times S2_r/m)
    s = np.sqrt(sh.var + eps)
    xh = (sh.x - sh.mu) / s
    l1, l2 = sh.local_sum(dy), sh.local_sum(dy * xh)
    dx = g / s * (dy - l1 / sh.m - xh * l2 / sh.m + l2 * sh.local_sum(xh / sh.m) / sh.m)
    grads = {"dx": uncols(dx, sh.shape), "dgamma": (dy * xh).sum(axis=0), "dbeta": dy.sum(axis=0)}
    ref = {"dx": truth.dx, "dgamma": truth.dgamma, "dbeta": truth.dbeta}
    found = diagnose_backward(sh, g, b, eps, dy, None, grads, ref, np.float64, extra, x)
    assert found.ids == [LOCAL]
    grads["dx"] = grads["dx"] * 1.01
    assert diagnose_backward(sh, g, b, eps, dy, None, grads, ref, np.float64, extra, x).ids == []


def test_each_distributed_mistake_is_a_catalogue_row_with_a_fix() -> None:
    from tests.internals import MISTAKES

    rows = {m.id: m for m in MISTAKES}
    for _, mistakes, _ in CASES:
        for mistake in mistakes:
            assert rows[mistake].description and rows[mistake].fix
