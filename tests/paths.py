"""Paths the tests share: the repository, the tests folder and the target implementations."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
IMPLS = TESTS / "impls"
COMMITTED_QUICK = REPO / "reports" / "quick"
README = REPO / "README.md"
