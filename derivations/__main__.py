"""``python -m bncheck.derivations [--root DIR]``: write the generated reference and the reports."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bncheck.derivations import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bncheck.derivations", description=__doc__)
    parser.add_argument(
        "--root",
        type=Path,
        default=Path.cwd(),
        help="folder to write into (default: the working directory)",
    )
    args = parser.parse_args(argv)
    for path in run(args.root):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
