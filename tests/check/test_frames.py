"""The frame reader's own decisions (``bncheck.check._verify.process.frames``), on real pipes:
the magic, the payload limit exactly at and one past its value (checked on the header, before
the body is waited for), a frame cut short, the deadline, and a writer that is gone.

A frame is written by hand from its documented layout: ``MAGIC``, an 8-byte big-endian
length, the payload.
"""

from __future__ import annotations

import functools
import os
import struct
import time
from collections.abc import Iterator

import numpy as np
import pytest

from tests.internals import TargetProcess, frames, load_adapter, wire
from tests.paths import IMPLS

LENGTH = struct.Struct(">Q")


def frame(payload: bytes, magic: bytes | None = None, length: int | None = None) -> bytes:
    magic = frames.MAGIC if magic is None else magic
    return magic + LENGTH.pack(len(payload) if length is None else length) + payload


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    os.set_blocking(r, False)
    fds = {r, w}
    yield r, w
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def soon(seconds: float = 2.0) -> float:
    return time.monotonic() + seconds


# -- the non-blocking reader (verify's side) --------------------------------------------------


@pytest.mark.parametrize(
    ("size", "limit", "refused"),
    [
        pytest.param(0, 0, False, id="empty-payload-at-limit-0"),
        pytest.param(10, 10, False, id="exactly-the-limit"),
        pytest.param(11, 10, True, id="one-past-the-limit"),
        pytest.param(2**63, 10, True, id="a-huge-length"),
    ],
)
def test_read_frame_takes_a_payload_of_exactly_its_limit_and_refuses_one_byte_more(
    pipe: tuple[int, int], size: int, limit: int, refused: bool
) -> None:
    r, w = pipe
    if refused:  # only the header: the refusal must not wait for a body
        os.write(w, frame(b"", length=size))
        start = time.monotonic()
        with pytest.raises(wire.TooLarge) as info:
            frames.read_frame(r, soon(5.0), limit)
        assert (info.value.size, info.value.limit) == (size, limit)
        assert time.monotonic() - start < 1.0
    else:
        os.write(w, frame(b"x" * size))
        assert frames.read_frame(r, soon(), limit) == b"x" * size


def test_read_frame_refuses_a_header_without_the_magic(pipe: tuple[int, int]) -> None:
    r, w = pipe
    os.write(w, frame(b"abc", magic=b"BNW2"))
    with pytest.raises(wire.WireError, match="bad frame header") as info:
        frames.read_frame(r, soon(), 100)
    assert type(info.value) is wire.WireError


def test_read_frame_reads_one_frame_and_leaves_the_next(pipe: tuple[int, int]) -> None:
    r, w = pipe
    os.write(w, frame(b"first") + frame(b"second"))
    assert frames.read_frame(r, soon(), 100) == b"first"
    assert frames.read_frame(r, soon(), 100) == b"second"


def test_a_frame_cut_short_by_the_writer_closing_is_frame_closed(pipe: tuple[int, int]) -> None:
    r, w = pipe
    os.write(w, frame(b"abcdef")[:-2])
    os.close(w)
    with pytest.raises(frames.FrameClosed):
        frames.read_frame(r, soon(), 100)


def test_a_frame_that_does_not_arrive_in_time_is_frame_timeout(pipe: tuple[int, int]) -> None:
    r, w = pipe
    os.write(w, frame(b"abcdef")[:-2])  # the writer stays open, and silent
    start = time.monotonic()
    with pytest.raises(frames.FrameTimeout, match="of 18 bytes arrived"):
        frames.read_frame(r, soon(0.3), 100)
    assert 0.25 < time.monotonic() - start < 2.0


def test_a_writer_whose_process_is_gone_ends_the_wait_before_the_deadline(
    pipe: tuple[int, int],
) -> None:
    """``alive`` says the writer has ended while its pipe is still open (a child holds it): what
    has arrived is read, and the incomplete frame is FrameClosed, long before the deadline."""
    r, w = pipe
    os.write(w, frame(b"abcdef")[:-2])
    start = time.monotonic()
    with pytest.raises(frames.FrameClosed):
        frames.read_frame(r, soon(10.0), 100, alive=lambda: False)
    assert time.monotonic() - start < 2.0


def test_a_whole_frame_is_read_even_when_the_writer_has_just_ended(pipe: tuple[int, int]) -> None:
    r, w = pipe
    os.write(w, frame(b"done"))
    assert frames.read_frame(r, soon(), 100, alive=lambda: False) == b"done"


