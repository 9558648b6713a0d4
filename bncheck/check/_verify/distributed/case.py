"""One rank's part of a distributed case: build the target, run it on the rank's shard, and
return plain data (runs in a rank process of :mod:`bncheck.check._verify.distributed.ranks`).

Targets (detected, no adapter):

- a ``torch.nn.Module`` subclass built as ``Cls(num_features)``, with ``process_group=`` or
  ``group=`` set to the world group when its constructor takes one; gamma and beta are its
  ``weight``/``bias`` (or ``gamma``/``beta``, ``scale``/``bias``, ``scale``/``offset``),
  eps and momentum its ``eps`` and ``momentum``, the running statistics its
  ``running_mean``/``running_var`` (or ``moving_mean``/``moving_var``), the mode ``train()``
  and ``eval()``;
- a function ``f(x, gamma, beta, eps[, group])`` returning y (forward and backward only).

Gradients come from autograd: ``y.backward(dy_shard)``, then ``x.grad`` and the parameters'
``.grad``: each rank's local gradients, which DDP would all-reduce.
"""

from __future__ import annotations

import inspect
import types
from typing import Any

import numpy as np

from bncheck.check._verify.targets.dispatch import resolve
from bncheck.exceptions import LoadError

__all__ = ["CaseRunner", "inspect_target"]

PARAM_PAIRS = (("weight", "bias"), ("gamma", "beta"), ("scale", "bias"), ("scale", "offset"))
RUNNING_PAIRS = (("running_mean", "running_var"), ("moving_mean", "moving_var"))
GROUP_NAMES = ("process_group", "group")
POSITIONAL = "<positional>"
DEFAULT_EPS = 1e-5


def _module_classes(module: types.ModuleType, torch: Any) -> dict[str, Any]:
    return {
        k: v
        for k, v in vars(module).items()
        if inspect.isclass(v)
        and issubclass(v, torch.nn.Module)
        and getattr(v, "__module__", None) == module.__name__
    }


