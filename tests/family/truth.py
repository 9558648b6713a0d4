"""mpmath truth of the family, for the tests: each reduction set computed with 50 digits.

Written from the definitions (the textbook closed forms of the derivation report), sharing no
code with ``bncheck.family``: the inputs are given as sets (S, m) with per-element parameters and
an integer parameter index per element; parameter gradients are summed per index in mpmath, so
every result is rounded once, to float64.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import mpmath
import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]


class Truth(NamedTuple):
    y: F64
    dx: F64
    dgamma: F64  # one per parameter index
    dbeta: F64


def exact(
    x: F64,
    gamma: F64 | None,
    beta: F64 | None,
    pidx: NDArray[np.intp],
    dy: F64,
    eps: float,
    rms: bool,
    nparams: int,
) -> Truth:
    """x, dy, pidx of shape (S, m); gamma, beta of shape (nparams,) or None."""
    s_count, m = x.shape
    y = np.empty((s_count, m))
    dx = np.empty((s_count, m))
    with mpmath.workdps(50):
        mp = mpmath.mpf
        g = [mp(1)] * nparams if gamma is None else [mp(float(v)) for v in gamma]
        b = [mp(0)] * nparams if beta is None else [mp(float(v)) for v in beta]
        dg: list[Any] = [mp(0)] * nparams
        db: list[Any] = [mp(0)] * nparams
        for s in range(s_count):
            xs = [mp(float(v)) for v in x[s]]
            ds = [mp(float(v)) for v in dy[s]]
            ps = [int(p) for p in pidx[s]]
            mu = mp(0) if rms else mpmath.fsum(xs) / m
            d = [v - mu for v in xs]
            v2 = mpmath.fsum(t * t for t in d) / m
            inv = 1 / mpmath.sqrt(v2 + mp(eps))
            xh = [t * inv for t in d]
            gd = [ds[i] * g[ps[i]] for i in range(m)]
            a = mp(0) if rms else mpmath.fsum(gd) / m
            bb = mpmath.fsum(gd[i] * xh[i] for i in range(m)) / m
            for i in range(m):
                y[s, i] = float(g[ps[i]] * xh[i] + b[ps[i]])
                dx[s, i] = float(inv * (gd[i] - a - xh[i] * bb))
                dg[ps[i]] += ds[i] * xh[i]
                db[ps[i]] += ds[i]
        return Truth(y, dx, np.array([float(v) for v in dg]), np.array([float(v) for v in db]))
