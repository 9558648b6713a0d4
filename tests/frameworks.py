"""Tests that need an optional framework: one pytest mark per extra, and the skip that goes with it.

CI runs the README's test command first with no optional framework installed (every test here
skips), then installs PyTorch, JAX/Flax, Keras, Equinox, Haiku, tinygrad and MyGrad and runs only
the tests marked for them (``pytest -m "torch or jax or keras or equinox or haiku or tinygrad or
mygrad"``). A test that needs a framework therefore carries that
framework's mark, given by :func:`needs` or :func:`marks`; ``tests/conftest.py`` fails a test
that skips for a missing framework without the mark (it would otherwise run in neither stage),
and a module skipped whole for one (``tests/test_framework_marks.py`` checks the rule).

The packages are found, not imported: importing JAX or PyTorch into the pytest process costs
seconds and threads, and Keras picks its backend at import (the target process sets it).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.paths import REPO

#: mark -> (the packages it needs, the bncheck extra that installs them)
FRAMEWORKS: dict[str, tuple[tuple[str, ...], str]] = {
    "torch": (("torch",), "compare"),
    "jax": (("jax", "flax"), "jax"),
    "keras": (("keras", "jax"), "keras"),
    "equinox": (("equinox", "jax"), "equinox"),
    "haiku": (("haiku", "jax"), "haiku"),
    "tinygrad": (("tinygrad",), "tinygrad"),
    "mygrad": (("mygrad",), "mygrad"),
}

#: every package some mark needs
PACKAGES = frozenset(p for packages, _ in FRAMEWORKS.values() for p in packages)

_T = TypeVar("_T")


def missing(mark: str) -> list[str]:
    """The packages of ``mark`` that are not installed (found, not imported)."""
    packages, _ = FRAMEWORKS[mark]
    return [p for p in packages if importlib.util.find_spec(p) is None]


def installed(mark: str) -> bool:
    """Whether every package ``mark`` needs is installed."""
    return not missing(mark)


def skip_reason(mark: str) -> str:
    """The reason a test of ``mark`` skips here (the same words the conftest check looks for)."""
    _, extra = FRAMEWORKS[mark]
    return f"{', '.join(missing(mark))} not installed (pip install 'bncheck[{extra}]')"


def marks(mark: str) -> list[pytest.MarkDecorator]:
    """The framework's mark and its skip, for ``pytestmark = marks(...)`` and ``pytest.param``."""
    skip = pytest.mark.skipif(not installed(mark), reason=skip_reason(mark))
    return [getattr(pytest.mark, mark), skip]


def needs(mark: str) -> Callable[[_T], _T]:
    """Decorate a test that needs the framework of ``mark``: it is marked and skips without it."""

    def apply(test: _T) -> _T:
        out: Any = test
        for m in marks(mark):
            out = m(out)
        return out  # type: ignore[no-any-return]

    return apply


def require(mark: str) -> None:
    """Skip the running test unless the framework of ``mark`` is installed (inside a test that
    already carries the mark, for a case of a parameterized test)."""
    if not installed(mark):
        pytest.skip(skip_reason(mark))


def hidden(folder: Path, *packages: str) -> dict[str, str]:
    """An environment for a fresh ``python`` in which ``packages`` cannot be imported, as on a
    machine without them, whether or not they are installed here. A ``sitecustomize`` module
    first on PYTHONPATH sets ``sys.modules[name] = None`` at start-up, so ``import name``
    raises ModuleNotFoundError and ``importlib.util.find_spec(name)`` is None; it runs in every
    interpreter started from that environment (the target process that verify spawns
    included), which the same line in the parent alone would not reach."""
    stubs = folder / "hidden-packages"
    stubs.mkdir(parents=True, exist_ok=True)
    (stubs / "sitecustomize.py").write_text(
        "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in packages),
        encoding="utf-8",
    )
    path = os.pathsep.join([str(stubs), str(REPO)])
    return {**os.environ, "PYTHONPATH": path}
