"""PyTorch in the framework registry: the adapter of a ``torch.nn.Module`` (run inside the
worker process)."""

from __future__ import annotations

import dataclasses
import inspect
import sys
from typing import Any

import numpy as np

from bncheck.check._verify.targets.common import as_array, tensor_of
from bncheck.check._verify.targets.frameworks import Framework
from bncheck.check._verify.targets.layer import LayerAdapter
from bncheck.check._verify.targets.layer_driver import set_new
from bncheck.check._verify.targets.layout import Layout, call_forward
from bncheck.exceptions import LoadError


class TorchAdapter(LayerAdapter):
    """A ``torch.nn.Module`` BN (torch's own or written from scratch, e.g. with gamma/beta
    parameters and moving_mean/moving_var tensors): found like any layer; train()/eval(), the
    input in the layout under test (channels-last memory format included); eval under
    ``torch.no_grad()``, or with gradient recording on after :meth:`eval_grad` (a layer that
    chooses batch statistics by ``torch.is_grad_enabled()`` instead of ``self.training`` is
    wrong there); gradients from autograd."""

    kind = "torch"

    def describe(self) -> dict[str, Any]:
        import torch

        self.torch = torch
        return super().describe()

    #: the switches passed as an argument of forward (``forward(x, training: bool)``)
    ARGUMENT_MODES = ("kwarg", "inverted", "string", "positional")
    #: a mode argument of its forward, passed beside train()/eval() (a module written to be
    #: switched by ``forward(x, training)`` ignores self.training); found by _detect
    mode_argument: Layout | None = None

    def _detect(self, obj: Any, c: int) -> None:
        super()._detect(obj, c)
        if (
            self.params is not None
            and "gamma" not in self.given
            and not any(True for _ in obj.parameters())
            and all(s.get(obj) is None for s in self.params)
        ):  # weight = bias = None (affine=False): no parameters to set
            self.params = None
        untracked = (
            self.running is not None
            and "running_mean" not in self.given
            and all(s.get(obj) is None for s in self.running)
            and getattr(obj, "track_running_stats", None) is False
        )
        self.untracked = untracked
        if untracked:  # running_mean = running_var = None: batch statistics in eval mode too
            self.running = None
        found = self.layout
        self.layout = Layout(forward_name="__call__", mode="none" if untracked else "methods")
        self.mode_argument = None
        if found.mode in self.ARGUMENT_MODES:
            self.mode_argument = dataclasses.replace(found, forward_name="__call__")
        elif not untracked:
            self.mode_argument = self._switch_beside_methods(obj, c)

    def _switch_beside_methods(self, obj: Any, c: int) -> Layout | None:
        """A switch of the module's own that it reads instead of ``self.training`` (a
        ``frozen`` flag, a ``use_global_stats`` attribute, a ``set_mode('eval')`` setter),
        given with --mode or found by behaviour, when train()/eval() alone does not make the
        eval output stop depending on the batch: None when train()/eval() does (a torch
        module's own switch), or when nothing does (then eval is judged as train()/eval()
        leaves it: an eval that uses the batch statistics is the module's mistake)."""
        if "mode" in self.given:
            found = self._given_mode(c, obj)
            return None if found.mode == "methods" else found
        methods = Layout(forward_name="__call__", mode="methods")
        if self._try_mode(methods, c) == "strong":
            return None
        for layout in _own_switches(obj):
            if self._try_mode(layout, c) == "strong":
                layout.notes.append(
                    "train()/eval() alone left the eval output following the batch; this "
                    "switch of its own (set beside them) does not"
                )
                return layout
        return None

    def _probe_object(self, c: int, ndim: int) -> Any:
        return self._make(c, np.float64, ndim).double()

    def _probe_call(self, obj: Any, layout: Layout, x: Any, train: bool) -> Any:
        torch = sys.modules["torch"]
        obj.train(train)
        xt = tensor_of(torch, x).double()
        with torch.no_grad():
            if layout.mode == "methods":
                return as_array(obj(xt))
            return as_array(call_forward(obj, layout, xt, train))

    #: track_running_stats=False: no running statistics, and eval normalizes by the batch
    untracked = False

    def _probe(self, c: int) -> None:
        super()._probe(c)
        if self.untracked:
            said = (
                "running statistics: none (track_running_stats=False: PyTorch normalizes with "
                "the batch statistics in eval mode too, so there is no eval mode to check)"
            )
            self.mapping = [
                said if m == "running statistics: none found" else m
                for m in self.mapping
                if not m.startswith("mode: ")
            ]

    def _find_grads(self, dy: Any, c: int) -> None:
        if self.params is None:
            trainable = [n for n, v in self.obj.named_parameters() if v.requires_grad]
            if trainable:
                # parameters bncheck cannot set: judging the module as if gamma = 1 and
                # beta = 0 would judge values it never had (and ask for gradients it cannot
                # read), so it is refused, not failed
                raise LoadError(
                    f"{self.name}: the module has trainable parameters "
                    f"({', '.join(trainable[:8])}) but none of C = {c} values acts as gamma "
                    "or beta by the affine law (adding to beta shifts y, adding to gamma "
                    "moves y along x_hat); name them with --gamma PATH --beta PATH"
                )
            self.grad_form = "none"  # no parameters at all: dx alone (affine=False)
        self.backward(dy)  # autograd: the gradients of x and of the parameters

    def _grads_text(self) -> str:
        told = ""
        if self.mode_argument is not None and self.mode_argument.mode in self.ARGUMENT_MODES:
            told = f" and with {self.mode_argument.mode_name}= its forward's mode argument"
        elif self.mode_argument is not None:  # a switch of its own beside train()/eval()
            told = (
                f" and with its own switch, {self.mode_argument.describe()} (train()/eval() "
                "alone left the eval output following the batch)"
            )
        grads = "x.grad and the parameters' .grad"
        if self.grad_form == "none":
            grads = "x.grad only: the module has no parameters, so no dgamma or dbeta"
        return (
            f"gradients by autograd ({grads}); eval runs after eval()"
            f"{told}, under torch.no_grad() and again with gradient recording on"
        )

    def eval_grad(self, on: bool) -> None:
        """Run eval forwards with gradient recording on (True) or under no_grad (False)."""
        self.grad_in_eval = bool(on)

    def new(self, num_features: int, dtype: str, eps: float, ndim: int = 2) -> dict[str, Any]:
        torch = self.torch
        self.last_ndim = ndim
        self.width = num_features  # state(): gamma = 1 and beta = 0 where it has none
        tdtype = getattr(torch, dtype)
        self.obj = self._make(num_features, None, ndim).to(tdtype)
        self.frozen = frozenset()
        for pair in (self.params, self.running):
            for slot in pair or ():
                value = slot.get(self.obj)
                if hasattr(value, "dtype") and hasattr(value, "to") and value.dtype != tdtype:
                    set_new(self.obj, slot, value.to(tdtype))  # a plain tensor attribute
        self.x: Any = None
        self.y: Any = None
        return self.state()

    def forward(self, x: Any, train: bool) -> Any:
        torch = self.torch
        self.last_ndim = x.ndim
        self.obj.train(train)
        self.obj.zero_grad(set_to_none=True)
        record = train or self.grad_in_eval
        self.x = tensor_of(torch, self._to_axis(x)).requires_grad_(record)
        told = self.mode_argument
        with torch.enable_grad() if record else torch.no_grad():
            if told is None:
                self.y = self.obj(self.x)
            else:  # train()/eval() set above as well
                self.y = call_forward(self.obj, told, self.x, train)
        return self._from_axis(as_array(self.y))

    def backward(self, dy: Any) -> tuple[Any, Any, Any]:
        torch = self.torch
        self.obj.zero_grad(set_to_none=True)
        for slot in self.params or ():
            value = slot.get(self.obj)
            if hasattr(value, "grad"):
                value.grad = None
        self.x.grad = None
        self.y.backward(tensor_of(torch, self._to_axis(dy)), retain_graph=True)
        c = dy.shape[1]
        grads = [None, None]
        if self.params is not None:
            grads = [
                None if role in self.frozen else as_array(getattr(s.get(self.obj), "grad", None))
                for role, s in zip(("gamma", "beta"), self.params, strict=True)
            ]
        return (
            self._from_axis(as_array(self.x.grad)),
            self.contracts.per_channel(grads[0], c, "dgamma"),
            self.contracts.per_channel(grads[1], c, "dbeta"),
        )


