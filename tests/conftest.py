"""Shared test configuration: Hypothesis profiles, and the framework marks kept honest.

Choose a profile with the environment variable ``BNCHECK_HYPOTHESIS_PROFILE``:

- ``ci`` (default): derandomized and bounded, so CI is reproducible and fast;
- ``dev``: random, a few more examples;
- ``thorough``: many examples for long local runs.

A test that skips because an optional framework is missing must carry that framework's mark
(``tests/frameworks.py``): CI's second stage runs only the marked tests, so an unmarked one would
run in neither stage. Such a skip is turned into a failure here, for a test or a whole module.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.frameworks import FRAMEWORKS, PACKAGES

settings.register_profile(
    "ci",
    max_examples=25,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "thorough",
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("BNCHECK_HYPOTHESIS_PROFILE", "ci"))
pytest_plugins = ["pytester"]


#: a skip reason that says an optional framework is missing
_MISSING = re.compile(
    r"\b(" + "|".join(sorted(PACKAGES)) + r")\b.*\bnot installed|"
    r"(No module named|could not import) '(" + "|".join(sorted(PACKAGES)) + r")[.']"
)


def _skip_reason(report: Any) -> str:
    longrepr = report.longrepr
    return str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _MISSING.search(_skip_reason(report)):
        if not any(item.get_closest_marker(mark) for mark in FRAMEWORKS):
            report.outcome = "failed"
            report.longrepr = (
                f"{item.nodeid} skips for a missing framework ({_skip_reason(report)}) but "
                "carries no framework mark: give it tests.frameworks.needs/marks, or CI's "
                "framework stage never runs it"
            )


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _MISSING.search(_skip_reason(report)):
        report.outcome = "failed"
        report.longrepr = (
            f"{collector.nodeid} is skipped whole for a missing framework "
            f"({_skip_reason(report)}): mark its tests with tests.frameworks.marks/needs "
            "instead, so that CI's framework stage selects them"
        )


#: the cache folder this process made for the session (removed at its end), if any
_SESSION_CACHE: list[str] = []

#: the value of PYTHONDONTWRITEBYTECODE the session took out of its environment, if any
_BYTECODE_SETTING: list[str] = []

#: JAX's cache variables the session sets (every program, however quick its compilation or
#: small its executable)
_JAX_VARIABLES = (
    "JAX_COMPILATION_CACHE_DIR",
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS",
    "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES",
)


def pytest_configure(config: pytest.Config) -> None:
    """The session's own caches, in one temporary folder shared by every worker and every
    process a test starts (they inherit the environment), so that the tests leave nothing in
    the user's ``~/.cache/bncheck`` and start cold, as on a fresh machine:

    - ``bncheck``: bncheck's cache home (``BNCHECK_CACHE_HOME``): the constants Hypothesis
      reads from the source of bncheck's modules, once for the session rather than once per
      verify command;
    - ``jax``: one JAX compilation cache. verify runs each JAX target on the same seeded
      shapes, and XLA compiles a program per shape, about 0.1 s each, so a session of JAX
      targets would compile the same programs again for every test (measured: a Flax
      LayerNorm's verify 15.9 s cold, 7.9 s warm). A compiled program is a pure function of
      the program and the machine, so sharing it changes no result. JAX's variable wins over
      bncheck's folder in the target process (``compile_cache.environment``).

    - ``pycache``: the bytecode of every module, where the environment forbids writing it
      (``PYTHONDONTWRITEBYTECODE``, as on this project's CI machines): each target process
      and each ``bncheck`` command a test starts would otherwise compile bncheck's modules
      from source again (measured 80 ms of each target process's start, about 1,000 of them
      a session). ``PYTHONPYCACHEPREFIX`` puts it in this folder, so the tree stays as the
      variable keeps it: nothing is written beside the sources.

    A folder the user already set (any of these variables) is kept."""
    if hasattr(config, "workerinput"):
        return  # a worker of this session: it inherits the controller's environment
    folder = tempfile.mkdtemp(prefix="bncheck-tests-cache-")
    _SESSION_CACHE.append(folder)
    if os.environ.get("PYTHONDONTWRITEBYTECODE") and not os.environ.get("PYTHONPYCACHEPREFIX"):
        _BYTECODE_SETTING.append(os.environ.pop("PYTHONDONTWRITEBYTECODE"))
        os.environ["PYTHONPYCACHEPREFIX"] = os.path.join(folder, "pycache")
    if not os.environ.get("BNCHECK_CACHE_HOME"):
        os.environ["BNCHECK_CACHE_HOME"] = os.path.join(folder, "bncheck")
    if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        values = (os.path.join(folder, "jax"), "0", "0")
        os.environ.update(dict(zip(_JAX_VARIABLES, values, strict=True)))


def pytest_unconfigure(config: pytest.Config) -> None:
    for folder in _SESSION_CACHE:
        shutil.rmtree(folder, ignore_errors=True)
        if os.environ.get("PYTHONPYCACHEPREFIX") == os.path.join(folder, "pycache"):
            os.environ.pop("PYTHONPYCACHEPREFIX")
            os.environ["PYTHONDONTWRITEBYTECODE"] = _BYTECODE_SETTING.pop()
        if os.environ.get("BNCHECK_CACHE_HOME") == os.path.join(folder, "bncheck"):
            os.environ.pop("BNCHECK_CACHE_HOME", None)
        if os.environ.get("JAX_COMPILATION_CACHE_DIR") == os.path.join(folder, "jax"):
            for name in _JAX_VARIABLES:
                os.environ.pop(name, None)
    _SESSION_CACHE.clear()


@pytest.fixture(scope="session")
def quick_reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """The quick reports, built once a session in this process one section after the other,
    and the paths the build returned: tests/report/test_report.py compares them with the
    committed copy, tests/report/test_build.py with a build in worker processes."""
    from bncheck.report.build import build_all

    out = tmp_path_factory.mktemp("quick_reports")
    return out, build_all(out, quick=True, workers=0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests marked slow first, the others in their order after them: with one worker per
    CPU (``-n auto``) a test of a minute or more collected last (the wheel's, the sanitizers')
    would otherwise run alone at the end while the other workers idle. Every worker collects
    the same order (the sort is stable), as xdist requires."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
