"""Public Hypothesis strategies for Batch Normalization inputs.

Values are drawn as a seed and built with ``np.random.default_rng(seed)``: shrinking then acts
on the shape, the regime and the seed rather than on thousands of floats, which keeps examples
fast and counterexamples short. Upstream gradients are never uniform (a uniform ``dy`` makes
``dx`` identically 0 and hides every bug in the backward pass).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from hypothesis import strategies as st
from numpy.typing import NDArray

__all__ = ["BNCase", "bn_cases", "channel_axes", "float_dtypes", "shapes"]

#: Regimes: (name, offset/spread ratio, spread). The offset is |mean| / std of each channel.
REGIMES: dict[str, tuple[float, float]] = {
    "standard": (0.0, 1.0),
    "offset_1e2": (1e2, 1.0),
    "offset_1e4": (1e4, 1.0),
    "tiny_spread": (1.0, 1e-3),  # variance ~1e-6, below eps=1e-5
    "large_spread": (0.0, 1e3),
}


class BNCase(NamedTuple):
    """One BN input: x, gamma, beta (None = no affine), upstream gradient dy, eps, channel axis."""

    x: NDArray[np.floating[Any]]
    gamma: NDArray[np.floating[Any]] | None
    beta: NDArray[np.floating[Any]] | None
    dy: NDArray[np.floating[Any]]
    eps: float
    axis: int
    regime: str


def float_dtypes(
    dtypes: tuple[Any, ...] = (np.float32, np.float64),
) -> st.SearchStrategy[np.dtype[Any]]:
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


def channel_axes(ndim: int) -> st.SearchStrategy[int]:
    return st.integers(-ndim, ndim - 1)


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
) -> BNCase:
    """A full BN case; ``affine=None`` draws with or without gamma/beta."""
    dtype = draw(float_dtypes(dtypes))
    shape, axis = draw(shapes(min_ndim=min_ndim, max_ndim=max_ndim, min_m=min_m))
    regime = draw(st.sampled_from(regimes))
    seed = draw(st.integers(0, 2**32 - 1))
    use_affine = draw(st.booleans()) if affine is None else affine
    eps = draw(st.sampled_from([1e-5, 1e-3, 0.1]))
    rng = np.random.default_rng(seed)
    ratio, spread = REGIMES[regime]
    c = shape[axis]
    bshape = [1] * len(shape)
    bshape[axis] = c
    offsets = ratio * spread * rng.choice([-1.0, 1.0], size=c)
    x = offsets.reshape(bshape) + spread * rng.standard_normal(shape)
    gamma = beta = None
    if use_affine:
        gamma = rng.uniform(0.5, 2.0, c) * rng.choice([-1.0, 1.0], size=c)
        beta = rng.normal(0.0, 1.0, c)
    dy = rng.standard_normal(shape)
    cast = np.dtype(dtype).type
    return BNCase(
        x.astype(cast),
        None if gamma is None else gamma.astype(cast),
        None if beta is None else beta.astype(cast),
        dy.astype(cast),
        eps,
        axis,
        regime,
    )
