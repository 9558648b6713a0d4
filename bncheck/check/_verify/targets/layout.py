"""How to call and build a layer: its mode switch and its constructor, found from names and
signatures (runs inside the worker process; the spellings are the tables of
:mod:`bncheck.check._verify.targets.names`)."""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import re
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bncheck.check._verify.targets.common import one_by_keyword
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

__all__ = [
    "Construction",
    "Layout",
    "build_arguments",
    "call_forward",
    "construction_of",
    "eval_companions",
    "mode_candidates",
    "mode_of",
    "side_effects",
    "string_constants",
]


# -- mode -------------------------------------------------------------------------------------


@dataclass
class Layout:
    """How to call a layer: the forward and backward callables and the mode switch."""

    forward_name: str = "forward"
    #: "kwarg", "inverted", "string", "methods", "attribute", "string-attribute",
    #: "eval-method", "positional", "setter", "export", "context" (a no-argument method
    #: returning a context manager, eval inside its block), "global-attribute" or "none"
    mode: str = "none"
    mode_name: str = ""
    eval_value: Any = None
    notes: list[str] = field(default_factory=list)
    #: the train value of a string switch (``"train"`` unless the layer spells it otherwise)
    train_value: Any = "train"
    #: how the switch was found: "names" (the tables) or "behaviour" (tried and watched)
    found_by: str = "names"
    #: the object holding a process-wide switch (mode "global-attribute"), e.g. a config
    holder: Any = field(default=None, compare=False)
    #: keyword arguments the forward gets in eval as well as the switch's setting: an eval
    #: that needs two settings (Sonnet 1: is_training=False and test_local_stats=False)
    eval_kwargs: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        text = self._describe_switch()
        if self.eval_kwargs:
            both = ", ".join(f"{k}={v!r}" for k, v in self.eval_kwargs.items())
            text += f", and {both} in eval"
        return text

    def _describe_switch(self) -> str:
        if self.mode == "export":
            return (
                f"{self.forward_name}(x) in training; in eval {self.mode_name}() makes an "
                "inference object, called on x"
            )
        if self.mode == "context":
            return (
                f"{self.forward_name}(x) in training; in eval inside "
                f"`with {self.mode_name}():` (the context manager it returns)"
            )
        if self.mode == "global-attribute":
            return (
                f"the process-wide {self.mode_name} = True|False (restored after each call), "
                f"then {self.forward_name}(x)"
            )
        if self.mode == "positional":
            return f"{self.forward_name}(x, True|False) (the mode as its second argument)"
        if self.mode == "setter":
            return (
                f"{self.mode_name}({self.train_value!r}|{self.eval_value!r}), then "
                f"{self.forward_name}(x)"
            )
        if self.mode == "kwarg":
            return f"{self.forward_name}(x, {self.mode_name}=True|False)"
        if self.mode == "string":
            return (
                f"{self.forward_name}(x, {self.mode_name}={self.train_value!r}|{self.eval_value!r})"
            )
        if self.mode == "methods":
            return f"train()/eval(), then {self.forward_name}(x)"
        if self.mode == "attribute":
            return f"{self.mode_name} = True|False, then {self.forward_name}(x)"
        if self.mode == "inverted":
            return f"{self.forward_name}(x, {self.mode_name}=False|True)"
        if self.mode == "string-attribute":
            return (
                f"{self.mode_name} = {self.train_value!r}|{self.eval_value!r}, then "
                f"{self.forward_name}(x)"
            )
        if self.mode == "eval-method":
            return f"{self.forward_name}(x) in training, {self.mode_name}(x) in eval"
        return f"{self.forward_name}(x) (no eval mode found)"


