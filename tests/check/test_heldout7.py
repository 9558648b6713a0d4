"""The seventh held-out corpus, tests/impls/heldout7/ (EXPECTED.md written before the first run,
RESULTS.md that run). ``FAMILY_ROWS`` are its normalization-family rows, the misses among them
fixed:

- row 5, Gemma's RMSNorm scaling by 1 + weight: a false FAIL; gamma = parameter + c is now
  found by behaviour (c = 1) and said under "Plugged in as";
- row 4, ConvNeXt's channels_first LayerNorm: passed on 2-D only, 3-D/4-D called refused; a
  layer norm over the channel axis (``layer:channel``) is now a member, fitted and checked;
- row 3, a channels-last group norm with ``--axis -1``: the option was dropped; the family now
  hands channels-last input over. The file computes float64 in float32 (no jax_enable_x64), so
  float64 fails as float32-arithmetic and float32 passes; float32-arithmetic is never carried
  to a float32 run;
- row 9, eps outside the root: also named one-pass-variance on float32 tiny-variance cases; a
  float32 run is now named by the mistake models within its budget before the one-pass guess.

Float64 unless a row says otherwise (tests/heldout.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.frameworks import marks
from tests.heldout import verdict
from tests.paths import IMPLS

CORPUS = IMPLS / "heldout7"
T, J = marks("torch"), marks("jax")

#: (row, target, verify options, result, mistake the diagnosis must name or "", the only
#: mistakes it may name or None)
FAMILY_ROWS: list[Any] = [
    ("1", "f01_cs231n_layernorm.py:layernorm", {}, "pass", "", None),
    (
        "2",
        "f02_spatial_groupnorm_order.py:spatial_groupnorm",
        {"norm": "group:4"},
        "fail",
        "wrong-reduction-axes",
        None,
    ),
    pytest.param(
        "3",
        "f03_jax_groupnorm_nhwc.py:groupnorm",
        {"norm": "group:4", "axis": -1, "dtypes": ("float32",), "ndims": (3, 4)},
        "pass",
        "",
        None,
        marks=[*J, pytest.mark.slow],
    ),
    pytest.param(
        "3-float64",
        "f03_jax_groupnorm_nhwc.py:groupnorm",
        {"norm": "group:4", "axis": -1, "dtypes": ("float64", "float32"), "ndims": (3,)},
        "fail",
        "float32-arithmetic",
        {"float32-arithmetic"},
        marks=[*J, pytest.mark.slow],
    ),
    pytest.param(
        "4", "f04_convnext_layernorm.py:LayerNorm", {"ndims": (2, 3, 4)}, "pass", "", None, marks=T
    ),
    pytest.param("5", "f05_gemma_rmsnorm.py:GemmaRMSNorm", {}, "pass", "", None, marks=T),
    pytest.param(
        "6", "f06_rmsnorm_centered.py:RMSNorm", {}, "fail", "rms-subtracts-mean", None, marks=T
    ),
    ("7", "f07_numpy_layernorm_novar.py:LayerNorm", {}, "fail", "missing-var-path", None),
    ("8", "f08_numpy_instancenorm.py:instancenorm", {}, "pass", "", None),
    pytest.param(
        "9",
        "f09_torch_instancenorm_fn.py:InstanceNorm2d",
        {"dtypes": ("float64", "float32")},
        "fail",
        "eps-outside-sqrt",
        {"eps-outside-sqrt"},
        marks=T,
    ),
]


@pytest.mark.parametrize(("row", "target", "options", "result", "named", "only"), FAMILY_ROWS)
def test_each_family_row_gets_its_verdict(
    row: str,
    target: str,
    options: dict[str, Any],
    result: str,
    named: str,
    only: set[str] | None,
) -> None:
    report, diagnosed = verdict(CORPUS, row, target, options, result, named)
    if only is not None:
        assert diagnosed == only, (row, diagnosed)
    said = "\n".join(report.mapping)
    if row == "5":
        assert "gamma = 1 + weight" in said, said
    if row in ("3", "3-float64"):
        assert "channels last (--axis -1)" in said, said
    if row == "4":  # every rank checked as the member it computes
        norm = next(c for c in report.checks if c.id == "norm")
        assert "layer norm over the channel axis" in norm.message, norm.message
        ran = {c.id for c in report.checks if c.status == "pass"}
        assert {"forward/3d/float64", "forward/4d/float64"} <= ran, ran
