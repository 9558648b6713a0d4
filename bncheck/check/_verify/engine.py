"""The verify engine: ``bncheck.verify(target)`` and ``bncheck verify TARGET`` (the package
:mod:`bncheck.check._verify` loads it on first use).

The target runs in a separate process (see :mod:`bncheck.check._verify.process.worker`); every check
of docs/design.md (the verify protocol) runs against it and the result is a
:class:`VerificationReport`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import pickle
import tempfile
import time
import types
from collections.abc import Iterator
from typing import Any

from bncheck.bn.running import CONVENTIONS
from bncheck.check._verify.checks.family import run_family
from bncheck.check._verify.distributed.run import verify_distributed
from bncheck.check._verify.process.compile_cache import cache_home
from bncheck.check._verify.process.compile_cache import checked as compile_cache_folder
from bncheck.check._verify.process.worker import TargetProcess
from bncheck.check._verify.results import (
    CheckResult,
    Options,
    TargetDescription,
    checked_description,
    unanswered_not_checked,
)
from bncheck.check._verify.suite import load_failed, no_mutation, run_all
from bncheck.check._verify.targets.adapt import Adapted, adapt
from bncheck.check._verify.targets.dispatch import load_adapter
from bncheck.check._verify.targets.family import claimed_kind, load_family
from bncheck.check._verify.targets.layout import build_arguments
from bncheck.check._verify.verification_report import VerificationReport
from bncheck.check.norms import KINDS, Member
from bncheck.exceptions import LoadError, TargetError, TargetImportFailed, TargetLoadFailed

__all__ = [
    "Adapted",
    "CheckResult",
    "LoadError",
    "Options",
    "TargetImportFailed",
    "TargetLoadFailed",
    "VerificationReport",
    "adapt",
    "verify",
]

CONVENTION_CHOICES = (*CONVENTIONS, "any")


def verify(
    target: Any,
    *,
    convention: str = "any",
    dtypes: tuple[str, ...] = ("float64", "float32"),
    ndims: tuple[int, ...] | None = None,
    thorough: bool = False,
    examples: int | None = None,
    timeout: float = 10.0,
    seed: int = 0,
    axis: int = 1,
    strict: bool = False,
    deadline: float | None = None,
    memory_limit: int | None = None,
    world_size: int | None = None,
    load_timeout: float | None = None,
    mapping: dict[str, str] | None = None,
    norm: str | None = None,
    compile_cache: Any = True,
) -> VerificationReport:
    """Run every check against ``target`` and return a :class:`VerificationReport`.

    Parameters
    ----------
    target : str or object
        ``"file.py"``, ``"pkg.module"`` (functional or cs231n-style), ``"file.py:prefix"``
        (``prefix_forward``/``prefix_backward``), ``"file.py:Name"`` (a layer class or
        factory, or a function returning :func:`bncheck.adapt`), a dotted class such as
        ``"torch.nn.BatchNorm2d"``; or the object itself: a module, a ``(forward, backward)``
        pair, a layer class or factory, a layer or torch module instance.
    convention : a key of :data:`bncheck.CONVENTIONS` ("torch", ...), or "any"
        The running-statistics convention a layer must follow ("any": report the one it
        matches, fail if none).
    dtypes : tuple of "float16", "float32", "float64"
        Which input dtypes to test; every check runs on each.
    ndims : tuple of 2, 3, 4, 5, or None
        Which input ranks to test; every check runs on each. None: 2 and 4, or the ranks the
        target takes (torch's BatchNorm2d: 4); a rank given explicitly that the target cannot
        take is a failed check.
    thorough : bool
        Search many more random inputs (100 Hypothesis examples instead of 6).
    examples : int or None
        The number of random examples; overrides ``thorough``.
    timeout : float
        Seconds one call of the target may take before it counts as a hang.
    seed : int >= 0
        Seeds every random input: the same seed gives the same inputs.
    axis : 1 or -1
        The channel axis the target expects (1, or -1 for channels-last).
    strict : bool
        Interface deviations (dtype, shapes) fail instead of warning.
    deadline : float or None
        Seconds for the whole verification (None: the worker's default).
    memory_limit : int or None
        Bytes of address space the target process may use (None: the default).
    load_timeout : float or None
        Seconds loading the target may take (None: 60); the deadline bounds it too.
    world_size : int or None
        2 to 16: verify a synchronized BN (a ``torch.nn.Module`` class or a function
        ``f(x, gamma, beta, eps[, group])``) in that many processes over gloo (docs/design.md,
        "Distributed BN"); needs PyTorch.
    mapping : dict of str to str, optional
        What discovery should not search for, by role: ``forward``, ``backward`` (method
        names), ``gamma``, ``beta``, ``dgamma``, ``dbeta``, ``running_mean``, ``running_var``
        (paths from the layer:
        ``"params.0"``, ``"grads[1]"``), ``mode`` (a keyword argument, attribute or method) with
        ``train_value``/``eval_value``; ``running_form`` (``var``, ``std``, ``std-eps``,
        ``inv-std``: what the running variance path holds); ``build`` (the constructor's
        arguments, literals and ``C`` for the channel count). A name or path that is not on
        the target is a usage error listing what is there. Layer targets only.

    Returns
    -------
    VerificationReport
        ``passed`` is True when no check failed; a target that fails or crashes gives a
        report with failed checks, not an exception.

    Raises
    ------
    TargetImportFailed
        The target could not be imported: a module it needs is missing or its source does
        not parse (the user's environment; exit code 3 on the command line).
    LoadError
        The target cannot be loaded or lacks the protocol (exit code 2 on the command line).
    ValueError
        An option outside the values above.
    TypeError
        ``compile_cache`` neither a bool nor a folder.
    ValueError
        A ``compile_cache`` folder that cannot be used (not a folder, another user's or
        writable by others, or holding files bncheck did not put there).

    Examples
    --------
    >>> import bncheck
    >>> report = bncheck.verify("bncheck.BatchNorm", ndims=(2,), dtypes=("float64",))
    >>> report.passed
    True
    """
    if convention not in CONVENTION_CHOICES:
        raise ValueError(f"convention={convention!r}; expected one of {CONVENTION_CHOICES}")
    for d in dtypes:
        if d not in ("float16", "float32", "float64"):
            raise ValueError(f"dtypes contains {d!r}; expected float16, float32 or float64")
    explicit = ndims is not None
    ndims = (2, 4) if ndims is None else tuple(ndims)
    for n in ndims:
        if isinstance(n, bool) or not isinstance(n, int) or n not in (2, 3, 4, 5):
            raise ValueError(f"ndims contains {n!r}; expected 2, 3, 4 or 5")
    if axis not in (1, -1):
        raise ValueError(f"axis={axis!r}; expected 1 (channels first) or -1 (channels last)")
    ndims = tuple(dict.fromkeys(ndims))  # "2,2" is 2
    dtypes = tuple(dict.fromkeys(dtypes))
    mapping = dict(mapping or {})
    for role, value in mapping.items():
        if role not in MAPPING_ROLES:
            raise ValueError(f"mapping role {role!r}; expected one of {', '.join(MAPPING_ROLES)}")
        if not isinstance(value, str) or not value:
            raise ValueError(f"mapping[{role!r}] = {value!r}; expected a non-empty string")
    if mapping.get("running_form", "var") not in ("var", "std", "std-eps", "inv-std"):
        raise ValueError(
            f"running_form={mapping['running_form']!r}; expected var, std, std-eps or inv-std"
        )
    if "build" in mapping:
        build_arguments(mapping["build"], 3)  # a malformed --build is a usage error here
    member = None
    if norm is not None:
        member = Member.parse(norm)  # a ValueError naming the text
    if ("train_value" in mapping or "eval_value" in mapping) and "mode" not in mapping:
        raise ValueError("train_value/eval_value given without mode; name the switch with mode")
    cache_folder = compile_cache_folder(compile_cache)  # a TypeError or ValueError naming it
    with _hypothesis_home_elsewhere():
        return _verify(
            target,
            convention=convention,
            dtypes=dtypes,
            ndims=ndims,
            explicit=explicit,
            thorough=thorough,
            examples=examples,
            timeout=timeout,
            seed=seed,
            axis=axis,
            strict=strict,
            deadline=deadline,
            memory_limit=memory_limit,
            load_timeout=load_timeout,
            world_size=world_size,
            mapping=mapping,
            member=member,
            compile_cache=cache_folder,
        )


#: the roles ``verify(mapping=)`` takes
MAPPING_ROLES = (
    "forward",
    "backward",
    "gamma",
    "beta",
    "dgamma",
    "dbeta",
    "running_mean",
    "running_var",
    "running_form",
    "build",
    "mode",
    "train_value",
    "eval_value",
)


@contextlib.contextmanager
def _hypothesis_home_elsewhere() -> Iterator[None]:
    """Point Hypothesis' storage at bncheck's own cache folder for the run, and back afterwards.

    verify's searches keep no example database, but Hypothesis also caches the constants it
    reads from the source of loaded modules in its storage folder, ``./.hypothesis`` unless told
    otherwise: verify must write nothing into the user's working directory. The folder is
    ``hypothesis`` in bncheck's cache home (``compile_cache.cache_home``: ``~/.cache/bncheck``),
    kept between runs: reading the constants of bncheck's own modules (an editable install is
    "local" code to Hypothesis) costs about half a second a run when nothing is cached, and the
    cache is keyed by each source's hash, so the same constants are found either way. Where
    that folder cannot be made, a temporary one is used for the run. A folder the user chose
    with ``HYPOTHESIS_STORAGE_DIRECTORY`` is left as it is."""
    if os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        yield
        return
    from hypothesis import configuration

    before = configuration.storage_directory(intent_to_write=False).home_directory
    with contextlib.ExitStack() as stack:
        home = os.path.join(cache_home(), "hypothesis")
        try:
            os.makedirs(home, exist_ok=True)
            if not os.access(home, os.W_OK):
                raise PermissionError(home)
        except OSError:
            home = stack.enter_context(tempfile.TemporaryDirectory(prefix="bncheck-hypothesis-"))
        configuration.set_hypothesis_home_dir(home)
        try:
            yield
        finally:
            configuration.set_hypothesis_home_dir(before)


def _verify(
    target: Any,
    *,
    convention: str,
    dtypes: tuple[str, ...],
    ndims: tuple[int, ...],
    explicit: bool,
    thorough: bool,
    examples: int | None,
    timeout: float,
    seed: int,
    axis: int,
    strict: bool,
    deadline: float | None,
    memory_limit: int | None,
    load_timeout: float | None,
    world_size: int | None,
    mapping: dict[str, str],
    member: Member | None = None,
    compile_cache: str | None = None,
) -> VerificationReport:
    if examples is not None and (
        isinstance(examples, bool) or not isinstance(examples, int) or examples < 0
    ):
        raise ValueError(f"examples={examples!r}; expected a whole number >= 0")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed={seed!r}; expected a whole number >= 0")
    count = examples if examples is not None else (100 if thorough else 6)
    if world_size is not None:  # a synchronized BN across processes
        return verify_distributed(
            target,
            world_size,
            convention=convention,
            dtypes=dtypes,
            ndims=ndims if explicit else None,
            timeout=timeout,
            seed=seed,
            axis=axis,
            strict=strict,
            deadline=deadline,
            memory_limit=memory_limit,
            load_timeout=load_timeout,
            extra_layouts=0 if examples is None and not thorough else min(count, 8),
            start_method=_start_method(target),
            name=target if isinstance(target, str) else _name_of(target),
        )
    options = Options(
        convention,
        tuple(dtypes),
        tuple(ndims),
        count,
        timeout,
        seed,
        axis=axis,
        strict=strict,
        thorough=thorough,
    )
    start = time.perf_counter()
    name = target if isinstance(target, str) else _name_of(target)
    method = _start_method(target)
    limits: dict[str, Any] = {"compile_cache": False if compile_cache is None else compile_cache}
    if deadline is not None:
        limits["deadline"] = deadline
    if memory_limit is not None:
        limits["memory_limit"] = memory_limit
    if load_timeout is not None:
        limits["load_timeout"] = load_timeout
    family = member is not None and member.kind != "batch"
    if member is None and claimed_kind(_last_name(str(name))) is not None:
        family = True
    if family:
        fam_options = options if explicit else dataclasses.replace(options, ndims=(2, 3, 4))
        return _verify_family(
            target,
            str(name),
            fam_options,
            member,
            method,
            limits,
            start,
            explicit,
            mapping=mapping,
        )
    loader = functools.partial(load_adapter, target, axis, tuple(ndims), mapping)
    checks: list[CheckResult] = []
    description: TargetDescription | None = None
    with TargetProcess(loader, timeout=timeout, start_method=method, **limits) as proc:
        try:
            description = checked_description(proc.start())
        except TargetLoadFailed as exc:
            checks.append(load_failed(exc))
        except LoadError:
            if member is None and not mapping:  # e.g. a file of layernorm functions only
                fam_options = options if explicit else dataclasses.replace(options, ndims=(2, 3, 4))
                try:
                    return _verify_family(
                        target, str(name), fam_options, None, method, limits, start, explicit
                    )
                except LoadError:
                    pass
            raise
        except TargetError as exc:  # e.g. the overall deadline passed while loading
            checks.append(CheckResult("load", "fail", message=f"loading the target: {exc}"))
        if description is not None:
            found, description, options = run_all(proc, description, options, explicit)
            checks += found
            checks.append(no_mutation(proc))
    unanswered_not_checked(checks, proc.unanswered)
    if options.contract:
        status = "fail" if strict else "pass"
        checks.append(
            CheckResult(
                "contract",
                status,
                message=f"{len(options.contract)} interface deviation"
                + ("s" if len(options.contract) != 1 else "")
                + (" (--strict)" if strict else " (warnings; --strict makes them failures)"),
            )
        )
    return VerificationReport(
        str(name),
        description.kind if description is not None else "unknown",
        checks,
        time.perf_counter() - start,
        {
            "convention": convention,
            "dtypes": list(dtypes),
            "ndims": list(options.ndims),
            "examples": count,
            "timeout": timeout,
            "seed": seed,
            "axis": axis,
            "strict": strict,
        },
        list(description.mapping) if description is not None else [],
        list(options.contract),
    )


def _verify_family(
    target: Any,
    name: str,
    options: Options,
    member: Member | None,
    method: str,
    limits: dict[str, Any],
    start: float,
    explicit: bool = False,
    mapping: dict[str, str] | None = None,
) -> VerificationReport:
    """A Layer, Group, Instance or RMS normalization target
    (:mod:`~bncheck.check._verify.checks.family`); ``mapping``: the user's ``--build`` and
    mapping options (:func:`~bncheck.check._verify.targets.family.load_family` takes those of a
    hand-written layer class and refuses the rest)."""
    loader = functools.partial(
        load_family,
        target,
        None if member is None else member.text(),
        options.axis,
        dict(mapping or {}),
    )
    checks: list[CheckResult] = []
    found_mapping: list[str] = []
    description: TargetDescription | None = None
    checked = member
    with TargetProcess(loader, timeout=options.timeout, start_method=method, **limits) as proc:
        try:
            description = checked_description(proc.start())
        except TargetLoadFailed as exc:
            checks.append(load_failed(exc))
        except TargetError as exc:
            checks.append(CheckResult("load", "fail", message=f"loading the target: {exc}"))
        if description is not None:
            claimed = None
            try:
                state, _ = proc.call("state")
                said = state.get("claimed") if isinstance(state, dict) else None
                claimed = said if said in KINDS and said != "batch" else None
            except TargetError:
                pass
            try:
                found, checked = run_family(
                    proc, description.kind, options, member, claimed, explicit
                )
            except TargetError as exc:  # a fatal one while fitting the member (a hang, an exit)
                found = [CheckResult("norm", "fail", message=f"fitting what it computes: {exc}")]
            checks += found
            checks.append(no_mutation(proc))
            try:  # what the adapter found by behaviour while the checks ran (its words:
                # plain strings from the target's process, a few short lines at most)
                state, _ = proc.call("state")
                said = state.get("found") if isinstance(state, dict) else None
                if isinstance(said, list):
                    found_mapping = [t[:300] for t in said[:8] if isinstance(t, str)]
            except TargetError:
                pass
            try:  # the interface deviations the adapter saw (plain strings, a few at most)
                notes, _ = proc.call("contract")
                if isinstance(notes, list):
                    options.note(str(n)[:300] for n in notes[:8])
            except TargetError:
                pass
    unanswered_not_checked(checks, proc.unanswered)
    if options.contract:
        checks.append(
            CheckResult(
                "contract",
                "fail" if options.strict else "pass",
                message=f"{len(options.contract)} interface deviation"
                + ("s" if len(options.contract) != 1 else "")
                + (
                    " (--strict)" if options.strict else " (warnings; --strict makes them failures)"
                ),
            )
        )
    return VerificationReport(
        name,
        description.kind if description is not None else "unknown",
        checks,
        time.perf_counter() - start,
        {
            "norm": checked.text() if checked is not None else "",
            "dtypes": list(options.dtypes),
            "ndims": list(options.ndims),
            "examples": options.examples,
            "timeout": options.timeout,
            "seed": options.seed,
            "axis": options.axis,
        },
        (list(description.mapping) if description is not None else []) + found_mapping,
        list(options.contract),
    )


def _last_name(name: str) -> str:
    """What of a target's name says what it is: the part after ':' ("file.py:layernorm"),
    else the file's or the dotted path's last part ("torch.nn.GroupNorm")."""
    base, _, attr = name.partition(":")
    if attr:
        return attr
    base = os.path.basename(base)
    return base[:-3] if base.endswith(".py") else base.rpartition(".")[2]


def _name_of(target: Any) -> str:
    """A name for the report, without running the target's own __repr__ or __getattr__."""
    if isinstance(target, (type, types.FunctionType, types.ModuleType, types.MethodType)):
        try:
            return str(object.__getattribute__(target, "__name__"))
        except AttributeError:
            pass
    return str(type.__getattribute__(type(target), "__name__"))


def _start_method(target: Any) -> str:
    """spawn: the child is a fresh interpreter running the supervisor script, which imports the
    target afresh (a string) or unpickles it (an object, by importing its module). It needs
    nothing of this process's __main__ (pytest-xdist workers, ``python -c`` and notebooks
    have no __main__ file), and inherits no thread a framework started here (torch's, JAX's:
    forking a process holding them may deadlock the child) nor a started JAX backend. fork
    only where spawn cannot work: an object defined in __main__ (the fresh child could not
    import it) or one that does not pickle (a closure)."""
    if isinstance(target, str):
        return "spawn"
    if getattr(target, "__module__", None) == "__main__":
        return "fork"
    try:
        pickle.dumps(target)
    except (Exception, SystemExit):  # a target's __reduce__ may raise anything
        return "fork"
    return "spawn"
