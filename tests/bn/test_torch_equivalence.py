"""bncheck.BatchNorm(convention="torch") equals torch.nn.BatchNorm1d/2d/3d (optional: torch)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bncheck import BatchNorm
from tests.frameworks import installed, marks

pytestmark = marks("torch")
if installed("torch"):
    import torch

RTOL = 1e-10  # both are float64 BNs; they differ only by summation order (~m·u << 1e-10)

SHAPES = [
    ((6, 3), "BatchNorm1d"),
    ((4, 3, 5), "BatchNorm1d"),
    ((3, 3, 4, 2), "BatchNorm2d"),
    ((2, 3, 2, 3, 2), "BatchNorm3d"),
]


def close(a: Any, b: Any) -> None:
    a = a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=RTOL * np.abs(b).max())


@pytest.mark.parametrize("momentum", [0.1, None], ids=["momentum-0.1", "momentum-None"])
@pytest.mark.parametrize(("shape", "cls"), SHAPES, ids=[s[1] + str(len(s[0])) for s in SHAPES])
def test_bncheck_torch_convention_equals_torch(
    shape: tuple[int, ...], cls: str, momentum: float | None
) -> None:
    rng = np.random.default_rng(len(shape))
    ref = getattr(torch.nn, cls)(3, momentum=momentum, dtype=torch.float64)
    bn = BatchNorm(3, momentum=momentum)
    gamma, beta = rng.normal(size=3), rng.normal(size=3)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(gamma))
        ref.bias.copy_(torch.from_numpy(beta))
    bn.gamma, bn.beta = gamma.copy(), beta.copy()
    for step in range(4):
        x = rng.normal(2.0, 3.0, size=shape)
        dy = rng.normal(size=shape)
        xt = torch.from_numpy(x).requires_grad_(True)
        ref.weight.grad = ref.bias.grad = None
        yt = ref(xt)
        yt.backward(torch.from_numpy(dy))
        y = bn(x)
        dx, dgamma, dbeta = bn.backward(dy)
        close(y, yt)
        close(dx, xt.grad)
        close(dgamma, ref.weight.grad)
        close(dbeta, ref.bias.grad)
        close(bn.running_mean, ref.running_mean)
        close(bn.running_var, ref.running_var)
        assert bn.num_batches_tracked == int(ref.num_batches_tracked) == step + 1
    ref.eval()
    x = rng.normal(2.0, 3.0, size=shape)
    close(bn.eval()(x), ref(torch.from_numpy(x)))
