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
- ``zero-debiased``: Haiku's (``hk.ExponentialMovingAverage(zero_debias=True)``) and TensorFlow's
  zero-debiased moving average: a hidden average starting at 0, hidden = momentum·hidden +
  (1 − momentum)·batch, reported as hidden/(1 − momentum^t). The same as an update of the
  reported value with a weight that shrinks from 1: a = (1 − momentum)/(1 − momentum^t); biased
  variance; the initial values do not matter (a = 1 at t = 1).
- ``filled-ema``: Equinox's ``mode="ema"``: the first batch's statistics fill the running pair
  (a = 1 at t = 1), then new = momentum·old + (1 − momentum)·batch; biased variance.

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


@dataclass(frozen=True, kw_only=True)
class Convention:
    """One running-statistics convention (a row of :data:`CONVENTIONS`), keyword fields only.

    Examples
    --------
    >>> from bncheck.bn.running import CONVENTIONS
    >>> keras = CONVENTIONS["keras"]
    >>> keras.default_momentum, keras.unbiased, keras.momentum_is_new_weight
    (0.99, False, False)
    >>> sorted(CONVENTIONS)
    ['cumulative', 'filled-ema', 'keras', 'torch', 'zero-debiased']
    """

    #: the key of the row (``convention=`` of the layer, ``--convention`` of verify)
    name: str
    #: the momentum used when none is given (None: the cumulative average)
    default_momentum: float | None
    #: whether the running variance stores m/(m − 1)·sigma2_B (else sigma2_B)
    unbiased: bool
    #: whether momentum is the weight a of the new batch (else a = 1 − momentum)
    momentum_is_new_weight: bool
    #: whether a numeric momentum is accepted
    allows_momentum: bool
    #: whether momentum=None (a = 1/t, the cumulative average) is accepted
    allows_none: bool
    #: one line for tables (the running-statistics report)
    description: str
    #: how the weight of the new batch moves with the step t: "constant" (the momentum's),
    #: "zero-debiased" ((1 − momentum)/(1 − momentum^t)) or "filled" (1 at t = 1, then the
    #: momentum's)
    schedule: str = "constant"


#: The conventions, by name: every list of convention choices is derived from this table.
CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention(
            name="torch",
            default_momentum=0.1,
            unbiased=True,
            momentum_is_new_weight=True,
            allows_momentum=True,
            allows_none=True,
            description="PyTorch: new = (1 - momentum)*old + momentum*batch; unbiased running "
            "var; momentum=None is the cumulative average",
        ),
        Convention(
            name="keras",
            default_momentum=0.99,
            unbiased=False,
            momentum_is_new_weight=False,
            allows_momentum=True,
            allows_none=False,
            description="Keras: new = momentum*old + (1 - momentum)*batch; biased running var",
        ),
        Convention(
            name="cumulative",
            default_momentum=None,
            unbiased=True,
            momentum_is_new_weight=True,
            allows_momentum=False,
            allows_none=True,
            description="arithmetic mean of all batch statistics (the source's E[mu_B], "
            "m/(m-1)E[sigma2_B])",
        ),
        Convention(
            name="zero-debiased",
            default_momentum=0.99,
            unbiased=False,
            momentum_is_new_weight=False,
            allows_momentum=True,
            allows_none=False,
            description="Haiku: hidden = momentum*hidden + (1 - momentum)*batch from 0, "
            "reported as hidden/(1 - momentum^t); biased running var",
            schedule="zero-debiased",
        ),
        Convention(
            name="filled-ema",
            default_momentum=0.99,
            unbiased=False,
            momentum_is_new_weight=False,
            allows_momentum=True,
            allows_none=False,
            description="Equinox mode='ema': the first batch fills, then new = momentum*old + "
            "(1 - momentum)*batch; biased running var",
            schedule="filled",
        ),
    )
}


class _Default:
    """Sentinel: use the convention's default momentum."""

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _Default()


class RunningStats(NamedTuple):
    """Running estimates after an update; returned by :func:`update_running`.

    Attributes
    ----------
    mean, var : arrays of shape (C,)
        The new running mean and variance, in the dtype of the running statistics.
    num_batches_tracked : int
        The batch count including this batch.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.bn.running import update_running
    >>> stats = update_running(np.zeros(2), np.ones(2), np.ones(2), np.ones(2), m=4)
    >>> stats.num_batches_tracked, stats.mean.shape
    (1, (2,))
    """

    mean: NDArray[np.floating[Any]]
    var: NDArray[np.floating[Any]]
    num_batches_tracked: int


def get_convention(convention: object) -> Convention:
    if not isinstance(convention, str) or convention not in CONVENTIONS:
        names = ", ".join(repr(n) for n in CONVENTIONS)
        raise BatchNormError(f"convention={convention!r} is unknown; expected one of {names}")
    return CONVENTIONS[convention]


