"""Verify any BN implementation: ``bncheck.verify(target)`` and ``bncheck verify TARGET``.

The target runs in a separate process (see :mod:`bncheck.check._verify.worker`); every check of
docs/design.md (the verify protocol) runs against it and the result is a
:class:`VerificationReport`.
"""

from __future__ import annotations

import functools
import os
import pickle
import sys
import time
import types
from dataclasses import asdict, dataclass, field
from typing import Any

from bncheck.check._verify.adapt import Adapted, adapt
from bncheck.check._verify.adapters import load_adapter
from bncheck.check._verify.mistakes import MISTAKES
from bncheck.check._verify.results import CheckResult, Options
from bncheck.check._verify.worker import TargetProcess
from bncheck.exceptions import LoadError, TargetError, TargetLoadFailed

__all__ = [
    "Adapted",
    "CheckResult",
    "LoadError",
    "Options",
    "TargetLoadFailed",
    "VerificationReport",
    "adapt",
    "verify",
]

CONVENTION_CHOICES = ("torch", "keras", "cumulative", "any")
_BY_ID = {m.id: m for m in MISTAKES}


@dataclass
class VerificationReport:
    """The outcome of :func:`verify`: ``passed`` is True when no check failed.

    ``mapping`` says how bncheck plugged the target in (what it detected); ``contract``
    lists interface deviations (a float64 result for float32 input, (1, C) gradients, ...),
    which are warnings unless ``strict`` (then the ``contract`` check fails).
    """

    target: str
    kind: str
    checks: list[CheckResult]
    seconds: float
    options: dict[str, Any] = field(default_factory=dict)
    mapping: list[str] = field(default_factory=list)
    contract: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "fail"]

    @property
    def diagnosis(self) -> list[dict[str, Any]]:
        """The known mistakes that the failures match, each with the checks that showed it."""
        found: dict[str, list[str]] = {}
        for check in self.checks:
            for mistake_id in check.diagnosis:
                found.setdefault(mistake_id, []).append(check.id)
        return [
            {"id": k, "description": _BY_ID[k].description, "fix": _BY_ID[k].fix, "checks": v}
            for k, v in found.items()
            if k in _BY_ID
        ]

    @property
    def unexplained(self) -> list[CheckResult]:
        """Failed numeric checks that no known mistake explains."""
        numeric = ("forward", "backward", "running", "eval", "identities")
        return [c for c in self.failed if not c.diagnosis and c.id.startswith(numeric)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "kind": self.kind,
            "passed": self.passed,
            "seconds": round(self.seconds, 2),
            "options": self.options,
            "mapping": self.mapping,
            "contract": self.contract,
            "checks": [asdict(c) | {"passed": c.passed} for c in self.checks],
            "diagnosis": self.diagnosis,
            "unexplained": [c.id for c in self.unexplained],
        }


