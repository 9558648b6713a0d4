"""The adapter of a layer object (run inside the worker process): on the first describe() it
detects the layer's mapping (construction, mode switch, parameter and statistic names, the form
of its gradients, eps) and probes that the mapping is used; driving the layer by that mapping is
:class:`~bncheck.check._verify.targets.layer_driver.LayerDriver`."""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import numpy as np

from bncheck.check._verify.targets import names as P
from bncheck.check._verify.targets.adapt import Adapted
from bncheck.check._verify.targets.common import (
    DX_KEYS,
    as_array,
    infer_eps,
    needs_arguments,
    probe_x,
    raised_text,
    split_grads,
    tensor_of,
)
from bncheck.check._verify.targets.layer_driver import (
    LayerDriver,
    Where,
    backward_arguments,
    scalar,
    unset,
)
from bncheck.check._verify.targets.layout import (
    Layout,
    call_forward,
    eval_companions,
    mode_candidates,
    mode_of,
    side_effects,
)
from bncheck.check._verify.targets.names import Slot
from bncheck.check._verify.targets.values import Path, closes_over_arrays, leaves
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
            self.axis, self.axis_given = axis, True
        self.layout = mode_of(obj)
        if "forward" in self.given:
            self.layout = mode_of(
                obj, _given_method(obj, self.given["forward"], "--forward", self.name)
            )
        elif self.layout.forward_name not in ("forward", "__call__") or not callable(
            getattr(obj, self.layout.forward_name, None)
        ):
            entry = _entry_by_behaviour(obj, c)
            if entry is None:
                raise LoadError(
                    f"{self.name}: the object has no forward(), is not callable, and none of its "
                    "methods maps an array x to an array of x's shape; map it with "
                    "--forward NAME or bncheck.adapt (see the README)"
                )
            self.layout = mode_of(obj, entry)
        if "backward" in self.given:
            self.backward_name = _given_method(obj, self.given["backward"], "--backward", self.name)
        elif not callable(getattr(obj, "backward", None)):
            self.backward_name = ""  # found by behaviour once the forward is known
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

    def overrides(self, obj: Any) -> None:
        """The user's mapping from the command line (``--gamma`` ...), applied over what was
        found; a path that is not on the layer is a usage error naming it."""
        given = self.given
        for a, b in (("gamma", "beta"), ("running_mean", "running_var")):
            pair = self.params if a == "gamma" else self.running
            if pair is None and (a in given) != (b in given):
                one, other = (a, b) if a in given else (b, a)
                raise LoadError(
                    f"--{one.replace('_', '-')} given, but bncheck found no "
                    f"{other.replace('_', ' ')} to go with it; give --{other.replace('_', '-')} too"
                )
        unset_pair: tuple[Where, Where] = (Path(("?",)), Path(("?",)))
        params: list[Where] = list(self.params or unset_pair)
        running: list[Where] = list(self.running or unset_pair)
        for role, held, i in (
            ("gamma", params, 0),
            ("beta", params, 1),
            ("running_mean", running, 0),
            ("running_var", running, 1),
        ):
            if role in given:
                held[i] = _given_path(obj, given[role], "--" + role.replace("_", "-"), self.name)
        if "gamma" in given or "beta" in given:
            self.params = (params[0], params[1])
        if "running_mean" in given or "running_var" in given:
            self.running = (running[0], running[1])

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
        if "mode" in self.given:
            self.layout = self._given_mode(c, obj)
        elif not self.autograd and self.kind == "layer":
            self.layout = self._mode_by_behaviour(c, obj)
        self.probe_ndim = self._first_rank(c)
        if not self.backward_name and not self.autograd and self.kind == "layer":
            self.backward_name = self._backward_by_behaviour(c) or ""
            if not self.backward_name:
                self.engine = self._engine_by_behaviour(c)
            if not self.backward_name and self.engine is None:
                raise LoadError(
                    f"{self.name}: the layer has no backward(), and none of its methods takes dy "
                    "after a forward and returns an array of x's shape (dx); name it with "
                    "--backward NAME, or map the layer with bncheck.adapt (see the README)"
                )
        if self.params is None or self.running is None:
            # a lazy layer may create its attributes only in its first forward
            x = self._to_axis(probe_x(c, self.probe_ndim))
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
        fresh = self._make(c, np.float64, self.probe_ndim)
        if self.params is None and (self.autograd or self.kind == "torch"):
            self.params = self._torch_params_by_behaviour(c)
        if self.params is None and not self.autograd:
            self.params = self._params_by_behaviour(c)
            if self.params is not None:
                self.lazy_params = not all(_present(fresh, s) for s in self.params)
        if self.running is None:
            self.running = self._running_by_behaviour(c)
            if self.running is not None:
                self.lazy_running = not all(_present(fresh, s) for s in self.running)
        if self.running is None and self.kind == "layer" and not self.autograd:
            # values that carry the batches before the last, not read as running statistics:
            # the layer has running state, so running and eval are not checked, not n/a
            shape = probe_x(c, self.probe_ndim).shape
            carried = carried_state(self._trainer(c), shape, self._roles_taken())
            self.unread_state = [p.label() for p in carried]
        self.overrides(self._fresh_trained(c))
        self.ndims = self._ranks(c)
        if 4 not in self.ndims and not self.axis_given and self.kind == "layer":
            # it breaks on channels-first 4-D input: does it take it channels-last?
            first = (self.ndims, dict(self.rank_errors))
            self.axis, self.rank_errors = -1, {}
            try:
                last = self._ranks(c)
            except Exception:
                last = []
            if 4 in last:
                self.ndims, self.axis_found = last, True
            else:
                self.axis = 1
                self.ndims, self.rank_errors = first[0], first[1]
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
                    f"failed: {type(exc).__name__}: {str(exc)[:300]}; name what was guessed "
                    "with --mode NAME --train-value V --eval-value V, --build 'C, ...', "
                    "--gamma/--beta PATH, or map it with bncheck.adapt (see the README)"
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
            "keeps_state": bool(self.unread_state),
            "channels": self.channels,
            "mapping": self.mapping,
            "axis": self.axis,
            "ndims": sorted(self.ndims),
            "rank_errors": {str(k): v for k, v in self.rank_errors.items()},
            "running_form": self.given.get("running_form", ""),
            # no parameters and a backward that gives dx alone (checks/case.py, param_free)
            "param_free": self.grad_form == "none",
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
                self.rank_errors[ndim] = raised_text(exc)
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
            f"mode: {self.layout.describe()}"
            + (
                " (found by behaviour: its eval setting makes the output stop depending on "
                "the batch)"
                if self.layout.found_by == "behaviour"
                else ""
            ),
            *(f"mode: {note}" for note in self.layout.notes),
        ]
        if self.params is not None:
            self.params = self._choose_params(c, x, g1, b1)
            mapping.append(
                f"parameters: {self.params[0].label()}, {self.params[1].label()}"
                + (" (created at the first forward)" if self.lazy_params else "")
                + (f"; {self.param_note}" if self.param_note else "")
            )
        else:
            mapping.append("parameters: none found (treated as gamma = 1, beta = 0)")
            self.forward(x, True)
        self._find_grads(dy, c)
        mapping.append(self._grads_text())
        if not self.autograd and self.engine is None and self.kind == "layer":
            self._one_step_per_forward(c)
            if self.reset_name:
                mapping.append(
                    f"its backward covers every forward since {self.reset_name}(): "
                    f"{self.reset_name}() is called before each training forward"
                )
        if self.running is not None:
            mapping.append(
                f"running statistics: {self.running[0].label()}, {self.running[1].label()}"
                + (" (created at the first forward)" if self.lazy_running else "")
                + (f"; {self.running_note}" if self.running_note else "")
            )
        elif self.unread_state:
            mapping.append(
                "running statistics: none read; "
                + ", ".join(self.unread_state[:6])
                + " carry every training batch, not only the last (running state), but are "
                "not a running mean and variance of C numbers each that bncheck could read"
            )
        else:
            mapping.append("running statistics: none found")
        if self.eps_slot and scalar(self.obj, self.eps_slot) is None:
            self.eps_slot = None  # an attribute that holds no value: infer it
        if self.eps_slot:
            value = scalar(self.obj, self.eps_slot)
            shown = isinstance(value, (int, float)) and not isinstance(value, bool)
            mapping.append(f"eps: {self.eps_slot}" + (f" = {value:g}" if shown else ""))
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
            value = scalar(self.obj, self.momentum_slot)
            mapping.append(
                f"momentum: {self.momentum_slot}"
                + (
                    f" = {value:g}"
                    if isinstance(value, (int, float)) and not isinstance(value, bool)
                    else ""
                )
                + (
                    " (a decay: the weight of the old running value)"
                    if self.momentum_slot.lower().lstrip("_") in P.DECAY_NAMES
                    else ""
                )
            )
        if self.axis_found:
            mapping.append(
                "channel axis: -1 (found: it takes 4-D input channels-last only; inputs moved "
                "there)"
            )
        elif self.axis != 1:
            mapping.append(f"channel axis: {self.axis} (inputs moved there)")
        self.mapping = mapping

    def _choose_params(self, c: int, x: Any, g1: Any, b1: Any) -> tuple[Where, Where]:
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
            "bncheck sets them (or they do not read back as set): name them with --gamma PATH "
            "--beta PATH, or map the layer with bncheck.adapt (see the README)"
        )

    def _all_param_pairs(self, c: int) -> list[tuple[Where, Where]]:
        out: list[tuple[Where, Where]] = []
        for pair in P.PARAM_NAMES:
            found = P.find_pair(self.obj, (pair,), P.CONTAINERS, c, allow_none=True)
            if found is not None and (self.running is None or found[0] not in self.running):
                out.append(found)
        return out

    def _find_grads(self, dy: Any, c: int) -> None:
        if self.engine is not None:
            self.grad_form = "engine"
            self.backward(dy)
            return
        if self.autograd:
            self.grad_form = "autograd"
            self.backward(dy)
            return
        before = {k: as_array(s.get(self.obj)) for k, s in P.c_valued_slots(self.obj, c).items()}
        before_leaves = {p: as_array(v) for p, v in leaves(self.obj, c).items()}
        shape = tuple(np.shape(self._to_axis(dy)))
        before_x = _shaped_attributes(self.obj, shape)
        result = self._call_backward(dy)
        if result is None:
            # a backward that returns nothing (Layer.backward(dvalues) storing self.dinputs):
            # dx is the one attribute of x's shape it wrote
            written = [
                n
                for n, v in _shaped_attributes(self.obj, shape).items()
                if n not in before_x or not np.array_equal(before_x[n], v)
            ]
            if len(written) != 1:
                raise LoadError(
                    f"{self.name}: backward returned nothing, and "
                    + (
                        f"it wrote {len(written)} values of x's shape ({', '.join(written[:6])})"
                        if written
                        else "wrote no value of x's shape"
                    )
                    + " where dx could be read; return dx from it, or map the layer with "
                    "bncheck.adapt (see the README)"
                )
            self.dx_attribute = written[0]
            result = getattr(self.obj, written[0])
        if "dgamma" in self.given or "dbeta" in self.given:
            if not ("dgamma" in self.given and "dbeta" in self.given):
                raise LoadError("give both --dgamma and --dbeta (where the backward leaves them)")
            self.grad_form = "slots"
            self.grad_slots = (
                _given_path(self.obj, self.given["dgamma"], "--dgamma", self.name),
                _given_path(self.obj, self.given["dbeta"], "--dbeta", self.name),
            )
            return
        if isinstance(result, dict):
            self.grad_form = "dict"
            return
        if isinstance(result, (tuple, list)) and self._without_parameters(result, dy, before, c):
            self.grad_form = "none"  # (dx, None, None), before a tuple is read as gradients
            return
        if isinstance(result, (tuple, list)) and _returns_grads(result, self.own_names()):
            # (dx, dgamma, dbeta), or dx beside a pair or a dict of the parameters' gradients
            self.grad_form = "tuple"
            self.grad_returned = _returned_text(result)
            self._order_by_behaviour(result, dy, c)
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
            found = self._grads_by_behaviour(before_leaves, dy, c)
        if found is None and self._grads_from_method(dy, c):
            self.grad_form = "method"
            return
        if found is None:
            if self._without_parameters(result, dy, before, c):
                self.grad_form = "none"
                return
            changed = self._changed_slots(before, c)
            raise LoadError(
                f"{self.name}: backward returned {type(result).__name__}, not (dx, dgamma, "
                "dbeta), and no gradients of gamma and beta were found among the attributes "
                f"(looked for {', '.join(g + '/' + b for g, b in pairs[:6])}, …"
                + (f"; backward changed {', '.join(changed)}" if changed else "")
                + "): name them with --dgamma PATH --dbeta PATH (values of C numbers found: "
                + (", ".join(p.label() for p in list(leaves(self.obj, c))[:10]) or "none")
                + "), or map the layer with bncheck.adapt (see the README)"
            )
        self.grad_form, self.grad_slots = "slots", _paired_by_index(self.obj, self.params, found)
        if self.grad_slots != found:
            self.grad_note = (
                "found by behaviour, then paired index for index with the parameters' list, "
                "as the layer's own update pairs them (its gradient list's i-th item is the "
                "gradient of its i-th parameter)"
            )
        self._grad_reset_by_behaviour(dy, c)

    def _grad_reset_by_behaviour(self, dy: Any, c: int) -> None:
        """How the gradient slots are reset before each backward, as a training loop resets
        them: slots of parameter objects (``blob.diff``, ``param.grad``) are zeroed in place,
        as an optimizer zeroes them; else the layer's no-argument method that zeroes them and
        changes nothing else (Torch7's ``zeroGradParameters()``), tried on fresh instances
        after a step; with neither, nothing resets them, and a backward that adds into them
        accumulates across steps: its own mistake, which the second-call check shows."""
        slots = self.grad_slots
        if slots is None:
            return
        if all(_in_param_object(self.obj, s) for s in slots):
            self.grad_zero = True
            return
        skip = {self.backward_name, self.layout.forward_name, "forward", "backward", "train"}
        skip |= {"eval", self.layout.mode_name, self.reset_name or ""}
        names = [
            n
            for n in dir(type(self.obj))
            if not n.startswith("_") and n not in skip and not side_effects(n)
        ]
        names.sort(key=lambda n: not any(w in n.lower() for w in RESET_HINTS))
        x = probe_x(c, self.probe_ndim)
        keep = self.obj
        try:
            for name in names[:16]:
                method = getattr(self.obj, name, None)
                if not callable(method) or inspect.isclass(method) or needs_arguments(method):
                    continue
                try:
                    self.obj = self._make(c, np.float64, self.probe_ndim)
                    self.forward(x, True)
                    self._call_backward(np.asarray(dy, dtype=np.float64))
                    held = [s for pair in (self.params, self.running) for s in pair or ()]
                    before = [np.array(as_array(s.get(self.obj)), copy=True) for s in held]
                    grads = [as_array(s.get(self.obj)) for s in slots]
                    if not all(isinstance(g, np.ndarray) and np.any(g != 0) for g in grads):
                        continue
                    getattr(self.obj, name)()
                    after = [as_array(s.get(self.obj)) for s in slots]
                    zeroed = all(g is None or (np.all(np.asarray(g) == 0)) for g in after)
                    same = all(
                        np.array_equal(b, np.asarray(as_array(s.get(self.obj))))
                        for b, s in zip(before, held, strict=True)
                    )
                except Exception:
                    continue
                if zeroed and same:
                    self.grad_reset = name
                    return
        finally:
            self.obj = keep

    def _order_by_behaviour(self, result: Any, dy: Any, c: int) -> None:
        """Which of a backward's two positional parameter gradients is dbeta, by behaviour:
        dbeta = Σ dy over all but the channel axis whatever else the layer computes, so when
        the first of the two is that sum and the second is not, the backward gives them beta's
        first, (dx, dbeta, dgamma), as Lasagne's ``grad`` and Theano's gradient lists do. It is
        then read in that order, with a contract note, unless the backward's own code names
        them gamma's first (``return dx, dgamma, dbeta`` with dgamma holding Σ dy: values
        mislabelled, judged as named, so the swap is a failure). Neither or both equal to the
        sum (a wrong dbeta, or a dgamma that is Σ dy too): the order by position stands."""
        if len(result) == 2 and isinstance(result[1], dict):
            return  # keyed by name: split_grads reads the names
        _, first, second = split_grads(result, "backward", self.own_names())
        d = np.asarray(dy, dtype=np.float64)
        axes = tuple(a for a in range(d.ndim) if a != 1)
        total, size = d.sum(axis=axes), np.abs(d).sum(axis=axes)

        def is_sum(value: Any) -> bool:
            arr = as_array(value)
            if not isinstance(arr, np.ndarray) or arr.size != c or arr.dtype.kind not in "fiu":
                return False
            got = arr.astype(np.float64).reshape(c)
            return bool(np.all(np.abs(got - total) <= 1e-8 * size + 1e-300))

        if not is_sum(first) or is_sum(second):
            return
        method = getattr(self.obj, self.backward_name, None) if self.backward_name else None
        named = returned_order(method, self.own_names())
        if named == "gamma":
            return
        self.grad_swapped = True
        self.grad_returned = self.grad_returned.replace("dgamma, dbeta", "dbeta, dgamma") + (
            " (beta's first, found by behaviour: the first of the two is Σ dy"
            + (", as its code names them" if named == "beta" else "")
            + ")"
        )
        self.contracts.note(
            "backward returns the parameters' gradients beta's first, "
            + self.grad_returned.split(" (")[0]
            + ": checked in that order; a caller expecting (dx, dgamma, dbeta) would apply "
            "them swapped"
        )

    def _grads_from_method(self, dy: Any, c: int) -> bool:
        """Whether one of the layer's methods gives the parameters' gradients, as a pair of C
        values each, when the backward gives dx alone: the Edinburgh mlp framework's
        ``grads_wrt_params(inputs, grads_wrt_outputs)`` -> [dgamma, dbeta]. Only a method
        whose parameters are all named as the forward's input and output or as dy
        (:func:`backward_arguments`, so that nothing else, a ``save(path)``, is ever called)
        is tried, after a backward; exactly one must answer so, or none is taken."""
        taken = {self.backward_name, getattr(self.layout, "forward_name", "")}
        answered = []
        for name in dir(self.obj):
            method = getattr(self.obj, name, None) if not name.startswith("_") else None
            if name in taken or not callable(method):
                continue
            if backward_arguments(method, self.passed_x, self.passed_y, dy) is None:
                continue
            try:
                grads = self.method_grads(dy, name)
            except Exception:
                continue
            if all(isinstance(g, np.ndarray) and g.shape == (c,) for g in grads):
                answered.append(name)
        if len(answered) != 1:
            return False
        self.grads_method = answered[0]
        return True

    # -- discovery by behaviour -----------------------------------------------------------------

    def _roles_taken(self) -> set[Any]:
        return {s for pair in (self.params, self.running, self.grad_slots) for s in pair or ()}

    def _mode_by_behaviour(self, c: int, obj: Any) -> Layout:
        """The train/eval switch: the one whose eval setting makes the output stop depending on
        the batch while the train setting depends on it. The switch the names found is tried
        first and kept when it behaves so (or when nothing else does better)."""
        named = self.layout
        seen = {_layout_key(named)}
        candidates = [named] if named.mode != "none" else []
        for layout in mode_candidates(obj, named.forward_name):
            if _layout_key(layout) not in seen:
                seen.add(_layout_key(layout))
                candidates.append(layout)
        weak: Layout | None = None
        same: list[Layout] = []
        tried = 0
        for layout in candidates:
            verdict = self._try_mode(layout, c)
            tried += 1
            if verdict == "strong":
                if layout is not named and named.mode != "none":
                    layout.notes.append(
                        f"the switch the names suggest ({named.describe()}) did not give a "
                        "batch-independent eval output; this one does"
                    )
                return layout
            if verdict == "weak" and weak is None:
                weak = layout
            if verdict == "same":
                same.append(layout)
        if weak is None:
            # an eval that needs a second setting beside the switch: each switch whose eval
            # setting alone gave the train output, with one more flag of the forward set
            for layout in same[:4]:
                for both in eval_companions(obj, layout):
                    if self._try_mode(both, c) == "strong":
                        both.notes.append(
                            f"{layout.describe()} alone gave the train output (the batch's "
                            "statistics); with the second setting the eval output stops "
                            "depending on the batch"
                        )
                        return both
        if named.mode != "none" and (weak is None or weak is not named):
            verdict = self._try_mode(named, c)
            if verdict == "fails" and named.mode == "eval-method" and weak is None:
                # only a method's name suggested calling it on x in eval, and that call fails:
                # bncheck's guess of how to call it, not the layer's eval, is what failed
                none = Layout(named.forward_name, "none")
                none.notes.append(
                    f"its method {named.mode_name}() looks like an inference mode by its name, "
                    f"but {named.mode_name}(x) failed, and no other switch gave an eval output: "
                    "eval is not checked (name the switch with --mode)"
                )
                return none
            if verdict == "fails":
                named.notes.append("its eval call fails (tried as the names suggest)")
            elif verdict == "same":
                named.notes.append(
                    "its eval setting (as the names suggest) gave the train output on the "
                    "probe batches (whether eval uses the running statistics, the eval "
                    "check judges)"
                )
            return named if weak is None else weak
        return weak if weak is not None else named

    def _given_mode(self, c: int, obj: Any) -> Layout:
        """The switch the user named (--mode, with --train-value/--eval-value): every way that
        name can act as a switch, tried; a name that switches nothing is a usage error."""
        name = self.given["mode"]
        values = [
            (
                _literal(self.given.get("train_value", "True")),
                _literal(self.given.get("eval_value", "False")),
            )
        ]
        if "train_value" not in self.given and "eval_value" not in self.given:
            values = []
        forward = self.layout.forward_name
        candidates = [
            layout for layout in mode_candidates(obj, forward) if layout.mode_name == name
        ]
        if values:
            (t, e), candidates = values[0], []
            kinds = ("string", "string-attribute", "setter")
            candidates = [Layout(forward, kind, name, e, train_value=t) for kind in kinds]
            if isinstance(t, bool) and isinstance(e, bool):
                candidates += [
                    Layout(forward, "kwarg" if t else "inverted", name),
                    Layout(forward, "attribute", name),
                ]
        elif not candidates:
            candidates = [
                Layout(forward, "kwarg", name),
                Layout(forward, "attribute", name),
                Layout(forward, "setter", name, False, train_value=True),
            ]
        for layout in candidates:
            if self._try_mode(layout, c) in ("strong", "weak"):
                layout.found_by = "names"
                layout.notes.append("as given by --mode")
                return layout
        found = [layout.describe() for layout in mode_candidates(obj, forward)[:8]]
        raise LoadError(
            f"--mode {name!r}: no setting of {name!r} switched {self.name} between training "
            "and eval (tried "
            + "; ".join(layout.describe() for layout in candidates[:6])
            + "); switches bncheck can try: "
            + ("; ".join(found) or "none")
            + "; give --train-value and --eval-value if it takes other values"
        )

    def _try_mode(self, layout: Layout, c: int) -> str:
        """ "strong" (train output depends on the batch, eval output does not), "weak" (eval
        runs and differs from train), "same" (eval runs and gives the train output) or
        "fails"."""
        rng = np.random.default_rng(5)
        # 2-D and 4-D first; a layer taking one other rank alone ((N, C, L) only) on its own
        for shape in ((8, c), (4, c, 2, 2), (4, c, 3), (2, c, 2, 2, 2)):
            a = rng.normal(-1.0, 2.0, size=shape)
            x = rng.normal(2.0, 1.5, size=shape)
            k = 3

            def run(final: Any, train: bool, layout: Layout = layout, a: Any = a) -> Any:
                obj = self._probe_object(c, a.ndim)
                self._probe_call(obj, layout, self._to_axis(a.copy()), True)
                y = self._probe_call(obj, layout, self._to_axis(final.copy()), train)
                if isinstance(y, (tuple, list)) and y:
                    y = y[0]
                y = np.asarray(as_array(y), dtype=np.float64)
                if y.shape != final.shape:
                    raise ValueError("shape")
                return self._from_axis(y)

            try:
                t_full, t_part = run(x, True)[:k], run(x[:k], True)
            except Exception:
                continue
            try:
                e_full, e_part = run(x, False)[:k], run(x[:k], False)
            except Exception:
                return "fails"
            if not (np.all(np.isfinite(e_full)) and np.all(np.isfinite(e_part))):
                return "fails"
            dependent = not np.allclose(t_full, t_part, rtol=1e-9, atol=1e-12)
            independent = np.allclose(e_full, e_part, rtol=1e-9, atol=1e-12)
            if (
                layout.mode == "eval-method"
                and layout.found_by == "behaviour"
                and layout.mode_name not in P.EVAL_METHODS
                and not _normalizes_by_channel(x[:k], e_full)
            ):  # any other method of x (a helper, a clip): not an inference forward
                return "fails"
            if dependent and independent:
                return "strong"
            if not np.allclose(e_full, t_full, rtol=1e-9, atol=1e-12):
                return "weak"
            return "same"
        return "fails"

    def _probe_object(self, c: int, ndim: int) -> Any:
        """A fresh instance for the switch probes (:meth:`_try_mode`), in float64."""
        return self._make(c, np.float64, ndim)

    def _probe_call(self, obj: Any, layout: Layout, x: Any, train: bool) -> Any:
        """One forward of a switch probe (the framework adapters hand x over their way)."""
        return call_forward(obj, layout, x, train)

    def _backward_by_behaviour(self, c: int) -> str | None:
        """The method that, after a training forward, takes dy and returns dx (an array of x's
        shape, alone, first in a tuple, or under a dx name in a dict): names order the search,
        a call decides."""
        try:
            names = [n for n in dir(self._make(c, np.float64, self.probe_ndim))]
        except Exception:
            return None
        names = [
            n
            for n in names
            if not n.startswith("__")
            and n not in (self.layout.forward_name, self.layout.mode_name)
            and not side_effects(n)
        ]
        names.sort(key=lambda n: (not any(k in n.lower() for k in _BACKWARD_HINTS), n))
        x = probe_x(c, self.probe_ndim)
        dy = np.random.default_rng(3).normal(size=x.shape)
        for name in names[:64]:
            try:
                obj = self._make(c, np.float64, self.probe_ndim)
                method = getattr(obj, name)
                if not callable(method) or inspect.isclass(method):
                    continue
                xt = self._to_axis(x)
                args = None
                try:
                    inspect.signature(method).bind(dy)
                except TypeError:  # bprop(x, out, dout): the names tell the arguments
                    args = backward_arguments(method, xt, xt, dy)
                    if args is None:
                        continue
                y = call_forward(obj, self.layout, xt, True)
                if args is not None:
                    args = backward_arguments(method, xt, y, self._to_axis(dy))
                    assert args is not None
                    out = method(*args)
                else:
                    out = method(self._to_axis(dy))
            except Exception:
                continue
            first = out[0] if isinstance(out, (tuple, list)) and out else out
            if isinstance(out, dict):  # {"dx": ..., "weight": ..., "bias": ...}
                first = next((out[k] for k in DX_KEYS if k in out), None)
            if np.shape(as_array(first)) == self._to_axis(x).shape:
                if self._is_forward_again(name, dy, as_array(first), c):
                    continue  # MindSpore's construct(x) beside __call__: a forward, not dx
                return name
        return None

    def _is_forward_again(self, name: str, dy: Any, got: Any, c: int) -> bool:
        """Whether the method ``name`` computes the forward (on dy as on an input): its result
        is what a fresh layer's training forward gives on dy."""
        try:
            obj = self._make(c, np.float64, self.probe_ndim)
            y = call_forward(obj, self.layout, self._to_axis(dy), True)
            y = y[0] if isinstance(y, (tuple, list)) and y else y
            return bool(
                np.allclose(
                    np.asarray(as_array(y), dtype=np.float64),
                    np.asarray(got, dtype=np.float64),
                    rtol=1e-12,
                    atol=1e-12,
                )
            )
        except Exception:
            return False

    def _engine_by_behaviour(self, c: int) -> Any:
        """A layer built on its own autograd engine (no layer backward): its forward returns a
        tensor object with ``backward()`` and its array in ``.data``; x is handed in as that
        engine's tensor so that its gradient is kept. The tensor class, or None."""
        x = probe_x(c, self.probe_ndim)
        try:
            obj = self._make(c, np.float64, self.probe_ndim)
            y = call_forward(obj, self.layout, self._to_axis(x), True)
        except Exception:
            return None
        engine = type(y)
        data = getattr(y, "data", None)
        if isinstance(y, np.ndarray) or not callable(getattr(y, "backward", None)):
            return None
        if not isinstance(data, np.ndarray) or data.shape != self._to_axis(x).shape:
            return None
        try:
            self.engine = engine
            self.new(c, "float64", 1e-5, self.probe_ndim)
            self.forward(x, True)
            dx, _, _ = self.backward(np.ones_like(x))
        except Exception:
            self.engine = None
            return None
        self.engine = None
        if np.shape(dx) != x.shape:
            return None
        return engine

    def _one_step_per_forward(self, c: int) -> None:
        """A backward after two training forwards must be the backward of the second alone
        (the checks run several forwards on one instance). A layer that keeps every input
        since its last update (numpy-ml's style) is driven with the method that clears them,
        found by behaviour; with no such method it is a usage error, never a FAIL."""
        rng = np.random.default_rng(17)
        x1 = probe_x(c, self.probe_ndim)
        x2 = rng.normal(-1.0, 0.7, size=x1.shape)
        dy = rng.normal(size=x1.shape)

        def step(first: bool, reset: str = "") -> Any:
            self.new(c, "float64", 1e-5, self.probe_ndim)
            if first:
                self.forward(x1, True)
                if reset:
                    getattr(self.obj, reset)()
            self.forward(x2, True)
            return self.backward(dy)

        def same(a: Any, b: Any) -> bool:
            return all(
                (u is None and v is None)  # a parameter-free layer's dgamma, dbeta
                or (
                    isinstance(u, np.ndarray)
                    and isinstance(v, np.ndarray)
                    and u.shape == v.shape
                    and np.allclose(u, v, rtol=1e-9, atol=1e-12)
                )
                for u, v in zip(a, b, strict=True)
            )

        alone = step(False)
        try:
            after_two = step(True)
        except Exception:
            after_two = None
        if after_two is not None and same(alone, after_two):
            return
        if after_two is not None and all(
            isinstance(v, np.ndarray) or (v is None and self.grad_form == "none") for v in after_two
        ):
            # a well-formed answer: unless it is the backward of the FIRST input (a layer that
            # keeps its inputs), a different value is the target's own statefulness, which
            # the second-call check judges
            self.new(c, "float64", 1e-5, self.probe_ndim)
            self.forward(x1, True)
            first = self.backward(dy)
            if not same(first, after_two):
                return
        names = [
            n
            for n in dir(self.obj)
            if not n.startswith("__")
            and n not in (self.layout.forward_name, self.backward_name, self.layout.mode_name)
            and not side_effects(n)
            and callable(getattr(self.obj, n, None))
        ]
        names.sort(key=lambda n: (not any(k in n.lower() for k in RESET_HINTS), n))
        for name in names[:48]:
            try:
                inspect.signature(getattr(self.obj, name)).bind()
                if same(alone, step(True, name)):
                    self.reset_name = name
                    return
            except Exception:
                continue
        raise LoadError(
            f"{self.name}: after two training forwards its backward is not that of the second "
            "(it seems to keep every input since some reset), and no method of it that takes "
            "no arguments makes it so; bncheck runs one forward per step: map it with "
            "bncheck.adapt (see the README)"
        )

    def _first_rank(self, c: int) -> int:
        """The first rank (those asked for first) a training forward takes."""
        for ndim in (*self.wanted, 2, 3, 4, 5):
            try:
                obj = self._make(c, np.float64, ndim)
                call_forward(obj, self.layout, self._to_axis(probe_x(c, ndim)), True)
                return ndim
            except Exception:
                continue
        return self.wanted[0] if self.wanted else 2

    def _fresh_trained(self, c: int) -> Any:
        """A new instance after one training forward (which creates lazy values)."""
        obj = self._make(c, np.float64, self.probe_ndim)
        try:
            call_forward(obj, self.layout, self._to_axis(probe_x(c, self.probe_ndim)), True)
        except Exception:
            pass
        return obj

    def _params_by_behaviour(self, c: int) -> tuple[Any, Any] | None:
        """gamma and beta among every value of C numbers the layer holds: the one that shifts y
        by what is added to it (beta), the one that moves y along x_hat (gamma)."""
        try:
            obj = self._fresh_trained(c)
        except Exception:
            return None
        taken = self._roles_taken()
        found = [p for p in leaves(obj, c) if p not in taken and p.steps[-1] != "grad"]
        found.sort(
            key=lambda p: (
                not _hinted(
                    p, ("gamma", "weight", "scale", "gain", "beta", "bias", "shift", "offset")
                ),
                len(p.steps),
            )
        )
        x = probe_x(c, self.probe_ndim)
        delta = np.array([0.5, -0.3, 0.7] * c)[:c]
        gamma = beta = None
        for path in found[:24]:
            try:
                role = self._affine_role(path, x, delta, c)
            except Exception:
                continue
            if role == "gamma" and gamma is None:
                gamma = path
            elif role == "beta" and beta is None:
                beta = path
            if gamma is not None and beta is not None:
                self.param_note = "found by behaviour (y follows them by the affine law)"
                return gamma, beta
        return None

    def _torch_params_by_behaviour(self, c: int) -> tuple[Any, Any] | None:
        """gamma and beta of a torch module among its own parameters of C numbers, by the
        affine law as for any layer: adding delta to beta adds delta to y, adding it to gamma
        moves y along x_hat (each tried on a fresh module, gradients off)."""
        torch = sys.modules.get("torch")
        if torch is None:
            return None
        try:
            # its own parameters first, then those of its containers and submodules
            # (nn.ParameterDict, a wrapped BN), the trainable ones before the frozen ones
            named = [
                n
                for n, v in sorted(
                    self._make(c, np.float64, self.probe_ndim).named_parameters(),
                    key=lambda item: (item[0].count("."), not item[1].requires_grad),
                )
                if v.numel() == c
            ]
        except Exception:
            return None
        x = self._to_axis(probe_x(c, self.probe_ndim))
        delta = np.array([0.5, -0.3, 0.7] * c)[:c]
        roles: dict[str, str] = {}
        for name in named[:8]:
            try:
                ys = []
                for add in (False, True):
                    obj = self._make(c, np.float64, self.probe_ndim)
                    param = obj.get_parameter(name)
                    with torch.no_grad():
                        if add:
                            param.add_(torch.as_tensor(delta, dtype=param.dtype).view(param.shape))
                        y = call_forward(
                            obj, self.layout, tensor_of(torch, x).to(param.dtype), True
                        )
                    ys.append(self._from_axis(np.asarray(as_array(y), dtype=np.float64)))
            except Exception:
                continue
            role = _affine_law(self._from_axis(x), ys[0], ys[1], delta, c)
            if role is not None and role not in roles.values():
                roles[name] = role
        by_role = {r: n for n, r in roles.items()}
        if set(by_role) != {"gamma", "beta"}:
            return None
        self.param_note = "found by behaviour (y follows them by the affine law)"
        return _torch_where(by_role["gamma"]), _torch_where(by_role["beta"])

    def _affine_role(self, path: Any, x: Any, delta: Any, c: int) -> str | None:
        def run(add: bool) -> Any:
            obj = self._fresh_trained(c)
            base = np.asarray(as_array(path.get(obj)), dtype=np.float64).reshape(c)
            if add:
                path.set(obj, base + delta)
                back = np.asarray(as_array(path.get(obj)), dtype=np.float64).reshape(c)
                if not np.allclose(back, base + delta):
                    raise ValueError("does not read back")
            y = call_forward(obj, self.layout, self._to_axis(x.copy()), True)
            y = y[0] if isinstance(y, (tuple, list)) and y else y
            return self._from_axis(np.asarray(as_array(y), dtype=np.float64))

        return _affine_law(x, run(False), run(True), delta, c)

    def _running_by_behaviour(self, c: int) -> tuple[Any, Any] | None:
        """Running statistics among the values of C numbers, by behaviour
        (:func:`running_by_behaviour`)."""
        if self.layout.mode == "none":
            return None
        shape = probe_x(c, self.probe_ndim).shape
        found = running_by_behaviour(self._trainer(c), shape, c, self._roles_taken())
        if found is not None:
            self.running_note = (
                "found by behaviour (they carry every training batch, not only the last)"
            )
        return found

    def _trainer(self, c: int) -> Callable[[list[np.ndarray]], Any]:
        """``trained(batches)``: a new float64 instance after one training forward per batch
        (channels on axis 1)."""
        torch = sys.modules.get("torch")

        def trained(batches: list[np.ndarray]) -> Any:
            obj = self._make(c, np.float64, self.probe_ndim)
            held = (
                []
                if torch is None
                else [v for v in leaves(obj, c).values() if isinstance(v, torch.Tensor)]
            )
            for x in batches:
                a = self._to_axis(x.copy())
                if torch is not None and held:  # a layer of torch tensors: x in their dtype
                    with torch.no_grad():
                        t = tensor_of(torch, a).to(held[0].dtype)
                        call_forward(obj, self.layout, t, True)
                else:
                    call_forward(obj, self.layout, a, True)
            return obj

        return trained

    def _grads_by_behaviour(self, before: dict[Any, Any], dy: Any, c: int) -> Any:
        """Gradients the backward wrote among the values of C numbers (new or changed, not the
        parameters or statistics), told apart by value: dbeta is closest to Σdy, dgamma to
        Σdy·x_hat."""
        after = {p: as_array(v) for p, v in leaves(self.obj, c).items()}
        taken = {s for pair in (self.params, self.running) for s in pair or ()}
        written = [
            p
            for p, v in after.items()
            if p not in taken
            and (p not in before or not np.array_equal(np.asarray(v), np.asarray(before[p])))
        ]
        # a row of an array of x's or dy's shape (an activation's gradient of a batch of 2 to
        # 4 samples, read as rows of C numbers) is no parameter gradient
        batch = {tuple(np.shape(self.passed_x)), tuple(np.shape(self._to_axis(dy)))}
        written = [p for p in written if not row_of_batch(self.obj, p, batch)]
        if len(written) < 2 or self.passed_x is None:
            return None
        x = self._from_axis(np.asarray(as_array(self.passed_x), dtype=np.float64))
        cols, dcols = _columns(x, c), _columns(np.asarray(dy, np.float64), c)
        xhat = (cols - cols.mean(axis=1, keepdims=True)) / np.sqrt(
            cols.var(axis=1, keepdims=True) + 1e-5
        )
        want_b, want_g = dcols.sum(axis=1), (dcols * xhat).sum(axis=1)

        def err(p: Any, want: Any) -> float:
            v = np.asarray(after[p], dtype=np.float64).reshape(c)
            return float(np.max(np.abs(v - want)) / (np.max(np.abs(want)) + 1e-300))

        best = min(
            ((g, b) for g in written for b in written if g != b),
            key=lambda pair: err(pair[0], want_g) + err(pair[1], want_b),
        )
        self.grad_note = "found by behaviour (written by backward; matched by value)"
        return best

    def _without_parameters(self, result: Any, dy: Any, before: dict[Any, Any], c: int) -> bool:
        """A BN without its affine step (judged with gamma = 1, beta = 0, its backward on dx):
        no parameters found, a backward that gives dx alone, nothing of C values changed
        behind it, and no function of the layer closing over C floats (parameters bncheck
        cannot reach)."""
        return (
            self.params is None
            and _dx_only(result, dy.shape)
            and not self._changed_slots(before, c)
            and not closes_over_arrays(self.obj, c)
        )

    def _changed_slots(self, before: dict[Any, Any], c: int) -> list[Any]:
        """The C-valued slots of the layer that are new or changed since ``before``."""
        after = P.c_valued_slots(self.obj, c)
        return [
            k
            for k, s in after.items()
            if k not in before or not np.array_equal(as_array(s.get(self.obj)), before[k])
        ]

    def _grads_text(self) -> str:
        bwd = f"{self.backward_name or 'backward'}(dy)"  # its own name (grad, bprop, ...)
        method = getattr(self.obj, self.backward_name, None) if self.backward_name else None
        if method is not None and backward_arguments(method, 1, 1, 0) is not None:
            names = list(inspect.signature(method).parameters)
            bwd = f"{self.backward_name}({', '.join(names)}) (x, y and dy, by their names)"
        if self.dx_attribute:  # it returns nothing: dx where it writes it
            bwd += (
                f" returns nothing, dx in {self.dx_attribute} (the one value of x's shape it "
                "writes)"
            )
        if self.grad_form == "none":
            return (
                f"{bwd} -> dx only: no parameters, so no dgamma or dbeta (checked as a "
                "BN without its affine step: dx alone)"
            )
        if self.grad_form == "engine":
            assert self.engine is not None
            return (
                f"no layer backward: its own autograd engine ({self.engine.__name__}): x handed "
                f"in as a {self.engine.__name__}, y.backward(dy), then x.grad and the "
                "parameters' .grad"
            )
        if self.grad_form == "autograd":
            return (
                "torch tensors and no backward(): gradients by autograd; eval runs under "
                "torch.no_grad()"
            )
        if self.grad_form == "tuple":
            return f"{bwd} -> {self.grad_returned}"
        if self.grad_form == "dict":
            return f"{bwd} -> gradients in a dict"
        if self.grad_form == "method":
            return (
                f"{bwd} -> dx; [dgamma, dbeta] from {self.grads_method}() after it (found by "
                "behaviour: the one method of the names of x, y and dy that gives them)"
            )
        if self.torch_grads:
            return f"{bwd} -> dx; gradients in the parameters' .grad"
        assert self.grad_slots is not None
        if self.grad_reset:
            reset = (
                f", {self.grad_reset}() before each training step as a training loop calls it "
                "(found by behaviour: it zeroes them and nothing else)"
            )
        elif self.grad_zero:
            reset = (
                ", zeroed before each backward as an optimizer zeroes a parameter's gradient "
                "(a layer may add into them)"
            )
        else:
            reset = (
                ", never reset (the layer has no method that zeroes them: a backward that adds "
                "into them accumulates across steps)"
            )
        return (
            f"{bwd} -> dx; gradients in {self.grad_slots[0].label()}, "
            f"{self.grad_slots[1].label()}"
            + (f" ({self.grad_note})" if self.grad_note else "")
            + reset
        )

    def _infer_eps(self, c: int) -> float | None:
        def run(x: Any, g: Any, b: Any) -> Any:
            self.new(c, "float64", 1e-5, x.ndim)
            self.set_params(g, b)
            return self.forward(x, True)

        return infer_eps(run, c, self.ndims[0])


