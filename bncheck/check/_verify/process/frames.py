"""Length-prefixed frames between verify and its target process.

A frame is ``MAGIC`` + an 8-byte big-endian payload length + the payload (a message encoded by
:mod:`bncheck.check._verify.process.wire`). The reader (:func:`read_frame`) checks the magic and the
length against a cap before it allocates anything, and the whole frame, not only its first
byte, must arrive before a deadline.
"""

from __future__ import annotations

import math
import os
import select
import struct
import time
from collections.abc import Callable

from bncheck.check._verify.process.wire import TooLarge, WireError

__all__ = [
    "MAGIC",
    "FrameClosed",
    "FrameTimeout",
    "read_frame",
    "read_frame_blocking",
    "write_frame",
    "write_frame_blocking",
]

MAGIC = b"BNW1"
_HEADER = struct.Struct(">4sQ")


class FrameTimeout(WireError):
    """The whole frame did not arrive before the deadline."""


class FrameClosed(WireError):
    """The other end closed the pipe (or its process is gone) before a whole frame arrived."""


def _header(payload: bytes) -> bytes:
    return _HEADER.pack(MAGIC, len(payload))


def write_frame_blocking(fd: int, payload: bytes) -> None:
    """Write a whole frame to a blocking descriptor (the target process's side)."""
    data = memoryview(_header(payload) + payload)
    while data:
        n = os.write(fd, data)
        data = data[n:]


def read_frame_blocking(fd: int, limit: int) -> bytes | None:
    """Read one frame from a blocking descriptor; None at end of file before a frame starts."""
    head = _read_exactly(fd, _HEADER.size, allow_eof=True)
    if head is None:
        return None
    magic, size = _HEADER.unpack(head)
    if magic != MAGIC or size > limit:
        raise WireError(f"bad frame header {head!r}")
    body = _read_exactly(fd, size, allow_eof=False)
    assert body is not None
    return body


def _read_exactly(fd: int, n: int, *, allow_eof: bool) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, min(n - len(buf), 1 << 20))
        if not chunk:
            if allow_eof and not buf:
                return None
            raise FrameClosed("end of file inside a frame")
        buf += chunk
    return bytes(buf)


#: how often a reader waiting for data also asks whether the other process is still alive
_POLL_SLICE = 0.1


def wait_fd(fd: int, event: int, seconds: float) -> bool:
    """Whether ``fd`` is ready for ``event`` (or hung up) within ``seconds`` (poll, not
    select: descriptors above FD_SETSIZE work too)."""
    poller = select.poll()
    poller.register(fd, event)
    return bool(poller.poll(max(0, math.ceil(seconds * 1000))))


def write_frame(fd: int, payload: bytes, deadline: float) -> None:
    """Write a whole frame to a non-blocking descriptor before ``deadline`` (time.monotonic).

    Raises :class:`FrameTimeout` or :class:`FrameClosed`.
    """
    data = memoryview(_header(payload) + payload)
    while data:
        left = deadline - time.monotonic()
        if left <= 0:
            raise FrameTimeout("the other end did not read")
        if not wait_fd(fd, select.POLLOUT, min(left, 1.0)):
            continue
        try:
            n = os.write(fd, data)
        except BlockingIOError:
            continue
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise FrameClosed(str(exc)) from None
        data = data[n:]


#: a reader runs an ``idle`` job only while more than this many seconds are left before its
#: deadline (a job takes a fraction of that: a truth of at most 2^18 values)
IDLE_MARGIN = 1.0


def read_frame(
    fd: int,
    deadline: float,
    limit: int,
    alive: Callable[[], bool] | None = None,
    idle: Callable[[], bool] | None = None,
) -> memoryview:
    """Read one whole frame from a non-blocking descriptor before ``deadline``; its payload
    as a read-only view of the one buffer it was read into.

    ``limit`` caps the payload length, checked on the header before anything is allocated.
    ``alive`` is asked every 0.1 s while no data comes: when it returns False (the writer's
    process has ended, while a child of it may still hold the pipe open) what has arrived is
    read and, if the frame is still incomplete, :class:`FrameClosed` is raised. ``idle``, when
    given, is called while no data is ready and more than :data:`IDLE_MARGIN` seconds are left:
    it does one short piece of the reader's own work (the truth of a case still to come) and
    returns whether it did any; once it returns False the reader waits as without it.
    Raises :class:`FrameTimeout`, :class:`FrameClosed` or :class:`WireError`.
    """
    # the header into its own 12 bytes, then the payload into one buffer of exactly its
    # length: no growth, no copy at the end (a grown buffer and its copies cost the reader up
    # to several times the frame in memory, depending on how the reads were cut)
    buf = bytearray(_HEADER.size)
    view = memoryview(buf)
    got = 0
    header_done = False
    gone = False
    while True:
        if got == len(buf):
            if header_done:
                return view.toreadonly()
            magic, size = _HEADER.unpack(bytes(buf))
            if magic != MAGIC:
                raise WireError(f"bad frame header {bytes(buf)!r}")
            if size > limit:
                raise TooLarge(size, limit)
            header_done = True
            buf, got = bytearray(size), 0
            view = memoryview(buf)
            continue
        arrived = got + (_HEADER.size if header_done else 0)
        need = (_HEADER.size + len(buf)) if header_done else _HEADER.size
        left = deadline - time.monotonic()
        if left <= 0:
            raise FrameTimeout(f"{arrived} of {need} bytes arrived")
        if idle is not None and not gone and left > IDLE_MARGIN:
            if not wait_fd(fd, select.POLLIN, 0):
                if not idle():
                    idle = None  # no work left: wait as without it
                continue
        if not wait_fd(fd, select.POLLIN, 0 if gone else min(left, _POLL_SLICE)):
            if gone:
                raise _closed("the process ended", deadline, arrived, need)
            if alive is not None and not alive():
                gone = True
            continue
        try:
            n = os.readv(fd, [view[got : min(len(buf), got + (1 << 22))]])
        except BlockingIOError:
            continue
        except OSError as exc:
            raise _closed(str(exc), deadline, arrived, need) from None
        if not n:
            raise _closed("end of file", deadline, arrived, need)
        got += n


def _closed(why: str, deadline: float, got: int, need: int) -> WireError:
    """FrameClosed, or FrameTimeout when the deadline had passed first (the reader was held
    up, say stopped, while the writer was killed at the deadline)."""
    if time.monotonic() > deadline:
        return FrameTimeout(f"{got} of {need} bytes arrived")
    return FrameClosed(why)
