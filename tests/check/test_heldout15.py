"""The fifteenth held-out corpus, tests/impls/heldout15/ (EXPECTED.md written before the first
run, RESULTS.md that run: 10 match, 1 acceptable, 3 MISS, no false PASS): BNs each in the style
of a public codebase (detectron's FrozenBatchNorm with a freeze switch, conv-BN folding,
single-process SyncBN prototypes, Numba-style loops, einsum notebooks, conditional-GAN BN,
makemore's BN, an MXNet Gluon block, a MindSpore Cell, PyTorch's cumulative average, the "neural
networks from scratch" layer). The misses:

- row 1, a torch module that ignores ``self.training`` and is frozen by ``frozen = True``:
  judged through train()/eval() alone, it failed as if its eval used the batch statistics, and
  ``--mode frozen`` was refused. A torch module whose train()/eval() leaves the eval output
  following the batch is now tried with its own boolean attributes, both ways round, and with
  ``--mode``: its planted mistake (eps left out of the frozen scale) is named ``eval-eps-missing``
  and a correct copy passes;
- row 14, a layer whose ``backward`` returns nothing and stores dx in ``self.dinputs``: a
  false FAIL ("dx is None"). dx is now the one value of x's shape the backward writes;
- row 12, MindSpore's ``construct(x)`` with ``bprop(x, out, dout)``: a false FAIL, ``construct``
  taken as the backward by behaviour. A method that computes the forward again (its result on
  dy is a fresh layer's training forward on dy) is no longer taken for the backward, and a
  backward taking the forward's input and output beside dy gets them by its parameters'
  names: the cell passes.

Float64 unless a row says otherwise (tests/heldout.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.frameworks import marks, needs
from tests.heldout import verdict
from tests.paths import IMPLS

#: a held-out corpus (pyproject's `corpus` mark: CI's second stage leaves its framework rows out)
pytestmark = pytest.mark.corpus
CORPUS = IMPLS / "heldout15"
T = marks("torch")
D2: dict[str, Any] = {"ndims": (2,)}
#: the rows of the class-conditional tables, named as on the command line (--gamma ...)
COND = {
    "mapping": {
        "gamma": "gamma_table[0]",
        "beta": "beta_table[0]",
        "dgamma": "dgamma_table[0]",
        "dbeta": "dbeta_table[0]",
    }
}
SCATTER = {
    "mapping": {
        "gamma": "embed_gamma[0]",
        "beta": "embed_beta[0]",
        "dgamma": "grad_gamma[0]",
        "dbeta": "grad_beta[0]",
    }
}

#: (row, target, verify options, result, mistake named or "", the only mistakes it may name)
ROWS: list[Any] = [
    pytest.param(
        "1",
        "frozen_eps_bug.py:ConvertibleFrozenBN",
        D2,
        "fail",
        "eval-eps-missing",
        {"eval-eps-missing"},
        marks=T,
    ),
    pytest.param("2", "folded_deploy.py:FoldableBN", D2, "pass", "", None),
    pytest.param("3", "fused_eval_batchvar_bug.py:FusedEvalBN", D2, "fail", "", None, marks=T),
    pytest.param("4", "sync_shards.py", D2, "pass", "", None),
    pytest.param("5", "sync_equal_merge_bug.py:sync_bn", D2, "fail", "", None),
    pytest.param("6", "loop_unroll_c1_bug.py", D2, "fail", "", None),
    pytest.param("7", "einsum_any_rank.py:bn", D2, "pass", "", None),
    pytest.param("8", "cond_bn.py:CondBN", {**D2, **COND}, "pass", "", None),
    pytest.param(
        "9", "cond_bn_scatter_bug.py:ConditionalBatchNorm", {**D2, **SCATTER}, "fail", "", None
    ),
    pytest.param("10", "makemore_bn.py:BatchNorm1d", D2, "pass", "", None, marks=T),
    pytest.param("11", "gluon_fix_gamma_bug.py:BatchNorm", D2, "fail", "", None),
    pytest.param("12", "cell_bprop.py:BatchNorm2d", {}, "pass", "", None),
    pytest.param("13", "cma_none_bug.py:CumulativeBN", D2, "fail", "", None, marks=T),
    pytest.param("14", "nnfs_layer.py:Layer_BatchNorm", D2, "pass", "", None),
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
    if row == "1":  # its own switch found beside train()/eval()
        assert any("its own switch, frozen = False|True" in m for m in report.mapping)
    if row == "12":
        assert any("bprop(x, out, dout)" in m for m in report.mapping), report.mapping
    if row == "14":
        assert any("dx in dinputs" in m for m in report.mapping), report.mapping


FROZEN_OK = """
import torch
from torch import nn


class FrozenOK(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))
        self.register_buffer("running_mean", torch.zeros(c))
        self.register_buffer("running_var", torch.ones(c))
        self.use_global_stats = False

    def forward(self, x):
        if self.use_global_stats:
            scale = self.weight * torch.rsqrt(self.running_var + 1e-5)
            return x * scale + (self.bias - self.running_mean * scale)
        mean, var = x.mean(0), x.var(0, unbiased=False)
        with torch.no_grad():
            self.running_mean.mul_(0.9).add_(0.1 * mean)
            self.running_var.mul_(0.9).add_(0.1 * var * len(x) / (len(x) - 1))
        return (x - mean) * torch.rsqrt(var + 1e-5) * self.weight + self.bias
"""


@needs("torch")
def test_a_torch_bn_switched_by_its_own_flag_passes_with_eval_checked(tmp_path: Any) -> None:
    """``use_global_stats = True`` in eval (MXNet's spelling), train()/eval() ignored: found by
    behaviour, the layer passes with its eval and running statistics checked (it failed
    before, its eval judged through eval() as using the batch statistics)."""
    from bncheck.check import verify

    path = tmp_path / "frozen_ok.py"
    path.write_text(FROZEN_OK, encoding="utf-8")
    report = verify(str(path) + ":FrozenOK", seed=0, dtypes=("float64",), ndims=(2,))
    status = {c.id: c.status for c in report.checks}
    assert report.result == "pass", [(c.id, c.message[:150]) for c in report.failed]
    assert status["eval/2d/float64"] == "pass" and status["running/2d/float64"] == "pass"
