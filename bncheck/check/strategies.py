"""Public Hypothesis strategies for Batch Normalization inputs.

Values are drawn as a seed and built with ``np.random.default_rng(seed)`` by the generators of
:mod:`bncheck.check.regimes`: shrinking then acts on the shape, the regime and the seed rather
than on thousands of floats, which keeps examples fast and counterexamples short. Each table of
:mod:`bncheck.check.regimes` (input regimes, gamma, beta and dy kinds) is what can be drawn;
adding a row adds a case. Upstream gradients are never uniform within a channel (a uniform
``dy`` makes ``dx`` identically 0 and hides every bug in the backward pass).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from hypothesis import strategies as st
from numpy.typing import NDArray

from bncheck.check.norms import NormSpec, batch_norm
from bncheck.check.regimes import (
    BETA_KINDS,
    DY_KINDS,
    GAMMA_KINDS,
    REGIME_TABLE,
    clipped_to_dtype,
    make_dy,
    make_x,
)

__all__ = [
    "BNCase",
    "betas",
    "bn_cases",
    "float_dtypes",
    "gammas",
    "large_m_shapes",
    "random_seeds",
    "shapes",
    "upstream_gradients",
]

FArray = NDArray[np.floating[Any]]


class BNCase(NamedTuple):
    """One BN input: x, gamma, beta (None = no affine), upstream gradient dy, eps, channel axis,
    and the names of the table rows it was drawn from; drawn by :func:`bn_cases`.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.regimes import make_dy, make_x
    >>> from bncheck.check.strategies import BNCase
    >>> rng = np.random.default_rng(0)
    >>> x = make_x(rng, (4, 3), 1, "offset_1e4", eps=1e-5)
    >>> dy = make_dy(rng, "normal", (4, 3), 1, np.float64)
    >>> case = BNCase(x, None, None, dy, 1e-5, 1, "offset_1e4")
    >>> case.m, case.gamma_kind, case.dy_kind
    (4, 'moderate', 'normal')
    """

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
        return batch_norm(self.axis).m(self.x.shape)


def random_seeds() -> st.SearchStrategy[int]:
    """Seeds for ``np.random.default_rng``.

    Returns
    -------
    SearchStrategy of int
        Integers in [0, 2**32 − 1].

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> from bncheck.check.strategies import random_seeds
    >>> @settings(max_examples=20, database=None)
    ... @given(random_seeds())
    ... def check(seed):
    ...     assert 0 <= seed < 2**32
    >>> check()
    """
    return st.integers(0, 2**32 - 1)


def float_dtypes(
    dtypes: tuple[Any, ...] = (np.float32, np.float64),
) -> st.SearchStrategy[np.dtype[Any]]:
    """One of ``dtypes`` as a ``np.dtype``.

    Parameters
    ----------
    dtypes : tuple of dtype-likes
        The dtypes to sample from.

    Returns
    -------
    SearchStrategy of numpy.dtype

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from bncheck.check.strategies import float_dtypes
    >>> seen = set()
    >>> @settings(max_examples=20, database=None)
    ... @given(float_dtypes((np.float16, np.float32)))
    ... def check(dtype):
    ...     seen.add(dtype.name)
    >>> check()
    >>> seen <= {"float16", "float32"}
    True
    """
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
    every channel has at least ``min_m`` values.

    Parameters
    ----------
    min_ndim, max_ndim : int
        The range of ranks.
    min_m : int
        The fewest values per channel.
    max_side : int
        The largest side drawn (a side grows beyond it to reach ``min_m``).
    max_channels : int
        The most channels.

    Returns
    -------
    SearchStrategy of (tuple of int, int)
        ``(shape, axis)``.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from bncheck.check.strategies import shapes
    >>> @settings(max_examples=20, database=None)
    ... @given(shapes(max_ndim=3, min_m=4))
    ... def check(shape_and_axis):
    ...     shape, axis = shape_and_axis
    ...     assert 2 <= len(shape) <= 3 and -len(shape) <= axis < len(shape)
    ...     assert np.prod(shape) // shape[axis] >= 4
    >>> check()
    """
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
    """(m, C) or (N, C, L) with m = N·L in [min_m, max_m], channel axis 1.

    Parameters
    ----------
    min_m, max_m : int
        The range of values per channel.
    max_channels : int
        The most channels.

    Returns
    -------
    SearchStrategy of (tuple of int, int)
        ``(shape, 1)``.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from bncheck.check.strategies import large_m_shapes
    >>> @settings(max_examples=20, database=None)
    ... @given(large_m_shapes(max_m=256))
    ... def check(shape_and_axis):
    ...     shape, axis = shape_and_axis
    ...     assert axis == 1 and 64 <= np.prod(shape) // shape[1] <= 256
    >>> check()
    """
    length = draw(st.sampled_from([1, 2, 4, 8]))
    n = draw(st.integers(-(-min_m // length), max(max_m // length, -(-min_m // length))))
    c = draw(st.integers(1, max_channels))
    return ((n, c), 1) if length == 1 else ((n, c, length), 1)


def gammas(channels: int, dtype: Any = np.float64) -> st.SearchStrategy[FArray]:
    """gamma of shape (channels,) from one row of :data:`GAMMA_KINDS`.

    Parameters
    ----------
    channels : int
        C.
    dtype : float16, float32 or float64

    Returns
    -------
    SearchStrategy of array
        Capped at ±min(1e3, sqrt(finfo.max)/4), cast to ``dtype``.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from bncheck.check.strategies import gammas
    >>> @settings(max_examples=20, database=None)
    ... @given(gammas(3))
    ... def check(gamma):
    ...     assert gamma.shape == (3,) and np.all(np.abs(gamma) <= 1e3)
    >>> check()
    """
    return st.builds(
        lambda kind, seed: clipped_to_dtype(
            GAMMA_KINDS[kind](np.random.default_rng(seed), channels), dtype
        ),
        st.sampled_from(list(GAMMA_KINDS)),
        random_seeds(),
    )


def betas(channels: int, dtype: Any = np.float64) -> st.SearchStrategy[FArray]:
    """beta of shape (channels,) from one row of :data:`BETA_KINDS` (never all zero).

    Parameters
    ----------
    channels : int
        C.
    dtype : float16, float32 or float64

    Returns
    -------
    SearchStrategy of array
        Capped at ±min(1e3, sqrt(finfo.max)/4), cast to ``dtype``.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from bncheck.check.strategies import betas
    >>> @settings(max_examples=20, database=None)
    ... @given(betas(2, np.float16))
    ... def check(beta):
    ...     assert beta.shape == (2,) and beta.dtype == np.float16
    >>> check()
    """
    return st.builds(
        lambda kind, seed: clipped_to_dtype(
            BETA_KINDS[kind](np.random.default_rng(seed), channels), dtype
        ),
        st.sampled_from(list(BETA_KINDS)),
        random_seeds(),
    )


def upstream_gradients(
    shape: tuple[int, ...],
    axis: int,
    dtype: Any = np.float64,
    kinds: tuple[str, ...] = tuple(DY_KINDS),
    *,
    spec: NormSpec | None = None,
) -> st.SearchStrategy[FArray]:
    """dy of ``shape`` from one row of :data:`DY_KINDS`, non-uniform in every channel.

    Parameters
    ----------
    shape : tuple of int
        The shape of dy (that of x).
    axis : int
        The channel axis.
    dtype : float16, float32 or float64
    kinds : tuple of str
        The rows of :data:`DY_KINDS` to draw from.
    spec : NormSpec, optional
        Another normalization's axes (:mod:`bncheck.check.norms`; then ``axis`` must be 1):
        non-uniform in every column.

    Returns
    -------
    SearchStrategy of array

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from bncheck.check.strategies import upstream_gradients
    >>> @settings(max_examples=20, database=None)
    ... @given(upstream_gradients((6, 2), 1, kinds=("normal", "sparse")))
    ... def check(dy):
    ...     assert dy.shape == (6, 2) and np.all(dy.max(axis=0) > dy.min(axis=0))
    >>> check()
    """
    return st.builds(
        lambda kind, seed: make_dy(
            np.random.default_rng(seed), kind, shape, axis, dtype, spec=spec
        ),
        st.sampled_from(list(kinds)),
        random_seeds(),
    )


@st.composite
def bn_cases(
    draw: st.DrawFn,
    *,
    dtypes: tuple[Any, ...] = (np.float32, np.float64),
    regimes: tuple[str, ...] = tuple(REGIME_TABLE),
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

    Parameters
    ----------
    dtypes : tuple of dtype-likes
        The dtypes to draw.
    regimes : tuple of str
        Keys of :data:`REGIME_TABLE`.
    min_ndim, max_ndim, min_m
        As for :func:`shapes`.
    affine : bool or None
        True: with gamma and beta; False: without; None: either.
    gamma_kinds, beta_kinds, dy_kinds : tuple of str
        Keys of :data:`GAMMA_KINDS`, :data:`BETA_KINDS`, :data:`DY_KINDS`.
    epsilons : tuple of float
        The eps values to draw.
    max_large_m : int
        If > 0, also draws, half of the time, a 2-D or 3-D case with m in [64, max_large_m]
        values per channel (keep it modest: the exact truth costs ~10 µs/value).

    Returns
    -------
    SearchStrategy of BNCase

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from bncheck.bn import batchnorm_forward
    >>> from bncheck.check.strategies import bn_cases
    >>> @settings(max_examples=10, database=None)
    ... @given(bn_cases(dtypes=(np.float64,), max_ndim=3, affine=True))
    ... def check(case):
    ...     y, _ = batchnorm_forward(case.x, case.gamma, case.beta, eps=case.eps, axis=case.axis)
    ...     assert y.shape == case.dy.shape == case.x.shape and np.isfinite(y).all()
    >>> check()
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
        gamma = clipped_to_dtype(GAMMA_KINDS[g_kind](rng, c), dtype)
        beta = clipped_to_dtype(BETA_KINDS[b_kind](rng, c), dtype)
    dy = make_dy(rng, dy_kind, shape, axis, dtype)
    return BNCase(x, gamma, beta, dy, eps, axis, regime, g_kind, b_kind, dy_kind)
