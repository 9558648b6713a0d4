"""Synchronized BNs written the way public SyncBN code is written, one mistake each (and two
correct ones), for ``verify(..., world_size=K)`` (tests/check/test_verify_distributed.py).

Importing this package needs no PyTorch: :data:`CASES` only names the files and what verify
must say about them.
"""

from __future__ import annotations

from pathlib import Path

DIRECTORY = Path(__file__).resolve().parent

#: (file:Name, the mistakes verify must name, the check families that must fail)
CASES: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    (
        "equal_weight_merge.py:SyncBatchNorm",
        ("sync-equal-weight-merge",),
        ("forward", "backward", "running"),
    ),
    (
        "missing_between_shard.py:SyncBN",
        ("sync-missing-between-shard-variance",),
        ("forward", "backward", "running"),
    ),
    ("local_gradient_sums.py:SyncBatchNorm", ("sync-local-gradient-sums",), ("backward",)),
    ("one_pass_variance.py:NaiveSyncBN", ("sync-one-pass-variance",), ("forward", "backward")),
]
