"""The seventh held-out corpus of the family, tests/impls/family_heldout6/ (EXPECTED.md written
before the first run, RESULTS.md that run: 13 match, 1 acceptable, 2 MISS, no false PASS):
norms in unusual public styles (an Apex/Triton pair whose forward returns (y, mean, rstd),
LayerNorm over the last two axes, Gemma's (1 + weight) RMSNorm, a class with ``__call__`` and
``vjp``, einops-style channels-last GroupNorm, InstanceNorm1d, Llama's upcast RMSNorm, a torch
autograd Function, a JAX custom_vjp pair, InstanceNorm as GroupNorm(C, C)) and planted bugs.
The misses, fixed:

- row 1, ``layer_norm_fwd -> (y, mean, rstd)`` with ``layer_norm_bwd(dy, x, weight, mean,
  rstd)``: a false FAIL (every check "the target raised"). A backward taking the forward's
  inputs again gets, for the names of none of them after x, what the forward returned beside
  y, in order;
- row 4, a layer class with ``__call__`` and ``vjp(g) -> {"x": ..., "weight": ..., "bias":
  ...}``, the backward form the README lists for BN layers: refused for the family. A family
  layer's backward is ``backward`` or its one method of the usual other names (vjp, bprop,
  grad, ...), and a whole dict result is read by its keys.

Float64 unless a row says otherwise (tests/heldout.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.frameworks import marks
from tests.heldout import verdict
from tests.paths import IMPLS

#: a held-out corpus (pyproject's `corpus` mark: CI's second stage leaves its framework rows out)
pytestmark = pytest.mark.corpus
CORPUS = IMPLS / "family_heldout6"
T, J = marks("torch"), marks("jax")
LAYER, RMS = {"norm": "layer"}, {"norm": "rms"}
G4 = {"norm": "group:4"}

#: (row, target, verify options, result, mistake named or "", the only mistakes it may name)
ROWS: list[Any] = [
    pytest.param("1", "ln_apex_stats.py:layer_norm", LAYER, "pass", "", None),
    pytest.param(
        "2", "ln_last2.py:seq_layernorm", {"norm": "layer:2", "ndims": (3, 4)}, "pass", "", None
    ),
    pytest.param("3", "rms_gemma.py:GemmaRMSNorm", RMS, "pass", "", None),
    pytest.param("4", "ln_vjp_class.py:LayerNorm", {}, "pass", "", None),
    pytest.param("5", "gn_nhwc.py:gn_nhwc", {**G4, "axis": -1}, "pass", "", None),
    pytest.param(
        "6", "in1d.py:InstanceNorm1d", {"norm": "instance", "ndims": (3,)}, "pass", "", None
    ),
    pytest.param("7", "rms_torch_upcast.py:LlamaRMSNorm", RMS, "pass", "", None, marks=T),
    pytest.param("8", "ln_torch_function.py:FusedLayerNorm", LAYER, "pass", "", None, marks=T),
    pytest.param(
        "9",
        "ln_jax_vjp.py:layernorm",
        {**LAYER, "ndims": (2,)},
        "pass",
        "",
        None,
        marks=[*J, pytest.mark.slow],
    ),
    pytest.param(
        "10", "in_as_gn.py:instance_norm", {"norm": "instance", "ndims": (3, 4)}, "pass", "", None
    ),
    pytest.param("11", "rms_eps_outside.py:rmsnorm", RMS, "fail", "eps-outside-sqrt", None),
    pytest.param(
        "12", "gn_torch_unbiased.py:GroupNorm", G4, "fail", "unbiased-normalize", None, marks=T
    ),
    pytest.param(
        "13",
        "ln_channels_first.py:LayerNormChannelsFirst",
        {"norm": "layer:channel"},
        "fail",
        "missing-mu-path",
        None,
    ),
    pytest.param(
        "14", "spatial_gn_dgamma.py:spatial_groupnorm", {**G4, "ndims": (4,)}, "fail", "", set()
    ),
    pytest.param("15", "gn_interleaved.py:GroupNorm", G4, "fail", "wrong-reduction-axes", None),
    pytest.param("16", "rms_blocked.py:BlockRMSNorm", RMS, "fail", "", None),
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
    if row == "1":  # what the forward returned beside y goes back to the backward, and is said
        assert any("(y, mean, rstd)" in m for m in report.mapping), report.mapping
    if row == "4":
        assert any("vjp(dout)" in m for m in report.mapping), report.mapping
