"""Checks beyond the truth comparison: finite differences, identities, running statistics, eval
mode, mutation and repeatability."""

from __future__ import annotations

from typing import Any

import numpy as np

from bncheck.bn.running import update_running
from bncheck.check._verify.cases import SHAPES, probe_cases
from bncheck.check._verify.checks import Run, evaluate, worst_entries
from bncheck.check._verify.results import CheckResult, Options
from bncheck.check._verify.worker import TargetProcess
from bncheck.check.strategies import BNCase
from bncheck.check.tolerances import compare
from bncheck.check.truth import exact_batchnorm, exact_inference
from bncheck.exceptions import BatchNormError, TargetError

__all__ = [
    "check_fd",
    "check_identities",
    "check_repeatable",
    "check_running_and_eval",
    "check_second_call",
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
    if not all(np.isfinite(v) for v in (fd, fd2, analytic, size, grad_size)):
        return _fail(
            check_id, f"<dy, J v> is not finite: finite differences {fd:.10g}, backward "
            f"{analytic:.10g}",
        )  # fmt: skip
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


def check_identities(proc: TargetProcess, options: Options, ndim: int) -> CheckResult:
    """Exact identities on the target's own outputs (float64, 2-D): Σ dx = 0 per channel,
    dbeta = Σ dy, dgamma = Σ dy·x_hat, mean(y) = beta. Each side is compared within the
    error budget of the output involved, scaled by m where a sum of m outputs is formed."""
    check_id = f"identities/{ndim}d/float64"
    case = probe_cases("float64", ndim, options.seed, options.channels)[0]
    try:
        run = evaluate(proc, case)
    except TargetError as exc:
        return _fail(check_id, str(exc))
    if run.error is not None:
        return _fail(check_id, run.error)
    truth = exact_batchnorm(case.x, run.gamma, run.beta, case.dy, eps=run.eps, axis=1)
    assert truth.dx is not None
    bud = {
        n: compare(
            t, t, n, np.float64, x=case.x, eps=run.eps, axis=1, dy=case.dy, gamma=run.gamma
        ).budget
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
            check_id, "violated: " + ", ".join(broken), worst=worst, budget=1.0, unit="×budget"
        )
    return CheckResult(check_id, "pass", worst, 1.0, unit="×budget")


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
    s0: dict[str, Any], batches: list[np.ndarray], convention: str, momentum: Any, unbiased: bool,
    add_to_var: float = 0.0,
) -> list[tuple[np.ndarray, np.ndarray]] | None:  # fmt: skip
    c = batches[0].shape[1]
    mean: Any = np.asarray(s0["running_mean"], dtype=np.float64).reshape(c)
    var: Any = np.asarray(s0["running_var"], dtype=np.float64).reshape(c)
    out = []
    for t, x in enumerate(batches):
        stats = exact_batchnorm(x, None, None, eps=1e-5, axis=1)
        if add_to_var:
            m = x.size // c
            factor = m / (m - 1) if unbiased else 1.0
            stats = stats._replace(var=stats.var + add_to_var / factor)
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
    if any(not np.all(np.isfinite(np.asarray(v, dtype=np.float64))) for pair in observed
           for v in pair):  # fmt: skip
        return float("inf")  # NaN or inf running statistics follow no convention
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


def check_running_and_eval(
    proc: TargetProcess, options: Options, ndim: int, dtype: str
) -> list[CheckResult]:
    """running, eval and eval-state (for targets with running statistics), on (ndim, dtype)."""
    ids = [f"{k}/{ndim}d/{dtype}" for k in ("running", "eval", "eval-state")]
    if not proc.description.get("running"):
        why = f"a {proc.description.get('kind')} target has no running statistics or eval mode"
        return [CheckResult(i, "skip", message=why) for i in ids]
    rng = np.random.default_rng([options.seed, 7, ndim])
    shape = list(SHAPES[ndim])
    shape[1] = options.channels or shape[1]
    c = shape[1]
    m = int(np.prod(shape)) // c
    batches = [rng.normal(3.0, 2.0, size=tuple(shape)).astype(dtype) for _ in range(5)]
    try:
        proc.call("new", c, dtype, 1e-5, ndim)
        params = (rng.uniform(0.5, 2, c).astype(dtype), rng.normal(size=c).astype(dtype))
        proc.call("set_params", *params, names=("gamma", "beta"))
        s0, _ = proc.call("state")
        # statistics the target creates at its first forward: that forward's result is the
        # starting point, and the later steps are checked from there
        lazy = s0.get("running_mean") is None or s0.get("running_var") is None
        if not lazy:
            _vec(s0, "running_mean", c), _vec(s0, "running_var", c)
        observed = []
        for x in batches:
            proc.call("forward", x, True, names=("x",))
            s, _ = proc.call("state")
            observed.append((_vec(s, "running_mean", c), _vec(s, "running_var", c)))
    except TargetError as exc:
        return [_fail(i, str(exc)) for i in ids]
    if lazy:
        s0 = dict(s0, running_mean=observed[0][0], running_var=observed[0][1])
        batches, observed = batches[1:], observed[1:]
    momentum = s0.get("momentum")
    eps = s0.get("eps")
    eps = float(eps) if isinstance(eps, (int, float)) and not isinstance(eps, bool) else 1e-5
    wide = [x.astype(np.float64) for x in batches]
    running = _judge_running(ids[0], s0, wide, observed, m, momentum, options.convention, eps)
    return [running, *_check_eval(proc, rng, c, tuple(shape), dtype, ids[1:])]


