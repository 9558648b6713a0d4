"""The target side of ``verify(..., world_size=K)`` for a Flax linen BN: K CPU devices, one mesh.

A ``flax.linen`` BN that synchronizes over a named axis (``nn.BatchNorm(axis_name="batch")``,
or a user module wrapping one or calling ``jax.lax.pmean``/``psum`` over ``"batch"``) runs in
the target process under ``jax.shard_map`` on a mesh of K CPU devices with the one axis
``"batch"`` (``XLA_FLAGS=--xla_force_host_platform_device_count=K``, set before JAX starts its
backend, and ``jax_num_cpu_devices``). The global batch is sharded by rows along that axis:
shard_map needs **equal** shards, so only equal layouts are run.

Per case: forward in train mode (``apply(..., mutable=["batch_stats"])``) and ``jax.vjp`` of y
for the device's rows of dy, inside the shard_map (one jitted program); then a fresh
initialisation, ``STEPS`` train steps and an eval call. Each device's results are answered as a
"rank" in the plain-data form :mod:`bncheck.check._verify.distributed.case` gives for PyTorch,
so :mod:`bncheck.check._verify.distributed.checks` judges both.

Gradient contract (JAX's): gamma and beta are replicated (``in_specs=P()``), and the vjp of a
replicated value under shard_map transposes its implicit broadcast into a ``psum``: every
device holds the *global* dgamma and dbeta. Verify checks that all devices hold the same
values (else an interface deviation) and answers device 0's as rank 0's, zeros for the others,
so the sum over the ranks is the global gradient, as for PyTorch/DDP.
"""

from __future__ import annotations

import inspect
import os
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np

from bncheck.check._verify.distributed.rank_process import guarded
from bncheck.check._verify.targets.dispatch import resolve
from bncheck.check._verify.targets.frameworks import class_in_module, kind_of, prepare_target
from bncheck.check._verify.targets.frameworks.flax_bn import mode_arg, mode_kwargs, read_attrs
from bncheck.check._verify.targets.frameworks.trees import (
    PARAM_PAIRS,
    STAT_PAIRS,
    cast_tree,
    find_pair,
    get_at,
    jax_module,
    set_at,
)
from bncheck.exceptions import LoadError

__all__ = ["AXIS", "JaxMeshAdapter", "is_flax_target", "jax_mesh_adapter"]

#: the name of the mesh axis the BN must synchronize over
AXIS = "batch"
FLAG = "--xla_force_host_platform_device_count"


def is_flax_target(target: Any) -> bool:
    """Whether ``target`` (a spec or an object, in the verify process) is surely a Flax one:
    a dotted ``flax.`` name, or a flax class or instance (a target file is decided in the
    target process)."""
    if isinstance(target, str):
        return target.partition(":")[0].startswith("flax.")

    return kind_of(target) == "flax.linen"


def _set_device_count(k: int) -> None:
    """K host devices: XLA_FLAGS when JAX is not imported yet, and jax_num_cpu_devices."""
    if "jax" not in sys.modules:
        flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith(FLAG)]
        os.environ["XLA_FLAGS"] = " ".join([*flags, f"{FLAG}={k}"])


def _mentions_flax(spec: str) -> bool:
    base = spec.partition(":")[0]
    if base.startswith("flax."):
        return True
    if base.endswith(".py") or os.sep in base:
        try:
            return "flax" in Path(base).read_text(errors="replace")
        except OSError:
            return False
    return False


def jax_mesh_adapter(target: Any, world_size: int, timeout: float, axis: int) -> Any:
    """The adapter when ``target`` is a flax.linen module class (in the target process), else
    None (then the PyTorch path runs)."""
    if isinstance(target, str) and not _mentions_flax(target):
        return None
    _set_device_count(world_size)

    obj, name = target, getattr(target, "__name__", "target")
    if isinstance(target, str):
        prepare_target(target)
        name = target
        obj, attr = resolve(target)
        if attr is not None:
            if not hasattr(obj, attr):
                raise LoadError(f"{target!r}: the module has no {attr!r}")
            obj = getattr(obj, attr)
    if isinstance(obj, types.ModuleType):
        found = class_in_module(obj, name)
        if found is None:
            return None
        obj, name = found
    if kind_of(obj) != "flax.linen":
        return None
    return JaxMeshAdapter(obj, str(name), world_size, timeout)


