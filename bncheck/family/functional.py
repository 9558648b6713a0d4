"""Layer, Group, Instance and RMS normalization: accurate functional forward and backward.

Each is eqs (6)–(9) of the BN over a different reduction set (the values sharing mean and
variance) with different affine sharing (derived in ``bncheck.derivations.family``):

=============  ===========================================  ==================================
function       reduction set                                gamma, beta
=============  ===========================================  ==================================
layernorm      each sample over its last ``normalized_ndim``  per element, shape
               axes                                           ``x.shape[-normalized_ndim:]``
groupnorm      each (sample, group of C/G channels) over      per channel, shape (C,)
               those channels and every spatial axis
instancenorm   each (sample, channel) over the spatial axes   per channel, shape (C,)
rmsnorm        as layernorm, no mean: y = gamma·x/sqrt(mean(x²) + eps); no beta
=============  ===========================================  ==================================

x has the channel axis at 1 for groupnorm and instancenorm: (N, C, *spatial). Every statistic
is computed in double-double and each result rounded once to the dtype (float16, float32 or
float64), in the compiled kernels or, where they are missing, in NumPy (``kernels()`` of
:mod:`bncheck.bn` decides, ``BNCHECK_KERNELS``); docs/numerics.md, "The normalization family".

The forward returns ``(y, cache)``; the backward takes ``(dy, cache)`` and returns a
:class:`NormGrads` (dx, dgamma, dbeta), dgamma/dbeta None when the forward had no gamma/beta.
"""

from __future__ import annotations

import numbers
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bncheck.bn import kernels
from bncheck.bn.functional import check_unchanged, input_checksum
from bncheck.exceptions import BatchNormError
from bncheck.family import _compiled as _native
from bncheck.family import _numpy_kernels as _np_kernels
from bncheck.family._numpy_kernels import SetStats

__all__ = [
    "NormCache",
    "NormGrads",
    "groupnorm_backward",
    "groupnorm_forward",
    "instancenorm_backward",
    "instancenorm_forward",
    "layernorm_backward",
    "layernorm_forward",
    "rmsnorm_backward",
    "rmsnorm_forward",
]

F64 = NDArray[np.float64]
FloatArray = NDArray[np.floating[Any]]
_FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


class NormCache(NamedTuple):
    """What the backward needs; returned by the forward functions.

    Attributes
    ----------
    kind : str
        ``"layernorm"``, ``"groupnorm"``, ``"instancenorm"`` or ``"rmsnorm"``.
    x : array
        The input itself, as a read-only view (not a copy; a private copy only when the kernels
        could not read x as it is: another layout or float16). The backward raises
        ``BatchNormError`` if x was modified in between (``x_sum``).
    geometry : tuple of 4 ints
        (Nb, G, Cg, inner): the input seen as Nb·G sets of Cg·inner values (module
        ``bncheck.family._numpy_kernels``).
    param_shape : tuple of ints
        The shape of gamma and beta (and of dgamma and dbeta).
    gamma : float64 array or None
        The scale, in its own shape.
    has_beta : bool
        Whether the forward had a shift.
    eps : float
    mean_hi, mean_lo, inv_std_hi, inv_std_lo : float64 arrays of shape (Nb, G)
        Per set: the mean (0 for RMSNorm) and 1/sqrt(var + eps) (mean of x² for RMSNorm), each
        a double-double. The compiled float32 forward computes the variance as a plain double
        sum: its inv_std is then accurate to about 2^-40 relative, not to a double-double.
    stats_exact : bool
        False in that case: a backward that needs the double-double statistics recomputes them.
    x_sum : uint32 array of shape (Nb·G,) or None
        The checksum of each set of x as the forward read it (docs/numerics.md, "Edits of x
        after the forward"); None: not recorded, not checked.


    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.family import layernorm_forward
    >>> y, cache = layernorm_forward(np.array([[1.0, 3.0], [0.0, 4.0]]))
    >>> cache.kind, cache.geometry, cache.mean.ravel().tolist()
    ('layernorm', (2, 1, 2, 1), [2.0, 2.0])
    """

    kind: str
    x: FloatArray
    geometry: tuple[int, int, int, int]
    param_shape: tuple[int, ...]
    gamma: F64 | None
    has_beta: bool
    eps: float
    mean_hi: F64
    mean_lo: F64
    inv_std_hi: F64
    inv_std_lo: F64
    stats_exact: bool = True
    x_sum: NDArray[np.uint32] | None = None

    @property
    def mean(self) -> F64:
        """Per-set mean, shape (Nb, G) (zeros for RMSNorm)."""
        return self.mean_hi + self.mean_lo

    @property
    def inv_std(self) -> F64:
        """Per-set 1/sqrt(var + eps) (RMSNorm: 1/sqrt(mean(x²) + eps)), shape (Nb, G)."""
        return self.inv_std_hi + self.inv_std_lo


