"""How the tests import: the public API, the shared helper modules of tests/, and bncheck's
internals only through tests/internals.py.

Every Python file under tests/ (test modules, helper modules, target implementations) except
tests/internals.py is parsed with ``ast``; it fails here when it

- imports a test module (a dotted path with a component starting with ``test_``, relative
  imports included): a piece two test modules share belongs in a helper module of tests/;
- imports a private bncheck module or name (a dotted path, module plus imported name, starting
  with ``bncheck`` and with a component starting with ``_``, dunders such as ``__version__``
  aside): white-box tests take it from tests/internals.py, the one seam to the internals.

Strings count too: the dotted target of ``setattr``/``delattr``/``patch`` (monkeypatch, mock),
the module name given to ``import_module``/``importorskip``/``__import__``, and the import lines
of Python snippets run in subprocesses (this file's own examples aside). Not covered: private
attributes reached through an object (``module._name``, ``monkeypatch.setattr(obj, "_name")``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.paths import TESTS

SEAM = TESTS / "internals.py"
THIS = Path(__file__).resolve()

#: calls whose first argument is a dotted target or a module name
_STRING_TARGETS = {"setattr", "delattr", "patch", "import_module", "importorskip", "__import__"}
#: a line of a snippet that may be an import statement (parsed to be sure)
_IMPORT_LINE = re.compile(r"^\s*(from\s+\S+\s+import\s|import\s)")


def _is_dunder(part: str) -> bool:
    return part.startswith("__") and part.endswith("__")


def _problem(dotted: str) -> str | None:
    """What is wrong with importing ``dotted`` (leading dots: relative), or None."""
    parts = dotted.lstrip(".").split(".")
    if any(p.startswith("test_") for p in parts):
        return "imports the test module " + dotted + ": move what it shares to a tests/ helper"
    if not dotted.startswith(".") and parts[0] == "bncheck":
        if any(p.startswith("_") and not _is_dunder(p) for p in parts):
            return "imports the private " + dotted + ": take it from tests/internals.py"
    return None


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The dotted paths an import statement names: each module, and module.name per name."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    module = "." * node.level + (node.module or "")
    sep = "" if module.endswith(".") else "."
    return [module] + [module + sep + a.name for a in node.names if a.name != "*"]


def _snippet_imports(text: str) -> list[str]:
    paths = []
    for line in text.splitlines():
        if not _IMPORT_LINE.match(line):
            continue
        try:
            tree = ast.parse(line.strip())
        except SyntaxError:
            continue  # prose, or a template line
        for node in tree.body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                paths += _imported(node)
    return paths


def _call_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def violations(source: str, name: str = "<source>", *, snippets: bool = True) -> list[str]:
    """Every forbidden import in ``source``, as 'name:line: problem'."""
    found = []
    for node in ast.walk(ast.parse(source)):
        paths: list[str] = []
        if isinstance(node, ast.Import | ast.ImportFrom):
            paths = _imported(node)
        elif isinstance(node, ast.Call) and _call_name(node.func) in _STRING_TARGETS:
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                paths = [first.value]
        elif snippets and isinstance(node, ast.Constant) and isinstance(node.value, str):
            paths = _snippet_imports(node.value)
        for dotted in paths:
            problem = _problem(dotted)
            if problem:
                found.append(f"{name}:{getattr(node, 'lineno', '?')}: {problem}")
    return sorted(set(found))


def test_tests_import_only_the_public_api_shared_helpers_and_the_seam() -> None:
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        if path == SEAM:
            continue
        rel = str(path.relative_to(TESTS.parent))
        found += violations(path.read_text(encoding="utf-8"), rel, snippets=path != THIS)
    assert not found, "\n".join(found)


FORBIDDEN = [
    "from tests.impls.test_running import U64",
    "from tests.impls import functional, test_running",
    "import tests.check.test_verify_hostile",
    "from .test_tolerances import plain_bn",
    "from . import (test_tolerances)",
    "from bncheck.bn import _compiled",
    "import bncheck.bn._compiled as native",
    "from bncheck.check._verify.process.worker import TargetProcess",
    "from bncheck.check import _verify",
    "from bncheck.check.conditions import _columns",
    "def f(monkeypatch):\n    monkeypatch.setattr('bncheck.bn._compiled._usable_cpus', len)",
    "mock.patch('bncheck.check._verify.process.wire.decode')",
    "importlib.import_module('bncheck.bn._numpy_kernels')",
    "SCRIPT = 'import sys\\nfrom bncheck.check._verify.process.worker import TargetProcess\\n'",
    "SCRIPT = f'''sys.path.insert(0, {REPO!r})\nfrom tests.impls.test_hostile import x'''",
]
ALLOWED = [
    "from tests.internals import compiled as _native",
    "from tests.plain_bn import OUTPUTS, plain_bn",
    "from tests.impls import functional",
    "from bncheck import __version__",
    "from bncheck.check import verify",
    "from bncheck.exceptions import LoadError",
    "def f(monkeypatch):\n    monkeypatch.setattr('bncheck.report.build.build_all', len)",
    "'''Prose that mentions bncheck.bn._compiled and tests/bn/test_kernels.py.\n\n"
    "import the public API only\n'''",
]


@pytest.mark.parametrize("source", FORBIDDEN)
def test_the_layout_check_finds_each_kind_of_forbidden_import(source: str) -> None:
    assert violations(source), source


@pytest.mark.parametrize("source", ALLOWED)
def test_the_layout_check_allows_the_public_api_helpers_and_the_seam(source: str) -> None:
    assert violations(source) == []


def test_every_name_of_the_seam_is_documented_and_resolves() -> None:
    import tests.internals as internals

    seam = internals._SEAM  # the table itself: this test checks it
    doc = internals.__doc__ or ""
    assert sorted(seam) == internals.__all__
    assert [n for n in seam if not re.search(rf"\b{n}\b", doc)] == []
    missing = []
    for name, (module, attribute) in seam.items():
        try:
            getattr(internals, name)
        except ModuleNotFoundError as err:  # an optional dependency of that internal
            if (err.name or "").split(".")[0] == "bncheck":
                missing.append(f"{name}: {module} ({err})")
        except AttributeError as err:
            missing.append(f"{name}: {module}.{attribute} ({err})")
    assert missing == [], "tests/internals.py names what no longer exists:\n" + "\n".join(missing)


# -- the package itself: a private name stays in its module --------------------------------------

PACKAGE_ROOTS = {
    "bncheck": TESTS.parent / "bncheck",
    "bncheck.derivations": TESTS.parent / "derivations",
}


def _module_file(dotted: str) -> Path | None:
    """The source file of a module of the package (None: not a module of it)."""
    for prefix, folder in sorted(PACKAGE_ROOTS.items(), key=lambda kv: -len(kv[0])):
        if dotted == prefix or dotted.startswith(prefix + "."):
            rest = dotted[len(prefix) :].lstrip(".").split(".") if dotted != prefix else []
            base = folder.joinpath(*rest)
            for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                if candidate.is_file():
                    return candidate
            return None
    return None


def _dotted_of(path: Path) -> str:
    for prefix, folder in PACKAGE_ROOTS.items():
        if path.is_relative_to(folder) and not (
            prefix == "bncheck" and "derivations" in path.parts
        ):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            return ".".join([prefix, *parts])
    raise AssertionError(path)


def _private(name: str) -> bool:
    return name.startswith("_") and not _is_dunder(name)


def private_crossings(source: str, module: str) -> list[str]:
    """Every use in ``source`` (the module ``module``) of another module's private name:
    ``from bncheck.x import _name`` and ``alias._name`` on an imported module of bncheck."""
    found = []
    modules: dict[str, str] = {}  # local name -> a module of the package
    package = module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module if False else package
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}".rstrip(".")
            if _module_file(base) is None:
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if _module_file(full) is not None:
                    modules[alias.asname or alias.name] = full
                elif _private(alias.name):
                    found.append(
                        f"{module}:{node.lineno}: takes the private {alias.name} of {base}"
                    )
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _module_file(alias.name) is not None and alias.asname:
                    modules[alias.asname] = alias.name
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and _private(node.attr)
        ):
            found.append(
                f"{module}:{node.lineno}: uses the private {node.attr} of {modules[node.value.id]}"
            )
    return sorted(set(found))


def test_no_private_name_crosses_a_module_of_the_package() -> None:
    """A private name (``_name``) is used only in the module that defines it; what two modules
    share is a public name of a (possibly private) module."""
    found = []
    for folder in PACKAGE_ROOTS.values():
        for path in sorted(folder.rglob("*.py")):
            found += private_crossings(path.read_text(encoding="utf-8"), _dotted_of(path))
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from bncheck.check.conditions import _columns", 1),
        ("from bncheck.report import _running_exact as rx\nrx._layer(1)", 1),
        ("from . import _plot\n_plot._style()", 1),
        ("from bncheck.report import _plot\n_plot.figure()", 0),
        ("from bncheck.check.conditions import condition_numbers", 0),
        ("from bncheck import __version__", 0),
    ],
)
def test_the_private_name_check_finds_each_kind_of_crossing(source: str, expected: int) -> None:
    assert len(private_crossings(source, "bncheck.report.example")) == expected
