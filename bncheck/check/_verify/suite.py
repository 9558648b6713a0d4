"""Every check on a loaded target: the ranks and dtypes asked for that it takes, the forward and
backward checks, finite differences, identities, running statistics and eval mode, and the
diagnoses carried from one check to those that follow from it (the checks, with Hypothesis and
mpmath, load only when a verification runs). Also the target's description, checked: nothing
that comes from the target's process is trusted."""

from __future__ import annotations

from typing import Any

from bncheck.check._verify.process.worker import TargetProcess
from bncheck.check._verify.results import CheckResult, Options
from bncheck.exceptions import LoadError, TargetError, TargetLoadFailed

#: the widest target verify takes: every check holds a few arrays of C channels in this process
MAX_CHANNELS = 4096


def _validated(description: Any) -> dict[str, Any]:
    """The target process's description, checked: it comes from the target's process, so
    nothing in it is trusted (a lazy layer may say 0 channels, a hostile one anything)."""
    if not isinstance(description, dict):
        raise TargetError(f"the target process described itself as {type(description).__name__}")
    out: dict[str, Any] = {"kind": str(description.get("kind", "unknown"))[:40]}
    channels = description.get("channels")
    if isinstance(channels, int) and not isinstance(channels, bool) and channels > 0:
        if channels > MAX_CHANNELS:
            raise LoadError(
                f"the target has num_features={channels}; bncheck verifies at most "
                f"{MAX_CHANNELS} channels (build a narrower instance, or pass the class)"
            )
        out["channels"] = channels
    ndims = description.get("ndims")
    if isinstance(ndims, list):
        out["ndims"] = [n for n in ndims if isinstance(n, int) and n in (2, 3, 4, 5)]
    errors = description.get("rank_errors")
    if isinstance(errors, dict):
        out["rank_errors"] = {str(k): str(v)[:400] for k, v in list(errors.items())[:4]}
    variants = description.get("variants")
    if isinstance(variants, list):
        out["variants"] = [v for v in variants if v == "batchnorm_backward_alt"]
    mapping = description.get("mapping")
    if isinstance(mapping, list):
        out["mapping"] = [_printable(str(m))[:300] for m in mapping[:16]]
    for flag in ("running", "probe"):
        out[flag] = description.get(flag) is True
    return out


def _printable(text: str) -> str:
    """Text from the target with control characters (terminal escapes, carriage returns)
    shown as '?', so it cannot redraw the report."""
    return "".join(ch if ch == "\n" or ch.isprintable() else "?" for ch in text)


def _explain_by(derived: list[CheckResult], sources: list[CheckResult]) -> None:
    """Finite differences and identities fail because forward or backward are wrong: they
    carry the mistakes those checks were diagnosed with."""
    found = [d for c in sources if c.status == "fail" for d in c.diagnosis]
    for check in derived:
        if check.status == "fail" and not check.diagnosis and found:
            check.diagnosis = list(dict.fromkeys(found))
            check.explanation = "follows from the forward/backward mistakes above"


def _load_failed(exc: TargetLoadFailed) -> CheckResult:
    """A target that crashed while being loaded: a failed check with its traceback."""
    tb = getattr(exc, "traceback", "") or ""
    return CheckResult(
        "load",
        "fail",
        message=f"the target failed while loading: {exc}" + (f"\n{tb.rstrip()}" if tb else ""),
    )


def _run_all(
    proc: TargetProcess, description: dict[str, Any], options: Options, explicit: bool = False
) -> list[CheckResult]:
    """Every check on every requested rank and dtype the target takes (the checks, with
    Hypothesis and mpmath, load only when a verification runs)."""
    from bncheck.check._verify.checks.behaviour import (
        check_fd,
        check_identities,
        check_repeatable,
        check_running_and_eval,
        check_second_call,
    )
    from bncheck.check._verify.checks.forward_backward import run_config

    options.channels = description.get("channels")
    if description.get("probe"):
        # functional targets are probed (ranks taken, eps implied) as an ordinary call, so
        # that a hang is a failed check with the call's timeout, not a load failure
        try:
            found, _ = proc.call("probe")
        except TargetError:
            found = {}
        if isinstance(found, dict):
            checked = _validated({**found, "kind": description.get("kind")})
            description["mapping"] = [*description.get("mapping", []), *checked.get("mapping", [])]
            for key in ("ndims", "rank_errors"):
                if key in checked:
                    description[key] = checked[key]
    supported = description.get("ndims") or list(options.ndims)
    ndims = [n for n in options.ndims if n in supported]
    skipped = [n for n in options.ndims if n not in supported]
    if not ndims:  # e.g. torch.nn.BatchNorm2d under --ndims 2: test what it takes
        ndims = list(supported[:1])
    options.ndims = tuple(ndims)
    checks: list[CheckResult] = []
    for ndim in ndims:
        for dtype in options.dtypes:
            results = run_config(proc, dtype, ndim, options)
            checks += results
            forward_ids: list[str] = next(
                (r.diagnosis for r in results if r.id.startswith("forward/")), []
            )
            for variant in description.get("variants", []):
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
    errors = description.get("rank_errors") or {}
    for ndim in skipped:
        dims = " or ".join(f"{n}-D" for n in supported)
        why = f"a {description.get('kind')} target takes only {dims} inputs"
        raised = errors.get(str(ndim)) or errors.get(ndim)
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
        else:
            checks += [
                CheckResult(f"{stage}/{ndim}d/{dtype}", "skip", message=why)
                for dtype in options.dtypes
                for stage in ("forward", "backward")
            ]
    _contract(proc, options)
    for ndim in ndims:
        if "float64" in options.dtypes:
            derived = [check_fd(proc, ndim, options), check_identities(proc, options, ndim)]
            _explain_by(derived, [c for c in checks if f"/{ndim}d/" in c.id])
            checks += derived
        for dtype in options.dtypes:
            behaviour = check_running_and_eval(proc, options, ndim, dtype)
            # a forward that computes the wrong statistics also updates and uses wrong ones
            forward = [c for c in checks if c.id == f"forward/{ndim}d/{dtype}"]
            _explain_by(behaviour, forward)
            checks += behaviour
            checks.append(check_repeatable(proc, options, ndim, dtype)[0])
            checks.append(check_second_call(proc, options, ndim, dtype))
    _contract(proc, options)
    _explain_by_family(checks)
    return checks


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
        family = check.id.split("/")[0]
        narrow = check.id.endswith(("float32", "float16"))
        named = [
            d
            for c in checks
            if c.status == "fail" and c.id.split("/")[0] == family
            for d in c.diagnosis
            if not (narrow and d == "float32-arithmetic")
        ]
        if named:
            check.diagnosis = list(dict.fromkeys(named))
            check.explanation = (check.explanation + "; " if check.explanation else "") + (
                "named as in the same check on another dtype or rank"
            )


def _no_mutation(proc: TargetProcess) -> CheckResult:
    if not proc.mutations:
        return CheckResult("no-mutation", "pass")
    seen = sorted(set(proc.mutations))
    what = ", ".join(f"{arg} in {op}" for op, arg in seen)
    return CheckResult(
        "no-mutation", "fail", message=f"the target modified {what}", diagnosis=["input-mutated"]
    )