def _literal(text: str) -> Any:
    """A --train-value/--eval-value: a Python literal (True, 0, 'test') or else the word."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _shaped_attributes(obj: Any, shape: tuple[int, ...]) -> dict[str, Any]:
    """The layer's own attributes holding an array of ``shape`` (copies), by name."""
    holder = getattr(obj, "__dict__", None)
    if not isinstance(holder, dict):
        return {}
    out = {}
    for name, value in holder.items():
        arr = as_array(value)
        if isinstance(arr, np.ndarray) and arr.shape == shape:
            out[name] = np.array(arr, copy=True)
    return out


def _torch_where(name: str) -> Where:
    """Where a torch module's parameter of that dotted name lives: an attribute of the
    module, or a path through its submodules and containers (``affine.scale``)."""
    if "." not in name:
        return P.Slot(name)
    # attributes all the way (torch modules answer getattr for their submodules, an
    # nn.Sequential's "1" included, and for an nn.ParameterDict's "scale")
    return Path(tuple(name.split(".")))


def _affine_law(x: Any, y0: Any, y1: Any, delta: Any, c: int) -> str | None:
    """Which parameter adding ``delta`` (per channel) changed y from ``y0`` to ``y1`` (channels
    on axis 1): "beta" when y moved by delta, "gamma" when it moved along x_hat (each channel's
    change correlated with its centred x, with delta's sign), else None."""
    if np.shape(y0) != np.shape(x) or np.shape(y1) != np.shape(x):
        return None
    d = (y1 - y0).reshape(x.shape[0], c, -1).transpose(1, 0, 2).reshape(c, -1)
    scale = 1.0 + np.abs(y0).max()
    if np.all(np.abs(d - delta[:, None]) <= 1e-6 * scale):
        return "beta"
    xc = x.reshape(x.shape[0], c, -1).transpose(1, 0, 2).reshape(c, -1)
    xc = xc - xc.mean(axis=1, keepdims=True)
    with np.errstate(all="ignore"):
        corr = (d * xc).sum(axis=1) / np.sqrt((d * d).sum(axis=1) * (xc * xc).sum(axis=1))
    if np.all(np.abs(corr) > 0.999) and np.all(np.sign(corr) == np.sign(delta)):
        return "gamma"
    return None


