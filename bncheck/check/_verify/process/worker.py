"""Run a target BN in a separate process, so that nothing it does can crash, hang or fool bncheck.

The parent (:class:`TargetProcess`) talks to a child process over a pipe. The child loads the
target, then answers calls one at a time. Only plain data crosses the pipe, in length-prefixed
frames (:mod:`bncheck.check._verify.process.frames`, :mod:`bncheck.check._verify.process.wire`):
NumPy arrays as raw bytes with dtype and shape, numbers, short strings, and lists, tuples and dicts
of those. The parent never unpickles, imports or evaluates anything the target produced; a value
that is not plain data (an instance of the target's own class) arrives as a marker naming its type.

A supervisor (:mod:`bncheck.check._verify.process.supervisor`) sits between the parent and the
child: it is the subreaper of everything the child starts, puts the child into a PID namespace
where the system allows it, and kills every process below it when the parent closes the
:class:`TargetProcess` or goes away (``kill -9`` included), so nothing the target started
outlives it. The child has resource limits (output file size, address space, CPU time, no core
files) and holds no descriptor of the parent's but the protocol's. What a target can do and what
the parent reports:

- raises (also ``SystemExit``)  -> :class:`TargetError` "forward raised ValueError: ..."
- hangs, or sends part of a reply -> killed: "forward did not return within 5 s"
- exits the process (os._exit)  -> "the target process exited (code 3) during forward"
- floods the output             -> "forward wrote 12.0 MB to stdout/stderr (limit 1.0 MB)"
- returns something else        -> "forward returned MyTensor; expected a NumPy array"
- returns too much              -> "forward returned 268.4 MB or more (limit 67.1 MB)"
- returns too many values       -> "forward returned more than 100000 values (limit 100000); ..."
- takes too long overall        -> "... the overall deadline of 300 s passed (--deadline)"
- mutates an input array        -> reported with the result, per argument name
- fails while being loaded      -> :class:`TargetLoadFailed` (a target failure, with traceback)
- cannot be loaded as asked     -> :class:`LoadError` (a usage error: no file, no protocol)
"""

from __future__ import annotations