def inspect_target(target: Any, torch: Any) -> tuple[Any, str, str, list[str]]:
    """(the class or function, "module" or "function", how the group is passed, mapping)."""

    name = target if isinstance(target, str) else getattr(target, "__name__", "target")
    obj = target
    if isinstance(target, str):
        obj, attr = resolve(target)
        if attr is not None:
            if not hasattr(obj, attr):
                raise LoadError(f"{target!r}: the module has no {attr!r}")
            obj = getattr(obj, attr)
    if isinstance(obj, types.ModuleType):
        found = _module_classes(obj, torch)
        if len(found) != 1:
            what = ", ".join(sorted(found)) if found else "no torch.nn.Module class"
            raise LoadError(
                f"{name!r} defines {what}; name the synchronized BN class, e.g. {name}:SyncBN"
            )
        ((cls_name, obj),) = found.items()
        name = f"{name}:{cls_name}"
    if isinstance(obj, torch.nn.Module):
        raise LoadError(
            f"{name!r} is a module instance; pass its class: every rank builds its own instance"
        )
    if inspect.isclass(obj) and issubclass(obj, torch.nn.Module):
        params = _parameters(obj)
        group = next((g for g in GROUP_NAMES if g in params), "")
        how = f"{obj.__name__}(num_features" + (f", {group}=<the world group>)" if group else ")")
        return obj, "module", group, [f"{how}, built in every rank (gloo, 127.0.0.1)", *_COMMON]
    if callable(obj) and not inspect.isclass(obj):
        params = _parameters(obj)
        positional = [
            p for p in params.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        if (
            params
            and len(positional) < 4
            and not any(p.kind == p.VAR_POSITIONAL for p in params.values())
        ):
            raise LoadError(
                f"{name!r} takes {len(positional)} positional parameters; a "
                "synchronized BN function takes (x, gamma, beta, eps[, group])"
            )
        group = next((g for g in GROUP_NAMES if g in params), "")
        if not group and len(positional) >= 5:
            group = POSITIONAL
        how = "f(x, gamma, beta, eps" + (", <the world group>)" if group else ")")
        return (
            obj,
            "function",
            group,
            [f"{how} called in every rank (gloo, 127.0.0.1), eps = {DEFAULT_EPS:g}", *_COMMON],
        )
    module = getattr(obj, "__module__", "") or type(obj).__module__
    if module.partition(".")[0] in ("flax", "keras"):
        raise LoadError(
            f"{name!r} is a {module.partition('.')[0]} BN: with --world-size bncheck runs "
            "flax.linen modules (under jax.shard_map) and PyTorch targets; flax.nnx and Keras "
            "BNs are verified without --world-size"
        )
    raise LoadError(
        f"cannot use {type(obj).__name__} {name!r} as a synchronized BN: expected "
        "a torch.nn.Module subclass (built as Cls(num_features[, process_group=])) "
        "or a function f(x, gamma, beta, eps[, group])"
    )


_COMMON = [
    "each rank feeds its rows of one global batch; y and dx are concatenated, dgamma and "
    "dbeta are the sums of the ranks' local gradients (what DDP all-reduces)",
]


def _parameters(obj: Any) -> dict[str, inspect.Parameter]:
    try:
        return dict(inspect.signature(obj).parameters)
    except (TypeError, ValueError):
        return {}


class CaseRunner:
    """Runs one case in one rank (called in the rank's target thread)."""

    def __init__(self, adapter: Any, rank: int) -> None:
        self.a = adapter
        self.torch = adapter.torch
        self.rank = rank
        self.notes: list[str] = []

    # -- conversions --------------------------------------------------------------------------
    def _tensor(self, a: Any, dtype: Any, grad: bool = False) -> Any:
        arr = np.moveaxis(a, 1, -1) if self.a.axis == -1 else a
        t = self.torch.tensor(np.ascontiguousarray(arr), dtype=dtype)
        return t.requires_grad_(True) if grad else t

    def _np(self, t: Any, what: str) -> Any:
        if not isinstance(t, self.torch.Tensor):
            raise TypeError(f"{what} is {type(t).__name__}; expected a torch.Tensor")
        arr = np.array(t.detach().cpu().numpy(), copy=True)
        return (
            np.ascontiguousarray(np.moveaxis(arr, -1, 1))
            if (self.a.axis == -1 and arr.ndim >= 2)
            else arr
        )

    def _vec(self, t: Any, c: int, what: str) -> Any:
        if t is None:
            return None
        arr = self._np(t, what)
        if arr.size != c:
            raise ValueError(f"{what} has shape {arr.shape}; expected {c} values")
        if arr.shape != (c,):
            self.notes.append(f"{what} held as shape {arr.shape}")
        return arr.reshape(c)

    # -- the target ---------------------------------------------------------------------------
    def _build(self, c: int, dtype: Any, gamma: Any, beta: Any) -> tuple[Any, Any, Any]:
        kwargs = {self.a.group_kw: self.a.dist.group.WORLD} if self.a.group_kw else {}
        mod = self.a.target(c, **kwargs)
        if not isinstance(mod, self.torch.nn.Module):
            raise TypeError(f"the class built {type(mod).__name__}; expected a torch.nn.Module")
        mod = mod.to(dtype)
        mod.train()
        pair = next(
            (
                (getattr(mod, a), getattr(mod, b))
                for a, b in PARAM_PAIRS
                if isinstance(getattr(mod, a, None), self.torch.Tensor)
                and isinstance(getattr(mod, b, None), self.torch.Tensor)
            ),
            (None, None),
        )
        for p, value in zip(pair, (gamma, beta), strict=True):
            if p is not None:
                if p.numel() != c:
                    raise ValueError(f"a parameter has shape {tuple(p.shape)}; expected {c} values")
                with self.torch.no_grad():
                    p.copy_(self.torch.tensor(value, dtype=p.dtype).reshape(p.shape))
        return mod, pair[0], pair[1]

    def _state(self, mod: Any, c: int) -> Any:
        for a, b in RUNNING_PAIRS:
            rm, rv = getattr(mod, a, None), getattr(mod, b, None)
            if isinstance(rm, self.torch.Tensor) and isinstance(rv, self.torch.Tensor):
                return [self._vec(rm, c, a), self._vec(rv, c, b)]
        return None

    def _out(self, y: Any, shape: tuple[int, ...], what: str) -> Any:
        if not isinstance(y, self.torch.Tensor):
            raise TypeError(f"{what} returned {type(y).__name__}; expected a torch.Tensor")
        if tuple(y.shape) != shape:
            raise ValueError(f"{what} returned shape {tuple(y.shape)}; expected {shape}")
        return y

    def run(self, part: dict[str, Any]) -> dict[str, Any]:
        torch = self.torch
        dtype = getattr(torch, str(part["dtype"]))
        gamma, beta = part["gamma"], part["beta"]
        c = int(gamma.size)
        x = self._tensor(part["x"], dtype, grad=True)
        dy = self._tensor(part["dy"], dtype)
        dy_before = dy.clone()
        if self.a.form == "function":
            g = torch.tensor(gamma, dtype=dtype, requires_grad=True)
            b = torch.tensor(beta, dtype=dtype, requires_grad=True)
            args: list[Any] = [x, g, b, DEFAULT_EPS]
            kwargs: dict[str, Any] = {}
            if self.a.group_kw == POSITIONAL:
                args.append(self.a.dist.group.WORLD)
            elif self.a.group_kw:
                kwargs[self.a.group_kw] = self.a.dist.group.WORLD
            y = self._out(self.a.target(*args, **kwargs), tuple(x.shape), "the function")
            mod, pg, pb = None, g, b
        else:
            mod, pg, pb = self._build(c, dtype, gamma, beta)
            y = self._out(mod(x), tuple(x.shape), "forward")
        y.backward(dy)
        out: dict[str, Any] = {
            "y": self._np(y, "y"),
            "dx": None if x.grad is None else self._np(x.grad, "x.grad"),
            "dgamma": None if pg is None else self._vec(pg.grad, c, "gamma's .grad"),
            "dbeta": None if pb is None else self._vec(pb.grad, c, "beta's .grad"),
            "affine": pg is not None,
            "mutated": [] if torch.equal(dy, dy_before) else ["dy"],
            "eps": DEFAULT_EPS,
            "momentum": None,
            "running": None,
        }
        if mod is not None:
            eps, momentum = getattr(mod, "eps", None), getattr(mod, "momentum", "missing")
            out["eps"] = float(eps) if isinstance(eps, (int, float)) else None
            out["momentum"] = (
                float(momentum)
                if isinstance(momentum, (int, float))
                else (None if momentum is None else "missing")
            )
            if self._state(mod, c) is not None:
                out.update(self._steps(part, c, dtype))
        out["notes"] = self.notes
        return out

    def _steps(self, part: dict[str, Any], c: int, dtype: Any) -> dict[str, Any]:
        """Training steps on a fresh instance, then an eval call: the running statistics."""
        mod, _, _ = self._build(c, dtype, part["gamma"], part["beta"])
        states = [self._state(mod, c)]
        for batch in part["steps"]:
            xb = self._tensor(batch, dtype)
            self._out(mod(xb), tuple(xb.shape), "forward")
            states.append(self._state(mod, c))
        mod.eval()
        xe = self._tensor(part["x_eval"], dtype)
        with self.torch.no_grad():
            ye = self._out(mod(xe), tuple(xe.shape), "eval forward")
        return {
            "running": states,
            "y_eval": self._np(ye, "eval y"),
            "after_eval": self._state(mod, c),
        }
