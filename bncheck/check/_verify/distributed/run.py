"""``verify(target, world_size=K)``: a synchronized (distributed) BN checked across K processes.

The target runs in one :class:`~bncheck.check._verify.process.worker.TargetProcess` (own session,
resource limits, PDEATHSIG, watchdog, deadlines), which forks the K ranks
(:mod:`bncheck.check._verify.distributed.ranks`); they join a gloo process group on localhost. For
every input rank (``ndims``), dtype and shard layout (unequal rows, e.g. [1, 2, 3, 6] for
K = 4, and equal rows) one global batch is split by rows; each rank runs forward and backward
on its shard, a few training steps and an eval call; only plain data comes back. The
concatenated y and dx and the summed dgamma and dbeta are judged against the single-process
truth of the whole batch (:mod:`bncheck.check._verify.distributed.checks`).

Gradient contract (PyTorch's ``SyncBatchNorm.backward`` and DDP): dx of each shard equals the
single-process dx rows; each rank's dgamma and dbeta are its *local* sums, and their sum over
the ranks (what DDP all-reduces) equals the single-process dgamma and dbeta.

A rank that raises, exits or hangs fails the case's checks with that rank's traceback (or the
stack where it hangs); the other ranks are stopped a second later. After a hang the remaining
cases are not run.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import time
from typing import Any

import numpy as np

from bncheck.check._verify.distributed.checks import case_eps, forward_backward, running_and_eval
from bncheck.check._verify.distributed.jax_mesh import is_flax_target
from bncheck.check._verify.distributed.outcomes import STEPS, failure_text, printable, rank_values
from bncheck.check._verify.distributed.ranks import JOIN_SECONDS, TORCH_MISSING, load_sync_adapter
from bncheck.check._verify.process.worker import TargetProcess
from bncheck.check._verify.results import CheckResult, TargetDescription, checked_description
from bncheck.check._verify.verification_report import VerificationReport
from bncheck.exceptions import LoadError, TargetError, TargetLoadFailed

__all__ = ["WORLD_SIZES", "check_world_size", "layouts", "verify_distributed"]

#: the world sizes verify takes
WORLD_SIZES = range(2, 17)
#: trailing (spatial) shape per input rank
SPATIAL = {2: (), 3: (3,), 4: (2, 2), 5: (2, 1, 2)}
#: the mean of the offset channel: large against its spread (2), where a one-pass variance
#: loses digits a two-pass one keeps (sync_models, "Models")
OFFSET = {"float16": 16.0, "float32": 2e3, "float64": 1e6}
#: marks, among the interface notes, a case whose dy the target changed in place
MUTATED = "\0mutated"


def check_world_size(world_size: Any) -> int:
    """``world_size`` as an int in 2..16, or a ValueError naming it.

    Examples
    --------
    >>> check_world_size(4)
    4
    >>> check_world_size(1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: world_size=1; expected a whole number from 2 to 16 (the number of processes ...)
    """
    if (
        isinstance(world_size, bool)
        or not isinstance(world_size, int)
        or (world_size not in WORLD_SIZES)
    ):
        raise ValueError(
            f"world_size={world_size!r}; expected a whole number from 2 to 16 "
            "(the number of processes to run the synchronized BN in)"
        )
    return world_size


def layouts(world_size: int, extra: int, seed: int) -> list[list[int]]:
    """Rows per rank: unequal (1, 2, ..., K − 1, 2(K − 1)), equal (3 each), and ``extra``
    random ones.

    Examples
    --------
    >>> layouts(4, 0, seed=0)
    [[1, 2, 3, 6], [3, 3, 3, 3]]
    """
    k = world_size
    out = [[*range(1, k), 2 * (k - 1)], [3] * k]
    rng = np.random.default_rng([seed, 31])
    out += [[int(r) for r in rng.integers(1, 6, size=k)] for _ in range(extra)]
    return out


def make_case(seed: int, ndim: int, dtype: str, rows: list[int], index: int) -> dict[str, Any]:
    """One global batch (3 channels: centred, offset, narrow), its dy, gamma, beta, the
    training batches for the running statistics and an eval batch, all in ``dtype``."""
    rng = np.random.default_rng(
        [seed, 29, ndim, index, ("float16", "float32", "float64").index(dtype)]
    )
    shape = (sum(rows), 3, *SPATIAL[ndim])
    x = np.empty(shape)
    x[:, 0] = rng.normal(0.5, 2.0, size=x[:, 0].shape)
    x[:, 1] = rng.normal(OFFSET[dtype], 2.0, size=x[:, 1].shape)
    x[:, 2] = rng.normal(-4.0, 0.3, size=x[:, 2].shape)

    def cast(a: Any) -> Any:
        return np.asarray(a).astype(dtype)

    return {
        "dtype": dtype,
        "ndim": ndim,
        "rows": list(rows),
        "x": cast(x),
        "dy": cast(rng.normal(size=shape)),
        "gamma": cast(rng.uniform(0.5, 2.0, 3) * np.array([1.0, -1.0, 1.0])),
        "beta": cast(rng.normal(size=3)),
        "steps": [cast(rng.normal(3.0, 2.0, size=shape)) for _ in range(STEPS)],
        "x_eval": cast(rng.normal(-1.0, 0.5, size=shape)),
    }


def _judge(
    case: dict[str, Any],
    values: list[dict[str, Any]],
    tag: str,
    convention: str,
    notes: list[str],
    contract: list[str],
) -> list[CheckResult]:
    eps = case_eps(values, notes)
    dtype = np.dtype(case["dtype"])
    for v in values:
        if v["y"].dtype != dtype:
            contract.append(f"forward returns {v['y'].dtype} for {dtype} input")
        contract += [printable(n, 200) for n in v.get("notes", []) if isinstance(n, str)]
    checks = forward_backward(case, values, tag, eps)
    checks += running_and_eval(case, values, tag, convention, eps, notes)
    if any(v.get("mutated") for v in values):
        contract.append(MUTATED)
    return checks


def _run_cases(
    proc: TargetProcess,
    cases: list[tuple[str, dict[str, Any]]],
    options: Any,
    explicit: bool,
    notes: list[str],
    contract: list[str],
) -> list[CheckResult]:
    checks: list[CheckResult] = []
    stop = ""  # set after a hang or a fatal error: later cases are not run
    started = False
    unsupported: dict[int, list[CheckResult]] = {}
    seen: set[int] = set()
    stages = ("forward", "backward", "running", "eval", "eval-state")
    for tag, case in cases:
        ndim = case["ndim"]
        if ndim in unsupported:
            continue
        if stop:
            checks += [
                CheckResult(f"{s}/{tag}", "fail", message=f"not run: {stop}") for s in stages
            ]
            continue
        try:
            if not started:
                proc.timeout = 2 * JOIN_SECONDS + 20
                reply, _ = proc.call("start")
                if not (isinstance(reply, dict) and reply.get("ok") is True):
                    outcomes = reply.get("outcomes", []) if isinstance(reply, dict) else []
                    why, _ = failure_text(list(outcomes), JOIN_SECONDS)
                    stop = "the ranks could not start"
                    checks.append(
                        CheckResult(
                            "sync-start",
                            "fail",
                            message=f"the ranks could not join a gloo process group:\n{why}",
                        )
                    )
                    continue
                started = True
            proc.timeout = options.timeout + 10
            reply, _ = proc.call("run", case)
        except TargetError as exc:
            checks += [CheckResult(f"{s}/{tag}", "fail", message=str(exc)) for s in stages]
            if exc.fatal:
                stop = f"the target process failed earlier ({exc})"
            continue
        outcomes = reply.get("outcomes") if isinstance(reply, dict) else None
        if not (
            isinstance(outcomes, list)
            and len(outcomes) == options.world_size
            and all(isinstance(o, dict) for o in outcomes)
        ):
            checks += [
                CheckResult(
                    f"{s}/{tag}", "fail", message="the target process sent an unexpected reply"
                )
                for s in stages
            ]
            continue
        if not reply.get("alive"):
            started = False
            why, hung = failure_text(outcomes, options.timeout)
            if hung:
                stop = "a rank hung in an earlier case"
            failed = [CheckResult(f"forward/{tag}", "fail", message=why)] + [
                CheckResult(f"{s}/{tag}", "fail", message=f"not run: forward/{tag} failed")
                for s in stages[1:]
            ]
            everyone = all(
                o.get("status") == "raised" and not o.get("collective") for o in outcomes
            )
            if ndim not in seen and everyone and not explicit:
                unsupported[ndim] = failed  # the target may not take this rank: skipped
            else:
                checks += failed
            seen.add(ndim)
            continue
        seen.add(ndim)
        values, problem = rank_values(outcomes, case)
        if problem:
            checks += [CheckResult(f"{s}/{tag}", "fail", message=problem) for s in stages]
            continue
        checks += _judge(case, values, tag, options.convention, notes, contract)
    if unsupported and len(unsupported) == len({c["ndim"] for _, c in cases}):
        for failed in unsupported.values():  # no rank at all works: those are failures
            checks += failed
    else:
        for ndim, failed in unsupported.items():
            checks.append(
                CheckResult(
                    f"forward/{ndim}d",
                    "skip",
                    message=f"every rank raised on a {ndim}-D input: {failed[0].message[:300]}",
                )
            )
    return checks


class _Options:
    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


def verify_distributed(
    target: Any,
    world_size: int,
    *,
    convention: str = "any",
    dtypes: tuple[str, ...] = ("float64", "float32"),
    ndims: tuple[int, ...] | None = None,
    timeout: float = 10.0,
    seed: int = 0,
    axis: int = 1,
    strict: bool = False,
    deadline: float | None = None,
    memory_limit: int | None = None,
    load_timeout: float | None = None,
    extra_layouts: int = 0,
    start_method: str = "spawn",
    name: str = "target",
) -> VerificationReport:
    """Verify a synchronized BN in ``world_size`` processes; a VerificationReport.

    Options as :func:`bncheck.check._verify.verify` (validated there); ``extra_layouts``
    random shard layouts are checked besides the unequal and equal ones.

    Raises
    ------
    ValueError
        ``world_size`` outside 2..16.
    LoadError
        PyTorch is not installed (the message names the extra), or the target cannot be used.
    """
    check_world_size(world_size)
    if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout={timeout!r}; expected a finite number of seconds > 0")
    if importlib.util.find_spec("torch") is None and not is_flax_target(target):
        raise LoadError(TORCH_MISSING)
    explicit = ndims is not None
    ranks = tuple(ndims) if ndims is not None else (2, 4)
    start = time.perf_counter()
    options = _Options(timeout=float(timeout), convention=convention, world_size=world_size)
    shard_layouts = layouts(world_size, extra_layouts, seed)
    cases = []
    for ndim in ranks:
        for dtype in dtypes:
            for i, rows in enumerate(shard_layouts):
                tag = f"{ndim}d/{dtype}/shards={','.join(map(str, rows))}"
                cases.append((tag, make_case(seed, ndim, dtype, rows, i)))
    limits: dict[str, Any] = {}
    if deadline is not None:
        limits["deadline"] = deadline
    if memory_limit is not None:
        limits["memory_limit"] = memory_limit
    if load_timeout is not None:
        limits["load_timeout"] = load_timeout
    loader = functools.partial(load_sync_adapter, target, world_size, float(timeout), axis)
    checks: list[CheckResult] = []
    notes: list[str] = []
    contract: list[str] = []
    description: TargetDescription | None = None
    with TargetProcess(loader, timeout=timeout, start_method=start_method, **limits) as proc:
        try:
            description = checked_description(proc.start())
        except TargetLoadFailed as exc:
            tb = getattr(exc, "traceback", "") or ""
            checks.append(
                CheckResult(
                    "load",
                    "fail",
                    message=f"the target failed while "
                    f"loading: {exc}" + (f"\n{tb.rstrip()}" if tb else ""),
                )
            )
        except LoadError:
            raise
        except TargetError as exc:
            checks.append(CheckResult("load", "fail", message=f"loading the target: {exc}"))
        if description is not None and description.equal_shards:  # jax.shard_map: equal only
            cases = [(t, c) for t, c in cases if len(set(c["rows"])) == 1]
        if description is not None:
            checks += _run_cases(proc, cases, options, explicit, notes, contract)
    mutated = MUTATED in contract
    notes = list(dict.fromkeys(notes))
    contract = [c for c in contract if c != MUTATED]
    if description is not None:
        checks.append(
            CheckResult(
                "no-mutation",
                "fail",
                message="the target modified dy in backward",
                diagnosis=["input-mutated"],
            )
            if mutated
            else CheckResult("no-mutation", "pass")
        )
    contract = list(dict.fromkeys(contract))
    if contract:
        checks.append(
            CheckResult(
                "contract",
                "fail" if strict else "pass",
                message=f"{len(contract)} interface deviation(s)"
                + (" (--strict)" if strict else " (warnings)"),
            )
        )
    return VerificationReport(
        name,
        description.kind if description is not None else "unknown",
        checks,
        time.perf_counter() - start,
        {
            "world_size": world_size,
            "convention": convention,
            "dtypes": list(dtypes),
            "ndims": list(ranks),
            "layouts": shard_layouts,
            "timeout": timeout,
            "seed": seed,
            "axis": axis,
            "strict": strict,
        },
        [*(description.mapping if description is not None else ()), *notes],
        contract,
    )
