"""The adapter of Keras 3 BNs on its JAX or torch backend (run in the worker process), registered
as the framework ``keras``.

``keras.layers.BatchNormalization``, a subclass, an instance, a factory function building one
(called with C, or with nothing, under the run's dtype policy), or a layer holding one: built
for C channels
under the run's dtype policy (``keras.config.set_dtype_policy``, as a float64 Keras program
sets it), then driven statelessly as a training loop drives Keras:
``layer.stateless_call(trainable, non_trainable, x, training=...)`` returns y and the updated
non-trainable variables (the moving statistics), inside the steps of
:class:`~bncheck.check._verify.targets.frameworks.jax_driver.JaxAdapter` (on JAX: one jitted
program, gradients by ``jax.vjp``; on torch: eager, gradients by ``torch.autograd.grad``). The
layer's own variables are never assigned, so one built layer serves every run of its (C,
dtype, rank). The backend is Keras' own choice at import, ``KERAS_BACKEND``, honoured; unset
(and no backend in Keras' config file), bncheck sets it to jax before anything imports Keras.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import os
import sys
from typing import Any

import numpy as np

from bncheck.check._verify.targets.frameworks import Framework, call_factory, factory_arity
from bncheck.check._verify.targets.frameworks.jax_driver import JaxAdapter
from bncheck.check._verify.targets.frameworks.trees import (
    PARAM_PAIRS,
    STAT_PAIRS,
    Built,
    ParamPaths,
    Path,
    Steps,
    TorchBuilt,
    example_shape,
    one_of_pair,
)
from bncheck.exceptions import LoadError

__all__ = ["KerasAdapter"]

SHOWN = ("axis", "momentum", "epsilon", "center", "scale", "synchronized", "renorm")


#: the Keras backends bncheck drives, and the autodiff their steps use
BACKENDS = {"jax": "jax.vjp", "torch": "torch.autograd.grad"}


def _keras() -> Any:
    keras = importlib.import_module("keras")
    backend = keras.backend.backend()
    if backend not in BACKENDS:
        raise LoadError(
            f"Keras runs on its {backend!r} backend in this process (KERAS_BACKEND="
            f"{os.environ.get('KERAS_BACKEND')!r}); bncheck drives Keras on "
            f"{' or '.join(BACKENDS)}: set KERAS_BACKEND to one of them"
        )
    return keras


def _prepare() -> None:
    """Keras reads KERAS_BACKEND when first imported: honoured when set, JAX otherwise (Keras'
    own default, TensorFlow, named in the config file Keras writes on its first import, is
    not a backend bncheck drives)."""
    if os.environ.get("KERAS_BACKEND"):
        return
    os.environ["KERAS_BACKEND"] = "jax"
    _DEFAULTED.append(True)


#: whether bncheck chose the backend (KERAS_BACKEND was not set)
_DEFAULTED: list[bool] = []


def _short(variable: Any) -> str:
    return str(getattr(variable, "name", "")).rsplit("/", 1)[-1]


def _pair(
    variables: list[Any], pairs: tuple[tuple[str, str], ...], c: int, name: str
) -> tuple[Path, Path] | None:
    """The indices of the two C-valued variables named like one of ``pairs``."""
    names = [_short(v) for v in variables]
    for first, second in pairs:
        a = [i for i, n in enumerate(names) if n == first and np.size(variables[i]) == c]
        b = [i for i, n in enumerate(names) if n == second and np.size(variables[i]) == c]
        if len(a) == 1 and len(b) == 1:
            return (a[0],), (b[0],)
        if a and b:
            raise LoadError(
                f"{name} holds {len(a)} {first}/{second} variables: bncheck "
                "verifies one BN; pass the BN itself"
            )
    return None


def _params(variables: list[Any], c: int, name: str) -> ParamPaths | None:
    """(gamma, beta) among the trainable variables, or the one parameter of a layer built with
    ``center=False`` or ``scale=False``."""
    found = _pair(variables, PARAM_PAIRS, c, name)
    if found is not None:
        return found
    named = [((i,), _short(v), v) for i, v in enumerate(variables)]
    return one_of_pair(named, PARAM_PAIRS, c)


class KerasAdapter(JaxAdapter):
    """A Keras 3 layer on JAX (see the module docstring)."""

    kind = "keras"
    framework = "Keras"

    def __init__(self, target: Any, name: str, *, axis: int = 1) -> None:
        super().__init__(target, name, axis=axis)
        self.built_as = ""
        self.names: dict[str, list[str]] = {}
        self.bn: Any = None
        #: a function building the layer (called with C, or with nothing)
        self.factory = factory_arity(target) is not None and not self.is_class

    def describe(self) -> dict[str, Any]:
        self.backend = _keras().backend.backend()
        self.uses_jax = self.backend == "jax"
        self.compiles_per_shape = self.uses_jax  # torch runs eagerly
        self.autodiff = BACKENDS[self.backend]
        if not self.is_class and not self.factory and getattr(self.target, "built", False):
            sizes = {int(np.size(v)) for v in self.target.weights}
            self.channels = sizes.pop() if len(sizes) == 1 else None
        return super().describe()

    def _layer(self, c: int, dtype: str, shape: tuple[int, ...]) -> Any:
        keras = _keras()
        before = keras.config.dtype_policy()
        keras.config.set_dtype_policy(dtype)
        try:
            if self.is_class:
                layer = self.target()
                self.built_as = f"{self.name}() with its defaults"
            elif self.factory:
                layer = call_factory(self.target, c)
                arg = "C" if factory_arity(self.target) == 1 else ""
                self.built_as = f"{self.name}({arg}), the factory's layer"
                if not isinstance(layer, keras.layers.Layer):
                    raise LoadError(
                        f"{self.name}({arg}) returned a {type(layer).__name__}, not a Keras "
                        "layer (it returned one when called with 2)"
                    )
            else:
                layer = self._copy(dtype, shape)
        finally:
            keras.config.set_dtype_policy(before)
        if not layer.built:
            layer.build(shape)
        if not layer.variables:  # a layer that creates its variables when first called
            layer(np.zeros(shape, dtype), training=False)
        return layer

    def _copy(self, dtype: str, shape: tuple[int, ...]) -> Any:
        """The instance rebuilt from its config under the run's dtype policy, its weights
        copied (a layer whose config does not rebuild it: a deep copy, as built)."""
        target = self.target
        try:
            layer = type(target).from_config({**target.get_config(), "dtype": dtype})
            if target.built:
                layer.build(shape)
                layer.set_weights([np.asarray(w).astype(dtype) for w in target.get_weights()])
            self.built_as = "a copy of the instance (from_config; its weights copied)"
        except Exception:
            layer = copy.deepcopy(target)
            self.built_as = "a deep copy of the instance (its own dtype policy kept)"
        return layer

    def _build(self, c: int, dtype: str, ndim: int) -> Steps:
        shape = self._to_axis(np.zeros(example_shape(c, ndim))).shape
        layer = self._layer(c, dtype, shape)
        if self.bn is None:
            self.bn = self._find_bn(layer)
        trainable, fixed = list(layer.trainable_variables), list(layer.non_trainable_variables)
        self.names = {"params": [v.path for v in trainable], "stats": [v.path for v in fixed]}
        if self.uses_jax:
            jnp = importlib.import_module("jax.numpy")
            params = [jnp.asarray(v.value) for v in trainable]
            stats = [jnp.asarray(v.value) for v in fixed]
        else:
            params = [v.value.detach().clone() for v in trainable]
            stats = [v.value.detach().clone() for v in fixed]

        def call(train: bool, p: Any, s: Any, x: Any) -> Any:
            y, new = layer.stateless_call(p, s, x, training=train)
            return y, list(new)

        return (Built if self.uses_jax else TorchBuilt)(
            call,
            params,
            stats,
            _params(trainable, c, self.name),
            _pair(fixed, STAT_PAIRS, c, self.name),
        )

    def _find_bn(self, layer: Any) -> Any:
        """The layer itself, or the one BatchNormalization (or subclass) inside it."""
        keras = _keras()
        bn_class = keras.layers.BatchNormalization
        found = layer
        if not isinstance(layer, bn_class):
            try:
                inner = [
                    s for s in layer._flatten_layers(include_self=False) if isinstance(s, bn_class)
                ]
            except Exception:
                inner = []
            found = inner[0] if len(inner) == 1 else layer
        for key, attr in (("eps", "epsilon"), ("momentum", "momentum"), ("axis", "axis")):
            value = getattr(found, attr, None)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.attrs[key] = float(value) if key != "axis" else int(value)
        if "eps" in self.attrs:
            self.attrs["eps_name"] = "epsilon"
        return found

    def label(self, path: Path, which: str = "params") -> str:
        names = self.names.get(which, [])
        return str(names[path[0]]) if path and path[0] < len(names) else str(path)

    def documented(self) -> tuple[str, str] | None:
        if not isinstance(self.bn, _keras().layers.BatchNormalization):
            return None
        return "keras", (
            "its docstring: moving_mean = moving_mean * momentum + mean(batch) * (1 - momentum)"
        )

    def _describe_target(self) -> list[str]:
        bn = self.bn
        shown = ", ".join(f"{n}={getattr(bn, n)}" for n in SHOWN if hasattr(bn, n))
        inner = (
            ""
            if bn is None or type(bn).__name__ in self.name
            else (f"; it holds {type(bn).__name__}")
        )
        return [
            f"built as {self.built_as} under the run's dtype policy (keras.config."
            f"set_dtype_policy), on Keras' {self.backend} backend ({self._backend_text()}; "
            f"keras{inner}: {shown})",
            "mode: layer.stateless_call(trainable, non_trainable, x, training=True|False); the "
            "returned non-trainable variables (moving statistics) kept, also after eval, where "
            "they must not change",
        ]

    def _backend_text(self) -> str:
        if self.backend == "jax" and _DEFAULTED:
            return "KERAS_BACKEND was not set: bncheck chose jax"
        return f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND', self.backend)}, as set"


def _claims(obj: Any) -> str | None:
    keras = sys.modules.get("keras")
    base = getattr(getattr(keras, "layers", None), "Layer", None)
    if base is None:
        return None
    is_class = inspect.isclass(obj)
    if (is_class and issubclass(obj, base)) or (not is_class and isinstance(obj, base)):
        return "keras"
    return None


def _adapter(obj: Any, name: str, axis: int) -> KerasAdapter:
    from bncheck.check._verify.targets.frameworks.family_jax import refuse_family

    sample = call_factory(obj, 2) if factory_arity(obj) is not None else obj
    refuse_family(sample, name)  # a LayerNorm, GroupNorm, ...: a family target
    return KerasAdapter(obj, name, axis=axis)


#: Keras 3 in the registry: first, as its layers on the torch backend are torch modules too
FRAMEWORK = Framework(
    name="keras",
    modules=("keras",),
    packages=("keras",),
    extra="keras",
    claims=_claims,
    adapter=_adapter,
    order=10,
    prepare=_prepare,
)