def test_write_frame_writes_the_documented_layout(pipe: tuple[int, int]) -> None:
    r, w = pipe
    frames.write_frame(w, b"payload", soon())
    os.set_blocking(r, True)
    assert os.read(r, 100) == frames.MAGIC + LENGTH.pack(7) + b"payload"


# -- the blocking reader (the target process's side) -----------------------------------------


@pytest.mark.parametrize(
    ("size", "limit", "refused"),
    [
        pytest.param(10, 10, False, id="exactly-the-limit"),
        pytest.param(11, 10, True, id="one-past-the-limit"),
    ],
)
def test_read_frame_blocking_takes_exactly_its_limit_and_refuses_one_byte_more(
    pipe: tuple[int, int], size: int, limit: int, refused: bool
) -> None:
    r, w = pipe
    os.set_blocking(r, True)
    os.write(w, frame(b"y" * size))
    if refused:
        with pytest.raises(wire.WireError, match="bad frame header"):
            frames.read_frame_blocking(r, limit)
    else:
        assert frames.read_frame_blocking(r, limit) == b"y" * size


def test_read_frame_blocking_is_none_at_end_of_file_before_a_frame_and_an_error_inside_one(
    pipe: tuple[int, int],
) -> None:
    r, w = pipe
    os.set_blocking(r, True)
    os.close(w)
    assert frames.read_frame_blocking(r, 100) is None
    r2, w2 = os.pipe()
    try:
        os.write(w2, frame(b"abc")[:-1])
        os.close(w2)
        with pytest.raises(frames.FrameClosed):
            frames.read_frame_blocking(r2, 100)
    finally:
        os.close(r2)


def test_read_frame_blocking_refuses_a_header_without_the_magic(pipe: tuple[int, int]) -> None:
    r, w = pipe
    os.set_blocking(r, True)
    os.write(w, frame(b"abc", magic=b"XXXX"))
    with pytest.raises(wire.WireError, match="bad frame header"):
        frames.read_frame_blocking(r, 100)


# -- the reader's idle work (the truths computed while the target works) ---------------------


def test_idle_work_runs_while_no_data_is_ready_and_stops_when_none_is_left(
    pipe: tuple[int, int],
) -> None:
    r, w = pipe
    done: list[int] = []

    def idle() -> bool:
        if len(done) == 3:
            os.write(w, frame(b"answer"))  # the answer arrives after the third job
            return False
        done.append(1)
        return True

    assert frames.read_frame(r, soon(), 100, idle=idle) == b"answer"
    assert len(done) == 3


def test_a_ready_answer_is_read_before_any_idle_work(pipe: tuple[int, int]) -> None:
    r, w = pipe
    os.write(w, frame(b"ready"))
    calls: list[int] = []
    assert frames.read_frame(r, soon(), 100, idle=lambda: bool(calls.append(1)) or True) == b"ready"
    assert calls == []


def test_no_idle_work_within_its_margin_of_the_deadline(pipe: tuple[int, int]) -> None:
    r, _ = pipe
    calls: list[int] = []
    deadline = soon(frames.IDLE_MARGIN * 0.5)  # already inside the margin
    with pytest.raises(frames.FrameTimeout):
        frames.read_frame(r, deadline, 100, idle=lambda: bool(calls.append(1)) or True)
    assert calls == []


def test_the_target_process_runs_its_idle_jobs_in_order_and_drops_one_that_raises() -> None:
    ran: list[str] = []

    def job(name: str) -> None:
        ran.append(name)
        if name == "b":
            raise ArithmeticError("a job that fails is dropped, the call goes on")

    loader = functools.partial(load_adapter, f"{IMPLS / 'functional.py'}:staged")
    with TargetProcess(loader, timeout=20) as proc:
        proc.start()
        proc.idle_jobs.extend(functools.partial(job, n) for n in "abc")
        proc.call("new", 3, "float64", 1e-5, 2)
        x = np.random.default_rng(0).normal(size=(4096, 3))
        for _ in range(50):  # each wait runs jobs until the answer is ready
            y, _ = proc.call("forward", x, True, names=("x",))
            assert y.shape == x.shape  # the failed job changed nothing of the calls
            if not proc.idle_jobs:
                break
    assert ran == ["a", "b", "c"]  # in order, each once, the one after the failure too
