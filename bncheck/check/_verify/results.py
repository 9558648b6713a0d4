"""What a verification run is asked to do, what the target said it is, and what the run
found: light types, no heavy imports."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bncheck.exceptions import LoadError, TargetError

__all__ = [
    "MAX_CHANNELS",
    "CheckId",
    "CheckResult",
    "Findings",
    "Options",
    "TargetDescription",
    "broke_on_rank",
    "checked_description",
    "rejects_rank",
]


@dataclass(frozen=True)
class CheckId:
    """Which check ran on which case: the family (``"forward"``, ``"backward"``,
    ``"backward[batchnorm_backward_alt]"``, ``"running"``, ``"load"``, ...), the input rank and
    dtype when it has them, and the distributed layout (``"shards=1,2,3,6"``).

    Its text, ``str(check_id)``, is a :class:`CheckResult`'s ``id``
    (``"backward/4d/float32"``); code that selects checks compares these fields, never text.
    """

    family: str
    ndim: int | None = None
    dtype: str | None = None
    layout: str | None = None

    def __str__(self) -> str:
        parts = [self.family]
        if self.ndim is not None:
            parts.append(f"{self.ndim}d")
        if self.dtype is not None:
            parts.append(self.dtype)
        if self.layout is not None:
            parts.append(self.layout)
        return "/".join(parts)

    @classmethod
    def parse(cls, text: str) -> CheckId:
        """The fields of a check's ``id`` (its inverse: ``str(CheckId.parse(t)) == t``)."""
        family, *rest = text.split("/")
        ndim = dtype = layout = None
        for part in rest:
            if part.endswith("d") and part[:-1].isdigit() and ndim is None:
                ndim = int(part[:-1])
            elif part.startswith("float") and dtype is None:
                dtype = part
            else:
                layout = part if layout is None else f"{layout}/{part}"
        return cls(family, ndim, dtype, layout)

    @property
    def base_family(self) -> str:
        """The family without a variant: ``"backward"`` for ``"backward[…_alt]"``."""
        return self.family.partition("[")[0]


@dataclass(frozen=True)
class TargetDescription:
    """What the target process said the target is, after :func:`checked_description` has
    validated it (it comes from the target's process, so nothing in it was trusted).

    kind: "functional", "cs231n", "layer", "torch", "flax.linen", ... (for the report).
    channels: fixed by an instance target (None: any). ndims: the input ranks it takes (empty:
    not probed). rank_errors: rank -> what the target raised on it. variants: other backwards
    to check (cs231n's ``batchnorm_backward_alt``). mapping: how it was plugged in, one line
    each. running: it has running statistics and an eval mode. probe: its ranks and eps are
    probed by an ordinary call (functional targets). equal_shards: the distributed target
    takes equal shards only (``jax.shard_map``).
    """

    kind: str = "unknown"
    channels: int | None = None
    ndims: tuple[int, ...] = ()
    rank_errors: Mapping[str, str] = field(default_factory=dict)
    variants: tuple[str, ...] = ()
    mapping: tuple[str, ...] = ()
    running: bool = False
    probe: bool = False
    equal_shards: bool = False
    mode_switch: bool = False
    running_found: bool = False
    #: it keeps state besides its parameters (a framework layer's statistics collection)
    #: that bncheck could read neither as running statistics nor drive by a switch
    keeps_state: bool = False
    #: it compiles a program per input shape and dtype (Options.compiled_shapes)
    compiles_per_shape: bool = False
    #: what the running "variance" holds, when the user said so (--running-form): a key of the
    #: running check's FORMS; "" to fit it
    running_form: str = ""
    #: the target has no parameters (a BN without its affine step): judged with gamma = 1 and
    #: beta = 0, its backward on dx alone (checks/case.py, param_free)
    param_free: bool = False

    @property
    def unchecked_state(self) -> str:
        """Why running statistics and eval mode apply to this target but cannot be driven
        ("" when they can, or when the target has neither): a train/eval switch with no running
        statistics found, or running statistics with no switch found."""
        if self.running:
            return ""
        if self.mode_switch and not self.running_found:
            return (
                "the target switches between train and eval mode, but bncheck found no running "
                "statistics it could read and drive (no values that carry every training batch; "
                "name them with --running-mean PATH --running-var PATH, or map the layer with "
                "bncheck.adapt)"
            )
        if self.running_found and not self.mode_switch:
            return (
                "the target keeps running statistics, but bncheck found no train/eval switch to "
                "drive its eval mode (no argument, attribute or method whose setting makes the "
                "output stop depending on the batch; name it with --mode NAME and "
                "--train-value/--eval-value, or map the layer with bncheck.adapt)"
            )
        if self.keeps_state:
            return (
                "the target keeps state besides its parameters (its statistics collection), but "
                "bncheck found neither running statistics it could read in it nor a train/eval "
                "switch to drive its eval mode (map the layer with bncheck.adapt)"
            )
        return ""


