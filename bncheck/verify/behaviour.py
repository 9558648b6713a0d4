"""Checks beyond the truth comparison: finite differences, identities, running statistics, eval
mode, mutation and repeatability."""

from __future__ import annotations

from typing import Any

import numpy as np

from bncheck._checks import BatchNormError
from bncheck.errors import compare
from bncheck.reference.exact import exact_batchnorm, exact_inference
from bncheck.running import update_running
from bncheck.strategies import BNCase
from bncheck.verify.cases import SHAPES, probe_cases
from bncheck.verify.checks import Run, evaluate, worst_entries
from bncheck.verify.results import CheckResult, Options
from bncheck.verify.worker import TargetError, TargetProcess

__all__ = [
    "check_fd",
    "check_identities",
    "check_repeatable",
    "check_running_and_eval",
]


def _cols(a: Any) -> np.ndarray:
    """(N, C, ...) -> (m, C) float64."""
    arr = np.asarray(a, dtype=np.float64)
    return np.moveaxis(arr, 1, -1).reshape(-1, arr.shape[1])


def _fail(check_id: str, message: str, **kw: Any) -> CheckResult:
    return CheckResult(check_id, "fail", message=message, **kw)


# -- finite differences ------------------------------------------------------------------------


def check_fd(proc: TargetProcess, ndim: int, options: Options) -> CheckResult:
    """<dy, J v> from central differences of the target's forward (Richardson-extrapolated)
    against <backward(dy), v> from its backward, for a random direction v in (x, gamma, beta).

    Error budget: the FD estimate's own error is estimated as |D(h) − D(2h)| (the Richardson
    values at two steps) plus the rounding floor 64·u·Σ|dy·y|/h; the backward side may err by
    64·u·Σ|∂·v|. A missing gradient path changes <dx, v> by O(|dx|·|v|), far above both.
    """
    check_id = f"backward-fd/{ndim}d/float64"
    case = probe_cases("float64", ndim, options.seed, options.channels)[0]
    rng = np.random.default_rng([options.seed, 99, ndim])
    c = case.x.shape[1]
    vx, vg, vb = rng.standard_normal(case.x.shape), rng.standard_normal(c), rng.standard_normal(c)
    gamma0 = np.ones(c) if case.gamma is None else case.gamma
    beta0 = np.zeros(c) if case.beta is None else case.beta
    try:
        run = evaluate(proc, case)
        if run.error is not None:
            return _fail(check_id, run.error)

        def loss(t: float) -> float:
            shifted = case._replace(x=case.x + t * vx, gamma=gamma0 + t * vg, beta=beta0 + t * vb)
            r = evaluate(proc, shifted, backward=False)
            if r.error is not None:
                raise TargetError(r.error)
            return float(np.sum(case.dy * r.y))

        scale = max(float(np.std(case.x)), 1.0)

        def richardson(h: float) -> float:
            d1 = (loss(h) - loss(-h)) / (2 * h)
            d2 = (loss(h / 2) - loss(-h / 2)) / h
            return (4 * d2 - d1) / 3

        h = 1e-3 * scale
        fd, fd2 = richardson(h), richardson(2 * h)
    except TargetError as exc:
        return _fail(check_id, str(exc))
    analytic = float(np.sum(run.dx * vx) + np.sum(run.dgamma * vg) + np.sum(run.dbeta * vb))
    u = np.finfo(np.float64).eps / 2
    size = float(np.sum(np.abs(case.dy * run.y)))
    grad_size = float(
        np.sum(np.abs(run.dx * vx))
        + np.sum(np.abs(run.dgamma * vg))
        + np.sum(np.abs(run.dbeta * vb))
    )
    budget = abs(fd - fd2) + 64 * u * size / h + 64 * u * grad_size
    err = abs(fd - analytic)
    rel = err / max(abs(fd), grad_size, 1e-300)
    rel_budget = budget / max(abs(fd), grad_size, 1e-300)
    msg = f"<dy, J v>: finite differences {fd:.10g}, backward {analytic:.10g}"
    status = "pass" if err <= budget else "fail"
    return CheckResult(
        check_id, status, rel, rel_budget, unit="rel", message=msg if status == "fail" else ""
    )


