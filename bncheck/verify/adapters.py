"""Adapters: one layer-like protocol over every kind of target (run inside the worker process).

Every adapter offers the same methods, so the checks never ask what kind of target they test:

    new(num_features, dtype, eps) -> info   fresh instance; info = its momentum, eps, ...
    set_params(gamma, beta)                 learnable parameters (None = leave as they are)
    forward(x, train) -> y                  train or eval mode
    backward(dy) -> (dx, dgamma, dbeta)     for the last forward
    state() -> dict                         running_mean, running_var, gamma, beta, ...

Target forms (DESIGN §6): functional ``forward(x, gamma, beta, eps) -> (y, cache)`` /
``backward(dy, cache)`` (or ``prefix_forward`` / ``prefix_backward``); cs231n-style
``batchnorm_forward(x, gamma, beta, bn_param)`` / ``batchnorm_backward(dout, cache)``; a layer
factory whose objects have ``forward(x, train=...)`` and ``backward(dy)``; a layer with
``train()``/``eval()`` modes and ``forward(x)`` (bncheck.BatchNorm); a PyTorch module.
"""

from __future__ import annotations

import copy
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

from bncheck.verify.worker import LoadError

__all__ = ["load_adapter"]

STATE_KEYS = ("running_mean", "running_var", "gamma", "beta", "momentum", "eps")


def _arr(value: Any) -> Any:
    """Tensors and array-likes to NumPy; None and junk pass through for the parent to judge."""
    if value is None:
        return None
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy().copy()
    try:
        return np.array(value)
    except Exception:
        return value


def _grads(result: Any, what: str) -> tuple[Any, Any, Any]:
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        raise TypeError(f"{what} returned {type(result).__name__}; expected (dx, dgamma, dbeta)")
    return _arr(result[0]), _arr(result[1]), _arr(result[2])


class FunctionalAdapter:
    kind = "functional"

    def __init__(self, fwd: Callable[..., Any], bwd: Callable[..., Any], name: str) -> None:
        self.fwd, self.bwd, self.name = fwd, bwd, name
        self.gamma: Any = None
        self.beta: Any = None
        self.eps = 1e-5
        self.cache: Any = None

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "running": False}

    def watched(self) -> dict[str, Any]:
        """Arrays this adapter passes to the target, checked for in-place changes."""
        return {"gamma": self.gamma, "beta": self.beta}

    def new(self, num_features: int, dtype: str, eps: float) -> dict[str, Any]:
        self.gamma = np.ones(num_features, dtype)
        self.beta = np.zeros(num_features, dtype)
        self.eps, self.cache = eps, None
        return {"eps": eps}

    def set_params(self, gamma: Any, beta: Any) -> None:
        self.gamma, self.beta = gamma.copy(), beta.copy()

    def forward(self, x: Any, train: bool) -> Any:
        if not train:
            raise NotImplementedError("a functional target has no eval mode")
        out = self.fwd(x, self.gamma, self.beta, self.eps)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise TypeError(f"forward returned {type(out).__name__}; expected (y, cache)")
        y, self.cache = out
        return _arr(y)

    def backward(self, dy: Any) -> tuple[Any, Any, Any]:
        return _grads(self.bwd(dy, self.cache), "backward")

    def state(self) -> dict[str, Any]:
        return {"gamma": self.gamma, "beta": self.beta, "eps": self.eps}


