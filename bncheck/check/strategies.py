"""Public Hypothesis strategies for Batch Normalization inputs.

Values are drawn as a seed and built with ``np.random.default_rng(seed)``: shrinking then acts
on the shape, the regime and the seed rather than on thousands of floats, which keeps examples
fast and counterexamples short. Upstream gradients are never uniform within a channel (a
uniform ``dy`` makes ``dx`` identically 0 and hides every bug in the backward pass).

Each table below is the list of what can be drawn; adding a row adds a case:

- :data:`REGIME_TABLE` — the input x per channel: offset, spread, variance relative to eps,
  tails (large offsets, near-constant channels with variance near and below eps, heavy tails);
- :data:`GAMMA_KINDS`, :data:`BETA_KINDS` — scale and shift (near 1, far from 1, negative;
  beta ≠ 0, small and large);
- :data:`DY_KINDS` — upstream gradients (Gaussian, heavy-tailed, offset, sparse).

All values are finite in the drawn dtype: heavy tails, gamma, beta and dy are clipped to
``±min(1e3, sqrt(finfo.max)/4)`` (±64 in float16), so squares and BN's outputs stay finite.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from hypothesis import strategies as st
from numpy.typing import NDArray

__all__ = [
    "BETA_KINDS",
    "DY_KINDS",
    "GAMMA_KINDS",
    "REGIMES",
    "REGIME_TABLE",
    "BNCase",
    "Regime",
    "betas",
    "bn_cases",
    "channel_axes",
    "float_dtypes",
    "gammas",
    "large_m_shapes",
    "make_dy",
    "make_x",
    "random_seeds",
    "shapes",
    "upstream_gradients",
]

FArray = NDArray[np.floating[Any]]


class Regime(NamedTuple):
    """How x is drawn per channel: x = ±offset·spread + spread·noise.

    ``var_over_eps`` (if set) replaces the spread by sqrt(var_over_eps·eps), so the batch
    variance sits near (1) or below (< 1) eps; ``dof`` (if set) draws the noise from Student's t
    with that many degrees of freedom (1: Cauchy), clipped to stay finite.
    """

    offset: float
    spread: float
    var_over_eps: float | None = None
    dof: float | None = None


#: The input regimes. ``offset`` is |mean|/spread of each channel.
REGIME_TABLE: dict[str, Regime] = {
    "standard": Regime(0.0, 1.0),
    "offset_1e2": Regime(1e2, 1.0),
    "offset_1e4": Regime(1e4, 1.0),
    "tiny_spread": Regime(1.0, 1e-3),  # variance ~1e-6, below eps=1e-5
    "large_spread": Regime(0.0, 1e3),
    "var_near_eps": Regime(10.0, 1.0, var_over_eps=1.0),
    "var_below_eps": Regime(1e2, 1.0, var_over_eps=1e-2),
    "var_far_below_eps": Regime(1e2, 1.0, var_over_eps=1e-4),
    "heavy_tails_cauchy": Regime(0.0, 1.0, dof=1.0),
    "heavy_tails_t2": Regime(3.0, 1.0, dof=2.0),
}

#: (offset, nominal spread) per regime, the original two-column view of :data:`REGIME_TABLE`.
REGIMES: dict[str, tuple[float, float]] = {k: (r.offset, r.spread) for k, r in REGIME_TABLE.items()}

Maker = Callable[[np.random.Generator, int], NDArray[np.float64]]


def _signs(rng: np.random.Generator, c: int) -> NDArray[np.float64]:
    return rng.choice([-1.0, 1.0], size=c)


#: gamma per channel: moderate (|gamma| in [0.5, 2], either sign), far from 1 (|gamma| log-
#: uniform in [1e-3, 1e3], either sign), negative.
GAMMA_KINDS: dict[str, Maker] = {
    "moderate": lambda rng, c: rng.uniform(0.5, 2.0, c) * _signs(rng, c),
    "far": lambda rng, c: 10.0 ** rng.uniform(-3.0, 3.0, c) * _signs(rng, c),
    "negative": lambda rng, c: -rng.uniform(0.1, 10.0, c),
}

#: beta per channel, never all zero: unit normal, or large (|beta| ~ 1e2).
BETA_KINDS: dict[str, Maker] = {
    "normal": lambda rng, c: rng.normal(0.0, 1.0, c),
    "large": lambda rng, c: rng.normal(0.0, 1.0, c) + 1e2 * _signs(rng, c),
}

ShapeMaker = Callable[[np.random.Generator, tuple[int, ...]], NDArray[np.float64]]

#: upstream gradients dy: Gaussian; Student-t(2) heavy tails (clipped); a large common offset
#: (dy − mean(dy) cancels); sparse (90% zeros).
DY_KINDS: dict[str, ShapeMaker] = {
    "normal": lambda rng, shape: rng.standard_normal(shape),
    "heavy": lambda rng, shape: np.clip(rng.standard_t(2.0, shape), -1e2, 1e2),
    "offset": lambda rng, shape: 10.0 + rng.standard_normal(shape),
    "sparse": lambda rng, shape: rng.standard_normal(shape) * (rng.random(shape) < 0.1),
}


class BNCase(NamedTuple):
    """One BN input: x, gamma, beta (None = no affine), upstream gradient dy, eps, channel axis,
    and the names of the table rows it was drawn from."""

    x: FArray
    gamma: FArray | None
    beta: FArray | None
    dy: FArray
    eps: float
    axis: int
    regime: str
    gamma_kind: str = "moderate"
    beta_kind: str = "normal"
    dy_kind: str = "normal"

    @property
    def m(self) -> int:
        """Values per channel."""
        return int(self.x.size // self.x.shape[self.axis])


def random_seeds() -> st.SearchStrategy[int]:
    """Seeds for ``np.random.default_rng``."""
    return st.integers(0, 2**32 - 1)


def float_dtypes(
    dtypes: tuple[Any, ...] = (np.float32, np.float64),
) -> st.SearchStrategy[np.dtype[Any]]:
    """One of ``dtypes`` as a ``np.dtype``."""
    return st.sampled_from([np.dtype(d) for d in dtypes])


@st.composite
def shapes(
    draw: st.DrawFn,
    *,
    min_ndim: int = 2,
    max_ndim: int = 5,
    min_m: int = 2,
    max_side: int = 6,
    max_channels: int = 4,
) -> tuple[tuple[int, ...], int]:
    """A shape of ndim in [min_ndim, max_ndim] and a channel axis (maybe negative) such that
    every channel has at least ``min_m`` values."""
    ndim = draw(st.integers(min_ndim, max_ndim))
    axis = draw(st.integers(0, ndim - 1))
    sides = [draw(st.integers(1, max_side)) for _ in range(ndim)]
    sides[axis] = draw(st.integers(1, max_channels))
    m = int(np.prod([s for i, s in enumerate(sides) if i != axis]))
    if m < min_m:
        first = 0 if axis != 0 else 1
        sides[first] *= -(-min_m // m)
    if draw(st.booleans()):
        axis -= ndim
    return tuple(sides), axis


@st.composite
def large_m_shapes(
    draw: st.DrawFn, *, min_m: int = 64, max_m: int = 2048, max_channels: int = 3
) -> tuple[tuple[int, ...], int]:
    """(m, C) or (N, C, L) with m = N·L in [min_m, max_m], channel axis 1."""
    length = draw(st.sampled_from([1, 2, 4, 8]))
    n = draw(st.integers(-(-min_m // length), max(max_m // length, -(-min_m // length))))
    c = draw(st.integers(1, max_channels))
    return ((n, c), 1) if length == 1 else ((n, c, length), 1)


def channel_axes(ndim: int) -> st.SearchStrategy[int]:
    """A channel axis for an ndim array, negative values included."""
    return st.integers(-ndim, ndim - 1)


def _channel_shape(shape: tuple[int, ...], axis: int) -> list[int]:
    bshape = [1] * len(shape)
    bshape[axis] = shape[axis]
    return bshape


def _clip_value(dtype: np.dtype[Any]) -> float:
    return float(min(1e3, np.sqrt(float(np.finfo(dtype).max)) / 4))


def make_x(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    axis: int,
    regime: str | Regime,
    eps: float,
    dtype: Any = np.float64,
) -> FArray:
    """Draw x for one row of :data:`REGIME_TABLE` (or a :class:`Regime` of your own), cast to
    ``dtype`` (finite there)."""
    r = REGIME_TABLE[regime] if isinstance(regime, str) else regime
    dt = np.dtype(dtype)
    spread = r.spread if r.var_over_eps is None else float(np.sqrt(r.var_over_eps * eps))
    c = shape[axis]
    if r.dof is None:
        noise = rng.standard_normal(shape)
    else:
        noise = np.clip(rng.standard_t(r.dof, shape), -_clip_value(dt), _clip_value(dt))
    offsets = r.offset * spread * rng.choice([-1.0, 1.0], size=c)
    x = offsets.reshape(_channel_shape(shape, axis)) + spread * noise
    return x.astype(dt)


def _non_uniform(dy: FArray, axis: int) -> FArray:
    """Make every channel of dy hold at least two distinct values (after the cast)."""
    moved = np.moveaxis(dy, axis, -1)  # a view: edits land in dy
    flat = moved.reshape(-1, moved.shape[-1])
    uniform = np.all(flat == flat[:1], axis=0)
    for j in np.flatnonzero(uniform):
        idx = np.unravel_index(0, moved.shape[:-1])
        moved[(*idx, j)] = moved[(*idx, j)] + dy.dtype.type(1.0)
    return dy


def _capped(v: NDArray[np.float64], dtype: Any) -> FArray:
    """Clip to ±min(1e3, sqrt(finfo.max)/4) (±64 in float16) and cast: keeps BN's outputs
    finite in the dtype for the moderate regimes."""
    dt = np.dtype(dtype)
    cap = _clip_value(dt)
    return np.clip(v, -cap, cap).astype(dt)


def make_dy(
    rng: np.random.Generator, kind: str, shape: tuple[int, ...], axis: int, dtype: Any
) -> FArray:
    """Draw dy for one row of :data:`DY_KINDS`, capped and cast to ``dtype``; every channel
    holds at least two distinct values."""
    return _non_uniform(_capped(DY_KINDS[kind](rng, shape), dtype), axis)


def gammas(channels: int, dtype: Any = np.float64) -> st.SearchStrategy[FArray]:
    """gamma of shape (channels,) from one row of :data:`GAMMA_KINDS`."""
    return st.builds(
        lambda kind, seed: _capped(GAMMA_KINDS[kind](np.random.default_rng(seed), channels), dtype),
        st.sampled_from(list(GAMMA_KINDS)),
        random_seeds(),
    )


def betas(channels: int, dtype: Any = np.float64) -> st.SearchStrategy[FArray]:
    """beta of shape (channels,) from one row of :data:`BETA_KINDS` (never all zero)."""
    return st.builds(
        lambda kind, seed: _capped(BETA_KINDS[kind](np.random.default_rng(seed), channels), dtype),
        st.sampled_from(list(BETA_KINDS)),
        random_seeds(),
    )


def upstream_gradients(
    shape: tuple[int, ...],
    axis: int,
    dtype: Any = np.float64,
    kinds: tuple[str, ...] = tuple(DY_KINDS),
) -> st.SearchStrategy[FArray]:
    """dy of ``shape`` from one row of :data:`DY_KINDS`, non-uniform in every channel."""
    return st.builds(
        lambda kind, seed: make_dy(np.random.default_rng(seed), kind, shape, axis, dtype),
        st.sampled_from(list(kinds)),
        random_seeds(),
    )


@st.composite
def bn_cases(
    draw: st.DrawFn,
    *,
    dtypes: tuple[Any, ...] = (np.float32, np.float64),
    regimes: tuple[str, ...] = tuple(REGIMES),
    min_ndim: int = 2,
    max_ndim: int = 5,
    min_m: int = 2,
    affine: bool | None = None,
    gamma_kinds: tuple[str, ...] = tuple(GAMMA_KINDS),
    beta_kinds: tuple[str, ...] = tuple(BETA_KINDS),
    dy_kinds: tuple[str, ...] = tuple(DY_KINDS),
    epsilons: tuple[float, ...] = (1e-5, 1e-3, 0.1),
    max_large_m: int = 0,
) -> BNCase:
    """A full BN case; ``affine=None`` draws with or without gamma/beta.

    ``max_large_m > 0`` also draws, half of the time, a 2-D or 3-D case with m in
    [64, max_large_m] values per channel (keep it modest: the exact truth costs ~10 µs/value).
    """
    dtype = draw(float_dtypes(dtypes))
    if max_large_m > 0 and draw(st.booleans()):
        shape, axis = draw(large_m_shapes(max_m=max_large_m))
    else:
        shape, axis = draw(shapes(min_ndim=min_ndim, max_ndim=max_ndim, min_m=min_m))
    regime = draw(st.sampled_from(regimes))
    seed = draw(random_seeds())
    use_affine = draw(st.booleans()) if affine is None else affine
    eps = draw(st.sampled_from(epsilons))
    g_kind = draw(st.sampled_from(gamma_kinds))
    b_kind = draw(st.sampled_from(beta_kinds))
    dy_kind = draw(st.sampled_from(dy_kinds))
    rng = np.random.default_rng(seed)
    c = shape[axis]
    x = make_x(rng, shape, axis, regime, eps, dtype)
    gamma = beta = None
    if use_affine:
        gamma = _capped(GAMMA_KINDS[g_kind](rng, c), dtype)
        beta = _capped(BETA_KINDS[b_kind](rng, c), dtype)
    dy = make_dy(rng, dy_kind, shape, axis, dtype)
    return BNCase(x, gamma, beta, dy, eps, axis, regime, g_kind, b_kind, dy_kind)
