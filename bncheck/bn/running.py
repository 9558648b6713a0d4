"""Running (population) statistics: the conventions as one table, and pure update functions.

Each row of :data:`CONVENTIONS` says how a framework folds a batch's statistics into its running
estimate. With ``a`` the weight given to the *new* batch:

- ``torch``: ``new = (1 − momentum)·old + momentum·batch``, so a = momentum (default 0.1);
  the running variance is unbiased, m/(m−1)·sigma2_B. ``momentum=None`` gives the cumulative
  average over the batches seen: a = 1/t after the t-th batch.
- ``keras``: ``new = momentum·old + (1 − momentum)·batch``, so a = 1 − momentum (default 0.99);
  the running variance is biased. (Keras' default epsilon is 1e-3; pass ``eps=1e-3`` to match.)
- ``cumulative``: the arithmetic mean of all batch statistics so far (a = 1/t), with the unbiased
  variance: the "average over all batches" estimator of the source documents,
  E[x] = E[mu_B], Var[x] = m/(m−1)·E[sigma2_B]. Same as torch with momentum=None.

Initial values are running_mean = 0 and running_var = 1 in every convention. The update is
computed in float64 and rounded once to the dtype of the running statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from bncheck.bn._validation import check_unit_interval
from bncheck.exceptions import BatchNormError

__all__ = [
    "CONVENTIONS",
    "Convention",
    "RunningStats",
    "merge_shards",
    "resolve_momentum",
    "update_running",
]


@dataclass(frozen=True)
class Convention:
    """One running-statistics convention (a row of :data:`CONVENTIONS`)."""

    name: str
    default_momentum: float | None
    unbiased: bool
    #: momentum -> weight of the new batch; None means "decided by the batch count"
    momentum_is_new_weight: bool
    allows_momentum: bool
    allows_none: bool
    description: str


CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention(
            "torch", 0.1, True, True, True, True,
            "PyTorch: new = (1 - momentum)*old + momentum*batch; unbiased running var; "
            "momentum=None is the cumulative average",
        ),
        Convention(
            "keras", 0.99, False, False, True, False,
            "Keras: new = momentum*old + (1 - momentum)*batch; biased running var",
        ),
        Convention(
            "cumulative", None, True, True, False, True,
            "arithmetic mean of all batch statistics (the seed's E[mu_B], m/(m-1)E[sigma2_B])",
        ),
    )
}  # fmt: skip


class _Default:
    """Sentinel: use the convention's default momentum."""

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _Default()


class RunningStats(NamedTuple):
    """Running estimates after an update."""

    mean: NDArray[np.floating[Any]]
    var: NDArray[np.floating[Any]]
    num_batches_tracked: int


def get_convention(convention: object) -> Convention:
    if not isinstance(convention, str) or convention not in CONVENTIONS:
        names = ", ".join(repr(n) for n in CONVENTIONS)
        raise BatchNormError(f"convention={convention!r} is unknown; expected one of {names}")
    return CONVENTIONS[convention]


def resolve_momentum(convention: str, momentum: object = DEFAULT) -> float | None:
    """Validate ``momentum`` for ``convention``; DEFAULT becomes the convention's default."""
    conv = get_convention(convention)
    if isinstance(momentum, _Default):
        return conv.default_momentum
    if momentum is None:
        if not conv.allows_none:
            raise BatchNormError(
                f"momentum=None is not supported by convention={conv.name!r}; expected a "
                "number in [0, 1] (None means a cumulative average: use convention='torch' "
                "or 'cumulative')"
            )
        return None
    if not conv.allows_momentum:
        raise BatchNormError(
            f"momentum={momentum!r} is not used by convention={conv.name!r}, which averages "
            "all batches equally; pass momentum=None or leave it out"
        )
    return check_unit_interval("momentum", momentum)


def new_batch_weight(conv: Convention, momentum: float | None, t: int) -> float:
    """The weight a of the new batch in ``new = (1 − a)·old + a·batch`` for the t-th batch."""
    if momentum is None:
        return 1.0 / t
    return momentum if conv.momentum_is_new_weight else 1.0 - momentum


