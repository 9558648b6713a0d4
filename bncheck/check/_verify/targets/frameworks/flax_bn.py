"""The adapters of Flax BNs: ``flax.linen`` and ``flax.nnx`` modules (run in the worker process),
registered as the framework ``flax``: a class, an instance, a subclass, a module holding a BN, or
a factory function building one (called with C, or with nothing).

linen: a module is configuration; ``init`` creates its ``params`` and ``batch_stats``
collections, and ``apply(variables, x, use_running_average=..., mutable=["batch_stats"])`` runs
it and returns the updated statistics. nnx: a module holds its state; ``nnx.split`` gives a
graph definition (with the mode: ``use_running_average`` is a static attribute) and the states
of its ``Param`` and ``BatchStat`` variables, ``nnx.merge`` a module again inside the traced
step. Both are driven through
:class:`~bncheck.check._verify.targets.frameworks.jax_driver.JaxAdapter`.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any

import numpy as np

from bncheck.check._verify.targets import names as P
from bncheck.check._verify.targets.frameworks import Framework, call_factory, factory_arity
from bncheck.check._verify.targets.frameworks.jax_driver import JaxAdapter
from bncheck.check._verify.targets.frameworks.trees import (
    STAT_PAIRS,
    Built,
    Steps,
    cast_tree,
    example_shape,
    find_pair,
    find_params,
    get_at,
    jax_module,
    leaves,
    put_array,
)
from bncheck.exceptions import LoadError

__all__ = ["LinenAdapter", "NnxAdapter"]

#: the __call__ arguments that choose the mode, and whether True means train
MODE_ARGS = {
    "use_running_average": False,
    "train": True,
    "training": True,
    "is_training": True,
    "deterministic": False,
}
#: the hyperparameters read from the BN module, and the names they go by
ATTRS = {
    "eps": ("epsilon", *P.EPS_NAMES),
    "momentum": P.MOMENTUM_NAMES,
    "fast_variance": ("use_fast_variance",),
    "axis": ("axis",),
}
SHOWN = (
    "momentum",
    "epsilon",
    "use_fast_variance",
    "axis",
    "dtype",
    "param_dtype",
    "force_float32_reductions",
    "axis_name",
)


def mode_arg(fn: Any) -> str | None:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return None
    return next((a for a in MODE_ARGS if a in params), None)


def mode_kwargs(arg: str | None, train: bool) -> dict[str, bool]:
    if arg is None or arg in ("<attribute>", "<mutable>"):
        return {}
    return {arg: train if MODE_ARGS[arg] else not train}


def read_attrs(obj: Any) -> dict[str, Any]:
    """eps, momentum, use_fast_variance, axis of a BN module (the numbers it holds)."""
    out: dict[str, Any] = {}
    for key, names in ATTRS.items():
        for n in names:
            value = getattr(obj, n, None)
            if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
                out[key] = float(value) if key != "axis" else int(value)
                if key == "eps":
                    out["eps_name"] = n
                break
            if isinstance(value, bool) and key == "fast_variance":
                out[key] = value
                break
    return out


def documented(bn: Any) -> tuple[str, str] | None:
    """Flax's documented convention for its own BatchNorm (linen or nnx; None for another
    module: a user's own is held to any known convention)."""
    bases = tuple(
        getattr(sys.modules.get(kind), "BatchNorm", None) for kind in ("flax.linen", "flax.nnx")
    )
    if not isinstance(bn, tuple(b for b in bases if b is not None)):
        return None
    return "keras", (
        "its docstring: momentum is the 'decay rate for the exponential moving average'"
    )


def _fields_text(obj: Any) -> str:
    shown = []
    for n in SHOWN:
        if hasattr(obj, n):
            value = getattr(obj, n)
            text = getattr(value, "__name__", None) or str(value)
            shown.append(f"{n}={text}")
    return ", ".join(shown)


