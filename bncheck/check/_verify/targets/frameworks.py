"""Framework targets: the BNs of Flax (linen, nnx) and Keras 3 on JAX (run in the worker process).

A class, an instance or a user subclass of ``flax.linen.Module``, ``flax.nnx.Module`` or
``keras.layers.Layer`` (also a target file defining one, or a dotted name such as
``"flax.linen.BatchNorm"``) is driven through JAX, as a training loop drives it: a pure
``call(train, params, stats, x) -> (y, new_stats)`` under ``jax.jit``, gradients by ``jax.vjp``
of y for dy (dx; dgamma and dbeta from the scale/gamma and bias/beta leaves of the parameters),
the running statistics read after each train step. Each framework has its adapter
(:mod:`~bncheck.check._verify.targets.flax_bn`, :mod:`~bncheck.check._verify.targets.keras_bn`);
:class:`~bncheck.check._verify.targets.jax_driver.JaxAdapter` is what they share, and
:func:`framework_adapter` is the hook the loader calls.

What the mapping reports is found, not assumed: the channel axis (Flax and Keras normalize the
LAST axis by default; bncheck's inputs have channels on axis 1 and are moved there), eps and
momentum as the layer holds them, and, from probe steps, what the running update weighs
(momentum as the weight of the old value or of the new batch), whether the running variance is
biased, and whether the batch variance is computed in one pass (E[x²] − E[x]², Flax's
``use_fast_variance``), which a batch of mean 1e8 shows.

float64 runs enable ``jax_enable_x64`` in the target process (JAX otherwise computes float64
input in float32, silently); float32 and float16 runs disable it again, as a default JAX
session has it. Parameters are cast to the run's dtype, as ``module.to(dtype)`` does in PyTorch.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
import types
from typing import Any

from bncheck.check._verify.process.adapter import Adapter
from bncheck.check._verify.targets.flax_bn import LinenAdapter, NnxAdapter
from bncheck.check._verify.targets.keras_bn import KerasAdapter
from bncheck.exceptions import LoadError

__all__ = ["extra_for", "framework_adapter", "kind_of", "prepare_target"]

#: the top-level package of a dotted target name -> (packages it needs, bncheck's extra)
NEEDS = {
    "torch": (("torch",), "compare"),
    "flax": (("jax", "flax"), "jax"),
    "jax": (("jax",), "jax"),
    "keras": (("keras", "jax"), "keras"),
}


def _importable(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # e.g. sys.modules[package] set to None
        return False


def extra_for(module: str | None) -> str | None:
    """The bncheck extra that installs the framework ``module`` belongs to (None: not one)."""
    top = (module or "").partition(".")[0]
    return NEEDS[top][1] if top in NEEDS else None


def prepare_target(spec: str) -> None:
    """Before a target spec is imported: Keras 3 on the JAX backend, and a dotted name of a
    framework that is not installed (``torch.nn.BatchNorm1d``, ``torch.nn:BatchNorm1d``,
    ``flax.linen.BatchNorm``, ``keras.layers.BatchNormalization``, ...) is a usage error
    naming bncheck's extra."""
    os.environ["KERAS_BACKEND"] = "jax"
    base = spec.partition(":")[0]
    if base.endswith(".py") or os.sep in base:
        return
    top = base.split(".")[0]
    if top not in NEEDS:
        return
    packages, extra = NEEDS[top]
    missing = [p for p in packages if not _importable(p)]
    if missing:
        raise LoadError(
            f"{spec!r} needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'}"
            f" not installed here: pip install 'bncheck[{extra}]'"
        )


def kind_of(obj: Any) -> str | None:
    """'flax.linen', 'flax.nnx' or 'keras' for a class or instance of theirs (None otherwise);
    a framework that is not imported cannot be the target's."""
    is_class = inspect.isclass(obj)
    for kind, module, base in (
        ("flax.linen", "flax.linen", "Module"),
        ("flax.nnx", "flax.nnx", "Module"),
        ("keras", "keras", "Layer"),
    ):
        mod = sys.modules.get(module)
        if mod is None:
            continue
        cls = (
            getattr(mod, base, None)
            if kind != "keras"
            else getattr(getattr(mod, "layers", None), base, None)
        )
        if cls is None:
            continue
        try:
            if (is_class and issubclass(obj, cls)) or (not is_class and isinstance(obj, cls)):
                return kind
        except TypeError:
            continue
    return None


def class_in_module(module: types.ModuleType, name: str) -> tuple[Any, str] | None:
    """The one framework BN class a target file defines (several: the ones named like a BN)."""
    found = {
        k: v
        for k, v in vars(module).items()
        if inspect.isclass(v)
        and getattr(v, "__module__", None) == module.__name__
        and kind_of(v) is not None
    }
    if len(found) > 1:
        named = {
            k: v
            for k, v in found.items()
            if "norm" in k.lower() or k.lower().startswith("bn") or k.lower().endswith("bn")
        }
        found = named or found
    if not found:
        return None
    if len(found) > 1:
        raise LoadError(
            f"target {name!r} defines several framework layers: {', '.join(sorted(found))}; "
            f"name one, e.g. {name}:{sorted(found)[0]}"
        )
    ((key, cls),) = found.items()
    return cls, f"{name}:{key}"


def framework_adapter(
    obj: Any, axis: int = 1, ndims: tuple[int, ...] = (2, 4), name: str | None = None
) -> Adapter | None:
    """The adapter of a Flax (linen or nnx) or Keras target, or None when ``obj`` is none.

    Parameters
    ----------
    obj : a class or instance of ``flax.linen.Module``, ``flax.nnx.Module`` or
        ``keras.layers.Layer`` (a user subclass too), or a module (a target file) defining
        exactly one such class.
    axis : the channel axis verify was given (the layer's own axis is detected and used).
    ndims : the input ranks asked for, probed first.
    name : the target's name in the report.

    Examples
    --------
    >>> from bncheck.check._verify.targets.frameworks import framework_adapter
    >>> framework_adapter(object()) is None
    True
    """
    name = name or str(getattr(obj, "__name__", type(obj).__name__))
    if isinstance(obj, types.ModuleType):
        found = class_in_module(obj, name)
        if found is None:
            return None
        obj, name = found
    kind = kind_of(obj)
    if kind is None:
        return None
    if kind == "keras":
        adapter: Adapter = KerasAdapter(obj, name, axis=axis)
    else:
        cls = LinenAdapter if kind == "flax.linen" else NnxAdapter
        adapter = cls(obj, name, axis=axis)
    adapter.wanted = tuple(ndims)
    return adapter
