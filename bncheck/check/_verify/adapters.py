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
and gradient location are detected (:mod:`bncheck.check._verify.protocol`); a PyTorch module.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import inspect
import os
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bncheck.check._verify import protocol as P
from bncheck.check._verify.adapt import Adapted
from bncheck.check._verify.protocol import Construction, Layout, Slot
from bncheck.exceptions import LoadError

__all__ = ["load_adapter"]

STATE_KEYS = ("running_mean", "running_var", "gamma", "beta", "momentum", "eps")
#: the probe batch: (8, 3), mean 2, spread 1.5 (any layer must accept it)
PROBE_C = 3


def _arr(value: Any) -> Any:
    """Tensors, parameter objects (``.data`` holding an array) and array-likes to NumPy; None
    and junk pass through for the parent to judge."""
    if value is None:
        return None
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy().copy()
    data = getattr(value, "data", None) if not isinstance(value, np.ndarray) else None
    if isinstance(data, np.ndarray):
        return data.copy()
    if isinstance(value, np.ndarray):
        return value.copy()
    try:
        out = np.array(value)
    except Exception:
        return value
    return out if out.dtype.kind in "biufc" else value


def _number(value: Any) -> Any:
    """A hyperparameter as a plain number (None stays None; junk is described, not passed)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return f"<{type(value).__name__}>"


class _Contract:
    """Interface deviations found while adapting a target (reported apart from the maths)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def note(self, text: str) -> None:
        if text not in self.seen:
            self.seen.append(text)

    def per_channel(self, value: Any, c: int, what: str) -> Any:
        """C values in any shape -> (C,), noting a shape other than (C,)."""
        arr = _arr(value)
        if isinstance(arr, np.ndarray) and arr.shape != (c,) and arr.size == c:
            if c > 1:  # with one channel every shape of size 1 looks alike
                self.note(f"{what} is held as shape {shape_text(arr.shape, c)}; expected (C,)")
            return arr.reshape(c)
        return arr


