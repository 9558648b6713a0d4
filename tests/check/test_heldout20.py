"""The twentieth held-out corpus, tests/impls/heldout20/ (EXPECTED.md written before the first
run, RESULTS.md that run: 6 match, 1 acceptable, 11 MISS, every miss a false PASS): bugs that
show only under a condition bncheck never created. The misses fixed, each by a condition the
checks now create for any target:

- rows 2, 12, 16: dy = 0 (NaN gradients), a channel of constant values (dx 0 where the truth is
  about 500), a gamma of exactly 0 (NaN): edge inputs of the identities check;
- row 3, a cs231n default array shared by every new bn_param dict: a new instance's first
  training step on the same batch must give the first instance's statistics;
- row 4, a cs231n backward reading ``bn_param["mode"]`` when it runs: older-cache puts an eval
  forward between a training forward and its backward too;
- rows 7 and 14, a ``load_state_dict`` that converts the variance and a deep copy that starts
  afresh: the layer saved and restored as users do must keep its statistics;
- rows 10 and 15, a path taken for C = 1 and no Bessel correction at m = 2: the running check
  ends with a fresh instance on one channel and 2 values per channel;
- row 6, a ``reset_running_stats()`` that leaves the cumulative counter: the running check
  resets a trained layer that has one and follows 3 more batches from there;
- row 9, a backward wrong when ``ctx.needs_input_grad`` says a parameter needs none: the
  identities check freezes gamma, then beta, of an autograd layer and judges dx again.

Float64 unless a row says otherwise (tests/heldout.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.frameworks import marks
from tests.heldout import verdict
from tests.paths import IMPLS

#: a held-out corpus (pyproject's `corpus` mark: CI's second stage leaves its framework rows out)
pytestmark = pytest.mark.corpus
CORPUS = IMPLS / "heldout20"
T, J = marks("torch"), marks("jax")
TORCH = {"convention": "torch"}
KERAS = {"convention": "keras"}

#: (row, target, verify options, result, mistake named or "", the only mistakes it may name)
ROWS: list[Any] = [
    pytest.param("1", "c_d2l.py", {}, "pass", "", None),
    pytest.param("2", "dy0_d2l_bug.py", {}, "fail", "", None),
    pytest.param("3", "cs231n_alias_bug.py", KERAS, "fail", "running-stats-shared", None),
    pytest.param("4", "cs231n_mode_bug.py", KERAS, "fail", "", None),
    pytest.param("5", "c_torch_sub.py:MyBatchNorm", TORCH, "pass", "", None, marks=T),
    pytest.param("6", "reset_cumulative_bug.py:AdaBN", TORCH, "fail", "", None, marks=T),
    pytest.param("7", "load_version_bug.py:ConvertingBN", TORCH, "fail", "", None, marks=T),
    pytest.param(
        "8", "eval_views_bug.py:InferBN", TORCH, "fail", "output-overwritten", None, marks=T
    ),
    pytest.param("9", "needs_grad_bug.py:FrozenAffineBN", TORCH, "fail", "", None, marks=T),
    pytest.param("10", "c1_running_bug.py:FastBN", TORCH, "fail", "", None, marks=T),
    pytest.param("11", "c_flax.py:BatchNorm", {"axis": -1, **KERAS}, "pass", "", None, marks=J),
    pytest.param(
        "12", "flax_const_bug.py:BatchNorm", {"axis": -1, **KERAS}, "fail", "", None, marks=J
    ),
    pytest.param("13", "c_numpy_layer.py:BatchNorm", TORCH, "pass", "", None),
    pytest.param("14", "deepcopy_bug.py:BatchNorm", TORCH, "fail", "", None),
    pytest.param("15", "batch2_bug.py:BatchNorm", TORCH, "fail", "running-var-bias", None),
    pytest.param("16", "gamma0_bug.py:iabn", {}, "fail", "", None),
    pytest.param("17", "smooth_hostile.py", {}, "fail", "", None),
    pytest.param("18", "rng_hostile.py", {}, "fail", "", None),
]


@pytest.mark.parametrize(("row", "target", "options", "result", "named", "only"), ROWS)
def test_each_held_out_target_gets_its_verdict(
    row: str,
    target: str,
    options: dict[str, Any],
    result: str,
    named: str,
    only: set[str] | None,
) -> None:
    report, _ = verdict(CORPUS, row, target, options, result, named, only)
    failed = {c.id.split("/")[0] for c in report.checks if c.status == "fail"}
    if row in ("2", "9", "12", "16"):  # an edge input of the identities check, nothing else
        assert failed == {"identities"}, failed
    if row in ("3", "6", "10", "15"):
        assert failed == {"running"}, failed
    if row == "4":
        assert failed == {"older-cache"}, failed
    messages = " ".join(c.message for c in report.checks if c.status == "fail")
    if row == "6":
        assert "after reset_running_stats()" in messages, messages
    if row == "9":
        assert "with gamma frozen" in messages and "with beta frozen" in messages, messages
