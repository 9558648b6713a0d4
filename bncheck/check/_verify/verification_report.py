"""The outcome of :func:`bncheck.check._verify.verify`: the checks, the mapping found, the
interface deviations, and the known mistakes the failures match; as text and JSON through
:mod:`bncheck.check._verify.rendering`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from bncheck.check._verify import rendering
from bncheck.check._verify.diagnosis.mistakes import MISTAKES
from bncheck.check._verify.results import CheckResult

__all__ = ["VerificationReport"]

_BY_ID = {m.id: m for m in MISTAKES}


@dataclass
class VerificationReport:
    """The outcome of :func:`verify`: ``passed`` is True when no check failed.

    ``mapping`` says how bncheck plugged the target in (what it detected); ``contract``
    lists interface deviations (a float64 result for float32 input, (1, C) gradients, ...),
    which are warnings unless ``strict`` (then the ``contract`` check fails). ``failed``
    lists the failed checks, ``diagnosis`` the known mistakes they match and
    ``unexplained`` the failed numeric checks that no known mistake explains.

    Examples
    --------
    >>> import bncheck
    >>> report = bncheck.verify("bncheck.BatchNorm", ndims=(2,), dtypes=("float64",))
    >>> report.passed, report.failed, report.diagnosis
    (True, [], [])
    >>> [check.id for check in report.checks][:3]
    ['forward/2d/float64', 'backward/2d/float64', 'backward-fd/2d/float64']
    """

    target: str
    kind: str
    checks: list[CheckResult]
    seconds: float
    options: dict[str, Any] = field(default_factory=dict)
    mapping: list[str] = field(default_factory=list)
    contract: list[str] = field(default_factory=list)

    @property
    def result(self) -> str:
        """``"fail"`` when a check failed; ``"incomplete"`` when none failed but a family that
        applies to the target could not be driven (see :attr:`not_checked`): no mistake found in
        what ran, which is not a pass; else ``"pass"``."""
        if any(c.status == "fail" for c in self.checks):
            return "fail"
        if self.not_checked:
            return "incomplete"
        return "pass"

    @property
    def passed(self) -> bool:
        """True only when every check that applies to the target ran and passed."""
        return self.result == "pass"

    @property
    def not_checked(self) -> list[CheckResult]:
        """Checks that apply to the target but could not be driven (status "not-checked")."""
        return [c for c in self.checks if c.status == "not-checked"]

    @property
    def coverage(self) -> dict[str, dict[str, Any]]:
        """What ran, per check family: ``{"forward": {"ran": ["2d/float64", ...], "not_run":
        {"4d/float64": "why"}}}``; a case is the rank and dtype (and layout) a check ran on,
        "-" for checks of the whole target."""
        out: dict[str, dict[str, Any]] = {}
        for check in self.checks:
            key = check.key
            case = (
                "/".join(
                    p
                    for p in (f"{key.ndim}d" if key.ndim else "", key.dtype or "", key.layout or "")
                    if p
                )
                or "-"
            )
            entry = out.setdefault(key.family, {"ran": [], "not_run": {}})
            if check.status in ("pass", "fail"):
                entry["ran"].append(case)
            else:
                entry["not_run"][case] = f"{check.status}: {check.message}"
        return out

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
        numeric = {
            "forward",
            "backward",
            "backward-fd",
            "running",
            "eval",
            "eval-state",
            "identities",
        }
        return [c for c in self.failed if not c.diagnosis and c.key.base_family in numeric]

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (what ``bncheck verify --json`` prints).

        Examples
        --------
        >>> import bncheck
        >>> report = bncheck.verify("bncheck.BatchNorm", ndims=(2,), dtypes=("float64",))
        >>> data = report.to_dict()
        >>> data["passed"], data["options"]["dtypes"], data["checks"][0]["id"]
        (True, ['float64'], 'forward/2d/float64')
        """
        data = {
            "target": self.target,
            "kind": self.kind,
            "result": self.result,
            "passed": self.passed,
            "seconds": round(self.seconds, 2),
            "options": self.options,
            "mapping": self.mapping,
            "contract": self.contract,
            "checks": [_check_dict(c) for c in self.checks],
            "diagnosis": self.diagnosis,
            "unexplained": [c.id for c in self.unexplained],
            "coverage": self.coverage,
        }
        if self.not_checked:  # an incomplete verification says what it could not drive
            data["not_checked"] = [{"id": c.id, "why": c.message} for c in self.not_checked]
        return data

    def to_text(self) -> str:
        """The report as ``bncheck verify`` prints it: how the target was plugged in, the
        check table, each failure with its shrunk counterexample, worst entries and fit, the
        interface deviations, the diagnosis and the result.

        It is also the message of the :class:`~bncheck.exceptions.BatchNormVerificationError`
        that :func:`~bncheck.check.testing.assert_batchnorm_correct` raises.

        Examples
        --------
        >>> from bncheck.check import CheckResult, VerificationReport
        >>> report = VerificationReport(
        ...     "mine.py", "functional", [CheckResult("forward/2d/float64", "pass", 0.5, 4.0)],
        ...     seconds=1.0,
        ... )
        >>> print(report.to_text())
        bncheck verify mine.py (functional), 1.0 s
        <BLANKLINE>
        check               result    worst error    budget    note
        ------------------  --------  -------------  --------  ------
        forward/2d/float64  pass      0.5 ulp        4 ulp
        <BLANKLINE>
        Coverage (what ran, per check family):
          - forward: ran on 2d/float64
        <BLANKLINE>
        Result: PASS
        """
        return rendering.render_text(self)

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text, keys sorted (what ``bncheck verify --json`` prints);
        an infinite or NaN number is written as the string ``"inf"``, ``"-inf"`` or ``"nan"``.

        Examples
        --------
        >>> import json
        >>> from bncheck.check import CheckResult, VerificationReport
        >>> report = VerificationReport(
        ...     "mine.py", "functional",
        ...     [CheckResult("backward/2d/float64", "fail", float("inf"), 4.0)], seconds=1.0,
        ... )
        >>> data = json.loads(report.to_json())
        >>> data["result"], data["checks"][0]["worst"], data["unexplained"]
        ('fail', 'inf', ['backward/2d/float64'])
        """
        return rendering.render_json(self)


def _check_dict(check: CheckResult) -> dict[str, Any]:
    """A check as JSON data; ``inputs`` only where the check lists the inputs it ran on."""
    data = asdict(check) | {"passed": check.passed}
    if not data["inputs"]:
        del data["inputs"]
    return data
