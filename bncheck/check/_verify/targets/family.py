"""The adapter of a Layer, Group, Instance or RMS normalization target (run inside the worker
process), in the forms BN targets take:

- functions: cs231n's ``layernorm_forward(x, gamma, beta, ln_param)``,
  ``spatial_groupnorm_forward(x, gamma, beta, G, gn_param)`` (gamma of shape (1, C, 1, 1)),
  ``rmsnorm_forward(x, gamma, eps)``, ... with ``*_backward(dout, cache)``; the arguments are
  matched by their names (gamma/weight/scale, beta/bias/shift, G/groups/num_groups, a
  ``*param`` dict holding eps, eps/epsilon), gamma is passed in the member's shape or, refused,
  in the broadcast shape (1, C, 1, ...);
- a hand-written layer class: built with the normalized size (or groups and channels) and eps
  by keyword, ``forward(x)``, ``backward(dout)`` returning dx or (dx, dgamma, dbeta), the
  gradients also found as attributes (dgamma/dbeta, dweight/dbias, grads);
- ``torch.nn.LayerNorm``, ``GroupNorm``, ``InstanceNorm1d/2d/3d`` (affine) and ``RMSNorm``,
  driven with autograd: the class, or an instance (``InstanceNorm2d(C,
  track_running_stats=True, momentum=...)``) whose configuration is kept for every input
  shape (made afresh with affine=True and the channels of the input);
- ``flax.linen``/``flax.nnx`` LayerNorm, RMSNorm, GroupNorm (linen: InstanceNorm) and Keras
  3's LayerNormalization, GroupNormalization, RMSNormalization, gradients by jax.vjp
  (:mod:`bncheck.check._verify.targets.frameworks.family_jax`).

Running statistics (InstanceNorm with ``track_running_stats``): ``find_running(ndim)`` finds
them, a layer's by behaviour (:func:`bncheck.check._verify.targets.layer.running_by_behaviour`,
the BN layer's discovery), a torch module's as its buffers; then the layer lives from ``new``
to the next ``new`` (a training loop), ``forward(x, train)`` uses the layer's own train/eval
switch (:func:`bncheck.check._verify.targets.layout.mode_of`) and ``state()`` reports
running_mean, running_var, momentum, eps, gamma and beta as the BN running check reads them.

Which member the adapter computes with is the parent's to say (``variant("layer:1")``): the
parent fits it by trying members (:mod:`bncheck.check._verify.checks.family`). ``set_params``
takes gamma and beta in the member's shape (:meth:`bncheck.check.norms.Member.param_shape`);
``backward`` returns dgamma and dbeta in that shape (dbeta None for a target without beta).
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from bncheck.check._verify.targets import names as P
from bncheck.check._verify.targets.common import (
    DX_KEYS,
    as_array,
    backward_in_order,
    call_one,
    jax_x64,
    named_residuals_first,
    needs_arguments,
    returned,
    y_and_cache,
)
from bncheck.check._verify.targets.layer import (
    RESET_HINTS,
    returned_order,
    row_of_batch,
    running_by_behaviour,
)
from bncheck.check._verify.targets.layer_driver import backward_arguments
from bncheck.check._verify.targets.layout import (
    Layout,
    build_arguments,
    call_forward,
    mode_of,
    side_effects,
)
from bncheck.check._verify.targets.values import Path, closes_over_arrays, leaves
from bncheck.check.norms import Member
from bncheck.exceptions import LoadError

__all__ = [
    "NO_SWITCH",
    "FamilyAdapter",
    "build_kwargs",
    "claimed_kind",
    "family_functions",
    "returned_grads",
]

#: the prefix of ``find_running``'s answer for running statistics kept by a layer with no
#: train/eval switch bncheck found (followed by what keeps them)
NO_SWITCH = "no eval switch: "

_CLAIMS = (
    (re.compile(r"rms_?norm", re.I), "rms"),
    (re.compile(r"group_?norm", re.I), "group"),
    (re.compile(r"instance_?norm", re.I), "instance"),
    (re.compile(r"layer_?norm", re.I), "layer"),
)


def claimed_kind(name: str) -> str | None:
    """The member a name says it is ("spatial_groupnorm" -> group), or None."""
    for pattern, kind in _CLAIMS:
        if pattern.search(name):
            return kind
    return None


#: (forward, backward) name endings of a member's functional pair, most usual first
FAMILY_ENDINGS = (("_forward", "_backward"), ("_fwd", "_bwd"), ("_fprop", "_bprop"))


def family_functions(module: Any, prefix: str | None) -> list[tuple[str, str]]:
    """(forward, backward) name pairs of family members in a module (``prefix``: that pair),
    spelled with any of :data:`FAMILY_ENDINGS` (``layernorm_forward``/``layernorm_backward``,
    JAX's ``rms_fwd``/``rms_bwd``)."""
    out = []
    for fe, be in FAMILY_ENDINGS:
        names = [n for n in dir(module) if n.endswith(fe)]
        if prefix is not None:
            names = [n for n in names if n == f"{prefix}{fe}"]
        for n in sorted(names):
            base = n[: -len(fe)]
            if (prefix is not None or claimed_kind(base)) and callable(
                getattr(module, f"{base}{be}", None)
            ):
                out.append((n, f"{base}{be}"))
    return out


_GAMMA = ("gamma", "weight", "scale", "w", "g")
_BETA = ("beta", "bias", "shift", "b")
_GROUPS = ("g", "groups", "num_groups", "n_groups", "group")
_EPS = ("eps", "epsilon")


def _role(name: str, taken: set[str]) -> str | None:
    low = name.lower()
    if low.endswith("param") or low.endswith("params") or low in ("config", "cfg"):
        return "param"
    if low in _EPS:
        return "eps"
    if name == "G" or (low in _GROUPS and "gamma" in taken):
        return "groups"
    if low in _GAMMA and "gamma" not in taken:
        return "gamma"
    if low in _BETA and "beta" not in taken:
        return "beta"
    return None


class FamilyAdapter:
    """One family target, driven as a layer (see the module docstring)."""

    kind = "functional"

    def __init__(self, name: str) -> None:
        self.name = name
        self.member = Member("layer")
        self.claim = claimed_kind(name)
        self.dtype = "float64"
        self.eps = 1e-5
        self.gamma: Any = None
        self.beta: Any = None
        self.notes: list[str] = []
        #: how values were found by behaviour while the checks ran (shown under "Plugged in
        #: as", read back through ``state``)
        self.found: list[str] = []
        self.wanted: tuple[int, ...] = (2, 3, 4)
        #: the members (their --norm text) for which gamma is passed in the broadcast shape
        #: (1, C, 1, ...) instead of (C,)
        self.broadcast_for: set[str] = set()
        #: --axis -1: the target takes channels last; x and dy are handed over with the
        #: channel axis moved last, y and dx moved back (every member read channels first)
        self.channels_last = False
        #: c of gamma = parameter + c per (member, dtype), found by behaviour (scale_offset)
        self.offsets: dict[tuple[str, str], float] = {}

    # -- the protocol ---------------------------------------------------------------------

    #: whether the adapter builds the target with constructor arguments guessed from their
    #: names (a hand-written class): a size mismatch it raises is then bncheck's guess
    guessed_build = False
    #: a hand-written module of a framework driven as the framework's own are (a Flax linen
    #: module, a Keras layer): --axis -1 applies to it (channels_last), where the framework's
    #: own classes are given the layout they take
    hand_written = False

    def describe(self) -> dict[str, Any]:
        mapping = self.mapping()
        if self.channels_last:
            mapping.append(
                "channels last (--axis -1): x and dy handed over as (N, ..., C), y and dx moved "
                "back; the member is read on (N, C, ...)"
            )
        return {
            "kind": self.kind,
            "mapping": mapping,
            "ndims": [],
            "probe": False,
            "guessed_build": self.guessed_build,
        }

    def _to_target(self, a: Any) -> Any:
        """An array of the checks' layout (N, C, ...) as the target takes it."""
        if not self.channels_last or np.ndim(a) < 3:
            return a
        return np.moveaxis(np.asarray(a), 1, -1)

    def _from_target(self, a: Any) -> Any:
        """The inverse of :meth:`_to_target` (an array of x's shape from the target)."""
        if not self.channels_last or not isinstance(a, np.ndarray) or a.ndim < 3:
            return a
        return np.moveaxis(a, -1, 1)

    def _offset_key(self) -> tuple[str, str]:
        return (self.member.text(), self.dtype)

    def offset(self) -> float:
        """c of gamma = parameter + c for the member and dtype (0.0 until found)."""
        return self.offsets.get(self._offset_key(), 0.0)

    def _find_offset(self, run: Callable[[float], Any], name: str) -> float:
        """c for the member and dtype, found once: ``run(p)`` is the target's y with its scale
        parameter filled with p and beta 0 (:func:`scale_offset`); what was found, when it is
        not the plain form, is said under "Plugged in as". A probe the target refuses finds
        nothing (tried again on the next call)."""
        key = self._offset_key()
        if key in self.offsets:
            return self.offsets[key]
        try:
            ys = [as_array(run(p)) for p in (0.0, 1.0, 2.0)]
            c, why = scale_offset(*(np.asarray(y, dtype=np.float64) for y in ys))
        except Exception:
            return 0.0
        self.offsets[key] = c
        if c:
            text = (
                f"gamma = {c:g} + {name} (the layer scales by {c:g} + {name}: found by "
                f"behaviour, its output at {name} = 0 being {c:g}·x_hat); bncheck sets {name} = "
                f"gamma − {c:g} and reads d/d{name} as dgamma"
            )
        elif why:
            text = f"{name}: {why}; taken as gamma = {name}"
        else:
            return c
        if text not in self.found:
            self.found.append(text)
        return c

    def mapping(self) -> list[str]:
        return []

    def variant(self, text: str) -> None:
        self.member = Member.parse(text)

    def new(self, num_features: int, dtype: str, eps: float, ndim: int = 2) -> dict[str, Any]:
        self.dtype, self.eps = dtype, float(eps)
        self.reset()
        return {}

    def reset(self) -> None:
        pass

    def set_params(self, gamma: Any, beta: Any) -> None:
        self.gamma, self.beta = gamma, beta

    def state(self) -> dict[str, Any]:
        return {"eps": self.eps, "claimed": self.claim or "", "found": list(self.found)}

    def contract(self) -> list[str]:
        return list(self.notes)

    def watched(self) -> dict[str, Any]:
        return {}

    def find_running(self, ndim: int) -> str:
        """What keeps running statistics, for the report ("" when nothing does: a function)."""
        return ""

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def _param(self, p: Any, x: Any) -> Any:
        if p is None or self.member.text() not in self.broadcast_for:
            return p
        shape = [1] * x.ndim
        shape[-1 if self.channels_last else 1] = p.size
        return p.reshape(shape)

    def _grad(self, g: Any, x_shape: tuple[int, ...], what: str) -> Any:
        """A parameter gradient in the member's parameter shape (the same values reshaped)."""
        a = as_array(g)
        if a is None:
            return None
        want = self.member.param_shape(x_shape)
        if isinstance(a, np.ndarray) and a.shape != want and a.size == int(np.prod(want)):
            return a.reshape(want)
        return a


#: how closely a layer's outputs must follow y(p) = (p + c)·x_hat (relative to their size)
#: for c to be taken: far above float32 rounding, far below any other relation's misfit
OFFSET_MATCH = 1e-4


def scale_offset(y0: Any, y1: Any, y2: Any) -> tuple[float, str]:
    """(c, "") when a layer whose outputs with beta = 0 and its scale parameter filled with
    0, 1 and 2 are ``y0``, ``y1``, ``y2`` scales by parameter + c (Gemma's RMSNorm and others
    keep a zero-initialised ``weight`` and scale by 1 + weight: c = 1), a whole c taken
    exactly; (0.0, "") for the plain form (y0 = 0) and for a parameter that changes nothing
    (a mistake the checks name); (0.0, why) when the outputs follow no such law.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check._verify.targets.family import scale_offset
    >>> xh = np.array([-1.2, 0.3, 0.9])
    >>> scale_offset(0 * xh, xh, 2 * xh), scale_offset(xh, 2 * xh, 3 * xh)
    ((0.0, ''), (1.0, ''))
    >>> scale_offset(xh, np.e * xh, np.e**2 * xh)[1]  # exp(parameter)
    'its output is not affine in it (y(2) − y(1) ≠ y(1) − y(0))'
    """
    y0, y1, y2 = (np.asarray(y, dtype=np.float64) for y in (y0, y1, y2))
    with np.errstate(all="ignore"):
        size = float(max(np.max(np.abs(y), initial=0.0) for y in (y0, y1, y2)))
        if not np.isfinite(size) or size == 0 or np.max(np.abs(y0)) <= OFFSET_MATCH * size:
            return 0.0, ""
        d1, d2 = y1 - y0, y2 - y1
        if np.max(np.abs(d1)) <= OFFSET_MATCH * size:
            return 0.0, ""
        if np.max(np.abs(d2 - d1)) > OFFSET_MATCH * np.max(np.abs(d1)):
            return 0.0, "its output is not affine in it (y(2) − y(1) ≠ y(1) − y(0))"
        c = float(np.sum(y0 * d1) / np.sum(d1 * d1))
        if np.max(np.abs(y0 - c * d1)) > OFFSET_MATCH * size:
            return 0.0, "its output at 0 is not a multiple of its effect (no gamma = it + c)"
    if abs(c - round(c)) <= OFFSET_MATCH:
        c = float(round(c))
    return c, ""


class FamilyFunctional(FamilyAdapter):
    kind = "functional"

    def __init__(self, fwd: Callable[..., Any], bwd: Callable[..., Any], name: str) -> None:
        super().__init__(name)
        self.fwd, self.bwd = fwd, bwd
        self.cache: Any = None
        self.x_shape: tuple[int, ...] = ()
        roles: list[str | None] = []
        taken: set[str] = set()
        try:
            params = list(inspect.signature(fwd).parameters.values())[1:]
        except (TypeError, ValueError):
            params = []
        for p in params:
            if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                break
            role = _role(p.name, taken)
            if role is None and p.default is not p.empty:
                break
            roles.append(role)
            if role:
                taken.add(role)
        if not roles or any(r is None for r in roles):  # unnamed: (x, gamma, beta, eps)
            roles = list[str | None](("gamma", "beta", "eps"))[: max(len(roles), 2)]
        self.roles = roles
        names = [p.name for p in params]
        self.gamma_name = next(
            (n for n, r in zip(names, roles, strict=False) if r == "gamma"), "gamma"
        )
        #: a backward that recomputes from the forward's inputs, ``backward(dy, x, gamma[,
        #: beta][, eps])`` (the forward returns y alone): the roles of its arguments after dy,
        #: by their names; None for a backward of (dout, cache)
        self.bwd_roles = _recompute_roles(bwd)
        self.last_inputs: dict[str, Any] = {}
        #: the forward takes beta before gamma (``instance_normalization(x, beta, gamma)``)
        #: and the backward does not take them itself: it returns their gradients in the
        #: forward's order, (dx, dbeta, dgamma), as a vector-Jacobian product does
        given = self.bwd_roles if self.bwd_roles is not None else []
        self.beta_first = (
            "gamma" in roles
            and "beta" in roles
            and roles.index("beta") < roles.index("gamma")
            and not ({"gamma", "beta"} <= set(given))
        )

    def new(self, num_features: int, dtype: str, eps: float, ndim: int = 2) -> dict[str, Any]:
        """As any family target's; a pair written in JAX runs float64 with ``jax_enable_x64``
        on and other dtypes with it off, as a BN pair does (as JAX users run float64)."""
        jax_x64(dtype)
        return super().new(num_features, dtype, eps, ndim)

    def mapping(self) -> list[str]:
        args = ", ".join(["x", *(r or "?" for r in self.roles)])
        first = self.cache_first
        if first is None:  # not called yet: the order tried first
            first = named_residuals_first(self.bwd)
        order = "cache, dout" if first else "dout, cache"
        if self.bwd_roles is not None:
            names = _param_names(self.bwd)[1:]
            saved = [
                n for n, r in zip(names, self.bwd_roles, strict=False) if r.startswith("saved")
            ]
            shown = [
                n if r.startswith("saved") else r
                for n, r in zip(names, self.bwd_roles, strict=False)
            ]
            return [
                f"{self.fwd.__name__}({args}) -> "
                + (f"(y, {', '.join(saved)})" if saved else "y")
                + f"; {self.bwd.__name__}(dout, "
                + ", ".join(shown)
                + ") -> (dx, dgamma[, dbeta]) (the backward recomputes from the forward's inputs"
                + (", and takes what it returned beside y, in order)" if saved else ")")
            ]
        grads = (
            "(dx, dbeta, dgamma), in the order of the forward's inputs"
            if self.beta_first
            else "(dx, dgamma[, dbeta])"
        )
        return [
            f"{self.fwd.__name__}({args}) -> (y, cache); {self.bwd.__name__}({order}) -> {grads}"
        ]

    def _args(self, x: Any, gamma: Any, beta: Any) -> list[Any]:
        out: list[Any] = []
        for role in self.roles:
            if role == "gamma":
                out.append(self._param(gamma, x))
            elif role == "beta":
                out.append(self._param(beta, x))
            elif role == "groups":
                out.append(self.member.groups if self.member.kind == "group" else 1)
            elif role == "param":
                out.append({"eps": self.eps, "mode": "train"})
            else:
                out.append(self.eps)
        return out

    def _call(self, x: Any, gamma: Any, beta: Any) -> tuple[Any, Any]:
        """(y, cache) of one call of the forward on ``x`` (the checks' layout)."""
        xt = self._to_target(x)
        self.last_inputs = {"x": xt, "gamma": gamma, "beta": beta}
        try:
            result = self.fwd(xt, *self._args(xt, gamma, beta))
        except Exception:
            key = self.member.text()
            if key in self.broadcast_for or gamma is None or self.member.kind in ("layer", "rms"):
                raise
            self.broadcast_for.add(key)  # gamma of shape (1, C, 1, 1), as cs231n's spatial forms
            try:
                result = self.fwd(xt, *self._args(xt, gamma, beta))
            except Exception:
                self.broadcast_for.discard(key)
                raise
        if isinstance(result, tuple) and len(result) == 2:
            y, cache = y_and_cache(result, np.shape(xt))
            return self._from_target(returned(y)), cache
        if isinstance(result, tuple) and len(result) > 2:  # (y, mean, rstd): the rest saved
            return self._from_target(returned(result[0])), tuple(result[1:])
        return self._from_target(returned(result)), None

    def forward(self, x: Any, train: bool) -> Any:
        self.x_shape = tuple(x.shape)
        gamma = self.gamma
        if gamma is not None:
            g = np.asarray(gamma)
            small = np.array(x, copy=True)  # its shape: a jitted target compiles nothing new
            zero = None if self.beta is None else np.zeros_like(np.asarray(self.beta))
            c = self._find_offset(
                lambda p: self._call(small, np.full_like(g, p), zero)[0], self.gamma_name
            )
            if c:
                gamma = (g - c).astype(g.dtype)
        y, self.cache = self._call(x, gamma, self.beta)
        return y

    #: whether the backward takes the cache first, ``bwd(residuals, g)`` (JAX's custom_vjp
    #: convention), rather than ``bwd(dout, cache)``; None until its first call decides
    cache_first: bool | None = None
    #: a cache set aside by :meth:`stash`
    stashed: Any = None

    def stash(self) -> None:
        """Keep what the last forward left for its backward aside (the older-cache check): its
        cache, and the inputs a backward that takes them again is handed."""
        self.stashed = (self.cache, dict(self.last_inputs), self.x_shape)

    def unstash(self) -> None:
        """Hand the stashed forward's cache and inputs to the next backward, as a caller
        holding two does."""
        self.cache, self.last_inputs, self.x_shape = self.stashed

    def _backward_call(self, dy: Any) -> Any:
        """The backward's result on ``dy``, in the argument order it takes: (dout, cache) or
        (cache, dout), decided at the first call by which one runs and gives an array of x's
        shape first (the other order raises or returns something else); when both would,
        the first parameter's name decides (``res``/``residuals``: JAX's order)."""
        dyt = self._to_target(dy)
        if self.bwd_roles is not None:  # backward(dy, x, gamma, ...): the forward's inputs again
            xt = self.last_inputs.get("x")
            values = []
            for role in self.bwd_roles:
                if role == "x":
                    values.append(xt)
                elif role in ("gamma", "beta"):
                    values.append(self._param(self.last_inputs.get(role), xt))
                elif role == "groups":
                    values.append(self.member.groups if self.member.kind == "group" else 1)
                elif role.startswith("saved"):
                    saved = self.cache if isinstance(self.cache, tuple) else (self.cache,)
                    values.append(saved[int(role[5:])] if int(role[5:]) < len(saved) else None)
                else:
                    values.append(self.eps)
            return self.bwd(dyt, *values)
        new = self.cache_first is None
        result, self.cache_first = backward_in_order(
            self.bwd, self.cache, dyt, _dx_of, self.cache_first
        )
        if new and self.cache_first:
            self.found.append(
                f"{getattr(self.bwd, '__name__', 'the backward')} takes the cache first, "
                "(cache, dout), as JAX's custom_vjp backward does (found by the order "
                "that runs)"
            )
        return result

    def backward(self, dy: Any) -> tuple[Any, Any, Any]:
        result = self._backward_call(dy)
        if isinstance(result, dict):
            got = [result.get(k) for k in ("dx", "dgamma", "dbeta")]
        else:
            got = returned_grads(result)
            positional = isinstance(result, (tuple, list)) and not (
                len(result) == 2 and isinstance(result[1], dict)
            )
            if self.beta_first and positional and got[1] is not None and got[2] is not None:
                got[1], got[2] = got[2], got[1]
        dx = self._from_target(returned(got[0]))
        return (
            dx,
            self._grad(got[1], self.x_shape, "dgamma"),
            self._grad(got[2], self.x_shape, "dbeta"),
        )


def _recompute_roles(bwd: Any) -> list[str] | None:
    """The roles of a backward's arguments after dy when it takes the forward's inputs again
    (``backward(dy, x, gamma, eps)``): x by its name and every other by the forward's names
    (gamma, beta, eps, groups), or, after x, by none of them: the forward's outputs beside y,
    in order ("saved0", "saved1": Apex's ``backward(dy, x, weight, mean, rstd)``); None when
    they do not all read so (a (dout, cache) backward)."""
    try:
        params = list(inspect.signature(bwd).parameters.values())[1:]
    except (TypeError, ValueError):
        return None
    roles: list[str] = []
    taken: set[str] = set()
    for p in params:
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            break
        if p.name.lower() in ("x", "inputs", "input", "x_in", "xin"):
            role: str | None = "x"
        else:
            role = _role(p.name, taken)
        if role is None and p.default is p.empty and "x" in taken:
            # after x, a name of none of the forward's inputs: what the forward returned beside
            # y, in order (``backward(dy, x, weight, mean, rstd)`` after ``-> (y, mean, rstd)``)
            role = f"saved{sum(r.startswith('saved') for r in roles)}"
        if role is None or role == "param":
            if p.default is not p.empty:
                break
            return None
        roles.append(role)
        taken.add(role)
    return roles if "x" in roles else None


def _param_names(fn: Any) -> list[str]:
    return [p.name for p in inspect.signature(fn).parameters.values()]


def _dx_of(result: Any) -> Any:
    """dx from what a backward returned (None when it returned none)."""
    if isinstance(result, dict):
        return result.get("dx")
    try:
        return returned(returned_grads(result)[0])
    except Exception:
        return None


def returned_grads(result: Any) -> list[Any]:
    """[dx, dgamma, dbeta] (None where the backward returned none) from what a member's
    backward returned: dx alone, (dx, dgamma[, dbeta]), or dx beside its parameters' gradients
    kept together, as a pair of arrays or a dict ((dx, (dgamma, dbeta)), (dx, {"dgamma": ...,
    "dbeta": ...}), keyed by gradient or by parameter names).

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check._verify.targets.family import returned_grads
    >>> g, b = np.ones(3), np.zeros(3)
    >>> [v is w for v, w in zip(returned_grads(("dx", [g, b])), ("dx", g, b))]
    [True, True, True]
    >>> returned_grads(("dx", {"weight": g}))[1] is g, returned_grads("dx")
    (True, ['dx', None, None])
    >>> returned_grads(("dx", [1.0, 2.0]))  # an RMSNorm's dgamma of two numbers, as a list
    ['dx', [1.0, 2.0], None]
    >>> returned_grads({"x": "dx", "weight": g, "bias": b})[0]  # a vjp's dict
    'dx'
    """
    if isinstance(result, dict):  # {"x": dx, "weight": ..., "bias": ...}, {"dx": ..., ...}
        dx = next((result[k] for k in DX_KEYS if k in result), None)
        if dx is not None:
            rest = {k: v for k, v in result.items() if k not in DX_KEYS}
            return returned_grads((dx, rest)) if rest else [dx, None, None]
    if not isinstance(result, (tuple, list)):
        return [result, None, None]
    got = list(result)
    if len(got) == 2 and isinstance(got[1], dict):
        grads = got[1]
        for names in (*P.GRAD_NAMES, *P.PARAM_NAMES):
            if any(n in grads for n in names):
                return [got[0], *(grads.get(n) for n in names)]
        got = [got[0]]
    elif (
        len(got) == 2
        and isinstance(got[1], (tuple, list))
        and len(got[1]) in (1, 2)
        and all(v is None or np.ndim(as_array(v)) >= 1 for v in got[1])
    ):
        got = [got[0], *got[1]]
    return [*got, None, None, None][:3]


def _param_grads(member: Member, x: np.ndarray, dy: Any, eps: float) -> tuple[Any, Any]:
    """The member's dgamma = Σ dy·x_hat and dbeta = Σ dy over each parameter's values, in
    float64, in the member's parameter shape (to tell a layer's gradients apart by value)."""
    xv = member.view(x)
    spec = member.spec(xv.ndim)
    cols = spec.columns(xv)
    if member.centered:
        cols = cols - cols.mean(axis=0)
    xhat = spec.from_columns(cols / np.sqrt((cols**2).mean(axis=0) + eps), xv.shape)
    dyv = member.view(np.asarray(dy, dtype=np.float64))
    pshape = member.param_shape(x.shape)
    return (
        np.asarray(spec.param_sum(dyv * xhat)).reshape(pshape),
        np.asarray(spec.param_sum(dyv)).reshape(pshape),
    )


def build_kwargs(cls: Any, member: Member, eps: float, shape: tuple[int, ...]) -> dict[str, Any]:
    """The arguments a hand-written layer class is built with for ``member`` on ``shape``, by
    its parameter names: eps, the number of groups, the parameters' size (the normalized
    shape, or C), any other required one the size."""
    kwargs: dict[str, Any] = {}
    pshape = member.param_shape(shape)
    size: Any = pshape if len(pshape) > 1 else pshape[0]
    for p in inspect.signature(cls).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        low = p.name.lower()
        if low in _EPS:
            kwargs[p.name] = eps
        elif low in ("num_groups", "groups", "g", "n_groups"):
            kwargs[p.name] = member.groups
        elif low in _SIZE_NAMES or low in ("c", "channels", "num_channels"):
            kwargs[p.name] = size
        elif p.default is p.empty:
            kwargs[p.name] = size
    return kwargs


#: the attribute names of a hand-written layer's gamma and beta
_GAMMA_ATTRS = ("gamma", "weight", "scale", "g")
_BETA_ATTRS = ("beta", "bias", "shift", "b")


def _param_path(layer: Any, names: tuple[str, ...], size: int | None = None) -> Path | None:
    """Where a hand-written layer keeps the array of the parameter it names with one of
    ``names`` (of ``size`` values, any size for None): the attribute itself, the array
    inside a parameter object held there (Chainer's ``.array``, Gluon's ``_data`` behind its
    ``data()``, a ``.data``; never its gradient, ``grad``/``diff``), or the entry of its
    ``params`` dict. None when it holds none."""
    for n in names:
        cur = getattr(layer, n, None)
        if isinstance(cur, np.ndarray):
            if size is None or cur.size == size:
                return Path((n,))
            continue
        if cur is None or isinstance(cur, (bool, int, float, str, bytes, dict, list, tuple)):
            continue
        if isinstance(getattr(cur, "data", None), np.ndarray):  # a parameter object's .data
            if size is None or cur.data.size == size:
                return Path((n, "data"))
            continue
        for where, value in leaves(cur, size).items():
            last = str(where.steps[-1]).lower()
            if "grad" in last or "diff" in last or not isinstance(value, np.ndarray):
                continue
            return Path((n, *where.steps))
    params = getattr(layer, "params", None)
    if isinstance(params, dict):
        for n in names:
            cur = params.get(n)
            if isinstance(cur, np.ndarray) and (size is None or cur.size == size):
                return Path(("params", n))
    return None


def _spread(member: Member, p: Any, shape: tuple[int, ...]) -> np.ndarray:
    """``p`` (the member's parameter values) broadcast against x of ``shape`` (channels on
    axis 1): over the trailing axes for a LayerNorm or RMSNorm, per channel otherwise."""
    pshape = member.param_shape(shape)
    if member.kind in ("layer", "rms") and not member.channel:
        return np.broadcast_to(np.reshape(p, pshape), shape)
    spread = [1] * len(shape)
    spread[1] = shape[1]
    return np.broadcast_to(np.reshape(p, spread), shape)


def _family_affine_law(
    member: Member, x: Any, ys: list[Any], deltas: list[np.ndarray]
) -> str | None:
    """Which parameter adding ``deltas[i]`` (of the member's parameter size) changed y from
    ``ys[0]`` to ``ys[i + 1]``: "beta" when y moved by the added values themselves, "gamma"
    when it moved by them times one factor that does not depend on them and varies over x
    (x_hat: also for a scale kept as gamma − 1), else None (a value the forward does not
    read, or reads otherwise, such as a log-scale)."""
    shape = np.shape(x)
    if any(np.shape(y) != shape for y in ys):
        return None
    y0 = np.asarray(ys[0], dtype=np.float64)
    size = 1.0 + float(np.max(np.abs(y0)))
    moved = [np.asarray(y, dtype=np.float64) - y0 for y in ys[1:]]
    added = [_spread(member, d, shape) for d in deltas]
    if all(np.all(np.abs(m - a) <= 1e-6 * size) for m, a in zip(moved, added, strict=True)):
        return "beta"
    factors = [m / a for m, a in zip(moved, added, strict=True)]
    first = factors[0]
    if not np.all(np.isfinite(first)) or float(np.std(first)) <= 1e-3:
        return None
    if all(np.all(np.abs(f - first) <= 1e-6 * (1.0 + np.abs(first))) for f in factors[1:]):
        return "gamma"
    return None


def _settable(layer: Any, where: Path) -> bool:
    """Whether the array at ``where`` can be set (a copy of it written there reads back),
    tried on ``layer`` with its own value (a property with no setter cannot)."""
    try:
        cur = np.array(where.get(layer), copy=True)
        _put(layer, where, cur.copy())
        return bool(np.array_equal(np.asarray(where.get(layer)), cur))
    except Exception:
        return False


def _put(layer: Any, where: Path, value: Any) -> None:
    """``value`` (an array) set at ``where`` on ``layer``; a field of a named tuple or a frozen
    dataclass (an immutable record of parameters) by replacing the record with one holding
    it."""
    try:
        where.set(layer, value)
    except Exception:
        if len(where.steps) < 2 or not _replace_in(layer, tuple(where.steps), value):
            raise


def _replace_in(layer: Any, steps: tuple[Any, ...], value: Any) -> bool:
    """Whether ``value`` could be put at ``steps`` by replacing the immutable record holding
    it (and, up the path, each record holding that one) where it is held."""
    holder = Path(steps[:-1]).get(layer) if len(steps) > 1 else layer
    last = steps[-1]
    if hasattr(holder, "_replace") and hasattr(holder, "_fields"):
        field = holder._fields[last] if isinstance(last, int) else str(last)
        record = holder._replace(**{field: value})
    elif dataclasses.is_dataclass(holder) and not isinstance(holder, type):
        record = dataclasses.replace(holder, **{str(last): value})
    else:
        return False
    up = steps[:-1]
    outer = Path(up[:-1]).get(layer) if len(up) > 1 else layer
    key = up[-1]
    if isinstance(outer, dict) or (isinstance(outer, list) and isinstance(key, int)):
        outer[key] = record
        return True
    if isinstance(key, str) and not isinstance(outer, tuple):
        try:
            setattr(outer, key, record)
            return True
        except Exception:
            pass
    return len(up) > 1 and _replace_in(layer, up, record)


#: where a layer lists its parameters (a method or an attribute): Theano's and Lasagne's
#: ``get_params()``, torch's ``parameters()``, Sonnet 1's ``get_variables()``, a ``params``
#: list, Keras 1's ``trainable_weights``, a ``weights`` list
_LISTINGS = ("get_params", "parameters", "get_variables", "params", "trainable_weights", "weights")


def _parameter_lists(
    layer: Any, names: tuple[str, ...] = _LISTINGS, dicts: bool = True
) -> Iterator[list[Any]]:
    """Each list a layer gives of its parameters under ``names`` (called when a method), in
    its own order; a dict's values too when ``dicts``."""
    for name in names:
        try:
            listed = getattr(layer, name, None)
            listed = listed() if callable(listed) else listed
        except Exception:
            continue
        if dicts and isinstance(listed, dict):
            listed = list(listed.values())
        if isinstance(listed, (list, tuple)):
            yield list(listed)


def _listed_ids(layer: Any) -> set[int]:
    """The ids of the values a layer lists as its parameters (:func:`_parameter_lists`; a
    parameter object and its ``.data``)."""
    out: set[int] = set()
    for listed in _parameter_lists(layer):
        for v in listed:
            out.add(id(v))
            if isinstance(getattr(v, "data", None), np.ndarray):
                out.add(id(v.data))
    return out


def _grad_place(layer: Any, param: Path, grad: Path) -> bool:
    """Whether ``grad`` is where a layer keeps the gradient of the parameter at ``param`` by
    its place: the same index or key in a list or dict of the same length beside the one
    holding the parameter (``grads[1]`` beside ``weights[1]``, ``grads["W0"]`` beside
    ``params["W0"]``), the gradient beside the value in one parameter object (``blob.diff``
    beside ``blob.data``, ``p.grad``), or the parameter's own name with a gradient's prefix or
    suffix (``dw`` beside ``w``, ``grad_a_2``, ``gn_s_grad``)."""
    ps, gs = tuple(param.steps), tuple(grad.steps)
    if not ps or not gs:
        return False
    if ps[-1] in ("data", "value", "array"):
        ps = ps[:-1]
    if len(gs) == len(ps) + 1 and gs[:-1] == ps and str(gs[-1]).lower() in ("grad", "diff"):
        return True
    if len(gs) == len(ps) and len(ps) >= 2 and gs[-1] == ps[-1] and gs[:-1] != ps[:-1]:
        try:
            held, kept = Path(ps[:-1]).get(layer), Path(gs[:-1]).get(layer)
        except Exception:
            return False
        if isinstance(held, (list, tuple)) and isinstance(kept, (list, tuple)):
            return len(held) == len(kept)
        if isinstance(held, dict) and isinstance(kept, dict):
            return set(held) == set(kept)
        return False
    if len(gs) != len(ps) or gs[:-1] != ps[:-1] or not isinstance(ps[-1], str):
        return False
    name, other = ps[-1].lstrip("_").lower(), str(gs[-1]).lstrip("_").lower()
    return other in (
        f"d{name}",
        f"d_{name}",
        f"grad_{name}",
        f"{name}_grad",
        f"{name}grad",
        f"{name}_diff",
    )


#: the mapping options a hand-written family layer takes (:func:`load_family`)
_FAMILY_MAPPING = ("forward", "backward", "gamma", "beta", "dgamma", "dbeta")

_SIZE_NAMES = ("normalized_shape", "dim", "d", "num_features", "features", "num_channels", "size")


#: the names a hand-written family layer's backward goes by, when it has no ``backward``
_BACKWARD_NAMES = ("backward", "vjp", "bprop", "backprop", "grad", "gradient")


def _listed_order(layer: Any) -> str | None:
    """Which of its two parameters a layer lists first in its own parameter list
    (``get_params()``, ``parameters()``, or a ``params`` list: the order Theano's gradient
    lists and a zip of parameters with gradients follow): "beta", "gamma", or None."""
    gamma = next((getattr(layer, n) for n in _GAMMA_ATTRS if hasattr(layer, n)), None)
    beta = next((getattr(layer, n) for n in _BETA_ATTRS if hasattr(layer, n)), None)
    if gamma is None or beta is None:
        return None
    for listed in _parameter_lists(layer, ("get_params", "parameters", "params"), dicts=False):
        ids = [id(v) for v in listed]
        if id(gamma) in ids and id(beta) in ids:
            return "beta" if ids.index(id(beta)) < ids.index(id(gamma)) else "gamma"
    return None


def family_forward_name(cls: Any) -> str:
    """The name of a layer class's forward: ``forward``, else a ``__call__`` the class or a
    base class of its own defines (not ``object``'s), else Lasagne's ``get_output_for``; ""
    when it has none."""
    if callable(getattr(cls, "forward", None)):
        return "forward"
    if any("__call__" in vars(k) for k in getattr(cls, "__mro__", ())[:-1]):
        return "__call__"
    return "get_output_for" if callable(getattr(cls, "get_output_for", None)) else ""


def family_backward_name(cls: Any) -> str:
    """The name of a layer class's backward: ``backward``, else the one method it has of
    :data:`_BACKWARD_NAMES` (``vjp(g) -> {"x": ..., "weight": ..., "bias": ...}``); "" when it
    has none or several."""
    found = [n for n in _BACKWARD_NAMES if callable(getattr(cls, n, None))]
    if "backward" in found:
        return "backward"
    return found[0] if len(found) == 1 else ""


class FamilyLayer(FamilyAdapter):
    """A hand-written layer class: constructed from the member (and the input's shape, for a
    parameter shape that depends on it), kept until the next ``new``."""

    kind = "layer"
    guessed_build = True

    def __init__(self, cls: Any, name: str) -> None:
        super().__init__(name)
        self.cls = cls
        self.layer: Any = None
        self.x_shape: tuple[int, ...] = ()
        self.built_for: tuple[int, ...] = ()
        self.built_with = ""
        self.channels = 0
        self.ndim = 2
        self.layout: Layout | None = None
        self.running: tuple[Any, Any] | None = None
        self.last_x: np.ndarray | None = None
        #: where the backward left dgamma and dbeta, when found by behaviour
        self.grad_note = ""
        #: the input and output of the last forward (in the target's layout), for a backward
        #: that takes them by name
        self.passed_x: Any = None
        self.passed_y: Any = None
        #: the layer's method that resets what its backward writes (found by behaviour at
        #: the first backward; "" for none), called before each backward
        self.grad_reset: str | None = None
        #: the ``--build`` arguments it is built with (C: the parameters' size), "" for
        #: arguments read from its signature (:func:`build_kwargs`)
        self.build_text = ""
        #: whether its backward returns the two gradients beta's first (decided at the first
        #: positional return, by behaviour: None until then)
        self.beta_first: bool | None = None
        #: where it keeps the parameters no name says (:meth:`_find_params`: "gamma",
        #: "beta" to their paths), None until looked for
        self.param_paths: dict[str, Path] | None = None
        #: whether it creates its parameters in its first forward (each new layer gets one
        #: before bncheck sets them)
        self.lazy = False
        #: the user's mapping (--forward, --backward, --gamma, --beta, --dgamma, --dbeta)
        self.given: dict[str, str] = {}
        #: the roles whose array under a parameter's name cannot be set (a property computing
        #: it from others): looked for by behaviour instead
        self.unsettable: set[str] = set()
        self.forward_name = family_forward_name(cls)
        self.backward_name = family_backward_name(cls)

    def mapping(self) -> list[str]:
        grads = (
            "dx, dbeta, dgamma (beta's first: found by behaviour)"
            if self.beta_first
            else ("dx, dgamma, dbeta")
        )
        out = [
            f"{self.cls.__name__}: {self.forward_name}(x) -> y; "
            f"{self.backward_name}(dout) -> {grads} "
            "(returned, or left on the layer)"
        ]
        if self.layout is not None and self.layout.mode != "none":
            out.append(f"train/eval switch: {self.layout.mode} {self.layout.mode_name}".rstrip())
        if self.running is not None:
            out.append(
                f"running statistics: {self.running[0].label()}, {self.running[1].label()} "
                "(found by behaviour)"
            )
        return out

    def new(self, num_features: int, dtype: str, eps: float, ndim: int = 2) -> dict[str, Any]:
        self.channels, self.ndim = int(num_features), int(ndim)
        return super().new(num_features, dtype, eps, ndim)

    def describe(self) -> dict[str, Any]:
        """As any family target's, and whether its parameters cannot be set: a layer built
        on a probe shape holds no array under a gamma or beta name (nor in a ``params``
        dict), so its cases run with gamma = 1 and beta = 0, the values it is judged with,
        never with parameters it was not given."""
        out = super().describe()
        try:
            shape = self._probe_shape()
            self._find_params(shape)
            layer = self._fresh(shape)
            out["params_free"] = all(self._where(layer, r) is None for r in ("gamma", "beta"))
            for role in ("gamma", "beta"):
                if role in self.given and self._where(layer, role) is None:
                    raise LoadError(
                        f"--{role} {self.given[role]!r}: the layer built for {shape} holds no "
                        "array of its parameters' size there (after a forward); give the path "
                        "of the array its forward reads"
                    )
            # no parameters at all: none named, no value of the parameters' size anywhere in
            # it, none in a closure of its functions (checks/family.py, param_free)
            size = int(np.prod(self.member.param_shape(shape)))
            out["param_free"] = bool(
                out["params_free"]
                and not leaves(layer, size)
                and not closes_over_arrays(layer, size)
            )
            # beta set, gamma not (a log-scale, a scale nowhere found): checked at gamma = 1
            out["gamma_free"] = bool(
                not out["params_free"]
                and self.member.has_beta
                and self._where(layer, "gamma") is None
            )
        except LoadError:
            raise
        except Exception:
            pass
        if out.get("gamma_free"):
            out["mapping"] = [
                *out["mapping"],
                "gamma: none found (no array named "
                + "/".join(_GAMMA_ATTRS)
                + ", none that y follows by the affine law; its beta found): checked with "
                "gamma = 1, the layer's scale as built, and its dgamma read there",
            ]
        if out.get("params_free"):
            out["mapping"] = [
                *out["mapping"],
                "parameters: none found (no array named "
                + "/".join(_GAMMA_ATTRS)
                + " or "
                + "/".join(_BETA_ATTRS)
                + ", none that y follows by the affine law): checked with gamma = 1 and "
                "beta = 0"
                + (
                    "; none at all, so a backward that gives dx alone is judged on dx"
                    if out.get("param_free")
                    else ""
                ),
            ]
        return out

    def reset(self) -> None:
        self.layer = None
        self.built_for = ()

    def _build(self, shape: tuple[int, ...]) -> Any:
        if self.build_text:  # --build, with C the parameters' size
            pshape = self.member.param_shape(shape)
            args, kwargs = build_arguments(self.build_text, int(np.prod(pshape)))
            self.built_with = self.build_text
            layer = self.cls(*args, **kwargs)
        else:
            kwargs = build_kwargs(self.cls, self.member, self.eps, shape)
            self.built_with = ", ".join(f"{k}={v}" for k, v in kwargs.items())
            layer = self.cls(**kwargs)
        if self.layout is None:
            name = self.forward_name
            self.layout = mode_of(layer, None if name in ("forward", "__call__") else name)
        return layer

    def _ensure(self, shape: tuple[int, ...]) -> None:
        """The layer for input of ``shape``: the one built since ``new`` while its parameter
        shape fits, else a new one with the parameters set."""
        pshape = self.member.param_shape(shape)
        if self.layer is None or self.built_for != pshape:
            self._find_params(shape)
            self.layer = self._fresh(shape)
            self.built_for = pshape
            self.set_params(self.gamma, self.beta)

    def _fresh(self, shape: tuple[int, ...]) -> Any:
        """A new layer for input of ``shape``, after the forward that creates its parameters
        when it creates them there (:meth:`_warm`)."""
        layer = self._build(shape)
        return self._warm(layer, shape) if self.lazy else layer

    def _warm(self, layer: Any, shape: tuple[int, ...]) -> Any:
        """``layer`` after one forward on a probe of ``shape``, for a layer that creates its
        parameters in its first call: a training one, but in eval mode for a layer with
        running statistics (which a training forward would move); a forward that raises
        leaves it as it was."""
        x = np.random.default_rng(11).normal(1.0, 2.0, size=shape).astype(self.dtype)
        train = self.running is None or (self.layout or Layout()).mode == "none"
        try:
            self._call(layer, self._to_target(x), train)
        except Exception:
            pass
        return layer

    def _probe_shape(self) -> tuple[int, ...]:
        """The first of a few small input shapes the member fits (6 channels, or two per
        group)."""
        c = 2 * self.member.groups if self.member.kind == "group" and self.member.groups > 1 else 6
        for shape in ((4, c), (4, c, 3), (2, c, 3, 2)):
            if self.member.fits(shape):
                return shape
        return (4, c)

    def _where(self, layer: Any, role: str, size: int | None = None) -> Path | None:
        """Where ``layer`` keeps its gamma (``role`` "gamma") or beta array of ``size`` values
        (any for None): under its name (:func:`_param_path`), else where :meth:`_find_params`
        found it (the array inside a parameter object held there); None without one."""
        where: Path | None = None
        found: Path | None = None
        if role in self.given:  # --gamma/--beta: there, and nowhere else
            found = Path.parse(self.given[role])
        else:
            names = (
                () if role in self.unsettable else _GAMMA_ATTRS if role == "gamma" else _BETA_ATTRS
            )
            where = _param_path(layer, names, size)
            found = (self.param_paths or {}).get(role)
        if where is not None or found is None:
            return where
        try:
            cur = found.get(layer)
        except Exception:
            return None
        if not isinstance(cur, np.ndarray) and isinstance(getattr(cur, "data", None), np.ndarray):
            found, cur = Path((*found.steps, "data")), cur.data
        if isinstance(cur, np.ndarray) and (size is None or cur.size == size):
            return found
        return None

    def _find_params(self, shape: tuple[int, ...]) -> None:
        """Where the layer keeps the parameters no name says, looked for once on layers built
        for ``shape``: after a first forward, for a layer that creates them there (Sonnet 1's
        variables at the first connection, a Keras-style ``build``), then among every value
        of the parameters' size it holds, by the affine law (:func:`_family_affine_law`).
        What was found is said under "Plugged in as"."""
        if self.param_paths is not None:
            return
        self.param_paths = {}
        roles = ("gamma", "beta") if self.member.has_beta else ("gamma",)
        size = int(np.prod(self.member.param_shape(shape)))
        try:
            first = self._build(shape)
            for role in roles:  # a name whose array cannot be set is no parameter to set
                named = self._where(first, role, size)
                if named is not None and role not in self.given and not _settable(first, named):
                    self.unsettable.add(role)
            if all(self._where(first, r, size) is not None for r in roles):
                return
            warm = self._warm(self._build(shape), shape)
        except Exception:
            return
        missing = [r for r in roles if self._where(warm, r, size) is None]
        by_behaviour = self._params_by_behaviour(shape, warm, missing, size) if missing else {}
        self.param_paths.update(by_behaviour)
        found = {r: w for r in roles if (w := self._where(warm, r, size)) is not None}
        self.lazy = any(self._where(first, r, size) is None for r in found)
        if by_behaviour or self.lazy:
            where = ", ".join(f"{r} in {w.label()}" for r, w in found.items())
            how = [
                *(["created at the first forward"] if self.lazy else []),
                *(["found by behaviour: y follows them by the affine law"] if by_behaviour else []),
            ]
            text = f"parameters: {where} ({'; '.join(how)})"
            if self.lazy:
                text += "; each new layer gets one forward before bncheck sets them"
            self.found.append(text)

    def _params_by_behaviour(
        self, shape: tuple[int, ...], warm: Any, missing: list[str], size: int
    ) -> dict[str, Path]:
        """gamma and beta (those of ``missing``) among the values of ``size`` numbers a layer
        (``warm``, after a forward) holds, other than gradients and rows of x-shaped arrays:
        each added to on fresh layers, the role read from how y moved
        (:func:`_family_affine_law`); names only order the search."""
        x = np.random.default_rng(5).normal(1.0, 2.0, size=shape)
        deltas = [np.resize([0.5, -0.3, 0.7, 0.4], size), np.resize([0.2, 0.9, -0.6], size)]
        batch = {tuple(shape), tuple(np.shape(self._to_target(x)))}
        own = {str(w) for r in ("gamma", "beta") if (w := self._where(warm, r, size)) is not None}
        hints = ("gamma", "weight", "scale", "gain", "beta", "bias", "shift", "offset")
        candidates = sorted(
            (
                p
                for p in leaves(warm, size)
                if str(p) not in own
                and not any(w in str(p.steps[-1]).lower() for w in ("grad", "diff"))
                and not row_of_batch(warm, p, batch)
            ),
            key=lambda p: (not any(h in p.label().lower() for h in hints), len(p.steps)),
        )

        def run(path: Path | None, delta: Any) -> Any:
            layer = self._warm(self._build(shape), shape)
            if path is not None:
                cur = path.get(layer)
                if not isinstance(cur, np.ndarray):
                    path, cur = Path((*path.steps, "data")), cur.data
                want = np.asarray(cur, dtype=np.float64).reshape(-1) + delta
                _put(layer, path, want.astype(cur.dtype).reshape(cur.shape))
                if not np.allclose(np.asarray(path.get(layer), dtype=np.float64).ravel(), want):
                    raise ValueError("does not read back")
            y = self._call(layer, self._to_target(x.copy()), True)
            return self._from_target(np.asarray(as_array(returned(y)), dtype=np.float64))

        found: dict[str, Path] = {}
        ignored: list[Path] = []  # values y does not follow
        try:
            y0 = run(None, None)
        except Exception:
            return found
        for path in candidates[:24]:
            try:
                role = _family_affine_law(
                    self.member, x, [y0, run(path, deltas[0]), run(path, deltas[1])], deltas
                )
            except Exception:
                continue
            if role is None:
                ignored.append(path)
            elif role in missing and role not in found:
                found[role] = path
            if len(found) == len(missing):
                break
        # a value y follows that the layer does not list among its parameters, beside an
        # equal one it lists that y ignores: the listed one is the parameter (an optimizer
        # updates it), the other a copy the forward keeps (stale once the parameter moves)
        listed = _listed_ids(warm)
        for role, path in list(found.items()):
            value = path.get(warm)
            if id(value) in listed:
                continue
            for other in ignored:
                held = other.get(warm)
                if not np.array_equal(as_array(held), as_array(value)):
                    continue
                if id(held) in listed:
                    found[role] = other
                    self.found.append(
                        f"{role}: the layer lists {other.label()} among its parameters, while "
                        f"its output follows {path.label()}, an equal copy it keeps: set as "
                        f"listed (an update of {other.label()} is what a training step makes)"
                    )
                else:  # neither listed: which one a training step updates is not known
                    self.note(
                        f"the layer keeps {role} twice: its output follows {path.label()} and "
                        f"ignores {other.label()}, an equal copy; an update of "
                        f"{other.label()} would not reach its output (checked through "
                        f"{path.label()})"
                    )
                break
        return found

    def set_params(self, gamma: Any, beta: Any) -> None:
        super().set_params(gamma, beta)
        if self.layer is None:
            return
        if gamma is not None:
            g = np.asarray(gamma)
            c = self._layer_offset(g.size, beta)
            gamma = g - c if c else g
        self._set(self.layer, "gamma", gamma)
        self._set(self.layer, "beta", beta)

    def _layer_offset(self, size: int, beta: Any) -> float:
        """c of gamma = parameter + c, probed on a layer of its own (the one in use keeps its
        state) on a random input of the current shape."""
        shape = self.x_shape or (2, size)
        where = self._where(self.layer, "gamma", size)
        if where is None:
            return 0.0
        x = self._to_target(np.random.default_rng(5).normal(1.0, 2.0, size=shape))

        def run(p: float) -> Any:
            layer = self._fresh(shape)
            self._set(layer, "gamma", np.full(size, p))
            if beta is not None:
                self._set(layer, "beta", np.zeros(np.asarray(beta).size))
            return self._from_target(returned(self._call(layer, x, True)))

        return self._find_offset(run, where.label())

    def _set(self, layer: Any, role: str, value: Any) -> None:
        """Set the layer's gamma (``role`` "gamma") or beta to ``value``: written into its own
        array, as an optimizer's in-place step writes it, so whatever else holds that array
        (a gradient dict sharing it, another instance) sees it as the layer's own code would;
        replaced where that array cannot be written (read-only, a value computed on access)."""
        if value is None:
            return
        value = np.asarray(value)
        where = self._where(layer, role, value.size)
        if where is None:
            return
        held = where.get(layer)
        cur = np.asarray(held)
        new = value.astype(cur.dtype).reshape(cur.shape)
        if isinstance(held, np.ndarray) and held.flags.writeable:
            held[...] = new
            if np.array_equal(np.asarray(where.get(layer)), new):
                return
        _put(layer, where, new.copy())

    def _get(self, role: str) -> Any:
        """A copy of the layer's gamma (``role`` "gamma") or beta, None when it has none."""
        cur = self.layer_param(role)
        return None if cur is None else cur.copy()

    def _call(self, layer: Any, x: Any, train: bool) -> Any:
        layout = self.layout or Layout()
        if layout.mode == "none":
            if not train:
                raise NotImplementedError("the layer has no eval mode bncheck found")
            return getattr(layer, layout.forward_name)(x)
        return call_forward(layer, layout, x, train)

    def forward(self, x: Any, train: bool) -> Any:
        self.x_shape = tuple(x.shape)
        self.last_x = np.array(x, dtype=np.float64, copy=True) if train else None
        self._ensure(self.x_shape)
        if train and self.grad_reset:  # a new step: the layer's own reset of its gradients
            getattr(self.layer, self.grad_reset)()
        self.passed_x = self._to_target(x)
        self.passed_y = self._call(self.layer, self.passed_x, train)
        return self._from_target(returned(self.passed_y))

    def find_running(self, ndim: int) -> str:
        """Running statistics of the member on ``ndim``-D input, by behaviour."""
        c = 3
        shape = (4, c, *([3, 2, 2][: ndim - 2]))

        def trained(batches: list[np.ndarray]) -> Any:
            layer = self._build(shape)
            for x in batches:
                self._call(layer, self._to_target(x.copy()), True)
            return layer

        self.running = running_by_behaviour(trained, shape, c, set())
        if self.running is None:
            return ""
        found = f"{self.running[0].label()}, {self.running[1].label()}"
        if self.layout is None or self.layout.mode == "none":
            self.running = None  # statistics with no eval switch to use them: not driven
            return f"{NO_SWITCH}{found}"
        return found

    def state(self) -> dict[str, Any]:
        out = super().state()
        if self.running is None:
            return out
        if self.layer is None:
            self._ensure((2, self.channels, *([2] * (self.ndim - 2))))
        for key, where in zip(("running_mean", "running_var"), self.running, strict=True):
            value = where.get(self.layer) if where.exists(self.layer) else None
            value = as_array(value)
            out[key] = np.array(value, copy=True) if isinstance(value, np.ndarray) else value
        found = P.scalar_attr(self.layer, P.MOMENTUM_NAMES)
        if found:
            out["momentum"] = found[1]
        found = P.scalar_attr(self.layer, P.EPS_NAMES)
        if found:
            out["eps"] = found[1]
        gamma = self._get("gamma")
        out["gamma"] = gamma + self.offset() if gamma is not None else None  # the effective one
        out["beta"] = self._get("beta")
        return out

    def backward(self, dy: Any) -> tuple[Any, Any, Any]:
        size = int(np.prod(self.member.param_shape(self.x_shape)))
        if self.grad_reset is None:
            self.grad_reset = self._grad_reset_by_behaviour(dy)
            if self.grad_reset:
                self.found.append(
                    f"{self.grad_reset}() before each training step, as a training loop calls "
                    "it (found by behaviour: it zeroes what the backward wrote, and nothing "
                    "else)"
                )
                # this step's backward already follows a forward: the reset runs from the next
                # training forward on (a reset may clear what the forward kept for it)
        before = {p: np.array(as_array(v), copy=True) for p, v in leaves(self.layer, size).items()}
        method = getattr(self.layer, self.backward_name)
        dyt = self._to_target(dy)
        # grad(input, output_grad) (Lasagne), bprop(x, out, dout): the forward's input and
        # output by their names, as a BN layer's backward gets them
        args = backward_arguments(method, self.passed_x, self.passed_y, dyt)
        result = method(*args) if args is not None else call_one(method, dyt)
        got = returned_grads(result)
        got[0] = self._from_target(returned(got[0]))
        positional = isinstance(result, (tuple, list)) and not (
            len(result) == 2 and isinstance(result[1], dict)
        )
        if positional and got[1] is not None and got[2] is not None:
            if self.beta_first is None:
                self.beta_first = self._beta_first(got, dy, method)
            if self.beta_first:
                got[1], got[2] = got[2], got[1]
        for i, role in ((1, "dgamma"), (2, "dbeta")):
            if role in self.given:  # --dgamma/--dbeta: read there after the backward
                got[i] = Path.parse(self.given[role]).get(self.layer)
        grads = getattr(self.layer, "grads", None)
        for i, names in (
            (1, ("dgamma", "dweight", "dscale", "gamma")),
            (2, ("dbeta", "dbias", "beta")),
        ):
            for n in names:
                if got[i] is not None:
                    break
                if isinstance(grads, dict) and n in grads:
                    got[i] = grads[n]
                elif n.startswith("d") and getattr(self.layer, n, None) is not None:
                    got[i] = getattr(self.layer, n)
        if got[1] is None or (got[2] is None and self.member.has_beta):
            # one found by its name (dscale), the other not (dshift): the other by behaviour
            found = self._grads_by_behaviour(before, dy, size)
            if found is not None:
                got[1] = got[1] if got[1] is not None else found[0]
                got[2] = got[2] if got[2] is not None else found[1]
        return (
            returned(got[0]),
            self._grad(got[1], self.x_shape, "dgamma"),
            self._grad(got[2], self.x_shape, "dbeta"),
        )

    def _grad_reset_by_behaviour(self, dy: Any) -> str:
        """The layer's no-argument method that zeroes what its backward writes and changes
        nothing else (Caffe's ``clear_param_diffs()``, numpy-ml's ``flush_gradients()``), tried
        on fresh layers after a training step; "" when it has none (a backward that adds into
        its gradients is then its own mistake: nothing a training loop could call resets
        them)."""
        if self.last_x is None:
            return ""
        shape, x = self.x_shape, self.last_x
        size = int(np.prod(self.member.param_shape(shape)))
        backward = self.backward_name
        skip = {backward, self.forward_name, "forward", "backward", "train", "eval"}
        names = [
            n
            for n in dir(self.cls)
            if not n.startswith("_") and n not in skip and not side_effects(n)
        ]
        names.sort(key=lambda n: not any(w in n.lower() for w in RESET_HINTS))
        for name in names[:16]:
            try:
                layer = self._fresh(shape)
                if not callable(getattr(layer, name, None)) or needs_arguments(
                    getattr(layer, name)
                ):
                    continue
                # parameters away from their initial values, so a method that restores them
                # (reset_parameters) is seen to change them
                for role in ("gamma", "beta"):
                    cur = self._layer_value(layer, role)
                    if cur is not None:
                        moved = np.resize([0.25, -0.5, 0.75], cur.size).reshape(cur.shape)
                        self._set(layer, role, cur + moved)
                held = [self._layer_value(layer, r) for r in ("gamma", "beta")]
                xt = self._to_target(x)
                y = self._call(layer, xt, True)
                # what the backward writes, apart from what the forward made (a lazy layer's
                # parameters)
                start = {
                    p: np.array(as_array(v), copy=True) for p, v in leaves(layer, size).items()
                }
                dyt = self._to_target(np.asarray(dy, dtype=np.float64).astype(x.dtype))
                method = getattr(layer, backward)
                args = backward_arguments(method, xt, y, dyt)
                method(*args) if args is not None else call_one(method, dyt)
                after = {p: as_array(v) for p, v in leaves(layer, size).items()}
                batch = {tuple(np.shape(xt)), tuple(np.shape(dyt))}
                written = [
                    p
                    for p, v in after.items()
                    if isinstance(v, np.ndarray)
                    and np.any(v != 0)
                    and (p not in start or not np.array_equal(v, start[p]))
                    and not row_of_batch(layer, p, batch)
                ]
                if not written:
                    return ""
                getattr(layer, name)()
                now = {p: as_array(v) for p, v in leaves(layer, size).items()}
                zeroed = all(
                    p not in now or now[p] is None or not np.any(np.asarray(now[p]) != 0)
                    for p in written
                )
                same = all(
                    h is None or np.array_equal(h, self._layer_value(layer, r))
                    for h, r in zip(held, ("gamma", "beta"), strict=True)
                )
            except Exception:
                continue
            if zeroed and same:
                return name
        return ""

    def _layer_value(self, layer: Any, role: str) -> Any:
        """A copy of ``layer``'s gamma or beta array (:meth:`_where`), None without one."""
        where = self._where(layer, role)
        cur = None if where is None else where.get(layer)
        return np.array(cur, copy=True) if isinstance(cur, np.ndarray) else None

    def _beta_first(self, got: list[Any], dy: Any, method: Any) -> bool:
        """Whether a positional pair of gradients comes beta's first, as the BN layers decide
        it: the first equals the member's Σ dy (dbeta, whatever else the layer computes) and
        the second does not, and the backward's code does not name them gamma's first (a
        value named dgamma holding Σ dy is mislabelled, judged as named)."""
        if self.last_x is None or not self.member.has_beta:
            return False
        _, want_b = _param_grads(self.member, self.last_x, dy, self.eps)
        scale = float(np.max(np.abs(want_b))) + 1e-300

        def is_sum(v: Any) -> bool:
            arr = np.asarray(as_array(v), dtype=np.float64)
            return arr.size == want_b.size and bool(
                np.max(np.abs(arr.reshape(want_b.shape) - want_b)) <= 1e-8 * scale
            )

        try:
            if not is_sum(got[1]) or is_sum(got[2]):
                if is_sum(got[2]) and _listed_order(self.layer) == "beta":
                    self.note(
                        "backward returns the parameters' gradients gamma's first, (dx, "
                        "dgamma, dbeta), while the layer lists its parameters beta's first "
                        "(its own parameter list): an update that pairs the two lists in order "
                        "applies them swapped"
                    )
                return False
        except (TypeError, ValueError):
            return False
        if returned_order(method, ()) == "gamma":
            return False
        self.note(
            "backward returns the parameters' gradients beta's first, (dx, dbeta, dgamma): "
            "checked in that order; a caller expecting (dx, dgamma, dbeta) would apply them "
            "swapped"
        )
        return True

    def _grads_by_behaviour(
        self, before: dict[Path, Any], dy: Any, size: int
    ) -> tuple[Any, Any] | None:
        """dgamma and dbeta among the values of the parameters' size that the backward wrote
        (new or changed; not gamma and beta themselves), told apart by value: dbeta is the
        one closest to the member's Σ dy, dgamma to its Σ dy·x_hat (RMSNorm: one value,
        dgamma). None when the backward wrote none."""
        if self.last_x is None:
            return None
        after = {p: as_array(v) for p, v in leaves(self.layer, size).items()}
        own = {id(self.layer_param(n)) for n in ("gamma", "beta")}
        # rows of an array of x's or dy's shape are never gradients (a net's blob of dy)
        batch = {tuple(np.shape(self.passed_x)), tuple(np.shape(self._to_target(dy)))}
        written = [
            p
            for p, v in after.items()
            if id(v) not in own
            and isinstance(v, np.ndarray)
            and (p not in before or not np.array_equal(v, before[p]))
            and not row_of_batch(self.layer, p, batch)
        ]
        # an array of x's shape holds as many values as a parameter only when N = 1 with
        # no other axis (where dy equals dbeta): taken only when nothing else was written
        narrow = [p for p in written if tuple(np.shape(after[p])) not in batch]
        if len(narrow) >= (2 if self.member.has_beta else 1):
            written = narrow
        if not written:
            return None
        roles = ("gamma", "beta") if self.member.has_beta else ("gamma",)
        placed = [
            [
                g
                for g in written
                if (w := self._where(self.layer, r)) and _grad_place(self.layer, w, g)
            ]
            for r in roles
        ]
        if all(len(p) == 1 for p in placed) and len({str(p[0]) for p in placed}) == len(roles):
            # each beside its parameter (grads[i] beside weights[i], dw beside w, blob.diff
            # beside blob.data): the layer's update pairs them so, whatever their values
            self._found_grads(
                ", ".join(f"d{r} in {p[0].label()}" for r, p in zip(roles, placed, strict=True)),
                "written by backward, each in its parameter's place",
            )
            return after[placed[0][0]], (after[placed[1][0]] if len(roles) == 2 else None)
        want_g, want_b = _param_grads(self.member, self.last_x, dy, self.eps)

        def err(p: Path, want: Any) -> float:
            v = np.asarray(after[p], dtype=np.float64).reshape(want.shape)
            return float(np.max(np.abs(v - want)) / (np.max(np.abs(want)) + 1e-300))

        if not self.member.has_beta:
            best = min(written, key=lambda p: err(p, want_g))
            self._found_grads(f"dgamma in {best.label()}")
            return after[best], None
        if len(written) < 2:
            return None
        g, b = min(
            ((g, b) for g in written for b in written if g != b),
            key=lambda pair: err(pair[0], want_g) + err(pair[1], want_b),
        )
        self._found_grads(f"dgamma in {g.label()}, dbeta in {b.label()}")
        return after[g], after[b]

    def _found_grads(
        self, where: str, how: str = "written by backward, told apart by value"
    ) -> None:
        self.grad_note = where
        text = f"backward(dout) -> dx; {where} (found by behaviour: {how})"
        if text not in self.found:
            self.found.append(text)

    def layer_param(self, role: str) -> Any:
        """The layer's gamma (``role`` "gamma") or beta array, None when it has none."""
        where = self._where(self.layer, role)
        if where is None:
            return None
        cur = where.get(self.layer)
        return cur if isinstance(cur, np.ndarray) else None


class FamilyTorch(FamilyAdapter):
    """torch.nn.LayerNorm / GroupNorm / InstanceNorm*d / RMSNorm with autograd; ``config``:
    the keyword arguments of an instance the user passed (InstanceNorm's momentum and
    track_running_stats), kept for every module made. A module lives until the next ``new``
    while its parameter shape fits."""

    kind = "torch"

    def __init__(self, cls: Any, name: str, config: dict[str, Any] | None = None) -> None:
        super().__init__(name)
        self.cls = cls
        self.config = dict(config or {})
        self.x_t: Any = None
        self.y_t: Any = None
        self.module: Any = None
        self.built_for: tuple[int, ...] = ()
        self.x_shape: tuple[int, ...] = ()
        self.channels = 0
        self.ndim = 2
        cname = cls.__name__
        self.rank = {"InstanceNorm1d": 3, "InstanceNorm2d": 4, "InstanceNorm3d": 5}.get(cname)
        #: for an instance the user passed: what of it is checked (its class, at the checks'
        #: sizes), said in the mapping
        self.instance_note = ""
        #: eval forwards record gradients (False: under torch.no_grad(), :meth:`eval_grad`)
        self.grad_in_eval = True
        #: the parameters ("gamma", "beta") frozen by :meth:`freeze` until the next new()
        self.frozen: frozenset[str] = frozenset()

    def mapping(self) -> list[str]:
        config = dict(self.config, affine=True) if self.rank is not None else self.config
        extra = ", ".join(f"{k}={v!r}" for k, v in config.items())
        return [
            f"torch.nn.{self.cls.__name__}"
            + (f"({extra})" if extra else "")
            + ", gradients by autograd",
            *([self.instance_note] if self.instance_note else []),
        ]

    def new(self, num_features: int, dtype: str, eps: float, ndim: int = 2) -> dict[str, Any]:
        self.channels, self.ndim = int(num_features), int(ndim)
        self.frozen = frozenset()
        return super().new(num_features, dtype, eps, ndim)

    def reset(self) -> None:
        self.module = None
        self.built_for = ()

    def freeze(self, names: Any) -> None:
        """gamma and/or beta frozen as fine-tuning freezes them (``requires_grad_(False)``
        from the next forward on), until the next new(): the backward gives None for their
        gradients."""
        self.frozen = frozenset(str(n) for n in names) & {"gamma", "beta"}

    def _torch_param(self, role: str) -> Any:
        """The module's parameter tensor acting as ``role`` ("gamma" or "beta"), or None."""
        return getattr(self.module, "weight" if role == "gamma" else "bias", None)

    def _frozen_grad(self, role: str) -> Any:
        """The gradient of ``role``'s tensor after a backward (None when it is frozen)."""
        p = None if role in self.frozen else self._torch_param(role)
        return None if p is None else p.grad

    def _build(self, shape: tuple[int, ...]) -> Any:
        m = self.member
        cname = self.cls.__name__
        # an instance's own eps is kept (the checks find it from its outputs), a class is
        # built with verify's
        eps = self.config.get("eps", self.eps)
        config = {k: v for k, v in self.config.items() if k != "eps"}
        if cname == "GroupNorm":
            return self.cls(m.groups if m.kind == "group" else 1, shape[1], eps=eps)
        if cname.startswith("InstanceNorm"):
            if self.rank is not None and len(shape) != self.rank:
                raise ValueError(f"{cname} takes {self.rank}-D input (N, C, ...)")
            return self.cls(shape[1], eps=eps, affine=True, **config)
        return self.cls(m.param_shape(shape), eps=eps)

    def _ensure(self, shape: tuple[int, ...]) -> None:
        import torch

        pshape = self.member.param_shape(shape)
        if self.module is not None and self.built_for == pshape:
            return
        self.module = self._build(shape).to(getattr(torch, self.dtype))
        self.built_for = pshape
        self.set_params(self.gamma, self.beta)

    def set_params(self, gamma: Any, beta: Any) -> None:
        import torch

        super().set_params(gamma, beta)
        if self.module is None:
            return
        with torch.no_grad():
            if gamma is not None and getattr(self.module, "weight", None) is not None:
                self.module.weight.copy_(torch.from_numpy(np.asarray(gamma)))
            if beta is not None and getattr(self.module, "bias", None) is not None:
                self.module.bias.copy_(torch.from_numpy(np.asarray(beta)))

    def forward(self, x: Any, train: bool) -> Any:
        import torch

        self.x_shape = tuple(x.shape)
        self._ensure(self.x_shape)
        self.module.train(train)
        self.module.zero_grad(set_to_none=True)  # as a training loop does before each step
        for role in ("gamma", "beta"):
            p = self._torch_param(role)
            if isinstance(p, torch.Tensor) and p.is_leaf:
                p.requires_grad_(role not in self.frozen)
        record = train or self.grad_in_eval
        self.x_t = torch.from_numpy(np.array(self._to_target(x))).requires_grad_(record)
        with torch.enable_grad() if record else torch.no_grad():
            self.y_t = self.module(self.x_t)
        return np.array(self._from_target(self.y_t.detach().numpy()))

    def eval_grad(self, on: bool) -> None:
        """Eval forwards with gradient recording on (True, the default) or under
        ``torch.no_grad()`` (False), as inference runs them."""
        self.grad_in_eval = bool(on)

    def _tracks(self) -> bool:
        return bool(self.config.get("track_running_stats")) and self.rank is not None

    def find_running(self, ndim: int) -> str:
        return "running_mean, running_var (buffers)" if self._tracks() else ""

    def state(self) -> dict[str, Any]:
        out = super().state()
        if not self._tracks():
            return out
        if self.module is None:
            self._ensure((2, self.channels, *([2] * (self.ndim - 2))))
        mod = self.module
        for key in ("running_mean", "running_var"):
            buf = getattr(mod, key, None)
            out[key] = None if buf is None else buf.detach().numpy().copy()
        out["momentum"] = mod.momentum
        out["eps"] = mod.eps
        out["gamma"] = mod.weight.detach().numpy().copy()
        out["beta"] = mod.bias.detach().numpy().copy()
        return out

    def backward(self, dy: Any) -> tuple[Any, Any, Any]:
        import torch

        self.y_t.backward(torch.from_numpy(np.array(self._to_target(dy))))
        return (
            np.array(self._from_target(self.x_t.grad.numpy())),
            self._grad(self._frozen_grad("gamma"), self.x_shape, "dgamma"),
            self._grad(self._frozen_grad("beta"), self.x_shape, "dbeta"),
        )


class FamilyTorchModule(FamilyTorch):
    """A hand-written ``torch.nn.Module`` normalization (no backward method): built as a
    hand-written layer class is (its constructor's parameter names), its gamma and beta its
    parameters named as the layer's are (weight/scale/gamma/g, bias/beta/shift/b) or else the
    ones that follow the affine law (:meth:`_params_by_behaviour`), gradients by autograd."""

    kind = "torch"
    guessed_build = True

    def __init__(self, cls: Any, name: str) -> None:
        super().__init__(cls, name)
        self.rank = None
        self.built_with = ""
        #: gamma and beta found by behaviour, and the (module, size) they were found for
        self._by_behaviour: dict[str, Any] = {}
        self._by_behaviour_for: tuple[Any, int] = (None, 0)

    #: its running statistics found by behaviour (find_running), else None
    running: tuple[Any, Any] | None = None

    def _tracks(self) -> bool:
        return self.running is not None

    def find_running(self, ndim: int) -> str:
        """Running statistics of a hand-written module (an InstanceNorm written out with
        ``track_running_stats``), by behaviour as a hand-written layer's; its train/eval switch
        is train()/eval()."""
        import torch

        c = 3
        shape = (4, c, *([3, 2, 2][: ndim - 2]))

        def trained(batches: list[np.ndarray]) -> Any:
            module = self._build(shape).to(torch.float64)
            module.train(True)
            with torch.no_grad():
                for x in batches:
                    module(torch.from_numpy(np.array(self._to_target(x))))
            return module

        self.running = running_by_behaviour(trained, shape, c, set())
        if self.running is None:
            return ""
        return f"{self.running[0].label()}, {self.running[1].label()} (found by behaviour)"

    def state(self) -> dict[str, Any]:
        out = FamilyAdapter.state(self)
        groups = getattr(self.module, "num_groups", None)
        if isinstance(groups, int) and not isinstance(groups, bool):
            out["groups"] = groups  # the module's own G for the channels it was built with
        if self.running is None:
            return out
        if self.module is None:
            self._ensure((2, self.channels, *([2] * (self.ndim - 2))))
        mod = self.module
        for key, where in zip(("running_mean", "running_var"), self.running, strict=True):
            value = as_array(where.get(mod)) if where.exists(mod) else None
            out[key] = np.array(value, dtype=np.float64, copy=True) if value is not None else None
        for key, names in (("momentum", P.MOMENTUM_NAMES), ("eps", P.EPS_NAMES)):
            found = P.scalar_attr(mod, names)
            if found:
                out[key] = found[1]
        for role in ("gamma", "beta"):
            param = self._torch_param(role)
            out[role] = None if param is None else param.detach().numpy().copy()
        return out

    def mapping(self) -> list[str]:
        return [
            f"{self.cls.__name__} (a torch.nn.Module): built per member and shape by its "
            "parameter names"
            + (f" (last: {self.built_with})" if self.built_with else "")
            + "; forward(x), gradients by autograd"
        ]

    def _build(self, shape: tuple[int, ...]) -> Any:
        kwargs = build_kwargs(self.cls, self.member, self.eps, shape)
        self.built_with = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        return self.cls(**kwargs)

    def describe(self) -> dict[str, Any]:
        """As any family target's, and whether it has no beta (a weight-only LayerNorm): a
        module built for the member its name claims, on a probe shape, holds no bias."""
        out = super().describe()
        unmapped: list[str] = []
        # a probe of each rank until the module runs on one (an InstanceNorm2d or AdaIN
        # takes 4-D input only) and its gamma or beta is found there
        for shape in ((4, 6), (4, 6, 5), (3, 6, 4, 3)):
            try:
                self.x_shape = shape
                self.module = self._build(shape)
                gamma, beta = self._torch_param("gamma"), self._torch_param("beta")
                if gamma is None and beta is None:
                    if self._runs(shape):
                        unmapped = [n for n, v in self.module.named_parameters() if v.requires_grad]
                    continue
                out["beta_free"] = gamma is not None and beta is None
                unmapped = []
                break
            except Exception:
                continue
            finally:
                self.module, self.x_shape = None, ()
        if unmapped:
            # trainable parameters bncheck can neither name nor set: judging the module with
            # the gamma and beta of its inputs would judge values it never had
            raise LoadError(
                f"{self.name}: the module has trainable parameters ({', '.join(unmapped[:8])})"
                " but none has the parameters' size and a name it knows, or acts as gamma or "
                "beta by the affine law; bncheck cannot set them, so it cannot judge the "
                "module (map it with bncheck.adapt, see the README)"
            )
        if self._by_behaviour:
            out["mapping"] = [
                *out["mapping"],
                "gamma and beta: no parameter has a name it knows; the ones that follow "
                "y = gamma·x̂ + beta (found by behaviour)",
            ]
        if out.get("beta_free"):
            out["mapping"] = [*out["mapping"], "no beta (bias): checked with beta = 0, no dbeta"]
        return out

    def _runs(self, shape: tuple[int, ...]) -> bool:
        """Whether the module built last takes an input of ``shape``."""
        import torch

        try:
            with torch.no_grad():
                self.module(torch.zeros(shape, dtype=torch.float32) + 1.0)
        except Exception:
            return False
        return True

    def _torch_param(self, role: str) -> Any:
        names = (
            ("weight", "scale", "gamma", "g") if role == "gamma" else ("bias", "beta", "shift", "b")
        )
        size = int(np.prod(self.member.param_shape(self.x_shape or (2, self.channels, 2))))
        for n in names:
            value = getattr(self.module, n, None)
            if value is not None and hasattr(value, "grad") and value.numel() == size:
                return value
        found = self._params_by_behaviour(size)
        return found.get(role)

    def _params_by_behaviour(self, size: int) -> dict[str, Any]:
        """gamma and beta among the module's parameters of the parameters' size when none is
        named as the name table knows (``gain``/``offset``, ``alpha``/``delta``, ...), by the
        affine law y = gamma·x̂ + beta: with both at 0, adding 1 to beta adds 1 everywhere
        (whatever offset the scale has, :func:`scale_offset`); a single parameter is gamma
        when it changes y. {} when the law tells none apart (more than two such parameters,
        or none obeys it). Each parameter gets its value back."""
        import torch

        if self.module is None:
            return {}
        # the module itself, not its id: a module rebuilt for another shape may reuse the id
        if self._by_behaviour_for[0] is self.module and self._by_behaviour_for[1] == size:
            return self._by_behaviour
        params = [p for p in self.module.parameters() if p.numel() == size]
        found: dict[str, Any] = {}
        if 1 <= len(params) <= 2:
            saved = [p.detach().clone() for p in params]
            rng = np.random.default_rng(5)
            shape = self.x_shape or (4, size)
            x = torch.from_numpy(rng.normal(1.0, 2.0, size=shape)).to(params[0].dtype)
            try:
                with torch.no_grad():
                    if len(params) == 1:
                        params[0].zero_()
                        y0 = self.module(x)
                        params[0].fill_(1.0)
                        d = self.module(x) - y0  # gamma (+ c) scales; a beta adds 1
                        if d.abs().max() > 0 and not torch.allclose(d, torch.ones_like(d)):
                            found = {"gamma": params[0]}
                    else:
                        for g, b in ((params[0], params[1]), (params[1], params[0])):
                            g.zero_()
                            b.zero_()
                            y0 = self.module(x)
                            b.fill_(1.0)  # beta adds itself, whatever gamma (+ c) scales
                            if torch.allclose(self.module(x) - y0, torch.ones_like(y0)):
                                found = {"gamma": g, "beta": b}
                                break
            except Exception:  # the module refuses the probe: nothing found
                found = {}
            finally:
                with torch.no_grad():
                    for p, v in zip(params, saved, strict=True):
                        p.copy_(v)
        self._by_behaviour_for, self._by_behaviour = (self.module, size), found
        return found

    def set_params(self, gamma: Any, beta: Any) -> None:
        import torch

        FamilyAdapter.set_params(self, gamma, beta)
        if self.module is None:
            return
        if gamma is not None:
            c = self._module_offset(beta is not None)
            gamma = np.asarray(gamma) - c if c else gamma
        with torch.no_grad():
            for role, value in (("gamma", gamma), ("beta", beta)):
                target = self._torch_param(role)
                if value is not None and target is not None:
                    target.copy_(torch.from_numpy(np.asarray(value)).reshape(target.shape))

    def _module_offset(self, with_beta: bool) -> float:
        """c of gamma = parameter + c (:func:`scale_offset`), probed on the module in use on
        a random input of the current shape, its state put back."""
        import torch

        if self._offset_key() in self.offsets:
            return self.offset()
        g = self._torch_param("gamma")
        if g is None:
            return 0.0
        b = self._torch_param("beta") if with_beta else None
        name = next((n for n, p in self.module.named_parameters() if p is g), "weight")
        shape = self.x_shape or (2, g.numel())
        rng = np.random.default_rng(5)
        x = np.array(self._to_target(rng.normal(1.0, 2.0, size=shape)))
        x_t = torch.from_numpy(x).to(g.dtype)
        saved = {k: v.detach().clone() for k, v in self.module.state_dict().items()}

        def run(p: float) -> Any:
            with torch.no_grad():
                g.fill_(p)
                if b is not None:
                    b.zero_()
                return self.module(x_t).detach().numpy().copy()

        try:
            return self._find_offset(run, name)
        finally:
            self.module.load_state_dict(saved)

    def backward(self, dy: Any) -> tuple[Any, Any, Any]:
        import torch

        self.y_t.backward(torch.from_numpy(np.array(self._to_target(dy))))
        return (
            np.array(self._from_target(self.x_t.grad.numpy())),
            self._grad(self._frozen_grad("gamma"), self.x_shape, "dgamma"),
            self._grad(self._frozen_grad("beta"), self.x_shape, "dbeta"),
        )


_TORCH = ("LayerNorm", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "RMSNorm")


def _torch_module_class(obj: Any) -> bool:
    """Whether ``obj`` is a subclass of ``torch.nn.Module`` (torch already imported by the
    target), not one of torch's own family classes."""
    import sys

    torch = sys.modules.get("torch")
    module = getattr(obj, "__module__", "") or ""
    return (
        torch is not None
        and isinstance(obj, type)
        and issubclass(obj, torch.nn.Module)
        and not (module.startswith("torch") and obj.__name__ in _TORCH)
    )


def family_adapter(
    obj: Any,
    attr: str | None,
    name: str,
    stated: bool = False,
    given: dict[str, str] | None = None,
) -> FamilyAdapter | None:
    """The family adapter for a loaded target (a module with ``attr`` the prefix or name, or
    an object), or None when it is not a family target in a form this module drives.
    ``stated``: the member was stated (--norm), so a module's one functional pair whose names
    say nothing (``forward``/``backward``, ``op_forward``/``op_backward``) is taken too.
    ``given``: the user's ``--forward``/``--backward`` method names, a class's methods then."""
    import types

    from bncheck.check._verify.targets.frameworks.family_jax import jax_family_adapter

    if not isinstance(obj, types.ModuleType):
        found = jax_family_adapter(obj, name)  # Flax linen, Keras
        if found is not None:
            return found
    if isinstance(obj, types.ModuleType):
        if attr is not None and not family_functions(obj, attr):
            if not hasattr(obj, attr):
                return None
            return family_adapter(getattr(obj, attr), None, name, stated, given)
        pairs = family_functions(obj, attr)
        if not pairs and stated and attr is None:
            pairs = _plain_pairs(obj)
            if len(pairs) != 1:  # none, or several: which one is a guess (name it)
                return None
        if not pairs and attr is None:
            # no functions: the module's one class whose name says it is a sibling
            classes = [
                (n, v)
                for n, v in vars(obj).items()
                if isinstance(v, type)
                and v.__module__ == obj.__name__
                and claimed_kind(n) not in (None, "batch")
            ]
            if len(classes) == 1:
                cls_name, cls = classes[0]
                return family_adapter(cls, None, f"{name}:{cls_name}", stated, given)
        if not pairs:
            return None
        f, b = pairs[0]
        return FamilyFunctional(getattr(obj, f), getattr(obj, b), name)
    if isinstance(obj, type):
        module = getattr(obj, "__module__", "") or ""
        if module.startswith("torch") and obj.__name__ in _TORCH:
            return FamilyTorch(obj, name)
        # a forward named forward, a __call__ of the class or of a base class of its own
        # (Sonnet 1's AbstractModule.__call__ -> _build), or Lasagne's get_output_for
        named = given or {}
        for role in ("forward", "backward"):
            if role in named and not callable(getattr(obj, named[role], None)):
                raise LoadError(
                    f"--{role} {named[role]!r}: {obj.__name__} has no method of that name"
                )
        if (named.get("forward") or family_forward_name(obj)) and (
            named.get("backward") or family_backward_name(obj)
        ):
            layer = FamilyLayer(obj, name)
            layer.forward_name = named.get("forward") or layer.forward_name
            layer.backward_name = named.get("backward") or layer.backward_name
            return layer
        if _torch_module_class(obj):
            return FamilyTorchModule(obj, name)
        return None
    cls = type(obj)
    if (getattr(cls, "__module__", "") or "").startswith("torch") and cls.__name__ in _TORCH:
        # an instance: its configuration (InstanceNorm's momentum, track_running_stats)
        config: dict[str, Any] = {}
        if cls.__name__.startswith("InstanceNorm"):
            config = {
                "momentum": obj.momentum,
                "track_running_stats": bool(obj.track_running_stats),
            }
        if isinstance(getattr(obj, "eps", None), float):
            config["eps"] = obj.eps  # the instance's own, as configured
        adapter = FamilyTorch(cls, name, config)
        shown = {
            k: getattr(obj, k)
            for k in ("num_groups", "num_channels", "normalized_shape", "num_features")
            if isinstance(getattr(obj, k, None), (int, tuple))
        }
        if shown:
            adapter.instance_note = (
                f"an instance ({', '.join(f'{k}={v!r}' for k, v in shown.items())}): PyTorch's "
                f"{cls.__name__} is checked as the class, built afresh for each case's channel "
                "count with the instance's own eps and options (the sizes above are the "
                "instance's, not those of the inputs checked)"
            )
        return adapter
    if isinstance(obj, tuple) and len(obj) == 2 and all(callable(f) for f in obj):
        return FamilyFunctional(obj[0], obj[1], name)
    if inspect.isfunction(obj) and _torch_module_factory(obj):
        return FamilyTorchModule(obj, name)
    return None


def _torch_module_factory(fn: Any) -> bool:
    """Whether ``fn`` is a factory of a torch module of the family: one required argument
    (the channel or feature count), and called with 6 it returns a ``torch.nn.Module``
    (UNets' ``make_norm(C) -> nn.GroupNorm(min(32, C // 4), C)``)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    required = [
        p
        for p in params
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(required) != 1:
        return False
    try:
        made = fn(6)
    except Exception:
        return False
    # a module of the family by its class (torch's own, or one whose name says which): a
    # factory of anything else (a BN, a Sequential) is not the family's to drive
    cls = type(made)
    own = (getattr(cls, "__module__", "") or "").startswith("torch") and cls.__name__ in _TORCH
    return isinstance(made, torch.nn.Module) and (
        own or claimed_kind(cls.__name__) not in (None, "batch")
    )


def _plain_pairs(module: Any) -> list[tuple[str, str]]:
    """The functional pairs of a module whose names say nothing of a member: ``forward`` /
    ``backward`` and every ``X_forward`` / ``X_backward`` of functions defined in it."""
    own = {
        n
        for n, v in vars(module).items()
        if inspect.isfunction(v) and getattr(v, "__module__", None) == module.__name__
    }
    out = [("forward", "backward")] if {"forward", "backward"} <= own else []
    for n in sorted(own):
        if n.endswith("_forward") and f"{n[: -len('_forward')]}_backward" in own:
            out.append((n, f"{n[: -len('_forward')]}_backward"))
    return out


#: the module base classes of frameworks whose hand-written family modules are not driven
_FRAMEWORK_BASES = (
    ("keras.layers", "Layer", "Keras layer"),
    ("flax.linen", "Module", "Flax linen module"),
    ("flax.nnx", "Module", "Flax NNX module"),
    ("equinox", "Module", "Equinox module"),
    ("haiku", "Module", "Haiku module"),
)


def _hand_written_framework_module(obj: Any) -> str:
    """Which framework's module class ``obj`` (a class or an instance) derives from, among
    those already imported ("" when none): said when such a target is refused."""
    cls = obj if isinstance(obj, type) else type(obj)
    for module_name, base_name, said in _FRAMEWORK_BASES:
        module = sys.modules.get(module_name)
        base = getattr(module, base_name, None) if module is not None else None
        if isinstance(base, type) and issubclass(cls, base):
            return said
    return ""


def load_family(
    target: Any, norm: str | None = None, axis: int = 1, mapping: dict[str, str] | None = None
) -> FamilyAdapter:
    """Load ``target`` (a spec string or object) as a family target (in the worker process);
    ``norm``: the member stated with --norm, else the one its name claims, else layer norm
    until the parent's fit says otherwise; ``axis`` -1: the target takes channels last (a
    function, a hand-written layer or torch module: x and dy handed over with the channel
    axis moved last; torch's own norms take channels first and refuse it; the Flax and Keras
    classes are given the layout they take whatever it says). ``mapping``: the user's
    ``--build``, and for a hand-written layer class ``--forward``/``--backward`` (method
    names), ``--gamma``/``--beta`` (where its forward reads them) and ``--dgamma``/``--dbeta``
    (where its backward leaves them); any other mapping, or one given for a target that is no
    layer class, is a usage error naming it (never ignored)."""
    from bncheck.check._verify.targets.dispatch import resolve

    given = dict(mapping or {})
    build = given.pop("build", "")
    unused = sorted(set(given) - set(_FAMILY_MAPPING))
    if unused:
        raise LoadError(
            f"--{unused[0].replace('_', '-')} given for {target!r}, a layer, group, instance "
            "or RMS normalization target: bncheck finds its running statistics and train/eval "
            "switch by behaviour and takes no mapping of them; drop it (mappings it takes: "
            + ", ".join("--" + k for k in _FAMILY_MAPPING)
            + ", --build)"
        )

    if isinstance(target, str):
        from bncheck.check._verify.targets.frameworks import prepare_target

        prepare_target(target)  # KERAS_BACKEND before Keras is imported; a missing framework
        obj, attr = resolve(target)
        name = target
    else:
        obj, attr = target, None
        name = getattr(target, "__name__", type(target).__name__)
    adapter = family_adapter(obj, attr, name, stated=norm is not None, given=given)
    if adapter is None:
        own = _hand_written_framework_module(getattr(obj, attr, obj) if attr is not None else obj)
        why = ""
        if own:
            why = (
                f": it is a hand-written {own} (a subclass of the framework's module class, not "
                "one of its own normalizations), and bncheck drives hand-written family "
                "modules of PyTorch only; verify it through a functional pair around it, "
                "name_forward(x, gamma, beta) -> (y, cache) and name_backward(dout, cache) "
                "(gradients by the framework's autodiff, e.g. jax.vjp), or map it with "
                "bncheck.adapt"
            )
        raise LoadError(
            f"{name!r}: no normalization target found (expected *norm_forward/*norm_backward "
            "(or _fwd/_bwd) functions, a layer class with forward and backward, a torch.nn, "
            "flax.linen or Keras norm class, or a hand-written torch.nn.Module)" + why
        )
    if axis == -1:
        if adapter.hand_written or isinstance(
            adapter, (FamilyFunctional, FamilyLayer, FamilyTorchModule)
        ):
            adapter.channels_last = True
        elif isinstance(adapter, FamilyTorch):
            raise LoadError(
                f"--axis -1 (channels last) given for torch.nn.{adapter.cls.__name__}, which "
                "takes channels first, (N, C, ...); drop --axis"
            )
    if build:
        if not isinstance(adapter, FamilyLayer):
            raise LoadError(f"--build {build!r} given for {name!r}, which is no layer class")
        adapter.build_text = build
    if given:
        if not isinstance(adapter, FamilyLayer):
            key = sorted(given)[0]
            raise LoadError(
                f"--{key} {given[key]!r} given for {name!r}, which is no hand-written layer "
                "class (a function pair's arguments and a framework's parameters are found "
                "by their names); drop it"
            )
        adapter.given = given
    if adapter.claim is None and isinstance(adapter, FamilyFunctional):
        adapter.claim = claimed_kind(adapter.fwd.__name__)
    if norm is not None:
        adapter.member = Member.parse(norm)
    elif adapter.claim is not None:
        adapter.member = Member(adapter.claim, groups=2 if adapter.claim == "group" else 0)
    return adapter
