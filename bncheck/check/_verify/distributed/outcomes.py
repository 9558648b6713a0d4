"""What the ranks of a distributed verification answered, read in the verify process: a failure
message (the failing ranks first, with their tracebacks or stacks) or the ranks' results,
validated (they come from the target process, so nothing in them is trusted)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["STEPS", "failure_text", "printable", "rank_values"]

#: training steps per case (the running statistics)
STEPS = 4


def printable(value: Any, limit: int) -> str:
    text = str(value)[:limit]
    return "".join(ch if ch == "\n" or ch.isprintable() else "?" for ch in text)


def failure_text(outcomes: list[Any], timeout: float) -> tuple[str, bool]:
    """The message for a case some rank failed, its own failures first; and whether a rank
    hung (then the remaining cases are not run)."""
    first: list[str] = []
    then: list[str] = []
    stopped: list[str] = []
    hung = False
    for r, o in enumerate(outcomes):
        status = o.get("status") if isinstance(o, dict) else None
        if status == "ok":
            continue
        if status == "stopped":
            stopped.append(str(r))
            continue
        if status == "raised":
            text = f"rank {r} raised {printable(o.get('message'), 1000)}"
            if o.get("collective"):
                text += " inside a torch.distributed collective (waiting on another rank)"
            text += "\n" + printable(o.get("traceback", ""), 3000).rstrip()
        elif status == "hung":
            hung = True
            text = (
                f"rank {r} did not return within {timeout:g} s, "
                + (
                    "waiting in a torch.distributed collective for another rank"
                    if o.get("collective")
                    else "hung (not in a collective)"
                )
                + "; it was at:\n"
                + printable(o.get("stack", ""), 3000).rstrip()
            )
        elif status == "exited":
            text = f"rank {r}'s process exited (code {o.get('code')!r})"
        else:
            hung = True
            text = f"rank {r} did not answer within {timeout:g} s (hang?)"
        primary = status == "exited" or (status in ("raised", "hung") and not o.get("collective"))
        (first if primary else then).append(text)
    lines = first + then
    if stopped:
        lines.append(f"rank(s) {', '.join(stopped)} stopped by verify after that failure")
    return "\n".join(lines) or "the ranks failed", hung


def rank_values(outcomes: list[Any], case: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """The ranks' results, validated (they come from the target process); or why not."""
    bounds = np.cumsum([0, *case["rows"]])
    out = []
    for r, o in enumerate(outcomes):
        v = o.get("value")
        shard = case["x"][bounds[r] : bounds[r + 1]].shape
        if not isinstance(v, dict):
            return [], f"rank {r} returned {type(v).__name__}; expected its results"
        for key in ("y", "dx"):
            a = v.get(key)
            if not (a is None and key == "dx") and not (
                isinstance(a, np.ndarray) and a.shape == shard and a.dtype.kind == "f"
            ):
                what = (
                    f"shape {a.shape}, dtype {a.dtype}"
                    if isinstance(a, np.ndarray)
                    else (type(a).__name__)
                )
                return [], f"rank {r}: {key} is {what}; expected shape {shard}, floats"
        c = case["gamma"].size
        for key in ("dgamma", "dbeta"):
            a = v.get(key)
            if a is not None and not (isinstance(a, np.ndarray) and a.shape == (c,)):
                return [], f"rank {r}: {key} is not {c} values"
        running = v.get("running")
        if running is not None and not _states_ok(
            running, c, STEPS + 1, v.get("after_eval"), v.get("y_eval"), shard
        ):
            return [], f"rank {r}: the running statistics are not {c} float values each"
        v["affine"] = v.get("affine") is True
        v["eps"] = float(v["eps"]) if isinstance(v.get("eps"), float) else None
        out.append(v)
    return out, ""


def _states_ok(states: Any, c: int, n: int, after: Any, y_eval: Any, shard: Any) -> bool:
    def pair(s: Any) -> bool:
        return (
            isinstance(s, list)
            and len(s) == 2
            and all(
                isinstance(a, np.ndarray) and a.shape == (c,) and a.dtype.kind == "f" for a in s
            )
        )

    return (
        isinstance(states, list)
        and len(states) == n
        and all(pair(s) for s in states)
        and pair(after)
        and isinstance(y_eval, np.ndarray)
        and y_eval.shape == shard
    )


# -- the run ------------------------------------------------------------------------------------
