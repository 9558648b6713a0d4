"""Speed and memory of bncheck's BN, through the functional API and the layer, beside PyTorch
CPU and a traffic floor; and of its LayerNorm, RMSNorm and GroupNorm (``bncheck.family``)
beside PyTorch's.

All implementations of a case run interleaved (one call each per round, each round starting
with the next implementation, each call after a short untimed pause that lets the threads the
previous call left spinning go to sleep), so a noisy, shared machine slows them alike. A ratio
between two implementations is the median over the rounds of their ratio within a round
(paired, from one run); a time is the median of the rounds. Peak extra memory is measured
with tracemalloc (NumPy reports its buffers to it) and expressed in input-sized arrays, twice:
the whole peak of one call over the input's bytes, and its growth with the batch (the peak at
the case's batch minus the peak at half of it, over the difference in input bytes). The second
is the number of input-sized arrays a call holds: the per-channel (or per-set) vectors every
BN keeps or returns (mean, 1/sqrt(var + eps), dgamma, dbeta, gamma and beta widened to
float64), which do not grow with the batch, drop out of it. No printing here: ``bncheck
bench`` and the performance report render the results.

The traffic floor is not a BN: compiled C (the extension's ``traffic`` entry point) streaming
the bytes a two-pass BN must move, with next to no arithmetic, on the threads bncheck's kernels
use. Train: x read (the statistics), x read and y written, x and dy read (the backward sums), x
and dy read and dx written; eval: x read and y written.

The family's cases (``Case.norm`` other than "batch") time the functional forward, and the
forward followed by the backward from its cache, against ``torch.nn.functional.layer_norm``,
``rms_norm`` and ``group_norm`` (under ``no_grad``, respectively with autograd's backward);
they have no layer. Their floor (the same column) is an *arithmetic* floor: compiled C (the
family extension's ``floor`` entry point, float32) doing the least a two-pass member computed
in plain double does (Σ x, Σ (x − mean)², y; the backward's two sums, dx and the parameter
sums), on the same threads, into arrays allocated once: no compensated sums, no rounding
check, no checksum, so not correctly rounded. bncheck / floor is what its accuracy guarantee
costs; PyTorch / floor what PyTorch's float32 arithmetic saves.
"""

from __future__ import annotations

import gc
import math
import os
import platform
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

import bncheck
from bncheck.bn import _compiled as _native
from bncheck.bn.functional import kernels
from bncheck.family import _compiled as _family_native

__all__ = [
    "CASES",
    "FAMILY_EPS",
    "FAMILY_GROUPS",
    "FLOOR",
    "FUNCTIONAL",
    "LAYER",
    "LAYER_NO_GRAD",
    "TORCH",
    "Case",
    "Timing",
    "machine",
    "paired_ratio",
    "run",
]

#: the implementations' names (the columns of the table)
FUNCTIONAL = "bncheck"
LAYER = "bncheck layer"
LAYER_NO_GRAD = "bncheck layer, grad=False"
TORCH = "PyTorch CPU (2 threads)"
#: not a BN: the memory traffic any two-pass BN must make, streamed by compiled C
FLOOR = "traffic floor"


@dataclass(frozen=True)
class Case:
    name: str
    shape: tuple[int, ...]
    dtype: str
    #: "train" (forward + backward), "eval" (BN: forward with running statistics) or
    #: "forward" (the family: a train-mode forward alone)
    mode: str
    #: "batch", or a member of the family: "layer", "rms" (over the last axis), "group" (32
    #: groups of channels)
    norm: str = "batch"


