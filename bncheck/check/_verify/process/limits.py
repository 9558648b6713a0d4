"""What confines the target process besides its supervisor
(:mod:`bncheck.check._verify.process.supervisor`): resource limits, and its output captured in an
unlinked temporary file."""

from __future__ import annotations

import os
import resource
import tempfile


def set_limit(which: int, value: int) -> None:
    try:
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))
    except (ValueError, OSError):
        pass


class OutputCapture:
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
