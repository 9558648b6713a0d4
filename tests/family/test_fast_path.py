"""The float32 fast path of the compiled family kernels (docs/numerics.md, "The normalization
family"): each element computed in plain double with a rigorous error bound and redone in
double-double only when that bound does not decide its rounding. Redoing every element
(``BNCHECK_FAMILY_FORCE_REDO=1``) must give the same bits, on inputs where the fast path decides
almost everything (random dy) and where the backward cancels (dy affine in x, so nearly every dx
is redone), at large set means, with and without the affine parameters. Also: the final rounding
of double-doubles (round to odd, then to nearest) and the overflow checks that the bounds allow
to skip. Skipped when the extension is not built."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from bncheck import BatchNormError, family
from bncheck.bn import kernels
from tests.internals import family_compiled, family_round_dd

pytestmark = pytest.mark.skipif(
    not family_compiled.available(), reason="the family's compiled kernels are not built"
)


def _run(kind: str, x: Any, dy: Any, g: Any, b: Any) -> list[Any]:
    if kind == "layernorm":
        y, cache = family.layernorm_forward(x, g, b)
        gr = family.layernorm_backward(dy, cache)
    elif kind == "rmsnorm":
        y, cache = family.rmsnorm_forward(x, g)
        gr = family.rmsnorm_backward(dy, cache)
    elif kind == "groupnorm":
        y, cache = family.groupnorm_forward(x, g, b, 4)
        gr = family.groupnorm_backward(dy, cache)
    else:
        y, cache = family.instancenorm_forward(x, g, b)
        gr = family.instancenorm_backward(dy, cache)
    return [y, gr.dx, gr.dgamma, gr.dbeta, cache.mean, cache.inv_std]


@pytest.mark.parametrize(
    ("kind", "offset", "dy_kind", "affine"),
    list(
        itertools.product(
            ["layernorm", "rmsnorm", "groupnorm", "instancenorm"],
            [0.0, 1e4],
            ["random", "affine"],
            [True, False],
        )
    ),
)
def test_redoing_every_element_gives_the_same_bits(
    kind: str, offset: float, dy_kind: str, affine: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(7)
    shape = (40, 300) if kind in ("layernorm", "rmsnorm") else (3, 8, 7, 9)
    x = (offset + rng.standard_normal(shape)).astype(np.float32)
    x64 = x.astype(np.float64)
    dy = rng.standard_normal(shape) if dy_kind == "random" else 2.0 * x64 + 3.0
    dy = dy.astype(np.float32)
    c = shape[-1] if kind in ("layernorm", "rmsnorm") else shape[1]
    g = rng.uniform(0.5, 2.0, c) * rng.choice([-1, 1], c) if affine else None
    b = rng.standard_normal(c) if affine else None
    monkeypatch.setenv("BNCHECK_FAMILY_FORCE_REDO", "0")
    fast = _run(kind, x, dy, g, b)
    monkeypatch.setenv("BNCHECK_FAMILY_FORCE_REDO", "1")
    redone = _run(kind, x, dy, g, b)
    for a, r in zip(fast, redone, strict=True):
        assert (a is None) == (r is None)
        if a is not None:
            assert np.asarray(a).tobytes() == np.asarray(r).tobytes()


def test_the_force_variable_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    if kernels() != "compiled":
        pytest.skip("the variable is read by the compiled kernels' wrapper")
    monkeypatch.setenv("BNCHECK_FAMILY_FORCE_REDO", "yes")
    with pytest.raises(BatchNormError, match=r"BNCHECK_FAMILY_FORCE_REDO='yes'; expected 0 or 1"):
        family.layernorm_forward(np.ones((2, 3), np.float32))


def test_double_doubles_round_once() -> None:
    """hi + lo with hi on a float32 midpoint: lo decides (plain hi + lo would round hi to even)."""
    one, ulp = 1.0, 2.0**-23
    mid = np.array([one + ulp / 2, one + ulp / 2, one + 3 * ulp / 2, -(one + ulp / 2)])
    lo = np.array([2.0**-60, -(2.0**-60), 0.0, -(2.0**-60)])
    out = family_round_dd(mid, lo, np.float32)
    expected = [one + ulp, one, one + 2 * ulp, -(one + ulp)]
    assert out.dtype == np.float32 and out.tolist() == expected
    assert (mid + lo).astype(np.float32).tolist() != expected  # what rounding twice gives
    assert family_round_dd(mid, lo, np.float64).tolist() == (mid + lo).tolist()


def test_overflow_is_still_reported_in_float32() -> None:
    x = np.array([[0.0, 1.0]], np.float32)
    with pytest.raises(BatchNormError, match=r"y overflows float32"):
        family.layernorm_forward(x, np.array([3e38, 3e38]), np.array([3e38, 3e38]))
    _, cache = family.layernorm_forward(np.array([[0.0, 0.01, 0.05]], np.float32), np.ones(3))
    with pytest.raises(BatchNormError, match=r"dx overflows float32"):
        family.layernorm_backward(np.array([[3e38, -3e38, 1.0]], np.float32), cache)
    bad = np.array([[1.0, np.nan, 1.0]], np.float32)
    with pytest.raises(BatchNormError, match=r"dy contains NaN"):
        family.layernorm_backward(bad, cache)


@pytest.mark.parametrize("kind", ["layernorm", "groupnorm"])
def test_a_float64_backward_of_a_float32_forward_recomputes_the_statistics(kind: str) -> None:
    """The float32 forward's variance is a plain double sum; a float64 dy exactly affine in x
    (the bracket of dx cancels, leaving eps/(var + eps) of it) needs the double-double one."""
    from bncheck.check.metrics import channel_ulps
    from bncheck.check.tolerances import TARGET_ULP
    from tests.family.truth import exact

    rng = np.random.default_rng(11)
    shape = (6, 50) if kind == "layernorm" else (3, 4, 25)
    x = (1e3 + rng.standard_normal(shape)).astype(np.float32)
    dy = 2.0 * x.astype(np.float64) + 3.0
    if kind == "layernorm":
        _, cache = family.layernorm_forward(x)
        dx = family.layernorm_backward(dy, cache).dx
        xs, ds, idx, p = x.astype(float), dy, np.broadcast_to(np.arange(50), (6, 50)), 50
    else:
        _, cache = family.groupnorm_forward(x, None, None, 2)
        dx = family.groupnorm_backward(dy, cache).dx
        xs, ds = x.astype(float).reshape(6, 50), dy.reshape(6, 50)
        idx, p = np.broadcast_to(np.repeat(np.arange(2), 25), (6, 50)), 4
    assert dx.dtype == np.float64
    truth = exact(xs, None, None, np.asarray(idx), ds, 1e-5, False, p)
    err = float(np.max(channel_ulps(dx.reshape(6, 50).T, truth.dx.T, "float64", axis=1)))
    assert err <= TARGET_ULP["float64"]


@pytest.mark.parametrize("layout", ["contiguous", "strided", "misaligned"])
def test_the_float32_cache_keeps_x_itself_or_the_kernels_own_copy(layout: str) -> None:
    """A contiguous, aligned x is kept itself (no copy; the backward checks its checksum);
    other layouts are copied by the kernel, and the cache keeps that copy: either way a later
    edit of the caller's x never gives a silently wrong backward."""
    rng = np.random.default_rng(5)
    base = rng.standard_normal((6, 20)).astype(np.float32)
    dy = rng.standard_normal((6, 20)).astype(np.float32)
    if layout == "strided":
        x = np.repeat(base, 2, axis=1)[:, ::2]
    elif layout == "misaligned":
        buf = bytearray(base.nbytes + 1)
        x = np.frombuffer(buf, np.float32, count=base.size, offset=1).reshape(base.shape)
        x[...] = base
    else:
        x = base.copy()
    assert x.flags.aligned == (layout != "misaligned")
    y, cache = family.layernorm_forward(x, np.ones(20), np.zeros(20))
    y_ref, ref = family.layernorm_forward(base.copy(), np.ones(20), np.zeros(20))
    assert y.tobytes() == y_ref.tobytes()
    assert not cache.x.flags.writeable
    assert np.shares_memory(cache.x, x) == (layout == "contiguous")
    want = family.layernorm_backward(dy, ref).dx
    x[2] = 0.0
    if layout == "contiguous":
        with pytest.raises(BatchNormError, match=r"reduction set 2 \(of 6\) no longer holds"):
            family.layernorm_backward(dy, cache)
    else:
        np.testing.assert_array_equal(cache.x, base)
        assert family.layernorm_backward(dy, cache).dx.tobytes() == want.tobytes()