class NormGrads(NamedTuple):
    """dx (x's shape), dgamma and dbeta (the parameters' shape, or None).

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.family import rmsnorm_backward, rmsnorm_forward
    >>> y, cache = rmsnorm_forward(np.array([[3.0, 4.0]]), np.ones(2))
    >>> grads = rmsnorm_backward(np.ones((1, 2)), cache)
    >>> grads.dx.shape, grads.dgamma.shape, grads.dbeta
    ((1, 2), (2,), None)
    """

    dx: FloatArray
    dgamma: FloatArray | None
    dbeta: FloatArray | None


# --- validation -----------------------------------------------------------------------------


def _short(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"array(shape={value.shape}, dtype={value.dtype})"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _float_array(name: str, value: object) -> FloatArray:
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name}={_short(value)} must be a float array (float16, 32 or 64)")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name}={_short(value)} is not an array ({exc})") from None
    if arr.dtype not in _FLOATS:
        hint = (
            f"; convert it first, e.g. {name}.astype(np.float64)" if arr.dtype.kind in "iub" else ""
        )
        raise TypeError(f"{name} has dtype {arr.dtype}; expected float16, float32 or float64{hint}")
    return arr


def _finite(name: str, arr: NDArray[Any]) -> None:
    ok = np.isfinite(arr)
    if not ok.all():
        index = tuple(int(i) for i in np.argwhere(~ok)[0])
        raise BatchNormError(
            f"{name} contains NaN or Inf ({name}[{', '.join(map(str, index))}]="
            f"{float(arr[index])!r}); expected finite values"
        )


def _eps(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"eps={_short(value)} must be a real number > 0")
    v = float(value)
    if not np.isfinite(v) or v <= 0:
        raise BatchNormError(f"eps={v!r} must be finite and > 0")
    return v


def _count(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}={_short(value)} must be an int >= {low}")
    if int(value) < low:
        raise BatchNormError(f"{name}={int(value)} must be >= {low}")
    return int(value)


def _param(name: str, value: object, shape: tuple[int, ...], what: str) -> F64 | None:
    if value is None:
        return None
    arr = _float_array(name, value)
    if arr.shape != shape:
        raise BatchNormError(f"{name} has shape {arr.shape}; expected {shape}, {what}")
    _finite(name, arr)
    return np.array(arr, dtype=np.float64)


def _input(x: object, min_ndim: int, form: str) -> FloatArray:
    xa = _float_array("x", x)
    if xa.ndim < min_ndim:
        raise BatchNormError(
            f"x has ndim={xa.ndim} (shape {xa.shape}); expected at least {min_ndim} "
            f"dimensions, {form}"
        )
    if xa.size == 0:
        raise BatchNormError(f"x has shape {xa.shape} with no values; expected a non-empty array")
    return xa


