"""Say where a regenerated report differs from the committed one: the file, the line, both texts."""

from __future__ import annotations


def first_difference(label: str, made: bytes, committed: bytes) -> str:
    """``label`` (the file) and the first line that differs, made beside committed."""
    a, b = made.decode("utf-8").splitlines(), committed.decode("utf-8").splitlines()
    for k, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return (
                f"{label} is stale at line {k + 1} (run `bncheck report` and commit the result):"
                f"\n  made:      {x}\n  committed: {y}"
            )
    return f"{label} is stale: {len(a)} lines made, {len(b)} committed"
