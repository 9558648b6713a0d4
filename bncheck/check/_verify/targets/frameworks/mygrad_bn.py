"""MyGrad in the framework registry: ``mygrad.nnet.batchnorm`` (also reached as
``mygrad.nnet.layers.batchnorm``), or a user function that calls it the same way (run in the
worker process).

MyGrad's batchnorm is a function, ``batchnorm(x, *, gamma, beta, eps) -> Tensor``, normalizing
axis 1 over every other axis, with no running statistics and no modes: it is driven as a
functional target whose backward is MyGrad's own autodiff (``y.backward(dy)``, then ``x.grad``,
``gamma.grad``, ``beta.grad``).
"""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any

import numpy as np

from bncheck.check._verify.targets.frameworks import Framework
from bncheck.check._verify.targets.functional import FunctionalAdapter

__all__ = ["MyGradAdapter"]


class MyGradAdapter(FunctionalAdapter):
    """MyGrad's batchnorm as a functional target (see the module docstring)."""

    kind = "mygrad"

    def __init__(self, fn: Any, name: str) -> None:
        self.fn = fn
        super().__init__(self._forward, self._backward, name)

    def _forward(self, x: Any, gamma: Any, beta: Any, eps: float) -> tuple[Any, Any]:
        mg = importlib.import_module("mygrad")
        xt, gt, bt = mg.Tensor(x), mg.Tensor(gamma), mg.Tensor(beta)
        y = self.fn(xt, gamma=gt, beta=bt, eps=eps)
        return np.array(y.data), (xt, gt, bt, y)

    def _backward(self, dy: Any, cache: Any) -> tuple[Any, Any, Any]:
        xt, gt, bt, y = cache
        y.backward(dy)
        return tuple(None if t.grad is None else np.array(t.grad) for t in (xt, gt, bt))  # type: ignore[return-value]

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        version = getattr(sys.modules.get("mygrad"), "__version__", "?")
        out["mapping"] = [
            f"MyGrad {version}: {self.name}(x, gamma=, beta=, eps=) on mygrad.Tensor inputs "
            "(axis 1 normalized over every other axis); gradients by MyGrad's autodiff "
            "(y.backward(dy), then x.grad, gamma.grad, beta.grad)",
            "no running statistics and no train/eval modes: a function, verified in train mode",
        ]
        return out


def _claims(obj: Any) -> str | None:
    mg = sys.modules.get("mygrad")
    if mg is None or not callable(obj) or inspect.isclass(obj):
        return None
    layers = sys.modules.get("mygrad.nnet.layers.batchnorm")
    if obj is getattr(layers, "batchnorm", None):
        return "mygrad"
    return None


def _adapter(obj: Any, name: str, axis: int) -> MyGradAdapter:
    return MyGradAdapter(obj, name)


#: MyGrad in the registry
FRAMEWORK = Framework(
    name="mygrad",
    modules=("mygrad",),
    packages=("mygrad",),
    extra="mygrad",
    claims=_claims,
    adapter=_adapter,
    order=50,
)
