"""SymPy derivation of Batch Normalization from eqs (6)–(9), the source audit and code generation;
the normalization family (Layer, Instance, Group, RMS) over a general reduction set (``family``).

``run(root)`` writes the generated reference and the reports; ``bncheck derive`` and
``python -m bncheck.derivations`` call it. SymPy is imported only in this package.
"""

from __future__ import annotations

import functools
from pathlib import Path

__all__ = ["OUTPUTS", "run"]

OUTPUTS = (
    Path("bncheck/check/reference.py"),
    Path("reports/derivation.md"),
    Path("reports/source_audit.md"),
    Path("reports/source_audit.json"),
    Path("bncheck/check/family_reference.py"),
)
FIRST_ORDER_M = (2, 3, 5)
SECOND_ORDER_M = (2, 3, 5)


def texts() -> dict[Path, str]:
    """Relative path → file content, deterministic.

    SymPy takes about half a minute for this, so one process derives once (a full
    ``bncheck report`` needs the reports and the generated code from the same run).
    """
    return dict(_texts())


@functools.cache
def _texts() -> dict[Path, str]:
    from bncheck.derivations import (
        audit,
        codegen,
        family,
        family_codegen,
        report,
        second_order,
        symbolic,
    )

    fo, efo = symbolic.first_order(), symbolic.eval_first_order()
    so, eso = second_order.second_order(), second_order.eval_second_order()
    checks = {
        f"first order, m = {m}": symbolic.concrete_first_order_agrees(m) for m in FIRST_ORDER_M
    }
    checks.update(
        {
            f"second order, m = {m}": second_order.concrete_second_order_agrees(m)
            for m in SECOND_ORDER_M
        }
    )
    if not all(checks.values()):
        failed = [name for name, ok in checks.items() if not ok]
        raise RuntimeError(f"symbolic-m result differs from direct differentiation: {failed}")
    family_checks = {name: check() for name, check in family.checks().items()}
    specializes = family.specializes_to_batch_norm(fo.dx, fo.dgamma)
    if not all(family_checks.values()) or not specializes:
        failed = [name for name, ok in family_checks.items() if not ok]
        raise RuntimeError(f"family: symbolic m differs from direct differentiation: {failed}")
    verdicts = audit.audit()
    return dict(
        zip(
            OUTPUTS,
            (
                codegen.generate(fo, efo, so, eso),
                report.derivation_md(fo, efo, so, eso, checks)
                + family_codegen.report_md(family_checks, specializes),
                report.audit_md(verdicts),
                report.audit_json(verdicts),
                family_codegen.generate(),
            ),
            strict=True,
        )
    )


def run(root: Path) -> list[Path]:
    """Write the generated reference and the three reports under ``root``; return their paths."""
    written = []
    for rel, text in texts().items():
        path = Path(root) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        written.append(path)
    return written
