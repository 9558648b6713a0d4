"""Inputs for the checks: fixed probes (one per regime), the kernel cases (where compiled and
hand-written kernels break), a Hypothesis search, a greedy shrinker.

Targets take (N, C) or (N, C, H, W) with the channel axis 1, as functional and cs231n-style
BNs do. Probes guarantee that every regime is tried on every run; the kernel cases
(:data:`KERNEL_CASES`) that every channel count across vector and tile boundaries, every block
size of a reduction and every memory layout of :data:`bncheck.check.strategies.LAYOUTS` is
tried on every run; the search then draws more cases from ``bncheck.check.strategies`` (with
``--thorough``: boundary shapes and every layout); a failing case is shrunk greedily (fewer
channels, fewer rows, smaller spatial sides, its layout kept) while it still fails, so the
counterexample shown is small.

A case's arrays carry their layout to the target: the wire sends them with their strides
(:mod:`bncheck.check._verify.process.wire`), and for a target whose channel axis is not 1
(``--axis``) the layout is laid out in the target's own axis order (:func:`laid_out`), so that
after the adapter moves the channel axis the target holds exactly that layout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st

from bncheck.check.regimes import (
    BETA_KINDS,
    DY_KINDS,
    GAMMA_KINDS,
    REGIME_TABLE,
    clipped_to_dtype,
    make_dy,
    make_x,
)
from bncheck.check.strategies import (
    LAYOUTS,
    MIXED_LAYOUTS,
    BNCase,
    case_layouts,
    kernel_shapes,
    layouts,
    random_seeds,
    with_layout,
)
from bncheck.check.tolerances import LARGE_TRUTH

__all__ = [
    "KERNEL_CASES",
    "SHAPES",
    "kernel_cases",
    "laid_out",
    "probe_cases",
    "search_strategy",
    "shrink",
    "to_channel_axis_1",
    "with_case_layout",
    "with_channels",
]

#: probe shapes per ndim: m = 16 values per channel in 2-D, 4·3·2 = 24 in 4-D
SHAPES: dict[int, tuple[int, ...]] = {2: (16, 3), 3: (4, 3, 5), 4: (4, 3, 3, 2), 5: (2, 3, 2, 2, 2)}


#: The kernel cases per rank: (shape with channel axis 1, layout). Channel counts across
#: vector and tile boundaries (1, small primes, 8, 16, 17, 33, 64, 65, 129, a few thousand),
#: values per channel from 2 to beyond 65 536 (odd sizes just past powers of two, > 4096 and
#: not a multiple of it), a batch of 1 with spatial sides, and every layout, x and dy also in
#: different layouts (:data:`~bncheck.check.strategies.MIXED_LAYOUTS`: on a batch of one with a
#: spatial side of 1, and on shapes with two or more axes longer than 1 within each channel,
#: where a pairing of x and dy in memory order differs from the one by index). The large ones are
#: few: they are judged against the double-double reference
#: (:mod:`bncheck.check._verify.checks.large_truth`). Ranks 3 and 5 fold the 4-D shapes.
KERNEL_CASES: dict[int, tuple[tuple[tuple[int, ...], str], ...]] = {
    2: (
        ((2, 17), "F"),
        ((5, 8), "reversed"),
        ((33, 16), "sliced"),
        ((3, 1), "C"),
        ((9, 7), "transposed"),
        ((129, 33), "F"),
        ((17, 65), "reversed"),
        ((2, 129), "sliced"),
        ((1025, 64), "C"),
        ((4097, 5), "C"),
        ((7, 2053), "F"),
        ((65537, 2), "transposed"),
        ((9, 7), "F-x"),
    ),
    4: (
        ((1, 33, 5, 7), "channels_last"),
        ((2, 8, 3, 3), "F"),
        ((3, 17, 2, 5), "reversed"),
        ((2, 64, 3, 3), "transposed"),
        ((2, 5, 3, 7), "sliced"),
        ((1, 129, 2, 3), "channels_last"),
        ((1, 1, 2, 3), "C"),
        ((2, 7, 1, 1), "reversed"),
        ((1, 65, 9, 11), "F"),
        ((2, 16, 51, 50), "channels_last"),
        ((1, 3, 257, 257), "F"),
        ((1, 17, 1, 2), "F-dy"),
        ((2, 8, 3, 3), "F-x"),
        ((3, 17, 2, 5), "F-dy"),
    ),
}


def _kernel_shape(shape: tuple[int, ...], ndim: int) -> tuple[int, ...]:
    """A 4-D kernel shape folded to rank 3 (H·W as one side) or 5 (a depth of 1)."""
    if ndim == 3:
        return (shape[0], shape[1], int(np.prod(shape[2:])))
    if ndim == 5:
        return (*shape, 1) if len(shape) == 4 else shape
    return shape


def laid_out(a: np.ndarray, layout: str, axis: int = 1) -> np.ndarray:
    """``a`` (channel axis 1) in ``layout`` as a target with channel axis ``axis`` holds it:
    the layout is made in the target's axis order, then viewed back with channels on axis 1
    (the adapter's move of the channel axis undoes that view exactly)."""
    nd = a.ndim
    target_axis = axis % nd if nd > 2 else 1
    if target_axis == 1:
        out: np.ndarray = with_layout(a, layout, 1)
        return out
    moved = np.moveaxis(a, 1, target_axis)
    return np.moveaxis(with_layout(moved, layout, target_axis), target_axis, 1)


def with_case_layout(case: BNCase, layout: str, axis: int = 1) -> BNCase:
    """``case`` with x and dy in ``layout`` (see :func:`laid_out`), a key of
    :data:`~bncheck.check.strategies.LAYOUTS` or, x and dy in different layouts, of
    :data:`~bncheck.check.strategies.MIXED_LAYOUTS`."""
    xl, dl = case_layouts(layout)
    return case._replace(
        x=laid_out(case.x, xl, axis), dy=laid_out(case.dy, dl, axis), layout=layout
    )


def kernel_cases(
    dtype: Any, ndim: int, seed: int = 0, channels: int | None = None, axis: int = 1
) -> list[BNCase]:
    """The cases of :data:`KERNEL_CASES` for one rank and dtype, x and dy in their layouts;
    regimes and dy kinds in turn (offsets a float16 cannot hold are left out for it, and a dy
    kind whose exact dgamma or dbeta it cannot hold gives way to the next);
    ``channels`` fixes C (for targets of a fixed width), keeping the values per channel."""
    dt = np.dtype(dtype)
    shapes = KERNEL_CASES[4 if ndim not in KERNEL_CASES else ndim]
    regimes = [
        name for name, r in REGIME_TABLE.items() if dt != np.float16 or r.offset * r.spread <= 1e3
    ]
    dy_kinds = list(DY_KINDS)
    cases = []
    for k, (base, layout) in enumerate(shapes):
        shape = list(_kernel_shape(base, ndim))
        if channels is not None:
            shape[1] = channels
        c = shape[1]
        name = regimes[k % len(regimes)]
        rng = np.random.default_rng([seed, ndim, 1000 + k])
        eps = 1e-5
        x = make_x(rng, tuple(shape), 1, name, eps, dt)
        gamma = GAMMA_KINDS["moderate"](rng, c) * np.resize([1.0, -1.0], c)
        beta = BETA_KINDS["normal"](rng, c)
        for turn in range(len(dy_kinds)):  # float16: the next kind where the first overflows
            dy = make_dy(rng, dy_kinds[(k + turn) % len(dy_kinds)], tuple(shape), 1, dt)
            if dt != np.float16 or _gradients_fit(x, dy, eps, dt):
                break
        case = BNCase(x, gamma.astype(dt), beta.astype(dt), dy, eps, 1, name)
        cases.append(with_case_layout(case, layout, axis))
    return cases


def _gradients_fit(x: Any, dy: Any, eps: float, dt: np.dtype[Any]) -> bool:
    """Whether the exact dbeta = Σ dy and dgamma = Σ dy·x_hat of a case stay within half the
    range of ``dt`` (gamma of moderate size): a float16 case of 66,049 values per channel whose
    dy has an offset (10 + N(0, 1)) has a dbeta of about 6.6e5, which no float16 holds, so any
    BN, bncheck's own too, can only overflow there: a case that checks no BN."""
    xf, dyf = np.asarray(x, dtype=np.float64), np.asarray(dy, dtype=np.float64)
    axes = (0, *range(2, xf.ndim))
    mu = xf.mean(axis=axes, keepdims=True)
    x_hat = (xf - mu) / np.sqrt(((xf - mu) ** 2).mean(axis=axes, keepdims=True) + eps)
    largest = max(np.abs(dyf.sum(axis=axes)).max(), np.abs((dyf * x_hat).sum(axis=axes)).max())
    return bool(largest <= float(np.finfo(dt).max) / 2)


def to_channel_axis_1(case: BNCase) -> BNCase:
    """Move a case's channel axis to position 1."""
    ax = case.axis % case.x.ndim
    return case._replace(x=np.moveaxis(case.x, ax, 1), dy=np.moveaxis(case.dy, ax, 1), axis=1)


def probe_cases(dtype: Any, ndim: int, seed: int = 0, channels: int | None = None) -> list[BNCase]:
    """One deterministic case per row of ``bncheck.check.regimes.REGIME_TABLE`` (float16 skips
    the offsets its 11-bit significand cannot hold), built with the strategies' own
    ``make_x``/``make_dy``; gamma of both signs, beta != 0, dy kinds in turn (never uniform).
    ``channels`` overrides the probe shapes' C = 3 (for targets of a fixed width)."""
    dt = np.dtype(dtype)
    shape = list(SHAPES[ndim])
    shape[1] = channels or shape[1]
    c = shape[1]
    dy_kinds = list(DY_KINDS)
    cases = []
    for k, (name, regime) in enumerate(REGIME_TABLE.items()):
        if dt == np.float16 and regime.offset * regime.spread > 1e3:
            continue
        rng = np.random.default_rng([seed, ndim, k])
        eps = 1e-5
        x = make_x(rng, tuple(shape), 1, name, eps, dt)
        gamma = GAMMA_KINDS["moderate"](rng, c) * np.resize([1.0, -1.0], c)
        beta = BETA_KINDS["normal"](rng, c)
        dy = make_dy(rng, dy_kinds[k % len(dy_kinds)], tuple(shape), 1, dt)
        cases.append(BNCase(x, gamma.astype(dt), beta.astype(dt), dy, eps, 1, name))
    return cases


def with_channels(case: BNCase, channels: int, axis: int = 1) -> BNCase:
    """Repeat (or drop) channels so that the case has exactly ``channels`` (layout kept)."""
    pick = np.arange(channels) % case.x.shape[1]
    return _take(case, (slice(None), pick), pick, axis)


def search_strategy(
    dtype: Any,
    ndim: int,
    channels: int | None = None,
    *,
    thorough: bool = False,
    axis: int = 1,
    shapes: Sequence[tuple[int, ...]] = (),
) -> st.SearchStrategy[BNCase]:
    """Random cases of one dtype and ndim, channel axis 1, with gamma and beta: shapes of the
    probes' size, C-contiguous; ``thorough``: the kernel dimensions instead (channel counts and
    values per channel at their boundaries, :func:`bncheck.check.strategies.kernel_shapes`,
    and every layout, x and dy in different ones too); ``shapes`` (not thorough): drawn from
    these instead (a target that compiles per shape: the values vary, the shapes are ones it
    has already run)."""
    dt = np.dtype(dtype)
    if thorough:
        shape_st = kernel_shapes(ndim, max_values=LARGE_TRUTH.mpmath_values)
        layout_st = layouts((*LAYOUTS, *MIXED_LAYOUTS))  # x and dy apart too
    else:
        shape_st = st.sampled_from(list(shapes)) if shapes else _small_shapes(ndim)
        layout_st = st.just("C")
    regimes = [n for n, r in REGIME_TABLE.items() if dt != np.float16 or r.offset * r.spread <= 1e3]
    return st.builds(
        lambda shape, layout, kinds, eps, seed: _search_case(
            dt, shape, layout, kinds, eps, seed, channels, axis
        ),
        shape_st,
        layout_st,
        st.tuples(
            st.sampled_from(regimes),
            st.sampled_from(list(GAMMA_KINDS)),
            st.sampled_from(list(BETA_KINDS)),
            st.sampled_from(list(DY_KINDS)),
        ),
        st.sampled_from((1e-5, 1e-3, 0.1)),
        random_seeds(),
    )


@st.composite
def _small_shapes(draw: st.DrawFn, ndim: int) -> tuple[int, ...]:
    """Up to 6 per side and 4 channels, at least 2 values per channel (the probes' size)."""
    sides = [draw(st.integers(1, 6)) for _ in range(ndim)]
    sides[1] = draw(st.integers(1, 4))
    m = int(np.prod(sides)) // sides[1]
    if m < 2:
        sides[0] *= 2
    return tuple(sides)


def _search_case(
    dt: np.dtype[Any],
    shape: tuple[int, ...],
    layout: str,
    kinds: tuple[str, str, str, str],
    eps: float,
    seed: int,
    channels: int | None,
    axis: int,
) -> BNCase:
    regime, g_kind, b_kind, dy_kind = kinds
    rng = np.random.default_rng(seed)
    shape = (shape[0], channels, *shape[2:]) if channels is not None else shape
    c = shape[1]
    x = make_x(rng, shape, 1, regime, eps, dt)
    gamma = clipped_to_dtype(GAMMA_KINDS[g_kind](rng, c), dt)
    beta = clipped_to_dtype(BETA_KINDS[b_kind](rng, c), dt)
    dy = make_dy(rng, dy_kind, shape, 1, dt)
    case = BNCase(x, gamma, beta, dy, eps, 1, regime, g_kind, b_kind, dy_kind)
    return with_case_layout(case, layout, axis)


def _take(
    case: BNCase, x_index: tuple[Any, ...], channels: Any = slice(None), axis: int = 1
) -> BNCase:
    g = None if case.gamma is None else case.gamma[channels]
    b = None if case.beta is None else case.beta[channels]
    x, dy = case.x[x_index], case.dy[x_index]
    xl, dl = case_layouts(case.layout)
    return case._replace(x=laid_out(x, xl, axis), dy=laid_out(dy, dl, axis), gamma=g, beta=b)


def _candidates(case: BNCase, fixed_channels: bool = False, axis: int = 1) -> list[BNCase]:
    """Smaller variants of a case, largest reduction first; every one keeps m >= 2 and the
    case's layout."""
    out = []
    shape = case.x.shape
    c = shape[1]
    for j in range(c) if c > 1 and not fixed_channels else []:
        out.append(_take(case, (slice(None), slice(j, j + 1)), slice(j, j + 1), axis))
    m = case.x.size // c
    for axis in [0, *range(2, case.x.ndim)]:
        n = shape[axis]
        for keep in sorted({n // 2, n - 1}):
            if keep < 1 or keep >= n or m // n * keep < 2:
                continue
            index = [slice(None)] * case.x.ndim
            index[axis] = slice(0, keep)
            out.append(_take(case, tuple(index), axis=axis))
    return out


def shrink(
    case: BNCase,
    fails: Callable[[BNCase], bool],
    budget: int = 60,
    fixed_channels: bool = False,
    axis: int = 1,
    allowed: Callable[[BNCase], bool] | None = None,
) -> BNCase:
    """Greedily replace ``case`` by a smaller variant while ``fails`` stays true (only
    variants ``allowed`` says yes to, when given: a target that compiles per shape is shrunk
    over the shapes it has already run)."""
    tries = 0
    improved = True
    while improved and tries < budget:
        improved = False
        candidates = _candidates(case, fixed_channels, axis)
        if allowed is not None:
            candidates = [c for c in candidates if allowed(c)]
        for smaller in candidates:
            tries += 1
            if fails(smaller):
                case, improved = smaller, True
                break
            if tries >= budget:
                break
    return case