def _own_switches(obj: Any) -> list[Layout]:
    """The module's own boolean attributes (not ``training``, not torch's private ones), each
    tried both ways round (True in training, or True in eval as ``frozen`` is), in its
    ``__dict__`` order: the candidates of a switch it reads instead of ``self.training``."""
    out = []
    for name, value in vars(obj).items():
        if name.startswith("_") or name == "training" or not isinstance(value, bool):
            continue
        out.append(Layout("__call__", "attribute", name))
        out.append(Layout("__call__", "string-attribute", name, True, train_value=False))
    return out[:16]


def _claims(obj: Any) -> str | None:
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    module = torch.nn.Module
    is_class = inspect.isclass(obj)
    if (is_class and issubclass(obj, module)) or (not is_class and isinstance(obj, module)):
        return "torch"
    return None


def _adapter(obj: Any, name: str, axis: int) -> TorchAdapter:
    if inspect.isclass(obj) or inspect.isfunction(obj):  # a class or a factory of modules
        return TorchAdapter(obj, name, axis=axis)
    adapter = TorchAdapter(None, name, instance=obj, axis=axis)
    adapter.channels = int(getattr(obj, "num_features", 0)) or None
    return adapter


#: PyTorch in the registry: last, as Keras layers on its torch backend are torch modules too
FRAMEWORK = Framework(
    name="torch",
    modules=("torch",),
    packages=("torch",),
    extra="compare",
    claims=_claims,
    adapter=_adapter,
    order=90,
    files=False,
)
