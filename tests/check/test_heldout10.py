"""The tenth held-out corpus, tests/impls/heldout10/ (EXPECTED.md written before the first run,
RESULTS.md that run: 13 match, 1 MISS, no false PASS): LayerNorm, RMSNorm, GroupNorm and
InstanceNorm in NumPy, PyTorch and JAX, correct and with one planted mistake each. The miss is
fixed: row 5, a correct JAX LayerNorm pair, failed as float32-arithmetic on every float64 run,
the family's function pairs not running float64 with ``jax_enable_x64`` on as BN pairs do.

Float64 unless a row says otherwise (tests/heldout.py); the JAX row slow (eager JAX)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.frameworks import marks
from tests.heldout import verdict
from tests.paths import IMPLS

CORPUS = IMPLS / "heldout10"
#: the ranks a row needs (each row's point shows on them; the family's default is 2, 3 and 4)
R23: dict[str, Any] = {"ndims": (2, 3)}
R4: dict[str, Any] = {"ndims": (4,)}

#: (row, target, verify options, result, mistake named or "", the only mistakes it may name)
ROWS: list[Any] = [
    ("1", "ln_numpy.py:LayerNorm", R23, "pass", "", None),
    pytest.param("2", "rms_torch.py:RMSNorm", R23, "pass", "", None, marks=marks("torch")),
    ("3", "gn_numpy.py:groupnorm", {"norm": "group:4", **R4}, "pass", "", None),
    ("4", "instnorm1d.py:instancenorm", {"ndims": (3,)}, "pass", "", None),
    pytest.param(
        "5",
        "ln_jax.py:layernorm",
        {"ndims": (2,)},
        "pass",
        "",
        None,
        marks=[*marks("jax"), pytest.mark.slow],
    ),
    ("6", "ln_last2.py:layernorm2d", {"norm": "layer:2", "ndims": (3, 4)}, "pass", "", None),
    (
        "7",
        "gn_wrong_order.py:groupnorm",
        {"norm": "group:4"},  # named on 3-D: every rank
        "fail",
        "wrong-reduction-axes",
        None,
    ),
    ("8", "ln_no_var_path.py:LayerNorm", R23, "fail", "missing-var-path", {"missing-var-path"}),
    ("9", "rms_eps_outside.py:rmsnorm", R23, "fail", "eps-outside-sqrt", None),
    pytest.param(
        "10",
        "ln_onepass.py:LayerNorm",
        {},
        "fail",
        "one-pass-variance",
        None,
        marks=marks("torch"),
    ),
    ("11", "gn_gamma_per_group.py:GroupNorm", R4, "fail", "", None),
    pytest.param(
        "12",
        "inst_batch_avg.py:InstanceNorm",
        {},
        "fail",
        "wrong-reduction-axes",
        None,
        marks=marks("torch"),
    ),
    ("13", "ln_bwd_rank2.py:LayerNorm", R23, "fail", "", set()),
    ("14", "rms_dweight_axis.py:RMSNorm", R23, "fail", "", None),
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
    if row == "13":  # right on (N, D), wrong on (N, T, D) and beyond: the backward only
        assert all("/2d" not in c.id for c in report.failed), [c.id for c in report.failed]
        assert "forward" not in {c.id.split("/")[0] for c in report.failed}
    if row == "7":  # checked as stated, and the norm check says the groups are not those
        norm = next(c for c in report.checks if c.id == "norm")
        assert "group norm with 4 groups" in norm.message, norm.message
