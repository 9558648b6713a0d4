"""Functional BNs in calling forms other than forward(x, gamma, beta, eps), for the discovery of
tests/check/test_pure_forms.py. Each pair is named by a prefix: ``pure_styles.py:jaxbn``."""

from __future__ import annotations

from typing import Any

import numpy as np


def _axes(x: Any) -> tuple[int, ...]:
    return (0, *range(2, x.ndim))


def _view(v: Any, x: Any) -> Any:
    return np.reshape(v, (1, -1) + (1,) * (x.ndim - 2))


def _normalise(x: Any, scale: Any, bias: Any, eps: float) -> tuple[Any, Any]:
    mu, var = x.mean(axis=_axes(x)), x.var(axis=_axes(x))
    inv = 1.0 / np.sqrt(var + eps)
    xhat = (x - _view(mu, x)) * _view(inv, x)
    return _view(scale, x) * xhat + _view(bias, x), (xhat, inv, scale)


def _grads(dy: Any, cache: Any) -> tuple[Any, Any, Any]:
    xhat, inv, scale = cache
    ax = _axes(dy)
    m = dy.size // dy.shape[1]
    db, dg = dy.sum(axis=ax), (dy * xhat).sum(axis=ax)
    dx = _view(scale * inv, dy) * (dy - _view(db / m, dy) - xhat * _view(dg / m, dy))
    return dx, dg, db


# JAX style: the parameters first, as a dict; the backward returns a dict of gradients
def jaxbn_forward(params: dict[str, Any], x: Any) -> tuple[Any, Any]:
    return _normalise(x, params["scale"], params["bias"], 1e-5)


def jaxbn_backward(dy: Any, cache: Any) -> tuple[Any, dict[str, Any]]:
    dx, dg, db = _grads(dy, cache)
    return dx, {"scale": dg, "bias": db}


def jaxbad_forward(params: dict[str, Any], x: Any) -> tuple[Any, Any]:
    """jaxbn with dbeta summed over the batch axis only (wrong in 4-D)."""
    return jaxbn_forward(params, x)


def jaxbad_backward(dy: Any, cache: Any) -> tuple[Any, dict[str, Any]]:
    dx, dg, _ = _grads(dy, cache)
    return dx, {"scale": dg, "bias": dy.sum(axis=0).reshape(dy.shape[1], -1)[:, 0]}


# cs231n style under a prefix: a dict of options holding the running statistics
def bn_forward(x: Any, gamma: Any, beta: Any, bn_param: dict[str, Any]) -> tuple[Any, Any]:
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    c = x.shape[1]
    rm = bn_param.setdefault("running_mean", np.zeros(c, x.dtype))
    rv = bn_param.setdefault("running_var", np.ones(c, x.dtype))
    if bn_param["mode"] == "train":
        y, cache = _normalise(x, gamma, beta, eps)
        bn_param["running_mean"] = momentum * rm + (1 - momentum) * x.mean(axis=_axes(x))
        bn_param["running_var"] = momentum * rv + (1 - momentum) * x.var(axis=_axes(x))
        return y, cache
    xhat = (x - _view(rm, x)) / np.sqrt(_view(rv, x) + eps)
    return _view(gamma, x) * xhat + _view(beta, x), None


def bn_backward(dout: Any, cache: Any) -> tuple[Any, Any, Any]:
    return _grads(dout, cache)


# a pair called fwd/bwd, eps fixed inside
def norm_fwd(x: Any, g: Any, b: Any) -> tuple[Any, Any]:
    return _normalise(x, g, b, 1e-5)


def norm_bwd(dy: Any, cache: Any) -> tuple[Any, Any, Any]:
    return _grads(dy, cache)


# a pair no form fits: its forward wants a configuration object bncheck cannot make
def odd_forward(x: Any, layer_config: Any) -> tuple[Any, Any]:
    return _normalise(x, layer_config.g, layer_config.b, layer_config.eps)


def odd_backward(dy: Any, cache: Any) -> tuple[Any, Any, Any]:
    return _grads(dy, cache)


# a backward that recomputes from the forward's inputs (no cache), JAX style
def recompute_forward(x: Any, gamma: Any, beta: Any, eps: float = 1e-5) -> Any:
    return _normalise(x, gamma, beta, eps)[0]


def recompute_backward(x: Any, gamma: Any, dy: Any, eps: float = 1e-5) -> Any:
    return _grads(dy, _normalise(x, gamma, np.zeros_like(gamma), eps)[1])


def recompute_nomean_forward(x: Any, gamma: Any, beta: Any, eps: float = 1e-5) -> Any:
    """recompute, but the backward drops the path through the mean."""
    return _normalise(x, gamma, beta, eps)[0]


def recompute_nomean_backward(x: Any, gamma: Any, dy: Any, eps: float = 1e-5) -> Any:
    xhat, inv, scale = _normalise(x, gamma, np.zeros_like(gamma), eps)[1]
    ax = _axes(dy)
    m = dy.size // dy.shape[1]
    db, dg = dy.sum(axis=ax), (dy * xhat).sum(axis=ax)
    dx = _view(scale * inv, dy) * (dy - xhat * _view(dg / m, dy))
    return dx, dg, db


# results as dicts, keys named in the forward's and the backward's own words
def dicts_forward(x: Any, gamma: Any, beta: Any, eps: float = 1e-5) -> dict[str, Any]:
    y, cache = _normalise(x, gamma, beta, eps)
    return {"output": y, "saved": cache}


def dicts_backward(dout: Any, cache: Any) -> dict[str, Any]:
    dx, dg, db = _grads(dout, cache)
    return {"grad_input": dx, "dgamma": dg, "dbeta": db}


# a dict with two arrays of x's shape under names that say neither is the output: refused
def ambiguous_forward(x: Any, gamma: Any, beta: Any, eps: float = 1e-5) -> dict[str, Any]:
    y, cache = _normalise(x, gamma, beta, eps)
    return {"a": cache[0], "b": y, "c": cache}


def ambiguous_backward(dout: Any, cache: Any) -> tuple[Any, Any, Any]:
    return _grads(dout, cache)
