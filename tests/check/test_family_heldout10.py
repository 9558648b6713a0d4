"""The tenth held-out corpus of the normalization family, tests/impls/family_heldout10/
(EXPECTED.md written before the first run, RESULTS.md that run, on 9d72497: 2 match, 2
acceptable, 10 MISS, no false PASS of a bug row, three bugs hidden behind false failures):
LayerNorm, GroupNorm, InstanceNorm and RMSNorm layers written by hand in NumPy that keep their
parameters where no name says: created at the first forward (Keras 1's ``build``, an
``initialized`` flag, Sonnet 1's ``_build``), under dict keys (``W0``, ``ln1.scale``), in
Caffe2-style blob dicts, in a list or a tuple, in views of one flat vector, as ``1 + scale`` or
``exp(log_gamma)``. The misses fixed, each a rule of the family's hand-written layers:

- the parameters no name says are found after a first forward (created there: each new layer
  then gets one before bncheck sets them), then by the affine law among every value of their
  size (adding to beta moves y by what was added, adding to gamma moves it along x_hat), with
  gradients and rows of x-shaped arrays left out (rows 1, 3, 4, 5, 11, 12, 14; family_heldout9's
  rows 2, 5, 8, 13 the same way);
- a gradient kept in its parameter's place (``grads[i]`` beside ``weights[i]``, ``grads["W0"]``
  beside ``params["W0"]``, ``dw`` beside ``w``, ``blob.diff`` beside ``blob.data``) is that
  parameter's, whatever its value (row 14's swapped list fails; row 11's wrong dgamma is no
  longer read as dbeta); one found by name and the other not is found by behaviour (row 7);
  a dgamma that is the true dbeta beside a dbeta that is the true dgamma is named
  ``swapped-dgamma-dbeta`` (row 14);
- a member stated with ``--norm`` is checked on every rank the target takes, also where its
  outputs are no member's (row 6: a GroupNorm whose sets miss the spatial positions);
- a gamma bncheck cannot set while it sets beta (row 10's log-scale) is checked at 1, its
  finite differences not along it, and "gamma other than 1" is said not checked (INCOMPLETE,
  acceptable for the row; a first version passed it with a note, which family_heldout11 row
  12 showed hides a backward that drops the gain); parameters it cannot set are never moved by
  the finite differences nor given a gamma entry of 0.

Left: row 13 (a float64 copy of the scale kept at the first call) is a PASS with an interface
deviation saying the layer keeps its scale twice (a FAIL under ``--strict``): with neither
copy listed as the layer's parameter, which one a training step updates is not known. Float64
(tests/heldout.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.heldout import verdict
from tests.paths import IMPLS

#: a held-out corpus (pyproject's `corpus` mark)
pytestmark = pytest.mark.corpus
CORPUS = IMPLS / "family_heldout10"
LAYER, RMS, GROUP2 = {"norm": "layer"}, {"norm": "rms"}, {"norm": "group:2"}
INSTANCE = {"norm": "instance", "ndims": (3, 4)}

#: (row, target, verify options, result, mistake named or "", the only mistakes it may name)
ROWS: list[Any] = [
    pytest.param("1", "keras1_ln.py:LayerNormalization", LAYER, "pass", "", None),
    pytest.param("2", "annotated_ln_bug.py:LayerNorm", LAYER, "fail", "eps-outside-sqrt", None),
    pytest.param("3", "init_flag_in.py:InstanceNorm", INSTANCE, "pass", "", None),
    pytest.param("4", "dictw_gn.py:GroupNorm", GROUP2, "pass", "", None),
    pytest.param("5", "prefix_rms_bug.py:RMSNorm", RMS, "fail", "rms-subtracts-mean", None),
    pytest.param("6", "blobs_gn_bug.py:GroupNorm", GROUP2, "fail", "", None),
    pytest.param("7", "flatvec_ln.py:LayerNorm", LAYER, "pass", "", None),
    pytest.param("8", "theano_shared_in.py:InstanceNormLayer", INSTANCE, "pass", "", None),
    pytest.param("9", "param_obj_rms_bug.py:RMSNorm", RMS, "fail", "missing-var-path", None),
    pytest.param("10", "loggamma_ln.py:LayerNorm", LAYER, "incomplete", "", None),
    pytest.param("11", "wb4d_gn_bug.py:GroupNorm", GROUP2, "fail", "", None),
    pytest.param("12", "c11_in.py:InstanceNorm2d", {"norm": "instance"}, "pass", "", None),
    pytest.param("13", "sonnet1_rms_stale_bug.py:RMSNorm", RMS, "pass", "", None),
    pytest.param(
        "14",
        "list_gn_swap_bug.py:GroupNorm",
        {**GROUP2, "axis": -1},
        "fail",
        "swapped-dgamma-dbeta",
        {"swapped-dgamma-dbeta"},
    ),
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
    failed = {c.id for c in report.checks if c.status == "fail"}
    mapping = " | ".join(report.mapping)
    if row in ("1", "3"):  # made at the first forward, found after one
        assert "created at the first forward" in mapping, mapping
    if row in ("4", "11", "14"):  # beside their parameters, by place
        assert "in its parameter's place" in mapping, mapping
    if row in ("6", "11"):  # wrong where the spatial positions count: 3-D and 4-D only
        assert failed and all("/2d/" not in f for f in failed), failed
        assert any("/3d/" in f for f in failed) and any("/4d/" in f for f in failed), failed
    if row == "10":
        assert "gamma: none found" in mapping, mapping
    if row == "13":
        assert any("keeps gamma twice" in n for n in report.contract), report.contract
    if row == "14":  # dgamma read from grads[0], beside weights[0]: Σ dy there
        assert any(f.startswith("backward/") for f in failed), failed