class Cs231nAdapter(FunctionalAdapter):
    """``batchnorm_forward(x, gamma, beta, bn_param)``: running statistics live in bn_param."""

    kind = "cs231n"
    MOMENTUM = 0.9  # cs231n's default, passed explicitly so the checks know it

    def __init__(
        self,
        fwd: Callable[..., Any],
        bwd: Callable[..., Any],
        name: str,
        spatial: tuple[Callable[..., Any], Callable[..., Any]] | None = None,
    ) -> None:
        super().__init__(fwd, bwd, name)
        self.flat = (fwd, bwd)
        self.spatial = spatial

    def describe(self) -> dict[str, Any]:
        # cs231n's batchnorm_forward takes (N, D); (N, C, H, W) needs spatial_batchnorm_forward
        ndims = [2, 4] if self.spatial else [2]
        return {"kind": self.kind, "name": self.name, "running": True, "ndims": ndims}

    def new(self, num_features: int, dtype: str, eps: float) -> dict[str, Any]:
        super().new(num_features, dtype, eps)
        self.bn_param: dict[str, Any] = {
            "mode": "train",
            "eps": eps,
            "momentum": self.MOMENTUM,
            "running_mean": np.zeros(num_features, dtype),
            "running_var": np.ones(num_features, dtype),
        }
        return {"eps": eps, "momentum": self.MOMENTUM}

    def forward(self, x: Any, train: bool) -> Any:
        self.fwd, self.bwd = self.spatial if x.ndim == 4 and self.spatial else self.flat
        self.bn_param["mode"] = "train" if train else "test"
        out = self.fwd(x, self.gamma, self.beta, self.bn_param)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise TypeError(
                f"batchnorm_forward returned {type(out).__name__}; expected (out, cache)"
            )
        y, self.cache = out
        return _arr(y)

    def state(self) -> dict[str, Any]:
        return {
            "running_mean": _arr(self.bn_param.get("running_mean")),
            "running_var": _arr(self.bn_param.get("running_var")),
            "gamma": self.gamma,
            "beta": self.beta,
            "momentum": self.bn_param.get("momentum"),
            "eps": self.bn_param.get("eps"),
        }


class LayerAdapter:
    """Objects from ``factory(num_features)`` with ``forward(x, train=...)`` and ``backward``."""

    kind = "layer"

    def __init__(self, factory: Callable[[int], Any], name: str) -> None:
        self.factory, self.name = factory, name
        self.obj: Any = None
        #: an instance target has a fixed number of channels; a factory takes any
        self.channels: int | None = None

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "running": True, "channels": self.channels}

    def new(self, num_features: int, dtype: str, eps: float) -> dict[str, Any]:
        self.obj = self.factory(num_features)
        return self.state()

    def set_params(self, gamma: Any, beta: Any) -> None:
        self.obj.gamma, self.obj.beta = gamma.copy(), beta.copy()

    def forward(self, x: Any, train: bool) -> Any:
        return _arr(self.obj.forward(x, train=train))

    def backward(self, dy: Any) -> tuple[Any, Any, Any]:
        return _grads(self.obj.backward(dy), "backward")

    def state(self) -> dict[str, Any]:
        out = {}
        for key in STATE_KEYS:
            value = getattr(self.obj, key, None)
            out[key] = value if key in ("momentum", "eps") else _arr(value)
        return out


class ModedLayerAdapter(LayerAdapter):
    """Layers switched with ``train()`` / ``eval()`` and called as ``forward(x)``."""

    kind = "moded-layer"

    def forward(self, x: Any, train: bool) -> Any:
        self.obj.train() if train else self.obj.eval()
        return _arr(self.obj.forward(x))


class TorchAdapter(LayerAdapter):
    """A ``torch.nn`` BatchNorm-like module; gradients come from autograd."""

    kind = "torch"

    def describe(self) -> dict[str, Any]:
        """Also which ranks the module accepts (BatchNorm1d: 2, 3; 2d: 4; 3d: 5)."""
        import torch

        ndims = []
        for ndim in (2, 3, 4, 5):
            module = self.factory(2).double().train()
            try:
                module(torch.zeros((2, 2, *[2] * (ndim - 2)), dtype=torch.float64))
                ndims.append(ndim)
            except (ValueError, RuntimeError):
                pass
        return super().describe() | {"ndims": ndims}

    def new(self, num_features: int, dtype: str, eps: float) -> dict[str, Any]:
        import torch

        self.torch = torch
        self.obj = self.factory(num_features).to(getattr(torch, dtype))
        self.x: Any = None
        self.y: Any = None
        return self.state()

    def set_params(self, gamma: Any, beta: Any) -> None:
        with self.torch.no_grad():
            self.obj.weight.copy_(self.torch.from_numpy(gamma))
            self.obj.bias.copy_(self.torch.from_numpy(beta))

    def forward(self, x: Any, train: bool) -> Any:
        self.obj.train(train)
        self.obj.zero_grad(set_to_none=True)
        self.x = self.torch.from_numpy(x.copy()).requires_grad_(True)
        self.y = self.obj(self.x)
        return _arr(self.y)

    def backward(self, dy: Any) -> tuple[Any, Any, Any]:
        self.obj.zero_grad(set_to_none=True)
        self.x.grad = None
        self.y.backward(self.torch.from_numpy(dy.copy()), retain_graph=True)
        w = self.obj.weight
        return _arr(self.x.grad), _arr(w.grad), _arr(self.obj.bias.grad)

    def state(self) -> dict[str, Any]:
        o = self.obj
        return {
            "running_mean": _arr(o.running_mean),
            "running_var": _arr(o.running_var),
            "gamma": _arr(o.weight),
            "beta": _arr(o.bias),
            "momentum": o.momentum,
            "eps": o.eps,
        }


