"""The diagnosis ``debias-nonzero-start``: a zero-debiased moving average that did not start at 0.

A zero-debiased average keeps hidden_t = d·hidden_{t−1} + (1 − d)·b_t and reports
hidden_t / (1 − d^t): that is the average of the batch statistics b_1 … b_t with weights
∝ d^(t−i) only when hidden_0 = 0. A layer whose hidden value starts elsewhere (Equinox's
``mode="batch"`` starts its hidden variance at 1, its mean at 0) reports

    reported_t = ZD_t + hidden_0·d^t / (1 − d^t),

ZD_t the zero-debiased average: eval normalizes by a variance too large by d^t/(1 − d^t)
(99 after one step of d = 0.99, 9.5 after ten). The model is fitted, not assumed: hidden_0 is
read from the observed statistics at every step, and named only when one value per channel
reproduces every step (the running check's budget judges the trajectory it gives).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from bncheck.check.norms import BATCH_NORM

__all__ = ["DEBIAS_START", "fit_debias_start"]

#: the mistake id (a row of :data:`~bncheck.check._verify.diagnosis.mistakes.MISTAKES`)
DEBIAS_START = "debias-nonzero-start"

F64 = NDArray[np.float64]


def _batch_stats(x: Any, unbiased: bool) -> tuple[F64, F64]:
    cols = BATCH_NORM.columns(np.asarray(x, dtype=np.float64), dtype=None)
    m = cols.shape[0]
    mean = cols.mean(axis=0)
    var = ((cols - mean) ** 2).sum(axis=0) / (m - 1 if unbiased else m)
    return mean, var


def fit_debias_start(
    batches: list[Any],
    observed: list[tuple[Any, Any]],
    decay: float,
    unbiased: bool,
) -> tuple[list[tuple[F64, F64]], F64, F64, str] | None:
    """The trajectory of a zero-debiased average whose hidden value started at the fitted
    (hidden mean, hidden variance), those starting values, and a line saying what was fitted;
    None when the model does not apply (a decay outside (0, 1), fewer than one step, or a
    start that is not finite).

    ``decay`` is the weight of the old hidden value (Haiku's ``decay_rate``, Equinox's
    ``momentum``); the start is read from the last step (whose factor d^t/(1 − d^t) is the
    smallest, hence least sensitive to rounding) and the caller judges the whole trajectory.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check._verify.diagnosis.debias import fit_debias_start
    >>> rng = np.random.default_rng(0)
    >>> xs = [rng.normal(3, 2, size=(8, 2)) for _ in range(3)]
    >>> d, hm, hv, seen = 0.9, np.zeros(2), np.ones(2), []
    >>> for t, x in enumerate(xs, start=1):
    ...     hm, hv = d * hm + (1 - d) * x.mean(0), d * hv + (1 - d) * x.var(0)
    ...     seen.append((hm / (1 - d**t), hv / (1 - d**t)))
    >>> _, m0, v0, _ = fit_debias_start(xs, seen, d, unbiased=False)
    >>> np.round(m0, 9).tolist(), np.round(v0, 9).tolist()
    ([0.0, 0.0], [1.0, 1.0])
    """
    if not 0.0 < decay < 1.0 or not batches or len(batches) != len(observed):
        return None
    stats = [_batch_stats(x, unbiased) for x in batches]
    zd: list[tuple[F64, F64]] = []
    hidden_m = np.zeros_like(stats[0][0])
    hidden_v = np.zeros_like(stats[0][1])
    for t, (bm, bv) in enumerate(stats, start=1):
        hidden_m = decay * hidden_m + (1 - decay) * bm
        hidden_v = decay * hidden_v + (1 - decay) * bv
        zd.append((hidden_m / (1 - decay**t), hidden_v / (1 - decay**t)))
    t_last = len(stats)
    factor = decay**t_last / (1 - decay**t_last)
    om, ov = (np.asarray(v, dtype=np.float64) for v in observed[-1])
    start_m = (om - zd[-1][0]) / factor
    start_v = (ov - zd[-1][1]) / factor
    if not (np.all(np.isfinite(start_m)) and np.all(np.isfinite(start_v))):
        return None
    model = []
    for t, (zm, zv) in enumerate(zd, start=1):
        f = decay**t / (1 - decay**t)
        model.append((zm + start_m * f, zv + start_v * f))
    first = decay / (1 - decay)
    scale = max(1.0, *(float(np.max(np.abs(v))) for pair in stats for v in pair))
    text = (
        f"a zero-debiased average (decay {decay:g}, {'unbiased' if unbiased else 'biased'} "
        f"batch variance) whose hidden values started at mean {_fmt(start_m, scale)}, variance "
        f"{_fmt(start_v, scale)} instead of 0: the reported statistics carry start·d^t/(1 − d^t) "
        f"too much ({first:.3g}·start after one step, "
        f"{decay**t_last / (1 - decay**t_last):.3g}·start after {t_last})"
    )
    return model, start_m, start_v, text


def _fmt(values: F64, scale: float) -> str:
    """The distinct values to three figures of ``scale`` (the statistics' size: rounding
    noise reads as 0)."""
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    digits = 2 - int(np.floor(np.log10(max(scale, 1e-300))))
    rounded = sorted({float(np.round(v, digits)) + 0.0 for v in flat})
    if len(rounded) == 1:
        return f"{rounded[0]:g}"
    return "[" + ", ".join(f"{v:g}" for v in rounded[:4]) + "]"
