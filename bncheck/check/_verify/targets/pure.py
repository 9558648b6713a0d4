"""Functional BNs in any calling form, with the state kept by the caller (run inside the worker
process).

Function BNs are written in many shapes: ``f(x, gamma, beta, eps)``, JAX's ``f(params, x)``,
Haiku's ``apply(params, state, x, train=) -> (y, new_state, residuals)`` with
``vjp(params, residuals, dy) -> (dx, grads)``, the textbook ``batch_norm(X, gamma, beta,
moving_mean, moving_var, eps, momentum, is_training) -> (Y, new_mean, new_var, cache)``. This
adapter binds each parameter of the forward and the backward to a role (x, gamma, beta, a
parameter record, a state record, the running mean and variance, eps, the mode), names ordering
the candidates, and keeps a form only when a call on a probe batch behaves as a BN in it: the
output has x's shape and follows gamma and beta by the affine law. Where the forward returns a
new state, it is fed back at the next call, as the caller of such a function does. A form that
no call confirms is not guessed: :class:`LoadError` lists what was tried.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from bncheck.check._verify.targets.common import (
    DX_KEYS,
    Y_KEYS,
    Contract,
    as_array,
    from_dict,
    infer_eps,
    jax_x64,
    probe_x,
    raised_text,
    returned,
)
from bncheck.check._verify.targets.layout import string_constants
from bncheck.check._verify.targets.names import EVAL_STRINGS
from bncheck.check._verify.targets.values import Path, c_values, leaves
from bncheck.exceptions import LoadError

__all__ = ["PureAdapter", "discover", "role_of"]

#: parameter names -> role; the names order the search, a probe call decides
ROLES: dict[str, tuple[str, ...]] = {
    "x": ("x", "X", "inputs", "input", "inp", "data", "z", "h", "a", "act", "features", "xs"),
    "gamma": ("gamma", "weight", "scale", "g", "w", "gain", "gamma_", "alpha"),
    "beta": ("beta", "bias", "shift", "offset", "b", "beta_"),
    "params": ("params", "param", "parameters", "p", "variables", "weights", "theta", "affine"),
    "state": ("state", "stats", "batch_stats", "buffers", "bn_state", "running", "memory"),
    "running_mean": (
        "running_mean",
        "moving_mean",
        "mean",
        "pop_mean",
        "avg_mean",
        "mu",
        "running_mu",
        "ema_mean",
        "rm",
        "mov_mean",
    ),
    "running_var": (
        "running_var",
        "moving_var",
        "var",
        "pop_var",
        "avg_var",
        "sigma2",
        "running_variance",
        "moving_variance",
        "variance",
        "ema_var",
        "rv",
        "mov_var",
    ),
    "eps": ("eps", "epsilon", "variance_epsilon"),
    "bn_param": ("bn_param", "bn_params", "config", "cfg", "options", "opts", "hparams"),
}
MODE_TRUE = (
    "train",
    "training",
    "is_training",
    "train_mode",
    "is_train",
    "train_flag",
    "update_stats",
    "use_batch_stats",
    "mutable",
    "train_flg",
    "phase_train",
    "batch_stat",
    "use_batch_stat",
)
MODE_FALSE = (
    "eval",
    "is_eval",
    "inference",
    "test",
    "is_test",
    "deterministic",
    "use_running_average",
    "use_running_stats",
    "frozen",
    "predict",
)
MODE_STRING = ("mode", "phase", "stage")
DY = (
    "dy",
    "dout",
    "dY",
    "grad",
    "grad_out",
    "grad_output",
    "g",
    "delta",
    "dz",
    "ct",
    "cotangent",
    "upstream",
    "d_out",
    "dy_",
    "grad_y",
    "gy",
    "dL_dy",
    "dldy",
    "top_diff",
)
CACHE = (
    "cache",
    "res",
    "residuals",
    "ctx",
    "saved",
    "tape",
    "aux",
    "stash",
    "intermediates",
    "mem",
    "memory",
    "saved_tensors",
)
INIT = (
    "init",
    "initialize",
    "init_params",
    "init_state",
    "make_params",
    "create",
    "setup",
    "new",
    "build",
    "make",
)


def _signature(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return []


def role_of(name: str) -> str | None:
    for role, names in ROLES.items():
        if name in names or name.lower() in names:
            return role
    if name in MODE_TRUE or name.lower() in MODE_TRUE:
        return "mode"
    if name in MODE_FALSE or name.lower() in MODE_FALSE:
        return "mode-inverted"
    if name.lower() in MODE_STRING:
        return "mode-string"
    return None


def _replace(root: Any, steps: tuple[Any, ...], value: Any) -> Any:
    """``root`` with the value at ``steps`` replaced, without changing ``root`` (frozen
    dataclasses, named tuples, tuples, dicts and objects are rebuilt along the path)."""
    if not steps:
        return value
    head, rest = steps[0], steps[1:]
    child = Path((head,)).get(root)
    new_child = _replace(child, rest, value)
    if isinstance(root, dict):
        out = dict(root)
        out[head if head in root or not isinstance(head, int) else str(head)] = new_child
        return out
    if isinstance(root, list):
        out_list = list(root)
        out_list[head] = new_child
        return out_list
    if isinstance(root, tuple):
        items = list(root)
        items[head] = new_child
        return type(root)(*items) if hasattr(root, "_fields") else tuple(items)
    if dataclasses.is_dataclass(root) and not isinstance(root, type):
        return dataclasses.replace(root, **{head: new_child})
    clone = copy.copy(root)
    setattr(clone, head, new_child)
    return clone


def _shaped_like(value: Any, old: Any, dtype: Any) -> Any:
    new = np.asarray(value, dtype=dtype)
    old_arr = np.asarray(as_array(old)) if old is not None else None
    if old_arr is not None and old_arr.size == new.size:
        new = new.reshape(old_arr.shape)
    return new


def _first_shaped(items: list[Any], shape: tuple[int, ...]) -> int | None:
    for i, item in enumerate(items):
        arr = as_array(item)
        if isinstance(arr, np.ndarray) and arr.shape == shape:
            return i
    return None


class Form:
    """One way of calling the forward: each parameter's role, and the records it needs."""

    def __init__(self, fn: Callable[..., Any], roles: dict[str, str], how: str) -> None:
        self.fn, self.roles, self.how = fn, roles, how
        self.params_kind: Any = None  # how a parameter record is built (a key pair or "tuple")
        self.mode_values: tuple[Any, Any] = (True, False)

    def needs(self, role: str) -> bool:
        return role in self.roles.values()

    def without(self, role: str) -> Form:
        """The same form with ``role`` left to its default (not passed)."""
        out = Form(self.fn, {k: r for k, r in self.roles.items() if r != role}, self.how)
        out.params_kind, out.mode_values = self.params_kind, self.mode_values
        return out

    def describe(self, name: str) -> str:
        parts = []
        for pname, role in self.roles.items():
            if role == "mode":
                parts.append(f"{pname}={self.mode_values[0]!r}|{self.mode_values[1]!r}")
            else:
                parts.append(f"{pname}=<{role}>" if pname != role else pname)
        return f"{name}({', '.join(parts)})"


