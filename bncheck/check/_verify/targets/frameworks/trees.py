"""The state of a framework layer (Flax, Keras on JAX) as the adapters see it: trees of
parameters and statistics with their paths, the gamma/beta and running-statistics pairs found
in them, dtype casts, the example shapes a model is built with, and the built model (run in the
target process; JAX is imported by name, only when a framework target is driven)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from bncheck.check._verify.targets import names as P
from bncheck.exceptions import LoadError

#: gamma/beta and running statistics names (the protocol's, and Flax's scale/bias, mean/var)
PARAM_PAIRS = (("scale", "bias"), *P.PARAM_NAMES)
STAT_PAIRS = (("mean", "var"), *P.RUNNING_NAMES)


def jax_module() -> Any:
    return importlib.import_module("jax")


# -- pytrees of parameters and statistics -----------------------------------------------------

Path = tuple[Any, ...]


def leaves(tree: Any) -> list[tuple[Path, Any]]:
    """(path, leaf) of a nested dict/list tree, the path as the plain keys and indices."""
    if isinstance(tree, dict):
        return [((k, *p), v) for k in tree for p, v in leaves(tree[k])]
    if isinstance(tree, (list, tuple)):
        return [((i, *p), v) for i, item in enumerate(tree) for p, v in leaves(item)]
    return [((), tree)]


def get_at(tree: Any, path: Path) -> Any:
    for key in path:
        tree = tree[key]
    return tree


def set_at(tree: Any, path: Path, value: Any) -> Any:
    """A copy of ``tree`` with the leaf at ``path`` replaced (containers copied on the way)."""
    if not path:
        return value
    key, rest = path[0], path[1:]
    if isinstance(tree, dict):
        return {**tree, key: set_at(tree[key], rest, value)}
    items = list(tree)
    items[key] = set_at(items[key], rest, value)
    return type(tree)(items) if isinstance(tree, tuple) else items


def find_pair(
    tree: Any, pairs: tuple[tuple[str, str], ...], c: int, what: str, name: str
) -> tuple[Path, Path] | None:
    """The paths of the two C-valued leaves named like one of ``pairs`` (a name ends a path);
    None when there are none, LoadError when several BNs' are."""
    found = leaves(tree)
    for first, second in pairs:
        a = [p for p, v in found if p and p[-1] == first and np.size(v) == c]
        b = [p for p, v in found if p and p[-1] == second and np.size(v) == c]
        if len(a) == 1 and len(b) == 1:
            return a[0], b[0]
        if a and b:
            raise LoadError(
                f"{name} holds {len(a)} {first}/{second} {what} ({', '.join(map(label, a))}): "
                "bncheck verifies one BN; pass the BN itself"
            )
    return None


#: the paths of (gamma, beta) in a tree, either None where the layer has that parameter not
#: (a BN built with use_scale=False, create_offset=False, center=False, ...)
ParamPaths = tuple[Path | None, Path | None]


def one_of_pair(
    named: list[tuple[Any, str, Any]], pairs: tuple[tuple[str, str], ...], c: int
) -> ParamPaths | None:
    """(path, None) or (None, path) when the only C-valued leaf of the parameters (each item:
    path, its name, its value) is named like a scale (the first of a pair) or a shift (the
    second): a BN built with one of its two affine parameters. None otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from bncheck.check._verify.targets.frameworks.trees import one_of_pair
    >>> one_of_pair([(("bn", "offset"), "offset", np.zeros(3))], (("scale", "offset"),), 3)
    (None, ('bn', 'offset'))
    >>> one_of_pair([(("w",), "w", np.zeros(3))], (("scale", "offset"),), 3) is None
    True
    """
    sized = [(path, name) for path, name, value in named if np.size(value) == c]
    if len(sized) != 1:
        return None
    path, name = sized[0]
    if any(name == first for first, _ in pairs):
        return (path, None)
    if any(name == second for _, second in pairs):
        return (None, path)
    return None


def find_params(tree: Any, c: int, name: str) -> ParamPaths | None:
    """:func:`find_pair` of the parameters (:data:`PARAM_PAIRS`), or the one parameter of a BN
    built with a scale or a shift alone (:func:`one_of_pair`)."""
    found = find_pair(tree, PARAM_PAIRS, c, "parameters", name)
    if found is not None:
        return found
    return one_of_pair([(p, p[-1], v) for p, v in leaves(tree) if p], PARAM_PAIRS, c)


