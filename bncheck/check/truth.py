"""High-precision truth for Batch Normalization, evaluated with mpmath.

Every input value (float16/32/64) converts to an mpmath number exactly, the whole computation
runs with ``dps`` significant decimal digits (default 50, far beyond float64's 16), and each
result is rounded once to float64. This is the "truth" of docs/design.md (numerics policy):
errors of an implementation are measured against it, in the implementation's own dtype.

Loop-level and slow on purpose (about 10 µs per value): it follows equations (6)–(9) and the
closed-form gradients literally and shares no code with ``bncheck.bn.functional``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import mpmath
import numpy as np
from numpy.typing import ArrayLike, NDArray

from bncheck.check.memo import memoized
from bncheck.check.norms import NormSpec, resolve

__all__ = ["ExactBatchNorm", "ExactRMSNorm", "exact_batchnorm", "exact_inference", "exact_rmsnorm"]

F64 = NDArray[np.float64]


class ExactBatchNorm(NamedTuple):
    """Train-mode truth, rounded once to float64: outputs in x's layout, statistics (C,) (one
    per column of the spec: :mod:`bncheck.check.norms`).

    Attributes
    ----------
    y : float64 array, the shape of x
        The forward output.
    dx : float64 array, the shape of x, or None
        None when no ``dy`` was given.
    dgamma, dbeta : float64 arrays of shape (C,) (the parameters' shape) or None
        None when no ``dy`` was given, or when gamma (respectively beta) is None.
    mean, var : float64 arrays of shape (C,) (K, one per column)
        The batch mean and biased batch variance.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.truth import exact_batchnorm
    >>> truth = exact_batchnorm(np.array([[1.0], [2.0], [4.0]]), None, None)
    >>> truth.mean.tolist(), np.round(truth.var, 12).tolist(), truth.dx
    ([2.3333333333333335], [1.555555555556], None)
    """

    y: F64
    dx: F64 | None
    dgamma: F64 | None
    dbeta: F64 | None
    mean: F64
    var: F64


def _setup(
    x: ArrayLike,
    gamma: ArrayLike | None,
    beta: ArrayLike | None,
    spec: NormSpec,
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
    """x as an array, x as (m, K) columns, gamma and beta as (m, K) columns of x's layout
    (defaults 1, 0)."""
    xa = np.asarray(x)
    xc = spec.columns(xa, dtype=None)
    pshape = spec.parameter_shape(xa.shape)
    g = np.ones(pshape) if gamma is None else np.asarray(gamma)
    b = np.zeros(pshape) if beta is None else np.asarray(beta)
    return xa, xc, spec.param_columns(g, xa.shape), spec.param_columns(b, xa.shape)


def _mp(v: Any) -> Any:
    return mpmath.mpf(float(v))  # exact: every float16/32/64 is a float64


@memoized
def exact_batchnorm(
    x: ArrayLike,
    gamma: ArrayLike | None,
    beta: ArrayLike | None,
    dy: ArrayLike | None = None,
    *,
    eps: float = 1e-5,
    axis: int = 1,
    dps: int = 50,
    spec: NormSpec | None = None,
) -> ExactBatchNorm:
    """The exact train-mode forward and, when ``dy`` is given, the exact backward.

    y_i = gamma (x_i − mu)/sqrt(var + eps) + beta with mu, var the batch mean and biased
    variance (eqs 6–9); dbeta = Σ dy, dgamma = Σ dy·x_hat,
    dx_i = gamma/sqrt(var + eps) · (dy_i − dbeta/m − x_hat_i · dgamma/m).

    Parameters
    ----------
    x : array_like of float16, float32 or float64
        Input; statistics reduce over every axis except ``axis``.
    gamma, beta : array_like of shape (C,) (``spec.parameter_shape``) or None
        Scale and shift (None: 1, respectively 0).
    dy : array_like, the shape of x, optional
        The upstream gradient; None computes the forward only.
    eps : float
        Added to the variance inside the square root.
    axis : int
        The channel axis (Batch Normalization; ignored when ``spec`` is given).
    dps : int
        Significant decimal digits of the mpmath computation.
    spec : NormSpec, optional
        Which axes are reduced and which gamma and beta span
        (:mod:`bncheck.check.norms`); None: Batch Normalization over ``axis``. With parameters
        that vary along a column (Layer Normalization), dx is
        inv·(delta − Σdelta/m − x_hat·Σ(delta·x_hat)/m) with delta = gamma·dy, and dgamma,
        dbeta are summed over the values sharing each parameter.

    Returns
    -------
    ExactBatchNorm

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.bn import batchnorm_backward, batchnorm_forward
    >>> from bncheck.check.truth import exact_batchnorm
    >>> rng = np.random.default_rng(0)
    >>> x, dy = rng.standard_normal((8, 3)), rng.standard_normal((8, 3))
    >>> gamma, beta = np.full(3, 2.0), np.ones(3)
    >>> truth = exact_batchnorm(x, gamma, beta, dy)
    >>> y, cache = batchnorm_forward(x, gamma, beta)
    >>> dx = batchnorm_backward(dy, cache).dx
    >>> float(np.max(np.abs(y - truth.y))) < 1e-14, float(np.max(np.abs(dx - truth.dx))) < 1e-14
    (True, True)
    """
    sp = resolve(spec, axis)
    xa, xc, g, b = _setup(x, gamma, beta, sp)
    m, c = xc.shape
    per_column = sp.params_per_column(xa.ndim)
    dyc = None if dy is None else sp.columns(np.asarray(dy), dtype=None)
    y = np.empty((m, c))
    dx = np.empty((m, c))
    pshape = sp.parameter_shape(xa.shape)
    dgamma, dbeta = np.empty(pshape), np.empty(pshape)
    means, variances = np.empty(c), np.empty(c)
    # the parameter each column-layout entry belongs to; its sums collected in column order
    pidx = sp.param_columns(
        np.arange(int(np.prod(pshape, dtype=np.int64))).reshape(pshape), xa.shape
    )
    sums1: dict[int, list[Any]] = {}
    sums2: dict[int, list[Any]] = {}
    with mpmath.workdps(dps):
        e = _mp(eps)
        for j in range(c):
            col = [_mp(v) for v in xc[:, j]]
            mu = mpmath.fsum(col) / m  # (6)
            var = mpmath.fsum((v - mu) ** 2 for v in col) / m  # (7)
            inv_std = 1 / mpmath.sqrt(var + e)
            x_hat = [(v - mu) * inv_std for v in col]  # (8)
            if per_column:
                gj, bj = _mp(g[0, j]), _mp(b[0, j])
                y[:, j] = [float(gj * n + bj) for n in x_hat]  # (9)
            else:
                y[:, j] = [
                    float(_mp(gi) * n + _mp(bi))
                    for gi, bi, n in zip(g[:, j], b[:, j], x_hat, strict=True)
                ]  # (9)
            means[j], variances[j] = float(mu), float(var)
            if dyc is None:
                continue
            d = [_mp(v) for v in dyc[:, j]]
            if per_column:
                s1 = mpmath.fsum(d)
                s2 = mpmath.fsum(di * n for di, n in zip(d, x_hat, strict=True))
                sums1.setdefault(int(pidx[0, j]), []).append(s1)
                sums2.setdefault(int(pidx[0, j]), []).append(s2)
                scale = gj * inv_std
                dx[:, j] = [
                    float(scale * (di - s1 / m - n * s2 / m))
                    for di, n in zip(d, x_hat, strict=True)
                ]
                continue
            for i, (di, n) in enumerate(zip(d, x_hat, strict=True)):
                sums1.setdefault(int(pidx[i, j]), []).append(di)
                sums2.setdefault(int(pidx[i, j]), []).append(di * n)
            delta = [_mp(gi) * di for gi, di in zip(g[:, j], d, strict=True)]
            t1 = mpmath.fsum(delta)
            t2 = mpmath.fsum(di * n for di, n in zip(delta, x_hat, strict=True))
            dx[:, j] = [
                float(inv_std * (di - t1 / m - n * t2 / m))
                for di, n in zip(delta, x_hat, strict=True)
            ]
        for k, terms in sums1.items():
            # one term per column (BN: the column's own sum), else every value's
            dbeta.flat[k] = float(terms[0] if len(terms) == 1 else mpmath.fsum(terms))
            dgamma.flat[k] = float(sums2[k][0] if len(sums2[k]) == 1 else mpmath.fsum(sums2[k]))
    has_dy = dyc is not None
    return ExactBatchNorm(
        sp.from_columns(y, xa.shape),
        sp.from_columns(dx, xa.shape) if has_dy else None,
        dgamma if has_dy and gamma is not None else None,
        dbeta if has_dy and beta is not None else None,
        means,
        variances,
    )


@memoized
def exact_inference(
    x: ArrayLike,
    gamma: ArrayLike | None,
    beta: ArrayLike | None,
    running_mean: ArrayLike,
    running_var: ArrayLike,
    *,
    eps: float = 1e-5,
    axis: int = 1,
    dps: int = 50,
    spec: NormSpec | None = None,
) -> F64:
    """The exact eval-mode output gamma (x − running_mean)/sqrt(running_var + eps) + beta.

    Parameters
    ----------
    x : array_like of float16, float32 or float64
        Input.
    gamma, beta : array_like of shape (C,) or None
        Scale and shift (None: 1, respectively 0).
    running_mean, running_var : array_like of shape (C,)
        The fixed statistics.
    eps, axis, dps, spec
        As for :func:`exact_batchnorm`; the running statistics have one entry per column.

    Returns
    -------
    float64 array, the shape of x
        Rounded once to float64.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.truth import exact_inference
    >>> x = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> y = exact_inference(x, None, None, [1.0, 2.0], [4.0, 1.0], eps=1e-5)
    >>> y[1].tolist()  # 2/sqrt(4.00001) and 2/sqrt(1.00001), correctly rounded
    [0.9999987500023437, 1.9999900000749993]
    """
    sp = resolve(spec, axis)
    xa, xc, g, b = _setup(x, gamma, beta, sp)
    m, c = xc.shape
    rm, rv = np.asarray(running_mean).reshape(-1), np.asarray(running_var).reshape(-1)
    y = np.empty((m, c))
    with mpmath.workdps(dps):
        e = _mp(eps)
        for j in range(c):
            mu = _mp(rm[j])
            if sp.params_per_column(xa.ndim):
                scale = _mp(g[0, j]) / mpmath.sqrt(_mp(rv[j]) + e)
                bj = _mp(b[0, j])
                y[:, j] = [float((_mp(v) - mu) * scale + bj) for v in xc[:, j]]
            else:
                inv = 1 / mpmath.sqrt(_mp(rv[j]) + e)
                y[:, j] = [
                    float((_mp(v) - mu) * inv * _mp(gi) + _mp(bi))
                    for v, gi, bi in zip(xc[:, j], g[:, j], b[:, j], strict=True)
                ]
    return sp.from_columns(y, xa.shape)


class ExactRMSNorm(NamedTuple):
    """RMSNorm's train-mode truth, rounded once to float64: y and dx in x's layout, dgamma in
    gamma's shape (None without ``dy``), ms the mean of x² per column (K,).

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.norms import NormSpec
    >>> from bncheck.check.truth import exact_rmsnorm
    >>> last = NormSpec(reduce=(-1,), params=(-1,))
    >>> t = exact_rmsnorm(np.array([[1.0, -1.0]]), None, np.ones((1, 2)), eps=0.0, spec=last)
    >>> t.y.tolist(), t.dx.tolist()
    ([[1.0, -1.0]], [[1.0, 1.0]])
    """

    y: F64
    dx: F64 | None
    dgamma: F64 | None
    ms: F64


@memoized
def exact_rmsnorm(
    x: ArrayLike,
    gamma: ArrayLike | None,
    dy: ArrayLike | None = None,
    *,
    eps: float = 1e-5,
    spec: NormSpec,
    dps: int = 50,
) -> ExactRMSNorm:
    """RMSNorm in mpmath: y = gamma·x·r with r = 1/sqrt(mean(x²) + eps) over each column of
    ``spec`` (no mean is subtracted, no beta); with delta = gamma·dy,
    dx = r·(delta − x̂·Σ(delta·x̂)/m), x̂ = x·r, and dgamma = Σ dy·x̂ over the values sharing
    each parameter.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check.norms import NormSpec
    >>> from bncheck.check.truth import exact_rmsnorm
    >>> last = NormSpec(reduce=(-1,), params=(-1,))
    >>> t = exact_rmsnorm(np.array([[3.0, 4.0]]), None, eps=0.0, spec=last)
    >>> np.round(t.y, 12).tolist(), t.ms.tolist()
    ([[0.848528137424, 1.131370849898]], [12.5])
    """
    xa, xc, g, _ = _setup(x, gamma, None, spec)
    m, c = xc.shape
    dyc = None if dy is None else spec.columns(np.asarray(dy), dtype=None)
    pshape = spec.parameter_shape(xa.shape)
    pidx = spec.param_columns(
        np.arange(int(np.prod(pshape, dtype=np.int64))).reshape(pshape), xa.shape
    )
    y, dx, ms_all = np.empty((m, c)), np.empty((m, c)), np.empty(c)
    sums: dict[int, list[Any]] = {}
    with mpmath.workdps(dps):
        e = _mp(eps)
        for j in range(c):
            col = [_mp(v) for v in xc[:, j]]
            ms = mpmath.fsum(v * v for v in col) / m
            r = 1 / mpmath.sqrt(ms + e)
            x_hat = [v * r for v in col]
            gs = [_mp(v) for v in g[:, j]]
            y[:, j] = [float(gi * n) for gi, n in zip(gs, x_hat, strict=True)]
            ms_all[j] = float(ms)
            if dyc is None:
                continue
            d = [_mp(v) for v in dyc[:, j]]
            delta = [gi * di for gi, di in zip(gs, d, strict=True)]
            t = mpmath.fsum(di * n for di, n in zip(delta, x_hat, strict=True))
            dx[:, j] = [float(r * (di - n * t / m)) for di, n in zip(delta, x_hat, strict=True)]
            for i, (di, n) in enumerate(zip(d, x_hat, strict=True)):
                sums.setdefault(int(pidx[i, j]), []).append(di * n)
        dgamma = np.empty(pshape)
        for k, terms in sums.items():
            dgamma.flat[k] = float(mpmath.fsum(terms))
    has_dy = dyc is not None
    return ExactRMSNorm(
        spec.from_columns(y, xa.shape),
        spec.from_columns(dx, xa.shape) if has_dy else None,
        dgamma if has_dy and gamma is not None else None,
        ms_all,
    )
