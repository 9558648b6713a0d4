"""A batch-norm "layer" made of closures, the way small from-scratch code sometimes does it
to avoid classes: `make_bn` returns a namespace of functions sharing private state.

Parameters live in `bn.params`, running statistics in `bn.stats` (keys "mean" and "var"),
gradients after `bn.backward` in `bn.grads`.  Mode is switched with `bn.set_mode("train")`
or `bn.set_mode("infer")`.  PyTorch convention for the running statistics.
"""
from types import SimpleNamespace

import numpy as np


def make_bn(num_features, eps=1e-5, momentum=0.1):
    params = {"gamma": np.ones(num_features), "beta": np.zeros(num_features)}
    stats = {"mean": np.zeros(num_features), "var": np.ones(num_features)}
    grads = {"gamma": np.zeros(num_features), "beta": np.zeros(num_features)}
    mode = ["train"]
    tape = []

    def shape_for(x):
        return (1, num_features) + (1,) * (x.ndim - 2)

    def forward(x):
        s = shape_for(x)
        g = params["gamma"].reshape(s)
        b = params["beta"].reshape(s)
        if mode[0] == "infer":
            out = (x - stats["mean"].reshape(s)) / np.sqrt(stats["var"].reshape(s) + eps) * g + b
            return out.astype(x.dtype, copy=False)
        axes = (0,) + tuple(range(2, x.ndim))
        n = x.size // num_features
        mu = x.mean(axis=axes, keepdims=True)
        d = x - mu
        v = (d * d).mean(axis=axes, keepdims=True)
        istd = 1.0 / np.sqrt(v + eps)
        xh = d * istd
        stats["mean"] = (1 - momentum) * stats["mean"] + momentum * mu.ravel()
        stats["var"] = (1 - momentum) * stats["var"] + momentum * v.ravel() * n / (n - 1)
        tape[:] = [xh, istd, axes, s]
        return (xh * g + b).astype(x.dtype, copy=False)

    def backward(dy):
        xh, istd, axes, s = tape
        n = dy.size // num_features
        grads["beta"] = dy.sum(axis=axes)
        grads["gamma"] = (dy * xh).sum(axis=axes)
        dxh = dy * params["gamma"].reshape(s)
        dx = istd * (dxh - dxh.mean(axis=axes, keepdims=True)
                     - xh * (dxh * xh).mean(axis=axes, keepdims=True))
        return dx.astype(dy.dtype, copy=False)

    def set_mode(name):
        if name not in ("train", "infer"):
            raise ValueError(f"mode must be 'train' or 'infer', not {name!r}")
        mode[0] = name

    return SimpleNamespace(forward=forward, backward=backward, set_mode=set_mode,
                           params=params, stats=stats, grads=grads, eps=eps, momentum=momentum)
