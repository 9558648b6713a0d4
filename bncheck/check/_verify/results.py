"""What a verification run is asked to do and what it found: light types, no heavy imports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["CheckResult", "Options"]


@dataclass
class Options:
    """What to run. ``examples``: Hypothesis search examples per (ndim, dtype)."""

    convention: str = "any"
    dtypes: tuple[str, ...] = ("float64", "float32")
    ndims: tuple[int, ...] = (2, 4)
    examples: int = 6
    timeout: float = 10.0
    seed: int = 0
    shrink_budget: int = 60
    channels: int | None = None  # fixed by an instance target
    axis: int = 1  # the channel axis the target expects (inputs are moved there)
    strict: bool = False  # interface deviations fail instead of warning
    #: interface deviations seen (dtype, shapes), in order, once each
    contract: list[str] = field(default_factory=list)

    def note(self, notes: Any) -> None:
        for text in notes:
            if text not in self.contract:
                self.contract.append(text)


@dataclass
class CheckResult:
    """One check of a verification: a row of the table that ``bncheck verify`` prints.

    Public as :class:`bncheck.check.CheckResult`; :attr:`VerificationReport.checks
    <bncheck.check.VerificationReport>` is a list of them.

    Attributes
    ----------
    id : str
        The check and the case it ran on, e.g. ``"backward/2d/float32"``.
    status : str
        ``"pass"``, ``"fail"`` or ``"skip"``; :attr:`passed` is True unless ``"fail"``.
    worst, budget : float or None
        The worst error seen and the budget it is judged against, in ``unit``.
    unit : str
        ``"ulp"`` (normwise ULP), ``"rel"`` (relative) or ``"×budget"`` (a multiple of the
        budget).
    message : str
        What was found (for a failure: what is wrong).
    counterexample : dict or None
        The shrunk input of a failure: shape, dtype, regime, eps and the arrays.
    worst_entries : list of dict
        The entries of the outputs furthest from the truth on that counterexample.
    diagnosis : list of str
        The ids of the known mistakes that explain the failure.
    explanation : str
        What the diagnosis fitted, also when it names no mistake.

    Examples
    --------
    >>> from bncheck.check import CheckResult
    >>> row = CheckResult("backward/2d/float64", "fail", worst=310.0, budget=4.0)
    >>> row.passed, row.unit, row.diagnosis
    (False, 'ulp', [])
    """

    id: str
    status: str  # "pass", "fail" or "skip"
    worst: float | None = None
    budget: float | None = None
    unit: str = "ulp"
    message: str = ""
    counterexample: dict[str, Any] | None = None
    worst_entries: list[dict[str, Any]] = field(default_factory=list)
    diagnosis: list[str] = field(default_factory=list)
    #: what the diagnosis fitted (e.g. "c = 1, a = 0.00, b = 1"), also when it names nothing
    explanation: str = ""

    @property
    def passed(self) -> bool:
        return self.status != "fail"
