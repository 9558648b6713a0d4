"""Property suites of bncheck.family, one per member (LayerNorm, GroupNorm, InstanceNorm,
RMSNorm), in the style of the BN's (tests/bn/test_functional.py): Hypothesis draws the shape,
the memory layout (tests of every layout of bncheck.check.strategies.LAYOUTS: Fortran order,
negative strides, sliced views, ...), the dtype and the regime (large mean, variance far below
eps), and each member is held to

- accuracy: y and dx within ``TARGET_ULP`` (normwise per set), dgamma and dbeta within it over
  the vector, against the mpmath truth of tests/family/truth.py (written from the definitions);
- exact identities: Σ dx = 0 over every set (LayerNorm, GroupNorm, InstanceNorm), within the
  sum of the per-element errors the accuracy target allows (m·(TARGET + 1) ulp of the set's
  largest |dx|, summed exactly with math.fsum); scaling by a power of two 2^k with eps scaled
  by 4^k leaves y, dgamma and dbeta unchanged and scales dx by 2^−k, bit for bit (every
  operation scales exactly; RMSNorm's scaling invariance, and the same for the centered
  members);
- layout: any layout gives the bytes of a C-contiguous copy.

The ``ci`` profile (tests/conftest.py) bounds and derandomizes the search; ``thorough`` runs
1000 examples per property.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bncheck import family
from bncheck.check.metrics import channel_ulps
from bncheck.check.strategies import LAYOUTS, with_layout
from bncheck.check.tolerances import TARGET_ULP
from tests.family.cases import Case, sets
from tests.family.truth import exact

KINDS = ("layernorm", "groupnorm", "instancenorm", "rmsnorm")
EPS = 1e-5
#: regime: (offset, spread) of x = offset + spread·N(0, 1); "tiny-variance" puts the variance
#: (1e-8) far below eps (1e-5)
REGIMES = {"standard": (0.0, 1.0), "large-mean": (1e4, 1.0), "tiny-variance": (3.0, 1e-4)}


@st.composite
def family_inputs(draw: st.DrawFn, kind: str, dtypes: tuple[str, ...] = tuple(TARGET_ULP)) -> Any:
    """(case, arrays): a small input of ``kind`` in a drawn layout, dtype and regime."""
    dtype = draw(st.sampled_from(dtypes))
    ndim = draw(st.integers(2 if kind in ("layernorm", "rmsnorm") else 3, 4))
    groups = 1
    if kind == "groupnorm":
        groups = draw(st.sampled_from([1, 2, 3]))
        c = groups * draw(st.integers(1, 3))
    else:
        c = draw(st.integers(1, 5))
    rest = [draw(st.integers(1, 5)) for _ in range(ndim - 2)]
    shape = (draw(st.integers(1, 4)), c, *rest)
    regime = draw(st.sampled_from(list(REGIMES)))
    offset, spread = REGIMES[regime]
    if dtype == "float16" and regime == "large-mean":
        offset = 1e2  # a float16 holds 1e4 with a spacing of 8: no spread left at that offset
    layout = draw(st.sampled_from(list(LAYOUTS)))
    dy_layout = draw(st.sampled_from(list(LAYOUTS)))
    affine = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    case = Case(kind, dtype, shape, groups, offset, spread, "random", affine, seed % 2**16)
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    x = (offset + spread * rng.standard_normal(shape)).astype(dt)
    dy = rng.standard_normal(shape).astype(dt)
    pshape = shape[1:] if kind in ("layernorm", "rmsnorm") else (c,)
    gamma = beta = None
    if affine:
        gamma = (rng.uniform(0.5, 2.0, pshape) * rng.choice([-1, 1], pshape)).astype(dt)
        beta = rng.standard_normal(pshape).astype(dt) if kind != "rmsnorm" else None
    arrays = {
        "x": with_layout(x, layout, 1),
        "dy": with_layout(dy, dy_layout, 1),
        "gamma": gamma,
        "beta": beta,
        "layout": layout,
        "eps": EPS,
    }
    return case, arrays


def run(case: Case, a: dict[str, Any], scale: float = 1.0) -> tuple[Any, family.NormGrads]:
    """The library on ``a`` (x times ``scale``, eps times scale², dy as given)."""
    x, eps = a["x"] * scale if scale != 1.0 else a["x"], a["eps"] * scale * scale
    nd = len(case.shape) - 1
    if case.kind == "layernorm":
        y, cache = family.layernorm_forward(x, a["gamma"], a["beta"], eps, normalized_ndim=nd)
        return y, family.layernorm_backward(a["dy"], cache)
    if case.kind == "rmsnorm":
        y, cache = family.rmsnorm_forward(x, a["gamma"], eps, nd)
        return y, family.rmsnorm_backward(a["dy"], cache)
    if case.kind == "groupnorm":
        y, cache = family.groupnorm_forward(x, a["gamma"], a["beta"], case.groups, eps)
        return y, family.groupnorm_backward(a["dy"], cache)
    y, cache = family.instancenorm_forward(x, a["gamma"], a["beta"], eps)
    return y, family.instancenorm_backward(a["dy"], cache)


def _truth(case: Case, a: dict[str, Any]) -> Any:
    f64 = np.float64
    xs, idx, p = sets(case, np.ascontiguousarray(a["x"]))
    dys = sets(case, np.ascontiguousarray(a["dy"]))[0]
    gamma = None if a["gamma"] is None else a["gamma"].astype(f64).reshape(-1)
    beta = None if a["beta"] is None else a["beta"].astype(f64).reshape(-1)
    return exact(
        xs.astype(f64), gamma, beta, idx, dys.astype(f64), a["eps"], case.kind == "rmsnorm", p
    )


def _ulps(case: Case, a: dict[str, Any]) -> dict[str, float]:
    y, g = run(case, a)
    t = _truth(case, a)
    dt = case.dtype
    out = {
        "y": float(np.max(channel_ulps(sets(case, y)[0].T, t.y.T, dt, axis=1))),
        "dx": float(np.max(channel_ulps(sets(case, g.dx)[0].T, t.dx.T, dt, axis=1))),
    }
    if g.dgamma is not None:
        out["dgamma"] = float(channel_ulps(g.dgamma.reshape(-1), t.dgamma, dt)[0])
    if g.dbeta is not None:
        out["dbeta"] = float(channel_ulps(g.dbeta.reshape(-1), t.dbeta, dt)[0])
    return out


# -- accuracy ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_accuracy_over_shapes_layouts_dtypes_and_regimes(kind: str) -> None:
    @given(family_inputs(kind))
    def check(drawn: Any) -> None:
        case, a = drawn
        target = TARGET_ULP[case.dtype]
        for name, ulp in _ulps(case, a).items():
            assert ulp <= target, f"{kind} {name}: {ulp} ULP > {target} ({case}, {a['layout']})"

    check()


def test_the_accuracy_measure_can_fail() -> None:
    """A LayerNorm output off by 8 ULP in the largest element of one set is caught."""
    case = Case("layernorm", "float32", (3, 6), 1, 0.0, 1.0, "random", True, 1)
    rng = np.random.default_rng(1)
    a = {
        "x": rng.standard_normal((3, 6)).astype(np.float32),
        "dy": rng.standard_normal((3, 6)).astype(np.float32),
        "gamma": np.ones(6, np.float32),
        "beta": np.zeros(6, np.float32),
        "eps": EPS,
    }
    t = _truth(case, a)
    y = t.y.astype(np.float32)
    j = int(np.argmax(np.abs(y[1])))
    for _ in range(8):
        y[1, j] = np.nextafter(y[1, j], np.float32(np.inf) * np.sign(y[1, j]))
    assert float(np.max(channel_ulps(y.T, t.y.T, "float32", axis=1))) > TARGET_ULP["float32"]


# -- identities -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ("layernorm", "groupnorm", "instancenorm"))
def test_dx_sums_to_zero_over_every_set(kind: str) -> None:
    @given(family_inputs(kind, dtypes=("float32", "float64")))
    def check(drawn: Any) -> None:
        case, a = drawn
        _, g = run(case, a)
        dxs = sets(case, np.ascontiguousarray(g.dx))[0].astype(np.float64)
        m = dxs.shape[1]
        spacing = np.spacing(np.max(np.abs(dxs), axis=1).astype(case.dtype)).astype(np.float64)
        bound = m * (TARGET_ULP[case.dtype] + 1) * spacing
        sums = np.array([math.fsum(row) for row in dxs])
        assert np.all(np.abs(sums) <= bound), (sums, bound)

    check()


@pytest.mark.parametrize("kind", KINDS)
def test_power_of_two_scaling_is_exact(kind: str) -> None:
    """y(2^k x; 4^k eps) = y(x; eps) and dx(2^k x; 4^k eps) = 2^−k dx(x; eps), bitwise; dgamma
    and dbeta unchanged (RMSNorm's scaling invariance; the centered members' too)."""

    @given(family_inputs(kind, dtypes=("float32", "float64")), st.sampled_from([-3, -1, 2, 5]))
    def check(drawn: Any, k: int) -> None:
        case, a = drawn
        assume(case.offset < 1e4 or k < 5)
        y0, g0 = run(case, a)
        y1, g1 = run(case, a, scale=2.0**k)
        assert np.array_equal(y0, y1)
        assert np.array_equal(g0.dx, g1.dx * np.asarray(2.0**k, dtype=g1.dx.dtype))
        for name in ("dgamma", "dbeta"):
            v0, v1 = getattr(g0, name), getattr(g1, name)
            assert (v0 is None) == (v1 is None)
            if v0 is not None:
                assert np.array_equal(v0, v1), name

    check()


# -- layout -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_any_layout_gives_the_bytes_of_a_contiguous_copy(kind: str) -> None:
    @given(family_inputs(kind))
    def check(drawn: Any) -> None:
        case, a = drawn
        plain = dict(a, x=np.ascontiguousarray(a["x"]), dy=np.ascontiguousarray(a["dy"]))
        y0, g0 = run(case, a)
        y1, g1 = run(case, plain)
        assert y0.tobytes() == y1.tobytes()
        assert g0.dx.tobytes() == g1.dx.tobytes()
        for name in ("dgamma", "dbeta"):
            v0, v1 = getattr(g0, name), getattr(g1, name)
            if v0 is not None:
                assert v0.tobytes() == v1.tobytes(), name

    check()


def test_the_scaling_property_can_fail() -> None:
    """Scaling x by 2 but not eps changes a tiny-variance RMSNorm's output: the property
    compares the bits of outputs that do depend on what is scaled."""
    rng = np.random.default_rng(3)
    x = 1e-3 * rng.standard_normal((2, 8))
    y0, _ = family.rmsnorm_forward(x, None, EPS)
    y1, _ = family.rmsnorm_forward(2.0 * x, None, EPS)
    y2, _ = family.rmsnorm_forward(2.0 * x, None, 4 * EPS)
    assert not np.array_equal(y0, y1)
    assert np.array_equal(y0, y2)
