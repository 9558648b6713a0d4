"""JAX's persistent compilation cache for the target process.

A JAX target (a Flax, Equinox, Haiku or Keras-on-JAX layer, a function of ``jax.numpy``)
spends most of a verification in XLA compiling one program per input shape and dtype. The
same programs come back on the next verification of the same code, so the target process
turns on JAX's own persistent cache: a compiled program is looked up by a key JAX makes from
the program itself, the compile options, the JAX and jaxlib versions and the device, and a hit
is the executable XLA built for exactly that program. What runs is therefore the program the
user's code compiles to, as without the cache; only the time to build it is saved.

The folder (:func:`resolve`): the ``compile_cache`` argument of ``verify`` (``--compile-cache
DIR``, ``--no-compile-cache``), else ``$BNCHECK_COMPILE_CACHE`` (a folder, or ``off``), else
``$XDG_CACHE_HOME/bncheck/jax`` (``~/.cache/bncheck/jax``). The target process sets it only
when the user has not configured JAX's cache (``JAX_COMPILATION_CACHE_DIR``) and has not
imported JAX before the target process started (:func:`environment`), so a user's own settings
always win. The folder is kept under :data:`SIZE_LIMIT` bytes: the parent removes the oldest
entries before a target process starts (:func:`prune`); JAX also evicts, and locks the folder
against concurrent verifications, when the ``filelock`` package is installed.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: the environment variable naming the folder, or "off"
VARIABLE = "BNCHECK_COMPILE_CACHE"

#: values of :data:`VARIABLE` that turn the cache off
OFF = ("off", "0", "no", "false", "none")

#: bytes the folder may hold; older entries are removed past it
SIZE_LIMIT = 512 << 20

#: JAX's variable for its cache folder: set by the user, bncheck leaves JAX's cache alone
JAX_VARIABLE = "JAX_COMPILATION_CACHE_DIR"


def default_folder(env: Mapping[str, str] | None = None) -> str:
    """``$XDG_CACHE_HOME/bncheck/jax``, or ``~/.cache/bncheck/jax``."""
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "bncheck", "jax")


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
        os.environ.update(changes)
        return True
    except Exception:
        return False


def prune(folder: str | None, limit: int = SIZE_LIMIT) -> int:
    """Remove the oldest files (by modification time) of ``folder`` until it holds at most
    ``limit`` bytes; how many were removed. A folder that is missing or cannot be read is left
    alone; only regular files directly in it are counted and removed."""
    if folder is None:
        return 0
    try:
        entries = []
        with os.scandir(folder) as it:
            for entry in it:
                if entry.is_file(follow_symlinks=False):
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
