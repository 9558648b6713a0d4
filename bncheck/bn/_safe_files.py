"""Regular files only: open one to read without ever blocking on anything else (a FIFO, a
device, a socket), and replace one atomically through a temporary file that nobody sees while
it is written and that no save, however it ends, leaves behind for good.

Reading (:func:`open_regular`): the path is stat'ed (symlinks followed) and refused unless it is
a regular file, so a device is never even opened; then it is opened non-blocking, and the
opened descriptor is fstat'ed and checked again, so what is read is what was checked.

Writing (:func:`replace_atomically`): the destination, symlinks resolved, must be a regular
file or a new name in an existing folder; anything else is refused before anything is written.
The new contents go to an anonymous file in the destination's folder (Linux ``O_TMPFILE``:
it has no name, so a process killed while writing leaves nothing), which is flushed, fsynced,
linked to a short temporary name and renamed over the destination; the folder is fsynced.
Where ``O_TMPFILE`` is missing (another system, or a filesystem without it) the temporary file
is named from the start. Every temporary name is ``.bncheck-<16 hex digits of a hash of the
destination's name>-<8 random hex digits>.tmp`` (38 characters), so that any destination name
up to the filesystem's limit works, and the writer holds an exclusive ``flock`` on it for as
long as it lives. Each save first removes the temporary files of earlier saves of the same
destination that nobody holds locked any more: those of a process that was killed.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Callable
from contextlib import suppress
from types import ModuleType, TracebackType
from typing import IO

from bncheck.exceptions import BatchNormError

fcntl: ModuleType | None
try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock
    fcntl = None

__all__ = ["kind_of", "open_regular", "replace_atomically"]

#: ``os.O_TMPFILE`` where the system has it, else 0 (the tests set 0 to force the fallback).
_O_TMPFILE: int = getattr(os, "O_TMPFILE", 0)
_O_NONBLOCK: int = getattr(os, "O_NONBLOCK", 0)
_O_NOCTTY: int = getattr(os, "O_NOCTTY", 0)
_O_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY: int = getattr(os, "O_DIRECTORY", 0)
_O_BINARY: int = getattr(os, "O_BINARY", 0)
#: Where an open descriptor can be linked back into a folder from.
_PROC_FD = "/proc/self/fd"
#: What open(folder, O_TMPFILE) fails with where the kernel or filesystem lacks it.
_NO_TMPFILE = frozenset({errno.EOPNOTSUPP, errno.ENOTSUP, errno.EISDIR, errno.EINVAL})
_TEMP_PREFIX = ".bncheck-"
_TEMP_SUFFIX = ".tmp"
_HASH_CHARS = 16
_RANDOM_CHARS = 8
_ATTEMPTS = 100

_KINDS: tuple[tuple[Callable[[int], bool], str], ...] = (
    (stat.S_ISDIR, "directory"),
    (stat.S_ISFIFO, "FIFO (named pipe)"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISLNK, "symbolic link"),
)


def kind_of(mode: int) -> str | None:
    """What a file with ``st_mode`` ``mode`` is, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return f"special file (mode {stat.filemode(mode)})"  # pragma: no cover - doors, ports


# -- reading ------------------------------------------------------------------------------------


def open_regular(name: str, expects: str) -> int:
    """A read-only descriptor of the regular file ``name`` (a symlink is followed).

    Raises FileNotFoundError when there is nothing at ``name``, BatchNormError ``"<name> is a
    <kind>, not a regular file; <expects>"`` when it is anything but a regular file (without
    opening it, and without blocking: a FIFO is opened non-blocking if it appears in between).
    """
    _refuse(name, os.stat(name).st_mode, expects)
    fd = os.open(name, os.O_RDONLY | _O_NONBLOCK | _O_NOCTTY | _O_BINARY)
    try:
        _refuse(name, os.fstat(fd).st_mode, expects)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _refuse(name: str, mode: int, expects: str) -> None:
    kind = kind_of(mode)
    if kind is not None:
        raise BatchNormError(f"{name} is a {kind}, not a regular file; {expects}")


