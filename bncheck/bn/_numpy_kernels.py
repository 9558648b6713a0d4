"""The NumPy kernels behind bncheck.bn.functional and bncheck.bn.inference: their fallback
when the compiled kernels (``bncheck/bn/_csrc``) are not available, with pairwise sums and a
cancellation-free backward for tiny batches.

Pairwise sums. ``np.sum`` over a C-contiguous array's *leading* axis adds row after row
(recursive summation: error up to (m − 1)·u·Σ|a|, typically ~u·√m·... growing with m), while
along a contiguous axis it sums pairwise. :func:`channel_sum` reduces the axes behind the
channel axis with ``np.sum`` (contiguous: pairwise) and the leading ones by halving — add the
second half of the rows to the first, repeat — so every term goes through at most
⌈log2 m⌉ + 7 additions: error <= (log2 m + 7)·u·Σ|a| instead of m·u·Σ|a|, at the cost of about
one more pass over the data.

Cancellation. With d = dy − mean(dy), u_hat = (x − mu)/||x − mu|| and rho = var/(var + eps),
the backward is dx = gamma·inv_std·(d − rho·u_hat·<u_hat, d>). When dy is nearly parallel to
x_hat — always so for m = 2, where the centred subspace is one-dimensional — the bracket
cancels down to (1 − rho)·u_hat·<u_hat, d> = eps/(var + eps)·…, and the usual formula returns
rounding noise of size u·|dy| instead. :func:`projected_dx` splits d into its part orthogonal to
u_hat (projected out twice: "twice is enough", Kahan/Parlett) and its part along u_hat, whose
factor 1 − rho = eps/(var + eps) it computes without subtraction.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
FloatArray = NDArray[np.floating[Any]]

__all__ = [
    "BLOCK",
    "Stats",
    "backward_numpy",
    "centered",
    "channel_sum",
    "checksum",
    "expand",
    "forward_numpy",
    "inference_numpy",
    "projected_dx",
]


class Stats(NamedTuple):
    """A train-mode forward's per-channel statistics (float64, shape (C,))."""

    mean_hi: F64
    mean_lo: F64
    var: F64
    inv_std: F64


def expand(v: NDArray[Any], ndim: int, axis: int) -> NDArray[Any]:
    """Reshape a per-channel vector (C,) to broadcast against an ndim array."""
    shape = [1] * ndim
    shape[axis] = v.shape[0]
    return v.reshape(shape)


def _halving_sum(rows: NDArray[Any]) -> F64:
    """Σ over axis 0 of an (L, C) array by repeated halving, in float64."""
    a: NDArray[Any] = rows
    if a.shape[0] == 0:
        return np.zeros(a.shape[1])
    while a.shape[0] > 1:
        length = a.shape[0]
        half = length // 2
        s = np.add(a[:half], a[half : 2 * half], dtype=np.float64)
        if length % 2:
            s[0] += a[length - 1]
        a = s
    return np.asarray(a[0], dtype=np.float64)


def channel_sum(a: NDArray[Any], axis: int) -> F64:
    """Σ of ``a`` over every axis but ``axis``, per channel, pairwise, accumulated in float64."""
    trailing = tuple(range(axis + 1, a.ndim))
    b = np.sum(a, axis=trailing, dtype=np.float64) if trailing else a
    # the channel axis is now the last one
    return _halving_sum(b.reshape(-1, b.shape[-1]))


def projected_dx(dy: NDArray[Any], xc: F64, var: F64, eps: float, scale: F64, axis: int) -> F64:
    """dx = scale·(d − rho·u_hat·<u_hat, d>) without cancellation (see the module docstring).

    ``xc`` is x − mu (float64), ``var`` the biased batch variance, ``scale`` = gamma·inv_std
    per channel. About twelve passes over the data: used only when the direct formula cancels.
    """
    ndim = xc.ndim
    m = xc.size // xc.shape[axis]

    def mean(a: NDArray[Any]) -> NDArray[Any]:
        return expand(channel_sum(a, axis) / m, ndim, axis)

    def along(u: F64, v: F64) -> NDArray[Any]:
        return expand(channel_sum(u * v, axis), ndim, axis)

    d = np.asarray(dy, dtype=np.float64) - mean(dy)
    d -= mean(d)  # the first mean's rounding, removed
    norm = np.sqrt(channel_sum(xc * xc, axis))
    with np.errstate(invalid="ignore", divide="ignore"):
        u_hat = xc / expand(norm, ndim, axis)
    u_hat = np.nan_to_num(u_hat, nan=0.0, posinf=0.0, neginf=0.0)  # a constant channel
    a = along(u_hat, d)
    perp = d - u_hat * a
    perp -= mean(perp)
    b = along(u_hat, perp)
    perp -= u_hat * b
    one_minus_rho = eps / (var + eps)
    perp += u_hat * ((a + b) * expand(one_minus_rho, ndim, axis))
    perp *= expand(scale, ndim, axis)
    out: F64 = perp
    return out


