"""JAX's persistent compilation cache of the target process
(:mod:`bncheck.check._verify.process.compile_cache`): which folder a setting names, what the
target process sets and when it leaves JAX alone, how the folder is kept under its limit, and
that the target process gets it (a tiny adapter reports its own environment; no JAX needed)."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bncheck.check import verify
from bncheck.cli import main
from tests.adapter_files import load_adapter_file
from tests.frameworks import needs
from tests.internals import TargetProcess
from tests.internals import compile_cache as cc

JAX_VARS = (
    "JAX_COMPILATION_CACHE_DIR",
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS",
    "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES",
    "JAX_COMPILATION_CACHE_MAX_SIZE",
)

# -- resolve: the folder a setting names --------------------------------------------------------


def test_the_default_folder_is_under_the_user_cache_per_machine(tmp_path: Path) -> None:
    mine = cc.machine()
    assert cc.resolve(True, {"XDG_CACHE_HOME": str(tmp_path)}) == str(
        tmp_path / "bncheck" / "jax" / mine
    )
    home = os.path.join(os.path.expanduser("~"), ".cache", "bncheck", "jax", mine)
    assert cc.resolve(True, {}) == home
    assert cc.resolve(True, {"XDG_CACHE_HOME": ""}) == home  # empty: unset, as the spec says
    both = {"BNCHECK_CACHE_HOME": str(tmp_path / "b"), "XDG_CACHE_HOME": "/c"}
    assert cc.resolve(True, both) == str(tmp_path / "b" / "jax" / mine)  # bncheck's home first
    assert cc.resolve(True, {**both, cc.VARIABLE: "/j"}) == "/j"  # the cache's own variable


def test_the_machine_names_its_processor() -> None:
    name = cc.machine()
    arch, _, digest = name.rpartition("-")
    assert arch and len(digest) == 8 and int(digest, 16) >= 0
    assert cc.machine() == name  # the same on every call


@pytest.mark.parametrize("value", ["on", "1", "YES", "true"])
def test_the_variable_turns_the_default_folder_on(value: str) -> None:
    assert cc.resolve(True, {cc.VARIABLE: value, "XDG_CACHE_HOME": "/c"}) == cc.default_folder(
        {"XDG_CACHE_HOME": "/c"}
    )


def test_a_folder_is_expanded_and_made_absolute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/someone")
    assert cc.resolve("~/x", {}) == "/home/someone/x"
    assert cc.resolve(True, {cc.VARIABLE: "~/y"}) == "/home/someone/y"
    assert cc.resolve("rel/dir", {}) == os.path.join(os.getcwd(), "rel", "dir")


@pytest.mark.parametrize("value", ["off", "OFF", " off ", "0", "no", "false", "none", "", "  "])
def test_the_variable_turns_the_cache_off(value: str) -> None:
    assert cc.resolve(True, {cc.VARIABLE: value, "XDG_CACHE_HOME": "/c"}) is None


def test_the_variable_names_the_folder_and_an_explicit_setting_wins_over_it(
    tmp_path: Path,
) -> None:
    env = {cc.VARIABLE: "/from/env", "XDG_CACHE_HOME": "/c"}
    assert cc.resolve(True, env) == "/from/env"
    assert cc.resolve(str(tmp_path), env) == str(tmp_path)
    assert cc.resolve(tmp_path, env) == str(tmp_path)  # a path object
    assert cc.resolve(False, env) is None
    assert cc.resolve(None, env) is None


@pytest.mark.parametrize("bad", [3, 1.5, "", b"/bytes", ["/x"]])
def test_a_setting_of_another_kind_is_a_type_error_naming_it(bad: object) -> None:
    with pytest.raises(TypeError, match=r"compile_cache=.*expected True"):
        cc.resolve(bad, {})


# -- environment: what the target process sets, and when it sets nothing -----------------------


def test_every_program_is_cached_in_the_folder_and_no_size_is_given_to_jax() -> None:
    env = cc.environment("/c", {}, jax_imported=False)
    assert env == {
        "JAX_COMPILATION_CACHE_DIR": "/c",
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


def test_nothing_is_set_when_off_when_jax_was_imported_or_the_user_set_jax_s_own() -> None:
    assert cc.environment(None, {}, jax_imported=False) == {}
    assert cc.environment("/c", {}, jax_imported=True) == {}
    mine = {"JAX_COMPILATION_CACHE_DIR": "/mine"}
    assert cc.environment("/c", mine, jax_imported=False) == {}
    # an empty JAX variable is no folder: bncheck's applies
    empty = {"JAX_COMPILATION_CACHE_DIR": ""}
    assert cc.environment("/c", empty, False)["JAX_COMPILATION_CACHE_DIR"] == "/c"


# -- problem and checked: which folders may be the cache ----------------------------------------


def test_a_new_an_empty_and_a_tagged_folder_may_be_the_cache(tmp_path: Path) -> None:
    assert cc.problem(str(tmp_path / "new")) == ""
    (tmp_path / "empty").mkdir(mode=0o700)
    assert cc.problem(str(tmp_path / "empty")) == ""
    ours = tmp_path / "ours"
    ours.mkdir(mode=0o700)
    (ours / cc.TAG).write_text(cc.TAG_TEXT)
    (ours / "jit_step-1-cache").write_bytes(b"x")
    assert cc.problem(str(ours)) == ""


def test_a_folder_holding_other_files_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    """``--compile-cache .`` in a project: nothing of JAX's is put there, and no tag (backup
    tools would skip the whole folder)."""
    project = tmp_path / "project"
    project.mkdir(mode=0o700)
    (project / "thesis.tex").write_text("mine")
    assert "holds files bncheck did not put there" in cc.problem(str(project))
    with pytest.raises(ValueError, match=r"compile_cache='.*project': the folder holds files"):
        cc.checked(str(project), {})
    assert sorted(p.name for p in project.iterdir()) == ["thesis.tex"]


def test_a_foreign_cache_tag_is_not_bncheck_s(tmp_path: Path) -> None:
    (tmp_path / cc.TAG).write_text("Signature: 8a477f597d28d172789f06886806bc55\n# pytest\n")
    (tmp_path / "notes-cache").write_text("mine")
    tmp_path.chmod(0o700)
    assert not cc.tagged(str(tmp_path))
    assert "did not put there" in cc.problem(str(tmp_path))


def test_a_folder_others_can_write_or_a_file_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    assert "can be written by other users" in cc.problem(str(shared))
    afile = tmp_path / "afile"
    afile.write_text("")
    assert cc.problem(str(afile)) == "is not a folder"
    with pytest.raises(ValueError, match="is not a folder"):
        cc.checked(str(afile), {})


def test_an_unusable_default_folder_turns_the_cache_off(tmp_path: Path) -> None:
    home = tmp_path / "home"
    blocker = home / "jax" / cc.machine()
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a folder")
    env = {"BNCHECK_CACHE_HOME": str(home)}
    assert cc.checked(True, env) is None  # the default: off, silently
    assert cc.checked(True, {**env, cc.VARIABLE: "on"}) is None  # "on": the default too
    with pytest.raises(ValueError, match="is not a folder"):  # the user's own choice: refused
        cc.checked(True, {**env, cc.VARIABLE: str(blocker)})


# -- use: in the target process -----------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """This process's environment without JAX's cache variables and JAX not imported, what
    :func:`cc.use` then sees; the whole environment is put back afterwards (``use`` sets
    variables that were not there)."""
    saved = dict(os.environ)
    for name in JAX_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "jax", raising=False)
    real = cc.installed
    monkeypatch.setattr(cc, "installed", lambda p: p == "jax" or real(p))  # JAX or not
    yield os.environ  # type: ignore[misc]
    os.environ.clear()
    os.environ.update(saved)


def test_use_without_jax_installed_sets_nothing_and_makes_no_folder(
    clean_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cc, "installed", lambda p: False)
    assert not cc.use(str(tmp_path / "c"))
    assert not (tmp_path / "c").exists()
    assert "JAX_COMPILATION_CACHE_DIR" not in clean_env


def test_use_tags_the_folder_once(clean_env: dict[str, str], tmp_path: Path) -> None:
    assert cc.use(str(tmp_path))
    assert (tmp_path / cc.TAG).read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
    (tmp_path / cc.TAG).write_text(cc.TAG_TEXT + "# kept\n")
    for name in JAX_VARS:  # as a new target process finds it
        clean_env.pop(name, None)
    assert cc.use(str(tmp_path))
    assert (tmp_path / cc.TAG).read_text().endswith("# kept\n")  # not written again


def test_use_makes_the_folder_and_sets_the_variables(
    clean_env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "a" / "b"
    assert cc.use(str(folder))
    assert folder.is_dir()
    assert clean_env["JAX_COMPILATION_CACHE_DIR"] == str(folder)


def test_use_leaves_everything_alone_when_the_folder_cannot_be_made(
    clean_env: dict[str, str], tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    before = dict(clean_env)
    assert not cc.use(str(blocker / "jax"))
    assert dict(clean_env) == before


def test_use_leaves_a_user_s_jax_cache_alone(
    clean_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", "/mine")
    assert not cc.use(str(tmp_path))
    assert clean_env["JAX_COMPILATION_CACHE_DIR"] == "/mine"
    assert "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in clean_env


# -- prune: the folder kept under its limit -----------------------------------------------------


def _entries(folder: Path, sizes: list[int], *, tag: bool = True) -> list[Path]:
    """JAX-named files of ``sizes`` bytes, oldest first, in a folder bncheck tagged."""
    folder.mkdir(parents=True, exist_ok=True)
    if tag:
        (folder / cc.TAG).write_text(cc.TAG_TEXT)
    paths = []
    for i, size in enumerate(sizes):
        path = folder / f"jit_step-{i:04d}-cache"
        path.write_bytes(b"x" * size)
        os.utime(path, (1000 + i, 1000 + i))  # the first oldest
        paths.append(path)
    return paths


def test_prune_removes_the_oldest_until_under_the_limit(tmp_path: Path) -> None:
    paths = _entries(tmp_path, [100, 100, 100, 100])
    assert cc.prune(str(tmp_path), limit=250) == 2
    assert [p.exists() for p in paths] == [False, False, True, True]


def test_prune_removes_an_entry_with_its_access_time_and_lone_access_times(
    tmp_path: Path,
) -> None:
    paths = _entries(tmp_path, [100, 100])
    atimes = []
    for p in paths:
        a = p.with_name(p.name.removesuffix("-cache") + "-atime")
        a.write_bytes(b"12345678")
        atimes.append(a)
    lone = tmp_path / "gone-atime"
    lone.write_bytes(b"12345678")
    assert cc.prune(str(tmp_path), limit=120) == 3  # the lone one, then the oldest pair
    assert [p.exists() for p in paths] == [False, True]
    assert [a.exists() for a in atimes] == [False, True]
    assert not lone.exists()


def test_prune_at_the_limit_removes_nothing(tmp_path: Path) -> None:
    paths = _entries(tmp_path, [100, 100])
    assert cc.prune(str(tmp_path), limit=200) == 0
    assert all(p.exists() for p in paths)


def test_prune_leaves_subfolders_a_missing_folder_and_off_alone(tmp_path: Path) -> None:
    (tmp_path / cc.TAG).write_text(cc.TAG_TEXT)
    inner = _entries(tmp_path / "sub", [1000])
    assert cc.prune(str(tmp_path), limit=0) == 0
    assert inner[0].exists()
    assert cc.prune(str(tmp_path / "missing"), limit=0) == 0
    assert cc.prune(None, limit=0) == 0


def test_prune_removes_nothing_from_a_folder_bncheck_did_not_tag(tmp_path: Path) -> None:
    """``--compile-cache ~`` by mistake: the user's files stay, JAX-named or not."""
    paths = _entries(tmp_path, [100, 100], tag=False)
    mine = tmp_path / "thesis.tex"
    mine.write_bytes(b"x" * 1000)
    assert cc.prune(str(tmp_path), limit=0) == 0
    assert all(p.exists() for p in [*paths, mine])


