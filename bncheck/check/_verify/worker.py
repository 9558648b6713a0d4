"""Run a target BN in a separate process, so that nothing it does can crash, hang or fool bncheck.

The parent (:class:`TargetProcess`) talks to a child process over a pipe. The child loads the
target, then answers calls one at a time. Only plain data crosses the pipe, in length-prefixed
frames (:mod:`bncheck.check._verify.wire`): NumPy arrays as raw bytes with dtype and shape, numbers,
short strings, and lists, tuples and dicts of those. The parent never unpickles, imports or
evaluates anything the target produced; a value that is not plain data (an instance of the
target's own class) arrives as a marker naming its type.

The child runs in its own session (process group) with resource limits (output file size,
address space, CPU time, no core files); it dies with the verify process (``PR_SET_PDEATHSIG``
on Linux) and a watchdog in its group kills the whole group when the verify process goes away,
however it ends. Closing a :class:`TargetProcess` kills the whole group, so nothing the target
started outlives it (unless it left the group with ``setsid``). What a target can do and what
the parent reports:

- raises (also ``SystemExit``)  -> :class:`TargetError` "forward raised ValueError: ..."
- hangs, or sends part of a reply -> killed: "forward did not return within 5 s"
- exits the process (os._exit)  -> "the target process exited (code 3) during forward"
- floods the output             -> "forward wrote 12.0 MB to stdout/stderr (limit 1.0 MB)"
- returns something else        -> "forward returned MyTensor; expected a NumPy array"
- returns too much              -> "forward returned 268.4 MB or more (limit 67.1 MB)"
- takes too long overall        -> "... the overall deadline of 300 s passed (--deadline)"
- mutates an input array        -> reported with the result, per argument name
- fails while being loaded      -> :class:`TargetLoadFailed` (a target failure, with traceback)
- cannot be loaded as asked     -> :class:`LoadError` (a usage error: no file, no protocol)
"""

from __future__ import annotations

import ctypes
import fcntl
import math
import multiprocessing as mp
import os
import pickle
import resource
import signal
import sys
import sysconfig
import tempfile
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

import numpy as np

from bncheck.check._verify import wire
from bncheck.exceptions import LoadError, TargetError, TargetLoadFailed

__all__ = [
    "DEFAULT_DEADLINE",
    "DEFAULT_MEMORY_LIMIT",
    "DEFAULT_RESULT_LIMIT",
    "LoadError",
    "TargetError",
    "TargetLoadFailed",
    "TargetProcess",
]

#: seconds from the start of the first target process until every later call fails
DEFAULT_DEADLINE = 300.0
#: bytes of address space the target process may use (RLIMIT_AS)
DEFAULT_MEMORY_LIMIT = 4096 << 20
#: bytes one reply of the target may take
DEFAULT_RESULT_LIMIT = 64 << 20
#: characters of a target's exception message (and traceback text) that are kept
MESSAGE_LIMIT = 2000
_TRACEBACK_LIMIT = 8000
#: a reply's frame may exceed the result limit by this much (the reply's own fields)
_REPLY_SLACK = 1 << 16


# -- the child process ---------------------------------------------------------------------------


class _ChildSetup(NamedTuple):
    """What the child needs besides its descriptors (pickled to a spawned child: plain)."""

    parent_pid: int
    output_fsize: int
    memory_limit: int | None
    cpu_limit: int | None
    result_limit: int
    #: descriptors of the parent that a forked child inherited and must close
    close_fds: tuple[int, ...]


def _truncate(text: str, limit: int = MESSAGE_LIMIT) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} more characters]"


def _exc_text(exc: BaseException) -> str:
    """``str(exc)``, truncated; never fails (str of a target's exception runs its code)."""
    try:
        text = str(exc)
        if type(text) is not str:
            text = "<str() did not return a string>"
    except BaseException:
        text = "<str() of the exception failed>"
    return _truncate(text)