def _random_case(rng: np.random.Generator) -> tuple[str, Any, Any, Any, Any, int, float]:
    kind = str(rng.choice(["layernorm", "rmsnorm", "groupnorm"]))
    m, sets = int(rng.choice([1, 2, 3, 7, 16, 33, 100, 257])), int(rng.integers(1, 30))
    offset = float(rng.choice([0.0, 1.0, 1e2, 1e4, 1e6, -3e3]))
    spread = float(rng.choice([1.0, 1e-3, 1e-6, 1e3, 1e-20]))
    eps = float(rng.choice([1e-5, 1e-12, 1e-3, 1.0]))
    groups = int(rng.choice([1, 2, 4])) if kind == "groupnorm" else 1
    shape = (sets, groups * int(rng.integers(1, 4)), m) if kind == "groupnorm" else (sets, m)
    x = (offset + spread * rng.standard_normal(shape)).astype(np.float32)
    if rng.random() < 0.2:
        x[..., ::3] = 0.0
    x64 = x.astype(np.float64)
    dy = {
        "random": rng.standard_normal(shape),
        "affine": 2.0 * x64 - 3.0 * offset,
        "near": 2.0 * x64 + 3.0 + 1e-5 * spread * rng.standard_normal(shape),
        "constant": np.full(shape, 0.5),
    }[str(rng.choice(["random", "affine", "near", "constant"]))].astype(np.float32)
    c = shape[1] if kind == "groupnorm" else m
    g = None if rng.random() < 0.2 else rng.uniform(-2, 2, c) * (rng.random(c) > 0.1)
    scale = float(rng.choice([1.0, 1e4, 1e-4]))
    b = None if rng.random() < 0.3 else rng.standard_normal(c) * scale
    return kind, x, dy, g, b, groups, eps


