"""Values inside a target, wherever they live (runs inside the worker process).

A layer keeps its parameters, running statistics and gradients in attributes, dicts, lists,
tuples, parameter objects (``.data``, ``.grad``) or framework tensors, nested any way. A
:class:`Path` names one value by the steps from the layer to it (``params.0``,
``grads[1]``, ``_parameters['weight']``) and reads and writes it in the shape and kind the
layer keeps; :func:`leaves` lists every value of C numbers reachable from an object, so that
the discovery in :mod:`bncheck.check._verify.targets.layer` can decide each one's role by how
the target behaves, not by its name.
"""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Global", "Keyed", "Path", "c_values", "closes_over_arrays", "leaves", "parse_path"]

#: how deep :func:`leaves` looks below the object (``obj.a.b[0].data`` is depth 3)
MAX_DEPTH = 4
#: how many containers :func:`leaves` opens at most (a guard against huge object graphs)
MAX_NODES = 2000


@dataclass(frozen=True)
class Global:
    """A first step: a dict at the top of a module (a framework's registry of parameters)."""

    module: str
    name: str


@dataclass(frozen=True)
class Keyed:
    """A dict key made from the layer's own attribute: ``template.format(layer.attr)`` (a
    registry keyed per layer, ``"{}/gamma"`` with the layer's name)."""

    attr: str
    template: str


Step = str | int | Global | Keyed

_TOKEN = re.compile(r"""\.?([A-Za-z_][A-Za-z0-9_]*)|\.(\d+)|\[(-?\d+)\]|\[(['"])(.*?)\4\]""")