def _exc_message(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        try:
            code = _truncate(repr(exc.code), 200)
        except BaseException:
            code = "?"
        return f"called sys.exit({code})"
    text = _exc_text(exc)
    return f"raised {wire.type_name(exc)}" + (f": {text}" if text else "")


def _frames(exc: BaseException, last: int) -> str:
    try:
        return "".join(traceback.format_tb(exc.__traceback__)[-last:])
    except BaseException:
        return ""


_BNCHECK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_STDLIB_DIRS = tuple({os.path.abspath(sysconfig.get_paths()[k]) for k in ("stdlib", "platstdlib")})


def _load_failure_kind(exc: BaseException) -> str:
    """'usage' when bncheck could not find or use the target (LoadError, no such module);
    'target' when the target's own code failed (a frame of it is on the traceback, or its
    file does not parse)."""
    if isinstance(exc, LoadError):
        return "usage"
    if isinstance(exc, SyntaxError):
        return "target"
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        path = os.path.abspath(name)
        if not (
            name.startswith("<")
            or path.startswith(_BNCHECK_DIR + os.sep)
            or any(path.startswith(d + os.sep) for d in _STDLIB_DIRS)
        ):
            return "target"
        tb = tb.tb_next
    return "usage"


def _guard(pid: int) -> None:
    """A copy of the child forked by the target must never answer: it exits at once."""
    if os.getpid() != pid:
        os._exit(0)


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


def _snapshot(args: tuple[Any, ...], names: tuple[str, ...]) -> list[tuple[str, Any, Any]]:
    return [
        (n, a, a.copy()) for n, a in zip(names, args, strict=False) if isinstance(a, np.ndarray)
    ]


def _mutated(snap: list[tuple[str, Any, Any]]) -> list[str]:
    bad = []
    for name, arr, before in snap:
        try:
            same = arr.shape == before.shape and np.array_equal(arr, before, equal_nan=True)
        except Exception:  # e.g. the target changed the dtype
            same = False
        if not same:
            bad.append(name)
    return bad


def _serve(
    loader: Any, conn: Connection, out: Connection, lifeline: Connection, setup: _ChildSetup
) -> None:
    """Child process main loop. Never returns: ends with os._exit.

    stdout and stderr (also of C code) go to the file ``out``, which the parent watches; the
    file may not grow past ``output_fsize`` bytes (RLIMIT_FSIZE), so a flooding target cannot
    fill a disk. A spawned child gets the loader pickled, and unpickles it (which may import
    the target) only after the isolation and limits are in place.
    """
    me = os.getpid()
    code = 0
    try:
        for fd in setup.close_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        _isolate(setup.parent_pid)
        _start_watchdog(lifeline.fileno())
        lifeline.close()
        out_fd = out.fileno()
        fcntl.fcntl(out_fd, fcntl.F_SETFL, fcntl.fcntl(out_fd, fcntl.F_GETFL) | os.O_APPEND)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        out.close()
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit, writes fail with EFBIG
        _limit(resource.RLIMIT_FSIZE, setup.output_fsize)
        _limit(resource.RLIMIT_CORE, 0)
        if setup.memory_limit is not None:
            _limit(resource.RLIMIT_AS, setup.memory_limit)
        if setup.cpu_limit is not None:
            _limit(resource.RLIMIT_CPU, setup.cpu_limit)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        fd = conn.fileno()
        os.set_blocking(fd, True)

        def send(message: tuple[Any, ...], limit: int = 1 << 62) -> None:
            _guard(me)
            wire.write_frame_blocking(fd, wire.encode(message, limit=limit))

        try:
            if isinstance(loader, bytes):
                loader = pickle.loads(loader)
            adapter = loader()
            description = adapter.describe()
        except BaseException as exc:  # report anything, including SystemExit
            text = _truncate(_frames(exc, 20) + _exc_message(exc), _TRACEBACK_LIMIT)
            message = f"{wire.type_name(exc)}: {_exc_text(exc)}"
            send(("load_failed", _load_failure_kind(exc), message, text))
            os._exit(0)
        send(("ready", description), setup.result_limit)
        while True:
            payload = wire.read_frame_blocking(fd, 1 << 40)
            _guard(me)
            if payload is None:
                break
            request = wire.decode(payload)
            if request[0] == "close":
                break
            _, seq, op, args, names = request
            snap = _snapshot(args, names)
            # arrays the adapter hands to the target itself (e.g. gamma, beta of a functional BN)
            try:
                watched: dict[str, Any] = getattr(adapter, "watched", dict)()
                snap += [(n, a, a.copy()) for n, a in watched.items() if isinstance(a, np.ndarray)]
                result = getattr(adapter, op)(*args)
            except BaseException as exc:
                _guard(me)
                detail = _truncate(_frames(exc, 3)[-MESSAGE_LIMIT:])
                send(("raised", seq, _exc_message(exc), detail, _mutated(snap)))
                continue
            _guard(me)
            mutated = _mutated(snap)
            try:
                reply = wire.encode(("ok", seq, result, mutated), limit=setup.result_limit)
            except wire.TooLarge as exc:
                reply = wire.encode(("too_big", seq, exc.size, mutated))
            except Exception as exc:  # a value that defeats the encoder
                why = f"returned a value that cannot be sent ({_exc_message(exc)})"
                reply = wire.encode(("raised", seq, why, "", mutated))
            _guard(me)
            wire.write_frame_blocking(fd, reply)
    except BaseException:
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


# -- the parent ------------------------------------------------------------------------------------


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


def _seconds(name: str, value: float | None, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name}={value!r}; expected a finite number of seconds > 0")


def _positive_int(name: str, value: int | None, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}={value!r}; expected a whole number of bytes > 0")


def _exit_text(code: int | None) -> str:
    if code is None:
        return "ended"
    if code < 0:
        try:
            return f"exited (code {code}, {signal.Signals(-code).name})"
        except ValueError:
            pass
    return f"exited (code {code})"


#: what each adapter method must return, for the messages about wrong results
_EXPECTED = {
    "forward": "a NumPy array",
    "backward": "(dx, dgamma, dbeta), NumPy arrays",
    "new": "a dict of NumPy arrays and numbers",
    "state": "a dict of NumPy arrays and numbers",
}
_PLAIN = "plain data (NumPy arrays, numbers, strings, lists, tuples, dicts)"


def _where(op: str, path: tuple[Any, ...]) -> str:
    parts = []
    for i, step in enumerate(path):
        if i == 0 and op == "backward" and isinstance(step, int) and 0 <= step < 3:
            parts.append(("dx", "dgamma", "dbeta")[step])
        else:
            parts.append(str(step) if isinstance(step, str) else f"[{step!r}]")
    return f" as {'.'.join(parts)}" if parts else ""


def _kind_name(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"ndarray of shape {value.shape}"
    return type(value).__name__


def _number_problem(value: Any, positive: bool) -> str | None:
    """Why ``value`` is not a (positive) finite real number, or None when it is one."""
    if value is None:
        return None
    arr = value if isinstance(value, np.ndarray) else None
    if arr is None and isinstance(value, (np.integer, np.floating)):
        arr = np.asarray(value)
    number: float | None = None
    if arr is not None:
        if arr.ndim == 0 and arr.dtype.kind in "iuf":
            number = float(arr)
    elif type(value) in (int, float):
        number = float(value)
    if number is None or not math.isfinite(number) or (positive and number <= 0):
        return f"is {_truncate(repr(value), 60)} ({_kind_name(value)})"
    return None


def _check_result(op: str, result: Any) -> None:
    """Raise TargetError when a decoded result is not what the adapter protocol promises."""
    found = wire.find_unsupported(result)
    if found is not None:
        path, name = found
        expected = _EXPECTED.get(op, _PLAIN)
        raise TargetError(f"{op} returned {name}{_where(op, path)}; expected {expected}")
    if op == "backward" and not (isinstance(result, (tuple, list)) and len(result) == 3):
        raise TargetError(f"backward returned {_kind_name(result)}; expected (dx, dgamma, dbeta)")
    if op in ("new", "state") and result is not None:
        if not isinstance(result, dict):
            raise TargetError(f"{op} returned {_kind_name(result)}; expected {_EXPECTED[op]}")
        for key, positive in (("eps", True), ("momentum", False)):
            problem = _number_problem(result.get(key), positive)
            if problem is not None:
                want = "a positive finite number" if positive else "a finite number or None"
                raise TargetError(f"the target's {key} {problem}; expected {want}")


class TargetProcess:
    """A target loaded in a child process; :meth:`call` runs one adapter method there.

    After an exit (or a flood) the child is gone; the next :meth:`call` starts a new one, so
    later checks still run, and ``restarts`` counts how often that happened. After a hang, or
    once the overall ``deadline`` has passed, every later call fails at once instead of
    waiting out the timeout again.

    Parameters
    ----------
    loader : builds the adapter, called in the child (pickled for "spawn")
    timeout : seconds one call may take
    output_limit : bytes the target may write to stdout/stderr in one call
    load_timeout : seconds loading the target may take
    start_method : "spawn" or "fork"
    deadline : seconds from the first :meth:`start` after which every call fails (None: none)
    memory_limit : bytes of address space of the target process (RLIMIT_AS; None: no limit)
    result_limit : bytes one reply of the target may take
    """

    def __init__(
        self,
        loader: Callable[[], Any],
        *,
        timeout: float = 10.0,
        output_limit: int = 1 << 20,
        load_timeout: float = 60.0,
        start_method: str = "spawn",
        deadline: float | None = DEFAULT_DEADLINE,
        memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
        result_limit: int = DEFAULT_RESULT_LIMIT,
    ) -> None:
        _seconds("timeout", timeout)
        _seconds("load_timeout", load_timeout)
        _seconds("deadline", deadline, allow_none=True)
        _positive_int("memory_limit", memory_limit, allow_none=True)
        _positive_int("result_limit", result_limit)
        _positive_int("output_limit", output_limit)
        if start_method not in ("spawn", "fork"):
            raise ValueError(f"start_method={start_method!r}; expected 'spawn' or 'fork'")
        self.loader = loader
        self.start_method = start_method
        self.timeout = float(timeout)
        self.output_limit = output_limit
        self.load_timeout = float(load_timeout)
        self.deadline = None if deadline is None else float(deadline)
        self.memory_limit = memory_limit
        self.result_limit = result_limit
        self.description: dict[str, Any] = {}
        #: every (op, argument) whose array the target changed in place, over all calls
        self.mutations: list[tuple[str, str]] = []
        self.restarts = -1
        #: set after a call timed out: later calls fail at once instead of hanging again
        self.hung: str | None = None
        #: set once the overall deadline has passed: later calls fail at once
        self.expired: str | None = None
        #: time.monotonic() of the first start; the overall deadline counts from here
        self.started_at: float | None = None
        self._proc: Any = None
        self._conn: Connection | None = None
        self._drain: _Output | None = None
        self._lifeline: int | None = None
        self._seq = 0

    # -- lifecycle ---------------------------------------------------------------------------
    def _deadline_at(self) -> float:
        if self.deadline is None or self.started_at is None:
            return math.inf
        return self.started_at + self.deadline

    def _expire(self, what: str) -> TargetError:
        self.expired = f"the overall deadline of {self.deadline:g} s passed (--deadline)"
        return TargetError(f"{what}: {self.expired}", fatal=True)

    def start(self) -> dict[str, Any]:
        """Start the child and load the target.

        Raises LoadError when bncheck cannot find or use the target (a usage error), and
        TargetLoadFailed when the target itself fails while loading (a target failure).
        """
        self.close()
        now = time.monotonic()
        if self.started_at is None:
            self.started_at = now
        if now >= self._deadline_at():
            raise self._expire("loading the target not started")
        forked = self.start_method == "fork"
        loader = self.loader if forked else pickle.dumps(self.loader)
        self.restarts += 1
        ctx: Any = mp.get_context(self.start_method)
        parent_conn, child_conn = ctx.Pipe()
        drain = _Output()
        assert drain.fd is not None
        life_r, life_w = os.pipe()
        out_conn = Connection(os.dup(drain.fd))
        life_conn = Connection(life_r, writable=False)
        cpu = None
        if self.deadline is not None:
            cpu = math.ceil(self.deadline * max(1, os.cpu_count() or 1)) + 60
        setup = _ChildSetup(
            parent_pid=os.getpid(),
            output_fsize=4 * self.output_limit + (1 << 20),
            memory_limit=self.memory_limit,
            cpu_limit=cpu,
            result_limit=self.result_limit,
            close_fds=(parent_conn.fileno(), life_w, drain.fd) if forked else (),
        )
        proc = ctx.Process(
            target=_serve, args=(loader, child_conn, out_conn, life_conn, setup), daemon=True
        )
        sys.stdout.flush()
        sys.stderr.flush()
        self._proc, self._conn, self._drain, self._lifeline = proc, parent_conn, drain, life_w
        try:
            proc.start()
        except BaseException:
            self._proc = None
            self.close()
            raise
        finally:
            child_conn.close()
            out_conn.close()
            life_conn.close()
        os.set_blocking(parent_conn.fileno(), False)
        until = min(now + self.load_timeout, self._deadline_at())
        try:
            msg = self._receive(until, self.result_limit + _REPLY_SLACK)
        except wire.FrameTimeout:
            self.close()
            if until < now + self.load_timeout:
                raise self._expire("loading the target did not finish") from None
            raise TargetLoadFailed(
                f"loading the target did not finish within {self.load_timeout:g} s"
            ) from None
        except wire.FrameClosed:
            out = self._output_tail()
            what = _exit_text(self._exitcode())
            self.close()
            raise TargetLoadFailed(
                f"the target process {what} while loading the target"
                + (f"; it printed: {out}" if out else "")
            ) from None
        except wire.WireError as exc:
            self.close()
            raise TargetLoadFailed(f"the target process sent malformed data ({exc})") from None
        if (
            isinstance(msg, tuple)
            and len(msg) == 4
            and msg[0] == "load_failed"
            and all(isinstance(m, str) for m in msg[1:])
        ):
            self.close()
            if msg[1] == "usage":
                raise LoadError(msg[2])
            raise TargetLoadFailed(msg[2], traceback=msg[3])
        if not (isinstance(msg, tuple) and len(msg) == 2 and msg[0] == "ready"):
            self.close()
            raise TargetLoadFailed("the target process sent an unexpected message while loading")
        if not isinstance(msg[1], dict) or wire.find_unsupported(msg[1]) is not None:
            self.close()
            raise TargetLoadFailed(
                f"the target's description is not plain data: {_truncate(repr(msg[1]), 300)}"
            )
        self.description = msg[1]
        return self.description

    def _output_tail(self) -> str:
        return self._drain.last_text() if self._drain is not None else ""

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.exitcode is None

    def _exitcode(self, wait: float = 2.0) -> int | None:
        """The child's exit code, waiting up to ``wait`` s (None: still running).

        Polls rather than Process.join: a grandchild holding the child's sentinel pipe would
        make join wait out its whole timeout.
        """
        if self._proc is None:
            return None
        end = time.monotonic() + wait
        while True:
            code: int | None = self._proc.exitcode
            if code is not None or time.monotonic() >= end:
                return code
            time.sleep(0.01)

    def close(self) -> None:
        """Kill the target process and everything it started (its whole process group)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            pid = self._proc.pid
            if pid is not None:
                try:  # before the child is reaped: its pid is still its group's id
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
                try:
                    self._proc.kill()
                except (OSError, AttributeError, ValueError):
                    pass
                if self._exitcode(wait=5.0) is not None:
                    self._proc.close()  # releases its sentinel descriptor now
            self._proc = None
        if self._lifeline is not None:
            os.close(self._lifeline)
            self._lifeline = None
        if self._drain is not None:
            self._drain.remove()
            self._drain = None

    def __enter__(self) -> TargetProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls ------------------------------------------------------------------------------
    def _receive(self, until: float, limit: int) -> Any:
        assert self._conn is not None
        data = wire.read_frame(self._conn.fileno(), until, limit, alive=self._alive)
        return wire.decode(data)

    def call(self, op: str, *args: Any, names: tuple[str, ...] = ()) -> tuple[Any, list[str]]:
        """Run ``adapter.op(*args)`` in the child; returns (result, names of mutated inputs).

        ``names`` labels the positional arguments for the mutation report. Raises TargetError
        for every misbehaviour of the target. Arguments must be plain data (see wire).
        """
        if self.hung is not None:
            raise TargetError(f"{op} not run: the target hung earlier ({self.hung})", fatal=True)
        if self.expired is not None:
            raise TargetError(f"{op} not run: {self.expired}", fatal=True)
        if self._conn is None:
            try:
                self.start()
            except TargetError:
                raise
            except LoadError as exc:  # loaded before, so not a usage error now
                raise TargetError(
                    f"{op}: restarting the target failed: {exc}", fatal=True
                ) from None
        assert self._conn is not None and self._drain is not None
        now = time.monotonic()
        if now >= self._deadline_at():
            self.close()
            raise self._expire(f"{op} not run")
        self._seq += 1
        seq = self._seq
        payload = wire.encode(("call", seq, op, args, tuple(names)), strict=True)
        until = min(now + self.timeout, self._deadline_at())
        by_deadline = until < now + self.timeout
        before = self._drain.count()
        try:
            wire.write_frame(self._conn.fileno(), payload, until)
            msg = self._receive(until, self.result_limit + _REPLY_SLACK)
        except wire.FrameTimeout:
            flood = self._drain.count() - before
            self.close()
            if by_deadline:
                raise self._expire(f"{op} was still running") from None
            why = f"{op} did not return within {self.timeout:g} s (hang?)"
            if flood > self.output_limit:
                why += f" while flooding stdout/stderr ({flood / 1e6:.1f} MB)"
            self.hung = why
            raise TargetError(why, fatal=True) from None
        except wire.FrameClosed:
            out = self._output_tail()
            code = self._exitcode()
            self.close()
            what = (
                f"the target process {_exit_text(code)} during {op}"
                if code is not None
                else f"the target process closed its end of the pipe during {op}"
            )
            if code is not None and code < 0 and self.memory_limit is not None:
                what += f" (out of memory? its limit is {self.memory_limit >> 20} MB)"
            raise TargetError(
                what + (f"; last output: {out!r}" if out else ""), fatal=True
            ) from None
        except wire.TooLarge as exc:
            self.close()
            raise TargetError(
                f"{op}: the target process sent {exc.size / 1e6:.1f} MB "
                f"(limit {self.result_limit / 1e6:.1f} MB)",
                fatal=True,
            ) from None
        except wire.WireError as exc:
            self.close()
            raise TargetError(
                f"{op}: the target process sent malformed data ({exc})", fatal=True
            ) from None
        flood = self._drain.count() - before
        if flood > self.output_limit:
            self.close()
            raise TargetError(
                f"{op} wrote {flood / 1e6:.1f} MB to stdout/stderr "
                f"(limit {self.output_limit / 1e6:.1f} MB)",
                fatal=True,
            )
        return self._reply(op, seq, msg)

    def _reply(self, op: str, seq: int, msg: Any) -> tuple[Any, list[str]]:
        shapes = {"ok": 4, "raised": 5, "too_big": 4}
        if not (
            isinstance(msg, tuple)
            and len(msg) >= 2
            and shapes.get(msg[0]) == len(msg)
            and isinstance(msg[-1], list)
            and all(isinstance(n, str) for n in msg[-1])
        ):
            self.close()
            raise TargetError(f"{op}: the target process sent an unexpected reply", fatal=True)
        if msg[1] != seq:
            self.close()
            raise TargetError(
                f"{op}: the target process answered out of step (a forked copy of it?)",
                fatal=True,
            )
        self.mutations += [(op, _truncate(name, 100)) for name in msg[-1]]
        if msg[0] == "raised":
            message, detail = msg[2], msg[3]
            if not (isinstance(message, str) and isinstance(detail, str)):
                self.close()
                raise TargetError(f"{op}: the target process sent an unexpected reply", fatal=True)
            files = [ln.strip() for ln in detail.splitlines() if ln.strip().startswith("File ")]
            where = f" [{files[-1]}]" if files else ""
            hint = ""
            if message.startswith("raised MemoryError") and self.memory_limit is not None:
                hint = f" (the target process may use {self.memory_limit >> 20} MB: --memory-limit)"
            raise TargetError(f"{op} {_truncate(message)}{hint}{where}")
        if msg[0] == "too_big":
            size = msg[2] if isinstance(msg[2], int) else self.result_limit
            self.close()
            raise TargetError(
                f"{op} returned {size / 1e6:.1f} MB or more "
                f"(limit {self.result_limit / 1e6:.1f} MB)",
                fatal=True,
            )
        result = msg[2]
        _check_result(op, result)
        return result, list(msg[-1])