def _params_of(fn: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    try:
        return dict(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return {}


def mode_of(obj: Any, entry: str | None = None) -> Layout:
    """How ``obj`` is called in train and eval mode (names and signatures only); ``entry``:
    the forward's name when it is neither ``forward`` nor ``__call__`` (found by behaviour)."""
    layout = Layout()
    fwd = getattr(obj, entry or "forward", None)
    if entry is not None:
        layout.forward_name = entry
    elif not callable(fwd):
        if callable(obj) and type(obj).__call__ is not object.__call__:
            layout.forward_name, fwd = "__call__", obj.__call__
        else:
            return layout
    params = _params_of(fwd) if callable(fwd) else {}
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


def _is_context(made: Any) -> bool:
    """Whether what a no-argument method returned is a context manager with no forward or
    predict of its own: the layer's eval mode is then the block it opens. (It may be callable
    all the same: ``contextlib.contextmanager``'s objects are decorators too.)"""
    kind = type(made)
    return (
        hasattr(kind, "__enter__")
        and hasattr(kind, "__exit__")
        and not callable(getattr(made, "forward", None))
        and not callable(getattr(made, "predict", None))
    )


def call_forward(obj: Any, layout: Layout, x: Any, train: bool) -> Any:
    fwd = one_by_keyword(getattr(obj, layout.forward_name))
    if not train and layout.eval_kwargs:
        fwd = functools.partial(fwd, **layout.eval_kwargs)
    if layout.mode == "kwarg":
        return fwd(x, **{layout.mode_name: train})
    if layout.mode == "string":
        return fwd(x, **{layout.mode_name: layout.train_value if train else layout.eval_value})
    if layout.mode == "positional":
        return fwd(x, train)
    if layout.mode in ("export", "context"):
        if train:
            return fwd(x)
        made = getattr(obj, layout.mode_name)()
        if _is_context(made):  # `with layer.inference(): y = layer(x)`
            layout.mode = "context"
            with made:
                return fwd(x)
        run = getattr(made, "forward", None) or getattr(made, "predict", None) or made
        return run(x)
    if layout.mode == "global-attribute":
        attribute = layout.mode_name.rpartition(".")[2]
        old = getattr(layout.holder, attribute)
        setattr(layout.holder, attribute, train)
        try:
            return fwd(x)
        finally:
            setattr(layout.holder, attribute, old)
    if layout.mode == "setter":
        getattr(obj, layout.mode_name)(layout.train_value if train else layout.eval_value)
        return fwd(x)
    if layout.mode == "methods":
        obj.train() if train else obj.eval()
        return fwd(x)
    if layout.mode == "attribute":
        setattr(obj, layout.mode_name, train)
        return fwd(x)
    if layout.mode == "inverted":
        return fwd(x, **{layout.mode_name: not train})
    if layout.mode == "string-attribute":
        setattr(obj, layout.mode_name, layout.train_value if train else layout.eval_value)
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
    #: form "given": the arguments the user wrote (--build), C standing for the channel count
    given: str = ""

    def describe(self, name: str) -> str:
        if self.form == "given":
            return f"{name}({self.given}) (as given by --build)"
        if self.form == "lazy":
            return f"{name}() (sized at the first forward)"
        if self.form == "params":
            return f"{name}(gamma, beta)"
        if self.form == "channels+rank":
            return f"{name}(num_features, <input rank>)"
        return f"{name}({self.keyword + '=' if self.keyword else ''}num_features)"

    def arguments(self, c: int, dtype: Any, ndim: int) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if self.form == "given":
            return build_arguments(self.given, c)
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


def build_arguments(text: str, c: int) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments of ``--build 'C, eps=1e-3'``: Python literals, and the name ``C`` for
    the channel count, also inside a tuple or list (an input shape, ``'(None, C)'``, as
    Lasagne's layers take); nothing else is evaluated. ValueError naming the text otherwise.

    Examples
    --------
    >>> build_arguments("(None, C), momentum=0.9", 3)
    (((None, 3),), {'momentum': 0.9})
    """
    import ast

    try:
        call = ast.parse(f"f({text})", mode="eval").body
    except SyntaxError:
        raise ValueError(
            f"--build {text!r}: not a list of arguments (write e.g. 'C, eps=1e-3')"
        ) from None
    assert isinstance(call, ast.Call)

    def value(node: ast.expr) -> Any:
        if isinstance(node, ast.Name) and node.id == "C":
            return c
        if isinstance(node, (ast.Tuple, ast.List)):  # an input shape: (None, C), [N, C, H, W]
            items = [value(e) for e in node.elts]
            return tuple(items) if isinstance(node, ast.Tuple) else items
        try:
            return ast.literal_eval(node)
        except ValueError:
            raise ValueError(
                f"--build {text!r}: {ast.unparse(node)!r} is neither a literal nor C (the "
                "channel count)"
            ) from None

    if any(isinstance(a, ast.Starred) for a in call.args) or any(
        k.arg is None for k in call.keywords
    ):
        raise ValueError(f"--build {text!r}: no *args or **kwargs")
    return tuple(value(a) for a in call.args), {str(k.arg): value(k.value) for k in call.keywords}


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


# -- candidates for discovery by behaviour ---------------------------------------------------------

#: parts of method names that say the method reaches outside the layer (files, the screen,
#: the process): discovery never calls them on a guess
_SIDE_EFFECT_WORDS = (
    "save",
    "load",
    "write",
    "dump",
    "plot",
    "show",
    "print",
    "delete",
    "remove",
    "close",
    "exit",
    "quit",
    "kill",
    "system",
    "open",
    "download",
    "upload",
    "send",
    "pickle",
    "serialize",
    "checkpoint",
    "log",
    "fork",
    "spawn",
    "thread",
)


def side_effects(name: str) -> bool:
    """Whether a method's name says it reaches outside the layer (discovery skips it)."""
    lowered = name.lower()
    return any(word in lowered for word in _SIDE_EFFECT_WORDS)


#: how many switches :func:`mode_candidates` offers at most (each costs a few tiny forwards)
MAX_MODE_CANDIDATES = 48
_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9_\- ]{0,23}$")
_TRAIN_WORDS = ("train", "training", "fit", "learn")


def _codes_of(obj: Any) -> list[types.CodeType]:
    """The code objects of ``obj``'s own methods and of the functions it holds (closures of a
    namespace or dict of functions), not those of library base classes."""
    found: list[Any] = []
    for klass in type(obj).__mro__:
        module = getattr(klass, "__module__", "") or ""
        if klass is object or module.split(".")[0] in ("builtins", "numpy", "torch", "abc"):
            continue
        for value in vars(klass).values():
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, property):
                value = value.fget
            found.append(getattr(value, "__code__", None))
    holder = obj if isinstance(obj, dict) else getattr(obj, "__dict__", {})
    if isinstance(holder, dict):
        for value in list(holder.values())[:256]:
            found.append(getattr(value, "__code__", None))
    return [c for c in found if isinstance(c, types.CodeType)]


def string_constants(obj: Any) -> list[str]:
    """Short words written in the layer's own code (``"train"``, ``"inference"``, ``"test"``):
    the values a string mode switch may take, in the order they appear."""
    out: list[str] = []
    stack = _codes_of(obj)
    seen = 0
    while stack and seen < 512:
        code = stack.pop(0)
        seen += 1
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                stack.append(const)
            elif isinstance(const, str) and _WORD.match(const) and const not in out:
                out.append(const)
            elif isinstance(const, tuple):
                out += [c for c in const if isinstance(c, str) and _WORD.match(c) and c not in out]
    return out


def _string_pairs(default: Any, words: list[str]) -> list[tuple[str, str]]:
    """(train value, eval value) pairs to try for a string switch: the train value is the
    default or a training word the code uses; eval values the other words, the usual eval
    spellings first."""
    trains = [default] if isinstance(default, str) else []
    trains += [w for w in words if w.lower() in _TRAIN_WORDS and w not in trains]
    if not trains:
        trains = ["train"]
    evals = [w for w in words if w.lower() in EVAL_STRINGS]
    evals += [w for w in words if w not in evals]
    return [(t, e) for t in trains[:2] for e in evals if e != t]


def _enum_pairs(value: Any) -> list[tuple[Any, Any]]:
    """(train, eval) pairs of an enum's members (and of their values), for a switch holding or
    defaulting to one: the member named or valued like training first."""
    if not isinstance(value, enum.Enum):
        return []
    members = list(type(value))
    train = [m for m in members if str(m.name).lower() in _TRAIN_WORDS] or [
        m for m in members if str(m.value).lower() in _TRAIN_WORDS
    ]
    if not train:
        train = [value]
    pairs: list[tuple[Any, Any]] = [(train[0], m) for m in members if m is not train[0]]
    pairs += [(t.value, e.value) for t, e in pairs if isinstance(t.value, (str, int))]
    return pairs


def _module_enums(obj: Any) -> list[Any]:
    """One member of each enum class defined in the layer's own module."""
    module = sys.modules.get(getattr(type(obj), "__module__", "") or "")
    if module is None:
        return []
    return [
        next(iter(v))
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, enum.Enum) and v is not enum.Enum and len(v)
    ][:4]


