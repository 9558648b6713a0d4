"""Every exception bncheck raises on purpose, in one place, under one base.

:class:`BncheckError` is the base of them all: ``except BncheckError`` catches whatever bncheck
raises on purpose, and nothing else (a bug in bncheck, or a target's own exception, is not
one). Where an exception also means what a built-in one means, it is that too, so that code
that catches the built-in keeps working (as Hypothesis' ``InvalidArgument`` is both its own
``HypothesisException`` and a ``TypeError``):

- :class:`BatchNormError` (a ``ValueError``): a value given to the BN is outside what it accepts.
- :class:`LoadError`: ``verify`` cannot plug a target in (a usage error, exit code 2).
- :class:`TargetImportFailed` (a ``LoadError``): the target could not be imported (exit code 3).
- :class:`TargetError` and :class:`TargetLoadFailed`: the target itself failed.
- :class:`BatchNormVerificationError` (an ``AssertionError``): a target failed a check.

Private to the verify engine, defined where they are used and never raised out of
:func:`bncheck.verify` (a malformed or late message from the target process becomes a failed
check, or a :class:`TargetError`); they derive from :class:`BncheckError` too:

- ``bncheck.check._verify.process.wire.WireError``: bytes that are not a well-formed message
  of the plain-data wire (bad framing, type tag, dtype, shape or size), and its ``TooLarge``
  (an encoding over its size limit), ``TooMany`` (a message with more values than its limit,
  stopped at the first one past it) and ``TooSlow`` (decoding past its deadline);
- ``bncheck.check._verify.process.frames.FrameTimeout`` and ``FrameClosed`` (both
  ``WireError``): a whole frame did not arrive before the deadline, or the other end closed
  the pipe first;
- ``bncheck.check._verify.checks.large_truth.TooIllConditioned`` (an ``ArithmeticError``): the
  double-double truth of a large case would cancel beyond its budget (mpmath computes that
  case instead);
- ``bncheck.check._verify.checks.family.ParamGradsMissing`` (a ``ValueError``): a family
  target's backward gave no dgamma or dbeta (its parameter gradients are then not checked);
- ``bncheck.check._verify.checks.case.BadOutput`` (a :class:`TargetError`): an output verify
  rejects (None, another shape, NaN): the target answered wrongly, it did not raise (on a
  memory layout, a wrong answer there, never a refusal of it).

Warnings are not exceptions here: bncheck warns once (a ``RuntimeWarning``) when its compiled
kernels are missing.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BatchNormError",
    "BatchNormVerificationError",
    "BncheckError",
    "LoadError",
    "TargetError",
    "TargetImportFailed",
    "TargetLoadFailed",
]


class BncheckError(Exception):
    """The base of every exception bncheck raises on purpose.

    Catch it to tell bncheck's own verdicts and refusals apart from anything else that may
    go wrong (a bug, a missing file, an exception of your own code).

    Examples
    --------
    >>> import numpy as np
    >>> import bncheck
    >>> from bncheck.exceptions import BncheckError
    >>> try:
    ...     bncheck.batchnorm_forward(np.zeros((4, 3)), np.ones(3), np.zeros(3), eps=-1.0)
    ... except BncheckError as exc:
    ...     print(type(exc).__name__, isinstance(exc, ValueError))
    BatchNormError True
    """


class BatchNormError(BncheckError, ValueError):
    """A value given to bncheck is outside what it accepts.

    The message names the argument, the value seen and what is expected.

    It is a ``ValueError``, so code that catches ``ValueError`` catches it too.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck import batchnorm_forward
    >>> batchnorm_forward(np.zeros((4, 3)), np.ones(2), np.zeros(3))
    Traceback (most recent call last):
    ...
    bncheck.exceptions.BatchNormError: gamma has shape (2,); expected (3,), one value per channel
    of x along the channel axis
    """


class TargetError(BncheckError):
    """The target failed a call: raised, hung, exited, flooded the output or returned junk.

    Parameters
    ----------
    message : str
        What the target did.
    fatal : bool
        True when the process is gone or unusable (hang, exit, flood): searching further
        inputs would only repeat the timeout, so a check stops at the first such error.
        Kept as the attribute ``fatal``.

    Examples
    --------
    >>> from bncheck.exceptions import TargetError
    >>> err = TargetError("the target did not answer within 10 s", fatal=True)
    >>> err.fatal, str(err)
    (True, 'the target did not answer within 10 s')
    """

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


class LoadError(BncheckError):
    """The target cannot be loaded or lacks the protocol (a usage error, exit code 2).

    Examples
    --------
    >>> import bncheck
    >>> bncheck.verify("no_such_file.py")
    Traceback (most recent call last):
    ...
    bncheck.exceptions.LoadError: ...target file 'no_such_file.py' does not exist
    """


class TargetImportFailed(LoadError):
    """The target could not be imported: its module, or a module it imports, is missing, or
    its source does not parse. This is the user's environment, not a verdict on the BN:
    ``bncheck verify`` prints ``Result: NOT LOADED`` and exits with code 3 (``--json``:
    ``"result": "not-loaded"``). ``traceback`` is the import's traceback text (may be "").

    A missing optional framework (PyTorch, JAX/Flax, Keras) is named with the extra that
    installs it.

    Parameters
    ----------
    message : str
        What could not be imported, and why.
    traceback : str
        The import's traceback text (may be ""); kept as the attribute ``traceback``.

    Examples
    --------
    >>> from bncheck.exceptions import LoadError, TargetImportFailed
    >>> err = TargetImportFailed("could not import the target: No module named 'pkg'")
    >>> isinstance(err, LoadError), err.traceback
    (True, '')
    """

    def __init__(self, message: str, *, traceback: str = "") -> None:
        super().__init__(message)
        self.traceback = traceback


class TargetLoadFailed(TargetError, LoadError):
    """The target itself failed while being loaded: its module or constructor raised, it
    exited or crashed, hung, or sent malformed data. A target failure (a failed check, exit
    code 1), not a usage error; ``traceback`` is the target's traceback text (may be "").

    It is also a :class:`LoadError` only so that callers written before the distinction keep
    working; catch ``TargetLoadFailed`` before ``LoadError``.

    Parameters
    ----------
    message : str
        What failed.
    traceback : str
        The target's traceback text (may be ""); kept as the attribute ``traceback``.

    Examples
    --------
    >>> from bncheck.exceptions import LoadError, TargetError, TargetLoadFailed
    >>> err = TargetLoadFailed("the target's constructor raised ZeroDivisionError")
    >>> err.fatal, isinstance(err, TargetError), isinstance(err, LoadError)
    (True, True, True)
    """

    def __init__(self, message: str, *, traceback: str = "") -> None:
        super().__init__(message, fatal=True)
        self.traceback = traceback


class BatchNormVerificationError(BncheckError, AssertionError):
    """A target failed bncheck's checks; ``report`` holds the details.

    Raised by :func:`bncheck.check.testing.assert_batchnorm_correct`. It is an
    ``AssertionError``, so pytest reports it as a failed test.

    Parameters
    ----------
    message : str
        The full text report.
    report : VerificationReport
        The report of :func:`bncheck.verify`; kept as the attribute ``report``.

    Examples
    --------
    >>> from bncheck.exceptions import BatchNormVerificationError
    >>> err = BatchNormVerificationError("FAIL backward/2d/float64", report=None)
    >>> isinstance(err, AssertionError), err.report
    (True, None)
    """

    def __init__(self, message: str, report: Any) -> None:
        super().__init__(message)
        self.report = report
