"""JAX's persistent compilation cache for the target process.

A JAX target (a Flax, Equinox, Haiku or Keras-on-JAX layer, a function of ``jax.numpy``)
spends most of a verification in XLA compiling one program per input shape and dtype. The
same programs come back on the next verification of the same code, so the target process
turns on JAX's own persistent cache: a compiled program is looked up by a key JAX makes from
the program itself, the compile options, the JAX and jaxlib versions and the device, and a hit
is the executable XLA built for that program. JAX does not check that an entry's content
matches its key: whoever can write the folder decides what a later verification runs. So
bncheck uses only a folder of the user's own that no one else can write (:func:`problem`),
and a target it verifies can write it like any file of the user's (docs/design.md, "The
compilation cache").

The folder (:func:`resolve`): the ``compile_cache`` argument of ``verify`` (``--compile-cache
DIR``, ``--no-compile-cache``), else ``$BNCHECK_COMPILE_CACHE`` (a folder, or ``off``), else the
``jax/<machine>`` folder of bncheck's cache home (:func:`cache_home`: ``$BNCHECK_CACHE_HOME``,
else ``$XDG_CACHE_HOME/bncheck``, else ``~/.cache/bncheck``; ``<machine>`` names the processor
and its features, so a home folder shared by machines of other CPUs never loads another's
code). The target process sets it only when the user has not configured JAX's cache
(``JAX_COMPILATION_CACHE_DIR``) and has not imported JAX before the target process started
(:func:`environment`), so a user's own settings always win. The folder is kept under
:data:`SIZE_LIMIT` bytes: the parent removes the oldest entries before a target process starts
(:func:`prune`: only JAX's own files, only in a folder bncheck tagged).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: the environment variable naming the folder, or "off"
VARIABLE = "BNCHECK_COMPILE_CACHE"

#: the environment variable naming the root of bncheck's caches (:func:`cache_home`)
HOME_VARIABLE = "BNCHECK_CACHE_HOME"

#: values of :data:`VARIABLE` that turn the cache off, and that turn it on (the default folder)
OFF = ("off", "0", "no", "false", "none")
ON = ("on", "1", "yes", "true")

#: bytes the folder may hold; older entries are removed past it
SIZE_LIMIT = 512 << 20

#: JAX's variable for its cache folder: set by the user, bncheck leaves JAX's cache alone
JAX_VARIABLE = "JAX_COMPILATION_CACHE_DIR"

#: the endings of the names of JAX's cache files (an entry, and its access time): the only
#: files :func:`prune` removes
JAX_SUFFIXES = ("-cache", "-atime")

#: the cache directory tag (https://bford.info/cachedir/) :func:`use` writes into the folder:
#: backup tools skip the folder, and :func:`prune` removes nothing from a folder without it
TAG = "CACHEDIR.TAG"
TAG_TEXT = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by bncheck (JAX's compiled programs).\n"
)

#: at most this many entries of the folder are looked at by :func:`prune`
MAX_SCANNED = 100_000


def cache_home(env: Mapping[str, str] | None = None) -> str:
    """The root of bncheck's caches: ``$BNCHECK_CACHE_HOME``, else ``$XDG_CACHE_HOME/bncheck``,
    else ``~/.cache/bncheck`` (an empty variable counts as unset).

    Examples
    --------
    >>> cache_home({"BNCHECK_CACHE_HOME": "/b", "XDG_CACHE_HOME": "/c"})
    '/b'
    >>> cache_home({"XDG_CACHE_HOME": "/c"})
    '/c/bncheck'
    """
    env = os.environ if env is None else env
    if env.get(HOME_VARIABLE):
        return env[HOME_VARIABLE]
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "bncheck")


def machine() -> str:
    """This machine's processor as a folder name: its architecture and a digest of its
    features (the flags of /proc/cpuinfo where there is one), e.g. ``x86_64-3f9c0a12``."""
    import hashlib
    import platform

    features = ""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.split(":")[0].strip() in ("flags", "Features"):
                    features = " ".join(sorted(line.split(":", 1)[1].split()))
                    break
    except OSError:
        features = platform.processor()
    digest = hashlib.sha256(features.encode()).hexdigest()[:8]
    return f"{platform.machine() or 'unknown'}-{digest}"


def default_folder(env: Mapping[str, str] | None = None) -> str:
    """:func:`cache_home`'s ``jax/<machine>`` folder (:func:`machine`)."""
    return os.path.join(cache_home(env), "jax", machine())


