"""The checks ``forward/<n>d/<dtype>`` and ``backward/<n>d/<dtype>``: the probes, a Hypothesis
search for a failing input, shrinking it, and the diagnosis of the failure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import HealthCheck, find, settings
from hypothesis.errors import NoSuchExample

from bncheck.check._verify.checks.case import (
    Acc,
    Run,
    describe_case,
    evaluate,
    judge,
    noted,
    prefetch_truths,
    truth_of,
    worst_entries,
)
from bncheck.check._verify.checks.inputs import (
    kernel_cases,
    probe_cases,
    search_strategy,
    shrink,
    with_case_layout,
)
from bncheck.check._verify.checks.large_truth import use_large_truth
from bncheck.check._verify.diagnosis import fits as D
from bncheck.check._verify.diagnosis.one_pass import diagnose_one_pass
from bncheck.check._verify.process.worker import TargetProcess
from bncheck.check._verify.results import CheckResult, Options
from bncheck.check.metrics import compare
from bncheck.check.norms import BATCH_NORM
from bncheck.check.strategies import BNCase, case_layouts, layout_text
from bncheck.exceptions import TargetError

__all__ = ["LARGE_SHRINK_TRIES", "run_config"]

#: shrinking tries for a failing case above the mpmath size (each try is a large evaluation)
LARGE_SHRINK_TRIES = 8


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
    accs = {s: Acc(f"{names.get(s, s)}/{ndim}d/{dtype}") for s in ("forward", "backward")}
    fatal: str | None = None
    seen = Coverage()
    probes = probe_cases(dtype, ndim, options.seed, options.channels)
    kernels = kernel_cases(dtype, ndim, options.seed, options.channels, options.axis)
    prefetch_truths(proc, [*probes, *kernels])
    try:
        for case in probes:
            judge(case, noted(evaluate(proc, case), options), accs)
            seen.add(case)
        for case in kernels:
            ran, run = _evaluate_laid_out(proc, case, options)
            judge(ran, noted(run, options), accs)
            seen.add(ran)
        if options.examples > 0 and any(a.failure is None for a in accs.values()):
            _search(proc, dtype, ndim, options, accs, seen)
    except TargetError as exc:
        fatal = str(exc)
    finally:
        proc.idle_jobs.clear()
    results = []
    ids: list[str] = list(forward_ids or [])
    for stage, acc in accs.items():
        result = _result(proc, acc, stage, fatal, options, ids)
        if stage == "forward" and result.status == "fail":
            ids = ids or list(result.diagnosis)
        if stage in names:
            result.inputs = seen.lines()
            if result.status == "pass":
                result.message = seen.summary()
            results.append(result)
    return results


class Coverage:
    """The inputs a check ran on: one line per distinct (shape, layout), and a summary."""

    def __init__(self) -> None:
        self.cases: dict[tuple[tuple[int, ...], str], str] = {}

    def add(self, case: BNCase) -> None:
        key = (tuple(case.x.shape), case.layout)
        if key not in self.cases:
            self.cases[key] = case.regime

    def lines(self) -> list[str]:
        return [f"{shape} {layout}, regime {r}" for (shape, layout), r in self.cases.items()]

    def summary(self) -> str:
        """e.g. "24 inputs: C 1–2053, m 2–66049, batch of 1, layouts C, F, sliced"."""
        if not self.cases:
            return ""
        shapes = [s for s, _ in self.cases]
        cs = sorted({s[1] for s in shapes})
        ms = sorted({int(np.prod(s)) // s[1] for s in shapes})
        lays = list(dict.fromkeys(lay for _, lay in self.cases))
        text = f"{len(self.cases)} inputs: C {_span(cs)}, m {_span(ms)}, layouts {', '.join(lays)}"
        if any(s[0] == 1 and len(s) > 2 for s in shapes):
            text += ", batch of 1"
        return text


#: what a target that ends the program, or interrupts it, says in its error: never a refusal
_NOT_REFUSALS = ("called sys.exit(", "raised KeyboardInterrupt", "raised GeneratorExit")


def refusal(error: str) -> bool:
    """Whether a target's error on a layout can be its refusal of that layout (an exception
    it raised), not the program ended (``sys.exit`` on a transposed view: a failure)."""
    return not any(word in error for word in _NOT_REFUSALS)


def _span(values: list[int]) -> str:
    return str(values[0]) if len(values) == 1 else f"{values[0]}–{values[-1]}"


def _evaluate_laid_out(proc: TargetProcess, case: BNCase, options: Options) -> tuple[BNCase, Run]:
    """``case`` in its layout; a target that raises on that layout but not on the same values
    C-contiguous refuses the layout: an interface finding (a failure under --strict), and the
    C-contiguous run is judged instead, so the shape is still checked. A target that answers
    on that layout, wrongly (NaN, another shape), did not refuse it: that run is judged."""
    run = evaluate(proc, case)
    if run.error is None or case.layout == "C" or run.stage == "setup" or not run.raised:
        return case, run
    if not refusal(run.error):  # exiting the program is no way of refusing a layout
        return case, run
    plain = with_case_layout(case, "C")
    plain_run = evaluate(proc, plain)
    if plain_run.error is not None:
        return case, run
    options.note(
        [
            f"refuses {layout_text(case.layout)} input (shape {tuple(case.x.shape)}): "
            f"{run.error}; checked on a C-contiguous copy instead"
        ]
    )
    return plain, plain_run


def _search(
    proc: TargetProcess,
    dtype: str,
    ndim: int,
    options: Options,
    accs: dict[str, Acc],
    coverage: Coverage,
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
            + repr((case.eps, case.layout)).encode()
        )
        if key not in seen:
            if len(seen) >= options.examples + options.shrink_budget:
                seen[key] = False
            else:
                ran, run = _evaluate_laid_out(proc, case, options)
                failed = judge(ran, noted(run, options), accs)
                coverage.add(ran)
                seen[key] = bool(open_stages & set(failed))
        return seen[key]

    shapes: list[tuple[int, ...]] = []
    if options.compiled_shapes:  # values vary, shapes are ones already compiled
        shapes = sorted(
            s
            for s, d in proc.shapes_run
            if d == np.dtype(dtype).name and len(s) == ndim and _small(s, options)
        )
    try:
        find(
            search_strategy(
                dtype,
                ndim,
                options.channels,
                thorough=options.thorough,
                axis=options.axis,
                shapes=shapes,
            ),
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
        raise TargetError(
            f"the search for a failing input stopped: {type(exc).__name__}: {str(exc)[:300]}",
            fatal=True,
        ) from None


#: the most values a shape the search of a compiling target reuses may have (the probes' and
#: the search's own sizes are far below: the mpmath truth of each example stays cheap)
SEARCH_REUSED_VALUES = 4096


def _small(shape: tuple[int, ...], options: Options) -> bool:
    values = int(np.prod(shape))
    per_channel = values // max(shape[1], 1)
    channels_ok = options.channels is None or shape[1] == options.channels
    return values <= SEARCH_REUSED_VALUES and per_channel >= 2 and channels_ok


def _compiled_shape(proc: TargetProcess, dtype: str) -> Callable[[BNCase], bool]:
    """Whether a case's shape has been run in ``dtype`` (a compiling target has its program)."""
    return lambda c: (tuple(c.x.shape), dtype) in proc.shapes_run


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
    proc: TargetProcess,
    acc: Acc,
    stage: str,
    fatal: str | None,
    options: Options,
    forward_ids: list[str],
) -> CheckResult:
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
            dcase,
            drun,
            dout,
            stage,
            forward_ids if stage == "backward" else None,
            clean_passes=acc.clean_passes,
        )
    if not diagnosis and fatal is None and outputs != ["error"]:
        explanation = _layout_only(proc, case, stage) or explanation

    def still_fails(smaller: BNCase) -> bool:
        try:
            return stage in judge(smaller, evaluate(proc, smaller))
        except TargetError:
            return False

    small = case
    if fatal is None:
        # a large case costs a transfer and the double-double truth per try: a few tries
        tries = options.shrink_budget if not use_large_truth(case.x) else LARGE_SHRINK_TRIES
        small = shrink(
            case,
            still_fails,
            min(options.shrink_budget, tries),
            fixed_channels=options.channels is not None,
            axis=options.axis,
            allowed=_compiled_shape(proc, str(case.x.dtype)) if options.compiled_shapes else None,
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
        acc.id,
        "fail",
        worst,
        budget,
        message=message,
        counterexample=describe_case(
            small, run if run is not acc.failure[1] or small is case else None
        ),
        worst_entries=entries,
        diagnosis=diagnosis,
        explanation=explanation,
    )


