"""Driving a layer object once its mapping is known (run inside the worker process): how it is
built, its mode switch, where its parameters, statistics and gradients live. The detection of
that mapping is :mod:`bncheck.check._verify.targets.layer`."""

from __future__ import annotations

import contextlib
import copy
import inspect
import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from bncheck.check._verify.targets.common import (
    Contract,
    as_array,
    as_number,
    call_one,
    grads_from_dict,
    returned,
    split_grads,
    tensor_of,
)
from bncheck.check._verify.targets.layout import Construction, Layout, call_forward, construction_of
from bncheck.check._verify.targets.names import DECAY_NAMES, Slot
from bncheck.check._verify.targets.values import Path
from bncheck.exceptions import LoadError

#: where a value lives: a name-table slot or a path found by behaviour or given by the user
Where = Slot | Path


#: parameter names of a backward that takes the forward's input and output beside dy
_X_NAMES = ("x", "inputs", "input", "x_in")
_OUT_NAMES = ("out", "y", "output", "outputs", "result")
_DY_NAMES = ("dout", "dy", "grad", "grad_output", "grads", "dvalues", "g", "gy", "delta")


def _is_dy_name(low: str) -> bool:
    """Whether a parameter's lower-case name says it is the gradient of the output: one of
    :data:`_DY_NAMES`, or a name holding "grad" (``grads_wrt_outputs``, ``output_grad``,
    ``upstream_grad``: the forward's input and output are never named so)."""
    return low in _DY_NAMES or "grad" in low


