"""The checks of docs/design.md (the verify protocol), run against a target in its worker
process.

Check ids: ``forward/<n>d/<dtype>`` and ``backward/<n>d/<dtype>`` (against the mpmath truth,
within the error budget of ``bncheck.check.tolerances``), ``backward-fd/<n>d/float64`` (the target's
own backward against finite differences of its own forward: no truth involved), ``identities``,
``running``, ``eval``, ``eval-state``, ``no-mutation`` and ``repeatable``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from hypothesis import HealthCheck, find, settings
from hypothesis.errors import NoSuchExample

from bncheck.check._verify.cases import probe_cases, search_strategy, shrink
from bncheck.check._verify.results import CheckResult, Options
from bncheck.check._verify.worker import TargetProcess
from bncheck.check.strategies import BNCase
from bncheck.check.tolerances import compare
from bncheck.check.truth import exact_batchnorm
from bncheck.exceptions import TargetError

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
    notes: tuple[str, ...] = ()


def _validate(
    name: str, value: Any, shape: tuple[int, ...], dtype: np.dtype[Any], notes: list[str]
) -> np.ndarray:
    """The target's output as an array; a float dtype other than the input's, or C values in
    another shape, is an interface deviation (noted), not a numeric failure."""
    if value is None:
        raise TargetError(f"{name} is None; expected an array of shape {shape}")
    if not isinstance(value, np.ndarray):
        raise TargetError(f"{name} is {type(value).__name__}; expected a NumPy array")
    arr = value
    if arr.dtype.kind != "f":
        raise TargetError(f"{name} has dtype {arr.dtype}; expected {dtype}")
    if arr.dtype != dtype:
        notes.append(f"{name} has dtype {arr.dtype} for {dtype} input (expected {dtype})")
    if arr.shape != shape:
        if len(shape) == 1 and arr.size == shape[0]:
            if shape[0] > 1:  # with one channel every shape of size 1 looks alike
                dims = ", ".join("C" if d == shape[0] else str(d) for d in arr.shape)
                notes.append(f"{name} has shape ({dims}); expected (C,)")
            arr = arr.reshape(shape)
        else:
            raise TargetError(f"{name} has shape {arr.shape}; expected {shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise TargetError(
            f"{name} contains {float(arr[idx])} at index {idx}; expected finite values"
        )
    return arr


def _param(state: dict[str, Any], key: str, fallback: Any, c: int) -> Any:
    value = state.get(key)
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f" or value.size != c:
        return fallback
    return value.reshape(c)


def evaluate(proc: TargetProcess, case: BNCase, *, backward: bool = True) -> Run:
    """Train-mode forward (and backward) of a fresh target instance on ``case``.

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
        gamma = _param(state, "gamma", case.gamma, c)
        beta = _param(state, "beta", case.beta, c)
        eps_state = state.get("eps")
        eps = _eps(eps_state, case.eps)
        stage = "forward"
        y, mut = proc.call("forward", case.x, True, names=("x",))
        mutated += [f"forward: {n}" for n in mut]
        y = _validate("forward output y", y, case.x.shape, case.x.dtype, notes)
        if backward:
            stage = "backward"
            grads, mut = proc.call("backward", case.dy, names=("dy",))
            mutated += [f"backward: {n}" for n in mut]
            if not isinstance(grads, (tuple, list)) or len(grads) != 3:
                raise TargetError(
                    f"backward gave {type(grads).__name__}; expected (dx, dgamma, dbeta)"
                )
            dx = _validate("dx", grads[0], case.x.shape, case.x.dtype, notes)
            dgamma = _validate("dgamma", grads[1], (c,), case.x.dtype, notes)
            dbeta = _validate("dbeta", grads[2], (c,), case.x.dtype, notes)
    except TargetError as exc:
        if exc.fatal:
            raise
        return Run(y, dx, dgamma, dbeta, gamma, beta, eps, mutated, str(exc), stage, tuple(notes))
    return Run(y, dx, dgamma, dbeta, gamma, beta, eps, mutated, notes=tuple(notes))