def update_running(
    running_mean: NDArray[np.floating[Any]],
    running_var: NDArray[np.floating[Any]],
    batch_mean: NDArray[np.floating[Any]],
    batch_var: NDArray[np.floating[Any]],
    m: int,
    *,
    convention: str = "torch",
    momentum: object = DEFAULT,
    unbiased: bool | None = None,
    num_batches_tracked: int = 0,
) -> RunningStats:
    """Fold one batch into the running statistics; returns new arrays, changes nothing.

    ``batch_var`` is the *biased* batch variance sigma2_B (eq 7) of a batch of ``m`` values per
    channel; ``unbiased`` (default: the convention's) decides whether m/(m−1)·sigma2_B is stored.
    """
    conv = get_convention(convention)
    mom = resolve_momentum(convention, momentum)
    use_unbiased = conv.unbiased if unbiased is None else bool(unbiased)
    if m < 2 and use_unbiased:
        raise BatchNormError(f"m={m}: the unbiased variance needs at least 2 values per channel")
    t = num_batches_tracked + 1
    a = new_batch_weight(conv, mom, t)
    bm = np.asarray(batch_mean, dtype=np.float64)
    bv = np.asarray(batch_var, dtype=np.float64)
    if use_unbiased:
        bv = bv * (m / (m - 1))
    old_mean = np.asarray(running_mean, dtype=np.float64)
    old_var = np.asarray(running_var, dtype=np.float64)
    # (1 − a)·old + a·batch, written as old + a·(batch − old): exact when a = 1 (first
    # cumulative batch) and monotone in a.
    new_mean = old_mean + a * (bm - old_mean)
    new_var = old_var + a * (bv - old_var)
    with np.errstate(over="ignore"):
        out_mean = new_mean.astype(running_mean.dtype)
        out_var = new_var.astype(running_var.dtype)
    for name, wide, narrow in (
        ("running_mean", new_mean, out_mean),
        ("running_var", new_var, out_var),
    ):
        if not np.isfinite(narrow).all():
            j = int(np.argmax(~np.isfinite(narrow)))
            raise BatchNormError(
                f"{name}[{j}] would become {float(wide[j]):.6g}, which overflows "
                f"{narrow.dtype}; use a wider dtype for the running statistics (dtype=np.float32)"
            )
    return RunningStats(out_mean, out_var, t)


def merge_shards(
    counts: NDArray[np.integer[Any]] | list[int],
    means: NDArray[np.floating[Any]],
    m2s: NDArray[np.floating[Any]],
) -> tuple[int, NDArray[np.float64], NDArray[np.float64]]:
    """Chan's parallel merge of per-shard (count, mean, M2) along axis 0.

    M2 = Σ (x − mean)² over a shard. Returns the total (count, mean, M2); the biased variance of
    the union is M2/count. Weighted by counts, so unequal shards merge exactly like the whole
    batch (an equal-weight average of shard statistics does not).
    """
    cnt = np.asarray(counts, dtype=np.int64)
    mu = np.asarray(means, dtype=np.float64)
    m2 = np.asarray(m2s, dtype=np.float64)
    if cnt.ndim != 1 or len(cnt) == 0 or mu.shape[:1] != cnt.shape or m2.shape != mu.shape:
        raise BatchNormError(
            f"counts, means, m2s have shapes {cnt.shape}, {mu.shape}, {m2.shape}; expected "
            "(S,), (S, C) and (S, C) with S >= 1 shards"
        )
    if (cnt <= 0).any():
        raise BatchNormError(f"counts={cnt.tolist()} must all be >= 1")
    n_a, mean_a, m2_a = int(cnt[0]), mu[0].copy(), m2[0].copy()
    for n_b, mean_b, m2_b in zip(cnt[1:], mu[1:], m2[1:], strict=True):
        n = n_a + int(n_b)
        delta = mean_b - mean_a
        mean_a = mean_a + delta * (int(n_b) / n)
        m2_a = m2_a + m2_b + delta**2 * (n_a * int(n_b) / n)
        n_a = n
    return n_a, mean_a, m2_a
