"""Input regimes for Batch Normalization: deterministic NumPy generators of x, gamma, beta, dy.

Each table is the list of what can be drawn (by :mod:`bncheck.check.strategies`, the reports
and the tests); adding a row adds a case:

- :data:`REGIME_TABLE` — the input x per channel: offset, spread, variance relative to eps,
  tails (large offsets, near-constant channels with variance near and below eps, heavy tails);
- :data:`GAMMA_KINDS`, :data:`BETA_KINDS` — scale and shift (near 1, far from 1, negative;
  beta ≠ 0, small and large);
- :data:`DY_KINDS` — upstream gradients (Gaussian, heavy-tailed, offset, sparse).

All values are finite in the drawn dtype: heavy tails, gamma, beta and dy are clipped to
``±min(1e3, sqrt(finfo.max)/4)`` (±64 in float16), so squares and BN's outputs stay finite.
Upstream gradients are never uniform within a channel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from bncheck.check.norms import NormSpec, resolve

__all__ = [
    "BETA_KINDS",
    "DY_KINDS",
    "GAMMA_KINDS",
    "REGIME_TABLE",
    "Regime",
    "make_dy",
    "make_x",
]

FArray = NDArray[np.floating[Any]]


class Regime(NamedTuple):
    """How x is drawn per channel: x = ±offset·spread + spread·noise.

    Attributes
    ----------
    offset : float
        |mean|/spread of each channel (the sign is drawn per channel).
    spread : float
        The standard deviation of the noise.
    var_over_eps : float or None
        If set, replaces the spread by sqrt(var_over_eps·eps), so the batch variance sits near
        (1) or below (< 1) eps.
    dof : float or None
        If set, draws the noise from Student's t with that many degrees of freedom
        (1: Cauchy), clipped to stay finite.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.regimes import Regime, make_x
    >>> regime = Regime(offset=1e4, spread=1.0)
    >>> x = make_x(np.random.default_rng(0), (1000, 2), 1, regime, eps=1e-5)
    >>> np.allclose(abs(x.mean(axis=0)), 1e4, rtol=1e-3), np.allclose(x.std(axis=0), 1, atol=0.1)
    (True, True)
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


def _column_shape(shape: tuple[int, ...], spec: NormSpec) -> list[int]:
    """The broadcast shape of one value per column (size 1 on the reduced axes)."""
    bshape = list(shape)
    for a in spec.reduced(len(shape)):
        bshape[a] = 1
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
    *,
    spec: NormSpec | None = None,
) -> FArray:
    """Draw x for one row of :data:`REGIME_TABLE` (or a :class:`Regime` of your own), cast to
    ``dtype`` (finite there).

    Parameters
    ----------
    rng : numpy.random.Generator
        The source of randomness.
    shape : tuple of int
        The shape of x.
    axis : int
        The channel axis (Batch Normalization).
    regime : str or Regime
        A key of :data:`REGIME_TABLE`, or a Regime.
    eps : float
        The BN's eps (sets the spread of the ``var_over_eps`` regimes).
    dtype : float16, float32 or float64
    spec : NormSpec, optional
        Another normalization's axes (:mod:`bncheck.check.norms`; then ``axis`` must be 1):
        the regime's offset is drawn per column, the values sharing statistics.

    Returns
    -------
    array of ``shape`` and ``dtype``

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.regimes import make_x
    >>> rng = np.random.default_rng(0)
    >>> x = make_x(rng, (64, 2), 1, "var_below_eps", eps=1e-5, dtype=np.float32)
    >>> x.dtype, bool(np.all(x.astype(np.float64).var(axis=0) < 1e-5))
    (dtype('float32'), True)
    """
    r = REGIME_TABLE[regime] if isinstance(regime, str) else regime
    dt = np.dtype(dtype)
    spread = r.spread if r.var_over_eps is None else float(np.sqrt(r.var_over_eps * eps))
    sp = resolve(spec, axis)
    c = sp.groups(shape)
    if r.dof is None:
        noise = rng.standard_normal(shape)
    else:
        noise = np.clip(rng.standard_t(r.dof, shape), -_clip_value(dt), _clip_value(dt))
    offsets = r.offset * spread * rng.choice([-1.0, 1.0], size=c)
    x = offsets.reshape(_column_shape(shape, sp)) + spread * noise
    return x.astype(dt)


def _non_uniform(dy: FArray, spec: NormSpec) -> FArray:
    """Make every column of dy hold at least two distinct values (after the cast)."""
    flat = spec.columns(dy, dtype=None)
    uniform = np.all(flat == flat[:1], axis=0)
    first = spec.flat_index(dy.shape)[0]  # the first value of each column, in dy
    for j in np.flatnonzero(uniform):
        dy.flat[first[j]] = dy.flat[first[j]] + dy.dtype.type(1.0)
    return dy


def clipped_to_dtype(v: NDArray[np.float64], dtype: Any) -> FArray:
    """Clip to ±min(1e3, sqrt(finfo.max)/4) (±64 in float16) and cast: keeps BN's outputs
    finite in the dtype for the moderate regimes."""
    dt = np.dtype(dtype)
    cap = _clip_value(dt)
    return np.clip(v, -cap, cap).astype(dt)


def make_dy(
    rng: np.random.Generator,
    kind: str,
    shape: tuple[int, ...],
    axis: int,
    dtype: Any,
    *,
    spec: NormSpec | None = None,
) -> FArray:
    """Draw dy for one row of :data:`DY_KINDS`, capped and cast to ``dtype``; every channel
    holds at least two distinct values.

    Parameters
    ----------
    rng : numpy.random.Generator
        The source of randomness.
    kind : str
        A key of :data:`DY_KINDS`.
    shape : tuple of int
        The shape of dy (that of x).
    axis : int
        The channel axis (Batch Normalization).
    dtype : float16, float32 or float64
    spec : NormSpec, optional
        Another normalization's axes (then ``axis`` must be 1): every column is non-uniform.

    Returns
    -------
    array of ``shape`` and ``dtype``

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.regimes import make_dy
    >>> dy = make_dy(np.random.default_rng(0), "sparse", (20, 3), 1, np.float32)
    >>> dy.dtype, bool(np.all(dy.max(axis=0) > dy.min(axis=0)))
    (dtype('float32'), True)
    """
    return _non_uniform(clipped_to_dtype(DY_KINDS[kind](rng, shape), dtype), resolve(spec, axis))
