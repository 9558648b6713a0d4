"""The target process: it loads the target, then answers calls one at a time (:func:`serve`),
confined as :mod:`bncheck.check._verify.process.limits` describes. Its replies are plain data in
frames; the target's exceptions, exits and in-place changes of its inputs become messages.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import resource
import signal
import sys
import sysconfig
import traceback
from typing import Any, NamedTuple

import numpy as np

from bncheck.check._verify.process import compile_cache, frames, wire
from bncheck.check._verify.process.adapter import (
    COPIED_FROM,
    OPS,
    SYNC_OPS,
    read_as_arrays_notes,
)
from bncheck.check._verify.process.limits import set_limit
from bncheck.exceptions import LoadError, TargetImportFailed

#: characters of a target's exception message (and traceback text) that are kept
MESSAGE_LIMIT = 2000
_TRACEBACK_LIMIT = 8000


class ChildSetup(NamedTuple):
    """What the child needs besides its descriptors (pickled to a spawned child: plain)."""

    output_fsize: int
    memory_limit: int | None
    cpu_limit: int | None
    result_limit: int
    #: JAX's persistent compilation cache folder (None: off), see compile_cache
    compile_cache: str | None = None


def truncate(text: str, limit: int = MESSAGE_LIMIT) -> str:
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
    return truncate(text)


def _exc_message(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        try:
            code = truncate(repr(exc.code), 200)
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


#: the bncheck package (three levels up: bncheck/check/_verify/process/child.py)
_BNCHECK_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_STDLIB_DIRS = tuple({os.path.abspath(sysconfig.get_paths()[k]) for k in ("stdlib", "platstdlib")})


def _load_failure_kind(exc: BaseException) -> str:
    """'import' when the target could not be imported (TargetImportFailed: the user's
    environment); 'usage' when bncheck could not find or use the target (LoadError, no such
    module); 'target' when the target's own code failed (a frame of it is on the traceback,
    or its file does not parse)."""
    if isinstance(exc, TargetImportFailed):
        return "import"
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


def _snapshot(args: tuple[Any, ...], names: tuple[str, ...]) -> list[tuple[str, Any, Any]]:
    return [
        (n, a, a.copy()) for n, a in zip(names, args, strict=False) if isinstance(a, np.ndarray)
    ]


def changed_names(snap: list[tuple[str, Any, Any]]) -> list[str]:
    """The names of the watched arrays whose bits differ from their copy made before the call:
    another shape, another dtype, or any byte changed. Bits, not values: writing -0.0 over 0.0
    or another NaN over a NaN changes the caller's array as much as any other write, and
    comparing bytes (one copy and a ``memcmp``) costs a fraction of ``np.array_equal`` with
    ``equal_nan``, which verify's thousand calls a target paid for on every one."""
    bad = []
    for name, arr, before in snap:
        try:
            same = (
                arr.shape == before.shape
                and arr.dtype == before.dtype
                and arr.tobytes() == before.tobytes()
            )
        except Exception:  # an array that cannot be read any more
            same = False
        if not same:
            bad.append(name)
    return bad


#: how many of the latest forward and backward calls' outputs are watched for later changes
KEPT_OUTPUTS = 4
#: the outputs watched, by the position the adapter returns them in: y and dx, which a caller
#: holds as the call's own; not dgamma and dbeta, which many layers keep in a gradient buffer
#: of their parameter that the next backward refills or adds to by design (``param.grad``)
_OUTPUT_NAMES = {"forward": ("y",), "backward": ("dx",)}


def kept_outputs(op: str, result: Any) -> list[tuple[str, Any, Any]]:
    """The target's own arrays behind what a forward or a backward returned, each with the
    values returned, to be watched during the calls that follow: a target that hands out a
    buffer it reuses (a workspace kept per shape, "to save allocations") changes an output its
    caller still holds, which no check of a single call can see. Named "<name> returned by an
    earlier <op>". An output is found through :data:`~bncheck.check._verify.process.adapter.
    COPIED_FROM` (the adapters copy every array out of the target's memory); one the target
    cannot change again (a copy made by a framework, an immutable JAX array) is not watched."""
    names = _OUTPUT_NAMES.get(op)
    if names is None:
        return []
    items = result if isinstance(result, (tuple, list)) else (result,)
    kept = []
    for name, a in zip(names, items, strict=False):
        if not isinstance(a, np.ndarray) or not a.size:
            continue
        found = COPIED_FROM.get(id(a)) or COPIED_FROM.get(id(a.base))
        if found is None:
            continue
        copy, original = found
        kept.append((f"{name} returned by an earlier {op}", original, copy))
    return kept


