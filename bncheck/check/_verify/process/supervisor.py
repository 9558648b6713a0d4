"""The supervisor: a small process between verify and its target, so that nothing the target
starts outlives verify and the target cannot signal verify where the system allows it.

verify starts one supervisor per target process (:class:`~bncheck.check._verify.process.worker.
TargetProcess`): spawned as ``python supervisor.py`` with no descriptor of verify's but four
(``close_fds``), or forked from verify when the target cannot be pickled (then it closes every
other descriptor itself). Its descriptors:

- 0: the *lifeline*, a pipe whose only write end verify holds. A spawned supervisor first reads
  its setup from it (a length and a pickle of plain data written by verify, with the loader as
  bytes that only the target process unpickles); later verify writes the end of each call
  (8 bytes, ``time.monotonic``). End of file means verify has closed the target or is gone
  (also after ``kill -9``): the supervisor kills everything and exits.
- 1: the *status* pipe to verify: ``started <pid> <isolation>`` and ``exited <code>`` lines.
- 2: the target's stdout/stderr (a file verify watches); ``conn``: the protocol's socket.

The supervisor makes itself the subreaper of its descendants (``PR_SET_CHILD_SUBREAPER``), so a
process the target starts that leaves its session (``setsid``) and is orphaned comes back to
it, not to init. It tries to put the target into a new PID namespace (``CLONE_NEWPID``; without
privileges together with a new user namespace that maps only the user's own uid and gid): the
target is then pid 1 of its namespace, sees no process outside it (it cannot signal verify or
the supervisor), and when it dies the kernel kills everything in the namespace. Where that is
not allowed it says why in its ``started`` line, and a watchdog covers verify being stopped: once
a call's end has passed by :data:`GRACE` seconds while verify is stopped (``SIGSTOP`` from the
target), it kills the target's processes and continues verify, which then reports the timeout.

This module imports only the standard library: a spawned supervisor must stay single-threaded
(``unshare`` of a user namespace requires it) and start fast; the target process, forked from
it, imports bncheck.
"""

from __future__ import annotations

import ctypes
import errno
import os
import pickle
import select
import signal
import struct
import sys
import time
from typing import Any