def resolve(setting: Any = True, env: Mapping[str, str] | None = None) -> str | None:
    """The folder for ``setting``: True (the default: ``$BNCHECK_COMPILE_CACHE``, else
    :func:`default_folder`), False or None (off), or a folder (str or path).

    Examples
    --------
    >>> resolve(False) is None
    True
    >>> resolve("/tmp/jaxc")
    '/tmp/jaxc'
    >>> resolve(True, {"BNCHECK_COMPILE_CACHE": "off"}) is None
    True
    >>> resolve(True, {"XDG_CACHE_HOME": "/c"}) == f"/c/bncheck/jax/{machine()}"
    True
    >>> resolve(3)
    Traceback (most recent call last):
    ...
    TypeError: compile_cache=3: expected True (the default folder), False (off) or a folder
    """
    env = os.environ if env is None else env
    if setting is False or setting is None:
        return None
    if setting is True:
        given = env.get(VARIABLE)
        if given is not None:
            word = given.strip().lower()
            if word in OFF or not word:
                return None
            if word in ON:
                return default_folder(env)
            return _absolute(given)
        return default_folder(env)
    if isinstance(setting, (str, os.PathLike)) and not isinstance(setting, bool):
        text = os.fspath(setting)
        if isinstance(text, str) and text:
            return _absolute(text)
    raise TypeError(
        f"compile_cache={setting!r}: expected True (the default folder), False (off) or a folder"
    )


def checked(setting: Any = True, env: Mapping[str, str] | None = None) -> str | None:
    """:func:`resolve`, and the folder's :func:`problem` said: a ValueError naming the folder
    and why when the user chose it (an argument, ``$BNCHECK_COMPILE_CACHE``); the default
    folder, when it cannot be used, only turns the cache off."""
    env = os.environ if env is None else env
    folder = resolve(setting, env)
    if folder is None:
        return None
    why = problem(folder)
    if not why:
        return folder
    chosen = setting is not True or (env.get(VARIABLE) or "").strip().lower() not in ("", *ON)
    if chosen:
        raise ValueError(f"compile_cache={folder!r}: the folder {why}")
    return None


def _absolute(text: str) -> str:
    """A folder as given: ``~`` expanded, made absolute (the target process may run
    elsewhere)."""
    return os.path.abspath(os.path.expanduser(text))


def tagged(folder: str) -> bool:
    """Whether ``folder`` holds bncheck's own cache directory tag."""
    try:
        with open(os.path.join(folder, TAG), encoding="ascii", errors="replace") as f:
            text = f.read(4096)
    except OSError:
        return False
    return text.startswith(TAG_TEXT.splitlines()[0]) and "created by bncheck" in text


def problem(folder: str) -> str:
    """Why ``folder`` cannot be the cache ("" when it can): it must be a folder of the user's
    own (or not exist yet) that no one else can write, and new, empty or one bncheck made
    (tagged), so that a folder named by mistake is never filled with JAX's files nor tagged
    (backup tools skip a tagged folder).

    Examples
    --------
    >>> problem("/proc/self/bncheck-cache")  # cannot exist: /proc takes no new folder
    ''
    """
    try:
        st = os.lstat(folder)
    except FileNotFoundError:
        return ""
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    import stat

    if not stat.S_ISDIR(st.st_mode):
        return "is not a folder"
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return "belongs to another user (its programs would run in your verifications)"
    if st.st_mode & 0o022:
        return "can be written by other users (its programs would run in your verifications)"
    try:
        with os.scandir(folder) as it:
            empty = next(iter(it), None) is None
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if not empty and not tagged(folder):
        return (
            "holds files bncheck did not put there; expected a new or empty folder, or one "
            f"bncheck made (it tags its own with {TAG})"
        )
    return ""


