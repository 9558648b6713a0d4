"""One rank process of a distributed verification (forked by
:class:`bncheck.check._verify.distributed.ranks.SyncAdapter`): it answers the coordinator's
messages (host the rendezvous store, join the gloo process group, run a case) in wire frames
until told to stop, and dies with the coordinator (PR_SET_PDEATHSIG).

The target runs in a thread (:func:`guarded`), so that a rank whose target hangs still
answers at the deadline, with the stack where it hangs; whether that stack (or a traceback)
ends inside a torch.distributed collective tells a rank waiting for another from the one
that hangs. Tracebacks show the target's frames, not verify's.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import traceback
from datetime import timedelta
from typing import Any

from bncheck.check._verify.distributed.case import CaseRunner
from bncheck.check._verify.process import frames, wire

__all__ = ["JOIN_SECONDS", "REPLY_LIMIT", "guarded", "rank_main"]

#: bytes one rank's reply may take
REPLY_LIMIT = 64 << 20
#: characters of a traceback or stack kept
TEXT_LIMIT = 4000
#: seconds a rank may take to host the store or join the process group
JOIN_SECONDS = 60.0


def _text(exc: BaseException) -> str:
    try:
        text = str(exc)
    except BaseException:
        text = "<str() of the exception failed>"
    return f"{wire.type_name(exc)}" + (f": {text[:TEXT_LIMIT]}" if text else "")


_OWN = (os.path.dirname(os.path.abspath(__file__)) + os.sep, os.path.abspath(threading.__file__))


def _shown(summary: traceback.StackSummary) -> str:
    """The frames of the target (and of what it called), not verify's own."""
    frames_ = [f for f in summary if not os.path.abspath(f.filename).startswith(_OWN)]
    return "".join(traceback.StackSummary.from_list(frames_).format())[-TEXT_LIMIT:]


def _in_collective(summary: traceback.StackSummary) -> bool:
    """Whether the innermost frames are torch.distributed's (waiting on the other ranks)."""
    marker = os.sep.join(("torch", "distributed", ""))
    return any(marker in f.filename for f in list(summary)[-3:])


def guarded(fn: Any, seconds: float) -> dict[str, Any]:
    """Run ``fn()`` in a thread: its value, what it raised (with traceback), or, when it
    does not return within ``seconds``, the stack where it is stuck."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # anything the target raises, SystemExit included
            box["exc"] = exc

    thread = threading.Thread(target=work, name="bncheck-rank-target", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        frame = sys._current_frames().get(thread.ident or -1)
        summary = traceback.extract_stack(frame) if frame is not None else traceback.StackSummary()
        return {"status": "hung", "stack": _shown(summary), "collective": _in_collective(summary)}
    if "exc" in box:
        exc = box["exc"]
        summary = traceback.extract_tb(exc.__traceback__)
        return {
            "status": "raised",
            "message": _text(exc),
            "traceback": _shown(summary),
            "collective": _in_collective(summary),
        }
    return {"status": "ok", "value": box.get("value")}


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)


class _RankState:
    """What one rank process holds: the runner, and the store it hosts (rank 0)."""

    def __init__(self, adapter: Any, rank: int) -> None:
        self.adapter = adapter
        self.rank = rank
        self.store: Any = None

    def handle(self, msg: Any) -> dict[str, Any]:
        kind = msg[0]
        dist = self.adapter.dist
        if kind == "host":

            def host() -> int:
                self.store = dist.TCPStore(
                    "127.0.0.1",
                    0,
                    self.adapter.world_size,
                    is_master=True,
                    wait_for_workers=False,
                    timeout=timedelta(seconds=JOIN_SECONDS),
                )
                return int(self.store.port)

            return guarded(host, JOIN_SECONDS)
        if kind == "join":
            port, seconds = int(msg[1]), float(msg[2])

            def join() -> None:
                store = self.store or dist.TCPStore(
                    "127.0.0.1",
                    port,
                    self.adapter.world_size,
                    is_master=False,
                    timeout=timedelta(seconds=JOIN_SECONDS),
                )
                dist.init_process_group(
                    "gloo",
                    store=store,
                    rank=self.rank,
                    world_size=self.adapter.world_size,
                    timeout=timedelta(seconds=seconds),
                )

            return guarded(join, JOIN_SECONDS)
        runner = CaseRunner(self.adapter, self.rank)
        return guarded(lambda: runner.run(msg[1]), float(msg[2]))


def rank_main(adapter: Any, rank: int, req: int, rep: int, close: list[int]) -> None:
    """A rank process: answer the coordinator's messages until told to stop. Never returns."""
    code = 0
    try:
        for fd in close:
            try:
                os.close(fd)
            except OSError:
                pass
        _die_with_parent(adapter.coordinator)
        adapter.torch.set_num_threads(1)  # K ranks share the machine's cores
        os.set_blocking(req, True)
        os.set_blocking(rep, True)
        state = _RankState(adapter, rank)
        while True:
            payload = frames.read_frame_blocking(req, 1 << 40)
            if payload is None:
                break
            msg = wire.decode(payload)
            if msg[0] == "stop":
                break
            reply = state.handle(msg)
            try:
                data = wire.encode(reply, limit=REPLY_LIMIT)
            except wire.TooLarge as exc:
                data = wire.encode(
                    {
                        "status": "raised",
                        "collective": False,
                        "traceback": "",
                        "message": f"its results take {exc.size} bytes or more "
                        f"(limit {REPLY_LIMIT})",
                    }
                )
            except Exception as exc:  # a value that defeats the encoder
                data = wire.encode(
                    {
                        "status": "raised",
                        "collective": False,
                        "traceback": "",
                        "message": f"returned a value that cannot be sent: {_text(exc)}",
                    }
                )
            frames.write_frame_blocking(rep, data)
    except BaseException:
        code = 1
    finally:
        os._exit(code)
