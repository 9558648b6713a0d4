"""Every check on a loaded target: the ranks and dtypes asked for that it takes, the forward and
backward checks, finite differences, identities, running statistics and eval mode, and the
diagnoses carried from one check to those that follow from it (the checks, with Hypothesis and
mpmath, load only when a verification runs). Also the target's description, checked: nothing
that comes from the target's process is trusted."""

from __future__ import annotations

import dataclasses

import numpy as np

from bncheck.check._verify.checks.behaviour import (
    check_fd,
    check_identities,
    check_nan_channel,
    check_repeatable,
    check_running_and_eval,
    check_second_call,
)
from bncheck.check._verify.checks.caches import check_older_cache
from bncheck.check._verify.checks.family import EPS as FAMILY_EPS
from bncheck.check._verify.checks.family import (
    FIT_MATCH,
    PROBE_SHAPES,
    candidates,
    normalized,
    probe_input,
)
from bncheck.check._verify.checks.forward_backward import run_config
from bncheck.check._verify.process.worker import TargetProcess
from bncheck.check._verify.results import (
    CheckId,
    CheckResult,
    Options,
    TargetDescription,
    broke_on_rank,
    checked_description,
    rejects_rank,
)
from bncheck.exceptions import LoadError, TargetError, TargetLoadFailed


def _explain_by(derived: list[CheckResult], sources: list[CheckResult]) -> None:
    """Finite differences and identities fail because forward or backward are wrong: they
    carry the mistakes those checks were diagnosed with."""
    found = [d for c in sources if c.status == "fail" for d in c.diagnosis]
    for check in derived:
        if check.status == "fail" and not check.diagnosis and found:
            check.diagnosis = list(dict.fromkeys(found))
            check.explanation = "follows from the forward/backward mistakes above"


def load_failed(exc: TargetLoadFailed) -> CheckResult:
    """A target that crashed while being loaded: a failed check with its traceback."""
    tb = getattr(exc, "traceback", "") or ""
    return CheckResult(
        "load",
        "fail",
        message=f"the target failed while loading: {exc}" + (f"\n{tb.rstrip()}" if tb else ""),
    )


