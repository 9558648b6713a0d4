"""NumPy kernels of the family: every step in double-double, the result rounded once.

The data arrive as a float64 view ``x4`` of shape (Nb, G, Cg, inner): a reduction set is one
(Nb, G) slice, its m = Cg·inner values along the last two axes; the affine parameters have
shape (G, Cg) and broadcast as (1, G, Cg, 1). LayerNorm and RMSNorm are (S, 1, m, 1),
GroupNorm (N, G, C/G, H·W), InstanceNorm (N, C, 1, H·W).

Per set, with d = x − mu (centered) or d = x (RMS), as a double-double:

    forward    mu = Σx/m, v = Σd²/m (or Σx²/m), inv = 1/sqrt(v + eps), y = gamma·d·inv + beta
    backward   g = gamma·dy, A = Σg, B = Σg·d,
               dx = inv·(g − A/m − d·B·inv²/m)   (RMS: inv·(g − d·B·inv²/m))
               dgamma_p = Σ_{elements of p} dy·d·inv, dbeta_p = Σ_{elements of p} dy

Everything in double-double, so the bracket of dx keeps about 106 bits however much it
cancels; each result is rounded once to float64 and then to the dtype.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from bncheck.family.dd import (
    DD,
    dd_add,
    dd_div_d,
    dd_mul,
    dd_mul_d,
    dd_rsqrt,
    dd_sum,
    fast_two_sum,
    two_prod,
    two_sum,
)

F64 = NDArray[np.float64]


class SetStats(NamedTuple):
    """Per-set statistics, shape (Nb, G): mean (0 for RMS) and 1/sqrt(v + eps), double-double."""

    mean_hi: F64
    mean_lo: F64
    inv_hi: F64
    inv_lo: F64


def _set_sum(hi: F64, lo: F64 | None = None) -> DD:
    nb, g = hi.shape[:2]
    return dd_sum(hi.reshape(nb, g, -1), None if lo is None else lo.reshape(nb, g, -1))


def _e(a: F64) -> F64:
    """Per-set (Nb, G) → broadcastable over (Nb, G, Cg, inner)."""
    return a[:, :, None, None]


def centered(x4: F64, st: SetStats) -> DD:
    """x − mean as a double-double, elementwise."""
    a, b = two_sum(x4, -_e(st.mean_hi))
    return fast_two_sum(a, b - _e(st.mean_lo))


def statistics(x4: F64, eps: float, rms: bool) -> SetStats:
    nb, g, cg, inner = x4.shape
    m = cg * inner
    zero = np.zeros((nb, g))
    if rms:
        mean = (zero, zero)
        p, e = two_prod(x4, x4)
        v = _set_sum(p, e)
    else:
        # Σx in double-double errs by about u²·log2(m)·Σ|x|: no second pass needed
        mean = dd_div_d(_set_sum(x4), float(m))
        st0 = SetStats(mean[0], mean[1], zero, zero)
        dh, dl = centered(x4, st0)
        p, e = two_prod(dh, dh)
        v = _set_sum(p, e + 2.0 * dh * dl)
    v = dd_div_d(v, float(m))
    inv = dd_rsqrt(dd_add(v, (np.full_like(v[0], eps), np.zeros_like(v[0]))))
    return SetStats(mean[0], mean[1], inv[0], inv[1])


def _param(p: F64 | None) -> F64 | None:
    return None if p is None else p[None, :, :, None]


def forward(
    x4: F64, gamma: F64 | None, beta: F64 | None, eps: float, rms: bool
) -> tuple[F64, SetStats]:
    """y (float64, rounded once from double-double) and the statistics."""
    st = statistics(x4, eps, rms)
    d = (x4, np.zeros_like(x4)) if rms else centered(x4, st)
    n = dd_mul(d, (_e(st.inv_hi), _e(st.inv_lo)))
    g, b = _param(gamma), _param(beta)
    if g is not None:
        n = dd_mul_d(n, g)
    if b is not None:
        n = dd_add(n, (np.broadcast_to(b, n[0].shape), np.zeros(n[0].shape)))
    return n[0] + n[1], st


def _param_sum(hi: F64, lo: F64) -> F64:
    """Σ over the elements of each parameter (axes 0 and 3), rounded to float64: (G, Cg)."""
    nb, g, cg, inner = hi.shape

    def arrange(a: F64) -> F64:
        return np.ascontiguousarray(a.transpose(1, 2, 0, 3)).reshape(g * cg, nb * inner)

    s = dd_sum(arrange(hi), arrange(lo))
    return (s[0] + s[1]).reshape(g, cg)


def backward(
    dy4: F64, x4: F64, gamma: F64 | None, st: SetStats, rms: bool, want_beta: bool
) -> tuple[F64, F64 | None, F64 | None]:
    """dx (float64, rounded once), dgamma and dbeta of shape (G, Cg) (None when not asked)."""
    cg, inner = x4.shape[2:]
    m = float(cg * inner)
    gp = _param(gamma)
    gdy = (dy4, np.zeros_like(dy4)) if gp is None else two_prod(dy4, gp)
    d = (x4, np.zeros_like(x4)) if rms else centered(x4, st)
    inv = (st.inv_hi, st.inv_lo)
    gd = dd_mul(gdy, d)
    big_b = _set_sum(gd[0], gd[1])
    coef_b = dd_div_d(dd_mul(dd_mul(big_b, inv), inv), m)  # B·inv²/m
    db_ = dd_mul(d, (_e(coef_b[0]), _e(coef_b[1])))
    br = dd_add(gdy, (-db_[0], -db_[1]))
    if not rms:
        a = dd_div_d(_set_sum(gdy[0], gdy[1]), m)  # A/m
        br = dd_add(br, (-_e(a[0]), -_e(a[1])))
    dx = dd_mul(br, (_e(inv[0]), _e(inv[1])))
    dgamma = dbeta = None
    if gamma is not None:
        t = dd_mul(dd_mul_d(d, dy4), (_e(inv[0]), _e(inv[1])))
        dgamma = _param_sum(t[0], t[1])
    if want_beta:
        dbeta = _param_sum(dy4, np.zeros_like(dy4))
    return dx[0] + dx[1], dgamma, dbeta
