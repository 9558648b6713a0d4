"""The cache of a train-mode forward and the gradients of its backward (re-exported by
:mod:`bncheck.bn.functional`)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from bncheck.bn._numpy_kernels import centered, expand

__all__ = ["F64", "BatchNormCache", "BatchNormGrads", "FloatArray"]

F64 = NDArray[np.float64]
FloatArray = NDArray[np.floating[Any]]


class BatchNormCache(NamedTuple):
    """What the train-mode backward pass needs; returned by :func:`batchnorm_forward`.

    Statistics have shape (C,) and dtype float64.

    Attributes
    ----------
    x : array
        The input itself, not a copy (a C-contiguous copy only when the input is not
        C-contiguous and the compiled kernels run): the backward reads it.
    mean_hi, mean_lo : arrays of shape (C,)
        The two parts of the compensated batch mean (mean = hi + lo).
    var : array of shape (C,)
        The biased batch variance (eq 7).
    inv_std : array of shape (C,)
        1/sqrt(var + eps).
    gamma : array of shape (C,) or None
        The scale, as float64; None when the forward had none.
    has_beta : bool
        Whether the forward had a shift (then the backward returns dbeta).
    eps, axis : float, int
        As passed to the forward (axis normalized to be >= 0).
    inv_std_lo : array of shape (C,) or None
        The low part of 1/sqrt(var + eps), a double-double with ``inv_std`` (compiled
        kernels).
    x_sum : uint32 array of shape (C,) or None
        The checksum of each channel of x as the forward read it (docs/numerics.md): the
        backward computes it again in the pass that reads x and raises ``BatchNormError``,
        naming the channels, if x was modified in between. None: not checked.
    mean, m, x_hat
        Properties: the batch mean, the number of values per channel and the normalized
        input.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.bn import batchnorm_forward
    >>> x = np.random.default_rng(0).normal(3.0, 2.0, size=(8, 2))
    >>> y, cache = batchnorm_forward(x, None, None)
    >>> cache.m, cache.mean.shape, cache.x_hat.shape
    (8, (2,), (8, 2))
    >>> np.allclose(cache.mean, x.mean(axis=0)), np.allclose(cache.var, x.var(axis=0))
    (True, True)
    """

    x: FloatArray
    mean_hi: F64
    mean_lo: F64
    var: F64
    inv_std: F64
    gamma: F64 | None
    has_beta: bool
    eps: float
    axis: int
    inv_std_lo: F64 | None = None  # low part of 1/sqrt(var + eps) (compiled kernels)
    x_sum: NDArray[np.uint32] | None = None  # the checksum of x, per channel

    @property
    def mean(self) -> F64:
        """The batch mean mu_B (eq 6), hi + lo rounded to float64."""
        return self.mean_hi + self.mean_lo

    @property
    def m(self) -> int:
        """Number of values per channel."""
        return int(self.x.size // self.x.shape[self.axis])

    @property
    def x_hat(self) -> F64:
        """The normalized input n_i (eq 8), float64, in the input's layout."""
        xc, _ = centered(self.x, self.axis, self.mean_hi, self.mean_lo)
        xc *= expand(self.inv_std, self.x.ndim, self.axis)
        return xc


class BatchNormGrads(NamedTuple):
    """Gradients of the loss; returned by :func:`batchnorm_backward` and
    :func:`inference_backward`.

    Attributes
    ----------
    dx : array
        Shape and dtype of x.
    dgamma, dbeta : arrays of shape (C,) or None
        dtype of x; None when there is no gamma, respectively beta.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.bn import batchnorm_backward, batchnorm_forward
    >>> rng = np.random.default_rng(0)
    >>> y, cache = batchnorm_forward(rng.standard_normal((8, 3)), np.ones(3), None)
    >>> grads = batchnorm_backward(rng.standard_normal((8, 3)), cache)
    >>> grads.dx.shape, grads.dgamma.shape, grads.dbeta
    ((8, 3), (3,), None)
    """

    dx: FloatArray
    dgamma: FloatArray | None
    dbeta: FloatArray | None