def run_all(
    proc: TargetProcess, description: TargetDescription, options: Options, explicit: bool = False
) -> tuple[list[CheckResult], TargetDescription, Options]:
    """Every check on every requested rank and dtype the target takes (the checks, with
    Hypothesis and mpmath, load only when a verification runs)."""

    options = dataclasses.replace(
        options, channels=description.channels, compiled_shapes=description.compiles_per_shape
    )
    if description.probe:
        # functional targets are probed (ranks taken, eps implied) as an ordinary call, so
        # that a hang is a failed check with the call's timeout, not a load failure
        try:
            found, _ = proc.call("probe")
        except TargetError:
            found = {}
        if isinstance(found, dict) and isinstance(found.get("refused"), str):
            # the adapter cannot read its results (an ambiguous dict): a usage error
            raise LoadError(found["refused"][:1000])
        if isinstance(found, dict):
            checked = checked_description({**found, "kind": description.kind})
            description = dataclasses.replace(
                description,
                mapping=description.mapping + checked.mapping,
                ndims=checked.ndims if "ndims" in found else description.ndims,
                rank_errors=checked.rank_errors
                if "rank_errors" in found
                else description.rank_errors,
            )
    supported = list(description.ndims) or list(options.ndims)
    ndims = [n for n in options.ndims if n in supported]
    skipped = [n for n in options.ndims if n not in supported]
    if not ndims:  # e.g. torch.nn.BatchNorm2d under --ndims 2: test what it takes
        ndims = list(supported[:1])
    options = dataclasses.replace(options, ndims=tuple(ndims))
    checks: list[CheckResult] = []
    for ndim in ndims:
        for dtype in options.dtypes:
            results = run_config(proc, dtype, ndim, options)
            checks += results
            forward_ids: list[str] = next(
                (r.diagnosis for r in results if r.key.family == "forward"), []
            )
            for variant in description.variants:
                if ndim != 2:
                    continue
                try:
                    proc.call("variant", variant)
                    checks += run_config(
                        proc,
                        dtype,
                        ndim,
                        options,
                        names={"backward": f"backward[{variant}]"},
                        forward_ids=forward_ids,
                    )
                    proc.call("variant", "batchnorm_backward")
                except TargetError as exc:
                    checks.append(
                        CheckResult(
                            f"backward[{variant}]/{ndim}d/{dtype}", "fail", message=str(exc)
                        )
                    )
    errors = description.rank_errors
    for ndim in skipped:
        dims = " or ".join(f"{n}-D" for n in supported)
        why = f"a {description.kind} target takes only {dims} inputs"
        raised = errors.get(str(ndim))
        if explicit:  # asked for: the target's failure on that rank is a failed check
            checks += [
                CheckResult(
                    f"forward/{ndim}d/{dtype}",
                    "fail",
                    message=f"{ndim}-D input was asked for, but {why}"
                    + (f"; on a {ndim}-D input it raised {raised}" if raised else ""),
                )
                for dtype in options.dtypes
            ]
        elif raised and not rejects_rank(raised):
            # its code took the input and broke on it: that rank was not checked, not passed
            broke = broke_on_rank(ndim, raised)
            checks += [
                CheckResult(f"{stage}/{ndim}d/{dtype}", "not-checked", message=broke)
                for dtype in options.dtypes
                for stage in ("forward", "backward")
            ]
        else:
            said = f"; it rejects {ndim}-D input: {raised}" if raised else ""
            checks += [
                CheckResult(f"{stage}/{ndim}d/{dtype}", "skip", message=why + said)
                for dtype in options.dtypes
                for stage in ("forward", "backward")
            ]
    _contract(proc, options)
    for ndim in ndims:
        if "float64" in options.dtypes:
            # a forward or backward already failed on this rank: its mistake is theirs, and the
            # identities' edge inputs are not judged against the truth again
            failed_here = any(
                c.status == "fail"
                and c.key.ndim == ndim
                and c.key.family.split("[")[0] in ("forward", "backward")
                for c in checks
            )
            derived = [
                check_fd(proc, ndim, options),
                check_identities(proc, options, ndim, edges_to_truth=not failed_here),
            ]
            _explain_by(derived, [c for c in checks if c.key.ndim == ndim])
            checks += derived
        for dtype in options.dtypes:
            behaviour = check_running_and_eval(proc, options, ndim, dtype)
            unchecked = description.unchecked_state
            if unchecked:  # they apply, but could not be driven: not checked, never passed
                behaviour = [
                    CheckResult(c.id, "not-checked", message=unchecked) if c.status == "skip" else c
                    for c in behaviour
                ]
            # a forward that computes the wrong statistics also updates and uses wrong ones
            forward = [c for c in checks if c.key == CheckId("forward", ndim, dtype)]
            _explain_by(behaviour, forward)
            checks += behaviour
            checks.append(check_repeatable(proc, options, ndim, dtype)[0])
            checks.append(check_second_call(proc, options, ndim, dtype))
            checks.append(check_older_cache(proc, options, ndim, dtype))
    # last: a NaN a target keeps (in its statistics, or a pool its instances share) reaches no
    # other check
    # other channels, on a rank whose forward and backward held (a mistake made everywhere is
    # theirs to report)
    wrong_ranks = {
        c.key.ndim
        for c in checks
        if c.status == "fail" and c.key.family.split("[")[0] in ("forward", "backward")
    }
    checks = [
        check_nan_channel(proc, options, c)
        if c.key.family == "identities" and c.key.ndim not in wrong_ranks
        else c
        for c in checks
    ]
    _contract(proc, options)
    _another_member(proc, options, checks)
    _explain_by_family(checks)
    return checks, description, options