def _keyword_sources(obj: Any, forward_name: str) -> list[dict[str, inspect.Parameter]]:
    """The parameters of the forward and, when it passes ``*args``/``**kwargs`` on, of the
    layer's other methods (a base ``__call__`` forwarding to ``call(inputs, training=None)``)."""
    fwd = getattr(obj, forward_name, None)
    params = _params_of(fwd) if callable(fwd) else {}
    sources = [params]
    passes_on = any(p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) for p in params.values())
    if passes_on:
        for name in dir(type(obj)):
            if name.startswith("__") or name == forward_name:
                continue
            method = getattr(obj, name, None)
            if callable(method) and inspect.ismethod(method):
                sources.append(_params_of(method))
    return sources


def _exporters(obj: Any, forward_name: str) -> list[str]:
    """Methods of the layer that take no argument (and touch no file), tried as makers of an
    inference form of it; names that say so (``export()``, ``freeze()``, ``fold()``...) first."""
    words = ("export", "freeze", "frozen", "inference", "infer", "deploy", "fuse", "fold")
    names = [n for n in dir(obj) if not n.startswith("_")] if not isinstance(obj, dict) else []
    names.sort(key=lambda n: (not any(w in n.lower() for w in words), n))
    out = []
    for name in names:
        if name in (forward_name, "backward", "train", "eval") or side_effects(name):
            continue
        method = getattr(obj, name, None)
        if not callable(method) or inspect.isclass(method):
            continue
        required = [
            p
            for p in _params_of(method).values()
            if p.default is inspect.Parameter.empty
            and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]
        if not required and not _touches_files(method):
            out.append(name)
    return out[:8]


