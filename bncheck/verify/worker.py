"""Run a target BN in a separate process, so that nothing it does can crash or hang bncheck.

The parent (:class:`TargetProcess`) talks to a forked child over a pipe. The child loads the
target, then answers calls one at a time. Each call has a timeout; the child's stdout and stderr
go to a pipe that a parent thread drains, counting bytes and keeping the last few lines. What a
target can do and what the parent reports:

- raises (also ``SystemExit``)  -> :class:`TargetError` "forward raised ValueError: ..."
- hangs                         -> the child is killed: "forward did not return within 5 s"
- exits the process (os._exit)  -> "the target process exited (code 3) during forward"
- floods the output             -> "forward wrote 12.0 MB to stdout/stderr (limit 1.0 MB)"
- mutates an input array        -> reported with the result, per argument name
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import shutil
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

__all__ = ["LoadError", "TargetError", "TargetProcess"]


class TargetError(Exception):
    """The target failed a call: raised, hung, exited, flooded the output or returned junk.

    ``fatal`` is True when the process is gone or unusable (hang, exit, flood): searching
    further inputs would only repeat the timeout, so a check stops at the first such error.
    """

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


class LoadError(Exception):
    """The target cannot be loaded or lacks the protocol (a usage error, exit code 2)."""


def _snapshot(args: tuple[Any, ...], names: tuple[str, ...]) -> list[tuple[str, Any, Any]]:
    return [
        (n, a, a.copy()) for n, a in zip(names, args, strict=False) if isinstance(a, np.ndarray)
    ]


def _mutated(snap: list[tuple[str, Any, Any]]) -> list[str]:
    bad = []
    for name, arr, before in snap:
        same = arr.shape == before.shape and np.array_equal(arr, before, equal_nan=True)
        if not same:
            bad.append(name)
    return bad


def _serve(loader: Callable[[], Any], conn: Connection, out_path: str, fsize: int) -> None:
    """Child process main loop. Never returns: ends with os._exit.

    stdout and stderr (also of C code) go to ``out_path``, which the parent watches; the file
    may not grow past ``fsize`` bytes (RLIMIT_FSIZE), so a flooding target cannot fill a disk.
    """
    out_fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    os.close(out_fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit, writes fail with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    code = 0
    try:
        try:
            adapter = loader()
        except BaseException as exc:  # report anything, including SystemExit
            conn.send(("load_error", f"{type(exc).__name__}: {exc}"))
            os._exit(0)
        conn.send(("ready", adapter.describe()))
        while True:
            try:
                request = conn.recv()
            except EOFError:
                break
            op, args, names = request
            if op == "close":
                break
            snap = _snapshot(args, names)
            # arrays the adapter hands to the target itself (e.g. gamma, beta of a functional BN)
            watched: dict[str, Any] = getattr(adapter, "watched", dict)()
            snap += [(n, a, a.copy()) for n, a in watched.items() if isinstance(a, np.ndarray)]
            try:
                result = getattr(adapter, op)(*args)
                conn.send(("ok", result, _mutated(snap)))
            except BaseException as exc:
                tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
                detail = "".join(tb[-3:])[-2000:]
                if isinstance(exc, SystemExit):
                    message = f"called sys.exit({exc.code!r})"
                else:
                    message = f"raised {type(exc).__name__}: {exc}"
                try:
                    conn.send(("raised", message, detail, _mutated(snap)))
                except Exception:  # e.g. an unpicklable exception argument
                    conn.send(("raised", message[:500], "", []))
    except BaseException:
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


class _Output:
    """The child's stdout/stderr file: its size, and its last bytes as text."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="bncheck-verify-")
        self.path = os.path.join(self.dir, "output")

    def count(self) -> int:
        try:
            return os.stat(self.path).st_size
        except OSError:
            return 0

    def last_text(self, limit: int = 300) -> str:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(max(0, self.count() - limit))
                return fh.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


