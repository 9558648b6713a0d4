"""The adapter of the Flax and Keras normalizations of the family (run in the worker process):
``flax.linen.LayerNorm``, ``RMSNorm``, ``GroupNorm`` and ``InstanceNorm``, and Keras 3's
``LayerNormalization``, ``GroupNormalization`` and ``RMSNormalization``, driven as they are:
the class (built with its defaults) or a configured instance (its configuration kept).

For each member the parent asks for (``variant``), input shape and dtype, the layer is made
from the target's configuration with the member's axes or groups and verify's eps (as
:class:`~bncheck.check._verify.targets.family.FamilyTorch` makes a torch module):

- linen ``LayerNorm``/``RMSNorm``: ``reduction_axes = feature_axes`` = the last k axes (layer
  or RMS norm over k axes; which of the two it computes is the class's, and the fit tells);
  ``GroupNorm``: ``num_groups`` = G (instance norm: one channel a group), ``InstanceNorm``
  as it is; both normalize channels-last inputs, so the step moves bncheck's channel axis 1
  to the last and back (inside the jitted program);
- Keras ``LayerNormalization``/``RMSNormalization``: ``axis`` = the last k axes;
  ``GroupNormalization``: ``groups`` = G, ``axis=1`` (its own channels-first setting); built
  under the run's dtype policy and called statelessly
  (``layer.stateless_call(trainable, non_trainable, x)``), as the BN adapter does.

The steps are the JAX driver's (:class:`~bncheck.check._verify.targets.frameworks.trees.Built`:
one ``jax.jit`` program of the forward and its ``jax.vjp``; Keras on its torch backend:
:class:`~bncheck.check._verify.targets.frameworks.trees.TorchBuilt`, torch.autograd), float64
with ``jax_enable_x64`` on, float32 with it off, as the BN adapters run them. A member the
class cannot compute (a LayerNorm asked for group norm) raises, and the fit records it so.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any

import numpy as np

from bncheck.check._verify.targets.family import FamilyAdapter
from bncheck.check._verify.targets.frameworks.trees import (
    Built,
    Path,
    TorchBuilt,
    cast_tree,
    get_at,
    jax_module,
    leaves,
    put_array,
    set_at,
    x64,
)
from bncheck.exceptions import LoadError

__all__ = [
    "FlaxFamily",
    "FlaxOwnFamily",
    "KerasFamily",
    "KerasOwnFamily",
    "NnxFamily",
    "jax_family_adapter",
    "refuse_family",
]

#: the family classes of each framework, by the module that defines them
LINEN = ("LayerNorm", "RMSNorm", "GroupNorm", "InstanceNorm")
KERAS = ("LayerNormalization", "GroupNormalization", "RMSNormalization")
NNX = ("LayerNorm", "RMSNorm", "GroupNorm")
#: gamma's and beta's names in the frameworks' parameters (and in hand-written modules')
GAMMA = ("scale", "gamma", "weight")
BETA = ("bias", "beta", "shift")


def _base(obj: Any, module: str, names: tuple[str, ...]) -> str | None:
    """The name of the family class of ``module`` that ``obj`` (a class or an instance) is or
    derives from; the module is looked up in ``sys.modules``, never imported."""
    found = sys.modules.get(module)
    if found is None:
        return None
    cls = obj if inspect.isclass(obj) else type(obj)
    for n in names:
        base = getattr(found, n, None)
        if inspect.isclass(base) and issubclass(cls, base):
            return n
    return None


def _path(params: Any, names: tuple[str, ...]) -> Path | None:
    found = [p for p, _ in leaves(params) if p and str(p[-1]) in names]
    return found[0] if len(found) == 1 else None


class JaxFamily(FamilyAdapter):
    """What the Flax and Keras family adapters share: a built layer per (member, shape,
    dtype), its steps, and gamma/beta put into and read from its parameters."""

    framework = "JAX"
    autodiff = "jax.vjp"
    uses_jax = True

    def __init__(self, target: Any, name: str, cls_name: str) -> None:
        super().__init__(name)
        self.target = target
        self.is_class = inspect.isclass(target)
        self.cls_name = cls_name
        self.cache: dict[tuple[str, tuple[int, ...], str], tuple[Any, Path | None, Path | None]]
        self.cache = {}
        self.last: tuple[Any, Any, Any] | None = None
        self.x_shape: tuple[int, ...] = ()
        self.x64_ok = True
        self.built_as = ""

    def _make(self, shape: tuple[int, ...], dtype: str) -> Any:
        """The steps (:class:`Built` or :class:`TorchBuilt`, with their parameters) of the
        layer computing ``self.member`` on ``shape``."""
        raise NotImplementedError

    def new(self, num_features: int, dtype: str, eps: float, ndim: int = 2) -> dict[str, Any]:
        if self.uses_jax:
            ok = x64(dtype == "float64")
            if dtype == "float64" and not ok and self.x64_ok:
                self.x64_ok = False
                self.note("JAX cannot enable float64 here: float64 inputs computed in float32")
        self.last = None
        return super().new(num_features, dtype, eps, ndim)

    def _built(self, shape: tuple[int, ...]) -> tuple[Any, Path | None, Path | None]:
        key = (self.member.text(), shape, self.dtype)
        if key not in self.cache:
            built = self._make(shape, self.dtype)
            self.cache[key] = (
                built,
                _path(built.params, GAMMA),
                _path(built.params, BETA),
            )
        return self.cache[key]

    def _params(
        self,
        built: Any,
        gpath: Path | None,
        bpath: Path | None,
        fill: float | None = None,
    ) -> Any:
        """The parameters with gamma (less the scale's offset) and beta put in; ``fill``: the
        scale filled with that value and beta 0 instead (the offset's probe)."""
        params = built.params
        gamma, beta = self.gamma, self.beta
        if fill is not None:
            gamma = None if gamma is None else np.full(np.shape(gamma), fill)
            beta = None if beta is None else np.zeros(np.shape(beta))
        elif gamma is not None and self.offset():
            gamma = np.asarray(gamma) - self.offset()
        for path, value in ((gpath, gamma), (bpath, beta)):
            if path is None or value is None:
                continue
            old = get_at(params, path)
            params = set_at(
                params, path, built.put(np.asarray(value).reshape(np.shape(old)), like=old)
            )
        return params

    def forward(self, x: Any, train: bool) -> Any:
        self.x_shape = tuple(x.shape)
        built, gpath, bpath = self._built(self.x_shape)
        xj = built.put(np.ascontiguousarray(x))
        if self.hand_written and gpath is not None and self.gamma is not None:
            # a hand-written module may scale by 1 + scale (Gemma's RMSNorm): found by behaviour

            def probe(p: float) -> Any:
                fill = self._params(built, gpath, bpath, fill=p)
                return built.get(built.step(fill, built.stats, xj, None)[0])

            self._find_offset(probe, gpath[-1] if gpath else "scale")
        params = self._params(built, gpath, bpath)
        y, _, _ = built.step(params, built.stats, xj, None)
        self.last = (built, params, xj)
        return built.get(y)

    def backward(self, dy: Any) -> tuple[Any, Any, Any]:
        if self.last is None:
            raise RuntimeError("backward before a train-mode forward")
        built, params, xj = self.last
        _, gpath, bpath = self._built(self.x_shape)
        dyj = built.put(np.ascontiguousarray(dy))
        _, _, (gp, gx) = built.step(params, built.stats, xj, dyj)
        dg = None if gpath is None else built.get(get_at(gp, gpath))
        db = None if bpath is None else built.get(get_at(gp, bpath))
        return (
            built.get(gx),
            self._grad(dg, self.x_shape, "dgamma"),
            self._grad(db, self.x_shape, "dbeta"),
        )

    def _unsupported(self) -> ValueError:
        return ValueError(f"{self.cls_name} does not compute {self.member}")


class FlaxFamily(JaxFamily):
    """A ``flax.linen`` LayerNorm, RMSNorm, GroupNorm or InstanceNorm (class or instance)."""

    kind = "flax.linen"
    framework = "Flax"

    def _module(self, shape: tuple[int, ...]) -> tuple[Any, bool]:
        """(the module for the member on ``shape``, whether it takes channels last)."""
        base = self.target() if self.is_class else self.target
        m, c = self.member, shape[1]
        eps = {"epsilon": self.eps}
        if not self.is_class:  # its axes, groups and epsilon are its own: the fit tells
            last = self.cls_name in ("GroupNorm", "InstanceNorm")
            return base.clone(), last
        if self.cls_name in ("LayerNorm", "RMSNorm"):
            if m.kind not in ("layer", "rms"):
                raise self._unsupported()
            axes = tuple(range(-m.k, 0))
            return base.clone(reduction_axes=axes, feature_axes=axes, **eps), False
        if self.cls_name == "GroupNorm":
            if m.kind not in ("group", "instance"):
                raise self._unsupported()
            groups = m.groups if m.kind == "group" else c
            return base.clone(num_groups=groups, group_size=None, **eps), True
        if m.kind != "instance":
            raise self._unsupported()
        return base.clone(**eps), True

    def _make(self, shape: tuple[int, ...], dtype: str) -> Any:
        jax = jax_module()
        jnp = jax.numpy
        module, last = self._module(shape)
        x0 = np.zeros(shape, "float32")
        if last:
            x0 = np.moveaxis(x0, 1, -1)
        variables = dict(jax.jit(module.init)(jax.random.PRNGKey(0), put_array(x0)))
        params = cast_tree(dict(variables.pop("params", {})), dtype)
        rest = variables

        def call(train: bool, p: Any, s: Any, x: Any) -> Any:
            xin = jnp.moveaxis(x, 1, -1) if last else x
            y = module.apply({**rest, "params": p}, xin)
            return (jnp.moveaxis(y, -1, 1) if last else y), s

        self.built_as = _fields(module)
        return Built(call, params, {}, None, None)

    def mapping(self) -> list[str]:
        built = (
            f"flax.linen.{self.cls_name}() with its defaults"
            if self.is_class
            else "the instance as given (its fields kept, its axes and groups too)"
        )
        how = {
            "LayerNorm": "reduction_axes = feature_axes = the last k axes",
            "RMSNorm": "reduction_axes = feature_axes = the last k axes",
            "GroupNorm": "num_groups = G, channels moved last (Flax's layout) and back",
            "InstanceNorm": "channels moved last (Flax's layout) and back",
        }[self.cls_name]
        return [
            f"{self.name}: built as {built}, per "
            + (f"member and shape: {how}" if self.is_class else "shape")
            + ("; epsilon = verify's eps" if self.is_class else "; its own epsilon")
            + (f" (last built: {self.built_as})" if self.built_as else ""),
            "parameters: init(PRNGKey(0), x) cast to the run's dtype; scale/bias set to "
            "gamma/beta; each step (forward and jax.vjp) one jax.jit program, float64 with "
            "jax_enable_x64 on",
        ]


class NnxFamily(JaxFamily):
    """A ``flax.nnx`` LayerNorm, RMSNorm or GroupNorm (class or instance): split into its
    graph definition and parameters (a pure dict), merged again inside the traced step."""

    kind = "flax.nnx"
    framework = "Flax"

    def _module(self, shape: tuple[int, ...]) -> tuple[Any, bool]:
        nnx = importlib.import_module("flax.nnx")
        m, c = self.member, shape[1]
        last = self.cls_name == "GroupNorm"
        if not self.is_class:  # its axes, groups and epsilon are its own: the fit tells
            return nnx.clone(self.target), last
        kwargs = {"epsilon": self.eps, "rngs": nnx.Rngs(0)}
        if self.cls_name in ("LayerNorm", "RMSNorm"):
            if m.kind not in ("layer", "rms"):
                raise self._unsupported()
            # nnx keeps scale and bias flat, (num_features,), and reshapes them over the
            # feature axes: the last k axes hold prod(shape[-k:]) features
            axes = tuple(range(-m.k, 0))
            features = int(np.prod(shape[-m.k :]))
            module = self.target(features, reduction_axes=axes, feature_axes=axes, **kwargs)
            return module, False
        if m.kind not in ("group", "instance"):
            raise self._unsupported()
        groups = m.groups if m.kind == "group" else c
        return self.target(c, num_groups=groups, **kwargs), True

    def _make(self, shape: tuple[int, ...], dtype: str) -> Any:
        nnx = importlib.import_module("flax.nnx")
        jax = jax_module()
        jnp = jax.numpy
        module, last = self._module(shape)
        graph, state = nnx.split(module)
        params = cast_tree(nnx.to_pure_dict(state), dtype)

        def call(train: bool, p: Any, s: Any, x: Any) -> Any:
            fresh = jax.tree.map(lambda a: a, state)
            nnx.replace_by_pure_dict(fresh, p)
            xin = jnp.moveaxis(x, 1, -1) if last else x
            y = nnx.merge(graph, fresh)(xin)
            return (jnp.moveaxis(y, -1, 1) if last else y), s

        self.built_as = _fields(module)
        return Built(call, params, {}, None, None)

    def mapping(self) -> list[str]:
        built = (
            f"flax.nnx.{self.cls_name}(features, rngs=nnx.Rngs(0)) per member and shape "
            "(LayerNorm/RMSNorm: reduction_axes = feature_axes = the last k axes, features "
            "their product; GroupNorm num_groups = G, channels moved last and back)"
            if self.is_class
            else "a copy (nnx.clone) of the instance as given, its axes and groups kept"
        )
        return [
            f"{self.name}: built as {built}; "
            + ("epsilon = verify's eps" if self.is_class else "its own epsilon")
            + (f" (last built: {self.built_as})" if self.built_as else ""),
            "parameters: nnx.split into a pure dict, cast to the run's dtype, merged again in "
            "each step (forward and jax.vjp, one jax.jit program)",
        ]


def _fields(module: Any) -> str:
    shown = []
    for n in (
        "num_groups",
        "reduction_axes",
        "epsilon",
        "use_fast_variance",
        "force_float32_reductions",
        "dtype",
        "param_dtype",
    ):
        if hasattr(module, n):
            value = getattr(module, n)
            shown.append(f"{n}={getattr(value, '__name__', None) or value}")
    return ", ".join(shown)


class KerasFamily(JaxFamily):
    """A Keras 3 LayerNormalization, GroupNormalization or RMSNormalization."""

    kind = "keras"
    framework = "Keras"

    def __init__(self, target: Any, name: str, cls_name: str) -> None:
        super().__init__(target, name, cls_name)
        keras = importlib.import_module("keras")
        self.backend = keras.backend.backend()
        if self.backend not in ("jax", "torch"):
            raise LoadError(
                f"Keras runs on its {self.backend!r} backend in this process; bncheck drives "
                "Keras on jax or torch: set KERAS_BACKEND to one of them"
            )
        self.uses_jax = self.backend == "jax"
        self.autodiff = "jax.vjp" if self.uses_jax else "torch.autograd.grad"

    def _config(self, shape: tuple[int, ...]) -> dict[str, Any]:
        m, n = self.member, len(shape)
        if not self.is_class:  # its axes, groups and epsilon are its own: the fit tells
            return dict(self.target.get_config())
        config: dict[str, Any] = {"epsilon": self.eps}
        if self.cls_name in ("LayerNormalization", "RMSNormalization"):
            if m.kind not in ("layer", "rms"):
                raise self._unsupported()
            config["axis"] = list(range(n - m.k, n)) if m.k > 1 else -1
        else:
            if m.kind not in ("group", "instance"):
                raise self._unsupported()
            config["groups"] = m.groups if m.kind == "group" else shape[1]
            config["axis"] = 1
        return config

    def _layer(self, shape: tuple[int, ...]) -> Any:
        """The layer for the member on ``shape`` (under the run's dtype policy)."""
        cls = self.target if self.is_class else type(self.target)
        config = self._config(shape)
        config.pop("dtype", None)
        return cls(**config) if self.is_class else cls.from_config(config)

    def _make(self, shape: tuple[int, ...], dtype: str) -> Any:
        keras = importlib.import_module("keras")
        before = keras.config.dtype_policy()
        keras.config.set_dtype_policy(dtype)
        try:
            layer = self._layer(shape)
        finally:
            keras.config.set_dtype_policy(before)
        last = self.channels_last and len(shape) > 2
        layer.build((shape[0], *shape[2:], shape[1]) if last else shape)
        trainable, fixed = list(layer.trainable_variables), list(layer.non_trainable_variables)
        if self.uses_jax:
            jnp = importlib.import_module("jax.numpy")
            params = {_short(v): jnp.asarray(v.value) for v in trainable}
            stats = [jnp.asarray(v.value) for v in fixed]
        else:
            params = {_short(v): v.value.detach().clone() for v in trainable}
            stats = [v.value.detach().clone() for v in fixed]
        names = list(params)
        # training= only where call() takes it (LayerNormalization's does not)
        mode = {"training": True} if "training" in inspect.signature(layer.call).parameters else {}

        def call(train: bool, p: Any, s: Any, x: Any) -> Any:
            xin = _moved_last(x) if last else x
            y, new = layer.stateless_call([p[k] for k in names], s, xin, **mode)
            return (_moved_first(y) if last else y), list(new)

        return (Built if self.uses_jax else TorchBuilt)(call, params, stats, None, None)

    def mapping(self) -> list[str]:
        built = (
            f"keras.layers.{self.cls_name}() with its defaults"
            if self.is_class
            else "the instance's config (get_config) kept"
        )
        how = (
            "axis = the last k axes"
            if self.cls_name != "GroupNormalization"
            else "groups = G, axis=1 (channels first, as bncheck's inputs)"
        )
        if not self.is_class:
            how = "its own axis and groups"
        return [
            f"{self.name}: built as {built} under the run's dtype policy, per member and "
            f"shape: {how}; "
            + ("epsilon = verify's eps" if self.is_class else "its own epsilon")
            + f"; Keras' {self.backend} backend",
            "steps: layer.stateless_call(trainable, non_trainable, x); "
            f"gradients by {self.autodiff}"
            + (
                " (one jax.jit program per shape, float64 with jax_enable_x64 on)"
                if self.uses_jax
                else ""
            ),
        ]


def _moved_last(a: Any) -> Any:
    """``a`` (N, C, ...) with its channel axis moved last, by its own namespace's moveaxis
    (a jax or a torch array, inside the traced step)."""
    return _moveaxis(a)(a, 1, -1)


def _moved_first(a: Any) -> Any:
    return _moveaxis(a)(a, -1, 1)


def _moveaxis(a: Any) -> Any:
    if type(a).__module__.startswith("torch"):
        return importlib.import_module("torch").movedim
    return importlib.import_module("jax.numpy").moveaxis


def _short(variable: Any) -> str:
    return str(getattr(variable, "name", "")).rsplit("/", 1)[-1]


class FlaxOwnFamily(FlaxFamily):
    """A hand-written ``flax.linen.Module`` of the family (a subclass of ``nn.Module`` that is
    none of Flax's own): built from its fields by their names as a hand-written layer class is
    (eps/epsilon, groups, the parameters' size), initialized and applied as Flax's own are;
    it computes what its code computes over the axes its code chooses (the fit tells which),
    gamma and beta the parameters named as Flax's are (scale/gamma/weight, bias/beta/shift),
    gradients by ``jax.vjp``."""

    kind = "flax.linen"
    hand_written = True

    def _module(self, shape: tuple[int, ...]) -> tuple[Any, bool]:
        from bncheck.check._verify.targets.family import build_kwargs

        if not self.is_class:
            fields = {"epsilon": self.eps} if hasattr(self.target, "epsilon") else {}
            return self.target.clone(**fields), self.channels_last
        kwargs = {
            k: v
            for k, v in build_kwargs(self.target, self.member, self.eps, shape).items()
            if k not in ("parent", "name")
        }
        self.built_as = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        return self.target(**kwargs), self.channels_last

    def _make(self, shape: tuple[int, ...], dtype: str) -> Any:
        built = super()._make(shape, dtype)
        self.built_as = self.built_as or _fields(self._module(shape)[0])
        return built

    def mapping(self) -> list[str]:
        return [
            f"{self.name}: a hand-written flax.linen module, built "
            + ("from its fields by their names" if self.is_class else "as the instance given")
            + " per shape (eps/epsilon = verify's eps where it has one)"
            + (f" (last built: {self.built_as})" if self.built_as else ""),
            "parameters: init(PRNGKey(0), x) cast to the run's dtype, gamma and beta the ones "
            "named scale/gamma/weight and bias/beta/shift; each step (forward and jax.vjp) one "
            "jax.jit program, float64 with jax_enable_x64 on",
        ]


class KerasOwnFamily(KerasFamily):
    """A hand-written Keras 3 layer of the family (a subclass of ``keras.layers.Layer`` that is
    none of Keras' own): built from its constructor's parameter names as a hand-written layer
    class is, built on the input shape, called statelessly as Keras' own are; gamma and beta
    the weights named gamma/scale/weight and beta/bias/shift."""

    hand_written = True

    def _layer(self, shape: tuple[int, ...]) -> Any:
        from bncheck.check._verify.targets.family import build_kwargs

        if not self.is_class:
            return type(self.target).from_config(self.target.get_config())
        kwargs = build_kwargs(self.target, self.member, self.eps, shape)
        for k in ("kwargs", "name", "dtype", "trainable"):
            kwargs.pop(k, None)
        self.built_as = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        return self.target(**kwargs)

    def mapping(self) -> list[str]:
        return [
            f"{self.name}: a hand-written Keras layer, built "
            + ("from its constructor's parameter names" if self.is_class else "from its config")
            + " under the run's dtype policy, per shape (eps/epsilon = verify's eps where it "
            f"takes one); Keras' {self.backend} backend"
            + (f" (last built: {self.built_as})" if self.built_as else ""),
            "steps: layer.stateless_call(trainable, non_trainable, x); gamma and beta the "
            f"weights named gamma/scale/weight and beta/bias/shift; gradients by {self.autodiff}",
        ]


def _own_module(obj: Any, module: str, base: str) -> bool:
    """Whether ``obj`` (a class or an instance) derives from ``module.base`` (looked up in
    ``sys.modules``, never imported)."""
    found = sys.modules.get(module)
    cls = obj if inspect.isclass(obj) else type(obj)
    parent = getattr(found, base, None) if found is not None else None
    return inspect.isclass(parent) and issubclass(cls, parent) and cls is not parent


def refuse_family(obj: Any, name: str) -> None:
    """A LoadError when ``obj`` is a Flax linen or Keras normalization of the family: the BN
    adapters refuse it, and verify takes it as a family target (its name need not say so)."""
    found = (
        _base(obj, "flax.linen", LINEN)
        or _base(obj, "flax.nnx", NNX)
        or _base(obj, "keras.layers", KERAS)
    )
    if found is not None:
        raise LoadError(f"{name!r} is a {found}, not a BN: verified as a family target")


def jax_family_adapter(obj: Any, name: str) -> JaxFamily | None:
    """The family adapter of a Flax linen or Keras normalization class or instance (None:
    ``obj`` is neither; nothing is imported to find out). A Haiku transformed function is
    refused, saying why: its ``init``/``apply`` are no forward/backward pair, and Haiku's
    normalizations of the family are not driven."""
    hk = sys.modules.get("haiku")
    if hk is not None and isinstance(obj, (hk.Transformed, hk.TransformedWithState)):
        raise LoadError(
            f"{name!r} is a Haiku transformed function ({type(obj).__name__}): its init and "
            "apply are Haiku's (init(rng, x) -> params; apply(params, ...) -> y), not a "
            "forward/backward pair, and bncheck drives Haiku's BatchNorm only, not a Haiku "
            "normalization of the family; verify it through a forward(x, gamma, beta) -> (y, "
            "cache) / backward(dy, cache) pair around apply (gradients by jax.vjp)"
        )
    found = _base(obj, "flax.linen", LINEN)
    if found is not None:
        return FlaxFamily(obj, name, found)
    found = _base(obj, "flax.nnx", NNX)
    if found is not None:
        return NnxFamily(obj, name, found)
    found = _base(obj, "keras.layers", KERAS)
    if found is not None:
        return KerasFamily(obj, name, found)
    cls = obj if inspect.isclass(obj) else type(obj)
    if _own_module(obj, "flax.linen", "Module"):
        return FlaxOwnFamily(obj, name, cls.__name__)
    if _own_module(obj, "keras.layers", "Layer"):
        return KerasOwnFamily(obj, name, cls.__name__)
    return None