def _eps(value: Any, fallback: float) -> float:
    """The target's eps if it states a usable one (a positive finite number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if value is not None:
            raise TargetError(f"the layer's eps is {value!r}; expected a positive number")
        return fallback
    if not np.isfinite(value) or value <= 0:
        raise TargetError(f"the layer's eps is {value!r}; expected a positive number")
    return float(value)


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
            x=case.x, eps=run.eps, axis=1, dy=case.dy, gamma=run.gamma,
        )  # fmt: skip
    return out


def diagnose(
    case: BNCase, run: Run, failed: list[str], stage: str, forward_ids: list[str] | None = None
) -> tuple[list[str], str]:
    """Mistake ids explaining the failed outputs of one run, and what the fit found."""
    from bncheck.check._verify import diagnose as D

    x, g, b, dy, eps = case.x, run.gamma, run.beta, case.dy, run.eps
    D.in_dtype(case.x.dtype)
    with np.errstate(all="ignore"):
        if stage == "forward":
            found = D.diagnose_forward(x, g, b, eps, run.y)
        else:
            found = D.diagnose_backward(x, g, b, eps, dy, run.dx, run.dgamma, run.dbeta, failed)
            if not found.ids and forward_ids:
                got = {n: getattr(run, n) for n in failed}
                if D.explains_forward_mistake(forward_ids, x, g, b, eps, dy, got):
                    return list(forward_ids), "the backward of the forward's mistake"
    # float32 arithmetic degrades y too: claimed for a backward only when y is also off
    y_off = stage == "forward" or not _within(case, run, "y", np.float64)
    if (
        not found.ids
        and y_off
        and case.x.dtype == np.float64
        and _float32_values(run, failed)
        and _float32_accurate(case, run, failed)
    ):
        return ["float32-arithmetic"], (
            found.fitted + "; its errors are of float32 size on float64 input"
        )
    return found.ids, found.fitted


def _within(case: BNCase, run: Run, name: str, dtype: Any) -> bool:
    truth = truth_of(case, run)
    cmp = compare(
        np.asarray(getattr(run, name), dtype=np.float64), truth[name], name, dtype,
        x=case.x, eps=run.eps, axis=1, dy=case.dy, gamma=run.gamma,
    )  # fmt: skip
    return bool(cmp.passed)


def _float32_values(run: Run, failed: list[str]) -> bool:
    """Whether the failed outputs of a float64 run hold float32 numbers: a BN that computes in
    float32 and hands back float64 returns values float32 can represent exactly (a float64
    computation that merely loses digits, e.g. to a one-pass variance, does not)."""
    for name in failed:
        a = np.asarray(getattr(run, name), dtype=np.float64)
        with np.errstate(all="ignore"):
            exact = a.astype(np.float32).astype(np.float64) == a
        if exact.mean() < 0.9:
            return False
    return True


def _float32_accurate(case: BNCase, run: Run, failed: list[str]) -> bool:
    """Whether every failed output of a float64 run is within the float32 budget."""
    truth = truth_of(case, run)
    for name in failed:
        cmp32 = compare(
            np.asarray(getattr(run, name), dtype=np.float64), truth[name], name, np.float32,
            x=case.x, eps=run.eps, axis=1, dy=case.dy, gamma=run.gamma,
        )  # fmt: skip
        if not cmp32.passed:
            return False
    return True


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
        self.diag_ratio = -1.0
        self.fallback: tuple[BNCase, Run, list[str]] | None = None

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
            # the fits need a few values per channel; among those, the clearest failure
            m = case.x.size // case.x.shape[1]
            if m >= 6 and (self.diag is None or ratio > self.diag_ratio):
                self.diag, self.diag_ratio = (case, run, outputs), ratio
            elif self.diag is None and self.fallback is None:
                self.fallback = (case, run, outputs)


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


def run_config(
    proc: TargetProcess,
    dtype: str,
    ndim: int,
    options: Options,
    *,
    names: dict[str, str] | None = None,
    forward_ids: list[str] | None = None,
) -> list[CheckResult]:
    """forward/<n>d/<dtype> and backward/<n>d/<dtype>: probes, a search, shrinking.

    ``names`` renames the checks (stage -> check id prefix; a stage left out is not
    reported), e.g. {"backward": "backward-alt"} for a second backward of the same forward.
    """
    names = names or {"forward": "forward", "backward": "backward"}
    accs = {s: _Acc(f"{names.get(s, s)}/{ndim}d/{dtype}") for s in ("forward", "backward")}
    fatal: str | None = None
    try:
        for case in probe_cases(dtype, ndim, options.seed, options.channels):
            judge(case, noted(evaluate(proc, case), options), accs)
        if options.examples > 0 and any(a.failure is None for a in accs.values()):
            _search(proc, dtype, ndim, options, accs)
    except TargetError as exc:
        fatal = str(exc)
    results = []
    ids: list[str] = list(forward_ids or [])
    for stage, acc in accs.items():
        result = _result(proc, acc, stage, fatal, options, ids)
        if stage == "forward" and result.status == "fail":
            ids = ids or list(result.diagnosis)
        if stage in names:
            results.append(result)
    return results


def noted(run: Run, options: Options) -> Run:
    """Record a run's interface deviations in the options (reported once each)."""
    options.note(run.notes)
    return run


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
                failed = judge(case, noted(evaluate(proc, case), options), accs)
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
    except TargetError:
        raise
    except Exception as exc:  # Hypothesis wraps a target failure met while searching
        inner = _target_error_in(exc)
        if inner is not None:
            raise inner from None
        raise TargetError(f"the search for a failing input stopped: {type(exc).__name__}: "
                          f"{str(exc)[:300]}", fatal=True) from None  # fmt: skip