# -- writing ------------------------------------------------------------------------------------


def replace_atomically(name: str, write: Callable[[IO[bytes]], None]) -> None:
    """Make the regular file ``name`` (through symlinks, their target) hold what ``write``
    writes, all or nothing; the replaced file's permission bits are kept.

    Raises BatchNormError, writing nothing, when ``name`` (or what its symlinks lead to) exists
    and is not a regular file; FileNotFoundError when its folder does not exist; any OSError of
    the write, after which the previous file is intact and no temporary file remains.
    """
    target = os.path.realpath(name)
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, f"folder {folder!r} does not exist", name)
    old = _existing_regular(name, target)
    stem = _temp_stem(folder, os.path.basename(target))
    _remove_abandoned(folder, stem)
    with _Staged(folder, stem) as staged:
        with os.fdopen(staged.fd, "wb", closefd=False) as fh:
            write(fh)
        if old is not None:
            staged.chmod(stat.S_IMODE(old.st_mode))
        os.fsync(staged.fd)
        _existing_regular(name, target)  # still nothing but a regular file there
        staged.publish(target)
    _fsync_folder(folder)


def _existing_regular(name: str, target: str) -> os.stat_result | None:
    """The stat of the regular file at ``target`` (``name`` resolved), None if there is none;
    BatchNormError naming ``name`` if something else is there."""
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return None
    kind = kind_of(st.st_mode)
    if kind is None:
        return st
    what = f"is a {kind}" if target == os.path.abspath(name) else f"leads to {target!r}, a {kind}"
    raise BatchNormError(
        f"path={name!r} {what}; expected the path of a regular file or a new file name in an "
        "existing folder (save replaces nothing else; nothing was written)"
    )


def _temp_stem(folder: str, base: str) -> str:
    """``.bncheck-<hash of base>-``: how every temporary name of a save to ``base`` starts."""
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # pragma: no cover - no pathconf (Windows)
        name_max = 255
    room = name_max - len(_TEMP_PREFIX) - 1 - _RANDOM_CHARS - len(_TEMP_SUFFIX)
    digest = hashlib.blake2b(os.fsencode(base), digest_size=_HASH_CHARS // 2).hexdigest()
    return f"{_TEMP_PREFIX}{digest[: max(1, min(_HASH_CHARS, room))]}-"


def _temp_name(stem: str) -> str:
    return f"{stem}{os.urandom(_RANDOM_CHARS // 2).hex()}{_TEMP_SUFFIX}"


def _lock(fd: int, *, unsupported: bool) -> bool:
    """Take an exclusive flock on ``fd`` without waiting: True if taken, False if someone
    holds it; ``unsupported`` where there is no flock (or the filesystem refuses it)."""
    if fcntl is None:  # pragma: no cover - Windows
        return unsupported
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # pragma: no cover - a filesystem without flock
        return unsupported
    return True


def _same_file(fd: int, path: str) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        a, b = os.fstat(fd), os.lstat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _remove_abandoned(folder: str, stem: str) -> None:
    """Remove the temporary files of killed saves to the same destination: those named with
    ``stem`` whose lock nobody holds (a live save holds its own until it is done)."""
    try:
        with os.scandir(folder) as entries:
            names = [
                e.name for e in entries if e.name.startswith(stem) and e.name.endswith(_TEMP_SUFFIX)
            ]
    except OSError:
        return
    for base in names:
        path = os.path.join(folder, base)
        if fcntl is None:  # pragma: no cover - Windows refuses to remove an open file
            with suppress(OSError):
                os.unlink(path)
            continue
        try:
            fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_NOCTTY)
        except OSError:
            continue
        try:
            if (
                stat.S_ISREG(os.fstat(fd).st_mode)
                and _lock(fd, unsupported=False)
                and _same_file(fd, path)
            ):
                os.unlink(path)
        except OSError:
            pass
        finally:
            os.close(fd)