# -- loading ---------------------------------------------------------------------------------


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
    except ImportError:
        if attr or "." not in base:
            raise
        mod_name, _, last = base.rpartition(".")
        return getattr(importlib.import_module(mod_name), last), None


def _is_torch_module(obj: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def _from_factory(factory: Callable[[int], Any], name: str) -> Any:
    probe = factory(2)
    if _is_torch_module(probe):
        return TorchAdapter(factory, name)
    fwd = getattr(probe, "forward", None)
    if fwd is None or not hasattr(probe, "backward"):
        raise LoadError(f"{name}(2) gave {type(probe).__name__}, which lacks forward/backward")
    try:
        takes_train = "train" in inspect.signature(fwd).parameters
    except (TypeError, ValueError):
        takes_train = False
    if takes_train:
        missing = [k for k in STATE_KEYS if not hasattr(probe, k)]
        if missing:
            raise LoadError(
                f"{name}(2) lacks the attributes {', '.join(missing)}; a layer target needs "
                f"{', '.join(STATE_KEYS)} (running statistics are checked against momentum)"
            )
        return LayerAdapter(factory, name)
    if callable(getattr(probe, "train", None)) and callable(getattr(probe, "eval", None)):
        return ModedLayerAdapter(factory, name)
    raise LoadError(
        f"{name}(2).forward has no 'train' parameter and the object has no train()/eval(); "
        "expected forward(x, train=True|False)"
    )


def _from_module(module: Any, prefix: str | None, name: str) -> Any:
    fname, bname = (
        (f"{prefix}_forward", f"{prefix}_backward") if prefix else ("forward", "backward")
    )
    if callable(getattr(module, fname, None)) and callable(getattr(module, bname, None)):
        return FunctionalAdapter(getattr(module, fname), getattr(module, bname), name)
    cf, cb = getattr(module, "batchnorm_forward", None), getattr(module, "batchnorm_backward", None)
    if prefix is None and callable(cf) and callable(cb):
        params = list(inspect.signature(cf).parameters)
        if len(params) >= 4 and params[3] in ("bn_param", "bn_params", "params"):
            sf = getattr(module, "spatial_batchnorm_forward", None)
            sb = getattr(module, "spatial_batchnorm_backward", None)
            spatial = (sf, sb) if callable(sf) and callable(sb) else None
            return Cs231nAdapter(cf, cb, name, spatial)
        return FunctionalAdapter(
            lambda x, g, b, eps: cf(x, g, b, eps=eps), lambda dy, c: cb(dy, c), name
        )
    what = f"{fname}/{bname}" if prefix else "forward/backward or batchnorm_forward/_backward"
    raise LoadError(f"target {name!r} has no {what}")


def _from_object(obj: Any, name: str) -> Any:
    if isinstance(obj, types.ModuleType):
        return _from_module(obj, None, name)
    if isinstance(obj, tuple) and len(obj) == 2 and all(callable(f) for f in obj):
        return FunctionalAdapter(obj[0], obj[1], name)
    if inspect.isclass(obj) or inspect.isfunction(obj) or isinstance(obj, types.MethodType):
        return _from_factory(obj, name)
    if (hasattr(obj, "forward") and hasattr(obj, "num_features")) or _is_torch_module(obj):
        proto = obj
        adapter = _from_factory(lambda c: copy.deepcopy(proto), name)
        adapter.channels = int(getattr(obj, "num_features", 0)) or None
        return adapter
    raise LoadError(f"cannot use {type(obj).__name__} {name!r} as a BN target")


def load_adapter(target: Any) -> Any:
    """Build the adapter for a target spec string or object (called in the worker process)."""
    if isinstance(target, str):
        obj, attr = _resolve(target)
        if attr is None:
            return _from_object(obj, target)
        if callable(getattr(obj, f"{attr}_forward", None)):
            return _from_module(obj, attr, target)
        if not hasattr(obj, attr):
            raise LoadError(f"{target!r}: the module has no {attr!r} (nor {attr}_forward)")
        return _from_object(getattr(obj, attr), target)
    return _from_object(target, getattr(target, "__name__", type(target).__name__))
