"""The compiled kernels of the family (extension ``bncheck.family._family``), when built."""

from __future__ import annotations


def available() -> bool:
    return False
