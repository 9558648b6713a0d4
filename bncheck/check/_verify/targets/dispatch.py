"""Adapters: one layer-like protocol over every kind of target (run inside the worker process).

Every adapter offers the same methods, so the checks never ask what kind of target they test:

    describe() -> info                      kind, mapping found, ranks, ... (probes the target)
    new(num_features, dtype, eps) -> info   fresh instance
    set_params(gamma, beta)                 learnable parameters
    forward(x, train) -> y                  train or eval mode; x has its channels on axis 1
    backward(dy) -> (dx, dgamma, dbeta)     for the last forward
    state() -> dict                         running_mean, running_var, gamma, beta, eps, ...
    contract() -> [str]                     interface deviations seen (shapes, ...)
    variant(name)                           switch to another backward (cs231n's _alt)

Target forms: functional ``forward(x, gamma, beta, eps) -> (y, cache)`` / ``backward(dy,
cache)`` (or ``prefix_forward`` / ``prefix_backward``); cs231n-style ``batchnorm_forward(x,
gamma, beta, <param dict>)`` / ``batchnorm_backward(dout, cache)`` with ``_alt`` and
``spatial_`` variants; a layer, whose construction, mode switch, parameter and statistic names
and gradient location are detected (:mod:`bncheck.check._verify.targets.protocol`,
:mod:`bncheck.check._verify.targets.layout`); a PyTorch module.

The adapters live in ``adapter_functional``, ``adapter_cs231n``, ``adapter_layer`` (with
``adapter_layer_driver``) and ``adapter_torch``, what they share in ``adapter_common``. This
module picks one for a target: :func:`load_adapter`.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bncheck.check._verify.targets import protocol as P
from bncheck.check._verify.targets.common import _arr
from bncheck.check._verify.targets.cs231n import Cs231nAdapter
from bncheck.check._verify.targets.frameworks import framework_adapter, prepare_target
from bncheck.check._verify.targets.functional import FunctionalAdapter
from bncheck.check._verify.targets.layer import LayerAdapter
from bncheck.check._verify.targets.torch_module import TorchAdapter
from bncheck.exceptions import LoadError

__all__ = ["load_adapter"]


def _import_file(path: Path) -> types.ModuleType:
    if not path.is_file():
        raise LoadError(f"target file {str(path)!r} does not exist")
    name = f"_bncheck_target_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LoadError(f"cannot import {str(path)!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _resolve(spec: str) -> tuple[Any, str | None]:
    """'file.py[:name]' or 'pkg.mod[:name]' or 'pkg.mod.Attr' -> (module or object, name)."""
    base, _, attr = spec.partition(":")
    if base.endswith(".py") or os.sep in base:
        return _import_file(Path(base)), attr or None
    try:
        return importlib.import_module(base), attr or None
    except ImportError as exc:
        missing = getattr(exc, "name", None)
        if missing is not None and not base.startswith(missing) and missing != base:
            raise  # the target exists, and its own import of another module failed
        if attr or "." not in base:
            raise LoadError(f"no module named {base!r}") from None
        mod_name, _, last = base.rpartition(".")
        try:
            module = importlib.import_module(mod_name)
        except ImportError:
            raise LoadError(f"no module named {mod_name!r} (nor {base!r})") from None
        if not hasattr(module, last):
            raise LoadError(f"module {mod_name!r} has no {last!r}") from None
        return getattr(module, last), None


def _is_torch_module(obj: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def _is_torch_class(obj: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and inspect.isclass(obj) and issubclass(obj, torch.nn.Module)


def _from_factory(factory: Callable[..., Any], name: str, axis: int) -> Any:
    if _is_torch_class(factory):
        return TorchAdapter(factory, name, axis=axis)
    if inspect.isfunction(factory):
        # a factory function may build a torch module
        try:
            params = inspect.signature(factory).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        if len([p for p in params.values() if p.default is p.empty]) == 1:
            probe = factory(2)
            if _is_torch_module(probe):
                return TorchAdapter(factory, name, axis=axis)
    return LayerAdapter(factory, name, axis=axis)


CS231N_NOT_PARAM = ("eps", "epsilon")


def _from_module(module: Any, prefix: str | None, name: str, axis: int = 1) -> Any:
    fname, bname = (
        (f"{prefix}_forward", f"{prefix}_backward") if prefix else ("forward", "backward")
    )
    if callable(getattr(module, fname, None)) and callable(getattr(module, bname, None)):
        return FunctionalAdapter(getattr(module, fname), getattr(module, bname), name)
    cf, cb = getattr(module, "batchnorm_forward", None), getattr(module, "batchnorm_backward", None)
    if prefix is None and callable(cf) and callable(cb):
        params = list(inspect.signature(cf).parameters.values())
        if len(params) >= 4 and params[3].name not in CS231N_NOT_PARAM:
            sf = getattr(module, "spatial_batchnorm_forward", None)
            sb = getattr(module, "spatial_batchnorm_backward", None)
            spatial = (sf, sb) if callable(sf) and callable(sb) else None
            variants: dict[str, tuple[Callable[..., Any], Callable[..., Any] | None]] = {}
            alt = getattr(module, "batchnorm_backward_alt", None)
            if callable(alt):
                variants["batchnorm_backward_alt"] = (cf, alt)
            return Cs231nAdapter(cf, cb, name, spatial, variants, params[3].name)
        if len(params) >= 4:
            key = params[3].name
            return FunctionalAdapter(
                lambda x, g, b, eps: cf(x, g, b, **{key: eps}), lambda dy, c: cb(dy, c), name
            )
        if len(params) == 3:  # eps hard-coded inside: inferred from the outputs
            return FunctionalAdapter(cf, cb, name)
        raise LoadError(
            f"{name}: batchnorm_forward takes {len(params)} parameters; expected (x, gamma, "
            "beta, bn_param) or (x, gamma, beta, eps)"
        )
    what = f"{fname}/{bname}" if prefix else "forward/backward or batchnorm_forward/_backward"
    if prefix is None:
        classes = _bn_classes(module)
        if len(classes) == 1:  # the module's only BN layer class
            ((cls_name, cls),) = classes.items()
            return _from_factory(cls, f"{name}:{cls_name}", axis)
        if classes:
            raise LoadError(
                f"target {name!r} has no {what}, and several layer classes: "
                f"{', '.join(sorted(classes))}; name one, e.g. {name}:{sorted(classes)[0]}"
            )
    raise LoadError(f"target {name!r} has no {what}")


def _bn_classes(module: Any) -> dict[str, Any]:
    """Classes defined in ``module`` that look like a BN layer: a forward (or __call__) and a
    name with "norm" or "bn" in it, or a backward; helper base classes are left out."""
    found = {}
    for key, value in vars(module).items():
        if not inspect.isclass(value) or getattr(value, "__module__", None) != module.__name__:
            continue
        calls = callable(getattr(value, "forward", None)) or "__call__" in vars(value)
        lowered = key.lower()
        named = "norm" in lowered or lowered.startswith("bn") or lowered.endswith("bn")
        if calls and named:
            found[key] = value
    return found


def _from_object(obj: Any, name: str, axis: int) -> Any:
    found = framework_adapter(obj, axis, name=name)  # Flax, Keras: frameworks.py
    if found is not None:
        return found
    if isinstance(obj, types.ModuleType):
        return _from_module(obj, None, name, axis)
    if isinstance(obj, tuple) and len(obj) == 2 and all(callable(f) for f in obj):
        return FunctionalAdapter(obj[0], obj[1], name)
    if inspect.isclass(obj) or inspect.isfunction(obj) or isinstance(obj, types.MethodType):
        return _from_factory(obj, name, axis)
    if _is_torch_module(obj):
        module = TorchAdapter(None, name, instance=obj, axis=axis)
        module.channels = int(getattr(obj, "num_features", 0)) or None
        return module
    if hasattr(obj, "forward") or hasattr(obj, "backward"):
        adapter = LayerAdapter(None, name, instance=obj, axis=axis)
        count = getattr(obj, "num_features", None)
        if not isinstance(count, int):
            found = P.find_pair(obj, P.PARAM_NAMES, P.CONTAINERS, None, allow_none=False)
            count = int(np.asarray(_arr(found[0].get(obj))).size) if found else None
        adapter.channels = count
        return adapter
    raise LoadError(f"cannot use {type(obj).__name__} {name!r} as a BN target")


def load_adapter(target: Any, axis: int = 1, ndims: tuple[int, ...] = (2, 4)) -> Any:
    """Build the adapter for a target spec string or object (called in the worker process);
    ``ndims``: the ranks asked for, probed first."""
    if isinstance(target, str):
        prepare_target(target)  # KERAS_BACKEND=jax before any import; a missing framework
        obj, attr = _resolve(target)
        if attr is None:
            adapter = _from_object(obj, target, axis)
        elif callable(getattr(obj, f"{attr}_forward", None)):
            adapter = _from_module(obj, attr, target)
        elif not hasattr(obj, attr):
            raise LoadError(f"{target!r}: the module has no {attr!r} (nor {attr}_forward)")
        else:
            adapter = _from_object(getattr(obj, attr), target, axis)
    else:
        adapter = _from_object(target, getattr(target, "__name__", type(target).__name__), axis)
    adapter.wanted = tuple(ndims)
    return adapter
