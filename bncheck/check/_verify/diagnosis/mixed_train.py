"""The train step of a BN that normalizes by its running statistics mixed with the batch's:
Equinox's ``mode="ema"`` (documented: "During training the batch statistics are used to fill in
the running statistics until they are populated").

After its first train step such a layer normalizes a batch x by

    M = d·M_old + w·mu_B,   V = d·V_old + w·sigma2_B   (w = 1 − d, sigma2_B biased),

y = gamma·(x − M)/sqrt(V + eps) + beta, and its autodiff differentiates through the w share of
the batch statistics only (M_old, V_old are state, not functions of x). With S = sqrt(V + eps),
m values per channel, S1 = Σ dy and T = Σ dy·(x − M)/S²:

    dx = gamma/S · (dy − w·S1/m − w·(x − mu_B)·T/m),
    dgamma = Σ dy·(x − M)/S,   dbeta = S1.

(From y's total derivative: dM/dx_i = w/m, dV/dx_i = 2w·(x_i − mu_B)/m.) The second-call check
holds such a layer's second step to this model instead of a fresh instance's plain BN; a test
checks the gradients against finite differences.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from bncheck.check.norms import BATCH_NORM

__all__ = ["MIXED", "mixed_train_outputs"]

#: the description's value of ``"train_stats"`` for such a layer
MIXED = "mixed-running"

F64 = NDArray[np.float64]


def mixed_train_outputs(
    x: Any,
    gamma: Any,
    beta: Any,
    dy: Any,
    eps: float,
    old_mean: Any,
    old_var: Any,
    decay: float,
) -> dict[str, F64]:
    """y, dx, dgamma, dbeta (float64) of a train step normalizing by the mixed statistics
    (module docstring); ``decay`` is the weight d of the old running value.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check._verify.diagnosis.mixed_train import mixed_train_outputs
    >>> x = np.array([[1.0], [3.0]])
    >>> out = mixed_train_outputs(x, None, None, np.ones_like(x), 0.0, [2.0], [1.0], 0.0)
    >>> out["y"].ravel().tolist()  # decay 0: plain BN
    [-1.0, 1.0]
    """
    xa = np.asarray(x, dtype=np.float64)
    cols = BATCH_NORM.columns(xa, dtype=None)
    dcols = BATCH_NORM.columns(np.asarray(dy, dtype=np.float64), dtype=None)
    m, c = cols.shape
    g = np.ones(c) if gamma is None else np.asarray(gamma, dtype=np.float64).reshape(c)
    b = np.zeros(c) if beta is None else np.asarray(beta, dtype=np.float64).reshape(c)
    w = 1.0 - decay
    mu = cols.mean(axis=0)
    var = ((cols - mu) ** 2).mean(axis=0)
    big_m = decay * np.asarray(old_mean, dtype=np.float64).reshape(c) + w * mu
    big_v = decay * np.asarray(old_var, dtype=np.float64).reshape(c) + w * var
    s = np.sqrt(big_v + eps)
    centred = cols - big_m
    y = g * centred / s + b
    s1 = dcols.sum(axis=0)
    t = (dcols * centred).sum(axis=0) / s**2
    dx = g / s * (dcols - w * s1 / m - w * (cols - mu) * t / m)
    return {
        "y": BATCH_NORM.from_columns(y, xa.shape),
        "dx": BATCH_NORM.from_columns(dx, xa.shape),
        "dgamma": (dcols * centred / s).sum(axis=0),
        "dbeta": s1,
    }