def serve(loader: Any, conn: int, setup: ChildSetup) -> None:
    """Child process main loop. Never returns: ends with os._exit.

    The supervisor (:mod:`bncheck.check._verify.process.supervisor`) forked this process with
    stdout and stderr on the file the parent watches, stdin on /dev/null and ``conn``, the
    protocol's socket, as its only other descriptor. The file may not grow past
    ``output_fsize`` bytes (RLIMIT_FSIZE), so a flooding target cannot fill a disk. A spawned
    child gets the loader pickled, and unpickles it (which may import the target) only after
    the limits are in place.
    """
    me = os.getpid()
    code = 0
    try:
        fcntl.fcntl(1, fcntl.F_SETFL, fcntl.fcntl(1, fcntl.F_GETFL) | os.O_APPEND)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit, writes fail with EFBIG
        set_limit(resource.RLIMIT_FSIZE, setup.output_fsize)
        set_limit(resource.RLIMIT_CORE, 0)
        if setup.memory_limit is not None:
            set_limit(resource.RLIMIT_AS, setup.memory_limit)
        if setup.cpu_limit is not None:
            set_limit(resource.RLIMIT_CPU, setup.cpu_limit)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        fd = conn
        os.set_blocking(fd, True)

        def send(message: tuple[Any, ...], limit: int = 1 << 62) -> None:
            _guard(me)
            frames.write_frame_blocking(fd, wire.encode(message, limit=limit))

        compile_cache.use(setup.compile_cache)  # before the target can import JAX
        try:
            if isinstance(loader, bytes):
                loader = pickle.loads(loader)
            adapter = loader()
            description = adapter.describe()
        except BaseException as exc:  # report anything, including SystemExit
            text = truncate(
                exc.traceback
                if isinstance(exc, TargetImportFailed)
                else _frames(exc, 20) + _exc_message(exc),
                _TRACEBACK_LIMIT,
            )
            message = _exc_text(exc)  # bncheck's own LoadError needs no type name
            if not isinstance(exc, LoadError):
                message = f"{wire.type_name(exc)}: {message}"
            send(("load_failed", _load_failure_kind(exc), message, text))
            os._exit(0)
        send(("ready", description), setup.result_limit)
        earlier: list[list[tuple[str, Any, Any]]] = []  # the latest calls' outputs, watched
        while True:
            payload = frames.read_frame_blocking(fd, 1 << 40)
            _guard(me)
            if payload is None:
                break
            request = wire.decode(payload, max_items=None, layouts=True)  # from verify: trusted
            if request[0] == "close":
                break
            _, seq, op, args, names = request
            snap = _snapshot(args, names) + [item for kept in earlier for item in kept]
            COPIED_FROM.clear()
            # arrays the adapter hands to the target itself (e.g. gamma, beta of a functional BN)
            try:
                watched: dict[str, Any] = getattr(adapter, "watched", dict)()
                snap += [(n, a, a.copy()) for n, a in watched.items() if isinstance(a, np.ndarray)]
                if op not in OPS and op not in SYNC_OPS:  # the adapter protocol's calls only
                    raise AttributeError(f"{op!r} is not a call of the adapter protocol")
                result = getattr(adapter, op)(*args)
                if op == "contract" and isinstance(result, list):
                    result = [*result, *read_as_arrays_notes()]
            except BaseException as exc:
                _guard(me)
                detail = truncate(_frames(exc, 3)[-MESSAGE_LIMIT:])
                send(("raised", seq, _exc_message(exc), detail, changed_names(snap)))
                continue
            _guard(me)
            mutated = changed_names(snap)
            if mutated:  # an output reported once is not watched again
                earlier = [[k for k in kept if k[0] not in mutated] for kept in earlier]
            try:
                outputs = kept_outputs(op, result)
            except Exception:  # e.g. an array subclass whose copy fails: not watched
                outputs = []
            if outputs:
                earlier = [*earlier, outputs][-KEPT_OUTPUTS:]
            try:
                reply = wire.encode(("ok", seq, result, mutated), limit=setup.result_limit)
            except wire.TooLarge as exc:
                reply = wire.encode(("too_big", seq, exc.size, mutated))
            except Exception as exc:  # a value that defeats the encoder
                why = f"returned a value that cannot be sent ({_exc_message(exc)})"
                reply = wire.encode(("raised", seq, why, "", mutated))
            _guard(me)
            frames.write_frame_blocking(fd, reply)
    except BaseException:
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
