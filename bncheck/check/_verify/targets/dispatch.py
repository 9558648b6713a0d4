"""Adapters: one layer-like protocol over every kind of target (run inside the worker process).

Every adapter offers the same methods, so the checks never ask what kind of target they test:

    describe() -> info                      kind, mapping found, ranks, ... (probes the target)
    new(num_features, dtype, eps) -> info   fresh instance
    set_params(gamma, beta)                 learnable parameters
    forward(x, train) -> y                  train or eval mode; x has its channels on axis 1
    backward(dy) -> (dx, dgamma, dbeta)     for the last forward
    state() -> dict                         running_mean, running_var, gamma, beta, eps, ...
    contract() -> [str]                     interface deviations seen (shapes, ...)
    variant(name)                           switch to another backward (cs231n's _alt)

Target forms: functional ``forward(x, gamma, beta, eps) -> (y, cache)`` / ``backward(dy,
cache)`` (or ``prefix_forward`` / ``prefix_backward``); cs231n-style ``batchnorm_forward(x,
gamma, beta, <param dict>)`` / ``batchnorm_backward(dout, cache)`` with ``_alt`` and
``spatial_`` variants; a layer, whose construction, mode switch, parameter and statistic names
and gradient location are detected (:mod:`bncheck.check._verify.targets.names`,
:mod:`bncheck.check._verify.targets.layout`); a PyTorch module.

The adapters live in ``adapter_functional``, ``adapter_cs231n``, ``adapter_layer`` (with
``adapter_layer_driver``), what they share in ``adapter_common``; the frameworks' (PyTorch,
Flax, Keras, ...) are a registry, ``targets.frameworks``. This module picks one for a target:
:func:`load_adapter`.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import stat
import sys
import traceback
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bncheck.check._verify.process.adapter import Adapter
from bncheck.check._verify.targets import names as P
from bncheck.check._verify.targets.common import as_array
from bncheck.check._verify.targets.cs231n import Cs231nAdapter
from bncheck.check._verify.targets.family import claimed_kind
from bncheck.check._verify.targets.frameworks import (
    extra_for,
    factory_framework,
    framework_adapter,
    prepare_target,
)
from bncheck.check._verify.targets.functional import FunctionalAdapter
from bncheck.check._verify.targets.layer import LayerAdapter
from bncheck.check._verify.targets.pure import discover, role_of
from bncheck.exceptions import LoadError, TargetImportFailed

__all__ = ["load_adapter"]


_FILE_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _on_path(folder: str) -> None:
    if folder not in sys.path:
        sys.path.insert(0, folder)


def _import_failed(exc: BaseException, what: str) -> TargetImportFailed:
    """The usage-independent failure to import ``what``: the user's environment, exit code 3."""
    detail = f"{type(exc).__name__}: {exc}"
    extra = extra_for(getattr(exc, "name", None)) if isinstance(exc, ImportError) else None
    if extra is not None:
        detail += f" (install it with bncheck's [{extra}] extra: pip install 'bncheck[{extra}]')"
    tb = exc.__traceback__
    while tb is not None and _not_the_targets(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next  # bncheck's and importlib's own frames say nothing to the user
    text = "".join(traceback.format_exception(type(exc), exc, tb, limit=20))
    return TargetImportFailed(f"could not import the target {what}: {detail}", traceback=text)


_BNCHECK = str(Path(__file__).resolve().parents[3]) + os.sep


def _not_the_targets(filename: str) -> bool:
    return filename.startswith("<frozen") or os.path.abspath(filename).startswith(_BNCHECK)


def _package_of(path: Path) -> tuple[Path, str] | None:
    """(the folder above the file's package, the file's dotted module name) when the file sits
    in a package (folders holding ``__init__.py``), found upwards from its folder as pytest's
    default import mode does; None for a file outside any package."""
    parts = [path.stem]
    folder = path.parent
    while (folder / "__init__.py").is_file() and folder.name.isidentifier():
        parts.insert(0, folder.name)
        folder = folder.parent
    if len(parts) == 1 or not path.stem.isidentifier():
        return None
    return folder, ".".join(parts)


def _import_file(path: Path) -> types.ModuleType:
    """Import a target file as Python would: a file inside a package under its dotted name with
    the folder above the package on ``sys.path`` (so ``from pkg import x`` and relative imports
    work), any other file with its own folder on ``sys.path``, as ``python file.py`` has it."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise LoadError(f"target file {str(path)!r} does not exist") from None
    except OSError as exc:
        raise LoadError(f"target file {str(path)!r} cannot be read: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = next((k for test, k in _FILE_KINDS if test(st.st_mode)), "not a regular file")
        raise LoadError(
            f"target file {str(path)!r} is {kind}; expected a Python source file (file.py)"
        )
    path = path.resolve()
    _on_path(str(path.parent))
    package = _package_of(path)
    if package is not None:
        root, dotted = package
        _on_path(str(root))
        try:
            module = importlib.import_module(dotted)
        except (ImportError, SyntaxError) as exc:
            raise _import_failed(exc, f"{str(path)!r} (as {dotted})") from None
        found = getattr(module, "__file__", None)
        if found is None or Path(found).resolve() != path:
            raise LoadError(
                f"{str(path)!r} is {dotted} of its package, but importing {dotted} gives "
                f"{found!r}: another {dotted.partition('.')[0]!r} comes first on sys.path"
            )
        return module
    stem = path.stem
    name = (
        stem
        if stem.isidentifier() and stem not in sys.modules
        else (f"_bncheck_target_{abs(hash(str(path)))}")
    )
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LoadError(f"cannot import {str(path)!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (ImportError, SyntaxError) as exc:
        del sys.modules[name]
        raise _import_failed(exc, repr(str(path))) from None
    return module


def _is_itself(exc: ImportError, module: str) -> bool:
    """Whether the module that failed to import is ``module`` itself or a package above it
    (a name that does not exist), rather than something that ``module`` imports."""
    missing = exc.name
    return missing is not None and (module == missing or module.startswith(missing + "."))


def resolve(spec: str) -> tuple[Any, str | None]:
    """'file.py[:name]' or 'pkg.mod[:name]' or 'pkg.mod.Attr' -> (module or object, name).

    Dotted names are resolved with the working directory first on ``sys.path``, as
    ``python -m`` has it. A module that does not exist is a usage error; one that exists but
    fails to import (a module it imports is missing, a syntax error) is TargetImportFailed."""
    base, _, attr = spec.partition(":")
    if base.endswith(".py") or os.sep in base:
        return _import_file(Path(base)), attr or None
    _on_path(os.getcwd())
    try:
        return importlib.import_module(base), attr or None
    except SyntaxError as exc:
        raise _import_failed(exc, repr(base)) from None
    except ImportError as exc:
        if not _is_itself(exc, base):
            # the target exists, and its own import of another module failed
            raise _import_failed(exc, repr(base)) from None
        if attr or "." not in base:
            raise LoadError(f"no module named {base!r}") from None
        mod_name, _, last = base.rpartition(".")
        try:
            module = importlib.import_module(mod_name)
        except SyntaxError as exc2:
            raise _import_failed(exc2, repr(mod_name)) from None
        except ImportError as exc2:
            if not _is_itself(exc2, mod_name):
                raise _import_failed(exc2, repr(mod_name)) from None
            raise LoadError(f"no module named {mod_name!r} (nor {base!r})") from None
        if not hasattr(module, last):
            raise LoadError(f"module {mod_name!r} has no {last!r}") from None
        return getattr(module, last), None


def _from_factory(factory: Callable[..., Any], name: str, axis: int) -> Adapter:
    """A class, or a function that builds a layer: a registered framework's (a class of it, or
    a factory whose one call builds its object: the framework's adapter takes the factory and
    calls it per channel count), else any layer's."""
    found = framework_adapter(factory, axis, name=name)  # a registered framework's class
    if found is not None:
        return found
    try:
        built = factory_framework(factory)
    except Exception:
        built = None  # the layer adapter calls it again, and says how it failed
    if built is not None:
        return built[0].adapter(factory, name, axis)
    return LayerAdapter(factory, name, axis=axis)


