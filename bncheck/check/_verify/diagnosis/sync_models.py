"""Budgets and models of mistakes for synchronized BN (``verify(..., world_size=K)``).

The shards. A global batch of m values per channel is split by rows among K ranks; rank r
holds n_r values per channel (mu_r, var_r its local mean and biased variance).

Budget (docs/design.md, "Distributed BN"). The single-process budget of
:func:`bncheck.check.tolerances.error_budget` covers a plain two-pass BN with summation along
the batch. A synchronized BN adds three things:

- its sums are split: each rank sums its n_r values, then the all-reduce adds K partial sums.
  Every term still passes through at most n_r − 1 + K − 1 <= m − 1 additions (every other
  shard holds at least one value), so the summation factor g = g(m) of the global batch
  still bounds it (the probabilistic bound holds for any summation tree of that depth);
- the K partial sums of dgamma and dbeta are added in float64 by verify itself (each rank
  returns its local sums, the DDP contract below): K − 1 float64 additions, below one unit
  of any dtype checked;
- Chan's merge of the local statistics, var = [Σ M2_r + Σ n_r (mu_r − mu)²]/m with
  M2_r = Σ_i∈r (x_i − mu_r)², computed around the *computed* local means mu_r + Δ_r
  (|Δ_r| <= g·u·M). Exactly, Σ_i (x_i − c)² = Σ_r [M2_r(c_r) + 2(c_r − c)·Σ_i∈r (x_i − c_r) +
  n_r (c_r − c)²] for any centres c_r, c: the merge drops the middle term, which with
  c_r = mu_r + Δ_r equals −2 n_r (mu_r − mu)·Δ_r to first order. Unlike the single-process
  two-pass variance (insensitive to the mean's error to first order), the merged variance
  therefore errs, relative to s² = var + eps, by up to 2·g·u·kappa_s·W with kappa_s = M/s
  and W = Σ_r n_r |mu_r − mu| / (m·s) (the shards' spread of means, in units of s), plus 4
  roundings of the merge (the difference of means, its square, the product with n_r, the
  division by m). Halved for s: E_s = g·kappa_s·W + 2, in units of u.

So a check allows ``budget_j + K2_j·E_s,j`` normwise ULP per channel j, K2 the output's
sensitivity to a relative error of s in units of its scale (the ``K2`` of the tolerances
module): 2 for y; 1 + 2·nu·|S2|/(m·P) for dx (a relative error ε of s scales dx by 1 − ε and
x_hat·S2 by 1 − 2ε); Σ|dy·x_hat|_j/max|S2| for dgamma; 0 for dbeta. A careful merge (the
reference :class:`bncheck.check.sync_batchnorm.SyncBatchNorm` adds the dropped term back)
does not need the extra; plain Chan merges (PyTorch's SyncBatchNorm) do. The running
statistics allow ``running_budget(t, m)·max(|e|, 1)`` plus the merged variance's error,
2·u·E_s·var_B·m/(m − 1) (the batches' weights in the running value sum to at most 1).

Models. A mistake is named only when its model reproduces the outputs within 4 budgets + 64
ULP (:data:`bncheck.check.tolerances.MODEL_MATCH`, the slack of a model evaluated in float64):

- ``sync-equal-weight-merge``: mu = mean_r mu_r, var = mean_r mean_i∈r (x_i − mu)²
  (equal to mean_r E_r[x²] − mu²); its exact gradient weighs value i by w_i = 1/(K·n_r);
- ``sync-missing-between-shard-variance``: var = Σ_r n_r var_r / m (within-shard only);
- ``sync-one-pass-variance``: var = E[x²] − E[x]² in the dtype; its error is rounding, so the
  model is "the right mean, and a variance within the one-pass error bound (3g + 3)·u·E[x²]
  of the true one", fitted per channel from y. Distinguishable only where that bound exceeds
  the two-pass budget: a mean large against the spread (|mu|/sigma ~ 1e3 in float32, 1e6 in
  float64); on centred data a one-pass variance is as accurate as a two-pass one and passes;
- ``sync-local-gradient-sums``: dx with the per-rank sums Σ_i∈r dy and Σ_i∈r dy·x_hat (not
  all-reduced), divided by m (autograd through an all-reduce it cannot see) or by n_r.

For each forward model, dx is tried as its exact gradient, dx_i = gamma/s·(dy_i − w_i·S1 −
w_i·d_i/s·S2) with d_i the deviation its variance uses, and as the textbook formula
evaluated with its statistics (a hand-written backward), each with global or local sums.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from bncheck.check._verify.diagnosis.fits import Finding
from bncheck.check.conditions import channel_condition
from bncheck.check.metrics import compare
from bncheck.check.norms import BATCH_NORM, columns, from_columns
from bncheck.check.tolerances import MODEL_MATCH, summation_factor, unit_roundoff

__all__ = ["Judged", "Shards", "diagnose_backward", "diagnose_forward", "judge", "merge_term"]

F64 = NDArray[np.float64]
LOCAL = "sync-local-gradient-sums"
EQUAL = "sync-equal-weight-merge"
BETWEEN = "sync-missing-between-shard-variance"
ONE_PASS = "sync-one-pass-variance"


def cols(a: Any) -> F64:
    """(N, C, ...) -> (m, C) float64, rows in (n, spatial) order: the columns of
    :data:`~bncheck.check.norms.BATCH_NORM` (synchronized BN shards a batch by its rows)."""
    return columns(a, BATCH_NORM)


def uncols(c: F64, shape: tuple[int, ...]) -> F64:
    """The inverse of :func:`cols`."""
    return from_columns(c, shape, BATCH_NORM)


class Shards:
    """A global batch split by rows among ranks: (m, C) columns and each value's rank."""

    def __init__(self, x: Any, rows: list[int]) -> None:
        xa = np.asarray(x, dtype=np.float64)
        self.shape = xa.shape
        per_row = int(np.prod(xa.shape[2:], dtype=np.int64))
        self.x = cols(xa)
        self.k = len(rows)
        self.rank = np.repeat(np.arange(self.k), np.asarray(rows) * per_row)
        self.n = np.asarray(rows, dtype=np.float64) * per_row
        self.m = self.x.shape[0]
        self.mu = self.x.mean(axis=0)
        self.var = ((self.x - self.mu) ** 2).mean(axis=0)
        self.local_mu = np.stack([self.x[self.rank == r].mean(axis=0) for r in range(self.k)])
        dev = self.x - self.local_mu[self.rank]
        self.local_var = np.stack([(dev[self.rank == r] ** 2).mean(axis=0) for r in range(self.k)])

    def local_sum(self, v: F64) -> F64:
        """Per value: the sum of v over the values of its own rank."""
        sums = np.stack([v[self.rank == r].sum(axis=0) for r in range(self.k)])
        out: F64 = sums[self.rank]
        return out


