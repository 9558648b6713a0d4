"""JAX's persistent compilation cache for the target process.

A JAX target (a Flax, Equinox, Haiku or Keras-on-JAX layer, a function of ``jax.numpy``)
spends most of a verification in XLA compiling one program per input shape and dtype. The
same programs come back on the next verification of the same code, so the target process
turns on JAX's own persistent cache: a compiled program is looked up by a key JAX makes from
the program itself, the compile options, the JAX and jaxlib versions and the device, and a hit
is the executable XLA built for exactly that program. What runs is therefore the program the
user's code compiles to, as without the cache; only the time to build it is saved.

The folder (:func:`resolve`): the ``compile_cache`` argument of ``verify`` (``--compile-cache
DIR``, ``--no-compile-cache``), else ``$BNCHECK_COMPILE_CACHE`` (a folder, or ``off``), else the
``jax`` folder of bncheck's cache home (:func:`cache_home`: ``$BNCHECK_CACHE_HOME``, else
``$XDG_CACHE_HOME/bncheck``, else ``~/.cache/bncheck``). The target process sets it only
when the user has not configured JAX's cache (``JAX_COMPILATION_CACHE_DIR``) and has not
imported JAX before the target process started (:func:`environment`), so a user's own settings
always win. The folder is kept under :data:`SIZE_LIMIT` bytes: the parent removes the oldest
entries before a target process starts (:func:`prune`: only JAX's own files, only in a folder
bncheck tagged, so a folder named by mistake loses nothing); JAX also evicts, and locks the
folder against concurrent verifications, when the ``filelock`` package is installed.
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

#: values of :data:`VARIABLE` that turn the cache off
OFF = ("off", "0", "no", "false", "none")

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


def default_folder(env: Mapping[str, str] | None = None) -> str:
    """:func:`cache_home`'s ``jax`` folder."""
    return os.path.join(cache_home(env), "jax")


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
    >>> resolve(True, {"XDG_CACHE_HOME": "/c"})
    '/c/bncheck/jax'
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
            return None if given.strip().lower() in OFF or not given.strip() else given
        return default_folder(env)
    if isinstance(setting, (str, os.PathLike)) and not isinstance(setting, bool):
        text = os.fspath(setting)
        if isinstance(text, str) and text:
            return text
    raise TypeError(
        f"compile_cache={setting!r}: expected True (the default folder), False (off) or a folder"
    )


def environment(
    folder: str | None,
    env: Mapping[str, str],
    jax_imported: bool,
    filelock: bool,
) -> dict[str, str]:
    """The variables the target process sets (before anything imports JAX) to use ``folder``;
    empty when the cache is off, JAX is already imported (its configuration was read) or the
    user set JAX's own folder.

    Every program is cached, however short its compilation (JAX's defaults skip programs
    compiled in under a second, which are nearly all of a verification's). With ``filelock``
    JAX evicts past :data:`SIZE_LIMIT` and locks the folder, so concurrent verifications never
    read a half-written entry.

    Examples
    --------
    >>> environment("/c", {}, jax_imported=False, filelock=False)["JAX_COMPILATION_CACHE_DIR"]
    '/c'
    >>> environment("/c", {"JAX_COMPILATION_CACHE_DIR": "/mine"}, False, False)
    {}
    >>> environment("/c", {}, jax_imported=True, filelock=True)
    {}
    """
    if folder is None or jax_imported or env.get(JAX_VARIABLE):
        return {}
    out = {
        JAX_VARIABLE: folder,
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }
    if filelock:
        out["JAX_COMPILATION_CACHE_MAX_SIZE"] = str(SIZE_LIMIT)
    return out


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
        changes = environment(
            folder,
            os.environ,
            jax_imported="jax" in sys.modules,
            filelock=installed("filelock"),
        )
        if not changes:
            return False
        os.makedirs(changes[JAX_VARIABLE], exist_ok=True)
        if not os.access(changes[JAX_VARIABLE], os.W_OK):
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
        if not os.path.isfile(os.path.join(folder, TAG)):
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
    total = sum(size for _, size, _ in entries)
    removed = 0
    for _, size, path in sorted(entries):
        if total <= limit:
            break
        try:
            Path(path).unlink()
        except OSError:
            continue
        total -= size
        removed += 1
    return removed
