"""The adapter protocol over a JAX-driven framework BN (run in the worker process).

:class:`JaxAdapter` is what the Flax and Keras adapters share: a subclass builds, per (C,
dtype, rank, axis), a pure ``call(train, params, stats, x) -> (y, new_stats)`` and the initial
parameters and statistics (:class:`~bncheck.check._verify.targets.frameworks.trees.Built`
jits it); this
class answers verify's calls with it: new, set_params, forward (train: the jitted forward-and-vjp
step with dy = 0; eval: the jitted eval step), backward (the same step with dy), state.

float64 runs enable ``jax_enable_x64`` (JAX otherwise computes float64 input in float32,
silently); float32 and float16 runs disable it again, as a default JAX session has it. eps is
the layer's own (the ``eps`` verify passes to ``new`` is not given to the layer).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from bncheck.check._verify.targets.common import Contract, infer_eps, raised_text
from bncheck.check._verify.targets.frameworks.probes import conventions
from bncheck.check._verify.targets.frameworks.trees import (
    Path,
    Steps,
    example_shape,
    get_at,
    label,
    probe_shape,
    set_at,
    x64,
)
from bncheck.exceptions import LoadError

__all__ = ["JaxAdapter"]


class JaxAdapter:
    """What the Flax and Keras adapters share: the adapter protocol over a pure, jitted
    ``call(train, params, stats, x) -> (y, new_stats)`` that a subclass defines in ``_build``."""

    kind = "jax"
    #: what the mapping calls the framework
    framework = "JAX"
    #: whether the steps run on JAX (float64 needs jax_enable_x64); the autodiff they use
    uses_jax = True
    autodiff = "jax.vjp"
    #: whether a new input shape or dtype costs a compilation (XLA's, tinygrad's kernels): the
    #: checks then search values on shapes already run (Options.compiled_shapes)
    compiles_per_shape = True
    #: whether the parameters are held in another shape by design (their gradients read flat)
    flat_params = False
    #: "mixed-running" when the train output is normalized by the running statistics mixed
    #: with the batch's (Equinox mode="ema"): the second-call check holds it to that design
    train_stats: str | None = None

    def __init__(self, target: Any, name: str, *, axis: int = 1) -> None:
        self.target, self.name = target, name
        self.is_class = inspect.isclass(target)
        #: the layer's own axis, detected (verify's ``axis`` is not needed: the layer says)
        self.axis = -1
        self.wanted: tuple[int, ...] = (2, 4)
        self.contracts = Contract()
        self.mapping: list[str] = []
        self.channels: int | None = None
        #: the (C, dtype, rank, axis) of the instance new() made last
        self.cache_key: tuple[Any, ...] = ()
        self.cache: dict[tuple[Any, ...], Steps] = {}
        self.cur: Steps | None = None
        self.params: Any = None
        self.stats: Any = None
        self.last: tuple[Any, Any, Any] | None = None
        self.dtype = "float64"
        #: hyperparameters read from the layer (eps, momentum, ...), and the eps inferred
        self.attrs: dict[str, Any] = {}
        self.eps_inferred: float | None = None
        self.passed_x: Any = None
        self.has_modes = True

    # -- for the subclasses -----------------------------------------------------------------
    def _build(self, c: int, dtype: str, ndim: int) -> Steps:
        raise NotImplementedError

    def _describe_target(self) -> list[str]:
        """Mapping lines on how the target was built and switched between modes."""
        raise NotImplementedError

    def documented(self) -> tuple[str, str] | None:
        """(the running-statistics convention the framework documents for this layer, a key
        of bncheck.bn.running.CONVENTIONS; the documentation's words for it), or None: a layer
        the framework does not document (a user's own, written from scratch) is held to any
        known convention. The running check holds a documented layer to its convention
        unless the user names another (--convention)."""
        return None

    # -- the protocol -------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        c = self.channels or 3
        self._find_axis(c)
        ranks, errors = self._ranks(c)
        mapping = self._describe_target()
        mapping.append(self._axis_text())
        running = self.cur is not None and self.cur.stat_paths is not None and self.has_modes
        if self.cur is not None and self.cur.param_paths is not None:
            mapping.append(
                "parameters: "
                + ", ".join(
                    self.label(path)
                    if path is not None
                    else f"no {role} (the layer has none: checked with {role} = {one})"
                    for path, role, one in zip(
                        self.cur.param_paths, ("gamma", "beta"), (1, 0), strict=True
                    )
                )
                + f"; gradients by {self.autodiff} of y for dy (dx, and the parameters')"
            )
        elif self._param_free():
            mapping.append(
                "parameters: none (the layer has no trainable arrays: a BN without its affine "
                "step, checked with gamma = 1 and beta = 0); dx by " + self.autodiff + ", and "
                "no dgamma or dbeta to check"
            )
        else:
            mapping.append(
                "parameters: none found (treated as gamma = 1, beta = 0); dx by " + self.autodiff
            )
        if self.cur is not None:
            mapping.append(self.cur.how)
        if not self.x64():
            self.contracts.note(
                "JAX cannot enable float64 (jax_enable_x64) here: float64 "
                "inputs are computed in float32"
            )
        if self.attrs.get("eps") is None:
            self.eps_inferred = self._infer_eps(c, ranks[0] if ranks else 2)
            mapping.append(
                f"eps: no attribute; {self.eps_inferred:g}, inferred from the outputs"
                if self.eps_inferred is not None
                else "eps: no attribute, and the outputs give no consistent eps"
            )
        mapping += conventions(self, c)
        documented = self.documented() if running else None
        if documented is not None:
            mapping.append(
                f"convention: {documented[0]!r}, {self.framework}'s own ({documented[1]}); "
                "the running check holds the layer to it"
            )
        self.mapping = mapping
        found = self.cur is not None and self.cur.stat_paths is not None
        return {
            "kind": self.kind,
            "name": self.name,
            "convention": documented[0] if documented else None,
            "train_stats": self.train_stats,
            "running": running,
            # state it keeps but bncheck could not read as running statistics (a user's own
            # layer naming them its way), or running statistics with no train/eval switch:
            # the running and eval checks apply but cannot be driven, so they are not
            # checked, never skipped as not applying (a PASS would say eval was checked)
            "mode_switch": self.has_modes and (found or self._keeps_state()),
            "running_found": found,
            # state with neither statistics nor a switch found: not checked, never skipped
            "keeps_state": not found and not self.has_modes and self._keeps_state(),
            "channels": self.channels,
            "mapping": mapping,
            "axis": self.axis,
            "ndims": ranks,
            "rank_errors": errors,
            "compiles_per_shape": self.compiles_per_shape,
            "param_free": self._param_free(),
            # the one of gamma, beta the layer has not (built with a scale or a shift alone):
            # its gradient is None, as the layer has none to give
            "absent_params": self._absent_params(),
        }

    def _absent_params(self) -> list[str]:
        """ "gamma" or "beta", the parameter a layer built with the other alone has not."""
        cur = self.cur
        if cur is None or cur.param_paths is None:
            return []
        return [r for r, p in zip(("gamma", "beta"), cur.param_paths, strict=True) if p is None]

    def _param_free(self) -> bool:
        """Whether the instance built last has no parameters at all (not merely none under a
        gamma/beta name: a layer whose parameters bncheck did not find is not this, and its
        missing dgamma stays a failure)."""
        cur = self.cur
        if cur is None or cur.param_paths is not None:
            return False
        try:
            import jax

            found = jax.tree_util.tree_leaves(cur.params)
        except Exception:
            return False
        return not any(int(np.size(leaf)) > 0 for leaf in found if hasattr(leaf, "shape"))

    def _keeps_state(self) -> bool:
        """Whether the instance built last keeps state besides its parameters (any array in
        its statistics: a Keras layer's non-trainable weights, a Haiku or Flax state, an
        Equinox State)."""
        if self.cur is None or self.cur.stats is None:
            return False
        try:
            import jax

            leaves = jax.tree_util.tree_leaves(self.cur.stats)
        except Exception:  # not a JAX tree: judged as one value
            leaves = [self.cur.stats]
        return any(int(np.size(leaf)) > 0 for leaf in leaves if hasattr(leaf, "shape"))

    def x64(self, on: bool = True) -> bool:
        """Switch jax_enable_x64; whether float64 arrays are float64 afterwards (when on)."""
        if not self.uses_jax:
            return True
        return x64(on)

    def _find_axis(self, c: int) -> None:
        """The axis the layer normalizes: its ``axis`` attribute when that is 1 or -1 (read on
        a 2-D build, where the axis does not matter), else the last (Flax's and Keras'
        default) or 1, whichever a 4-D probe whose sides all differ runs on with C-valued
        parameters."""
        self.axis = -1
        try:
            self.new(c, "float64", 1e-5, 2)
        except LoadError:
            raise
        except Exception:
            pass
        if self.attrs.get("axis") in (1, -1):
            self.axis = int(self.attrs["axis"])
            return
        for axis in (-1, 1):
            self.axis = axis
            try:
                self.new(c, "float64", 1e-5, 4)
                x = np.random.default_rng(5).normal(size=example_shape(c, 4))
                y = self.forward(x, True)
                assert self.cur is not None
                found = self.cur.param_paths or self.cur.stat_paths
                if y.shape == x.shape and found is not None:
                    return
            except LoadError:
                raise
            except Exception:
                continue  # the target's own errors surface in the rank probes that follow
        self.axis = -1

    def _axis_text(self) -> str:
        if self.axis == 1:
            return "channels: axis 1, as bncheck's inputs have them (the layer's axis=1)"
        return (
            f"channels: the layer normalizes the last axis ({self.framework}'s default "
            "axis=-1): bncheck's channels-first inputs are moved to the last axis and the "
            "outputs back"
        )

    def _ranks(self, c: int) -> tuple[list[int], dict[str, str]]:
        ranks: list[int] = []
        errors: dict[str, str] = {}
        order = [*self.wanted, *[n for n in (2, 3, 4, 5) if n not in self.wanted]]
        for ndim in order:
            if ranks and ndim not in self.wanted:
                break  # the ranks asked for run: the others are not needed
            x = np.random.default_rng(4321).normal(2.0, 1.5, size=probe_shape(c, ndim))
            try:
                self.new(c, "float64", 1e-5, ndim)
                y = self.forward(x, True)
                if y.shape != x.shape:
                    raise ValueError(f"the output has shape {y.shape} for a {ndim}-D input")
                ranks.append(ndim)
            except LoadError:
                raise
            except Exception as exc:
                errors[str(ndim)] = raised_text(exc)
                if len(errors) == 4:
                    raise
        return sorted(ranks), errors

    def _infer_eps(self, c: int, ndim: int) -> float | None:
        def run(x: Any, g: Any, b: Any) -> Any:
            self.new(c, "float64", 1e-5, x.ndim)
            self.set_params(g, b)
            return self.forward(x, True)

        try:
            return infer_eps(run, c, ndim)
        except Exception:
            return None

    def label(self, path: Path, which: str = "params") -> str:
        """How the mapping names the leaf at ``path`` of the parameters or the statistics."""
        return label(path)

    def contract(self) -> list[str]:
        return list(self.contracts.seen)

    def variant(self, name: str) -> None:
        raise ValueError(f"no backward variant {name!r}")

    def watched(self) -> dict[str, Any]:
        return {"x (of the last forward)": self.passed_x}

    def new(self, num_features: int, dtype: str, eps: float, ndim: int = 2) -> dict[str, Any]:
        """A fresh instance (the framework's own eps: ``eps`` is not passed to the layer)."""
        self.x64(dtype == "float64")
        self.dtype = dtype
        key = (num_features, dtype, ndim, self.axis if ndim > 2 else None)
        self.cache_key = key
        if key not in self.cache:
            self.cache[key] = self._build(num_features, dtype, ndim)
        self.cur = self.cache[key]
        self.params, self.stats, self.last = self.cur.params, self.cur.stats, None
        return self.state()

    def set_params(self, gamma: Any, beta: Any) -> None:
        assert self.cur is not None
        if self.cur.param_paths is None:
            return
        for path, value in zip(self.cur.param_paths, (gamma, beta), strict=True):
            if path is None:  # a parameter the layer has not: it stays 1 or 0 (state says)
                continue
            old = get_at(self.params, path)
            new = self.cur.put(np.asarray(value).reshape(np.shape(old)), like=old)
            self.params = set_at(self.params, path, new)

    def _to_axis(self, a: Any) -> Any:
        return a if self.axis == 1 or a.ndim == 2 else np.moveaxis(a, 1, self.axis)

    def _from_axis(self, a: Any) -> Any:
        return a if self.axis == 1 or a.ndim < 3 else np.moveaxis(a, self.axis, 1)

    def forward(self, x: Any, train: bool) -> Any:
        assert self.cur is not None
        self.passed_x = x
        xj = self.cur.put(self._to_axis(x))
        if train:
            y, new_stats, _ = self.cur.step(self.params, self.stats, xj, None)
            self.last = (self.params, self.stats, xj)
        else:
            y, new_stats = self.cur.eval(self.params, self.stats, xj)
        if new_stats is not None:
            self.stats = new_stats
        return self._from_axis(self.cur.get(y))

    def backward(self, dy: Any) -> tuple[Any, Any, Any]:
        assert self.cur is not None
        if self.last is None:
            raise RuntimeError("backward before a train-mode forward")
        params, stats, xj = self.last
        _, _, (gp, gx) = self.cur.step(params, stats, xj, self.cur.put(self._to_axis(dy)))
        dx = self._from_axis(self.cur.get(gx))
        if self.cur.param_paths is None:
            return dx, None, None
        dg, db = (None if p is None else self.cur.get(get_at(gp, p)) for p in self.cur.param_paths)
        if self.flat_params:
            dg, db = (None if g is None else g.reshape(-1) for g in (dg, db))
        c = dy.shape[1]
        return (
            dx,
            self.contracts.per_channel(dg, c, "dgamma"),
            self.contracts.per_channel(db, c, "dbeta"),
        )

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        cur = self.cur
        if cur is not None and cur.param_paths is None:
            # none found: judged as the mapping says, gamma = 1 and beta = 0, never with the
            # case's parameters, which this layer was never given
            c = self.cache_key[0] if self.cache_key else 0
            if c:
                out["gamma"], out["beta"] = np.ones(c), np.zeros(c)
        if cur is not None and cur.param_paths is not None:
            c = self.cache_key[0] if self.cache_key else 0
            for key, path, fill in zip(
                ("gamma", "beta"), cur.param_paths, (np.ones, np.zeros), strict=True
            ):
                # a parameter the layer has not is its identity value, as the mapping says
                out[key] = (
                    fill(c) if path is None else cur.get(get_at(self.params, path)).reshape(-1)
                )
        if cur is not None and cur.stat_paths is not None:
            for key, path in zip(("running_mean", "running_var"), cur.stat_paths, strict=True):
                out[key] = cur.get(get_at(self.stats, path)).reshape(-1)
        eps = self.attrs.get("eps", self.eps_inferred)
        if eps is not None:
            out["eps"] = float(eps)
        if self.attrs.get("momentum") is not None:
            out["momentum"] = float(self.attrs["momentum"])
        return out
