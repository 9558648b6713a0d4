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
    "BOUNDARY_CHANNELS",
    "BOUNDARY_M",
    "LAYOUTS",
    "MIXED_LAYOUTS",
    "BNCase",
    "betas",
    "bn_cases",
    "case_layouts",
    "float_dtypes",
    "gammas",
    "kernel_shapes",
    "large_m_shapes",
    "layout_text",
    "layouts",
    "random_seeds",
    "shapes",
    "upstream_gradients",
    "with_layout",
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
    #: the memory layout of x and dy (a key of :data:`LAYOUTS`)
    layout: str = "C"

    @property
    def m(self) -> int:
        """Values per channel."""
        return batch_norm(self.axis).m(self.x.shape)


#: Memory layouts of an input as kernels meet them, by name: how :func:`with_layout` lays out
#: the values (the channel axis is ``axis``; N is axis 0 when the channel axis is not).
LAYOUTS: dict[str, str] = {
    "C": "C-contiguous (row-major)",
    "F": "Fortran-ordered (column-major)",
    "transposed": "a transposed view: memory channel-major, the channel axis swapped with axis 0",
    "channels_last": "channels-last memory (N, H, W, C) viewed as (N, C, H, W)",
    "sliced": "a sliced view: every other element of the last axis, rows from the second on",
    "reversed": "negative strides on every axis (a view of the reversed array)",
}

#: Pairs of layouts for a case's x and dy (keys beside :data:`LAYOUTS`'s, where both share
#: one): a kernel that reads dy with x's strides, or chooses its loop order from one of the two,
#: is wrong only on these. The incoming gradient of a real network need not share x's layout.
MIXED_LAYOUTS: dict[str, tuple[str, str]] = {
    "F-dy": ("C", "F"),
    "F-x": ("F", "C"),
}


def case_layouts(key: str) -> tuple[str, str]:
    """The layouts (x's, dy's) of a case layout: a key of :data:`LAYOUTS` (both the same) or
    of :data:`MIXED_LAYOUTS`.

    Examples
    --------
    >>> from bncheck.check.strategies import case_layouts
    >>> case_layouts("F"), case_layouts("F-dy")
    (('F', 'F'), ('C', 'F'))
    """
    if key in MIXED_LAYOUTS:
        return MIXED_LAYOUTS[key]
    if key not in LAYOUTS:
        expected = ", ".join([*LAYOUTS, *MIXED_LAYOUTS])
        raise ValueError(f"layout={key!r}; expected one of {expected}")
    return key, key


def layout_text(key: str) -> str:
    """What a case layout means, for reports: "Fortran-ordered (column-major)", or for a
    mixed one "x C-contiguous (row-major), dy Fortran-ordered (column-major)".

    Examples
    --------
    >>> from bncheck.check.strategies import layout_text
    >>> layout_text("F-x")
    'x Fortran-ordered (column-major), dy C-contiguous (row-major)'
    """
    xl, dl = case_layouts(key)
    if xl == dl:
        return LAYOUTS[xl]
    return f"x {LAYOUTS[xl]}, dy {LAYOUTS[dl]}"


#: Channel counts across vector and tile boundaries (1, small primes, powers of two and one
#: past them).
BOUNDARY_CHANNELS = (1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129)
#: Values per channel around the block sizes of reductions (powers of two and one past them).
BOUNDARY_M = (2, 3, 5, 7, 8, 9, 16, 17, 31, 32, 33, 64, 65, 127, 128, 129, 255, 256, 257)