def backward_arguments(method: Any, x: Any, y: Any, dy: Any) -> tuple[Any, ...] | None:
    """The arguments of a backward that takes more than dy, by its parameters' names:
    ``bprop(x, out, dout)`` (MindSpore's Cell), ``bprop(inputs, outputs, grads_wrt_outputs)``
    (the Edinburgh mlp framework's layers) get the last forward's input and output and dy;
    None when it takes dy alone or its names say nothing of these roles.

    Examples
    --------
    >>> def bprop(inputs, outputs, grads_wrt_outputs): ...
    >>> backward_arguments(bprop, "x", "y", "dy")
    ('x', 'y', 'dy')
    >>> def backward(dout, cache): ...
    >>> backward_arguments(backward, "x", "y", "dy") is None
    True
    >>> def vjp(x, cotangent): ...
    >>> backward_arguments(vjp, "x", "y", "dy")
    ('x', 'dy')
    """
    try:
        params = [
            p
            for p in inspect.signature(method).parameters.values()
            if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        return None
    if len(params) < 2:
        return None
    out: list[Any] = []
    unnamed = []
    for i, p in enumerate(params):
        low = p.name.lower()
        if _is_dy_name(low):
            out.append(dy)
        elif low in _X_NAMES and x is not None:
            out.append(x)
        elif low in _OUT_NAMES and y is not None:
            out.append(y)
        else:
            unnamed.append(i)
            out.append(None)
    if not any(v is dy for v in out) and len(unnamed) == 1:
        # every other parameter is the forward's input or output: the one left is dy, whatever
        # its name (``vjp(x, cotangent)``, ``backprop(x, err)``)
        out[unnamed[0]] = dy
    elif unnamed:
        return None
    return tuple(out) if any(v is dy for v in out) else None


class LayerDriver:
    """A layer object driven by the mapping that ``LayerAdapter`` (adapter_layer) found: build
    instances, call forward and backward in either mode, read and write its parameters and
    statistics."""

    def __init__(
        self,
        factory: Callable[..., Any] | None,
        name: str,
        *,
        instance: Any = None,
        axis: int = 1,
    ) -> None:
        self.factory, self.name = factory, name
        self.instance = instance
        self.obj: Any = None
        #: an instance target has a fixed number of channels; a factory takes any
        self.channels: int | None = None
        #: the channels of the instance new() made last
        self.width = 0
        self.axis = axis
        #: the channel axis was given (--axis, bncheck.adapt); else a layer that takes 4-D
        #: input channels-last only is driven so, found by behaviour
        self.axis_given = axis != 1
        self.axis_found = False
        self.build: Construction | None = None
        self.layout = Layout()
        self.params: tuple[Where, Where] | None = None
        self.running: tuple[Where, Where] | None = None
        self.eps_slot: str | None = None
        self.momentum_slot: str | None = None
        self.grad_form = "tuple"  # "tuple", "dict", "slots" or "none" (no parameters)
        #: what a "tuple" backward returns, as the mapping shows it
        self.grad_returned = "(dx, dgamma, dbeta)"
        #: whether a "tuple" backward gives the parameters' gradients beta's first, (dx, dbeta,
        #: dgamma) as Lasagne's and Theano's grad lists do (found by behaviour: layer.py)
        self.grad_swapped = False
        self.grad_slots: tuple[Where, Where] | None = None
        #: the user's mapping from the command line: role -> path ("gamma", "mode", ...)
        self.given: dict[str, Any] = {}
        #: how values were found, when by behaviour (shown under "Plugged in as")
        self.param_note = ""
        self.running_note = ""
        #: values that carry every training batch but were not read as running statistics
        #: (labels): the layer keeps running state, its running and eval go not checked
        self.unread_state: list[str] = []
        #: how gradient slots are reset before each backward: the layer's no-argument method
        #: that zeroes them (found by behaviour), or zeroed in place (slots of parameter
        #: objects, which an optimizer zeroes); neither: left as they are
        self.grad_reset = ""
        self.grad_zero = False
        #: the array the next forward gets its input in, refilled (refill()): the last
        #: forward's, no longer watched for changes once it is bncheck's to refill
        self.refill_buffer: Any = None
        self.grad_note = ""
        #: the method that takes dy (``backward`` unless found by behaviour or given)
        self.backward_name = "backward"
        #: the tensor class of a layer built on its own autograd engine (no layer backward)
        self.engine: Any = None
        #: a method called before each training forward, for a layer whose backward covers
        #: every input since its last call (found by behaviour)
        self.reset_name = ""
        self.torch_grads = False
        #: the attribute a backward that returns nothing writes dx to (``self.dinputs``, as
        #: the "neural networks from scratch" layers do), found by behaviour; "" when it
        #: returns dx
        self.dx_attribute = ""
        #: the method giving [dgamma, dbeta] when the backward gives dx alone
        #: (``grads_wrt_params(inputs, grads_wrt_outputs)``, grad_form "method"), or ""
        self.grads_method = ""
        self.lazy_params = False
        self.lazy_running = False
        self.contracts = Contract()
        self.mapping: list[str] = []
        self.last_ndim = 2
        self.probe_ndim = 2
        self.eps_inferred: float | None = None
        self.ndims = [2]
        self.wanted: tuple[int, ...] = (2, 4)
        self.rank_errors: dict[int, str] = {}
        #: a layer written with torch tensors and no backward (trained by autograd)
        self.autograd = False
        #: eval forwards run with gradient recording on instead of under no_grad (eval_grad)
        self.grad_in_eval = False
        self.passed_x: Any = None
        #: the last forward's output, as the layer returned it (for ``bprop(x, out, dout)``)
        self.passed_y: Any = None
        self.x_t: Any = None
        self.y_t: Any = None
        #: the parameters ("gamma", "beta") frozen by :meth:`freeze` until the next new()
        self.frozen: frozenset[str] = frozenset()

    # -- building ------------------------------------------------------------------------------
    def _make(self, c: int, dtype: Any, ndim: int = 2) -> Any:
        return as_object(self._build(c, dtype, ndim))

    def _build(self, c: int, dtype: Any, ndim: int = 2) -> Any:
        if self.instance is not None:
            return copy.deepcopy(self.instance)
        assert self.factory is not None
        if self.build is None and "build" in self.given:
            self.build = Construction("given", given=self.given["build"])
        if self.build is not None:
            return self.build.build(self.factory, c, dtype, ndim)
        tried = []
        for form in construction_of(self.factory):
            if not _binds(self.factory, form, c, dtype):
                tried.append(form.describe(self.name))
                continue
            obj = form.build(self.factory, c, dtype, ndim)  # the target's own errors propagate
            self.build = form
            return obj
        raise LoadError(
            f"cannot construct {self.name}: tried {', '.join(tried)}; give its constructor's "
            "arguments with --build 'C, ...' (C: the channel count), or map it with "
            "bncheck.adapt (see the README)"
        )

    # -- the protocol ---------------------------------------------------------------------------
    def contract(self) -> list[str]:
        return list(self.contracts.seen)

    def variant(self, name: str) -> None:
        raise ValueError(f"no backward variant {name!r}")

    def new(self, num_features: int, dtype: str, eps: float, ndim: int = 2) -> dict[str, Any]:
        self.last_ndim = ndim
        self.width = num_features
        self.frozen = frozenset()
        self.obj = self._make(num_features, np.dtype(dtype), ndim)
        c = num_features
        if self.lazy_params or self.lazy_running:
            self._warm_up(c, dtype)
        if self.params is not None and self.lazy_params:
            for slot, value in zip(
                self.params, (np.ones(c, dtype), np.zeros(c, dtype)), strict=True
            ):
                if unset(slot.get(self.obj)):
                    set_new(self.obj, slot, value)
        if self.running is not None and self.lazy_running:
            for slot, value in zip(
                self.running, (np.zeros(c, dtype), np.ones(c, dtype)), strict=True
            ):
                if unset(slot.get(self.obj)):
                    set_new(self.obj, slot, value)
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
                call_forward(self.obj, self.layout, self._to_axis(x), train)
                return
            except Exception:
                continue

    def _cast(self, dtype: str) -> None:
        """Parameters and statistics in the run's dtype (a float32 run of a float64 layer)."""
        torch = sys.modules.get("torch")
        for pair in (self.params, self.running):
            for slot in pair or ():
                value = slot.get(self.obj)
                if isinstance(value, np.ndarray) and value.dtype != np.dtype(dtype):
                    try:
                        slot.set(self.obj, value.astype(dtype))
                        after = slot.get(self.obj)
                        kept = isinstance(after, np.ndarray) and after.dtype != np.dtype(dtype)
                    except (TypeError, AttributeError):  # a tuple item, a read-only property
                        kept = True
                    if kept:  # a tuple item, a row of an array, a property without a setter
                        self.contracts.note(
                            f"{slot.label()} stays {value.dtype} in a {dtype} run (held in a "
                            "tuple, as a row of an array or behind a read-only property, which "
                            "bncheck cannot replace)"
                        )
                elif torch is not None and isinstance(value, torch.Tensor):
                    wanted = getattr(torch, dtype)
                    if value.dtype != wanted:
                        set_new(self.obj, slot, value.detach().to(wanted))

    def reload(self) -> None:
        """The layer saved and restored as users do: a module's ``state_dict()`` loaded back into
        it (``load_state_dict``, PyTorch's checkpoint round trip), then a deep copy of the
        object in its place (what ``copy.deepcopy`` and pickling give). AttributeError for a
        target that is no object of its own (a dict of functions, an engine's)."""
        obj = self.obj
        if obj is None or isinstance(obj, dict) or self.engine is not None:
            raise AttributeError("no layer object to save and restore")
        if callable(getattr(obj, "state_dict", None)) and callable(
            getattr(obj, "load_state_dict", None)
        ):
            obj.load_state_dict(copy.deepcopy(obj.state_dict()))
        self.obj = copy.deepcopy(obj)

    def freeze(self, names: Any) -> None:
        """Parameters of a layer trained by autograd frozen as fine-tuning freezes them
        (``requires_grad_(False)`` on the tensor; ``names``: "gamma" and/or "beta"), until the
        next new(): the backward gives None for their gradients. AttributeError for a layer
        with a backward of its own (its parameters have no such switch)."""
        torch = sys.modules.get("torch")
        torch_module = getattr(self, "kind", "") == "torch"
        if torch is None or not (self.autograd or torch_module) or self.params is None:
            raise AttributeError("freezing applies to the parameters of autograd layers only")
        chosen = frozenset(str(n) for n in names) & {"gamma", "beta"}
        for role, slot in zip(("gamma", "beta"), self.params, strict=True):
            value = slot.get(self.obj)
            if role in chosen:
                if not isinstance(value, torch.Tensor) or not value.is_leaf:
                    raise AttributeError(f"{slot.label()} is no tensor that can be frozen")
                value.requires_grad_(False)
        self.frozen = chosen

    def reset_running(self) -> None:
        """The layer's own reset of its running statistics, as users call it between tasks
        or before re-estimating them (``reset_running_stats()``: PyTorch's norm layers and the
        layers written after them). AttributeError for a layer without one."""
        method = getattr(self.obj, "reset_running_stats", None)
        if self.obj is None or self.running is None or not callable(method):
            raise AttributeError("the layer has no reset_running_stats()")
        method()

    def set_running(self, mean: Any, var: Any) -> None:
        """Write the running statistics where the layer holds them (a torch buffer is filled
        in place, as ``load_state_dict`` does); AttributeError without any found."""
        if self.running is None:
            raise AttributeError("no running statistics found to write")
        for slot, value in zip(self.running, (mean, var), strict=True):
            old = slot.get(self.obj)
            if isinstance(old, np.ndarray) and old.flags.writeable and old.size == np.size(value):
                # into the array the layer holds, as load_state_dict copies into its buffers
                np.copyto(old, np.asarray(value).reshape(old.shape), casting="unsafe")
            else:
                slot.set(self.obj, np.asarray(value).copy())

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
        if self.engine is not None:
            return self._forward_engine(x, train)
        if train and self.reset_name:  # a layer whose backward covers every forward since
            getattr(self.obj, self.reset_name)()  # its last reset: one forward per step
        if train and self.grad_reset:  # a new step: the layer's own reset of its gradients
            getattr(self.obj, self.grad_reset)()
        xa = self._to_axis(x)
        old, self.refill_buffer = self.refill_buffer, None
        if (
            isinstance(old, np.ndarray)
            and isinstance(xa, np.ndarray)
            and old.shape == xa.shape
            and old.dtype == xa.dtype
            and old.flags.writeable
        ):
            old[...] = xa  # the last input's array, refilled in place (refill())
            xa = old
        self.passed_x = xa
        y = call_forward(self.obj, self.layout, self.passed_x, train)
        self.passed_y = y
        if (
            isinstance(y, (tuple, list))
            and len(y) in (2, 3)
            and isinstance(y[0], np.ndarray)
            and y[0].shape == self.passed_x.shape
        ):
            self.contracts.note("forward returns a tuple; its first item is taken as y")
            y = y[0]
        return self._from_axis(returned(y))

    def refill(self) -> None:
        """The next forward is handed its input in the array the last forward was given,
        refilled in place with the new values, as a loop that reuses one input buffer hands
        it (an eval that answers from a memo keyed by the input array's identity then gives
        the old output). Layers taking NumPy arrays only."""
        if self.autograd or self.engine is not None or not isinstance(self.passed_x, np.ndarray):
            raise AttributeError("refilling the input's array applies to layers taking arrays")
        self.refill_buffer, self.passed_x = self.passed_x, None

    def _forward_autograd(self, x: Any, train: bool) -> Any:
        """A layer of torch tensors with no backward: x and the parameters require grad, and
        eval runs under torch.no_grad()."""
        import torch

        for role, slot in zip(("gamma", "beta"), self.params or (), strict=False):
            value = slot.get(self.obj)
            if isinstance(value, torch.Tensor) and value.is_leaf:
                value.requires_grad_(role not in self.frozen)
        record = train or self.grad_in_eval
        self.x_t = tensor_of(torch, self._to_axis(x)).requires_grad_(record)
        if record:
            with torch.enable_grad():
                self.y_t = call_forward(self.obj, self.layout, self.x_t, train)
        else:
            with torch.no_grad():
                self.y_t = call_forward(self.obj, self.layout, self.x_t, False)
        return self._from_axis(as_array(self.y_t))

    def eval_grad(self, on: bool) -> None:
        """Eval forwards of an autograd layer with gradient recording on (True) or under
        no_grad (False); a layer with its own backward has no such choice."""
        if not self.autograd:
            raise AttributeError("eval with gradient recording applies to autograd targets only")
        self.grad_in_eval = bool(on)

    def _forward_engine(self, x: Any, train: bool) -> Any:
        """x as the engine's tensor, asking for its gradient; y's array back."""
        xa = self._to_axis(x)
        self.passed_x = xa
        try:
            self.x_t = self.engine(xa, requires_grad=True)
        except TypeError:
            self.x_t = self.engine(xa)
            with contextlib.suppress(AttributeError):
                self.x_t.requires_grad = True
        self.y_t = call_forward(self.obj, self.layout, self.x_t, train)
        return self._from_axis(as_array(getattr(self.y_t, "data", self.y_t)))

    def _backward_engine(self, dy: Any) -> tuple[Any, Any, Any]:
        c = dy.shape[1]
        for slot in self.params or ():
            holder = slot.get(self.obj)
            if hasattr(holder, "grad"):
                _clear_grad(holder)
        _clear_grad(self.x_t)
        grad = self._to_axis(dy)
        try:
            self.y_t.backward(grad)
        except Exception:
            try:
                self.y_t.backward(self.engine(grad))
            except Exception:
                # Chainer's protocol: the output's gradient is set first, then backward()
                # with no gradient argument (a non-scalar output refuses it otherwise)
                self.y_t.grad = grad
                self.y_t.backward()
        grads = [as_array(getattr(s.get(self.obj), "grad", None)) for s in self.params or ()]
        grads = [getattr(g, "data", g) for g in grads] or [None, None]
        dx = as_array(getattr(self.x_t.grad, "data", self.x_t.grad))
        return (
            self._from_axis(dx) if isinstance(dx, np.ndarray) else dx,
            self.contracts.per_channel(grads[0], c, "dgamma"),
            self.contracts.per_channel(grads[1], c, "dbeta"),
        )

    def _call_backward(self, dy: Any) -> Any:
        if self.torch_grads:
            for slot in self.params or ():
                holder = slot.get(self.obj)
                old = getattr(holder, "grad", None)
                # mini-frameworks accumulate (grad += ...): start from zeros, not None
                holder.grad = np.zeros_like(old) if isinstance(old, np.ndarray) else None
        if self.grad_form == "slots" and self.grad_slots is not None:
            # gradients kept in the layer's own slots may be added into (Torch7's
            # accGradParameters, until zeroGradParameters()): reset each step as a training
            # loop resets them, by the layer's own method that zeroes them (before the
            # training forward: forward()), or, in parameter objects (blob.diff), zeroed in
            # place here as an optimizer zeroes them; a layer with neither is left as it is
            # (adding into them is then its mistake)
            if self.grad_zero:
                for slot in self.grad_slots:
                    old = slot.get(self.obj)
                    if isinstance(old, np.ndarray) and old.flags.writeable:
                        old.fill(0)
        method = getattr(self.obj, self.backward_name)
        dyt = self._to_axis(dy)
        args = backward_arguments(method, self.passed_x, self.passed_y, dyt)
        if args is not None:  # bprop(x, out, dout): MindSpore's order, read from the names
            return method(*args)
        return call_one(method, dyt)

    def own_names(self) -> tuple[str, str] | tuple[()]:
        """The names the layer gives its scale and shift (the last step of each one's path:
        an attribute or a dict key), () with none found: a backward's dict of gradients may
        be keyed by them."""
        if self.params is None:
            return ()
        return (self.params[0].name, self.params[1].name)

    def method_grads(self, dy: Any, name: str = "") -> tuple[Any, Any]:
        """(dgamma, dbeta) from the layer's method ``name`` (default: the one found), called
        after the backward with the last forward's input and output and dy, by its parameters'
        names (:func:`backward_arguments`), or with dy alone."""
        method = getattr(self.obj, name or self.grads_method)
        dyt = self._to_axis(dy)
        args = backward_arguments(method, self.passed_x, self.passed_y, dyt) or (dyt,)
        result = method(*args)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise TypeError(
                f"{name or self.grads_method} returned {type(result).__name__}; expected "
                "[dgamma, dbeta]"
            )
        return returned(result[0]), returned(result[1])

    def backward(self, dy: Any) -> tuple[Any, Any, Any]:
        c = dy.shape[1]
        if self.engine is not None:
            return self._backward_engine(dy)
        if self.autograd:
            import torch

            for slot in self.params or ():
                slot.get(self.obj).grad = None
            self.x_t.grad = None
            self.y_t.backward(tensor_of(torch, self._to_axis(dy)), retain_graph=True)
            grads = [
                None if role in self.frozen else as_array(slot.get(self.obj).grad)
                for role, slot in zip(("gamma", "beta"), self.params or (), strict=False)
            ] or [None, None]
            return (
                self._from_axis(as_array(self.x_t.grad)),
                self.contracts.per_channel(grads[0], c, "dgamma"),
                self.contracts.per_channel(grads[1], c, "dbeta"),
            )
        result = self._call_backward(dy)
        if self.dx_attribute and result is None:
            result = getattr(self.obj, self.dx_attribute, None)
        if self.grad_form == "none":  # no parameters: dx alone (layer.py, _find_grads)
            dx = returned(result[0] if isinstance(result, (tuple, list)) and result else result)
            return (self._from_axis(dx) if isinstance(dx, np.ndarray) else dx, None, None)
        if self.grad_form == "tuple":
            dx, dg, db = split_grads(result, "backward", self.own_names())
            if self.grad_swapped:
                dg, db = db, dg
        elif self.grad_form == "dict":
            dx, dg, db = grads_from_dict(result, "backward", self.own_names())
        elif self.grad_form == "method":
            dx = returned(result)
            dg, db = self.method_grads(dy)
        elif self.torch_grads:
            assert self.params is not None
            dx = returned(result)
            dg, db = (as_array(s.get(self.obj).grad) for s in self.params)
        else:
            assert self.grad_slots is not None
            dx = returned(result)
            dg, db = (as_array(s.get(self.obj)) for s in self.grad_slots)
        if isinstance(dx, np.ndarray):
            dx = self._from_axis(dx)
        return (
            dx,
            self.contracts.per_channel(dg, c, "dgamma"),
            self.contracts.per_channel(db, c, "dbeta"),
        )

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.params is None and self.width:
            # none found: judged as the mapping says, gamma = 1 and beta = 0, never with the
            # case's parameters, which this layer was never given
            out["gamma"], out["beta"] = np.ones(self.width), np.zeros(self.width)
        if self.params is not None:
            for key, slot in zip(("gamma", "beta"), self.params, strict=True):
                value = as_array(slot.get(self.obj))
                out[key] = (
                    self.contracts.per_channel(value, value.size, slot.label())
                    if (isinstance(value, np.ndarray))
                    else value
                )
        if self.running is not None:
            for key, slot in zip(("running_mean", "running_var"), self.running, strict=True):
                value = as_array(slot.get(self.obj))
                out[key] = (
                    self.contracts.per_channel(value, value.size, slot.label())
                    if (isinstance(value, np.ndarray))
                    else value
                )
        out["eps"] = as_number(scalar(self.obj, self.eps_slot))
        out["momentum"] = as_number(scalar(self.obj, self.momentum_slot))
        # a decay weighs the old value (running check: the batch's weight is 1 − decay)
        out["momentum_is_decay"] = (self.momentum_slot or "").lower().lstrip("_") in DECAY_NAMES
        if self.eps_slot is None:
            out["eps"] = self.eps_inferred
        if out["eps"] is None:
            out.pop("eps")
        return out


class DictLayer:
    """A dict of functions and values seen as an object: its ``__dict__`` IS the dict, so an
    attribute bncheck reads or writes is the dict's own entry. The functions of such a layer
    often hold the dict itself (``layer["gamma"]`` read inside ``forward``): a copy (a
    namespace of the items) would leave them the values bncheck never set."""

    def __repr__(self) -> str:
        return f"DictLayer({sorted(self.__dict__)})"


def as_object(value: Any) -> Any:
    """A dict of functions and values (a factory returning ``{"forward": f, "params": ...}``)
    seen as an object with those attributes (:class:`DictLayer`, through to the dict itself);
    anything else as it is."""
    if (
        isinstance(value, dict)
        and value
        and all(isinstance(k, str) and k.isidentifier() for k in value)
        and any(callable(v) for v in value.values())
    ):
        layer = DictLayer()
        try:
            layer.__dict__ = value
        except TypeError:  # a mapping Python will not take as a __dict__: a copy
            return types.SimpleNamespace(**value)
        return layer
    return value


def unset(value: Any) -> bool:
    """None, or a plain number standing in for C values until the first forward."""
    return value is None or (
        isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    )


def scalar(obj: Any, label: str | None) -> Any:
    if label is None:
        return None
    if "[" in label:
        holder, key = label.split("[", 1)
        container = getattr(obj, holder, None)
        return container.get(key[1:-2]) if isinstance(container, dict) else None
    for name in label.split("."):  # a dotted path: a framework layer held inside the object
        obj = getattr(obj, name, None)
    return obj


def set_new(obj: Any, slot: Where, value: Any) -> None:
    if isinstance(slot, Path):
        slot.set(obj, value)
        return
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


def _clear_grad(tensor: Any) -> None:
    """An engine tensor's gradient cleared before a backward: ``.grad = None``, or, where the
    engine keeps ``grad`` read-only (MyGrad), its own method for it."""
    try:
        tensor.grad = None
        return
    except (AttributeError, TypeError):
        pass
    for name in ("null_grad", "zero_grad", "cleargrad"):
        method = getattr(tensor, name, None)
        if callable(method):
            method()
            return
