"""``family_error_frameworks.md``: the numerical error of the frameworks' LayerNorm, RMSNorm
and GroupNorm.

The members, regimes, truth and metric of ``family_error.md`` for the installed frameworks:
PyTorch's ``torch.nn.functional.layer_norm``, ``rms_norm`` and ``group_norm`` (autograd for the
backward), Flax's ``flax.linen.LayerNorm``, ``RMSNorm`` and ``GroupNorm`` (as they are, with
their default one-pass "fast variance", and with ``use_fast_variance=False``) and Keras 3's
``LayerNormalization``, ``RMSNormalization`` and ``GroupNormalization`` on JAX. Each JAX train
step (forward and vjp) is one ``jax.jit`` program (float64 with ``jax_enable_x64``); GroupNorm
runs channels last there. eps = 1e-5 for all. Their arithmetic belongs to the installed build
and the CPU, so this file is regenerated but never compared byte for byte, and the index
carries no numbers from it (as for ``numerical_error_frameworks.md``, whose list of installed
frameworks and versions this page shares).
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bncheck.report.bench import machine
from bncheck.report.build import HEADER, Built
from bncheck.report.family_error import EPS, Norm, Result, bncheck_norm, measure, tables
from bncheck.report.frameworks import INSTALL, available

__all__ = ["FRAMEWORKS", "build"]


def _torch(norm: Norm, x: Any, g: Any, b: Any, dy: Any) -> Result:
    import torch

    torch.set_num_threads(2)
    functional = torch.nn.functional
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    gt = torch.from_numpy(g.copy()).requires_grad_(True)
    bt = None if b is None else torch.from_numpy(b.copy()).requires_grad_(True)
    kind = norm.member.kind
    if kind == "layer":
        y = functional.layer_norm(xt, (x.shape[-1],), gt, bt, EPS)
    elif kind == "rms":
        y = functional.rms_norm(xt, (x.shape[-1],), gt, EPS)
    else:
        y = functional.group_norm(xt, norm.member.groups, gt, bt, EPS)
    y.backward(torch.from_numpy(dy.copy()))
    assert xt.grad is not None and gt.grad is not None
    dbeta = None if bt is None or bt.grad is None else bt.grad.numpy()
    return y.detach().numpy(), xt.grad.numpy(), gt.grad.numpy(), dbeta


def _jax(x: Any) -> Any:
    """JAX, with float64 enabled for a float64 input and disabled otherwise (its default)."""
    jax = importlib.import_module("jax")
    jax.config.update("jax_enable_x64", x.dtype == np.float64)
    return jax


def _program(fn: Callable[..., Any]) -> Any:
    """One train step of ``fn(params, x)`` as a ``jax.jit`` program: (p, x, dy) -> y and the
    gradients (params, x) for dy."""
    jax = importlib.import_module("jax")

    def step(p: Any, xl: Any, dyl: Any) -> Any:
        y, pull = jax.vjp(fn, p, xl)
        return y, pull(dyl.astype(y.dtype))

    return jax.jit(step)


def _last(norm: Norm, a: Any) -> Any:
    """Channels last for GroupNorm (the JAX layers' layout); the others as they are."""
    return np.moveaxis(a, 1, -1).copy() if norm.member.kind == "group" else a.copy()


def _back(norm: Norm, a: Any) -> Any:
    return np.moveaxis(np.asarray(a), -1, 1) if norm.member.kind == "group" else np.asarray(a)


@functools.cache
def _flax_program(fast: bool, norm: Norm, dtype: str) -> Any:
    """The linen layer's train step for ``norm`` in ``dtype`` (JAX's float64 switch set)."""
    nn = importlib.import_module("flax.linen")
    dt = np.dtype(dtype)
    kind = norm.member.kind
    module: Any
    if kind == "layer":
        module = nn.LayerNorm(epsilon=EPS, use_fast_variance=fast, param_dtype=dt)
    elif kind == "rms":
        module = nn.RMSNorm(epsilon=EPS, use_fast_variance=fast, param_dtype=dt)
    else:
        module = nn.GroupNorm(
            num_groups=norm.member.groups, epsilon=EPS, use_fast_variance=fast, param_dtype=dt
        )

    def fn(p: Any, xl: Any) -> Any:
        return module.apply({"params": p}, xl)

    return _program(fn)


def _flax(fast: bool) -> Callable[..., Result]:
    def run(norm: Norm, x: Any, g: Any, b: Any, dy: Any) -> Result:
        _jax(x)
        params = {"scale": g} | ({} if b is None else {"bias": b})
        y, (grads, dx) = _flax_program(fast, norm, x.dtype.name)(
            params, _last(norm, x), _last(norm, dy)
        )
        dbeta = None if b is None else np.asarray(grads["bias"])
        return _back(norm, y), _back(norm, dx), np.asarray(grads["scale"]), dbeta

    return run


@functools.cache
def _keras_program(norm: Norm, dtype: str, shape: tuple[int, ...]) -> Any:
    """The Keras layer's train step for channels-last inputs of ``shape`` (batch size aside)
    in ``dtype``, and the names of its trainable variables in order."""
    keras = importlib.import_module("keras")
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype)
    try:
        kind = norm.member.kind
        if kind == "layer":
            layer = keras.layers.LayerNormalization(axis=-1, epsilon=EPS)
        elif kind == "rms":
            layer = keras.layers.RMSNormalization(axis=-1, epsilon=EPS)
        else:
            layer = keras.layers.GroupNormalization(groups=norm.member.groups, axis=-1, epsilon=EPS)
    finally:
        keras.config.set_dtype_policy(before)
    layer.build((None, *shape))
    names = [v.name for v in layer.trainable_variables]
    fixed = [v.value for v in layer.non_trainable_variables]

    def fn(p: Any, xl: Any) -> Any:
        return layer.stateless_call(list(p), fixed, xl)[0]

    return _program(fn), names