# -- identities --------------------------------------------------------------------------------


def check_identities(proc: TargetProcess, options: Options) -> CheckResult:
    """Exact identities on the target's own outputs (float64, 2-D): Σ dx = 0 per channel,
    dbeta = Σ dy, dgamma = Σ dy·x_hat, mean(y) = beta. Each side is compared within the
    error budget of the output involved, scaled by m where a sum of m outputs is formed."""
    case = probe_cases("float64", options.ndims[0], options.seed, options.channels)[0]
    try:
        run = evaluate(proc, case)
    except TargetError as exc:
        return _fail("identities", str(exc))
    if run.error is not None:
        return _fail("identities", run.error)
    truth = exact_batchnorm(case.x, run.gamma, run.beta, case.dy, eps=run.eps, axis=1)
    assert truth.dx is not None
    bud = {
        n: compare(t, t, n, np.float64, x=case.x, eps=run.eps, axis=1, dy=case.dy).budget
        for n, t in (("y", truth.y), ("dx", truth.dx))
    }
    # per-channel columns (m, C) of everything
    x, dy, y, dx, ty, tdx = (_cols(a) for a in (case.x, case.dy, run.y, run.dx, truth.y, truth.dx))
    m = x.shape[0]
    x_hat = (ty - run.beta) / run.gamma
    spacing = np.spacing
    tests = {
        "sum(dx) = 0": (np.abs(dx.sum(axis=0)), m * bud["dx"] * spacing(np.abs(tdx).max(axis=0))),
        "dbeta = sum(dy)": (
            np.abs(run.dbeta - dy.sum(axis=0)),
            bud["dx"] * spacing(np.abs(dy).sum(axis=0)),
        ),
        "dgamma = sum(dy*x_hat)": (
            np.abs(run.dgamma - (dy * x_hat).sum(axis=0)),
            bud["dx"] * spacing(np.abs(dy * x_hat).sum(axis=0)),
        ),
        "mean(y) = beta": (
            np.abs(y.mean(axis=0) - run.beta),
            bud["y"] * spacing(np.abs(ty).max(axis=0)),
        ),
    }
    broken = [name for name, (err, bound) in tests.items() if np.any(err > bound)]
    worst = max(float(np.max(err / bound)) for err, bound in tests.values())
    if broken:
        return _fail(
            "identities", "violated: " + ", ".join(broken), worst=worst, budget=1.0, unit="×budget"
        )
    return CheckResult("identities", "pass", worst, 1.0, unit="×budget")


# -- running statistics and eval mode -----------------------------------------------------------

# When the declared convention fails: which alternative, matched, means which mistake.
ALTERNATIVES: dict[str, list[tuple[str, bool, list[str]]]] = {
    "torch": [("torch", False, ["running-var-bias"]), ("keras", True, ["momentum-swapped"]),
              ("keras", False, ["momentum-swapped", "running-var-bias"])],
    "keras": [("keras", True, ["running-var-bias"]), ("torch", False, ["momentum-swapped"]),
              ("torch", True, ["momentum-swapped", "running-var-bias"])],
    "cumulative": [("cumulative", False, ["running-var-bias"])],
}  # fmt: skip
DEFAULT_BIAS = {"torch": True, "keras": False, "cumulative": True}


def _expected_running(
    s0: dict[str, Any], batches: list[np.ndarray], convention: str, momentum: Any, unbiased: bool
) -> list[tuple[np.ndarray, np.ndarray]] | None:
    mean: Any = np.asarray(s0["running_mean"], dtype=np.float64)
    var: Any = np.asarray(s0["running_var"], dtype=np.float64)
    out = []
    for t, x in enumerate(batches):
        stats = exact_batchnorm(x, None, None, eps=1e-5, axis=1)
        mom = None if convention == "cumulative" else momentum
        try:
            mean, var, _ = update_running(
                mean, var, stats.mean, stats.var, x.size // x.shape[1],
                convention=convention, momentum=mom, unbiased=unbiased, num_batches_tracked=t,
            )  # fmt: skip
        except (BatchNormError, TypeError):
            return None
        out.append((mean, var))
    return out