def shape_text(shape: tuple[int, ...], c: int) -> str:
    """A per-channel shape with the channel count written C: (1, C, 1, 1)."""
    parts = ["C" if d == c else str(d) for d in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def _grads(result: Any, what: str) -> tuple[Any, Any, Any]:
    if isinstance(result, dict):
        return _grads_from_dict(result, what)
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        raise TypeError(f"{what} returned {type(result).__name__}; expected (dx, dgamma, dbeta)")
    return _arr(result[0]), _arr(result[1]), _arr(result[2])


DX_KEYS = ("dx", "dX", "d_x", "dinput", "dinputs", "x", "input", "dout")


def _grads_from_dict(result: dict[str, Any], what: str) -> tuple[Any, Any, Any]:
    dx = next((result[k] for k in DX_KEYS if k in result), None)
    for g, b in P.GRAD_NAMES:
        if g in result and b in result:
            return _arr(dx), _arr(result[g]), _arr(result[b])
    raise TypeError(
        f"{what} returned a dict with keys {sorted(map(str, result))}; expected dx and the "
        "gradients of gamma and beta (e.g. dgamma/dbeta)"
    )


# -- functional and cs231n-style --------------------------------------------------------------


class FunctionalAdapter:
    kind = "functional"

    def __init__(self, fwd: Callable[..., Any], bwd: Callable[..., Any], name: str) -> None:
        self.fwd, self.bwd, self.name = fwd, bwd, name
        self.gamma: Any = None
        self.beta: Any = None
        self.eps = 1e-5
        self.cache: Any = None
        self.contracts = _Contract()
        #: forward(x, gamma, beta) with eps hard-coded: eps is inferred from its outputs
        self.takes_eps = _positional_count(fwd) != 3
        self.eps_inferred: float | None = None
        self.last_x: Any = None

    def _ranks(self) -> tuple[list[int], dict[str, str]]:
        """The ranks forward takes (a cs231n-style BN may take only (N, D))."""
        ranks, errors = [], {}
        for ndim in (2, 3, 4, 5):
            x = _probe_x(3, ndim)
            try:
                y = self._call(x, np.ones(3), np.zeros(3))
                if np.asarray(y).shape != x.shape:
                    raise ValueError(f"the output has shape {np.shape(y)} for a {ndim}-D input")
                ranks.append(ndim)
            except Exception as exc:
                errors[str(ndim)] = f"{type(exc).__name__}: {str(exc)[:300]}"
        return ranks, errors

    def describe(self) -> dict[str, Any]:
        mapping = ["forward(x, gamma, beta, eps) -> (y, cache); backward(dy, cache) -> (dx, "
                   "dgamma, dbeta)" if self.takes_eps else "forward(x, gamma, beta) -> (y, "
                   "cache); backward(dy, cache) -> (dx, dgamma, dbeta); eps inferred"]  # fmt: skip
        return {"kind": self.kind, "name": self.name, "running": False, "mapping": mapping,
                "probe": True}  # fmt: skip

    def probe(self) -> dict[str, Any]:
        """Run by verify as an ordinary call (with its timeout): the ranks forward takes and,
        when eps is not a parameter, the eps its outputs imply."""
        ranks, errors = self._ranks()
        found: dict[str, Any] = {"ndims": ranks, "rank_errors": errors} if ranks else {}
        if self.takes_eps:
            return found
        self.eps_inferred = infer_eps(lambda x, g, b: self._call(x, g, b), 3, 2)
        eps_text = (
            f"eps: not a parameter; {self.eps_inferred:g}, inferred from the outputs"
            if self.eps_inferred is not None
            else "eps: not a parameter, and the outputs give no consistent eps; assumed 1e-05"
        )
        return {**found, "mapping": [eps_text]}

    def _call(self, x: Any, gamma: Any, beta: Any) -> Any:
        out = self.fwd(x, gamma, beta) if not self.takes_eps else self.fwd(x, gamma, beta, 1e-5)
        return out[0] if isinstance(out, (tuple, list)) else out

    def watched(self) -> dict[str, Any]:
        """Arrays this adapter passes to the target, checked for in-place changes (also the x
        of the last forward, which a backward holding it in its cache must not modify)."""
        return {"gamma": self.gamma, "beta": self.beta, "x (of the last forward)": self.last_x}

    def contract(self) -> list[str]:
        return list(self.contracts.seen)

    def variant(self, name: str) -> None:
        raise ValueError(f"no backward variant {name!r}")

    def new(self, num_features: int, dtype: str, eps: float, ndim: int = 2) -> dict[str, Any]:
        self.gamma = np.ones(num_features, dtype)
        self.beta = np.zeros(num_features, dtype)
        self.eps, self.cache = eps, None
        return {"eps": eps}

    def set_params(self, gamma: Any, beta: Any) -> None:
        self.gamma, self.beta = gamma.copy(), beta.copy()

    def forward(self, x: Any, train: bool) -> Any:
        if not train:
            raise NotImplementedError("a functional target has no eval mode")
        self.last_x = x
        if self.takes_eps:
            out = self.fwd(x, self.gamma, self.beta, self.eps)
        else:
            out = self.fwd(x, self.gamma, self.beta)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise TypeError(f"forward returned {type(out).__name__}; expected (y, cache)")
        y, self.cache = out
        return _arr(y)

    def backward(self, dy: Any) -> tuple[Any, Any, Any]:
        dx, dg, db = _grads(self.bwd(dy, self.cache), "backward")
        c = self.gamma.shape[0]
        return (
            dx,
            self.contracts.per_channel(dg, c, "dgamma"),
            self.contracts.per_channel(db, c, "dbeta"),
        )

    def state(self) -> dict[str, Any]:
        eps = self.eps if self.takes_eps else (self.eps_inferred or self.eps)
        return {"gamma": self.gamma, "beta": self.beta, "eps": eps}


class Cs231nAdapter(FunctionalAdapter):
    """``batchnorm_forward(x, gamma, beta, bn_param)``: running statistics live in the dict."""

    kind = "cs231n"
    MOMENTUM = 0.9  # cs231n's default, passed explicitly so the checks know it

    def __init__(
        self,
        fwd: Callable[..., Any],
        bwd: Callable[..., Any],
        name: str,
        spatial: tuple[Callable[..., Any], Callable[..., Any]] | None = None,
        variants: dict[str, tuple[Callable[..., Any], Callable[..., Any] | None]] | None = None,
        param_name: str = "bn_param",
    ) -> None:
        super().__init__(fwd, bwd, name)
        self.flat = (fwd, bwd)
        self.spatial = spatial
        self.variants = variants or {}
        self.param_name = param_name
        self.current = "batchnorm_backward"

    def describe(self) -> dict[str, Any]:
        # cs231n's batchnorm_forward takes (N, D); (N, C, H, W) needs spatial_batchnorm_forward
        ndims = [2, 4] if self.spatial else [2]
        mapping = [
            f"batchnorm_forward(x, gamma, beta, {self.param_name}) with "
            f"{self.param_name}['mode'] = 'train'|'test'; batchnorm_backward(dout, cache)",
        ]
        if self.spatial:
            mapping.append("4-D: spatial_batchnorm_forward / spatial_batchnorm_backward")
        mapping += [f"also checked: {v}" for v in self.variants]
        return {
            "kind": self.kind, "name": self.name, "running": True, "ndims": ndims,
            "mapping": mapping, "variants": sorted(self.variants),
        }  # fmt: skip

    def variant(self, name: str) -> None:
        if name != "batchnorm_backward" and name not in self.variants:
            raise ValueError(f"no backward variant {name!r}")
        self.current = name

    def new(self, num_features: int, dtype: str, eps: float, ndim: int = 2) -> dict[str, Any]:
        super().new(num_features, dtype, eps, ndim)
        # as the cs231n network code does: mode, eps and momentum only; the function creates
        # its running statistics (in the shape it wants) at the first call
        self.bn_param: dict[str, Any] = {"mode": "train", "eps": eps, "momentum": self.MOMENTUM}
        self.dtype = dtype
        return {"eps": eps, "momentum": self.MOMENTUM}

    def forward(self, x: Any, train: bool) -> Any:
        self.fwd, self.bwd = self.spatial if x.ndim == 4 and self.spatial else self.flat
        if self.current in self.variants and x.ndim == 2:
            fwd_v, bwd_v = self.variants[self.current]
            self.fwd, self.bwd = fwd_v, bwd_v or self.bwd
        self.bn_param["mode"] = "train" if train else "test"
        self.last_x = x
        try:
            out = self.fwd(x, self.gamma, self.beta, self.bn_param)
        except KeyError as exc:
            if exc.args[:1] not in (("running_mean",), ("running_var",)):
                raise
            # it reads the running statistics without a default: give it zeros and ones
            c = self.gamma.shape[0]
            self.bn_param.setdefault("running_mean", np.zeros(c, self.dtype))
            self.bn_param.setdefault("running_var", np.ones(c, self.dtype))
            out = self.fwd(x, self.gamma, self.beta, self.bn_param)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise TypeError(
                f"batchnorm_forward returned {type(out).__name__}; expected (out, cache)"
            )
        y, self.cache = out
        return _arr(y)

    def state(self) -> dict[str, Any]:
        c = self.gamma.shape[0]
        return {
            "running_mean": self.contracts.per_channel(
                self.bn_param.get("running_mean"), c, "running_mean"
            ),
            "running_var": self.contracts.per_channel(
                self.bn_param.get("running_var"), c, "running_var"
            ),
            "gamma": self.gamma,
            "beta": self.beta,
            "momentum": _number(self.bn_param.get("momentum")),
            "eps": _number(self.bn_param.get("eps")),
        }


# -- layers -----------------------------------------------------------------------------------


class LayerAdapter:
    """Any layer object; how to build, call and read it is detected on the first describe()."""

    kind = "layer"

    def __init__(
        self, factory: Callable[..., Any] | None, name: str, *, instance: Any = None,
        axis: int = 1,
    ) -> None:  # fmt: skip
        self.factory, self.name = factory, name
        self.instance = instance
        self.obj: Any = None
        #: an instance target has a fixed number of channels; a factory takes any
        self.channels: int | None = None
        self.axis = axis
        self.build: Construction | None = None
        self.layout = Layout()
        self.params: tuple[Slot, Slot] | None = None
        self.running: tuple[Slot, Slot] | None = None
        self.eps_slot: str | None = None
        self.momentum_slot: str | None = None
        self.grad_form = "tuple"  # "tuple", "dict" or "slots"
        self.grad_slots: tuple[Slot, Slot] | None = None
        self.torch_grads = False
        self.lazy_params = False
        self.lazy_running = False
        self.contracts = _Contract()
        self.mapping: list[str] = []
        self.last_ndim = 2
        self.eps_inferred: float | None = None
        self.ndims = [2]
        self.wanted: tuple[int, ...] = (2, 4)
        self.rank_errors: dict[int, str] = {}
        #: a layer written with torch tensors and no backward (trained by autograd)
        self.autograd = False
        self.passed_x: Any = None
        self.x_t: Any = None
        self.y_t: Any = None

    # -- building ------------------------------------------------------------------------------
    def _make(self, c: int, dtype: Any, ndim: int = 2) -> Any:
        if self.instance is not None:
            return copy.deepcopy(self.instance)
        assert self.factory is not None
        if self.build is not None:
            return self.build.build(self.factory, c, dtype, ndim)
        tried = []
        for form in P.construction_of(self.factory):
            if not _binds(self.factory, form, c, dtype):
                tried.append(form.describe(self.name))
                continue
            obj = form.build(self.factory, c, dtype, ndim)  # the target's own errors propagate
            self.build = form
            return obj
        raise LoadError(
            f"cannot construct {self.name}: tried {', '.join(tried)}; map it with an adapter "
            "(bncheck.adapt, see the README)"
        )

    def _detect(self, obj: Any, c: int) -> None:
        axis = getattr(obj, "bncheck_axis", None)  # set by bncheck.adapt
        if isinstance(axis, int) and not isinstance(axis, bool):
            self.axis = axis
        self.layout = P.mode_of(obj)
        if self.layout.forward_name not in ("forward", "__call__") or not callable(
            getattr(obj, self.layout.forward_name, None)
        ):
            raise LoadError(f"{self.name}: the object has no forward() and is not callable")
        if (
            self.layout.mode == "none"
            and not callable(getattr(obj, "backward", None))
            and not _holds_tensors(obj, None)
        ):
            raise LoadError(f"{self.name}: the object has no backward()")
        if isinstance(obj, Adapted):  # the user's own mapping: take it as given
            given = obj.paths
            self.params = (Slot("gamma"), Slot("beta")) if "gamma" in given else None
            has_running = "running_mean" in given and "running_var" in given
            self.running = (Slot("running_mean"), Slot("running_var")) if has_running else None
        else:
            self.params = P.find_pair(obj, P.PARAM_NAMES, P.CONTAINERS, c, allow_none=True)
            self.running = P.find_pair(obj, P.RUNNING_NAMES, P.CONTAINERS, c, allow_none=True)
        if isinstance(obj, Adapted):
            self.eps_slot = "eps" if "eps" in obj.paths else None
            self.momentum_slot = "momentum" if "momentum" in obj.paths else None
        else:
            found = P.scalar_attr(obj, P.EPS_NAMES)
            self.eps_slot = found[0] if found else None
            found = P.scalar_attr(obj, P.MOMENTUM_NAMES)
            self.momentum_slot = found[0] if found else None
        if self.params:
            self.lazy_params = any(_unset(s.get(obj)) for s in self.params)
        if self.running:
            self.lazy_running = any(_unset(s.get(obj)) for s in self.running)

    def describe(self) -> dict[str, Any]:
        """Detect the protocol on a probe instance, then probe that the mapping is used."""
        c = self.channels or PROBE_C
        obj = self._make(c, np.float64)
        self._detect(obj, c)
        self.autograd = (
            self.kind == "layer"
            and _holds_tensors(obj, self.params)
            and not (callable(getattr(obj, "backward", None)))
        )
        if self.params is None or self.running is None:
            # a lazy layer may create its attributes only in its first forward
            x = _probe_x(c)
            try:
                P.call_forward(obj, self.layout, x, True)
            except Exception:
                pass
            else:
                if self.params is None:
                    self.params = P.find_pair(obj, P.PARAM_NAMES, P.CONTAINERS, c,
                                              allow_none=False)  # fmt: skip
                    self.lazy_params = self.params is not None
                if self.running is None:
                    self.running = P.find_pair(obj, P.RUNNING_NAMES, P.CONTAINERS, c,
                                               allow_none=False)  # fmt: skip
                    self.lazy_running = self.running is not None
        self.ndims = self._ranks(c)
        try:
            self._probe(c)
        except LoadError:
            raise
        except Exception as exc:
            if self.layout.mode == "none" or self.lazy_params or self.lazy_running:
                # bncheck drove the layer on a guess (no mode found, or sizes created on the
                # fly): its failure may be the guess's, so it is not the target's verdict
                raise LoadError(
                    f"{self.name}: driving the layer as found ({self.layout.describe()}; "
                    f"built as {self.build.describe(self.name) if self.build else 'a copy'}) "
                    f"failed: {type(exc).__name__}: {str(exc)[:300]}; map it with "
                    "bncheck.adapt (see the README)"
                ) from exc
            raise
        return {
            "kind": self.kind,
            "name": self.name,
            "running": self.running is not None and self.layout.mode != "none",
            "channels": self.channels,
            "mapping": self.mapping,
            "axis": self.axis,
            "ndims": sorted(self.ndims),
            "rank_errors": {str(k): v for k, v in self.rank_errors.items()},
        }

    def _ranks(self, c: int) -> list[int]:
        """The input ranks (2 to 5) the layer takes, tried on fresh instances, the ranks asked
        for first (the probes then run on the first of them)."""
        ranks = []
        error: BaseException | None = None
        order = [*self.wanted, *[n for n in (2, 3, 4, 5) if n not in self.wanted]]
        for ndim in order:
            try:
                self.new(c, "float64", 1e-5, ndim)
                y = self.forward(_probe_x(c, ndim), True)
                if not isinstance(y, np.ndarray) or y.shape != _probe_x(c, ndim).shape:
                    what = y.shape if isinstance(y, np.ndarray) else type(y).__name__
                    raise ValueError(f"the output has shape {what} for a {ndim}-D input")
                ranks.append(ndim)
            except Exception as exc:
                error = error or exc
                self.rank_errors[ndim] = f"{type(exc).__name__}: {str(exc)[:300]}"
        if not ranks and error is not None:
            raise error  # the target's own failure, with its traceback
        return ranks

    def _probe(self, c: int) -> None:
        """Set parameters and see the output follow them; find the gradients' form."""
        rng = np.random.default_rng(1234)
        self.new(c, "float64", 1e-5, self.ndims[0])
        x = _probe_x(c, self.ndims[0])
        dy = rng.normal(0.5, 1.0, size=x.shape)
        g1, b1 = np.array([1.5, -0.7, 2.0] * c)[:c], np.array([0.3, -1.2, 0.8] * c)[:c]
        mapping = [f"built as {self.build.describe(self.name) if self.build else 'a copy'}",
                   f"mode: {self.layout.describe()}"]  # fmt: skip
        if self.params is not None:
            self.params = self._choose_params(c, x, g1, b1)
            mapping.append(
                f"parameters: {self.params[0].label()}, {self.params[1].label()}"
                + (" (created at the first forward)" if self.lazy_params else "")
            )
        else:
            mapping.append("parameters: none found (treated as gamma = 1, beta = 0)")
            self.forward(x, True)
        self._find_grads(dy, c)
        mapping.append(self._grads_text())
        if self.running is not None and self.layout.mode == "none" and not self.autograd:
            raise LoadError(
                f"{self.name}: the layer keeps running statistics ({self.running[0].label()}, "
                f"{self.running[1].label()}) but bncheck found no way to put it in eval mode "
                "(no train=/training=/mode= parameter, no train()/eval(), no training "
                "attribute, no predict()); map it with bncheck.adapt (see the README)"
            )
        if self.running is not None:
            mapping.append(
                f"running statistics: {self.running[0].label()}, {self.running[1].label()}"
                + (" (created at the first forward)" if self.lazy_running else "")
            )
        else:
            mapping.append("running statistics: none found")
        if self.eps_slot and _scalar(self.obj, self.eps_slot) is None:
            self.eps_slot = None  # an attribute that holds no value: infer it
        if self.eps_slot:
            mapping.append(f"eps: {self.eps_slot}")
        else:
            self.eps_inferred = self._infer_eps(c)
            if self.eps_inferred is not None:
                mapping.append(f"eps: no attribute; {self.eps_inferred:g}, inferred from the "
                               "outputs (channels of different variance agree)")  # fmt: skip
            else:
                mapping.append("eps: no attribute, and the outputs give no consistent eps; "
                               "assumed 1e-05")  # fmt: skip
        if self.momentum_slot:
            mapping.append(f"momentum: {self.momentum_slot}")
        if self.axis != 1:
            mapping.append(f"channel axis: {self.axis} (inputs moved there)")
        self.mapping = mapping

    def _choose_params(self, c: int, x: Any, g1: Any, b1: Any) -> tuple[Slot, Slot]:
        """Of the parameter names the layer holds, the pair its output follows: set it, read it
        back, and see the output change when gamma doubles and beta moves."""
        assert self.params is not None
        candidates = [self.params] + [
            pair for pair in self._all_param_pairs(c) if pair != self.params
        ]
        for pair in candidates:
            self.params = pair
            self.new(c, "float64", 1e-5, x.ndim)
            self.set_params(g1, b1)
            back = [_arr(s.get(self.obj)) for s in pair]
            if not all(isinstance(v, np.ndarray) and v.size == c and np.allclose(v.ravel(), w)
                       for v, w in zip(back, (g1, b1), strict=True)):  # fmt: skip
                continue
            y1 = np.asarray(_arr(self.forward(x, True)), dtype=np.float64)
            self.new(c, "float64", 1e-5, x.ndim)
            self.set_params(2.0 * g1, b1 + 1.0)
            y2 = np.asarray(_arr(self.forward(x, True)), dtype=np.float64)
            if y1.shape != x.shape or y2.shape != x.shape or _changed(y1, y2):
                return pair
        if len(candidates) == 1:
            return candidates[0]  # the only parameters there are: a forward that ignores
            # them is the target's mistake, which the numeric checks name
        names = ", ".join(f"{a.label()}/{b.label()}" for a, b in candidates)
        raise LoadError(
            f"{self.name}: the layer holds {names}, but its output follows none of them when "
            "bncheck sets them (or they do not read back as set): map its parameters with an "
            "adapter (see the README)"
        )

    def _all_param_pairs(self, c: int) -> list[tuple[Slot, Slot]]:
        out = []
        for pair in P.PARAM_NAMES:
            found = P.find_pair(self.obj, (pair,), P.CONTAINERS, c, allow_none=True)
            if found is not None and (self.running is None or found[0] not in self.running):
                out.append(found)
        return out

    def _find_grads(self, dy: Any, c: int) -> None:
        if self.autograd:
            self.grad_form = "autograd"
            self.backward(dy)
            return
        before = {k: _arr(s.get(self.obj)) for k, s in P.c_valued_slots(self.obj, c).items()}
        result = self._call_backward(dy)
        if isinstance(result, (tuple, list)) and len(result) == 3:
            self.grad_form = "tuple"
            return
        if isinstance(result, dict):
            self.grad_form = "dict"
            return
        if isinstance(result, (tuple, list)) and len(result) == 2 and isinstance(result[1], dict):
            self.grad_form = "dx+dict"
            return
        if self.params is not None and all(hasattr(s.get(self.obj), "grad") for s in self.params):
            self.grad_form, self.torch_grads = "slots", True
            return
        pairs = [(g, b) for g, b in P.GRAD_NAMES if (g, b) not in P.PARAM_NAMES]
        found = P.find_pair(self.obj, tuple(pairs), P.CONTAINERS + P.GRAD_CONTAINERS, c,
                            allow_none=False)  # fmt: skip
        if found is None:
            found = P.find_pair(self.obj, P.PARAM_NAMES, P.GRAD_CONTAINERS, c,
                                allow_none=False, attributes=False)  # fmt: skip
        if found is None:
            after = P.c_valued_slots(self.obj, c)
            changed = [
                k for k, s in after.items()
                if k not in before or not np.array_equal(_arr(s.get(self.obj)), before[k])
            ]  # fmt: skip
            raise LoadError(
                f"{self.name}: backward returned {type(result).__name__}, not (dx, dgamma, "
                "dbeta), and no gradients of gamma and beta were found among the attributes "
                f"(looked for {', '.join(g + '/' + b for g, b in pairs[:6])}, …"
                + (f"; backward changed {', '.join(changed)}" if changed else "")
                + "): map them with an adapter (see the README)"
            )
        self.grad_form, self.grad_slots = "slots", found

    def _grads_text(self) -> str:
        if self.grad_form == "autograd":
            return (
                "torch tensors and no backward(): gradients by autograd; eval runs under "
                "torch.no_grad()"
            )
        if self.grad_form == "tuple":
            return "backward(dy) -> (dx, dgamma, dbeta)"
        if self.grad_form in ("dict", "dx+dict"):
            return "backward(dy) -> gradients in a dict"
        if self.torch_grads:
            return "backward(dy) -> dx; gradients in the parameters' .grad"
        assert self.grad_slots is not None
        return (
            f"backward(dy) -> dx; gradients in {self.grad_slots[0].label()}, "
            f"{self.grad_slots[1].label()}"
        )

    # -- the protocol ---------------------------------------------------------------------------
    def contract(self) -> list[str]:
        return list(self.contracts.seen)

    def variant(self, name: str) -> None:
        raise ValueError(f"no backward variant {name!r}")

    def new(self, num_features: int, dtype: str, eps: float, ndim: int = 2) -> dict[str, Any]:
        self.last_ndim = ndim
        self.obj = self._make(num_features, np.dtype(dtype), ndim)
        c = num_features
        if self.lazy_params or self.lazy_running:
            self._warm_up(c, dtype)
        if self.params is not None and self.lazy_params:
            for slot, value in zip(self.params, (np.ones(c, dtype), np.zeros(c, dtype)),
                                   strict=True):  # fmt: skip
                if _unset(slot.get(self.obj)):
                    _set_new(self.obj, slot, value)
        if self.running is not None and self.lazy_running:
            for slot, value in zip(self.running, (np.zeros(c, dtype), np.ones(c, dtype)),
                                   strict=True):  # fmt: skip
                if _unset(slot.get(self.obj)):
                    _set_new(self.obj, slot, value)
        self._cast(dtype)
        return self.state()

    def _warm_up(self, c: int, dtype: str) -> None:
        """A layer that creates its parameters and statistics in its first forward gets one,
        in eval mode (which must not change its state), before bncheck sets them."""
        train = self.layout.mode == "none"
        rng = np.random.default_rng(7)
        shapes = [(4, c), (2, c, 2, 2)]
        if self.last_ndim == 4:
            shapes.reverse()
        for shape in shapes:
            x = rng.normal(size=shape).astype(dtype)
            try:
                P.call_forward(self.obj, self.layout, self._to_axis(x), train)
                return
            except Exception:
                continue

    def _infer_eps(self, c: int) -> float | None:
        def run(x: Any, g: Any, b: Any) -> Any:
            self.new(c, "float64", 1e-5, x.ndim)
            self.set_params(g, b)
            return self.forward(x, True)

        return infer_eps(run, c, self.ndims[0])

    def _cast(self, dtype: str) -> None:
        """Parameters and statistics in the run's dtype (a float32 run of a float64 layer)."""
        torch = sys.modules.get("torch")
        for pair in (self.params, self.running):
            for slot in pair or ():
                value = slot.get(self.obj)
                if isinstance(value, np.ndarray) and value.dtype != np.dtype(dtype):
                    slot.set(self.obj, value.astype(dtype))
                elif torch is not None and isinstance(value, torch.Tensor):
                    wanted = getattr(torch, dtype)
                    if value.dtype != wanted:
                        _set_new(self.obj, slot, value.detach().to(wanted))

    def set_params(self, gamma: Any, beta: Any) -> None:
        if self.params is None:
            return
        for slot, value in zip(self.params, (gamma, beta), strict=True):
            slot.set(self.obj, np.asarray(value).copy())

    def _to_axis(self, a: Any) -> Any:
        return a if self.axis == 1 or a.ndim == 2 else np.moveaxis(a, 1, self.axis)

    def _from_axis(self, a: Any) -> Any:
        if self.axis == 1 or not isinstance(a, np.ndarray) or a.ndim < 3:
            return a
        return np.moveaxis(a, self.axis, 1)

    def watched(self) -> dict[str, Any]:
        """The x of the last forward, which a backward must not modify either."""
        return {"x (of the last forward)": self.passed_x}

    def forward(self, x: Any, train: bool) -> Any:
        self.last_ndim = x.ndim
        if self.autograd:
            return self._forward_autograd(x, train)
        self.passed_x = self._to_axis(x)
        y = P.call_forward(self.obj, self.layout, self.passed_x, train)
        if (
            isinstance(y, (tuple, list)) and len(y) in (2, 3)
            and isinstance(y[0], np.ndarray) and y[0].shape == self.passed_x.shape
        ):  # fmt: skip
            self.contracts.note("forward returns a tuple; its first item is taken as y")
            y = y[0]
        return self._from_axis(_arr(y))

    def _forward_autograd(self, x: Any, train: bool) -> Any:
        """A layer of torch tensors with no backward: x and the parameters require grad, and
        eval runs under torch.no_grad()."""
        import torch

        for slot in self.params or ():
            value = slot.get(self.obj)
            if isinstance(value, torch.Tensor) and value.is_leaf:
                value.requires_grad_(True)
        self.x_t = torch.from_numpy(self._to_axis(x).copy()).requires_grad_(train)
        if train:
            self.y_t = P.call_forward(self.obj, self.layout, self.x_t, True)
        else:
            with torch.no_grad():
                self.y_t = P.call_forward(self.obj, self.layout, self.x_t, False)
        return self._from_axis(_arr(self.y_t))

    def _call_backward(self, dy: Any) -> Any:
        if self.torch_grads:
            for slot in self.params or ():
                holder = slot.get(self.obj)
                old = getattr(holder, "grad", None)
                # mini-frameworks accumulate (grad += ...): start from zeros, not None
                holder.grad = np.zeros_like(old) if isinstance(old, np.ndarray) else None
        return self.obj.backward(self._to_axis(dy))

    def backward(self, dy: Any) -> tuple[Any, Any, Any]:
        c = dy.shape[1]
        if self.autograd:
            import torch

            for slot in self.params or ():
                slot.get(self.obj).grad = None
            self.x_t.grad = None
            self.y_t.backward(torch.from_numpy(self._to_axis(dy).copy()), retain_graph=True)
            grads = [_arr(slot.get(self.obj).grad) for slot in self.params or ()] or [None, None]
            return (
                self._from_axis(_arr(self.x_t.grad)),
                self.contracts.per_channel(grads[0], c, "dgamma"),
                self.contracts.per_channel(grads[1], c, "dbeta"),
            )
        result = self._call_backward(dy)
        if self.grad_form == "tuple":
            dx, dg, db = _grads(result, "backward")
        elif self.grad_form == "dict":
            dx, dg, db = _grads_from_dict(result, "backward")
        elif self.grad_form == "dx+dict":
            _, dg, db = _grads_from_dict(result[1], "backward")
            dx = _arr(result[0])
        elif self.torch_grads:
            assert self.params is not None
            dx = _arr(result)
            dg, db = (_arr(s.get(self.obj).grad) for s in self.params)
        else:
            assert self.grad_slots is not None
            dx = _arr(result)
            dg, db = (_arr(s.get(self.obj)) for s in self.grad_slots)
        if isinstance(dx, np.ndarray):
            dx = self._from_axis(dx)
        return (
            dx,
            self.contracts.per_channel(dg, c, "dgamma"),
            self.contracts.per_channel(db, c, "dbeta"),
        )

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.params is not None:
            for key, slot in zip(("gamma", "beta"), self.params, strict=True):
                value = _arr(slot.get(self.obj))
                out[key] = self.contracts.per_channel(value, value.size, slot.label()) if (
                    isinstance(value, np.ndarray)) else value  # fmt: skip
        if self.running is not None:
            for key, slot in zip(("running_mean", "running_var"), self.running, strict=True):
                value = _arr(slot.get(self.obj))
                out[key] = self.contracts.per_channel(value, value.size, slot.label()) if (
                    isinstance(value, np.ndarray)) else value  # fmt: skip
        out["eps"] = _number(_scalar(self.obj, self.eps_slot))
        out["momentum"] = _number(_scalar(self.obj, self.momentum_slot))
        if self.eps_slot is None:
            out["eps"] = self.eps_inferred
        if out["eps"] is None:
            out.pop("eps")
        return out


def _holds_tensors(obj: Any, params: tuple[Slot, Slot] | None) -> bool:
    """Whether the layer keeps its parameters (or, with ``params`` None, any per-channel
    value) as torch tensors."""
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    if params is not None:
        return any(isinstance(s.get(obj), torch.Tensor) for s in params)
    return any(isinstance(v, torch.Tensor) for v in vars(obj).values()) if hasattr(
        obj, "__dict__") else False  # fmt: skip


def _unset(value: Any) -> bool:
    """None, or a plain number standing in for C values until the first forward."""
    return value is None or (
        isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    )


def infer_eps(run: Callable[[Any, Any, Any], Any], c: int, ndim: int) -> float | None:
    """The eps a BN with no eps attribute or parameter uses, from its outputs: with gamma = 1,
    y = (x − mu)/sqrt(var + eps), so eps = 1/s² − var for the slope s of y against x.
    Channels of very different variances must agree (eps outside the root would not);
    otherwise None."""
    rng = np.random.default_rng(99)
    scales = np.array([1e-1, 1e-2, 1e-3] * c)[:c]
    shape = (2 * PROBE_SHAPES[ndim][0], c, *PROBE_SHAPES[ndim][1:])
    x = rng.normal(size=shape) * scales.reshape(1, c, *[1] * (len(shape) - 2))
    y = np.asarray(_arr(run(x, np.ones(c), np.zeros(c))), dtype=np.float64)
    if y.shape != x.shape:
        return None
    x2 = np.moveaxis(x, 1, -1).reshape(-1, c)
    y2 = np.moveaxis(y, 1, -1).reshape(-1, c)
    xc = x2 - x2.mean(axis=0)
    var = (xc**2).mean(axis=0)
    with np.errstate(all="ignore"):
        slope = (y2 * xc).sum(axis=0) / (xc**2).sum(axis=0)
        estimates = 1.0 / slope**2 - var
    seen = estimates[estimates > 1e-6 * var]
    if seen.size == 0 or np.any(seen <= 0) or not np.all(np.isfinite(seen)):
        return None
    if np.max(seen) > 1.01 * np.min(seen):
        return None
    return float(f"{float(np.median(seen)):.3g}")


def _positional_count(fn: Callable[..., Any]) -> int | None:
    """How many positional parameters ``fn`` takes (None: unknown or *args)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return None
    return len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)])


def _changed(y1: Any, y2: Any) -> bool:
    """Whether every channel of the output moved (y2 made with gamma doubled, beta + 1)."""
    n, c = y1.shape[0], y1.shape[1]
    moved = np.abs(y2 - y1).reshape(n, c, -1).max(axis=(0, 2))
    scale = np.abs(y1).reshape(n, c, -1).max(axis=(0, 2)) + 1.0
    return bool(np.all(moved > 1e-9 * scale))


def _scalar(obj: Any, label: str | None) -> Any:
    if label is None:
        return None
    if "[" in label:
        holder, key = label.split("[", 1)
        container = getattr(obj, holder, None)
        return container.get(key[1:-2]) if isinstance(container, dict) else None
    return getattr(obj, label, None)


def _set_new(obj: Any, slot: Slot, value: Any) -> None:
    if slot.container is None:
        setattr(obj, slot.name, value)
    else:
        holder = getattr(obj, slot.container, None)
        if isinstance(holder, dict):
            holder[slot.name] = value


def _binds(factory: Callable[..., Any], form: Construction, c: int, dtype: Any) -> bool:
    """Whether the factory's signature accepts this way of calling it."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return True  # a builtin: just try
    args, kwargs = form.arguments(c, dtype, 2)
    try:
        sig.bind(*args, **kwargs)
    except TypeError:
        return False
    return True


PROBE_SHAPES = {2: (8,), 3: (2, 4), 4: (2, 2, 2), 5: (1, 2, 2, 2)}


def _probe_x(c: int, ndim: int = 2) -> Any:
    """A batch of 8 values per channel, mean 2, spread 1.5, of rank ``ndim``."""
    first, *rest = PROBE_SHAPES[ndim]
    return np.random.default_rng(4321).normal(2.0, 1.5, size=(first, c, *rest))


class TorchAdapter(LayerAdapter):
    """A ``torch.nn.Module`` BN (torch's own or written from scratch, e.g. with gamma/beta
    parameters and moving_mean/moving_var tensors): found like any layer; train()/eval() and,
    for eval, ``torch.no_grad()`` (some tutorial layers choose the mode by
    ``torch.is_grad_enabled()``); gradients from autograd."""

    kind = "torch"

    def describe(self) -> dict[str, Any]:
        import torch

        self.torch = torch
        return super().describe()

    def _detect(self, obj: Any, c: int) -> None:
        super()._detect(obj, c)
        self.layout = Layout(forward_name="__call__", mode="methods")

    def _find_grads(self, dy: Any, c: int) -> None:
        self.backward(dy)  # autograd: the gradients of x and of the parameters

    def _grads_text(self) -> str:
        return (
            "gradients by autograd (x.grad and the parameters' .grad); eval runs after eval() "
            "and under torch.no_grad()"
        )

    def new(self, num_features: int, dtype: str, eps: float, ndim: int = 2) -> dict[str, Any]:
        torch = self.torch
        self.last_ndim = ndim
        tdtype = getattr(torch, dtype)
        self.obj = self._make(num_features, None, ndim).to(tdtype)
        for pair in (self.params, self.running):
            for slot in pair or ():
                value = slot.get(self.obj)
                if hasattr(value, "dtype") and hasattr(value, "to") and value.dtype != tdtype:
                    _set_new(self.obj, slot, value.to(tdtype))  # a plain tensor attribute
        self.x: Any = None
        self.y: Any = None
        return self.state()

    def forward(self, x: Any, train: bool) -> Any:
        torch = self.torch
        self.last_ndim = x.ndim
        self.obj.train(train)
        self.obj.zero_grad(set_to_none=True)
        self.x = torch.from_numpy(self._to_axis(x).copy()).requires_grad_(train)
        if train:
            self.y = self.obj(self.x)
        else:
            with torch.no_grad():
                self.y = self.obj(self.x)
        return self._from_axis(_arr(self.y))

    def backward(self, dy: Any) -> tuple[Any, Any, Any]:
        torch = self.torch
        self.obj.zero_grad(set_to_none=True)
        for slot in self.params or ():
            value = slot.get(self.obj)
            if hasattr(value, "grad"):
                value.grad = None
        self.x.grad = None
        self.y.backward(torch.from_numpy(self._to_axis(dy).copy()), retain_graph=True)
        c = dy.shape[1]
        grads = [None, None]
        if self.params is not None:
            grads = [_arr(getattr(s.get(self.obj), "grad", None)) for s in self.params]
        return (
            self._from_axis(_arr(self.x.grad)),
            self.contracts.per_channel(grads[0], c, "dgamma"),
            self.contracts.per_channel(grads[1], c, "dbeta"),
        )


# -- loading ---------------------------------------------------------------------------------


def _import_file(path: Path) -> types.ModuleType:
    if not path.is_file():
        raise LoadError(f"target file {str(path)!r} does not exist")
    name = f"_bncheck_target_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LoadError(f"cannot import {str(path)!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _resolve(spec: str) -> tuple[Any, str | None]:
    """'file.py[:name]' or 'pkg.mod[:name]' or 'pkg.mod.Attr' -> (module or object, name)."""
    base, _, attr = spec.partition(":")
    if base.endswith(".py") or os.sep in base:
        return _import_file(Path(base)), attr or None
    try:
        return importlib.import_module(base), attr or None
    except ImportError as exc:
        missing = getattr(exc, "name", None)
        if missing is not None and not base.startswith(missing) and missing != base:
            raise  # the target exists, and its own import of another module failed
        if attr or "." not in base:
            raise LoadError(f"no module named {base!r}") from None
        mod_name, _, last = base.rpartition(".")
        try:
            module = importlib.import_module(mod_name)
        except ImportError:
            raise LoadError(f"no module named {mod_name!r} (nor {base!r})") from None
        if not hasattr(module, last):
            raise LoadError(f"module {mod_name!r} has no {last!r}") from None
        return getattr(module, last), None


def _is_torch_module(obj: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def _is_torch_class(obj: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and inspect.isclass(obj) and issubclass(obj, torch.nn.Module)


def _from_factory(factory: Callable[..., Any], name: str, axis: int) -> Any:
    if _is_torch_class(factory):
        return TorchAdapter(factory, name, axis=axis)
    if inspect.isfunction(factory):
        # a factory function may build a torch module
        try:
            params = inspect.signature(factory).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        if len([p for p in params.values() if p.default is p.empty]) == 1:
            probe = factory(2)
            if _is_torch_module(probe):
                return TorchAdapter(factory, name, axis=axis)
    return LayerAdapter(factory, name, axis=axis)


CS231N_NOT_PARAM = ("eps", "epsilon")


def _from_module(module: Any, prefix: str | None, name: str, axis: int = 1) -> Any:
    fname, bname = (
        (f"{prefix}_forward", f"{prefix}_backward") if prefix else ("forward", "backward")
    )
    if callable(getattr(module, fname, None)) and callable(getattr(module, bname, None)):
        return FunctionalAdapter(getattr(module, fname), getattr(module, bname), name)
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
            key = params[3].name
            return FunctionalAdapter(
                lambda x, g, b, eps: cf(x, g, b, **{key: eps}), lambda dy, c: cb(dy, c), name
            )
        if len(params) == 3:  # eps hard-coded inside: inferred from the outputs
            return FunctionalAdapter(cf, cb, name)
        raise LoadError(
            f"{name}: batchnorm_forward takes {len(params)} parameters; expected (x, gamma, "
            "beta, bn_param) or (x, gamma, beta, eps)"
        )
    what = f"{fname}/{bname}" if prefix else "forward/backward or batchnorm_forward/_backward"
    if prefix is None:
        classes = _bn_classes(module)
        if len(classes) == 1:  # the module's only BN layer class
            ((cls_name, cls),) = classes.items()
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


def _from_object(obj: Any, name: str, axis: int) -> Any:
    if isinstance(obj, types.ModuleType):
        return _from_module(obj, None, name, axis)
    if isinstance(obj, tuple) and len(obj) == 2 and all(callable(f) for f in obj):
        return FunctionalAdapter(obj[0], obj[1], name)
    if inspect.isclass(obj) or inspect.isfunction(obj) or isinstance(obj, types.MethodType):
        return _from_factory(obj, name, axis)
    if _is_torch_module(obj):
        module = TorchAdapter(None, name, instance=obj, axis=axis)
        module.channels = int(getattr(obj, "num_features", 0)) or None
        return module
    if hasattr(obj, "forward") or hasattr(obj, "backward"):
        adapter = LayerAdapter(None, name, instance=obj, axis=axis)
        count = getattr(obj, "num_features", None)
        if not isinstance(count, int):
            found = P.find_pair(obj, P.PARAM_NAMES, P.CONTAINERS, None, allow_none=False)
            count = int(np.asarray(_arr(found[0].get(obj))).size) if found else None
        adapter.channels = count
        return adapter
    raise LoadError(f"cannot use {type(obj).__name__} {name!r} as a BN target")


def load_adapter(target: Any, axis: int = 1, ndims: tuple[int, ...] = (2, 4)) -> Any:
    """Build the adapter for a target spec string or object (called in the worker process);
    ``ndims``: the ranks asked for, probed first."""
    if isinstance(target, str):
        obj, attr = _resolve(target)
        if attr is None:
            adapter = _from_object(obj, target, axis)
        elif callable(getattr(obj, f"{attr}_forward", None)):
            adapter = _from_module(obj, attr, target)
        elif not hasattr(obj, attr):
            raise LoadError(f"{target!r}: the module has no {attr!r} (nor {attr}_forward)")
        else:
            adapter = _from_object(getattr(obj, attr), target, axis)
    else:
        adapter = _from_object(target, getattr(target, "__name__", type(target).__name__), axis)
    adapter.wanted = tuple(ndims)
    return adapter
