"""A functional target's cache belongs to its forward (run in the parent; the target runs in
its own process): ``backward(dy, cache1)`` after a later ``forward`` of the same shape and dtype
must give what it gives right after ``forward(x1)``. A cache that shares a buffer the next
forward reuses (a workspace kept per shape, "to save allocations") fails here, and only here:
every other check calls backward right after its forward."""

from __future__ import annotations

from typing import Any

import numpy as np

from bncheck.check._verify.checks.inputs import probe_cases
from bncheck.check._verify.process.worker import TargetProcess
from bncheck.check._verify.results import CheckResult, Options
from bncheck.exceptions import TargetError

__all__ = ["check_older_cache"]

#: target kinds whose backward takes the cache its forward returned
CACHING_KINDS = ("functional", "cs231n")


def _same(a: Any, b: Any) -> bool:
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or a.shape != b.shape:
        return False
    return bool(np.array_equal(a, b, equal_nan=True))


def check_older_cache(proc: TargetProcess, options: Options, ndim: int, dtype: str) -> CheckResult:
    """``older-cache/<n>d/<dtype>``: backward with the first forward's cache, after a second
    forward of the same shape, equals (bit for bit: the target repeats exactly, which the
    ``repeatable`` check asks) its backward right after the first forward; and a second
    backward from one cache equals the first (a backward writing into its cache does not)."""
    check_id = f"older-cache/{ndim}d/{dtype}"
    if proc.description.get("kind") not in CACHING_KINDS:
        why = "only a functional target hands its cache back to its backward"
        return CheckResult(check_id, "skip", message=why)
    first, second = probe_cases(dtype, ndim, options.seed, options.channels)[:2]
    c = first.x.shape[1]
    x2 = second.x if second.x.shape == first.x.shape else first.x[::-1].copy()
    try:
        proc.call("new", c, dtype, first.eps, ndim)
        proc.call("set_params", first.gamma, first.beta, names=("gamma", "beta"))
        proc.call("forward", first.x, True, names=("x",))
        proc.call("stash")
        alone, _ = proc.call("backward", first.dy, names=("dy",))
        proc.call("unstash")
        try:
            again, _ = proc.call("backward", first.dy, names=("dy",))
        except TargetError as exc:
            if exc.fatal:
                raise
            again = alone  # a cache freed by its backward (as PyTorch frees its graph): allowed
        proc.call("new", c, dtype, first.eps, ndim)
        proc.call("set_params", first.gamma, first.beta, names=("gamma", "beta"))
        proc.call("forward", first.x, True, names=("x",))
        proc.call("stash")
        proc.call("forward", x2, True, names=("x",))
        proc.call("unstash")
        older, _ = proc.call("backward", first.dy, names=("dy",))
    except TargetError as exc:
        return CheckResult(check_id, "fail", message=str(exc))
    names = ("dx", "dgamma", "dbeta")
    twice = [n for n, a, b in zip(names, alone, again, strict=True) if not _same(a, b)]
    if twice:
        return CheckResult(
            check_id,
            "fail",
            message="a second backward from the same cache gives other "
            f"{', '.join(twice)} than the first: the backward writes into its cache (x_hat "
            "formed in place in a cached array, say), so a backward run again (gradient "
            "accumulation, a second loss) is wrong",
        )
    differ = [n for n, a, b in zip(names, alone, older, strict=True) if not _same(a, b)]
    if not differ and proc.description.get("running"):
        # an eval forward between a training forward and its backward (a validation step in
        # the middle): the backward must not read the mode, or anything else, at call time
        try:
            proc.call("new", c, dtype, first.eps, ndim)
            proc.call("set_params", first.gamma, first.beta, names=("gamma", "beta"))
            proc.call("forward", first.x, True, names=("x",))
            proc.call("stash")
            proc.call("forward", x2, False, names=("x",))
            proc.call("unstash")
            after_eval, _ = proc.call("backward", first.dy, names=("dy",))
        except TargetError as exc:
            return CheckResult(
                check_id, "fail", message=f"backward after an eval forward in between: {exc}"
            )
        differ = [n for n, a, b in zip(names, alone, after_eval, strict=True) if not _same(a, b)]
        if differ:
            return CheckResult(
                check_id,
                "fail",
                message="backward with the cache of a training forward, called after an eval "
                f"forward in between, gives other {', '.join(differ)} than right after the "
                "training forward: the backward reads the mode or a workspace the eval forward "
                "set, not what its own forward kept",
            )
    if not differ:
        return CheckResult(check_id, "pass")
    return CheckResult(
        check_id,
        "fail",
        message="backward with the cache of a first forward, called after a second forward of "
        f"the same shape and dtype, gives other {', '.join(differ)} than right after the first "
        "forward: the cache shares memory (a buffer reused per shape, an attribute) that the "
        "second forward overwrote",
        diagnosis=["cache-overwritten"],
    )
