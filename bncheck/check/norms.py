"""Which axes a normalization reduces, and which axes its affine parameters span.

A :class:`NormSpec` is the one shape decision of a normalization layer. Everything in
:mod:`bncheck.check` that needs axes (the truth, the conditions and metrics, the regimes and
strategies, the finite-difference BN, the verify engine's fits, mistakes and checks, the
derivation's code generator) takes one, instead of a hard-coded "channel axis 1".

The decision, for an array x of shape ``shape`` (rank n):

- the *reduced* axes: the statistics (mean, variance) are taken over them; every other axis is
  *kept*, and each position of the kept axes is one group of values sharing its statistics;
- the *parameter* axes: gamma and beta have ``parameter_shape(shape)`` = the sizes of these axes,
  and broadcast over the others.

Column layout. ``columns(x)`` is x as an (m, K) array: one column per group of values sharing
statistics (K = product of the kept sizes), its m rows the values of that group (m = product of
the reduced sizes), in C order of the reduced axes; the columns in C order of the kept axes.
(The axes are moved as ``transpose(reduced + kept)``, then reshaped.) ``from_columns`` is its
inverse. Per-column statistics are then ``cols.mean(axis=0)`` whatever the normalization.

Instances:

- Batch Normalization over channel axis a: keep (a,), parameters (a,). :data:`BATCH_NORM` is
  a = 1, the default everywhere; its columns are ``np.moveaxis(x, 1, -1).reshape(-1, C)``.
- Layer Normalization over the last k axes: reduce (−k, …, −1), parameters (−k, …, −1)
  (per-element gamma and beta over the normalized shape). A column is one sample; gamma varies
  along a column (``params_per_column`` is False).
- Instance Normalization of (N, C, …): keep (0, 1), parameters (1,): a column per (n, c), gamma
  constant along it, shared by the N columns of a channel.
- Group Normalization of (N, C, …) with G groups: reshape x to (N, G, C/G, …) first (a view),
  then keep (0, 1) and take parameters (1, 2) (gamma of shape (C,) reshaped to (G, C/G)):
  statistics per (n, g), gamma per channel. The reshape is the caller's; the spec describes
  the reshaped array.

Axes may be negative; they are resolved against the rank of the array they are applied to, so
one spec serves every rank. A spec is checked when it is built (types, duplicates, exactly one
of ``reduce`` and ``keep``) and when it is resolved against a rank (range, at least one reduced
axis); errors are ``ValueError`` naming the argument and its value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "BATCH_NORM",
    "NormSpec",
    "batch_norm",
    "columns",
    "from_columns",
    "m",
    "parameter_shape",
    "resolve",
]

F64 = NDArray[np.float64]


def _axes_tuple(value: Any, name: str) -> tuple[int, ...]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, tuple) or not all(
        isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in value
    ):
        raise ValueError(f"{name}={value!r} is not a tuple of int axes")
    if len(set(value)) != len(value):
        raise ValueError(f"{name}={value!r} repeats an axis")
    return tuple(int(a) for a in value)


def _resolve(axes: tuple[int, ...], ndim: int, name: str) -> tuple[int, ...]:
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"{name}={axes!r} has axis {a}, out of range for rank {ndim}")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{name}={axes!r} names one axis twice for rank {ndim}")
    return tuple(sorted(out))


@dataclass(frozen=True)
class NormSpec:
    """Which axes are reduced (exactly one of ``reduce`` or ``keep``: the other is its
    complement) and which axes gamma and beta span (``params``). See the module docstring.

    Examples
    --------
    >>> from bncheck.check.norms import BATCH_NORM, NormSpec
    >>> BATCH_NORM.reduced(4), BATCH_NORM.kept(4), BATCH_NORM.parameter_shape((2, 3, 4, 5))
    ((0, 2, 3), (1,), (3,))
    >>> layer_norm = NormSpec(reduce=(-1,), params=(-1,), name="layer norm")
    >>> layer_norm.m((2, 3, 4)), layer_norm.parameter_shape((2, 3, 4))
    (4, (4,))
    """

    #: the reduced axes (None: every axis not in ``keep``)
    reduce: tuple[int, ...] | None = None
    #: the kept axes (None: every axis not in ``reduce``)
    keep: tuple[int, ...] | None = None
    #: the axes gamma and beta span
    params: tuple[int, ...] = (1,)
    #: a name for messages
    name: str = "normalization"

    def __post_init__(self) -> None:
        if (self.reduce is None) == (self.keep is None):
            raise ValueError(
                f"reduce={self.reduce!r}, keep={self.keep!r}: give exactly one of them"
            )
        if self.reduce is not None:
            object.__setattr__(self, "reduce", _axes_tuple(self.reduce, "reduce"))
            if not self.reduce:
                raise ValueError("reduce=() reduces nothing; give at least one axis")
        if self.keep is not None:
            object.__setattr__(self, "keep", _axes_tuple(self.keep, "keep"))
        object.__setattr__(self, "params", _axes_tuple(self.params, "params"))
        if not isinstance(self.name, str):
            raise ValueError(f"name={self.name!r} is not a str")

    # -- axes ----------------------------------------------------------------------------------

    def reduced(self, ndim: int) -> tuple[int, ...]:
        """The reduced axes for an array of rank ``ndim``, non-negative and ascending."""
        if self.reduce is not None:
            axes = _resolve(self.reduce, ndim, "reduce")
        else:
            assert self.keep is not None
            kept = _resolve(self.keep, ndim, "keep")
            axes = tuple(a for a in range(ndim) if a not in kept)
        if not axes:
            raise ValueError(f"{self.name}: no axis is reduced for rank {ndim}")
        return axes

    def kept(self, ndim: int) -> tuple[int, ...]:
        """The kept axes (one column per position of them), non-negative and ascending."""
        red = self.reduced(ndim)
        return tuple(a for a in range(ndim) if a not in red)

    def param_axes(self, ndim: int) -> tuple[int, ...]:
        """The axes gamma and beta span, non-negative and ascending."""
        return _resolve(self.params, ndim, "params")

    def params_per_column(self, ndim: int) -> bool:
        """Whether gamma and beta are constant along each column (their axes are kept axes):
        true for Batch and Instance Normalization, false for Layer Normalization."""
        return set(self.param_axes(ndim)) <= set(self.kept(ndim))

    def param_is_column(self, ndim: int) -> bool:
        """Whether the parameter index is the column index (their axes are the kept axes): one
        parameter per column, as in Batch Normalization."""
        return self.param_axes(ndim) == self.kept(ndim)

    # -- sizes ---------------------------------------------------------------------------------

    def m(self, shape: tuple[int, ...]) -> int:
        """Values per column (sharing one mean and variance): the product of the reduced sizes."""
        return int(np.prod([shape[a] for a in self.reduced(len(shape))], dtype=np.int64))

    def groups(self, shape: tuple[int, ...]) -> int:
        """K, the number of columns: the product of the kept sizes."""
        return int(np.prod([shape[a] for a in self.kept(len(shape))], dtype=np.int64))

    def parameter_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of gamma and beta for x of ``shape``."""
        return tuple(shape[a] for a in self.param_axes(len(shape)))

    # -- layouts -------------------------------------------------------------------------------

    def columns(self, a: ArrayLike, dtype: Any = np.float64) -> NDArray[Any]:
        """``a`` as (m, K) columns (module docstring), converted to ``dtype`` (None: kept)."""
        arr = np.asarray(a) if dtype is None else np.asarray(a, dtype=dtype)
        red, kept = self.reduced(arr.ndim), self.kept(arr.ndim)
        moved = np.transpose(arr, red + kept)
        k = int(np.prod([arr.shape[i] for i in kept], dtype=np.int64))
        return moved.reshape(-1, k)

    def from_columns(self, cols: ArrayLike, shape: tuple[int, ...]) -> NDArray[Any]:
        """The inverse of :meth:`columns`: (m, K) back to ``shape``."""
        c = np.asarray(cols)
        red, kept = self.reduced(len(shape)), self.kept(len(shape))
        order = red + kept
        moved = c.reshape(tuple(shape[i] for i in order))
        return np.transpose(moved, np.argsort(order))

    def expand_param(self, p: ArrayLike, ndim: int) -> NDArray[Any]:
        """gamma or beta (``parameter_shape``, or as many values flat) reshaped to broadcast
        against an array of rank ``ndim`` (size 1 on the other axes)."""
        arr = np.asarray(p)
        axes = self.param_axes(ndim)
        if arr.ndim == len(axes):
            sizes: tuple[int, ...] = arr.shape
        elif len(axes) == 1:
            sizes = (arr.size,)
        else:
            raise ValueError(
                f"a parameter of shape {arr.shape} does not span params="
                f"{self.params!r} (rank {len(axes)})"
            )
        shape = [1] * ndim
        for a, s in zip(axes, sizes, strict=True):
            shape[a] = s
        return arr.reshape(shape)

    def param_columns(self, p: ArrayLike, shape: tuple[int, ...]) -> NDArray[Any]:
        """gamma or beta as an (m, K) array of x's column layout (each value's parameter)."""
        full = np.broadcast_to(self.expand_param(p, len(shape)), shape)
        return self.columns(full, dtype=None)

    def param_sum(self, a: ArrayLike) -> F64:
        """Σ of ``a`` (x's layout) over every axis but the parameter axes: the shape of gamma
        (the gradient of a parameter is such a sum)."""
        arr = np.asarray(a, dtype=np.float64)
        keep = self.param_axes(arr.ndim)
        other = tuple(i for i in range(arr.ndim) if i not in keep)
        return np.asarray(arr.sum(axis=other))

    def flat_index(self, shape: tuple[int, ...]) -> NDArray[np.intp]:
        """(m, K): the flat index in x of each entry of the column layout."""
        return self.columns(np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape), None)