import collections
import math
import os
import pickle
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bncheck.check._verify.process import frames, supervisor, wire
from bncheck.check._verify.process.child import ChildSetup, truncate
from bncheck.check._verify.process.compile_cache import problem as compile_cache_problem
from bncheck.check._verify.process.compile_cache import prune as compile_cache_prune
from bncheck.check._verify.process.compile_cache import resolve as compile_cache_folder
from bncheck.check._verify.process.limits import OutputCapture
from bncheck.exceptions import LoadError, TargetError, TargetImportFailed, TargetLoadFailed

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
#: how many times a target that did not answer a call in time is started afresh, at the next
#: ``new`` (where a check begins), when it had computed a forward or a backward before it hung:
#: a target that hangs on one input has its other checks run; one that hangs on every call is
#: not started again (it computed nothing), and none costs more than this many more timeouts
HANG_RESTARTS = 2
#: bytes of address space the target process may use (RLIMIT_AS)
DEFAULT_MEMORY_LIMIT = 4096 << 20
#: bytes one reply of the target may take
DEFAULT_RESULT_LIMIT = 64 << 20
#: a reply's frame may exceed the result limit by this much (the reply's own fields)
_REPLY_SLACK = 1 << 16


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
        return f"is {truncate(repr(value), 60)} ({_kind_name(value)})"
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
    item_limit : values (numbers, strings, arrays, containers) one reply may hold
    pid_namespace : run the target in a new PID namespace where the system allows it
    compile_cache : JAX's persistent compilation cache for the target process: True (the
        default folder, or ``$BNCHECK_COMPILE_CACHE``), False (off) or a folder
        (:mod:`bncheck.check._verify.process.compile_cache`); kept under its size limit here
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
        item_limit: int = wire.MAX_ITEMS,
        pid_namespace: bool = True,
        compile_cache: Any = True,
    ) -> None:
        _seconds("timeout", timeout)
        _seconds("load_timeout", load_timeout)
        _seconds("deadline", deadline, allow_none=True)
        _positive_int("memory_limit", memory_limit, allow_none=True)
        _positive_int("result_limit", result_limit)
        _positive_int("output_limit", output_limit)
        _positive_int("item_limit", item_limit)
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
        self.item_limit = item_limit
        self.pid_namespace = pid_namespace
        #: JAX's persistent compilation cache folder of the target process (None: off)
        folder = compile_cache_folder(compile_cache)
        if folder is not None and compile_cache_problem(folder):
            folder = None  # verify() refused a folder the user chose; a default one: off
        self.compile_cache = folder
        compile_cache_prune(self.compile_cache)
        #: how the target process is isolated, as its supervisor reported it
        self.isolation = ""
        self.description: dict[str, Any] = {}
        #: every (op, argument) whose array the target changed in place, over all calls
        self.mutations: list[tuple[str, str]] = []
        self.restarts = -1
        #: set after a call timed out: later calls fail at once instead of hanging again, but
        #: for a ``new`` (a check beginning) after a call that did not answer, which starts
        #: the target afresh up to HANG_RESTARTS times
        self.hung: str | None = None
        self.hang_restarts = 0
        self.hung_unanswered = False
        #: whether the target process answered a forward or a backward since it was started
        self.computed = False
        #: set once the overall deadline has passed: later calls fail at once
        self.expired: str | None = None
        #: the messages of the errors raised because the target did not answer in time (a call
        #: or the load past its timeout, the overall deadline, a call not run after those):
        #: no evidence of a defect, so verify reports the checks they stopped as not checked
        #: (results.unanswered_not_checked); a flood or a reply too slow to decode is not here
        self.unanswered: list[str] = []
        #: the (shape, dtype) of every input a forward was sent (a target that compiles a
        #: program per shape has one for each: the checks reuse them)
        self.shapes_run: set[tuple[tuple[int, ...], str]] = set()
        #: the parent's own work, done while it waits for the target's answers (the truths of
        #: the cases still to come): each job is a callable run once, in order; a job that
        #: raises is dropped (it was only a head start: the checks compute what they need)
        self.idle_jobs: collections.deque[Callable[[], Any]] = collections.deque()
        #: time.monotonic() of the first start; the overall deadline counts from here
        self.started_at: float | None = None
        self._conn: int | None = None
        self._drain: OutputCapture | None = None
        #: the supervisor's pid; the write end of its lifeline; the read end of its status
        self._supervisor: int | None = None
        self._lifeline: int | None = None
        self._status: int | None = None
        self._status_text = b""
        self._status_eof = False
        self._target_pid: int | None = None
        self._target_code: int | None = None
        self._seq = 0

    # -- lifecycle ---------------------------------------------------------------------------
    def _deadline_at(self) -> float:
        if self.deadline is None or self.started_at is None:
            return math.inf
        return self.started_at + self.deadline

    def _expire(self, what: str) -> TargetError:
        self.expired = f"the overall deadline of {self.deadline:g} s passed (--deadline)"
        return self._unanswered(f"{what}: {self.expired}")

    def _unanswered(self, message: str) -> TargetError:
        self.unanswered.append(message)
        return TargetError(message, fatal=True)

    def start(self) -> dict[str, Any]:
        """Start the child and load the target.

        Raises LoadError when bncheck cannot find or use the target (a usage error), and
        TargetLoadFailed when the target itself fails while loading (a target failure).
        """
        self.close()
        self.computed = False
        now = time.monotonic()
        if self.started_at is None:
            self.started_at = now
        if now >= self._deadline_at():
            raise self._expire("loading the target not started")
        self.restarts += 1
        cpu = None
        if self.deadline is not None:
            cpu = math.ceil(self.deadline * max(1, os.cpu_count() or 1)) + 60
        child = ChildSetup(
            output_fsize=4 * self.output_limit + (1 << 20),
            memory_limit=self.memory_limit,
            cpu_limit=cpu,
            result_limit=self.result_limit,
            compile_cache=self.compile_cache,
        )
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            self._launch(tuple(child))
        except BaseException:
            self.close()
            raise
        until = min(now + self.load_timeout, self._deadline_at())
        self._tell_call_end(until)
        try:
            msg = self._receive(until, self.result_limit + _REPLY_SLACK)
        except (frames.FrameTimeout, wire.TooSlow):
            self.close()
            if until < now + self.load_timeout:
                raise self._expire("loading the target did not finish") from None
            why = (
                f"loading the target did not finish within {self.load_timeout:g} s (--load-timeout)"
            )
            self.unanswered.append(why)
            raise TargetLoadFailed(why) from None
        except frames.FrameClosed:
            out = self._output_tail()
            what = _exit_text(self._exitcode())
            self.close()
            raise TargetLoadFailed(
                f"the target process {what} while loading the target"
                + (f"; it printed: {out}" if out else "")
            ) from None
        except wire.TooMany as exc:
            self.close()
            raise TargetLoadFailed(
                f"the target's description holds more than {exc.limit} values (limit "
                f"{exc.limit}); decoding stopped there"
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
            if msg[1] == "import":
                raise TargetImportFailed(msg[2], traceback=msg[3])
            raise TargetLoadFailed(msg[2], traceback=msg[3])
        if not (isinstance(msg, tuple) and len(msg) == 2 and msg[0] == "ready"):
            self.close()
            raise TargetLoadFailed("the target process sent an unexpected message while loading")
        if not isinstance(msg[1], dict) or wire.find_unsupported(msg[1]) is not None:
            self.close()
            raise TargetLoadFailed(
                f"the target's description is not plain data: {truncate(repr(msg[1]), 300)}"
            )
        self.description = msg[1]
        return self.description

    def _launch(self, child: tuple[Any, ...]) -> None:
        """Start a supervisor (:mod:`~bncheck.check._verify.process.supervisor`), which forks
        the target process; it gets the protocol's socket, the output file, the lifeline and
        the status pipe, and no other descriptor of this process."""
        forked = self.start_method == "fork"
        self._drain = OutputCapture()
        ours, theirs = socket.socketpair()
        self._conn = ours.detach()
        conn = theirs.detach()
        ctl_r, self._lifeline = os.pipe()
        self._status, st_w = os.pipe()
        os.set_blocking(self._status, False)
        self._status_text = b""
        self._target_pid = self._target_code = None
        self._status_eof = False
        setup: dict[str, Any] = {
            "child": child,
            "pid_namespace": self.pid_namespace,
            "sys_path": None if forked else list(sys.path),
        }
        try:
            if forked:
                setup["output"] = self._drain.fd
                self._supervisor = supervisor.fork_supervisor(setup, self.loader, ctl_r, st_w, conn)
            else:
                setup["loader"] = pickle.dumps(self.loader)
                setup["conn"] = conn
                popen = subprocess.Popen(
                    [sys.executable, supervisor.__file__],
                    stdin=ctl_r,
                    stdout=st_w,
                    stderr=self._drain.fd,
                    pass_fds=(conn,),
                    close_fds=True,
                    start_new_session=True,
                )
                popen.returncode = 0  # reaped by _reap_supervisor, not by Popen
                self._supervisor = popen.pid
        finally:
            for fd in (ctl_r, st_w, conn):
                os.close(fd)
        if not forked:
            try:
                data = supervisor.encode_setup(setup)
                view = memoryview(data)
                while view:
                    view = view[os.write(self._lifeline, view) :]
            except OSError:
                pass  # it died at once: reading the first frame says so
        os.set_blocking(self._lifeline, False)
        os.set_blocking(self._conn, False)

    def _tell_call_end(self, until: float) -> None:
        """Tell the supervisor when the current call must end (for its watchdog)."""
        if self._lifeline is None:
            return
        try:
            os.write(self._lifeline, supervisor.END.pack(until))
        except OSError:  # a full pipe (a stopped supervisor) or a gone one: nothing to tell
            pass

    def _read_status(self) -> None:
        """Take in what the supervisor reported: the target's pid, how it is isolated, and
        its exit code."""
        if self._status is None or self._status_eof:
            return
        while True:
            try:
                chunk = os.read(self._status, 4096)
            except BlockingIOError:
                break
            except OSError:
                chunk = b""
            if not chunk:
                self._status_eof = True
                break
            self._status_text += chunk
        *lines, self._status_text = self._status_text.split(b"\n")
        for raw in lines:
            word, _, rest = raw.decode("utf-8", "replace").partition(" ")
            if word == "started":
                pid, _, how = rest.partition(" ")
                self._target_pid, self.isolation = int(pid), how
            elif word == "exited":
                self._target_code = int(rest)

    def _output_tail(self) -> str:
        return self._drain.last_text() if self._drain is not None else ""

    def _alive(self) -> bool:
        self._read_status()
        return self._status is not None and self._target_code is None and not self._status_eof

    def _exitcode(self, wait: float = 2.0) -> int | None:
        """The target process's exit code, waiting up to ``wait`` s (None: still running, or
        its supervisor is gone)."""
        end = time.monotonic() + wait
        while self._alive() and self._status is not None:
            left = end - time.monotonic()
            if left <= 0:
                break
            frames.wait_fd(self._status, select.POLLIN, min(left, 0.1))
        return self._target_code

    @property
    def pid(self) -> int | None:
        """The target process's pid (as this process sees it), once its supervisor said."""
        self._read_status()
        return self._target_pid

    def _reap_supervisor(self, wait: float) -> bool:
        assert self._supervisor is not None
        end = time.monotonic() + wait
        pause = 0.0005
        while True:
            try:
                pid, _ = os.waitpid(self._supervisor, os.WNOHANG)
            except ChildProcessError:
                return True
            if pid != 0:
                return True
            if time.monotonic() >= end:
                return False
            time.sleep(pause)
            pause = min(2 * pause, 0.02)

    def close(self) -> None:
        """Kill the target process and everything it started: closing the lifeline makes the
        supervisor kill every process below it and exit."""
        if self._conn is not None:
            os.close(self._conn)
            self._conn = None
        if self._lifeline is not None:
            os.close(self._lifeline)
            self._lifeline = None
        if self._supervisor is not None:
            try:  # a stopped supervisor could not act on the lifeline
                os.kill(self._supervisor, signal.SIGCONT)
            except OSError:
                pass
            if not self._reap_supervisor(5.0):  # it was killed or stopped again: at least
                self._read_status()  # the target itself goes
                for pid in (self._target_pid, self._supervisor):
                    if pid is not None:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except OSError:
                            pass
                self._reap_supervisor(5.0)
            self._supervisor = None
        if self._status is not None:
            self._read_status()
            os.close(self._status)
            self._status = None
        if self._drain is not None:
            self._drain.remove()
            self._drain = None

    def __enter__(self) -> TargetProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls ------------------------------------------------------------------------------
    def _run_idle_job(self) -> bool:
        """Run the next idle job; False when there is none."""
        if not self.idle_jobs:
            return False
        job = self.idle_jobs.popleft()
        try:
            job()
        except Exception:  # a head start only: whoever needs the result computes it again
            pass
        return True

    def _receive(self, until: float, limit: int) -> Any:
        assert self._conn is not None
        idle = self._run_idle_job if self.idle_jobs else None
        data = frames.read_frame(self._conn, until, limit, alive=self._alive, idle=idle)
        msg = wire.decode(data, max_items=self.item_limit, until=until)
        self._tell_call_end(math.inf)  # no call running: the watchdog has nothing to do
        return msg

    def call(self, op: str, *args: Any, names: tuple[str, ...] = ()) -> tuple[Any, list[str]]:
        """Run ``adapter.op(*args)`` in the child; returns (result, names of mutated inputs).

        ``names`` labels the positional arguments for the mutation report. Raises TargetError
        for every misbehaviour of the target. Arguments must be plain data (see wire).
        """
        if self.hung is not None:
            if (
                op == "new"
                and self.hung_unanswered
                and self.computed
                and self.hang_restarts < HANG_RESTARTS
            ):
                self.hang_restarts += 1  # started afresh below: the next check runs
                self.hung = None
            else:
                raise self._unanswered(f"{op} not run: the target hung earlier ({self.hung})")
        if self.expired is not None:
            raise self._unanswered(f"{op} not run: {self.expired}")
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
        if op == "forward" and args and hasattr(args[0], "shape") and hasattr(args[0], "dtype"):
            self.shapes_run.add((tuple(args[0].shape), str(args[0].dtype)))
        # arrays keep their memory layout: the target gets exactly the layout under test
        payload = wire.encode(("call", seq, op, args, tuple(names)), strict=True, layouts=True)
        until = min(now + self.timeout, self._deadline_at())
        by_deadline = until < now + self.timeout
        before = self._drain.count()
        try:
            self._tell_call_end(until)
            frames.write_frame(self._conn, payload, until)
            msg = self._receive(until, self.result_limit + _REPLY_SLACK)
        except (frames.FrameTimeout, wire.TooSlow) as exc:
            flood = self._drain.count() - before
            self.close()
            if by_deadline:
                raise self._expire(f"{op} was still running") from None
            why = f"{op} did not return within {self.timeout:g} s (hang?)"
            late = not isinstance(exc, wire.TooSlow)
            if not late:
                why = f"{op}: decoding its reply took longer than the {self.timeout:g} s of a call"
            if flood > self.output_limit:
                why += f" while flooding stdout/stderr ({flood / 1e6:.1f} MB)"
                late = False
            self.hung, self.hung_unanswered = why, late
            if late:  # too slow or hung: no answer, not a wrong one
                raise self._unanswered(why) from None
            raise TargetError(why, fatal=True) from None
        except frames.FrameClosed:
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
        except wire.TooMany as exc:
            self.close()
            raise TargetError(
                f"{op} returned more than {exc.limit} values (limit {exc.limit}); decoding "
                "stopped there",
                fatal=True,
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
        result = self._read_reply(op, seq, msg)
        if op in ("forward", "backward"):
            self.computed = True
        return result

    def _read_reply(self, op: str, seq: int, msg: Any) -> tuple[Any, list[str]]:
        """The result of a call from the child's reply, and the names of the inputs it mutated
        (recorded in ``self.mutations``); raises TargetError for an error, a reply too large or
        malformed, or a result that is not what the adapter protocol promises."""
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
        self.mutations += [(op, truncate(name, 100)) for name in msg[-1]]
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
            raise TargetError(f"{op} {truncate(message)}{hint}{where}")
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