def _vec(state: dict[str, Any], key: str, c: int) -> np.ndarray:
    value = state.get(key)
    if not isinstance(value, np.ndarray) or value.size != c or value.dtype.kind != "f":
        what = f"an array of shape {value.shape}" if isinstance(value, np.ndarray) else repr(value)
        if isinstance(what, str) and len(what) > 80:
            what = what[:80] + "…"
        raise TargetError(f"the layer's {key} is {what}; expected {c} float values")
    return value.reshape(c).copy()


def _judge_running(
    check_id: str,
    s0: dict[str, Any],
    batches: list[np.ndarray],
    observed: list[Any],
    m: int,
    momentum: Any,
    declared: str,
    eps: float,
) -> CheckResult:
    every = [(conv, bias) for conv in ("torch", "keras", "cumulative") for bias in (True, False)]
    inferred = ""
    if not isinstance(momentum, (int, float)) or isinstance(momentum, bool):
        # no momentum attribute: the first update tells the weight of the new batch
        a = _first_weight(s0, batches[0], observed[0])
        if a is not None and abs(a) < 1e-12:
            return CheckResult(
                check_id, "fail", message="the running statistics did not move in training "
                "(and the layer has no momentum attribute saying they should not)",
            )  # fmt: skip
        if a is not None:
            momenta: dict[str, Any] = {"torch": a, "keras": 1.0 - a}
            inferred = f" (no momentum attribute; the first update weighs the batch {a:.4g})"
        else:
            momenta = {"torch": momentum, "keras": momentum}
    else:
        momenta = {"torch": momentum, "keras": momentum}
    momenta["cumulative"] = None

    def score(conv: str, bias: bool, add: float = 0.0) -> float:
        expected = _expected_running(s0, batches, conv, momenta[conv], bias, add_to_var=add)
        return _matches(observed, expected, m)

    scores = {(conv, bias): score(conv, bias) for conv, bias in every}
    wanted = every if declared == "any" else [(declared, DEFAULT_BIAS[declared])]
    best = min(wanted, key=lambda k: scores[k])
    if scores[best] <= 1.0:
        msg = f"follows {_label(best, momenta[best[0]])}{inferred}" if declared == "any" or (
            inferred) else ""  # fmt: skip
        return CheckResult(check_id, "pass", scores[best], 1.0, unit="×budget", message=msg)
    diagnosis: list[str] = []
    for conv, bias, mistakes in ALTERNATIVES.get(declared, []):
        if score(conv, bias) <= 1.0:
            diagnosis = mistakes
            break
    if not diagnosis:
        candidates = wanted if declared != "any" else every
        if any(score(conv, bias, eps) <= 1.0 for conv, bias in candidates):
            diagnosis = ["eval-eps-in-running-var"]
    within = [k for k in every if scores[k] <= 1.0]
    if within:
        note = f"it follows {_label(within[0], momenta[within[0][0]])}"
    else:
        note = f"it matches no known convention (momentum={momentum!r})"
    want = "any known convention" if declared == "any" else f"convention {declared!r}"
    return CheckResult(
        check_id, "fail", scores[best], 1.0, unit="×budget",
        message=f"running statistics after {len(batches)} steps do not follow {want}; "
        f"{note}{inferred}",
        diagnosis=diagnosis,
    )  # fmt: skip


