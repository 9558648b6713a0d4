"""The docstring examples of bncheck's public API run as doctests, and every public name has one.

Public means: listed in ``__all__`` of a module in :data:`PUBLIC_MODULES`. Every function and
class so listed, and every public method of such a class, must carry a numpydoc ``Examples``
section with at least one ``>>>`` example (constants such as ``CONVENTIONS`` cannot carry a
docstring and are exempt). The examples run here, one test per docstring, under the README's
test command: the docstrings of the public modules (every docstring with ``>>>`` lines, private
helpers included) and of the modules that define the public names (``verify`` and ``adapt``
live in the private ``bncheck.check._verify``).

Why a test module rather than pytest's ``--doctest-modules``: the public modules are listed
explicitly (``--doctest-modules`` would import every module of the package, the report's
matplotlib and the pytest plugin, which pytest has already loaded from its entry point); it
finds docstrings that ``doctest``'s module filter drops (Hypothesis' ``@st.composite`` wraps
``shapes`` in a function of another module); and it enforces the rule, not just runs examples.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import inspect
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.frameworks import FRAMEWORKS, marks

#: The modules whose ``__all__`` is bncheck's public API.
PUBLIC_MODULES = (
    "bncheck",
    "bncheck.bn",
    "bncheck.bn.functional",
    "bncheck.bn.inference",
    "bncheck.bn.layer",
    "bncheck.bn.running",
    "bncheck.exceptions",
    "bncheck.check",
    "bncheck.check.finite_diff",
    "bncheck.check.gradient_check",
    "bncheck.check.truth",
    "bncheck.check.regimes",
    "bncheck.check.strategies",
    "bncheck.check.baselines",
    "bncheck.check.testing",
    "bncheck.check.sync_batchnorm",
    "bncheck.check.tolerances",
    "bncheck.check.metrics",
    "bncheck.check.conditions",
)

#: optional framework package -> the test mark of the extra that installs it
OPTIONAL = {package: mark for mark, (packages, _) in FRAMEWORKS.items() for package in packages[:1]}
OPTIONAL["flax"] = "jax"

OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

_EXAMPLES = re.compile(r"^\s*Examples\n\s*-{8,}\s*$", re.M)


def _module(name: str) -> ModuleType:
    return importlib.import_module(name)


#: public names that exist only with an optional framework installed ("module.name" -> its mark)
UNAVAILABLE: dict[str, str] = {}


def public_objects() -> dict[str, tuple[Any, ModuleType]]:
    """``"module.name"`` (the defining module's name, once per object) -> (object, the public
    module that lists it), for every function, class and public method of such a class.

    A name that needs an optional framework which is not installed (its module raises
    ``ModuleNotFoundError`` for the framework) is recorded in :data:`UNAVAILABLE` instead."""
    found: dict[str, tuple[Any, ModuleType]] = {}
    seen: set[int] = set()

    def add(qualname: str, obj: Any, listed_in: ModuleType) -> None:
        if id(obj) not in seen:
            seen.add(id(obj))
            found[qualname] = (obj, listed_in)

    for modname in PUBLIC_MODULES:
        module = _module(modname)
        for name in module.__all__:
            try:
                obj = getattr(module, name)
            except ModuleNotFoundError as exc:
                if exc.name not in OPTIONAL:
                    raise
                UNAVAILABLE[f"{modname}.{name}"] = OPTIONAL[exc.name]
                continue
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue  # a constant: documented by its ``#:`` comment
            owner = getattr(obj, "__module__", modname)
            add(f"{owner}.{obj.__name__}", obj, module)
            if inspect.isclass(obj):
                # its own public methods and those it inherits from bncheck's classes
                for base in obj.__mro__:
                    if not base.__module__.startswith("bncheck"):
                        continue
                    for attr, value in vars(base).items():
                        if attr.startswith("_"):
                            continue
                        if isinstance(value, (classmethod, staticmethod)):
                            value = value.__func__
                        if inspect.isfunction(value):
                            add(f"{value.__module__}.{value.__qualname__}", value, module)
    return found


def _tests() -> dict[str, doctest.DocTest]:
    """Every docstring example to run, by the doctest's name."""
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests: dict[str, doctest.DocTest] = {}
    objects = public_objects()
    # the public modules and the (maybe private) modules that define the public names
    names = set(PUBLIC_MODULES) | {
        obj.__module__ for obj, _ in objects.values() if obj.__module__.startswith("bncheck.")
    }
    for modname in sorted(names):
        for test in finder.find(_module(modname)):
            if test.examples:
                tests.setdefault(test.name, test)
    # objects the module filter of DocTestFinder drops (a function wrapped by a decorator that
    # lives in another module), found one by one
    for qualname, (obj, listed_in) in objects.items():
        if qualname in tests:
            continue
        home = _module(getattr(obj, "__module__", listed_in.__name__))
        for test in doctest.DocTestFinder(recurse=False, exclude_empty=True).find(
            obj, qualname, module=home, globs=vars(home)
        ):
            if test.examples:
                tests.setdefault(test.name, test)
    return tests


def _framework_marks(source: str) -> list[pytest.MarkDecorator]:
    """The marks (and skips) of the optional frameworks that ``source`` imports."""
    used = {m for package, m in OPTIONAL.items() if re.search(rf"\bimport {package}\b", source)}
    return [mark for m in sorted(used) for mark in marks(m)]


TESTS = _tests()
OBJECTS = public_objects()


def test_the_public_modules_have_examples() -> None:
    assert len(TESTS) >= len(PUBLIC_MODULES)


@pytest.mark.parametrize(
    "qualname",
    [pytest.param(q, marks=_framework_marks(OBJECTS[q][0].__doc__ or "")) for q in sorted(OBJECTS)]
    + [pytest.param(q, marks=marks(mark)) for q, mark in sorted(UNAVAILABLE.items())],
)
def test_public_name_has_an_examples_section(qualname: str) -> None:
    obj, listed_in = OBJECTS[qualname]
    doc = inspect.cleandoc(obj.__doc__ or "")
    section = _EXAMPLES.search(doc)
    examples = doctest.DocTestParser().get_examples(doc[section.end() :]) if section else []
    if not examples:
        pytest.fail(
            f"{qualname} (public: in {listed_in.__name__}.__all__) needs a numpydoc docstring "
            "with an 'Examples' section holding at least one >>> example",
            pytrace=False,
        )


@pytest.mark.parametrize(
    "name",
    [
        # an optional framework's examples are marked for it and skip where it is absent
        pytest.param(n, marks=_framework_marks("".join(e.source for e in TESTS[n].examples)))
        for n in sorted(TESTS)
    ],
)
def test_docstring_examples_run(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # an example that writes a file leaves nothing behind
    test = TESTS[name]
    test.globs = dict(test.globs)  # each run gets its own namespace
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    report: list[str] = []
    result = runner.run(test, out=report.append, clear_globs=True)
    if result.failed:
        pytest.fail("".join(report), pytrace=False)