#: names whose use in a method's code says it reaches files or the process
_FILE_NAMES = frozenset(
    {
        "open",
        "save",
        "savez",
        "savetxt",
        "dump",
        "dumps",
        "write",
        "tofile",
        "to_csv",
        "system",
        "remove",
        "unlink",
        "rmtree",
        "mkdir",
        "Path",
        "os",
        "shutil",
        "subprocess",
        "pickle",
    }
)


def _touches_files(method: Any) -> bool:
    """Whether a method's own code names a file, process or pickling operation."""
    code = getattr(getattr(method, "__func__", method), "__code__", None)
    stack = [code] if isinstance(code, types.CodeType) else []
    while stack:
        current = stack.pop()
        if _FILE_NAMES & set(current.co_names):
            return True
        stack += [c for c in current.co_consts if isinstance(c, types.CodeType)]
    return False


def _global_switches(obj: Any) -> list[tuple[str, Any, str]]:
    """Boolean attributes of the objects at the top of the layer's own module (a process-wide
    configuration such as Chainer's ``config.train``, or the state behind MXNet's
    ``autograd.record()``, ``autograd._training``): (label, holder, attribute), public ones
    first."""
    module = sys.modules.get(getattr(type(obj), "__module__", "") or "")
    if module is None or module.__name__.split(".")[0] in ("builtins", "numpy", "torch"):
        return []
    out = []
    for name, value in list(vars(module).items())[:512]:
        if name.startswith("__") or isinstance(value, (types.ModuleType, type)) or callable(value):
            continue
        if not hasattr(value, "__dict__") and not hasattr(type(value), "__dict__"):
            continue
        fields = {**{k: v for k, v in vars(type(value)).items() if not k.startswith("__")}}
        fields.update(getattr(value, "__dict__", {}) or {})
        for attribute, held in fields.items():
            if isinstance(held, bool) and not attribute.startswith("__"):
                out.append((f"{module.__name__}.{name}.{attribute}", value, attribute))
    out.sort(key=lambda item: item[2].startswith("_"))  # stable: public ones first
    return out[:8]


#: words in a method's name that say it is not an inference forward (a gradient, a setter of
#: the mode or of values, a loss)
_NOT_INFERENCE = ("grad", "backward", "backprop", "vjp", "set", "mode", "phase", "loss", "update")


def eval_companions(obj: Any, layout: Layout) -> list[Layout]:
    """``layout`` with one more keyword argument of the forward (or of the methods it passes
    its arguments to) set in eval: each flag whose default is a bool (the other value) or None
    (True and False), other than the switch's own. For a switch whose eval setting alone gave
    the train output: Sonnet 1's ``_build(x, is_training, test_local_stats=True)`` normalizes
    with the batch unless both are False, its documented design."""
    out: list[Layout] = []
    for source in _keyword_sources(obj, layout.forward_name):
        for p in source.values():
            if p.name == layout.mode_name or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            if p.kind == p.POSITIONAL_ONLY or p.default is inspect.Parameter.empty:
                continue
            values = [not p.default] if isinstance(p.default, bool) else []
            values += [False, True] if p.default is None else []
            for v in values:
                made = dataclasses.replace(layout, notes=[], eval_kwargs={p.name: v})
                if made not in out:
                    out.append(made)
    return out