CS231N_NOT_PARAM = ("eps", "epsilon")


#: (forward, backward) name endings of a functional pair, most usual first
PAIR_ENDINGS = (
    ("_forward", "_backward"),
    ("_fwd", "_bwd"),
    ("", "_backward"),
    ("", "_bwd"),
    ("", "_grad"),
    ("_forward", "_grad"),
    ("_apply", "_vjp"),
    ("_fprop", "_bprop"),
)


def _pairs(module: Any, prefix: str | None) -> list[tuple[str, str]]:
    """The (forward, backward) function pairs of ``module``: ``prefix`` with each ending of
    :data:`PAIR_ENDINGS`, or with no prefix the bare pairs (forward/backward, fwd/bwd,
    apply/vjp) and then every function of the module with a backward partner."""
    out: list[tuple[str, str]] = []

    def add(f: str, b: str) -> None:
        if (
            (f, b) not in out
            and callable(getattr(module, f, None))
            and callable(getattr(module, b, None))
        ):
            out.append((f, b))

    if prefix:
        for fe, be in PAIR_ENDINGS:
            add(prefix + fe, prefix + be)
        return out
    for f, b in (("forward", "backward"), ("fwd", "bwd"), ("apply", "vjp"), ("fprop", "bprop")):
        add(f, b)
    functions = [
        n
        for n, v in vars(module).items()
        if inspect.isfunction(v) and v.__module__ == module.__name__ and not n.startswith("_")
    ]
    for n in functions:
        for fe, be in PAIR_ENDINGS:
            if fe and n.endswith(fe):
                add(n, n[: -len(fe)] + be)
            elif not fe:
                add(n, n + be)
    return out


