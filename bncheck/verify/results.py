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


@dataclass
class CheckResult:
    """One row of the verification table."""

    id: str
    status: str  # "pass", "fail" or "skip"
    worst: float | None = None
    budget: float | None = None
    unit: str = "ulp"
    message: str = ""
    counterexample: dict[str, Any] | None = None
    worst_entries: list[dict[str, Any]] = field(default_factory=list)
    diagnosis: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status != "fail"