def _another_member(proc: TargetProcess, options: Options, checks: list[CheckResult]) -> None:
    """A BN whose forward failed and no mistake explains: on each such rank, ask its outputs
    what they are (the family's member fit, on its probe whose sets all differ: gamma = 1,
    beta = 0, one train-mode forward); when another member fits (a LayerNorm verified as a BN)
    and batch norm does not, its unexplained failures on that rank are
    ``wrong-reduction-axes``, with what it computes and how to verify that instead."""
    unexplained = [c for c in checks if c.status == "fail" and not c.diagnosis]
    ranks = sorted({c.key.ndim for c in unexplained if c.key.family == "forward" and c.key.ndim})
    for ndim in ranks:
        if ndim not in PROBE_SHAPES:
            continue
        shape = list(PROBE_SHAPES[ndim])
        shape[1] = options.channels or shape[1]
        x = probe_input(tuple(shape), options.seed)
        c = shape[1]
        try:
            proc.call("new", c, "float64", FAMILY_EPS, ndim)
            proc.call("set_params", np.ones(c), np.zeros(c))
            y, _ = proc.call("forward", x, True)
            got = np.asarray(y, dtype=np.float64).reshape(x.shape)
        except (TargetError, TypeError, ValueError):
            continue
        dists = {}
        for member in candidates(x.shape):
            ref = normalized(member, x, FAMILY_EPS)
            with np.errstate(all="ignore"):
                d = float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))
            dists[member] = d if np.isfinite(d) else float("inf")
        if not dists:
            continue
        best = min(dists, key=lambda m: dists[m])
        batch = min((d for m, d in dists.items() if m.kind == "batch"), default=float("inf"))
        if best.kind == "batch" or not dists[best] <= FIT_MATCH or batch <= FIT_MATCH:
            continue
        why = (
            f"its outputs are {best} (distance {dists[best]:.1e}; batch norm over axis 1: "
            f"{batch:.1e}), not a batch norm: if {best} is what it is meant to compute, "
            f"verify it with --norm {best.text()}"
        )
        for check in unexplained:
            if check.key.ndim == ndim:
                check.diagnosis = ["wrong-reduction-axes"]
                check.explanation = why


def _contract(proc: TargetProcess, options: Options) -> None:
    """Collect the interface deviations the adapter saw in the target process."""
    try:
        notes, _ = proc.call("contract")
    except TargetError:
        return
    if isinstance(notes, list):
        options.note(str(n) for n in notes)


def _explain_by_family(checks: list[CheckResult]) -> None:
    """A failed check the fits could not name in its own dtype or rank (float32 may not tell
    two near mistakes apart) carries the mistakes its siblings (same check, another dtype or
    rank) were named with."""
    for check in checks:
        if check.status != "fail" or check.diagnosis:
            continue
        family = check.key.family
        narrow = check.key.dtype in ("float32", "float16")
        named = [
            d
            for c in checks
            if c.status == "fail" and c.key.family == family
            for d in c.diagnosis
            if not (narrow and d == "float32-arithmetic")
        ]
        if named:
            check.diagnosis = list(dict.fromkeys(named))
            check.explanation = (check.explanation + "; " if check.explanation else "") + (
                "named as in the same check on another dtype or rank"
            )


def no_mutation(proc: TargetProcess) -> CheckResult:
    """``no-mutation``: the target changed none of the arrays it was given (x, dy, gamma,
    beta) and none it had returned (an earlier call's y or dx that a later call overwrote: the
    target process watches them, :func:`~bncheck.check._verify.process.child.kept_outputs`)."""
    if not proc.mutations:
        return CheckResult("no-mutation", "pass")
    seen = sorted(set(proc.mutations))
    outputs = [(op, arg) for op, arg in seen if " returned by an earlier " in arg]
    inputs = [(op, arg) for op, arg in seen if (op, arg) not in outputs]
    said = []
    if inputs:
        said.append("the target modified " + ", ".join(f"{arg} in {op}" for op, arg in inputs))
    if outputs:
        said.append(
            "a later call overwrote what the target had returned: "
            + ", ".join(f"{arg} (during {op})" for op, arg in outputs)
            + "; its caller still holds those arrays"
        )
    diagnosis = (["input-mutated"] if inputs else []) + (["output-overwritten"] if outputs else [])
    return CheckResult("no-mutation", "fail", message="; ".join(said), diagnosis=diagnosis)