def _forms(fn: Callable[..., Any]) -> list[Form]:
    """The ways to call ``fn``: its parameters bound by name, then positional fallbacks."""
    params = _signature(fn)
    out: list[Form] = []
    roles: dict[str, str] = {}
    unnamed: list[str] = []  # required parameters whose names say nothing
    for i, p in enumerate(params):
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        role = role_of(p.name)
        if role in ("mode-inverted", "mode-string"):
            roles[p.name] = role
            continue
        if role is None and i == 0:
            role = "x"
        if role is None:
            if p.default is inspect.Parameter.empty:
                unnamed.append(p.name)
            continue
        if role in ("eps",) and p.default is not inspect.Parameter.empty:
            roles[p.name] = role
            continue
        roles[p.name] = role
    running = {"running_mean", "running_var"}
    if len(unnamed) == 1 and len(running & set(roles.values())) == 1:
        # one running statistic named, one required parameter unnamed: the other statistic
        (roles[unnamed.pop()],) = running - set(roles.values())
    ok = not unnamed
    bound = set(roles.values())
    if ok and "x" in bound and ({"gamma", "beta"} <= bound or bound & {"params", "bn_param"}):
        out.append(Form(fn, roles, "by parameter names"))
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    names = [p.name for p in positional]
    for pattern in (
        ("x", "gamma", "beta", "eps"),
        ("x", "gamma", "beta"),
        ("params", "x"),
        ("x", "params"),
        ("params", "state", "x"),
        ("x", "gamma", "beta", "bn_param"),
    ):
        if len(names) < len(pattern):
            continue
        required = [p for p in positional[len(pattern) :] if p.default is inspect.Parameter.empty]
        if required:
            continue
        extra = {
            p.name: r
            for p in params
            if p.kind == p.KEYWORD_ONLY
            and (r := role_of(p.name)) in ("mode", "mode-inverted", "mode-string")
        }
        form = Form(fn, {**dict(zip(names, pattern, strict=False)), **extra}, "by position")
        if all(f.roles != form.roles for f in out):
            out.append(form)
    return out


