"""Every exception bncheck raises on purpose, in one place.

- :class:`BatchNormError` (a ``ValueError``): a value given to the BN is outside what it accepts.
- :class:`LoadError`: ``verify`` cannot plug a target in (a usage error, exit code 2).
- :class:`TargetError` and :class:`TargetLoadFailed`: the target itself failed.
- :class:`BatchNormVerificationError` (an ``AssertionError``): a target failed a check.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BatchNormError",
    "BatchNormVerificationError",
    "LoadError",
    "TargetError",
    "TargetLoadFailed",
]


class BatchNormError(ValueError):
    """A value given to bncheck is outside what it accepts.

    The message names the argument, the value seen and what is expected.

    Examples
    --------
    >>> import numpy as np, bncheck
    >>> bncheck.batchnorm_forward(np.zeros((4, 3)), np.ones(2), np.zeros(3))
    Traceback (most recent call last):
    ...
    bncheck.exceptions.BatchNormError: gamma: shape (2,) does not match ...
    """


class TargetError(Exception):
    """The target failed a call: raised, hung, exited, flooded the output or returned junk.

    ``fatal`` is True when the process is gone or unusable (hang, exit, flood): searching
    further inputs would only repeat the timeout, so a check stops at the first such error.
    """

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


class LoadError(Exception):
    """The target cannot be loaded or lacks the protocol (a usage error, exit code 2)."""


class TargetLoadFailed(TargetError, LoadError):
    """The target itself failed while being loaded: its module or constructor raised, it
    exited or crashed, hung, or sent malformed data. A target failure (a failed check, exit
    code 1), not a usage error; ``traceback`` is the target's traceback text (may be "").

    It is also a :class:`LoadError` only so that callers written before the distinction keep
    working; catch ``TargetLoadFailed`` before ``LoadError``.
    """

    def __init__(self, message: str, *, traceback: str = "") -> None:
        super().__init__(message, fatal=True)
        self.traceback = traceback


class BatchNormVerificationError(AssertionError):
    """A target failed bncheck's checks; ``report`` holds the details."""

    def __init__(self, message: str, report: Any) -> None:
        super().__init__(message)
        self.report = report