def label(path: Path) -> str:
    return "/".join(str(k) for k in path)


def cast_tree(tree: Any, dtype: str, *, promote: bool = False) -> Any:
    """Floating leaves in ``dtype`` (``promote``: never narrower than they are).

    The cast is NumPy's, on the host, and the result is put on the device as it is: a cast
    inside JAX would compile one small program per leaf shape (one per channel count), and
    both round to nearest even."""
    jax = jax_module()
    jnp = jax.numpy

    def cast(a: Any) -> Any:
        if not hasattr(a, "dtype") or not jnp.issubdtype(a.dtype, jnp.floating):
            return a
        to = jnp.promote_types(a.dtype, dtype) if promote else np.dtype(dtype)
        return put_array(np.asarray(a), to)

    return jax.tree.map(cast, tree)


def put_array(a: Any, dtype: Any = None) -> Any:
    """A NumPy array on JAX's default device (in ``dtype`` when given, cast by NumPy): a
    transfer, never a compiled program (``jnp.asarray`` with a dtype, or ``jnp.zeros_like``,
    compile one per shape)."""
    jax = jax_module()
    host = np.asarray(a) if dtype is None else np.asarray(a, dtype=dtype)
    return jax.device_put(host)


def x64(on: bool) -> bool:
    """Switch jax_enable_x64; whether float64 arrays are float64 afterwards (when on)."""
    jax = jax_module()
    try:
        jax.config.update("jax_enable_x64", on)
    except Exception:
        pass
    return not on or put_array(np.zeros(1)).dtype == np.float64


def probe_shape(c: int, ndim: int) -> tuple[int, ...]:
    """The shapes of the checks' probes (``cases.SHAPES`` with C channels): describe's probes
    take them too, so that their compilations serve the checks."""
    return {2: (16, c), 3: (4, c, 5), 4: (4, c, 3, 2), 5: (2, c, 2, 2, 2)}[ndim]


def example_shape(c: int, ndim: int) -> tuple[int, ...]:
    """A channels-first shape whose other sides are small and all differ from C and from each
    other (so the size of the parameters a layer creates tells which axis it normalizes); small
    whatever C is, since layers are built and initialised on it (sides of C + 1, C + 2, ...
    would make a 2 GiB array for C = 129 in 4-D)."""
    others = [s for s in (2, 3, 4, 5, 6, 7) if s != c]
    return (others[0], c, *others[1 : ndim - 1])


class Steps(Protocol):
    """What an adapter drives a built instance with (:class:`Built`, :class:`TorchBuilt`, or a
    framework's own): its initial parameters and statistics, where gamma, beta and the running
    statistics sit in them, the train and eval steps, and arrays in and out."""

    params: Any
    stats: Any
    param_paths: ParamPaths | None
    stat_paths: tuple[Path, Path] | None
    how: str

    def step(self, p: Any, s: Any, x: Any, dy: Any) -> Any:
        """(y, new_stats, (dparams, dx) or None when ``dy`` is None) of a train step."""

    def eval(self, p: Any, s: Any, x: Any) -> Any:
        """(y, new_stats) of an eval step."""

    def put(self, a: Any, like: Any = None) -> Any:
        """A NumPy array as the framework's array (in the dtype of ``like`` when given)."""

    def get(self, a: Any) -> Any:
        """The framework's array as a NumPy array."""


