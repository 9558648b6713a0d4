"""The NumPy fallback's cancellation path, run and judged (``BNCHECK_KERNELS=numpy``).

When dy is (nearly) parallel to x_hat the backward's bracket cancels; the NumPy kernels then
switch to ``bncheck.bn._numpy_kernels.projected_dx``. The fallback's other tests use random dy,
which never cancels, so without this file that function could return garbage unnoticed. Here the
cancelling cases of the compiled kernels' tests run under the fallback, with a count of the
projection's calls (the path must really run), against the fallback's own budgets, looser than the
compiled kernels' ULP targets:

- m = 2, where the centred subspace is one-dimensional and every dy cancels: the projection's
  longest chain has 16 roundings, so dx is within 16 normwise ULP (tests/bn/test_functional.py);
- the adversarial table of tests/accuracy_cases.py (dy = x, 2x + 3, −x, nearly parallel,
  offset) for m = 2..8: every output within the condition-aware budget of
  ``bncheck.check.tolerances.compare``, and dx within the projection's absolute bound: each of its
  two parts (along x_hat and orthogonal to it) carries at most 16 roundings of terms no larger than
  |gamma|·inv_std·max|dy − mean(dy)|, plus one rounding to the dtype.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray

import bncheck
from bncheck.bn.functional import kernels
from bncheck.check.metrics import compare, normwise_ulp
from bncheck.check.tolerances import TOLERANCES
from bncheck.check.truth import exact_batchnorm
from tests.accuracy_cases import ADVERSARIAL, AFFINE_DY, Case, build
from tests.internals import numpy_kernels as _kernels

#: the projection's bound at m = 2, in normwise ULP (16 roundings on its longest chain)
PROJECTION_ULP = 16.0
#: roundings per part of the projection, in units of u64·|gamma|·inv_std·max|dy − mean(dy)|
PROJECTION_ROUNDINGS = 16.0
U64 = TOLERANCES["float64"].unit_roundoff


@contextmanager
def numpy_kernels() -> Iterator[list[int]]:
    """Force the NumPy fallback; yields a list that grows by one per projected_dx call."""
    calls: list[int] = []
    original = _kernels.projected_dx

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BNCHECK_KERNELS", "numpy")
        mp.setattr(_kernels, "projected_dx", counted)
        assert kernels() == "numpy"
        yield calls


def _columns(a: NDArray[Any], axis: int) -> NDArray[np.float64]:
    moved = np.moveaxis(np.asarray(a, dtype=np.float64), axis, -1)
    return moved.reshape(-1, moved.shape[-1])


@given(st.integers(0, 2**32 - 1), st.sampled_from([1e-5, 1e-3]))
def test_two_values_per_channel_under_the_fallback_meet_the_projections_bound(
    seed: int, eps: float
) -> None:
    # As tests/bn/test_functional.py's m = 2 test, under the fallback; channel 0's dy is constant
    # (its dx is exactly 0), which must not keep the other channels from the projection.
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 30.0, size=(2, 4))
    x[1] = x[0] + rng.choice([-1.0, 1.0], 4) * rng.uniform(10.0, 100.0, 4)  # var >= 25 >> eps
    g, b, dy = rng.uniform(0.5, 2, 4), rng.normal(size=4), rng.normal(size=(2, 4))
    dy[1, 0] = dy[0, 0]
    with numpy_kernels() as calls:
        _, cache = bncheck.batchnorm_forward(x, g, b, eps=eps)
        dx = bncheck.batchnorm_backward(dy, cache).dx
    assert calls, "the cancelling backward did not take the projection"
    assert np.count_nonzero(dx[:, 0]) == 0
    live = slice(1, None)
    truth = exact_batchnorm(x[:, live], g[live], b[live], dy[:, live], eps=eps, axis=1).dx
    assert truth is not None
    assert normwise_ulp(dx[:, live], truth, np.float64, axis=1) <= PROJECTION_ULP
    cmp = compare(
        dx[:, live],
        truth,
        "dx",
        np.float64,
        x=x[:, live],
        eps=eps,
        axis=1,
        dy=dy[:, live],
        gamma=g[live],
    )
    assert cmp.passed, cmp


def _projection_bound(
    x: NDArray[Any],
    gamma: NDArray[Any] | None,
    dy: NDArray[Any],
    truth: NDArray[Any],
    eps: float,
    axis: int,
) -> NDArray[np.float64]:
    """Per channel: PROJECTION_ROUNDINGS·u64·|gamma|·inv_std·max|dy − mean(dy)| + 1 spacing of
    the dtype at the channel's largest true |dx| (the final rounding)."""
    xc, d = _columns(x, axis), _columns(dy, axis)
    inv_std = 1.0 / np.sqrt(xc.var(axis=0) + eps)
    g = np.ones(xc.shape[1]) if gamma is None else np.abs(gamma.astype(np.float64))
    spread = np.abs(d - d.mean(axis=0)).max(axis=0)
    scale = np.abs(_columns(truth, axis)).max(axis=0)
    last = np.spacing(scale.astype(x.dtype)).astype(np.float64)
    return np.asarray(PROJECTION_ROUNDINGS * U64 * g * inv_std * spread + last)


@pytest.mark.parametrize("case", ADVERSARIAL)
def test_the_fallback_meets_its_budgets_when_dy_makes_the_backward_cancel(case: Case) -> None:
    x, gamma, beta, dy, axis = build(case)
    with numpy_kernels() as calls, np.errstate(over="ignore", invalid="ignore"):
        y, cache = bncheck.batchnorm_forward(x, gamma, beta, eps=case.eps, axis=axis)
        dx, dgamma, dbeta = bncheck.batchnorm_backward(dy, cache)
    if case.dtype == "float64" and (case.dy in AFFINE_DY or case.m == 2):
        assert calls, "a cancelling float64 backward did not take the projection"
    t = exact_batchnorm(x, gamma, beta, dy, eps=case.eps, axis=axis)
    outputs = {
        "y": (y, t.y),
        "dx": (dx, t.dx),
        "dgamma": (dgamma, t.dgamma),
        "dbeta": (dbeta, t.dbeta),
    }
    for name, (got, truth) in outputs.items():
        if got is None or truth is None:  # no gamma (beta): no dgamma (dbeta)
            continue
        cmp = compare(got, truth, name, x.dtype, x=x, eps=case.eps, axis=axis, dy=dy, gamma=gamma)
        assert cmp.passed, f"{name}: {cmp.ulp:.3g} ULP > budget {cmp.budget:.3g}"
    assert t.dx is not None
    err = np.abs(_columns(dx, axis) - _columns(t.dx, axis)).max(axis=0)
    bound = _projection_bound(x, gamma, dy, t.dx, case.eps, axis)
    assert np.all(err <= bound), f"dx off by {err} > {bound}"
