"""The checks of docs/design.md (the verify protocol), run against a target in its worker
process: one case evaluated on the target, and its outputs judged against the truth.

Check ids: ``forward/<n>d/<dtype>`` and ``backward/<n>d/<dtype>`` (against the mpmath truth,
within the error budget of ``bncheck.check.tolerances``), ``backward-fd/<n>d/float64`` (the target's
own backward against finite differences of its own forward: no truth involved), ``identities``,
``running``, ``eval``, ``eval-state``, ``no-mutation`` and ``repeatable``. The forward and
backward checks (probes, a search, shrinking, the diagnosis) are
:mod:`bncheck.check._verify.checks.forward_backward`; the others
:mod:`bncheck.check._verify.checks.behaviour`.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

from bncheck.check._verify.checks.large_truth import (
    TooIllConditioned,
    dd_batchnorm,
    use_large_truth,
)
from bncheck.check._verify.process.worker import TargetProcess
from bncheck.check._verify.results import Options
from bncheck.check.metrics import compare
from bncheck.check.norms import BATCH_NORM
from bncheck.check.strategies import BNCase
from bncheck.check.truth import exact_batchnorm
from bncheck.exceptions import TargetError

__all__ = [
    "Run",
    "absent_params",
    "evaluate",
    "judge",
    "judged_outputs",
    "noted",
    "param_free",
    "param_grads",
    "prefetch_truths",
    "truth_for",
]


class Run(NamedTuple):
    """A target's outputs for one case; ``error`` and ``stage`` say where it failed, if it did."""

    y: Any
    dx: Any
    dgamma: Any
    dbeta: Any
    gamma: Any
    beta: Any
    eps: float
    mutated: list[str]
    error: str | None = None
    stage: str | None = None
    notes: tuple[str, ...] = ()
    #: the error is the target's own exception (not an output verify rejected: NaN, shape)
    raised: bool = False


class BadOutput(TargetError):
    """An output of the target that verify rejects (None, not an array, a non-float dtype,
    another shape, non-finite values): the target answered, wrongly; it did not raise."""