def running_by_behaviour(
    trained: Callable[[list[np.ndarray]], Any],
    shape: tuple[int, ...],
    c: int,
    taken: set[Any],
) -> tuple[Any, Any] | None:
    """Running statistics among the values of C numbers of a layer (their paths), or None:
    those that depend on the batches before the last one (two instances trained on different
    first batches and the same second batch disagree on them; a cache of the last batch's
    statistics agrees); the mean is the one that moves towards the batch's per-channel mean
    (for instance norm too: the average of its per-instance means), the other is the spread
    statistic (a variance, standard deviation or inverse standard deviation: its meaning is
    fitted by the running check). ``trained(batches)``: a new instance after one training
    forward per batch (channels on axis 1); ``taken``: paths with another role."""
    rng = np.random.default_rng(11)
    a1 = rng.normal(3.0, 2.0, size=shape)
    a2 = rng.normal(-4.0, 0.7, size=shape)
    b = rng.normal(-2.0, 0.5, size=shape)

    def values(obj: Any) -> dict[Any, Any]:
        out = {}
        for p, v in leaves(obj, c).items():
            arr = np.asarray(as_array(v))
            if arr.dtype.kind in "fiu":
                out[p] = arr.astype(np.float64).reshape(c)
        return out

    try:
        first = values(trained([a1]))
        second = values(trained([a1, b]))
        second_other = values(trained([a2, b]))
    except Exception:
        return None
    mean_b = _columns(b, c).mean(axis=1)
    blends = _carried(first, second, second_other, taken)
    means = []
    for path in blends:
        step, want = second[path] - first[path], mean_b - first[path]
        with np.errstate(all="ignore"):
            w = step / want
        if np.all(np.isfinite(w)) and np.all(w > 0) and np.all(w <= 1 + 1e-9) and np.ptp(w) < 1e-6:
            means.append(path)
    if len(means) != 1:
        return None
    spread = [p for p in blends if p != means[0]]
    spread.sort(key=lambda p: (not _hinted(p, ("var", "std", "sigma", "scale")), len(p.steps)))
    if not spread:
        return None
    return means[0], spread[0]