def test_redoing_every_element_gives_the_same_bits_on_random_regimes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Set sizes from 1, means up to 1e6 times the spread, spreads from 1e-20, eps from 1e-12 to
    1, zeros in x and gamma, dy random, affine, nearly affine or constant (exact zeros in dx,
    whose sign the bound must not decide): the fast path's bounds must hold everywhere."""
    rng = np.random.default_rng(2024)
    for _ in range(150):
        kind, x, dy, g, b, groups, eps = _random_case(rng)
        outs = []
        for force in ("0", "1"):
            monkeypatch.setenv("BNCHECK_FAMILY_FORCE_REDO", force)
            if kind == "layernorm":
                y, cache = family.layernorm_forward(x, g, b, eps)
                gr = family.layernorm_backward(dy, cache)
            elif kind == "rmsnorm":
                y, cache = family.rmsnorm_forward(x, g, eps)
                gr = family.rmsnorm_backward(dy, cache)
            else:
                y, cache = family.groupnorm_forward(x, g, b, groups, eps)
                gr = family.groupnorm_backward(dy, cache)
            outs.append([a for a in (y, gr.dx, gr.dgamma, gr.dbeta) if a is not None])
        for a, r in zip(*outs, strict=True):
            assert a.tobytes() == r.tobytes(), (kind, x.shape, eps)


# -- the benchmark's arithmetic floor ----------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "shape", "groups"),
    [
        ("layer", (37, 70), 1),
        ("rms", (5, 3, 33), 1),
        ("group", (3, 8, 5, 3), 4),
        ("group", (6, 8), 2),
    ],
)
def test_the_benchmark_floor_computes_the_member_it_times(
    member: str, shape: tuple[int, ...], groups: int
) -> None:
    # not correctly rounded (plain double, no check), so held to a few float32 ulps of
    # bncheck's correctly rounded results: a floor that skipped work would time less than the
    # member, and this would fail
    if not family_compiled.available():
        pytest.skip("the compiled family kernels are not built")
    rng = np.random.default_rng(7)
    x = rng.normal(3.0, 2.0, shape).astype(np.float32)
    dy = rng.normal(size=shape).astype(np.float32)
    if member == "group":
        c = shape[1]
        geo = (shape[0], groups, c // groups, int(np.prod(shape[2:], dtype=np.int64)))
    else:
        c = shape[-1]
        geo = (x.size // c, 1, c, 1)
    g = rng.uniform(0.5, 2.0, c)
    b = None if member == "rms" else rng.normal(size=c)
    if member == "layer":
        y_ref, cache = family.layernorm_forward(x, g, b)
        grads = family.layernorm_backward(dy, cache)
    elif member == "rms":
        y_ref, cache = family.rmsnorm_forward(x, g, eps=1e-5)
        grads = family.rmsnorm_backward(dy, cache)
    else:
        y_ref, cache = family.groupnorm_forward(x, g, b, groups)
        grads = family.groupnorm_backward(dy, cache)
    y, dx = np.empty_like(x), np.empty_like(x)
    family_compiled.floor(x, y, dy, dx, geo, g, b, 1e-5, member == "rms")
    for got, ref in ((y, y_ref), (dx, grads.dx)):
        scale = np.spacing(np.float32(np.max(np.abs(ref))))
        assert np.max(np.abs(got.astype(np.float64) - ref)) <= 4 * scale
    with pytest.raises(TypeError, match="float32"):
        family_compiled.floor(
            x.astype(np.float64), y.astype(np.float64), None, None, geo, g, b, 1e-5, False
        )