def centered(
    x: FloatArray, axis: int, mean_hi: F64 | None = None, mean_lo: F64 | None = None
) -> tuple[F64, tuple[F64, F64]]:
    """x − mu in float64 with a compensated mean; returns (x − mu, (hi, lo)).

    The first call computes hi and lo; passing them back reproduces the same x − mu exactly.
    """
    m = x.size // x.shape[axis]
    if mean_hi is None or mean_lo is None:
        mean_hi = channel_sum(x, axis) / m
        # x − hi into a fresh float64 array: the cast and the subtraction in one pass.
        xc = np.subtract(x, expand(mean_hi, x.ndim, axis), dtype=np.float64)
        mean_lo = channel_sum(xc, axis) / m
    else:
        xc = np.subtract(x, expand(mean_hi, x.ndim, axis), dtype=np.float64)
    xc -= expand(mean_lo, x.ndim, axis)
    return xc, (mean_hi, mean_lo)


def affine(x_hat: F64, gamma: F64 | None, beta: F64 | None, axis: int) -> F64:
    """In place: x_hat · gamma + beta (eq 9)."""
    if gamma is not None:
        x_hat *= expand(gamma, x_hat.ndim, axis)
    if beta is not None:
        x_hat += expand(beta, x_hat.ndim, axis)
    return x_hat


def forward_numpy(
    xa: FloatArray, ax: int, g: F64 | None, b: F64 | None, eps_f: float
) -> tuple[FloatArray, F64, F64, F64, F64]:
    """The NumPy fallback's train-mode forward: y, mean_hi, mean_lo, var, inv_std."""
    m = xa.size // xa.shape[ax]
    c = xa.shape[ax]
    y = np.empty(xa.shape, dtype=xa.dtype)
    mean_hi, mean_lo, var, inv_std = (np.empty(c) for _ in range(4))
    for ch, index in blocks(xa.shape, ax):
        xc, (hi, lo) = centered(xa[index], ax)
        v = channel_sum(np.square(xc), ax) / m  # (7), two-pass
        inv = 1.0 / np.sqrt(v + eps_f)
        mean_hi[ch], mean_lo[ch], var[ch], inv_std[ch] = hi, lo, v, inv
        xc *= expand(inv, xa.ndim, ax)  # xc is now x_hat, eq (8)
        y[index] = affine(xc, part(g, ch), part(b, ch), ax)  # (9), rounded once
    return y, mean_hi, mean_lo, var, inv_std


def backward_numpy(
    dy: FloatArray, x: FloatArray, stats: Stats, gamma: F64 | None, eps: float, axis: int
) -> tuple[FloatArray, F64, F64]:
    """The NumPy fallback's train-mode backward: dx (dtype of x), dbeta and dgamma (float64).
    ``stats`` are the forward's mean_hi, mean_lo, var and inv_std."""
    c = x.shape[axis]
    dx = np.empty(x.shape, dtype=x.dtype)
    s1, s2 = np.empty(c), np.empty(c)
    for ch, index in blocks(x.shape, axis):
        part_stats = Stats(*(v[ch] for v in stats))
        s1[ch], s2[ch] = _backward_block(
            dy[index], x[index], dx, index, part_stats, part(gamma, ch), eps, axis
        )
    return dx, s1, s2


def _backward_block(
    dy: FloatArray,
    x: FloatArray,
    dx: FloatArray,
    index: tuple[Any, ...],
    stats: Stats,
    gamma: F64 | None,
    eps: float,
    ax: int,
) -> tuple[F64, F64]:
    """dx[index] for one block of channels; returns their dbeta and dgamma."""
    m, nd = x.size // x.shape[ax], dy.ndim
    xc, _ = centered(x, ax, stats.mean_hi, stats.mean_lo)
    inv, var = stats.inv_std, stats.var
    # d = dy − mean(dy), compensated like x − mu: the paths through mu_B remove the mean of
    # dy, and an offset in dy must not leave its rounding behind.
    s1 = channel_sum(dy, ax)
    d = np.subtract(dy, expand(s1 / m, nd, ax), dtype=np.float64)
    d_lo = channel_sum(d, ax) / m
    d -= expand(d_lo, nd, ax)
    # dbeta stays the pairwise Σ dy: adding m·d_lo would add the roundings of dy − S1/m,
    # about u·sqrt(m)·rms(dy), more than it corrects unless dy has a large offset.
    s2 = channel_sum(d * xc, ax) * inv  # dgamma = Σ dy·x_hat = Σ d·x_hat since Σ x_hat = 0
    sdd = channel_sum(np.square(d), ax)
    scale = inv if gamma is None else gamma * inv
    if np.isfinite(sdd).all() and cancels(s2, sdd, var, eps, m, dy.dtype):
        dx[index] = projected_dx(d, xc, var, eps, scale, ax)
    else:
        # dx = scale · (d − x_hat·S2/m), x_hat·S2/m = (x − mu)·(inv_std·S2/m), in place in d.
        xc *= expand(inv * s2 / m, nd, ax)
        d -= xc
        d *= expand(scale, nd, ax)
        dx[index] = d
    return s1, s2