def _matches(
    observed: list[tuple[Any, Any]], expected: list[tuple[Any, Any]] | None, m: int
) -> float:
    """Worst |observed − expected| over the steps, in units of its budget (<= 1 matches).

    Budget at step t: (8t + 4m)·u·scale with u of the observed dtype: each update rounds a few
    times, the batch statistics carry a summation error gamma_m."""
    if expected is None:
        return float("inf")
    worst = 0.0
    for t, ((om, ov), (em, ev)) in enumerate(zip(observed, expected, strict=True), start=1):
        u = np.finfo(np.asarray(om).dtype).eps / 2
        for o, e in ((om, em), (ov, ev)):
            scale = np.maximum(np.abs(e), 1.0)
            worst = max(
                worst,
                float(
                    np.max(np.abs(np.asarray(o, np.float64) - e) / ((8 * t + 4 * m) * u * scale))
                ),
            )
    return worst


def check_running_and_eval(proc: TargetProcess, options: Options) -> list[CheckResult]:
    """running, eval and eval-state for targets with running statistics."""
    if not proc.description.get("running"):
        why = f"a {proc.description.get('kind')} target has no running statistics or eval mode"
        return [CheckResult(i, "skip", message=why) for i in ("running", "eval", "eval-state")]
    rng = np.random.default_rng([options.seed, 7])
    shape = list(SHAPES[options.ndims[0]])
    shape[1] = options.channels or shape[1]
    c = shape[1]
    m = int(np.prod(shape)) // c
    batches = [rng.normal(3.0, 2.0, size=tuple(shape)) for _ in range(5)]
    try:
        proc.call("new", c, "float64", 1e-5)
        proc.call("set_params", rng.uniform(0.5, 2, c), rng.normal(size=c), names=("gamma", "beta"))
        s0, _ = proc.call("state")
        observed = []
        for x in batches:
            proc.call("forward", x, True, names=("x",))
            s, _ = proc.call("state")
            observed.append((_vec(s, "running_mean", c), _vec(s, "running_var", c)))
    except TargetError as exc:
        return [_fail(i, str(exc)) for i in ("running", "eval", "eval-state")]
    momentum = s0.get("momentum")
    running = _judge_running(s0, batches, observed, m, momentum, options.convention)
    return [running, *_check_eval(proc, rng, c, tuple(shape))]


def _vec(state: dict[str, Any], key: str, c: int) -> np.ndarray:
    value = state.get(key)
    arr = None if value is None else np.asarray(value)
    if arr is None or arr.shape != (c,) or arr.dtype.kind != "f":
        raise TargetError(f"attribute {key} is {value!r}; expected a float array of shape ({c},)")
    return arr.copy()


def _judge_running(
    s0: dict[str, Any],
    batches: list[np.ndarray],
    observed: list[Any],
    m: int,
    momentum: Any,
    declared: str,
) -> CheckResult:
    every = [(conv, bias) for conv in ("torch", "keras", "cumulative") for bias in (True, False)]
    scores = {
        (conv, bias): _matches(observed, _expected_running(s0, batches, conv, momentum, bias), m)
        for conv, bias in every
    }
    wanted = every if declared == "any" else [(declared, DEFAULT_BIAS[declared])]
    best = min(wanted, key=lambda k: scores[k])
    if scores[best] <= 1.0:
        msg = f"follows {_label(best, momentum)}" if declared == "any" else ""
        return CheckResult("running", "pass", scores[best], 1.0, unit="×budget", message=msg)
    closest = min(every, key=lambda k: scores[k])
    label = _label(closest, momentum) + (" (within budget)" if scores[closest] <= 1.0 else "")
    diagnosis: list[str] = []
    for conv, bias, mistakes in ALTERNATIVES.get(declared, []):
        if _matches(observed, _expected_running(s0, batches, conv, momentum, bias), m) <= 1.0:
            diagnosis = mistakes
            break
    want = "any known convention" if declared == "any" else f"convention {declared!r}"
    return CheckResult(
        "running", "fail", scores[best], 1.0, unit="×budget",
        message=f"running statistics after {len(batches)} steps do not follow {want}; "
        f"closest: {label}",
        diagnosis=diagnosis,
    )  # fmt: skip


