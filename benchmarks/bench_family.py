"""Speed of bncheck.family against PyTorch CPU: the time ratio bncheck / PyTorch, from one run.

    python benchmarks/bench_family.py [--repeat 7] [--dtype float32]

Cases: LayerNorm and RMSNorm of (4096, 1024) over the last axis, GroupNorm of (64, 64, 32, 32)
with 32 groups; forward, and forward + backward (bncheck's backward from its cache; PyTorch's
autograd backward of the same forward). float32 with the compiled kernels also times the
arithmetic floor of ``bncheck bench`` (the member's two-pass computation in plain double, no
compensated sum, no rounding check, no checksum: not correctly rounded) and prints bncheck /
floor and PyTorch / floor, from the minima. After a warm-up, ``--repeat`` rounds each time one call
of both, in alternating order, so that both see the same load on a shared machine; the table
gives the minimum and the median of each, and the ratios of the minima and of the medians. Both
run with the threads they choose by default (PyTorch: torch.get_num_threads()). Needs PyTorch (a
CPU build); the target is a ratio <= 1.5.

``--single-thread-cpu`` measures instead, with one thread each (BNCHECK_NUM_THREADS=1,
torch.set_num_threads(1)), the CPU time of the calling thread (``time.thread_time``): on a
machine shared with other work, wall-clock times mostly measure the other work, while the CPU
time a call consumes does not depend on how often it was preempted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import bncheck


def _interleaved(
    a: Callable[[], object], b: Callable[[], object], repeat: int
) -> tuple[list[float], list[float]]:
    a(), b()
    ta, tb = [], []
    for i in range(repeat):
        for fn, out in ((a, ta), (b, tb)) if i % 2 == 0 else ((b, tb), (a, ta)):
            t = _CLOCK[0]()
            fn()
            out.append(_CLOCK[0]() - t)
    return ta, tb


_CLOCK = [time.perf_counter]


def _case(torch: Any, name: str, shape: tuple[int, ...], kind: str, dt: Any, repeat: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dt)
    dy = rng.standard_normal(shape).astype(dt)
    c = shape[-1] if kind != "groupnorm" else shape[1]
    g = rng.uniform(0.5, 1.5, c).astype(dt)
    b = rng.standard_normal(c).astype(dt)
    tx, tdy = torch.from_numpy(x), torch.from_numpy(dy)
    tg = torch.from_numpy(g).requires_grad_()
    tb = torch.from_numpy(b).requires_grad_()
    functional = torch.nn.functional
    ours: Callable[[], Any]
    theirs: Callable[[Any], Any]
    if kind == "layernorm":
        ours, back = (lambda: bncheck.layernorm_forward(x, g, b)), bncheck.layernorm_backward
        theirs = lambda t: functional.layer_norm(t, (c,), tg, tb, 1e-5)  # noqa: E731
    elif kind == "rmsnorm":
        ours, back = (lambda: bncheck.rmsnorm_forward(x, g)), bncheck.rmsnorm_backward
        theirs = lambda t: functional.rms_norm(t, (c,), tg, 1e-6)  # noqa: E731
    else:
        ours, back = (lambda: bncheck.groupnorm_forward(x, g, b, 32)), bncheck.groupnorm_backward
        theirs = lambda t: functional.group_norm(t, 32, tg, tb, 1e-5)  # noqa: E731

    def ours_fb() -> None:
        back(dy, ours()[1])

    def theirs_f() -> None:
        with torch.no_grad():
            theirs(tx)

    def theirs_fb() -> None:
        theirs(tx.detach().requires_grad_()).backward(tdy)

    floor_f, floor_fb = _floor(x, dy, g, b, kind)
    for label, mine, ref, low in (
        ("forward", ours, theirs_f, floor_f),
        ("fwd+bwd", ours_fb, theirs_fb, floor_fb),
    ):
        ta, tr = _interleaved(mine, ref, repeat)
        a0, r0 = min(ta), min(tr)
        a1, r1 = statistics.median(ta), statistics.median(tr)
        floor = ""
        if low is not None:
            tf, _ = _interleaved(low, ref, repeat)
            f0 = min(tf)
            floor = f" {f0 * 1e3:>8.2f} {a0 / f0:>7.2f} {r0 / f0:>7.2f}"
        print(
            f"{name:<32} {label:<8} {a0 * 1e3:>8.2f} {r0 * 1e3:>8.2f} {a0 / r0:>6.2f}"
            f" {a1 * 1e3:>9.2f} {r1 * 1e3:>9.2f} {a1 / r1:>6.2f}" + floor
        )


def _floor(
    x: Any, dy: Any, g: Any, b: Any, kind: str
) -> tuple[Callable[[], object] | None, Callable[[], object] | None]:
    """The arithmetic floor of ``bncheck bench`` (float32 with the compiled kernels, else
    None): the member's two-pass plain-double forward, and forward + backward, into arrays
    allocated once."""
    from bncheck.family import _compiled

    if x.dtype != np.float32 or not _compiled.available():
        return None, None
    if kind == "groupnorm":
        c = x.shape[1]
        geo = (x.shape[0], 32, c // 32, x.size // (x.shape[0] * c))
    else:
        c = x.shape[-1]
        geo = (x.size // c, 1, c, 1)
    y, dx = np.empty_like(x), np.empty_like(x)
    gg = g.astype(np.float64)
    bb = None if kind == "rmsnorm" else b.astype(np.float64)
    eps, rms = (1e-6 if kind == "rmsnorm" else 1e-5), kind == "rmsnorm"

    def forward() -> None:
        _compiled.floor(x, y, None, None, geo, gg, bb, eps, rms)

    def both() -> None:
        _compiled.floor(x, y, dy, dx, geo, gg, bb, eps, rms)

    return forward, both


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--single-thread-cpu", action="store_true")
    args = parser.parse_args()
    if args.single_thread_cpu:
        os.environ["BNCHECK_NUM_THREADS"] = "1"
        _CLOCK[0] = time.thread_time
    import torch

    if args.single_thread_cpu:
        torch.set_num_threads(1)

    dt = np.dtype(args.dtype)
    print(
        f"dtype {dt}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"bncheck kernels: {bncheck.bn.kernels()}, "
        + ("CPU time, one thread each" if args.single_thread_cpu else "wall-clock time")
    )
    print(
        f"{'':<41} {'---------- minimum ----------':>24} {'---------- median -----------':>27}"
        f" {'---- floor (minimum) ----':>25}\n"
        f"{'case':<32} {'pass':<8} {'bncheck':>8} {'torch':>8} {'ratio':>6}"
        f" {'bncheck':>9} {'torch':>9} {'ratio':>6} {'floor':>8} {'b/floor':>7} {'t/floor':>7}"
    )
    for name, shape, kind in (
        ("layernorm (4096, 1024)", (4096, 1024), "layernorm"),
        ("rmsnorm (4096, 1024)", (4096, 1024), "rmsnorm"),
        ("groupnorm (64, 64, 32, 32) G=32", (64, 64, 32, 32), "groupnorm"),
    ):
        _case(torch, name, shape, kind, dt, args.repeat)


if __name__ == "__main__":
    main()
