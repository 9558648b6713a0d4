"""How to call and build a layer: its mode switch and its constructor, found from names and
signatures (runs inside the worker process; the spellings are the tables of
:mod:`bncheck.check._verify.targets.names`)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bncheck.check._verify.targets.names import (
    BOOL_MODE_PARAMS,
    CHANNEL_PARAMS,
    EVAL_METHODS,
    EVAL_STRINGS,
    INVERTED_MODE_PARAMS,
    MODE_ATTRIBUTES,
    PARAM_NAMES,
    RANK_PARAMS,
    STRING_MODE_ATTRIBUTES,
    STRING_MODE_PARAMS,
    has_attr,
)

__all__ = ["Construction", "Layout", "call_forward", "construction_of", "mode_of"]


# -- mode -------------------------------------------------------------------------------------


@dataclass
class Layout:
    """How to call a layer: the forward and backward callables and the mode switch."""

    forward_name: str = "forward"
    #: "kwarg", "inverted", "string", "methods", "attribute", "string-attribute",
    #: "eval-method" or "none"
    mode: str = "none"
    mode_name: str = ""
    eval_value: Any = None
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.mode == "kwarg":
            return f"{self.forward_name}(x, {self.mode_name}=True|False)"
        if self.mode == "string":
            return f"{self.forward_name}(x, {self.mode_name}='train'|{self.eval_value!r})"
        if self.mode == "methods":
            return f"train()/eval(), then {self.forward_name}(x)"
        if self.mode == "attribute":
            return f"{self.mode_name} = True|False, then {self.forward_name}(x)"
        if self.mode == "inverted":
            return f"{self.forward_name}(x, {self.mode_name}=False|True)"
        if self.mode == "string-attribute":
            return f"{self.mode_name} = 'train'|{self.eval_value!r}, then {self.forward_name}(x)"
        if self.mode == "eval-method":
            return f"{self.forward_name}(x) in training, {self.mode_name}(x) in eval"
        return f"{self.forward_name}(x) (no eval mode found)"


def _params_of(fn: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    try:
        return dict(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return {}


def mode_of(obj: Any) -> Layout:
    """How ``obj`` is called in train and eval mode (names and signatures only)."""
    layout = Layout()
    fwd = getattr(obj, "forward", None)
    if not callable(fwd):
        if callable(obj) and type(obj).__call__ is not object.__call__:
            layout.forward_name, fwd = "__call__", obj.__call__
        else:
            return layout
    params = _params_of(fwd)
    for name in BOOL_MODE_PARAMS:
        if name in params:
            layout.mode, layout.mode_name = "kwarg", name
            return layout
    for name in INVERTED_MODE_PARAMS:
        if name in params:
            layout.mode, layout.mode_name = "inverted", name
            return layout
    for name in STRING_MODE_PARAMS:
        if name in params:
            layout.mode, layout.mode_name, layout.eval_value = "string", name, "test"
            return layout
    if callable(getattr(obj, "train", None)) and callable(getattr(obj, "eval", None)):
        layout.mode = "methods"
        return layout
    for name in MODE_ATTRIBUTES:
        if has_attr(obj, name) and isinstance(getattr(obj, name, None), bool):
            layout.mode, layout.mode_name = "attribute", name
            return layout
    for name in STRING_MODE_ATTRIBUTES:
        value = getattr(obj, name, None) if has_attr(obj, name) else None
        if isinstance(value, str) and value.lower() in ("train", "training", *EVAL_STRINGS):
            layout.mode, layout.mode_name, layout.eval_value = "string-attribute", name, "test"
            return layout
    for name in EVAL_METHODS:
        if callable(getattr(obj, name, None)):
            layout.mode, layout.mode_name = "eval-method", name
            return layout
    return layout


def call_forward(obj: Any, layout: Layout, x: Any, train: bool) -> Any:
    fwd = getattr(obj, layout.forward_name)
    if layout.mode == "kwarg":
        return fwd(x, **{layout.mode_name: train})
    if layout.mode == "string":
        return fwd(x, **{layout.mode_name: "train" if train else layout.eval_value})
    if layout.mode == "methods":
        obj.train() if train else obj.eval()
        return fwd(x)
    if layout.mode == "attribute":
        setattr(obj, layout.mode_name, train)
        return fwd(x)
    if layout.mode == "inverted":
        return fwd(x, **{layout.mode_name: not train})
    if layout.mode == "string-attribute":
        setattr(obj, layout.mode_name, "train" if train else layout.eval_value)
        return fwd(x)
    if layout.mode == "eval-method":
        return fwd(x) if train else getattr(obj, layout.mode_name)(x)
    if not train:
        raise NotImplementedError("no eval mode found")
    return fwd(x)


# -- construction --------------------------------------------------------------------------------


@dataclass
class Construction:
    """How to build a layer of C channels: ``form`` is "channels", "channels+rank" (the input
    rank as a second argument), "lazy" or "params"."""

    form: str
    keyword: str | None = None  # the channel count by this keyword, when it has a default

    def describe(self, name: str) -> str:
        if self.form == "lazy":
            return f"{name}() (sized at the first forward)"
        if self.form == "params":
            return f"{name}(gamma, beta)"
        if self.form == "channels+rank":
            return f"{name}(num_features, <input rank>)"
        return f"{name}({self.keyword + '=' if self.keyword else ''}num_features)"

    def arguments(self, c: int, dtype: Any, ndim: int) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if self.form == "lazy":
            return (), {}
        if self.form == "params":
            return (np.ones(c, dtype), np.zeros(c, dtype)), {}
        if self.form == "channels+rank":
            return (c, ndim), {}
        if self.keyword:
            return (), {self.keyword: c}
        return (c,), {}

    def build(self, factory: Callable[..., Any], c: int, dtype: Any, ndim: int = 2) -> Any:
        args, kwargs = self.arguments(c, dtype, ndim)
        return factory(*args, **kwargs)


def construction_of(factory: Callable[..., Any]) -> list[Construction]:
    """Plausible ways to build the layer, best guess first (tried in turn)."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    params = [
        p
        for p in _params_of(target).values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    required = [p for p in params if p.default is inspect.Parameter.empty]
    names = [p.name for p in required]
    first_two = tuple(names[:2])
    out: list[Construction] = []
    if any(first_two == pair for pair in PARAM_NAMES) or first_two in (("gamma", "beta"),):
        out.append(Construction("params"))
    if len(required) == 2 and names[1] in RANK_PARAMS:
        out.append(Construction("channels+rank"))
    if len(required) == 1:
        out.append(Construction("channels"))
    if not required:
        keyword = next((p.name for p in params if p.name in CHANNEL_PARAMS), None)
        if keyword is not None:
            out.append(Construction("channels", keyword))
        out.append(Construction("lazy"))
    for fallback in (Construction("channels"), Construction("lazy"), Construction("params")):
        if fallback not in out:
            out.append(fallback)
    return out