def _target_error_in(exc: BaseException) -> TargetError | None:
    """The TargetError inside an exception (group) Hypothesis raised, if any."""
    if isinstance(exc, TargetError):
        return exc
    for inner in getattr(exc, "exceptions", ()):
        found = _target_error_in(inner)
        if found is not None:
            return found
    cause = exc.__cause__ or exc.__context__
    return _target_error_in(cause) if cause is not None and cause is not exc else None


def _result(
    proc: TargetProcess, acc: _Acc, stage: str, fatal: str | None, options: Options,
    forward_ids: list[str],
) -> CheckResult:  # fmt: skip
    if acc.failure is None and fatal is None:
        return CheckResult(acc.id, "pass", acc.worst, acc.budget)
    if acc.failure is None:
        return CheckResult(acc.id, "fail", acc.worst, acc.budget, message=str(fatal))
    case, run, outputs, message, _ = acc.failure
    diagnosis: list[str] = []
    explanation = ""
    chosen = acc.diag or acc.fallback
    if chosen is not None:
        dcase, drun, dout = chosen
        diagnosis, explanation = diagnose(
            dcase, drun, dout, stage, forward_ids if stage == "backward" else None
        )

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
    entries: list[dict[str, Any]] = []
    if outputs != ["error"]:
        small_run = run
        if small is not case:
            try:
                small_run = evaluate(proc, small)
            except TargetError:
                small_run = run
                small = case
        if small_run.error is None:
            truth = truth_of(small, small_run)
            entries = [
                {"output": n, **e}
                for n in outputs
                if getattr(small_run, n) is not None
                for e in worst_entries(getattr(small_run, n), truth[n])
            ]
        run = small_run
    worst, budget = acc.worst, acc.budget
    if outputs == ["error"]:
        worst = budget = None  # a raise has no error size
    return CheckResult(
        acc.id, "fail", worst, budget, message=message,
        counterexample=describe_case(small, run if run is not acc.failure[1] or small is case
                                     else None), worst_entries=entries,
        diagnosis=diagnosis, explanation=explanation,
    )  # fmt: skip