def _functional(fwd: Any, bwd: Any, name: str, module: Any = None) -> Adapter:
    """The classic form ``forward(x, gamma, beta[, eps]) -> (y, cache)`` when the signature
    says so (decided without calling the target, whose failures are then its own); any other
    form discovered by behaviour (:mod:`bncheck.check._verify.targets.pure`)."""
    if _classic_signature(fwd) and _classic_backward(bwd):
        return FunctionalAdapter(fwd, bwd, name)
    return discover(fwd, bwd, name, module)


def _classic_backward(bwd: Any) -> bool:
    """Whether ``bwd``'s parameters read as (dy, cache): two required positional parameters,
    neither named for an input of the forward (x, gamma, beta, a parameter record, state): a
    backward that recomputes from the forward's inputs, ``vjp(x, gamma, dy)``, is
    discovered."""
    try:
        params = list(inspect.signature(bwd).parameters.values())
    except (TypeError, ValueError):
        return True
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is inspect.Parameter.empty]
    inputs = ("x", "gamma", "beta", "params", "state", "running_mean", "running_var")
    return len(required) == 2 and not any(role_of(p.name) in inputs for p in required)


#: roles each classic position may have by its name (None: a name that says nothing)
_CLASSIC = (("x", None), ("gamma", None), ("beta", None), ("eps", None))


def _classic_signature(fwd: Any) -> bool:
    """Whether ``fwd``'s parameters read as (x, gamma, beta[, eps]): three or four positional
    parameters (more only with defaults) whose names say no other role (a parameter record,
    state, running statistics, an option dict)."""
    try:
        params = list(inspect.signature(fwd).parameters.values())
    except (TypeError, ValueError):
        return True  # a builtin or extension: called as the classic form, as before
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is inspect.Parameter.empty]
    if not 3 <= len(required) <= 4 or len(positional) < 3:
        return False
    for p, allowed in zip(positional, _CLASSIC, strict=False):
        if role_of(p.name) not in allowed:
            return False
    return all(role_of(p.name) is None for p in positional[4:]) if len(positional) > 4 else True


def _from_module(module: Any, prefix: str | None, name: str, axis: int = 1) -> Adapter:
    fname, bname = (
        (f"{prefix}_forward", f"{prefix}_backward") if prefix else ("forward", "backward")
    )
    pairs = _pairs(module, prefix)
    if pairs and (
        prefix or pairs[0] in (("forward", "backward"), ("fwd", "bwd"), ("apply", "vjp"))
    ):
        f, b = pairs[0]
        return _functional(getattr(module, f), getattr(module, b), name, module)
    cf, cb = getattr(module, "batchnorm_forward", None), getattr(module, "batchnorm_backward", None)
    if prefix is None and callable(cf) and callable(cb):
        params = list(inspect.signature(cf).parameters.values())
        if len(params) >= 4 and params[3].name not in CS231N_NOT_PARAM:
            sf = getattr(module, "spatial_batchnorm_forward", None)
            sb = getattr(module, "spatial_batchnorm_backward", None)
            spatial = (sf, sb) if callable(sf) and callable(sb) else None
            variants: dict[str, tuple[Callable[..., Any], Callable[..., Any] | None]] = {}
            alt = getattr(module, "batchnorm_backward_alt", None)
            if callable(alt):
                variants["batchnorm_backward_alt"] = (cf, alt)
            return Cs231nAdapter(cf, cb, name, spatial, variants, params[3].name)
        if len(params) >= 4:
            return _functional(cf, cb, name, module)
        if len(params) == 3:  # eps hard-coded inside: inferred from the outputs
            return FunctionalAdapter(cf, cb, name)
        raise LoadError(
            f"{name}: batchnorm_forward takes {len(params)} parameters; expected (x, gamma, "
            "beta, bn_param) or (x, gamma, beta, eps)"
        )
    what = f"{fname}/{bname}" if prefix else "forward/backward or batchnorm_forward/_backward"
    if prefix is None:
        # a pair whose name says it is a sibling (layernorm_forward, spatial_groupnorm_forward)
        # is not a BN: left to the family's loader, which fits what it computes
        siblings = [p for p in pairs if claimed_kind(p[0]) is not None]
        pairs = [p for p in pairs if p not in siblings]
        if siblings and not pairs:
            raise LoadError(
                f"target {name!r} has no BN forward/backward, only "
                + ", ".join(f"{f}/{b}" for f, b in siblings)
                + " (normalization-family functions)"
            )
        if len(pairs) == 1:
            f, b = pairs[0]
            return _functional(getattr(module, f), getattr(module, b), f"{name}:{f}", module)
        if len(pairs) > 1:
            raise LoadError(
                f"target {name!r} has several forward/backward pairs: "
                + ", ".join(f"{f}/{b}" for f, b in pairs)
                + f"; name one, e.g. {name}:{pairs[0][0]}"
            )
        classes = _bn_classes(module)
        if len(classes) == 1:  # the module's only BN layer class
            ((cls_name, cls),) = classes.items()
            if claimed_kind(cls_name) not in (None, "batch"):
                # an RMSNorm, LayerNorm, ... class: left to the family's loader (as a pair
                # whose names say it is a sibling)
                raise LoadError(
                    f"target {name!r}: its one layer class {cls_name} is a "
                    "normalization-family class, not a BN"
                )
            return _from_factory(cls, f"{name}:{cls_name}", axis)
        if classes:
            raise LoadError(
                f"target {name!r} has no {what}, and several layer classes: "
                f"{', '.join(sorted(classes))}; name one, e.g. {name}:{sorted(classes)[0]}"
            )
    raise LoadError(f"target {name!r} has no {what}")