def _carried(
    first: dict[Any, Any], second: dict[Any, Any], second_other: dict[Any, Any], taken: set[Any]
) -> list[Any]:
    """The paths whose values carry a batch before the last: changed by the second batch
    (``first`` -> ``second``) and different after the same second batch when the first one
    differed (``second_other``; a cache of the last batch's statistics agrees there)."""
    out = []
    for path, v2 in second.items():
        v1, w2 = first.get(path), second_other.get(path)
        if path in taken or v1 is None or w2 is None or path.steps[-1] == "grad":
            continue
        if np.array_equal(v1, v2) or not np.all(np.isfinite(v2)):
            continue
        if np.allclose(v2, w2, rtol=1e-9, atol=0.0):
            continue  # the same after the same last batch: a cache, not a running value
        out.append(path)
    return out


def carried_state(
    trained: Callable[[list[np.ndarray]], Any], shape: tuple[int, ...], taken: set[Any]
) -> list[Any]:
    """The values of a layer (any size: arrays, numbers, reachable by :func:`leaves` with no
    size asked) that carry the training batches before the last one, as running statistics
    do, by the comparison of :func:`running_by_behaviour`: for a layer whose running
    statistics bncheck could not read as a pair of C numbers (Caffe's moving sums and their
    scale factor), so that its running and eval checks are reported not checked rather than
    not applicable. [] when the probe fails."""
    rng = np.random.default_rng(12)
    a1, a2 = rng.normal(3.0, 2.0, size=shape), rng.normal(-4.0, 0.7, size=shape)
    b = rng.normal(-2.0, 0.5, size=shape)

    def values(obj: Any) -> dict[Any, Any]:
        out = {}
        for p, v in leaves(obj, None).items():
            arr = np.asarray(as_array(v))
            if arr.dtype.kind in "fiu" and arr.shape != shape:
                out[p] = arr.astype(np.float64).ravel()
        return out

    try:
        first, second = values(trained([a1])), values(trained([a1, b]))
        second_other = values(trained([a2, b]))
    except Exception:
        return []
    same = {
        p: v
        for p, v in second.items()
        if p in first and p in second_other and first[p].shape == v.shape == second_other[p].shape
    }
    return _carried(first, same, second_other, taken)