CASES: tuple[Case, ...] = (
    Case("train (4096, 1024) float32", (4096, 1024), "float32", "train"),
    Case("train (64, 64, 32, 32) float32", (64, 64, 32, 32), "float32", "train"),
    Case("train (4096, 1024) float64", (4096, 1024), "float64", "train"),
    Case("eval (4096, 1024) float32", (4096, 1024), "float32", "eval"),
    Case("eval (64, 64, 32, 32) float32", (64, 64, 32, 32), "float32", "eval"),
    Case("eval (4096, 1024) float64", (4096, 1024), "float64", "eval"),
    Case("LayerNorm fwd+bwd (4096, 1024) float32", (4096, 1024), "float32", "train", "layer"),
    Case("LayerNorm forward (4096, 1024) float32", (4096, 1024), "float32", "forward", "layer"),
    Case("RMSNorm fwd+bwd (4096, 1024) float32", (4096, 1024), "float32", "train", "rms"),
    Case("RMSNorm forward (4096, 1024) float32", (4096, 1024), "float32", "forward", "rms"),
    Case(
        "GroupNorm fwd+bwd (64, 64, 32, 32) G=32 float32",
        (64, 64, 32, 32),
        "float32",
        "train",
        "group",
    ),
    Case(
        "GroupNorm forward (64, 64, 32, 32) G=32 float32",
        (64, 64, 32, 32),
        "float32",
        "forward",
        "group",
    ),
)

#: the family's eps (PyTorch's LayerNorm and GroupNorm default) and GroupNorm's groups
FAMILY_EPS = 1e-5
FAMILY_GROUPS = 32


@dataclass(frozen=True)
class Timing:
    case: str
    implementation: str
    median_s: float
    peak_inputs: float  # peak extra memory / bytes of x (NaN: not measured)
    rounds: tuple[float, ...] = field(default=(), compare=False)  # each round's time
    # the peak's growth with the batch, in input-sized arrays (NaN: not measured)
    peak_growth: float = math.nan


Runner = Callable[[], Any]

#: the untimed pause before each timed call (seconds): longer than the time libgomp's idle
#: worker threads spin before they sleep (GOMP_SPINCOUNT's default, well under a millisecond)
GAP_S = 0.004


def _inputs(case: Case) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    c = case.shape[-1] if case.norm in ("layer", "rms") else case.shape[1]
    return {
        "x": rng.normal(3.0, 2.0, size=case.shape).astype(case.dtype),
        "dy": rng.normal(size=case.shape).astype(case.dtype),
        "g": rng.uniform(0.5, 2.0, c).astype(case.dtype),
        "b": rng.normal(size=c).astype(case.dtype),
        "rm": rng.normal(size=c).astype(case.dtype),
        "rv": rng.uniform(0.5, 2.0, c).astype(case.dtype),
    }


def _layer(case: Case, a: dict[str, Any]) -> bncheck.BatchNorm:
    layer = bncheck.BatchNorm(case.shape[1], dtype=case.dtype)
    layer.load_state_dict(
        {
            "gamma": a["g"],
            "beta": a["b"],
            "running_mean": a["rm"],
            "running_var": a["rv"],
            "num_batches_tracked": 0,
        }
    )
    return layer.train(case.mode == "train")


def _family_runners(case: Case, a: dict[str, Any], with_torch: bool) -> dict[str, Runner]:
    """bncheck's member and PyTorch's: the forward, or the forward and the backward."""
    x, dy, g, b = a["x"], a["dy"], a["g"], a["b"]
    forward: Callable[[], Any]
    if case.norm == "layer":
        forward = lambda: bncheck.layernorm_forward(x, g, b, eps=FAMILY_EPS)  # noqa: E731
        backward = bncheck.layernorm_backward
    elif case.norm == "rms":
        forward = lambda: bncheck.rmsnorm_forward(x, g, eps=FAMILY_EPS)  # noqa: E731
        backward = bncheck.rmsnorm_backward
    else:
        forward = lambda: bncheck.groupnorm_forward(  # noqa: E731
            x, g, b, FAMILY_GROUPS, eps=FAMILY_EPS
        )
        backward = bncheck.groupnorm_backward
    runners: dict[str, Runner] = {
        FUNCTIONAL: (lambda: backward(dy, forward()[1])) if case.mode == "train" else forward
    }
    if with_torch:
        runners[TORCH] = _torch_family_runner(case, a)
    floor = _family_floor_runner(case, a)
    if floor is not None:
        runners[FLOOR] = floor
    return runners


