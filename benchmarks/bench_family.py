"""Speed of bncheck.family against PyTorch CPU: the time ratio bncheck / PyTorch, from one run.

    python benchmarks/bench_family.py [--repeat 7] [--dtype float32]

Cases: LayerNorm and RMSNorm of (4096, 1024) over the last axis, GroupNorm of (64, 64, 32, 32)
with 32 groups; forward, and forward + backward (bncheck's backward from its cache; PyTorch's
autograd backward of the same forward). Each time is the median of ``--repeat`` runs after a
warm-up; both run with the threads they choose by default (PyTorch: torch.get_num_threads()).
Needs PyTorch (a CPU build); prints one table, the target being a ratio <= 1.5.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import bncheck


def _median(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


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

    for label, mine, ref in (("forward", ours, theirs_f), ("fwd+bwd", ours_fb, theirs_fb)):
        a, r = _median(mine, repeat), _median(ref, repeat)
        print(f"{name:<34} {label:<10} {a * 1e3:>10.2f} {r * 1e3:>10.2f} {a / r:>7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args()
    import torch

    dt = np.dtype(args.dtype)
    print(
        f"dtype {dt}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"bncheck kernels: {bncheck.bn.kernels()}"
    )
    print(f"{'case':<34} {'pass':<10} {'bncheck ms':>10} {'torch ms':>10} {'ratio':>7}")
    for name, shape, kind in (
        ("layernorm (4096, 1024)", (4096, 1024), "layernorm"),
        ("rmsnorm (4096, 1024)", (4096, 1024), "rmsnorm"),
        ("groupnorm (64, 64, 32, 32) G=32", (64, 64, 32, 32), "groupnorm"),
    ):
        _case(torch, name, shape, kind, dt, args.repeat)


if __name__ == "__main__":
    main()