def _columns(a: Any, c: int) -> Any:
    """(C, m): the values of each channel (channels on axis 1)."""
    return np.asarray(a).reshape(a.shape[0], c, -1).transpose(1, 0, 2).reshape(c, -1)


def _present(obj: Any, where: Any) -> bool:
    """Whether a value is there already on a new instance (not created at the first forward)."""
    return bool(where.exists(obj)) and not unset(where.get(obj))


def _paired_by_index(obj: Any, params: Any, grads: Any) -> Any:
    """The gradient slots paired with the parameters index for index when both are items of
    one list each, of the same length (``self.params = [gamma, beta]`` beside ``self.grads =
    [...]``: the layer's update zips them, so ``grads[i]`` is the gradient of ``params[i]``
    whatever its value; a list holding them the other way round is its mistake, judged so);
    else ``grads`` as found."""

    if params is None or grads is None:
        return grads
    p = [_split_last(w, int) for w in params]
    g = [_split_last(w, int) for w in grads]
    if None in p or None in g:
        return grads
    (pp, pg), (pp2, pb) = p  # type: ignore[misc]
    (gp, _), (gp2, _) = g  # type: ignore[misc]
    if pp != pp2 or gp != gp2 or pp == gp:
        return grads
    plist, glist = Path(pp).get(obj), Path(gp).get(obj)
    if not isinstance(plist, list) or not isinstance(glist, list) or len(plist) != len(glist):
        return grads
    return (Path((*gp, pg)), Path((*gp, pb)))