#: seconds past a call's end before the watchdog continues a stopped verify process
GRACE = 1.0
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
END = struct.Struct(">d")
_LENGTH = struct.Struct(">Q")


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        return int(_libc().prctl(option, value, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _write_file(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode("ascii"))
    finally:
        os.close(fd)


def new_pid_namespace() -> tuple[bool, str]:
    """Make the next child of this process pid 1 of a new PID namespace.

    Returns (done, how): "pid namespace", "pid namespace (in a user namespace)", or why not.
    Must be called single-threaded.
    """
    if not sys.platform.startswith("linux"):
        return False, f"no PID namespaces on {sys.platform}"
    try:
        libc = _libc()
    except OSError as exc:
        return False, f"no libc ({exc})"
    if libc.unshare(_CLONE_NEWPID) == 0:
        return True, "pid namespace"
    first = ctypes.get_errno()
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWPID) != 0:
        second = ctypes.get_errno()
        return False, (
            f"unshare(CLONE_NEWPID) failed: {os.strerror(first)}; "
            f"with CLONE_NEWUSER: {os.strerror(second)}"
        )
    try:  # the same uid and gid inside, so that files behave as outside
        _write_file("/proc/self/setgroups", "deny")
        _write_file("/proc/self/uid_map", f"{uid} {uid} 1")
        _write_file("/proc/self/gid_map", f"{gid} {gid} 1")
    except OSError:
        pass  # unmapped ids show as "nobody" inside; the kernel still uses the real ones
    return True, "pid namespace (in a user namespace)"


def _stat(pid: str) -> tuple[int, str] | None:
    """(ppid, state) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rpartition(b")")[2].split()
    except OSError:
        return None
    return int(fields[1]), fields[0].decode("ascii", "replace")


def descendants(root: int) -> list[int]:
    """Live (not zombie) processes below ``root``, by one scan of /proc."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for name in entries:
        if name.isdigit():
            st = _stat(name)
            if st is not None and st[1] != "Z":
                children.setdefault(st[0], []).append(int(name))
    found: list[int] = []
    todo = [root]
    while todo:
        for pid in children.get(todo.pop(), ()):
            found.append(pid)
            todo.append(pid)
    return found


def _reap() -> tuple[list[tuple[int, int]], bool]:
    """Reap every child that has ended: ([(pid, status)], whether any child is left)."""
    done: list[tuple[int, int]] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return done, False
        except InterruptedError:
            continue
        if pid == 0:
            return done, True
        done.append((pid, status))


def kill_all(me: int, on_reaped: Any = None, target: int | None = None) -> None:
    """SIGKILL every descendant of this process and reap them, until none is left.

    As the subreaper, this process inherits what a killed descendant leaves orphaned, so the
    loop ends only when no process below it is alive and none is left to reap. ``target`` is
    killed first by its pid (also where /proc cannot be read).
    """
    if target is not None:
        try:
            os.kill(target, signal.SIGKILL)
        except OSError:
            pass
    while True:
        pids = descendants(me)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        reaped, left = _reap()
        if on_reaped is not None:
            for pid, status in reaped:
                on_reaped(pid, status)
        if not pids and not left:
            return
        time.sleep(0.001)


def _exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1


def _stopped(pid: int) -> bool:
    st = _stat(str(pid))
    return st is not None and st[1] in ("T", "t")


class _Status:
    def __init__(self, fd: int) -> None:
        self.fd: int | None = fd

    def say(self, line: str) -> None:
        if self.fd is None:
            return
        try:
            os.write(self.fd, (line + "\n").encode("utf-8", "replace"))
        except OSError:  # verify is gone: nobody to tell
            self.fd = None


def supervise(setup: dict[str, Any], loader: Any, conn: int) -> None:
    """The supervisor's life, on descriptors 0 (lifeline), 1 (status), 2 (output), ``conn``.
    Never returns."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # verify ends the run; it closes the lifeline
        me, verify_pid = os.getpid(), os.getppid()
        _prctl(_PR_SET_CHILD_SUBREAPER, 1)
        isolated, how = False, "no pid namespace: not asked for"
        if setup.get("pid_namespace", True):
            isolated, how = new_pid_namespace()
            if not isolated:
                how = f"no pid namespace: {how}"
        pid = os.fork()
        if pid == 0:
            _target(setup, loader, conn, me, isolated)
        os.close(conn)
        status = _Status(1)
        status.say(f"started {pid} {how}")
        _watch(status, pid, me, verify_pid, isolated)
    except BaseException:
        code = 1
        try:  # to the output file, which verify shows when the target "ended while loading"
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
        except BaseException:
            pass
    finally:
        os._exit(code)


def _watch(status: _Status, target: int, me: int, verify_pid: int, isolated: bool) -> None:
    """Until the lifeline ends: reap, report the target's exit, and (without a namespace)
    continue verify when it is stopped past a call's end. Then kill everything."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    os.set_blocking(0, False)
    poller = select.poll()
    poller.register(0, select.POLLIN)
    poller.register(wake_r, select.POLLIN)
    call_end = None
    pending = b""
    reported = False

    def reaped(pid: int, st: int) -> None:
        nonlocal reported
        if pid == target and not reported:
            reported = True
            status.say(f"exited {_exit_code(st)}")

    while True:
        timeout = -1 if isolated else 250
        try:
            poller.poll(timeout)
        except InterruptedError:
            pass
        try:
            while os.read(wake_r, 256):
                pass
        except OSError:
            pass
        gone = False
        try:
            while True:
                data = os.read(0, 4096)
                if not data:
                    gone = True
                    break
                pending += data
        except BlockingIOError:
            pass
        except OSError:
            gone = True
        while len(pending) >= END.size:
            call_end = END.unpack(pending[: END.size])[0]
            pending = pending[END.size :]
        for pid, st in _reap()[0]:
            reaped(pid, st)
        if gone:
            break
        if (
            not isolated
            and call_end is not None
            and time.monotonic() > call_end + GRACE
            and _stopped(verify_pid)
        ):
            kill_all(me, reaped, target)  # first: the target could stop verify again
            try:
                os.kill(verify_pid, signal.SIGCONT)
            except OSError:
                pass
            call_end = None
    kill_all(me, reaped, target)


def _target(setup: dict[str, Any], loader: Any, conn: int, supervisor: int, isolated: bool) -> None:
    """The target process, forked by the supervisor. Never returns."""
    try:
        os.dup2(2, 1)  # descriptor 1 was the status pipe: the target must not write to it
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)  # nor hold the lifeline
        os.close(devnull)
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGINT, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            os.setsid()
        except OSError:
            pass
        _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
        if not isolated and os.getppid() != supervisor:  # it died before the line above
            os._exit(1)
        if setup.get("sys_path") is not None:
            sys.path[:] = setup["sys_path"]
        from bncheck.check._verify.process.child import ChildSetup, serve

        serve(loader, conn, ChildSetup(*setup["child"]))
    except BaseException:
        try:  # stderr is the output file by now: verify shows it
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
        except BaseException:
            pass
    finally:
        os._exit(1)


def _read_exactly(fd: int, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def main() -> None:
    """A spawned supervisor: its setup comes over the lifeline (descriptor 0)."""
    try:
        size = _LENGTH.unpack(_read_exactly(0, _LENGTH.size))[0]
        setup = pickle.loads(_read_exactly(0, size))
    except (EOFError, OSError, pickle.UnpicklingError):
        os._exit(1)
    supervise(setup, setup.pop("loader"), setup["conn"])


def fork_supervisor(
    setup: dict[str, Any], loader: Any, lifeline: int, status: int, conn: int
) -> int:
    """Fork a supervisor from this (the verify) process, for a loader that cannot be pickled;
    its pid. The child keeps only the four descriptors it needs, at 0, 1, 2 (the output file,
    ``setup["output"]``) and 3."""
    output = setup["output"]
    pid = os.fork()
    if pid != 0:
        return pid
    try:
        import fcntl

        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (lifeline, status, output, conn)]
        for slot, fd in enumerate(high):
            os.dup2(fd, slot)
        os.closerange(4, _max_fd())
        os.setsid()
        supervise(setup, loader, 3)
    finally:
        os._exit(1)


def _max_fd() -> int:
    try:
        return max(1 << 16, min(os.sysconf("SC_OPEN_MAX"), 1 << 30))
    except (ValueError, OSError):
        return 1 << 16


def encode_setup(setup: dict[str, Any]) -> bytes:
    data = pickle.dumps(setup)
    return _LENGTH.pack(len(data)) + data


if __name__ == "__main__":
    try:
        main()
    except OSError as exc:  # pragma: no cover - nothing to report to
        os._exit(exc.errno or errno.EIO)