def mode_candidates(obj: Any, forward_name: str) -> list[Layout]:
    """Every way the layer might be switched between training and eval, to be tried and
    watched: keyword and positional arguments of the forward (and of the methods it passes its
    arguments to), ``train()``/``eval()``, one-argument setter methods, boolean and string
    attributes, and other methods that map x to an array of its shape. Names order the list
    (known spellings first); they never decide it."""
    words = string_constants(obj)
    out: list[Layout] = []

    def add(layout: Layout) -> None:
        if layout not in out and len(out) < MAX_MODE_CANDIDATES:
            layout.found_by = "behaviour"
            out.append(layout)

    for source in _keyword_sources(obj, forward_name):
        items = list(source.values())
        positional = [p for p in items if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        for p in items[1:] if items else []:
            if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
                continue
            if p.default is inspect.Parameter.empty:
                if len(positional) > 1 and p is positional[1]:
                    add(Layout(forward_name, "positional"))
                continue
            d = p.default
            if isinstance(d, bool) or d is None:
                inverted = p.name in INVERTED_MODE_PARAMS or "determin" in p.name.lower()
                kinds = ("inverted", "kwarg") if inverted else ("kwarg", "inverted")
                for kind in kinds:
                    add(Layout(forward_name, kind, p.name))
            if isinstance(d, str) or p.name in STRING_MODE_PARAMS:
                for t, e in _string_pairs(d, words):
                    add(Layout(forward_name, "string", p.name, e, train_value=t))
            for t, e in _enum_pairs(d):
                add(Layout(forward_name, "string", p.name, e, train_value=t))
    if callable(getattr(obj, "train", None)) and callable(getattr(obj, "eval", None)):
        add(Layout(forward_name, "methods"))
    holder = obj if isinstance(obj, dict) else getattr(obj, "__dict__", {})
    attrs = dict(holder) if isinstance(holder, dict) else {}
    for name in dir(obj) if not isinstance(obj, dict) else []:
        if not name.startswith("__") and name not in attrs and has_attr(obj, name):
            try:
                attrs[name] = inspect.getattr_static(obj, name)
            except AttributeError:
                continue
    for name, value in attrs.items():
        if isinstance(value, bool):
            add(Layout(forward_name, "attribute", name))
            # and the other way round: True in eval (``frozen``, ``use_global_stats``, ...)
            add(Layout(forward_name, "string-attribute", name, True, train_value=False))
        elif isinstance(value, str) and _WORD.match(value):
            for t, e in _string_pairs(value, words):
                add(Layout(forward_name, "string-attribute", name, e, train_value=t))
        elif isinstance(value, enum.Enum):
            for t, e in _enum_pairs(value)[:6]:
                add(Layout(forward_name, "string-attribute", name, e, train_value=t))
    for name in _exporters(obj, forward_name):
        add(Layout(forward_name, "export", name))
    for label, holder, _attribute in _global_switches(obj):
        layout = Layout(forward_name, "global-attribute", label)
        layout.holder = holder
        add(layout)
    for name in sorted(
        attrs, key=lambda n: ("mode" not in n.lower() and "phase" not in n.lower(), n)
    ):
        method = getattr(obj, name, None)
        if name in (forward_name, "forward", "backward", "train", "eval") or not callable(method):
            continue
        required = [
            p
            for p in _params_of(method).values()
            if p.default is inspect.Parameter.empty
            and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]
        if side_effects(name):
            continue
        if len(required) == 1 and any(
            k in name.lower() for k in ("mode", "phase", "train", "eval", "stage", "state")
        ):
            add(Layout(forward_name, "setter", name, False, train_value=True))
            for member in _module_enums(obj):
                for t, e in _enum_pairs(member):
                    add(Layout(forward_name, "setter", name, e, train_value=t))
            for t, e in _string_pairs(None, words):
                add(Layout(forward_name, "setter", name, e, train_value=t))
    # last: another method taking x alone, as the inference one (fit_transform beside
    # transform); kept only if its output is a per-channel affine map of x (LayerAdapter)
    for name in sorted(attrs):
        method = getattr(obj, name, None)
        if (
            name in (forward_name, "forward", "backward", "train", "eval", "__call__")
            or name.startswith("_")
            or not callable(method)
            or inspect.isclass(method)
            or side_effects(name)
        ):
            continue
        required = [
            p
            for p in _params_of(method).values()
            if p.default is inspect.Parameter.empty
            and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]
        if len(required) == 1 and not any(h in name.lower() for h in _NOT_INFERENCE):
            add(Layout(forward_name, "eval-method", name))
    return out
