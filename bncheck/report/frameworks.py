"""``numerical_error_frameworks.md``: the numerical error of the frameworks' own BNs.

The same regimes, truth and metric as ``numerical_error.md``, for the BNs of the deep-learning
frameworks that are installed: PyTorch, Flax (``flax.linen.BatchNorm`` as it is, with its
default one-pass "fast variance", and with ``use_fast_variance=False``; ``flax.nnx.BatchNorm``
runs the same statistics code) and Keras 3 on JAX. Each framework's train step (forward and
vjp) runs as a training loop runs it (JAX: one ``jax.jit`` program; float64 with
``jax_enable_x64``), with eps = 1e-5 for all (Keras' default is 1e-3). Their arithmetic belongs
to the installed build and to the CPU (SIMD width, threads, library versions), so this file is
regenerated but, like the timings in ``performance.md``, never compared byte for byte; the
index carries no numbers from it.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bncheck.report.bench import machine
from bncheck.report.build import HEADER, Built
from bncheck.report.numerical_error import EPS, Result, bncheck_bn, measure, tables

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


def _jax(x: Any) -> Any:
    """JAX, with float64 enabled for a float64 input and disabled otherwise (its default)."""
    jax = importlib.import_module("jax")
    jax.config.update("jax_enable_x64", x.dtype == np.float64)
    return jax


def _program(fn: Callable[..., Any]) -> Any:
    """One train step of ``fn(params, x)`` as a ``jax.jit`` program: (p, x, dy) -> y and the
    gradients for dy. Each program is made once per layer configuration, so cases of the same
    shape and dtype reuse its compilation."""
    jax = importlib.import_module("jax")

    def step(p: Any, xl: Any, dyl: Any) -> Any:
        y, pull = jax.vjp(fn, p, xl)
        return y, pull(dyl.astype(y.dtype))

    return jax.jit(step)


def _jax_step(program: Any, params: Any, x: Any, dy: Any) -> Result:
    """y and the gradients of a :func:`_program` (channels last) for dy; x and dy come and go
    with channels on axis 1."""
    last = (np.moveaxis(x, 1, -1).copy(), np.moveaxis(dy, 1, -1).copy())
    y, (grads, dx) = program(params, *last)
    names = ("scale", "bias") if isinstance(grads, dict) else (0, 1)
    return (
        np.moveaxis(np.asarray(y), -1, 1),
        np.moveaxis(np.asarray(dx), -1, 1),
        np.asarray(grads[names[0]]),
        np.asarray(grads[names[1]]),
    )


@functools.cache
def _flax_program(fast: bool, dtype: str, channels: int) -> Any:
    """``flax.linen.BatchNorm``'s train step for ``channels`` channels of ``dtype`` (JAX's
    float64 switch already set for that dtype)."""
    nn = importlib.import_module("flax.linen")
    jax = importlib.import_module("jax")
    module = nn.BatchNorm(
        use_running_average=False, epsilon=EPS, use_fast_variance=fast, param_dtype=np.dtype(dtype)
    )
    stats = module.init(jax.random.PRNGKey(0), np.zeros((2, channels), dtype))["batch_stats"]

    def fn(p: Any, xl: Any) -> Any:
        return module.apply({"params": p, "batch_stats": stats}, xl, mutable=["batch_stats"])[0]

    return _program(fn)


def _flax(fast: bool) -> Callable[..., Result]:
    def run(x: Any, g: Any, b: Any, dy: Any) -> Result:
        _jax(x)
        program = _flax_program(fast, x.dtype.name, x.shape[1])
        return _jax_step(program, {"scale": g, "bias": b}, x, dy)

    return run


@functools.cache
def _keras_program(dtype: str, shape: tuple[int, ...]) -> Any:
    """Keras' ``BatchNormalization`` train step for inputs of ``shape`` (channels on axis 1;
    the batch size aside) and ``dtype`` (JAX's float64 switch already set for that dtype)."""
    keras = importlib.import_module("keras")
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype)
    try:
        layer = keras.layers.BatchNormalization(epsilon=EPS)
    finally:
        keras.config.set_dtype_policy(before)
    layer.build((None, shape[0]) if len(shape) == 1 else (None, *shape[1:], shape[0]))
    fixed = [v.value for v in layer.non_trainable_variables]

    def fn(p: Any, xl: Any) -> Any:
        return layer.stateless_call(list(p), fixed, xl, training=True)[0]

    return _program(fn)


