"""The derivation and source-audit reports, written by the ``bncheck.derivations`` package.

SymPy lives only under ``derivations/``; this module imports that package by name when the
report runs and writes its report texts (not the generated code) into the output directory.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bncheck.report.build import Built

__all__ = ["build"]


def build(
    out: Path, *, quick: bool = False, progress: Callable[[str], None] | None = None
) -> Built:
    derivations: Any = importlib.import_module("bncheck.derivations")
    if progress is not None:
        progress("SymPy derivation and audit")
    texts: dict[Path, str] = derivations.texts()
    paths = []
    for rel, text in texts.items():
        if rel.parts[0] != "reports":
            continue  # the generated code belongs to `bncheck derive`
        path = out / rel.name
        with path.open("w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        paths.append(path)
    audit = json.loads(next(t for r, t in texts.items() if r.name == "source_audit.json"))
    fails = [row["id"] for row in audit if row["verdict"] == "fails"]
    summary = [
        "dJ/dx, dJ/dgamma, dJ/dbeta and the second-order terms derived by SymPy for symbolic m; "
        "equal, exactly, to direct differentiation at m = 2, 3, 5.",
        f"Source audit: {len(audit) - len(fails)} of {len(audit)} claims hold; "
        f"{len(fails)} fail: {', '.join(fails)}.",
        _worst_equation(audit),
    ]
    return Built(paths, summary)


def _worst_equation(audit: list[dict[str, Any]]) -> str:
    """One line on the first failing equation of the hand derivation, from its audit row."""
    rows = [r for r in audit if r["id"].startswith("eq") and r["verdict"] == "fails"]
    if not rows:
        return "Every equation of the hand derivation (10)–(21) agrees with SymPy."
    row = next((r for r in rows if r["id"] == "eq18"), rows[0])
    ce = row["counterexample"] or {}
    where = ", ".join(f"{k} = {ce[k]}" for k in ("m", "x", "delta", "gamma", "epsilon") if k in ce)
    return (
        f"{row['id']} as printed gives {ce.get('printed')} where the derivation gives "
        f"{ce.get('derived')} ({where}); corrected: `{row['corrected']}`."
    )