class Findings:
    """What a run learns about the target's interface as it goes: the interface deviations
    (dtype, shapes), in order, once each. The one mutable part of a run's settings."""

    def __init__(self) -> None:
        self.contract: list[str] = []

    def note(self, notes: Iterable[str]) -> None:
        for text in notes:
            if text not in self.contract:
                self.contract.append(text)


@dataclass(frozen=True)
class Options:
    """What to run, fixed for the run. ``examples``: Hypothesis search examples per (ndim,
    dtype); ``channels``: fixed by an instance target; ``axis``: the channel axis the target
    expects (inputs are moved there); ``strict``: interface deviations fail instead of warning.
    A run that learns the target's ranks or channels makes new Options
    (``dataclasses.replace``); what it learns about the interface goes to ``findings``."""

    convention: str = "any"
    dtypes: tuple[str, ...] = ("float64", "float32")
    ndims: tuple[int, ...] = (2, 4)
    examples: int = 6
    timeout: float = 10.0
    seed: int = 0
    shrink_budget: int = 60
    channels: int | None = None
    axis: int = 1
    strict: bool = False
    #: --thorough: the search draws the kernel dimensions (boundary shapes, every layout)
    thorough: bool = False
    #: the target compiles a program per input shape and dtype (JAX's XLA, tinygrad): the
    #: search draws and shrinking tries only shapes it has already run in that dtype
    compiled_shapes: bool = False
    findings: Findings = field(default_factory=Findings, compare=False)

    def note(self, notes: Iterable[str]) -> None:
        """Record interface deviations (in :attr:`findings`)."""
        self.findings.note(notes)

    @property
    def contract(self) -> list[str]:
        """The interface deviations recorded so far."""
        return self.findings.contract


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
        ``"pass"``, ``"fail"``, ``"skip"`` (does not apply to this target, with why) or
        ``"not-checked"`` (applies, but could not be driven: the verification is then
        incomplete, not a pass); :attr:`passed` is True unless ``"fail"``.
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
    status: str  # "pass", "fail", "skip" or "not-checked"
    worst: float | None = None
    budget: float | None = None
    unit: str = "ulp"
    message: str = ""
    counterexample: dict[str, Any] | None = None
    worst_entries: list[dict[str, Any]] = field(default_factory=list)
    diagnosis: list[str] = field(default_factory=list)
    #: what the diagnosis fitted (e.g. "c = 1, a = 0.00, b = 1"), also when it names nothing
    explanation: str = ""
    #: the inputs the check ran on, one line each ("(65537, 2) transposed, regime standard")
    inputs: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status != "fail"

    @property
    def key(self) -> CheckId:
        """The check's identity as fields (family, ndim, dtype, layout), parsed from ``id``."""
        return CheckId.parse(self.id)


#: the widest target verify takes: every check holds a few arrays of C channels in this process
MAX_CHANNELS = 4096


def checked_description(description: Any) -> TargetDescription:
    """The target process's description, checked: it comes from the target's process, so
    nothing in it is trusted (a lazy layer may say 0 channels, a hostile one anything)."""
    if not isinstance(description, dict):
        raise TargetError(f"the target process described itself as {type(description).__name__}")
    channels = description.get("channels")
    if not (isinstance(channels, int) and not isinstance(channels, bool) and channels > 0):
        channels = None
    elif channels > MAX_CHANNELS:
        raise LoadError(
            f"the target has num_features={channels}; bncheck verifies at most "
            f"{MAX_CHANNELS} channels (build a narrower instance, or pass the class)"
        )
    ndims = description.get("ndims")
    errors = description.get("rank_errors")
    variants = description.get("variants")
    mapping = description.get("mapping")
    return TargetDescription(
        kind=_printable(str(description.get("kind", "unknown")))[:60],
        channels=channels,
        ndims=tuple(n for n in ndims if isinstance(n, int) and n in (2, 3, 4, 5))
        if isinstance(ndims, list)
        else (),
        rank_errors={str(k): str(v)[:600] for k, v in list(errors.items())[:4]}
        if isinstance(errors, dict)
        else {},
        variants=tuple(v for v in variants if v == "batchnorm_backward_alt")
        if isinstance(variants, list)
        else (),
        mapping=tuple(_printable(str(m))[:300] for m in mapping[:16])
        if isinstance(mapping, list)
        else (),
        running=description.get("running") is True,
        probe=description.get("probe") is True,
        equal_shards=description.get("equal_shards") is True,
        mode_switch=description.get("mode_switch") is True,
        running_found=description.get("running_found") is True,
        keeps_state=description.get("keeps_state") is True,
        compiles_per_shape=description.get("compiles_per_shape") is True,
        running_form=str(description.get("running_form") or "")[:20],
        param_free=description.get("param_free") is True,
    )