def _keras(x: Any, g: Any, b: Any, dy: Any) -> Result:
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = importlib.import_module("keras")
    if keras.backend.backend() != "jax":
        raise RuntimeError(f"keras runs on {keras.backend.backend()!r} here, not on JAX")
    _jax(x)
    return _jax_step(_keras_program(x.dtype.name, x.shape[1:]), (g, b), x, dy)


def _version(module: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return None
    if module == "keras":
        os.environ.setdefault("KERAS_BACKEND", "jax")
    try:
        found = importlib.import_module(module)
        if module == "keras" and (found.backend.backend() != "jax" or _version("jax") is None):
            return None  # bncheck measures Keras on JAX only
        return str(found.__version__)
    except Exception:  # an install that cannot be imported counts as absent
        return None


#: name -> (importable module, implementation(x, gamma, beta, dy) -> (y, dx, dgamma, dbeta))
FRAMEWORKS: dict[str, tuple[str, Callable[..., Result]]] = {
    "PyTorch CPU": ("torch", _torch),
    "Flax": ("flax", _flax(True)),
    "Flax, two-pass": ("flax", _flax(False)),
    "Keras (JAX)": ("keras", _keras),
}
#: how to install each framework's module, for the note on what was not measured
INSTALL = {
    "torch": "`pip install torch==2.13.0` for PyTorch's CPU build",
    "flax": "`pip install 'bncheck[jax]'` for Flax",
    "keras": "`pip install 'bncheck[keras]'` for Keras on JAX",
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
    impls = {"bncheck": bncheck_bn} | {n: FRAMEWORKS[n][1] for n in versions}
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
        hints = dict.fromkeys(INSTALL[FRAMEWORKS[n][0]] for n in missing)
        lines += [
            "Not installed here, so not measured: " + ", ".join(missing) + " "
            f"({'; '.join(hints)}).",
            "",
        ]
    if any(n.startswith(("Flax", "Keras")) for n in versions):
        lines += [
            "Flax and Keras run each train step (forward and vjp) as one `jax.jit` program, "
            "float64 with `jax_enable_x64`, channels last, eps = 1e-5. *Flax* is "
            "`flax.linen.BatchNorm` as it is: its default `use_fast_variance=True` computes "
            "the variance in one pass, E[x²] − E[x]², which cancels when the mean is large "
            "against the spread (`flax.nnx.BatchNorm` runs the same code); *Flax, two-pass* "
            "is the same layer with `use_fast_variance=False`. *Keras (JAX)* computes float64 "
            "input in float32 (its dtype promotion maps float64 to float32 off TensorFlow), "
            "so its float64 errors are of float32 size. `bncheck verify` names both "
            "(one-pass-variance, float32-arithmetic).",
            "",
        ]
    if versions:
        with np.errstate(all="ignore"):
            table = measure(quick=quick, progress=progress, impls=impls)
        lines += ["## Error by dtype and regime", "", *tables(table)]
    md = out / "numerical_error_frameworks.md"
    md.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    summary = [
        "The BNs of the installed deep-learning frameworks (PyTorch, Flax, Keras on JAX) on "
        "the regimes of numerical_error.md, with bncheck beside them.",
        "Their arithmetic depends on the framework's build and the CPU, so the file records "
        "the machine and versions and this index carries no numbers from it.",
    ]
    return Built([md], summary)
