"""The adapter protocol: what the target process calls on the object that drives a target.

verify never touches a target directly. In the target process one adapter object (built by
:func:`bncheck.check._verify.targets.dispatch.load_adapter`, or by the distributed loader)
answers calls by name with plain data: the parent sends ``(op, args)``, the child calls
``getattr(adapter, op)(*args)`` for an ``op`` in :data:`OPS` and sends the result back, checked
against this protocol by the parent before anything in it is used. Every kind of target
(functional, cs231n, layer, PyTorch, Flax, Keras) has its adapter; the checks never ask which.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = [
    "COPIED_FROM",
    "OPS",
    "OPTIONAL_OPS",
    "READ_AS_ARRAYS",
    "SYNC_OPS",
    "Adapter",
    "SyncAdapterProtocol",
    "copy_out",
    "read_as_arrays_notes",
]

#: during one call in the target process: each array an adapter copied out of the target's own
#: memory (an ndarray, a tensor's buffer), by the copy's id: (the copy, the target's array).
#: The child empties it before each call and watches the target's arrays behind a forward's
#: and a backward's outputs for changes made by later calls
#: (:func:`~bncheck.check._verify.process.child.kept_outputs`).
COPIED_FROM: dict[int, tuple[Any, Any]] = {}


#: the Python containers (``list``, ``tuple``) an adapter read as arrays during the run
#: (:func:`~bncheck.check._verify.targets.common.as_array`): the target handed back nested
#: Python sequences where arrays were expected. The child adds :func:`read_as_arrays_notes` to
#: every answer to ``contract``, so any adapter's interface deviations say so.
READ_AS_ARRAYS: set[str] = set()


def read_as_arrays_notes() -> list[str]:
    """The interface deviations :data:`READ_AS_ARRAYS` records, one per container type.

    Examples
    --------
    >>> from bncheck.check._verify.process import adapter
    >>> adapter.READ_AS_ARRAYS.add("list")
    >>> adapter.read_as_arrays_notes()
    ['values came back as Python lists, not arrays (read as float64 arrays)']
    >>> adapter.READ_AS_ARRAYS.clear()
    """
    return [
        f"values came back as Python {kind}s, not arrays (read as float64 arrays)"
        for kind in sorted(READ_AS_ARRAYS)
    ]


def copy_out(original: Any) -> Any:
    """A copy of the target's array ``original``, recorded in :data:`COPIED_FROM`."""
    copy = original.copy()
    COPIED_FROM[id(copy)] = (copy, original)
    return copy


@runtime_checkable
class Adapter(Protocol):
    """One BN target in the target process, as a layer: arrays have channels on axis 1.

    ``describe`` runs once when the target is loaded (it probes the mapping); the other
    methods are the calls the checks make, each answered with plain data. ``wanted``: the
    input ranks asked for, probed first (set by the loader).
    """

    wanted: tuple[int, ...]

    def describe(self) -> dict[str, Any]:
        """kind, channels, ndims, rank_errors, variants, mapping, running, probe."""

    def new(self, num_features: int, dtype: str, eps: float, ndim: int = 2) -> dict[str, Any]:
        """A fresh instance with ``num_features`` channels; what it was built with."""

    def set_params(self, gamma: Any, beta: Any) -> None:
        """Write the learnable parameters."""

    def forward(self, x: Any, train: bool) -> Any:
        """y for ``x`` in train or eval mode."""

    def backward(self, dy: Any) -> tuple[Any, Any, Any]:
        """(dx, dgamma, dbeta) for the last forward."""

    def state(self) -> dict[str, Any]:
        """running_mean, running_var, gamma, beta, eps, momentum, ... as found."""

    def contract(self) -> list[str]:
        """Interface deviations seen so far (dtype, shapes)."""

    def variant(self, name: str) -> None:
        """Switch to another backward (cs231n's ``batchnorm_backward_alt``)."""

    def watched(self) -> dict[str, Any]:
        """Arrays the adapter hands to the target itself, checked for mutation."""

    # optional, autograd targets only: ``eval_grad(on)`` makes eval forwards run with gradient
    # recording on instead of under no_grad (an adapter without it raises AttributeError)


class SyncAdapterProtocol(Protocol):
    """A synchronized BN across K ranks, driven from the target process."""

    def describe(self) -> dict[str, Any]:
        """kind, mapping, equal_shards."""

    def start(self) -> dict[str, Any]:
        """Start the ranks (or the device mesh)."""

    def run(self, case: dict[str, Any]) -> dict[str, Any]:
        """One distributed case on its shards; the ranks' plain results."""


#: the calls the parent may make of an :class:`Adapter` (``probe`` is the functional targets'
#: ordinary-call probe of ranks and eps; ``eval_grad`` the autograd targets' eval with
#: gradient recording on)
OPS = frozenset(
    {
        "new",
        "set_params",
        "forward",
        "backward",
        "state",
        "contract",
        "variant",
        "probe",
        "stash",
        "unstash",
        "eval_grad",
        "find_running",
        "set_running",
        "reload",
        "freeze",
        "reset_running",
        "refill",
    }
)
#: calls only some adapters answer (the others raise AttributeError, which the caller reads as
#: "does not apply"): ``probe`` (functional targets, probed as an ordinary call),
#: ``stash``/``unstash`` (keep the last forward's cache aside, and bring it back: targets whose
#: backward takes the cache its forward returned), ``eval_grad`` (eval with gradient recording
#: on: autograd targets), ``find_running(ndim)`` (family targets: what keeps running
#: statistics, "" for nothing), ``set_running(mean, var)`` (write the running statistics the
#: layer holds, as a checkpoint load does: layers whose statistics bncheck found), ``reload()``
#: (the layer saved and restored as users do: a torch module's state_dict loaded back, then a
#: deep copy of the object in its place: layer objects), ``freeze(names)`` (parameters of an
#: autograd layer frozen, ``requires_grad_(False)``, until the next ``new``), ``reset_running()``
#: (the layer's own ``reset_running_stats()``), ``refill()`` (the next forward's input handed in
#: the last forward's array, refilled in place: layers taking NumPy arrays)
OPTIONAL_OPS = frozenset(
    {
        "probe",
        "stash",
        "unstash",
        "eval_grad",
        "find_running",
        "set_running",
        "reload",
        "freeze",
        "reset_running",
        "refill",
    }
)
#: the calls the parent may make of a synchronized adapter
SYNC_OPS = frozenset({"start", "run"})
