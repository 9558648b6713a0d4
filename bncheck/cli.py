"""The ``bncheck`` command line. The only I/O besides ``bncheck/report/``."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import bncheck

#: The repository root when running from a checkout (derivations/ sits beside bncheck/).
REPO_ROOT = Path(__file__).resolve().parent.parent


def _cmd_derive(args: argparse.Namespace) -> int:
    # Imported by name: SymPy lives only under derivations/, loaded only for this command.
    try:
        derivations = importlib.import_module("derivations")
    except ImportError as exc:  # pragma: no cover - only outside a source checkout
        print(f"bncheck derive: the derivations package is not importable ({exc})", file=sys.stderr)
        return 2
    start = time.perf_counter()
    written: list[Path] = derivations.run(Path(args.root))
    for path in written:
        print(f"wrote {path}")
    print(f"bncheck derive: {len(written)} files in {time.perf_counter() - start:.1f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bncheck",
        description="Verify Batch Normalization: symbolic derivation, reference code, checks.",
    )
    parser.add_argument("--version", action="version", version=f"bncheck {bncheck.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    derive = sub.add_parser(
        "derive",
        help="derive the BN gradients with SymPy, audit the source document, write the "
        "generated reference and the derivation reports",
    )
    derive.add_argument(
        "--root",
        default=str(REPO_ROOT),
        help="directory that receives bncheck/reference/_generated.py and reports/ "
        "(default: the repository root)",
    )
    derive.set_defaults(func=_cmd_derive)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    code: int = args.func(args)
    return code
