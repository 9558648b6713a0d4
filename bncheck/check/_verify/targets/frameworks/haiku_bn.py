"""Haiku in the framework registry: ``haiku.BatchNorm``, a subclass, a factory function building
one, or a function already transformed by ``hk.transform_with_state`` (or ``hk.transform``,
``hk.without_apply_rng``) (run in the worker process).

A Haiku module exists only inside a transformed function: a class is built there as
``cls(create_scale=True, create_offset=True, decay_rate=0.99)`` (Haiku has no default for these;
0.99 is the decay the mapping states), a factory as ``factory(C)`` (or ``factory()``), and called
as ``module(x, is_training)``. A transformed function is applied as its signature says (Haiku's
wrappers keep the user function's): ``apply(params[, state][, rng], x, <mode>=...)``, the rng
None, the mode the one argument named like a train or eval flag (``is_training``,
``training``, ``inference``, ...) given by keyword, positionally where it is positional-only;
``init`` alike, with ``PRNGKey(0)``. A function with no such argument runs in one mode (its
running statistics are then not checked); one with another required argument is refused,
naming it. ``hk.transform`` (no state) holds no running statistics. The parameters
(scale, offset) and the state (the ``mean_ema`` and ``var_ema`` averages) are the pure dicts
Haiku returns, driven by the jitted step of
:class:`~bncheck.check._verify.targets.frameworks.jax_driver.JaxAdapter`.

Haiku's moving averages are zero-debiased by design (``hk.ExponentialMovingAverage`` with
``zero_debias=True``): ``average = hidden / (1 − decay^count)`` with hidden starting at 0, so
the first step's average is the batch statistic itself, and eval normalizes by ``average``.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any

from bncheck.check._verify.targets import names as P
from bncheck.check._verify.targets.frameworks import Framework, call_factory, factory_arity
from bncheck.check._verify.targets.frameworks.jax_driver import JaxAdapter
from bncheck.check._verify.targets.frameworks.trees import (
    Built,
    ParamPaths,
    Path,
    Steps,
    cast_tree,
    example_shape,
    jax_module,
    label,
    one_of_pair,
    put_array,
)
from bncheck.exceptions import LoadError

__all__ = ["HaikuAdapter"]

#: the decay a Haiku BN class is built with (Haiku has no default)
DECAY = 0.99


class HaikuAdapter(JaxAdapter):
    """A Haiku BN (see the module docstring)."""

    kind = "haiku"
    framework = "Haiku"
    flat_params = True  # Haiku's scale and offset have the input's rank, (1, …, 1, C)

    def __init__(self, target: Any, name: str, *, axis: int = 1) -> None:
        super().__init__(target, name, axis=axis)
        self.transformed = isinstance(target, tuple) and hasattr(target, "apply")
        self.stateful = not self.transformed or type(target).__name__ == "TransformedWithState"
        self.factory = (
            not self.transformed and not self.is_class and factory_arity(target) is not None
        )
        self.inits: dict[tuple[int, int, int], tuple[Any, Any]] = {}
        self.wrapped: dict[int, Any] = {}
        self.fields = ""
        self.decay_text = ""
        #: how the transformed function is applied: whether it takes an rng, its mode argument
        #: (name, whether positional-only, whether True means train) or None
        self.rng = True
        self.mode: tuple[str, bool, bool] | None = ("is_training", False, True)
        if self.transformed:
            self.rng, self.mode = _protocol(target.apply, self.stateful, name)
            self.has_modes = self.mode is not None
        if self.is_class:
            self.attrs["momentum"] = DECAY  # the decay_rate bncheck builds the class with

    def describe(self) -> dict[str, Any]:
        if not self.is_class:  # its decay_rate is its own: read from two steps
            self.attrs.pop("momentum", None)
        out = super().describe()
        if not self.is_class and out.get("running"):
            self._infer_decay(out["ndims"][0] if out.get("ndims") else 2)
            out["mapping"].append(self.decay_text)
        return out

    def _infer_decay(self, ndim: int) -> None:
        """The decay_rate of a transformed function's moving averages, from two probe train
        steps: a zero-debiased average weighs the second batch (1 − d)/(1 − d²) = 1/(1 + d)."""
        import numpy as np

        c = self.channels or 3
        rng = np.random.default_rng(11)
        self.new(c, "float64", 1e-5, ndim)
        self.forward(rng.normal(0.0, 1.0, size=_zeros(c, ndim).shape), True)
        first = self.state()["running_mean"].copy()
        x = rng.normal(5.0, 1.0, size=_zeros(c, ndim).shape)
        self.forward(x, True)
        second = self.state()["running_mean"]
        batch = np.moveaxis(x, 1, -1).reshape(-1, c).mean(axis=0)
        a = (second - first) / (batch - first)
        if np.all(np.isfinite(a)) and np.ptp(a) < 1e-9 and 0.5 <= float(np.median(a)) <= 1.0:
            decay = float(f"{1.0 / float(np.median(a)) - 1.0:.12g}")
            self.attrs["momentum"] = decay
            self.decay_text = (
                f"decay_rate: {decay:g}, read from two probe train steps (a zero-debiased "
                "average weighs the second batch 1/(1 + decay))"
            )
        else:
            self.decay_text = "decay_rate: not readable from two probe train steps"

    def _transformed(self, c: int) -> Any:
        hk = importlib.import_module("haiku")
        if self.transformed:
            return self.target
        if c in self.wrapped:
            return self.wrapped[c]
        target = self.target

        def run(x: Any, is_training: bool) -> Any:
            if self.factory:
                module = call_factory(target, c)
                if not isinstance(module, hk.Module):
                    raise LoadError(
                        f"{self.name} returned a {type(module).__name__}, not a Haiku module"
                    )
            else:
                module = target(create_scale=True, create_offset=True, decay_rate=DECAY)
            return module(x, is_training)

        self.wrapped[c] = hk.transform_with_state(run)
        return self.wrapped[c]

    def _args(self, train: bool) -> tuple[list[Any], dict[str, Any]]:
        """The mode argument of an apply or init call: (positional, keyword)."""
        if self.mode is None:
            return [], {}
        name, positional, true_is_train = self.mode
        flag = train if true_is_train else not train
        return ([flag], {}) if positional else ([], {name: flag})

    def _build(self, c: int, dtype: str, ndim: int) -> Steps:
        jax = jax_module()
        f = self._transformed(c)
        stateful, rng = self.stateful, self.rng
        key = (c, self.axis, ndim)  # Haiku's parameters have the input's rank
        if key not in self.inits:
            x0 = put_array(self._to_axis(_zeros(c, ndim)))
            args, kwargs = self._args(True)
            try:
                init = jax.jit(lambda k, x: f.init(k, x, *args, **kwargs))
                made = init(jax.random.PRNGKey(0), x0)
            except TypeError as exc:
                raise LoadError(
                    f"cannot initialise {self.name} as init(PRNGKey(0), x{_shown(self.mode)}) "
                    f"({exc}); pass a function transformed by hk.transform_with_state taking "
                    "(x, is_training)"
                ) from None
            self.inits[key] = made if stateful else (made, {})
        params, state = self.inits[key]
        params = cast_tree(_plain(params), dtype)
        state = cast_tree(_plain(state), dtype, promote=True)

        def call(train: bool, p: Any, s: Any, x: Any) -> Any:
            args, kwargs = self._args(train)
            lead = [p, s] if stateful else [p]
            out = f.apply(*lead, *([None] if rng else []), x, *args, **kwargs)
            if not stateful:
                return out, s
            y, new = out
            return y, _plain(new)

        return Built(call, params, state, _params(params, c), _stats(state, c))

    def label(self, path: Path, which: str = "params") -> str:
        return label(path)

    def documented(self) -> tuple[str, str] | None:
        return "zero-debiased", (
            "hk.ExponentialMovingAverage, zero_debias=True by default; decay_rate is the "
            "weight of the old value"
        )

    def _describe_target(self) -> list[str]:
        hk = sys.modules.get("haiku")
        if self.transformed:
            lead = "params, state" if self.stateful else "params"
            built = (
                f"the transformed function as given, apply({lead}"
                f"{', None' if self.rng else ''}, x{_shown(self.mode)})"
                + ("" if self.stateful else " (hk.transform: no state, no running statistics)")
                + ("" if self.mode else " (no mode argument: one mode)")
            )
        elif self.factory:
            arg = "C" if factory_arity(self.target) == 1 else ""
            built = (
                f"{self.name}({arg}) inside hk.transform_with_state, called as "
                "module(x, is_training)"
            )
        else:
            built = (
                f"{self.name}(create_scale=True, create_offset=True, decay_rate={DECAY}) "
                "inside hk.transform_with_state, called as module(x, is_training)"
            )
        lines = [
            f"built as {built} (Haiku {getattr(hk, '__version__', '?')})",
            "parameters and state: the dicts init returns, cast to the run's dtype (scale and "
            "offset have the input's rank, (1, …, 1, C): read and written as C values); the state "
            "returned by each apply kept (also after eval, where it must not change)",
        ]
        if self.cur is None or self.cur.stat_paths is not None:  # Haiku's own averages
            lines.append(
                "running statistics: Haiku's zero-debiased moving averages (documented: "
                "hk.ExponentialMovingAverage(zero_debias=True)); average = hidden / (1 − "
                "decay^count), hidden from 0: the first train step's average is the batch "
                "statistic itself, and eval normalizes by the averages"
            )
        return lines


#: argument names of a train flag (True: train) and of an eval flag (True: eval)
TRAIN_FLAGS = P.BOOL_MODE_PARAMS
EVAL_FLAGS = ("use_running_average", "deterministic", *P.INVERTED_MODE_PARAMS)


def _protocol(apply: Any, stateful: bool, name: str) -> tuple[bool, tuple[str, bool, bool] | None]:
    """(whether ``apply`` takes an rng, its mode argument: (name, positional-only, True means
    train) or None), read from the signature Haiku gives it (the user function's, after
    params[, state][, rng]); a signature that says nothing (``*args``): Haiku's own
    ``is_training`` by keyword."""
    try:
        params = list(inspect.signature(apply).parameters.values())
    except (TypeError, ValueError):
        return True, ("is_training", False, True)
    rest = params[2 if stateful else 1 :]
    rng = bool(rest) and rest[0].name == "rng"
    rest = rest[1:] if rng else rest
    if not rest or rest[0].kind == inspect.Parameter.VAR_POSITIONAL:
        return rng, ("is_training", False, True)
    others = rest[1:]  # rest[0] takes x
    for p in others:
        if p.name in TRAIN_FLAGS or p.name in EVAL_FLAGS:
            return rng, (p.name, p.kind == p.POSITIONAL_ONLY, p.name in TRAIN_FLAGS)
    required = [
        p.name
        for p in others
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if required:
        raise LoadError(
            f"{name}: its transformed function takes ({rest[0].name}, {', '.join(required)}): "
            "bncheck passes x and a train flag named like one (is_training, training, train, "
            "inference, ...); name its flag so, or wrap it as f(x, is_training)"
        )
    return rng, None


def _shown(mode: tuple[str, bool, bool] | None) -> str:
    if mode is None:
        return ""
    name, positional, true_is_train = mode
    value = "train" if true_is_train else "not train"
    return f", {value}" if positional else f", {name}={value}"


def _construct(make: Any) -> Any:
    """What ``make()`` builds inside a Haiku transform (where Haiku's modules can be made)."""
    hk = importlib.import_module("haiku")
    made: list[Any] = []
    hk.transform_with_state(lambda: made.append(make())).init(None)
    return made[0]


def _zeros(c: int, ndim: int) -> Any:
    import numpy as np

    return np.zeros(example_shape(c, ndim))


def _plain(tree: Any) -> Any:
    if hasattr(tree, "items"):
        return {k: _plain(v) for k, v in tree.items()}
    return tree


def _params(params: Any, c: int) -> ParamPaths | None:
    """(scale, offset) of the one BN module, either None where it was built without it
    (``create_scale=False`` or ``create_offset=False``)."""
    for module, leaves in params.items():
        if "scale" in leaves and "offset" in leaves and leaves["scale"].size == c:
            return (module, "scale"), (module, "offset")
    named = [((module, k), k, v) for module, leaves in params.items() for k, v in leaves.items()]
    return one_of_pair(named, (("scale", "offset"),), c)


def _stats(state: Any, c: int) -> tuple[Path, Path] | None:
    means = [k for k in state if k.endswith("mean_ema")]
    vars_ = [k for k in state if k.endswith("var_ema")]
    if len(means) == 1 and len(vars_) == 1 and state[means[0]]["average"].size == c:
        return (means[0], "average"), (vars_[0], "average")
    return None


def _claims(obj: Any) -> str | None:
    hk = sys.modules.get("haiku")
    if hk is None:
        return None
    if inspect.isclass(obj) and issubclass(obj, hk.Module):
        return "haiku"
    if isinstance(obj, (hk.Module, hk.TransformedWithState, hk.Transformed)):
        return "haiku"  # a module (made inside a transform, by a factory), a transformed function
    return None


def _adapter(obj: Any, name: str, axis: int) -> HaikuAdapter:
    return HaikuAdapter(obj, name, axis=axis)


#: Haiku in the registry
FRAMEWORK = Framework(
    name="haiku",
    modules=("haiku",),
    packages=("jax", "haiku"),
    extra="haiku",
    distribution="dm-haiku",
    claims=_claims,
    adapter=_adapter,
    order=35,
    construct=_construct,
)