def _in_param_object(obj: Any, where: Any) -> bool:
    """Whether a slot is an attribute of a parameter object (an object whose ``.data`` is an
    array: Caffe's blob, a mini-framework's Parameter), not the layer's own attribute."""
    split = _split_last(where, str)
    if split is None:
        return False
    parent = Path(split[0]).get(obj)
    return (
        parent is not None
        and not isinstance(parent, (dict, list, tuple, np.ndarray))
        and isinstance(getattr(parent, "data", None), np.ndarray)
    )


def row_of_batch(obj: Any, path: Any, batch: set[tuple[int, ...]]) -> bool:
    """Whether ``path`` is a row of an array whose shape is one of ``batch`` (x's, dy's)."""
    split = _split_last(path, int)
    if split is None:
        return False
    parent = Path(split[0]).get(obj)
    return isinstance(parent, np.ndarray) and tuple(parent.shape) in batch


def _split_last(where: Any, kind: type) -> tuple[tuple[Any, ...], Any] | None:
    """(the steps to its holder, its last step) of a path below the layer whose last step is
    a ``kind`` (an int: an index; a str: an attribute or key), None otherwise."""
    steps: tuple[Any, ...] = tuple(getattr(where, "steps", ()))
    if len(steps) < 2 or not isinstance(steps[-1], kind):
        return None
    return steps[:-1], steps[-1]