class JaxMeshAdapter:
    """In the target process: the mesh, the module, and the ops the verify process calls
    (``describe``, ``start``, ``run``), answering as :class:`.ranks.SyncAdapter` does."""

    def __init__(self, target: Any, name: str, world_size: int, timeout: float) -> None:

        jax = jax_module()
        try:
            jax.config.update("jax_num_cpu_devices", world_size)
        except Exception:  # the backend is up already: the device count below tells
            pass
        devices = jax.devices("cpu")
        if len(devices) < world_size:
            raise LoadError(
                f"JAX has {len(devices)} CPU device(s), fewer than world_size={world_size}: "
                f"its backend started before {FLAG}={world_size} could be set"
            )
        self.jax, self.world_size, self.timeout, self.name = jax, world_size, timeout, name
        self.mesh = jax.sharding.Mesh(np.array(devices[:world_size]), (AXIS,))
        self.module, how = self._module(target)

        self.arg = mode_arg(self.module.__call__)
        fields = getattr(self.module, "__dataclass_fields__", {})
        if self.arg == "use_running_average" and getattr(self.module, self.arg, None) is not None:
            self.module = self.module.clone(use_running_average=None)
        if self.arg is None and "use_running_average" in fields:
            self.modes = (
                self.module.clone(use_running_average=False),
                self.module.clone(use_running_average=True),
            )
            self.arg = "<attribute>"
        else:
            self.modes = (self.module, self.module)
        self.kw = {t: mode_kwargs(self.arg, t) for t in (True, False)}
        self.attrs = read_attrs(self.module)
        self.mapping = [
            f"{how}, run under jax.shard_map on a mesh of {world_size} CPU devices, axis "
            f"{AXIS!r} ({FLAG}={world_size}); the batch sharded by rows: equal shards only",
            "channels moved from axis 1 to the last axis (Flax's default) and back",
            "forward: apply(..., mutable=['batch_stats']) in train mode; backward: jax.vjp "
            "inside the shard_map (dx per device; dgamma/dbeta are replicated, the psum'ed "
            "global gradient on every device: answered once, as rank 0's)",
            f"mode: {self.arg or 'none found'}; running statistics: batch_stats mean/var",
        ]

    def _module(self, target: Any) -> tuple[Any, str]:
        cls: Any = target
        if not inspect.isclass(cls):
            return target, f"{self.name} (the instance given)"
        fields = getattr(target, "__dataclass_fields__", {})
        try:
            if "axis_name" in fields:
                return target(axis_name=AXIS), f"{target.__name__}(axis_name={AXIS!r})"
            return target(), f"{target.__name__}() (it must synchronize over {AXIS!r})"
        except TypeError as exc:
            raise LoadError(f"cannot construct {target.__name__} ({exc})") from None

    def describe(self) -> dict[str, Any]:
        return {
            "kind": f"sync-flax.linen ({self.world_size} CPU devices, jax.shard_map)",
            "mapping": self.mapping,
            "equal_shards": True,
        }

    def start(self) -> dict[str, Any]:
        return {"ok": True, "outcomes": [], "seconds": 0.0}

    def run(self, case: dict[str, Any]) -> dict[str, Any]:
        k = self.world_size
        if len(set(case["rows"])) != 1:
            why = "shard_map needs equal shards; this layout is not equal"
            raw = {"status": "raised", "message": why, "traceback": "", "collective": False}
            return {"outcomes": [raw] * k, "alive": False}
        outcome = guarded(lambda: self._case(case), self.timeout)
        if outcome.get("status") != "ok":
            return {"outcomes": [outcome] * k, "alive": False}
        return {"outcomes": [{"status": "ok", "value": v} for v in outcome["value"]], "alive": True}

    # -- one case -------------------------------------------------------------------------------
    def _init(self, c: int, dtype: str, gamma: Any, beta: Any, shape: tuple[int, ...]) -> Any:

        jax = self.jax
        nn = sys.modules["flax.linen"]
        P = jax.sharding.PartitionSpec
        x0 = jax.numpy.zeros((shape[0], *shape[2:], c), "float32")
        seen: list[Any] = []

        def intercept(call: Any, args: Any, kwargs: Any, context: Any) -> Any:
            if context.method_name == "__call__" and isinstance(context.module, nn.BatchNorm):
                seen.append(context.module)
            return call(*args, **kwargs)

        def body(key: Any, x: Any) -> Any:  # inside the mesh: the axis name is bound
            variables = self.modes[0].init(key, x, **self.kw[True])
            return jax.tree.map(lambda a: jax.numpy.asarray(a)[None], variables)

        init = jax.jit(
            jax.shard_map(body, mesh=self.mesh, in_specs=(P(), P(AXIS)), out_specs=P(AXIS))
        )
        with nn.intercept_methods(intercept):
            stacked = init(jax.random.PRNGKey(0), x0)
        variables = dict(jax.tree.map(lambda a: a[0], stacked))
        if self.attrs.get("eps") is None and len(seen) == 1:  # the nn.BatchNorm it wraps
            self.attrs = read_attrs(seen[0])
        params = cast_tree(dict(variables.pop("params", {})), dtype)
        stats = cast_tree(dict(variables.pop("batch_stats", {})), dtype, promote=True)
        pp = find_pair(params, PARAM_PAIRS, c, "parameters", self.name)
        sp = find_pair(stats, STAT_PAIRS, c, "running statistics", self.name)
        if pp is not None:
            for path, value in zip(pp, (gamma, beta), strict=True):
                params = set_at(params, path, jax.numpy.asarray(value, dtype=dtype))
        return params, stats, variables, pp, sp

    def _case(self, case: dict[str, Any]) -> list[dict[str, Any]]:
        jax = self.jax
        jnp = jax.numpy

        P = jax.sharding.PartitionSpec
        dtype, k = str(case["dtype"]), self.world_size
        jax.config.update("jax_enable_x64", dtype == "float64")
        c = int(case["gamma"].size)
        params, stats, rest, pp, sp = self._init(
            c, dtype, case["gamma"], case["beta"], case["x"].shape
        )
        mt, me = self.modes
        kt, ke = self.kw[True], self.kw[False]

        def apply(module: Any, kw: Any, p: Any, s: Any, x: Any) -> Any:
            y, upd = module.apply(
                {**rest, "params": p, "batch_stats": s}, x, mutable=["batch_stats"], **kw
            )
            return y, dict(upd.get("batch_stats", s)) if upd else s

        def stack(tree: Any) -> Any:  # one row per device: what each holds
            return jax.tree.map(lambda a: jnp.asarray(a)[None], tree)

        def train(p: Any, s: Any, x: Any, dy: Any) -> Any:
            s = jax.tree.map(lambda a: a[0], s)  # this device's statistics
            y, pull, new = jax.vjp(lambda p_, x_: apply(mt, kt, p_, s, x_), p, x, has_aux=True)
            dp, dx = pull(dy.astype(y.dtype))
            return y, stack(new), stack(dp), dx

        def evaluate(p: Any, s: Any, x: Any) -> Any:
            s = jax.tree.map(lambda a: a[0], s)
            y, new = apply(me, ke, p, s, x)
            return y, stack(new)

        rows, shard = P(AXIS), P()
        step = jax.jit(
            jax.shard_map(
                train,
                mesh=self.mesh,
                in_specs=(shard, rows, rows, rows),
                out_specs=(rows, rows, rows, rows),
            )
        )
        run_eval = jax.jit(
            jax.shard_map(
                evaluate, mesh=self.mesh, in_specs=(shard, rows, rows), out_specs=(rows, rows)
            )
        )

        def last(a: Any) -> Any:  # channels to the last axis (Flax's default) and back
            return jnp.asarray(np.moveaxis(np.asarray(a), 1, -1))

        def first(a: Any) -> Any:
            return np.moveaxis(np.asarray(a), -1, 1)

        stats = jax.tree.map(lambda a: jnp.stack([a] * k), stats)  # one copy per device
        y, _, dp, dx = step(params, stats, last(case["x"]), last(case["dy"]))
        y, dx = first(y), first(dx)
        notes: list[str] = []
        grads: list[Any] = [None, None]
        if pp is not None:
            for i, path in enumerate(pp):
                per = np.asarray(get_at(dp, path)).reshape(k, c)
                if not all(np.array_equal(per[0], r) for r in per[1:]):
                    notes.append("the devices hold different dgamma/dbeta (not replicated)")
                grads[i] = per
        n = y.shape[0] // k
        out = []
        for r in range(k):
            out.append(
                {
                    "y": y[r * n : (r + 1) * n],
                    "dx": dx[r * n : (r + 1) * n],
                    "dgamma": None
                    if grads[0] is None
                    else (grads[0][0] if r == 0 else np.zeros_like(grads[0][0])),
                    "dbeta": None
                    if grads[1] is None
                    else (grads[1][0] if r == 0 else np.zeros_like(grads[1][0])),
                    "affine": pp is not None,
                    "mutated": [],
                    "notes": notes,
                    "eps": self.attrs.get("eps"),
                    "momentum": self.attrs.get("momentum", "missing"),
                    "running": None,
                }
            )
        if sp is not None and self.arg is not None:
            self._steps(case, out, step, run_eval, params, stats, sp, last, first)
        return out

    def _steps(
        self,
        case: Any,
        out: Any,
        step: Any,
        run_eval: Any,
        params: Any,
        stats: Any,
        sp: Any,
        last: Any,
        first: Any,
    ) -> None:
        """STEPS train steps from the initial statistics, then an eval call; per device."""

        k, c = self.world_size, int(case["gamma"].size)

        def per_device(s: Any) -> list[list[Any]]:
            rm, rv = (np.asarray(get_at(s, p)) for p in sp)
            return [[rm.reshape(k, c)[r], rv.reshape(k, c)[r]] for r in range(k)]

        states = [per_device(stats)]
        s = stats
        for batch in case["steps"]:
            xb = last(batch)
            _, new, _, _ = step(params, s, xb, self.jax.numpy.zeros_like(xb))
            states.append(per_device(new))
            s = new  # each device continues from its own statistics
        ye, after = run_eval(params, s, last(case["x_eval"]))
        ye = first(ye)
        after_d = per_device(after)
        n = ye.shape[0] // k
        for r in range(k):
            out[r]["running"] = [st[r] for st in states]
            out[r]["y_eval"] = ye[r * n : (r + 1) * n]
            out[r]["after_eval"] = after_d[r]
