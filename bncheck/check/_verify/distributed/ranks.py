"""The target side of ``verify(..., world_size=K)``: K ranks of a synchronized BN over gloo.

This runs inside the target process (a :class:`~bncheck.check._verify.process.worker.TargetProcess`
child: own session, resource limits, PDEATHSIG, watchdog). The loader imports PyTorch and the
target once; :meth:`SyncAdapter.start` then forks the K rank processes from it, so PyTorch is
imported once, not K times. The ranks stay in the target process's process group (closing the
TargetProcess kills them with it), inherit its limits and die with it (PR_SET_PDEATHSIG). Rank
0 hosts the rendezvous store on a port the kernel picks (no race for a free port); every rank
joins the gloo process group with a timeout.

Per case (:meth:`SyncAdapter.run`) each rank gets its shard of the global batch, builds a
fresh target, runs forward (train) and backward (autograd, with its dy shard), a few training
steps on a second fresh instance and an eval call (:mod:`bncheck.check._verify.distributed.case`),
and answers with plain data in wire frames. The target runs in a thread of the rank, so a
rank whose target hangs still answers at the deadline, with the stack where it hangs; a rank
blocked in a collective (waiting for another rank) says so. When a rank raises or exits, the
others have a second (GRACE) to answer, then are killed; after any failure the next case
starts a fresh set of ranks.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from typing import Any

from bncheck.check._verify.distributed.case import inspect_target
from bncheck.check._verify.distributed.jax_mesh import jax_mesh_adapter
from bncheck.check._verify.distributed.rank_process import JOIN_SECONDS, REPLY_LIMIT, rank_main
from bncheck.check._verify.process import frames, wire
from bncheck.check._verify.targets.frameworks import prepare_target
from bncheck.exceptions import LoadError

__all__ = ["JOIN_SECONDS", "TORCH_MISSING", "SyncAdapter", "load_sync_adapter"]

#: seconds the other ranks may still answer after one rank failed
GRACE = 1.0

TORCH_MISSING = (
    "verifying a synchronized BN (--world-size) needs PyTorch (torch.distributed, gloo "
    "backend), which is not installed; install the [compare] extra: "
    "pip install 'bncheck[compare]'"
)


def load_sync_adapter(target: Any, world_size: int, timeout: float, axis: int) -> SyncAdapter:
    """The loader :class:`TargetProcess` calls in the target process."""

    if isinstance(target, str):
        prepare_target(target)  # Keras on JAX; a missing framework names its extra
    mesh = jax_mesh_adapter(target, world_size, timeout, axis)  # a Flax target: one JAX mesh
    return mesh if mesh is not None else SyncAdapter(target, world_size, timeout, axis)


class _Rank:
    def __init__(self, index: int, pid: int, req: int, rep: int) -> None:
        self.index, self.pid, self.req, self.rep = index, pid, req, rep
        self.code: int | None = None


class SyncAdapter:
    """The coordinator, in the target process: forks the ranks, hands them their shards and
    collects what they answer, with a deadline on every wait."""

    def __init__(self, target: Any, world_size: int, timeout: float, axis: int) -> None:
        try:
            import torch
            import torch.distributed as dist
        except ImportError:
            raise LoadError(TORCH_MISSING) from None
        if not (dist.is_available() and dist.is_gloo_available()):
            raise LoadError(
                "this PyTorch build has no torch.distributed gloo backend, which "
                "--world-size needs; install the CPU build: "
                "pip install 'bncheck[compare]'"
            )
        try:  # imported at PyTorch's first autograd call: once here, not once per rank
            import torch.fx.experimental.symbolic_shapes
        except ImportError:
            pass
        self.torch, self.dist = torch, dist
        self.world_size, self.timeout, self.axis = world_size, timeout, axis
        self.target, self.form, self.group_kw, self.mapping = inspect_target(target, torch)
        self.coordinator = os.getpid()
        self.ranks: list[_Rank] = []

    def describe(self) -> dict[str, Any]:
        return {
            "kind": f"sync-{self.form} ({self.world_size} processes, gloo)",
            "mapping": self.mapping,
        }

    # -- the ranks --------------------------------------------------------------------------
    def _fork(self, index: int) -> None:
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        close = [fd for r in self.ranks for fd in (r.req, r.rep)] + [req_w, rep_r]
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the rank; never returns
            rank_main(self, index, req_r, rep_w, close)
        os.close(req_r)
        os.close(rep_w)
        os.set_blocking(req_w, False)
        os.set_blocking(rep_r, False)
        self.ranks.append(_Rank(index, pid, req_w, rep_r))

    def _reap(self, rank: _Rank, wait: float) -> int | None:
        end = time.monotonic() + wait
        while rank.code is None:
            try:
                pid, status = os.waitpid(rank.pid, os.WNOHANG)
            except ChildProcessError:
                return None
            if pid:
                rank.code = os.waitstatus_to_exitcode(status)
            elif time.monotonic() >= end:
                break
            else:
                time.sleep(0.01)
        return rank.code

    def stop(self) -> None:
        """Kill every rank (and reap it)."""
        for rank in self.ranks:
            try:
                os.kill(rank.pid, signal.SIGKILL)
            except OSError:
                pass
            self._reap(rank, 5.0)
            for fd in (rank.req, rank.rep):
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.ranks = []

    def _ask(self, messages: dict[int, Any], seconds: float) -> dict[int, dict[str, Any]]:
        """Send each rank its message; collect the answers until the deadline. Once a rank
        raised (outside a collective) or exited, the others have GRACE seconds to answer (a
        target that fails on every rank says so on every rank), then are stopped."""
        until = time.monotonic() + seconds
        by_index = {r.index: r for r in self.ranks}
        out: dict[int, dict[str, Any]] = {}
        for index, msg in messages.items():
            try:
                frames.write_frame(by_index[index].req, wire.encode(msg), until)
            except wire.WireError:
                out[index] = {"status": "exited", "code": self._reap(by_index[index], 1.0)}
        pending = {r.rep: r for i, r in by_index.items() if i in messages and i not in out}
        stop_at, failed = until, False
        while pending and time.monotonic() < stop_at:
            poller = select.poll()
            for fd in pending:
                poller.register(fd, select.POLLIN)
            left = max(0.0, stop_at - time.monotonic())
            for fd, _ in poller.poll(min(left, 0.5) * 1000):
                rank = pending.pop(fd)
                out[rank.index] = self._read(rank, until)
            if not failed and any(_primary(o) for o in out.values()):
                stop_at, failed = min(until, time.monotonic() + GRACE), True
        for rank in pending.values():
            out[rank.index] = {"status": "stopped" if failed else "silent"}
        return out

    def _read(self, rank: _Rank, until: float) -> dict[str, Any]:
        try:
            reply = wire.decode(frames.read_frame(rank.rep, until, REPLY_LIMIT + (1 << 16)))
        except frames.FrameClosed:
            return {"status": "exited", "code": self._reap(rank, 1.0)}
        except frames.FrameTimeout:
            return {"status": "silent"}
        except wire.WireError as exc:
            return {
                "status": "raised",
                "message": f"sent malformed data ({exc})",
                "traceback": "",
                "collective": False,
            }
        return (
            reply
            if isinstance(reply, dict)
            else {
                "status": "raised",
                "collective": False,
                "message": "sent an unexpected reply",
                "traceback": "",
            }
        )

    # -- the ops the verify process calls ---------------------------------------------------
    def start(self) -> dict[str, Any]:
        """Fork the ranks and join them in a gloo process group."""
        self.stop()
        began = time.monotonic()
        for index in range(self.world_size):
            self._fork(index)
        hosted = self._ask({0: ("host",)}, JOIN_SECONDS + 5)
        if hosted[0].get("status") != "ok":
            self.stop()
            return {"ok": False, "outcomes": [hosted[0]], "stage": "hosting the store"}
        gloo = self.timeout + 20.0  # collectives outlast the call deadline: hangs show first
        joined = self._ask(
            {i: ("join", hosted[0]["value"], gloo) for i in range(self.world_size)},
            JOIN_SECONDS + 5,
        )
        outcomes = [joined[i] for i in range(self.world_size)]
        ok = all(o.get("status") == "ok" for o in outcomes)
        if not ok:
            self.stop()
        return {
            "ok": ok,
            "outcomes": outcomes,
            "stage": "joining the process group",
            "seconds": time.monotonic() - began,
        }

    def run(self, case: dict[str, Any]) -> dict[str, Any]:
        """Run one case: each rank gets its rows of every array in ``case``."""
        if len(self.ranks) != self.world_size:
            return {"outcomes": [{"status": "stopped"}] * self.world_size, "alive": False}
        rows = [int(r) for r in case["rows"]]
        bounds = [sum(rows[:i]) for i in range(len(rows) + 1)]
        messages = {}
        for i in range(self.world_size):
            part = {
                k: (v[bounds[i] : bounds[i + 1]] if k in _SHARDED else v)
                for k, v in case.items()
                if k != "steps"
            }
            part["steps"] = [s[bounds[i] : bounds[i + 1]] for s in case.get("steps", [])]
            messages[i] = ("case", part, self.timeout)
        answers = self._ask(messages, self.timeout + 3.0)
        outcomes = [answers[i] for i in range(self.world_size)]
        alive = all(o.get("status") == "ok" for o in outcomes)
        if not alive:
            self.stop()
        return {"outcomes": outcomes, "alive": alive}


_SHARDED = ("x", "dy", "x_eval")


def _primary(outcome: dict[str, Any]) -> bool:
    """A failure of the rank itself, not a consequence of another rank's: it raised outside
    a collective, or exited."""
    status = outcome.get("status")
    return status == "exited" or (status == "raised" and not outcome.get("collective"))