def _layout_key(layout: Layout) -> tuple[Any, ...]:
    return (
        layout.forward_name,
        layout.mode,
        layout.mode_name,
        layout.eval_value,
        layout.train_value,
        tuple(sorted(layout.eval_kwargs.items())),
    )


def _hinted(path: Any, words: tuple[str, ...]) -> bool:
    label = path.label().lower()
    return any(w in label for w in words)


#: method names tried first as a forward (any method mapping x to x's shape qualifies)
_FORWARD_HINTS = (
    "call",
    "get_output_for",
    "fprop",
    "forward_prop",
    "apply",
    "run",
    "compute",
    "process",
    "predict",
    "transform",
)
#: words of a method name that put it first among the candidates of a reset (of the inputs a
#: backward covers, of the gradients): names order the search, a call decides
RESET_HINTS = ("flush", "zero", "reset", "clear", "free", "forget", "release")
_BACKWARD_HINTS = ("backward", "grad", "backprop", "bprop", "vjp", "bwd", "derivative")
_NOT_FORWARD = (
    "backward",
    "train",
    "eval",
    "state_dict",
    "parameters",
    "zero_grad",
    "reset",
    "save",
    "load",
    "update",
    "step",
)


def _entry_by_behaviour(obj: Any, c: int) -> str | None:
    """The method that maps an array x to an array of x's shape: names order the search,
    a call on a probe batch decides. Of several such methods, the first whose output follows
    the batch (a training forward: ``fit_transform`` beside an inference ``transform``,
    ``train_forward`` beside ``predict``) is taken; the others are candidates of the eval
    switch (:func:`~bncheck.check._verify.targets.layout.mode_candidates`)."""
    found = _entries(obj, c)
    for name, follows in found:
        if follows:
            return name
    return found[0][0] if found else None


