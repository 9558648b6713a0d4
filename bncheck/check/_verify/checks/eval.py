"""Eval-mode checks: the eval output against the truth with the layer's own running statistics
(``eval``), and an eval forward that changes no state and repeats exactly (``eval-state``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bncheck.check._verify.checks.case import worst_entries
from bncheck.check._verify.diagnosis.fits import diagnose_eval
from bncheck.check._verify.process.worker import TargetProcess
from bncheck.check._verify.results import CheckResult
from bncheck.check.metrics import compare
from bncheck.check.norms import BATCH_NORM
from bncheck.check.truth import exact_inference
from bncheck.exceptions import TargetError

__all__ = ["state_vector"]


def _fail(check_id: str, message: str, **kw: Any) -> CheckResult:
    return CheckResult(check_id, "fail", message=message, **kw)


def state_vector(state: dict[str, Any], key: str, c: int) -> np.ndarray:
    """``state[key]`` as a copy of shape (c,); TargetError unless it is c float values."""
    value = state.get(key)
    if not isinstance(value, np.ndarray) or value.size != c or value.dtype.kind != "f":
        what = f"an array of shape {value.shape}" if isinstance(value, np.ndarray) else repr(value)
        if isinstance(what, str) and len(what) > 80:
            what = what[:80] + "…"
        raise TargetError(f"the layer's {key} is {what}; expected {c} float values")
    return value.reshape(c).copy()


def check_eval(
    proc: TargetProcess,
    rng: np.random.Generator,
    c: int,
    shape: tuple[int, ...],
    dtype: str,
    ids: list[str],
) -> list[CheckResult]:
    x = rng.normal(-1.0, 0.5, size=shape).astype(dtype)
    try:
        before, _ = proc.call("state")
        y, _ = proc.call("forward", x, False, names=("x",))
        after, _ = proc.call("state")
        rm, rv = state_vector(before, "running_mean", c), state_vector(before, "running_var", c)
        if not isinstance(y, np.ndarray) or y.shape != x.shape or y.dtype.kind != "f":
            what = (
                f"shape {y.shape}, dtype {y.dtype}"
                if isinstance(y, np.ndarray)
                else (type(y).__name__)
            )
            raise TargetError(f"eval forward returned {what}; expected shape {x.shape}")
    except TargetError as exc:
        return [_fail(ids[0], str(exc)), _fail(ids[1], str(exc))]
    gamma, beta = _maybe_vec(before, "gamma", c), _maybe_vec(before, "beta", c)
    eps_state = before.get("eps")
    eps = float(eps_state) if isinstance(eps_state, (int, float)) and eps_state > 0 else 1e-5
    xw = x.astype(np.float64)
    bad = ~np.isfinite(rv.astype(np.float64)) | (rv.astype(np.float64) + eps <= 0)
    if bad.any() or not np.all(np.isfinite(rm.astype(np.float64))):
        why = "the layer's running statistics are not finite, or running_var + eps <= 0"
        return [_fail(ids[0], why), _fail(ids[1], why)]
    truth = exact_inference(xw, gamma, beta, rm, rv, eps=eps, spec=BATCH_NORM)
    cmp = compare(y, truth, "y", np.dtype(dtype), x=xw, eps=eps, spec=BATCH_NORM)
    if cmp.passed:
        ev = CheckResult(ids[0], "pass", cmp.ulp, cmp.budget)
    else:
        found = diagnose_eval(xw, gamma, beta, rm, rv, eps, y)
        ev = CheckResult(
            ids[0],
            "fail",
            cmp.ulp,
            cmp.budget,
            message=f"eval output off by {cmp.ulp:.3g} ulp (budget {cmp.budget:.3g}) from "
            "gamma·(x − running_mean)/sqrt(running_var + eps) + beta with the layer's own "
            "running statistics",
            worst_entries=worst_entries(y, truth),
            diagnosis=found.ids,
        )
    changed = [
        k
        for k in ("running_mean", "running_var", "gamma", "beta")
        if not _same(before.get(k), after.get(k))
    ]
    try:  # eval must be repeatable: a second call gives the same output
        y2, _ = proc.call("forward", x, False, names=("x",))
    except TargetError as exc:
        return [ev, _fail(ids[1], f"a second eval call failed: {exc}")]
    if not changed and not (isinstance(y2, np.ndarray) and _same(y, y2)):
        changed = ["its own output (a second eval call on the same input differs)"]
    if changed:
        st = _fail(
            ids[1],
            f"eval forward changed {', '.join(changed)}",
            diagnosis=["state-updated-in-eval"],
        )
    else:
        st = CheckResult(ids[1], "pass")
    return [ev, st]


def _same(a: Any, b: Any) -> bool:
    """Equal values (NaN equal to NaN), or both absent."""
    if a is None or b is None:
        return a is None and b is None
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))
    except TypeError:
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))


def _maybe_vec(state: dict[str, Any], key: str, c: int) -> Any:
    value = state.get(key)
    if isinstance(value, np.ndarray) and value.size == c and value.dtype.kind == "f":
        return value.reshape(c).astype(np.float64)
    return None