class LinenAdapter(JaxAdapter):
    """A ``flax.linen`` module: ``nn.BatchNorm``, a subclass, or a module wrapping one."""

    kind = "flax.linen"
    framework = "Flax"

    def __init__(self, target: Any, name: str, *, axis: int = 1) -> None:
        super().__init__(target, name, axis=axis)
        self.module: Any = None
        self.modes: tuple[Any, Any] | None = None
        self.arg: str | None = None
        self.bn: Any = None
        self.inner = False
        self.inits: dict[tuple[int, int], dict[str, Any]] = {}
        self.factory = not self.is_class and factory_arity(target) is not None
        self.modes_c: int | None = None

    def _module(self, c: int) -> tuple[Any, Any]:
        """The (train, eval) modules: the mode goes in a __call__ argument, or in the
        ``use_running_average`` field (a clone for each mode)."""
        if self.modes is not None and (not self.factory or self.modes_c == c):
            return self.modes
        module = self.target
        if self.factory:  # a module per channel count, as the factory builds it
            module, self.modes_c, self.inits = call_factory(self.target, c), c, {}
            if not isinstance(module, importlib.import_module("flax.linen").Module):
                raise LoadError(
                    f"{self.name} returned a {type(module).__name__}, not a flax.linen module"
                )
        elif self.is_class:
            try:
                module = self.target()
            except TypeError as exc:
                raise LoadError(
                    f"cannot construct {self.name}() ({exc}); pass a configured instance "
                    "(file.py:name) instead"
                ) from None
        self.arg = mode_arg(module.__call__)
        fields = getattr(module, "__dataclass_fields__", {})
        if self.arg == "use_running_average" and getattr(module, self.arg, None) is not None:
            module = module.clone(use_running_average=None)  # else merge_param refuses the arg
        self.module = module
        if self.arg is None and "use_running_average" in fields:
            self.arg = "<attribute>"
            self.modes = (
                module.clone(use_running_average=False),
                module.clone(use_running_average=True),
            )
        else:
            self.modes = (module, module)
        if self.arg is None:
            # no argument or field: Flax's own convention, training where batch_stats is
            # mutable (apply(v, x, mutable=["batch_stats"])) and inference where it is not
            # (apply(v, x)); kept only if the module keeps batch_stats and its immutable
            # apply runs (_build)
            self.arg = "<mutable>"
        self.has_modes = self.arg is not None
        return self.modes

    def _build(self, c: int, dtype: str, ndim: int) -> Steps:
        mt, me = self._module(c)
        arg = self.arg
        variables = self._init(mt, c, ndim)
        params = cast_tree(dict(variables.pop("params", {})), dtype)
        stats = cast_tree(dict(variables.pop("batch_stats", {})), dtype, promote=True)
        rest = variables

        def call(train: bool, p: Any, s: Any, x: Any) -> Any:
            module = mt if train else me
            if arg == "<mutable>" and not train:
                return module.apply({**rest, "params": p, "batch_stats": s}, x), s
            y, updates = module.apply(
                {**rest, "params": p, "batch_stats": s},
                x,
                mutable=["batch_stats"],
                **mode_kwargs(arg, train),
            )
            new = updates.get("batch_stats") if updates else None
            return y, (dict(new) if new is not None else s)

        if arg == "<mutable>" and not self._immutable_runs(me, params, stats, rest, c, ndim):
            self.arg, self.has_modes = None, False
        stat_paths = find_pair(stats, STAT_PAIRS, c, "running statistics", self.name)
        if stat_paths is None:
            stat_paths = self._stats_by_behaviour(mt, params, stats, rest, c)
        return Built(
            call,
            params,
            stats,
            find_params(params, c, self.name),
            stat_paths,
        )

    def _immutable_runs(
        self, module: Any, params: Any, stats: Any, rest: Any, c: int, ndim: int
    ) -> bool:
        """Whether the module keeps batch_stats and runs with them immutable (Flax's inference
        call, apply(variables, x)): traced only, nothing compiles."""
        if not stats:
            return False
        x0 = put_array(self._to_axis(np.zeros(example_shape(c, ndim), "float32")))
        try:
            jax_module().eval_shape(
                lambda v, x: module.apply(v, x),
                {**rest, "params": params, "batch_stats": stats},
                x0,
            )
        except Exception:
            return False
        return True

    def _stats_by_behaviour(
        self, module: Any, params: Any, stats: Any, rest: Any, c: int
    ) -> tuple[Any, Any] | None:
        """The running pair among batch_stats leaves named its own way (``mu``/``sigma2``):
        the two C-valued leaves that one training step on a batch of mean -5 and variance 9
        moves, the mean the one that goes negative (a variance, standard deviation or inverse
        standard deviation stays positive; the running check fits which it is). None unless
        exactly two such leaves move."""
        rng = np.random.default_rng(11)
        z = rng.standard_normal(example_shape(c, 2))
        z = (z - z.mean(axis=0)) / z.std(axis=0)
        x = put_array(self._to_axis(-5.0 + 3.0 * z), "float32")
        try:
            _, updates = module.apply(
                {**rest, "params": params, "batch_stats": stats},
                x,
                mutable=["batch_stats"],
                **mode_kwargs(self.arg, True),
            )
            new = dict(updates.get("batch_stats", {}))
        except Exception:
            return None
        moved = []
        for path, old in leaves(stats):
            if int(np.size(old)) != c:
                continue
            try:
                now = np.asarray(get_at(new, path), dtype=np.float64)
            except Exception:
                continue
            if not np.array_equal(now, np.asarray(old, dtype=np.float64)):
                moved.append((path, now))
        if len(moved) != 2:
            return None
        negative = [p for p, v in moved if np.all(v < 0)]
        positive = [p for p, v in moved if np.all(v > 0)]
        if len(negative) != 1 or len(positive) != 1:
            return None
        return negative[0], positive[0]

    def _init(self, module: Any, c: int, ndim: int) -> dict[str, Any]:
        """``init`` on a float32 input of C channels, once per (C, axis): 2-D when the module
        takes it (the variables do not depend on the rank), else of the rank asked for; the
        run's dtype comes by casting; jitted (an eager init compiles each operation alone)."""
        jax = jax_module()
        key = (c, self.axis)
        if key not in self.inits:
            error: Exception | None = None
            for n in dict.fromkeys((2, ndim)):
                x0 = put_array(self._to_axis(np.zeros(example_shape(c, n), "float32")))
                kwargs = mode_kwargs(self.arg, True)
                try:
                    init = jax.jit(lambda k, x, kw=kwargs: module.init(k, x, **kw))
                    variables = dict(init(jax.random.PRNGKey(0), x0))
                except Exception as exc:
                    error = error or exc
                    continue
                if self.bn is None:
                    self.bn = self._find_bn(module, variables, x0)
                self.inits[key] = variables
                break
            else:
                assert error is not None
                raise error
        return dict(self.inits[key])

    def _find_bn(self, module: Any, variables: Any, x0: Any) -> Any:
        """The BN module doing the work: the target, or the ``nn.BatchNorm`` (or subclass) it
        calls, seen by intercepting the calls of one apply."""
        nn = importlib.import_module("flax.linen")
        if isinstance(module, nn.BatchNorm) or read_attrs(module).get("eps") is not None:
            self.attrs = read_attrs(module)
            return module
        seen: list[Any] = []

        def intercept(call: Any, args: Any, kwargs: Any, context: Any) -> Any:
            if context.method_name == "__call__" and isinstance(context.module, nn.BatchNorm):
                seen.append(context.module)
            return call(*args, **kwargs)

        kwargs = mode_kwargs(self.arg, True)
        try:  # traced only (eval_shape): the interceptor sees the calls, nothing compiles
            with nn.intercept_methods(intercept):
                jax_module().eval_shape(
                    lambda v, x: module.apply(v, x, mutable=True, **kwargs), variables, x0
                )
        except Exception:
            return module
        if len(seen) == 1:
            self.attrs, self.inner = read_attrs(seen[0]), True
            return seen[0]
        return module

    def documented(self) -> tuple[str, str] | None:
        return documented(self.bn)

    def _describe_target(self) -> list[str]:
        built = (
            f"{self.name}() with its defaults"
            if self.is_class
            else f"{self.name}({'C' if factory_arity(self.target) == 1 else ''}), the factory's "
            "module"
            if self.factory
            else "the instance as given"
        )
        bn = self.bn if self.bn is not None else self.module
        inner = f"; it calls {type(bn).__name__}" if self.inner else ""
        fields = _fields_text(bn)
        how = {
            None: "no mode argument or field found",
            "<attribute>": "the use_running_average field (a clone per mode)",
            "<mutable>": "no mode argument or field: training with batch_stats mutable, eval "
            "with them immutable (apply(variables, x), Flax's inference call)",
        }.get(self.arg, f"__call__(x, {self.arg}=...)")
        return [
            f"built as {built} (flax.linen{inner}{': ' + fields if fields else ''})",
            "variables: init(PRNGKey(0), x) creates params and batch_stats; parameters cast "
            "to the run's dtype (param_dtype), statistics never narrower than they are",
            f"mode: {how}; steps: apply(variables, x, mutable=['batch_stats']), the updated "
            "batch_stats kept (also after eval, where they must not change)",
        ]


