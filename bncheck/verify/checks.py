"""The checks of DESIGN §6, run against a target in its worker process.

Check ids: ``forward/<n>d/<dtype>`` and ``backward/<n>d/<dtype>`` (against the mpmath truth,
within the error budget of ``bncheck.errors``), ``backward-fd/<n>d/float64`` (the target's own
backward against finite differences of its own forward: no truth involved), ``identities``,
``running``, ``eval``, ``eval-state``, ``no-mutation`` and ``repeatable``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from hypothesis import HealthCheck, find, settings
from hypothesis.errors import NoSuchExample

from bncheck.errors import compare
from bncheck.reference.exact import exact_batchnorm
from bncheck.strategies import BNCase
from bncheck.verify.cases import probe_cases, search_strategy, shrink
from bncheck.verify.mistakes import MISTAKES, mistake_outputs
from bncheck.verify.results import CheckResult, Options
from bncheck.verify.worker import TargetError, TargetProcess

__all__ = ["CheckResult", "Options", "Run", "evaluate"]

OUTPUTS = ("y", "dx", "dgamma", "dbeta")


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


def _validate(name: str, value: Any, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
    if value is None:
        raise TargetError(f"{name} is None; expected an array of shape {shape}")
    arr = np.asarray(value)
    if arr.dtype != dtype:
        raise TargetError(
            f"{name} has dtype {arr.dtype} for {dtype} input; expected {dtype} (same dtype out)"
        )
    if arr.shape != shape:
        raise TargetError(f"{name} has shape {arr.shape}; expected {shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise TargetError(f"{name} contains {arr[idx]} at index {idx}; expected finite values")
    return arr


def _param(state: dict[str, Any], key: str, fallback: Any, c: int) -> Any:
    value = state.get(key)
    arr = None if value is None else np.asarray(value)
    return arr if arr is not None and arr.shape == (c,) and arr.dtype.kind == "f" else fallback


def evaluate(proc: TargetProcess, case: BNCase, *, backward: bool = True) -> Run:
    """Train-mode forward (and backward) of a fresh target instance on ``case``.

    Non-fatal target errors (raised, bad outputs) come back in ``Run.error``; fatal ones
    (hang, exit, flood) propagate as TargetError.
    """
    c = case.x.shape[1]
    mutated: list[str] = []
    stage = "setup"
    gamma, beta, eps = case.gamma, case.beta, case.eps
    y = dx = dgamma = dbeta = None
    try:
        proc.call("new", c, case.x.dtype.name, case.eps)
        _, mut = proc.call("set_params", case.gamma, case.beta, names=("gamma", "beta"))
        state, _ = proc.call("state")
        gamma = _param(state, "gamma", case.gamma, c)
        beta = _param(state, "beta", case.beta, c)
        eps_state = state.get("eps")
        eps = float(eps_state) if isinstance(eps_state, (int, float)) else case.eps
        stage = "forward"
        y, mut = proc.call("forward", case.x, True, names=("x",))
        mutated += [f"forward: {n}" for n in mut]
        y = _validate("forward output y", y, case.x.shape, case.x.dtype)
        if backward:
            stage = "backward"
            grads, mut = proc.call("backward", case.dy, names=("dy",))
            mutated += [f"backward: {n}" for n in mut]
            dx = _validate("dx", grads[0], case.x.shape, case.x.dtype)
            dgamma = _validate("dgamma", grads[1], (c,), case.x.dtype)
            dbeta = _validate("dbeta", grads[2], (c,), case.x.dtype)
    except TargetError as exc:
        if exc.fatal:
            raise
        return Run(y, dx, dgamma, dbeta, gamma, beta, eps, mutated, str(exc), stage)
    return Run(y, dx, dgamma, dbeta, gamma, beta, eps, mutated)


def truth_of(case: BNCase, run: Run) -> dict[str, Any]:
    t = exact_batchnorm(case.x, run.gamma, run.beta, case.dy, eps=run.eps, axis=1)
    return {"y": t.y, "dx": t.dx, "dgamma": t.dgamma, "dbeta": t.dbeta}


def compare_outputs(case: BNCase, run: Run, names: tuple[str, ...]) -> dict[str, Any]:
    """errors.compare for each named output against the truth."""
    truth = truth_of(case, run)
    out = {}
    for name in names:
        out[name] = compare(
            getattr(run, name), truth[name], name, case.x.dtype,
            x=case.x, eps=run.eps, axis=1, dy=case.dy,
        )  # fmt: skip
    return out


def diagnose(case: BNCase, run: Run, failed: list[str]) -> list[str]:
    """Ids of the catalogue mistakes whose outputs match the target's on every failed output."""
    found = []
    for mistake in MISTAKES:
        if not set(failed) <= set(mistake.outputs):
            continue
        wrong = mistake_outputs(mistake, case.x, run.gamma, run.beta, case.dy, run.eps)
        if wrong is None:
            continue
        ok = True
        for name in failed:
            cmp = compare(
                getattr(run, name), wrong[name], name, case.x.dtype,
                x=case.x, eps=run.eps, axis=1, dy=case.dy,
            )  # fmt: skip
            ok = ok and bool(cmp.passed)
        if ok:
            found.append(mistake.id)
    return found


