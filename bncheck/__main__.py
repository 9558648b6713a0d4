"""``python -m bncheck`` is the ``bncheck`` command."""

from __future__ import annotations

import sys

from bncheck.cli import main

if __name__ == "__main__":  # not when a spawned worker process imports the main module
    sys.exit(main())