def _channels(x: object, gamma: object, beta: object, groups: int) -> Any:
    xa = _input(x, 2, "(N, C, *spatial)")
    c = xa.shape[1]
    if c % groups:
        raise BatchNormError(
            f"groups={groups} does not divide the {c} channels of x (shape {xa.shape}); "
            "expected a divisor of x.shape[1]"
        )
    what = "one value per channel (x.shape[1])"
    g, b = _param("gamma", gamma, (c,), what), _param("beta", beta, (c,), what)
    inner = int(np.prod(xa.shape[2:], dtype=np.int64))
    return xa, (xa.shape[0], groups, c // groups, inner), (c,), g, b


def _trailing(x: object, gamma: object, beta: object, normalized_ndim: object) -> Any:
    k = _count("normalized_ndim", normalized_ndim, 1)
    xa = _input(x, k, f"normalized_ndim={k} trailing axes to normalize over")
    shape = tuple(xa.shape[xa.ndim - k :])
    what = f"the normalized shape x.shape[-{k}:]"
    g, b = _param("gamma", gamma, shape, what), _param("beta", beta, shape, what)
    m = int(np.prod(shape, dtype=np.int64))
    return xa, (xa.size // m, 1, m, 1), shape, g, b


# --- forward and backward -------------------------------------------------------------------


def _forward(
    kind: str,
    xa: FloatArray,
    geo: tuple[int, int, int, int],
    pshape: tuple[int, ...],
    g: F64 | None,
    b: F64 | None,
    eps: float,
) -> tuple[FloatArray, NormCache]:
    rms = kind == "rmsnorm"
    groups, cg = geo[1], geo[2]
    g2 = None if g is None else g.reshape(groups, cg)
    b2 = None if b is None else b.reshape(groups, cg)
    compiled = kernels() == "compiled" and _native.available()
    exact = True
    # No copy of x: the cache keeps x itself (a read-only view of it) with a checksum of each
    # set, which the backward computes again from the x it reads and compares.
    if compiled:
        y, st, x_sum, xk = _native.forward(xa, geo, g2, b2, eps, rms)
        exact = _native.exact_stats(xa.dtype)
        # the kernel's own copy when it needed one (a layout or dtype it does not read as is)
        x = xa.view() if xk is xa or xk.dtype != xa.dtype else xk
    else:
        x = xa.view()
        with np.errstate(all="ignore"):  # non-finite results are detected below
            y64, st = _np_kernels.forward(xa.reshape(geo).astype(np.float64), g2, b2, eps, rms)
            y = y64.astype(xa.dtype)
        x_sum = _set_checksum(xa, geo)
    x.flags.writeable = False
    if not (np.isfinite(st.inv_hi).all() and np.isfinite(st.mean_hi).all()):
        _finite("x", xa)
        raise BatchNormError(
            f"x is finite but its per-set sums overflow float64 (max |x| = "
            f"{float(np.max(np.abs(xa))):.3e}); rescale the input"
        )
    # |x_hat| <= sqrt(m) (Samuelson; RMSNorm: x²/(mean(x²) + eps) <= m), so |y| is at most
    # max|gamma|·sqrt(m) + max|beta|: only when that reaches the dtype's range is y scanned
    m = geo[2] * geo[3]
    top = (1.0 if g is None else float(np.max(np.abs(g)))) * np.sqrt(m)
    top += 0.0 if b is None else float(np.max(np.abs(b)))
    if not top < 0.99 * float(np.finfo(y.dtype).max):
        _no_overflow("y", y)
    cache = NormCache(kind, x, geo, pshape, g, b is not None, eps, *st, exact, x_sum)
    return y.reshape(xa.shape), cache


def _set_checksum(x: FloatArray, geo: tuple[int, int, int, int]) -> NDArray[np.uint32]:
    """The checksum of each reduction set of x (docs/numerics.md, "Edits of x after the
    forward"): the BN's per-channel checksum with the sets as the channels."""
    return input_checksum(x.reshape(geo[0] * geo[1], geo[2] * geo[3]), 0)


def _no_overflow(name: str, out: FloatArray) -> None:
    if not np.isfinite(out).all():
        bad = int(out.size - np.count_nonzero(np.isfinite(out)))
        raise BatchNormError(
            f"{name} overflows {out.dtype}: {bad} of its {out.size} values exceed "
            f"{np.finfo(out.dtype).max:.4g} (gamma, dy or 1/sqrt(var + eps) too large for the "
            "dtype); compute in a wider dtype or rescale"
        )


def _backward(kind: str, dy: object, cache: object) -> NormGrads:
    if not isinstance(cache, NormCache):
        raise TypeError(f"cache={_short(cache)} must be the NormCache returned by {kind}_forward")
    if cache.kind != kind:
        raise BatchNormError(
            f"cache comes from {cache.kind}_forward; expected one from {kind}_forward"
        )
    dya = _float_array("dy", dy)
    x = cache.x
    if dya.shape != x.shape:
        raise BatchNormError(f"dy has shape {dya.shape}; expected {x.shape}, the shape of x")
    geo = cache.geometry
    out_dtype = np.result_type(x.dtype, dya.dtype)
    rms = kind == "rmsnorm"
    g2 = None if cache.gamma is None else cache.gamma.reshape(geo[1], geo[2])
    st = SetStats(cache.mean_hi, cache.mean_lo, cache.inv_std_hi, cache.inv_std_lo)
    compiled = kernels() == "compiled" and _native.available()
    if not cache.stats_exact and not (compiled and _native.is_fast(out_dtype)):
        # a float32 forward's plain-double variance, for a backward that uses it as it is
        # (float64 dy, or the NumPy kernels): recomputed in double-double first
        with np.errstate(all="ignore"):
            st = _np_kernels.statistics(x.reshape(geo).astype(np.float64), cache.eps, rms)
    if compiled:
        dx, dgamma, dbeta, bound, x_sum = _native.backward(
            dya, x, geo, g2, st, rms, cache.has_beta, out_dtype, cache.eps
        )
        check_unchanged(
            cache.x_sum,
            x_sum if x_sum is not None else _set_checksum(x, geo),
            "reduction set",
        )
    else:
        check_unchanged(cache.x_sum, _set_checksum(x, geo), "reduction set")
        bound = np.inf
        dy4 = dya.reshape(geo).astype(np.float64)
        with np.errstate(all="ignore"):  # non-finite results are detected below
            dx64, dgamma, dbeta = _np_kernels.backward(
                dy4, x.reshape(geo).astype(np.float64), g2, st, rms, cache.has_beta
            )
            dx = dx64.astype(out_dtype)
    # the float32 kernel bounds max|dx| (inv·sqrt(Σ (gamma·dy)²) per set, NaN for a non-finite
    # dy): dx is scanned only when that bound does not rule out a NaN or an overflow
    if not bound < 0.99 * float(np.finfo(dx.dtype).max) and not np.isfinite(dx).all():
        _finite("dy", dya)
        _no_overflow("dx", dx)
    outs: list[FloatArray | None] = []
    for name, v in (("dgamma", dgamma), ("dbeta", dbeta)):
        if v is None:
            outs.append(None)
            continue
        with np.errstate(over="ignore"):  # reported just below
            r = np.asarray(v).reshape(cache.param_shape).astype(out_dtype)
        _no_overflow(name, r)
        outs.append(r)
    return NormGrads(dx.reshape(x.shape), outs[0], outs[1])


def layernorm_forward(
    x: ArrayLike,
    gamma: ArrayLike | None = None,
    beta: ArrayLike | None = None,
    eps: float = 1e-5,
    normalized_ndim: int = 1,
) -> tuple[FloatArray, NormCache]:
    """LayerNorm over the last ``normalized_ndim`` axes; gamma, beta of shape
    ``x.shape[-normalized_ndim:]`` (per element) or None.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.family import layernorm_forward
    >>> y, cache = layernorm_forward(np.array([[1.0, 2.0, 3.0]]), np.ones(3), np.zeros(3))
    >>> np.round(y, 6).tolist()
    [[-1.224736, 0.0, 1.224736]]
    """
    xa, geo, ps, g, b = _trailing(x, gamma, beta, normalized_ndim)
    return _forward("layernorm", xa, geo, ps, g, b, _eps(eps))


def layernorm_backward(dy: ArrayLike, cache: NormCache) -> NormGrads:
    """Gradients of :func:`layernorm_forward` for the upstream gradient dy.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.family import layernorm_backward, layernorm_forward
    >>> y, cache = layernorm_forward(np.array([[1.0, 2.0, 4.0]]), np.ones(3), np.zeros(3))
    >>> grads = layernorm_backward(np.ones((1, 3)), cache)
    >>> bool(np.abs(grads.dx).max() < 1e-15), grads.dbeta.tolist()
    (True, [1.0, 1.0, 1.0])
    """
    return _backward("layernorm", dy, cache)


def rmsnorm_forward(
    x: ArrayLike, gamma: ArrayLike | None = None, eps: float = 1e-6, normalized_ndim: int = 1
) -> tuple[FloatArray, NormCache]:
    """RMSNorm: y = gamma·x/sqrt(mean(x²) + eps) over the last ``normalized_ndim`` axes.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.family import rmsnorm_forward
    >>> y, cache = rmsnorm_forward(np.array([[3.0, 4.0]]), eps=1e-12)
    >>> np.round(y, 6).tolist()
    [[0.848528, 1.131371]]
    """
    xa, geo, ps, g, _ = _trailing(x, gamma, None, normalized_ndim)
    return _forward("rmsnorm", xa, geo, ps, g, None, _eps(eps))


def rmsnorm_backward(dy: ArrayLike, cache: NormCache) -> NormGrads:
    """Gradients of :func:`rmsnorm_forward` (dbeta is None: RMSNorm has no shift).

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.family import rmsnorm_backward, rmsnorm_forward
    >>> y, cache = rmsnorm_forward(np.array([[3.0, 4.0]]), np.ones(2), eps=1e-12)
    >>> np.round(rmsnorm_backward(y, cache).dgamma, 6).tolist()
    [0.72, 1.28]
    """
    return _backward("rmsnorm", dy, cache)


def groupnorm_forward(
    x: ArrayLike,
    gamma: ArrayLike | None,
    beta: ArrayLike | None,
    groups: int,
    eps: float = 1e-5,
) -> tuple[FloatArray, NormCache]:
    """GroupNorm of x (N, C, *spatial) with ``groups`` groups of C/groups consecutive
    channels; gamma, beta of shape (C,) or None.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.family import groupnorm_forward
    >>> x = np.arange(16.0).reshape(1, 4, 2, 2)
    >>> y, cache = groupnorm_forward(x, np.ones(4), np.zeros(4), groups=2)
    >>> y.shape, cache.mean.tolist()
    ((1, 4, 2, 2), [[3.5, 11.5]])
    """
    g_count = _count("groups", groups, 1)
    xa, geo, ps, g, b = _channels(x, gamma, beta, g_count)
    return _forward("groupnorm", xa, geo, ps, g, b, _eps(eps))


def groupnorm_backward(dy: ArrayLike, cache: NormCache) -> NormGrads:
    """Gradients of :func:`groupnorm_forward`.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.family import groupnorm_backward, groupnorm_forward
    >>> y, cache = groupnorm_forward(np.arange(16.0).reshape(1, 4, 2, 2), np.ones(4), None, 2)
    >>> grads = groupnorm_backward(np.ones_like(y), cache)
    >>> grads.dgamma.shape, grads.dbeta
    ((4,), None)
    """
    return _backward("groupnorm", dy, cache)


def instancenorm_forward(
    x: ArrayLike, gamma: ArrayLike | None = None, beta: ArrayLike | None = None, eps: float = 1e-5
) -> tuple[FloatArray, NormCache]:
    """InstanceNorm of x (N, C, *spatial): statistics per (sample, channel); gamma, beta of
    shape (C,) or None (train-mode statistics; no running statistics).

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.family import instancenorm_forward
    >>> y, cache = instancenorm_forward(np.arange(8.0).reshape(1, 2, 4))
    >>> cache.mean.tolist()
    [[1.5, 5.5]]
    """
    xa0 = _input(x, 2, "(N, C, *spatial)")
    xa, geo, ps, g, b = _channels(xa0, gamma, beta, xa0.shape[1])
    return _forward("instancenorm", xa, geo, ps, g, b, _eps(eps))


def instancenorm_backward(dy: ArrayLike, cache: NormCache) -> NormGrads:
    """Gradients of :func:`instancenorm_forward`.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.family import instancenorm_backward, instancenorm_forward
    >>> y, cache = instancenorm_forward(np.arange(8.0).reshape(1, 2, 4), np.ones(2), np.zeros(2))
    >>> instancenorm_backward(np.ones_like(y), cache).dbeta.tolist()
    [4.0, 4.0]
    """
    return _backward("instancenorm", dy, cache)