def _family_floor_runner(case: Case, a: dict[str, Any]) -> Runner | None:
    """The family's arithmetic floor (module docstring): float32 only, None without the
    compiled kernels."""
    if not _family_native.available() or a["x"].dtype != np.float32:
        return None
    x, dy = a["x"], a["dy"]
    y, dx = np.empty_like(x), np.empty_like(x)
    if case.norm in ("layer", "rms"):
        c = x.shape[-1]
        geo = (x.size // c, 1, c, 1)
    else:
        c = x.shape[1]
        geo = (x.shape[0], FAMILY_GROUPS, c // FAMILY_GROUPS, x.size // (x.shape[0] * c))
    g = np.asarray(a["g"], np.float64)
    b = None if case.norm == "rms" else np.asarray(a["b"], np.float64)
    train = case.mode == "train"
    rms = case.norm == "rms"
    return lambda: _family_native.floor(
        x, y, dy if train else None, dx if train else None, geo, g, b, FAMILY_EPS, rms
    )


def _torch_family_runner(case: Case, a: dict[str, Any]) -> Runner:
    import torch

    torch.set_num_threads(2)
    functional = torch.nn.functional
    xt, dyt = torch.from_numpy(a["x"]), torch.from_numpy(a["dy"])
    gt = torch.from_numpy(a["g"]).requires_grad_(True)
    bt = torch.from_numpy(a["b"]).requires_grad_(True)
    last = (case.shape[-1],)

    def forward(t: Any) -> Any:
        if case.norm == "layer":
            return functional.layer_norm(t, last, gt, bt, FAMILY_EPS)
        if case.norm == "rms":
            return functional.rms_norm(t, last, gt, FAMILY_EPS)
        return functional.group_norm(t, FAMILY_GROUPS, gt, bt, FAMILY_EPS)

    if case.mode == "forward":

        def run_forward() -> Any:
            with torch.no_grad():
                return forward(xt)

        return run_forward

    def run_train() -> Any:
        x = xt.detach().requires_grad_(True)
        gt.grad = bt.grad = None
        forward(x).backward(dyt)
        return x.grad

    return run_train


def _runners(case: Case, a: dict[str, Any], with_torch: bool) -> dict[str, Runner]:
    if case.norm != "batch":
        return _family_runners(case, a, with_torch)
    x, dy, g, b, rm, rv = a["x"], a["dy"], a["g"], a["b"], a["rm"], a["rv"]
    layer = _layer(case, a)
    runners: dict[str, Runner]
    if case.mode == "train":

        def layer_step() -> Any:
            layer(x)  # y is dropped, as in the functional runner: the peak counts one output
            return layer.backward(dy)

        runners = {
            FUNCTIONAL: lambda: bncheck.batchnorm_backward(
                dy, bncheck.batchnorm_forward(x, g, b)[1]
            ),
            LAYER: layer_step,
        }
    else:
        quiet = _layer(case, a)
        runners = {
            FUNCTIONAL: lambda: bncheck.batchnorm_inference(x, g, b, rm, rv),
            LAYER: lambda: layer(x),
            LAYER_NO_GRAD: lambda: quiet(x, grad=False),
        }
    if with_torch:
        runners[TORCH] = _torch_runner(case, a)
    floor = _floor_runner(case, a)
    if floor is not None:
        runners[FLOOR] = floor
    return runners


def _floor_runner(case: Case, a: dict[str, Any]) -> Runner | None:
    """The traffic floor (module docstring); None without the compiled kernels."""
    if not _native.available():
        return None
    x3, dy3 = _native.working(a["x"], 1), _native.working(a["dy"], 1)
    y3, dx3 = np.empty_like(x3), np.empty_like(x3)
    train = case.mode == "train"
    return lambda: _native.traffic(x3, dy3, y3, dx3, train=train)


def _torch_runner(case: Case, a: dict[str, Any]) -> Runner:
    import torch

    torch.set_num_threads(2)
    cls = torch.nn.BatchNorm1d if len(case.shape) <= 3 else torch.nn.BatchNorm2d
    module: Any = cls(case.shape[1]).to(getattr(torch, case.dtype))
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(a["g"]))
        module.bias.copy_(torch.from_numpy(a["b"]))
        module.running_mean.copy_(torch.from_numpy(a["rm"]))
        module.running_var.copy_(torch.from_numpy(a["rv"]))
    xt, dyt = torch.from_numpy(a["x"]), torch.from_numpy(a["dy"])
    if case.mode == "eval":
        module.eval()

        def run_eval() -> Any:
            with torch.no_grad():
                return module(xt)

        return run_eval
    module.train()

    def run_train() -> Any:
        x = xt.detach().requires_grad_(True)
        module.zero_grad(set_to_none=True)
        module(x).backward(dyt)
        return x.grad

    return run_train


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _peak(run: Runner, nbytes: int) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = run()
        peak = tracemalloc.get_traced_memory()[1]
        del result
    finally:
        tracemalloc.stop()
    return (peak - base) / nbytes


def run(
    *,
    rounds: int = 7,
    cases: tuple[Case, ...] = CASES,
    with_torch: bool | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Timing]:
    """Each implementation on each case, ``rounds`` interleaved rounds (one run)."""
    use_torch = torch_available() if with_torch is None else with_torch
    out: list[Timing] = []
    for case in cases:
        if progress is not None:
            progress(case.name)
        a = _inputs(case)
        runners = _runners(case, a, use_torch)
        for r in runners.values():  # warm up (allocator, caches, torch's first-call costs)
            r()
        times: dict[str, list[float]] = {n: [] for n in runners}
        names = list(runners)
        for i in range(rounds):
            # each round starts with another implementation (none always runs right after the
            # same one), and each call starts after a pause that lets the worker threads the
            # previous call left spinning (OpenMP's wait policy) go to sleep: untimed
            for name in names[i % len(names) :] + names[: i % len(names)]:
                time.sleep(GAP_S)
                start = time.perf_counter()
                runners[name]()
                times[name].append(time.perf_counter() - start)
        growth = _peak_growth(case, a, runners)
        for name, r in runners.items():
            mine = name in growth
            peak = _peak(r, a["x"].nbytes) if mine else math.nan
            ts = tuple(times[name])
            out.append(
                Timing(case.name, name, float(np.median(ts)), peak, ts, growth.get(name, math.nan))
            )
    return out


def _peak_growth(case: Case, a: dict[str, Any], runners: dict[str, Runner]) -> dict[str, float]:
    """bncheck's calls' peak extra memory growth with the batch, in input-sized arrays: (peak
    at the case's batch − peak at half of it) / (the difference in input bytes). Whatever
    does not grow with the batch (the per-channel or per-set statistics and gradients)
    cancels; what remains is the input-sized arrays a call holds."""
    half = replace(case, shape=(case.shape[0] // 2, *case.shape[1:]))
    small = _runners(half, _inputs(half), with_torch=False)
    nbytes = a["x"].nbytes
    out = {}
    for name in (FUNCTIONAL, LAYER, LAYER_NO_GRAD):
        if name in runners and name in small:
            small_bytes = nbytes * half.shape[0] // case.shape[0]
            full = _peak(runners[name], nbytes) * nbytes
            part = _peak(small[name], small_bytes) * small_bytes
            out[name] = (full - part) / (nbytes - small_bytes)
    return out


def paired_ratio(timings: list[Timing], case: str, num: str, den: str) -> float:
    """The median over the rounds of num's time / den's time in the same round (NaN when
    either was not measured)."""
    by = {(t.case, t.implementation): t for t in timings}
    a, b = by.get((case, num)), by.get((case, den))
    if a is None or b is None:
        return math.nan
    if len(a.rounds) != len(b.rounds) or not a.rounds:
        return a.median_s / b.median_s
    return float(np.median([p / q for p, q in zip(a.rounds, b.rounds, strict=True)]))


def machine() -> str:
    """One line describing where the numbers were measured."""
    parts = [
        platform.machine(),
        f"{os.cpu_count()} CPUs",
        platform.python_implementation() + " " + platform.python_version(),
        f"NumPy {np.__version__}",
    ]
    which = kernels()
    parts.append(
        f"bncheck {which} kernels"
        + (f" ({_native.num_threads()} threads)" if which == "compiled" else "")
    )
    if torch_available():
        import torch

        parts.append(f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads)")
    return ", ".join(parts)
