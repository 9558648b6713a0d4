"""Haiku in the framework registry: ``haiku.BatchNorm``, a subclass, or a function already
transformed by ``hk.transform_with_state`` (run in the worker process).

A Haiku module exists only inside a transformed function: a class is built there as
``cls(create_scale=True, create_offset=True, decay_rate=0.99)`` (Haiku has no default for these;
0.99 is the decay the mapping states) and called as ``module(x, is_training)``; a transformed
function is applied as ``apply(params, state, None, x, is_training=...)``. The parameters
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

from bncheck.check._verify.targets.frameworks import Framework
from bncheck.check._verify.targets.frameworks.jax_driver import JaxAdapter
from bncheck.check._verify.targets.frameworks.trees import (
    Built,
    Path,
    Steps,
    cast_tree,
    example_shape,
    jax_module,
    label,
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
        self.transformed = not self.is_class
        self.inits: dict[tuple[int, int, int], tuple[Any, Any]] = {}
        self.fields = ""
        self.decay_text = ""
        if not self.transformed:
            self.attrs["momentum"] = DECAY  # the decay_rate bncheck builds the class with

    def describe(self) -> dict[str, Any]:
        if self.transformed:
            self.attrs.pop("momentum", None)
        out = super().describe()
        if self.transformed and out.get("running"):
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

    def _transformed(self) -> Any:
        hk = importlib.import_module("haiku")
        if self.transformed:
            return self.target
        cls = self.target

        def run(x: Any, is_training: bool) -> Any:
            return cls(create_scale=True, create_offset=True, decay_rate=DECAY)(x, is_training)

        return hk.transform_with_state(run)

    def _build(self, c: int, dtype: str, ndim: int) -> Steps:
        jax = jax_module()
        f = self._transformed()
        key = (c, self.axis, ndim)  # Haiku's parameters have the input's rank
        if key not in self.inits:
            x0 = put_array(self._to_axis(_zeros(c, ndim)))
            try:
                init = jax.jit(lambda k, x: f.init(k, x, is_training=True))
                self.inits[key] = init(jax.random.PRNGKey(0), x0)
            except TypeError as exc:
                raise LoadError(
                    f"cannot build {self.name} under hk.transform_with_state ({exc}); pass a "
                    "transformed function taking (x, is_training)"
                ) from None
        params, state = self.inits[key]
        params = cast_tree(_plain(params), dtype)
        state = cast_tree(_plain(state), dtype, promote=True)

        def call(train: bool, p: Any, s: Any, x: Any) -> Any:
            y, new = f.apply(p, s, None, x, is_training=train)
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
        built = (
            "the transformed function as given, apply(params, state, None, x, is_training=...)"
            if self.transformed
            else f"{self.name}(create_scale=True, create_offset=True, decay_rate={DECAY}) "
            "inside hk.transform_with_state, called as module(x, is_training)"
        )
        return [
            f"built as {built} (Haiku {getattr(hk, '__version__', '?')})",
            "parameters and state: the dicts init returns, cast to the run's dtype (scale and "
            "offset have the input's rank, (1, …, 1, C): read and written as C values); the state "
            "returned by each apply kept (also after eval, where it must not change)",
            "running statistics: Haiku's zero-debiased moving averages (documented: "
            "hk.ExponentialMovingAverage(zero_debias=True)); average = hidden / (1 − "
            "decay^count), hidden from 0: the first train step's average is the batch "
            "statistic itself, and eval normalizes by the averages",
        ]


def _zeros(c: int, ndim: int) -> Any:
    import numpy as np

    return np.zeros(example_shape(c, ndim))


def _plain(tree: Any) -> Any:
    if hasattr(tree, "items"):
        return {k: _plain(v) for k, v in tree.items()}
    return tree


def _params(params: Any, c: int) -> tuple[Path, Path] | None:
    for module, leaves in params.items():
        if "scale" in leaves and "offset" in leaves and leaves["scale"].size == c:
            return (module, "scale"), (module, "offset")
    return None


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
    if isinstance(obj, hk.TransformedWithState):
        return "haiku"
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
)
