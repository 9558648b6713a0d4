"""One exception hierarchy: everything bncheck raises on purpose derives from
``bncheck.exceptions.BncheckError``, and keeps the built-in base its meaning has.

Every module of bncheck is imported and every exception class defined in it is checked: a new
one that forgets the base, or a public one defined outside ``bncheck/exceptions.py``, fails
here. The engine's private exceptions stay where they are used, and the docstring of
``bncheck.exceptions`` names each of them."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import bncheck
import bncheck.exceptions
from bncheck.exceptions import (
    BatchNormError,
    BatchNormVerificationError,
    BncheckError,
    LoadError,
    TargetError,
    TargetImportFailed,
    TargetLoadFailed,
)


def _defined_exceptions() -> list[type[BaseException]]:
    """Every exception class (warnings aside) defined in a module of bncheck."""
    found = []
    for info in pkgutil.walk_packages(bncheck.__path__, "bncheck."):
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and not issubclass(obj, Warning)
                and obj.__module__ == module.__name__
            ):
                found.append(obj)
    return found


DEFINED = _defined_exceptions()


def test_every_exception_bncheck_defines_derives_from_the_base() -> None:
    assert len(DEFINED) >= 10, DEFINED
    assert not [e for e in DEFINED if not issubclass(e, BncheckError)]


def test_public_exceptions_live_in_one_module_and_the_private_ones_are_named_there() -> None:
    doc = bncheck.exceptions.__doc__ or ""
    for exc in DEFINED:
        if exc.__module__ == "bncheck.exceptions":
            assert exc.__name__ in bncheck.exceptions.__all__, exc
            continue
        private = any(part.startswith("_") for part in exc.__module__.split("."))
        assert private, f"{exc.__module__}.{exc.__name__} is public: move it to exceptions.py"
        assert exc.__name__ in doc, f"{exc.__name__} is not named in exceptions.py's docstring"


@pytest.mark.parametrize(
    ("exc", "builtin"),
    [
        (BatchNormError, ValueError),
        (BatchNormVerificationError, AssertionError),
        (TargetImportFailed, LoadError),
        (TargetLoadFailed, TargetError),
        (TargetLoadFailed, LoadError),
    ],
)
def test_each_exception_keeps_the_base_its_meaning_has(
    exc: type[BaseException], builtin: type[BaseException]
) -> None:
    assert issubclass(exc, BncheckError) and issubclass(exc, builtin)
    assert exc.__mro__.index(BncheckError) < exc.__mro__.index(Exception)


def test_one_except_clause_catches_what_the_api_raises() -> None:
    with pytest.raises(BncheckError) as caught:
        bncheck.verify("no_such_file.py")
    assert isinstance(caught.value, LoadError)