def merge_term(sh: Shards, eps: float, dtype: Any) -> F64:
    """E_s per channel, in units of u: the relative error of s that Chan's merge may add."""
    s = np.sqrt(sh.var + eps)
    spread = (sh.n[:, None] * np.abs(sh.local_mu - sh.mu)).sum(axis=0) / (sh.m * s)
    kappa = channel_condition(uncols(sh.x, sh.shape), eps, 1)
    out: F64 = summation_factor(sh.m, dtype) * kappa * spread + 2.0
    return out


class Judged(NamedTuple):
    """One output against a reference: the worst channel's ULP and budget (with the merge
    term), whether every channel is within its budget, and the worst entry's index."""

    ulp: float
    budget: float
    passed: bool
    where: tuple[int, ...]


def _sensitivity(name: str, sh: Shards, eps: float, dy: Any) -> F64:
    """K2 per channel (module docstring); dgamma's is relative to the largest |S2|."""
    c = sh.x.shape[1]
    if name == "y":
        return np.full(c, 2.0)
    if name == "dbeta" or dy is None:
        return np.zeros(c)
    s = np.sqrt(sh.var + eps)
    xh = (sh.x - sh.mu) / s
    d = cols(dy)
    s2 = (d * xh).sum(axis=0)
    if name == "dgamma":
        out: F64 = np.abs(d * xh).sum(axis=0) / max(float(np.abs(s2).max()), 1e-300)
        return out
    p = np.abs(d - d.mean(axis=0) - xh * s2 / sh.m).max(axis=0)
    nu = np.abs(xh).max(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        k2 = np.where(p > 0, 1.0 + 2.0 * nu * np.abs(s2) / (sh.m * p), np.inf)
    return np.asarray(k2)


def judge(
    name: str,
    got: Any,
    ref: Any,
    sh: Shards,
    x: Any,
    eps: float,
    dtype: Any,
    extra: F64,
    *,
    gamma: Any = None,
    dy: Any = None,
    slack: float = 1.0,
    floor: float = 0.0,
) -> Judged:
    """Compare ``got`` with ``ref`` (the truth, or a model: then ``slack`` and ``floor`` from
    :data:`~bncheck.check.tolerances.MODEL_MATCH`) channel by channel, allowing each channel
    its budget plus K2·E_s (module docstring)."""
    k2 = _sensitivity(name, sh, eps, dy)
    g = np.asarray(got, dtype=np.float64)
    r = np.asarray(ref, dtype=np.float64)
    if g.shape != r.shape:
        return Judged(np.inf, 0.0, False, ())
    if name in ("dgamma", "dbeta"):
        cmp = compare(g, r, name, dtype, x=x, eps=eps, spec=BATCH_NORM, dy=dy)
        allowed = slack * (cmp.budget + float(np.max(k2 * extra))) + floor
        return Judged(cmp.ulp, allowed, bool(cmp.ulp <= allowed), cmp.worst_index)
    rows: list[tuple[float, float, tuple[int, ...]]] = []
    xa = np.asarray(x)
    for j in range(g.shape[1]):
        sl = (slice(None), slice(j, j + 1))
        gj = None if gamma is None else np.asarray(gamma, dtype=np.float64)[j : j + 1]
        cmp = compare(
            g[sl],
            r[sl],
            name,
            dtype,
            x=xa[sl],
            eps=eps,
            spec=BATCH_NORM,
            dy=None if dy is None else np.asarray(dy)[sl],
            gamma=gj,
        )
        allowed = slack * (cmp.budget + float(k2[j] * extra[j])) + floor
        rows.append((cmp.ulp, allowed, (*cmp.worst_index[:1], j, *cmp.worst_index[2:])))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = [u / a if a > 0 else (0.0 if u == 0 else np.inf) for u, a, _ in rows]
    j = int(np.argmax(np.nan_to_num(ratios, nan=np.inf)))
    ulp, allowed, idx = rows[j]
    return Judged(ulp, allowed, all(u <= a for u, a, _ in rows), idx)


# -- models -------------------------------------------------------------------------------------


class Model(NamedTuple):
    """A forward computation: its statistics, the weight w_i of each value in its mean and
    the deviation d_i its variance uses (for the exact gradient)."""

    ids: tuple[str, ...]
    mu: F64
    var: F64 | None  # None: fitted from y within the one-pass bound
    w: F64  # (m, 1)
    d: F64  # (m, C)


def models(sh: Shards, *, fit: bool = True) -> list[Model]:
    """The correct computation first, then each mistake and their pairs."""
    k = sh.k
    w_count = np.full((sh.m, 1), 1.0 / sh.m)
    w_equal = (1.0 / (k * sh.n[sh.rank]))[:, None]
    mu_e = sh.local_mu.mean(axis=0)
    dev_local = sh.x - sh.local_mu[sh.rank]
    var_e = np.stack([((sh.x[sh.rank == r] - mu_e) ** 2).mean(axis=0) for r in range(k)])
    out = [
        Model((), sh.mu, sh.var, w_count, sh.x - sh.mu),
        Model((EQUAL,), mu_e, var_e.mean(axis=0), w_equal, sh.x - mu_e),
        Model(
            (BETWEEN,), sh.mu, (sh.n[:, None] * sh.local_var).sum(axis=0) / sh.m, w_count, dev_local
        ),
        Model((EQUAL, BETWEEN), mu_e, sh.local_var.mean(axis=0), w_equal, dev_local),
    ]
    if fit:
        out += [
            Model((ONE_PASS,), sh.mu, None, w_count, sh.x - sh.mu),
            Model((EQUAL, ONE_PASS), mu_e, None, w_equal, sh.x - mu_e),
        ]
    return out


def _fit_var(
    model: Model, sh: Shards, gamma: F64, beta: F64, eps: float, y: Any, dtype: Any
) -> F64 | None:
    """The variance the one-pass model needs to give y, when it lies within the one-pass
    error bound (3g + 3)·u·E[x²] of the true variance (around the model's mean)."""
    yc = cols(y) - beta
    xc = sh.x - model.mu
    with np.errstate(all="ignore"):
        slope = (yc * xc).sum(axis=0) / (xc**2).sum(axis=0)
        s = gamma / slope
        var = s**2 - eps
    if not (np.all(np.isfinite(var)) and np.all(s > 0) and np.all(var + eps > 0)):
        return None
    ref = (model.w * xc**2).sum(axis=0)
    second = (model.w * sh.x**2).sum(axis=0)
    u = unit_roundoff(dtype)
    g = summation_factor(sh.m, dtype)
    bound = (3 * g + 3) * u * second + 2 * (g + 16) * u * (ref + eps)
    return var if bool(np.all(np.abs(var - ref) <= bound)) else None


def _params(gamma: Any, beta: Any, c: int) -> tuple[F64, F64]:
    g = np.ones(c) if gamma is None else np.asarray(gamma, dtype=np.float64).reshape(c)
    b = np.zeros(c) if beta is None else np.asarray(beta, dtype=np.float64).reshape(c)
    return g, b


class _Judge:
    """:func:`judge` with a case's fixed arguments: whether ``got`` is within the budget of
    ``ref`` (``model``: within :data:`~bncheck.check.tolerances.MODEL_MATCH`, 4 budgets + 64
    ULP, the slack of a model in float64)."""

    def __init__(
        self, sh: Shards, x: Any, eps: float, dtype: Any, extra: F64, g: F64, dy: Any
    ) -> None:
        self.args = (sh, x, eps, dtype, extra)
        self.g, self.dy = g, dy

    def __call__(self, name: str, got: Any, ref: Any, model: bool = False) -> bool:
        kw: dict[str, Any] = (
            {"slack": MODEL_MATCH.budgets, "floor": MODEL_MATCH.ulp} if model else {}
        )
        gamma = self.g if name in ("y", "dx") else None
        dy = None if name == "y" else self.dy
        return judge(name, got, ref, *self.args, gamma=gamma, dy=dy, **kw).passed


def diagnose_forward(
    sh: Shards,
    gamma: Any,
    beta: Any,
    eps: float,
    y: Any,
    truth: Any,
    dtype: Any,
    extra: F64,
    x: Any,
) -> Finding:
    """The first mistake model (or pair) that differs from the truth on these data and whose
    y reproduces the target's y."""
    g, b = _params(gamma, beta, sh.x.shape[1])
    ok = _Judge(sh, x, eps, dtype, extra, g, None)
    for model in models(sh)[1:]:
        var = model.var if model.var is not None else _fit_var(model, sh, g, b, eps, y, dtype)
        if var is None:
            continue
        out = uncols(g * (sh.x - model.mu) / np.sqrt(var + eps) + b, sh.shape)
        if ok("y", out, truth) or not ok("y", y, out, model=True):
            continue  # indistinguishable from the truth here (equal shards), or not the target
        how = "fitted within the one-pass error bound" if model.var is None else "modelled"
        return Finding(
            list(model.ids), f"y matches mean and variance {how} as " + " + ".join(model.ids)
        )
    return Finding([], "")


def _dx_variants(model: Model, sh: Shards, g: F64, s: F64, dy: F64) -> list[tuple[bool, F64]]:
    """(uses local sums, dx): the model's exact gradient and the textbook formula with its
    statistics, with global sums; then with each rank's own sums (module docstring)."""
    xh = (sh.x - model.mu) / s
    dev, w = model.d / s, model.w
    s1, s2 = dy.sum(axis=0), (dy * xh).sum(axis=0)
    l1, l2 = sh.local_sum(dy), sh.local_sum(dy * xh)
    base = dy - w * l1 - w * dev * l2
    n = sh.n[sh.rank][:, None]
    return [
        (False, g / s * (dy - w * s1 - w * dev * s2)),
        (False, g / s * (dy - s1 / sh.m - xh * s2 / sh.m)),
        # autograd through an all-reduce it cannot see: dL/dmu also collects the rank's own
        # Σ w·d, which vanishes only over all ranks (a two-pass variance), or not (one-pass)
        (True, g / s * (base + w * l2 * sh.local_sum(w * dev))),
        (True, g / s * base),
        (True, g / s * (dy - l1 / sh.m - xh * l2 / sh.m)),
        (True, g / s * (dy - l1 / n - xh * l2 / n)),
    ]


def diagnose_backward(
    sh: Shards,
    gamma: Any,
    beta: Any,
    eps: float,
    dy: Any,
    y: Any,
    grads: dict[str, Any],
    truth: dict[str, Any],
    dtype: Any,
    extra: F64,
    x: Any,
) -> Finding:
    """The first model whose dx (exact gradient or formula, global or local sums) and summed
    dgamma and dbeta differ from the truth on these data and reproduce the target's."""
    g, b = _params(gamma, beta, sh.x.shape[1])
    d = cols(dy)
    ok = _Judge(sh, x, eps, dtype, extra, g, dy)
    for model in models(sh, fit=y is not None):
        var = model.var if model.var is not None else _fit_var(model, sh, g, b, eps, y, dtype)
        if var is None:
            continue
        s = np.sqrt(var + eps)
        wanted = {"dgamma": (d * (sh.x - model.mu) / s).sum(axis=0), "dbeta": d.sum(axis=0)}
        if any(
            grads.get(k) is not None and not ok(k, grads[k], v, model=True)
            for k, v in wanted.items()
        ):
            continue
        for local, dx in _dx_variants(model, sh, g, s, d):
            wanted["dx"] = uncols(dx, sh.shape)
            if all(ok(k, v, truth[k]) for k, v in wanted.items() if truth.get(k) is not None):
                continue  # indistinguishable from the truth here (the correct backward)
            if ok("dx", grads["dx"], wanted["dx"], model=True):
                ids = [*model.ids, *([LOCAL] if local else [])]
                return Finding(ids, "dx, dgamma and dbeta match " + " + ".join(ids))
    return Finding([], "")


def batch_stats(x: Any, rows: list[int]) -> dict[tuple[str, ...], tuple[F64, F64]]:
    """(mean, biased variance) of one batch per non-fitted model, by mistake ids."""
    sh = Shards(x, rows)
    return {m.ids: (m.mu, m.var) for m in models(sh, fit=False) if m.var is not None}