def parse_path(text: str) -> tuple[Step, ...]:
    """``"params.0"``, ``"grads[1]"``, ``"stats['mean']"``, ``"a.b"`` -> the steps.

    A number after a dot or in brackets is an index (or an integer dict key); a quoted name in
    brackets is a dict key; any other name is an attribute or a string dict key.

    >>> parse_path("params.0")
    ('params', 0)
    >>> parse_path("grads[1]")
    ('grads', 1)
    >>> parse_path("state['running mean'].data")
    ('state', 'running mean', 'data')
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"path {text!r}: expected steps such as 'params.0' or 'grads[1]'")
    steps: list[Step] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or (pos == 0 and text[0] == "."):
            raise ValueError(
                f"path {text!r}: cannot read {text[pos:]!r}; expected steps such as "
                "'params.0', 'grads[1]' or \"stats['mean']\""
            )
        name, dotted_index, index, _, key = match.groups()
        if name is not None:
            steps.append(name)
        elif dotted_index is not None:
            steps.append(int(dotted_index))
        elif index is not None:
            steps.append(int(index))
        else:
            steps.append(key)
        pos = match.end()
    return tuple(steps)


def _step(holder: Any, step: Step, root: Any = None) -> Any:
    """One step down; KeyError/IndexError/AttributeError when it is not there."""
    if isinstance(step, Global):
        module = sys.modules.get(step.module)
        table = getattr(module, step.name, None) if module is not None else None
        if not isinstance(table, dict):
            raise KeyError(step.name)
        return table
    if isinstance(step, Keyed):
        step = step.template.format(getattr(root, step.attr))
    if isinstance(holder, dict):
        if step in holder:
            return holder[step]
        if isinstance(step, int) and str(step) in holder:
            return holder[str(step)]
        raise KeyError(step)
    if isinstance(step, int):
        if isinstance(holder, (list, tuple)):
            return holder[step]
        if isinstance(holder, np.ndarray) and holder.ndim >= 2:
            return holder[step]  # a row of a (k, C) array: a view the layer's own array holds
        raise AttributeError(f"{type(holder).__name__} is not a list, tuple or array")
    return getattr(holder, step)


def _label(steps: tuple[Step, ...]) -> str:
    out = ""
    for step in steps:
        if isinstance(step, Global):
            out += f"{step.module}.{step.name}"
        elif isinstance(step, Keyed):
            out += "[" + repr(step.template).replace("{}", "{" + f"<{step.attr}>" + "}") + "]"
        elif isinstance(step, int):
            out += f"[{step}]"
        elif step.isidentifier():
            out += ("." if out else "") + step
        else:
            out += f"[{step!r}]"
    return out


@dataclass(frozen=True)
class Path:
    """Where a value lives, as steps from the layer (attributes, dict keys, indices)."""

    steps: tuple[Step, ...]

    @classmethod
    def parse(cls, text: str) -> Path:
        return cls(parse_path(text))

    @property
    def name(self) -> str:
        return str(self.steps[-1])

    def label(self) -> str:
        return _label(self.steps)

    def _parent(self, obj: Any) -> Any:
        holder = obj
        for step in self.steps[:-1]:
            holder = _step(holder, step, obj)
        return holder

    def _last(self, obj: Any) -> Any:
        last = self.steps[-1]
        return last.template.format(getattr(obj, last.attr)) if isinstance(last, Keyed) else last

    def exists(self, obj: Any) -> bool:
        try:
            _step(self._parent(obj), self.steps[-1], obj)
        except Exception:
            return False
        return True

    def get(self, obj: Any) -> Any:
        try:
            return _step(self._parent(obj), self.steps[-1], obj)
        except Exception:
            return None

    def set(self, obj: Any, value: Any) -> None:
        """Write ``value`` (C values) in the shape and kind the layer holds now: a torch tensor
        or parameter object is filled in place, an array keeps its shape, an item of a tuple
        (which cannot be replaced) is written into."""
        holder = self._parent(obj)
        last = self._last(obj)
        old = self.get(obj)
        new: Any = np.array(value, copy=True)
        if hasattr(old, "detach") and hasattr(old, "copy_"):  # a torch tensor or Parameter
            import torch

            with torch.no_grad():
                old.copy_(torch.as_tensor(new.reshape(tuple(old.shape))))
            return
        data = getattr(old, "data", None) if not isinstance(old, np.ndarray) else None
        if isinstance(data, np.ndarray):  # a parameter object: fill its .data
            old.data = new.reshape(data.shape).astype(new.dtype) if data.size == new.size else new
            return
        if isinstance(old, np.ndarray) and old.size == new.size:
            new = new.reshape(old.shape)
        if isinstance(holder, dict):
            key = last if last in holder or not isinstance(last, int) else str(last)
            holder[key] = new
        elif isinstance(holder, list) and isinstance(last, int):
            holder[last] = new
        elif isinstance(holder, np.ndarray) and isinstance(last, int):
            if not holder.flags.writeable:
                raise TypeError(f"{self.label()} is a row of a read-only array")
            if not np.can_cast(new.dtype, holder.dtype, "safe"):
                raise TypeError(
                    f"{self.label()} is a row of a {holder.dtype} array; it can only be written "
                    "in place with values that fit its dtype exactly"
                )
            holder[last] = new.reshape(holder[last].shape)
        elif isinstance(holder, tuple) and isinstance(old, np.ndarray):
            if not np.can_cast(new.dtype, old.dtype, "safe") or not old.flags.writeable:
                raise TypeError(
                    f"{self.label()} is an item of a tuple holding {old.dtype} values; it can "
                    "only be written in place with values that fit its dtype exactly"
                )
            old[...] = new
        elif isinstance(last, str):
            setattr(holder, last, new)
        else:
            raise TypeError(f"cannot write {self.label()} into a {type(holder).__name__}")


def _rows_of_c(value: Any, c: int | None) -> bool:
    """A (k, C) float array with 2 <= k <= 4 rows (gamma and beta, or mean and variance, kept
    as the rows of one array)."""
    return (
        c is not None
        and c > 1
        and isinstance(value, np.ndarray)
        and value.ndim == 2
        and 2 <= value.shape[0] <= 4
        and value.shape[1] == c
        and value.dtype.kind == "f"
    )


def c_values(value: Any, c: int | None, *, array_like: bool = False) -> bool:
    """Whether ``value`` holds C numbers (any shape: (C,), (1, C), (1, C, 1, 1)); an array, a
    framework tensor or a parameter object whose ``.data`` is one. ``c`` None: any number of
    values. ``array_like``: any sequence NumPy reads as numbers (a list) counts too, for a
    value a layer's known name points at; a walk through arbitrary data (:func:`leaves`) takes
    arrays, tensors and array objects (``__array__`` and a shape: a JAX array) only."""
    if value is None or isinstance(value, (bool, str, bytes)):
        return False
    data = getattr(value, "data", None) if not isinstance(value, np.ndarray) else None
    if isinstance(data, np.ndarray):  # a parameter object of a NumPy mini-framework
        value = data
    is_array = (
        isinstance(value, np.ndarray)
        or hasattr(value, "detach")  # a torch tensor
        or (hasattr(value, "__array__") and hasattr(value, "shape"))  # a JAX array, ...
    )
    if not array_like and not is_array:
        return False
    try:
        arr = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
    except Exception:
        return False
    if arr.dtype.kind not in "fiu" or arr.ndim == 0:
        return False
    if c is None:
        return True
    return arr.size == c and max(arr.shape) == c


_OPAQUE = (types.ModuleType, types.FunctionType, types.MethodType, types.BuiltinFunctionType, type)


def _children(value: Any) -> Iterator[tuple[Step, Any]]:
    if isinstance(value, dict):
        for key in list(value)[:256]:
            if isinstance(key, (str, int)) and not isinstance(key, bool):
                yield key, value[key]
        return
    if isinstance(value, (list, tuple)):
        yield from enumerate(value[:64])
        return
    if isinstance(value, (np.ndarray, np.generic, str, bytes, int, float, complex, bool)):
        return
    if value is None or isinstance(value, _OPAQUE) or hasattr(value, "detach"):
        return
    attrs = getattr(value, "__dict__", None)
    names = list(attrs) if isinstance(attrs, dict) else []
    for cls in type(value).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        names += [slots] if isinstance(slots, str) else list(slots)
    for name in names:
        if not isinstance(name, str) or name.startswith("__"):
            continue
        try:
            yield name, getattr(value, name) if attrs is None or name not in attrs else attrs[name]
        except Exception:
            continue


def leaves(obj: Any, c: int | None, *, depth: int = MAX_DEPTH) -> dict[Path, Any]:
    """Every value of C numbers reachable from ``obj`` (attributes, dict items, list and tuple
    items, nested objects), by its shortest path; each value is listed once (the first path
    found, attributes before containers). A parameter object (``.data`` an array) is a leaf;
    its ``.grad`` and its other arrays of C numbers (Caffe's ``blob.diff``) are leaves of
    their own."""
    found: dict[Path, Any] = {}
    seen_values: set[int] = set()
    seen_nodes: set[int] = {id(obj)}
    frontier: list[tuple[tuple[Step, ...], Any]] = [((), obj)]
    opened = 0
    torch = sys.modules.get("torch")
    for _level in range(depth):
        nxt: list[tuple[tuple[Step, ...], Any]] = []
        for steps, node in frontier:
            opened += 1
            if opened > MAX_NODES:
                return found
            for step, child in _children(node):
                path = (*steps, step)
                if _rows_of_c(child, c):  # one (k, C) array holding k values of C numbers
                    for i in range(child.shape[0]):
                        found.setdefault(Path((*path, i)), child[i])
                    continue
                if c_values(child, c):
                    if id(child) not in seen_values:
                        seen_values.add(id(child))
                        found[Path(path)] = child
                    grad = getattr(child, "grad", None)
                    if not isinstance(child, np.ndarray) and c_values(grad, c):
                        if torch is None or not isinstance(child, torch.Tensor):
                            found.setdefault(Path((*path, "grad")), grad)
                    if not isinstance(child, np.ndarray) and not hasattr(child, "detach"):
                        # a parameter object's other arrays of C numbers (Caffe's blob.diff)
                        for name, other in _children(child):
                            if (
                                name not in ("data", "grad")
                                and isinstance(other, np.ndarray)
                                and c_values(other, c)
                                and id(other) not in seen_values
                            ):
                                seen_values.add(id(other))
                                found.setdefault(Path((*path, name)), other)
                    continue
                if id(child) in seen_nodes or isinstance(child, _OPAQUE):
                    continue
                seen_nodes.add(id(child))
                nxt.append((path, child))
        frontier = nxt
    for where, value in _registry_leaves(obj, c).items():
        if id(value) not in seen_values:
            seen_values.add(id(value))
            found[where] = value
    return found


def _registry_leaves(obj: Any, c: int | None) -> dict[Path, Any]:
    """Values of C numbers in dicts at the top of the layer's own module whose key holds one of
    the layer's string attributes (its name): a registry keyed per layer
    (``PARAMS["bn0/gamma"]``), reached again for each new layer through that attribute."""
    module = sys.modules.get(getattr(type(obj), "__module__", "") or "")
    if module is None or module.__name__.split(".")[0] in ("builtins", "numpy", "torch"):
        return {}
    attrs = getattr(obj, "__dict__", None)
    idents = {k: v for k, v in (attrs or {}).items() if isinstance(v, str) and len(v) >= 2}
    if not idents:
        return {}
    out: dict[Path, Any] = {}
    for name, table in list(vars(module).items())[:512]:
        if name.startswith("__") or not isinstance(table, dict):
            continue
        for key, value in list(table.items())[:4096]:
            if not isinstance(key, str) or not c_values(value, c):
                continue
            for attr, ident in idents.items():
                if ident in key and key.count(ident) == 1:
                    template = key.replace("{", "{{").replace("}", "}}").replace(ident, "{}")
                    out[Path((Global(module.__name__, name), Keyed(attr, template)))] = value
                    break
    return out


def closes_over_arrays(obj: Any, c: int) -> bool:
    """Whether a function the layer holds (an attribute, or an item of a dict attribute)
    closes over an array of C floats: parameters bncheck cannot reach (an affine step in a
    closure), so a backward that gives dx alone may still have dgamma and dbeta it keeps to
    itself, and the layer is not taken for one without parameters."""
    holder = obj.__dict__ if isinstance(getattr(obj, "__dict__", None), dict) else {}
    values = list(holder.values())
    values += [v for d in list(values) if isinstance(d, dict) for v in d.values()]
    for value in values:
        fn = getattr(value, "__func__", value)
        for cell in getattr(fn, "__closure__", None) or ():
            try:
                held = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            items = list(held.values()) if isinstance(held, dict) else [held]
            if any(
                isinstance(v, np.ndarray) and v.dtype.kind == "f" and v.size == c for v in items
            ):
                return True
    return False