class TargetProcess:
    """A target loaded in a forked child process; :meth:`call` runs one adapter method there.

    After an exit (or a flood) the child is gone; the next :meth:`call` starts a new one, so
    later checks still run, and ``restarts`` counts how often that happened. After a hang, every
    later call fails at once with the hang's message instead of waiting out the timeout again.
    """

    def __init__(
        self,
        loader: Callable[[], Any],
        *,
        timeout: float = 10.0,
        output_limit: int = 1 << 20,
        load_timeout: float = 60.0,
        start_method: str = "spawn",
    ) -> None:
        self.loader = loader
        self.start_method = start_method
        self.timeout = timeout
        self.output_limit = output_limit
        self.load_timeout = load_timeout
        self.description: dict[str, Any] = {}
        #: every (op, argument) whose array the target changed in place, over all calls
        self.mutations: list[tuple[str, str]] = []
        self.restarts = -1
        #: set after a call timed out: later calls fail at once instead of hanging again
        self.hung: str | None = None
        self._proc: Any = None
        self._conn: Connection | None = None
        self._drain: _Output | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> dict[str, Any]:
        """Start the child and load the target; raises LoadError if it cannot be loaded."""
        self.close()
        self.restarts += 1
        ctx: Any = mp.get_context(self.start_method)
        parent_conn, child_conn = ctx.Pipe()
        self._drain = _Output()
        sys.stdout.flush()
        sys.stderr.flush()
        fsize = 4 * self.output_limit + (1 << 20)
        proc = ctx.Process(
            target=_serve, args=(self.loader, child_conn, self._drain.path, fsize), daemon=True
        )
        proc.start()
        child_conn.close()
        self._proc, self._conn = proc, parent_conn
        if not parent_conn.poll(self.load_timeout):
            self.close()
            raise LoadError(f"loading the target did not finish within {self.load_timeout:g} s")
        try:
            msg = parent_conn.recv()
        except EOFError:
            code = self._exitcode()
            out = self._drain.last_text() if self._drain else ""
            self.close()
            raise LoadError(
                f"the target process exited (code {code}) while loading the target"
                + (f"; it printed: {out}" if out else "")
            ) from None
        if msg[0] == "load_error":
            self.close()
            raise LoadError(msg[1])
        self.description = msg[1]
        return self.description

    def _exitcode(self) -> int | None:
        if self._proc is None:
            return None
        self._proc.join(timeout=2.0)
        code: int | None = self._proc.exitcode
        return code

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.send(("close", (), ()))
            except (OSError, ValueError):
                pass
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            self._proc.join(timeout=1.0)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(timeout=5.0)
            self._proc = None
        if self._drain is not None:
            self._drain.remove()
            self._drain = None

    def __enter__(self) -> TargetProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls ------------------------------------------------------------------------------
    def call(self, op: str, *args: Any, names: tuple[str, ...] = ()) -> tuple[Any, list[str]]:
        """Run ``adapter.op(*args)`` in the child; returns (result, names of mutated inputs).

        ``names`` labels the positional arguments for the mutation report. Raises TargetError
        for every misbehaviour of the target.
        """
        if self.hung is not None:
            raise TargetError(f"{op} not run: the target hung earlier ({self.hung})", fatal=True)
        if self._conn is None:
            self.start()
        assert self._conn is not None and self._drain is not None
        before = self._drain.count()
        try:
            self._conn.send((op, args, names))
        except (OSError, ValueError) as exc:
            self.close()
            raise TargetError(
                f"{op}: could not reach the target process ({exc})", fatal=True
            ) from None
        ready = self._conn.poll(self.timeout)
        flood = self._drain.count() - before
        if not ready:
            self.close()
            why = f"{op} did not return within {self.timeout:g} s (hang?)"
            if flood > self.output_limit:
                why += f" while flooding stdout/stderr ({flood / 1e6:.1f} MB)"
            self.hung = why
            raise TargetError(why, fatal=True)
        try:
            msg = self._conn.recv()
        except (EOFError, OSError):
            code = self._exitcode()
            out = self._drain.last_text()
            self.close()
            raise TargetError(
                f"the target process exited (code {code}) during {op}"
                + (f"; last output: {out!r}" if out else ""),
                fatal=True,
            ) from None
        flood = self._drain.count() - before
        if flood > self.output_limit:
            self.close()
            raise TargetError(
                f"{op} wrote {flood / 1e6:.1f} MB to stdout/stderr "
                f"(limit {self.output_limit / 1e6:.1f} MB)",
                fatal=True,
            )
        self.mutations += [(op, name) for name in msg[-1]]
        if msg[0] == "raised":
            files = [ln.strip() for ln in msg[2].splitlines() if ln.strip().startswith("File ")]
            where = f" [{files[-1]}]" if files else ""
            raise TargetError(f"{op} {msg[1]}{where}")
        return msg[1], msg[2]