def batch_norm(axis: int = 1) -> NormSpec:
    """Batch Normalization with the channel axis ``axis``: reduce every other axis, gamma and
    beta of shape (C,).

    Examples
    --------
    >>> from bncheck.check.norms import batch_norm
    >>> batch_norm(-1).reduced(3)
    (0, 1)
    """
    if axis == 1:
        return BATCH_NORM
    return NormSpec(keep=(axis,), params=(axis,), name="batch norm")


#: Batch Normalization, channel axis 1: the default spec of every function that takes one.
BATCH_NORM = NormSpec(keep=(1,), params=(1,), name="batch norm")


def resolve(spec: NormSpec | None, axis: int | None) -> NormSpec:
    """The spec a function taking both a legacy ``axis`` (the BN channel axis) and ``spec``
    works with: ``spec`` when given (then ``axis`` must be None or 1), else BN over ``axis``
    (default 1).

    Examples
    --------
    >>> from bncheck.check.norms import BATCH_NORM, resolve
    >>> resolve(None, None) is BATCH_NORM, resolve(None, -1).keep
    (True, (-1,))
    """
    if spec is None:
        return batch_norm(1 if axis is None else axis)
    if not isinstance(spec, NormSpec):
        raise ValueError(f"spec={spec!r} is not a NormSpec")
    if axis is not None and axis != 1:
        raise ValueError(f"axis={axis!r} and spec={spec!r}: give the axes once, in spec")
    return spec


