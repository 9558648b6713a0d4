"""A :class:`~bncheck.check._verify.verification_report.VerificationReport` as text and as JSON:
what ``bncheck verify`` prints (``--json``: :func:`render_json`) and the message of
:class:`bncheck.exceptions.BatchNormVerificationError`.

Plain text, no third-party package: the check table is laid out by :func:`_table` (tabulate's
"simple" layout, as these text columns get it), so that verifying a BN needs no rendering
library.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bncheck.check._verify.verification_report import VerificationReport

__all__ = ["render_json", "render_text"]

_HEADERS = ("check", "result", "worst error", "budget", "note")


def _table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    """Text cells in left-aligned columns: a header line, a line of dashes, a line per row.

    Each column is as wide as its widest cell, and at least its header plus two; columns are
    two spaces apart; cells are stripped and lines carry no trailing spaces. (The layout of
    tabulate's "simple" format for text columns; no cell is read as a number.)

    >>> print(_table([["a", "pass"], ["bb", ""]], ["check", "result"]))
    check    result
    -------  --------
    a        pass
    bb
    """
    cells = [[cell.strip() for cell in row] for row in rows]
    widths = [max([len(h) + 2, *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, cells)])


def _num(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    text = f"{value:.3g}"
    return f"{text} {unit}" if unit in ("ulp", "rel") else f"{text} {unit}".rstrip()


def _array_text(values: Any, limit: int = 12) -> str:
    flat: list[Any] = []

    def walk(v: Any) -> None:
        if isinstance(v, list):
            for item in v:
                walk(item)
        else:
            flat.append(v)

    walk(values)
    shown = ", ".join(_plain(v) for v in flat[:limit])
    return f"[{shown}{', …' if len(flat) > limit else ''}]"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def render_text(report: VerificationReport) -> str:
    """How the target was plugged in, the check table, each failure with its shrunk
    counterexample and worst entries, interface deviations, and the diagnosis."""
    rows = [
        [
            c.id,
            c.status.upper() if c.status == "fail" else c.status,
            _num(c.worst, c.unit),
            _num(c.budget, c.unit),
            _indented(c.message).replace("\n", " ") if c.status != "fail" else "",
        ]
        for c in report.checks
    ]
    lines = [f"bncheck verify {report.target} ({report.kind}), {report.seconds:.1f} s", ""]
    if report.mapping:
        lines.append("Plugged in as:")
        lines += [f"  - {m}" for m in report.mapping]
        lines.append("")
    lines += [_table(rows, _HEADERS), ""]
    for c in report.failed:
        lines.append(f"FAIL {c.id}: {_indented(c.message)}")
        if c.counterexample:
            ce = c.counterexample
            layout = ce.get("layout", "C")
            lines.append(
                f"  shrunk counterexample: shape {tuple(ce['shape'])}, {ce['dtype']}, "
                + (f"layout {layout}, " if layout != "C" else "")
                + f"regime {ce['regime']}, eps {_plain(ce['eps'])}"
            )
            if ce.get("x") is None and "layout" in ce:
                lines.append("    (x, gamma, beta, dy: too many values to list)")
            for key in ("x", "gamma", "beta", "dy"):
                if ce.get(key) is not None:
                    lines.append(f"    {key} = {_array_text(ce[key])}")
        if c.worst_entries:
            lines.append("  worst entries on that counterexample:")
        for e in c.worst_entries:
            lines.append(
                f"    {e.get('output', '')}{tuple(e['index'])}: got {_plain(e['got'])}, "
                f"truth {_plain(e['truth'])}"
            )
        if c.explanation:
            lines.append(f"  fit: {_indented(c.explanation)}")
        lines.append("")
    if report.contract:
        how = (
            "failures under --strict"
            if report.options.get("strict")
            else "warnings; the numbers were checked as returned"
        )
        lines.append(f"Interface deviations ({how}):")
        lines += [f"  - {w}" for w in report.contract]
        lines.append("")
    if report.diagnosis:
        lines.append("Diagnosis:")
        for d in report.diagnosis:
            lines.append(f"  - {d['id']}: {d['description']} (seen in {', '.join(d['checks'])})")
            lines.append(f"    fix: {d['fix']}")
    unexplained = report.unexplained
    if unexplained:
        fitted = any(c.explanation for c in unexplained)
        lines.append(
            "Unexplained: no known mistake reproduces "
            + ", ".join(c.id for c in unexplained)
            + (" (the fit lines above say what the target computes)." if fitted else ".")
        )
    lines += _coverage_lines(report)
    failed = len(report.failed)
    if report.result == "incomplete":
        missing = report.not_checked
        reasons = list(dict.fromkeys(c.message for c in missing))
        lines.append("Not checked: " + ", ".join(c.id for c in missing) + ": " + "; ".join(reasons))
        verdict = (
            "INCOMPLETE (no mistake found in what ran; not checked: "
            + _plural(len(missing), "check")
            + ")"
        )
    else:
        verdict = "PASS" if report.passed else f"FAIL ({_plural(failed, 'check')} failed)"
    lines.append(f"Result: {verdict}")
    return "\n".join(lines)


def _coverage_lines(report: VerificationReport) -> list[str]:
    """Per family: the cases it ran on, and those it did not with why (skips and not-checked)."""
    coverage = report.coverage
    if not coverage:
        return []
    lines = ["Coverage (what ran, per check family):"]
    for family, entry in coverage.items():
        ran = entry["ran"]
        text = f"  - {family}: ran on {', '.join(ran) if ran else 'nothing'}"
        not_run = entry["not_run"]
        if not_run:
            whys: dict[str, list[str]] = {}
            for case, why in not_run.items():
                whys.setdefault(why, []).append(case)
            text += "; not run: " + "; ".join(
                f"{', '.join(cases)} ({why})" for why, cases in whys.items()
            )
        lines.append(text)
    return [*lines, ""]


def _indented(text: str) -> str:
    """A message that may come from the target: control characters shown as '?', and every
    line after the first indented, so that it cannot pose as a line of the report."""
    clean = "".join(ch if ch == "\n" or ch.isprintable() else "?" for ch in text)
    return "\n    ".join(clean.splitlines())


def _plain(v: Any) -> str:
    """A number as a plain decimal (NaN as nan), never np.float32(...)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return repr(f)


def _clean(value: Any) -> Any:
    """JSON has no inf/NaN: write them as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def render_json(report: VerificationReport) -> str:
    """The report's :meth:`~VerificationReport.to_dict` as JSON (inf and NaN as strings)."""
    return json.dumps(_clean(report.to_dict()), indent=2, sort_keys=True, allow_nan=False)
