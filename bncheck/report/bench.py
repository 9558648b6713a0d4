"""Speed and memory of bncheck's BN beside a naive staged NumPy BN and PyTorch CPU.

All implementations of a case run interleaved (round robin, one call each per round), so a
noisy, shared machine slows them alike; the result per implementation is the median of the
rounds. Peak extra memory is measured with tracemalloc (NumPy reports its buffers to it) and
expressed in input-sized arrays. No printing here: ``bncheck bench`` and the performance
report render the results.
"""

from __future__ import annotations

import gc
import math
import os
import platform
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import bncheck
from bncheck.bn import _compiled as _native
from bncheck.bn.functional import kernels
from bncheck.check.baselines import numpy_sum, staged_backward, staged_forward

__all__ = ["CASES", "FLOOR", "Case", "Timing", "machine", "run"]


@dataclass(frozen=True)
class Case:
    name: str
    shape: tuple[int, ...]
    dtype: str
    mode: str  # "train" (forward + backward) or "eval" (forward with running statistics)


CASES: tuple[Case, ...] = (
    Case("train (4096, 1024) float32", (4096, 1024), "float32", "train"),
    Case("train (64, 64, 32, 32) float32", (64, 64, 32, 32), "float32", "train"),
    Case("train (4096, 1024) float64", (4096, 1024), "float64", "train"),
    Case("eval (4096, 1024) float32", (4096, 1024), "float32", "eval"),
    Case("eval (64, 64, 32, 32) float32", (64, 64, 32, 32), "float32", "eval"),
    Case("eval (4096, 1024) float64", (4096, 1024), "float64", "eval"),
)


@dataclass(frozen=True)
class Timing:
    case: str
    implementation: str
    median_s: float
    peak_inputs: float  # peak extra memory / bytes of x


Runner = Callable[[], Any]


def _inputs(case: Case) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    c = case.shape[1]
    return {
        "x": rng.normal(3.0, 2.0, size=case.shape).astype(case.dtype),
        "dy": rng.normal(size=case.shape).astype(case.dtype),
        "g": rng.uniform(0.5, 2.0, c).astype(case.dtype),
        "b": rng.normal(size=c).astype(case.dtype),
        "rm": rng.normal(size=c).astype(case.dtype),
        "rv": rng.uniform(0.5, 2.0, c).astype(case.dtype),
    }


def _runners(case: Case, a: dict[str, Any], with_torch: bool) -> dict[str, Runner]:
    x, dy, g, b, rm, rv = a["x"], a["dy"], a["g"], a["b"], a["rm"], a["rv"]
    shape = (1, -1, *[1] * (x.ndim - 2))
    if case.mode == "train":
        runners: dict[str, Runner] = {
            "bncheck": lambda: bncheck.batchnorm_backward(
                dy, bncheck.batchnorm_forward(x, g, b)[1]
            ),
            "naive staged": lambda: staged_backward(
                dy, staged_forward(x, g, b, 1e-5, reduce=numpy_sum)[1]
            ),
        }
    else:
        runners = {
            "bncheck": lambda: bncheck.batchnorm_inference(x, g, b, rm, rv),
            "naive staged": lambda: (
                (x - rm.reshape(shape)) / np.sqrt(rv.reshape(shape) + 1e-5) * g.reshape(shape)
                + b.reshape(shape)
            ),
        }
    if with_torch:
        runners["PyTorch CPU (2 threads)"] = _torch_runner(case, a)
    runners[FLOOR] = _floor_runner(case, a)
    return runners


#: not a BN: the memory traffic any two-pass BN must make, streamed by NumPy (one thread)
FLOOR = "traffic floor"


def _floor_runner(case: Case, a: dict[str, Any]) -> Runner:
    """Stream the bytes a BN cannot avoid, with no arithmetic to speak of: train reads x twice
    in the forward (statistics, then y), x and dy twice in the backward (sums, then dx) and
    writes y and dx; eval reads x once and writes y."""
    x, dy = a["x"], a["dy"]
    out = np.empty_like(x)
    if case.mode == "eval":
        return lambda: np.negative(x, out=out)

    def run() -> Any:
        x.max()
        np.negative(x, out=out)
        np.maximum(x, dy, out=out)
        return np.maximum(x, dy, out=out)

    return run


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
    """Median time of each implementation on each case, ``rounds`` interleaved rounds."""
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
        for _ in range(rounds):
            for name, r in runners.items():
                start = time.perf_counter()
                r()
                times[name].append(time.perf_counter() - start)
        for name, r in runners.items():
            peak = _peak(r, a["x"].nbytes) if name in ("bncheck", "naive staged") else math.nan
            out.append(Timing(case.name, name, float(np.median(times[name])), peak))
    return out


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