def describe_case(case: BNCase, run: Run | None = None) -> dict[str, Any]:
    """A JSON-able counterexample."""

    def lst(a: Any) -> Any:
        return None if a is None else np.asarray(a, dtype=np.float64).tolist()

    return {
        "shape": list(case.x.shape),
        "dtype": case.x.dtype.name,
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


class _Acc:
    """Worst error seen for one check, and its first failure."""

    def __init__(self, check_id: str) -> None:
        self.id = check_id
        self.ratio = -1.0
        self.worst: float | None = None
        self.budget: float | None = None
        self.failure: tuple[BNCase, Run, list[str], str] | None = None

    def see(self, ulp: float, budget: float) -> None:
        ratio = ulp / budget if budget > 0 else float("inf")
        if ratio > self.ratio:
            self.ratio, self.worst, self.budget = ratio, ulp, budget

    def fail(self, case: BNCase, run: Run, outputs: list[str], message: str) -> None:
        if self.failure is None:
            self.failure = (case, run, outputs, message)


STAGE_CHECKS = {"forward": ("y",), "backward": ("dx", "dgamma", "dbeta")}


def judge(case: BNCase, run: Run, accs: dict[str, _Acc] | None = None) -> dict[str, list[str]]:
    """Failed outputs per stage ('forward', 'backward') of one run; records into ``accs``."""
    failed: dict[str, list[str]] = {}
    if run.error is not None:
        stages = ["forward", "backward"] if run.stage in ("setup", "forward") else ["backward"]
        for stage in stages:
            failed[stage] = ["error"]
            if accs is not None:
                accs[stage].fail(case, run, ["error"], run.error)
        if run.stage == "backward":
            failed.update(_judge_outputs(case, run, ("forward",), accs))
        return failed
    return _judge_outputs(case, run, ("forward", "backward"), accs)


def _judge_outputs(
    case: BNCase, run: Run, stages: tuple[str, ...], accs: dict[str, _Acc] | None
) -> dict[str, list[str]]:
    names = tuple(n for s in stages for n in STAGE_CHECKS[s])
    cmps = compare_outputs(case, run, names)
    failed: dict[str, list[str]] = {}
    for stage in stages:
        bad = [n for n in STAGE_CHECKS[stage] if not cmps[n].passed]
        if accs is not None:
            for n in STAGE_CHECKS[stage]:
                accs[stage].see(cmps[n].ulp, cmps[n].budget)
        if bad:
            failed[stage] = bad
            if accs is not None:
                msg = "; ".join(
                    f"{n}: {cmps[n].ulp:.3g} ulp > budget {cmps[n].budget:.3g}" for n in bad
                )
                accs[stage].fail(case, run, bad, msg)
    return failed


def run_config(proc: TargetProcess, dtype: str, ndim: int, options: Options) -> list[CheckResult]:
    """forward/<n>d/<dtype> and backward/<n>d/<dtype>: probes, a search, shrinking."""
    ids = {s: f"{s}/{ndim}d/{dtype}" for s in ("forward", "backward")}
    accs = {s: _Acc(ids[s]) for s in ids}
    fatal: str | None = None
    try:
        for case in probe_cases(dtype, ndim, options.seed, options.channels):
            judge(case, evaluate(proc, case), accs)
        if options.examples > 0 and any(a.failure is None for a in accs.values()):
            _search(proc, dtype, ndim, options, accs)
    except TargetError as exc:
        fatal = str(exc)
    results = []
    for stage, acc in accs.items():
        results.append(_result(proc, acc, stage, fatal, options))
    return results


def _search(
    proc: TargetProcess, dtype: str, ndim: int, options: Options, accs: dict[str, _Acc]
) -> None:
    open_stages = {s for s, a in accs.items() if a.failure is None}
    seen: dict[bytes, bool] = {}

    def fails(case: BNCase) -> bool:
        # Deterministic per input (Hypothesis replays examples): answers are cached, and once
        # the call budget is spent every new input counts as passing, which ends the shrinking.
        key = (
            b"".join(
                b"-" if a is None else a.tobytes() + str(a.shape).encode()
                for a in (case.x, case.gamma, case.beta, case.dy)
            )
            + repr(case.eps).encode()
        )
        if key not in seen:
            if len(seen) >= options.examples + options.shrink_budget:
                seen[key] = False
            else:
                failed = judge(case, evaluate(proc, case), accs)
                seen[key] = bool(open_stages & set(failed))
        return seen[key]

    try:
        find(
            search_strategy(dtype, ndim, options.channels),
            fails,
            settings=settings(
                max_examples=options.examples,
                database=None,
                derandomize=True,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
    except NoSuchExample:
        pass


def _result(
    proc: TargetProcess, acc: _Acc, stage: str, fatal: str | None, options: Options
) -> CheckResult:
    if acc.failure is None and fatal is None:
        return CheckResult(acc.id, "pass", acc.worst, acc.budget)
    if acc.failure is None:
        return CheckResult(acc.id, "fail", acc.worst, acc.budget, message=str(fatal))
    case, run, outputs, message = acc.failure
    diagnosis = [] if outputs == ["error"] else diagnose(case, run, outputs)
    entries: list[dict[str, Any]] = []
    if outputs != ["error"]:
        truth = truth_of(case, run)
        entries = [
            {"output": n, **e} for n in outputs for e in worst_entries(getattr(run, n), truth[n])
        ]

    def still_fails(smaller: BNCase) -> bool:
        try:
            return stage in judge(smaller, evaluate(proc, smaller))
        except TargetError:
            return False

    small = case
    if fatal is None:
        small = shrink(
            case, still_fails, options.shrink_budget, fixed_channels=options.channels is not None
        )
    return CheckResult(
        acc.id, "fail", acc.worst, acc.budget, message=message,
        counterexample=describe_case(small), worst_entries=entries, diagnosis=diagnosis,
    )  # fmt: skip
