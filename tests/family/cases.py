"""Accuracy cases of the family: build inputs, run bncheck.family, measure against the truth.

The set layout (which values form a set, which parameter each element uses) is written here
from the definitions, independently of the library's geometry: LayerNorm and RMSNorm sets are the
rows of x.reshape(S, m); GroupNorm sets the rows of x.reshape(N·G, −1) with channel c of
element (n, c, ...); InstanceNorm is GroupNorm with G = C.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from bncheck import family
from bncheck.check.metrics import channel_ulps
from bncheck.check.tolerances import TARGET_ULP
from tests.family.truth import exact

KINDS = ("layernorm", "rmsnorm", "groupnorm", "instancenorm")
DTYPES = tuple(TARGET_ULP)
#: dy kinds: random; an exact affine function of x (the backward cancels completely); nearly
#: parallel to x (relative noise 1e-6); a large offset
DY_KINDS = ("random", "affine", "near_affine", "offset")


class Case(NamedTuple):
    kind: str
    dtype: str
    shape: tuple[int, ...]
    groups: int  # GroupNorm only
    offset: float  # x = offset + spread·N(0, 1)
    spread: float
    dy_kind: str
    affine: bool  # gamma and beta given (else None)
    seed: int


def build(case: Case) -> dict[str, Any]:
    rng = np.random.default_rng(case.seed)
    dt = np.dtype(case.dtype)
    x = (case.offset + case.spread * rng.standard_normal(case.shape)).astype(dt)
    x64 = x.astype(np.float64)
    if case.dy_kind == "random":
        dy = rng.standard_normal(case.shape)
    elif case.dy_kind == "affine":
        dy = 2.0 * x64 + 3.0
    elif case.dy_kind == "near_affine":
        dy = 2.0 * x64 + 3.0 + 1e-6 * case.spread * rng.standard_normal(case.shape)
    else:
        dy = 1e4 + rng.standard_normal(case.shape)
    dy = dy.astype(dt)
    if case.kind in ("layernorm", "rmsnorm"):
        pshape: tuple[int, ...] = case.shape[1:]
    else:
        pshape = (case.shape[1],)
    gamma = (rng.uniform(0.5, 2.0, pshape) * rng.choice([-1, 1], pshape)).astype(dt)
    beta = rng.standard_normal(pshape).astype(dt)
    if not case.affine:
        gamma = beta = None
    if case.kind == "rmsnorm":
        beta = None
    return {"x": x, "dy": dy, "gamma": gamma, "beta": beta}


def sets(case: Case, a: NDArray[Any]) -> tuple[NDArray[Any], NDArray[np.intp], int]:
    """a as (S, m) sets, the parameter index of each element, the number of parameters."""
    shape = case.shape
    if case.kind in ("layernorm", "rmsnorm"):
        m = int(np.prod(shape[1:]))
        idx = np.broadcast_to(np.arange(m), (shape[0], m))
        return a.reshape(shape[0], m), idx, m
    n, c = shape[:2]
    g = c if case.kind == "instancenorm" else case.groups
    chan = np.broadcast_to(np.arange(c).reshape(1, c, *([1] * (len(shape) - 2))), shape)
    return a.reshape(n * g, -1), chan.reshape(n * g, -1), c


def run(case: Case, a: dict[str, Any]) -> family.NormGrads | Any:
    eps = 1e-5
    if case.kind == "layernorm":
        y, cache = family.layernorm_forward(
            a["x"], a["gamma"], a["beta"], eps, normalized_ndim=len(case.shape) - 1
        )
        return y, family.layernorm_backward(a["dy"], cache)
    if case.kind == "rmsnorm":
        y, cache = family.rmsnorm_forward(a["x"], a["gamma"], eps, len(case.shape) - 1)
        return y, family.rmsnorm_backward(a["dy"], cache)
    if case.kind == "groupnorm":
        y, cache = family.groupnorm_forward(a["x"], a["gamma"], a["beta"], case.groups, eps)
        return y, family.groupnorm_backward(a["dy"], cache)
    y, cache = family.instancenorm_forward(a["x"], a["gamma"], a["beta"], eps)
    return y, family.instancenorm_backward(a["dy"], cache)


def measure(case: Case) -> dict[str, float]:
    """Normwise ULP of y and dx (per set) and dgamma, dbeta (over the vector)."""
    a = build(case)
    y, grads = run(case, a)
    xs, idx, p = sets(case, a["x"])
    f64 = np.float64
    gamma = None if a["gamma"] is None else a["gamma"].astype(f64).reshape(-1)
    beta = None if a["beta"] is None else a["beta"].astype(f64).reshape(-1)
    dys = sets(case, a["dy"])[0].astype(f64)
    truth = exact(xs.astype(f64), gamma, beta, idx, dys, 1e-5, case.kind == "rmsnorm", p)
    out = {
        "y": float(np.max(channel_ulps(sets(case, y)[0].T, truth.y.T, case.dtype, axis=1))),
        "dx": float(
            np.max(channel_ulps(sets(case, grads.dx)[0].T, truth.dx.T, case.dtype, axis=1))
        ),
    }
    if grads.dgamma is not None:
        out["dgamma"] = float(channel_ulps(grads.dgamma.reshape(-1), truth.dgamma, case.dtype)[0])
    if grads.dbeta is not None:
        out["dbeta"] = float(channel_ulps(grads.dbeta.reshape(-1), truth.dbeta, case.dtype)[0])
    return out