def with_layout(a: Any, layout: str, axis: int = 1) -> Any:
    """The values of ``a`` in the memory layout ``layout`` (a key of :data:`LAYOUTS`): a new
    array or a view of one, never ``a`` itself. A layout that coincides with C order for this
    shape (channels-last with the channel axis last, any layout of a 1-D array) is C order.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.strategies import with_layout
    >>> a = np.arange(24.0).reshape(2, 3, 4)
    >>> f = with_layout(a, "F")
    >>> bool(np.array_equal(f, a)), f.flags.f_contiguous, f.flags.c_contiguous
    (True, True, False)
    >>> r = with_layout(a, "reversed")
    >>> bool(np.array_equal(r, a)), all(s < 0 for s in r.strides)
    (True, True)
    >>> cl = with_layout(a, "channels_last")
    >>> bool(np.array_equal(cl, a)), cl.strides[1] == cl.itemsize
    (True, True)
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r}; expected one of {', '.join(LAYOUTS)}")
    a = np.asarray(a)
    ax = axis % a.ndim if a.ndim else 0
    if layout == "C" or a.ndim < 2:
        return np.array(a, order="C", copy=True)
    if layout == "F":
        return np.array(a, order="F", copy=True)
    if layout == "transposed":
        other = 0 if ax != 0 else a.ndim - 1
        return np.swapaxes(np.swapaxes(a, ax, other).copy(order="C"), ax, other)
    if layout == "channels_last":
        return np.moveaxis(np.moveaxis(a, ax, -1).copy(order="C"), -1, ax)
    if layout == "sliced":
        base_shape = list(a.shape)
        base_shape[0] += 1
        base_shape[-1] *= 2
        fill = np.nan if a.dtype.kind == "f" else 0
        base = np.full(base_shape, fill, dtype=a.dtype)
        view = base[(slice(1, None), *([slice(None)] * (a.ndim - 2)), slice(None, None, 2))]
        view[...] = a
        return view
    flip = (slice(None, None, -1),) * a.ndim  # "reversed"
    return a[flip].copy(order="C")[flip]


def layouts(names: tuple[str, ...] = tuple(LAYOUTS)) -> st.SearchStrategy[str]:
    """A memory layout, a key of :data:`LAYOUTS` (for :func:`with_layout`).

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> from bncheck.check.strategies import LAYOUTS, layouts
    >>> @settings(max_examples=10, database=None)
    ... @given(layouts())
    ... def check(name):
    ...     assert name in LAYOUTS
    >>> check()
    """
    return st.sampled_from(list(names))


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


@st.composite
def kernel_shapes(
    draw: st.DrawFn,
    ndim: int,
    *,
    channels: tuple[int, ...] = BOUNDARY_CHANNELS,
    per_channel: tuple[int, ...] = BOUNDARY_M,
    max_values: int = 20_000,
) -> tuple[int, ...]:
    """A shape of rank ``ndim`` with channel axis 1 where kernels break: C from ``channels``
    and m from ``per_channel`` (boundary sizes), m spread over the batch and spatial sides
    (a batch of 1 included), C·m at most ``max_values`` (m is cut to fit).

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from bncheck.check.strategies import kernel_shapes
    >>> @settings(max_examples=30, database=None)
    ... @given(kernel_shapes(4, max_values=5000))
    ... def check(shape):
    ...     assert len(shape) == 4 and np.prod(shape) <= 5000
    ...     assert np.prod(shape) // shape[1] >= 2
    >>> check()
    """
    c = draw(st.sampled_from([n for n in channels if 2 * n <= max_values]))
    m = draw(st.sampled_from(per_channel))
    m = max(2, min(m, max_values // c))
    if ndim == 2:
        return (m, c)
    # N is a divisor-free choice: m rounded to N·(product of the spatial sides)
    n = draw(st.sampled_from([1, 1, 2, 3]))
    rest = max(1, -(-m // n))
    sides = [1] * (ndim - 2)
    for k in range(ndim - 2):
        left = ndim - 2 - k
        side = max(1, round(rest ** (1 / left)))
        sides[k] = side
        rest = max(1, -(-rest // side))
    if n * int(np.prod(sides)) < 2:
        sides[-1] = 2
    while c * n * int(np.prod(sides)) > max_values and max(sides) > 1:
        sides[int(np.argmax(sides))] -= 1
    if n * int(np.prod(sides)) < 2:
        n = 2
    return (n, c, *sides)


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
    layout_names: tuple[str, ...] = ("C",),
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
    layout_names : tuple of str
        Keys of :data:`LAYOUTS`: x and dy are drawn in one of these memory layouts
        (:func:`with_layout`, relative to the drawn channel axis).

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
    layout = draw(layouts(layout_names))
    if layout != "C":
        x, dy = with_layout(x, layout, axis), with_layout(dy, layout, axis)
    return BNCase(x, gamma, beta, dy, eps, axis, regime, g_kind, b_kind, dy_kind, layout)
