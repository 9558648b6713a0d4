"""Verify any BN implementation: ``bncheck.verify(target)`` and ``bncheck verify TARGET``.

The target runs in a separate process (see :mod:`bncheck.verify.worker`); every check of
DESIGN §6 runs against it and the result is a :class:`VerificationReport`.
"""

from __future__ import annotations

import functools
import pickle
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from bncheck.verify.adapters import load_adapter
from bncheck.verify.mistakes import MISTAKES
from bncheck.verify.results import CheckResult, Options
from bncheck.verify.worker import LoadError, TargetError, TargetProcess

__all__ = ["CheckResult", "LoadError", "Options", "VerificationReport", "verify"]

CONVENTION_CHOICES = ("torch", "keras", "cumulative", "any")
_BY_ID = {m.id: m for m in MISTAKES}


@dataclass
class VerificationReport:
    """The outcome of :func:`verify`: ``passed`` is True when no check failed."""

    target: str
    kind: str
    checks: list[CheckResult]
    seconds: float
    options: dict[str, Any] = field(default_factory=dict)

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
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "kind": self.kind,
            "passed": self.passed,
            "seconds": round(self.seconds, 2),
            "options": self.options,
            "checks": [asdict(c) | {"passed": c.passed} for c in self.checks],
            "diagnosis": self.diagnosis,
        }


def verify(
    target: Any,
    *,
    convention: str = "any",
    dtypes: tuple[str, ...] = ("float64", "float32"),
    ndims: tuple[int, ...] = (2, 4),
    thorough: bool = False,
    examples: int | None = None,
    timeout: float = 10.0,
    seed: int = 0,
) -> VerificationReport:
    """Run every check against ``target`` and return a :class:`VerificationReport`.

    Parameters
    ----------
    target : str or object
        ``"file.py"``, ``"pkg.module"`` (functional or cs231n-style), ``"file.py:prefix"``
        (``prefix_forward``/``prefix_backward``), ``"file.py:factory"`` (a layer factory), a
        dotted class such as ``"torch.nn.BatchNorm2d"``; or the object itself: a module, a
        ``(forward, backward)`` pair, a layer class or factory, a layer or torch module instance.
    convention : "torch", "keras", "cumulative" or "any"
        The running-statistics convention a layer must follow ("any": report the one it
        matches, fail if none).
    dtypes, ndims : which input dtypes and ranks to test (channel axis 1).
    thorough : search many more random inputs (``examples`` overrides the count).
    timeout : seconds one call of the target may take before it counts as a hang.

    Raises
    ------
    LoadError
        The target cannot be loaded or lacks the protocol (exit code 2 on the command line).
    """
    # the checks (Hypothesis, mpmath) load only when a verification runs
    from bncheck.verify.behaviour import (
        check_fd,
        check_identities,
        check_repeatable,
        check_running_and_eval,
    )
    from bncheck.verify.checks import run_config

    if convention not in CONVENTION_CHOICES:
        raise ValueError(f"convention={convention!r}; expected one of {CONVENTION_CHOICES}")
    for d in dtypes:
        if d not in ("float16", "float32", "float64"):
            raise ValueError(f"dtypes contains {d!r}; expected float16, float32 or float64")
    for n in ndims:
        if n not in (2, 3, 4, 5):
            raise ValueError(f"ndims contains {n!r}; expected 2, 3, 4 or 5")
    count = examples if examples is not None else (100 if thorough else 6)
    options = Options(convention, tuple(dtypes), tuple(ndims), count, timeout, seed)
    start = time.perf_counter()
    name = target if isinstance(target, str) else getattr(target, "__name__", repr(target))
    # A spawned child imports the target afresh (safe even when the parent has started
    # threads, e.g. torch's); an unpicklable in-memory target (a closure) needs fork.
    try:
        pickle.dumps(target)
        method = "spawn"
    except Exception:
        method = "fork"
    loader = functools.partial(load_adapter, target)
    with TargetProcess(loader, timeout=timeout, start_method=method) as proc:
        description = proc.start()
        options.channels = description.get("channels")
        supported = description.get("ndims") or options.ndims
        ndims = tuple(n for n in options.ndims if n in supported)
        if not ndims:  # e.g. torch.nn.BatchNorm2d under the default 2-D and 4-D: test 4-D
            ndims = tuple(supported[:2])
        skipped = [n for n in options.ndims if n not in supported]
        options.ndims = ndims or options.ndims
        checks: list[CheckResult] = []
        for ndim in ndims:
            for dtype in options.dtypes:
                checks += run_config(proc, dtype, ndim, options)
        for ndim in skipped:
            dims = " or ".join(f"{n}-D" for n in supported)
            why = f"a {description.get('kind')} target takes only {dims} inputs"
            checks += [
                CheckResult(f"{stage}/{ndim}d/{dtype}", "skip", message=why)
                for dtype in options.dtypes
                for stage in ("forward", "backward")
            ]
        if "float64" in options.dtypes and ndims:
            checks += [check_fd(proc, ndim, options) for ndim in ndims]
            checks.append(check_identities(proc, options))
        checks += check_running_and_eval(proc, options)
        repeat, _ = check_repeatable(proc, options)
        checks.append(repeat)
        checks.append(_no_mutation(proc))
    return VerificationReport(
        str(name),
        str(description.get("kind")),
        checks,
        time.perf_counter() - start,
        {"convention": convention, "dtypes": list(dtypes), "ndims": list(ndims),
         "examples": count, "timeout": timeout, "seed": seed},
    )  # fmt: skip


def _no_mutation(proc: TargetProcess) -> CheckResult:
    if not proc.mutations:
        return CheckResult("no-mutation", "pass")
    seen = sorted(set(proc.mutations))
    what = ", ".join(f"{arg} in {op}" for op, arg in seen)
    return CheckResult(
        "no-mutation", "fail", message=f"the target modified {what}", diagnosis=["input-mutated"]
    )


# re-exported for callers that catch target failures
TargetError = TargetError
