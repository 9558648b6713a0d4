"""Checks beyond the truth comparison: finite differences, identities, a second call on one
instance and repeatability. The running-statistics and eval-mode checks are in
:mod:`~bncheck.check._verify.checks.running`."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from bncheck.check._verify.checks.case import (
    STAGE_CHECKS,
    Run,
    absent_params,
    compare_outputs,
    evaluate,
    judged_outputs,
    noted,
    param,
    param_grads,
    stated_eps,
    validate,
)
from bncheck.check._verify.checks.inputs import probe_cases
from bncheck.check._verify.checks.running import check_running_and_eval
from bncheck.check._verify.diagnosis.mixed_train import MIXED, mixed_train_outputs
from bncheck.check._verify.process.worker import TargetProcess
from bncheck.check._verify.results import CheckId, CheckResult, Options
from bncheck.check.finite_diff import RICHARDSON_STEPS
from bncheck.check.gradient_check import check_directional
from bncheck.check.metrics import compare
from bncheck.check.norms import BATCH_NORM
from bncheck.check.strategies import BNCase
from bncheck.check.tolerances import fd_noise
from bncheck.check.truth import exact_batchnorm
from bncheck.exceptions import TargetError

__all__ = [
    "check_fd",
    "check_identities",
    "check_nan_channel",
    "check_repeatable",
    "check_running_and_eval",
    "check_second_call",
]


def _same(a: Any, b: Any) -> bool:
    """The same bits (NaN equal to NaN); None (a parameter-free target's dgamma) only equals
    None."""
    if a is None or b is None:
        return a is None and b is None
    return bool(np.array_equal(a, b, equal_nan=True))


def _fail(check_id: str, message: str, **kw: Any) -> CheckResult:
    return CheckResult(check_id, "fail", message=message, **kw)


# -- finite differences ------------------------------------------------------------------------


def check_fd(proc: TargetProcess, ndim: int, options: Options) -> CheckResult:
    """<dy, J v> from finite differences of the target's own forward against
    <backward(dy), v> from its backward, for a random direction v in (x, gamma, beta).

    The public checker, :func:`bncheck.check.gradient_check.check_directional` (Richardson),
    on z = (x, gamma, beta) flattened, with dy as the cotangent and dx, dgamma, dbeta as the
    VJP's blocks. Its error model needs the relative error of one evaluation of the forward:
    y's error measured on this case against the truth, with the tolerance table's margin, never
    more than its budget; the backward, being judged, is allowed its whole budget
    (:func:`bncheck.check.tolerances.fd_noise`); the
    estimator's truncation error is measured (a second extrapolation level), not assumed. The
    step is the checker's, scaled by the spread of x. A missing gradient path changes <dx, v>
    by O(|dx|·|v|), far above both.
    """
    check_id = str(CheckId("backward-fd", ndim, "float64"))
    case = probe_cases("float64", ndim, options.seed, options.channels)[0]
    rng = np.random.default_rng([options.seed, 99, ndim])
    shape = case.x.shape
    c = int(np.prod(BATCH_NORM.parameter_shape(shape)))
    n = case.x.size
    vx, vg, vb = rng.standard_normal(shape), rng.standard_normal(c), rng.standard_normal(c)
    absent = absent_params(proc)  # parameters it has not: the direction does not move them
    vg = np.zeros(c) if "gamma" in absent else vg
    vb = np.zeros(c) if "beta" in absent else vb
    gamma0 = np.ones(c) if case.gamma is None else case.gamma
    beta0 = np.zeros(c) if case.beta is None else case.beta
    z0 = np.concatenate([case.x.ravel(), gamma0, beta0])
    v = np.concatenate([vx.ravel(), vg, vb])
    try:
        run = evaluate(proc, case)
        if run.error is not None:
            return _fail(check_id, run.error)

        def forward(z: np.ndarray) -> np.ndarray:
            shifted = case._replace(x=z[:n].reshape(shape), gamma=z[n : n + c], beta=z[n + c :])
            r = evaluate(proc, shifted, backward=False)
            if r.error is not None:
                raise TargetError(r.error)
            return np.asarray(r.y, dtype=np.float64)

        def vjp(u: np.ndarray) -> np.ndarray:  # the run's backward was called with dy = u
            zeros = np.zeros(c)  # a parameter-free target: no gradient, and v is 0 there
            dg = zeros if run.dgamma is None else run.dgamma
            db = zeros if run.dbeta is None else run.dbeta
            return np.concatenate([np.ravel(run.dx), np.ravel(dg), np.ravel(db)])

        truth = exact_batchnorm(case.x, run.gamma, run.beta, case.dy, eps=run.eps, spec=BATCH_NORM)
        assert truth.dx is not None
        y_judged, dx_judged = (
            compare(
                np.asarray(got, dtype=np.float64),
                t,
                name,
                np.float64,
                x=case.x,
                eps=run.eps,
                spec=BATCH_NORM,
                dy=case.dy,
                gamma=run.gamma,
            )
            for name, got, t in (("y", run.y, truth.y), ("dx", run.dx, truth.dx))
        )
        scale = max(float(np.std(case.x)), 1.0)
        h = RICHARDSON_STEPS[np.dtype(np.float64)] * scale / float(np.max(np.abs(v)))
        res = check_directional(
            forward,
            vjp,
            z0,
            rng=rng,
            method="richardson",
            h=h,
            # the forward's noise as measured (its y); the backward is what is judged, so its
            # rounding is allowed its whole budget, never what it measured
            noise=fd_noise([y_judged.budget], np.float64, measured=[y_judged.ulp]),
            vjp_noise=fd_noise([dx_judged.budget], np.float64),
            u=case.dy,
            v=v,
            blocks=[slice(0, n), slice(n, n + c), slice(n + c, n + 2 * c)],
        )
    except TargetError as exc:
        return _fail(check_id, str(exc))
    grad_size = float(
        np.sum(np.abs(run.dx * vx))
        + (0.0 if run.dgamma is None else np.sum(np.abs(run.dgamma * vg)))
        + (0.0 if run.dbeta is None else np.sum(np.abs(run.dbeta * vb)))
    )
    if not all(np.isfinite(x) for x in (res.fd, res.vjp, res.tolerance, grad_size)):
        return _fail(
            check_id,
            f"<dy, J v> is not finite: finite differences {res.fd:.10g}, backward {res.vjp:.10g}",
        )
    err = abs(res.fd - res.vjp)
    denom = max(abs(res.fd), grad_size, 1e-300)
    msg = f"<dy, J v>: finite differences {res.fd:.10g}, backward {res.vjp:.10g}"
    status = "pass" if res.passed else "fail"
    return CheckResult(
        check_id,
        status,
        err / denom,
        res.tolerance / denom,
        unit="rel",
        message=msg if status == "fail" else "",
    )


# -- identities --------------------------------------------------------------------------------


def check_identities(
    proc: TargetProcess, options: Options, ndim: int, edges_to_truth: bool = True
) -> CheckResult:
    """Exact identities on the target's own outputs (float64, 2-D): Σ dx = 0 per channel,
    dbeta = Σ dy, dgamma = Σ dy·x_hat, mean(y) = beta. Each side is compared within the
    error budget of the output involved, scaled by m where a sum of m outputs is formed; and
    the edge inputs of :func:`_edges` (``edges_to_truth`` False: the forward or backward
    check failed on this rank already, so the edges are held to finiteness and dy = 0 only)."""
    check_id = f"identities/{ndim}d/float64"
    case = probe_cases("float64", ndim, options.seed, options.channels)[0]
    try:
        run = evaluate(proc, case)
    except TargetError as exc:
        return _fail(check_id, str(exc))
    if run.error is not None:
        return _fail(check_id, run.error)
    truth = exact_batchnorm(case.x, run.gamma, run.beta, case.dy, eps=run.eps, spec=BATCH_NORM)
    assert truth.dx is not None
    bud = {
        n: compare(
            t, t, n, np.float64, x=case.x, eps=run.eps, spec=BATCH_NORM, dy=case.dy, gamma=run.gamma
        ).budget
        for n, t in (("y", truth.y), ("dx", truth.dx))
    }
    # per-channel columns (m, C) of everything
    x, dy, y, dx, ty, tdx = (
        BATCH_NORM.columns(a) for a in (case.x, case.dy, run.y, run.dx, truth.y, truth.dx)
    )
    m = x.shape[0]
    x_hat = (ty - run.beta) / run.gamma
    spacing = np.spacing
    tests = {
        "sum(dx) = 0": (np.abs(dx.sum(axis=0)), m * bud["dx"] * spacing(np.abs(tdx).max(axis=0))),
        "mean(y) = beta": (
            np.abs(y.mean(axis=0) - run.beta),
            bud["y"] * spacing(np.abs(ty).max(axis=0)),
        ),
    }
    if run.dbeta is not None:  # a target without beta (case.absent_params) has no dbeta
        tests["dbeta = sum(dy)"] = (
            np.abs(run.dbeta - dy.sum(axis=0)),
            bud["dx"] * spacing(np.abs(dy).sum(axis=0)),
        )
    if run.dgamma is not None:  # nor one without gamma a dgamma
        tests["dgamma = sum(dy*x_hat)"] = (
            np.abs(run.dgamma - (dy * x_hat).sum(axis=0)),
            bud["dx"] * spacing(np.abs(dy * x_hat).sum(axis=0)),
        )
    broken = [name for name, (err, bound) in tests.items() if np.any(err > bound)]
    worst = max(float(np.max(err / bound)) for err, bound in tests.values())
    names = tuple(n for stage in STAGE_CHECKS for n in judged_outputs(stage, run))
    base_right = edges_to_truth and all(
        c.passed for c in compare_outputs(case, run, names).values()
    )
    frozen = False
    try:
        edges, frozen = _edges(proc, case, base_right)
        broken += edges
    except TargetError as exc:
        broken.append(f"an edge case: {exc}")
    if broken:
        return _fail(
            check_id, "violated: " + "; ".join(broken), worst=worst, budget=1.0, unit="×budget"
        )
    said = _EDGES_SAID + (_FROZEN_SAID if frozen else "")
    return CheckResult(check_id, "pass", worst, 1.0, unit="×budget", message=said)


#: what the identities check says it also ran (:func:`_edges`)
_EDGES_SAID = (
    "also dy = 0, a gamma of 0, a constant channel, gamma = 1 with beta = 0 and an input "
    "already standardized, each against the truth"
)
#: and for a layer trained by autograd (:func:`_frozen_edges`)
_FROZEN_SAID = "; and with gamma, then beta, frozen"


def _edges(proc: TargetProcess, case: BNCase, base_right: bool) -> tuple[list[str], bool]:
    """Edge inputs every BN meets in training, each run on a fresh instance and judged: dy = 0
    (every gradient exactly 0, none NaN), a channel whose gamma is 0 (a pruned or
    zero-initialised scale: y = beta there, its dx 0) and a channel whose values are all
    equal (variance 0: y = beta, dx = gamma·(dy − mean dy)/sqrt(eps)), gamma = 1 with beta = 0
    (a new layer's parameters: a fast path for the identity affine step shows) and x already
    standardized per channel (BN after BN: a path that skips normalizing it shows), the last
    four against the truth within the usual budgets; and, for a layer trained by autograd, its
    parameters
    frozen (:func:`_frozen_edges`). What fails, described ([] when all hold), and whether the
    frozen runs applied. Those are judged against the truth only when the target is right on
    the case itself (``base_right``): a mistake it makes everywhere is the forward and
    backward checks' to report, not an edge's; a NaN or an infinity is an edge's whatever
    else holds."""
    broken: list[str] = []
    zero = case._replace(dy=np.zeros_like(case.dy))
    run = evaluate(proc, zero)
    if run.error is not None:
        broken.append(f"with dy = 0: {run.error}")
    else:
        nonzero = [
            n
            for n in ("dx", "dgamma", "dbeta")
            if getattr(run, n) is not None and np.any(np.asarray(getattr(run, n)) != 0)
        ]
        if nonzero:
            broken.append(f"with dy = 0, {', '.join(nonzero)} not 0")
    gamma = np.array(case.gamma, copy=True)
    gamma[0] = 0
    flat = np.array(case.x, copy=True)
    flat[:, 0, ...] = case.x.flat[0]
    cols = BATCH_NORM.columns(case.x.astype(np.float64))
    standard = np.ascontiguousarray(
        BATCH_NORM.from_columns((cols - cols.mean(axis=0)) / cols.std(axis=0), case.x.shape)
    )
    for what, edge in (
        ("with gamma = 0 in channel 0", case._replace(gamma=gamma)),
        ("with channel 0 constant (variance 0)", case._replace(x=flat)),
        (
            "with gamma = 1 and beta = 0 (a new layer's)",
            case._replace(gamma=np.ones_like(case.gamma), beta=np.zeros_like(case.beta)),
        ),
        (
            "with x already standardized per channel (mean 0, variance 1: BN after BN)",
            case._replace(x=standard.astype(case.x.dtype)),
        ),
    ):
        run = evaluate(proc, edge)
        if run.error is not None:
            broken.append(f"{what}: {run.error}")
            continue
        if not base_right:
            continue
        off = _off_truth(edge, run)
        if off:
            broken.append(f"{what}, {', '.join(off)}")
    if base_right:
        frozen = _frozen_edges(proc, case)
        if frozen is not None:
            return broken + frozen, True
    return broken, False


def check_nan_channel(
    proc: TargetProcess, options: Options, identities: CheckResult
) -> CheckResult:
    """The identities check of a rank, judged once more, last of all (a NaN a layer keeps in
    its running statistics, or in a pool shared between instances, reaches no other check):
    one NaN in one channel must leave the other channels right (:func:`_nan_in_one_channel`).
    Only on a rank whose identities passed."""
    if identities.status != "pass" or identities.key.ndim is None:
        return identities
    case = probe_cases("float64", identities.key.ndim, options.seed, options.channels)[0]
    try:
        leak = _nan_in_one_channel(proc, case)
    except TargetError as exc:
        return _fail(identities.id, f"violated: an edge case: {exc}")
    if leak:
        return _fail(identities.id, f"violated: {leak}")
    return dataclasses.replace(identities, message=identities.message + _NAN_SAID)


#: what the identities check says it also ran (:func:`check_nan_channel`)
_NAN_SAID = "; and one NaN in one channel"


def _nan_in_one_channel(proc: TargetProcess, case: BNCase) -> str:
    """One NaN in channel 0 of x (a bad sample, an overflow upstream): channel 0's outputs
    may be NaN, every other channel's y, dx, dgamma and dbeta must still be right (BN keeps
    channels apart: a scale or a check taken over the whole tensor is not). A target that
    refuses a non-finite input, or gives outputs it cannot be read from, is not judged. What
    fails, described, or ""."""
    if case.x.shape[1] < 2:
        return ""
    x = np.array(case.x, copy=True)
    x[(0, 0) + (0,) * (x.ndim - 2)] = np.nan
    c = x.shape[1]
    try:
        proc.call("new", c, x.dtype.name, case.eps, x.ndim)
        proc.call("set_params", case.gamma, case.beta, names=("gamma", "beta"))
        state, _ = proc.call("state")
        y, _ = proc.call("forward", x, True, names=("x",))
        grads, _ = proc.call("backward", case.dy, names=("dy",))
    except TargetError as exc:
        if exc.fatal:
            raise
        return ""  # a refusal of non-finite input is the target's choice
    gamma = param(state, "gamma", case.gamma, c)
    beta = param(state, "beta", case.beta, c)
    try:
        eps = stated_eps(state.get("eps"), case.eps)
    except TargetError:
        return ""
    outs = [y, *grads] if isinstance(grads, (tuple, list)) and len(grads) == 3 else []
    sizes = [x.size, x.size, c, c]
    if len(outs) != 4 or any(
        not isinstance(o, np.ndarray) or o.size != n
        for o, n in zip(outs, sizes, strict=True)
        if o is not None or n == x.size
    ):
        return ""
    y, dx = (np.asarray(o).reshape(x.shape)[:, 1:] for o in outs[:2])
    dg, db = (None if o is None else np.asarray(o).reshape(c)[1:] for o in outs[2:])
    rest = case._replace(
        x=case.x[:, 1:], gamma=np.asarray(gamma)[1:], beta=np.asarray(beta)[1:], dy=case.dy[:, 1:]
    )
    run = Run(y, dx, dg, db, rest.gamma, rest.beta, eps, [])
    names = tuple(n for stage in STAGE_CHECKS for n in judged_outputs(stage, run))
    cmps = compare_outputs(rest, run, names)
    off = [n for n in names if not cmps[n].passed]
    if not off:
        return ""
    return (
        f"with one NaN in channel 0 of x, the other channels' {', '.join(off)} are wrong "
        "(not finite or off their truth): a value of one channel reaches the others (a scale "
        "or a check over the whole tensor)"
    )


def _off_truth(case: BNCase, run: Run) -> list[str]:
    """Each output of ``run`` off its truth on ``case``, described ([] when all are within
    their budgets)."""
    names = tuple(n for stage in STAGE_CHECKS for n in judged_outputs(stage, run))
    cmps = compare_outputs(case, run, names)
    return [
        f"{n} off by {cmps[n].ulp:.3g} ulp (budget {cmps[n].budget:.3g})"
        for n in names
        if not cmps[n].passed
    ]


def _frozen_edges(proc: TargetProcess, case: BNCase) -> list[str] | None:
    """A layer trained by autograd with its gamma, then its beta, frozen as fine-tuning
    freezes them (``requires_grad_(False)``): dx and the other parameter's gradient do not
    depend on which parameters train, so they are judged against the truth as before. A
    backward that reuses the parameters' gradients inside dx and skips them when they are
    not asked for shows here. Targets that cannot be frozen (a backward of their own) are
    asked: None."""
    try:
        proc.call("new", case.x.shape[1], case.x.dtype.name, case.eps, case.x.ndim)
        proc.call("freeze", ["gamma", "beta"])
    except TargetError as exc:
        if exc.fatal:
            raise
        return None  # parameters with no such switch (a backward of its own): does not apply
    broken: list[str] = []
    for frozen in (("gamma",), ("beta",)):
        run = evaluate(proc, case, frozen=frozen)
        if run.error is not None:
            broken.append(f"with {frozen[0]} frozen (requires_grad False): {run.error}")
            continue
        off = _off_truth(case, run)
        if off:
            broken.append(f"with {frozen[0]} frozen (requires_grad False), {', '.join(off)}")
    return broken


# -- the second call on one instance -----------------------------------------------------------


#: the training calls (forward and backward, each on another batch) made on one instance
#: before the call the second-call check judges: a layer whose train output changes after a
#: warm-up of a few calls (Batch Renormalization's corrections, statistics mixed in later)
#: shows it there; a warm-up longer than this is not seen, and the check's message says how
#: many calls it made
PRECEDING_CALLS = 5


def _sizes_text(before: list[BNCase], case: BNCase) -> str:
    """What batch sizes the earlier calls had, when they differ from the judged one's."""
    sizes = sorted({c.x.shape[0] for c in before})
    if sizes == [case.x.shape[0]]:
        return " (all of its batch size)"
    return f" (batches of {', '.join(map(str, sizes))} samples before its {case.x.shape[0]})"


def _grown(case: BNCase, k: int) -> BNCase:
    """``case`` with k more samples on the batch axis (its first k repeated, shifted: other
    values, the same per-sample shape), for k > 0; the case itself for k = 0."""
    if k == 0:
        return case
    extra_x = case.x[:k] * 0.75 + (case.x[-1:] if case.x.shape[0] else 0)
    x = np.concatenate([case.x, extra_x.astype(case.x.dtype)])
    dy = np.concatenate([case.dy, case.dy[:k][::-1]])
    return case._replace(x=np.ascontiguousarray(x), dy=np.ascontiguousarray(dy))


def check_second_call(proc: TargetProcess, options: Options, ndim: int, dtype: str) -> CheckResult:
    """Forward and backward on one instance after :data:`PRECEDING_CALLS` others on other
    batches: that pair must equal what a fresh instance computes on the same batch (a layer
    that accumulates gradients, keeps an earlier batch's statistics, or starts correcting its
    output after a warm-up differs; a layer wrong in the same way every time does not, and its
    mistake is the other checks' to name)."""
    check_id = f"second-call/{ndim}d/{dtype}"
    cases = probe_cases(dtype, ndim, options.seed, options.channels)
    first, second = cases[:2]
    second = second._replace(gamma=first.gamma, beta=first.beta, eps=first.eps)
    before = [first, *cases[2 : 1 + PRECEDING_CALLS]]
    if not options.compiled_shapes:
        # batches of other sizes among them: a workspace or count kept from a call of another
        # batch size shows (a compiled target would compile a program per new size)
        # (the last of the judged size: a buffer reused per shape is then overwritten)
        before = [_grown(case, k + 1) for k, case in enumerate(before[:-1])] + before[-1:]
    c = first.x.shape[1]
    try:
        fresh = evaluate(proc, second)
        again = evaluate(proc, second)
        proc.call("new", c, dtype, first.eps, ndim)
        proc.call("set_params", first.gamma, first.beta, names=("gamma", "beta"))
        for case in before:
            proc.call("forward", case.x, True, names=("x",))
            proc.call("backward", case.dy, names=("dy",))
        after_first, _ = proc.call("state")
        run = noted(_continue(proc, second), options)
    except TargetError as exc:
        return _fail(check_id, str(exc))
    if fresh.error is not None:
        return CheckResult(check_id, "skip", message="a fresh instance fails on this batch")
    if again.error is not None or any(
        not _same(getattr(fresh, n), getattr(again, n)) for n in ("y", "dx", "dgamma", "dbeta")
    ):  # a second call would differ from a fresh one whether or not state is kept
        return CheckResult(
            check_id,
            "skip",
            message="two fresh instances differ on the same batch (see repeatable): a second "
            "call cannot be told from a fresh one",
        )
    if run.error is not None:
        return _fail(check_id, run.error)
    names = tuple(n for stage in STAGE_CHECKS for n in judged_outputs(stage, fresh))
    expected = {n: getattr(fresh, n) for n in names}
    mixed = _mixed_model(proc, after_first, second, run)
    if mixed is not None:
        expected = {n: mixed[n] for n in names}
    cmps = {
        n: compare(
            getattr(run, n),
            expected[n],
            n,
            np.dtype(dtype),
            x=second.x,
            eps=run.eps,
            spec=BATCH_NORM,
            dy=second.dy,
            gamma=run.gamma,
        )
        for n in names
    }
    bad = [n for n in names if not cmps[n].passed]
    worst = max(names, key=lambda n: cmps[n].ulp / max(cmps[n].budget, 1e-300))
    if bad:
        return CheckResult(
            check_id,
            "fail",
            cmps[worst].ulp,
            cmps[worst].budget,
            message=f"a forward/backward after {len(before)} others on one instance differs "
            "from a fresh instance's in "
            + ", ".join(f"{n} ({cmps[n].ulp:.3g} ulp, budget {cmps[n].budget:.3g})" for n in bad)
            + (
                ": not the documented mix of the running and the batch statistics"
                if mixed is not None
                else ": state kept from the earlier calls (accumulated gradients, an "
                "earlier batch's statistics, corrections that start after a warm-up, ...)"
            ),
            diagnosis=["stateful-second-call"],
        )
    said = (
        "normalized by the running statistics mixed with the batch's, as the framework "
        "documents (its first step is plain BN)"
        if mixed is not None
        else f"the forward/backward after {len(before)} others on one instance equals a "
        "fresh instance's" + _sizes_text(before, second)
    )
    return CheckResult(check_id, "pass", cmps[worst].ulp, cmps[worst].budget, message=said)


def _mixed_model(
    proc: TargetProcess, state: dict[str, Any], case: BNCase, run: Run
) -> dict[str, Any] | None:
    """The second step's outputs of a layer whose description says its train output is
    normalized by its running statistics mixed with the batch's (Equinox ``mode="ema"``,
    :mod:`~bncheck.check._verify.diagnosis.mixed_train`), from its state after the first step;
    None for any other layer."""
    if proc.description.get("train_stats") != MIXED:
        return None
    decay = state.get("momentum")
    rm, rv = state.get("running_mean"), state.get("running_var")
    if not isinstance(decay, float) or not isinstance(rm, np.ndarray) or rm is None:
        return None
    return mixed_train_outputs(case.x, run.gamma, run.beta, case.dy, run.eps, rm, rv, decay)


def _continue(proc: TargetProcess, case: BNCase) -> Run:
    """Forward and backward of ``case`` on the instance as it is (no new, no set_params)."""
    notes: list[str] = []
    c = case.x.shape[1]
    try:
        state, _ = proc.call("state")
        gamma = param(state, "gamma", case.gamma, c)
        beta = param(state, "beta", case.beta, c)
        eps = stated_eps(state.get("eps"), case.eps)
        y, _ = proc.call("forward", case.x, True, names=("x",))
        y = validate("forward output y", y, case.x.shape, case.x.dtype, notes)
        grads, _ = proc.call("backward", case.dy, names=("dy",))
        if not isinstance(grads, (tuple, list)) or len(grads) != 3:
            raise TargetError(f"backward gave {type(grads).__name__}; expected 3 arrays")
        dx = validate("dx", grads[0], case.x.shape, case.x.dtype, notes)
        dgamma, dbeta = param_grads(proc, grads, c, case.x.dtype, notes)
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
        n
        for n in ("y", "dx", "dgamma", "dbeta")
        if not _same(getattr(runs[0], n), getattr(runs[1], n))
    ]
    if differ:
        message = f"two runs on the same input differ in {', '.join(differ)}"
        return _fail(check_id, message, diagnosis=["not-repeatable"]), mutated
    return CheckResult(check_id, "pass"), mutated