class _Staged:
    """The new contents of a save while they are written: an anonymous file (``O_TMPFILE``)
    or, where there is none, a named temporary file; locked, and removed on leaving the block
    unless :meth:`publish` renamed it over the destination."""

    def __init__(self, folder: str, stem: str) -> None:
        self.folder, self.stem = folder, stem
        self.fd = -1
        #: The temporary name while it has one (always, for a named one).
        self.path: str | None = None

    def __enter__(self) -> _Staged:
        fd = _open_anonymous(self.folder)
        if fd is not None:
            self.fd = fd
            _lock(fd, unsupported=True)
        else:
            self.fd, self.path = _create_named(self.folder, self.stem)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.path is not None:  # not published: remove the name while still locked
                try:
                    os.unlink(self.path)
                except OSError:  # pragma: no cover - Windows: close it first
                    os.close(self.fd)
                    self.fd = -1
                    with suppress(OSError):
                        os.unlink(self.path)
        finally:
            if self.fd >= 0:
                os.close(self.fd)

    def chmod(self, mode: int) -> None:
        if hasattr(os, "fchmod"):
            os.fchmod(self.fd, mode)
        elif self.path is not None:  # pragma: no cover - Windows before Python 3.13
            os.chmod(self.path, mode)

    def publish(self, target: str) -> None:
        """Rename the file over ``target`` (an anonymous one is first linked to a name)."""
        if self.path is None:
            self.path = _link_anonymous(self.fd, self.folder, self.stem)
        os.replace(self.path, target)
        self.path = None


def _open_anonymous(folder: str) -> int | None:
    """A new anonymous file in ``folder`` open for writing, or None where there are none."""
    if not _O_TMPFILE or not os.path.isdir(_PROC_FD):
        return None
    try:
        return os.open(folder, _O_TMPFILE | os.O_WRONLY, 0o666)  # the umask applies
    except OSError as exc:
        if exc.errno in _NO_TMPFILE:
            return None
        raise


def _link_anonymous(fd: int, folder: str, stem: str) -> str:
    """Give the anonymous file ``fd`` a temporary name in ``folder``; that path."""
    dir_fd = os.open(folder, os.O_RDONLY | _O_DIRECTORY)
    try:
        for _ in range(_ATTEMPTS):
            base = _temp_name(stem)
            try:
                # A dir_fd makes os.link call linkat(..., AT_SYMLINK_FOLLOW), which links the
                # file the /proc entry stands for; plain link() would link the entry itself.
                os.link(f"{_PROC_FD}/{fd}", base, dst_dir_fd=dir_fd, follow_symlinks=True)
            except FileExistsError:  # pragma: no cover - a clash of 32 random bits
                continue
            return os.path.join(folder, base)
    finally:
        os.close(dir_fd)
    raise FileExistsError(  # pragma: no cover
        errno.EEXIST, "cannot name a temporary file", folder
    )


def _create_named(folder: str, stem: str) -> tuple[int, str]:
    """A new, locked temporary file in ``folder`` (permissions as open() gives); (fd, path)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_BINARY
    for _ in range(_ATTEMPTS):
        path = os.path.join(folder, _temp_name(stem))
        try:
            fd = os.open(path, flags, 0o666)
        except FileExistsError:  # pragma: no cover - a clash of 32 random bits
            continue
        # Between creating and locking it, another save's cleanup may have taken it for a
        # killed save's file and removed it: then try another name.
        if _lock(fd, unsupported=True) and _same_file(fd, path):
            return fd, path
        os.close(fd)  # pragma: no cover - that race
    raise FileExistsError(  # pragma: no cover
        errno.EEXIST, "cannot create a temporary file", folder
    )


def _fsync_folder(folder: str) -> None:
    """Make the rename durable (best effort: not every platform opens folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
