"""The sixth held-out corpus of the family, tests/impls/family_heldout5/ (EXPECTED.md written
before the first run, RESULTS.md that run: 14 match, 1 MISS, no false PASS, no false FAIL):
norms each in the style of a public codebase (nanoGPT, an llm.c NumPy port, a Triton
reference, AdaIN, UNet GroupNorms channels-last and upcast, ConvNeXt, Mamba, OpenNMT's Keras
layer, a JAX custom_vjp pair, pix2pix, a Flax ViT). The miss, fixed: row 5, an AdaIN module
whose (C,) parameters are named ``style_std``/``style_mean`` and which takes 4-D input only, was
refused as having parameters that act as no gamma or beta, because they were looked for on a
2-D probe the module refuses; a probe of each rank is now tried until the module runs. A
correct copy (``posthoc/adain_biased.py``, written after the run) passes.

Float64 unless a row says otherwise (tests/heldout.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.frameworks import marks
from tests.heldout import verdict
from tests.paths import IMPLS

#: a held-out corpus (pyproject's `corpus` mark: CI's second stage leaves its framework rows out)
pytestmark = pytest.mark.corpus
CORPUS = IMPLS / "family_heldout5"
T, J, K = marks("torch"), marks("jax"), marks("keras")
SLOW = pytest.mark.slow
INST = {"norm": "instance"}

#: (row, target, verify options, result, mistake named or "", the only mistakes it may name)
ROWS: list[Any] = [
    pytest.param("1", "nanogpt_ln.py:LayerNorm", {}, "pass", "", None, marks=T),
    pytest.param("2", "llmc_ln.py:layernorm", {"ndims": (2, 3)}, "fail", "missing-mu-path", None),
    pytest.param("3", "scratch_ln_rstd_const.py:LayerNorm", {}, "fail", "missing-var-path", None),
    pytest.param("4", "triton_ln_ref.py:LayerNormRef", {}, "fail", "", None, marks=T),
    pytest.param("5", "adain_torch.py:AdaIN", INST, "fail", "unbiased-normalize", None, marks=T),
    pytest.param("5b", "posthoc/adain_biased.py:AdaIN", INST, "pass", "", None, marks=T),
    pytest.param(
        "6",
        "gn_nhwc_reshape.py:GroupNormNHWC",
        {"axis": -1, "norm": "group:4"},
        "fail",
        "",
        None,
        marks=T,
    ),
    pytest.param(
        "7",
        "gn32_upcast.py:GroupNorm32",
        {"norm": "group:4"},
        "fail",
        "float32-arithmetic",
        None,
        marks=T,
    ),
    pytest.param(
        "8", "convnext_ln2d.py:LayerNorm2d", {"norm": "layer:channel"}, "pass", "", None, marks=T
    ),
    pytest.param("9", "mamba_rms.py:RMSNorm", {}, "pass", "", None, marks=T),
    pytest.param(
        "10",
        "opennmt_keras_ln.py:LayerNorm",
        {},
        "fail",
        "eps-outside-sqrt",
        None,
        marks=[*K, SLOW],
    ),
    pytest.param("11", "jax_ln_vjp.py:layernorm", {}, "pass", "", None, marks=[*J, SLOW]),
    pytest.param("12", "rms_weight_first.py:rmsnorm", {}, "fail", "", None),
    pytest.param(
        "13",
        "pix2pix_inorm.py:instance_norm",
        {"axis": -1, "norm": "instance"},
        "pass",
        "",
        None,
    ),
    pytest.param("14", "unet_gn_numpy.py:group_norm", {"norm": "group:4"}, "pass", "", None),
    pytest.param("15", "flax_vit_ln.py:LayerNorm", {}, "pass", "", None, marks=[*J, SLOW]),
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
    verdict(CORPUS, row, target, options, result, named, only)
