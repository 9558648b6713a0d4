"""The adapter of a functional BN: ``forward(x, gamma, beta, eps) -> (y, cache)`` and
``backward(dy, cache) -> (dx, dgamma, dbeta)`` (or ``prefix_forward`` / ``prefix_backward``);
forward may also take no eps, which is then inferred from its outputs."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from bncheck.check._verify.targets.common import (
    Y_KEYS,
    Contract,
    backward_in_order,
    from_dict,
    infer_eps,
    jax_x64,
    probe_x,
    raised_text,
    returned,
    split_grads,
    y_and_cache,
)
from bncheck.exceptions import LoadError


class FunctionalAdapter:
    kind = "functional"

    def __init__(self, fwd: Callable[..., Any], bwd: Callable[..., Any], name: str) -> None:
        self.fwd, self.bwd, self.name = fwd, bwd, name
        self.gamma: Any = None
        self.beta: Any = None
        self.eps = 1e-5
        self.cache: Any = None
        self.contracts = Contract()
        #: forward(x, gamma, beta) with eps hard-coded: eps is inferred from its outputs
        self.takes_eps = positional_count(fwd) != 3
        self.eps_inferred: float | None = None
        self.last_x: Any = None
        self.wanted: tuple[int, ...] = (2, 4)  # the ranks asked for (set by the loader)
        #: the channel axis the function expects (--axis), and whether the user gave it
        self.axis = 1
        self.axis_given = False
        #: why its results cannot be read (a usage error, said by probe), or ""
        self.refused = ""
        #: whether the forward returns (cache, y) and the backward takes (cache, dout), the
        #: residuals first; None until a call decides (:func:`y_and_cache`,
        #: :func:`backward_in_order`)
        self.y_second: bool | None = None
        self.cache_first: bool | None = None

    def _to_axis(self, a: Any) -> Any:
        return a if self.axis == 1 or a.ndim == 2 else np.moveaxis(a, 1, self.axis)

    def _from_axis(self, a: Any) -> Any:
        if self.axis == 1 or not isinstance(a, np.ndarray) or a.ndim < 3:
            return a
        return np.moveaxis(a, self.axis, 1)

    def _ranks(self) -> tuple[list[int], dict[str, str]]:
        """The ranks forward takes (a cs231n-style BN may take only (N, D))."""
        ranks, errors = [], {}
        for ndim in (2, 3, 4, 5):
            x = probe_x(3, ndim)
            try:
                y = self._call(x, np.ones(3), np.zeros(3))
                if np.asarray(y).shape != x.shape:
                    raise ValueError(f"the output has shape {np.shape(y)} for a {ndim}-D input")
                ranks.append(ndim)
            except LoadError as exc:  # its results cannot be read: no rank tells anything
                self.refused = str(exc)
                return [], {}
            except Exception as exc:
                errors[str(ndim)] = raised_text(exc)
        return ranks, errors

    def describe(self) -> dict[str, Any]:
        mapping = [
            "forward(x, gamma, beta, eps) -> (y, cache); backward(dy, cache) -> (dx, dgamma, dbeta)"
            if self.takes_eps
            else "forward(x, gamma, beta) -> (y, "
            "cache); backward(dy, cache) -> (dx, dgamma, dbeta); eps inferred"
        ]
        return {
            "kind": self.kind,
            "name": self.name,
            "running": False,
            "mapping": mapping,
            "probe": True,
        }

    def probe(self) -> dict[str, Any]:
        """Run by verify as an ordinary call (with its timeout): the ranks forward takes and,
        when eps is not a parameter, the eps its outputs imply. A function that breaks on a
        channels-first 4-D input but takes it channels-last (the user gave no --axis) is driven
        channels-last, and the report says so."""
        ranks, errors = self._ranks()
        if self.refused:
            return {"refused": self.refused}
        note = []
        if 4 not in ranks and not self.axis_given:
            self.axis = -1
            last, last_errors = self._ranks()
            if 4 in last:
                ranks, errors = last, last_errors
                note = ["channel axis: -1 (found: it takes 4-D input channels-last only)"]
            else:
                self.axis = 1
        found: dict[str, Any] = {"ndims": ranks, "rank_errors": errors} if ranks else {}
        note += self._order_notes()
        if note:
            found["mapping"] = note
        if self.takes_eps:
            return found
        self.eps_inferred = infer_eps(lambda x, g, b: self._call(x, g, b), 3, 2)
        eps_text = (
            f"eps: not a parameter; {self.eps_inferred:g}, inferred from the outputs"
            if self.eps_inferred is not None
            else "eps: not a parameter, and the outputs give no consistent eps; assumed 1e-05"
        )
        return {**found, "mapping": [*note, eps_text]}

    def _order_notes(self) -> list[str]:
        """The residuals-first orders found by behaviour, decided on a probe's forward and
        backward: (cache, y) from the forward, (cache, dout) into the backward."""
        if self.y_second:
            x = probe_x(3, 2)
            try:
                out = self.fwd(x, np.ones(3), np.zeros(3), *([1e-5] if self.takes_eps else []))
                self.cache = y_and_cache(out, x.shape)[1]
                self._backward_call(np.ones_like(x))
            except Exception:  # decided at the first backward of the checks instead
                self.cache_first = None
            self.cache = None
        notes = []
        if self.y_second:
            notes.append("the forward returns (cache, y): y is the one of x's shape (found)")
        if self.cache_first:
            notes.append(
                "the backward takes (cache, dout), the cache first (found: the order that runs)"
            )
        return notes

    def _call(self, x: Any, gamma: Any, beta: Any) -> Any:
        x = self._to_axis(x)
        out = self.fwd(x, gamma, beta) if not self.takes_eps else self.fwd(x, gamma, beta, 1e-5)
        if isinstance(out, dict):
            items = from_dict(out, np.shape(x), Y_KEYS)
            if items is None:
                raise LoadError(
                    f"{self.name}: the forward returned a dict with keys "
                    f"{sorted(map(str, out))}, and which of them is its output cannot be told "
                    f"(none is named {', '.join(Y_KEYS[:4])}, ..., and not exactly one has "
                    "x's shape); return (y, cache), or name the output 'y' or 'out'"
                )
            out = items
        if isinstance(out, (tuple, list)) and len(out) == 2:
            y = y_and_cache(out, np.shape(x))[0]
            self.y_second = y is not out[0]
            return self._from_axis(returned(y))
        return self._from_axis(returned(out[0] if isinstance(out, (tuple, list)) else out))

    def watched(self) -> dict[str, Any]:
        """Arrays this adapter passes to the target, checked for in-place changes (also the x
        of the last forward, which a backward holding it in its cache must not modify)."""
        return {"gamma": self.gamma, "beta": self.beta, "x (of the last forward)": self.last_x}

    def stash(self) -> None:
        """Keep the last forward's cache aside (the older-cache check)."""
        self.stashed = self.cache

    def unstash(self) -> None:
        """Bring back the cache kept by :meth:`stash`."""
        self.cache = self.stashed

    def contract(self) -> list[str]:
        return list(self.contracts.seen)

    def variant(self, name: str) -> None:
        raise ValueError(f"no backward variant {name!r}")

    def new(self, num_features: int, dtype: str, eps: float, ndim: int = 2) -> dict[str, Any]:
        jax_x64(dtype)
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
        x = self._to_axis(x)
        if self.takes_eps:
            out = self.fwd(x, self.gamma, self.beta, self.eps)
        else:
            out = self.fwd(x, self.gamma, self.beta)
        out = from_dict(out, np.shape(x), Y_KEYS) or out  # {"out": y, "cache": ...} too
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise TypeError(f"forward returned {type(out).__name__}; expected (y, cache)")
        y, self.cache = y_and_cache(out, np.shape(x))
        return self._from_axis(returned(y))

    def _backward_call(self, dyt: Any) -> Any:
        result, self.cache_first = backward_in_order(
            self.bwd, self.cache, dyt, lambda r: split_grads(r, "backward")[0], self.cache_first
        )
        return result

    def backward(self, dy: Any) -> tuple[Any, Any, Any]:
        dx, dg, db = split_grads(self._backward_call(self._to_axis(dy)), "backward")
        c = self.gamma.shape[0]
        return (
            self._from_axis(dx),
            self.contracts.per_channel(dg, c, "dgamma"),
            self.contracts.per_channel(db, c, "dbeta"),
        )

    def state(self) -> dict[str, Any]:
        eps = self.eps if self.takes_eps else (self.eps_inferred or self.eps)
        return {"gamma": self.gamma, "beta": self.beta, "eps": eps}


def positional_count(fn: Callable[..., Any]) -> int | None:
    """How many positional parameters ``fn`` takes (None: unknown or *args)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return None
    return len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)])
