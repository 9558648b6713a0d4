"""Framework targets: the registry of deep-learning frameworks whose BNs verify drives as they are.

Each framework is one module holding one :class:`Framework` (its ``FRAMEWORK``): which objects
are its own (a class, an instance, a user subclass), the adapter that drives them (the typed
protocol of :mod:`bncheck.check._verify.process.adapter`: build, train and eval steps,
gradients by the framework's own autodiff, parameters and state read and written), the packages
and bncheck extra it needs, and what must be set before the framework is first imported.

bncheck's own frameworks (PyTorch, Flax linen and nnx, Keras 3 on its JAX or torch backend,
Equinox, Haiku, tinygrad, MyGrad) are registered under the entry-point group
``bncheck.frameworks`` in bncheck's metadata, and listed in :data:`BUILTIN` so that a source
tree without metadata has them too. A third party adds one without touching bncheck: a module
defining ``FRAMEWORK = Framework(...)``, registered in its own package metadata::

    [project.entry-points."bncheck.frameworks"]
    mynet = "mynet_bncheck:FRAMEWORK"

(or, in a running process, :func:`register`). Entry points are loaded in the target process
only (the registry imports no framework: ``claims`` looks at the modules already imported).

The first framework (by ``order``, then name) that claims an object drives it: Keras layers on
the torch backend are also ``torch.nn.Module``, so Keras comes before PyTorch.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.metadata
import importlib.util
import inspect
import types
from collections.abc import Callable
from typing import Any

from bncheck.check._verify.process.adapter import Adapter
from bncheck.exceptions import LoadError

__all__ = [
    "BUILTIN",
    "GROUP",
    "Framework",
    "call_factory",
    "class_in_module",
    "extra_for",
    "factory_arity",
    "factory_framework",
    "framework_adapter",
    "framework_of",
    "held_by",
    "kind_of",
    "prepare_target",
    "register",
    "registry",
    "registry_errors",
    "unregister",
]

#: the entry-point group a framework module is registered under
GROUP = "bncheck.frameworks"

#: bncheck's own framework modules (also its entry points), by name
BUILTIN = {
    "keras": "bncheck.check._verify.targets.frameworks.keras_bn",
    "flax": "bncheck.check._verify.targets.frameworks.flax_bn",
    "equinox": "bncheck.check._verify.targets.frameworks.equinox_bn",
    "haiku": "bncheck.check._verify.targets.frameworks.haiku_bn",
    "tinygrad": "bncheck.check._verify.targets.frameworks.tinygrad_bn",
    "mygrad": "bncheck.check._verify.targets.frameworks.mygrad_bn",
    "torch": "bncheck.check._verify.targets.frameworks.torch_bn",
}


@dataclasses.dataclass(frozen=True)
class Framework:
    """One framework, as the registry knows it.

    Attributes
    ----------
    name : a short identifier, unique in the registry ("torch", "flax", ...).
    modules : the top-level modules a dotted target name of this framework starts with
        (``torch.nn.BatchNorm1d`` -> "torch"); a missing package is then a usage error
        naming ``extra``.
    packages : the importable packages the framework needs.
    extra : bncheck's extra that installs them (None: a third party's, no extra).
    claims : ``claims(obj) -> kind or None``: whether ``obj`` (a class, an instance, a
        function) is this framework's, and the kind the report gives it. It must not import
        the framework (a framework that is not imported cannot be the target's): look in
        ``sys.modules``.
    adapter : ``adapter(obj, name, axis) -> Adapter`` for an object ``claims`` accepted.
    order : lower first when several frameworks claim an object.
    prepare : called before any target is imported (e.g. an environment variable a framework
        reads at import); None: nothing to do.
    distribution : the distribution whose version the reports record (default: packages[0]).
    files : whether the one class of this framework a target file defines is the target
        (False: a file's classes are found as any layer's are, e.g. PyTorch modules, whose
        file may also define a functional forward/backward).
    construct : ``construct(make) -> obj``: calls ``make`` (no arguments) where this
        framework's objects can be made, and returns what it made (Haiku's modules exist only
        inside a transform); None: they can be made anywhere. A factory function is called
        so to see which framework's object it builds.
    held : ``held(obj) -> dict``: where the state of this framework's layer held inside a
        user's own object (a plain class wrapping it) lives, for the layer adapter: any of
        "params" and "running" (a pair of :class:`~bncheck.check._verify.targets.names.Slot`,
        read and written as the framework requires), "eps" and "momentum" ((a dotted
        attribute path, its value)); None: nothing to find.
    """

    name: str
    modules: tuple[str, ...]
    packages: tuple[str, ...]
    extra: str | None
    claims: Callable[[Any], str | None]
    adapter: Callable[[Any, str, int], Adapter]
    order: int = 100
    prepare: Callable[[], None] | None = None
    distribution: str | None = None
    files: bool = True
    construct: Callable[[Callable[[], Any]], Any] | None = None
    held: Callable[[Any], dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"Framework name={self.name!r}: expected an identifier")
        for field in ("modules", "packages"):
            value = getattr(self, field)
            if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
                raise TypeError(f"Framework {field}={value!r}: expected a tuple of strings")
        for field in ("claims", "adapter"):
            if not callable(getattr(self, field)):
                raise TypeError(f"Framework {field}={getattr(self, field)!r}: expected a callable")
        for field in ("prepare", "construct", "held"):
            value = getattr(self, field)
            if value is not None and not callable(value):
                raise TypeError(f"Framework {field}={value!r}: expected a callable or None")

    def missing(self) -> list[str]:
        """The packages it needs that are not installed (found, not imported)."""
        return [p for p in self.packages if not _importable(p)]

    def version(self) -> str | None:
        """The installed version of its distribution (None: not installed)."""
        try:
            return importlib.metadata.version(self.distribution or self.packages[0])
        except (importlib.metadata.PackageNotFoundError, IndexError):
            return None


_REGISTERED: dict[str, Framework] = {}
_ERRORS: dict[str, str] = {}
_LOADED = False


def _importable(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # e.g. sys.modules[package] set to None
        return False


def register(framework: Framework) -> None:
    """Add ``framework`` to the registry (a name already there is replaced).

    Examples
    --------
    >>> from bncheck.check._verify.targets.frameworks import register
    >>> register("torch")
    Traceback (most recent call last):
    ...
    TypeError: register(framework='torch'): expected a Framework
    """
    if not isinstance(framework, Framework):
        raise TypeError(f"register(framework={framework!r}): expected a Framework")
    _REGISTERED[framework.name] = framework


def unregister(name: str) -> None:
    """Remove the framework ``name`` from the registry (nothing when it is not there)."""
    _REGISTERED.pop(name, None)


def _load(where: str, loader: Callable[[], Any]) -> None:
    try:
        found = loader()
        if isinstance(found, types.ModuleType):
            found = getattr(found, "FRAMEWORK", None)
        register(found)
    except Exception as exc:  # a broken third-party plugin must not break verify
        _ERRORS[where] = f"{type(exc).__name__}: {str(exc)[:300]}"


def registry() -> tuple[Framework, ...]:
    """Every registered framework, in the order they are asked (``order``, then name): bncheck's
    own, then the entry points of the group ``bncheck.frameworks`` (loaded once)."""
    global _LOADED
    if not _LOADED:
        _LOADED = True
        for name, module in BUILTIN.items():
            if name not in _REGISTERED:
                _load(module, functools.partial(importlib.import_module, module))
        try:
            points = list(importlib.metadata.entry_points(group=GROUP))
        except Exception as exc:
            points = []
            _ERRORS[GROUP] = f"{type(exc).__name__}: {exc}"
        for point in points:
            if point.value.partition(":")[0] in BUILTIN.values():
                continue  # bncheck's own, loaded above
            _load(f"{point.name} = {point.value}", point.load)
    return tuple(sorted(_REGISTERED.values(), key=lambda f: (f.order, f.name)))


def registry_errors() -> dict[str, str]:
    """Registered modules that could not be loaded, with why."""
    registry()
    return dict(_ERRORS)


def extra_for(module: str | None) -> str | None:
    """The bncheck extra that installs the framework ``module`` belongs to (None: not one)."""
    top = (module or "").partition(".")[0]
    for framework in registry():
        if top in framework.modules or top in framework.packages:
            return framework.extra
    return None


def prepare_target(spec: str) -> None:
    """Before a target spec is imported: each framework's ``prepare`` (Keras' backend), and a
    dotted name of a framework that is not installed (``torch.nn.BatchNorm1d``,
    ``flax.linen.BatchNorm``, ``equinox.nn.BatchNorm``, ...) is a usage error naming bncheck's
    extra."""
    frameworks = registry()
    for framework in frameworks:
        if framework.prepare is not None:
            framework.prepare()
    base = spec.partition(":")[0]
    if base.endswith(".py") or "/" in base or "\\" in base:
        return
    top = base.split(".")[0]
    for framework in frameworks:
        if top not in framework.modules:
            continue
        missing = framework.missing()
        if missing:
            how = f"pip install 'bncheck[{framework.extra}]'" if framework.extra else "install it"
            verb = "is" if len(missing) == 1 else "are"
            raise LoadError(
                f"{spec!r} needs {' and '.join(missing)}, which {verb} not installed here: {how}"
            )
        return


def framework_of(obj: Any) -> tuple[Framework, str] | None:
    """The framework that claims ``obj`` and the kind it gives it (None: no framework's)."""
    for framework in registry():
        try:
            kind = framework.claims(obj)
        except Exception:
            continue
        if kind:
            return framework, kind
    return None


def factory_arity(factory: Any) -> int | None:
    """How many arguments a factory function is called with: 1 (the channel count C) when it
    has one required parameter, 0 when it has none; None when it is not a plain function or
    takes more (not a factory bncheck can call by itself)."""
    if not (inspect.isfunction(factory) or isinstance(factory, functools.partial)):
        return None
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    required = [
        p
        for p in params
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if len(required) > 1 or any(p.kind == p.KEYWORD_ONLY for p in required):
        return None
    return len(required)


def call_factory(factory: Callable[..., Any], c: int) -> Any:
    """``factory(c)`` or ``factory()``, as :func:`factory_arity` says it is called."""
    return factory(c) if factory_arity(factory) == 1 else factory()


def factory_framework(factory: Any, c: int = 2) -> tuple[Framework, str, Any] | None:
    """(the framework, its kind, the object built) when ``factory`` is a function building a
    registered framework's object (called once with ``c`` channels, or with no argument),
    None when it is not a factory or builds no framework's object.

    Each framework that says how its objects are made (``construct``: Haiku's, inside a
    transform) is tried when the plain call raises; the plain call's error is raised when
    none of them builds one (the target's own failure, with its traceback)."""
    if factory_arity(factory) is None:
        return None
    try:
        built = call_factory(factory, c)
    except Exception as exc:
        for framework in registry():
            if framework.construct is None:
                continue
            try:
                built = framework.construct(lambda: call_factory(factory, c))
                kind = framework.claims(built)
            except Exception:
                continue
            if kind:
                return framework, kind, built
        raise exc from None
    found = framework_of(built)
    return (found[0], found[1], built) if found is not None else None


def held_by(obj: Any) -> dict[str, Any]:
    """What the registered frameworks find of their layer held inside ``obj`` (a user's own
    object wrapping one; see :attr:`Framework.held`): the first framework's that finds any."""
    if inspect.isclass(obj) or isinstance(obj, (dict, list, tuple, types.ModuleType)):
        return {}
    for framework in registry():
        if framework.held is None:
            continue
        try:
            found = framework.held(obj)
        except Exception:
            continue
        if found:
            return found
    return {}


def kind_of(obj: Any) -> str | None:
    """'torch', 'flax.linen', 'flax.nnx', 'keras', 'equinox', ... for a class or instance of a
    registered framework (None otherwise)."""
    found = framework_of(obj)
    return found[1] if found else None


def class_in_module(module: types.ModuleType, name: str) -> tuple[Any, str] | None:
    """The one framework BN class a target file defines (several: the ones named like a BN)."""
    found = {
        k: v
        for k, v in vars(module).items()
        if inspect.isclass(v)
        and getattr(v, "__module__", None) == module.__name__
        and (found_by := framework_of(v)) is not None
        and found_by[0].files
    }
    if len(found) > 1:
        named = {
            k: v
            for k, v in found.items()
            if "norm" in k.lower() or k.lower().startswith("bn") or k.lower().endswith("bn")
        }
        found = named or found
    if not found:
        return None
    if len(found) > 1:
        raise LoadError(
            f"target {name!r} defines several framework layers: {', '.join(sorted(found))}; "
            f"name one, e.g. {name}:{sorted(found)[0]}"
        )
    ((key, cls),) = found.items()
    return cls, f"{name}:{key}"


def framework_adapter(
    obj: Any, axis: int = 1, ndims: tuple[int, ...] = (2, 4), name: str | None = None
) -> Adapter | None:
    """The adapter of a registered framework's target, or None when ``obj`` is no framework's.

    Parameters
    ----------
    obj : a class, instance or user subclass of a registered framework's BN (or of a layer
        holding one), or a module (a target file) defining exactly one such class.
    axis : the channel axis verify was given (a framework layer's own axis is used where it
        has one).
    ndims : the input ranks asked for, probed first.
    name : the target's name in the report.

    Examples
    --------
    >>> from bncheck.check._verify.targets.frameworks import framework_adapter
    >>> framework_adapter(object()) is None
    True
    """
    name = name or str(getattr(obj, "__name__", type(obj).__name__))
    if isinstance(obj, types.ModuleType):
        found_class = class_in_module(obj, name)
        if found_class is None:
            return None
        obj, name = found_class
    found = framework_of(obj)
    if found is None:
        return None
    adapter = found[0].adapter(obj, name, axis)
    adapter.wanted = tuple(ndims)
    return adapter