def resolve_momentum(convention: str, momentum: object = DEFAULT) -> float | None:
    """Validate ``momentum`` for ``convention``; DEFAULT becomes the convention's default.

    Parameters
    ----------
    convention : str
        A key of :data:`CONVENTIONS`.
    momentum : float in [0, 1], None or DEFAULT
        In the convention's own meaning; None (torch, cumulative) means the cumulative
        average; ``DEFAULT`` (the default) the convention's default.

    Returns
    -------
    float or None
        The momentum to use.

    Raises
    ------
    TypeError
        ``momentum`` is not a real number.
    BatchNormError
        An unknown convention, a momentum outside [0, 1], None for keras, or a number for
        cumulative.

    Examples
    --------
    >>> from bncheck.bn.running import resolve_momentum
    >>> resolve_momentum("keras"), resolve_momentum("torch", None), resolve_momentum("torch", 0.2)
    (0.99, None, 0.2)
    >>> resolve_momentum("keras", None)
    Traceback (most recent call last):
    ...
    bncheck.exceptions.BatchNormError: momentum=None is not supported by convention='keras'; ...
    """
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
    a = momentum if conv.momentum_is_new_weight else 1.0 - momentum
    if conv.schedule == "filled" and t == 1:
        return 1.0
    if conv.schedule == "zero-debiased":
        # hidden/(1 − kept^t) moves by a/(1 − kept^t) of the gap (kept = 1: never moves)
        return a / (1.0 - (1.0 - a) ** t) if a > 0 else 0.0
    return a


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

    With ``a`` the weight of the new batch (see the module docstring),
    ``new = old + a·(batch − old)``, computed in float64 and rounded once to the dtype of the
    running statistics.

    Parameters
    ----------
    running_mean, running_var : arrays of shape (C,)
        The current running statistics (not modified).
    batch_mean : array of shape (C,)
        The batch mean mu_B (eq 6).
    batch_var : array of shape (C,)
        The *biased* batch variance sigma2_B (eq 7) of a batch of ``m`` values per channel.
    m : int
        Values per channel in the batch.
    convention : "torch", "keras", "cumulative", "zero-debiased" or "filled-ema"
        A key of :data:`CONVENTIONS`.
    momentum : float in [0, 1], None or DEFAULT
        As for :func:`resolve_momentum`.
    unbiased : bool or None
        Whether m/(m−1)·sigma2_B is stored; None: the convention's default.
    num_batches_tracked : int
        Batches folded in so far (the cumulative average weighs the t-th batch by 1/t).

    Returns
    -------
    RunningStats
        ``(mean, var, num_batches_tracked + 1)``.

    Raises
    ------
    BatchNormError
        An unknown convention or bad momentum, ``m < 2`` with the unbiased variance, or a
        result that overflows the dtype of the running statistics.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.bn.running import update_running
    >>> mean, var = np.zeros(2), np.ones(2)  # the initial running statistics
    >>> batch_mean, batch_var = np.array([1.0, 2.0]), np.array([3.0, 3.0])
    >>> new = update_running(mean, var, batch_mean, batch_var, 4)  # torch: a = 0.1, unbiased
    >>> np.round(new.mean, 6).tolist(), np.round(new.var, 6).tolist(), new.num_batches_tracked
    ([0.1, 0.2], [1.3, 1.3], 1)
    >>> new = update_running(mean, var, batch_mean, batch_var, 4, convention="cumulative")
    >>> new.mean.tolist(), new.var.tolist()  # a = 1/t = 1 for the first batch
    ([1.0, 2.0], [4.0, 4.0])
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

    M2 = Σ (x − mean)² over a shard. Weighted by counts, so unequal shards merge exactly like
    the whole batch (an equal-weight average of shard statistics does not).

    Parameters
    ----------
    counts : array of shape (S,) of ints >= 1
        Values per channel in each of the S >= 1 shards.
    means, m2s : arrays of shape (S, C)
        Each shard's per-channel mean and M2.

    Returns
    -------
    count : int
        The total count.
    mean, m2 : float64 arrays of shape (C,)
        The mean and M2 of the union; its biased variance is M2/count.

    Raises
    ------
    BatchNormError
        Inconsistent shapes, no shard, or a count < 1.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.bn.running import merge_shards
    >>> x = np.random.default_rng(0).standard_normal((10, 2))
    >>> shards = [x[:3], x[3:]]
    >>> means = np.array([s.mean(axis=0) for s in shards])
    >>> m2s = np.array([((s - s.mean(axis=0)) ** 2).sum(axis=0) for s in shards])
    >>> n, mean, m2 = merge_shards([3, 7], means, m2s)
    >>> n, np.allclose(mean, x.mean(axis=0)), np.allclose(m2 / n, x.var(axis=0))
    (10, True, True)
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