def _label(candidate: tuple[str, bool], momentum: Any) -> str:
    conv, bias = candidate
    mom = "" if conv == "cumulative" else f", momentum={momentum!r}"
    return f"{conv} ({'unbiased' if bias else 'biased'} variance{mom})"


def _check_eval(
    proc: TargetProcess, rng: np.random.Generator, c: int, shape: tuple[int, ...]
) -> list[CheckResult]:
    x = rng.normal(-1.0, 0.5, size=shape)
    try:
        before, _ = proc.call("state")
        y, _ = proc.call("forward", x, False, names=("x",))
        after, _ = proc.call("state")
        rm, rv = _vec(before, "running_mean", c), _vec(before, "running_var", c)
        y = np.asarray(y)
        if y.shape != x.shape or y.dtype.kind != "f":
            raise TargetError(
                f"eval forward returned shape {y.shape}, dtype {y.dtype}; expected {x.shape}"
            )
    except TargetError as exc:
        return [_fail("eval", str(exc)), _fail("eval-state", str(exc))]
    gamma, beta = before.get("gamma"), before.get("beta")
    eps = float(before.get("eps") or 1e-5)
    truth = exact_inference(x, gamma, beta, rm, rv, eps=eps, axis=1)
    cmp = compare(y, truth, "y", np.float64, x=x, eps=eps, axis=1)
    if cmp.passed:
        ev = CheckResult("eval", "pass", cmp.ulp, cmp.budget)
    else:
        batch = exact_batchnorm(x, gamma, beta, eps=eps, axis=1).y
        uses_batch = compare(y, batch, "y", np.float64, x=x, eps=eps, axis=1).passed
        ev = CheckResult(
            "eval", "fail", cmp.ulp, cmp.budget,
            message="eval output does not use the target's own running statistics",
            worst_entries=worst_entries(y, truth),
            diagnosis=["eval-batch-stats"] if uses_batch else [],
        )  # fmt: skip
    changed = [
        k for k in ("running_mean", "running_var")
        if not np.array_equal(np.asarray(before.get(k)), np.asarray(after.get(k)))
    ]  # fmt: skip
    if changed:
        st = _fail("eval-state", f"eval forward changed {', '.join(changed)}",
                   diagnosis=["state-updated-in-eval"])  # fmt: skip
    else:
        st = CheckResult("eval-state", "pass")
    return [ev, st]


# -- repeatability -----------------------------------------------------------------------------


def check_repeatable(proc: TargetProcess, options: Options) -> tuple[CheckResult, list[str]]:
    """The same input twice gives the same bits; also returns mutations seen in these runs."""
    case: BNCase = probe_cases("float64", options.ndims[0], options.seed, options.channels)[1]
    try:
        runs: list[Run] = [evaluate(proc, case) for _ in range(2)]
    except TargetError as exc:
        return _fail("repeatable", str(exc)), []
    mutated = runs[0].mutated + runs[1].mutated
    if any(r.error is not None for r in runs):
        return _fail("repeatable", str(runs[0].error or runs[1].error)), mutated
    differ = [
        n for n in ("y", "dx", "dgamma", "dbeta")
        if not np.array_equal(getattr(runs[0], n), getattr(runs[1], n), equal_nan=True)
    ]  # fmt: skip
    if differ:
        return _fail(
            "repeatable", f"two runs on the same input differ in {', '.join(differ)}"
        ), mutated
    return CheckResult("repeatable", "pass"), mutated