def _first_weight(s0: dict[str, Any], x: np.ndarray, first: Any) -> float | None:
    """a in new_mean = (1 − a)·old + a·batch_mean, from the first update (None: unclear)."""
    c = x.shape[1]
    old = np.asarray(s0["running_mean"], dtype=np.float64).reshape(c)
    batch = np.moveaxis(x, 1, -1).reshape(-1, c).mean(axis=0)
    step = batch - old
    ok = np.abs(step) > 1e-3 * (np.abs(batch) + 1.0)
    if not ok.any():
        return None
    a = (np.asarray(first[0], dtype=np.float64)[ok] - old[ok]) / step[ok]
    if not np.all(np.isfinite(a)) or np.ptp(a) > 1e-6 * max(1.0, float(np.max(np.abs(a)))):
        return None
    return float(f"{float(np.median(a)):.6g}")


def _label(candidate: tuple[str, bool], momentum: Any) -> str:
    conv, bias = candidate
    mom = "" if conv == "cumulative" else f", momentum={momentum!r}"
    return f"{conv} ({'unbiased' if bias else 'biased'} variance{mom})"


def _check_eval(
    proc: TargetProcess, rng: np.random.Generator, c: int, shape: tuple[int, ...], dtype: str,
    ids: list[str],
) -> list[CheckResult]:  # fmt: skip
    x = rng.normal(-1.0, 0.5, size=shape).astype(dtype)
    try:
        before, _ = proc.call("state")
        y, _ = proc.call("forward", x, False, names=("x",))
        after, _ = proc.call("state")
        rm, rv = _vec(before, "running_mean", c), _vec(before, "running_var", c)
        if not isinstance(y, np.ndarray) or y.shape != x.shape or y.dtype.kind != "f":
            what = f"shape {y.shape}, dtype {y.dtype}" if isinstance(y, np.ndarray) else (
                type(y).__name__)  # fmt: skip
            raise TargetError(f"eval forward returned {what}; expected shape {x.shape}")
    except TargetError as exc:
        return [_fail(ids[0], str(exc)), _fail(ids[1], str(exc))]
    gamma, beta = _maybe_vec(before, "gamma", c), _maybe_vec(before, "beta", c)
    eps_state = before.get("eps")
    eps = float(eps_state) if isinstance(eps_state, (int, float)) and eps_state > 0 else 1e-5
    xw = x.astype(np.float64)
    bad = ~np.isfinite(rv.astype(np.float64)) | (rv.astype(np.float64) + eps <= 0)
    if bad.any() or not np.all(np.isfinite(rm.astype(np.float64))):
        why = "the layer's running statistics are not finite, or running_var + eps <= 0"
        return [_fail(ids[0], why), _fail(ids[1], why)]
    truth = exact_inference(xw, gamma, beta, rm, rv, eps=eps, axis=1)
    cmp = compare(y, truth, "y", np.dtype(dtype), x=xw, eps=eps, axis=1)
    if cmp.passed:
        ev = CheckResult(ids[0], "pass", cmp.ulp, cmp.budget)
    else:
        from bncheck.check._verify.diagnose import diagnose_eval

        found = diagnose_eval(xw, gamma, beta, rm, rv, eps, y)
        ev = CheckResult(
            ids[0], "fail", cmp.ulp, cmp.budget,
            message=f"eval output off by {cmp.ulp:.3g} ulp (budget {cmp.budget:.3g}) from "
            "gamma·(x − running_mean)/sqrt(running_var + eps) + beta with the layer's own "
            "running statistics",
            worst_entries=worst_entries(y, truth),
            diagnosis=found.ids,
        )  # fmt: skip
    changed = [
        k for k in ("running_mean", "running_var", "gamma", "beta")
        if not _same(before.get(k), after.get(k))
    ]  # fmt: skip
    try:  # eval must be repeatable: a second call gives the same output
        y2, _ = proc.call("forward", x, False, names=("x",))
    except TargetError as exc:
        return [ev, _fail(ids[1], f"a second eval call failed: {exc}")]
    if not changed and not (isinstance(y2, np.ndarray) and _same(y, y2)):
        changed = ["its own output (a second eval call on the same input differs)"]
    if changed:
        st = _fail(ids[1], f"eval forward changed {', '.join(changed)}",
                   diagnosis=["state-updated-in-eval"])  # fmt: skip
    else:
        st = CheckResult(ids[1], "pass")
    return [ev, st]


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


# -- the second call on one instance -----------------------------------------------------------