def _keras(norm: Norm, x: Any, g: Any, b: Any, dy: Any) -> Result:
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = importlib.import_module("keras")
    if keras.backend.backend() != "jax":
        raise RuntimeError(f"keras runs on {keras.backend.backend()!r} here, not on JAX")
    _jax(x)
    xl = _last(norm, x)
    program, names = _keras_program(norm, x.dtype.name, xl.shape[1:])
    values = {"gamma": g, "scale": g, "beta": b}
    params = tuple(values[n] for n in names)
    y, (grads, dx) = program(params, xl, _last(norm, dy))
    by = dict(zip(names, grads, strict=True))
    dgamma = by.get("gamma", by.get("scale"))
    dbeta = None if b is None else np.asarray(by["beta"])
    return _back(norm, y), _back(norm, dx), np.asarray(dgamma), dbeta


#: name (as in ``bncheck.report.frameworks.FRAMEWORKS``, whose versions it shares) ->
#: implementation(norm, x, gamma, beta, dy) -> (y, dx, dgamma, dbeta)
FRAMEWORKS: dict[str, Callable[..., Result]] = {
    "PyTorch CPU": _torch,
    "Flax": _flax(True),
    "Flax, two-pass": _flax(False),
    "Keras (JAX)": _keras,
}


def build(
    out: Path, *, quick: bool = False, progress: Callable[[str], None] | None = None
) -> Built:
    out.mkdir(parents=True, exist_ok=True)
    versions = {n: v for n, v in available().items() if n in FRAMEWORKS}
    impls = {"bncheck": bncheck_norm} | {n: FRAMEWORKS[n] for n in versions}
    lines = [
        HEADER,
        "# Numerical error of the frameworks' LayerNorm, RMSNorm and GroupNorm",
        "",
        "The members, regimes, mpmath truth and normwise ULP metric of "
        "[family_error.md](family_error.md), for the layers of each framework installed where "
        "this file was made, with bncheck beside them. Measured on: "
        f"{machine()}; "
        + (
            ", ".join(f"{n} {v}" for n, v in versions.items())
            if versions
            else "no framework installed"
        )
        + ". A framework's arithmetic depends on its build and on the CPU, so this file differs "
        "from machine to machine and is not compared byte for byte. `n/a`: the framework "
        "cannot run that case (a dtype its CPU kernels lack).",
        "",
    ]
    missing = [n for n in FRAMEWORKS if n not in versions]
    if missing:
        hints = dict.fromkeys(INSTALL[m] for m in ("torch", "flax", "keras") if _absent(m, missing))
        lines += [
            "Not installed here, so not measured: " + ", ".join(missing) + " "
            f"({'; '.join(hints)}).",
            "",
        ]
    if versions:
        lines += [
            "PyTorch: `torch.nn.functional.layer_norm`, `rms_norm` and `group_norm`, the "
            "backward by autograd, 2 threads. Flax and Keras run each train step (forward and "
            "vjp) as one `jax.jit` program, float64 with `jax_enable_x64`, GroupNorm channels "
            "last. *Flax* is `flax.linen.LayerNorm`, `RMSNorm` and `GroupNorm` as they are: "
            "their default `use_fast_variance=True` computes the variance in one pass, "
            "E[x²] − E[x]²; *Flax, two-pass* is the same layers with `use_fast_variance=False`. "
            "*Keras (JAX)*: `LayerNormalization`, `RMSNormalization` and "
            "`GroupNormalization`; it computes float64 input in float32 (as its BN does, "
            "numerical_error_frameworks.md), so its float64 errors are of float32 size.",
            "",
        ]
        with np.errstate(all="ignore"):
            table = measure(quick=quick, progress=progress, impls=impls)
        lines += ["## Error by member, dtype and regime", "", *tables(table)]
    md = out / "family_error_frameworks.md"
    md.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    summary = [
        "The LayerNorm, RMSNorm and GroupNorm of the installed deep-learning frameworks "
        "(PyTorch, Flax, Keras on JAX) on the regimes of family_error.md, with bncheck beside "
        "them.",
        "Their arithmetic depends on the framework's build and the CPU, so the file records "
        "the machine and versions and this index carries no numbers from it.",
    ]
    return Built([md], summary)


def _absent(module: str, missing: list[str]) -> bool:
    owner = {
        "torch": ("PyTorch CPU",),
        "flax": ("Flax", "Flax, two-pass"),
        "keras": ("Keras (JAX)",),
    }
    return any(n in missing for n in owner[module])