def _printable(text: str) -> str:
    """Text from the target with control characters (terminal escapes, carriage returns)
    shown as '?', so it cannot redraw the report."""
    return "".join(ch if ch == "\n" or ch.isprintable() else "?" for ch in text)


#: words of an error that refuses an input rank on purpose ("expected 4D input (got 2D)",
#: "x must be (N, C)", "only 2-D supported", "ndim")
_REFUSAL = re.compile(
    r"(\b\d-?d\b|\bn?dim|\brank\b|\bshape\b|expect|support|\bonly\b|\bmust\b|"
    r"\(n, ?c|channels)",
    re.IGNORECASE,
)
#: exception types a deliberate refusal raises
_REFUSING = ("ValueError", "AssertionError", "NotImplementedError", "TypeError", "RuntimeError")
#: an error of those types reported inside another's message (TorchScript's interpreter raises
#: torch.jit.Error, "The following operation failed ... ValueError: expected 2D or 3D input")
_INNER = re.compile(r"\b(" + "|".join(_REFUSING) + r"): ([^\n]*)")


def broke_on_rank(ndim: int, raised: str) -> str:
    """Why a rank whose input the target took but broke on (or answered in another shape)
    was not checked: what a not-checked rank says."""
    message = raised.partition(": ")[2]
    if message.startswith("the output has shape"):
        what = f"the target returned an output of another shape ({message[len('the ') :]})"
    else:
        what = (
            f"the target raised {raised}, an error of its own code rather than a refusal of "
            f"{ndim}-D input"
        )
    return f"on a {ndim}-D input {what}; {ndim}-D was not checked"


def rejects_rank(raised: str) -> bool:
    """Whether what a target raised on an input rank ("ValueError: expected 4D input") reads as
    a deliberate refusal of that rank, not a crash of code that took it (an IndexError deep in
    its arithmetic, a broadcasting error). An assertion (input checking) counts as a refusal,
    and so does one reported inside a wrapper's error (TorchScript's).

    Examples
    --------
    >>> from bncheck.check._verify.results import rejects_rank
    >>> rejects_rank("ValueError: expected 2D or 3D input (got 4D input)")
    True
    >>> rejects_rank("Error: The following operation failed in the TorchScript interpreter."
    ...              "\\n    raise ValueError\\nValueError: expected 2D or 3D input (got 4D input)")
    True
    >>> rejects_rank("IndexError: index 3 is out of bounds for axis 0 with size 3")
    False
    """
    kind, _, message = raised.partition(": ")
    if message.startswith("the output has shape"):  # it took the input, returned another shape
        return False
    if kind == "AssertionError":
        return True
    if "could not be broadcast" in message or "cannot reshape" in message:
        return False
    inner = _INNER.findall(message)
    if kind not in _REFUSING and inner:  # a wrapper's error: the one it reports decides
        return rejects_rank(": ".join(inner[-1]))
    return kind in _REFUSING and bool(_REFUSAL.search(message))


def unanswered_not_checked(checks: list[CheckResult], unanswered: Iterable[str]) -> None:
    """In place: a check that failed only because the target did not answer in time (its
    message holds one of ``unanswered``, the errors TargetProcess raised for a call or load past
    its timeout or the overall deadline, or for a call not run after those; nothing it measured
    exceeded its budget and no mistake was named) becomes not checked. A timeout is no evidence
    of a wrong BN: a framework compiling or interpreting its kernels on a loaded machine answers
    late, a hung one never, and bncheck cannot tell the two apart; either way the check did not
    run, so the verification is incomplete (exit 4), never a pass, and --timeout allows more."""
    said = [u for u in dict.fromkeys(unanswered) if u]
    if not said:
        return
    for i, c in enumerate(checks):
        if c.status != "fail" or c.diagnosis or not any(u in c.message for u in said):
            continue
        if c.worst is not None and c.budget is not None and not c.worst <= c.budget:
            continue  # it had already measured an error over its budget
        checks[i] = CheckResult(
            c.id,
            "not-checked",
            c.worst,
            c.budget,
            c.unit,
            message=f"{c.message}: the target did not answer in time (too slow for the "
            "limit, or hung; --timeout, --load-timeout, --deadline allow more)",
        )