class PureAdapter:
    """A functional BN driven in the form :func:`discover` confirmed."""

    kind = "functional"

    def __init__(
        self,
        form: Form,
        backward: Callable[[dict[str, Any]], Any],
        name: str,
        init: Callable[[int, Any], Any] | None,
        mapping: list[str],
    ) -> None:
        self.form, self.bwd, self.name, self.init = form, backward, name, init
        self.mapping = mapping
        self.contracts = Contract()
        self.gamma_path: Path | None = None
        self.beta_path: Path | None = None
        self.params: Any = None
        self.state_obj: Any = None
        #: the state the last train-mode forward ran with (a backward that recomputes from
        #: its inputs takes it)
        self.state_used: Any = None
        self.running: list[Any] = []
        #: whether the forward returns its new running statistics (else it updates the
        #: arrays passed in, in place)
        self.running_returned = False
        self.state_paths: tuple[Path, Path] | None = None
        self.cache: Any = None
        self.eps = 1e-5
        self.eps_inferred: float | None = None
        self.momentum: Any = None
        self.dtype: Any = np.float64
        self.c = 3
        self.last_x: Any = None
        self.wanted: tuple[int, ...] = (2, 4)
        self.has_mode = any(r.startswith("mode") or r == "bn_param" for r in form.roles.values())
        roles = list(form.roles.values())
        #: the forward takes beta before gamma (``bn_forward(x, beta, gamma)``) and the backward
        #: does not take them itself: it returns their gradients in the forward's order, (dx,
        #: dbeta, dgamma), as a vector-Jacobian product does (a backward taking them returns
        #: them in its own inputs' order: ``_backward_callers``)
        self.beta_first = (
            {"gamma", "beta"} <= set(roles)
            and roles.index("beta") < roles.index("gamma")
            and not getattr(backward, "takes_params", False)
        )

    # -- records -------------------------------------------------------------------------------

    def _records(self, c: int, dtype: Any) -> None:
        self.c, self.dtype = c, np.dtype(dtype)
        self.params, self.state_obj = None, None
        if self.init is not None:
            made = self.init(c, self.dtype)
            items = (
                list(made) if isinstance(made, (tuple, list)) and len(made) in (2, 3) else [made]
            )
            if self.form.needs("params"):
                self.params = items[0]
            if self.form.needs("state"):
                self.state_obj = items[1] if len(items) > 1 else None
        if self.form.needs("params") and self.params is None:
            kind = self.form.params_kind or ("gamma", "beta")
            ones, zeros = np.ones(c, self.dtype), np.zeros(c, self.dtype)
            self.params = (ones, zeros) if kind == "tuple" else {kind[0]: ones, kind[1]: zeros}
        if self.form.needs("running_mean"):
            self.running = [np.zeros(c, self.dtype), np.ones(c, self.dtype)]
        self.gamma = np.ones(c, self.dtype)
        self.beta = np.zeros(c, self.dtype)
        if self.params is not None and self.gamma_path is not None and self.beta_path is not None:
            self.params = self._cast_record(self.params)
        if self.state_obj is not None:
            self.state_obj = self._cast_record(self.state_obj)
        self.bn_param: dict[str, Any] = {"mode": "train", "eps": self.eps, "momentum": 0.9}

    def _cast_record(self, record: Any) -> Any:
        for path, value in leaves(record, self.c).items():
            arr = np.asarray(as_array(value))
            if arr.dtype != self.dtype and arr.dtype.kind == "f":
                record = _replace(record, path.steps, arr.astype(self.dtype))
        return record

    # -- calls ---------------------------------------------------------------------------------

    def _call(self, x: Any, train: bool) -> list[Any]:
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        params = _signature(self.form.fn)
        by_name = {p.name: p for p in params}
        for pname, role in self.form.roles.items():
            value: Any
            if role == "x":
                value = x
            elif role == "gamma":
                value = self.gamma
            elif role == "beta":
                value = self.beta
            elif role == "params":
                value = self.params
            elif role == "state":
                value = self.state_obj
            elif role == "running_mean":
                value = self.running[0]
            elif role == "running_var":
                value = self.running[1]
            elif role == "eps":
                value = self.eps
            elif role == "bn_param":
                self.bn_param["mode"] = "train" if train else "test"
                value = self.bn_param
            elif role == "mode":
                value = self.form.mode_values[0] if train else self.form.mode_values[1]
            elif role == "mode-inverted":
                value = not train
            elif role == "mode-string":
                value = self.form.mode_values[0] if train else self.form.mode_values[1]
            else:
                continue
            p = by_name.get(pname)
            if p is not None and p.kind == p.KEYWORD_ONLY:
                kwargs[pname] = value
            elif p is not None and p.kind == p.POSITIONAL_ONLY:
                args.append(value)
            else:
                kwargs[pname] = value
        out = self.form.fn(*args, **kwargs)
        as_items = from_dict(out, np.shape(x), Y_KEYS)
        if as_items is not None:
            return as_items
        return list(out) if isinstance(out, (tuple, list)) else [out]

    def _run(self, x: Any, train: bool) -> Any:
        """Call the forward; keep its new state and cache as its caller would."""
        state_used = self.state_obj
        items = self._call(x, train)
        i = _first_shaped(items, x.shape)
        if i is None:
            raise TypeError(
                f"the forward returned {[type(v).__name__ for v in items]}; none has x's shape "
                f"{x.shape}"
            )
        y = items[i]
        rest = items[:i] + items[i + 1 :]
        if self.form.needs("state") and self.state_obj is not None:
            same = [k for k, v in enumerate(rest) if type(v) is type(self.state_obj)]
            if same:
                self.state_obj = rest.pop(same[0])
        elif self.form.needs("running_mean"):
            c_items = [k for k, v in enumerate(rest) if c_values(v, self.c)]
            if len(c_items) >= 2:
                new = [rest[k] for k in c_items[:2]]
                rest = [v for k, v in enumerate(rest) if k not in c_items[:2]]
                self.running = [np.asarray(as_array(v)) for v in new]
                self.running_returned = True
        if train:
            self.cache = rest[0] if len(rest) == 1 else tuple(rest) if rest else None
            self.state_used = state_used
        return y

    def _grads(self, out: Any, shape: tuple[int, ...]) -> tuple[Any, Any, Any]:
        items = from_dict(out, shape, DX_KEYS)
        if items is None:
            items = list(out) if isinstance(out, (tuple, list)) else [out]
        i = _first_shaped(items, shape)
        dx = returned(items[i]) if i is not None else None
        rest = items[:i] + items[i + 1 :] if i is not None else items
        if len(rest) == 1 and isinstance(rest[0], (tuple, list)) and len(rest[0]) == 2:
            rest = list(rest[0])
        if len(rest) >= 2 and all(c_values(v, self.c) for v in rest[:2]):
            if self.beta_first:
                return dx, returned(rest[1]), returned(rest[0])
            return dx, returned(rest[0]), returned(rest[1])
        if len(rest) == 1 and rest[0] is not None:
            record = rest[0]
            if self.gamma_path is not None and self.beta_path is not None:
                dg, db = self.gamma_path.get(record), self.beta_path.get(record)
                if dg is not None and db is not None:
                    return dx, returned(dg), returned(db)
            for g, b in (
                ("dgamma", "dbeta"),
                ("gamma", "beta"),
                ("weight", "bias"),
                ("scale", "bias"),
                ("scale", "offset"),
            ):
                pg, pb = Path((g,)), Path((b,))
                if pg.exists(record) and pb.exists(record):
                    return dx, as_array(pg.get(record)), as_array(pb.get(record))
        raise TypeError(
            "the backward returned "
            f"{[type(v).__name__ for v in items]}; expected dx and the gradients of gamma and "
            "beta"
        )

    # -- the protocol --------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        running = (
            bool(self.state_paths) or self.form.needs("running_mean") or self.form.needs("bn_param")
        )
        return {
            "kind": self.kind,
            "name": self.name,
            "running": running and self.has_mode,
            "mode_switch": self.has_mode,
            "running_found": running,
            "mapping": list(self.mapping),
            "probe": True,
            # JAX compiles each operation per shape and dtype: the search reuses shapes
            "compiles_per_shape": "jax" in sys.modules,
        }

    def probe(self) -> dict[str, Any]:
        ranks, errors = [], {}
        for ndim in (2, 3, 4, 5):
            x = probe_x(3, ndim)
            try:
                self.new(3, "float64", 1e-5, ndim)
                y = self.forward(x, True)
                if np.shape(y) != x.shape:
                    raise ValueError(f"the output has shape {np.shape(y)} for a {ndim}-D input")
                ranks.append(ndim)
            except Exception as exc:
                errors[str(ndim)] = raised_text(exc)
        found: dict[str, Any] = {"ndims": ranks, "rank_errors": errors} if ranks else {}
        if not self.form.needs("eps") and not self.form.needs("bn_param"):

            def run(x: Any, g: Any, b: Any) -> Any:
                self.new(3, "float64", 1e-5, x.ndim)
                self.set_params(g, b)
                return self.forward(x, True)

            self.eps_inferred = infer_eps(run, 3, ranks[0] if ranks else 2)
            if self.eps_inferred is not None:
                found["mapping"] = [f"eps: not a parameter; {self.eps_inferred:g}, inferred"]
        return found

    def new(self, num_features: int, dtype: str, eps: float, ndim: int = 2) -> dict[str, Any]:
        self.eps = eps
        jax_x64(dtype)
        self._records(num_features, dtype)
        self.cache = None
        return self.state()

    def set_params(self, gamma: Any, beta: Any) -> None:
        gamma, beta = np.array(gamma, copy=True), np.array(beta, copy=True)
        kind = self.form.params_kind
        if self.form.needs("params") and self.gamma_path is None and kind is not None:
            self.params = (gamma, beta) if kind == "tuple" else {kind[0]: gamma, kind[1]: beta}
        if self.params is not None and self.gamma_path is not None and self.beta_path is not None:
            old_g, old_b = self.gamma_path.get(self.params), self.beta_path.get(self.params)
            params = _replace(
                self.params, self.gamma_path.steps, _shaped_like(gamma, old_g, gamma.dtype)
            )
            self.params = _replace(
                params, self.beta_path.steps, _shaped_like(beta, old_b, beta.dtype)
            )
        self.gamma, self.beta = gamma, beta

    def forward(self, x: Any, train: bool) -> Any:
        if not train and not self.has_mode:
            raise NotImplementedError("the function has no eval mode")
        self.last_x = x
        return returned(self._run(x, train))

    def backward(self, dy: Any) -> tuple[Any, Any, Any]:
        ctx = {
            "dy": dy,
            "cache": self.cache,
            "params": self.params,
            "gamma": self.gamma,
            "beta": self.beta,
            "x": self.last_x,
            "state": self.state_used,
            "eps": self.eps,
            "running_mean": self.running[0] if self.running else None,
            "running_var": self.running[1] if len(self.running) > 1 else None,
        }
        dx, dg, db = self._grads(self.bwd(ctx), dy.shape)
        c = dy.shape[1]
        return (
            dx,
            self.contracts.per_channel(dg, c, "dgamma"),
            self.contracts.per_channel(db, c, "dbeta"),
        )

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = {"gamma": self.gamma, "beta": self.beta}
        eps = (
            self.eps
            if (self.form.needs("eps") or self.form.needs("bn_param"))
            else (self.eps_inferred or self.eps)
        )
        out["eps"] = eps
        if self.form.needs("running_mean"):
            out["running_mean"], out["running_var"] = (as_array(v) for v in self.running)
        elif self.state_paths is not None and self.state_obj is not None:
            out["running_mean"] = self.contracts.per_channel(
                as_array(self.state_paths[0].get(self.state_obj)), self.c, "running mean"
            )
            out["running_var"] = self.contracts.per_channel(
                as_array(self.state_paths[1].get(self.state_obj)), self.c, "running variance"
            )
        elif self.form.needs("bn_param"):
            out["running_mean"] = self.bn_param.get("running_mean")
            out["running_var"] = self.bn_param.get("running_var")
            out["momentum"] = self.bn_param.get("momentum")
        if self.momentum is not None:
            out["momentum"] = self.momentum
        return out

    def stash(self) -> None:
        """Keep the last forward's cache aside, with the x and state it ran with (what a
        backward that recomputes from its inputs takes) (the older-cache check)."""
        self.stashed = (self.cache, self.last_x, self.state_used)

    def unstash(self) -> None:
        """Bring back what :meth:`stash` kept."""
        self.cache, self.last_x, self.state_used = self.stashed

    def contract(self) -> list[str]:
        return list(self.contracts.seen)

    def variant(self, name: str) -> None:
        raise ValueError(f"no backward variant {name!r}")

    def watched(self) -> dict[str, Any]:
        return {"gamma": self.gamma, "beta": self.beta, "x (of the last forward)": self.last_x}


