"""Equinox in the framework registry: ``equinox.nn.BatchNorm`` (either ``mode``), a subclass, an
instance, a factory, or a module holding one (run in the worker process).

An Equinox BN is a pytree holding its parameters, with its running statistics in an
``eqx.nn.State`` kept beside it, and normalizes one example at a time: it must run under
``jax.vmap`` with the ``axis_name`` it was built with, which is how a training loop calls it
(``jax.vmap(model, axis_name=..., in_axes=(0, None), out_axes=(0, None))(x, state)``). The
model is split into its arrays (``eqx.partition``; the weight and bias found among them) and
the rest, combined again inside the jitted step of
:class:`~bncheck.check._verify.targets.frameworks.jax_driver.JaxAdapter`; the mode is the call's
``inference=`` argument.

The running statistics the report reads are the ones eval normalizes with: in ``"ema"`` mode the
stored pair (filled with the first batch's statistics, then mixed: new = m·old + (1 − m)·batch,
and, documented, the TRAIN output is normalized by the mixed statistics too); in ``"batch"`` mode
the stored EMAs (the mean from 0, the variance from 1) divided by 1 − m^count, as eval divides
them (Equinox's "zero-debias").
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import sys
from typing import Any

import numpy as np

from bncheck.check._verify.targets.frameworks import Framework, factory_arity
from bncheck.check._verify.targets.frameworks.jax_driver import JaxAdapter
from bncheck.check._verify.targets.frameworks.trees import (
    PARAM_PAIRS,
    Built,
    Steps,
    cast_tree,
    find_pair,
    jax_module,
    put_array,
)
from bncheck.check._verify.targets.names import Slot
from bncheck.exceptions import LoadError

__all__ = ["EquinoxAdapter", "HeldSlot", "eval_statistics"]

#: the vmap axis name bncheck builds a class with
AXIS = "batch"
STATS = (("running_mean",), ("running_var",))


def _key_name(key: Any) -> Any:
    for attr in ("name", "idx", "key"):
        if hasattr(key, attr):
            return getattr(key, attr)
    return str(key)


class EquinoxAdapter(JaxAdapter):
    """An Equinox BN (see the module docstring)."""

    kind = "equinox"
    framework = "Equinox"

    def __init__(self, target: Any, name: str, *, axis: int = 1) -> None:
        super().__init__(target, name, axis=axis)
        self.models: dict[int, Any] = {}
        self.bn: Any = None
        self.built_as = ""
        self.warned: list[str] = []
        self.factory = not self.is_class and factory_arity(target) is not None

    def describe(self) -> dict[str, Any]:
        if not self.is_class and not self.factory:
            self.channels = self._bns(self.target)[0].input_size if self._bns(self.target) else None
        return super().describe()

    def _find_axis(self, c: int) -> None:
        self.axis = 1  # an Equinox BN takes channels first (on each example's axis 0)
        self.new(c, "float64", 1e-5, 2)

    def _axis_text(self) -> str:
        return (
            "channels: axis 1 (each example's axis 0, as equinox.nn.BatchNorm takes them); "
            f"the batch axis is vmapped with axis_name={self.bn.axis_name!r}"
        )

    def _bns(self, model: Any) -> list[Any]:
        eqx = importlib.import_module("equinox")
        jax = jax_module()
        found = jax.tree_util.tree_leaves(model, is_leaf=lambda m: isinstance(m, eqx.nn.BatchNorm))
        return [m for m in found if isinstance(m, eqx.nn.BatchNorm)]

    def _model(self, c: int) -> Any:
        import warnings

        if self.is_class or self.factory:
            forms: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
                (f"C, axis_name={AXIS!r}", (c,), {"axis_name": AXIS}),
                ("C", (c,), {}),
                ("", (), {}),  # a factory of a fixed width
            ]
            try:
                sig: inspect.Signature | None = inspect.signature(self.target)
            except (TypeError, ValueError):
                sig = None
            for text, args, kwargs in forms:
                if sig is not None:
                    try:
                        sig.bind(*args, **kwargs)
                    except TypeError:
                        continue
                with warnings.catch_warnings(record=True) as seen:
                    warnings.simplefilter("always")
                    model = self.target(*args, **kwargs)
                self.warned = [str(w.message).split(". ")[0] for w in seen]
                self.built_as = f"{self.name}({text})"
                return model
            raise LoadError(
                f"cannot construct {self.name}: tried {self.name}(C, axis_name={AXIS!r}) and "
                f"{self.name}(C); pass an instance (file.py:name) instead"
            )
        if self.channels is not None and c != self.channels:
            raise ValueError(f"the instance has {self.channels} channels, not {c}")
        self.built_as = "the instance as given"
        return self.target

    def _build(self, c: int, dtype: str, ndim: int) -> Steps:
        eqx = importlib.import_module("equinox")
        jax = jax_module()
        if c not in self.models:
            self.models[c] = self._model(c)
        model = self.models[c]
        bns = self._bns(model)
        if len(bns) != 1:
            raise LoadError(
                f"{self.name} holds {len(bns)} equinox.nn.BatchNorm layers: bncheck verifies "
                "one BN; pass the BN itself"
            )
        bn = self.bn = bns[0]
        # ema mode: the train output is normalized by the running pair mixed with the batch's
        self.train_stats = "mixed-running" if bn.mode == "ema" else None
        for key, attr in (("eps", "eps"), ("momentum", "momentum")):
            self.attrs[key] = float(getattr(bn, attr))
        self.attrs["eps_name"] = "eps"
        state0 = eqx.nn.State(model)
        is_index = lambda v: isinstance(v, eqx.nn.StateIndex)  # noqa: E731
        dynamic, static = eqx.partition(model, eqx.is_inexact_array, is_leaf=is_index)
        flat, treedef = jax.tree_util.tree_flatten_with_path(dynamic)
        paths = [tuple(_key_name(k) for k in path) for path, _ in flat]
        params: dict[Any, Any] = {}
        for path, (_, leaf) in zip(paths, flat, strict=True):
            node = params
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = leaf
        params = cast_tree(params, dtype)
        ints = "int64" if dtype == "float64" else "int32"  # JAX's default with x64 on or off
        state0 = jax.tree.map(  # cast on the host: no program compiled per channel count
            lambda a: (
                put_array(np.asarray(a), dtype if a.dtype.kind == "f" else ints)
                if a.dtype.kind in "fiu"
                else a
            ),
            state0,
        )
        axis_name = bn.axis_name
        batch_mode = bn.mode == "batch"
        m = bn.momentum

        def effective(state: Any) -> tuple[Any, Any]:
            if batch_mode:
                count = state.get(bn.batch_counter)
                hm, hv = state.get(bn.batch_state_index)
                scale = jax.numpy.where(count == 0, 1, 1 - m**count)
                return hm / scale, hv / scale
            pair: tuple[Any, Any] = state.get(bn.ema_state_index)
            return pair

        def call(train: bool, p: Any, s: Any, x: Any) -> Any:
            leaves = []
            for path in paths:
                node = p
                for key in path:
                    node = node[key]
                leaves.append(node)
            module = eqx.combine(jax.tree_util.tree_unflatten(treedef, leaves), static)
            run = jax.vmap(
                lambda xi, st: module(xi, st, inference=not train),
                axis_name=axis_name,
                in_axes=(0, None),
                out_axes=(0, None),
            )
            y, new = run(x, s["state"])
            mean, var = effective(new)
            return y, {"state": new, "running_mean": mean, "running_var": var}

        mean0, var0 = eval_statistics(bn, state0)
        stats = {
            "state": state0,
            "running_mean": put_array(mean0),
            "running_var": put_array(var0),
        }
        return Built(
            call,
            params,
            stats,
            find_pair(params, PARAM_PAIRS, c, "parameters", self.name),
            STATS,
        )

    def documented(self) -> tuple[str, str] | None:
        if self.bn is None:
            return None
        if self.bn.mode == "batch":
            return "zero-debiased", (
                "mode='batch': the running averages divided by 1 − momentum^count at eval"
            )
        return "filled-ema", (
            "mode='ema': the first batch fills the running pair, then momentum weighs the old"
        )

    def _describe_target(self) -> list[str]:
        bn = self.bn
        warned = f"; Equinox warns: {self.warned[0]}" if self.warned else ""
        lines = [
            f"built as {self.built_as} (equinox.nn.BatchNorm: mode={bn.mode!r}, "
            f"momentum={bn.momentum}, eps={bn.eps}, channelwise_affine="
            f"{bn.channelwise_affine}{warned})",
            "state: eqx.nn.State(model) beside the model; the model split by eqx.partition "
            "into its arrays (parameters, cast to the run's dtype) and the rest, combined in "
            "each traced step; mode: __call__(x, state, inference=not train)",
        ]
        if bn.mode == "batch":
            lines.append(
                "mode='batch' (Equinox's documentation: batch statistics in train mode; in "
                "eval 'the exponential running mean and unbiased variance', zero-debiased): "
                "the running statistics read are the ones eval uses, the stored EMAs (mean "
                "from 0, variance from 1) divided by 1 − momentum^count"
            )
        else:
            lines.append(
                "mode='ema' (Equinox's documented design: the first batch's statistics fill "
                "the running pair, then new = momentum·old + (1 − momentum)·batch, and the "
                "TRAIN output is normalized by that mixed pair, not by the batch's alone): "
                "a fresh instance's first train step is plain BN; the running pair before it "
                "is reported as 0 and 1"
            )
        return lines


def eval_statistics(bn: Any, state: Any) -> tuple[Any, Any]:
    """The running mean and variance ``bn`` (an ``eqx.nn.BatchNorm``) normalizes by in eval,
    read from ``state`` (its ``eqx.nn.State``) by NumPy, in the stored dtype: mode="batch" the
    stored averages divided by 1 − momentum^count (Equinox's zero-debiasing), mode="ema" the
    stored pair, reported as 0 and 1 before the first batch fills it."""
    if bn.mode == "batch":
        count = np.asarray(state.get(bn.batch_counter))
        hm, hv = (np.asarray(a) for a in state.get(bn.batch_state_index))
        scale = np.where(count == 0, 1.0, 1 - bn.momentum ** count.astype(np.float64))
        return (hm / scale).astype(hm.dtype), (hv / scale).astype(hv.dtype)
    em, ev = (np.asarray(a) for a in state.get(bn.ema_state_index))
    if bool(np.asarray(state.get(bn.ema_first_time_index))):
        return np.zeros_like(em), np.ones_like(ev)  # the pair means nothing until filled
    return em, ev


def _one_bn(model: Any) -> Any:
    """The one ``eqx.nn.BatchNorm`` inside ``model`` (the model itself, or a field of it)."""
    eqx = importlib.import_module("equinox")
    found = jax_module().tree_util.tree_leaves(
        model, is_leaf=lambda m: isinstance(m, eqx.nn.BatchNorm)
    )
    bns = [m for m in found if isinstance(m, eqx.nn.BatchNorm)]
    if len(bns) != 1:
        raise ValueError(f"{type(model).__name__} holds {len(bns)} equinox.nn.BatchNorm")
    return bns[0]


def _bn_path(model: Any) -> tuple[str, ...] | None:
    """The attribute names leading from ``model`` to its one BN (None: not by attributes)."""
    eqx = importlib.import_module("equinox")
    tree_util = jax_module().tree_util
    flat, _ = tree_util.tree_flatten_with_path(
        model, is_leaf=lambda m: isinstance(m, eqx.nn.BatchNorm)
    )
    paths = [p for p, leaf in flat if isinstance(leaf, eqx.nn.BatchNorm)]
    if len(paths) != 1 or not all(isinstance(k, tree_util.GetAttrKey) for k in paths[0]):
        return None
    return tuple(k.name for k in paths[0])


@dataclasses.dataclass(frozen=True)
class HeldSlot(Slot):
    """A value of the ``eqx.nn.BatchNorm`` that a user's own object holds at ``obj.<inside>``
    (the BN itself, or an Equinox module holding one): its ``weight`` or ``bias``, written by
    ``eqx.tree_at`` (an Equinox module is immutable: the object's attribute is given the
    replaced module, as the user's own training step would), or, with ``state`` set, the
    running mean or variance its eval normalizes by, read from the ``eqx.nn.State`` at
    ``obj.<state>`` (:func:`eval_statistics`; not written)."""

    inside: str = ""
    state: str = ""
    #: how the report names the BN (obj.<inside>, or the path to the BN inside it)
    shown: str = ""

    def label(self) -> str:
        bn = self.shown or self.inside
        if self.state:
            which = "mean" if self.name == "running_mean" else "variance"
            return f"{self.state} (eqx.nn.State): the running {which} {bn}'s eval uses"
        return f"{bn}.{self.name} (set by eqx.tree_at)"

    def exists(self, obj: Any) -> bool:
        try:
            return self.get(obj) is not None
        except Exception:
            return False

    def get(self, obj: Any) -> Any:
        bn = _one_bn(getattr(obj, self.inside))
        if self.state:  # a JAX array, as the state holds it (never cast: not written)
            pair = eval_statistics(bn, getattr(obj, self.state))
            return put_array(pair[0 if self.name == "running_mean" else 1])
        return getattr(bn, self.name)

    def set(self, obj: Any, value: Any) -> None:
        if self.state:
            raise TypeError(f"{self.label()} is read from the state, not written")
        eqx = importlib.import_module("equinox")
        model = getattr(obj, self.inside)
        old = getattr(_one_bn(model), self.name)
        new = put_array(np.asarray(value).reshape(np.shape(old)))
        replaced = eqx.tree_at(lambda m: getattr(_one_bn(m), self.name), model, new)
        object.__setattr__(obj, self.inside, replaced)


def _held(obj: Any) -> dict[str, Any]:
    """Where the state of the one ``eqx.nn.BatchNorm`` that a user's own (non-Equinox) object
    holds lives (see :attr:`~bncheck.check._verify.targets.frameworks.Framework.held`): its
    weight and bias, its eps and momentum, and, when the object keeps its ``eqx.nn.State``
    too, the running statistics its eval uses."""
    eqx = sys.modules.get("equinox")
    if eqx is None or isinstance(obj, eqx.Module):
        return {}
    try:
        attrs = dict(vars(obj))
    except TypeError:
        return {}
    models = []
    for key, value in attrs.items():
        if isinstance(value, eqx.Module):
            try:
                models.append((key, value, _one_bn(value)))
            except ValueError:
                continue
    if len(models) != 1:
        return {}
    key, model, bn = models[0]
    out: dict[str, Any] = {}
    path = _bn_path(model)
    shown = ".".join((key, *path)) if path is not None else f"{key}'s BatchNorm"
    if bn.weight is not None and bn.bias is not None:
        out["params"] = (
            HeldSlot("weight", inside=key, shown=shown),
            HeldSlot("bias", inside=key, shown=shown),
        )
    if path is not None:
        for attr in ("eps", "momentum"):
            out[attr] = (".".join((key, *path, attr)), float(getattr(bn, attr)))
    states = [k for k, v in attrs.items() if isinstance(v, eqx.nn.State)]
    if len(states) == 1:
        out["running"] = (
            HeldSlot("running_mean", inside=key, state=states[0], shown=shown),
            HeldSlot("running_var", inside=key, state=states[0], shown=shown),
        )
    return out


def _claims(obj: Any) -> str | None:
    eqx = sys.modules.get("equinox")
    base = getattr(eqx, "Module", None)
    if base is None:
        return None
    is_class = inspect.isclass(obj)
    try:
        if (is_class and issubclass(obj, base)) or (not is_class and isinstance(obj, base)):
            return "equinox"
    except TypeError:
        return None
    return None


def _adapter(obj: Any, name: str, axis: int) -> EquinoxAdapter:
    return EquinoxAdapter(obj, name, axis=axis)


#: Equinox in the registry
FRAMEWORK = Framework(
    name="equinox",
    modules=("equinox",),
    packages=("jax", "equinox"),
    extra="equinox",
    distribution="equinox",
    claims=_claims,
    adapter=_adapter,
    order=30,
    held=_held,
)