def columns(a: ArrayLike, spec: NormSpec = BATCH_NORM) -> F64:
    """``a`` as float64 (m, K) columns of ``spec`` (:meth:`NormSpec.columns`).

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.norms import columns
    >>> columns(np.arange(12.0).reshape(2, 3, 2)).shape  # (N·L, C)
    (4, 3)
    """
    return np.asarray(spec.columns(a))


def from_columns(cols: ArrayLike, shape: tuple[int, ...], spec: NormSpec = BATCH_NORM) -> F64:
    """The inverse of :func:`columns` (:meth:`NormSpec.from_columns`)."""
    return np.asarray(spec.from_columns(cols, shape))


def m(shape: tuple[int, ...], spec: NormSpec = BATCH_NORM) -> int:
    """Values per column of x of ``shape`` (:meth:`NormSpec.m`)."""
    return spec.m(shape)


def parameter_shape(shape: tuple[int, ...], spec: NormSpec = BATCH_NORM) -> tuple[int, ...]:
    """The shape of gamma and beta for x of ``shape`` (:meth:`NormSpec.parameter_shape`)."""
    return spec.parameter_shape(shape)


#: the members of the family ``bncheck verify --norm`` names
KINDS = ("batch", "layer", "group", "instance", "rms")


@dataclass(frozen=True)
class Member:
    """One member of the normalization family as a target computes it, over an input of any
    rank: ``kind`` (one of :data:`KINDS`), ``k`` (layer, rms: how many trailing axes are
    normalized) and ``groups`` (group: G). The verify engine states, fits and reports these.

    GroupNorm is a :class:`NormSpec` over a view of x, (N, G, C/G, ...): :meth:`view` makes
    that view of an array of x's shape, :meth:`param_view` that of gamma (C,) -> (G, C/G), and
    :meth:`spec` is the spec of the view; for the other members the view is x itself.
    ``param_shape`` is the shape of gamma and beta as the user passes them. ``channel``:
    a layer or RMS norm over the channel axis, axis 1 (ConvNeXt's channels_first LayerNorm);
    on 2-D input that is the last axis, the same as ``k = 1``.

    Examples
    --------
    >>> from bncheck.check.norms import Member
    >>> g = Member.parse("group:2")
    >>> g.param_shape((4, 6, 3)), g.view_shape((4, 6, 3)), g.spec(4).kept(4)
    ((6,), (4, 2, 3, 3), (0, 1))
    >>> str(Member.parse("layer")), Member.parse("rms:2").spec(3).reduced(3)
    ('layer norm over the last axis', (1, 2))
    >>> c = Member.parse("layer:channel")
    >>> c.text(), c.param_shape((2, 6, 4, 4)), c.spec(4).reduced(4)
    ('layer:channel', (6,), (1,))
    """

    kind: str
    k: int = 1
    groups: int = 0
    #: layer, rms: over the channel axis (axis 1 of (N, C, ...), per position) instead of
    #: the last k axes: ConvNeXt's channels_first LayerNorm; gamma and beta of shape (C,)
    channel: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind={self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.channel is not False and (
            self.channel is not True or self.kind not in ("layer", "rms")
        ):
            raise ValueError(
                f"channel={self.channel!r} for kind={self.kind!r}; only layer and rms norms "
                "take channel=True"
            )
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"k={self.k!r}; expected a whole number >= 1")
        if self.kind == "group" and (
            isinstance(self.groups, bool) or not isinstance(self.groups, int) or self.groups < 1
        ):
            raise ValueError(f"groups={self.groups!r}; group norm needs G >= 1 groups")

    @classmethod
    def parse(cls, text: str) -> Member:
        """``batch``, ``layer[:K]``, ``group:G``, ``instance``, ``rms[:K]`` (K trailing axes,
        default 1), ``layer:channel``, ``rms:channel`` (over axis 1 of (N, C, ...)) as a
        Member; anything else is a ValueError naming the text."""
        kind, _, arg = str(text).strip().lower().partition(":")
        kind = {"ln": "layer", "gn": "group", "in": "instance", "bn": "batch"}.get(kind, kind)
        if arg in ("channel", "channels") and kind in ("layer", "rms"):
            return cls(kind, channel=True)
        if kind not in KINDS or (arg and not arg.isdigit()) or (arg and kind in ("batch",)):
            raise ValueError(
                f"norm={text!r}; expected batch, layer[:K], group:G, instance or rms[:K] "
                "(K trailing axes, G groups; layer:channel, rms:channel over axis 1)"
            )
        if kind == "group" and not arg:
            raise ValueError(f"norm={text!r}: say how many groups, e.g. group:32")
        if kind == "instance" and arg:
            raise ValueError(f"norm={text!r}: instance norm takes no number")
        n = int(arg) if arg else 0
        if kind == "group":
            return cls(kind, groups=n)
        return cls(kind, k=n or 1)

    def text(self) -> str:
        """The ``--norm`` text of this member (the inverse of :meth:`parse`)."""
        if self.kind == "group":
            return f"group:{self.groups}"
        if self.channel:
            return f"{self.kind}:channel"
        if self.kind in ("layer", "rms"):
            return f"{self.kind}:{self.k}"
        return self.kind

    def __str__(self) -> str:
        axes = "the last axis" if self.k == 1 else f"the last {self.k} axes"
        if self.channel:
            axes = "the channel axis (axis 1 of (N, C, ...), per sample and position)"
        return {
            "batch": "batch norm (statistics per channel over the batch and spatial axes)",
            "layer": f"layer norm over {axes}",
            "rms": f"RMS norm over {axes}",
            "instance": "instance norm (statistics per sample and channel)",
            "group": f"group norm with {self.groups} groups of channels",
        }[self.kind]

    @property
    def centered(self) -> bool:
        """Whether the mean is subtracted (every member but RMSNorm)."""
        return self.kind != "rms"

    @property
    def has_beta(self) -> bool:
        return self.kind != "rms"

    def fits(self, shape: tuple[int, ...]) -> bool:
        """Whether this member applies to an input of ``shape`` (ranks, groups dividing C)."""
        n = len(shape)
        if self.channel:
            return n >= 2
        if self.kind in ("layer", "rms"):
            return self.k < n
        if self.kind == "instance":
            return n >= 3
        if self.kind == "group":
            return n >= 2 and shape[1] % self.groups == 0
        return n >= 2

    def view_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.kind != "group":
            return tuple(shape)
        n, c, *rest = shape
        return (n, self.groups, c // self.groups, *rest)

    def view(self, a: ArrayLike) -> NDArray[Any]:
        """An array of x's shape as the spec sees it (GroupNorm: (N, G, C/G, ...))."""
        arr = np.asarray(a)
        return arr.reshape(self.view_shape(arr.shape))

    def param_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """gamma's shape as the user passes it for x of ``shape``."""
        if self.kind in ("layer", "rms") and not self.channel:
            return tuple(shape[-self.k :])
        return (shape[1],)

    def param_view(self, p: ArrayLike) -> NDArray[Any]:
        """gamma as the spec sees it (GroupNorm: (G, C/G))."""
        arr = np.asarray(p)
        if self.kind != "group":
            return arr
        return arr.reshape(self.groups, -1)

    def spec(self, ndim: int) -> NormSpec:
        """The NormSpec of the view, for the view's rank ``ndim``."""
        if self.kind == "batch":
            return BATCH_NORM
        if self.channel:
            return NormSpec(reduce=(1,), params=(1,), name=str(self))
        if self.kind in ("layer", "rms"):
            axes = tuple(range(-self.k, 0))
            return NormSpec(reduce=axes, params=axes, name=str(self))
        if self.kind == "instance":
            return NormSpec(keep=(0, 1), params=(1,), name=str(self))
        return NormSpec(keep=(0, 1), params=(1, 2), name=str(self))
