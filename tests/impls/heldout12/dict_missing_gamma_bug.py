"""A BN layer as a plain dict of parameters, running statistics and the two functions that
use them (`layer["forward"](x, mode="train")`, `layer["backward"](dy)`), PyTorch running
conventions (momentum 0.1, unbiased variance).

The backward's dx leaves out gamma (written and tested with gamma = 1 only)."""

import numpy as np


def make_bn(num_features, eps=1e-5, momentum=0.1):
    layer = {
        "gamma": np.ones(num_features),
        "beta": np.zeros(num_features),
        "running_mean": np.zeros(num_features),
        "running_var": np.ones(num_features),
        "grads": {},
    }

    def shape_for(x):
        return (1, num_features) + (1,) * (x.ndim - 2)

    def forward(x, mode="train"):
        s = shape_for(x)
        if mode == "test":
            xhat = (x - layer["running_mean"].reshape(s)) / np.sqrt(layer["running_var"].reshape(s) + eps)
        elif mode == "train":
            axes = (0,) + tuple(range(2, x.ndim))
            m = x.size // num_features
            mu = x.mean(axis=axes, keepdims=True, dtype=np.float64)
            var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
            std = np.sqrt(var + eps)
            xhat = (x - mu) / std
            layer["cache"] = (xhat, std, axes, m)
            layer["running_mean"] = (1 - momentum) * layer["running_mean"] + momentum * mu.reshape(-1)
            layer["running_var"] = (1 - momentum) * layer["running_var"] + momentum * var.reshape(-1) * m / (m - 1)
        else:
            raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
        out = layer["gamma"].reshape(s) * xhat + layer["beta"].reshape(s)
        return out.astype(x.dtype)

    def backward(dy):
        xhat, std, axes, m = layer["cache"]
        layer["grads"]["beta"] = dy.sum(axis=axes, dtype=np.float64)
        layer["grads"]["gamma"] = (dy * xhat).sum(axis=axes)
        # the mistake: no gamma in front
        dx = (m * dy - dy.sum(axis=axes, keepdims=True) - xhat * (dy * xhat).sum(axis=axes, keepdims=True)) / (m * std)
        return dx.astype(dy.dtype)

    layer["forward"] = forward
    layer["backward"] = backward
    return layer
