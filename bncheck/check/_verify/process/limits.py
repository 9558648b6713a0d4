"""What confines the target process: its own session (process group), death with the verify
process (``PR_SET_PDEATHSIG`` on Linux), a watchdog that kills its whole group once the verify
process is gone, resource limits, and its output captured in an unlinked temporary file."""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys
import tempfile


def _isolate(parent_pid: int) -> None:
    """Own session and process group; die with the parent (Linux)."""
    try:
        os.setsid()
    except OSError:
        pass
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before the line above
        os._exit(1)


def _start_watchdog(lifeline: int) -> None:
    """Fork a process that kills this process group once the verify process is gone.

    The verify process holds the only write end of ``lifeline`` and never writes: the read
    returns end-of-file when it exits, whether or not it could clean up (``kill -9``).
    PDEATHSIG covers only this process; the watchdog also covers what the target started.
    """
    if os.fork() != 0:
        return
    try:
        os.closerange(0, lifeline)
        os.closerange(
            lifeline + 1,
            max(lifeline + 1, min(resource.getrlimit(resource.RLIMIT_NOFILE)[0], 1 << 20)),
        )
        while True:
            try:
                if not os.read(lifeline, 1):
                    break
            except InterruptedError:
                continue
            except OSError:
                break
        os.killpg(0, signal.SIGKILL)
    finally:
        os._exit(0)


def _limit(which: int, value: int) -> None:
    try:
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))
    except (ValueError, OSError):
        pass


class _Output:
    """The child's stdout/stderr: an unlinked temporary file (nothing stays on disk even when
    verify is killed); its size, and its last bytes as text."""

    def __init__(self) -> None:
        fd, path = tempfile.mkstemp(prefix="bncheck-verify-")
        os.unlink(path)
        self.fd: int | None = fd

    def count(self) -> int:
        try:
            return os.fstat(self.fd).st_size if self.fd is not None else 0
        except OSError:
            return 0

    def last_text(self, limit: int = 300) -> str:
        if self.fd is None:
            return ""
        try:
            data = os.pread(self.fd, limit, max(0, self.count() - limit))
        except OSError:
            return ""
        return data.decode("utf-8", "replace").strip()

    def remove(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