def verify(
    target: Any,
    *,
    convention: str = "any",
    dtypes: tuple[str, ...] = ("float64", "float32"),
    ndims: tuple[int, ...] | None = None,
    thorough: bool = False,
    examples: int | None = None,
    timeout: float = 10.0,
    seed: int = 0,
    axis: int = 1,
    strict: bool = False,
    deadline: float | None = None,
    memory_limit: int | None = None,
) -> VerificationReport:
    """Run every check against ``target`` and return a :class:`VerificationReport`.

    Parameters
    ----------
    target : str or object
        ``"file.py"``, ``"pkg.module"`` (functional or cs231n-style), ``"file.py:prefix"``
        (``prefix_forward``/``prefix_backward``), ``"file.py:Name"`` (a layer class or
        factory, or a function returning :func:`bncheck.adapt`), a dotted class such as
        ``"torch.nn.BatchNorm2d"``; or the object itself: a module, a ``(forward, backward)``
        pair, a layer class or factory, a layer or torch module instance.
    convention : "torch", "keras", "cumulative" or "any"
        The running-statistics convention a layer must follow ("any": report the one it
        matches, fail if none).
    dtypes, ndims : which input dtypes and ranks to test; every check runs on each. ``ndims``
        None: 2 and 4, or the ranks the target takes (torch's BatchNorm2d: 4); a rank given
        explicitly that the target cannot take is a failed check.
    thorough : search many more random inputs (``examples`` overrides the count).
    timeout : seconds one call of the target may take before it counts as a hang.
    axis : the channel axis the target expects (1, or -1 for channels-last).
    strict : interface deviations (dtype, shapes) fail instead of warning.
    deadline : seconds for the whole verification (None: the worker's default).
    memory_limit : bytes of address space the target process may use (None: the default).

    Raises
    ------
    LoadError
        The target cannot be loaded or lacks the protocol (exit code 2 on the command line).

    Examples
    --------
    >>> import bncheck
    >>> report = bncheck.verify("bncheck.BatchNorm", ndims=(2,), dtypes=("float64",))
    >>> report.passed
    True
    """
    if convention not in CONVENTION_CHOICES:
        raise ValueError(f"convention={convention!r}; expected one of {CONVENTION_CHOICES}")
    for d in dtypes:
        if d not in ("float16", "float32", "float64"):
            raise ValueError(f"dtypes contains {d!r}; expected float16, float32 or float64")
    explicit = ndims is not None
    ndims = (2, 4) if ndims is None else tuple(ndims)
    for n in ndims:
        if isinstance(n, bool) or not isinstance(n, int) or n not in (2, 3, 4, 5):
            raise ValueError(f"ndims contains {n!r}; expected 2, 3, 4 or 5")
    if axis not in (1, -1):
        raise ValueError(f"axis={axis!r}; expected 1 (channels first) or -1 (channels last)")
    ndims = tuple(dict.fromkeys(ndims))  # "2,2" is 2
    dtypes = tuple(dict.fromkeys(dtypes))
    if examples is not None and (isinstance(examples, bool) or not isinstance(examples, int)
                                 or examples < 0):  # fmt: skip
        raise ValueError(f"examples={examples!r}; expected a whole number >= 0")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed={seed!r}; expected a whole number >= 0")
    count = examples if examples is not None else (100 if thorough else 6)
    options = Options(convention, tuple(dtypes), tuple(ndims), count, timeout, seed)
    options.axis, options.strict = axis, strict
    start = time.perf_counter()
    name = target if isinstance(target, str) else _name_of(target)
    method = _start_method(target)
    loader = functools.partial(load_adapter, target, axis, tuple(ndims))
    limits: dict[str, Any] = {}
    if deadline is not None:
        limits["deadline"] = deadline
    if memory_limit is not None:
        limits["memory_limit"] = memory_limit
    checks: list[CheckResult] = []
    description: dict[str, Any] = {}
    with TargetProcess(loader, timeout=timeout, start_method=method, **limits) as proc:
        try:
            description = _validated(proc.start())
        except TargetLoadFailed as exc:
            checks.append(_load_failed(exc))
        except LoadError:
            raise
        except TargetError as exc:  # e.g. the overall deadline passed while loading
            checks.append(CheckResult("load", "fail", message=f"loading the target: {exc}"))
        if description:
            checks += _run_all(proc, description, options, explicit)
            checks.append(_no_mutation(proc))
    if options.contract:
        status = "fail" if strict else "pass"
        checks.append(CheckResult(
            "contract", status, message=f"{len(options.contract)} interface deviation"
            + ("s" if len(options.contract) != 1 else "")
            + (" (--strict)" if strict else " (warnings; --strict makes them failures)"),
        ))  # fmt: skip
    return VerificationReport(
        str(name),
        str(description.get("kind", "unknown")),
        checks,
        time.perf_counter() - start,
        {"convention": convention, "dtypes": list(dtypes), "ndims": list(options.ndims),
         "examples": count, "timeout": timeout, "seed": seed, "axis": axis, "strict": strict},
        [str(line) for line in description.get("mapping", [])],
        list(options.contract),
    )  # fmt: skip


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


def _name_of(target: Any) -> str:
    """A name for the report, without running the target's own __repr__ or __getattr__."""
    if isinstance(target, (type, types.FunctionType, types.ModuleType, types.MethodType)):
        try:
            return str(object.__getattribute__(target, "__name__"))
        except AttributeError:
            pass
    return str(type.__getattribute__(type(target), "__name__"))


def _start_method(target: Any) -> str:
    """spawn: the child imports the target afresh (safe even when this process has started
    threads, e.g. torch's). fork where spawn cannot work: an in-memory target that does not
    pickle (a closure), one defined in the __main__ script (spawn would re-run the script),
    or a __main__ that is no file (stdin, -c)."""
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    if not main_file or not os.path.exists(main_file):
        return "fork"
    if isinstance(target, str):
        return "spawn"
    if getattr(target, "__module__", None) == "__main__":
        return "fork"
    try:
        pickle.dumps(target)
    except (Exception, SystemExit):  # a target's __reduce__ may raise anything
        return "fork"
    return "spawn"


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
    return CheckResult("load", "fail", message=f"the target failed while loading: {exc}"
                       + (f"\n{tb.rstrip()}" if tb else ""))  # fmt: skip


def _run_all(
    proc: TargetProcess, description: dict[str, Any], options: Options, explicit: bool = False
) -> list[CheckResult]:
    """Every check on every requested rank and dtype the target takes (the checks, with
    Hypothesis and mpmath, load only when a verification runs)."""
    from bncheck.check._verify.behaviour import (
        check_fd,
        check_identities,
        check_repeatable,
        check_running_and_eval,
        check_second_call,
    )
    from bncheck.check._verify.checks import run_config

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
            description["mapping"] = [*description.get("mapping", []),
                                      *checked.get("mapping", [])]  # fmt: skip
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
                    checks += run_config(proc, dtype, ndim, options,
                                         names={"backward": f"backward[{variant}]"},
                                         forward_ids=forward_ids)  # fmt: skip
                    proc.call("variant", "batchnorm_backward")
                except TargetError as exc:
                    checks.append(CheckResult(f"backward[{variant}]/{ndim}d/{dtype}", "fail",
                                              message=str(exc)))  # fmt: skip
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
        named = [d for c in checks if c.status == "fail" and c.id.split("/")[0] == family
                 for d in c.diagnosis
                 if not (narrow and d == "float32-arithmetic")]  # fmt: skip
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
