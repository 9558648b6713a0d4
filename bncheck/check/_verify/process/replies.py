"""What the parent makes of the target process: its exit codes, and its replies checked
against the adapter protocol before anything in them is used."""

from __future__ import annotations

import math
import signal
from typing import TYPE_CHECKING, Any

import numpy as np

from bncheck.check._verify.process import wire
from bncheck.check._verify.process.child import _truncate
from bncheck.exceptions import TargetError

if TYPE_CHECKING:
    from bncheck.check._verify.process.worker import TargetProcess


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


def read_reply(proc: TargetProcess, op: str, seq: int, msg: Any) -> tuple[Any, list[str]]:
    """The result of a call from the child's reply, and the names of the inputs it mutated
    (recorded in ``proc.mutations``); raises TargetError for an error, a reply too large or
    malformed, or a result that is not what the adapter protocol promises."""
    shapes = {"ok": 4, "raised": 5, "too_big": 4}
    if not (
        isinstance(msg, tuple)
        and len(msg) >= 2
        and shapes.get(msg[0]) == len(msg)
        and isinstance(msg[-1], list)
        and all(isinstance(n, str) for n in msg[-1])
    ):
        proc.close()
        raise TargetError(f"{op}: the target process sent an unexpected reply", fatal=True)
    if msg[1] != seq:
        proc.close()
        raise TargetError(
            f"{op}: the target process answered out of step (a forked copy of it?)",
            fatal=True,
        )
    proc.mutations += [(op, _truncate(name, 100)) for name in msg[-1]]
    if msg[0] == "raised":
        message, detail = msg[2], msg[3]
        if not (isinstance(message, str) and isinstance(detail, str)):
            proc.close()
            raise TargetError(f"{op}: the target process sent an unexpected reply", fatal=True)
        files = [ln.strip() for ln in detail.splitlines() if ln.strip().startswith("File ")]
        where = f" [{files[-1]}]" if files else ""
        hint = ""
        if message.startswith("raised MemoryError") and proc.memory_limit is not None:
            hint = f" (the target process may use {proc.memory_limit >> 20} MB: --memory-limit)"
        raise TargetError(f"{op} {_truncate(message)}{hint}{where}")
    if msg[0] == "too_big":
        size = msg[2] if isinstance(msg[2], int) else proc.result_limit
        proc.close()
        raise TargetError(
            f"{op} returned {size / 1e6:.1f} MB or more (limit {proc.result_limit / 1e6:.1f} MB)",
            fatal=True,
        )
    result = msg[2]
    _check_result(op, result)
    return result, list(msg[-1])