# -- discovery -----------------------------------------------------------------------------------


def _backward_callers(bwd: Callable[..., Any]) -> list[tuple[str, Callable[..., Any]]]:
    """Ways to call the backward with what its caller holds (``ctx``: dy, the forward's cache,
    params, gamma, beta, the forward's x and state, eps): by its parameter names (a cache, or
    the forward's inputs for a backward that recomputes from them, e.g. JAX-style
    ``vjp(params, state, x, dy)``), or positionally as the common forms are written."""
    params = [p for p in _signature(bwd) if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    names = [p.name for p in params]
    out: list[tuple[str, Callable[..., Any]]] = []
    roles = {}
    for p in params:
        role = role_of(p.name)
        if p.name in DY or p.name.lower() in DY:
            roles[p.name] = "dy"
        elif p.name in CACHE or p.name.lower() in CACHE:
            roles[p.name] = "cache"
        elif role in (
            "params",
            "gamma",
            "beta",
            "x",
            "state",
            "eps",
            "running_mean",
            "running_var",
        ):
            roles[p.name] = role
        elif p.default is inspect.Parameter.empty:
            roles = {}
            break
    taken = set(roles.values())
    if "dy" in taken and ("cache" in taken or "x" in taken):
        order = list(roles.values())
        # a backward taking beta before gamma returns their gradients in that order, as it
        # returns every gradient in the order of its inputs: (dx, dbeta, dgamma)
        swap = {"gamma", "beta"} <= taken and order.index("beta") < order.index("gamma")

        def by_name(ctx: dict[str, Any], roles: Any = roles, swap: bool = swap) -> Any:
            got = bwd(**{k: ctx[r] for k, r in roles.items()})
            if swap and isinstance(got, (tuple, list)) and len(got) == 3:
                return (got[0], got[2], got[1])
            return got

        # a backward that recomputes from the inputs and takes no eps uses its own: the
        # forward is then called with its default eps too (inferred from its outputs)
        by_name.fixed_eps = "cache" not in taken and "eps" not in taken  # type: ignore[attr-defined]
        by_name.takes_params = {"gamma", "beta"} <= taken  # type: ignore[attr-defined]
        returns = " -> (dx, dbeta, dgamma), in the order of its inputs" if swap else ""
        out.append(
            (f"{getattr(bwd, '__name__', 'backward')}({', '.join(roles)}){returns}", by_name)
        )
    label = getattr(bwd, "__name__", "backward")
    if len(names) >= 2:
        out.append((f"{label}(dy, cache)", lambda ctx: bwd(ctx["dy"], ctx["cache"])))
        out.append((f"{label}(cache, dy)", lambda ctx: bwd(ctx["cache"], ctx["dy"])))
    if len(names) >= 3:
        out.append(
            (f"{label}(params, cache, dy)", lambda ctx: bwd(ctx["params"], ctx["cache"], ctx["dy"]))
        )
    return out


def _params_kinds(form: Form) -> list[Any]:
    if not form.needs("params"):
        return [None]
    return [("gamma", "beta"), ("scale", "bias"), ("weight", "bias"), ("scale", "offset"), "tuple"]


def _mode_values(form: Form, fn: Callable[..., Any]) -> list[tuple[Any, Any]]:
    role = next((r for r in form.roles.values() if r.startswith("mode")), None)
    if role == "mode-string":
        words = string_constants(fn) if not inspect.isfunction(fn) else _function_words(fn)
        trains = [w for w in words if w.lower() in ("train", "training", "fit")] or ["train"]
        evals = [w for w in words if w.lower() in EVAL_STRINGS] + [
            w for w in words if w.lower() not in EVAL_STRINGS
        ]
        return [(t, e) for t in trains[:1] for e in evals if e != t][:12]
    return [(True, False)]


def _function_words(fn: Callable[..., Any]) -> list[str]:
    holder = type("_Holder", (), {"f": staticmethod(fn)})
    return string_constants(holder())


def _affine(adapter: PureAdapter, x: Any) -> bool:
    """Whether y follows gamma and beta: y(2·gamma, beta + 1) − (beta + 1) = 2·(y − beta)."""
    c = x.shape[1]
    g = np.array([1.5, -0.7, 2.0] * c)[:c]
    b = np.array([0.3, -1.2, 0.8] * c)[:c]
    adapter.new(c, "float64", 1e-5, x.ndim)
    adapter.set_params(g, b)
    y1 = np.asarray(adapter.forward(x, True), dtype=np.float64)
    adapter.new(c, "float64", 1e-5, x.ndim)
    adapter.set_params(2 * g, b + 1)
    y2 = np.asarray(adapter.forward(x, True), dtype=np.float64)
    shape = (1, c) + (1,) * (x.ndim - 2)
    want = 2 * (y1 - b.reshape(shape)) + (b + 1).reshape(shape)
    return bool(np.allclose(y2, want, rtol=1e-6, atol=1e-9))


def _find_record_params(adapter: PureAdapter, x: Any) -> bool:
    """gamma and beta inside a parameter record made by init: the leaves y follows."""
    c = x.shape[1]
    adapter.new(c, "float64", 1e-5, x.ndim)
    record = adapter.params
    found = [p for p in leaves(record, c)]
    delta = np.array([0.5, -0.3, 0.7] * c)[:c]
    y0 = np.asarray(adapter.forward(x, True), dtype=np.float64)
    gamma = beta = None
    for path in found:
        adapter.new(c, "float64", 1e-5, x.ndim)
        base = np.asarray(as_array(path.get(adapter.params)), dtype=np.float64).reshape(c)
        adapter.params = _replace(
            adapter.params,
            path.steps,
            _shaped_like(base + delta, path.get(adapter.params), np.float64),
        )
        y1 = np.asarray(adapter.forward(x, True), dtype=np.float64)
        d = (y1 - y0).reshape(x.shape[0], c, -1).transpose(1, 0, 2).reshape(c, -1)
        if np.allclose(d, delta[:, None], rtol=1e-6, atol=1e-9):
            beta = beta or path
        elif np.all(np.abs(d).max(axis=1) > 1e-9):
            gamma = gamma or path
    adapter.gamma_path, adapter.beta_path = gamma, beta
    return gamma is not None and beta is not None


def _find_state_paths(adapter: PureAdapter, x: Any) -> None:
    """The running mean and variance inside a state record: the leaves a training call blends
    with the batch (the mean moves towards the batch mean)."""
    if adapter.state_obj is None:
        return
    c = x.shape[1]
    adapter.new(c, "float64", 1e-5, x.ndim)
    before = {
        p: np.asarray(as_array(v), np.float64).reshape(c)
        for p, v in leaves(adapter.state_obj, c).items()
    }
    rng = np.random.default_rng(11)
    xb = rng.normal(-2.0, 0.5, size=x.shape)
    adapter.forward(xb, True)
    after = {
        p: np.asarray(as_array(v), np.float64).reshape(c)
        for p, v in leaves(adapter.state_obj, c).items()
    }
    mean_b = xb.reshape(x.shape[0], c, -1).transpose(1, 0, 2).reshape(c, -1).mean(axis=1)
    changed = [p for p in after if p in before and not np.array_equal(before[p], after[p])]
    means = []
    for p in changed:
        with np.errstate(all="ignore"):
            w = (after[p] - before[p]) / (mean_b - before[p])
        if np.all(np.isfinite(w)) and np.all(w > 0) and np.all(w <= 1 + 1e-9) and np.ptp(w) < 1e-6:
            means.append(p)
    others = [p for p in changed if p not in means]
    if len(means) == 1 and others:
        adapter.state_paths = (means[0], others[0])


def find_init(module: Any, c: int = 3) -> Callable[[int, Any], Any] | None:
    """A function of the module that makes the records from the channel count: it takes one
    required argument and returns values of C numbers (in a record, a tuple, a dict)."""
    if module is None:
        return None
    names = sorted(
        (n for n in vars(module) if not n.startswith("_")),
        key=lambda n: (not any(k in n.lower() for k in INIT), n),
    )
    for name in names:
        fn = getattr(module, name)
        if not inspect.isfunction(fn) or fn.__module__ != module.__name__:
            continue
        required = [
            p
            for p in _signature(fn)
            if p.default is inspect.Parameter.empty
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        if len(required) != 1:
            continue
        try:
            made = fn(c)
        except Exception:
            continue
        if leaves(made, c):
            params = _signature(fn)
            takes_dtype = any(p.name == "dtype" for p in params)

            def init(n: int, dtype: Any, fn: Any = fn, takes_dtype: bool = takes_dtype) -> Any:
                return fn(n, dtype=dtype) if takes_dtype else fn(n)

            return init
    return None


def discover(
    fwd: Callable[..., Any],
    bwd: Callable[..., Any],
    name: str,
    module: Any = None,
) -> PureAdapter:
    """The calling form of a functional pair, confirmed by calls on a probe batch (see the
    module docstring); LoadError listing what was tried when no form holds."""
    init = find_init(module)
    tried: list[str] = []
    weak: PureAdapter | None = None
    fname = getattr(fwd, "__name__", "forward")
    for form in _forms(fwd):
        for kind in _params_kinds(form):
            for values in _mode_values(form, fwd):
                form.params_kind, form.mode_values = kind, values
                uses_init = init is not None and (form.needs("params") or form.needs("state"))
                if form.needs("state") and not uses_init:
                    tried.append(form.describe(fname) + " (no init function makes its state)")
                    continue
                for label, caller in _backward_callers(bwd):
                    use = form
                    if getattr(caller, "fixed_eps", False) and form.needs("eps"):
                        use = form.without("eps")
                    adapter = PureAdapter(use, caller, name, init if uses_init else None, [])
                    what = use.describe(fname) + f"; {label}"
                    try:
                        ok = _confirm(adapter, uses_init)
                    except Exception as exc:
                        tried.append(f"{what}: {type(exc).__name__}: {str(exc)[:120]}")
                        continue
                    if not ok:
                        tried.append(f"{what}: y does not follow gamma and beta")
                        if weak is None and form.how == "by parameter names":
                            weak = adapter  # bound by its own names: its failure is its own
                            weak.mapping = [
                                *_mapping(adapter, use, fname, label, uses_init),
                                "its output does not follow gamma and beta as a BN's does; "
                                "called as its parameter names say",
                            ]
                        continue
                    adapter.mapping = _mapping(adapter, use, fname, label, uses_init)
                    return adapter
    if weak is not None:
        return weak
    tried = list(dict.fromkeys(tried))  # forms that differ only in what it ignored read alike
    if not tried:
        names = ", ".join(p.name for p in _signature(fwd))
        tried = [
            f"no calling form: {fname}({names}) names no x, gamma and beta that bncheck "
            "knows, and takes more required arguments than (x, gamma, beta[, eps])"
        ]
    raise LoadError(
        f"{name}: no way of calling the pair behaved as a BN on a probe batch (the output of "
        "x's shape, following gamma and beta, then a backward giving dx and the gradients). "
        "Tried: "
        + "; ".join(tried[:10])
        + ("; …" if len(tried) > 10 else "")
        + ". Write a small wrapper forward(x, gamma, beta, eps) -> (y, cache) / "
        "backward(dy, cache) -> (dx, dgamma, dbeta) (see the README)"
    )


def _confirm(adapter: PureAdapter, uses_init: bool) -> bool:
    for ndim in (2, 4):
        x = probe_x(3, ndim)
        try:
            adapter.new(3, "float64", 1e-5, ndim)
            adapter.forward(x, True)
        except Exception:
            if ndim == 4:
                raise
            continue
        if adapter.form.needs("params") and uses_init:
            if not _find_record_params(adapter, x):
                return False
        if adapter.form.needs("state"):
            _find_state_paths(adapter, x)
        if not _affine(adapter, x):
            return False
        dy = np.random.default_rng(2).normal(size=x.shape)
        dx, dg, db = adapter.backward(dy)
        if np.shape(dx) != x.shape or np.size(dg) != 3 or np.size(db) != 3:
            raise TypeError("the backward's dx or gradients have the wrong size")
        if adapter.has_mode:
            adapter.new(3, "float64", 1e-5, ndim)
            adapter.forward(x, True)
            y_eval = adapter.forward(x, False)
            if np.shape(y_eval) != x.shape:
                raise TypeError("the eval call returned the wrong shape")
        return True
    return False


def _mapping(adapter: PureAdapter, form: Form, fname: str, label: str, init: bool) -> list[str]:
    lines = [
        f"forward: {form.describe(fname)} ({form.how}, confirmed by a probe call)",
        f"backward: {label}"
        + (
            " -> (dx, dbeta, dgamma), in the order of the forward's inputs (beta before gamma)"
            if adapter.beta_first
            else ""
        ),
    ]
    if form.needs("params"):
        where = (
            f"{adapter.gamma_path.label()}, {adapter.beta_path.label()} of the record init makes"
            if adapter.gamma_path is not None and adapter.beta_path is not None
            else "a tuple (gamma, beta)"
            if form.params_kind == "tuple"
            else f"a dict with keys {form.params_kind}"
        )
        lines.append(f"parameters: {where}")
    if adapter.state_paths is not None:
        lines.append(
            f"running statistics: {adapter.state_paths[0].label()}, "
            f"{adapter.state_paths[1].label()} of the state record, fed back at each call"
        )
    elif form.needs("running_mean"):
        lines.append(
            "running statistics: passed in and returned, fed back at each call"
            if adapter.running_returned
            else "running statistics: passed in, updated in place by the forward"
        )
    if init:
        lines.append("records made by the module's init function")
    if "jax" in sys.modules:
        lines.append("JAX: float64 runs with jax_enable_x64 on")
    return lines
