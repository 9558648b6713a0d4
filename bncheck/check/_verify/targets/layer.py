"""The adapter of a layer object (run inside the worker process): on the first describe() it
detects the layer's mapping (construction, mode switch, parameter and statistic names, the form
of its gradients, eps) and probes that the mapping is used; driving the layer by that mapping is
:class:`~bncheck.check._verify.targets.layer_driver.LayerDriver`."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from bncheck.check._verify.targets import names as P
from bncheck.check._verify.targets.adapt import Adapted
from bncheck.check._verify.targets.common import as_array, infer_eps, probe_x
from bncheck.check._verify.targets.layer_driver import LayerDriver, scalar, unset
from bncheck.check._verify.targets.layout import call_forward, mode_of
from bncheck.check._verify.targets.names import Slot
from bncheck.exceptions import LoadError

#: the probe batch: (8, 3), mean 2, spread 1.5 (any layer must accept it)
PROBE_C = 3


class LayerAdapter(LayerDriver):
    """Any layer object; how to build, call and read it is detected on the first describe()."""

    kind = "layer"

    # -- detecting -----------------------------------------------------------------------------

    def _detect(self, obj: Any, c: int) -> None:
        axis = getattr(obj, "bncheck_axis", None)  # set by bncheck.adapt
        if isinstance(axis, int) and not isinstance(axis, bool):
            self.axis = axis
        self.layout = mode_of(obj)
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
            self.lazy_params = any(unset(s.get(obj)) for s in self.params)
        if self.running:
            self.lazy_running = any(unset(s.get(obj)) for s in self.running)

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
            x = probe_x(c)
            try:
                call_forward(obj, self.layout, x, True)
            except Exception:
                pass
            else:
                if self.params is None:
                    self.params = P.find_pair(obj, P.PARAM_NAMES, P.CONTAINERS, c, allow_none=False)
                    self.lazy_params = self.params is not None
                if self.running is None:
                    self.running = P.find_pair(
                        obj, P.RUNNING_NAMES, P.CONTAINERS, c, allow_none=False
                    )
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
            # what was found, apart: a train/eval switch with no running statistics to drive
            # (or statistics with no switch) leaves running and eval unchecked, not passed
            "mode_switch": self.layout.mode != "none",
            "running_found": self.running is not None,
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
                y = self.forward(probe_x(c, ndim), True)
                if not isinstance(y, np.ndarray) or y.shape != probe_x(c, ndim).shape:
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
        x = probe_x(c, self.ndims[0])
        dy = rng.normal(0.5, 1.0, size=x.shape)
        g1, b1 = np.array([1.5, -0.7, 2.0] * c)[:c], np.array([0.3, -1.2, 0.8] * c)[:c]
        mapping = [
            f"built as {self.build.describe(self.name) if self.build else 'a copy'}",
            f"mode: {self.layout.describe()}",
        ]
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
        if self.eps_slot and scalar(self.obj, self.eps_slot) is None:
            self.eps_slot = None  # an attribute that holds no value: infer it
        if self.eps_slot:
            mapping.append(f"eps: {self.eps_slot}")
        else:
            self.eps_inferred = self._infer_eps(c)
            if self.eps_inferred is not None:
                mapping.append(
                    f"eps: no attribute; {self.eps_inferred:g}, inferred from the "
                    "outputs (channels of different variance agree)"
                )
            else:
                mapping.append(
                    "eps: no attribute, and the outputs give no consistent eps; assumed 1e-05"
                )
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
            back = [as_array(s.get(self.obj)) for s in pair]
            if not all(
                isinstance(v, np.ndarray) and v.size == c and np.allclose(v.ravel(), w)
                for v, w in zip(back, (g1, b1), strict=True)
            ):
                continue
            y1 = np.asarray(as_array(self.forward(x, True)), dtype=np.float64)
            self.new(c, "float64", 1e-5, x.ndim)
            self.set_params(2.0 * g1, b1 + 1.0)
            y2 = np.asarray(as_array(self.forward(x, True)), dtype=np.float64)
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
        before = {k: as_array(s.get(self.obj)) for k, s in P.c_valued_slots(self.obj, c).items()}
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
        found = P.find_pair(
            self.obj, tuple(pairs), P.CONTAINERS + P.GRAD_CONTAINERS, c, allow_none=False
        )
        if found is None:
            found = P.find_pair(
                self.obj, P.PARAM_NAMES, P.GRAD_CONTAINERS, c, allow_none=False, attributes=False
            )
        if found is None:
            after = P.c_valued_slots(self.obj, c)
            changed = [
                k
                for k, s in after.items()
                if k not in before or not np.array_equal(as_array(s.get(self.obj)), before[k])
            ]
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

    def _infer_eps(self, c: int) -> float | None:
        def run(x: Any, g: Any, b: Any) -> Any:
            self.new(c, "float64", 1e-5, x.ndim)
            self.set_params(g, b)
            return self.forward(x, True)

        return infer_eps(run, c, self.ndims[0])


def _holds_tensors(obj: Any, params: tuple[Slot, Slot] | None) -> bool:
    """Whether the layer keeps its parameters (or, with ``params`` None, any per-channel
    value) as torch tensors."""
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    if params is not None:
        return any(isinstance(s.get(obj), torch.Tensor) for s in params)
    return (
        any(isinstance(v, torch.Tensor) for v in vars(obj).values())
        if hasattr(obj, "__dict__")
        else False
    )


def _changed(y1: Any, y2: Any) -> bool:
    """Whether every channel of the output moved (y2 made with gamma doubled, beta + 1)."""
    n, c = y1.shape[0], y1.shape[1]
    moved = np.abs(y2 - y1).reshape(n, c, -1).max(axis=(0, 2))
    scale = np.abs(y1).reshape(n, c, -1).max(axis=(0, 2)) + 1.0
    return bool(np.all(moved > 1e-9 * scale))