def validate(
    name: str, value: Any, shape: tuple[int, ...], dtype: np.dtype[Any], notes: list[str]
) -> np.ndarray:
    """The target's output as an array; a float dtype other than the input's, or C values in
    another shape, is an interface deviation (noted), not a numeric failure."""
    if value is None:
        raise BadOutput(f"{name} is None; expected an array of shape {shape}")
    if not isinstance(value, np.ndarray):
        raise BadOutput(f"{name} is {type(value).__name__}; expected a NumPy array")
    arr = value
    if arr.dtype.kind != "f":
        raise BadOutput(f"{name} has dtype {arr.dtype}; expected {dtype}")
    if arr.dtype != dtype:
        notes.append(f"{name} has dtype {arr.dtype} for {dtype} input (expected {dtype})")
    if arr.shape != shape:
        if len(shape) == 1 and arr.size == shape[0]:
            if shape[0] > 1:  # with one channel every shape of size 1 looks alike
                dims = ", ".join("C" if d == shape[0] else str(d) for d in arr.shape)
                notes.append(f"{name} has shape ({dims}); expected (C,)")
            arr = arr.reshape(shape)
        else:
            raise BadOutput(f"{name} has shape {arr.shape}; expected {shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise BadOutput(f"{name} contains {float(arr[idx])} at index {idx}; expected finite values")
    return arr


def param(state: dict[str, Any], key: str, fallback: Any, c: int) -> Any:
    value = state.get(key)
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f" or value.size != c:
        return fallback
    return value.reshape(c)


def evaluate(
    proc: TargetProcess, case: BNCase, *, backward: bool = True, frozen: tuple[str, ...] = ()
) -> Run:
    """Train-mode forward (and backward) of a fresh target instance on ``case``; ``frozen``:
    the parameters ("gamma", "beta") frozen before the forward (the ``freeze`` op: autograd
    layers), whose gradients the run then holds as None.

    Non-fatal target errors (raised, bad outputs) come back in ``Run.error``; fatal ones
    (hang, exit, flood) propagate as TargetError.
    """
    c = case.x.shape[1]
    mutated: list[str] = []
    notes: list[str] = []
    stage = "setup"
    gamma, beta, eps = case.gamma, case.beta, case.eps
    y = dx = dgamma = dbeta = None
    try:
        proc.call("new", c, case.x.dtype.name, case.eps, case.x.ndim)
        _, mut = proc.call("set_params", case.gamma, case.beta, names=("gamma", "beta"))
        state, _ = proc.call("state")
        gamma = param(state, "gamma", case.gamma, c)
        beta = param(state, "beta", case.beta, c)
        eps_state = state.get("eps")
        eps = stated_eps(eps_state, case.eps)
        if frozen:
            proc.call("freeze", list(frozen))
        stage = "forward"
        y, mut = proc.call("forward", case.x, True, names=("x",))
        mutated += [f"forward: {n}" for n in mut]
        y = validate("forward output y", y, case.x.shape, case.x.dtype, notes)
        if backward:
            stage = "backward"
            grads, mut = proc.call("backward", case.dy, names=("dy",))
            mutated += [f"backward: {n}" for n in mut]
            if not isinstance(grads, (tuple, list)) or len(grads) != 3:
                raise BadOutput(
                    f"backward gave {type(grads).__name__}; expected (dx, dgamma, dbeta)"
                )
            dx = validate("dx", grads[0], case.x.shape, case.x.dtype, notes)
            dgamma, dbeta = param_grads(proc, grads, c, case.x.dtype, notes, frozen)
    except TargetError as exc:
        if exc.fatal:
            raise
        raised = not isinstance(exc, BadOutput)
        return Run(
            y, dx, dgamma, dbeta, gamma, beta, eps, mutated, str(exc), stage, tuple(notes), raised
        )
    return Run(y, dx, dgamma, dbeta, gamma, beta, eps, mutated, notes=tuple(notes))


def absent_params(proc: TargetProcess) -> frozenset[str]:
    """The parameters the target says it has not: both for a parameter-free target
    (:func:`param_free`), "gamma" or "beta" for a BN built with the other alone (Flax's
    ``use_scale=False``, Keras' ``scale=False``, Haiku's ``create_offset=False``). It is judged
    with gamma = 1 or beta = 0 there, and its backward gives no gradient for it. Only those two
    names count, whatever else the target's description holds."""
    if param_free(proc):
        return frozenset({"gamma", "beta"})
    said = getattr(proc, "description", {}).get("absent_params")
    if not isinstance(said, list):
        return frozenset()
    return frozenset(n for n in ("gamma", "beta") if n in said)


def param_grads(
    proc: TargetProcess,
    grads: Any,
    c: int,
    dtype: np.dtype[Any],
    notes: list[str],
    frozen: tuple[str, ...] = (),
) -> tuple[Any, Any]:
    """(dgamma, dbeta) of a backward's (dx, dgamma, dbeta), each validated, or None where the
    target has not that parameter (:func:`absent_params`) or it was frozen, and gave None for
    it."""
    absent = absent_params(proc) | frozenset(frozen)
    return tuple(  # type: ignore[return-value]
        None
        if param in absent and value is None
        else validate("d" + param, value, (c,), dtype, notes)
        for param, value in (("gamma", grads[1]), ("beta", grads[2]))
    )


def param_free(proc: TargetProcess) -> bool:
    """Whether the target said it has no parameters (a BN without its affine step:
    ``affine=False``, ``use_scale=False, use_bias=False``, ``center=False, scale=False``, or a
    hand-written layer holding none whose backward gives dx alone): it is judged with gamma =
    1 and beta = 0, and its backward on dx only, since it has no dgamma or dbeta to give (a
    run then holds None for them). The target's process says so, so a hostile one can claim
    it: the report then says its parameter gradients were not checked."""
    return bool(getattr(proc, "description", {}).get("param_free") is True)


def judged_outputs(stage: str, run: Run) -> tuple[str, ...]:
    """The outputs of ``stage`` a run is judged on: all of :data:`STAGE_CHECKS`, but dgamma
    and dbeta where the run has none (a parameter-free target's: :func:`param_free`;
    :func:`evaluate` accepts None for them from no other)."""
    return tuple(n for n in STAGE_CHECKS[stage] if n in ("y", "dx") or getattr(run, n) is not None)


def stated_eps(value: Any, fallback: float) -> float:
    """The target's eps if it states a usable one (a positive finite number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if value is not None:
            raise TargetError(f"the layer's eps is {value!r}; expected a positive number")
        return fallback
    if not np.isfinite(value) or value <= 0:
        raise TargetError(f"the layer's eps is {value!r}; expected a positive number")
    return float(value)


def truth_of(case: BNCase, run: Run) -> dict[str, Any]:
    """The truth of a run: the mpmath truth, or for a case of more than
    ``LARGE_TRUTH.mpmath_values`` values the double-double reference
    (:mod:`~bncheck.check._verify.checks.large_truth`), which stands in for it exactly where it
    is as accurate (it refuses where it would not be, and mpmath computes it then)."""
    return truth_for(case, run.gamma, run.beta, run.eps)


def truth_for(case: BNCase, gamma: Any, beta: Any, eps: float) -> dict[str, Any]:
    """:func:`truth_of` with the parameters and eps given: gamma and beta as float64 (every
    float16/32 value is one exactly), so that a truth computed ahead with the case's own
    parameters (:func:`prefetch_truths`) is the one a run that holds them in another dtype
    finds in the memo."""
    g = None if gamma is None else np.asarray(gamma, dtype=np.float64)
    b = None if beta is None else np.asarray(beta, dtype=np.float64)
    if use_large_truth(case.x):
        try:
            return dd_batchnorm(case.x, g, b, case.dy, eps=float(eps))
        except TooIllConditioned:
            pass
    t = exact_batchnorm(case.x, g, b, case.dy, eps=float(eps), spec=BATCH_NORM)
    return {"y": t.y, "dx": t.dx, "dgamma": t.dgamma, "dbeta": t.dbeta}


def prefetch_truths(proc: TargetProcess, cases: list[BNCase]) -> None:
    """Queue the truths of ``cases`` (with their own gamma, beta and eps) as the parent's work
    while it waits for the target (``TargetProcess.idle_jobs``). It saves what the target's
    waits leave idle of a core: 0.1 to 0.3 s of a NumPy target's 3 s on 2 cores, nothing
    measurable for a JAX one (XLA compiles on both cores). A run whose parameters differ finds
    none and computes its own; the caller clears what is left when its cases are done."""
    proc.idle_jobs.extend(
        functools.partial(truth_for, case, case.gamma, case.beta, case.eps) for case in cases
    )


def compare_outputs(case: BNCase, run: Run, names: tuple[str, ...]) -> dict[str, Any]:
    """errors.compare for each named output against the truth."""
    truth = truth_of(case, run)
    out = {}
    for name in names:
        out[name] = compare(
            getattr(run, name),
            truth[name],
            name,
            case.x.dtype,
            x=case.x,
            eps=run.eps,
            spec=BATCH_NORM,
            dy=case.dy,
            gamma=run.gamma,
        )
    return out


#: a counterexample lists its arrays only up to this many values of x (a larger one is
#: described by its shape, layout and regime, and its worst entries)
LISTED_VALUES = 4096


def describe_case(case: BNCase, run: Run | None = None) -> dict[str, Any]:
    """A JSON-able counterexample (the arrays only when x has at most LISTED_VALUES values)."""
    listed = case.x.size <= LISTED_VALUES

    def lst(a: Any) -> Any:
        return None if a is None or not listed else np.asarray(a, dtype=np.float64).tolist()

    return {
        "shape": list(case.x.shape),
        "dtype": case.x.dtype.name,
        "layout": case.layout,
        "regime": case.regime,
        "eps": run.eps if run is not None else case.eps,
        "x": lst(case.x),
        "gamma": lst(run.gamma if run is not None else case.gamma),
        "beta": lst(run.beta if run is not None else case.beta),
        "dy": lst(case.dy),
    }


def worst_entries(actual: Any, truth: Any, k: int = 3) -> list[dict[str, Any]]:
    a = np.asarray(actual, dtype=np.float64)
    t = np.asarray(truth, dtype=np.float64)
    err = np.abs(a - t).ravel()
    out = []
    for flat in np.argsort(err)[::-1][:k]:
        idx = tuple(int(i) for i in np.unravel_index(int(flat), a.shape))
        out.append({"index": list(idx), "got": float(a[idx]), "truth": float(t[idx])})
    return out


class Acc:
    """Worst error seen for one check, its worst failure, and the run to diagnose."""

    def __init__(self, check_id: str) -> None:
        self.id = check_id
        self.ratio = -1.0
        self.worst: float | None = None
        self.budget: float | None = None
        #: (case, run, failed outputs, message, ratio) of the worst failure
        self.failure: tuple[BNCase, Run, list[str], str, float] | None = None
        #: the failing run with the most values per channel (the fits need m >= 4)
        self.diag: tuple[BNCase, Run, list[str]] | None = None
        self.diag_rank: tuple[bool, float] = (False, -1.0)
        self.fallback: tuple[BNCase, Run, list[str]] | None = None
        #: ordinary float64 cases (:func:`_ordinary`, 6 values a channel or more, none
        #: constant) on which the stage passed: a float64 computation in float32 would have
        #: failed them all, so with any of them the weak float32 evidence names nothing
        self.clean_passes = 0

    def passed(self, case: BNCase) -> None:
        x = case.x
        if x.dtype != np.float64 or not _ordinary(case):
            return
        m = x.size // x.shape[1]
        cols = np.moveaxis(x, 1, 0).reshape(x.shape[1], -1)
        if m >= 6 and bool(np.all(cols.max(axis=1) > cols.min(axis=1))):
            self.clean_passes += 1

    def see(self, ulp: float, budget: float) -> None:
        ratio = ulp / budget if budget > 0 else float("inf")
        if ratio > self.ratio:
            self.ratio, self.worst, self.budget = ratio, ulp, budget

    def fail(
        self, case: BNCase, run: Run, outputs: list[str], message: str, ratio: float = -1.0
    ) -> None:
        if self.failure is None or (ratio > self.failure[4] and outputs != ["error"]):
            self.failure = (case, run, outputs, message, ratio)
        if outputs != ["error"]:
            # the fits need a few values per channel; among those, the clearest failure of an
            # ordinary input (C order, a batch of more than 1, the mpmath size: the probes
            # are), then of any other
            m = case.x.size // case.x.shape[1]
            rank = (_ordinary(case), ratio)
            if m >= 6 and (self.diag is None or rank > self.diag_rank):
                self.diag, self.diag_rank = (case, run, outputs), rank
            elif self.diag is None and self.fallback is None:
                self.fallback = (case, run, outputs)


def _ordinary(case: BNCase) -> bool:
    """An input like the probes: C order, a batch of more than 1, at most the mpmath size."""
    return case.layout == "C" and case.x.shape[0] > 1 and not use_large_truth(case.x)


STAGE_CHECKS = {"forward": ("y",), "backward": ("dx", "dgamma", "dbeta")}


def judge(case: BNCase, run: Run, accs: dict[str, Acc] | None = None) -> dict[str, list[str]]:
    """Failed outputs per stage ('forward', 'backward') of one run; records into ``accs``.

    A stage whose exact outputs the dtype cannot hold (a float16 dx or dbeta past 65504: the
    correctly rounded result is an infinity) is not judged on that case: every BN can only
    overflow there, or refuse to (bncheck's own raises), so the case checks none."""
    failed: dict[str, list[str]] = {}
    held = _stages_held(case, run)
    if run.error is not None:
        stages = ["forward", "backward"] if run.stage in ("setup", "forward") else ["backward"]
        for stage in (s for s in stages if s in held):
            failed[stage] = ["error"]
            if accs is not None:
                accs[stage].fail(case, run, ["error"], run.error)
        if run.stage == "backward" and "forward" in held:
            failed.update(_judge_outputs(case, run, ("forward",), accs))
        return failed
    return _judge_outputs(case, run, held, accs)


def _stages_held(case: BNCase, run: Run) -> tuple[str, ...]:
    """The stages whose exact outputs on ``case`` the case's dtype holds (float16 only: no
    case of float32 or float64 comes near their range)."""
    if case.x.dtype != np.float16:
        return ("forward", "backward")
    truth = truth_of(case, run)
    with np.errstate(over="ignore"):
        return tuple(
            stage
            for stage in ("forward", "backward")
            if all(
                truth.get(n) is None or np.all(np.isfinite(np.asarray(truth[n]).astype(np.float16)))
                for n in STAGE_CHECKS[stage]
            )
        )


def _judge_outputs(
    case: BNCase, run: Run, stages: tuple[str, ...], accs: dict[str, Acc] | None
) -> dict[str, list[str]]:
    names = tuple(n for s in stages for n in judged_outputs(s, run))
    cmps = compare_outputs(case, run, names)
    failed: dict[str, list[str]] = {}
    for stage in stages:
        bad = [n for n in judged_outputs(stage, run) if not cmps[n].passed]
        if accs is not None:
            for n in judged_outputs(stage, run):
                accs[stage].see(cmps[n].ulp, cmps[n].budget)
        if not bad and accs is not None:
            accs[stage].passed(case)
        if bad:
            failed[stage] = bad
            if accs is not None:
                ranked = sorted(bad, key=lambda n: -_ratio(cmps[n]))
                msg = "; ".join(
                    f"{n} off by {_num(cmps[n].ulp)} ulp (budget {_num(cmps[n].budget)})"
                    for n in ranked
                )
                accs[stage].fail(case, run, bad, msg, _ratio(cmps[ranked[0]]))
    return failed


def _ratio(cmp: Any) -> float:
    return float(cmp.ulp / cmp.budget) if cmp.budget > 0 else float("inf")


def _num(v: float) -> str:
    """A plain number for messages (no np.float64(...), no trailing noise)."""
    return f"{float(v):.3g}"


def noted(run: Run, options: Options) -> Run:
    """Record a run's interface deviations in the options (reported once each)."""
    options.note(run.notes)
    return run
