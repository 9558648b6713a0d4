"""tinygrad in the framework registry: ``tinygrad.nn.BatchNorm`` (``BatchNorm2d``, ``BatchNorm3d``
are the same class), a subclass, an instance or a factory (run in the worker process).

A tinygrad BN chooses its mode by tinygrad's global train flag (``Context(TRAINING=1)``), not by
a method of its own, and keeps weight, bias, running_mean and running_var as tensors attributes.
Each step sets these attributes to fresh tensors of the run's dtype (tinygrad refuses to assign
a float64 update to a float32 statistic), runs the layer, and takes the gradients with
tinygrad's own autodiff (``y.gradient(x, weight, bias, gradient=dy)``). The device is tinygrad's
default where the machine has one; with none usable (its CPU device compiles with clang), the
stated fallback is tinygrad's PYTHON device, an interpreter of the same kernels.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any

import numpy as np

from bncheck.check._verify.targets.frameworks import Framework
from bncheck.check._verify.targets.frameworks.jax_driver import JaxAdapter
from bncheck.check._verify.targets.frameworks.trees import ParamPaths, Path, Steps
from bncheck.exceptions import LoadError

__all__ = ["TinygradAdapter"]

PARAMS = (("weight", "bias"), ("gamma", "beta"))
STATS = (("running_mean", "running_var"), ("moving_mean", "moving_var"))


def device() -> tuple[str, str]:
    """(the device tinygrad runs on, how it was chosen)."""
    tinygrad = importlib.import_module("tinygrad")
    try:
        return str(tinygrad.Device.DEFAULT), "tinygrad's default device"
    except RuntimeError as exc:
        helpers = importlib.import_module("tinygrad.helpers")
        helpers.DEV.value = "PYTHON"
        return "PYTHON", f"tinygrad found no usable device ({exc}): its PYTHON device, the fallback"


class TinyBuilt:
    """The steps of one tinygrad layer for (C, dtype): parameters and statistics kept as NumPy
    arrays, set on the layer as tensors before each step."""

    how = (
        "each step eager in tinygrad (train under Context(TRAINING=1), eval with it 0); "
        "gradients by tinygrad's y.gradient(x, weight, bias, gradient=dy)"
    )

    def __init__(self, layer: Any, names: tuple[tuple[str, str] | None, tuple[str, str] | None]):
        self.tg = importlib.import_module("tinygrad")
        self.helpers = importlib.import_module("tinygrad.helpers")
        self.layer = layer
        self.names = names
        pn, sn = names
        self.params = {n: _np(getattr(layer, n)) for n in pn} if pn else {}
        self.stats = {n: _np(getattr(layer, n)) for n in sn} if sn else {}
        self.param_paths: ParamPaths | None = ((pn[0],), (pn[1],)) if pn else None
        self.stat_paths: tuple[Path, Path] | None = ((sn[0],), (sn[1],)) if sn else None

    def _run(self, train: bool, p: Any, s: Any, x: Any, dy: Any) -> Any:
        tensor = self.tg.Tensor
        ps = {k: tensor(np.ascontiguousarray(v)) for k, v in p.items()}
        for k, v in {**ps, **{k: tensor(np.ascontiguousarray(v)) for k, v in s.items()}}.items():
            setattr(self.layer, k, v)
        xt = tensor(np.ascontiguousarray(x))
        with self.helpers.Context(TRAINING=int(train)):
            y = self.layer(xt)
            grads = None
            if dy is not None:
                pn = self.names[0] or ()
                found = y.gradient(xt, *(ps[n] for n in pn), gradient=tensor(dy))
                grads = (
                    {n: g.numpy() for n, g in zip(pn, found[1:], strict=True)},
                    found[0].numpy(),
                )
            out = y.numpy()
        new = {k: _np(getattr(self.layer, k)) for k in s}
        return out, new, grads

    def step(self, p: Any, s: Any, x: Any, dy: Any) -> Any:
        return self._run(True, p, s, x, dy)

    def eval(self, p: Any, s: Any, x: Any) -> Any:
        y, new, _ = self._run(False, p, s, x, None)
        return y, new

    def put(self, a: Any, like: Any = None) -> Any:
        out = np.array(a)
        return out if like is None else out.astype(like.dtype)

    def get(self, a: Any) -> Any:
        return np.array(a)


def _np(value: Any) -> Any:
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


def _pair(layer: Any, pairs: tuple[tuple[str, str], ...], c: int) -> tuple[str, str] | None:
    for a, b in pairs:
        va, vb = getattr(layer, a, None), getattr(layer, b, None)
        if va is not None and vb is not None and hasattr(va, "shape") and np.prod(va.shape) == c:
            return a, b
    return None


class TinygradAdapter(JaxAdapter):
    """A tinygrad BN (see the module docstring)."""

    kind = "tinygrad"
    framework = "tinygrad"
    uses_jax = False
    autodiff = "tinygrad's Tensor.gradient"

    def __init__(self, target: Any, name: str, *, axis: int = 1) -> None:
        super().__init__(target, name, axis=axis)
        self.device = ("", "")
        self.built_as = ""
        self.factory = inspect.isfunction(target)
        self.layer: Any = None

    def describe(self) -> dict[str, Any]:
        self.device = device()
        if not self.is_class and not self.factory:
            weight = getattr(self.target, "weight", None)
            self.channels = int(np.prod(weight.shape)) if weight is not None else None
        return super().describe()

    def _find_axis(self, c: int) -> None:
        self.axis = 1  # tinygrad's BN normalizes axis 1, as PyTorch's
        self.new(c, "float64", 1e-5, 2)

    def _axis_text(self) -> str:
        return "channels: axis 1, as bncheck's inputs have them (tinygrad's BN, like PyTorch's)"

    def _layer(self, c: int) -> Any:
        if self.is_class or self.factory:
            self.built_as = f"{self.name}(C)"
            return self.target(c)
        if self.channels is not None and c != self.channels:
            raise ValueError(f"the instance has {self.channels} channels, not {c}")
        self.built_as = "the instance as given (its attributes set before each step)"
        return self.target

    def _build(self, c: int, dtype: str, ndim: int) -> Steps:
        layer = self.layer = self._layer(c)
        names = (_pair(layer, PARAMS, c), _pair(layer, STATS, c))
        for key in ("eps", "momentum"):
            value = getattr(layer, key, None)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.attrs[key] = float(value)
        self.attrs.setdefault("eps_name", "eps")
        built = TinyBuilt(layer, names)
        built.params = {k: v.astype(dtype) for k, v in built.params.items()}
        built.stats = {k: v.astype(dtype) for k, v in built.stats.items()}
        if names[0] is None and names[1] is None:
            raise LoadError(f"{self.name}: no weight/bias nor running statistics found")
        return built

    def documented(self) -> tuple[str, str] | None:
        nn = importlib.import_module("tinygrad.nn")
        if not isinstance(self.layer, nn.BatchNorm):
            return None
        return "torch", (
            "its code: new = (1 − momentum)·old + momentum·batch, unbiased, momentum=0.1"
        )

    def _describe_target(self) -> list[str]:
        dev, how = self.device
        return [
            f"built as {self.built_as} (tinygrad; eps={self.attrs.get('eps')}, "
            f"momentum={self.attrs.get('momentum')})",
            f"device: {dev} ({how})",
            "mode: tinygrad's global train flag, Context(TRAINING=1) for train, 0 for eval",
        ]


def _claims(obj: Any) -> str | None:
    nn = sys.modules.get("tinygrad.nn")
    base = getattr(nn, "BatchNorm", None)
    if base is None:
        return None
    is_class = inspect.isclass(obj)
    if (is_class and issubclass(obj, base)) or (not is_class and isinstance(obj, base)):
        return "tinygrad"
    return None


def _adapter(obj: Any, name: str, axis: int) -> TinygradAdapter:
    return TinygradAdapter(obj, name, axis=axis)


#: tinygrad in the registry
FRAMEWORK = Framework(
    name="tinygrad",
    modules=("tinygrad",),
    packages=("tinygrad",),
    extra="tinygrad",
    claims=_claims,
    adapter=_adapter,
    order=40,
)