class Built:
    """One instance for (C, dtype, rank, axis): its initial parameters and statistics, where
    gamma, beta and the running statistics sit in them, and the jitted steps.

    A train step is one compiled program, ``step(params, stats, x, dy) -> (y, new_stats,
    (dparams, dx))``, as a training loop jits its forward and backward together (and one
    compilation per input shape, not two: XLA's compilations are what a verification spends
    its time on). forward() runs it with dy = 0, backward() again with dy.
    """

    def __init__(
        self,
        call: Callable[..., Any],
        params: Any,
        stats: Any,
        param_paths: ParamPaths | None,
        stat_paths: tuple[Path, Path] | None,
    ) -> None:
        jax = jax_module()
        self.params, self.stats = params, stats
        self.param_paths, self.stat_paths = param_paths, stat_paths

        def step(p: Any, s: Any, x: Any, dy: Any) -> Any:
            y, pull, new = jax.vjp(lambda p_, x_: call(True, p_, s, x_), p, x, has_aux=True)
            return y, new, pull(dy.astype(y.dtype))

        self._step = jax.jit(step)
        self.eval = jax.jit(lambda p, s, x: call(False, p, s, x))

    #: how the mapping says the steps run
    how = (
        "each train step (forward and vjp) is one jax.jit program; float64 with "
        "jax_enable_x64 on, float32 and float16 with it off (JAX's default)"
    )

    def step(self, p: Any, s: Any, x: Any, dy: Any) -> Any:
        """(y, new_stats, (dparams, dx)) of a train step; ``dy`` None: zeros."""
        return self._step(p, s, x, put_array(np.zeros(x.shape, x.dtype)) if dy is None else dy)

    def put(self, a: Any, like: Any = None) -> Any:
        """A NumPy array as the framework's array (in the dtype of ``like`` when given)."""
        return put_array(a, None if like is None else like.dtype)

    def get(self, a: Any) -> Any:
        """The framework's array as a NumPy array."""
        return np.array(a)


def tree_map(fn: Callable[[Any], Any], tree: Any) -> Any:
    """``fn`` on every leaf of a nested dict/list/tuple tree (the containers rebuilt)."""
    if isinstance(tree, dict):
        return {k: tree_map(fn, v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        items = [tree_map(fn, v) for v in tree]
        return type(tree)(items) if isinstance(tree, tuple) else items
    return fn(tree)


class TorchBuilt:
    """:class:`Built` for a layer whose arithmetic is PyTorch's (Keras on its torch backend):
    a train step is the forward, and, for a dy, ``torch.autograd.grad`` of y for dy (dx and
    the parameters'); eval runs under ``torch.no_grad()``. The leaves of the parameters and
    statistics are tensors (a dict/list tree), never the layer's own variables."""

    how = (
        "each train step: the forward with autograd on, then torch.autograd.grad of y for dy "
        "(eager PyTorch, as a torch training loop runs it); eval under torch.no_grad()"
    )

    def __init__(
        self,
        call: Callable[..., Any],
        params: Any,
        stats: Any,
        param_paths: ParamPaths | None,
        stat_paths: tuple[Path, Path] | None,
    ) -> None:
        self.torch = importlib.import_module("torch")
        self.call = call
        self.params, self.stats = params, stats
        self.param_paths, self.stat_paths = param_paths, stat_paths

    def _detach(self, tree: Any) -> Any:
        return tree_map(lambda v: v.detach() if hasattr(v, "detach") else v, tree)

    def step(self, p: Any, s: Any, x: Any, dy: Any) -> Any:
        """(y, new_stats, (dparams, dx)) of a train step (``dy`` None: no gradients)."""
        torch = self.torch

        def leaf(v: Any) -> Any:
            if hasattr(v, "is_floating_point") and v.is_floating_point():
                return v.detach().clone().requires_grad_(True)
            return v

        p_ = tree_map(leaf, p)
        x_ = x.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            y, new = self.call(True, p_, s, x_)
        if dy is None:
            return y.detach(), self._detach(new), None
        found = [(path, v) for path, v in leaves(p_) if getattr(v, "requires_grad", False)]
        grads = torch.autograd.grad(
            y, [x_, *(v for _, v in found)], grad_outputs=dy.to(y.dtype), allow_unused=True
        )
        gp = tree_map(lambda v: None, p)
        for (path, v), g in zip(found, grads[1:], strict=True):
            gp = set_at(gp, path, torch.zeros_like(v) if g is None else g)
        return y.detach(), self._detach(new), (gp, grads[0])

    def eval(self, p: Any, s: Any, x: Any) -> Any:
        with self.torch.no_grad():
            y, new = self.call(False, p, s, x)
        return y.detach(), self._detach(new)

    def put(self, a: Any, like: Any = None) -> Any:
        t = self.torch.from_numpy(np.ascontiguousarray(a))
        return t if like is None else t.to(like.dtype)

    def get(self, a: Any) -> Any:
        return a.detach().cpu().numpy().copy() if hasattr(a, "detach") else np.array(a)