class NnxAdapter(JaxAdapter):
    """A ``flax.nnx`` module: ``nnx.BatchNorm``, a subclass, or a module holding one."""

    kind = "flax.nnx"
    framework = "Flax"

    def __init__(self, target: Any, name: str, *, axis: int = 1) -> None:
        super().__init__(target, name, axis=axis)
        self.arg: str | None = None
        self.bn: Any = None
        self.inner = False
        self.built_as = ""
        self.models: dict[int, Any] = {}
        self.factory = not self.is_class and factory_arity(target) is not None

    def describe(self) -> dict[str, Any]:
        if not self.is_class and not self.factory:  # an instance has its width
            nnx = importlib.import_module("flax.nnx")
            params = nnx.to_pure_dict(nnx.state(self.target, nnx.Param))
            sizes = [int(np.size(v)) for v in jax_module().tree.leaves(params)]
            self.channels = sizes[0] if sizes and len(set(sizes)) == 1 else None
        return super().describe()

    def _model(self, c: int) -> Any:
        nnx = importlib.import_module("flax.nnx")
        if self.factory:
            model = call_factory(self.target, c)
            if not isinstance(model, nnx.Module):
                raise LoadError(
                    f"{self.name} returned a {type(model).__name__}, not a flax.nnx module"
                )
            self.built_as = f"{self.name}({'C' if factory_arity(self.target) == 1 else ''})"
            return model
        if not self.is_class:
            if self.channels is not None and c != self.channels:
                raise ValueError(f"the instance has {self.channels} channels, not {c}")
            self.built_as = "a copy (nnx.clone) of the instance as given"
            return nnx.clone(self.target)
        forms: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
            ("C, rngs=nnx.Rngs(0)", (c,), {"rngs": nnx.Rngs(0)}),
            ("num_features=C, rngs=nnx.Rngs(0)", (), {"num_features": c, "rngs": nnx.Rngs(0)}),
            ("C", (c,), {}),
            ("rngs=nnx.Rngs(0)", (), {"rngs": nnx.Rngs(0)}),
            ("", (), {}),
        ]
        sig = inspect.signature(self.target)
        errors: list[str] = []
        for text, args, kwargs in forms:
            try:
                sig.bind(*args, **kwargs)
            except TypeError:
                continue
            try:
                model = self.target(*args, **kwargs)
            except TypeError as exc:
                # nnx's metaclass gives every subclass the signature (*args, **kwargs): a
                # subclass whose __init__ takes no rngs refuses the form only when called
                errors.append(f"{self.name}({text}): {exc}")
                continue
            self.built_as = f"{self.name}({text})"
            return model
        raise LoadError(
            f"cannot construct {self.name}: tried {self.name}(C, rngs=nnx.Rngs(0)) "
            "and simpler forms"
            + (f" ({'; '.join(errors[:3])})" if errors else "")
            + "; pass an instance (file.py:name) instead"
        )

    def _build(self, c: int, dtype: str, ndim: int) -> Steps:
        nnx = importlib.import_module("flax.nnx")
        if c not in self.models:
            self.models[c] = self._model(c)
        model = self.models[c]
        if self.bn is None:
            self.bn = self._find_bn(nnx, model)
        arg = self.arg = mode_arg(type(model).__call__)
        if arg is None and hasattr(self.bn, "use_running_average"):
            arg = self.arg = "<attribute>"
        self.has_modes = arg is not None
        model.train()
        g_train, *states = nnx.split(model, nnx.Param, nnx.BatchStat, ...)
        model.eval()
        g_eval, *_ = nnx.split(model, nnx.Param, nnx.BatchStat, ...)
        flats = [list(nnx.to_flat_state(s)) for s in states]
        pure = [nnx.to_pure_dict(s) for s in states]
        params = cast_tree(pure[0], dtype)
        stats = cast_tree(pure[1], dtype, promote=True)
        other = pure[2]
        traversals = importlib.import_module("flax.nnx.traversals")

        def rebuild(flat: list[Any], values: Any) -> Any:
            given = traversals.flatten_mapping(values)
            return nnx.from_flat_state(
                [(k, v.replace(given[k]) if hasattr(v, "replace") else given[k]) for k, v in flat]
            )

        def call(train: bool, p: Any, s: Any, x: Any) -> Any:
            graph = g_train if train or arg != "<attribute>" else g_eval
            m = nnx.merge(
                graph, rebuild(flats[0], p), rebuild(flats[1], s), rebuild(flats[2], other)
            )
            y = m(x, **mode_kwargs(arg, train))
            _, _, new, _ = nnx.split(m, nnx.Param, nnx.BatchStat, ...)
            return y, nnx.to_pure_dict(new)

        return Built(
            call,
            params,
            stats,
            find_params(params, c, self.name),
            find_pair(stats, STAT_PAIRS, c, "running statistics", self.name),
        )

    def _find_bn(self, nnx: Any, model: Any) -> Any:
        """The model itself, or the one ``nnx.BatchNorm`` (or subclass) inside it."""
        found = model
        if not isinstance(model, nnx.BatchNorm):
            inner = [m for p, m in nnx.iter_modules(model) if p and isinstance(m, nnx.BatchNorm)]
            found = inner[0] if len(inner) == 1 else model
        self.inner = found is not model
        self.attrs = read_attrs(found)
        return found

    def documented(self) -> tuple[str, str] | None:
        return documented(self.bn)

    def _describe_target(self) -> list[str]:
        inner = f"; it holds {type(self.bn).__name__}" if self.inner else ""
        fields = _fields_text(self.bn)
        how = {
            None: "no mode argument or attribute found",
            "<attribute>": "train()/eval() (the use_running_average attribute; one graph "
            "definition per mode)",
        }.get(self.arg, f"__call__(x, {self.arg}=...)")
        return [
            f"built as {self.built_as} (flax.nnx{inner}{': ' + fields if fields else ''})",
            "state: nnx.split into Param and BatchStat states (as pure dicts), merged again "
            "in each traced step; parameters cast to the run's dtype, statistics never "
            "narrower than they are",
            f"mode: {how}; the BatchStat state after each step is kept (also after eval, "
            "where it must not change)",
        ]


def _claims(obj: Any) -> str | None:
    is_class = inspect.isclass(obj)
    for kind in ("flax.linen", "flax.nnx"):
        base = getattr(sys.modules.get(kind), "Module", None)
        if base is None:
            continue
        try:
            if (is_class and issubclass(obj, base)) or (not is_class and isinstance(obj, base)):
                return kind
        except TypeError:
            continue
    return None


def _adapter(obj: Any, name: str, axis: int) -> JaxAdapter:
    from bncheck.check._verify.targets.frameworks.family_jax import refuse_family

    sample = call_factory(obj, 2) if factory_arity(obj) is not None else obj
    refuse_family(sample, name)  # a LayerNorm, GroupNorm, ...: a family target
    cls = LinenAdapter if _claims(sample) == "flax.linen" else NnxAdapter
    return cls(obj, name, axis=axis)


#: Flax (linen and nnx) in the registry
FRAMEWORK = Framework(
    name="flax",
    modules=("flax",),
    packages=("jax", "flax"),
    extra="jax",
    distribution="flax",
    claims=_claims,
    adapter=_adapter,
    order=20,
)