def _bn_classes(module: Any) -> dict[str, Any]:
    """Classes defined in ``module`` that look like a BN layer: a forward (or __call__) and a
    name with "norm" or "bn" in it, or a backward; helper base classes are left out."""
    found = {}
    for key, value in vars(module).items():
        if not inspect.isclass(value) or getattr(value, "__module__", None) != module.__name__:
            continue
        calls = callable(getattr(value, "forward", None)) or "__call__" in vars(value)
        lowered = key.lower()
        named = "norm" in lowered or lowered.startswith("bn") or lowered.endswith("bn")
        if calls and named:
            found[key] = value
    return found


def _from_object(obj: Any, name: str, axis: int) -> Adapter:
    found = framework_adapter(obj, axis, name=name)  # the framework registry: frameworks/
    if found is not None:
        return found
    if isinstance(obj, types.ModuleType):
        return _from_module(obj, None, name, axis)
    if isinstance(obj, tuple) and len(obj) == 2 and all(callable(f) for f in obj):
        return _functional(obj[0], obj[1], name)
    if inspect.isclass(obj) or inspect.isfunction(obj) or isinstance(obj, types.MethodType):
        return _from_factory(obj, name, axis)
    if isinstance(obj, dict) and any(callable(v) for v in obj.values()):
        return LayerAdapter(None, name, instance=obj, axis=axis)  # a dict of functions
    if hasattr(obj, "forward") or hasattr(obj, "backward"):
        adapter = LayerAdapter(None, name, instance=obj, axis=axis)
        count = getattr(obj, "num_features", None)
        if not isinstance(count, int):
            pair = P.find_pair(obj, P.PARAM_NAMES, P.CONTAINERS, None, allow_none=False)
            count = int(np.asarray(as_array(pair[0].get(obj))).size) if pair else None
        adapter.channels = count
        return adapter
    raise LoadError(f"cannot use {type(obj).__name__} {name!r} as a BN target")


def load_adapter(
    target: Any,
    axis: int = 1,
    ndims: tuple[int, ...] = (2, 4),
    mapping: dict[str, str] | None = None,
) -> Adapter:
    """Build the adapter for a target spec string or object (called in the worker process);
    ``ndims``: the ranks asked for, probed first; ``mapping``: the user's names for roles
    discovery would otherwise search (layer targets only)."""
    if isinstance(target, str):
        prepare_target(target)  # KERAS_BACKEND=jax before any import; a missing framework
        obj, attr = resolve(target)
        if attr is None:
            adapter = _from_object(obj, target, axis)
        elif callable(getattr(obj, f"{attr}_forward", None)) or (
            isinstance(obj, types.ModuleType) and _pairs(obj, attr)
        ):
            adapter = _from_module(obj, attr, target)
        elif not hasattr(obj, attr):
            raise LoadError(f"{target!r}: the module has no {attr!r} (nor {attr}_forward)")
        else:
            adapter = _from_object(getattr(obj, attr), target, axis)
    else:
        adapter = _from_object(target, getattr(target, "__name__", type(target).__name__), axis)
    adapter.wanted = tuple(ndims)
    if isinstance(adapter, FunctionalAdapter) and not isinstance(adapter, Cs231nAdapter):
        adapter.axis, adapter.axis_given = axis, axis != 1
    if mapping:
        if not isinstance(adapter, LayerAdapter):
            kind = getattr(adapter, "kind", "other")
            options = ", ".join("--" + k.replace("_", "-") for k in mapping)
            raise LoadError(
                f"{options}: these options map a layer object; {target!r} is plugged in as a "
                f"{kind} target"
            )
        adapter.given = dict(mapping)
    return adapter