def check_second_call(proc: TargetProcess, options: Options, ndim: int, dtype: str) -> CheckResult:
    """Forward and backward twice on one instance: the second pair must equal what a fresh
    instance computes on the same batch (a layer that accumulates gradients, or keeps the
    first batch's statistics, differs; a layer wrong in the same way every time does not,
    and its mistake is the other checks' to name)."""
    from bncheck.check._verify.checks import STAGE_CHECKS, evaluate, noted

    check_id = f"second-call/{ndim}d/{dtype}"
    first, second = probe_cases(dtype, ndim, options.seed, options.channels)[:2]
    second = second._replace(gamma=first.gamma, beta=first.beta, eps=first.eps)
    c = first.x.shape[1]
    try:
        fresh = evaluate(proc, second)
        proc.call("new", c, dtype, first.eps, ndim)
        proc.call("set_params", first.gamma, first.beta, names=("gamma", "beta"))
        proc.call("forward", first.x, True, names=("x",))
        proc.call("backward", first.dy, names=("dy",))
        run = noted(_continue(proc, second), options)
    except TargetError as exc:
        return _fail(check_id, str(exc))
    if fresh.error is not None:
        return CheckResult(check_id, "skip", message="a fresh instance fails on this batch")
    if run.error is not None:
        return _fail(check_id, run.error)
    names = tuple(n for stage in STAGE_CHECKS.values() for n in stage)
    cmps = {
        n: compare(getattr(run, n), getattr(fresh, n), n, np.dtype(dtype), x=second.x,
                   eps=run.eps, axis=1, dy=second.dy, gamma=run.gamma)
        for n in names
    }  # fmt: skip
    bad = [n for n in names if not cmps[n].passed]
    worst = max(names, key=lambda n: cmps[n].ulp / max(cmps[n].budget, 1e-300))
    if bad:
        return CheckResult(
            check_id, "fail", cmps[worst].ulp, cmps[worst].budget,
            message="a second forward/backward on one instance differs from a fresh "
            "instance's in "
            + ", ".join(f"{n} ({cmps[n].ulp:.3g} ulp, budget {cmps[n].budget:.3g})" for n in bad)
            + ": state kept from the first call (accumulated gradients, the first batch's "
            "statistics, ...)",
            diagnosis=["stateful-second-call"],
        )  # fmt: skip
    return CheckResult(check_id, "pass", cmps[worst].ulp, cmps[worst].budget)


def _continue(proc: TargetProcess, case: BNCase) -> Run:
    """Forward and backward of ``case`` on the instance as it is (no new, no set_params)."""
    from bncheck.check._verify.checks import _eps, _param, _validate

    notes: list[str] = []
    c = case.x.shape[1]
    try:
        state, _ = proc.call("state")
        gamma = _param(state, "gamma", case.gamma, c)
        beta = _param(state, "beta", case.beta, c)
        eps = _eps(state.get("eps"), case.eps)
        y, _ = proc.call("forward", case.x, True, names=("x",))
        y = _validate("forward output y", y, case.x.shape, case.x.dtype, notes)
        grads, _ = proc.call("backward", case.dy, names=("dy",))
        if not isinstance(grads, (tuple, list)) or len(grads) != 3:
            raise TargetError(f"backward gave {type(grads).__name__}; expected 3 arrays")
        dx = _validate("dx", grads[0], case.x.shape, case.x.dtype, notes)
        dgamma = _validate("dgamma", grads[1], (c,), case.x.dtype, notes)
        dbeta = _validate("dbeta", grads[2], (c,), case.x.dtype, notes)
    except TargetError as exc:
        if exc.fatal:
            raise
        return Run(None, None, None, None, case.gamma, case.beta, case.eps, [], str(exc))
    return Run(y, dx, dgamma, dbeta, gamma, beta, eps, [], notes=tuple(notes))


# -- repeatability -----------------------------------------------------------------------------


def check_repeatable(
    proc: TargetProcess, options: Options, ndim: int, dtype: str
) -> tuple[CheckResult, list[str]]:
    """The same input twice gives the same bits; also returns mutations seen in these runs."""
    check_id = f"repeatable/{ndim}d/{dtype}"
    case: BNCase = probe_cases(dtype, ndim, options.seed, options.channels)[1]
    try:
        runs: list[Run] = [evaluate(proc, case) for _ in range(2)]
    except TargetError as exc:
        return _fail(check_id, str(exc)), []
    mutated = runs[0].mutated + runs[1].mutated
    if any(r.error is not None for r in runs):
        return _fail(check_id, str(runs[0].error or runs[1].error)), mutated
    differ = [
        n for n in ("y", "dx", "dgamma", "dbeta")
        if not np.array_equal(getattr(runs[0], n), getattr(runs[1], n), equal_nan=True)
    ]  # fmt: skip
    if differ:
        return _fail(check_id, f"two runs on the same input differ in {', '.join(differ)}"), mutated
    return CheckResult(check_id, "pass"), mutated
