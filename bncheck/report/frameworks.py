"""``numerical_error_frameworks.md``: the numerical error of the frameworks' own BNs.

The same regimes, truth and metric as ``numerical_error.md``, for the BNs of the deep-learning
frameworks that are installed (today PyTorch). Their arithmetic belongs to the installed build
and to the CPU (SIMD width, threads, library versions), so this file is regenerated but, like
the timings in ``performance.md``, never compared byte for byte; the index carries no numbers
from it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bncheck.report.bench import machine
from bncheck.report.build import HEADER, Built
from bncheck.report.numerical_error import EPS, Result, _bncheck, measure, tables

__all__ = ["FRAMEWORKS", "available", "build"]


def _torch(x: Any, g: Any, b: Any, dy: Any) -> Result:
    import torch

    torch.set_num_threads(2)
    dt = getattr(torch, x.dtype.name)
    cls = {2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d, 4: torch.nn.BatchNorm2d}[x.ndim]
    module = cls(x.shape[1], eps=EPS).to(dt)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(g))
        module.bias.copy_(torch.from_numpy(b))
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    y = module(xt)
    y.backward(torch.from_numpy(dy.copy()))
    tensors: list[Any] = [y, xt.grad, module.weight.grad, module.bias.grad]
    y_, dx, dgamma, dbeta = (t.detach().numpy() for t in tensors)
    return y_, dx, dgamma, dbeta


def _version(module: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return None
    try:
        return str(importlib.import_module(module).__version__)
    except Exception:  # an install that cannot be imported counts as absent
        return None


#: name -> (importable module, implementation(x, gamma, beta, dy) -> (y, dx, dgamma, dbeta))
FRAMEWORKS: dict[str, tuple[str, Callable[..., Result]]] = {
    "PyTorch CPU": ("torch", _torch),
}


def available() -> dict[str, str]:
    """name -> version of the frameworks that import here."""
    found = {name: _version(module) for name, (module, _) in FRAMEWORKS.items()}
    return {name: v for name, v in found.items() if v is not None}


def build(
    out: Path, *, quick: bool = False, progress: Callable[[str], None] | None = None
) -> Built:
    out.mkdir(parents=True, exist_ok=True)
    versions = available()
    impls = {"bncheck": _bncheck} | {n: FRAMEWORKS[n][1] for n in versions}
    lines = [
        HEADER,
        "# Numerical error of the frameworks' BNs",
        "",
        "The regimes, the mpmath truth and the normwise ULP metric of "
        "[numerical_error.md](numerical_error.md), for the BN of each framework installed where "
        "this file was made, with bncheck beside it. Measured on: "
        f"{machine()}; "
        + (
            ", ".join(f"{n} {v}" for n, v in versions.items())
            if versions
            else "no framework installed"
        )
        + ". A framework's arithmetic depends on its build and on the CPU, so this file differs "
        "from machine to machine and is not compared byte for byte.",
        "",
    ]
    missing = [n for n in FRAMEWORKS if n not in versions]
    if missing:
        lines += [
            "Not installed here, so not measured: " + ", ".join(missing) + " "
            "(`pip install torch==2.13.0` for PyTorch's CPU build).",
            "",
        ]
    if versions:
        with np.errstate(all="ignore"):
            table = measure(quick=quick, progress=progress, impls=impls)
        lines += ["## Error by dtype and regime", "", *tables(table)]
    md = out / "numerical_error_frameworks.md"
    md.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    summary = [
        "The BNs of the installed deep-learning frameworks (PyTorch today) on the regimes of "
        "numerical_error.md, with bncheck beside them.",
        "Their arithmetic depends on the framework's build and the CPU, so the file records "
        "the machine and versions and this index carries no numbers from it.",
    ]
    return Built([md], summary)