def test_prune_removes_only_jax_s_files_and_never_follows_a_link(tmp_path: Path) -> None:
    paths = _entries(tmp_path, [100, 100])
    mine = tmp_path / "notes.txt"
    mine.write_bytes(b"x" * 1000)
    os.utime(mine, (1, 1))  # older than every entry
    elsewhere = tmp_path.parent / f"{tmp_path.name}-outside"
    elsewhere.mkdir()
    target = elsewhere / "precious-cache"
    target.write_bytes(b"x" * 1000)
    link = tmp_path / "link-cache"
    link.symlink_to(target)
    os.utime(link, (2, 2), follow_symlinks=False)
    assert cc.prune(str(tmp_path), limit=100) == 1
    assert [p.exists() for p in paths] == [False, True]
    assert mine.exists() and target.exists() and link.is_symlink()


def test_a_target_process_prunes_its_folder_when_made(tmp_path: Path) -> None:
    paths = _entries(tmp_path, [cc.SIZE_LIMIT // 2 + 1, cc.SIZE_LIMIT // 2 + 1])
    TargetProcess(lambda: None, compile_cache=str(tmp_path))  # not started: nothing to close
    assert [p.exists() for p in paths] == [False, True]


# -- the target process gets it ------------------------------------------------------------------

ADAPTER = """
import os, sys

class Adapter:
    def describe(self):
        return {
            "kind": "test",
            "running": False,
            "cache": os.environ.get("JAX_COMPILATION_CACHE_DIR"),
            "min_time": os.environ.get("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"),
        }
"""


def _described(tmp_path: Path, **kw: object) -> dict[str, object]:
    path = tmp_path / "adapter.py"
    path.write_text(ADAPTER, encoding="utf-8")
    loader = functools.partial(load_adapter_file, str(path))
    with TargetProcess(loader, timeout=5.0, start_method="fork", **kw) as proc:  # type: ignore[arg-type]
        return dict(proc.start())


def test_the_target_process_gets_the_folder(clean_env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    got = _described(tmp_path, compile_cache=str(folder))
    assert got["cache"] == str(folder) and got["min_time"] == "0"
    assert folder.is_dir()
    assert "JAX_COMPILATION_CACHE_DIR" not in clean_env  # set in the target process only


def test_off_the_target_process_gets_none(clean_env: dict[str, str], tmp_path: Path) -> None:
    assert _described(tmp_path, compile_cache=False)["cache"] is None


def test_the_user_s_jax_cache_reaches_the_target_process_unchanged(
    clean_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "mine"))
    got = _described(tmp_path, compile_cache=str(tmp_path / "bncheck"))
    assert got == {**got, "cache": str(tmp_path / "mine"), "min_time": None}


def test_a_target_process_with_jax_already_imported_is_left_alone(
    clean_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "jax", sys)  # a forked child inherits "jax imported"
    assert _described(tmp_path, compile_cache=str(tmp_path / "c"))["cache"] is None


# -- verify and the command line -----------------------------------------------------------------


def test_verify_refuses_a_bad_setting_before_running_anything() -> None:
    with pytest.raises(TypeError, match="compile_cache=3"):
        verify("bncheck.BatchNorm", compile_cache=3)


def test_the_command_refuses_an_empty_folder_and_both_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["verify", "bncheck.BatchNorm", "--compile-cache", ""])
    assert exc.value.code == 2
    assert "expected a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["verify", "bncheck.BatchNorm", "--compile-cache", "/x", "--no-compile-cache"])
    assert exc.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


# -- with JAX: the programs are cached, and the cache changes no result ---------------------------


def _outcome(report: Any) -> list[tuple[str, str, str, float | None]]:
    return [(c.id, c.status, c.message, c.worst) for c in report.checks]


@needs("jax")
def test_a_second_verification_loads_the_programs_and_gives_the_same_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flax's BN in one rank and dtype (about 20 programs): the first verification fills the
    folder, the second finds every program there (nothing new written) and reports the same
    checks, statuses and measured errors. The session's own JAX cache is taken away, so that
    bncheck's folder applies."""
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    folder = tmp_path / "jax"
    kw: dict[str, Any] = {"ndims": (2,), "dtypes": ("float32",), "compile_cache": str(folder)}
    first = verify("flax.linen.BatchNorm", **kw)
    entries = sorted(p.name for p in folder.iterdir() if p.name.endswith("-cache"))
    assert len(entries) >= 10  # a program per input shape, and the layer's init
    second = verify("flax.linen.BatchNorm", **kw)
    assert sorted(p.name for p in folder.iterdir() if p.name.endswith("-cache")) == entries
    assert _outcome(second) == _outcome(first)
    assert not first.passed  # Flax's default one-pass variance, found either way
