"""A layer's running statistics and its eval mode, checked together as a training loop uses
them: the running mean and variance after a few training batches against the conventions of
:data:`bncheck.bn.running.CONVENTIONS`, within the running budget of
:mod:`bncheck.check.tolerances` (a mismatch is diagnosed by the convention it does follow: the
other variance bias, the other meaning of momentum); then the eval output against the truth with
the layer's own running statistics (``eval``), and an eval forward that changes no state and
repeats exactly (``eval-state``)."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from bncheck.bn.running import CONVENTIONS, update_running
from bncheck.check._verify.checks.case import worst_entries
from bncheck.check._verify.checks.inputs import SHAPES
from bncheck.check._verify.diagnosis.debias import DEBIAS_START, fit_debias_start
from bncheck.check._verify.diagnosis.fits import diagnose_eval
from bncheck.check._verify.process.worker import TargetProcess
from bncheck.check._verify.results import CheckResult, Options
from bncheck.check.metrics import compare
from bncheck.check.norms import BATCH_NORM, Member
from bncheck.check.tolerances import INFERENCE, running_budget
from bncheck.check.truth import exact_batchnorm, exact_inference
from bncheck.exceptions import BatchNormError, TargetError

__all__ = [
    "ALTERNATIVES",
    "DEFAULT_BIAS",
    "STATISTICS",
    "check_eval",
    "check_running_and_eval",
    "set_size",
    "state_vector",
]


def _fail(check_id: str, message: str, **kw: Any) -> CheckResult:
    return CheckResult(check_id, "fail", message=message, **kw)


def _alternatives(declared: str) -> list[tuple[str, bool, list[str]]]:
    """(convention, unbiased, mistakes): the declared convention with the other variance bias,
    then every convention giving momentum the other meaning, with either bias."""
    conv = CONVENTIONS[declared]
    found = [(declared, not conv.unbiased, ["running-var-bias"])]
    for other in CONVENTIONS.values():
        if (
            conv.allows_momentum
            and other.allows_momentum
            and other.schedule == conv.schedule  # a zero-debiased average is not a swap
            and (other.momentum_is_new_weight != conv.momentum_is_new_weight)
        ):
            found.append((other.name, conv.unbiased, ["momentum-swapped"]))
            found.append((other.name, not conv.unbiased, ["momentum-swapped", "running-var-bias"]))
    return found


#: When the declared convention fails: which alternative, matched, means which mistake.
ALTERNATIVES: dict[str, list[tuple[str, bool, list[str]]]] = {
    name: _alternatives(name) for name in CONVENTIONS
}
#: Whether each convention stores the unbiased running variance.
DEFAULT_BIAS: dict[str, bool] = {name: conv.unbiased for name, conv in CONVENTIONS.items()}


def _momenta(momentum: Any, a: float | None) -> dict[str, Any]:
    """The momentum each convention is scored with: the layer's own, or, when only the weight
    a of the new batch is known (inferred from the first update), a in that convention's
    meaning; None for a convention that takes no momentum."""
    return {
        name: None
        if not conv.allows_momentum
        else momentum
        if a is None
        else a
        if conv.momentum_is_new_weight
        else 1.0 - a
        for name, conv in CONVENTIONS.items()
    }


#: What a layer may keep as its running "variance", each a function of the batch variance v
#: (biased or unbiased, as the convention says) and eps, and its inverse (the variance an eval
#: forward should normalise with). Every form is averaged over batches as the convention says.
FORMS: dict[str, tuple[str, Any, Any]] = {
    "var": ("variance", lambda v, e: v, lambda s, e: s),
    "std": ("standard deviation sqrt(var)", lambda v, e: np.sqrt(v), lambda s, e: s * s),
    "std-eps": (
        "standard deviation sqrt(var + eps)",
        lambda v, e: np.sqrt(v + e),
        lambda s, e: s * s - e,
    ),
    "inv-std": (
        "inverse standard deviation 1/sqrt(var + eps)",
        lambda v, e: 1.0 / np.sqrt(v + e),
        lambda s, e: 1.0 / (s * s) - e,
    ),
}


def as_variance(stored: np.ndarray, form: str, eps: float) -> np.ndarray:
    """The variance a running statistic of ``form`` stands for."""
    with np.errstate(all="ignore"):
        return np.asarray(FORMS[form][2](np.asarray(stored, dtype=np.float64), eps))


#: What a batch's statistics are, per channel: "batch" (BN: over the batch and spatial axes)
#: or "instance" (InstanceNorm with running statistics, as torch.nn.InstanceNorm*d keeps them:
#: the per-instance mean and variance over the spatial axes, averaged over the batch)
STATISTICS = ("batch", "instance")


def set_size(shape: tuple[int, ...], statistics: str = "batch") -> int:
    """How many values one set of ``statistics`` holds (the m of the unbiased factor)."""
    c = shape[1]
    total = int(np.prod(shape)) // c
    return total if statistics == "batch" else total // shape[0]


@functools.lru_cache(maxsize=256)
def _batch_statistics(
    data: bytes, dtype: str, shape: tuple[int, ...], statistics: str = "batch"
) -> Any:
    """The exact batch statistics of one batch (mpmath), computed once per batch: fitting the
    convention, the bias and the stored form scores the same batches dozens of times. For
    ``statistics="instance"`` the exact per-instance mean and biased variance, averaged over
    the batch with a correctly rounded sum (math.fsum): within 3u of the exact average (each
    per-instance value, the sum and the division rounded once)."""
    x = np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape)
    if statistics == "instance":
        per = exact_batchnorm(x, None, None, eps=1e-5, spec=Member("instance").spec(x.ndim))
        n, c = shape[0], shape[1]

        def average(v: np.ndarray) -> np.ndarray:
            cols = np.asarray(v, dtype=np.float64).reshape(n, c)
            return np.array([math.fsum(cols[:, j]) / n for j in range(c)])

        stats = per._replace(mean=average(per.mean), var=average(per.var))
    else:
        stats = exact_batchnorm(x, None, None, eps=1e-5, spec=BATCH_NORM)
    for value in stats:
        if isinstance(value, np.ndarray):
            value.setflags(write=False)  # shared by every later call
    return stats


def _expected_running(
    s0: dict[str, Any],
    batches: list[np.ndarray],
    convention: str,
    momentum: Any,
    unbiased: bool,
    add_to_var: float = 0.0,
    form: str = "var",
    eps: float = 1e-5,
    statistics: str = "batch",
) -> list[tuple[np.ndarray, np.ndarray]] | None:
    c = batches[0].shape[1]
    mean: Any = np.asarray(s0["running_mean"], dtype=np.float64).reshape(c)
    var: Any = np.asarray(s0["running_var"], dtype=np.float64).reshape(c)
    out = []
    for t, x in enumerate(batches):
        stats = _batch_statistics(x.tobytes(), x.dtype.str, x.shape, statistics)
        m = set_size(x.shape, statistics)
        if add_to_var:
            factor = m / (m - 1) if unbiased else 1.0
            stats = stats._replace(var=stats.var + add_to_var / factor)
        mom = momentum if CONVENTIONS[convention].allows_momentum else None
        batch_var = stats.var
        if form != "var":  # the stored form of the (biased or unbiased) batch variance
            with np.errstate(all="ignore"):
                batch_var = FORMS[form][1](stats.var * (m / (m - 1) if unbiased else 1.0), eps)
        try:
            mean, var, _ = update_running(
                mean,
                var,
                stats.mean,
                batch_var,
                m,
                convention=convention,
                momentum=mom,
                unbiased=unbiased if form == "var" else False,
                num_batches_tracked=t,
            )
        except (BatchNormError, TypeError):
            return None
        out.append((mean, var))
    return out


def _coarser(a: np.dtype[Any], b: np.dtype[Any] | None) -> np.dtype[Any]:
    """Of two float dtypes, the one with the larger unit roundoff (non-floats count as float64)."""

    def eps(d: Any) -> float:
        return float(np.finfo(d).eps) if d is not None and np.dtype(d).kind == "f" else 2.0**-52

    return np.dtype(b) if b is not None and eps(b) > eps(a) else np.dtype(a)


def _matches(
    observed: list[tuple[Any, Any]],
    expected: list[tuple[Any, Any]] | None,
    m: int,
    start_dtype: np.dtype[Any] | None = None,
) -> float:
    """Worst |observed − expected| over the steps, in units of its budget (<= 1 matches).

    Budget at step t: ``running_budget(t, m, dtype)·max(|expected|, 1)`` with the dtype of the
    observed statistics ((8t + 4m)·u, derived in :mod:`bncheck.check.tolerances`), or the
    dtype they started in (``start_dtype``) when that is coarser: a layer that keeps float64
    statistics, handed float32 ones for a float32 run, rounds its first update in float32."""
    if expected is None:
        return float("inf")
    if any(
        not np.all(np.isfinite(np.asarray(v, dtype=np.float64))) for pair in observed for v in pair
    ):
        return float("inf")  # NaN or inf running statistics follow no convention
    worst = 0.0
    for t, ((om, ov), (em, ev)) in enumerate(zip(observed, expected, strict=True), start=1):
        budget = running_budget(t, m, _coarser(np.asarray(om).dtype, start_dtype))
        for o, e in ((om, em), (ov, ev)):
            scale = np.maximum(np.abs(e), 1.0)
            err = np.abs(np.asarray(o, np.float64) - e)
            worst = max(worst, float(np.max(err / (budget * scale))))
    return worst


def check_running_and_eval(
    proc: TargetProcess, options: Options, ndim: int, dtype: str, statistics: str = "batch"
) -> list[CheckResult]:
    """running, eval and eval-state (for targets with running statistics), on (ndim, dtype);
    ``statistics``: what the running statistics average (:data:`STATISTICS`; "instance": the
    caller has found running statistics on an InstanceNorm target)."""
    ids = [f"{k}/{ndim}d/{dtype}" for k in ("running", "eval", "eval-state")]
    if statistics == "batch" and not proc.description.get("running"):
        why = f"a {proc.description.get('kind')} target has no running statistics or eval mode"
        return [CheckResult(i, "skip", message=why) for i in ids]
    rng = np.random.default_rng([options.seed, 7, ndim])
    shape = list(SHAPES[ndim])
    shape[1] = options.channels or shape[1]
    c = shape[1]
    m = int(np.prod(shape)) // c
    batches = [rng.normal(3.0, 2.0, size=tuple(shape)).astype(dtype) for _ in range(RUNNING_STEPS)]
    between = rng.normal(3.0, 2.0, size=tuple(shape)).astype(dtype)
    try:
        proc.call("new", c, dtype, 1e-5, ndim)
        params = (rng.uniform(0.5, 2, c).astype(dtype), rng.normal(size=c).astype(dtype))
        proc.call("set_params", *params, names=("gamma", "beta"))
        s0, _ = proc.call("state")
        # statistics the target creates at its first forward: that forward's result is the
        # starting point, and the later steps are checked from there
        lazy = s0.get("running_mean") is None or s0.get("running_var") is None
        if not lazy:
            state_vector(s0, "running_mean", c), state_vector(s0, "running_var", c)
        observed = []
        between_state: dict[str, Any] | None = None
        for k, x in enumerate(batches):
            proc.call("forward", x, True, names=("x",))
            s, _ = proc.call("state")
            observed.append((state_vector(s, "running_mean", c), state_vector(s, "running_var", c)))
            if k == EVAL_BETWEEN:
                between_state = s
                if _eval_between(proc, between, s, c):
                    # its eval moved the statistics (eval-state's to fail): the running check
                    # judges the training before it, not a sequence the eval changed
                    batches = batches[: k + 1]
                    break
    except TargetError as exc:
        return [_fail(i, str(exc)) for i in ids]
    first_batch, first_seen = batches[0], observed[0]
    if lazy:
        s0 = dict(s0, running_mean=observed[0][0], running_var=observed[0][1])
        batches, observed = batches[1:], observed[1:]
    momentum = s0.get("momentum")
    eps = s0.get("eps")
    eps = float(eps) if isinstance(eps, (int, float)) and not isinstance(eps, bool) else 1e-5
    wide = [x.astype(np.float64) for x in batches]
    declared, documented = options.convention, proc.description.get("convention")
    if declared == "any" and isinstance(documented, str) and documented in CONVENTIONS:
        declared = documented  # the framework's documented convention is what it is held to
    given = proc.description.get("running_form")
    running, form, held = _judge_running(
        ids[0],
        s0,
        wide,
        observed,
        m,
        momentum,
        declared,
        eps,
        np.dtype(dtype),
        given if isinstance(given, str) and given in FORMS else "",
        statistics,
    )
    if declared != options.convention and declared == documented:
        running.message = (
            running.message + "; " if running.message else ""
        ) + f"judged by {declared!r}, the convention the framework documents"
    results = [
        running,
        *check_eval(
            proc,
            rng,
            c,
            tuple(shape),
            dtype,
            ids[1:],
            form,
            seen=batches[-1],
            earlier=between_state,
            note=options.note,
        ),
    ]
    if not lazy:
        if held is not None and results[0].status == "pass":
            judge = functools.partial(
                _judge_running,
                ids[0],
                m=m,
                momentum=momentum,
                declared=declared,
                eps=eps,
                input_dtype=np.dtype(dtype),
                given_form=given if isinstance(given, str) and given in FORMS else "",
                statistics=statistics,
                held=held,
            )
            results[0] = _running_after_reset(proc, results[0], s0, c, batches[:3], judge)
        results[0] = _instances_apart(proc, results[0], s0, c, dtype, ndim)
        fresh_x = np.random.default_rng([options.seed, 78, ndim]).normal(-1.0, 0.5, size=shape)
        try:  # a new layer never trained: eval with the statistics it starts with (not for a
            # JAX-family target, whose state bncheck reads is its adapter's, not the layer's)
            if options.compiled_shapes:
                raise TargetError("not for a target compiled per shape")
            proc.call("new", c, dtype, 1e-5, ndim)
            proc.call("set_params", *params, names=("gamma", "beta"))
        except TargetError as exc:
            if exc.fatal:
                raise
        else:
            results[1] = _eval_again(
                proc, fresh_x.astype(dtype), c, dtype, results[1], form, "fresh"
            )
    else:
        results[0] = _first_updates_apart(
            proc, results[0], (first_batch, first_seen), params, c, dtype, ndim
        )
    if (
        results[0].status == "pass"
        and held is not None
        and not options.compiled_shapes
        and statistics == "batch"  # an InstanceNorm's sets would be of one value
    ):
        # last: it makes its own instance (not for a target that compiles per shape)
        results[0] = _running_small(
            proc, results[0], options, ndim, dtype, held, given, statistics, declared
        )
    return results


def _running_after_reset(
    proc: TargetProcess,
    running: CheckResult,
    s0: dict[str, Any],
    c: int,
    batches: list[np.ndarray],
    judge: Callable[..., tuple[CheckResult, str, Any]],
) -> CheckResult:
    """The trained layer's own reset of its running statistics (``reset_running_stats()``,
    the ``reset_running`` op), as users call it before re-estimating them: the statistics go
    back to a new instance's, and the training batches after it follow the convention the
    main sequence followed, from that start (a counter of a cumulative average that the
    reset left, a variance reset to 0, show here). Layers without one are not asked."""
    try:
        try:
            proc.call("reset_running")
        except TargetError as exc:
            if exc.fatal:
                raise
            return running  # no reset of its own: does not apply
        start, _ = proc.call("state")
        observed = []
        for x in batches:
            proc.call("forward", x, True, names=("x",))
            s, _ = proc.call("state")
            observed.append((state_vector(s, "running_mean", c), state_vector(s, "running_var", c)))
        reset = (state_vector(start, "running_mean", c), state_vector(start, "running_var", c))
    except (TargetError, BatchNormError, ValueError, TypeError) as exc:
        if isinstance(exc, TargetError) and exc.fatal:
            raise
        return _fail(running.id, f"after reset_running_stats(), a training step failed: {exc}")
    fresh = (state_vector(s0, "running_mean", c), state_vector(s0, "running_var", c))
    if not (_same(reset[0], fresh[0]) and _same(reset[1], fresh[1])):
        return _fail(
            running.id,
            "reset_running_stats() left other running statistics than a new instance starts "
            f"with (mean {_vector_text(reset[0])}, variance {_vector_text(reset[1])}; a new "
            f"instance's: {_vector_text(fresh[0])}, {_vector_text(fresh[1])})",
        )
    again, _, _ = judge(start, [x.astype(np.float64) for x in batches], observed)
    if again.status == "pass":
        said = f"{len(batches)} more after reset_running_stats()"
        return dataclasses.replace(
            running, message=f"{running.message}; {said}" if running.message else said
        )
    return _fail(
        running.id,
        "after reset_running_stats(), "
        + again.message.replace("running statistics after", "the running statistics after", 1),
        diagnosis=again.diagnosis,
    )


def _vector_text(v: np.ndarray) -> str:
    return np.array2string(np.asarray(v)[:4], precision=4) + (" ..." if np.size(v) > 4 else "")


def _first_updates_apart(
    proc: TargetProcess,
    running: CheckResult,
    first: tuple[np.ndarray, tuple[Any, Any]],
    params: tuple[np.ndarray, np.ndarray],
    c: int,
    dtype: str,
    ndim: int,
) -> CheckResult:
    """For statistics a target creates at its first forward (a cs231n bn_param dict): a new
    instance's first update on the same batch gives the statistics the first instance's did.
    A default array shared by every new dict and updated in place starts the second from what
    the first left."""
    batch, (m1, v1) = first
    try:
        proc.call("new", c, dtype, 1e-5, ndim)
        proc.call("set_params", *params, names=("gamma", "beta"))
        proc.call("forward", batch, True, names=("x",))
        s, _ = proc.call("state")
        m2, v2 = state_vector(s, "running_mean", c), state_vector(s, "running_var", c)
    except (TargetError, BatchNormError, ValueError, TypeError) as exc:
        if isinstance(exc, TargetError) and exc.fatal:
            raise
        return running
    if _same(m1, m2) and _same(v1, v2):
        return running
    return _fail(
        running.id,
        "a new instance's first training step gives other running statistics than the first "
        "instance's on the same batch: it started from what an earlier instance left (a "
        "default array shared by every new instance, updated in place)",
        diagnosis=["running-stats-shared"],
    )


def _running_small(
    proc: TargetProcess,
    running: CheckResult,
    options: Options,
    ndim: int,
    dtype: str,
    held: tuple[str, bool],
    given: Any,
    statistics: str,
    declared: str,
) -> CheckResult:
    """The running statistics of a fresh instance on batches of one channel (the target's own
    width when it has a fixed one) and 2 values per channel, the smallest a batch variance
    has, held to the convention the main sequence followed: a path taken for C = 1, or an
    m/(m − 1) correction that differs at m = 2, shows here."""
    c = options.channels or 1
    shape = (2, c) + (1,) * (ndim - 2)
    rng = np.random.default_rng([options.seed, 77, ndim])
    batches = [rng.normal(3.0, 2.0, size=shape).astype(dtype) for _ in range(3)]
    try:
        proc.call("new", c, dtype, 1e-5, ndim)
        proc.call(
            "set_params",
            rng.uniform(0.5, 2, c).astype(dtype),
            rng.normal(size=c).astype(dtype),
            names=("gamma", "beta"),
        )
        s0, _ = proc.call("state")
        if s0.get("running_mean") is None or s0.get("running_var") is None:
            return running  # statistics made at the first forward: judged by the main sequence
        observed = []
        for x in batches:
            proc.call("forward", x, True, names=("x",))
            s, _ = proc.call("state")
            observed.append((state_vector(s, "running_mean", c), state_vector(s, "running_var", c)))
    except (TargetError, BatchNormError, ValueError, TypeError) as exc:
        if isinstance(exc, TargetError) and exc.fatal:
            raise
        return running  # a shape it refuses: the main sequence stands
    momentum = s0.get("momentum")
    eps = s0.get("eps")
    eps = float(eps) if isinstance(eps, (int, float)) and not isinstance(eps, bool) else 1e-5
    small, _, _ = _judge_running(
        running.id,
        s0,
        [x.astype(np.float64) for x in batches],
        observed,
        2,
        momentum,
        declared,
        eps,
        np.dtype(dtype),
        given if isinstance(given, str) and given in FORMS else "",
        statistics,
        held=held,
    )
    if small.status == "pass":
        return running
    return _fail(
        running.id,
        f"on batches of {c} channel{'s' if c > 1 else ''} and 2 values per channel, "
        + small.message.replace("running statistics after", "the running statistics after", 1)
        + f" (they follow {_label(held, momentum)} on the main batches)",
        diagnosis=small.diagnosis,
    )


#: training batches the running check follows (a schedule that changes after more is not
#: seen; the check's message says how many it followed)
RUNNING_STEPS = 12
#: the training steps a zero-debiased start is fitted on (:func:`_debias_start`)
DEBIAS_STEPS = 5
#: after which training batch (0-based) an eval forward runs between the training ones: eval
#: must leave training as it was (a counter it advances changes later cumulative updates)
EVAL_BETWEEN = 2


def _eval_between(proc: TargetProcess, x: np.ndarray, before: dict[str, Any], c: int) -> bool:
    """An eval forward between training batches; what it returns is the eval check's to judge
    (an error here is left for that check to meet), what it changes the running check sees.
    Whether it changed the running statistics themselves (eval-state's failure)."""
    try:
        proc.call("forward", x, False, names=("x",))
        after, _ = proc.call("state")
    except TargetError as exc:
        if exc.fatal:
            raise
        return False
    return not all(_same(before.get(k), after.get(k)) for k in ("running_mean", "running_var"))


def _instances_apart(
    proc: TargetProcess,
    running: CheckResult,
    s0: dict[str, Any],
    c: int,
    dtype: str,
    ndim: int,
) -> CheckResult:
    """A new instance starts from its own running statistics, not from those an instance
    trained before it left: the statistics the trained instance ends with (after the running
    and eval checks' batches) are read, a new instance is made, and its starting statistics
    must not be exactly those (unless the training left them where they started). A layer
    whose buffers are shared between instances (a class-level pool, a module-level cache
    keyed by the width, a mutable default argument) passes every check on one instance."""
    try:
        end, _ = proc.call("state")
        proc.call("new", c, dtype, 1e-5, ndim)
        fresh, _ = proc.call("state")
        pairs = [
            [state_vector(st, k, c) for k in ("running_mean", "running_var")]
            for st in (s0, end, fresh)
        ]
    except (TargetError, BatchNormError, ValueError, TypeError) as exc:
        if isinstance(exc, TargetError) and exc.fatal:
            raise
        return running  # what the state holds is judged by the running check itself
    (m0, v0), (m_end, v_end), (m_new, v_new) = pairs
    moved = not (_same(m0, m_end) and _same(v0, v_end))
    if not (moved and _same(m_end, m_new) and _same(v_end, v_new)):
        return running
    return _fail(
        running.id,
        "a new instance starts from the running statistics an instance trained before it "
        "ended with, not from its own: the layers share their running statistics (a "
        "class-level or module-level buffer), so training one moves every other's and eval "
        "of one normalizes with the others' batches",
        diagnosis=["running-stats-shared"],
    )


def _judge_running(
    check_id: str,
    s0: dict[str, Any],
    batches: list[np.ndarray],
    observed: list[Any],
    m: int,
    momentum: Any,
    declared: str,
    eps: float,
    input_dtype: Any = None,
    given_form: str = "",
    statistics: str = "batch",
    held: tuple[str, bool] | None = None,
) -> tuple[CheckResult, str, tuple[str, bool] | None]:
    """The running check's result, the form of the stored spread statistic (:data:`FORMS`)
    that fits best (a variance unless another form is followed), and the (convention,
    unbiased) it follows, None when it fails; ``held``: judge by that one alone. The budget
    is that of the coarsest dtype the statistics legitimately pass through: the one they are
    kept in, the one they started in, and the input's (batch statistics of float32 input may
    be computed in float32 and kept in float64)."""
    every = [(conv, bias) for conv in CONVENTIONS for bias in (True, False)]
    start = next(
        (
            v.dtype
            for v in (s0.get("running_mean"), s0.get("running_var"))
            if isinstance(v, np.ndarray)
        ),
        None,
    )
    if input_dtype is not None:
        start = _coarser(np.dtype(input_dtype), start)
    inferred = ""
    a: float | None = None
    if s0.get("momentum_is_decay") and isinstance(momentum, (int, float)):
        # a decay attribute weighs the old value: each convention reads 1 − decay its way
        a = 1.0 - float(momentum)
        inferred = f" (its decay {momentum:g} weighs the old value: the batch's weight {a:.4g})"
    elif not isinstance(momentum, (int, float)) or isinstance(momentum, bool):
        # no momentum attribute, or None: the first update tells the weight of the new batch
        a = _first_weight(s0, batches[0], observed[0])
        if a is not None and abs(a) < 1e-12:
            return (
                CheckResult(
                    check_id,
                    "fail",
                    message="the running statistics did not move in training "
                    "(and the layer has no momentum attribute saying they should not)",
                ),
                "var",
                None,
            )
        if a is not None:
            inferred = f" (no numeric momentum; the first update weighs the batch {a:.4g})"
    momenta = _momenta(momentum, a)

    form = "var"

    def score(conv: str, bias: bool, add: float = 0.0) -> float:
        expected = _expected_running(
            s0,
            batches,
            conv,
            momenta[conv],
            bias,
            add_to_var=add,
            form=form,
            eps=eps,
            statistics=statistics,
        )
        return _matches(observed, expected, m, start)

    wanted = (
        [held]
        if held is not None
        else every
        if declared == "any"
        else [(declared, DEFAULT_BIAS[declared])]
    )
    if declared == "torch" and momentum is None:
        # PyTorch's momentum=None is its cumulative moving average (a plain average of the
        # batches' statistics, the variance unbiased): part of its convention
        wanted.append(("cumulative", DEFAULT_BIAS["torch"]))
    # the stored form: a variance unless another form matches the declared convention better
    by_form = {}
    forms = [given_form] if given_form else list(FORMS)  # --running-form: no fitting
    for candidate in forms:
        form = candidate
        by_form[candidate] = min(score(conv, bias) for conv, bias in wanted)
    form = min(forms, key=lambda f: (by_form[f] > 1.0, f != "var", by_form[f]))
    scores = {(conv, bias): score(conv, bias) for conv, bias in every}
    best = min(wanted, key=lambda k: scores[k])
    kept = "" if form == "var" else f"; the layer keeps the running {FORMS[form][0]}"
    if scores[best] <= 1.0:
        msg = (
            f"follows {_label(best, momenta[best[0]])}{inferred}{kept}; "
            if declared == "any" or inferred or kept
            else ""
        ) + f"{len(batches)} training batches followed"
        return (
            CheckResult(check_id, "pass", scores[best], 1.0, unit="×budget", message=msg),
            form,
            best,
        )
    diagnosis: list[str] = []
    if _frozen(s0, observed):
        diagnosis = [FROZEN]
    for conv, bias, mistakes in [] if diagnosis else ALTERNATIVES.get(declared, []):
        if score(conv, bias) <= 1.0:
            diagnosis = mistakes
            break
    if not diagnosis:
        candidates = wanted if declared != "any" else every
        if any(score(conv, bias, eps) <= 1.0 for conv, bias in candidates):
            diagnosis = ["eval-eps-in-running-var"]
    fitted = ""
    if not diagnosis and form == "var" and statistics == "batch":
        # fitted on the first steps, where a start's share start·d^t/(1 − d^t) is largest
        # (it decays below a float32 layer's rounding within a dozen steps of d = 0.9)
        fitted = _debias_start(
            batches[:DEBIAS_STEPS], observed[:DEBIAS_STEPS], m, momentum, a, wanted, start
        )
        diagnosis = [DEBIAS_START] if fitted else []
    if not diagnosis and _float32_only(observed, start):
        narrow = np.dtype(np.float32)
        if (
            min(
                _matches(
                    observed,
                    _expected_running(s0, batches, c, momenta[c], b, statistics=statistics),
                    m,
                    narrow,
                )
                for c, b in wanted
            )
            <= 1.0
        ):
            diagnosis = ["float32-arithmetic"]
            fitted = (
                "float32 numbers only, within the float32 budget of the convention: "
                "computed in float32 from float64 input"
            )
    within = [k for k in every if scores[k] <= 1.0]
    if within and within[0][0] == declared:  # its update, with the other variance
        conv, bias = within[0]
        mom = f", momentum={_shown(momenta[conv])}" if CONVENTIONS[conv].allows_momentum else ""
        note = (
            f"they follow its update, but with the {'unbiased' if bias else 'biased'} "
            f"batch variance{mom}"
        )
    elif within:
        note = f"it follows {_label(within[0], momenta[within[0][0]])}"
    else:
        note = f"it matches no known convention (momentum={momentum!r})"
    want = "any known convention" if declared == "any" else f"convention {declared!r}"
    return (
        CheckResult(
            check_id,
            "fail",
            scores[best],
            1.0,
            unit="×budget",
            message=f"running statistics after {len(batches)} steps do not follow {want}; "
            f"{note}{inferred}{kept}",
            diagnosis=diagnosis,
            explanation=fitted,
        ),
        form,
        None,
    )


#: the mistake id of running statistics that training never changes
FROZEN = "running-stats-frozen"


def _frozen(s0: dict[str, Any], observed: list[Any]) -> bool:
    """Whether every step left the running mean and variance exactly as they started (the
    batches of the check all differ, so any update of either moves it)."""
    said = [s0.get("running_mean"), s0.get("running_var")]
    if not observed or not all(isinstance(v, np.ndarray) for v in said):
        return False
    start: list[np.ndarray] = [np.asarray(v) for v in said]
    return all(
        all(np.array_equal(np.asarray(v), s) for v, s in zip(pair, start, strict=False))
        for pair in observed
    )


def _float32_only(observed: list[Any], start: Any) -> bool:
    """Whether float64 running statistics (of a float64 run) hold float32 numbers only."""
    if start is None or np.dtype(start) != np.float64:
        return False
    values = [np.asarray(v) for pair in observed for v in pair]
    return all(
        v.dtype == np.float64 and np.array_equal(v, v.astype(np.float32).astype(np.float64))
        for v in values
    )


def _debias_start(
    batches: list[np.ndarray],
    observed: list[Any],
    m: int,
    momentum: Any,
    a: float | None,
    wanted: list[tuple[str, bool]],
    start: Any,
) -> str:
    """What was fitted when the statistics are a zero-debiased average whose hidden value did
    not start at 0 (:mod:`~bncheck.check._verify.diagnosis.debias`), within the running
    budget; "" when they are not (or no zero-debiased convention is in question)."""
    for conv, bias in wanted:
        c = CONVENTIONS[conv]
        if c.schedule != "zero-debiased":
            continue
        mom = momentum if isinstance(momentum, (int, float)) else None
        if mom is None and a is not None:
            mom = a if c.momentum_is_new_weight else 1.0 - a
        if mom is None:
            continue
        decay = 1.0 - mom if c.momentum_is_new_weight else mom
        found = fit_debias_start(batches, observed, float(decay), bias)
        if found is not None and _matches(observed, found[0], m, start) <= 1.0:
            return found[3]
    return ""


def _first_weight(s0: dict[str, Any], x: np.ndarray, first: Any) -> float | None:
    """a in new_mean = (1 − a)·old + a·batch_mean, from the first update (None: unclear)."""
    c = x.shape[1]
    old = np.asarray(s0["running_mean"], dtype=np.float64).reshape(c)
    batch = BATCH_NORM.columns(x, dtype=None).mean(axis=0)
    step = batch - old
    ok = np.abs(step) > INFERENCE.informative_step * (np.abs(batch) + 1.0)
    if not ok.any():
        return None
    a = (np.asarray(first[0], dtype=np.float64)[ok] - old[ok]) / step[ok]
    spread = INFERENCE.weight_spread * max(1.0, float(np.max(np.abs(a))))
    if not np.all(np.isfinite(a)) or np.ptp(a) > spread:
        return None
    return float(f"{float(np.median(a)):.6g}")


def _label(candidate: tuple[str, bool], momentum: Any) -> str:
    conv, bias = candidate
    mom = f", momentum={_shown(momentum)}" if CONVENTIONS[conv].allows_momentum else ""
    return f"{conv} ({'unbiased' if bias else 'biased'} variance{mom})"


def _shown(momentum: Any) -> str:
    """A momentum as the report prints it: a float to 6 digits (1 − 0.9 is 0.1, not
    0.09999999999999998), anything else as it is."""
    return f"{momentum:.6g}" if isinstance(momentum, float) else repr(momentum)


# -- eval mode --------------------------------------------------------------------------------


def state_vector(state: dict[str, Any], key: str, c: int) -> np.ndarray:
    """``state[key]`` as a copy of shape (c,); TargetError unless it is c float values."""
    value = state.get(key)
    if not isinstance(value, np.ndarray) or value.size != c or value.dtype.kind != "f":
        what = f"an array of shape {value.shape}" if isinstance(value, np.ndarray) else repr(value)
        if isinstance(what, str) and len(what) > 80:
            what = what[:80] + "…"
        raise TargetError(f"the layer's {key} is {what}; expected {c} float values")
    return value.reshape(c).copy()


def check_eval(
    proc: TargetProcess,
    rng: np.random.Generator,
    c: int,
    shape: tuple[int, ...],
    dtype: str,
    ids: list[str],
    form: str = "var",
    seen: np.ndarray | None = None,
    earlier: dict[str, Any] | None = None,
    note: Callable[[list[str]], None] | None = None,
) -> list[CheckResult]:
    """eval and eval-state; ``form``: what the layer keeps as its running spread statistic
    (fitted by the running check), turned into the variance the truth normalises with;
    ``seen``: a batch the layer was trained on, evaluated too (:func:`_eval_again`);
    ``earlier``: the layer's state at an earlier eval (the running check's), against which a
    wrong eval is tried as ``eval-stale``; ``note``: where an interface deviation is recorded
    (:func:`_eval_backward_own`'s)."""
    x = rng.normal(-1.0, 0.5, size=shape).astype(dtype)
    try:
        before, _ = proc.call("state")
        y, _ = proc.call("forward", x, False, names=("x",))
        after, _ = proc.call("state")
        rm, rv = state_vector(before, "running_mean", c), state_vector(before, "running_var", c)
        if not isinstance(y, np.ndarray) or y.shape != x.shape or y.dtype.kind != "f":
            what = (
                f"shape {y.shape}, dtype {y.dtype}"
                if isinstance(y, np.ndarray)
                else (type(y).__name__)
            )
            raise TargetError(f"eval forward returned {what}; expected shape {x.shape}")
    except TargetError as exc:
        return [_fail(ids[0], str(exc)), _fail(ids[1], str(exc))]
    gamma, beta = _maybe_vec(before, "gamma", c), _maybe_vec(before, "beta", c)
    eps = _state_eps(before)
    xw = x.astype(np.float64)
    if form != "var":
        rv = as_variance(rv, form, eps)
    bad = ~np.isfinite(rv.astype(np.float64)) | (rv.astype(np.float64) + eps <= 0)
    if bad.any() or not np.all(np.isfinite(rm.astype(np.float64))):
        why = "the layer's running statistics are not finite, or running_var + eps <= 0"
        return [_fail(ids[0], why), _fail(ids[1], why)]
    truth = exact_inference(xw, gamma, beta, rm, rv, eps=eps, spec=BATCH_NORM)
    cmp = compare(y, truth, "y", np.dtype(dtype), x=xw, eps=eps, spec=BATCH_NORM)
    if cmp.passed:
        ev = CheckResult(ids[0], "pass", cmp.ulp, cmp.budget)
    else:
        found = diagnose_eval(xw, gamma, beta, rm, rv, eps, y)
        if not found.ids and earlier is not None and _stale(y, xw, earlier, c, eps, form):
            found.ids = ["eval-stale"]  # what an earlier eval computed, kept
        if not found.ids and _float32_eval(y, truth, xw, eps):
            found.ids = ["float32-arithmetic"]
            found.fitted = (
                "float32 numbers only, within the float32 budget of the truth: computed in "
                "float32 from float64 input"
            )
        ev = CheckResult(
            ids[0],
            "fail",
            cmp.ulp,
            cmp.budget,
            message=f"eval output off by {cmp.ulp:.3g} ulp (budget {cmp.budget:.3g}) from "
            "gamma·(x − running_mean)/sqrt(running_var + eps) + beta with the layer's own "
            "running statistics",
            worst_entries=worst_entries(y, truth),
            diagnosis=found.ids,
            explanation=found.fitted,
        )
    changed = [
        k
        for k in ("running_mean", "running_var", "gamma", "beta")
        if not _same(before.get(k), after.get(k))
    ]
    try:  # eval must be repeatable: a second call gives the same output
        y2, _ = proc.call("forward", x, False, names=("x",))
    except TargetError as exc:
        return [ev, _fail(ids[1], f"a second eval call failed: {exc}")]
    if not changed and not (isinstance(y2, np.ndarray) and _same(y, y2)):
        changed = ["its own output (a second eval call on the same input differs)"]
    if changed:
        st = _fail(
            ids[1],
            f"eval forward changed {', '.join(changed)}",
            diagnosis=["state-updated-in-eval"],
        )
    else:
        st = CheckResult(ids[1], "pass")
    ev, st = _eval_with_grad(proc, x, c, ev, st, rng)
    warning = _eval_backward_own(proc, x, c, ev, rng)
    if warning and note is not None:
        note([warning])
    ev = _eval_again(proc, x if seen is None else seen, c, dtype, ev, form, "seen")
    ev = _eval_again(proc, x, c, dtype, ev, form, "loaded", rng)
    ev = _eval_again(proc, x, c, dtype, ev, form, "refilled", rng)
    ev = _eval_after_training(proc, rng, x, c, shape, dtype, ev, form, before)
    # last: a deep copy of an object whose methods close over its state (a dict of closures)
    # is a copy only in part, so no check runs on it after this one
    return [_eval_reloaded(proc, x, c, dtype, ev, form), st]


def _eval_again(
    proc: TargetProcess,
    x: np.ndarray,
    c: int,
    dtype: str,
    ev: CheckResult,
    form: str,
    how: str,
    rng: np.random.Generator | None = None,
) -> CheckResult:
    """One more eval, judged as the first: ``how`` "seen", on a batch the layer was trained on
    (a layer answering from a memo of its inputs gives that batch's train output); "refilled",
    new values in the array of the last eval's input, refilled in place (``refill``: an eval
    memo keyed by the array's identity gives the old output); "loaded",
    after new running statistics are written into the layer as a checkpoint load writes them
    (``set_running``: a layer whose eval uses a value derived from its statistics that only
    training refreshes is stale; targets whose statistics bncheck cannot write skip it)."""
    if ev.status != "pass":
        return ev
    now: dict[str, Any] | None = None
    try:
        if how == "refilled":
            assert rng is not None
            try:
                proc.call("refill")
            except TargetError as exc:
                if exc.fatal:
                    raise
                return ev  # a target that takes no NumPy array of ours: nothing to refill
            x = (x.astype(np.float64) * rng.uniform(0.5, 1.5) + rng.normal(0.0, 1.0)).astype(
                x.dtype
            )
        if how == "loaded":
            assert rng is not None
            now, _ = proc.call("state")
            rm, rv = state_vector(now, "running_mean", c), state_vector(now, "running_var", c)
            try:
                proc.call(
                    "set_running",
                    (rm.astype(np.float64) + rng.normal(0.0, 0.5, c)).astype(rm.dtype),
                    (rv.astype(np.float64) * rng.uniform(1.5, 3.0, c)).astype(rv.dtype),
                )
            except TargetError as exc:
                if exc.fatal:
                    raise
                return ev  # statistics it cannot have written: judged by the first eval
        state, _ = proc.call("state")
        y, _ = proc.call("forward", x, False, names=("x",))
        rm, rv = state_vector(state, "running_mean", c), state_vector(state, "running_var", c)
    except TargetError as exc:
        if exc.fatal:
            raise
        return _fail(ev.id, f"an eval {_AGAIN[how]}: {exc}")
    except (BatchNormError, ValueError, TypeError):
        return ev
    if not isinstance(y, np.ndarray) or y.shape != x.shape or y.dtype.kind != "f":
        return _fail(ev.id, f"an eval {_AGAIN[how]} returned {type(y).__name__}")
    gamma, beta = _maybe_vec(state, "gamma", c), _maybe_vec(state, "beta", c)
    eps = _state_eps(state)
    xw = x.astype(np.float64)
    if form != "var":
        rv = as_variance(rv, form, eps)
    with np.errstate(all="ignore"):
        truth = exact_inference(xw, gamma, beta, rm, rv, eps=eps, spec=BATCH_NORM)
    cmp = compare(y, truth, "y", np.dtype(dtype), x=xw, eps=eps, spec=BATCH_NORM)
    if cmp.passed:
        return ev
    found = diagnose_eval(xw, gamma, beta, rm, rv, eps, y)
    if now is not None and _stale(y, xw, now, c, eps, form):
        found.ids = ["eval-stale"]  # it is the eval of the statistics held before the load
    return CheckResult(
        ev.id,
        "fail",
        cmp.ulp,
        cmp.budget,
        message=f"an eval {_AGAIN[how]} is off by {cmp.ulp:.3g} ulp (budget {cmp.budget:.3g}) "
        "from gamma·(x − running_mean)/sqrt(running_var + eps) + beta with the statistics the "
        "layer holds (its eval of a fresh batch was right)",
        worst_entries=worst_entries(y, truth),
        diagnosis=found.ids,
    )


def _stale(y: Any, xw: np.ndarray, before: dict[str, Any], c: int, eps: float, form: str) -> bool:
    """Whether ``y`` is the eval output of the statistics and parameters in ``before`` (an
    earlier state of the layer): an eval that kept what it computed then."""
    rm, rv = state_vector(before, "running_mean", c), state_vector(before, "running_var", c)
    if form != "var":
        rv = as_variance(rv, form, eps)
    with np.errstate(all="ignore"):
        old = exact_inference(
            xw,
            _maybe_vec(before, "gamma", c),
            _maybe_vec(before, "beta", c),
            rm,
            rv,
            eps=eps,
            spec=BATCH_NORM,
        )
    return bool(compare(y, old, "y", y.dtype, x=xw, eps=eps, spec=BATCH_NORM).passed)


def _eval_reloaded(
    proc: TargetProcess, x: np.ndarray, c: int, dtype: str, ev: CheckResult, form: str
) -> CheckResult:
    """The layer saved and restored as users do (``reload``: a state_dict round trip, a deep
    copy) keeps its running statistics and parameters and evaluates as before: a round trip
    that converts them, or a copy that starts afresh, fails. Targets that are no object of
    their own (and copies that the target's own objects refuse) are not judged here."""
    if ev.status != "pass":
        return ev
    try:
        before, _ = proc.call("state")
        try:
            proc.call("reload")
        except TargetError as exc:
            if exc.fatal:
                raise
            return ev
        after, _ = proc.call("state")
    except TargetError as exc:
        if exc.fatal:
            raise
        return ev
    changed = [
        k
        for k in ("running_mean", "running_var", "gamma", "beta")
        if not _same(before.get(k), after.get(k))
    ]
    if changed:
        return _fail(
            ev.id,
            f"saved and restored as users do (a state_dict loaded back, a deep copy), the layer "
            f"holds other {', '.join(changed)} than before: eval after a checkpoint round trip "
            "or a copy normalizes with other statistics",
        )
    return _eval_again(proc, x, c, dtype, ev, form, "reloaded")


#: what each later eval of :func:`_eval_again` is, for its messages
_AGAIN = {
    "seen": "of a batch the layer was trained on",
    "loaded": "after new running statistics were written into the layer (as a checkpoint load "
    "writes them)",
    "reloaded": "after the layer was saved and restored (a state_dict loaded back, a deep copy)",
    "fresh": "of a new layer never trained (with the running statistics it starts with)",
    "refilled": "of new values handed in the last eval input's array, refilled in place (as a "
    "loop reusing one input buffer hands them: an eval answering from a memo keyed by the "
    "array's identity gives the old output)",
}


def _eval_after_training(
    proc: TargetProcess,
    rng: np.random.Generator,
    x: np.ndarray,
    c: int,
    shape: tuple[int, ...],
    dtype: str,
    ev: CheckResult,
    form: str,
    first: dict[str, Any],
) -> CheckResult:
    """eval keeps step with the layer: after one more training batch and new gamma and
    beta, an eval of the same input normalizes with the running statistics and parameters the
    layer holds then. A layer that computes its eval scale and shift at its first eval and
    keeps them (or caches eval outputs) passes a single eval; here it fails, named
    ``eval-stale`` when its output is the first eval's statistics' and parameters'."""
    if ev.status != "pass":
        return ev
    batch = rng.normal(3.0, 2.0, size=shape).astype(dtype)
    params = (rng.uniform(0.5, 2, c).astype(dtype), rng.normal(size=c).astype(dtype))
    try:
        proc.call("forward", batch, True, names=("x",))
        proc.call("set_params", *params, names=("gamma", "beta"))
        now, _ = proc.call("state")
        y, _ = proc.call("forward", x, False, names=("x",))
        rm, rv = state_vector(now, "running_mean", c), state_vector(now, "running_var", c)
    except TargetError as exc:
        if exc.fatal:
            raise
        return _fail(ev.id, f"an eval after one more training batch and new gamma, beta: {exc}")
    except (BatchNormError, ValueError, TypeError):
        return ev  # statistics it does not hand over here: judged by the first eval alone
    if not isinstance(y, np.ndarray) or y.shape != x.shape or y.dtype.kind != "f":
        return _fail(ev.id, f"an eval after more training returned {type(y).__name__}")
    gamma, beta = _maybe_vec(now, "gamma", c), _maybe_vec(now, "beta", c)
    eps = _state_eps(now)
    xw = x.astype(np.float64)
    if form != "var":
        rv = as_variance(rv, form, eps)
    with np.errstate(all="ignore"):
        truth = exact_inference(xw, gamma, beta, rm, rv, eps=eps, spec=BATCH_NORM)
    cmp = compare(y, truth, "y", np.dtype(dtype), x=xw, eps=eps, spec=BATCH_NORM)
    if cmp.passed:
        return (
            ev
            if ev.worst is None or cmp.ulp <= ev.worst
            else CheckResult(ev.id, "pass", cmp.ulp, cmp.budget)
        )
    diagnosis = ["eval-stale"] if _stale(y, xw, first, c, eps, form) else []
    return CheckResult(
        ev.id,
        "fail",
        cmp.ulp,
        cmp.budget,
        message=f"after one more training batch and new gamma and beta, eval output off by "
        f"{cmp.ulp:.3g} ulp (budget {cmp.budget:.3g}) from gamma·(x − running_mean)/"
        "sqrt(running_var + eps) + beta with the layer's running statistics and parameters "
        "at that point (its first eval was right)",
        worst_entries=worst_entries(y, truth),
        diagnosis=diagnosis,
    )


#: how an autograd target's eval is run the second time, for the messages
_WITH_GRAD = "with gradient recording on (torch.is_grad_enabled(), as for input gradients)"


def _eval_with_grad(
    proc: TargetProcess,
    x: np.ndarray,
    c: int,
    ev: CheckResult,
    st: CheckResult,
    rng: np.random.Generator | None = None,
) -> list[CheckResult]:
    """An autograd target's eval once more with gradient recording on (its adapter has
    ``eval_grad``; others raise and keep ``ev``, ``st``): a layer that picks batch statistics
    by ``torch.is_grad_enabled()`` instead of its training flag is wrong after ``eval()`` in
    every use that records gradients. Its output is judged like the first eval's, and it must
    change no state either."""
    try:
        proc.call("eval_grad", True)
    except TargetError as exc:
        if exc.fatal:
            raise
        return [ev, st]
    dy = (rng or np.random.default_rng(0)).normal(size=x.shape).astype(x.dtype)
    grads: Any = None
    try:
        before, _ = proc.call("state")
        y, _ = proc.call("forward", x, False, names=("x",))
        after, _ = proc.call("state")
        try:  # the backward of that eval forward: what fine-tuning with a frozen BN runs
            grads, _ = proc.call("backward", dy, names=("dy",))
        except TargetError as exc:
            if exc.fatal:
                raise
            grads = f"{exc}"
        proc.call("eval_grad", False)
        rm, rv = state_vector(before, "running_mean", c), state_vector(before, "running_var", c)
    except TargetError as exc:
        why = f"eval {_WITH_GRAD}: {exc}"
        return [_fail(ev.id, why), _fail(st.id, why)]
    gamma, beta = _maybe_vec(before, "gamma", c), _maybe_vec(before, "beta", c)
    eps = _state_eps(before)
    xw = x.astype(np.float64)
    if not isinstance(y, np.ndarray) or y.shape != x.shape or y.dtype.kind != "f":
        return [_fail(ev.id, f"eval {_WITH_GRAD} returned {type(y).__name__}"), st]
    with np.errstate(all="ignore"):
        truth = exact_inference(xw, gamma, beta, rm, rv, eps=eps, spec=BATCH_NORM)
    cmp = compare(y, truth, "y", x.dtype, x=xw, eps=eps, spec=BATCH_NORM)
    if not cmp.passed and ev.status != "fail":
        found = diagnose_eval(xw, gamma, beta, rm, rv, eps, y)
        ev = CheckResult(
            ev.id,
            "fail",
            cmp.ulp,
            cmp.budget,
            message=f"eval output {_WITH_GRAD} off by {cmp.ulp:.3g} ulp (budget "
            f"{cmp.budget:.3g}) from gamma·(x − running_mean)/sqrt(running_var + eps) + beta "
            "with the layer's own running statistics; under torch.no_grad() it is right: the "
            "layer chooses its statistics by gradient recording, not by its training flag",
            worst_entries=worst_entries(y, truth),
            diagnosis=found.ids,
        )
    elif ev.status == "pass" and ev.worst is not None and cmp.ulp > ev.worst:
        ev = CheckResult(ev.id, "pass", cmp.ulp, cmp.budget)
    if ev.status == "pass":
        ev = _eval_backward(ev, grads, xw, dy, gamma, rm, rv, eps)
    changed = [
        k
        for k in ("running_mean", "running_var", "gamma", "beta")
        if not _same(before.get(k), after.get(k))
    ]
    if changed and st.status != "fail":
        st = _fail(
            st.id,
            f"eval forward {_WITH_GRAD} changed {', '.join(changed)}",
            diagnosis=["state-updated-in-eval"],
        )
    return [ev, st]


def _eval_backward_own(
    proc: TargetProcess, x: np.ndarray, c: int, ev: CheckResult, rng: np.random.Generator
) -> str:
    """The backward of an eval forward for a target with a backward of its own (a layer
    written with NumPy, Torch7's ``updateGradInput`` after ``evaluate()``), held to the
    eval-mode gradients as an autograd target's is (:func:`_eval_backward`) where it answers
    from that eval forward (its dgamma changes with the eval input). Most layers written
    with a backward of their own are written for training only, and their backward after an
    eval forward is no promise of theirs: a wrong one is an interface deviation (a warning,
    a failure under --strict), returned as its text ("" when right, not offered, or for an
    autograd target, which :func:`_eval_with_grad` judged). One that raises, or answers from
    its last training forward whatever the eval input, does not offer it."""
    if ev.status != "pass":
        return ""
    dy = rng.normal(size=x.shape).astype(x.dtype)
    other = (x * -0.75 + 0.5).astype(x.dtype)  # another eval batch: other x_hat everywhere
    answers = []
    try:
        with contextlib.suppress(TargetError):
            proc.call("eval_grad", False)  # an autograd target's: not this check's
            return ""
        before, _ = proc.call("state")
        for xe in (x, other):
            proc.call("forward", xe, False, names=("x",))
            answers.append(proc.call("backward", dy, names=("dy",))[0])
    except TargetError as exc:
        if exc.fatal:
            raise
        return ""  # no backward after an eval forward
    if not all(isinstance(a, (tuple, list)) and len(a) == 3 for a in answers):
        return ""
    first, second = answers[0][1], answers[1][1]
    if not (isinstance(first, np.ndarray) and isinstance(second, np.ndarray)) or _same(
        first, second
    ):
        return ""  # no dgamma to tell by, or answered from the last training forward
    gamma = _maybe_vec(before, "gamma", c)
    rm, rv = state_vector(before, "running_mean", c), state_vector(before, "running_var", c)
    eps = _state_eps(before)
    judged = _eval_backward(
        ev, answers[0], x.astype(np.float64), dy, gamma, rm, rv, eps, how="after eval mode"
    )
    if judged.status == "pass":
        return ""
    return judged.message.replace(
        "is wrong for fine-tuning with frozen BN",
        "is wrong for fine-tuning with frozen BN, if the layer is meant for that",
    )


def _eval_backward(
    ev: CheckResult,
    grads: Any,
    xw: np.ndarray,
    dy: np.ndarray,
    gamma: Any,
    rm: np.ndarray,
    rv: np.ndarray,
    eps: float,
    how: str = "",
) -> CheckResult:
    """The backward after an autograd target's eval forward (recording gradients) against the
    eval-mode gradients, the statistics being constants there: dx = gamma·dy/sqrt(rv + eps),
    dgamma = Σ dy·(x − rm)/sqrt(rv + eps), dbeta = Σ dy. A backward that raises there is not
    judged (the eval forward was); one that answers is, as a layer fine-tuned with frozen BN
    statistics uses it. The truth: float64 terms, each parameter sum exactly rounded
    (``math.fsum``)."""
    if not (isinstance(grads, (tuple, list)) and len(grads) == 3):
        return ev
    dt = np.dtype(dy.dtype)
    c = xw.shape[1]
    shape = (1, c) + (1,) * (xw.ndim - 2)
    dyw = dy.astype(np.float64)
    g = np.ones(c) if gamma is None else np.asarray(gamma, np.float64)
    inv = 1.0 / np.sqrt(np.asarray(rv, np.float64) + eps)
    x_hat = (xw - np.asarray(rm, np.float64).reshape(shape)) * inv.reshape(shape)

    def per_channel(a: np.ndarray) -> np.ndarray:
        cols = np.moveaxis(a, 1, -1).reshape(-1, c)
        return np.array([math.fsum(cols[:, k]) for k in range(c)])

    truth = {
        "dx": dyw * (g * inv).reshape(shape),
        "dgamma": per_channel(dyw * x_hat),
        "dbeta": per_channel(dyw),
    }
    bad = []
    for name, got in zip(("dx", "dgamma", "dbeta"), grads, strict=True):
        if got is None:
            continue  # a parameter the target has not
        if not isinstance(got, np.ndarray) or got.size != truth[name].size:
            bad.append(f"{name} is {type(got).__name__}")
            continue
        with np.errstate(all="ignore"):
            cmp = compare(
                got.reshape(truth[name].shape),
                truth[name],
                name,
                dt,
                x=xw,
                eps=eps,
                spec=BATCH_NORM,
                dy=dyw,
                gamma=g,
            )
        if not cmp.passed:
            bad.append(f"{name} off by {cmp.ulp:.3g} ulp (budget {cmp.budget:.3g})")
    if not bad:
        return ev
    return _fail(
        ev.id,
        f"the backward of an eval forward {how or _WITH_GRAD}: {'; '.join(bad)}, from the "
        "eval-mode "
        "gradients dx = gamma·dy/sqrt(running_var + eps), dgamma = Σ dy·x_hat, dbeta = Σ dy "
        "(the running statistics are constants there); a backward that uses the batch "
        "statistics' formula after eval() is wrong for fine-tuning with frozen BN",
    )


def _state_eps(state: dict[str, Any]) -> float:
    """The eps a target's state states (a positive number), else 1e-5."""
    value = state.get("eps")
    return float(value) if isinstance(value, (int, float)) and value > 0 else 1e-5


def _float32_eval(y: Any, truth: Any, xw: np.ndarray, eps: float) -> bool:
    """Whether a float64 eval output holds float32 numbers only and is within the float32
    budget of the truth: computed in float32 from float64 input."""
    ya = np.asarray(y)
    if ya.dtype != np.float64 or not np.array_equal(ya, ya.astype(np.float32).astype(np.float64)):
        return False
    cmp = compare(ya, truth, "y", np.dtype(np.float32), x=xw, eps=eps, spec=BATCH_NORM)
    return bool(cmp.passed)


def _same(a: Any, b: Any) -> bool:
    """Equal values (NaN equal to NaN), or both absent."""
    if a is None or b is None:
        return a is None and b is None
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))
    except TypeError:
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))


def _maybe_vec(state: dict[str, Any], key: str, c: int) -> Any:
    value = state.get(key)
    if isinstance(value, np.ndarray) and value.size == c and value.dtype.kind == "f":
        return value.reshape(c).astype(np.float64)
    return None