def _entries(obj: Any, c: int) -> list[tuple[str, bool]]:
    """Every method (up to 64 names, names ordering them) that maps an array x to an array of
    x's shape, and whether its output for the first sample follows the other samples."""
    names = [
        n
        for n in dir(obj)
        if not n.startswith("__") and n not in _NOT_FORWARD and not side_effects(n)
    ]
    if isinstance(obj, dict):
        names = [n for n in obj if isinstance(n, str)]
    names.sort(key=lambda n: (n not in _FORWARD_HINTS, n.startswith("_"), n))
    out: list[tuple[str, bool]] = []
    for name in names[:64]:
        try:
            method = getattr(obj, name)
        except Exception:
            continue
        if not callable(method) or inspect.isclass(method):
            continue
        try:
            sig = inspect.signature(method)
            sig.bind(np.zeros((2, c)))
        except (TypeError, ValueError):
            continue
        for ndim in (2, 4):
            x = probe_x(c, ndim)
            try:
                y = _first(method(x.copy()))
            except Exception:
                continue
            if np.shape(y) == x.shape:
                out.append((name, _follows_batch(method, x, y)))
                break
    return out


def _normalizes_by_channel(x: Any, y: Any) -> bool:
    """Whether ``y`` is, channel by channel (axis 1), an affine map of ``x`` other than the
    identity, as a BN's eval output is (x − running mean) · scale + shift: what tells an
    inference method of the layer found by behaviour from any other method that takes x."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim < 2 or x.size // x.shape[1] < 3:
        return False
    identity = True
    for c in range(x.shape[1]):
        u, v = np.moveaxis(x, 1, 0)[c].ravel(), np.moveaxis(y, 1, 0)[c].ravel()
        if np.ptp(u) == 0:
            return False
        a, b = np.polyfit(u, v, 1)
        scale = max(float(np.max(np.abs(v))), 1e-300)
        if np.max(np.abs(a * u + b - v)) > 1e-8 * scale:
            return False
        identity = identity and abs(a - 1) < 1e-12 and abs(b) < 1e-12 * scale
    return not identity


def _first(result: Any) -> Any:
    """A method's output: the array, or the first item of a tuple or list."""
    result = result[0] if isinstance(result, (tuple, list)) and result else result
    return as_array(result)


def _follows_batch(method: Any, x: Any, y: Any) -> bool:
    """Whether ``method``'s output for the first sample changes when the other samples do
    (False also when the second call fails or gives another shape)."""
    other = x.copy()
    other[1:] = other[1:] * 1.7 + 0.9
    try:
        y2 = _first(method(other))
        return bool(
            np.shape(y2) == np.shape(y)
            and not np.allclose(np.asarray(y)[:1], np.asarray(y2)[:1], rtol=1e-9, atol=1e-12)
        )
    except Exception:
        return False


def _given_method(obj: Any, text: str, option: str, name: str) -> str:
    if callable(getattr(obj, text, None)):
        return text
    methods = [n for n in dir(obj) if not n.startswith("__") and callable(getattr(obj, n, None))]
    raise LoadError(
        f"{option} {text!r}: {name} has no such method; its methods: "
        f"{', '.join(methods[:20]) or 'none'}"
    )


def returned_order(method: Any, own: tuple[str, str] | tuple[()]) -> str | None:
    """The order a backward's code names its two parameter gradients in: "gamma" when every
    ``return`` of a sequence of three (or of dx and a pair) names the scale's gradient before
    the shift's, "beta" when every one names the shift's first, None when its source is not
    readable or the names do not say (``own``: the layer's names for its two parameters).

    Examples
    --------
    >>> def grad(self, x, dy):
    ...     d_input = d_beta = d_gamma = 0
    ...     return [d_input, d_beta, d_gamma]
    >>> returned_order(grad, ("gamma", "beta")), returned_order(len, ())
    ('beta', None)
    """
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(method)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    kinds = {
        "gamma": ("gamma", "weight", "scale", *(own[:1] if own else ())),
        "beta": ("beta", "bias", "shift", "offset", *(own[1:] if own else ())),
    }

    def kind(node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            text = node.id
        elif isinstance(node, ast.Attribute):
            text = node.attr
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            text = str(node.slice.value)
        else:
            return None
        low = text.lower()
        found = set()
        for k, words in kinds.items():
            for w in words:
                wl = w.lower()
                if len(wl) > 2 and wl in low:
                    found.add(k)
                elif low in (wl, "d" + wl, "d_" + wl, wl + "_grad", "grad_" + wl):
                    found.add(k)
        return found.pop() if len(found) == 1 else None

    orders = set()
    func = tree.body[0] if tree.body else None
    for node in ast.walk(func) if func is not None else ():
        if not isinstance(node, ast.Return) or not isinstance(node.value, (ast.Tuple, ast.List)):
            continue
        elts = node.value.elts
        if len(elts) == 2 and isinstance(elts[1], (ast.Tuple, ast.List)):
            elts = [elts[0], *elts[1].elts]
        if len(elts) != 3:
            continue
        pair = (kind(elts[1]), kind(elts[2]))
        if pair == ("gamma", "beta"):
            orders.add("gamma")
        elif pair == ("beta", "gamma"):
            orders.add("beta")
        else:
            return None
    return orders.pop() if len(orders) == 1 else None


def _returns_grads(result: Any, own: tuple[str, str] | tuple[()]) -> bool:
    """Whether a backward's tuple holds the parameters' gradients beside dx
    (:func:`~bncheck.check._verify.targets.common.split_grads` reads it; ``own``: the layer's
    names for its parameters)."""
    try:
        split_grads(result, "backward", own)
    except TypeError:
        return False
    return True


def _returned_text(result: Any) -> str:
    """The form of a backward's tuple: (dx, dgamma, dbeta), (dx, (dgamma, dbeta)), ..."""
    if len(result) == 3:
        return "(dx, dgamma, dbeta)"
    if isinstance(result[1], dict):
        return "(dx, a dict of dgamma and dbeta)"
    return "(dx, [dgamma, dbeta])" if isinstance(result[1], list) else "(dx, (dgamma, dbeta))"


def _given_path(obj: Any, text: str, option: str, name: str) -> Path:
    try:
        path = Path.parse(text)
    except ValueError as exc:
        raise LoadError(f"{option} {text!r}: {exc}") from None
    if not path.exists(obj):
        found = ", ".join(p.label() for p in list(leaves(obj, None))[:12]) or "none"
        raise LoadError(
            f"{option} {text!r}: {name} has no such value; values of numbers found on it: {found}"
        )
    return path


def _holds_tensors(obj: Any, params: tuple[Where, Where] | None) -> bool:
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


def _dx_only(result: Any, shape: tuple[int, ...]) -> bool:
    """Whether a backward's result is dx alone: an array of x's shape, or a tuple or list
    whose first item is one and whose others are None."""
    items = list(result) if isinstance(result, (tuple, list)) else [result]
    if not items:
        return False
    dx = as_array(items[0])
    return (
        isinstance(dx, np.ndarray)
        and tuple(np.shape(dx)) == tuple(shape)
        and all(v is None for v in items[1:])
    )


def _changed(y1: Any, y2: Any) -> bool:
    """Whether every channel of the output moved (y2 made with gamma doubled, beta + 1)."""
    n, c = y1.shape[0], y1.shape[1]
    moved = np.abs(y2 - y1).reshape(n, c, -1).max(axis=(0, 2))
    scale = np.abs(y1).reshape(n, c, -1).max(axis=(0, 2)) + 1.0
    return bool(np.all(moved > 1e-9 * scale))