#: float64 values per channel block: 2 MiB temporaries, about the size of a core's cache
BLOCK = 1 << 18


def blocks(shape: tuple[int, ...], axis: int) -> list[tuple[slice, tuple[Any, ...]]]:
    """(channel slice, index into the array) for blocks of whole channels of ~BLOCK values."""
    c = shape[axis]
    m = max(1, int(np.prod(shape)) // max(c, 1))
    step = max(1, BLOCK // m)
    out = []
    for start in range(0, c, step):
        ch = slice(start, min(start + step, c))
        index = tuple(ch if a == axis else slice(None) for a in range(len(shape)))
        out.append((ch, index))
    return out


def part(v: F64 | None, ch: slice) -> F64 | None:
    return None if v is None else v[ch]


def cancels(s2: F64, sdd: F64, var: F64, eps: float, m: int, dtype: np.dtype[Any]) -> bool:
    """Whether d − x_hat·S2/m (d = dy − mean(dy)) cancels too much for ``dtype``.

    The subtracted part has squared norm (2 − rho)·S2²/m of ||d||² (rho = var/(var + eps));
    q = 1 − (2 − rho)·S2²/(m·||d||²) is the fraction that survives. The direct formula errs by
    ~u64·||d||, so it is kept while sqrt(q) leaves the result well above that noise in the
    output dtype: q >= 1/4 for float64 (at most one bit lost), q >= 2^-42 for float32 and
    2^-68 for float16 (whose results are computed in float64).
    """
    nmant = np.finfo(dtype).nmant
    threshold = min(0.25, (2.0 ** (nmant - 52 + 8)) ** 2)
    rho = var / (var + eps)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = 1.0 - (2.0 - rho) * s2 * s2 / m / sdd
    live = sdd > 0  # a channel whose dy is constant has dx = 0 exactly either way
    return bool(np.any(live & ~(q >= threshold)))


#: the checksum's constants, as in bncheck/bn/_csrc/scalars.h
HASH_KEY = 0x9E3779B1
HASH_MUL = 0x85EBCA77
_WORD = 0xFFFFFFFF


def _mix(w: NDArray[np.uint32], key: NDArray[np.uint32]) -> NDArray[np.uint32]:
    """scalars.h's bn_mix, element-wise (uint32 arithmetic wraps mod 2^32, as in C)."""
    v: NDArray[np.uint32] = (w ^ key) * np.uint32(HASH_MUL)
    v ^= v >> np.uint32(15)
    return v


def checksum(x: FloatArray, axis: int) -> NDArray[np.uint32]:
    """The checksum of x per channel (uint32, shape (C,)), the same value the compiled kernels
    compute (``_csrc/scalars.h``; docs/numerics.md): Σ_i mix(w_i, key_i) mod 2^32 over each
    channel's values, i their position in the channel in C order, key_i = i·HASH_KEY; a float32
    value is one 32-bit word, a float64 (or float16, widened) value its low word keyed key_i
    plus its high word keyed ~key_i. Computed by blocks of channels (bounded temporaries)."""
    shape = x.shape
    c = shape[axis]
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    inner = int(np.prod(shape[axis + 1 :], dtype=np.int64))
    pos = np.arange(outer * inner, dtype=np.uint64) & np.uint64(_WORD)
    keys = ((pos * np.uint64(HASH_KEY)) & np.uint64(_WORD)).astype(np.uint32)
    keys = keys.reshape(outer, 1, inner)
    out = np.empty(c, np.uint32)
    for ch, index in blocks(shape, axis):
        width = ch.stop - ch.start
        if x.dtype == np.float32:
            words = np.ascontiguousarray(x[index]).view(np.uint32).reshape(outer, width, inner)
            terms = _mix(words, keys)
        else:
            bits = np.ascontiguousarray(x[index], dtype=np.float64).view(np.uint64)
            bits = bits.reshape(outer, width, inner)
            lo = (bits & np.uint64(_WORD)).astype(np.uint32)
            hi = (bits >> np.uint64(32)).astype(np.uint32)
            terms = _mix(lo, keys)
            terms += _mix(hi, ~keys)
        total = terms.sum(axis=(0, 2), dtype=np.uint64) & np.uint64(_WORD)
        out[ch] = total.astype(np.uint32)
    return out


def inference_numpy(
    xa: FloatArray, ax: int, g: F64 | None, b: F64 | None, mean: F64, inv_std: F64
) -> FloatArray:
    """The NumPy fallback's eval-mode forward."""
    y = np.empty(xa.shape, dtype=xa.dtype)
    for ch, index in blocks(xa.shape, ax):
        x_hat = np.subtract(xa[index], expand(mean[ch], xa.ndim, ax), dtype=np.float64)
        x_hat *= expand(inv_std[ch], xa.ndim, ax)
        y[index] = affine(x_hat, part(g, ch), part(b, ch), ax)
    return y