def _layout_only(proc: TargetProcess, case: BNCase, stage: str) -> str:
    """An explanation when a failure on a non-C layout does not happen on the same values
    C-contiguous ("" when it does, or the rerun raises): the fit of a formula to outputs
    that depend on the memory layout says nothing."""
    if case.layout == "C":
        return ""
    plain = with_case_layout(case, "C")
    try:
        failed = judge(plain, evaluate(proc, plain))
    except TargetError:
        return ""
    if stage in failed:
        return ""
    xl, dl = case_layouts(case.layout)
    which = (
        "its input"
        if xl == dl
        else "x and dy: the two in different layouts, as a network's incoming gradient can be"
    )
    return (
        f"wrong on {layout_text(case.layout)} input only: the same values C-contiguous are "
        f"within budget (the target depends on the memory layout of {which})"
    )


#: a backward's own placement of eps, and the forward mistake of the same placement
_FORWARD_EPS = {
    "backward-eps-outside-sqrt": "eps-outside-sqrt",
    "backward-eps-missing": "eps-missing",
    "backward-eps-twice": "eps-twice",
}


def diagnose(
    case: BNCase,
    run: Run,
    failed: list[str],
    stage: str,
    forward_ids: list[str] | None = None,
    *,
    clean_passes: int = 0,
) -> tuple[list[str], str]:
    """Mistake ids explaining the failed outputs of one run, and what the fit found;
    ``clean_passes``: ordinary float64 cases of the same check that passed (then float64
    outputs wrong by float32-sized errors are not named float32 arithmetic: a computation in
    float32 would have failed those too)."""
    x, g, b, dy, eps = case.x, run.gamma, run.beta, case.dy, run.eps
    dt = case.x.dtype
    with np.errstate(all="ignore"):
        if stage == "forward":
            found = D.diagnose_forward(x, g, b, eps, run.y, dtype=dt)
        else:
            y_right = run.y is not None and _within(case, run, "y", dt)
            found = D.diagnose_backward(
                x, g, b, eps, dy, run.dx, run.dgamma, run.dbeta, failed, dtype=dt, y_right=y_right
            )
            if not found.ids and forward_ids:
                got = {n: getattr(run, n) for n in failed}
                if D.explains_forward_mistake(forward_ids, x, g, b, eps, dy, got, dtype=dt):
                    return list(forward_ids), "the backward of the forward's mistake"
            same = [i for i in found.ids if _FORWARD_EPS.get(i) in (forward_ids or ())]
            if same:
                # eps where the forward puts it: the forward's mistake, not a backward of its
                # own ("while the forward uses sqrt(var + eps)" would be false)
                ids = [_FORWARD_EPS[i] if i in same else i for i in found.ids]
                return list(dict.fromkeys(ids)), (
                    found.fitted.replace(" in the backward only", "")
                    + "; the backward places eps as its forward does"
                )
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
    if not found.ids:  # rounding, not a formula: a one-pass variance (one_pass.py)
        got = {n: getattr(run, n) for n in (["y"] if stage == "forward" else failed)}
        with np.errstate(all="ignore"):
            one = diagnose_one_pass(x, g, b, eps, dy, run.y, got, case.x.dtype)
        if one is not None:
            return one
        if case.x.dtype == np.float64 and _float32_values(run, ["y"]):
            # both at once: a one-pass variance computed in float32 from float64 input
            with np.errstate(all="ignore"):
                one = diagnose_one_pass(x, g, b, eps, dy, run.y, got, np.dtype(np.float32))
            if one is not None:
                return ["float32-arithmetic", *one[0]], one[1] + ", in float32 arithmetic"
        if (
            y_off
            and not clean_passes
            and case.x.dtype == np.float64
            and _float32_accurate(case, run, failed)
        ):
            # float64 numbers, wrong by float32 rounding and nothing else above explains them:
            # float32 inside (statistics accumulated in float32, a float32 constant)
            return ["float32-arithmetic"], (
                found.fitted + "; its errors are of float32 size on float64 input although its "
                "outputs are float64 numbers: an intermediate (the statistics, an accumulator) "
                "in float32"
            )
    return found.ids, found.fitted


def _within(case: BNCase, run: Run, name: str, dtype: Any) -> bool:
    truth = truth_of(case, run)
    cmp = compare(
        np.asarray(getattr(run, name), dtype=np.float64),
        truth[name],
        name,
        dtype,
        x=case.x,
        eps=run.eps,
        spec=BATCH_NORM,
        dy=case.dy,
        gamma=run.gamma,
    )
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
            np.asarray(getattr(run, name), dtype=np.float64),
            truth[name],
            name,
            np.float32,
            x=case.x,
            eps=run.eps,
            spec=BATCH_NORM,
            dy=case.dy,
            gamma=run.gamma,
        )
        if not cmp32.passed:
            return False
    return True
