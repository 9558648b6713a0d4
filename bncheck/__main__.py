"""``python -m bncheck`` is the ``bncheck`` command."""

from __future__ import annotations

import sys

from bncheck.cli import main

sys.exit(main())
