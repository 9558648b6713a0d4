"""The compiled family kernels give the same bits for any thread count (sets split over threads,
column sums over column blocks); skipped cleanly when the extension is not built."""

from __future__ import annotations

import numpy as np
import pytest

from bncheck import family


@pytest.mark.parametrize("kind", ["layernorm", "rmsnorm", "groupnorm"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bitwise_the_same_for_1_2_and_3_threads(
    kind: str, dtype: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    shape = (512, 384) if kind != "groupnorm" else (8, 16, 33, 33)  # >= 2^17 values: threaded
    x = (5.0 + rng.standard_normal(shape)).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    c = shape[-1] if kind != "groupnorm" else shape[1]
    g, b = rng.standard_normal(c), rng.standard_normal(c)
    outs = []
    for n in ("1", "2", "3"):
        monkeypatch.setenv("BNCHECK_NUM_THREADS", n)
        if kind == "layernorm":
            y, cache = family.layernorm_forward(x, g, b)
            gr = family.layernorm_backward(dy, cache)
        elif kind == "rmsnorm":
            y, cache = family.rmsnorm_forward(x, g)
            gr = family.rmsnorm_backward(dy, cache)
        else:
            y, cache = family.groupnorm_forward(x, g, b, 4)
            gr = family.groupnorm_backward(dy, cache)
        outs.append([y, gr.dx, gr.dgamma] + ([gr.dbeta] if gr.dbeta is not None else []))
    for other in outs[1:]:
        for a, b2 in zip(outs[0], other, strict=True):
            assert a.tobytes() == b2.tobytes()
