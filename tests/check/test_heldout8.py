"""The eighth held-out corpus, tests/impls/heldout8/ (EXPECTED.md written before the first run,
RESULTS.md that run: 11 match, 1 acceptable, 2 MISS): the forms the seventh corpus's fixes
added (Gemma-style 1 + weight, ConvNeXt's channel-axis LayerNorm, channels-last group norms,
framework factories, a Haiku function) and zero-copy kernels over x and dy's layouts. Both
misses are fixed:

- row 14, a kernel pairing x and dy in their own memory orders: a false PASS, the mixed-layout
  kernel cases being a batch of one with a spatial side of 1 (every channel's values along one
  axis, where the two pairings agree); 4-D mixed cases with two axes longer than 1 within each
  channel now fail it, explained as a layout-only failure;
- row 3, T5's LayerNorm (an RMSNorm by design, named LayerNorm): checked as its name says, it
  was named wrong-reduction-axes; now layer-without-mean, with the --norm that checks it as
  what it computes.

Float64 unless a row says otherwise (tests/heldout.py); the framework rows slow."""

from __future__ import annotations

from typing import Any

import pytest

from tests.frameworks import marks
from tests.heldout import verdict
from tests.paths import IMPLS

CORPUS = IMPLS / "heldout8"
T = marks("torch")
SLOW = pytest.mark.slow

#: (row, target, verify options, result, mistake named or "", the only mistakes it may name)
ROWS: list[Any] = [
    ("1", "gemma_rms_np.py:gemma_rms", {}, "pass", "", None),
    pytest.param("2", "gemma_rms_torch.py:ZeroCenteredRMSNorm", {}, "pass", "", None, marks=T),
    pytest.param(
        "3",
        "t5_norm_torch.py:T5LayerNorm",
        {},
        "fail",
        "layer-without-mean",
        {"layer-without-mean"},
        marks=T,
    ),
    pytest.param(
        "4",
        "llama_rms_eps_bug.py:LlamaStyleRMSNorm",
        {"norm": "rms"},
        "fail",
        "eps-outside-sqrt",
        None,
        marks=T,
    ),
    ("5", "convnext_ln_np.py:cf_layernorm", {"norm": "layer:channel"}, "pass", "", None),
    pytest.param(
        "6",
        "convnext_ln_torch_bug.py:LayerNorm2d",
        {"norm": "layer:channel"},
        "fail",
        "",
        None,
        marks=T,
    ),
    ("7", "gn_nhwc_np.py:gn_nhwc", {"axis": -1, "norm": "group:4"}, "pass", "", None),
    pytest.param(
        "8",
        "gn_nhwc_torch_bug.py:GroupNormNHWC",
        {"axis": -1, "norm": "group:4"},
        "fail",
        "wrong-reduction-axes",
        None,
        marks=T,
    ),
    pytest.param(
        "9",
        "keras_factory.py:make_bn",
        {"axis": -1, "convention": "keras", "dtypes": ("float32",), "ndims": (2,)},
        "pass",
        "",
        None,
        marks=[*marks("keras"), SLOW],
    ),
    pytest.param(
        "10",
        "flax_factory.py:build_norm",
        {"axis": -1, "ndims": (2,)},
        "pass",
        "",
        None,
        marks=[*marks("jax"), SLOW],
    ),
    ("13", "zerocopy_bn.py:fast", {}, "pass", "", None),
    ("14", "zerocopy_bn_bug.py:fast", {}, "fail", "", set()),
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
    if row == "3":
        norm = next(c for c in report.checks if c.id == "norm")
        assert "--norm rms" in norm.message, norm.message
    if row == "14":  # only the backward, only on x and dy in different layouts, said so
        assert {c.id.split("/")[0] for c in report.failed} == {"backward"}
        for check in report.failed:
            assert check.counterexample is not None
            assert check.counterexample["layout"] in ("F-x", "F-dy"), check.counterexample
            assert "x and dy: the two in different layouts" in check.explanation
