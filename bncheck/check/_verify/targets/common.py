"""What every adapter shares (run inside the worker process): target values as NumPy arrays,
the notes on interface deviations, the gradients out of a backward's result, the probe batch,
and eps inferred from a BN's outputs."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from bncheck.check._verify.process.adapter import READ_AS_ARRAYS, copy_out
from bncheck.check._verify.targets import names as P
from bncheck.check.norms import BATCH_NORM
from bncheck.check.tolerances import INFERENCE


def as_array(value: Any) -> Any:
    """Tensors, parameter objects (``.data`` holding an array) and array-likes to NumPy; None
    and junk pass through for the parent to judge."""
    if value is None:
        return None
    if hasattr(value, "detach"):
        return copy_out(value.detach().cpu().numpy())
    data = getattr(value, "data", None) if not isinstance(value, np.ndarray) else None
    if isinstance(data, np.ndarray):
        return copy_out(data)
    if isinstance(value, np.ndarray):
        return copy_out(value)
    try:
        out = np.array(value)
    except Exception:
        return value
    return out if out.dtype.kind in "biufc" else value


def returned(value: Any) -> Any:
    """:func:`as_array` of a value the target returned as an output (y, dx, dgamma, dbeta): a
    Python list or tuple read as an array is an interface deviation the contract reports
    (:data:`~bncheck.check._verify.process.adapter.READ_AS_ARRAYS`). Values bncheck reads off
    the target (attributes, state) go through :func:`as_array` and are not recorded."""
    out = as_array(value)
    if isinstance(value, (list, tuple)) and isinstance(out, np.ndarray):
        READ_AS_ARRAYS.add(type(value).__name__)
    return out


def jax_x64(dtype: str) -> bool:
    """For a target written in JAX (the target's import loaded it): float64 runs with
    ``jax_enable_x64`` on, others with it off, as JAX users run float64 (the default would
    compute float64 input in float32). Whether JAX is loaded."""
    jax = sys.modules.get("jax")
    if jax is None:
        return False
    try:
        jax.config.update("jax_enable_x64", dtype == "float64")
    except Exception:
        pass
    return True


def tensor_of(torch: Any, a: np.ndarray) -> Any:
    """A tensor sharing ``a``'s memory and strides, so that a PyTorch target gets exactly the
    layout under test (a channels-last (N, H, W, C) buffer viewed as (N, C, H, W) is torch's
    ``channels_last`` memory format); torch has no negative strides, so a reversed view
    becomes a copy in its memory order."""
    if any(s < 0 for s in a.strides):
        a = a.copy(order="K")
    return torch.from_numpy(a)


def as_number(value: Any) -> Any:
    """A hyperparameter as a plain number (None stays None; junk is described, not passed)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return f"<{type(value).__name__}>"


class Contract:
    """Interface deviations found while adapting a target (reported apart from the maths)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def note(self, text: str) -> None:
        if text not in self.seen:
            self.seen.append(text)

    def per_channel(self, value: Any, c: int, what: str) -> Any:
        """C values in any shape -> (C,), noting a shape other than (C,)."""
        arr = as_array(value)
        if isinstance(arr, np.ndarray) and arr.shape != (c,) and arr.size == c:
            if c > 1:  # with one channel every shape of size 1 looks alike
                self.note(f"{what} is held as shape {shape_text(arr.shape, c)}; expected (C,)")
            return arr.reshape(c)
        return arr


def needs_arguments(method: Any) -> bool:
    """Whether a method needs an argument (or its signature cannot be read): discovery calls
    only methods that take none (a layer's own reset of its gradients).

    Examples
    --------
    >>> needs_arguments(lambda: 0), needs_arguments(lambda x, y=1: 0)
    (False, True)
    """
    try:
        params = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(
        p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        for p in params
    )


def shape_text(shape: tuple[int, ...], c: int) -> str:
    """A per-channel shape with the channel count written C: (1, C, 1, 1)."""
    parts = ["C" if d == c else str(d) for d in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def one_by_keyword(method: Any) -> Any:
    """``method`` taking its one array as the first argument: the method itself, or, when it
    takes no positional parameter and exactly one required keyword-only one (``forward(self,
    *, inputs)``, ``backward(self, *, grad_output)``), a callable passing the array by that
    name: the signature says how the one argument is passed, not a name table.

    Examples
    --------
    >>> def forward(*, inputs, training=True):
    ...     return (inputs, training)
    >>> one_by_keyword(forward)(3, training=False)
    (3, False)
    >>> one_by_keyword(len) is len
    True
    """
    try:
        params = list(inspect.signature(method).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: positional
        return method
    kind = inspect.Parameter
    if any(
        p.kind in (kind.POSITIONAL_ONLY, kind.POSITIONAL_OR_KEYWORD, kind.VAR_POSITIONAL)
        for p in params
    ):
        return method
    required = [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.default is p.empty]
    if len(required) != 1:
        return method
    name = required[0]
    return lambda value, **kwargs: method(**{name: value}, **kwargs)


def raised_text(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` of what a target raised, cut to ``limit`` characters; a longer message
    keeps its last line too, where a wrapper's error (TorchScript's interpreter, a framework's
    traceback) reports the error that decides it ("builtins.ValueError: expected 2D input").

    Examples
    --------
    >>> from bncheck.check._verify.targets.common import raised_text
    >>> raised_text(ValueError("expected 2D input"))
    'ValueError: expected 2D input'
    >>> text = raised_text(RuntimeError("x" * 400 + "\\nValueError: expected 2D input"), 20)
    >>> text.startswith("RuntimeError: xxxx") and text.endswith("… ValueError: expected 2D input")
    True
    """
    message = str(exc)
    if len(message) > limit:
        last = message.strip().splitlines()[-1].strip()[:200] if message.strip() else ""
        message = message[:limit] + (f" … {last}" if last else "")
    return f"{type(exc).__name__}: {message}"


def call_one(method: Any, value: Any) -> Any:
    """``method(value)``, the value passed as :func:`one_by_keyword` says.

    Examples
    --------
    >>> from bncheck.check._verify.targets.common import call_one
    >>> def backward(*, grad_output, scale=1.0):
    ...     return grad_output * scale
    >>> call_one(backward, 3.0), call_one(lambda g: g + 1, 3.0)
    (3.0, 4.0)
    """
    return one_by_keyword(method)(value)


def split_grads(
    result: Any, what: str, own: tuple[str, str] | tuple[()] = ()
) -> tuple[Any, Any, Any]:
    """(dx, dgamma, dbeta) from what a backward returned: that triple, a dict naming them, or
    dx beside the parameters' gradients as a pair or a dict (``(dx, (dgamma, dbeta))``,
    ``(dx, [dgamma, dbeta])``, ``(dx, {"gamma": ..., "beta": ...})``: a dict of the parameters'
    gradients may key them by the parameters' own names), the form of code that keeps its
    parameters' gradients together. ``own``: the names the layer gives its two parameters
    (attributes ``g``/``b``, dict keys ...), read as keys too (:func:`own_grad_keys`).

    Examples
    --------
    >>> from bncheck.check._verify.targets.common import split_grads
    >>> import numpy as np
    >>> dx, g, b = np.zeros((4, 2)), np.ones(2), np.full(2, 3.0)
    >>> [v.tolist() for v in split_grads((dx, [g, b]), "backward")[1:]]
    [[1.0, 1.0], [3.0, 3.0]]
    >>> [v.tolist() for v in split_grads((dx, {"gamma": g, "beta": b}), "backward")[1:]]
    [[1.0, 1.0], [3.0, 3.0]]
    """
    if isinstance(result, dict):
        return grads_from_dict(result, what, own)
    if isinstance(result, (tuple, list)) and len(result) == 2:
        dx, params = result
        if isinstance(params, dict):  # keyed by gradient names, or by the parameters' own
            for g, b in (*P.GRAD_NAMES, *P.PARAM_NAMES, *own_grad_keys(own)):
                if g in params and b in params:
                    return returned(dx), returned(params[g]), returned(params[b])
            grads_from_dict(params, what, own)  # raises, naming the keys
        if isinstance(params, (tuple, list)) and len(params) == 2:
            return returned(dx), returned(params[0]), returned(params[1])
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        raise TypeError(
            f"{what} returned {type(result).__name__}"
            + (f" of {len(result)}" if isinstance(result, (tuple, list)) else "")
            + "; expected (dx, dgamma, dbeta)"
        )
    return returned(result[0]), returned(result[1]), returned(result[2])


#: keys of a dict a backward returns that name dx, and of a dict a forward returns that name
#: its output (a value of x's shape under another key is taken only when it is the only one)
DX_KEYS = (
    "dx",
    "dX",
    "d_x",
    "dinput",
    "dinputs",
    "grad_x",
    "grad_input",
    "x",
    "input",
    "inputs",
    "dout",
)
Y_KEYS = ("y", "out", "output", "outputs", "result", "z", "h", "act", "activations", "Y")


def from_dict(out: Any, shape: tuple[int, ...], keys: tuple[str, ...]) -> list[Any] | None:
    """A dict a forward (``keys``: :data:`Y_KEYS`) or a backward (:data:`DX_KEYS`) returned,
    as the items the tuple forms give: the array of x's shape under one of ``keys`` (or the
    only one of that shape) first, then what else it holds (a single other value as it is,
    else the whole dict, which is what its backward reads). None when ``out`` is no dict or
    no value of x's shape stands out (two of x's shape, neither named: refused, not guessed).

    Examples
    --------
    >>> import numpy as np
    >>> y, c = np.ones((2, 3)), np.zeros((2, 3))
    >>> from_dict({"cache": c, "out": y}, (2, 3), Y_KEYS)[0] is y
    True
    >>> from_dict({"a": y, "b": c}, (2, 3), Y_KEYS) is None
    True
    """
    if not isinstance(out, dict):
        return None
    shaped = [
        k
        for k, v in out.items()
        if isinstance(a := as_array(v), np.ndarray) and a.shape == tuple(shape)
    ]
    named = [k for k in keys if k in shaped]
    key = named[0] if named else shaped[0] if len(shaped) == 1 else None
    if key is None:
        return None
    others = [v for k, v in out.items() if k != key]
    return [out[key], others[0] if len(others) == 1 else out]


def _x_shaped(value: Any, shape: tuple[int, ...]) -> bool:
    return not isinstance(value, (dict, tuple, list)) and tuple(np.shape(value)) == tuple(shape)


def y_and_cache(out: Any, shape: tuple[int, ...]) -> tuple[Any, Any]:
    """(y, cache) from a forward's pair: (y, cache) as most write it, or (cache, y), the
    residuals first, when only the second is an array of x's shape (a dict, a tuple or
    anything else first). When both or neither are, the order written, (y, cache): the
    checks then judge what stands first as y.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.ones((2, 3))
    >>> y_and_cache(({"xc": y}, y), (2, 3))[0] is y
    True
    >>> y_and_cache((y, y.T), (2, 3))[0] is y and y_and_cache((y.T, y), (2, 3))[0] is y
    True
    """
    first, second = out
    if not _x_shaped(first, shape) and _x_shaped(second, shape):
        return second, first
    return first, second


#: first parameter names of a backward that say it takes the cache first, ``bwd(res, g)``
#: (JAX's custom_vjp convention)
RESIDUALS = ("res", "residuals", "resid", "saved", "residual")


def named_residuals_first(bwd: Callable[..., Any]) -> bool:
    """Whether a backward's first parameter is named as residuals (one of
    :data:`RESIDUALS`): the order :func:`backward_in_order` tries first."""
    try:
        first = next(iter(inspect.signature(bwd).parameters), None)
    except (TypeError, ValueError):
        return False
    return first is not None and first.lower() in RESIDUALS


def backward_in_order(
    bwd: Callable[..., Any],
    cache: Any,
    dout: Any,
    dx_of: Callable[[Any], Any],
    decided: bool | None = None,
) -> tuple[Any, bool]:
    """The result of a backward that takes (dout, cache) or (cache, dout), and whether it was
    the cache first: the order ``decided`` by an earlier call, else the order whose call runs
    and gives a dx (``dx_of`` of the result) of dout's shape, tried (dout, cache) first unless
    the first parameter is named as residuals (:func:`named_residuals_first`). When neither
    does, the first order's result or error stands.

    Examples
    --------
    >>> import numpy as np
    >>> dout, cache = np.ones((2, 3)), {"rs": 2.0}
    >>> def bwd(res, g):  # the cache first, and named so
    ...     return g * res["rs"], None, None
    >>> result, cache_first = backward_in_order(bwd, cache, dout, lambda r: r[0])
    >>> cache_first, result[0].tolist()
    (True, [[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]])
    >>> def plain(dy, c):
    ...     return dy, None, None
    >>> backward_in_order(plain, np.zeros((2, 3)), dout, lambda r: r[0])[1]  # both run
    False
    """
    if decided is not None:
        return bwd(*((cache, dout) if decided else (dout, cache))), decided
    orders = [True, False] if named_residuals_first(bwd) else [False, True]
    error: Exception | None = None
    for cache_first in orders:
        try:
            result = bwd(*((cache, dout) if cache_first else (dout, cache)))
        except Exception as exc:
            error = error or exc
            continue
        got = dx_of(result)
        if got is not None and tuple(np.shape(got)) == tuple(np.shape(dout)):
            return result, cache_first
    if error is not None:
        raise error
    return bwd(*((cache, dout) if orders[0] else (dout, cache))), orders[0]


def own_grad_keys(own: tuple[str, str] | tuple[()]) -> tuple[tuple[str, str], ...]:
    """The keys a dict of gradients may give the parameters named ``own`` = (scale, shift) on
    the layer: those names, and with the prefixes and suffixes of gradient names.

    Examples
    --------
    >>> from bncheck.check._verify.targets.common import own_grad_keys
    >>> own_grad_keys(("g", "b"))[:3]
    (('g', 'b'), ('dg', 'db'), ('d_g', 'd_b'))
    >>> own_grad_keys(())
    ()
    """
    if len(own) != 2:
        return ()
    g, b = own
    return tuple(
        (form.format(g), form.format(b)) for form in ("{}", "d{}", "d_{}", "{}_grad", "grad_{}")
    )


def grads_from_dict(
    result: dict[str, Any], what: str, own: tuple[str, str] | tuple[()] = ()
) -> tuple[Any, Any, Any]:
    """(dx, dgamma, dbeta) from a backward's dict: dx under a dx name (None without one), the
    parameters' gradients under gradient names, the parameters' names, or ``own`` (the names
    the layer gives its parameters, :func:`own_grad_keys`)."""
    dx = next((result[k] for k in DX_KEYS if k in result), None)
    # the gradients' own names first, then the parameters' ({"x": dx, "scale": ..., "shift":
    # ...}: a dict keyed by what each gradient is of), then the layer's names for them
    for g, b in (*P.GRAD_NAMES, *P.PARAM_NAMES, *own_grad_keys(own)):
        if g in result and b in result:
            return returned(dx), returned(result[g]), returned(result[b])
    raise TypeError(
        f"{what} returned a dict with keys {sorted(map(str, result))}; expected dx and the "
        "gradients of gamma and beta (e.g. dgamma/dbeta)"
    )


PROBE_SHAPES = {2: (8,), 3: (2, 4), 4: (2, 2, 2), 5: (1, 2, 2, 2)}


def probe_x(c: int, ndim: int = 2) -> Any:
    """A batch of 8 values per channel, mean 2, spread 1.5, of rank ``ndim``."""
    first, *rest = PROBE_SHAPES[ndim]
    return np.random.default_rng(4321).normal(2.0, 1.5, size=(first, c, *rest))


def infer_eps(run: Callable[[Any, Any, Any], Any], c: int, ndim: int) -> float | None:
    """The eps a BN with no eps attribute or parameter uses, from its outputs: with gamma = 1,
    y = (x − mu)/sqrt(var + eps), so eps = 1/s² − var for the slope s of y against x.
    Channels of very different variances must agree (eps outside the root would not);
    otherwise None."""
    rng = np.random.default_rng(99)
    scales = np.array([1e-1, 1e-2, 1e-3] * c)[:c]
    shape = (2 * PROBE_SHAPES[ndim][0], c, *PROBE_SHAPES[ndim][1:])
    x = rng.normal(size=shape) * scales.reshape(1, c, *[1] * (len(shape) - 2))
    y = np.asarray(as_array(run(x, np.ones(c), np.zeros(c))), dtype=np.float64)
    if y.shape != x.shape:
        return None
    x2, y2 = BATCH_NORM.columns(x), BATCH_NORM.columns(y)
    xc = x2 - x2.mean(axis=0)
    var = (xc**2).mean(axis=0)
    with np.errstate(all="ignore"):
        slope = (y2 * xc).sum(axis=0) / (xc**2).sum(axis=0)
        estimates = 1.0 / slope**2 - var
    seen = estimates[estimates > INFERENCE.eps_visible * var]
    if seen.size == 0 or np.any(seen <= 0) or not np.all(np.isfinite(seen)):
        return None
    if np.max(seen) > (1.0 + INFERENCE.eps_agreement) * np.min(seen):
        return None
    return float(f"{float(np.median(seen)):.3g}")