def environment(folder: str | None, env: Mapping[str, str], jax_imported: bool) -> dict[str, str]:
    """The variables the target process sets (before anything imports JAX) to use ``folder``;
    empty when the cache is off, JAX is already imported (its configuration was read) or the
    user set JAX's own folder.

    Every program is cached, however short its compilation (JAX's defaults skip programs
    compiled in under a second, which are nearly all of a verification's). No size is given to
    JAX: its eviction would read every entry's access time on each write and lock the folder;
    :func:`prune` keeps the size instead.

    Examples
    --------
    >>> environment("/c", {}, jax_imported=False)["JAX_COMPILATION_CACHE_DIR"]
    '/c'
    >>> environment("/c", {"JAX_COMPILATION_CACHE_DIR": "/mine"}, False)
    {}
    >>> environment("/c", {}, jax_imported=True)
    {}
    """
    if folder is None or jax_imported or env.get(JAX_VARIABLE):
        return {}
    return {
        JAX_VARIABLE: folder,
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


def installed(package: str) -> bool:
    """Whether ``package`` can be imported (found, not imported)."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def use(folder: str | None) -> bool:
    """In the target process, before the target is loaded: turn the cache on in ``folder``
    (created if needed) as :func:`environment` says, when JAX is installed; whether it was.
    Never raises: a folder that cannot be made leaves the cache off."""
    try:
        import sys

        if folder is None or not installed("jax"):
            return False  # no folder made for a target that cannot use it
        changes = environment(folder, os.environ, jax_imported="jax" in sys.modules)
        if not changes:
            return False
        os.makedirs(changes[JAX_VARIABLE], mode=0o700, exist_ok=True)
        if problem(changes[JAX_VARIABLE]) or not os.access(changes[JAX_VARIABLE], os.W_OK):
            return False
        tag = os.path.join(changes[JAX_VARIABLE], TAG)
        if not os.path.lexists(tag):
            try:
                with open(tag, "x", encoding="ascii") as f:
                    f.write(TAG_TEXT)
            except FileExistsError:  # another verification tagged it meanwhile
                pass
        os.environ.update(changes)
        return True
    except Exception:
        return False


def prune(folder: str | None, limit: int = SIZE_LIMIT) -> int:
    """Remove the oldest of JAX's cache files (by modification time) in ``folder`` until those
    hold at most ``limit`` bytes; how many were removed.

    Only a folder bncheck tagged (:data:`TAG`, written by :func:`use`) is touched, and in it
    only regular files named as JAX names its entries (:data:`JAX_SUFFIXES`): a folder named by
    mistake (``--compile-cache ~``) loses nothing. A folder that is missing or cannot be read
    is left alone, and at most :data:`MAX_SCANNED` entries are looked at."""
    if folder is None:
        return 0
    try:
        if not tagged(folder):
            return 0
        entries = []
        with os.scandir(folder) as it:
            for n, entry in enumerate(it):
                if n >= MAX_SCANNED:
                    break
                if entry.name.endswith(JAX_SUFFIXES) and entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    entries.append((st.st_mtime, st.st_size, entry.path))
    except OSError:
        return 0
    # an entry is its -cache file and its -atime file, removed together; a lone -atime file
    # (its entry gone) goes first
    groups: dict[str, list[tuple[float, int, str]]] = {}
    for item in entries:
        name = os.path.basename(item[2])
        key = name.removesuffix(JAX_SUFFIXES[0]).removesuffix(JAX_SUFFIXES[1])
        groups.setdefault(key, []).append(item)
    order = sorted(
        groups.values(),
        key=lambda g: (any(p.endswith(JAX_SUFFIXES[0]) for _, _, p in g), min(g)[0]),
    )
    total = sum(size for _, size, _ in entries)
    removed = 0
    for group in order:
        lone = not any(p.endswith(JAX_SUFFIXES[0]) for _, _, p in group)
        if total <= limit and not lone:
            break
        for _, size, path in group:
            try:
                Path(path).unlink()
            except OSError:
                continue
            total -= size
            removed += 1
    return removed
