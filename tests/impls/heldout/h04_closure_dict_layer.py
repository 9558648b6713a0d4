"""A closure-built batch-norm layer: `batchnorm_layer(C)` returns a dict of functions that
share private state ("forward", "backward", "train", "eval") together with the dicts that
hold parameters ("params": gamma/beta), running averages ("running": mean/var) and
gradients ("grads").  PyTorch convention for the running averages.
"""
import numpy as np


def batchnorm_layer(C, eps=1e-5, momentum=0.1):
    params = {"gamma": np.ones(C), "beta": np.zeros(C)}
    running = {"mean": np.zeros(C), "var": np.ones(C)}
    grads = {}
    flags = {"training": True}
    saved = {}

    def forward(x):
        shp = (1, C) + (1,) * (x.ndim - 2)
        red = (0,) + tuple(range(2, x.ndim))
        if flags["training"]:
            m = x.size // C
            mu = x.mean(axis=red, keepdims=True)
            var = x.var(axis=red, keepdims=True)
            running["mean"] = (1 - momentum) * running["mean"] + momentum * mu.ravel()
            running["var"] = (1 - momentum) * running["var"] + momentum * var.ravel() * m / (m - 1)
        else:
            mu = running["mean"].reshape(shp)
            var = running["var"].reshape(shp)
        rstd = 1.0 / np.sqrt(var + eps)
        xhat = (x - mu) * rstd
        saved.update(xhat=xhat, rstd=rstd, red=red, shp=shp)
        return (params["gamma"].reshape(shp) * xhat + params["beta"].reshape(shp)).astype(x.dtype, copy=False)

    def backward(dy):
        xhat, rstd, red, shp = saved["xhat"], saved["rstd"], saved["red"], saved["shp"]
        grads["beta"] = dy.sum(axis=red)
        grads["gamma"] = (dy * xhat).sum(axis=red)
        # d xhat / d x: direct term and the term through the variance
        dxhat = dy * params["gamma"].reshape(shp)
        dx = rstd * (dxhat - xhat * (dxhat * xhat).mean(axis=red, keepdims=True))
        return dx.astype(dy.dtype, copy=False)

    def train():
        flags["training"] = True

    def eval():
        flags["training"] = False

    return {"forward": forward, "backward": backward, "train": train, "eval": eval,
            "params": params, "running": running, "grads": grads}
